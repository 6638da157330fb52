//! Netstring primitives (`<len>:<bytes>,`) shared by the message codecs, the string-list
//! field type and the authentication trailer.

use crate::WireError;

/// Longest length prefix we accept: 10 digits already exceeds any datagram or
/// `MAXUNCOMPRESSED`, and bounding it keeps the arithmetic overflow-free.
const MAX_LEN_DIGITS: usize = 10;

/// Appends `len:data,` to `out`.
pub(crate) fn put(out: &mut Vec<u8>, data: &[u8]) {
    put_len(out, data.len());
    out.push(b':');
    out.extend_from_slice(data);
    out.push(b',');
}

/// Appends `len` in decimal without a temporary string (every field of every packet).
fn put_len(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `len:` + the concatenation of `parts` + `,` without building the body twice.
pub(crate) fn put_parts(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    put_len(out, len);
    out.push(b':');
    for p in parts {
        out.extend_from_slice(p);
    }
    out.push(b',');
}

/// Peels one netstring starting at `pos` from `buf[..end]`.
///
/// Returns the range of its payload and the position after the `,`. Lengths must be
/// canonical (decimal, no leading zeros), because heartbeat writes them with `%d` and a
/// decoded message has to re-encode to the same bytes.
pub(crate) fn peel(
    buf: &[u8],
    pos: usize,
    end: usize,
) -> Result<(std::ops::Range<usize>, usize), WireError> {
    let digits = buf[pos..end]
        .iter()
        .take(MAX_LEN_DIGITS + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return Err(if pos >= end {
            WireError::Truncated {
                offset: pos,
                what: "netstring length",
            }
        } else {
            WireError::BadLength {
                offset: pos,
                reason: "no decimal digits",
            }
        });
    }
    if digits > MAX_LEN_DIGITS {
        return Err(WireError::BadLength {
            offset: pos,
            reason: "too many digits",
        });
    }
    if digits > 1 && buf[pos] == b'0' {
        return Err(WireError::BadLength {
            offset: pos,
            reason: "leading zero",
        });
    }
    let len = buf[pos..pos + digits]
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let colon = pos + digits;
    match buf[..end].get(colon) {
        Some(b':') => {}
        Some(_) => return Err(WireError::MissingColon { offset: colon }),
        None => {
            return Err(WireError::Truncated {
                offset: colon,
                what: "netstring length",
            })
        }
    }
    let start = colon + 1;
    let stop = match start.checked_add(len) {
        Some(s) if s < end => s,
        _ => {
            return Err(WireError::Truncated {
                offset: start,
                what: "netstring payload",
            })
        }
    };
    if buf[stop] != b',' {
        return Err(WireError::MissingComma { offset: stop, len });
    }
    Ok((start..stop, stop + 1))
}

/// Packs a string list as heartbeat's `string_list_pack` does: `len:item,` per item.
pub(crate) fn pack_list(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 4).sum());
    for item in items {
        put(&mut out, item);
    }
    out
}

/// Unpacks `buf[start..end]` as a packed string list; the list must fill it exactly.
pub(crate) fn unpack_list(buf: &[u8], start: usize, end: usize) -> Result<Vec<Vec<u8>>, WireError> {
    let mut items = Vec::new();
    let mut pos = start;
    while pos < end {
        let (r, next) = peel(buf, pos, end)?;
        items.push(buf[r].to_vec());
        pos = next;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peel_accepts_canonical_and_rejects_the_rest() {
        let b = b"5:hello,";
        assert_eq!(peel(b, 0, b.len()).unwrap(), (2..7, 8));
        assert!(matches!(
            peel(b"05:hello,", 0, 9),
            Err(WireError::BadLength { offset: 0, .. })
        ));
        assert!(matches!(
            peel(b"5:hello;", 0, 8),
            Err(WireError::MissingComma { offset: 7, len: 5 })
        ));
        assert!(matches!(
            peel(b"5-hello,", 0, 8),
            Err(WireError::MissingColon { offset: 1 })
        ));
        assert!(matches!(
            peel(b"9:hello,", 0, 8),
            Err(WireError::Truncated { offset: 2, .. })
        ));
        assert!(matches!(
            peel(b"99999999999:", 0, 12),
            Err(WireError::BadLength { .. })
        ));
        assert!(matches!(peel(b"", 0, 0), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn list_pack_matches_ccm_capture() {
        let items = vec![b"33554432".to_vec(), b"16777216".to_vec()];
        let packed = pack_list(&items);
        assert_eq!(packed, b"8:33554432,8:16777216,");
        assert_eq!(unpack_list(&packed, 0, packed.len()).unwrap(), items);
    }
}
