//! OCF 1.0 plumbing shared by every agent: exit codes, the calling
//! environment, logging in the `ocf_log` style, and meta-data XML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

/// OCF exit codes (`ocf-returncodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcfRc {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
}

impl OcfRc {
    /// The process exit status for this result.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An action that failed, with the OCF code to exit with and the text that
/// becomes the `ocf-exit-reason:` line.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct AgentError {
    pub rc: OcfRc,
    pub reason: String,
}

impl AgentError {
    pub fn new(rc: OcfRc, reason: impl Into<String>) -> Self {
        AgentError {
            rc,
            reason: reason.into(),
        }
    }
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrGeneric, reason)
    }
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(OcfRc::ErrConfigured, reason)
    }
}

/// What an action returns: a code on success (0, or 7 for a stopped monitor)
/// or an error carrying its own code.
pub type AgentResult = Result<OcfRc, AgentError>;

/// The environment an agent was called with: action, instance, parameters
/// (`OCF_RESKEY_*`) and the op's meta attributes.
#[derive(Debug, Clone)]
pub struct OcfEnv {
    pub action: String,
    pub instance: String,
    pub params: BTreeMap<String, String>,
    /// `OCF_RESKEY_CRM_meta_interval` in ms; unset means "probe" like ocf-shellfuncs.
    pub interval_ms: Option<u64>,
    /// `OCF_RESKEY_CRM_meta_timeout` in ms.
    pub timeout_ms: Option<u64>,
    /// `$HA_RSCTMP`, where state and pid files live.
    pub rsctmp: PathBuf,
    /// Called the OCF way (`OCF_RA_VERSION_MAJOR` set) without an instance
    /// name, which ocf-shellfuncs refuses with exit 2.
    pub instance_missing: bool,
}

/// Default `$HA_RSCTMP` (tmpfiles.d creates it on Debian).
pub const DEFAULT_RSCTMP: &str = "/run/resource-agents";

impl OcfEnv {
    /// Reads the environment of this process.
    pub fn from_process(action: &str) -> Self {
        let mut params = BTreeMap::new();
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                continue;
            };
            if let Some(name) = k.strip_prefix("OCF_RESKEY_") {
                if !name.starts_with("CRM_meta_") {
                    params.insert(name.to_string(), v.to_string());
                }
            }
        }
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        // Like ocf-shellfuncs: an unset instance means "called as an init
        // script" and becomes "default"; meta-data documents RESOURCE_ID.
        let given = std::env::var("OCF_RESOURCE_INSTANCE")
            .ok()
            .filter(|i| !i.is_empty());
        let instance_missing =
            given.is_none() && std::env::var_os("OCF_RA_VERSION_MAJOR").is_some();
        let instance = match given {
            Some(i) => i,
            None if action == "meta-data" => "RESOURCE_ID".to_string(),
            None => "default".to_string(),
        };
        OcfEnv {
            action: action.to_string(),
            instance,
            params,
            interval_ms: num("OCF_RESKEY_CRM_meta_interval"),
            timeout_ms: num("OCF_RESKEY_CRM_meta_timeout"),
            rsctmp: rsctmp(),
            instance_missing,
        }
    }

    /// A parameter, `None` when unset or empty (the shell agents treat both alike).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter with its meta-data default applied.
    pub fn param_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.param(name).unwrap_or(default)
    }

    /// A boolean parameter, with the spellings `ocf_is_true` accepts.
    pub fn param_bool(&self, name: &str, default: bool) -> bool {
        match self.param(name) {
            Some(v) => is_true(v),
            None => default,
        }
    }

    /// An integer parameter; a non-number is a configuration error.
    pub fn param_u64(&self, name: &str, default: u64) -> Result<u64, AgentError> {
        match self.param(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                AgentError::configured(format!("Invalid {name} \"{v}\": not a number"))
            }),
        }
    }

    /// A monitor with interval 0 (or none) is a probe (`ocf_is_probe`).
    pub fn is_probe(&self) -> bool {
        self.action == "monitor" && self.interval_ms.unwrap_or(0) == 0
    }
}

