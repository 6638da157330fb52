//! Whole UDP datagrams: message + authentication + optional whole-message compression
//! (§2.2, §2.5, §2.8).

use crate::auth::Keyring;
use crate::classic::{self, AUTH_FIELD};
use crate::compress::{self, Compression, MAX_UNCOMPRESSED};
use crate::netstring::{self, EncodeOptions, COMPRESSION_ALGORITHM_FIELD};
use crate::{ns, Msg, Value, WireError};

/// Largest UDP payload over IPv4; heartbeat gets EMSGSIZE beyond it.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// heartbeat's message buffer size (`MAXMSG`): larger serialized messages are always
/// compressed before being given up on.
pub const MAXMSG: usize = 262_144;
/// Field carrying a whole compressed message (traditional compression).
pub const COMPRESSED_PAYLOAD_FIELD: &str = "_compressed_payload";

/// The `msgfmt` directive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MsgFmt {
    /// Adds the in-band `auth` field; IPC and compressed payloads use classic text.
    #[default]
    Classic,
    Netstring,
}

/// What a node's configuration decides about outgoing datagrams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOptions {
    pub keyring: Keyring,
    pub msgfmt: MsgFmt,
    /// Plugin for traditional compression and for T=5 fields.
    pub compression: Compression,
    /// `compression_threshold` converted to bytes (ha.cf gives KiB; default 2 → 2048).
    pub compression_threshold: usize,
    pub traditional_compression: bool,
}

impl PacketOptions {
    /// heartbeat's defaults (`msgfmt classic`, zlib, 2 KiB, no traditional compression).
    pub fn new(keyring: Keyring) -> PacketOptions {
        PacketOptions {
            keyring,
            msgfmt: MsgFmt::Classic,
            compression: Compression::Zlib,
            compression_threshold: 2 * 1024,
            traditional_compression: false,
        }
    }
}

/// Why a received datagram was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("malformed packet: {0}")]
    Malformed(WireError),
    /// No trailer after a netstring message, or no `auth` field in a classic one.
    #[error("packet carries no authentication ({0})")]
    MissingAuth(&'static str),
    /// `expected` is kept for callers but left out of the message: logging the digest
    /// of attacker-chosen bytes would turn the log into a signing oracle.
    #[error("authentication failed for key slot {index}: packet has {received}")]
    BadAuth {
        index: u8,
        received: String,
        expected: String,
    },
    #[error("packet names auth key slot {index}, which authkeys does not define")]
    UnknownKeyIndex { index: u32 },
    #[error("cannot decompress {COMPRESSED_PAYLOAD_FIELD}: {0}")]
    Decompression(WireError),
    #[error("{what} is {size} bytes, more than {max}")]
    TooBig {
        what: &'static str,
        size: usize,
        max: usize,
    },
}

impl From<WireError> for PacketError {
    fn from(e: WireError) -> PacketError {
        match e {
            WireError::TooBig { what, size, max } => PacketError::TooBig { what, size, max },
            other => PacketError::Malformed(other),
        }
    }
}

/// Builds the exact UDP payload heartbeat would send for `msg`.
///
/// In classic mode a message without struct/compressed fields gets the in-band
/// `auth` field (replacing an existing one in place, else appended). Traditional
/// compression applies when enabled and the netstring form exceeds the threshold, or
/// whenever it reaches `MAXMSG`. A datagram over [`MAX_UDP_PAYLOAD`] is refused with
/// [`WireError::TooBig`] rather than handed to a socket that would fail.
pub fn encode_packet(msg: &Msg, opts: &PacketOptions) -> Result<Vec<u8>, WireError> {
    let enc = EncodeOptions {
        compression: opts.compression,
    };
    let classic_auth = opts.msgfmt == MsgFmt::Classic && !msg.has_nested();
    let auth = if classic_auth {
        let (idx, digest) = opts.keyring.try_sign(&classic::auth_input(msg)?)?;
        Some(format!("{idx} {digest}"))
    } else {
        None
    };
    let mut body = match &auth {
        Some(a) => netstring::encode_with_str_set(msg, &enc, AUTH_FIELD, a.as_bytes())?,
        None => netstring::encode_with(msg, &enc)?,
    };
    if (opts.traditional_compression && body.len() > opts.compression_threshold)
        || body.len() >= MAXMSG
    {
        let inner = match &auth {
            Some(a) => {
                let mut signed = msg.clone();
                signed.set_str(AUTH_FIELD, a);
                let mut c = classic::encode_with(&signed, &enc)?;
                c.push(0);
                c
            }
            None => body,
        };
        if inner.len() > MAX_UNCOMPRESSED {
            return Err(WireError::TooBig {
                what: "message before compression",
                size: inner.len(),
                max: MAX_UNCOMPRESSED,
            });
        }
        let mut outer = Msg::new();
        outer
            .add_bin(
                COMPRESSED_PAYLOAD_FIELD,
                compress::compress(opts.compression, &inner)?,
            )
            .add_str(COMPRESSION_ALGORITHM_FIELD, opts.compression.name());
        body = netstring::encode(&outer)?;
    }
    let (idx, digest) = opts.keyring.try_sign(&body)?;
    ns::put(&mut body, format!("{idx} {digest}").as_bytes());
    if body.len() > MAX_UDP_PAYLOAD {
        return Err(WireError::TooBig {
            what: "UDP datagram",
            size: body.len(),
            max: MAX_UDP_PAYLOAD,
        });
    }
    Ok(body)
}

