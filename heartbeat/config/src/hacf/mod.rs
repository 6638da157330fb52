//! `/etc/ha.d/ha.cf`, parsed the way heartbeat 3.0.6 parses it.
//!
//! Lines are read in order and directives take effect when read (so
//! `udpport` must precede the media it should affect). `#` starts a comment
//! anywhere. The first word is the directive; *option* directives apply each
//! token of the rest of the line (split on `", \t"`) separately, *whole-line*
//! directives (`stonith`, `stonith_host`, `apiauth`, `respawn`, `failfast`,
//! `mcast`, `mcast6`, `ucast`, `ucast6`, `ping_group`) get the rest of the line.
//! After the file, defaults are filled in and the timers are derived and
//! checked as in heartbeat's `init_config`.
//!
//! Checks that need the local node name live in [`HaCf::validate`].
//! Checks of the host (interfaces exist, serial devices are character
//! devices, STONITH plugin types exist) are left to the daemon.

mod types;

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use types::*;

use crate::error::{ConfigError, ErrorKind};
use crate::time::{format_ms, parse_msec};

/// Port used when `udpport` is not given (`ha-cluster/udp` is not in Debian's /etc/services).
pub const DEFAULT_UDPPORT: u16 = 694;
/// Maximum number of media (`MAXMEDIA`).
pub const MAX_MEDIA: usize = 64;
/// Maximum number of nodes, ping nodes included (`MAXNODE`).
pub const MAX_NODES: usize = 100;
/// Where heartbeat looks for Pacemaker daemons unless `crm_daemon_dir` says otherwise.
pub const DEFAULT_CRM_DAEMON_DIR: &str = "/usr/libexec/pacemaker";
/// heartbeat's own daemon directory (fallback location of CRM daemons).
pub const HA_DAEMON_DIR: &str = "/usr/libexec/heartbeat";
/// Historical daemon directory (second fallback).
pub const HA_LIBHB_DIR: &str = "/usr/lib/heartbeat";

/// Directives this implementation parses and validates but does not act
/// on; their presence produces one warning listing them. (`failfast` is logged when
/// it would fire, never a reboot; `respawn`, `env`, `stonith`, `stonith_host` and
/// `crm_daemon_dir` are acted on.)
pub const NOT_ACTED_ON: &[&str] = &[
    "failfast",
    "rtprio",
    "memreserve",
    "coredumps",
    "coreroot",
    "watchdog",
    "use_apphbd",
    "use_logd",
    "conn_logd_time",
    "quorum_server",
    "crmd_spawns_pengine",
    "record_config_changes",
    "record_pengine_inputs",
    "enable_config_writes",
];

/// `heartbeat -D`: directives with a fixed default, in heartbeat's order.
const DEFAULTS: &[(&str, &str, &str)] = &[
    ("cluster", "linux-ha", "the name of cluster"),
    ("hopfudge", "1", "# of hops above cluster size"),
    ("keepalive", "1000ms", "keepalive time"),
    ("deadtime", "30000ms", "node deadtime"),
    ("baud", "19200", "baud rate"),
    ("auto_failback", "legacy", "auto failback"),
    (
        "hbgenmethod",
        "file",
        "protocol generation computation method",
    ),
    ("realtime", "true", "enable realtime behavior?"),
    ("msgfmt", "classic", "message format in the wire"),
    ("conn_logd_time", "60", "the interval to reconnect to logd"),
    ("log_badpack", "true", "warn about bad packets"),
    ("syslogmsgfmt", "true", "log to files in syslog format"),
    ("coredumps", "true", "enable Linux-HA core dumps"),
    ("pacemaker", "false", "enable Pacemaker resource management"),
    ("autojoin", "none", "set automatic join mode/style"),
    ("uuidfrom", "file", "set the source for uuid"),
    ("compression", "zlib", "set compression module"),
    ("compression_threshold", "2", "set compression threshold"),
    (
        "traditional_compression",
        "no",
        "set traditional_compression",
    ),
    (
        "max_rexmit_delay",
        "250",
        "set the maximum rexmit delay time",
    ),
    (
        "record_config_changes",
        "on",
        "record changes to the cib (valid only with: pacemaker on)",
    ),
    (
        "record_pengine_inputs",
        "on",
        "record the input used by the policy engine (valid only with: pacemaker on)",
    ),
    (
        "enable_config_writes",
        "on",
        "write configuration changes to disk (valid only with: pacemaker on)",
    ),
    (
        "memreserve",
        "6500",
        "number of kbytes to preallocate in heartbeat",
    ),
];

/// The (directive, default, description) rows `heartbeat -D` prints.
pub fn defaults_table() -> Vec<(&'static str, &'static str, &'static str)> {
    DEFAULTS.to_vec()
}

/// The `heartbeat -D` output, byte for byte.
pub fn render_defaults_table() -> String {
    let lw = DEFAULTS
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max("Directive".len());
    let cw = DEFAULTS
        .iter()
        .map(|r| r.1.len())
        .max()
        .unwrap_or(0)
        .max("Default".len());
    let rw = DEFAULTS
        .iter()
        .map(|r| r.2.len())
        .max()
        .unwrap_or(0)
        .max("Description".len());
    let mut out = format!(
        "{:<lw$}  {:<cw$}  {}\n",
        "Directive", "Default", "Description"
    );
    // heartbeat's dash string is 80 long and printed with "%-*.*s".
    out.push_str(&"-".repeat((lw + cw + rw + 4).min(80)));
    out.push('\n');
    for (d, v, e) in DEFAULTS {
        out.push_str(&format!("{d:<lw$}  {v:<cw$}  {e}\n"));
    }
    out
}

/// What kind of directive a name is, and whether heartbeat records its value
/// for `GetParameterValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Option { record: bool },
    WholeLine,
    MediaOption,
    MediaWholeLine,
}

