//! Plugin log messages. cluster-glue plugins log through `PILCallLog`;
//! the CLI prints them as `<level>: <text>`. A process installs its own
//! sink (e.g. a daemon forwarding to syslog) with [`set_sink`].

use std::sync::{Mutex, OnceLock};

/// cluster-glue log levels, printed as the original prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `WARN`
    Warn,
    /// `ERROR`
    Error,
    /// `CRIT`
    Crit,
}

impl Level {
    /// The label the `stonith` CLI prints.
    pub fn label(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Crit => "CRIT",
        }
    }
}

/// A log sink.
pub type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

fn sink() -> &'static Mutex<Option<Sink>> {
    static SINK: OnceLock<Mutex<Option<Sink>>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(None))
}

/// Replace the process-wide sink; without one, messages of level info
/// and above go to stderr.
pub fn set_sink(s: Sink) {
    if let Ok(mut g) = sink().lock() {
        *g = Some(s);
    }
}

/// Emit one message.
pub fn log(level: Level, msg: &str) {
    match sink().lock() {
        Ok(g) => match g.as_ref() {
            Some(f) => f(level, msg),
            None if level >= Level::Info => eprintln!("{}: {}", level.label(), msg),
            None => {}
        },
        Err(_) => eprintln!("{}: {}", level.label(), msg),
    }
}