/// Builds the classic `>>>\n…<<<\n` form of `msg` with the in-band `auth` field, as
/// heartbeat's serial medium sends it (no trailer, no trailing NUL, no compression).
///
/// Unlike [`encode_packet`] the `auth` field is added whatever `msgfmt` says, because
/// classic packets are authenticated by nothing else. [`decode_packet`] accepts the
/// result.
pub fn encode_classic_packet(msg: &Msg, opts: &PacketOptions) -> Result<Vec<u8>, WireError> {
    let enc = EncodeOptions {
        compression: opts.compression,
    };
    let mut m = msg.clone();
    let (idx, digest) = opts.keyring.try_sign(&classic::auth_input(&m)?)?;
    m.set_str(AUTH_FIELD, format!("{idx} {digest}"));
    classic::encode_with(&m, &enc)
}

/// Parses `"<idx> <digest>"` as heartbeat's `sscanf("%d %s")` would accept it, but
/// strictly (one space, no trailing text), so re-encoding reproduces it.
fn parse_auth(text: &[u8], offset: usize, what: &str) -> Result<(u32, String), PacketError> {
    let bad = || {
        PacketError::Malformed(WireError::BadValue {
            offset,
            field: what.to_string(),
            reason: format!(
                "expected \"<index> <digest>\", got {:?}",
                String::from_utf8_lossy(text)
            ),
        })
    };
    let s = std::str::from_utf8(text).map_err(|_| bad())?;
    let (idx, digest) = s.split_once(' ').ok_or_else(bad)?;
    if idx.is_empty()
        || idx.len() > 9
        || !idx.bytes().all(|b| b.is_ascii_digit())
        || digest.is_empty()
        || digest.bytes().any(|b| b.is_ascii_whitespace())
    {
        return Err(bad());
    }
    let idx = idx.parse::<u32>().map_err(|_| bad())?;
    Ok((idx, digest.to_string()))
}

fn slot_index(keyring: &Keyring, idx: u32) -> Result<u8, PacketError> {
    match u8::try_from(idx) {
        Ok(i) if keyring.slot(i).is_some() => Ok(i),
        _ => Err(PacketError::UnknownKeyIndex { index: idx }),
    }
}

