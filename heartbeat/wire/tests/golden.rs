//! Golden tests against real heartbeat 3.0.6 traffic in /work/shared/reference/captures.
//!
//! Every heartbeat datagram in the captures must authenticate, decode, and re-encode
//! to the identical bytes with the sender's settings (key slot from the trailer, msgfmt
//! inferred from the presence of the in-band `auth` field).

use std::collections::HashMap;
use std::path::PathBuf;

use hb_wire::auth::{AuthKey, AuthMethod, Keyring};
use hb_wire::compress::{self, Compression};
use hb_wire::packet::{
    decode_packet, encode_packet, MsgFmt, PacketError, PacketOptions, COMPRESSED_PAYLOAD_FIELD,
};
use hb_wire::{classic, netstring, Msg, Value};

fn captures() -> PathBuf {
    PathBuf::from("/work/shared/reference/captures")
}

/// The authkeys of cap1–cap3 (captures/README.md) with `auth <active>`.
fn cap_keyring(active: u8) -> Keyring {
    let mut k = Keyring {
        active,
        ..Keyring::default()
    };
    k.slots[1] = Some(AuthKey::new(AuthMethod::Sha1, "s3cr3tkey"));
    k.slots[2] = Some(AuthKey::new(AuthMethod::Md5, "s3cr3tkey"));
    k.slots[3] = Some(AuthKey::new(AuthMethod::Crc, ""));
    k
}

/// Where a heartbeat payload was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Udp,
    IcmpEcho,
}

// ---------------------------------------------------------------------------------
// A minimal classic-libpcap reader with IPv4 reassembly.
// ---------------------------------------------------------------------------------

const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_LINUX_SLL: u32 = 113;

