//! `/etc/ha.d/monitors`: per-resource monitoring (ours, not heartbeat 3.0.6's).
//!
//! haresources and ha.cf are shared with Debian heartbeat nodes in mixed
//! clusters, so nothing new may go into them; monitoring settings live in this
//! separate, optional file instead. One line per resource:
//!
//! ```text
//! # resource (as written in haresources, or its script name)   settings
//! default                     interval=10s timeout=20s restarts=3 window=10min
//! httpd                       interval=2s timeout=5s
//! IPaddr::10.0.0.10/24/eth0   interval=5s
//! Filesystem::/dev/sdb1::/data::ext4  interval=0      # 0 = not monitored
//! ```
//!
//! The first word names a resource exactly as written in haresources, in its
//! `script::arg` form, or by script name; `default` (reserved) sets what other
//! lines leave out. Settings are `key=value` with keys `interval` (0 disables
//! monitoring), `timeout`, `restarts` (in-place repairs before the group fails
//! over) and `window` (the period `restarts` is counted over). For one
//! resource each key comes from the most specific line that sets it: as
//! written, then `script::args`, then script name, then `default`.
//!
//! Time values are heartbeat's (a bare number is seconds; `ms`, `us`) plus
//! `s`/`sec`, `m`/`min` and `h`/`hr`, which a file written by hand wants.
//! Unknown keys, bad values, lines without settings and duplicate resource
//! names are errors naming the line. A name that matches no haresources
//! resource is only a warning ([`Monitors::unmatched`]): the file may outlive
//! an edit of haresources, and refusing to start the cluster over an unused
//! line would turn a leftover into an outage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::haresources::{Resource, ResourceGroup};
use crate::time;

/// The reserved resource name of the line holding the defaults.
pub const DEFAULT_NAME: &str = "default";

/// Settings of one line; `None` where the line does not set the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Time between two monitors in ms; 0 disables monitoring.
    pub interval_ms: Option<u64>,
    /// Time allowed to one monitor in ms (never 0).
    pub timeout_ms: Option<u64>,
    /// Failed monitors repaired in place within `window_ms` before the group fails over.
    pub restarts: Option<u32>,
    /// The period `restarts` is counted over, in ms (never 0).
    pub window_ms: Option<u64>,
}

impl MonitorSettings {
    /// Keys set here win; the others come from `base`.
    pub fn or(self, base: MonitorSettings) -> MonitorSettings {
        MonitorSettings {
            interval_ms: self.interval_ms.or(base.interval_ms),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
            restarts: self.restarts.or(base.restarts),
            window_ms: self.window_ms.or(base.window_ms),
        }
    }
}

/// One resource line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEntry {
    /// The resource name as written in the monitors file.
    pub resource: String,
    /// What the line sets.
    pub settings: MonitorSettings,
    /// 1-based line number.
    pub line: usize,
}

/// A parsed monitors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitors {
    /// Where it was read from (for messages).
    pub file: PathBuf,
    /// The `default` line's settings (all `None` without one).
    pub default: MonitorSettings,
    /// Resource lines in file order (the `default` line excluded).
    pub entries: Vec<MonitorEntry>,
}

impl Monitors {
    /// The settings for `r`, merged key by key from the most specific line
    /// (as written, `script::args`, script name) down to `default`.
    pub fn settings_for(&self, r: &Resource) -> MonitorSettings {
        let find = |name: &str| {
            self.entries
                .iter()
                .find(|e| e.resource == name)
                .map(|e| e.settings)
                .unwrap_or_default()
        };
        let text = r.to_string();
        let canonical = r.canonical();
        let mut s = find(&text);
        if canonical != text {
            s = s.or(find(&canonical));
        }
        if r.script != text && r.script != canonical {
            s = s.or(find(&r.script));
        }
        s.or(self.default)
    }