/// Authenticates and decodes one received datagram.
///
/// `###\n` packets are checked against their trailer (heartbeat's rules, see
/// [`Keyring::verify`]; an in-band `auth` field is carried along but not checked, as in
/// 3.0.6); `>>>\n` packets against their in-band `auth` field. A `_compressed_payload`
/// message is then decompressed and the inner message (classic or netstring, checked
/// by the outer authentication only) is returned. Fields keep their received order and
/// bytes, so [`encode_packet`] with the sender's settings reproduces the datagram.
pub fn decode_packet(bytes: &[u8], keyring: &Keyring) -> Result<Msg, PacketError> {
    if bytes.len() > MAXMSG {
        return Err(PacketError::TooBig {
            what: "datagram",
            size: bytes.len(),
            max: MAXMSG,
        });
    }
    let msg = if bytes.starts_with(netstring::MSG_START) {
        let (msg, used) = netstring::decode_prefix(bytes)?;
        if used == bytes.len() {
            return Err(PacketError::MissingAuth("no trailer after %%%"));
        }
        let (range, end) = ns::peel(bytes, used, bytes.len())?;
        if end != bytes.len() {
            return Err(PacketError::Malformed(WireError::TrailingBytes {
                offset: end,
                count: bytes.len() - end,
            }));
        }
        let (idx, received) = parse_auth(&bytes[range.clone()], range.start, "auth trailer")?;
        let index = slot_index(keyring, idx)?;
        let expected = keyring
            .expected_trailer_digest(index, &bytes[..used])
            .ok_or(PacketError::UnknownKeyIndex {
                index: u32::from(keyring.active),
            })?;
        if expected != received {
            return Err(PacketError::BadAuth {
                index,
                received,
                expected,
            });
        }
        msg
    } else if bytes.starts_with(classic::MSG_START) {
        let msg = classic::decode(bytes)?;
        let auth = msg.get_bytes(AUTH_FIELD).ok_or(PacketError::MissingAuth(
            "classic packet without auth field",
        ))?;
        let (idx, received) = parse_auth(auth, 0, AUTH_FIELD)?;
        let index = slot_index(keyring, idx)?;
        let input = classic::auth_input(&msg)?;
        let expected = keyring
            .expected_inband_digest(index, &input)
            .ok_or(PacketError::UnknownKeyIndex { index: idx })?;
        if expected != received {
            return Err(PacketError::BadAuth {
                index,
                received,
                expected,
            });
        }
        msg
    } else {
        return Err(PacketError::Malformed(WireError::UnknownFormat {
            start: String::from_utf8_lossy(&bytes[..bytes.len().min(8)]).into_owned(),
        }));
    };
    match msg.get(COMPRESSED_PAYLOAD_FIELD) {
        Some(Value::Bin(payload)) => decompress_payload(&msg, payload),
        _ => Ok(msg),
    }
}

