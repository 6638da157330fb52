//! Framing of the API socket (§7.1).
//!
//! Every message on `/run/heartbeat/register` travels as an 8-byte header
//! `{int32 msg_len; uint32 magic = 0xabcd}` in host byte order followed by `msg_len`
//! body bytes. The body is a message in classic form plus a terminating NUL that is
//! counted in `msg_len`, or in netstring form without NUL.

use std::io::{ErrorKind, Read, Write};

use hb_wire::Msg;

use crate::error::ApiError;

/// Magic word of every frame header.
pub const FRAME_MAGIC: u32 = 0xABCD;
/// Size of the frame header.
pub const HEADER_LEN: usize = 8;
/// heartbeat's MAXMSG: longer frames are treated as stream corruption.
pub const MAX_FRAME_LEN: usize = 262_144;

/// Encoding of message bodies (`msgfmt` in ha.cf, §2.4): classic `>>>\n…<<<\n` text
/// plus a NUL (heartbeat's default), or netstring `###\n…%%%\n` without NUL.
pub use hb_wire::packet::MsgFmt;

/// The 8 header bytes for a body of `body_len` bytes.
pub fn encode_header(body_len: usize) -> Result<[u8; HEADER_LEN], ApiError> {
    if body_len > MAX_FRAME_LEN {
        return Err(ApiError::BadLength {
            len: body_len as i64,
            max: MAX_FRAME_LEN,
        });
    }
    let mut hdr = [0u8; HEADER_LEN];
    // MAX_FRAME_LEN fits an i32, so the cast cannot truncate.
    hdr[..4].copy_from_slice(&(body_len as i32).to_ne_bytes());
    hdr[4..].copy_from_slice(&FRAME_MAGIC.to_ne_bytes());
    Ok(hdr)
}

/// Validates a header and returns the body length it announces.
pub fn parse_header(hdr: &[u8; HEADER_LEN]) -> Result<usize, ApiError> {
    let len = i32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let magic = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    if magic != FRAME_MAGIC {
        return Err(ApiError::BadMagic { magic });
    }
    match usize::try_from(len) {
        Ok(n) if n <= MAX_FRAME_LEN => Ok(n),
        _ => Err(ApiError::BadLength {
            len: i64::from(len),
            max: MAX_FRAME_LEN,
        }),
    }
}

/// Reads one whole frame and returns its body. A clean EOF before the header gives
/// [`ApiError::Eof`].
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, ApiError> {
    let mut hdr = [0u8; HEADER_LEN];
    read_full(r, &mut hdr, "reading a frame header")?;
    let len = parse_header(&hdr)?;
    let mut body = vec![0u8; len];
    read_full(r, &mut body, "reading a frame body")?;
    Ok(body)
}

fn read_full(r: &mut impl Read, buf: &mut [u8], context: &str) -> Result<(), ApiError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(ApiError::Eof {
                    context: context.to_string(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(ApiError::Timeout {
                    context: context.to_string(),
                })
            }
            Err(e) => return Err(ApiError::io(context, e)),
        }
    }
    Ok(())
}

/// Writes header and body as one buffer, so a frame is never interleaved with another
/// writer's bytes on the same stream.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> Result<(), ApiError> {
    let mut buf = Vec::with_capacity(HEADER_LEN + body.len());
    buf.extend_from_slice(&encode_header(body.len())?);
    buf.extend_from_slice(body);
    w.write_all(&buf)
        .and_then(|()| w.flush())
        .map_err(|e| ApiError::io("writing a frame", e))
}

/// Incremental frame splitter for non-blocking sockets: push whatever arrived, then
/// take complete frames out.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame body, `None` if more bytes are needed. A bad header is
    /// reported every time it is seen: the stream cannot be resynchronised, so the
    /// caller must drop the connection (heartbeat itself spins on such a client).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(hdr) = self.buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(hdr);
        let len = parse_header(&h)?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let body = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(body))
    }
}

/// Serializes a message body in `fmt`. Messages with nested structs always use the
/// netstring form, as heartbeat does (`must_use_netstring`).
pub fn encode_body(msg: &Msg, fmt: MsgFmt) -> Result<Vec<u8>, ApiError> {
    if fmt == MsgFmt::Netstring || msg.has_nested() {
        return hb_wire::netstring::encode(msg).map_err(|source| ApiError::Wire {
            context: "encoding a netstring body",
            source,
        });
    }
    let mut body = hb_wire::classic::encode(msg).map_err(|source| ApiError::Wire {
        context: "encoding a classic body",
        source,
    })?;
    body.push(0);
    Ok(body)
}