/// `$HA_RSCTMP` or its default.
pub fn rsctmp() -> PathBuf {
    match std::env::var_os("HA_RSCTMP") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_RSCTMP),
    }
}

/// `ocf_is_true`: yes/true/1/on (any case).
pub fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "1" | "on" | "y"
    )
}

/// Log severities understood by `ocf_log`.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Err,
}

/// Logs like `ocf_log` with no facility configured: a dated line on stderr,
/// and appended to `$HA_LOGFILE` when that is set.
pub fn log(level: Level, msg: &str) {
    let tag = match level {
        Level::Info => "INFO",
        Level::Warn => "WARNING",
        Level::Err => "ERROR",
    };
    log_line(&format!("{tag}: {msg}"));
}

/// Logs a line that already carries its severity tag (`ha_log` style).
pub fn log_line(msg: &str) {
    let line = format!("{} {msg}\n", timestamp());
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("HA_LOGFILE").filter(|p| !p.is_empty()) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// `date "+%b %d %T"` in local time.
fn timestamp() -> String {
    let now = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as libc::time_t,
        Err(_) => 0,
    };
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 64];
    // SAFETY: localtime_r writes into our tm; strftime writes at most
    // buf.len() bytes into buf and the format string is NUL-terminated.
    let n = unsafe {
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%b %d %T".as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Prints the exit reason in the form Pacemaker parses from stderr.
pub fn exit_reason(reason: &str) {
    let prefix = std::env::var("OCF_EXIT_REASON_PREFIX")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ocf-exit-reason:".to_string());
    // One line only: Pacemaker takes the text up to the end of the line.
    let reason = reason.replace('\n', " ");
    eprintln!("{prefix}{reason}");
}

/// One `<parameter>` of the meta-data.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
    pub unique: bool,
    /// string | integer | boolean | time (the DTD's types).
    pub ty: &'static str,
    pub default: Option<String>,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
}

impl Param {
    /// A string parameter that is neither required nor unique.
    pub fn new(name: &'static str, shortdesc: &'static str, longdesc: &'static str) -> Self {
        Param {
            name,
            required: false,
            unique: false,
            ty: "string",
            default: None,
            shortdesc,
            longdesc,
        }
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    pub fn ty(mut self, ty: &'static str) -> Self {
        self.ty = ty;
        self
    }
    pub fn default(mut self, d: impl Into<String>) -> Self {
        self.default = Some(d.into());
        self
    }
}

/// One `<action>` of the meta-data.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: &'static str,
    pub timeout: &'static str,
    pub interval: Option<&'static str>,
    pub depth: Option<&'static str>,
}

impl Action {
    pub fn new(name: &'static str, timeout: &'static str) -> Self {
        Action {
            name,
            timeout,
            interval: None,
            depth: None,
        }
    }
    pub fn monitor(timeout: &'static str, interval: &'static str) -> Self {
        Action {
            name: "monitor",
            timeout,
            interval: Some(interval),
            depth: Some("0"),
        }
    }
}

/// An agent's OCF 1.0 meta-data (valid per `ra-api-1.dtd`).
#[derive(Debug, Clone)]
pub struct MetaData {
    pub name: &'static str,
    pub shortdesc: &'static str,
    pub longdesc: &'static str,
    pub params: Vec<Param>,
    pub actions: Vec<Action>,
}

/// Escapes text for XML character data and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