fn decompress_payload(outer: &Msg, payload: &[u8]) -> Result<Msg, PacketError> {
    let name = outer
        .get_bytes(COMPRESSION_ALGORITHM_FIELD)
        .ok_or_else(|| {
            PacketError::Decompression(WireError::UnknownCompression {
                name: String::new(),
            })
        })?;
    let alg = Compression::from_name(name).ok_or_else(|| {
        PacketError::Decompression(WireError::UnknownCompression {
            name: String::from_utf8_lossy(name).into_owned(),
        })
    })?;
    let raw = compress::decompress(alg, payload, MAX_UNCOMPRESSED).map_err(|e| match e {
        WireError::TooBig { what, size, max } => PacketError::TooBig { what, size, max },
        other => PacketError::Decompression(other),
    })?;
    crate::decode_any(&raw).map_err(PacketError::Decompression)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthKey, AuthMethod};

    fn sha1_ring() -> Keyring {
        Keyring::single(1, AuthKey::new(AuthMethod::Sha1, "s3cr3tkey"))
    }

    const UUID: [u8; 16] = [
        0xc6, 0xf6, 0x38, 0x3e, 0xec, 0x74, 0x4d, 0x5e, 0xaa, 0x65, 0xb7, 0x7b, 0xe2, 0xc8, 0x62,
        0x12,
    ];

    fn worked_example_msg() -> Msg {
        let mut m = Msg::with_type("status");
        m.add_str("st", "up")
            .add_str("dt", "2ee0")
            .add_str("protocol", "1")
            .add_str("src", "alpha")
            .add_bin("srcuuid", UUID)
            .add_str("seq", "2")
            .add_str("hg", "6b080148")
            .add_str("ts", "6b080147")
            .add_str("ld", "0.45 0.31 0.13 1/113 21268")
            .add_str("ttl", "3");
        m
    }

    fn worked_example_bytes() -> Vec<u8> {
        let mut b = b"###\n11:(0)t=status,8:(0)st=up,10:(0)dt=2ee0,13:(0)protocol=1,12:(0)src=alpha,27:(1)srcuuid=".to_vec();
        b.extend_from_slice(&UUID);
        b.extend_from_slice(b",8:(0)seq=2,14:(0)hg=6b080148,14:(0)ts=6b080147,32:(0)ld=0.45 0.31 0.13 1/113 21268,8:(0)ttl=3,50:(0)auth=1 be97eb438fa1c804853ac658835a818da0c0d0cc,%%%\n42:1 994bbc0963f6a5b9010e325bc0096d296c4fc6dc,");
        b
    }

    #[test]
    fn worked_example_section_2_10() {
        let bytes = worked_example_bytes();
        assert_eq!(bytes.len(), 306);
        let opts = PacketOptions::new(sha1_ring());
        assert_eq!(encode_packet(&worked_example_msg(), &opts).unwrap(), bytes);
        let decoded = decode_packet(&bytes, &sha1_ring()).unwrap();
        assert_eq!(
            decoded.get_str("auth"),
            Some("1 be97eb438fa1c804853ac658835a818da0c0d0cc")
        );
        assert_eq!(encode_packet(&decoded, &opts).unwrap(), bytes);
    }

    #[test]
    fn stale_auth_field_is_replaced_in_place() {
        // A received message re-sent (a retransmission, a relayed copy) still carries
        // its old `auth` field: the new one takes its place, as set_str would.
        let ring = sha1_ring();
        let opts = PacketOptions::new(ring.clone());
        let mut m = worked_example_msg();
        m.set_str("auth", "1 0000");
        m.add_str("after", "x");
        let mut expected_msg = m.clone();
        let (idx, digest) = ring.sign(&classic::auth_input(&m).unwrap());
        expected_msg.set_str("auth", format!("{idx} {digest}"));
        let mut expected = netstring::encode(&expected_msg).unwrap();
        let (idx, digest) = ring.sign(&expected);
        ns::put(&mut expected, format!("{idx} {digest}").as_bytes());
        let got = encode_packet(&m, &opts).unwrap();
        assert_eq!(got, expected);
        let back = decode_packet(&got, &ring).unwrap();
        let names: Vec<&str> = back.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(&names[names.len() - 2..], ["auth", "after"]);
        // Without an old one, the field is appended (the worked example's layout).
        assert_eq!(
            encode_packet(&worked_example_msg(), &opts).unwrap(),
            worked_example_bytes()
        );
    }

    #[test]
    fn tampering_is_detected() {
        let mut bytes = worked_example_bytes();
        let i = bytes.windows(5).position(|w| w == b"st=up").unwrap();
        bytes[i + 3] = b'U';
        match decode_packet(&bytes, &sha1_ring()) {
            Err(PacketError::BadAuth {
                index: 1,
                received,
                expected,
            }) => {
                assert_eq!(received, "994bbc0963f6a5b9010e325bc0096d296c4fc6dc");
                assert_ne!(expected, received);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_auth_message_does_not_reveal_the_expected_digest() {
        let mut bytes = worked_example_bytes();
        let i = bytes.windows(5).position(|w| w == b"st=up").unwrap();
        bytes[i + 3] = b'U';
        let err = decode_packet(&bytes, &sha1_ring()).unwrap_err();
        let PacketError::BadAuth { expected, .. } = &err else {
            panic!("{err:?}");
        };
        let text = err.to_string();
        assert!(!text.contains(expected.as_str()), "{text}");
        assert!(
            text.contains("994bbc0963f6a5b9010e325bc0096d296c4fc6dc"),
            "{text}"
        );
    }

    #[test]
    fn missing_and_unknown_keys() {
        let bytes = worked_example_bytes();
        let end = bytes.windows(4).position(|w| w == b"%%%\n").unwrap() + 4;
        assert!(matches!(
            decode_packet(&bytes[..end], &sha1_ring()),
            Err(PacketError::MissingAuth(_))
        ));
        let other = Keyring::single(2, AuthKey::new(AuthMethod::Md5, "s3cr3tkey"));
        assert!(matches!(
            decode_packet(&bytes, &other),
            Err(PacketError::UnknownKeyIndex { index: 1 })
        ));
        assert!(matches!(
            decode_packet(b"hello", &other),
            Err(PacketError::Malformed(WireError::UnknownFormat { .. }))
        ));
        let mut trailing = bytes.clone();
        trailing.push(b'x');
        assert!(matches!(
            decode_packet(&trailing, &sha1_ring()),
            Err(PacketError::Malformed(_))
        ));
    }

    #[test]
    fn netstring_mode_has_no_inband_auth() {
        let opts = PacketOptions {
            msgfmt: MsgFmt::Netstring,
            ..PacketOptions::new(sha1_ring())
        };
        let b = encode_packet(&worked_example_msg(), &opts).unwrap();
        assert!(!b.windows(7).any(|w| w == b"(0)auth"));
        assert_eq!(
            decode_packet(&b, &sha1_ring()).unwrap(),
            worked_example_msg()
        );
    }

    #[test]
    fn classic_datagram_uses_inband_auth() {
        let mut m = worked_example_msg();
        m.add_str("auth", "1 be97eb438fa1c804853ac658835a818da0c0d0cc");
        let b = classic::encode(&m).unwrap();
        assert_eq!(decode_packet(&b, &sha1_ring()).unwrap(), m);
        m.set_str("auth", "1 be97eb438fa1c804853ac658835a818da0c0d0cd");
        let b = classic::encode(&m).unwrap();
        assert!(matches!(
            decode_packet(&b, &sha1_ring()),
            Err(PacketError::BadAuth { .. })
        ));
        m.remove("auth");
        let b = classic::encode(&m).unwrap();
        assert!(matches!(
            decode_packet(&b, &sha1_ring()),
            Err(PacketError::MissingAuth(_))
        ));
    }

    #[test]
    fn classic_packet_for_serial_medium() {
        let opts = PacketOptions {
            msgfmt: MsgFmt::Netstring,
            ..PacketOptions::new(sha1_ring())
        };
        let b = encode_classic_packet(&worked_example_msg(), &opts).unwrap();
        assert!(b.starts_with(b">>>\nt=status\n"));
        assert!(b.ends_with(b"auth=1 be97eb438fa1c804853ac658835a818da0c0d0cc\n<<<\n"));
        let d = decode_packet(&b, &sha1_ring()).unwrap();
        assert_eq!(encode_classic_packet(&d, &opts).unwrap(), b);
    }

    #[test]
    fn traditional_compression_round_trip() {
        let mut m = Msg::with_type("testmsg");
        m.add_str("payload", "x".repeat(3000));
        for (fmt, alg) in [
            (MsgFmt::Classic, Compression::Zlib),
            (MsgFmt::Netstring, Compression::Bz2),
        ] {
            let opts = PacketOptions {
                msgfmt: fmt,
                compression: alg,
                traditional_compression: true,
                ..PacketOptions::new(sha1_ring())
            };
            let b = encode_packet(&m, &opts).unwrap();
            assert!(b.len() < 600, "{}", b.len());
            assert!(b.starts_with(b"###\n"));
            let d = decode_packet(&b, &sha1_ring()).unwrap();
            assert_eq!(d.get_str("payload").map(str::len), Some(3000));
            assert_eq!(d.contains("auth"), fmt == MsgFmt::Classic);
            // Below the threshold nothing is compressed.
            let small = encode_packet(&worked_example_msg(), &opts).unwrap();
            assert!(!small.windows(11).any(|w| w == b"_compressed"));
        }
    }

    #[test]
    fn oversized_datagrams_are_refused() {
        // Random-looking data does not compress below the UDP limit.
        let mut state = 0x1234_5678u32;
        let noise: Vec<u8> = (0..70_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 255 + 1) as u8
            })
            .collect();
        let mut m = Msg::with_type("big");
        m.add_bin("data", noise);
        let opts = PacketOptions {
            traditional_compression: true,
            ..PacketOptions::new(sha1_ring())
        };
        assert!(matches!(
            encode_packet(&m, &opts),
            Err(WireError::TooBig {
                max: MAX_UDP_PAYLOAD,
                ..
            })
        ));
        // Compressible data over the limit is shrunk and accepted.
        let mut m = Msg::with_type("big");
        m.add_str("data", "y".repeat(300_000));
        let b = encode_packet(&m, &PacketOptions::new(sha1_ring())).unwrap();
        assert!(b.len() < MAX_UDP_PAYLOAD);
        assert_eq!(
            decode_packet(&b, &sha1_ring())
                .unwrap()
                .get_str("data")
                .map(str::len),
            Some(300_000)
        );
    }

    #[test]
    fn bad_compressed_payloads() {
        let ring = sha1_ring();
        let sign = |m: &Msg| {
            let mut b = netstring::encode(m).unwrap();
            let (i, d) = ring.sign(&b);
            ns::put(&mut b, format!("{i} {d}").as_bytes());
            b
        };
        let mut m = Msg::new();
        m.add_bin(COMPRESSED_PAYLOAD_FIELD, b"garbage")
            .add_str(COMPRESSION_ALGORITHM_FIELD, "zlib");
        assert!(matches!(
            decode_packet(&sign(&m), &ring),
            Err(PacketError::Decompression(_))
        ));
        m.set_str(COMPRESSION_ALGORITHM_FIELD, "lz4");
        assert!(matches!(
            decode_packet(&sign(&m), &ring),
            Err(PacketError::Decompression(
                WireError::UnknownCompression { .. }
            ))
        ));
        let bomb =
            compress::compress(Compression::Zlib, &vec![b'a'; MAX_UNCOMPRESSED + 1]).unwrap();
        m.set_bin(COMPRESSED_PAYLOAD_FIELD, bomb)
            .set_str(COMPRESSION_ALGORITHM_FIELD, "zlib");
        assert!(matches!(
            decode_packet(&sign(&m), &ring),
            Err(PacketError::TooBig { .. })
        ));
    }
}
