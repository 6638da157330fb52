//! The classic ("nvpair") text format, `>>>\n` `[(T)]name=value\n`* `<<<\n` (§2.3).
//!
//! heartbeat 3.0.6 never sends it on UDP but accepts it there; it is the default local
//! IPC format, the inner form of whole-message compression and the input of the
//! in-band `auth` digest ([`auth_input`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::msg::{FieldType, Msg, Value};
use crate::netstring::{self, EncodeOptions, COMPRESSION_ALGORITHM_FIELD, MAX_DEPTH};
use crate::{ns, WireError};

/// Start marker of a classic message.
pub const MSG_START: &[u8] = b">>>\n";
/// End marker of a classic message.
pub const MSG_END: &[u8] = b"<<<\n";
/// Byte that stands for `\n` inside string values.
pub const NEWLINE_SYMBOL: u8 = 0x13;
/// Bytes standing for `\n` inside a struct value, indexed by the depth of the message
/// that holds the struct field.
pub const STRUCT_NEWLINE_SYMBOLS: [u8; MAX_DEPTH] = [
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 15, 16, 17, 18,
];
/// Name of the in-band authentication field.
pub const AUTH_FIELD: &str = "auth";

/// Encodes `msg` as `>>>\n…<<<\n` (no trailing NUL), compressing T=5 fields with zlib.
pub fn encode(msg: &Msg) -> Result<Vec<u8>, WireError> {
    encode_with(msg, &EncodeOptions::default())
}

/// Encodes `msg` as `>>>\n…<<<\n` with explicit options for T=5 fields.
pub fn encode_with(msg: &Msg, opts: &EncodeOptions) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(MSG_START);
    encode_fields(msg, opts, 0, false, &mut out)?;
    out.extend_from_slice(MSG_END);
    Ok(out)
}

/// The bytes the in-band `auth` digest covers: every field except those named `auth`,
/// one `[(T)]name=value\n` line each, without the `>>>`/`<<<` markers (§2.5).
pub fn auth_input(msg: &Msg) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(256);
    encode_fields(msg, &EncodeOptions::default(), 0, true, &mut out)?;
    Ok(out)
}

fn unencodable(name: &str, reason: &str) -> WireError {
    WireError::Unencodable {
        field: name.to_string(),
        reason: reason.to_string(),
    }
}

fn encode_fields(
    msg: &Msg,
    opts: &EncodeOptions,
    depth: usize,
    skip_auth: bool,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let mut needs_alg = false;
    for f in msg.fields() {
        if skip_auth && f.name == AUTH_FIELD {
            continue;
        }
        let name = &f.name;
        if name.is_empty() {
            return Err(unencodable(name, "empty name"));
        }
        if name.contains(['=', '\n']) {
            return Err(unencodable(name, "name contains '=' or a newline"));
        }
        let ty = f.value.field_type();
        if ty == FieldType::String && name.starts_with('(') {
            // The parser would take "(x)" for a type prefix.
            return Err(unencodable(name, "string field name starts with '('"));
        }
        let value: Vec<u8> = match &f.value {
            Value::Str(s) => {
                if s.contains(&NEWLINE_SYMBOL) {
                    return Err(unencodable(
                        name,
                        "string contains byte 0x13, which classic format uses for newline",
                    ));
                }
                s.iter()
                    .map(|&c| if c == b'\n' { NEWLINE_SYMBOL } else { c })
                    .collect()
            }
            Value::Bin(b) | Value::Compressed(b) => B64.encode(b).into_bytes(),
            Value::List(items) => {
                if items.iter().any(|i| i.contains(&b'\n')) {
                    return Err(unencodable(name, "list item contains a newline"));
                }
                ns::pack_list(items)
            }
            Value::Struct(child) => {
                if depth >= MAX_DEPTH {
                    return Err(WireError::TooDeep {
                        offset: 0,
                        field: name.clone(),
                        max: MAX_DEPTH,
                    });
                }
                let sym = STRUCT_NEWLINE_SYMBOLS[depth];
                let mut inner = MSG_START.to_vec();
                encode_fields(child, opts, depth + 1, false, &mut inner)?;
                inner.extend_from_slice(MSG_END);
                if inner.contains(&sym) {
                    return Err(unencodable(
                        name,
                        "struct contains the byte that stands for its newlines",
                    ));
                }
                inner
                    .into_iter()
                    .map(|c| if c == b'\n' { sym } else { c })
                    .collect()
            }
            Value::Uncompressed(child) => {
                if depth >= MAX_DEPTH {
                    return Err(WireError::TooDeep {
                        offset: 0,
                        field: name.clone(),
                        max: MAX_DEPTH,
                    });
                }
                needs_alg = true;
                B64.encode(netstring::compress_child(name, child, opts, depth)?)
                    .into_bytes()
            }
        };
        let wire_ty = if ty == FieldType::Uncompressed {
            FieldType::Compressed
        } else {
            ty
        };
        if wire_ty != FieldType::String {
            out.extend_from_slice(&[b'(', wire_ty.digit(), b')']);
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&value);
        out.push(b'\n');
    }
    if needs_alg && !msg.contains(COMPRESSION_ALGORITHM_FIELD) {
        out.extend_from_slice(COMPRESSION_ALGORITHM_FIELD.as_bytes());
        out.push(b'=');
        out.extend_from_slice(opts.compression.name().as_bytes());
        out.push(b'\n');
    }
    Ok(())
}