fn u16be(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

/// Link-layer frames of a classic pcap file, with its link type.
fn pcap_frames(data: &[u8]) -> (u32, Vec<Vec<u8>>) {
    assert!(data.len() >= 24, "pcap too short");
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a classic pcap file (magic {m:#x})"),
    };
    let rd = |at: usize| {
        let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let linktype = rd(20);
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = rd(off + 8) as usize;
        let orig = rd(off + 12) as usize;
        assert_eq!(
            incl, orig,
            "truncated frame at offset {off}: snaplen too small"
        );
        off += 16;
        frames.push(data[off..off + incl].to_vec());
        off += incl;
    }
    assert_eq!(off, data.len(), "trailing bytes in pcap");
    (linktype, frames)
}

/// The IPv4 packet in a frame, if it carries one.
fn ipv4_of(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    let (ethertype_at, payload_at) = match linktype {
        LINKTYPE_ETHERNET => (12, 14),
        LINKTYPE_LINUX_SLL => (14, 16),
        other => panic!("unsupported link type {other}"),
    };
    (u16be(frame, ethertype_at) == 0x0800).then(|| &frame[payload_at..])
}

/// IPv4 fragments of one datagram are keyed by (src+dst addresses, id, protocol).
type FragKey = (Vec<u8>, u16, u8);
/// A fragment: byte offset, data, more-fragments flag.
type Fragment = (usize, Vec<u8>, bool);

#[derive(Default)]
struct Reassembler {
    partial: HashMap<FragKey, Vec<Fragment>>,
}

impl Reassembler {
    /// Feeds one IPv4 packet; returns `(protocol, transport payload)` once complete.
    fn push(&mut self, ip: &[u8]) -> Option<(u8, Vec<u8>)> {
        assert_eq!(ip[0] >> 4, 4);
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = u16be(ip, 2);
        let id = u16::from_be_bytes([ip[4], ip[5]]);
        let frag = u16be(ip, 6);
        let more = frag & 0x2000 != 0;
        let offset = (frag & 0x1fff) * 8;
        let proto = ip[9];
        let body = ip[ihl..total].to_vec();
        if !more && offset == 0 {
            return Some((proto, body));
        }
        let key = (ip[12..20].to_vec(), id, proto);
        let parts = self.partial.entry(key.clone()).or_default();
        parts.push((offset, body, more));
        parts.sort_by_key(|p| p.0);
        let mut next = 0;
        for (off, data, _) in parts.iter() {
            if *off != next {
                return None;
            }
            next += data.len();
        }
        if !matches!(parts.last(), Some((_, _, false))) {
            return None;
        }
        let parts = self.partial.remove(&key)?;
        Some((proto, parts.into_iter().flat_map(|p| p.1).collect()))
    }
}

/// Every heartbeat payload in a pcap: UDP datagrams (reassembled) and the heartbeat
/// packets carried in ICMP echo request/reply payloads by the `ping` medium.
fn heartbeat_payloads(path: &str) -> Vec<(Carrier, Vec<u8>)> {
    let data = std::fs::read(captures().join(path)).unwrap();
    let (linktype, frames) = pcap_frames(&data);
    let mut re = Reassembler::default();
    let mut out = Vec::new();
    for frame in frames {
        let Some(ip) = ipv4_of(linktype, &frame) else {
            continue;
        };
        let Some((proto, body)) = re.push(ip) else {
            continue;
        };
        match proto {
            17 => {
                assert_eq!(u16be(&body, 2), 694, "UDP to a port other than 694");
                assert_eq!(u16be(&body, 4), body.len(), "UDP length");
                out.push((Carrier::Udp, body[8..].to_vec()));
            }
            1 if body[0] == 8 || body[0] == 0 => out.push((Carrier::IcmpEcho, body[8..].to_vec())),
            _ => {}
        }
    }
    assert!(re.partial.is_empty(), "incomplete IP fragments left over");
    out
}

// ---------------------------------------------------------------------------------
// The round-trip check.
// ---------------------------------------------------------------------------------

/// Key slot named by the trailer `len:K digest,` after the message.
fn trailer_index(bytes: &[u8]) -> u8 {
    let (_, used) = netstring::decode_prefix(bytes).unwrap();
    let trailer = std::str::from_utf8(&bytes[used..]).unwrap();
    let (_, rest) = trailer.split_once(':').unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[derive(Default, Debug)]
struct Stats {
    packets: usize,
    classic: usize,
    netstring: usize,
    compressed: usize,
    icmp: usize,
    by_slot: [usize; 4],
    rejected: Vec<(PacketError, Vec<u8>)>,
}

fn check_packet(bytes: &[u8], keyring: Keyring, stats: &mut Stats) -> Msg {
    let index = keyring.active;
    stats.packets += 1;
    stats.by_slot[usize::from(index)] += 1;
    let msg = match decode_packet(bytes, &keyring) {
        Ok(m) => m,
        Err(e) => {
            // Rejected packets (a forged peer in cap2) must still be well-formed
            // messages whose netstring form round-trips; only authentication fails.
            let (m, used) = netstring::decode_prefix(bytes).unwrap();
            assert_eq!(netstring::encode(&m).unwrap(), bytes[..used]);
            stats.rejected.push((e, bytes.to_vec()));
            return m;
        }
    };
    let (outer, _) = netstring::decode_prefix(bytes).unwrap();
    let compressed = outer.get(COMPRESSED_PAYLOAD_FIELD).is_some();
    // A classic-mode sender adds `auth` to every message without nested fields;
    // netstring-mode senders never do.
    let msgfmt = if msg.contains("auth") && !msg.has_nested() {
        stats.classic += 1;
        MsgFmt::Classic
    } else {
        stats.netstring += 1;
        MsgFmt::Netstring
    };
    let alg = outer
        .get_str("_compression_algorithm")
        .map(|a| a.parse::<Compression>().unwrap())
        .unwrap_or_default();
    let opts = PacketOptions {
        keyring,
        msgfmt,
        compression: alg,
        compression_threshold: 2048,
        traditional_compression: compressed,
    };
    if compressed {
        stats.compressed += 1;
        let Some(Value::Bin(payload)) = outer.get(COMPRESSED_PAYLOAD_FIELD) else {
            panic!("payload is not binary")
        };
        let raw = compress::decompress(alg, payload, compress::MAX_UNCOMPRESSED).unwrap();
        // The inner form is the sender's msgfmt: classic text with its NUL here.
        if msgfmt == MsgFmt::Classic {
            assert_eq!(raw.last(), Some(&0));
            assert_eq!(classic::encode(&msg).unwrap(), raw[..raw.len() - 1]);
        } else {
            assert_eq!(netstring::encode(&msg).unwrap(), raw);
        }
        if alg == Compression::Bz2 {
            // bz2 output need not be identical across library builds; the inner
            // message round trip above is what must hold.
            return msg;
        }
    }
    let again = encode_packet(&msg, &opts).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(bytes),
        "re-encoding differs"
    );
    assert_eq!(again, bytes);
    msg
}

fn check_pcap(path: &str) -> (Stats, Vec<Msg>) {
    let mut stats = Stats::default();
    let mut msgs = Vec::new();
    for (carrier, bytes) in heartbeat_payloads(path) {
        if carrier == Carrier::IcmpEcho {
            stats.icmp += 1;
        }
        let index = trailer_index(&bytes);
        msgs.push(check_packet(&bytes, cap_keyring(index), &mut stats));
    }
    (stats, msgs)
}

#[test]
fn cap1_every_packet_round_trips() {
    let (s, msgs) = check_pcap("cap1.pcap");
    assert_eq!(s.packets, 552, "{s:?}");
    assert!(s.rejected.is_empty(), "{s:?}");
    assert_eq!(s.by_slot[1], 552, "cap1 is sha1 only: {s:?}");
    assert!(s.classic > 0, "{s:?}");
    let types: Vec<_> = msgs.iter().filter_map(|m| m.msg_type()).collect();
    for t in [
        "status",
        "NS_rexmit",
        "NS_ackmsg",
        "reqnodes",
        "repnodes",
        "shutdone",
    ] {
        assert!(types.contains(&t), "no {t} in cap1");
    }
}

#[test]
fn cap2_every_packet_round_trips() {
    let (s, msgs) = check_pcap("cap2.pcap");
    // 4520 unfragmented datagrams + one 3 KB datagram in three IP fragments, plus the
    // ping medium's packets in 1059 echo requests and 1059 replies.
    assert_eq!(s.packets, 4521 + 2118, "{s:?}");
    // Exactly one packet is forged: a hand-made "bravo" with a new uuid and a wrong
    // crc trailer. The real daemons logged it as
    // `authtoken does not match, authtoken=f2876300, authstr=f2876323` (§2.5), and we
    // reject it with the same two digests.
    assert_eq!(s.rejected.len(), 1, "{s:?}");
    let (err, forged) = &s.rejected[0];
    assert_eq!(
        *err,
        PacketError::BadAuth {
            index: 3,
            received: "f2876300".into(),
            expected: "f2876323".into()
        }
    );
    // Signing its message ourselves yields the trailer heartbeat expected.
    let (m, used) = netstring::decode_prefix(forged).unwrap();
    let opts = PacketOptions {
        msgfmt: MsgFmt::Netstring,
        ..PacketOptions::new(cap_keyring(3))
    };
    let resigned = encode_packet(&m, &opts).unwrap();
    assert_eq!(resigned[..used], forged[..used]);
    assert_eq!(&resigned[used..], b"10:3 f2876323,");
    assert_eq!(s.icmp, 2118, "{s:?}");
    assert_eq!(s.compressed, 1, "{s:?}");
    assert!(
        s.by_slot[2] > 0 && s.by_slot[3] > 0,
        "md5 and crc runs: {s:?}"
    );
    assert!(s.classic > 0 && s.netstring > 0, "{s:?}");
    // CCM membership messages repeat `ccmmajor` and carry a string list.
    let ccm = msgs
        .iter()
        .find(|m| m.msg_type() == Some("CCM_TYPE_MEM_LIST"))
        .expect("CCM traffic");
    assert_eq!(
        ccm.fields().iter().filter(|f| f.name == "ccmmajor").count(),
        2
    );
    assert!(ccm.get_list("ccmuptimelist").is_some_and(|l| !l.is_empty()));
    // The compressed 3000-byte client message.
    let big = msgs
        .iter()
        .filter(|m| m.msg_type() == Some("testmsg"))
        .map(|m| m.get_bytes("payload").map_or(0, <[u8]>::len))
        .collect::<Vec<_>>();
    assert!(big.len() >= 2 && big.iter().all(|&n| n >= 3000), "{big:?}");
    // The hand-made peer.
    assert!(msgs.iter().any(|m| m.get_str("src") == Some("charlie")));
}

#[test]
fn cap3_every_packet_round_trips() {
    let (s, _) = check_pcap("cap3.pcap");
    assert_eq!(s.packets, 27, "{s:?}");
    assert!(s.rejected.is_empty(), "{s:?}");
    // captures/README.md lists `auth 1` for cap3, but every trailer names crc slot 3.
    assert_eq!(s.by_slot[3], 27, "{s:?}");
}

#[test]
fn trailer_of_other_slot_fails_without_shared_key() {
    // heartbeat verifies a trailer with the *active* slot's key: a packet signed
    // with md5 slot 2 no longer verifies once the active slot's key differs.
    let (_, bytes) = heartbeat_payloads("cap2.pcap")
        .into_iter()
        .find(|(_, b)| trailer_index(b) == 2)
        .unwrap();
    let mut k = cap_keyring(1);
    k.slots[1] = Some(AuthKey::new(AuthMethod::Sha1, "different"));
    assert!(matches!(
        decode_packet(&bytes, &k),
        Err(PacketError::BadAuth { index: 2, .. })
    ));
}

// ---------------------------------------------------------------------------------
// heartbeat-mcast-idle.txt: tcpdump -XX hex dumps.
// ---------------------------------------------------------------------------------

/// Frames from `tcpdump -XX` output: each `\t0x0000:` run of hex lines is one frame.
fn tcpdump_hex_frames(text: &str) -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("0x") else {
            continue;
        };
        let Some((addr, hex)) = rest.split_once(":  ") else {
            continue;
        };
        if addr == "0000" {
            frames.push(Vec::new());
        }
        // Hex groups end where the two-space gap before the ASCII column starts.
        let hex = hex.split("  ").next().unwrap();
        let frame = frames.last_mut().unwrap();
        for group in hex.split(' ') {
            for i in (0..group.len()).step_by(2) {
                frame.push(u8::from_str_radix(&group[i..i + 2], 16).unwrap());
            }
        }
    }
    frames
}

#[test]
fn mcast_idle_hex_dumps_round_trip() {
    let text = std::fs::read_to_string(captures().join("heartbeat-mcast-idle.txt")).unwrap();
    let key_line = text
        .lines()
        .find_map(|l| l.strip_prefix("#   authkeys: 1 sha1 "))
        .expect("key in header");
    let keyring = Keyring::single(1, AuthKey::new(AuthMethod::Sha1, key_line.trim()));
    let frames = tcpdump_hex_frames(&text);
    assert_eq!(frames.len(), 4);
    let mut stats = Stats::default();
    let mut re = Reassembler::default();
    for frame in &frames {
        let ip = ipv4_of(LINKTYPE_ETHERNET, frame).unwrap();
        let (proto, udp) = re.push(ip).unwrap();
        assert_eq!(proto, 17);
        let payload = &udp[8..];
        assert_eq!(payload.len(), 310);
        let msg = check_packet(payload, keyring.clone(), &mut stats);
        assert_eq!(msg.get_str("st"), Some("active"));
        assert_eq!(msg.get_hex("dt"), Some(3000));
    }
    assert_eq!(stats.classic, 4);
    assert!(stats.rejected.is_empty());
}