    /// Lines naming no resource of `groups`, as warnings located in the file.
    pub fn unmatched(&self, groups: &[ResourceGroup]) -> Vec<ConfigError> {
        self.entries
            .iter()
            .filter(|e| {
                !groups.iter().flat_map(|g| &g.resources).any(|r| {
                    e.resource == r.to_string()
                        || e.resource == r.canonical()
                        || e.resource == r.script
                })
            })
            .map(|e| {
                ConfigError::invalid(
                    &self.file,
                    e.line,
                    format!(
                        "Resource [{}] matches no resource of haresources (line ignored)",
                        e.resource
                    ),
                )
            })
            .collect()
    }
}

/// Reads and parses a monitors file; `Ok(None)` when it does not exist
/// (monitoring then uses the built-in defaults).
pub fn load(path: &Path) -> Result<Option<Monitors>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&String::from_utf8_lossy(&bytes), path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::io(path, e)),
    }
}

/// Parses monitors text; `file` is used in error messages.
pub fn parse(text: &str, file: &Path) -> Result<Monitors, ConfigError> {
    let mut default: Option<(MonitorSettings, usize)> = None;
    let mut entries: Vec<MonitorEntry> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let content = raw.split_once('#').map_or(raw, |(head, _)| head);
        let mut words = content.split_ascii_whitespace();
        let Some(name) = words.next() else {
            continue;
        };
        if let Some(first) = seen.insert(name.to_string(), line) {
            return Err(ConfigError::invalid(
                file,
                line,
                format!("Duplicate resource [{name}] (first at line {first})"),
            ));
        }
        let mut settings = MonitorSettings::default();
        let mut any = false;
        for word in words {
            set(&mut settings, word, file, line)?;
            any = true;
        }
        if !any {
            return Err(ConfigError::invalid(
                file,
                line,
                format!(
                    "Resource [{name}] has no settings (interval=, timeout=, restarts=, window=)"
                ),
            ));
        }
        if name == DEFAULT_NAME {
            default = Some((settings, line));
        } else {
            entries.push(MonitorEntry {
                resource: name.to_string(),
                settings,
                line,
            });
        }
    }
    Ok(Monitors {
        file: file.to_path_buf(),
        default: default.map(|(s, _)| s).unwrap_or_default(),
        entries,
    })
}

/// Applies one `key=value` word.
fn set(s: &mut MonitorSettings, word: &str, file: &Path, line: usize) -> Result<(), ConfigError> {
    let Some((key, value)) = word.split_once('=') else {
        return Err(ConfigError::invalid(
            file,
            line,
            format!("Setting [{word}] is not key=value"),
        ));
    };
    let bad = |reason: String| ConfigError::value(file, line, key, value, reason);
    let twice = || ConfigError::invalid(file, line, format!("Setting [{key}] given twice"));
    match key {
        "interval" => {
            let v = duration_ms(value).map_err(bad)?;
            s.interval_ms.replace(v).map_or(Ok(()), |_| Err(twice()))
        }
        "timeout" | "window" => {
            let v = duration_ms(value).map_err(bad)?;
            if v == 0 {
                return Err(bad("must be more than 0".to_string()));
            }
            let slot = if key == "timeout" {
                &mut s.timeout_ms
            } else {
                &mut s.window_ms
            };
            slot.replace(v).map_or(Ok(()), |_| Err(twice()))
        }
        "restarts" => {
            let v: u32 = value
                .parse()
                .map_err(|_| bad("not a whole number".to_string()))?;
            s.restarts.replace(v).map_or(Ok(()), |_| Err(twice()))
        }
        _ => Err(ConfigError::invalid(
            file,
            line,
            format!("Unknown setting [{key}] (interval, timeout, restarts, window)"),
        )),
    }
}

