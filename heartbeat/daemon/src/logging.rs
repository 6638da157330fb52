//! Logging to heartbeat's destinations: `logfile`, `debugfile`, `logfacility` (syslog),
//! in heartbeat's line format so existing log watchers and grep habits keep working.
//!
//! Files are opened for each line, as cl_log does: logrotate can move them at any time
//! without a signal.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Where and how to log, from ha.cf.
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub logfile: Option<PathBuf>,
    pub debugfile: Option<PathBuf>,
    /// syslog facility code (already shifted: LOG_DAEMON = 3 << 3), if any.
    pub facility: Option<i32>,
    pub syslogmsgfmt: bool,
    /// `debug` level; > 0 enables debug lines (to debugfile only).
    pub debug: u8,
    /// Also write to stderr (foreground runs without any configured destination).
    pub stderr: bool,
    pub entity: String,
    pub hostname: String,
}

pub fn facility_code(name: &str) -> Option<i32> {
    let n = match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    };
    Some(n << 3)
}

struct HaLogLayer {
    cfg: LogConfig,
    syslog: Mutex<Option<UnixDatagram>>,
    /// /dev/log (a test points it elsewhere).
    syslog_path: PathBuf,
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    extra: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.extra, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{:?}", value);
        } else {
            let _ = write!(self.extra, " {}={:?}", field.name(), value);
        }
    }
}

/// heartbeat's priority words (cl_log's prio names).
fn prio_word(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "info",
        _ => "debug",
    }
}

