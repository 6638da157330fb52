//! anything: supervises an arbitrary command as a daemon with a pid file.
//!
//! Unlike the shell original, the process is identified by pid *and*
//! kernel start time (reference 6.7), zombies count as dead, the command
//! is started directly (no login shell whose output could corrupt the pid
//! file), and stop signals the daemon's whole session so its children go
//! too.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ocf::{
    self, Action, Agent, AgentError, AgentResult, Level, MetaData, OcfEnv, OcfRc, Param,
};
use crate::procs::{self, PidFile, PidState};

/// The anything agent.
pub struct Anything;

struct Config {
    binfile: String,
    options: String,
    workdir: Option<PathBuf>,
    pidfile: PidFile,
    logfile: PathBuf,
    errlogfile: Option<PathBuf>,
    user: String,
    monitor_hook: Option<String>,
    stop_timeout: Option<u64>,
}

fn default_pidfile(instance: &str) -> String {
    format!("/var/run/anything_{instance}.pid")
}

fn config(env: &OcfEnv) -> Result<Config, AgentError> {
    let binfile = env
        .param("binfile")
        .ok_or_else(|| AgentError::configured("binfile is mandatory"))?
        .to_string();
    let stop_timeout = match env.param("stop_timeout") {
        None => None,
        Some(_) => Some(env.param_u64("stop_timeout", 0)?),
    };
    Ok(Config {
        binfile,
        options: env.param_or("cmdline_options", "").to_string(),
        workdir: env.param("workdir").map(PathBuf::from),
        pidfile: PidFile::new(
            env.param("pidfile")
                .map(str::to_string)
                .unwrap_or_else(|| default_pidfile(&env.instance)),
        ),
        logfile: PathBuf::from(env.param_or("logfile", "/dev/null")),
        errlogfile: env.param("errlogfile").map(PathBuf::from),
        user: env.param_or("user", "root").to_string(),
        monitor_hook: env.param("monitor_hook").map(str::to_string),
        stop_timeout,
    })
}

/// Finds `binfile` the way the shell would (absolute, or on $PATH).
fn resolve_bin(bin: &str) -> Option<PathBuf> {
    let exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if bin.contains('/') {
        let p = PathBuf::from(bin);
        return exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| exec(p))
}

/// Without an identity record, a pid whose command line mentions the
/// binary's file name is taken to be ours.
fn looks_like(c: &Config) -> impl Fn(i32) -> bool + '_ {
    move |pid| {
        let name = Path::new(&c.binfile)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        procs::cmdline(pid)
            .iter()
            .take(2)
            .any(|a| a.contains(&name))
    }
}

fn status(c: &Config) -> PidState {
    c.pidfile.state(looks_like(c))
}

fn monitor(c: &Config) -> AgentResult {
    match status(c) {
        PidState::Absent => Ok(OcfRc::NotRunning),
        PidState::Stale(pid) => Err(AgentError::generic(format!(
            "{} names pid {pid}, which is not {} any more (died or recycled)",
            c.pidfile.path.display(),
            c.binfile
        ))),
        PidState::Running(_) => match &c.monitor_hook {
            None => Ok(OcfRc::Success),
            Some(hook) => {
                let st = Command::new("/bin/sh")
                    .arg("-c")
                    .arg(hook)
                    .status()
                    .map_err(|e| AgentError::generic(format!("monitor_hook: {e}")))?;
                if st.success() {
                    Ok(OcfRc::Success)
                } else {
                    Err(AgentError::generic(format!("monitor_hook failed: {st}")))
                }
            }
        },
    }
}

fn open_log(path: &Path) -> Result<std::fs::File, AgentError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| AgentError::generic(format!("opening log {}: {e}", path.display())))
}

fn start(env: &OcfEnv, c: &Config) -> AgentResult {
    if let PidState::Running(_) = status(c) {
        return Ok(OcfRc::Success);
    }
    let bin = resolve_bin(&c.binfile).ok_or_else(|| {
        AgentError::new(
            OcfRc::ErrInstalled,
            format!("{} is not installed or not executable", c.binfile),
        )
    })?;
    let user = nix::unistd::User::from_name(&c.user)
        .map_err(|e| AgentError::generic(format!("looking up user {}: {e}", c.user)))?
        .ok_or_else(|| {
            AgentError::new(OcfRc::ErrArgs, format!("user {} does not exist", c.user))
        })?;
    let _ = c.pidfile.remove();
    if let Some(dir) = c.pidfile.path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| AgentError::generic(format!("creating {}: {e}", dir.display())))?;
    }
    let stdout = open_log(&c.logfile)?;
    let stderr = match &c.errlogfile {
        Some(p) => open_log(p)?,
        None => stdout
            .try_clone()
            .map_err(|e| AgentError::generic(format!("duplicating log descriptor: {e}")))?,
    };
    // cmdline_options is shell syntax in the original (word splitting,
    // quotes); `exec` keeps the daemon's pid equal to the one we record.
    let script = format!("exec \"$0\" {}", c.options);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .arg(&bin)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if let Some(wd) = &c.workdir {
        cmd.current_dir(wd);
    }
    if !user.uid.is_root() {
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        cmd.env("HOME", &user.dir)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
    }
    // SAFETY: setsid is async-signal-safe; a new session detaches the
    // daemon from the agent's process group (which a runner kills on
    // timeout) and lets stop signal the daemon together with its children.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| AgentError::generic(format!("starting {}: {e}", c.binfile)))?;
    let pid = child.id() as i32;
    // Dropping the handle does not wait; the daemon is reaped by init once
    // we exit.
    drop(child);
    c.pidfile
        .write(pid)
        .map_err(|e| AgentError::generic(format!("writing {}: {e}", c.pidfile.path.display())))?;
    // A command that dies at once (bad options) must fail start, not the
    // first monitor.
    std::thread::sleep(Duration::from_millis(100));
    if !procs::alive(pid) {
        let _ = c.pidfile.remove();
        return Err(AgentError::generic(format!(
            "{} exited immediately after start",
            c.binfile
        )));
    }
    ocf::log(
        Level::Info,
        &format!("{} started with pid {pid} ({})", c.binfile, env.instance),
    );
    Ok(OcfRc::Success)
}