/// Every directive heartbeat 3.0.6 knows, with how its line is parsed. `record`:
/// the value is kept as written for `getparm`.
const DIRECTIVES: &[(&str, Kind)] = &[
    ("cluster", Kind::Option { record: true }),
    ("hopfudge", Kind::Option { record: true }),
    ("keepalive", Kind::Option { record: true }),
    ("deadtime", Kind::Option { record: true }),
    ("deadping", Kind::Option { record: true }),
    ("initdead", Kind::Option { record: true }),
    ("warntime", Kind::Option { record: true }),
    ("watchdog", Kind::Option { record: true }),
    ("baud", Kind::Option { record: true }),
    ("udpport", Kind::Option { record: true }),
    ("logfacility", Kind::Option { record: true }),
    ("logfile", Kind::Option { record: true }),
    ("debugfile", Kind::Option { record: true }),
    ("auto_failback", Kind::Option { record: true }),
    ("rtprio", Kind::Option { record: true }),
    ("hbgenmethod", Kind::Option { record: true }),
    ("realtime", Kind::Option { record: true }),
    ("debug", Kind::Option { record: true }),
    ("msgfmt", Kind::Option { record: true }),
    ("use_logd", Kind::Option { record: true }),
    ("conn_logd_time", Kind::Option { record: true }),
    ("log_badpack", Kind::Option { record: true }),
    ("syslogmsgfmt", Kind::Option { record: true }),
    ("coredumps", Kind::Option { record: true }),
    ("coreroot", Kind::Option { record: true }),
    ("crm_daemon_dir", Kind::Option { record: true }),
    ("crmd_spawns_pengine", Kind::Option { record: true }),
    ("pacemaker", Kind::Option { record: true }),
    ("autojoin", Kind::Option { record: true }),
    ("uuidfrom", Kind::Option { record: true }),
    ("compression", Kind::Option { record: true }),
    ("compression_threshold", Kind::Option { record: true }),
    ("traditional_compression", Kind::Option { record: true }),
    ("max_rexmit_delay", Kind::Option { record: true }),
    ("record_config_changes", Kind::Option { record: true }),
    ("record_pengine_inputs", Kind::Option { record: true }),
    ("enable_config_writes", Kind::Option { record: true }),
    ("memreserve", Kind::Option { record: true }),
    ("quorum_server", Kind::Option { record: true }),
    ("node", Kind::Option { record: false }),
    ("nice_failback", Kind::Option { record: false }),
    ("use_apphbd", Kind::Option { record: false }),
    ("crm", Kind::Option { record: false }),
    ("env", Kind::Option { record: false }),
    ("stonith", Kind::WholeLine),
    ("stonith_host", Kind::WholeLine),
    ("apiauth", Kind::WholeLine),
    ("respawn", Kind::WholeLine),
    ("failfast", Kind::WholeLine),
    ("bcast", Kind::MediaOption),
    ("ping", Kind::MediaOption),
    ("ping6", Kind::MediaOption),
    ("serial", Kind::MediaOption),
    ("mcast", Kind::MediaWholeLine),
    ("mcast6", Kind::MediaWholeLine),
    ("ucast", Kind::MediaWholeLine),
    ("ucast6", Kind::MediaWholeLine),
    ("ping_group", Kind::MediaWholeLine),
];

fn directive_kind(name: &str) -> Option<Kind> {
    DIRECTIVES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Access to the host that loading ha.cf needs (users, groups, executables),
/// so that tests and tools can substitute their own answers.
pub trait SystemProbe {
    /// uid and primary gid of a user name.
    fn user(&self, name: &str) -> Option<(u32, u32)>;
    /// gid of a group name.
    fn group(&self, name: &str) -> Option<u32>;
    /// Whether `path` exists and is executable (`access(X_OK)`).
    fn is_executable(&self, path: &Path) -> bool;
}

/// The real host: passwd/group databases and `access(2)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostSystem;

impl SystemProbe for HostSystem {
    fn user(&self, name: &str) -> Option<(u32, u32)> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
    }

    fn group(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }

    fn is_executable(&self, path: &Path) -> bool {
        nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
    }
}

/// A parsed ha.cf. Time values are already derived (warntime, initdead,
/// deadping defaults) and validated.
#[derive(Debug, Clone)]
pub struct HaCf {
    /// The file this was read from.
    pub file: PathBuf,
    /// `cluster`: cluster name.
    pub cluster: String,
    /// `node`: normal nodes, lower-cased, in order, without duplicates.
    pub nodes: Vec<String>,
    /// Media and ping nodes, in order.
    pub media: Vec<Medium>,
    /// `udpport`: final value (each medium records the value in force when read).
    pub udpport: u16,
    /// `baud`: serial speed.
    pub baud: u32,
    /// `keepalive`: status interval.
    pub keepalive: Duration,
    /// `deadtime`: a node is dead after this silence.
    pub deadtime: Duration,
    /// `warntime`: "Late heartbeat" threshold (default deadtime/2).
    pub warntime: Duration,
    /// `initdead`: dead time before comm-up (derived from deadtime when unset).
    pub initdead: Duration,
    /// `deadping`: dead time of ping nodes (default deadtime).
    pub deadping: Duration,
    /// `hopfudge`: ttl = hopfudge + node count.
    pub hopfudge: u8,
    /// `auto_failback` (also set by the obsolete `nice_failback`).
    pub auto_failback: AutoFailback,
    /// `logfile`.
    pub logfile: Option<PathBuf>,
    /// `debugfile`.
    pub debugfile: Option<PathBuf>,
    /// `logfacility`.
    pub logfacility: Option<SyslogFacility>,
    /// `use_logd` (on by default when no logfile/debugfile/logfacility is given).
    pub use_logd: bool,
    /// `conn_logd_time`: logd reconnect interval.
    pub conn_logd_time: Duration,
    /// `syslogmsgfmt`: syslog-style lines in log files.
    pub syslogmsgfmt: bool,
    /// `log_badpack`: log unparsable/unauthenticated packets.
    pub log_badpack: bool,
    /// `debug`: debug level.
    pub debug: u8,
    /// `msgfmt`.
    pub msgfmt: MsgFmt,
    /// `compression`: plugin name.
    pub compression: Compression,
    /// `compression_threshold` in KiB (bytes = ×1024).
    pub compression_threshold_kib: u32,
    /// `traditional_compression`: whole-message compression.
    pub traditional_compression: bool,
    /// `max_rexmit_delay` (given in ms).
    pub max_rexmit_delay: Duration,
    /// `hbgenmethod`.
    pub hbgenmethod: GenMethod,
    /// `uuidfrom`.
    pub uuidfrom: UuidFrom,
    /// `autojoin`.
    pub autojoin: AutoJoin,
    /// `realtime`: SCHED_FIFO and mlock.
    pub realtime: bool,
    /// `rtprio`: SCHED_FIFO priority (default: midpoint, chosen at run time).
    pub rtprio: Option<i32>,
    /// `memreserve` in KiB.
    pub memreserve_kib: u32,
    /// `coredumps`.
    pub coredumps: bool,
    /// `coreroot`: core dump root directory.
    pub coreroot: Option<PathBuf>,
    /// `watchdog`: watchdog device.
    pub watchdog: Option<PathBuf>,
    /// `pacemaker` / `crm` as written (see [`HaCf::resource_manager`]).
    pub pacemaker: PacemakerMode,
    /// `crm_daemon_dir`.
    pub crm_daemon_dir: PathBuf,
    /// `crmd_spawns_pengine`.
    pub crmd_spawns_pengine: bool,
    /// `record_config_changes` (Pacemaker only).
    pub record_config_changes: bool,
    /// `record_pengine_inputs` (Pacemaker only).
    pub record_pengine_inputs: bool,
    /// `enable_config_writes` (Pacemaker only).
    pub enable_config_writes: bool,
    /// `env NAME=value`: exported as `HA_NAME` to respawned clients.
    pub env: Vec<(String, String)>,
    /// `quorum_server`.
    pub quorum_server: Option<String>,
    /// `use_apphbd`.
    pub use_apphbd: bool,
    /// `stonith` lines.
    pub stonith: Vec<Stonith>,
    /// `stonith_host` lines (all hosts; see [`StonithHost::applies_to`]).
    pub stonith_hosts: Vec<StonithHost>,
    /// `respawn` and `failfast` clients, in start order.
    pub clients: Vec<ClientChild>,
    /// `apiauth` entries, including the built-in defaults, in order.
    pub apiauth: Vec<ApiAuth>,
    /// Warnings for the operator (not-acted-on directives, crm, heartbeat's own).
    pub warnings: Vec<String>,
    params: BTreeMap<String, String>,
    resource_manager: ResourceManager,
    lines: BTreeMap<&'static str, usize>,
}

