//! webserver: manages `ra-agents httpd-server` (the tutorial's `httpd`
//! role). Monitor is a real HTTP GET with bounded timeouts, so a hung
//! server is reported as failed instead of hanging the monitor (reference
//! 4.6: the shell agents' HTTP checks have no timeout of their own).

use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::httpd;
use crate::ocf::{
    self, Action, Agent, AgentError, AgentResult, Level, MetaData, OcfEnv, OcfRc, Param,
};
use crate::procs::{self, PidFile, PidState};

/// The webserver agent.
pub struct WebServer;

struct Config {
    port: u16,
    bind: IpAddr,
    root: Option<PathBuf>,
    pidfile: PidFile,
    logfile: PathBuf,
}

fn default_pidfile(env: &OcfEnv) -> PathBuf {
    env.rsctmp.join(format!("webserver-{}.pid", env.instance))
}

fn config(env: &OcfEnv) -> Result<Config, AgentError> {
    let port = env.param_u64("port", 80)?;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| AgentError::configured(format!("port {port} is out of range")))?;
    let bind_s = env.param_or("bind", "0.0.0.0");
    let bind = bind_s.parse().map_err(|_| {
        AgentError::configured(format!("bind address {bind_s:?} is not an IP address"))
    })?;
    Ok(Config {
        port,
        bind,
        root: env.param("root").map(PathBuf::from),
        pidfile: PidFile::new(
            env.param("pidfile")
                .map(PathBuf::from)
                .unwrap_or_else(|| default_pidfile(env)),
        ),
        logfile: PathBuf::from(env.param_or("logfile", "/dev/null")),
    })
}

/// Where monitor connects: the bind address, or loopback for a wildcard bind.
fn probe_addr(c: &Config) -> SocketAddr {
    let ip = if c.bind.is_unspecified() {
        match c.bind {
            IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(_) => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        }
    } else {
        c.bind
    };
    SocketAddr::new(ip, c.port)
}

fn status(c: &Config) -> PidState {
    c.pidfile
        .state(|pid| procs::cmdline(pid).iter().any(|a| a == "httpd-server"))
}

fn http_check(c: &Config) -> Result<(), AgentError> {
    let addr = probe_addr(c);
    match httpd::http_get(addr, "/", Duration::from_secs(5)) {
        Ok((code, _)) if (200..400).contains(&code) => Ok(()),
        Ok((code, _)) => Err(AgentError::generic(format!(
            "GET http://{addr}/ answered {code}"
        ))),
        Err(e) => Err(AgentError::generic(format!(
            "GET http://{addr}/ failed: {e}"
        ))),
    }
}

fn monitor(c: &Config) -> AgentResult {
    match status(c) {
        PidState::Absent => Ok(OcfRc::NotRunning),
        PidState::Stale(pid) => Err(AgentError::generic(format!(
            "{} names pid {pid}, which is not our httpd-server any more",
            c.pidfile.path.display()
        ))),
        PidState::Running(_) => http_check(c).map(|_| OcfRc::Success),
    }
}

