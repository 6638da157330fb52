//! Typed values of ha.cf directives.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// One communication medium (one heartbeat "link" or one ping node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// `bcast <if>`: UDP broadcast on the interface to `udpport`.
    Bcast {
        /// Interface name (the local link name).
        iface: String,
        /// `udpport` in force when the line was read.
        udpport: u16,
    },
    /// `mcast <if> <group> <port> <ttl> <loop>`; uses its own port, not `udpport`.
    Mcast {
        /// Interface name.
        iface: String,
        /// Multicast group (224.0.0.0/4).
        group: Ipv4Addr,
        /// UDP port.
        port: u16,
        /// IP multicast TTL, 0..=4.
        ttl: u8,
        /// Loop outgoing packets back to local sockets.
        loop_: bool,
    },
    /// `ucast <if> <peer>`: UDP unicast to peer:`udpport`.
    Ucast {
        /// Interface name.
        iface: String,
        /// Peer address or host name, as written.
        peer: String,
        /// `udpport` in force when the line was read.
        udpport: u16,
    },
    /// `mcast6 <if> <group> <port> <hops> <loop>`.
    Mcast6 {
        /// Interface name.
        iface: String,
        /// IPv6 multicast group.
        group: Ipv6Addr,
        /// UDP port.
        port: u16,
        /// Multicast hop limit, 0..=4.
        hops: u8,
        /// Loop outgoing packets back to local sockets.
        loop_: bool,
    },
    /// `ucast6 <if> <peer>`.
    Ucast6 {
        /// Interface name.
        iface: String,
        /// Peer IPv6 address or host name, as written.
        peer: String,
        /// `udpport` in force when the line was read.
        udpport: u16,
    },
    /// `serial <device>` (speed from `baud`).
    Serial {
        /// Absolute device path.
        device: PathBuf,
    },
    /// `ping <addr>`: a ping node named after the address.
    Ping {
        /// Address or host name, as written.
        addr: String,
    },
    /// `ping6 <addr>`.
    Ping6 {
        /// Address or host name, as written.
        addr: String,
    },
    /// `ping_group <name> <addr>...`: one ping node, up if any address answers.
    PingGroup {
        /// Node name of the group.
        name: String,
        /// Member addresses, as written.
        addrs: Vec<String>,
    },
}

impl Medium {
    /// The ha.cf directive that declares this medium.
    pub fn directive(&self) -> &'static str {
        match self {
            Self::Bcast { .. } => "bcast",
            Self::Mcast { .. } => "mcast",
            Self::Ucast { .. } => "ucast",
            Self::Mcast6 { .. } => "mcast6",
            Self::Ucast6 { .. } => "ucast6",
            Self::Serial { .. } => "serial",
            Self::Ping { .. } => "ping",
            Self::Ping6 { .. } => "ping6",
            Self::PingGroup { .. } => "ping_group",
        }
    }

    /// The medium's name as heartbeat reports it (link name for `iflist`,
    /// node name for ping media).
    pub fn name(&self) -> String {
        match self {
            Self::Bcast { iface, .. }
            | Self::Mcast { iface, .. }
            | Self::Ucast { iface, .. }
            | Self::Mcast6 { iface, .. }
            | Self::Ucast6 { iface, .. } => iface.clone(),
            Self::Serial { device } => device.display().to_string(),
            Self::Ping { addr } | Self::Ping6 { addr } => addr.clone(),
            Self::PingGroup { name, .. } => name.clone(),
        }
    }

    /// Ping media declare ping nodes instead of carrying heartbeats.
    pub fn is_ping(&self) -> bool {
        matches!(
            self,
            Self::Ping { .. } | Self::Ping6 { .. } | Self::PingGroup { .. }
        )
    }
}

/// `auto_failback` (see reference §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    /// Resources go back to their preferred node (nice_failback protocol).
    On,
    /// Resources stay where they are (nice_failback protocol).
    Off,
    /// The old ip-request protocol (default).
    Legacy,
}

impl AutoFailback {
    /// Whether the nice_failback protocol (starting/resource) is used.
    pub fn nice_failback(self) -> bool {
        !matches!(self, Self::Legacy)
    }
}

/// `msgfmt`: format of local IPC messages and the extra in-band `auth` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgFmt {
    /// `classic` (default).
    Classic,
    /// `netstring`.
    Netstring,
}

/// `compression`: the compression plugin name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `zlib` (default).
    Zlib,
    /// `bz2`.
    Bz2,
}

impl Compression {
    /// Name as used in ha.cf and in `_compression_algorithm` fields.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zlib => "zlib",
            Self::Bz2 => "bz2",
        }
    }
}

/// `hbgenmethod`: how the generation number is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenMethod {
    /// Persisted counter in `/var/lib/heartbeat/hb_generation` (default).
    File,
    /// Derived from the time.
    Time,
}