/// Decodes one classic message. One trailing NUL (as written on IPC channels and in
/// compressed payloads) is accepted and ignored; anything else after `<<<\n` is an error.
pub fn decode(bytes: &[u8]) -> Result<Msg, WireError> {
    let (msg, used) = parse_msg(bytes, 0)?;
    let rest = &bytes[used..];
    if rest.is_empty() || rest == [0] {
        Ok(msg)
    } else {
        Err(WireError::TrailingBytes {
            offset: used,
            count: rest.len(),
        })
    }
}

/// Parses the message at the start of `buf`; returns it and the bytes it occupies.
fn parse_msg(buf: &[u8], depth: usize) -> Result<(Msg, usize), WireError> {
    if !buf.starts_with(MSG_START) {
        return Err(
            if buf.len() < MSG_START.len() && MSG_START.starts_with(buf) {
                WireError::Truncated {
                    offset: buf.len(),
                    what: "message start marker",
                }
            } else {
                WireError::BadMarker {
                    offset: 0,
                    expected: ">>>\\n",
                }
            },
        );
    }
    let mut msg = Msg::new();
    let mut pos = MSG_START.len();
    loop {
        if buf[pos..].starts_with(MSG_END) {
            return Ok((msg, pos + MSG_END.len()));
        }
        let nl = buf[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|i| pos + i)
            .ok_or(WireError::Truncated {
                offset: buf.len(),
                what: "message (no <<<\\n end marker)",
            })?;
        parse_line(buf, pos, nl, depth, &mut msg)?;
        pos = nl + 1;
    }
}