/// Reads and parses an ha.cf file against the real host.
pub fn load(path: &Path) -> Result<HaCf, ConfigError> {
    let text = std::fs::read(path).map_err(|e| ConfigError::io(path, e))?;
    parse(&String::from_utf8_lossy(&text), path)
}

/// Parses ha.cf text against the real host; `file` is used in messages.
pub fn parse(text: &str, file: &Path) -> Result<HaCf, ConfigError> {
    parse_with(text, file, &HostSystem)
}

/// Parses ha.cf text, asking `probe` about users, groups and executables.
pub fn parse_with(text: &str, file: &Path, probe: &dyn SystemProbe) -> Result<HaCf, ConfigError> {
    let mut p = Parser::new(file, probe);
    for (idx, raw) in text.lines().enumerate() {
        p.line(idx + 1, raw)?;
    }
    p.finish()
}

const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0c'];
const DELIMS: &[char] = &[',', ' ', '\t', '\n', '\r', '\x0c'];

/// The directive's name as a `&'static str` (for the line table).
fn static_name(name: &str) -> &'static str {
    DIRECTIVES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// C `atoi`: leading blanks, optional sign, digits; 0 when there are none.
/// heartbeat reads its integer directives this way, so `hopfudge abc` is 0.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start_matches(WHITESPACE);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// `cl_str_to_boolean`.
pub fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: &[&str] = &["true", "on", "yes", "y", "1"];
    const FALSE: &[&str] = &["false", "off", "no", "n", "0"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

struct Parser<'a> {
    file: &'a Path,
    probe: &'a dyn SystemProbe,
    cf: HaCf,
    keepalive_ms: u64,
    deadtime_ms: u64,
    warntime_ms: Option<u64>,
    initdead_ms: Option<u64>,
    deadping_ms: Option<u64>,
    baud_set: bool,
    pacemaker_set: bool,
    any_media_yet: bool,
    ping_nodes: Vec<String>,
    apiauth_names: HashSet<String>,
    seen: Vec<(&'static str, usize)>,
}

impl<'a> Parser<'a> {
    fn new(file: &'a Path, probe: &'a dyn SystemProbe) -> Self {
        let cf = HaCf {
            file: file.to_path_buf(),
            cluster: "linux-ha".into(),
            nodes: Vec::new(),
            media: Vec::new(),
            udpport: DEFAULT_UDPPORT,
            baud: 19200,
            keepalive: Duration::from_millis(1000),
            deadtime: Duration::from_millis(30000),
            warntime: Duration::ZERO,
            initdead: Duration::ZERO,
            deadping: Duration::ZERO,
            hopfudge: 1,
            auto_failback: AutoFailback::Legacy,
            logfile: None,
            debugfile: None,
            logfacility: None,
            use_logd: false,
            conn_logd_time: Duration::from_secs(60),
            syslogmsgfmt: true,
            log_badpack: true,
            debug: 0,
            msgfmt: MsgFmt::Classic,
            compression: Compression::Zlib,
            compression_threshold_kib: 2,
            traditional_compression: false,
            max_rexmit_delay: Duration::from_millis(250),
            hbgenmethod: GenMethod::File,
            uuidfrom: UuidFrom::File,
            autojoin: AutoJoin::None,
            realtime: true,
            rtprio: None,
            memreserve_kib: 6500,
            coredumps: true,
            coreroot: None,
            watchdog: None,
            pacemaker: PacemakerMode::Off,
            crm_daemon_dir: PathBuf::from(DEFAULT_CRM_DAEMON_DIR),
            crmd_spawns_pengine: true,
            record_config_changes: true,
            record_pengine_inputs: true,
            enable_config_writes: true,
            env: Vec::new(),
            quorum_server: None,
            use_apphbd: false,
            stonith: Vec::new(),
            stonith_hosts: Vec::new(),
            clients: Vec::new(),
            apiauth: Vec::new(),
            warnings: Vec::new(),
            params: BTreeMap::new(),
            resource_manager: ResourceManager::Haresources,
            lines: BTreeMap::new(),
        };
        Self {
            file,
            probe,
            cf,
            keepalive_ms: 1000,
            deadtime_ms: 30000,
            warntime_ms: None,
            initdead_ms: None,
            deadping_ms: None,
            baud_set: false,
            pacemaker_set: false,
            any_media_yet: false,
            ping_nodes: Vec::new(),
            apiauth_names: HashSet::new(),
            seen: Vec::new(),
        }
    }

    fn err(&self, line: usize, msg: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.file, line, msg)
    }

    fn bad(
        &self,
        line: usize,
        directive: &str,
        value: &str,
        why: impl Into<String>,
    ) -> ConfigError {
        ConfigError::value(self.file, line, directive, value, why)
    }

    fn line(&mut self, lineno: usize, raw: &str) -> Result<(), ConfigError> {
        let mut bp = raw.trim_start_matches(WHITESPACE);
        if let Some(p) = bp.find('#') {
            bp = &bp[..p];
        }
        if let Some(p) = bp.find(['\r', '\n']) {
            bp = &bp[..p];
        }
        if bp.is_empty() {
            return Ok(());
        }
        let dlen = bp.find(WHITESPACE).unwrap_or(bp.len());
        let mut directive = &bp[..dlen];
        if directive == "udp" {
            self.cf.warnings.push(format!(
                "directive 'udp' replaced by 'bcast' (line {lineno})"
            ));
            directive = "bcast";
        }
        let Some(kind) = directive_kind(directive) else {
            return Err(ConfigError::new(
                self.file,
                lineno,
                ErrorKind::IllegalDirective(directive.to_string()),
            ));
        };
        let name = static_name(directive);
        self.seen.push((name, lineno));
        self.cf.lines.insert(name, lineno);
        let rest = bp[dlen..].trim_start_matches(DELIMS);

        match kind {
            Kind::WholeLine => self.whole_line(name, rest, lineno),
            Kind::MediaWholeLine => {
                self.any_media_yet = true;
                self.media_whole_line(name, rest, lineno)
            }
            Kind::MediaOption | Kind::Option { .. } => {
                for token in rest.split(DELIMS).filter(|t| !t.is_empty()) {
                    if kind == Kind::MediaOption {
                        self.media_option(name, token, lineno)?;
                    } else {
                        self.option(name, token, lineno)?;
                    }
                }
                Ok(())
            }
        }
    }

    fn record(&mut self, name: &str, value: &str) {
        self.cf.params.insert(name.to_string(), value.to_string());
    }

    fn time_ms(&self, name: &str, value: &str, line: usize) -> Result<u64, ConfigError> {
        parse_msec(value).map_err(|e| self.bad(line, name, value, e.to_string()))
    }

    fn boolean(&self, name: &str, value: &str, line: usize) -> Result<bool, ConfigError> {
        parse_bool(value).ok_or_else(|| {
            self.bad(
                line,
                name,
                value,
                "not a boolean (true/on/yes/y/1 or false/off/no/n/0)",
            )
        })
    }

    fn option(&mut self, name: &'static str, value: &str, line: usize) -> Result<(), ConfigError> {
        self.apply_option(name, value, line)?;
        if let Some(Kind::Option { record: true }) = directive_kind(name) {
            self.record(name, value);
        }
        Ok(())
    }

    fn apply_option(
        &mut self,
        name: &'static str,
        value: &str,
        line: usize,
    ) -> Result<(), ConfigError> {
        match name {
            "cluster" => self.cf.cluster = value.to_string(),
            "node" => self.add_node(value, line)?,
            "hopfudge" => {
                let v = atoi(value);
                self.cf.hopfudge =
                    u8::try_from(v).map_err(|_| self.bad(line, name, value, "must be 0..255"))?;
            }
            "keepalive" => {
                let ms = self.time_ms(name, value, line)?;
                if ms == 0 {
                    return Err(self.bad(line, name, value, "must be > 0"));
                }
                self.keepalive_ms = ms;
            }
            "deadtime" => self.deadtime_ms = self.time_ms(name, value, line)?,
            "deadping" => self.deadping_ms = Some(self.time_ms(name, value, line)?),
            "initdead" => self.initdead_ms = Some(self.time_ms(name, value, line)?),
            "warntime" => {
                let ms = self.time_ms(name, value, line)?;
                if ms == 0 {
                    return Err(self.err(line, format!("Warn time [{value}] is invalid.")));
                }
                self.warntime_ms = Some(ms);
            }
            "watchdog" => {
                if self.cf.watchdog.is_some() {
                    return Err(self.err(line, "Watchdog device multiply specified."));
                }
                self.cf.watchdog = Some(PathBuf::from(value));
            }
            "baud" => {
                if self.baud_set {
                    return Err(self.err(line, "Baudrate multiply specified."));
                }
                self.baud_set = true;
                const BAUDS: &[i64] = &[9600, 19200, 38400, 57600, 115200, 230400, 460800];
                let v = atoi(value);
                if !BAUDS.contains(&v) {
                    return Err(self.err(line, format!("invalid baudrate [{value}] specified.")));
                }
                self.cf.baud = v as u32;
                if self.any_media_yet {
                    self.cf.warnings.push(format!(
                        "baudrate setting must precede media statements (line {line})"
                    ));
                }
            }
            "udpport" => {
                let v = atoi(value);
                self.cf.udpport = u16::try_from(v)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| self.err(line, format!("invalid port [{value}] specified.")))?;
            }
            "logfacility" => {
                let f = SyslogFacility::from_name(value)
                    .ok_or_else(|| self.err(line, format!("Log facility({value}) not valid")))?;
                self.cf.logfacility = Some(f);
            }
            "logfile" => self.cf.logfile = Some(PathBuf::from(value)),
            "debugfile" => self.cf.debugfile = Some(PathBuf::from(value)),
            "nice_failback" => {
                // Only validated: heartbeat tests the *current* mode, not the
                // value, so only a config that already chose on/off gets
                // "off"; otherwise both `nice_failback on` and `off` end up
                // as legacy. Peers running the original behave this way, so
                // we must too.
                self.boolean(name, value, line)?;
                let (mode, text) = if self.cf.auto_failback.nice_failback() {
                    (AutoFailback::Off, "off")
                } else {
                    (AutoFailback::Legacy, "legacy")
                };
                self.cf.auto_failback = mode;
                self.cf.warnings.push(format!(
                    "nice_failback flag is obsolete (line {line}); 'nice_failback {value}' \
                     interpreted as 'auto_failback {text}'. Use auto_failback {{on, off, legacy}} instead."
                ));
            }
            "auto_failback" => {
                self.cf.auto_failback = match parse_bool(value) {
                    Some(true) => AutoFailback::On,
                    Some(false) => AutoFailback::Off,
                    None if value.eq_ignore_ascii_case("legacy") => AutoFailback::Legacy,
                    None => return Err(self.bad(line, name, value, "must be on, off or legacy")),
                };
            }
            "rtprio" => {
                // sched_get_priority_min/max(SCHED_FIFO) on Linux.
                let v = atoi(value);
                if !(1..=99).contains(&v) {
                    return Err(self.err(line, format!("Illegal realtime priority [{value}]")));
                }
                self.cf.rtprio = Some(v as i32);
            }
            "hbgenmethod" => {
                self.cf.hbgenmethod = match value {
                    "file" => GenMethod::File,
                    "time" => GenMethod::Time,
                    _ => {
                        return Err(
                            self.err(line, format!("Illegal hb generation method [{value}]"))
                        )
                    }
                };
            }
            "realtime" => self.cf.realtime = self.boolean(name, value, line)?,
            "debug" => {
                self.cf.debug = u8::try_from(atoi(value))
                    .map_err(|_| self.bad(line, name, value, "must be 0..255"))?;
            }
            "msgfmt" => {
                self.cf.msgfmt = match value {
                    "classic" => MsgFmt::Classic,
                    "netstring" => MsgFmt::Netstring,
                    _ => return Err(self.bad(line, name, value, "must be classic or netstring")),
                };
            }
            "use_logd" => self.cf.use_logd = self.boolean(name, value, line)?,
            "conn_logd_time" => {
                let ms = self.time_ms(name, value, line)?;
                if ms == 0 {
                    return Err(self.bad(line, name, value, "must be > 0"));
                }
                self.cf.conn_logd_time = Duration::from_millis(ms);
            }
            "use_apphbd" => self.cf.use_apphbd = self.boolean(name, value, line)?,
            "log_badpack" => self.cf.log_badpack = self.boolean(name, value, line)?,
            "syslogmsgfmt" => self.cf.syslogmsgfmt = self.boolean(name, value, line)?,
            "coredumps" => self.cf.coredumps = self.boolean(name, value, line)?,
            "coreroot" => self.cf.coreroot = Some(PathBuf::from(value)),
            "crm_daemon_dir" | "crmd_spawns_pengine" => {
                if self.pacemaker_set {
                    return Err(self.err(
                        line,
                        format!(
                            "If you specify {name}, it must come before the pacemaker directive"
                        ),
                    ));
                }
                if name == "crm_daemon_dir" {
                    self.cf.crm_daemon_dir = PathBuf::from(value);
                } else {
                    self.cf.crmd_spawns_pengine = self.boolean(name, value, line)?;
                }
            }
            "crm" | "pacemaker" => {
                self.pacemaker(value, line)?;
                // `crm` is recorded under its new name, as add_option(pacemaker) does.
                self.record("pacemaker", value);
            }
            "autojoin" => {
                self.cf.autojoin = match value.to_ascii_lowercase().as_str() {
                    "none" => AutoJoin::None,
                    "other" => AutoJoin::Other,
                    "any" => AutoJoin::Any,
                    _ => {
                        return Err(self.err(line, format!("Invalid autojoin directive [{value}]")))
                    }
                };
            }
            "uuidfrom" => {
                self.cf.uuidfrom = match value {
                    "file" => UuidFrom::File,
                    "nodename" => UuidFrom::Nodename,
                    _ => {
                        return Err(self.err(line, format!("Invalid uuidfrom directive [{value}]")))
                    }
                };
            }
            "compression" => {
                self.cf.compression = match value {
                    "zlib" => Compression::Zlib,
                    "bz2" => Compression::Bz2,
                    _ => {
                        return Err(self.bad(
                            line,
                            name,
                            value,
                            "no such compression plugin (zlib, bz2)",
                        ))
                    }
                };
            }
            "compression_threshold" => {
                let v = atoi(value);
                self.cf.compression_threshold_kib = u32::try_from(v)
                    .ok()
                    .filter(|v| *v > 0 && *v <= u32::MAX / 1024)
                    .ok_or_else(|| {
                        self.err(line, format!("compress_threshhold({value}) invalid"))
                    })?;
            }
            "traditional_compression" => {
                self.cf.traditional_compression = self.boolean(name, value, line)?;
            }
            "env" => {
                let (k, v) = value
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| self.err(line, format!("set_env: invalid nvpair({value})")))?;
                self.cf.env.push((k.to_string(), v.to_string()));
            }
            "max_rexmit_delay" => {
                let v = atoi(value);
                let ms = u64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
                    self.err(line, format!("Invalid max_rexmit_delay time({value})"))
                })?;
                self.cf.max_rexmit_delay = Duration::from_millis(ms);
            }
            "record_config_changes" => {
                self.cf.record_config_changes = self.boolean(name, value, line)?
            }
            "record_pengine_inputs" => {
                self.cf.record_pengine_inputs = self.boolean(name, value, line)?
            }
            "enable_config_writes" => {
                self.cf.enable_config_writes = self.boolean(name, value, line)?
            }
            "memreserve" => {
                self.cf.memreserve_kib = u32::try_from(atoi(value))
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        self.bad(line, name, value, "must be a positive number of KiB")
                    })?;
            }
            "quorum_server" => self.cf.quorum_server = Some(value.to_string()),
            other => {
                return Err(self.err(line, format!("Illegal configuration directive [{other}]")))
            }
        }
        Ok(())
    }

    fn node_count(&self) -> usize {
        self.cf.nodes.len() + self.ping_nodes.len()
    }

    fn add_node(&mut self, name: &str, line: usize) -> Result<(), ConfigError> {
        let name = name.to_ascii_lowercase();
        if self.cf.nodes.contains(&name) {
            self.cf
                .warnings
                .push(format!("node [{name}] listed more than once (line {line})"));
            return Ok(());
        }
        if self.node_count() >= MAX_NODES {
            return Err(self.err(line, format!("Too many nodes specified (> {MAX_NODES})")));
        }
        self.cf.nodes.push(name);
        Ok(())
    }

    fn add_ping_node(&mut self, name: &str, line: usize) -> Result<(), ConfigError> {
        if self.node_count() >= MAX_NODES {
            return Err(self.err(line, format!("Too many nodes specified (> {MAX_NODES})")));
        }
        self.ping_nodes.push(name.to_ascii_lowercase());
        Ok(())
    }

    fn push_medium(&mut self, m: Medium, line: usize) -> Result<(), ConfigError> {
        if self.cf.media.len() >= MAX_MEDIA {
            return Err(self.err(line, format!("Too many media specified (> {MAX_MEDIA})")));
        }
        self.any_media_yet = true;
        self.cf.media.push(m);
        Ok(())
    }

    fn media_option(
        &mut self,
        name: &'static str,
        value: &str,
        line: usize,
    ) -> Result<(), ConfigError> {
        let m = match name {
            "bcast" => Medium::Bcast {
                iface: value.to_string(),
                udpport: self.cf.udpport,
            },
            "serial" => {
                if !value.starts_with('/') {
                    return Err(self.err(
                        line,
                        format!("Serial port not full pathname [{value}] in config file"),
                    ));
                }
                Medium::Serial {
                    device: PathBuf::from(value),
                }
            }
            "ping" | "ping6" => {
                self.add_ping_node(value, line)?;
                let addr = value.to_string();
                if name == "ping" {
                    Medium::Ping { addr }
                } else {
                    Medium::Ping6 { addr }
                }
            }
            other => return Err(self.err(line, format!("Illegal directive [{other}]"))),
        };
        self.push_medium(m, line)
    }

    fn media_whole_line(
        &mut self,
        name: &'static str,
        rest: &str,
        line: usize,
    ) -> Result<(), ConfigError> {
        let mut tok = rest.split(WHITESPACE).filter(|t| !t.is_empty());
        let Some(dev) = tok.next() else {
            // The plugins accept an empty line and declare nothing.
            if name == "ping_group" {
                return Err(self.err(line, "ping_group: missing group name"));
            }
            if matches!(name, "mcast6" | "ucast6") {
                return Err(self.err(line, format!("{name} statement without device")));
            }
            return Ok(());
        };
        let m = match name {
            "mcast" | "mcast6" => {
                let v6 = name == "mcast6";
                let group = tok.next().ok_or_else(|| {
                    self.err(line, format!("{name} [{dev}] missing {name} address"))
                })?;
                let port = tok
                    .next()
                    .ok_or_else(|| self.err(line, format!("{name} [{dev}] missing port")))?;
                // The plugins read port, ttl and loop with atoi().
                let port = u16::try_from(atoi(port))
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| self.err(line, format!("{name} [{dev}] bad port [{port}]")))?;
                let what = if v6 { "hops" } else { "ttl" };
                let ttl = tok
                    .next()
                    .ok_or_else(|| self.err(line, format!("{name} [{dev}] missing {what}")))?;
                let ttl = u8::try_from(atoi(ttl))
                    .ok()
                    .filter(|t| *t <= 4)
                    .ok_or_else(|| self.err(line, format!("{name} [{dev}] bad {what} [{ttl}]")))?;
                let lp = tok
                    .next()
                    .ok_or_else(|| self.err(line, format!("{name} [{dev}] missing loop")))?;
                let loop_ = match atoi(lp) {
                    0 => false,
                    1 => true,
                    _ => return Err(self.err(line, format!("{name} [{dev}] bad loop [{lp}]"))),
                };
                let bad_addr = || self.err(line, format!("{name} [{dev}] bad addr [{group}]"));
                if v6 {
                    let g: Ipv6Addr = group.parse().map_err(|_| bad_addr())?;
                    if !g.is_multicast() {
                        return Err(bad_addr());
                    }
                    Medium::Mcast6 {
                        iface: dev.to_string(),
                        group: g,
                        port,
                        hops: ttl,
                        loop_,
                    }
                } else {
                    let g: Ipv4Addr = group.parse().map_err(|_| bad_addr())?;
                    if !g.is_multicast() {
                        return Err(bad_addr());
                    }
                    Medium::Mcast {
                        iface: dev.to_string(),
                        group: g,
                        port,
                        ttl,
                        loop_,
                    }
                }
            }
            "ucast" | "ucast6" => {
                let peer = tok.next().ok_or_else(|| {
                    self.err(
                        line,
                        format!("{name}: [{dev}] missing target IP address/hostname"),
                    )
                })?;
                if name == "ucast" {
                    Medium::Ucast {
                        iface: dev.to_string(),
                        peer: peer.to_string(),
                        udpport: self.cf.udpport,
                    }
                } else {
                    Medium::Ucast6 {
                        iface: dev.to_string(),
                        peer: peer.to_string(),
                        udpport: self.cf.udpport,
                    }
                }
            }
            "ping_group" => {
                let addrs: Vec<String> = tok.map(str::to_string).collect();
                if addrs.is_empty() {
                    return Err(self.err(line, format!("ping_group [{dev}] has no addresses")));
                }
                self.add_ping_node(dev, line)?;
                Medium::PingGroup {
                    name: dev.to_ascii_lowercase(),
                    addrs,
                }
            }
            other => return Err(self.err(line, format!("Illegal directive [{other}]"))),
        };
        self.push_medium(m, line)
    }

    fn whole_line(
        &mut self,
        name: &'static str,
        rest: &str,
        line: usize,
    ) -> Result<(), ConfigError> {
        match name {
            "stonith" => {
                let (kind, file) = split_word(rest);
                if kind.is_empty() {
                    return Err(self.err(line, "No Stonith type given"));
                }
                self.cf.stonith.push(Stonith {
                    kind: kind.to_string(),
                    config_file: file.trim_end().to_string(),
                    line,
                });
            }
            "stonith_host" => {
                let (host, rest) = split_word(rest);
                if host.is_empty() {
                    return Err(self.err(line, "No Stonith hostname argument given"));
                }
                let (kind, params) = split_word(rest);
                if kind.is_empty() {
                    return Err(self.err(line, "No Stonith type given"));
                }
                self.cf.stonith_hosts.push(StonithHost {
                    host: host.to_ascii_lowercase(),
                    kind: kind.to_string(),
                    params: params.trim_end().to_string(),
                    line,
                });
            }
            "apiauth" => self.apiauth(rest, line, false)?,
            "respawn" | "failfast" => self.client_child(rest, line, name == "failfast")?,
            other => return Err(self.err(line, format!("Illegal directive [{other}]"))),
        }
        Ok(())
    }

    fn client_child(&mut self, rest: &str, line: usize, failfast: bool) -> Result<(), ConfigError> {
        let (user, command) = split_word(rest);
        let command = command.trim_end();
        let Some((uid, gid)) = self.probe.user(user) else {
            return Err(self.err(
                line,
                format!("Invalid uid [{user}] specified for client child"),
            ));
        };
        if !command.starts_with('/') {
            return Err(self.err(
                line,
                format!("Client child command [{command}] is not full pathname"),
            ));
        }
        let mut words = command.split(WHITESPACE).filter(|w| !w.is_empty());
        let path = PathBuf::from(words.next().unwrap_or(command));
        if !self.probe.is_executable(&path) {
            return Err(self.err(
                line,
                format!(
                    "Client child command [{}] is not executable",
                    path.display()
                ),
            ));
        }
        self.cf.clients.push(ClientChild {
            user: user.to_string(),
            uid,
            gid,
            args: words.map(str::to_string).collect(),
            path,
            command: command.to_string(),
            failfast,
            line,
        });
        Ok(())
    }

    fn apiauth(&mut self, spec: &str, line: usize, builtin: bool) -> Result<(), ConfigError> {
        let syntax = "Syntax: apiauth client [uid=uidlist] [gid=gidlist] (comma-separated; one or the other must be specified)";
        let invalid = |why: String| {
            self.err(
                line,
                format!(
                    "Invalid apiauth directive [{}]: {why}. {syntax}",
                    spec.trim()
                ),
            )
        };
        let (client, rest) = split_word(spec);
        if client.is_empty() {
            return Err(invalid("missing client name".into()));
        }
        let mut uidlist: Option<&str> = None;
        let mut gidlist: Option<&str> = None;
        for tok in rest.split(WHITESPACE).filter(|t| !t.is_empty()) {
            if let Some(l) = tok.strip_prefix("uid=") {
                if uidlist.replace(l).is_some() {
                    return Err(invalid("Duplicate uid list".into()));
                }
            } else if let Some(l) = tok.strip_prefix("gid=") {
                if gidlist.replace(l).is_some() {
                    return Err(invalid("Duplicate gid list".into()));
                }
            } else {
                return Err(invalid(format!("Missing uid or gid at [{tok}]")));
            }
        }
        if uidlist.is_none() && gidlist.is_none() {
            return Err(invalid("no uid or gid list".into()));
        }
        let uids = match uidlist {
            Some(l) => Some(
                self.id_list(l, |n| self.probe.user(n).map(|u| u.0))
                    .map_err(|n| invalid(format!("Invalid user id name [{n}]")))?,
            ),
            None => None,
        };
        let gids = match gidlist {
            Some(l) => Some(
                self.id_list(l, |n| self.probe.group(n))
                    .map_err(|n| invalid(format!("Invalid group name [{n}]")))?,
            ),
            None => None,
        };
        if !self.apiauth_names.insert(client.to_string()) {
            return Err(self.err(
                line,
                format!(
                    "Duplicate apiauth directive for API client {client}: [{}]",
                    spec.trim()
                ),
            ));
        }
        self.cf.apiauth.push(ApiAuth {
            client: client.to_string(),
            uids,
            gids,
            builtin,
            line: if builtin { 0 } else { line },
        });
        Ok(())
    }

    /// Comma-separated ids; names starting with a digit are numbers (`atoi`).
    fn id_list<'s>(
        &self,
        list: &'s str,
        resolve: impl Fn(&str) -> Option<u32>,
    ) -> Result<Vec<u32>, &'s str> {
        let mut out = Vec::new();
        for item in list.split(',').filter(|i| !i.is_empty()) {
            let id = if item.starts_with(|c: char| c.is_ascii_digit()) {
                u32::try_from(atoi(item)).map_err(|_| item)?
            } else {
                resolve(item).ok_or(item)?
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn pacemaker(&mut self, value: &str, line: usize) -> Result<(), ConfigError> {
        if self.pacemaker_set {
            return Err(self.err(line, "pacemaker/crm directive used multiple times!"));
        }
        self.pacemaker_set = true;
        let lower = value.to_ascii_lowercase();
        let mode = match lower.as_str() {
            "minimal" | "manual" => PacemakerMode::Minimal,
            "respawn" => PacemakerMode::Respawn,
            "ccm-only" => PacemakerMode::CcmOnly,
            "valgrind" => PacemakerMode::Valgrind,
            _ => match parse_bool(value) {
                Some(true) => PacemakerMode::On,
                Some(false) => PacemakerMode::Off,
                None => {
                    return Err(self.bad(
                        line,
                        "pacemaker",
                        value,
                        "must be a boolean, respawn, minimal, manual, ccm-only or valgrind",
                    ))
                }
            },
        };
        self.cf.pacemaker = mode;
        if mode == PacemakerMode::Off {
            return Ok(());
        }
        let dirs = [
            self.cf.crm_daemon_dir.clone(),
            PathBuf::from(HA_DAEMON_DIR),
            PathBuf::from(HA_LIBHB_DIR),
        ];
        let found = |d: &str| {
            dirs.iter()
                .any(|dir| self.probe.is_executable(&dir.join(d)))
        };
        if mode == PacemakerMode::CcmOnly || (found("cib") && found("crmd")) {
            self.cf.resource_manager = ResourceManager::Pacemaker(mode);
            // heartbeat authorizes the CRM daemons when it enables Pacemaker.
            let mut auth = vec!["cib uid=hacluster", "crmd uid=hacluster"];
            if mode != PacemakerMode::Minimal {
                auth.extend([
                    "stonithd uid=root",
                    "stonith-ng uid=root",
                    "attrd uid=hacluster",
                    "pingd uid=root",
                ]);
            }
            for a in auth {
                self.apiauth(a, line, true)?;
            }
        } else {
            self.cf.warnings.push(format!(
                "'{} {value}' (line {line}) ignored: no Pacemaker daemons for the heartbeat \
                 stack (cib, crmd) in {}, {HA_DAEMON_DIR} or {HA_LIBHB_DIR}; using haresources \
                 (R1) resource management",
                self.seen.last().map(|s| s.0).unwrap_or("pacemaker"),
                self.cf.crm_daemon_dir.display()
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<HaCf, ConfigError> {
        let line_of = |p: &Self, d: &str| p.cf.lines.get(d).copied().unwrap_or(0);

        // Built-in API authorizations, unless the file overrides them. Like
        // heartbeat, one that cannot be resolved on this host is skipped.
        for builtin in [
            "ipfail uid=hacluster",
            "ccm uid=hacluster",
            "ping gid=haclient",
            "lha-snmpagent uid=root",
            "anon uid=root gid=haclient",
        ] {
            let client = split_word(builtin).0;
            if self.apiauth_names.contains(client) {
                continue;
            }
            if let Err(e) = self.apiauth(builtin, 0, true) {
                self.cf.warnings.push(format!(
                    "built-in apiauth for {client} not added: {}",
                    e.kind
                ));
            }
        }

        for (name, value, _) in DEFAULTS {
            self.cf
                .params
                .entry((*name).to_string())
                .or_insert_with(|| (*value).to_string());
        }
        self.cf
            .params
            .entry("debug".into())
            .or_insert_with(|| "0".into());

        let keepalive = self.keepalive_ms;
        let deadtime = self.deadtime_ms;
        let warntime = match self.warntime_ms {
            Some(w) => w,
            None => {
                let w = deadtime / 2;
                self.record("warntime", &format!("{w}ms"));
                w
            }
        };
        if deadtime <= 2 * keepalive {
            let line = line_of(&self, "deadtime").max(line_of(&self, "keepalive"));
            return Err(self.err(
                line,
                format!("Dead time [{deadtime}] is too small compared to keeplive [{keepalive}]"),
            ));
        }
        let initdead = match self.initdead_ms {
            Some(i) => i,
            None => {
                let i = if deadtime > 10_000 {
                    deadtime
                } else if deadtime < 6_000 {
                    12_000
                } else {
                    2 * deadtime
                };
                self.record("initdead", &format!("{i}ms"));
                i
            }
        };
        if initdead < deadtime {
            return Err(self.err(
                line_of(&self, "initdead"),
                format!("Initial dead time [{initdead}] is smaller than deadtime [{deadtime}]"),
            ));
        } else if initdead < 10_000 {
            self.cf.warnings.push(format!(
                "Initial dead time [{initdead} ms] may be too small! It accounts for slow \
                 network startup and should be >= deadtime and >= 10 seconds"
            ));
        }
        let deadping = match self.deadping_ms {
            None => {
                self.record("deadping", &format!("{deadtime}ms"));
                deadtime
            }
            Some(d) if d <= 2 * keepalive => {
                return Err(self.err(
                    line_of(&self, "deadping"),
                    format!("Ping dead time [{d}] is too small compared to keeplive [{keepalive}]"),
                ));
            }
            Some(d) => d,
        };
        self.cf.keepalive = Duration::from_millis(keepalive);
        self.cf.deadtime = Duration::from_millis(deadtime);
        self.cf.warntime = Duration::from_millis(warntime);
        self.cf.initdead = Duration::from_millis(initdead);
        self.cf.deadping = Duration::from_millis(deadping);
        self.cf
            .params
            .entry("udpport".into())
            .or_insert_with(|| DEFAULT_UDPPORT.to_string());

        if self.cf.resource_manager == ResourceManager::Haresources
            && self.cf.auto_failback == AutoFailback::Legacy
        {
            self.cf.warnings.push(
                "Deprecated 'legacy' auto_failback option selected. Please convert to \
                 'auto_failback on'. See documentation for conversion details."
                    .into(),
            );
        }

        let syslog = self
            .cf
            .logfacility
            .is_some_and(SyslogFacility::logs_to_syslog);
        if self.cf.logfile.is_none() && self.cf.debugfile.is_none() && !syslog {
            match self.cf.params.get("use_logd").map(|v| parse_bool(v)) {
                None => {
                    self.cf.use_logd = true;
                    self.record("use_logd", "yes");
                }
                Some(Some(false)) => {
                    return Err(self.err(
                        line_of(&self, "use_logd"),
                        "No log entry found in ha.cf and use_logd is set to off",
                    ));
                }
                Some(_) => {}
            }
        }
        if syslog {
            for d in ["logfile", "debugfile"] {
                self.cf
                    .params
                    .entry(d.into())
                    .or_insert_with(|| "/dev/null".into());
            }
        }

        let mut unused: Vec<String> = Vec::new();
        for (name, line) in &self.seen {
            if NOT_ACTED_ON.contains(name) {
                unused.push(format!("{name} (line {line})"));
            }
        }
        if !unused.is_empty() {
            self.cf.warnings.push(format!(
                "directives parsed but not acted on by this heartbeat: {}",
                unused.join(", ")
            ));
        }
        Ok(self.cf)
    }
}

/// Splits off the first whitespace-delimited word; returns (word, rest).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(WHITESPACE);
    let end = s.find(WHITESPACE).unwrap_or(s.len());
    (&s[..end], s[end..].trim_start_matches(WHITESPACE))
}

impl HaCf {
    /// heartbeat's `GetParameterValue` (API `getparm`): the value as written
    /// (the last token given), or the filled-in default. Computed timer
    /// defaults are in heartbeat's own form, e.g. `warntime` → `"15000ms"`
    /// for the default deadtime. `crm` is an alias of `pacemaker`.
    pub fn param(&self, name: &str) -> Option<String> {
        let name = if name == "crm" { "pacemaker" } else { name };
        self.params.get(name).cloned()
    }

    /// Who manages resources: Pacemaker only when requested *and* its
    /// heartbeat-stack daemons are installed, otherwise haresources.
    pub fn resource_manager(&self) -> ResourceManager {
        self.resource_manager
    }

    /// Names of the ping nodes (`ping`, `ping6`, `ping_group`), lower-cased.
    pub fn ping_nodes(&self) -> Vec<String> {
        self.media
            .iter()
            .filter(|m| m.is_ping())
            .map(|m| m.name().to_ascii_lowercase())
            .collect()
    }

    /// The `apiauth` entry for a client name.
    pub fn apiauth_for(&self, client: &str) -> Option<&ApiAuth> {
        self.apiauth.iter().find(|a| a.client == client)
    }

    /// The line a directive was last given on, if it was.
    pub fn line_of(&self, directive: &str) -> Option<usize> {
        self.lines.get(directive).copied()
    }

    /// The computed-default form heartbeat would report for a time.
    pub fn format_time(d: Duration) -> String {
        format_ms(d)
    }

    /// The checks heartbeat makes once it knows the local node name:
    /// at least one medium, at least one node (unless `autojoin any`), the
    /// local node listed (unless `autojoin any`), and no `autojoin` with
    /// haresources (R1) resource management.
    pub fn validate(&self, local_node: &str) -> Result<(), ConfigError> {
        let file = &self.file;
        if self.media.is_empty() {
            return Err(ConfigError::invalid(file, 0, "No heartbeat media defined"));
        }
        let any = self.autojoin == AutoJoin::Any;
        if self.nodes.is_empty() && self.ping_nodes().is_empty() && !any {
            return Err(ConfigError::invalid(file, 0, "no nodes defined"));
        }
        let local = local_node.to_ascii_lowercase();
        if !any && !self.nodes.contains(&local) && !self.ping_nodes().contains(&local) {
            return Err(ConfigError::invalid(
                file,
                self.line_of("node").unwrap_or(0),
                format!(
                    "Current node [{local}] not in configuration! Cluster nodes are named by \
                     `uname -n` and must be declared with a 'node' directive"
                ),
            ));
        }
        if self.autojoin != AutoJoin::None && self.resource_manager == ResourceManager::Haresources
        {
            return Err(ConfigError::invalid(
                file,
                self.line_of("autojoin").unwrap_or(0),
                "R1 style resource management conflicts with autojoin set: \
                 either unset autojoin or enable crm",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
