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

    fn to_syslog(&self, facility: i32, level: &Level, text: &str, secs: i64) {
        let mut guard = match self.syslog.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if guard.is_none() {
            if let Ok(sock) = UnixDatagram::unbound() {
                if sock.connect("/dev/log").is_ok() {
                    *guard = Some(sock);
                }
            }
        }
        if let Some(sock) = guard.as_ref() {
            let line = format!(
                "<{}>{} {}[{}]: {}: {}",
                facility | syslog_severity(level),
                syslog_stamp(secs),
                self.cfg.entity,
                std::process::id(),
                prio_word(level),
                text
            );
            if sock.send(line.as_bytes()).is_err() {
                *guard = None;
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
        }
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