impl MetaData {
    /// Renders the XML, with the DOCTYPE line ocf-tester's xmllint needs.
    pub fn to_xml(&self) -> String {
        let mut x = String::new();
        let _ = writeln!(x, "<?xml version=\"1.0\"?>");
        let _ = writeln!(x, "<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">");
        let _ = writeln!(x, "<resource-agent name=\"{}\" version=\"1.0\">", self.name);
        let _ = writeln!(x, "<version>1.0</version>\n");
        let _ = writeln!(
            x,
            "<longdesc lang=\"en\">\n{}\n</longdesc>",
            xml_escape(self.longdesc)
        );
        let _ = writeln!(
            x,
            "<shortdesc lang=\"en\">{}</shortdesc>\n",
            xml_escape(self.shortdesc)
        );
        let _ = writeln!(x, "<parameters>");
        for p in &self.params {
            let _ = writeln!(
                x,
                "<parameter name=\"{}\" unique=\"{}\" required=\"{}\">",
                p.name, p.unique as u8, p.required as u8
            );
            let _ = writeln!(
                x,
                "<longdesc lang=\"en\">\n{}\n</longdesc>",
                xml_escape(p.longdesc)
            );
            let _ = writeln!(
                x,
                "<shortdesc lang=\"en\">{}</shortdesc>",
                xml_escape(p.shortdesc)
            );
            match &p.default {
                Some(d) => {
                    let _ = writeln!(
                        x,
                        "<content type=\"{}\" default=\"{}\" />",
                        p.ty,
                        xml_escape(d)
                    );
                }
                None => {
                    let _ = writeln!(x, "<content type=\"{}\" />", p.ty);
                }
            }
            let _ = writeln!(x, "</parameter>\n");
        }
        let _ = writeln!(x, "</parameters>\n");
        let _ = writeln!(x, "<actions>");
        for a in &self.actions {
            let _ = write!(x, "<action name=\"{}\" timeout=\"{}\"", a.name, a.timeout);
            if let Some(i) = a.interval {
                let _ = write!(x, " interval=\"{i}\"");
            }
            if let Some(d) = a.depth {
                let _ = write!(x, " depth=\"{d}\"");
            }
            let _ = writeln!(x, " />");
        }
        let _ = writeln!(x, "</actions>");
        let _ = writeln!(x, "</resource-agent>");
        x
    }

    /// Whether `action` is advertised (and therefore implemented).
    pub fn has_action(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a.name == action)
    }
}

/// An OCF agent: its meta-data and its actions.
pub trait Agent {
    /// The meta-data; `env` supplies instance-dependent defaults.
    fn metadata(&self, env: &OcfEnv) -> MetaData;
    /// Runs an advertised action other than meta-data.
    fn action(&self, env: &OcfEnv) -> AgentResult;
}

/// Runs one OCF action and returns the exit status, printing meta-data,
/// usage text and the exit reason as the shell agents do.
pub fn run(agent: &dyn Agent, env: &OcfEnv) -> i32 {
    let md = agent.metadata(env);
    let action = env.action.as_str();
    match action {
        "meta-data" => {
            print!("{}", md.to_xml());
            return 0;
        }
        "usage" | "help" => {
            println!("{}", usage(&md));
            return 0;
        }
        _ => {}
    }
    if action.is_empty() || !md.has_action(action) {
        // Unknown actions are "unimplemented"; the usage goes to stdout like Dummy's.
        println!("{}", usage(&md));
        return OcfRc::ErrUnimplemented.code();
    }
    if env.instance_missing {
        log(Level::Err, "Need to tell us our resource instance name.");
        return OcfRc::ErrArgs.code();
    }
    match agent.action(env) {
        Ok(rc) => rc.code(),
        Err(e) => {
            // Probes stay quiet like ocf_exit_reason does in a probe.
            if !env.is_probe() {
                log(Level::Err, &e.reason);
            }
            exit_reason(&e.reason);
            e.rc.code()
        }
    }
}

fn usage(md: &MetaData) -> String {
    let names: Vec<&str> = md.actions.iter().map(|a| a.name).collect();
    format!(
        "usage: {} {{{}}}\n\nExpects to have a fully populated OCF RA-compliant environment set.",
        md.name,
        names.join("|")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_in_defaults() {
        let md = MetaData {
            name: "T",
            shortdesc: "a<b",
            longdesc: "x & y",
            params: vec![Param::new("p", "s", "l").default("\"<>\"")],
            actions: vec![Action::new("start", "20s")],
        };
        let x = md.to_xml();
        assert!(x.contains("default=\"&quot;&lt;&gt;&quot;\""));
        assert!(x.contains("<shortdesc lang=\"en\">a&lt;b</shortdesc>"));
        assert!(x.contains("x &amp; y"));
        assert!(x.contains("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">"));
    }

    #[test]
    fn truthy_values() {
        assert!(is_true("Yes") && is_true("1") && is_true("on"));
        assert!(!is_true("false") && !is_true("0") && !is_true(""));
    }
}