fn stop(env: &OcfEnv, c: &Config) -> AgentResult {
    if let PidState::Running(pid) = status(c) {
        // Like the original: stop_timeout, else 2/3 of the op timeout, else 10 s.
        let grace = match (c.stop_timeout, env.timeout_ms) {
            (Some(s), _) => Duration::from_secs(s),
            (None, Some(ms)) => Duration::from_millis(ms / 1500 * 1000),
            (None, None) => Duration::from_secs(10),
        };
        // The KILL wait is bounded too: an unkillable process (D state) is a
        // failed stop, which the cluster must learn about rather than hang.
        if !procs::terminate(pid, grace, Duration::from_secs(5)) {
            return Err(AgentError::generic(format!(
                "{} (pid {pid}) did not die after SIGKILL",
                c.binfile
            )));
        }
    }
    c.pidfile
        .remove()
        .map_err(|e| AgentError::generic(format!("removing {}: {e}", c.pidfile.path.display())))?;
    Ok(OcfRc::Success)
}

fn validate(c: &Config) -> AgentResult {
    if resolve_bin(&c.binfile).is_none() {
        return Err(AgentError::new(
            OcfRc::ErrInstalled,
            format!("binfile {} does not exist or is not executable", c.binfile),
        ));
    }
    match nix::unistd::User::from_name(&c.user) {
        Ok(Some(_)) => {}
        _ => {
            return Err(AgentError::new(
                OcfRc::ErrArgs,
                format!("user {} does not exist", c.user),
            ))
        }
    }
    if let Some(wd) = &c.workdir {
        if !wd.is_dir() {
            return Err(AgentError::new(
                OcfRc::ErrArgs,
                format!("workdir {} is not a directory", wd.display()),
            ));
        }
    }
    Ok(OcfRc::Success)
}

impl Agent for Anything {
    fn metadata(&self, env: &OcfEnv) -> MetaData {
        MetaData {
            name: "anything",
            shortdesc: "Manages an arbitrary service",
            longdesc: "This is a generic OCF RA to manage almost anything: it runs binfile as a \
                       daemon, records its pid (and start time, to recognise recycled pids) in pidfile, \
                       and stops it with SIGTERM then SIGKILL.",
            params: vec![
                Param::new("binfile", "Full path name of the binary to be executed",
                    "The full name of the binary to be executed. This is expected to keep running \
                     with the same pid and not just do something and exit.")
                    .required()
                    .unique(),
                Param::new("cmdline_options", "Command line options",
                    "Command line options to pass to the binary (shell syntax)."),
                Param::new("workdir", "Full path name of the work directory",
                    "The path from where the binfile will be executed."),
                Param::new("pidfile", "File to write STDOUT to",
                    "File to read/write the PID from/to.")
                    .default(default_pidfile(&env.instance)),
                Param::new("logfile", "File to write STDOUT to",
                    "File to write STDOUT to.")
                    .default("/dev/null"),
                Param::new("errlogfile", "File to write STDERR to",
                    "File to write STDERR to; defaults to logfile."),
                Param::new("user", "User to run the command as",
                    "User to run the command as.")
                    .default("root"),
                Param::new("monitor_hook", "Command to run in monitor operation",
                    "Shell command run by monitor after the process check; a non-zero \
                     exit makes monitor fail."),
                Param::new("stop_timeout", "Seconds to wait after having sent SIGTERM before sending SIGKILL in stop operation",
                    "Seconds between SIGTERM and SIGKILL on stop. Defaults to 2/3 of the stop \
                     operation's timeout, or 10 seconds.")
                    .ty("integer"),
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
            "stop" => stop(env, &c),
            "monitor" => monitor(&c),
            "validate-all" => validate(&c),
            other => Err(AgentError::new(
                OcfRc::ErrUnimplemented,
                format!("unsupported action {other}"),
            )),
        }
    }
}