fn syslog_severity(level: &Level) -> i32 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Broken-down local time for `tm`-style formatting.
fn local_tm(secs: i64) -> libc::tm {
    // SAFETY: localtime_r only writes into the zeroed tm we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs as libc::time_t;
        libc::localtime_r(&t, &mut tm);
        tm
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `Nov 26 09:52:14` (syslog style).
pub fn syslog_stamp(secs: i64) -> String {
    let tm = local_tm(secs);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[(tm.tm_mon.clamp(0, 11)) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `2026/11/26_09:52:14` (heartbeat's own style).
pub fn ha_stamp(secs: i64) -> String {
    let tm = local_tm(secs);
    format!(
        "{:04}/{:02}/{:02}_{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

impl HaLogLayer {
    fn file_line(&self, level: &Level, text: &str, secs: i64) -> String {
        let pid = std::process::id();
        if self.cfg.syslogmsgfmt {
            format!(
                "{} {} {}: [{}]: {}: {}\n",
                syslog_stamp(secs),
                self.cfg.hostname,
                self.cfg.entity,
                pid,
                prio_word(level),
                text
            )
        } else {
            format!(
                "{}[{}]: {} {}: {}\n",
                self.cfg.entity,
                pid,
                ha_stamp(secs),
                prio_word(level),
                text
            )
        }
    }

    fn append(path: &PathBuf, line: &str) {
        if path.as_os_str() == "/dev/null" {
            return;
        }
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// What cluster-glue's cl_log hands to syslog(3) (ident = entity, no LOG_PID;
    /// the pid and priority word lead the message): `<PRI>Mmm dd hh:mm:ss
    /// heartbeat: [pid]: WARN: text`.
    fn syslog_datagram(&self, facility: i32, level: &Level, text: &str, secs: i64) -> String {
        format!(
            "<{}>{} {}: [{}]: {}: {}",
            facility | syslog_severity(level),
            syslog_stamp(secs),
            self.cfg.entity,
            std::process::id(),
            prio_word(level),
            text
        )
    }

    fn to_syslog(&self, facility: i32, level: &Level, text: &str, secs: i64) {
        let line = self.syslog_datagram(facility, level, text, secs);
        let mut guard = match self.syslog.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // A restarted syslog daemon binds a new socket: reconnect once and resend.
        for _ in 0..2 {
            if guard.is_none() {
                if let Ok(sock) = UnixDatagram::unbound() {
                    if sock.connect(&self.syslog_path).is_ok() {
                        *guard = Some(sock);
                    }
                }
            }
            match guard.as_ref() {
                Some(sock) if sock.send(line.as_bytes()).is_ok() => return,
                Some(_) => *guard = None,
                None => return,
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for HaLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        let is_debug = level > Level::INFO;
        if is_debug && self.cfg.debug == 0 {
            return;
        }
        let mut v = LineVisitor::default();
        event.record(&mut v);
        let text = format!("{}{}", v.message, v.extra);
        let secs = now_secs();
        let line = self.file_line(&level, &text, secs);
        if !is_debug {
            if let Some(p) = &self.cfg.logfile {
                Self::append(p, &line);
            }
            if let Some(fac) = self.cfg.facility {
                self.to_syslog(fac, &level, &text, secs);
            }
        }
        if let Some(p) = &self.cfg.debugfile {
            Self::append(p, &line);
        }
        if self.cfg.stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(cfg: LogConfig) {
    // A global level filter lets tracing skip disabled debug! call sites entirely
    // (cached per call site) instead of building an event per packet for nothing.
    let level = if cfg.debug > 0 {
        tracing_subscriber::filter::LevelFilter::DEBUG
    } else {
        tracing_subscriber::filter::LevelFilter::INFO
    };
    let layer = HaLogLayer {
        cfg,
        syslog: Mutex::new(None),
        syslog_path: PathBuf::from("/dev/log"),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(level))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(syslogmsgfmt: bool) -> HaLogLayer {
        HaLogLayer {
            cfg: LogConfig {
                logfile: None,
                debugfile: None,
                facility: None,
                syslogmsgfmt,
                debug: 0,
                stderr: false,
                entity: "heartbeat".into(),
                hostname: "alpha".into(),
            },
            syslog: Mutex::new(None),
            syslog_path: PathBuf::from("/nonexistent/log"),
        }
    }

    #[test]
    fn syslog_gets_cluster_glues_message_with_facility_and_severity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut l = layer(true);
        l.syslog_path = path.clone();
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let local0 = facility_code("local0").unwrap();
        l.to_syslog(local0, &Level::WARN, "node bravo: is dead", 0);
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        let pid = std::process::id();
        // local0 (16 << 3) | LOG_WARNING (4)
        assert_eq!(
            got,
            format!(
                "<132>{} heartbeat: [{pid}]: WARN: node bravo: is dead",
                syslog_stamp(0)
            )
        );
        // syslogd restarted: a new socket at the same path still gets the next line.
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        l.to_syslog(local0, &Level::INFO, "Link bravo:eth0 up.", 0);
        let n = rx.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(got.starts_with("<134>"), "local0 | LOG_INFO: {got}");
        assert!(got.ends_with(": info: Link bravo:eth0 up."), "{got}");
        // No syslog at all: nothing breaks.
        l.syslog_path = dir.path().join("absent");
        *l.syslog.lock().unwrap() = None;
        l.to_syslog(local0, &Level::ERROR, "still fine", 0);
    }

    #[test]
    fn syslog_style_line_matches_heartbeat() {
        let line = layer(true).file_line(&Level::INFO, "Link bravo:eth0 up.", 0);
        let pid = std::process::id();
        assert!(
            line.ends_with(&format!(
                " alpha heartbeat: [{pid}]: info: Link bravo:eth0 up.\n"
            )),
            "{line}"
        );
        assert_eq!(&line[3..4], " ");
    }

    #[test]
    fn ha_style_line_matches_heartbeat() {
        let line = layer(false).file_line(&Level::WARN, "node bravo: is dead", 0);
        let pid = std::process::id();
        assert!(line.starts_with(&format!("heartbeat[{pid}]: ")), "{line}");
        assert!(line.ends_with(" WARN: node bravo: is dead\n"), "{line}");
    }

    #[test]
    fn facilities_map_to_syslog_codes() {
        assert_eq!(facility_code("daemon"), Some(24));
        assert_eq!(facility_code("local7"), Some(184));
        assert_eq!(facility_code("bogus"), None);
    }
}
