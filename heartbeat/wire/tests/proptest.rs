//! Property tests: encode→decode round trips in both formats, and no panics on
//! arbitrary or mutated input.

use hb_wire::auth::{AuthKey, AuthMethod, Keyring};
use hb_wire::compress::{self, Compression};
use hb_wire::netstring::{EncodeOptions, COMPRESSION_ALGORITHM_FIELD};
use hb_wire::packet::{decode_packet, encode_packet, MsgFmt, PacketOptions};
use hb_wire::{classic, decode_any, netstring, Msg, Value};
use proptest::prelude::*;

/// Bytes that are safe in every classic position: no `\n` handling surprises inside
/// lists, no 0x13 (string newline symbol) and none of the struct newline symbols.
fn classic_safe_byte() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("classic symbol", |b| !matches!(b, b'\n' | 15..=31))
}

fn classic_string() -> impl Strategy<Value = Vec<u8>> {
    // Strings may hold newlines: classic text turns them into 0x13 and back.
    prop::collection::vec(
        prop_oneof![9 => classic_safe_byte(), 1 => Just(b'\n')],
        0..24,
    )
}

fn leaf(classic_only: bool) -> BoxedStrategy<Value> {
    let s = if classic_only {
        classic_string().boxed()
    } else {
        prop::collection::vec(any::<u8>(), 0..24).boxed()
    };
    let item = if classic_only {
        prop::collection::vec(classic_safe_byte(), 0..10).boxed()
    } else {
        prop::collection::vec(any::<u8>(), 0..10).boxed()
    };
    prop_oneof![
        4 => s.prop_map(Value::Str),
        2 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bin),
        1 => prop::collection::vec(item, 0..4).prop_map(Value::List),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::Compressed),
    ]
    .boxed()
}

fn name(classic_only: bool) -> BoxedStrategy<String> {
    if classic_only {
        "[a-zA-Z_][a-zA-Z0-9_ ,:.()-]{0,10}".boxed()
    } else {
        "[^=]{1,12}".boxed()
    }
}

fn fields(value: BoxedStrategy<Value>, classic_only: bool) -> BoxedStrategy<Msg> {
    prop::collection::vec((name(classic_only), value), 0..6)
        .prop_map(|fs| {
            let mut m = Msg::new();
            for (n, v) in fs {
                m.add(&n, v);
            }
            m
        })
        .boxed()
}

fn msg(classic_only: bool) -> BoxedStrategy<Msg> {
    let leaf_msg = fields(leaf(classic_only), classic_only);
    leaf_msg
        .prop_recursive(4, 48, 6, move |inner| {
            let v = prop_oneof![
                3 => leaf(classic_only),
                1 => inner.prop_map(Value::Struct),
            ]
            .boxed();
            fields(v, classic_only)
        })
        .boxed()
}

fn keyring() -> Keyring {
    let mut k = Keyring {
        active: 1,
        ..Keyring::default()
    };
    k.slots[1] = Some(AuthKey::new(AuthMethod::Sha1, "s3cr3tkey"));
    k.slots[2] = Some(AuthKey::new(AuthMethod::Md5, "s3cr3tkey"));
    k.slots[3] = Some(AuthKey::new(AuthMethod::Crc, ""));
    k
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutate(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if b.is_empty() {
            break;
        }
        match *m {
            Mutation::Flip(i, x) => {
                let i = i % b.len();
                b[i] ^= x.max(1);
            }
            Mutation::Insert(i, x) => {
                let i = i % (b.len() + 1);
                b.insert(i, x);
            }
            Mutation::Delete(i) => {
                let i = i % b.len();
                b.remove(i);
            }
            Mutation::Truncate(i) => b.truncate(i % b.len()),
        }
    }
    b
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b','),
                Just(b':'),
                Just(b'='),
                Just(b'\n'),
                Just(b'9'),
                any::<u8>()
            ]
        )
            .prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Regressions are kept as explicit unit tests rather than files in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn netstring_round_trip(m in msg(false)) {
        let b = netstring::encode(&m).unwrap();
        prop_assert_eq!(netstring::decode(&b).unwrap(), m.clone());
        prop_assert_eq!(decode_any(&b).unwrap(), m);
    }

    #[test]
    fn classic_round_trip(m in msg(true)) {
        let b = classic::encode(&m).unwrap();
        prop_assert_eq!(classic::decode(&b).unwrap(), m.clone());
        let mut with_nul = b;
        with_nul.push(0);
        prop_assert_eq!(decode_any(&with_nul).unwrap(), m);
    }

    #[test]
    fn packet_round_trip(m in msg(true), netstring_fmt in any::<bool>(), slot in 1u8..=3) {
        let mut ring = keyring();
        ring.active = slot;
        let opts = PacketOptions {
            msgfmt: if netstring_fmt { MsgFmt::Netstring } else { MsgFmt::Classic },
            ..PacketOptions::new(ring.clone())
        };
        let b = encode_packet(&m, &opts).unwrap();
        let d = decode_packet(&b, &ring).unwrap();
        // Classic mode appends `auth` to flat messages; otherwise fields are unchanged.
        let mut expected = m.clone();
        if !netstring_fmt && !m.has_nested() {
            expected.set_str("auth", d.get_bytes("auth").unwrap_or_default());
        }
        prop_assert_eq!(&d, &expected);
        prop_assert_eq!(encode_packet(&d, &opts).unwrap(), b);
    }

    #[test]
    fn uncompressed_fields_come_back_compressed(child in msg(false), bz2 in any::<bool>()) {
        let alg = if bz2 { Compression::Bz2 } else { Compression::Zlib };
        let mut m = Msg::with_type("cib");
        m.add("data", Value::Uncompressed(child.clone()));
        let b = netstring::encode_with(&m, &EncodeOptions { compression: alg }).unwrap();
        let d = netstring::decode(&b).unwrap();
        prop_assert_eq!(d.get_str(COMPRESSION_ALGORITHM_FIELD), Some(alg.name()));
        let Some(Value::Compressed(c)) = d.get("data") else {
            return Err(TestCaseError::fail("data is not compressed"));
        };
        let raw = compress::decompress(alg, c, compress::MAX_UNCOMPRESSED).unwrap();
        prop_assert_eq!(netstring::decode(&raw).unwrap(), child);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let ring = keyring();
        let _ = decode_any(&bytes);
        let _ = decode_packet(&bytes, &ring);
        for start in [&b"###\n"[..], b">>>\n"] {
            let mut b = start.to_vec();
            b.extend_from_slice(&bytes);
            let _ = netstring::decode(&b);
            let _ = classic::decode(&b);
            let _ = decode_packet(&b, &ring);
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        m in msg(true),
        muts in prop::collection::vec(mutation(), 1..4),
        compressed in any::<bool>(),
    ) {
        let ring = keyring();
        let opts = PacketOptions {
            traditional_compression: compressed,
            compression_threshold: 0,
            ..PacketOptions::new(ring.clone())
        };
        let b = encode_packet(&m, &opts).unwrap();
        let bad = mutate(b.clone(), &muts);
        let r = decode_packet(&bad, &ring);
        if bad == b {
            prop_assert!(r.is_ok());
        }
        let _ = decode_any(&bad);
        // The classic rendition, mutated, as it would arrive on a `>>>` datagram.
        if let Ok(c) = classic::encode(&m) {
            let _ = decode_packet(&mutate(c, &muts), &ring);
        }
    }
}
