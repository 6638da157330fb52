//! `ping`, `ping_group` and `ping6` media: ICMP (ICMPv6 for ping6) echo to routers or
//! other hosts that are not cluster members, so the cluster knows which node can still
//! reach the outside.
//!
//! As in heartbeat, each echo request carries a signed `NS_st` packet written as if
//! the ping target had sent it; the reply brings it back and it is fed to the core as
//! a message from that ping node. A forged reply therefore fails authentication.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};

use anyhow::{Context, Result};
use hb_wire::packet::PacketOptions;
use hb_wire::Msg;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use crate::media::Inbound;

/// One ping node: a name (the address, or the ping_group name) and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingTarget {
    pub node: String,
    /// Port 0; an IPv6 link-local address carries its interface as scope id.
    pub addrs: Vec<SocketAddr>,
    /// Index of this target's link in the link table.
    pub link: usize,
}

/// A `ping6` address: an IPv6 literal, `fe80::1%eth0` for a link-local one, or a
/// name with an IPv6 address.
pub fn ping6_target(addr: &str) -> Result<SocketAddr> {
    let ip = crate::media6::resolve_v6(addr)?;
    let scope = match addr.split_once('%') {
        Some((_, iface)) => crate::media6::iface_index(iface)?,
        None => 0,
    };
    Ok(SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, scope)))
}

pub struct Pinger {
    /// Raw ICMP socket, when a target has an IPv4 address.
    sock4: Option<Socket>,
    /// Raw ICMPv6 socket, when a target has an IPv6 address.
    sock6: Option<Socket>,
    targets: Vec<PingTarget>,
    ident: u16,
    seq: u16,
}

impl Pinger {
    /// Opens the raw ICMP/ICMPv6 sockets the targets need (root only) and starts
    /// their reply readers.
    pub fn open(targets: Vec<PingTarget>, tx: mpsc::Sender<Inbound>) -> Result<Pinger> {
        let ident = (std::process::id() & 0xffff) as u16;
        let wants = |v6: bool| {
            targets
                .iter()
                .flat_map(|t| &t.addrs)
                .any(|a| a.is_ipv6() == v6)
        };
        let open = |v6: bool| -> Result<Option<Socket>> {
            if !wants(v6) {
                return Ok(None);
            }
            let sock = if v6 {
                Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
                    .context("cannot open raw ICMPv6 socket for ping6 nodes (needs root)")?
            } else {
                Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
                    .context("cannot open raw ICMP socket for ping nodes (needs root)")?
            };
            sock.set_nonblocking(true)?;
            spawn_reader(sock.try_clone()?, v6, ident, targets.clone(), tx.clone())?;
            Ok(Some(sock))
        };
        let sock4 = open(false)?;
        let sock6 = open(true)?;
        Ok(Pinger {
            sock4,
            sock6,
            targets,
            ident,
            seq: 0,
        })
    }