/// Parses a frame body in either format (recognised by its first line).
pub fn decode_body(body: &[u8]) -> Result<Msg, ApiError> {
    if body.starts_with(b"###\n") {
        let wire = |source| ApiError::Wire {
            context: "decoding a netstring body",
            source,
        };
        let body = strip_nul(body);
        let (msg, used) = hb_wire::netstring::decode_prefix(body).map_err(wire)?;
        // heartbeat 3.0.6 writes netstring messages to its clients with msg2netstring,
        // which appends the cluster's auth trailer. Clients hold no keys (libhbclient
        // never checks it), so one trailing netstring is skipped, nothing else.
        if used != body.len() && !is_one_netstring(&body[used..]) {
            return Err(wire(hb_wire::WireError::TrailingBytes {
                offset: used,
                count: body.len() - used,
            }));
        }
        expand_compressed(msg)
    } else if body.starts_with(b">>>\n") {
        hb_wire::classic::decode(strip_nul(body)).map_err(|source| ApiError::Wire {
            context: "decoding a classic body",
            source,
        })
    } else {
        let head = String::from_utf8_lossy(&body[..body.len().min(16)]).into_owned();
        Err(ApiError::Body {
            reason: format!("starts with {head:?}, neither \">>>\\n\" nor \"###\\n\""),
        })
    }
}

/// True when `rest` is exactly one netstring `<len>:<bytes>,` (an auth trailer).
fn is_one_netstring(rest: &[u8]) -> bool {
    let Some(colon) = rest.iter().position(|&b| b == b':') else {
        return false;
    };
    let digits = &rest[..colon];
    if digits.is_empty() || digits.len() > 7 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let len: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    colon
        .checked_add(len)
        .and_then(|n| n.checked_add(2))
        .is_some_and(|total| total == rest.len() && rest[total - 1] == b',')
}

/// heartbeat with `traditional_compression` hands its clients big messages still
/// wrapped as `_compressed_payload` + `_compression_algorithm` (libhbclient's
/// `wirefmt2msg` unwraps them); the client wants the inner message.
fn expand_compressed(msg: Msg) -> Result<Msg, ApiError> {
    let Some(payload) = msg.get_bin(hb_wire::packet::COMPRESSED_PAYLOAD_FIELD) else {
        return Ok(msg);
    };
    let wire = |source| ApiError::Wire {
        context: "expanding a compressed message body",
        source,
    };
    let name = msg
        .get_bytes(hb_wire::netstring::COMPRESSION_ALGORITHM_FIELD)
        .unwrap_or_default();
    let alg = hb_wire::compress::Compression::from_name(name).ok_or_else(|| {
        wire(hb_wire::WireError::UnknownCompression {
            name: String::from_utf8_lossy(name).into_owned(),
        })
    })?;
    let raw = hb_wire::compress::decompress(alg, payload, hb_wire::compress::MAX_UNCOMPRESSED)
        .map_err(wire)?;
    hb_wire::decode_any(strip_nul(&raw)).map_err(wire)
}

/// The C senders count the string terminator in the frame; the codecs do not want it.
fn strip_nul(body: &[u8]) -> &[u8] {
    let mut end = body.len();
    while end > 0 && body[end - 1] == 0 {
        end -= 1;
    }
    &body[..end]
}

/// Encodes `msg` and writes it as one frame.
pub fn write_msg(w: &mut impl Write, msg: &Msg, fmt: MsgFmt) -> Result<(), ApiError> {
    write_frame(w, &encode_body(msg, fmt)?)
}

