//! Generating ha.cf and authkeys text for test nodes.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// A heartbeat communication medium (one or more ha.cf lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// `bcast <if> [<if> ...]`
    Bcast(Vec<String>),
    /// `mcast <if> <group> <port> <ttl> <loop>`
    Mcast {
        iface: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        loopback: bool,
    },
    /// One `ucast <if> <peer>` line per peer. Listing every node, including the local
    /// one, lets all nodes share one file: heartbeat ignores ucast to itself.
    Ucast { iface: String, peers: Vec<Ipv4Addr> },
    /// `mcast6 <if> <group> <port> <hops> <loop>`
    Mcast6 {
        iface: String,
        group: Ipv6Addr,
        port: u16,
        hops: u8,
        loopback: bool,
    },
    /// One `ucast6 <if> <peer>` line per peer (the local one included, as for ucast).
    Ucast6 { iface: String, peers: Vec<Ipv6Addr> },
    /// `serial <dev> [<dev> ...]` (set `baud` with [`HaCf::set`]).
    Serial(Vec<PathBuf>),
}

impl Medium {
    /// `bcast <iface>`.
    pub fn bcast(iface: &str) -> Medium {
        Medium::Bcast(vec![iface.to_owned()])
    }

    fn render(&self, out: &mut String) {
        match self {
            Medium::Bcast(ifaces) => {
                let _ = writeln!(out, "bcast {}", ifaces.join(" "));
            }
            Medium::Mcast {
                iface,
                group,
                port,
                ttl,
                loopback,
            } => {
                let _ = writeln!(
                    out,
                    "mcast {iface} {group} {port} {ttl} {}",
                    u8::from(*loopback)
                );
            }
            Medium::Ucast { iface, peers } => {
                for p in peers {
                    let _ = writeln!(out, "ucast {iface} {p}");
                }
            }
            Medium::Mcast6 {
                iface,
                group,
                port,
                hops,
                loopback,
            } => {
                let _ = writeln!(
                    out,
                    "mcast6 {iface} {group} {port} {hops} {}",
                    u8::from(*loopback)
                );
            }
            Medium::Ucast6 { iface, peers } => {
                for p in peers {
                    let _ = writeln!(out, "ucast6 {iface} {p}");
                }
            }
            Medium::Serial(ports) => {
                let ports: Vec<String> = ports.iter().map(|p| p.display().to_string()).collect();
                let _ = writeln!(out, "serial {}", ports.join(" "));
            }
        }
    }
}

/// Builder for ha.cf text. Defaults are fast test timings: keepalive 1, deadtime 5,
/// warntime 3, initdead 10, udpport 694, auto_failback on, realtime off, coredumps false,
/// use_logd no. `logfile`/`debugfile` are added by [`crate::Node::start`] when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaCf {
    /// Directives in output order; setting one again replaces it in place.
    directives: Vec<(String, String)>,
    media: Vec<Medium>,
    nodes: Vec<String>,
    tail: Vec<(String, String)>,
    raw: Vec<String>,
}

impl Default for HaCf {
    fn default() -> Self {
        HaCf::new()
    }
}

impl HaCf {
    /// The defaults described on the type.
    pub fn new() -> HaCf {
        let pairs = [
            ("use_logd", "no"),
            ("keepalive", "1"),
            ("deadtime", "5"),
            ("warntime", "3"),
            ("initdead", "10"),
            // Must precede the media lines: it is read when a medium is created.
            ("udpport", "694"),
        ];
        let tail = [
            ("auto_failback", "on"),
            ("realtime", "off"),
            ("coredumps", "false"),
        ];
        let own = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        HaCf {
            directives: own(&pairs),
            media: Vec::new(),
            nodes: Vec::new(),
            tail: own(&tail),
            raw: Vec::new(),
        }
    }

    /// Sets directive `key` to `value`, replacing an earlier value. New keys go before
    /// the media lines.
    pub fn set(mut self, key: &str, value: &str) -> HaCf {
        if let Some(slot) = self
            .directives
            .iter_mut()
            .chain(self.tail.iter_mut())
            .find(|(k, _)| k == key)
        {
            slot.1 = value.to_owned();
        } else {
            self.directives.push((key.to_owned(), value.to_owned()));
        }
        self
    }

