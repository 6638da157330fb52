//! The netstring message format, `###\n` field* `%%%\n` (§2.2): the only format heartbeat
//! 3.0.6 puts on UDP, and the IPC format of `msgfmt netstring` nodes.
//!
//! This module handles one message without its authentication trailer; see
//! [`crate::packet`] for whole datagrams.

use crate::compress::{self, Compression};
use crate::msg::{FieldType, Msg, Value};
use crate::{ns, WireError};

/// Start marker of a netstring message.
pub const MSG_START: &[u8] = b"###\n";
/// End marker of a netstring message.
pub const MSG_END: &[u8] = b"%%%\n";
/// Deepest struct nesting heartbeat supports: the top-level message is depth 0, so
/// messages at depth 0..=16 exist and only depths 0..=15 may contain struct fields.
pub const MAX_DEPTH: usize = 16;
/// Message-level field naming the plugin used for `(4)` compressed fields (§2.8).
pub const COMPRESSION_ALGORITHM_FIELD: &str = "_compression_algorithm";

/// Options for encoding in-memory-only field types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Plugin used to turn `Uncompressed` (T=5) fields into `Compressed` (T=4) ones.
    pub compression: Compression,
}

/// Encodes `msg` as `###\n…%%%\n`, compressing T=5 fields with zlib.
pub fn encode(msg: &Msg) -> Result<Vec<u8>, WireError> {
    encode_with(msg, &EncodeOptions::default())
}

/// Encodes `msg` as `###\n…%%%\n` with explicit options.
///
/// `Uncompressed` fields become `(4)name=<compressed netstring form of the child>` and,
/// unless already present, a `_compression_algorithm=<alg>` string field is appended to
/// the message that holds them (heartbeat's `ha_msg_addstruct_compress` behaviour).
pub fn encode_with(msg: &Msg, opts: &EncodeOptions) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(512);
    encode_into(msg, opts, 0, None, &mut out)?;
    Ok(out)
}

/// Encodes `msg` as if [`Msg::set_str`]`(name, value)` had been applied first (the
/// first field of that name replaced in place, else appended), without copying the
/// message: how a packet gets its in-band `auth` field.
pub(crate) fn encode_with_str_set(
    msg: &Msg,
    opts: &EncodeOptions,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(512);
    encode_into(msg, opts, 0, Some((name, value)), &mut out)?;
    Ok(out)
}

fn check_name(name: &str) -> Result<(), WireError> {
    let reason = if name.is_empty() {
        "empty name"
    } else if name.contains('=') {
        "name contains '=' (the name ends at the first '=')"
    } else {
        return Ok(());
    };
    Err(WireError::Unencodable {
        field: name.to_string(),
        reason: reason.to_string(),
    })
}

/// Compresses the wire form of a T=5 child, as both encoders do.
pub(crate) fn compress_child(
    name: &str,
    child: &Msg,
    opts: &EncodeOptions,
    depth: usize,
) -> Result<Vec<u8>, WireError> {
    let mut raw = Vec::new();
    encode_into(child, opts, depth + 1, None, &mut raw).map_err(|e| match e {
        WireError::TooDeep { .. } => too_deep_enc(name),
        other => other,
    })?;
    if raw.len() > compress::MAX_UNCOMPRESSED {
        return Err(WireError::TooBig {
            what: "uncompressed field",
            size: raw.len(),
            max: compress::MAX_UNCOMPRESSED,
        });
    }
    compress::compress(opts.compression, &raw)
}

fn too_deep_enc(name: &str) -> WireError {
    WireError::TooDeep {
        offset: 0,
        field: name.to_string(),
        max: MAX_DEPTH,
    }
}

fn encode_into(
    msg: &Msg,
    opts: &EncodeOptions,
    depth: usize,
    mut set: Option<(&str, &[u8])>,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    out.extend_from_slice(MSG_START);
    let mut needs_alg = false;
    let mut prefix = Vec::with_capacity(32);
    for f in msg.fields() {
        check_name(&f.name)?;
        if let Some((name, value)) = set.filter(|(n, _)| *n == f.name) {
            ns::put_parts(out, &[b"(0)", name.as_bytes(), b"=", value]);
            set = None;
            continue;
        }
        prefix.clear();
        prefix.extend_from_slice(&[b'(', 0, b')']);
        prefix.extend_from_slice(f.name.as_bytes());
        prefix.push(b'=');
        let (ty, value): (FieldType, std::borrow::Cow<'_, [u8]>) = match &f.value {
            Value::Str(s) => (FieldType::String, s.into()),
            Value::Bin(b) => (FieldType::Binary, b.into()),
            Value::Compressed(c) => (FieldType::Compressed, c.into()),
            Value::List(items) => (FieldType::List, ns::pack_list(items).into()),
            Value::Struct(child) => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep_enc(&f.name));
                }
                let mut inner = Vec::new();
                encode_into(child, opts, depth + 1, None, &mut inner)?;
                (FieldType::Struct, inner.into())
            }
            Value::Uncompressed(child) => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep_enc(&f.name));
                }
                needs_alg = true;
                (
                    FieldType::Compressed,
                    compress_child(&f.name, child, opts, depth)?.into(),
                )
            }
        };
        prefix[1] = ty.digit();
        ns::put_parts(out, &[&prefix, &value]);
    }
    if let Some((name, value)) = set {
        check_name(name)?;
        ns::put_parts(out, &[b"(0)", name.as_bytes(), b"=", value]);
    }
    if needs_alg && !msg.contains(COMPRESSION_ALGORITHM_FIELD) {
        let name = COMPRESSION_ALGORITHM_FIELD.as_bytes();
        ns::put_parts(
            out,
            &[b"(0)", name, b"=", opts.compression.name().as_bytes()],
        );
    }
    out.extend_from_slice(MSG_END);
    Ok(())
}