    /// Sends one echo request per target address; called whenever a status goes out.
    pub fn ping_all(&mut self, opts: &PacketOptions, unix_secs: u64) {
        for t in &self.targets {
            let mut m = Msg::with_type("NS_st");
            m.add_str("st", "ping")
                .add_str("info", "ping")
                .add_str("src", &t.node)
                .add_str("ts", format!("{unix_secs:x}"));
            let payload = match hb_wire::packet::encode_packet(&m, opts) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("cannot build ping packet for {}: {}", t.node, e);
                    continue;
                }
            };
            for a in &t.addrs {
                self.seq = self.seq.wrapping_add(1);
                let (pkt, sock) = if a.is_ipv6() {
                    (echo_request6(self.ident, self.seq, &payload), &self.sock6)
                } else {
                    (echo_request(self.ident, self.seq, &payload), &self.sock4)
                };
                let Some(sock) = sock else { continue };
                if let Err(e) = sock.send_to(&pkt, &(*a).into()) {
                    tracing::debug!("ping {} failed: {}", a, e);
                }
            }
        }
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += word as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn echo_request(ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[8, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An ICMPv6 echo request (type 128). The kernel fills in the checksum of raw ICMPv6
/// sockets: it covers a pseudo-header with addresses only the kernel knows.
pub fn echo_request6(ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[128, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The payload of an ICMPv6 echo reply (type 129) with our identifier; raw ICMPv6
/// sockets deliver the ICMPv6 message alone.
pub fn parse_echo_reply6(icmp: &[u8], ident: u16) -> Option<&[u8]> {
    if icmp.len() < 8 || icmp[0] != 129 || icmp[1] != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != ident {
        return None;
    }
    Some(&icmp[8..])
}

/// Extracts the payload of an ICMP echo reply with our identifier from a raw IPv4
/// datagram (raw sockets deliver the IP header too).
pub fn parse_echo_reply(datagram: &[u8], ident: u16) -> Option<(Ipv4Addr, &[u8])> {
    let first = *datagram.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = ((first & 0x0f) as usize) * 4;
    if datagram.len() < ihl + 8 || ihl < 20 {
        return None;
    }
    let src = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
    let icmp = &datagram[ihl..];
    if icmp[0] != 0 || icmp[1] != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != ident {
        return None;
    }
    Some((src, &icmp[8..]))
}

fn spawn_reader(
    sock: Socket,
    v6: bool,
    ident: u16,
    targets: Vec<PingTarget>,
    tx: mpsc::Sender<Inbound>,
) -> Result<()> {
    // SAFETY: the socket is moved into the AsyncFd and stays open as long as it lives.
    let fd = unsafe { AsyncFd::register(sock) }
        .map_err(|e| anyhow::anyhow!("cannot poll ICMP socket: {:?}", e))?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let mut guard = match fd.readable().await {
                Ok(g) => g,
                Err(_) => return,
            };
            let n = match guard.try_io(|s| {
                // SAFETY of the cast: MaybeUninit<u8> has u8's layout; recv only writes.
                let uninit = unsafe {
                    std::slice::from_raw_parts_mut(
                        buf.as_mut_ptr() as *mut std::mem::MaybeUninit<u8>,
                        buf.len(),
                    )
                };
                s.get_ref().recv_from(uninit)
            }) {
                Ok(Ok(got)) => got,
                Ok(Err(_)) => continue,
                Err(_would_block) => continue,
            };
            let (n, from) = n;
            let reply = if v6 {
                let Some(IpAddr::V6(src)) = from.as_socket().map(|a| a.ip()) else {
                    continue;
                };
                parse_echo_reply6(&buf[..n], ident).map(|p| (IpAddr::V6(src), p))
            } else {
                parse_echo_reply(&buf[..n], ident).map(|(src, p)| (IpAddr::V4(src), p))
            };
            let Some((src, payload)) = reply else {
                continue;
            };
            let Some(target) = targets
                .iter()
                .find(|t| t.addrs.iter().any(|a| a.ip() == src))
            else {
                continue;
            };
            // Authentication and the `info=ping` check happen on the normal packet path.
            let inbound = Inbound {
                link: target.link,
                bytes: payload.to_vec(),
                from: src.to_string(),
            };
            if tx.send(inbound).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies() {
        let p = echo_request(0x1234, 7, b"###\nhello%%%\n");
        assert_eq!(p[0], 8);
        assert_eq!(checksum(&p), 0, "a correct ICMP checksum sums to zero");
    }

    #[test]
    fn icmpv6_echo_round_trip() {
        let req = echo_request6(0xbeef, 3, b"payload");
        assert_eq!(&req[..2], &[128, 0]);
        let mut reply = req.clone();
        reply[0] = 129;
        assert_eq!(parse_echo_reply6(&reply, 0xbeef), Some(&b"payload"[..]));
        assert_eq!(parse_echo_reply6(&reply, 0xbeee), None);
        assert_eq!(
            parse_echo_reply6(&req, 0xbeef),
            None,
            "a request is no reply"
        );
        assert_eq!(parse_echo_reply6(&reply[..7], 0xbeef), None);
    }

    #[test]
    fn ping6_addresses() {
        assert_eq!(
            ping6_target("fd42::1").unwrap(),
            "[fd42::1]:0".parse::<SocketAddr>().unwrap()
        );
        let lo = crate::media6::iface_index("lo").unwrap();
        assert_eq!(
            ping6_target("fe80::1%lo").unwrap(),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 0, 0, lo))
        );
        assert!(ping6_target("10.1.1.1").is_err());
        assert!(ping6_target("fe80::1%nosuchif0").is_err());
    }

    #[test]
    fn echo_reply_is_matched_by_identifier() {
        let mut reply = echo_request(0xbeef, 1, b"payload");
        reply[0] = 0;
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 9, 10, 0, 0, 1,
        ];
        ip.extend_from_slice(&reply);
        let (src, payload) = parse_echo_reply(&ip, 0xbeef).unwrap();
        assert_eq!(src, Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(payload, b"payload");
        assert!(parse_echo_reply(&ip, 0xbeee).is_none());
        assert!(parse_echo_reply(&ip[..10], 0xbeef).is_none());
    }
}