fn start(env: &OcfEnv, c: &Config) -> AgentResult {
    if let PidState::Running(pid) = status(c) {
        if http_check(c).is_ok() {
            return Ok(OcfRc::Success);
        }
        // Ours but not answering (hung): replace it rather than start a
        // second server next to it.
        ocf::log(
            Level::Warn,
            &format!("httpd-server pid {pid} does not answer; restarting it"),
        );
        if !procs::terminate(pid, Duration::from_secs(2), Duration::from_secs(2)) {
            return Err(AgentError::generic(format!(
                "hung httpd-server pid {pid} did not die"
            )));
        }
    }
    let _ = c.pidfile.remove();
    let exe = std::env::current_exe()
        .map_err(|e| AgentError::new(OcfRc::ErrInstalled, format!("locating ra-agents: {e}")))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&c.logfile)
        .map_err(|e| AgentError::generic(format!("opening {}: {e}", c.logfile.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| AgentError::generic(format!("duplicating log descriptor: {e}")))?;
    let mut cmd = Command::new(&exe);
    cmd.arg0("ra-agents")
        .arg("httpd-server")
        .arg("--port")
        .arg(c.port.to_string())
        .arg("--bind")
        .arg(c.bind.to_string())
        .arg("--pidfile")
        .arg(&c.pidfile.path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    if let Some(r) = &c.root {
        cmd.arg("--root").arg(r);
    }
    // SAFETY: setsid is async-signal-safe; the server must outlive the
    // agent and not share its process group.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| AgentError::generic(format!("starting httpd-server: {e}")))?;
    let pid = child.id() as i32;
    drop(child);
    // Wait until it answers, bounded by the op timeout (default 20 s).
    let limit = Duration::from_millis(env.timeout_ms.unwrap_or(20_000))
        .saturating_sub(Duration::from_secs(1));
    let deadline = Instant::now() + limit;
    loop {
        if !procs::alive(pid) {
            let _ = c.pidfile.remove();
            return Err(AgentError::generic(format!(
                "httpd-server exited during start (port {} busy or not permitted? see {})",
                c.port,
                c.logfile.display()
            )));
        }
        if matches!(status(c), PidState::Running(_)) && http_check(c).is_ok() {
            ocf::log(
                Level::Info,
                &format!("httpd-server pid {pid} serving {}", probe_addr(c)),
            );
            return Ok(OcfRc::Success);
        }
        if Instant::now() >= deadline {
            procs::terminate(pid, Duration::from_secs(1), Duration::from_secs(1));
            let _ = c.pidfile.remove();
            return Err(AgentError::generic(
                "httpd-server did not answer HTTP in time",
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(c: &Config) -> AgentResult {
    if let PidState::Running(pid) = status(c) {
        if !procs::terminate(pid, Duration::from_secs(5), Duration::from_secs(5)) {
            return Err(AgentError::generic(format!(
                "httpd-server pid {pid} did not die"
            )));
        }
    }
    c.pidfile
        .remove()
        .map_err(|e| AgentError::generic(format!("removing {}: {e}", c.pidfile.path.display())))?;
    Ok(OcfRc::Success)
}

fn validate(c: &Config) -> AgentResult {
    if let Some(r) = &c.root {
        if !r.is_dir() {
            return Err(AgentError::new(
                OcfRc::ErrInstalled,
                format!(
                    "document root {} is not a directory on this node",
                    r.display()
                ),
            ));
        }
    }
    Ok(OcfRc::Success)
}

impl Agent for WebServer {
    fn metadata(&self, env: &OcfEnv) -> MetaData {
        MetaData {
            name: "webserver",
            shortdesc: "Manages the ra-agents static web server",
            longdesc: "Runs \"ra-agents httpd-server\", a small static HTTP server whose default \
                       index page names the node that answered. Monitor performs a real HTTP GET \
                       of / on the configured address and port.",
            params: vec![
                Param::new("port", "Listen port", "TCP port to listen on.")
                    .ty("integer")
                    .default("80"),
                Param::new("bind", "Listen address", "IP address to listen on (0.0.0.0 for all).")
                    .default("0.0.0.0"),
                Param::new("root", "Document root",
                    "Directory whose files are served. Without it (or without an index.html in it) \
                     / shows a page naming the node."),
                Param::new("pidfile", "Pid file", "Where the server's pid is recorded.")
                    .unique()
                    .default(default_pidfile(env).display().to_string()),
                Param::new("logfile", "Log file", "Where the server's stdout and stderr go.")
                    .default("/dev/null"),
            ],
            actions: vec![
                Action::new("start", "20s"),
                Action::new("stop", "20s"),
                Action::monitor("20s", "10s"),
                Action::new("meta-data", "5s"),
                Action::new("validate-all", "5s"),
            ],
        }
    }

    fn action(&self, env: &OcfEnv) -> AgentResult {
        let c = match config(env) {
            Ok(c) => c,
            Err(_) if env.action == "stop" => return Ok(OcfRc::Success),
            Err(e) => return Err(e),
        };
        match env.action.as_str() {
            "start" => validate(&c).and_then(|_| start(env, &c)),
            "stop" => stop(&c),
            "monitor" => monitor(&c),
            "validate-all" => validate(&c),
            other => Err(AgentError::new(
                OcfRc::ErrUnimplemented,
                format!("unsupported action {other}"),
            )),
        }
    }
}