/// Reads one frame and decodes its body.
pub fn read_msg(r: &mut impl Read) -> Result<Msg, ApiError> {
    decode_body(&read_frame(r)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The §7.1 example frame, sent by a Python client and accepted by heartbeat.
    const SIGNON_FRAME: &[u8] = b"S\x00\x00\x00\xcd\xab\x00\x00>>>\nt=hbapi-req\nreqtype=signon\ndest=alpha\npid=25915\nfrom_id=25915\nuid=0\ngid=0\n<<<\n\x00";

    #[test]
    fn header_bytes_are_native_endian_with_magic() {
        let hdr = encode_header(0x53).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(hdr, [0x53, 0, 0, 0, 0xcd, 0xab, 0, 0]);
        }
        assert_eq!(parse_header(&hdr).unwrap(), 0x53);
    }

    #[test]
    fn reference_signon_frame_decodes() {
        let mut r = SIGNON_FRAME;
        let body = read_frame(&mut r).unwrap();
        assert!(r.is_empty(), "the length must cover the body and its NUL");
        assert_eq!(body.last(), Some(&0u8));
        let msg = decode_body(&body).unwrap();
        assert_eq!(msg.get_str("t"), Some("hbapi-req"));
        assert_eq!(msg.get_str("reqtype"), Some("signon"));
        assert_eq!(msg.get_str("dest"), Some("alpha"));
        assert_eq!(msg.get_str("pid"), Some("25915"));
        assert_eq!(msg.get_str("from_id"), Some("25915"));
        assert_eq!(msg.get_str("gid"), Some("0"));
    }

    #[test]
    fn classic_body_reencodes_byte_exact() {
        let body = &SIGNON_FRAME[HEADER_LEN..];
        let msg = decode_body(body).unwrap();
        assert_eq!(encode_body(&msg, MsgFmt::Classic).unwrap(), body);
        let mut out = Vec::new();
        write_msg(&mut out, &msg, MsgFmt::Classic).unwrap();
        assert_eq!(out, SIGNON_FRAME);
    }

    #[test]
    fn netstring_body_has_no_nul_and_roundtrips() {
        let mut m = Msg::with_type("hbapi-resp");
        m.add_str("reqtype", "getuuid")
            .add_bin("queryuuid", [7u8; 16])
            .add_str("result", "OK");
        let body = encode_body(&m, MsgFmt::Netstring).unwrap();
        assert!(body.starts_with(b"###\n"));
        assert!(body.ends_with(b"%%%\n"));
        assert_eq!(decode_body(&body).unwrap(), m);
    }

    #[test]
    fn netstring_body_with_auth_trailer_from_heartbeat() {
        // What Debian's heartbeat writes to a client: msg2netstring, trailer included.
        let mut m = Msg::with_type("interop");
        m.add_str("src", "alpha").add_str("from_id", "bigmsg");
        let mut body = encode_body(&m, MsgFmt::Netstring).unwrap();
        let plain = body.clone();
        body.extend_from_slice(b"42:1 0123456789abcdef0123456789abcdef01234567,");
        assert_eq!(decode_body(&body).unwrap(), m);
        for bad in [&b"42:1 short,"[..], b"x", b"3:abc", b"3:abc,3:abc,", b":,"] {
            let mut b = plain.clone();
            b.extend_from_slice(bad);
            assert!(
                matches!(decode_body(&b), Err(ApiError::Wire { .. })),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn compressed_payload_body_is_expanded() {
        use hb_wire::compress::{compress, Compression};
        let mut inner = Msg::with_type("interop-big");
        inner.add_str("payload", "x".repeat(5000));
        for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
            // The inner message is serialized as the sender's msgfmt (classic with NUL).
            let raw = encode_body(&inner, fmt).unwrap();
            let mut outer = Msg::new();
            outer
                .add_bin(
                    "_compressed_payload",
                    compress(Compression::Zlib, &raw).unwrap(),
                )
                .add_str("_compression_algorithm", "zlib");
            let mut body = encode_body(&outer, MsgFmt::Netstring).unwrap();
            body.extend_from_slice(b"10:3 994c2de5,");
            assert_eq!(decode_body(&body).unwrap(), inner, "{fmt:?}");
        }
        let mut unknown = Msg::new();
        unknown
            .add_bin("_compressed_payload", b"junk")
            .add_str("_compression_algorithm", "lzma");
        let body = encode_body(&unknown, MsgFmt::Netstring).unwrap();
        assert!(matches!(decode_body(&body), Err(ApiError::Wire { .. })));
    }

    #[test]
    fn oversize_and_bad_magic_are_rejected() {
        let mut big = encode_header(16).unwrap();
        big[..4].copy_from_slice(&((MAX_FRAME_LEN as i32) + 1).to_ne_bytes());
        assert!(matches!(
            read_frame(&mut &big[..]),
            Err(ApiError::BadLength { len: 262_145, .. })
        ));
        let mut neg = big;
        neg[..4].copy_from_slice(&(-1i32).to_ne_bytes());
        assert!(matches!(
            parse_header(&neg),
            Err(ApiError::BadLength { len: -1, .. })
        ));
        let mut bad = encode_header(1).unwrap();
        bad[4] = 0xcc;
        assert!(matches!(parse_header(&bad), Err(ApiError::BadMagic { .. })));
        assert!(encode_header(MAX_FRAME_LEN).is_ok());
        assert!(encode_header(MAX_FRAME_LEN + 1).is_err());
    }

    #[test]
    fn decoder_reassembles_split_frames() {
        let mut dec = FrameDecoder::new();
        let mut two = SIGNON_FRAME.to_vec();
        two.extend_from_slice(SIGNON_FRAME);
        for chunk in two.chunks(5) {
            dec.push(chunk);
        }
        let a = dec.next_frame().unwrap().unwrap();
        let b = dec.next_frame().unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a, &SIGNON_FRAME[HEADER_LEN..]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.push(&SIGNON_FRAME[..10]);
        assert_eq!(dec.next_frame().unwrap(), None);
        assert_eq!(dec.buffered(), 10);
    }

    #[test]
    fn decoder_reports_corruption() {
        let mut dec = FrameDecoder::new();
        dec.push(b"GET / HTTP/1.0\r\n");
        assert!(matches!(dec.next_frame(), Err(ApiError::BadMagic { .. })));
    }

    #[test]
    fn eof_and_garbage_bodies() {
        assert!(matches!(
            read_frame(&mut &b""[..]),
            Err(ApiError::Eof { .. })
        ));
        assert!(matches!(
            read_frame(&mut &SIGNON_FRAME[..20]),
            Err(ApiError::Eof { .. })
        ));
        assert!(matches!(decode_body(b"hello"), Err(ApiError::Body { .. })));
    }
}