/// Decodes exactly one `###\n…%%%\n` message; trailing bytes (e.g. an auth trailer) are
/// an error — use [`decode_prefix`] to find where the message ends.
pub fn decode(bytes: &[u8]) -> Result<Msg, WireError> {
    let (msg, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(WireError::TrailingBytes {
            offset: used,
            count: bytes.len() - used,
        });
    }
    Ok(msg)
}

/// Decodes the message at the start of `bytes`; returns it and the number of bytes it
/// occupies (through the `\n` of `%%%\n`).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Msg, usize), WireError> {
    parse_msg(bytes, 0, bytes.len(), 0)
}

fn parse_msg(
    buf: &[u8],
    start: usize,
    end: usize,
    depth: usize,
) -> Result<(Msg, usize), WireError> {
    if !buf[start..end].starts_with(MSG_START) {
        return Err(
            if end - start < MSG_START.len() && MSG_START.starts_with(&buf[start..end]) {
                WireError::Truncated {
                    offset: end,
                    what: "message start marker",
                }
            } else {
                WireError::BadMarker {
                    offset: start,
                    expected: "###\\n",
                }
            },
        );
    }
    // A status message has a dozen fields: room for them without regrowing.
    let mut msg = Msg::with_capacity(16);
    let mut pos = start + MSG_START.len();
    loop {
        if buf[pos..end].starts_with(MSG_END) {
            return Ok((msg, pos + MSG_END.len()));
        }
        if pos >= end {
            return Err(WireError::Truncated {
                offset: pos,
                what: "message (no %%%\\n end marker)",
            });
        }
        let (body, next) = ns::peel(buf, pos, end)?;
        parse_field(buf, body, depth, &mut msg)?;
        pos = next;
    }
}