/// A time value: heartbeat's (bare seconds, `ms`, `us`) or with `s`, `min`, `h`.
fn duration_ms(value: &str) -> Result<u64, String> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hr" | "hrs" => 3600,
        // Bare seconds, ms, us and every rejection: heartbeat's own parser.
        _ => return time::parse_msec(value).map_err(|e| e.to_string()),
    };
    let ms = time::parse_msec(number).map_err(|e| e.to_string())?;
    ms.checked_mul(factor)
        .ok_or_else(|| format!("time value [{value}] is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haresources;

    const FILE: &str = "/etc/ha.d/monitors";

    fn p(text: &str) -> Result<Monitors, ConfigError> {
        parse(text, Path::new(FILE))
    }

    fn err(text: &str) -> ConfigError {
        match p(text) {
            Ok(m) => panic!("accepted: {text:?} -> {m:?}"),
            Err(e) => e,
        }
    }

    const GOOD: &str = "\
# resource (as written in haresources, or its script name)   settings
default                     interval=10s timeout=20s restarts=3 window=10min

httpd                       interval=2s timeout=5s
IPaddr::10.0.0.10/24/eth0   interval=5s
Filesystem::/dev/sdb1::/data::ext4  interval=0      # 0 = not monitored
IPaddr                      timeout=1500ms restarts=0
";

    fn groups() -> Vec<ResourceGroup> {
        haresources::parse(
            "node1 IPaddr::10.0.0.10/24/eth0 httpd\n\
             node2 10.0.0.20 Filesystem::/dev/sdb1::/data::ext4 mysql\n",
            Path::new("/etc/ha.d/haresources"),
        )
        .expect("haresources")
    }

    #[test]
    fn good_file() {
        let m = p(GOOD).expect("parses");
        assert_eq!(
            m.default,
            MonitorSettings {
                interval_ms: Some(10_000),
                timeout_ms: Some(20_000),
                restarts: Some(3),
                window_ms: Some(600_000),
            }
        );
        let names: Vec<(&str, usize)> = m
            .entries
            .iter()
            .map(|e| (e.resource.as_str(), e.line))
            .collect();
        assert_eq!(
            names,
            [
                ("httpd", 4),
                ("IPaddr::10.0.0.10/24/eth0", 5),
                ("Filesystem::/dev/sdb1::/data::ext4", 6),
                ("IPaddr", 7)
            ]
        );
        assert_eq!(m.entries[0].settings.interval_ms, Some(2_000));
        assert_eq!(m.entries[0].settings.timeout_ms, Some(5_000));
        assert_eq!(m.entries[0].settings.restarts, None);
        assert_eq!(m.entries[2].settings.interval_ms, Some(0));
        assert!(m.unmatched(&groups()).is_empty());
    }

    #[test]
    fn settings_merge_from_the_most_specific_line() {
        let m = p(GOOD).expect("parses");
        let g = groups();
        let vip = &g[0].resources[0];
        // Own line's interval, IPaddr's timeout and restarts, default window.
        assert_eq!(
            m.settings_for(vip),
            MonitorSettings {
                interval_ms: Some(5_000),
                timeout_ms: Some(1_500),
                restarts: Some(0),
                window_ms: Some(600_000),
            }
        );
        // A bare address is IPaddr: script line, then defaults.
        let bare = &g[1].resources[0];
        assert_eq!(m.settings_for(bare).interval_ms, Some(10_000));
        assert_eq!(m.settings_for(bare).timeout_ms, Some(1_500));
        let fs = &g[1].resources[1];
        assert_eq!(m.settings_for(fs).interval_ms, Some(0));
        let mysql = &g[1].resources[2];
        assert_eq!(m.settings_for(mysql), m.default);
    }

    #[test]
    fn canonical_form_names_a_bare_address() {
        let m = p("IPaddr::10.0.0.20 interval=1\n").expect("parses");
        let g = groups();
        assert_eq!(m.settings_for(&g[1].resources[0]).interval_ms, Some(1_000));
        assert!(m.unmatched(&g).is_empty());
    }

    #[test]
    fn time_units() {
        for (v, ms) in [
            ("2", 2_000),
            ("2s", 2_000),
            ("2sec", 2_000),
            ("1.5s", 1_500),
            ("250ms", 250),
            ("250msec", 250),
            ("1500us", 2),
            ("10min", 600_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("0", 0),
        ] {
            assert_eq!(duration_ms(v), Ok(ms), "{v}");
        }
        for v in ["", "s", "ten", "5 days", "-1", "10x", "1e3"] {
            assert!(duration_ms(v).is_err(), "{v:?} accepted");
        }
        assert!(duration_ms(&format!("{}h", "9".repeat(17))).is_err());
    }

    #[test]
    fn no_default_line_leaves_defaults_unset() {
        let m = p("httpd interval=1s\n").expect("parses");
        assert_eq!(m.default, MonitorSettings::default());
        let m = p("").expect("empty file");
        assert!(m.entries.is_empty());
    }

    fn assert_at(e: &ConfigError, line: usize, text: &str) {
        assert_eq!(e.line, line, "{e}");
        let s = e.to_string();
        assert!(s.contains(text), "{s}");
        assert!(s.contains(&format!("{FILE} line {line}")), "{s}");
    }

    #[test]
    fn every_error_names_the_line() {
        assert_at(&err("# x\nhttpd color=red\n"), 2, "Unknown setting [color]");
        assert_at(
            &err("httpd interval=fast\n"),
            1,
            "Invalid interval value [fast]",
        );
        assert_at(&err("\nhttpd timeout=0\n"), 2, "Invalid timeout value [0]");
        assert_at(&err("httpd window=0\n"), 1, "Invalid window value [0]");
        assert_at(
            &err("httpd restarts=-1\n"),
            1,
            "Invalid restarts value [-1]",
        );
        assert_at(
            &err("httpd restarts=two\n"),
            1,
            "Invalid restarts value [two]",
        );
        assert_at(
            &err("httpd interval 2s\n"),
            1,
            "Setting [interval] is not key=value",
        );
        assert_at(&err("httpd\n"), 1, "Resource [httpd] has no settings");
        assert_at(&err("httpd # interval=1\n"), 1, "has no settings");
        assert_at(
            &err("httpd interval=1\n\nhttpd timeout=2\n"),
            3,
            "Duplicate resource [httpd] (first at line 1)",
        );
        assert_at(
            &err("default interval=1\ndefault interval=2\n"),
            2,
            "Duplicate resource [default]",
        );
        assert_at(
            &err("httpd interval=1 interval=2\n"),
            1,
            "Setting [interval] given twice",
        );
    }

    #[test]
    fn unmatched_names_are_warnings_with_line() {
        let m =
            p("httpd interval=1\nhttdp interval=1\nIPaddr::10.9.9.9 interval=1\n").expect("parses");
        let w = m.unmatched(&groups());
        assert_eq!(w.len(), 2);
        assert_at(&w[0], 2, "Resource [httdp] matches no resource");
        assert_at(&w[1], 3, "[IPaddr::10.9.9.9]");
    }

    #[test]
    fn load_absent_is_none_and_present_is_parsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("monitors");
        assert!(load(&path).expect("absent is fine").is_none());
        std::fs::write(&path, "httpd interval=1s timeout=5s\n").expect("write");
        let m = load(&path).expect("loads").expect("present");
        assert_eq!(m.entries[0].settings.timeout_ms, Some(5_000));
        assert_eq!(m.file, path);
        std::fs::write(&path, "httpd interval=soon\n").expect("write");
        let e = load(&path).expect_err("bad value");
        assert_eq!(e.file, path);
        assert_eq!(e.line, 1);
        // A directory in its place is an I/O error, not "absent".
        let d = dir.path().join("sub");
        std::fs::create_dir(&d).expect("mkdir");
        assert!(load(&d).is_err());
    }
}