    /// Removes directive `key` (so heartbeat's own default applies).
    pub fn unset(mut self, key: &str) -> HaCf {
        self.directives.retain(|(k, _)| k != key);
        self.tail.retain(|(k, _)| k != key);
        self
    }

    /// `keepalive`.
    pub fn keepalive(self, v: &str) -> HaCf {
        self.set("keepalive", v)
    }
    /// `deadtime`.
    pub fn deadtime(self, v: &str) -> HaCf {
        self.set("deadtime", v)
    }
    /// `warntime`.
    pub fn warntime(self, v: &str) -> HaCf {
        self.set("warntime", v)
    }
    /// `initdead`.
    pub fn initdead(self, v: &str) -> HaCf {
        self.set("initdead", v)
    }
    /// `udpport`.
    pub fn udpport(self, port: u16) -> HaCf {
        self.set("udpport", &port.to_string())
    }
    /// `auto_failback` (on, off, legacy).
    pub fn auto_failback(self, v: &str) -> HaCf {
        self.set("auto_failback", v)
    }

    /// Adds a medium.
    pub fn media(mut self, m: Medium) -> HaCf {
        self.media.push(m);
        self
    }

    /// Adds names to the `node` line.
    pub fn nodes<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> HaCf {
        self.nodes
            .extend(names.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Appends a verbatim line at the end (e.g. `ping 10.251.0.1`, `respawn ...`).
    pub fn line(mut self, text: &str) -> HaCf {
        self.raw.push(text.to_owned());
        self
    }

    /// The ha.cf text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.directives {
            let _ = writeln!(out, "{k} {v}");
        }
        for m in &self.media {
            m.render(&mut out);
        }
        if !self.nodes.is_empty() {
            let _ = writeln!(out, "node {}", self.nodes.join(" "));
        }
        for (k, v) in &self.tail {
            let _ = writeln!(out, "{k} {v}");
        }
        for l in &self.raw {
            let _ = writeln!(out, "{l}");
        }
        out
    }
}

/// authkeys text selecting key `index` with `method` (`sha1`, `md5`, `crc`) and `secret`
/// (ignored for crc).
pub fn authkeys(index: u8, method: &str, secret: &str) -> String {
    if method == "crc" {
        format!("auth {index}\n{index} crc\n")
    } else {
        format!("auth {index}\n{index} {method} {secret}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_media_after_udpport_and_nodes_line() {
        let text = HaCf::new()
            .deadtime("7")
            .udpport(695)
            .set("baud", "19200")
            .media(Medium::bcast("eth0"))
            .media(Medium::Ucast {
                iface: "eth0".into(),
                peers: vec![Ipv4Addr::new(10, 251, 0, 11), Ipv4Addr::new(10, 251, 0, 12)],
            })
            .media(Medium::Mcast {
                iface: "eth0".into(),
                group: Ipv4Addr::new(239, 192, 7, 7),
                port: 694,
                ttl: 1,
                loopback: false,
            })
            .nodes(["alpha", "bravo"])
            .auto_failback("off")
            .line("ping 10.251.0.1")
            .render();
        let lines: Vec<&str> = text.lines().collect();
        let pos = |l: &str| {
            lines
                .iter()
                .position(|x| *x == l)
                .unwrap_or_else(|| panic!("{l} missing in\n{text}"))
        };
        assert!(pos("udpport 695") < pos("bcast eth0"));
        assert!(pos("baud 19200") < pos("bcast eth0"));
        assert!(pos("ucast eth0 10.251.0.11") < pos("ucast eth0 10.251.0.12"));
        pos("mcast eth0 239.192.7.7 694 1 0");
        pos("deadtime 7");
        pos("node alpha bravo");
        pos("auto_failback off");
        assert_eq!(lines.last(), Some(&"ping 10.251.0.1"));
        assert_eq!(text.matches("deadtime").count(), 1);
        assert!(!HaCf::new().unset("realtime").render().contains("realtime"));
    }

    #[test]
    fn authkeys_text() {
        assert_eq!(authkeys(1, "sha1", "k"), "auth 1\n1 sha1 k\n");
        assert_eq!(authkeys(3, "crc", "ignored"), "auth 3\n3 crc\n");
    }
}