/// Parses `(T)name=value` in `buf[body]` and appends it to `msg`.
fn parse_field(
    buf: &[u8],
    body: std::ops::Range<usize>,
    depth: usize,
    msg: &mut Msg,
) -> Result<(), WireError> {
    let b = &buf[body.clone()];
    let at = body.start;
    if b.len() < 3 || b[0] != b'(' || b[2] != b')' {
        return Err(WireError::MissingType { offset: at });
    }
    let bad_type = WireError::BadType {
        offset: at + 1,
        digit: char::from(b[1]),
    };
    let ty = FieldType::from_digit(b[1]).ok_or_else(|| bad_type.clone())?;
    let eq = b[3..]
        .iter()
        .position(|&c| c == b'=')
        .ok_or(WireError::MissingEquals { offset: at + 3 })?
        + 3;
    if eq == 3 {
        return Err(WireError::EmptyName { offset: at + 3 });
    }
    let name = std::str::from_utf8(&b[3..eq]).map_err(|_| WireError::BadValue {
        offset: at + 3,
        field: String::from_utf8_lossy(&b[3..eq]).into_owned(),
        reason: "field name is not UTF-8".into(),
    })?;
    let vstart = at + eq + 1;
    let vend = body.end;
    let value = match ty {
        FieldType::String => Value::Str(buf[vstart..vend].to_vec()),
        FieldType::Binary => Value::Bin(buf[vstart..vend].to_vec()),
        FieldType::Compressed => Value::Compressed(buf[vstart..vend].to_vec()),
        FieldType::List => Value::List(ns::unpack_list(buf, vstart, vend)?),
        FieldType::Struct => {
            if depth >= MAX_DEPTH {
                return Err(WireError::TooDeep {
                    offset: vstart,
                    field: name.to_string(),
                    max: MAX_DEPTH,
                });
            }
            let (child, used) = parse_msg(buf, vstart, vend, depth + 1)?;
            if used != vend {
                return Err(WireError::TrailingBytes {
                    offset: used,
                    count: vend - used,
                });
            }
            Value::Struct(child)
        }
        // T=5 exists only in memory; the C parser would index past its type table.
        FieldType::Uncompressed => return Err(bad_type),
    };
    msg.add(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Msg {
        let mut m = Msg::with_type("status");
        m.add_str("st", "up")
            .add_bin("srcuuid", [0xc6, 0, b',', b'\n']);
        m
    }

    #[test]
    fn encodes_the_documented_field_layout() {
        let b = encode(&sample()).unwrap();
        assert_eq!(
            b,
            b"###\n11:(0)t=status,8:(0)st=up,15:(1)srcuuid=\xc6\x00,\n,%%%\n".to_vec()
        );
        assert_eq!(decode(&b).unwrap(), sample());
    }

    #[test]
    fn nested_struct_and_list() {
        let mut child = Msg::new();
        child.add_str("a", "1");
        let mut m = Msg::with_type("x");
        m.add_struct("c", child.clone())
            .add_list("ccmuptimelist", ["33554432", "16777216"]);
        let b = encode(&m).unwrap();
        let s = String::from_utf8(b.clone()).unwrap();
        assert!(s.contains("22:(2)c=###\n6:(0)a=1,%%%\n,"), "{s}");
        assert!(
            s.contains("39:(3)ccmuptimelist=8:33554432,8:16777216,,"),
            "{s}"
        );
        assert_eq!(decode(&b).unwrap(), m);
    }

    #[test]
    fn uncompressed_becomes_compressed_with_algorithm_field() {
        let mut child = Msg::new();
        child.add_str("cib", "x".repeat(1000));
        let mut m = Msg::with_type("cib");
        m.add("data", Value::Uncompressed(child.clone()));
        let b = encode_with(
            &m,
            &EncodeOptions {
                compression: Compression::Bz2,
            },
        )
        .unwrap();
        let d = decode(&b).unwrap();
        assert_eq!(d.get_str(COMPRESSION_ALGORITHM_FIELD), Some("bz2"));
        let Some(Value::Compressed(c)) = d.get("data") else {
            panic!("not compressed: {d:?}")
        };
        let raw = compress::decompress(Compression::Bz2, c, compress::MAX_UNCOMPRESSED).unwrap();
        assert_eq!(decode(&raw).unwrap(), child);
    }

    #[test]
    fn malformed_inputs_are_errors_with_offsets() {
        type Check = fn(&WireError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"##\n", |e| {
                matches!(e, WireError::BadMarker { offset: 0, .. })
            }),
            (b"###", |e| matches!(e, WireError::Truncated { .. })),
            (b"###\n8:(0)st=up,", |e| {
                matches!(e, WireError::Truncated { offset: 15, .. })
            }),
            (b"###\n8:(6)st=up,%%%\n", |e| {
                matches!(
                    e,
                    WireError::BadType {
                        offset: 7,
                        digit: '6'
                    }
                )
            }),
            (b"###\n8:(5)st=up,%%%\n", |e| {
                matches!(e, WireError::BadType { digit: '5', .. })
            }),
            (b"###\n8:(0)stxup,%%%\n", |e| {
                matches!(e, WireError::MissingEquals { .. })
            }),
            (b"###\n8:(0)st=up;%%%\n", |e| {
                matches!(e, WireError::MissingComma { offset: 14, len: 8 })
            }),
            (b"###\n9:(0)st=up,%%%\n", |e| {
                matches!(e, WireError::MissingComma { .. })
            }),
            (b"###\n5:(0)=x,%%%\n", |e| {
                matches!(e, WireError::EmptyName { .. })
            }),
            (b"###\n5:0)a=x,%%%\n", |e| {
                matches!(e, WireError::MissingType { offset: 6 })
            }),
            (b"###\n%%%\nX", |e| {
                matches!(
                    e,
                    WireError::TrailingBytes {
                        offset: 8,
                        count: 1
                    }
                )
            }),
            (b"###\n10:(3)l=1:x;,%%%\n", |e| {
                matches!(e, WireError::MissingComma { .. })
            }),
        ];
        for (input, check) in cases {
            let e = decode(input).expect_err(&String::from_utf8_lossy(input));
            assert!(check(&e), "{:?} -> {e:?}", String::from_utf8_lossy(input));
        }
    }

    fn nested(levels: usize) -> Msg {
        let mut m = Msg::new();
        m.add_str("leaf", "1");
        for _ in 0..levels {
            let mut p = Msg::new();
            p.add_struct("c", m);
            m = p;
        }
        m
    }

    #[test]
    fn depth_limit_is_sixteen_levels() {
        let ok = encode(&nested(MAX_DEPTH)).unwrap();
        assert_eq!(decode(&ok).unwrap(), nested(MAX_DEPTH));
        assert!(matches!(
            encode(&nested(MAX_DEPTH + 1)),
            Err(WireError::TooDeep { .. })
        ));
        // Hand-build one level more than allowed and make sure decode refuses it.
        let mut bytes = encode(&nested(0)).unwrap();
        for _ in 0..=MAX_DEPTH {
            let mut outer = MSG_START.to_vec();
            ns::put_parts(&mut outer, &[b"(2)c=", &bytes]);
            outer.extend_from_slice(MSG_END);
            bytes = outer;
        }
        assert!(matches!(decode(&bytes), Err(WireError::TooDeep { .. })));
    }

    #[test]
    fn names_with_equals_are_refused() {
        let mut m = Msg::new();
        m.add_str("a=b", "c");
        assert!(matches!(encode(&m), Err(WireError::Unencodable { .. })));
    }
}