fn parse_line(
    buf: &[u8],
    start: usize,
    end: usize,
    depth: usize,
    msg: &mut Msg,
) -> Result<(), WireError> {
    let line = &buf[start..end];
    let (ty, name_at) = if line.first() == Some(&b'(') {
        if line.len() < 3 || line[2] != b')' {
            return Err(WireError::MissingType { offset: start });
        }
        match FieldType::from_digit(line[1]) {
            // "(0)" is rejected by heartbeat ("wrong type"): strings carry no prefix.
            Some(t) if t != FieldType::String && t != FieldType::Uncompressed => (t, 3),
            _ => {
                return Err(WireError::BadType {
                    offset: start + 1,
                    digit: char::from(line[1]),
                })
            }
        }
    } else {
        (FieldType::String, 0)
    };
    let eq = line[name_at..]
        .iter()
        .position(|&c| c == b'=')
        .ok_or(WireError::MissingEquals {
            offset: start + name_at,
        })?
        + name_at;
    if eq == name_at {
        return Err(WireError::EmptyName {
            offset: start + name_at,
        });
    }
    let name_bytes = &line[name_at..eq];
    let name = std::str::from_utf8(name_bytes).map_err(|_| WireError::BadValue {
        offset: start + name_at,
        field: String::from_utf8_lossy(name_bytes).into_owned(),
        reason: "field name is not UTF-8".into(),
    })?;
    let vstart = start + eq + 1;
    let raw = &buf[vstart..end];
    let bad = |reason: String| WireError::BadValue {
        offset: vstart,
        field: name.to_string(),
        reason,
    };
    let value = match ty {
        FieldType::String => Value::Str(
            raw.iter()
                .map(|&c| if c == NEWLINE_SYMBOL { b'\n' } else { c })
                .collect(),
        ),
        FieldType::Binary => Value::Bin(B64.decode(raw).map_err(|e| bad(format!("base64: {e}")))?),
        FieldType::Compressed => {
            Value::Compressed(B64.decode(raw).map_err(|e| bad(format!("base64: {e}")))?)
        }
        FieldType::List => Value::List(ns::unpack_list(buf, vstart, end)?),
        FieldType::Struct => {
            if depth >= MAX_DEPTH {
                return Err(WireError::TooDeep {
                    offset: vstart,
                    field: name.to_string(),
                    max: MAX_DEPTH,
                });
            }
            let sym = STRUCT_NEWLINE_SYMBOLS[depth];
            let inner: Vec<u8> = raw
                .iter()
                .map(|&c| if c == sym { b'\n' } else { c })
                .collect();
            let (child, used) = parse_msg(&inner, depth + 1).map_err(|e| e.shifted(vstart))?;
            if used != inner.len() {
                return Err(WireError::TrailingBytes {
                    offset: vstart + used,
                    count: inner.len() - used,
                });
            }
            Value::Struct(child)
        }
        FieldType::Uncompressed => {
            return Err(WireError::BadType {
                offset: start + 1,
                digit: '5',
            })
        }
    };
    msg.add(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_auth_input() {
        // §2.10: the 133-byte input of the in-band digest.
        let mut m = Msg::with_type("status");
        m.add_str("st", "up")
            .add_str("dt", "2ee0")
            .add_str("protocol", "1")
            .add_str("src", "alpha")
            .add_bin(
                "srcuuid",
                [
                    0xc6, 0xf6, 0x38, 0x3e, 0xec, 0x74, 0x4d, 0x5e, 0xaa, 0x65, 0xb7, 0x7b, 0xe2,
                    0xc8, 0x62, 0x12,
                ],
            )
            .add_str("seq", "2")
            .add_str("hg", "6b080148")
            .add_str("ts", "6b080147")
            .add_str("ld", "0.45 0.31 0.13 1/113 21268")
            .add_str("ttl", "3")
            .add_str("auth", "1 be97eb438fa1c804853ac658835a818da0c0d0cc");
        let input = auth_input(&m).unwrap();
        assert_eq!(
            input,
            b"t=status\nst=up\ndt=2ee0\nprotocol=1\nsrc=alpha\n(1)srcuuid=xvY4Pux0TV6qZbd74shiEg==\nseq=2\nhg=6b080148\nts=6b080147\nld=0.45 0.31 0.13 1/113 21268\nttl=3\n".to_vec()
        );
        // §2.10 calls this "133 bytes"; it is 146 (the HMAC in the capture confirms these bytes).
        assert_eq!(input.len(), 146);
        let full = encode(&m).unwrap();
        assert!(full.starts_with(b">>>\nt=status\n"));
        assert!(full.ends_with(b"auth=1 be97eb438fa1c804853ac658835a818da0c0d0cc\n<<<\n"));
        assert_eq!(decode(&full).unwrap(), m);
    }

    #[test]
    fn newlines_in_strings_and_structs_use_symbols() {
        let mut grandchild = Msg::new();
        grandchild.add_str("g", "x\ny");
        let mut child = Msg::new();
        child.add_struct("gc", grandchild);
        let mut m = Msg::new();
        m.add_struct("c", child).add_list("l", ["a", "bc"]);
        let b = encode(&m).unwrap();
        assert_eq!(
            b,
            b">>>\n(2)c=>>>\x14(2)gc=>>>\x15g=x\x13y\x15<<<\x15\x14<<<\x14\n(3)l=1:a,2:bc,\n<<<\n"
                .to_vec()
        );
        assert_eq!(decode(&b).unwrap(), m);
        let mut with_nul = b.clone();
        with_nul.push(0);
        assert_eq!(decode(&with_nul).unwrap(), m);
        with_nul.push(0);
        assert!(matches!(
            decode(&with_nul),
            Err(WireError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[&[u8]] = &[
            b">>\n",
            b">>>\nt=x\n",
            b">>>\nnoequals\n<<<\n",
            b">>>\n=x\n<<<\n",
            b">>>\n(7)a=b\n<<<\n",
            b">>>\n(0)a=b\n<<<\n",
            b">>>\n(1)a=!!!\n<<<\n",
            b">>>\n(2)a=>>>\x14t=x\x14\n<<<\n",
            b">>>\n(3)a=3:ab,\n<<<\n",
            b">>>\n(1a=b\n<<<\n",
        ];
        for c in cases {
            assert!(decode(c).is_err(), "{:?}", String::from_utf8_lossy(c));
        }
        assert!(matches!(
            decode(b">>>\nt=x\n(8)a=b\n<<<\n"),
            Err(WireError::BadType {
                offset: 9,
                digit: '8'
            })
        ));
    }

    #[test]
    fn unrepresentable_values_are_refused() {
        let mut m = Msg::new();
        m.add_str("a", [b'x', NEWLINE_SYMBOL]);
        assert!(matches!(encode(&m), Err(WireError::Unencodable { .. })));
        let mut m = Msg::new();
        m.add_str("(1)a", "x");
        assert!(matches!(encode(&m), Err(WireError::Unencodable { .. })));
    }
}
