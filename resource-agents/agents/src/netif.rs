//! IPv4 addresses on local interfaces, read with getifaddrs(3) so that
//! monitor needs no external binary and works as `nobody`.

use std::net::Ipv4Addr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

/// One IPv4 address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrEntry {
    /// The address label (`eth0`, or `eth0:vip` for a labelled alias).
    pub label: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub flags: InterfaceFlags,
}

impl AddrEntry {
    /// The device the address is on: the label up to the first ':'.
    pub fn device(&self) -> &str {
        base_device(&self.label)
    }

    /// The link is administratively up and has carrier (`IFF_RUNNING`
    /// follows the operational state, so a veth whose peer is down or a
    /// NIC without link is not running).
    pub fn link_up(&self) -> bool {
        self.flags.contains(InterfaceFlags::IFF_UP)
            && self.flags.contains(InterfaceFlags::IFF_RUNNING)
    }

    pub fn is_loopback(&self) -> bool {
        self.flags.contains(InterfaceFlags::IFF_LOOPBACK)
    }
}

/// `eth0:vip` → `eth0`.
pub fn base_device(label: &str) -> &str {
    label.split(':').next().unwrap_or(label)
}

/// Every IPv4 address on the host.
pub fn ipv4_addrs() -> std::io::Result<Vec<AddrEntry>> {
    let mut out = Vec::new();
    for ifa in getifaddrs().map_err(std::io::Error::from)? {
        let Some(addr) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) else {
            continue;
        };
        let prefix = ifa
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map(|m| u32::from(m.ip()).count_ones() as u8)
            .unwrap_or(32);
        let broadcast = ifa
            .broadcast
            .as_ref()
            .and_then(|b| b.as_sockaddr_in())
            .map(|b| b.ip());
        out.push(AddrEntry {
            label: ifa.interface_name.clone(),
            ip: addr.ip(),
            prefix,
            broadcast,
            flags: ifa.flags,
        });
    }
    Ok(out)
}

/// The netmask for a prefix length.
pub fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

/// Whether `ip` lies in `net/prefix`.
pub fn contains(net: Ipv4Addr, prefix: u8, ip: Ipv4Addr) -> bool {
    let m = mask(prefix);
    u32::from(net) & m == u32::from(ip) & m
}

/// The directed broadcast of `ip/prefix`; none for /31 and /32.
pub fn broadcast_of(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix < 31).then(|| Ipv4Addr::from(u32::from(ip) | !mask(prefix)))
}

/// Parses a netmask given as a prefix length (`24`) or dotted quad
/// (`255.255.255.0`, converted like IPaddr does).
pub fn parse_netmask(s: &str) -> Option<u8> {
    let s = s.trim();
    if let Ok(p) = s.parse::<u8>() {
        return (p <= 32).then_some(p);
    }
    let m: Ipv4Addr = s.parse().ok()?;
    let bits = u32::from(m);
    let prefix = bits.count_ones() as u8;
    // Only contiguous masks are meaningful.
    (mask(prefix) == bits).then_some(prefix)
}

/// The result of interface discovery (`findif`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub nic: String,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
}

/// Picks the interface whose configured subnet contains `ip`, preferring
/// the longest prefix (the address-based equivalent of findif's
/// `ip route list match <ip> scope link`). `nic` restricts the search;
/// `prefix` overrides the subnet's length. Addresses equal to `ip` itself
/// are skipped so a VIP that is already up does not match itself as a /32.
pub fn findif(
    addrs: &[AddrEntry],
    ip: Ipv4Addr,
    nic: Option<&str>,
    prefix: Option<u8>,
) -> Option<Found> {
    let best = addrs
        .iter()
        .filter(|a| a.ip != ip)
        .filter(|a| nic.map_or(true, |n| a.device() == n))
        .filter(|a| contains(a.ip, a.prefix, ip))
        .max_by_key(|a| a.prefix);
    match (best, nic, prefix) {
        (Some(a), _, _) => {
            let prefix = prefix.unwrap_or(a.prefix);
            // Computed rather than copied from the neighbour address: an
            // address added without "brd" reports its own address there
            // (reference 6.2, #656: empty or wrong broadcasts).
            Some(Found {
                nic: a.device().to_string(),
                prefix,
                broadcast: broadcast_of(ip, prefix),
            })
        }
        // Both given explicitly: trust the configuration, as findif does.
        (None, Some(n), Some(p)) => Some(Found {
            nic: n.to_string(),
            prefix: p,
            broadcast: broadcast_of(ip, p),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str, ip: &str, prefix: u8) -> AddrEntry {
        AddrEntry {
            label: label.into(),
            ip: ip.parse().expect("ip"),
            prefix,
            broadcast: None,
            flags: InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING,
        }
    }

    #[test]
    fn netmask_forms() {
        assert_eq!(parse_netmask("24"), Some(24));
        assert_eq!(parse_netmask("255.255.255.0"), Some(24));
        assert_eq!(parse_netmask("255.255.255.255"), Some(32));
        assert_eq!(parse_netmask("255.0.255.0"), None);
        assert_eq!(parse_netmask("33"), None);
        assert_eq!(parse_netmask("x"), None);
    }

    #[test]
    fn findif_prefers_longest_prefix_and_honours_nic() {
        let addrs = vec![
            entry("lo", "127.0.0.1", 8),
            entry("eth0", "10.0.0.5", 8),
            entry("eth1", "10.1.2.3", 24),
        ];
        let vip: Ipv4Addr = "10.1.2.99".parse().expect("ip");
        let f = findif(&addrs, vip, None, None).expect("found");
        assert_eq!((f.nic.as_str(), f.prefix), ("eth1", 24));
        assert_eq!(f.broadcast, Some("10.1.2.255".parse().expect("ip")));
        let f = findif(&addrs, vip, Some("eth0"), None).expect("found");
        assert_eq!((f.nic.as_str(), f.prefix), ("eth0", 8));
        assert!(findif(&addrs, "192.168.1.1".parse().expect("ip"), None, None).is_none());
        assert!(findif(
            &addrs,
            "192.168.1.1".parse().expect("ip"),
            Some("eth0"),
            None
        )
        .is_none());
        let f = findif(
            &addrs,
            "192.168.1.1".parse().expect("ip"),
            Some("eth0"),
            Some(32),
        )
        .expect("explicit");
        assert_eq!((f.nic.as_str(), f.prefix, f.broadcast), ("eth0", 32, None));
    }

    #[test]
    fn alias_labels_map_to_their_device() {
        assert_eq!(entry("eth0:vip", "1.2.3.4", 32).device(), "eth0");
        assert_eq!(base_device("lo"), "lo");
    }
}