/// `uuidfrom`: where the node UUID comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidFrom {
    /// `/var/lib/heartbeat/hb_uuid` (default).
    File,
    /// Derived from the node name ([`crate::uuid::from_nodename`]).
    Nodename,
}

/// `autojoin`: which unknown senders may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoJoin {
    /// Only nodes listed in ha.cf (default).
    None,
    /// Other nodes may join; the local node must be listed.
    Other,
    /// Any node, including the local one.
    Any,
}

/// `pacemaker` / `crm` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacemakerMode {
    /// Off (default): R1 haresources management.
    Off,
    /// `on`/`yes`/`true`/...: respawn the Pacemaker daemons.
    On,
    /// `respawn`.
    Respawn,
    /// `minimal` or `manual`.
    Minimal,
    /// `ccm-only`.
    CcmOnly,
    /// `valgrind`.
    Valgrind,
}

/// Who manages resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceManager {
    /// R1: `/etc/ha.d/haresources` and the ResourceManager script.
    Haresources,
    /// A CRM (Pacemaker for the heartbeat stack) started by heartbeat.
    Pacemaker(PacemakerMode),
}

/// A syslog facility for `logfacility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyslogFacility {
    /// Name as written (`daemon`, `local0`, `none`, ...).
    pub name: &'static str,
    /// The `LOG_*` facility code (already shifted, as in `<syslog.h>`);
    /// `none` is 0 like in cluster-glue.
    pub code: i32,
}

/// glibc's `facilitynames` plus cluster-glue's `none`.
const FACILITIES: &[(&str, i32)] = &[
    ("none", 0),
    ("auth", 4 << 3),
    ("authpriv", 10 << 3),
    ("cron", 9 << 3),
    ("daemon", 3 << 3),
    ("ftp", 11 << 3),
    ("kern", 0),
    ("lpr", 6 << 3),
    ("mail", 2 << 3),
    ("mark", 24 << 3),
    ("news", 7 << 3),
    ("security", 4 << 3),
    ("syslog", 5 << 3),
    ("user", 1 << 3),
    ("uucp", 8 << 3),
    ("local0", 16 << 3),
    ("local1", 17 << 3),
    ("local2", 18 << 3),
    ("local3", 19 << 3),
    ("local4", 20 << 3),
    ("local5", 21 << 3),
    ("local6", 22 << 3),
    ("local7", 23 << 3),
];

impl SyslogFacility {
    /// Looks a facility name up (case-sensitive, like `cl_syslogfac_str2int`).
    pub fn from_name(name: &str) -> Option<Self> {
        FACILITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(name, code)| Self { name, code })
    }

    /// heartbeat treats codes <= 0 (`none`, and by accident `kern`) as "no syslog".
    pub fn logs_to_syslog(self) -> bool {
        self.code > 0
    }
}

impl fmt::Display for SyslogFacility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A `respawn` or `failfast` client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChild {
    /// User name to run as.
    pub user: String,
    /// That user's uid (resolved at load, like heartbeat).
    pub uid: u32,
    /// That user's primary gid.
    pub gid: u32,
    /// Absolute path of the program.
    pub path: PathBuf,
    /// Arguments after the path (whitespace-split).
    pub args: Vec<String>,
    /// The command line as written (path and arguments).
    pub command: String,
    /// `failfast`: reboot the machine if the child dies abnormally.
    pub failfast: bool,
    /// ha.cf line.
    pub line: usize,
}

/// An `apiauth` entry: which uids/gids may sign on as `client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAuth {
    /// Client name (`ipfail`, `ccm`, `default`, `anon`, ...).
    pub client: String,
    /// Allowed uids (`None` = no uid list given).
    pub uids: Option<Vec<u32>>,
    /// Allowed gids (`None` = no gid list given).
    pub gids: Option<Vec<u32>>,
    /// Added by heartbeat itself rather than written in ha.cf.
    pub builtin: bool,
    /// ha.cf line (0 for built-ins).
    pub line: usize,
}

impl ApiAuth {
    /// Whether a peer with these credentials is authorized (either list may match).
    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        self.uids.as_ref().is_some_and(|l| l.contains(&uid))
            || self.gids.as_ref().is_some_and(|l| l.contains(&gid))
    }
}

/// `stonith <type> <configfile>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stonith {
    /// STONITH plugin type.
    pub kind: String,
    /// Its configuration file (rest of the line).
    pub config_file: String,
    /// ha.cf line.
    pub line: usize,
}

/// `stonith_host <host|*> <type> <params...>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StonithHost {
    /// Lower-cased host name, or `*`.
    pub host: String,
    /// STONITH plugin type.
    pub kind: String,
    /// Plugin parameters (rest of the line).
    pub params: String,
    /// ha.cf line.
    pub line: usize,
}

impl StonithHost {
    /// heartbeat only uses entries for `*` or the local node.
    pub fn applies_to(&self, local_node: &str) -> bool {
        self.host == "*" || self.host == local_node.to_ascii_lowercase()
    }
}
