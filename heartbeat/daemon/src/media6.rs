//! IPv6 media: `mcast6 <if> <group> <port> <hops> <loop>` and `ucast6 <if> <peer>`,
//! heartbeat 3.0.6's IPv6 plugins. Same packets as over IPv4; only the sockets differ.
//!
//! A link-local group or peer (`ff02::…`, `fe80::…`) is only meaningful with the
//! interface, so every destination carries the interface's scope id.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use anyhow::{anyhow, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

use crate::media::{OwnSenders, MAXMSG};

/// The kernel's index of `iface`.
pub fn iface_index(iface: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(iface).with_context(|| format!("no interface {iface}"))
}

/// A send socket on `iface`, bound now so its port is known (our own multicasts come
/// back with `loop 1`).
pub fn udp6_send_socket(iface: &str, own: &OwnSenders) -> Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot create UDP/IPv6 socket")?;
    s.set_only_v6(true).context("IPV6_V6ONLY")?;
    s.bind_device(Some(iface.as_bytes()))
        .with_context(|| format!("SO_BINDTODEVICE {iface}"))?;
    s.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)).into())
        .context("cannot bind UDP/IPv6 send socket")?;
    if let Some(port) = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
    {
        own.add_port(port);
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A receive socket for `addr`:`port` (the group for mcast6, `::` for ucast6) on
/// `iface`.
pub fn udp6_recv_socket(iface: &str, addr: Ipv6Addr, port: u16) -> Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
        .context("cannot create UDP/IPv6 socket")?;
    s.set_only_v6(true).context("IPV6_V6ONLY")?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind_device(Some(iface.as_bytes()))
        .with_context(|| format!("SO_BINDTODEVICE {iface}"))?;
    let _ = s.set_recv_buffer_size(MAXMSG * 2);
    let scope = if is_link_scoped(&addr) {
        iface_index(iface)?
    } else {
        0
    };
    s.bind(&SocketAddr::V6(SocketAddrV6::new(addr, port, 0, scope)).into())
        .with_context(|| format!("cannot bind UDP [{addr}]:{port}"))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Sets up `send` for the group: interface, hop limit, loopback.
pub fn mcast6_sender(send: &Socket, ifindex: u32, hops: u8, loopback: bool) -> Result<()> {
    send.set_multicast_if_v6(ifindex)
        .context("IPV6_MULTICAST_IF")?;
    send.set_multicast_hops_v6(u32::from(hops))
        .context("IPV6_MULTICAST_HOPS")?;
    send.set_multicast_loop_v6(loopback)
        .context("IPV6_MULTICAST_LOOP")?;
    Ok(())
}

/// Where to send: the address with the interface's scope when it needs one.
pub fn dest6(addr: Ipv6Addr, port: u16, ifindex: u32) -> SocketAddr {
    let scope = if is_link_scoped(&addr) { ifindex } else { 0 };
    SocketAddr::V6(SocketAddrV6::new(addr, port, 0, scope))
}

/// Link-local unicast (fe80::/10) or interface/link-local multicast (ff01::/16,
/// ff02::/16, any flags).
fn is_link_scoped(a: &Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] & 0xffc0) == 0xfe80 || (a.is_multicast() && matches!(s[0] & 0x000f, 1 | 2))
}

/// A ucast6 peer: an IPv6 literal or a name with an IPv6 address.
pub fn resolve_v6(host: &str) -> Result<Ipv6Addr> {
    match crate::media::resolve(host, true)? {
        IpAddr::V6(v6) => Ok(v6),
        IpAddr::V4(_) => Err(anyhow!("{host} has no IPv6 address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_scope_needs_the_interface() {
        assert!(is_link_scoped(&"fe80::1".parse().unwrap()));
        assert!(is_link_scoped(&"ff02::1:2".parse().unwrap()));
        assert!(is_link_scoped(&"ff12::694".parse().unwrap()));
        assert!(!is_link_scoped(&"ff15::694".parse().unwrap()));
        assert!(!is_link_scoped(&"fd42::1".parse().unwrap()));
        assert_eq!(
            dest6("fe80::1".parse().unwrap(), 694, 7),
            "[fe80::1%7]:694".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            dest6("fd42::1".parse().unwrap(), 694, 7),
            "[fd42::1]:694".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn peers_resolve_to_ipv6() {
        assert_eq!(
            resolve_v6("fd42::2").unwrap(),
            "fd42::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            resolve_v6("fe80::2%eth0").unwrap(),
            "fe80::2".parse::<Ipv6Addr>().unwrap()
        );
        assert!(resolve_v6("10.0.0.1").is_err());
    }
}
