//! Running one agent operation: environment, argv, process group, timeout,
//! bounded output capture and result mapping.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::rc::{self, OcfRc};
use crate::roots::Roots;
use crate::spec::{AgentSpec, Class};

/// Default bytes kept per stream (stdout, stderr); the rest is counted and dropped.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 * 1024;
/// Default time between SIGTERM and SIGKILL on timeout (cluster-glue lrmd: 5 s).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);
/// Prefix agents put before their exit reason on stderr.
pub const EXIT_REASON_PREFIX: &str = "ocf-exit-reason:";
/// PATH given to agents when the runner itself has none.
pub const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// OCF API version announced to agents. cluster-glue's lrmd and heartbeat's
/// wrappers said 1.0; 1.1 would make Pacemaker-era agents expect
/// reload-agent semantics that our resource managers do not implement.
pub const OCF_RA_VERSION: (u32, u32) = (1, 0);
/// Most positional parameters a heartbeat-class script gets (lrmd's argv of 40
/// minus name, action and terminator).
pub const MAX_HEARTBEAT_ARGS: usize = 37;

/// One operation to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRequest {
    pub spec: AgentSpec,
    /// `start`, `stop`, `monitor`, `meta-data`, ... (`monitor` is sent as
    /// `status` to LSB and heartbeat-class scripts).
    pub action: String,
    /// OCF: exported as `OCF_RESKEY_<name>`. Heartbeat class: keys `"1"`,
    /// `"2"`, ... become positional arguments in order. LSB: ignored.
    pub params: BTreeMap<String, String>,
    /// `OCF_RESOURCE_INSTANCE`; left unset when empty (meta-data).
    pub instance: String,
    /// Recurring interval, exported as `OCF_RESKEY_CRM_meta_interval` (ms);
    /// zero makes a monitor a probe.
    pub interval: Duration,
    /// Kill the agent's group after this long; zero means no timeout.
    /// Always exported as `OCF_RESKEY_CRM_meta_timeout` (ms).
    pub timeout: Duration,
    /// `OCF_CHECK_LEVEL` (unprefixed) when set.
    pub check_level: Option<u32>,
    /// Extra environment, applied last (it can override anything above).
    pub env: BTreeMap<String, String>,
    /// SIGTERM → SIGKILL delay on timeout or cancel.
    pub kill_grace: Duration,
    /// Bytes kept per output stream.
    pub output_limit: usize,
    /// Run as `(uid, gid)` instead of the runner's own user (supplementary
    /// groups are dropped). ocf-tester uses it for its "nobody" check.
    pub credentials: Option<(u32, u32)>,
}

impl OpRequest {
    /// A request with no parameters, a 20 s timeout (Pacemaker's default op
    /// timeout), interval 0, and the default grace and output limit.
    pub fn new(spec: AgentSpec, action: &str) -> OpRequest {
        OpRequest {
            spec,
            action: action.to_string(),
            params: BTreeMap::new(),
            instance: String::new(),
            interval: Duration::ZERO,
            timeout: Duration::from_secs(20),
            check_level: None,
            env: BTreeMap::new(),
            kill_grace: DEFAULT_KILL_GRACE,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            credentials: None,
        }
    }

    /// The action the script is really called with (`monitor` → `status`
    /// for LSB and heartbeat class, as lrmd did).
    pub fn effective_action(&self) -> &str {
        match (self.spec.class, self.action.as_str()) {
            (Class::Lsb | Class::Heartbeat, "monitor") => "status",
            _ => &self.action,
        }
    }
}

/// How an operation ended (cluster-glue's `op_status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStatus {
    /// The agent exited by itself; `rc` is meaningful.
    Done,
    /// The timeout expired and the group was signalled. Reported even when
    /// the agent then exits by itself (lrmd said DONE when an agent trapped
    /// SIGTERM): an op that overran its timeout must not look successful.
    TimedOut,
    /// `Running::cancel` was called before it finished.
    Cancelled,
    /// The agent file does not exist (rc 5).
    NotInstalled,
    /// It could not be executed, or died from a signal nobody sent.
    Error(String),
}

/// What the process did, before any class mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RawExit {
    Exited(i32),
    Signaled(i32),
    /// Never ran (missing agent, exec failure, synthesized meta-data).
    NotStarted,
}

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// OCF-numbered result after the class mapping (LSB status, heartbeat
    /// status text, OCF clamping). 1 for timeouts and signals.
    pub rc: i32,
    pub status: OpStatus,
    /// `rc` by name.
    pub outcome: OcfRc,
    pub raw: RawExit,
    /// The first `output_limit` bytes of stdout.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes read past the limit and dropped.
    pub stdout_truncated: u64,
    pub stderr_truncated: u64,
    /// Last `ocf-exit-reason:` line on stderr (OCF class only).
    pub exit_reason: Option<String>,
    pub duration: Duration,
    pub pid: Option<u32>,
}

impl OpResult {
    /// stdout as text (lossy).
    pub fn stdout_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }
    /// stderr as text (lossy).
    pub fn stderr_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    fn not_started(status: OpStatus, rc: i32, stdout: Vec<u8>, started: Instant) -> OpResult {
        OpResult {
            rc,
            status,
            outcome: OcfRc::from_code(rc),
            raw: RawExit::NotStarted,
            stdout,
            stderr: Vec::new(),
            stdout_truncated: 0,
            stderr_truncated: 0,
            exit_reason: None,
            duration: started.elapsed(),
            pid: None,
        }
    }
}

/// The runner itself failed (the agent's own failures are `OpResult`s).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{spec} {action}: invalid request: {reason}")]
    InvalidRequest {
        spec: String,
        action: String,
        reason: String,
    },
    #[error("{spec} {action}: cannot start {path}: {source}")]
    Spawn {
        spec: String,
        action: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{spec} {action} (pid {pid}): {what}: {source}")]
    Io {
        spec: String,
        action: String,
        pid: u32,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// The part of agents' environment that comes from the runner's own: inherited
/// variables pass through, as lrmd passed its own environment (heartbeat exports
/// `HA_LOGFACILITY`, `HA_LOGFILE`, `HA_debug`... to its children this way), except any
/// `OCF_*`/`__OCF_*` so that a stale value in the daemon's environment cannot leak into
/// an agent. `PATH` and `HA_LOGD` get defaults if missing.
///
/// A daemon that runs many agents captures it once ([`BaseEnv::capture`]) and passes it
/// to [`spawn_with_env`]: copying the whole process environment for every op was a
/// measurable part of lrmd's CPU time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseEnv {
    vars: Vec<(OsString, OsString)>,
    /// `NAME=value` C strings of `vars`, in the same order, built once.
    entries: Vec<std::ffi::CString>,
}

impl BaseEnv {
    /// From the current process environment.
    pub fn capture() -> BaseEnv {
        BaseEnv::from_vars(std::env::vars_os())
    }

    /// From the given variables (a later duplicate wins).
    pub fn from_vars<I>(inherited: I) -> BaseEnv
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let mut env: BTreeMap<OsString, OsString> = inherited
            .into_iter()
            .filter(|(k, _)| {
                let k = k.as_bytes();
                !(k.starts_with(b"OCF_") || k.starts_with(b"__OCF_"))
            })
            .collect();
        env.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.into());
        env.entry("HA_LOGD".into()).or_insert_with(|| "no".into());
        // Names and values from the OS environment cannot contain NUL; anything else
        // that does is dropped rather than passed truncated.
        let vars: Vec<(OsString, OsString)> = env
            .into_iter()
            .filter(|(k, v)| !k.as_bytes().contains(&0) && !v.as_bytes().contains(&0))
            .collect();
        let entries = vars
            .iter()
            .filter_map(|(k, v)| {
                let mut b = Vec::with_capacity(k.len() + v.len() + 1);
                b.extend_from_slice(k.as_bytes());
                b.push(b'=');
                b.extend_from_slice(v.as_bytes());
                std::ffi::CString::new(b).ok()
            })
            .collect();
        BaseEnv { vars, entries }
    }

    /// The variables, sorted by name.
    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }
}

/// Builds the agent's environment from the runner's own (`inherited`).
///
/// [`BaseEnv::from_vars`]`(inherited)`, then for OCF agents `OCF_ROOT`,
/// `OCF_RA_VERSION_MAJOR/MINOR`, `OCF_RESOURCE_INSTANCE` (if not empty),
/// `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`, `OCF_EXIT_REASON_PREFIX`,
/// `OCF_RESKEY_<param>`, `OCF_RESKEY_CRM_meta_interval` and `_timeout` in
/// milliseconds (always, so that a monitor is a probe only when the interval
/// really is 0) and `OCF_CHECK_LEVEL`. `req.env` is applied last.
pub fn agent_env<I>(req: &OpRequest, roots: &Roots, inherited: I) -> BTreeMap<OsString, OsString>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut env: BTreeMap<OsString, OsString> =
        BaseEnv::from_vars(inherited).vars.into_iter().collect();
    op_vars(req, roots, |k, v| {
        env.insert(k.into(), v.into());
    });
    env
}

/// Calls `set` for each variable the request adds on top of the [`BaseEnv`], in the
/// order they apply (a later one overrides an earlier one of the same name).
fn op_vars(req: &OpRequest, roots: &Roots, mut set: impl FnMut(&str, &str)) {
    if req.spec.class == Class::Ocf {
        set("OCF_ROOT", &roots.ocf_root.to_string_lossy());
        set("OCF_RA_VERSION_MAJOR", &OCF_RA_VERSION.0.to_string());
        set("OCF_RA_VERSION_MINOR", &OCF_RA_VERSION.1.to_string());
        if !req.instance.is_empty() {
            set("OCF_RESOURCE_INSTANCE", &req.instance);
        }
        let type_name = req
            .spec
            .agent_type
            .rsplit('/')
            .next()
            .unwrap_or(&req.spec.agent_type);
        set("OCF_RESOURCE_TYPE", type_name);
        if let Some(p) = &req.spec.provider {
            set("OCF_RESOURCE_PROVIDER", p);
        }
        set("OCF_EXIT_REASON_PREFIX", EXIT_REASON_PREFIX);
        for (k, v) in &req.params {
            set(&format!("OCF_RESKEY_{k}"), v);
        }
        set(
            "OCF_RESKEY_CRM_meta_interval",
            &req.interval.as_millis().to_string(),
        );
        set(
            "OCF_RESKEY_CRM_meta_timeout",
            &req.timeout.as_millis().to_string(),
        );
        if let Some(level) = req.check_level {
            set("OCF_CHECK_LEVEL", &level.to_string());
        }
    }
    for (k, v) in &req.env {
        set(k, v);
    }
}

/// argv after the program: OCF and LSB get the action only; heartbeat class
/// gets params `"1"`..`"N"` (N = number of params; gaps skipped) then the action.
pub fn agent_args(req: &OpRequest) -> Vec<String> {
    let action = req.effective_action().to_string();
    match req.spec.class {
        Class::Ocf | Class::Lsb => vec![action],
        Class::Heartbeat => {
            let mut args: Vec<String> = (1..=req.params.len())
                .filter_map(|i| req.params.get(&i.to_string()).cloned())
                .collect();
            args.push(action);
            args
        }
    }
}

fn validate(req: &OpRequest) -> Result<(), String> {
    let bad_name = |k: &str| k.is_empty() || k.contains('=') || k.contains('\0');
    if req.action.is_empty() || req.action.contains('\0') {
        return Err("empty or NUL-containing action".into());
    }
    for (k, v) in req.params.iter().chain(req.env.iter()) {
        if bad_name(k) {
            return Err(format!(
                "parameter name {k:?} cannot be an environment variable"
            ));
        }
        if v.contains('\0') {
            return Err(format!("parameter {k:?} contains NUL"));
        }
    }
    if req.instance.contains('\0') {
        return Err("instance name contains NUL".into());
    }
    if req.spec.class == Class::Heartbeat && req.params.len() > MAX_HEARTBEAT_ARGS {
        return Err(format!(
            "{} parameters; heartbeat-class scripts take at most {MAX_HEARTBEAT_ARGS}",
            req.params.len()
        ));
    }
    Ok(())
}

/// Runs `req` to completion (blocking the calling thread, no extra threads).
pub fn run(req: &OpRequest, roots: &Roots) -> Result<OpResult, RunError> {
    spawn(req, roots)?.wait()
}

/// Starts `req` and returns a handle to drive it without blocking. The agent's
/// environment is built from the process environment as it is now.
pub fn spawn(req: &OpRequest, roots: &Roots) -> Result<Running, RunError> {
    spawn_with_env(req, roots, &BaseEnv::capture())
}

/// [`spawn`] with the inherited part of the environment given (see [`BaseEnv`]).
pub fn spawn_with_env(req: &OpRequest, roots: &Roots, base: &BaseEnv) -> Result<Running, RunError> {
    let started = Instant::now();
    let invalid = |reason: String| RunError::InvalidRequest {
        spec: req.spec.to_string(),
        action: req.action.clone(),
        reason,
    };
    validate(req).map_err(invalid)?;

    // lrmd never ran LSB/heartbeat scripts for meta-data: it made it up.
    if req.action == "meta-data" && req.spec.class != Class::Ocf {
        let path = roots.agent_path(&req.spec);
        let immediate = if !path.is_file() {
            OpResult::not_started(OpStatus::NotInstalled, 5, Vec::new(), started)
        } else {
            let xml = crate::metadata::synthesize(&req.spec, roots);
            OpResult::not_started(OpStatus::Done, 0, xml.into_bytes(), started)
        };
        return Ok(Running::immediate(req, immediate));
    }

    // A missing agent (or a directory in its place) is found out by the spawn itself
    // below rather than by a stat first: one syscall less on every op.
    let path = roots.agent_path(&req.spec);
    let not_installed = || {
        tracing::warn!(spec = %req.spec, action = %req.action, path = %path.display(), "resource agent not installed");
        let r = OpResult::not_started(OpStatus::NotInstalled, 5, Vec::new(), started);
        Ok(Running::immediate(req, r))
    };
    if req.spec.class == Class::Lsb && !req.params.is_empty() && req.effective_action() != "status"
    {
        tracing::warn!(spec = %req.spec, "LSB init scripts take no parameters; ignoring them");
    }

    let args = agent_args(req);
    tracing::debug!(spec = %req.spec, action = %req.action, path = %path.display(), ?args, "running resource agent");
    let spawned = match req.credentials {
        Some((uid, gid)) => spawn_as(&path, &args, base, req, roots, uid, gid),
        None => {
            mark_inherited_fds_cloexec();
            retry_busy(|| spawn_direct(&path, &args, base, req, roots))
        }
    };
    let (mut child, stdout, stderr) = match spawned {
        Ok(c) => c,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::EISDIR) | Some(libc::ENOTDIR) => not_installed(),
                // execve(2) says EACCES for a directory.
                Some(libc::EACCES) if path.is_dir() => not_installed(),
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ENOEXEC) => {
                    let r = OpResult::not_started(
                        OpStatus::Error(format!("cannot execute {}: {e}", path.display())),
                        if e.raw_os_error() == Some(libc::ENOEXEC) {
                            1
                        } else {
                            4
                        },
                        Vec::new(),
                        started,
                    );
                    Ok(Running::immediate(req, r))
                }
                _ => Err(RunError::Spawn {
                    spec: req.spec.to_string(),
                    action: req.action.clone(),
                    path,
                    source: e,
                }),
            };
        }
    };
    let pid = child.id();
    let io_err = |what: &'static str, source: io::Error| RunError::Io {
        spec: req.spec.to_string(),
        action: req.action.clone(),
        pid,
        what,
        source,
    };
    let stdout = Some(stdout);
    let stderr = Some(stderr);
    for fd in stdout.iter().chain(stderr.iter()) {
        if let Err(e) = set_nonblocking(fd.as_raw_fd()) {
            // Not left unreaped or running unwatched.
            signal_group(pid, libc::SIGKILL);
            let _ = child.wait_blocking();
            return Err(io_err("set pipe non-blocking", e));
        }
    }
    let pidfd = pidfd_open(pid);
    Ok(Running {
        spec: req.spec.clone(),
        action: req.action.clone(),
        effective_action: req.effective_action().to_string(),
        instance: req.instance.clone(),
        started,
        deadline: (!req.timeout.is_zero()).then(|| started + req.timeout),
        grace: req.kill_grace,
        state: State::Running {
            child,
            stdout: Capture::new(stdout, req.output_limit),
            stderr: Capture::new(stderr, req.output_limit),
            pidfd,
            term_sent: None,
            kill_sent: None,
            cancelled: false,
        },
        retired: Vec::new(),
    })
}

/// Retries `spawn` briefly on ETXTBSY: the agent file can be transiently "busy" when
/// another thread of this process forked while the file was open for writing (the
/// descriptor is only closed at that child's exec), e.g. right after an agent was
/// installed or updated.
fn retry_busy<T>(mut spawn: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut attempt = 0;
    loop {
        match spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            other => return other,
        }
    }
}

/// A started agent process: its pid (= process group), reaped by us with `waitpid`.
struct AgentProc {
    pid: u32,
    status: Option<std::process::ExitStatus>,
}

impl AgentProc {
    fn id(&self) -> u32 {
        self.pid
    }

    /// `waitpid(pid, WNOHANG)`; the status is kept once reaped.
    fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        use std::os::unix::process::ExitStatusExt;
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        loop {
            let mut raw: libc::c_int = 0;
            // SAFETY: waitpid on our own child's pid with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut raw, libc::WNOHANG) };
            if r == 0 {
                return Ok(None);
            }
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let s = std::process::ExitStatus::from_raw(raw);
            self.status = Some(s);
            return Ok(Some(s));
        }
    }

    /// Reaps, waiting (only used right after a SIGKILL).
    fn wait_blocking(&mut self) -> io::Result<()> {
        loop {
            let mut raw: libc::c_int = 0;
            // SAFETY: as in try_wait, without WNOHANG.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut raw, 0) };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn cstring(what: &str, b: &[u8]) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(b)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{what} contains NUL")))
}

fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just created both; nobody else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Signals an agent starts with at their default disposition: an "ignore" inherited from
/// the daemon (Rust ignores SIGPIPE) would survive exec.
const DEFAULT_SIGNALS: [libc::c_int; 9] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGCHLD,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGPIPE,
];

/// Starts the agent with posix_spawn(3) (glibc: a vfork-style clone, so no copy of the
/// daemon's page tables per op) in a new process group, with an empty signal mask and
/// [`DEFAULT_SIGNALS`] reset, stdin on /dev/null and stdout/stderr on new pipes.
///
/// Done by hand rather than through `std::process::Command`: the environment is handed
/// over as pointers into the [`BaseEnv`] captured once plus the op's own variables,
/// where `Command` copied every variable into two maps and a new C array per op.
fn spawn_direct(
    path: &std::path::Path,
    args: &[String],
    base: &BaseEnv,
    req: &OpRequest,
    roots: &Roots,
) -> io::Result<(AgentProc, OwnedFd, OwnedFd)> {
    use std::ffi::CString;
    let prog = cstring("agent path", path.as_os_str().as_bytes())?;
    let mut argv_c: Vec<CString> = Vec::with_capacity(args.len() + 1);
    argv_c.push(prog.clone());
    for a in args {
        argv_c.push(cstring("argument", a.as_bytes())?);
    }
    // The op's variables (a later one wins), then every base variable they do not override.
    let mut extra: BTreeMap<String, String> = BTreeMap::new();
    op_vars(req, roots, |k, v| {
        extra.insert(k.to_string(), v.to_string());
    });
    let mut env_c: Vec<CString> = Vec::with_capacity(extra.len());
    for (k, v) in &extra {
        env_c.push(cstring("environment", format!("{k}={v}").as_bytes())?);
    }
    let mut envp: Vec<*const libc::c_char> =
        Vec::with_capacity(base.entries.len() + env_c.len() + 1);
    for entry in &base.entries {
        // Names cannot contain '=': the first one ends the name.
        let name = entry
            .as_bytes()
            .split(|&b| b == b'=')
            .next()
            .unwrap_or_default();
        let overridden = std::str::from_utf8(name).is_ok_and(|n| extra.contains_key(n));
        if !overridden {
            envp.push(entry.as_ptr());
        }
    }
    envp.extend(env_c.iter().map(|c| c.as_ptr()));
    envp.push(std::ptr::null());
    let mut argv: Vec<*mut libc::c_char> = argv_c
        .iter()
        .map(|c| c.as_ptr() as *mut libc::c_char)
        .collect();
    argv.push(std::ptr::null_mut());

    let (out_r, out_w) = pipe_cloexec()?;
    let (err_r, err_w) = pipe_cloexec()?;
    let null = dev_null_fd()?;

    // SAFETY: the file actions and attributes are initialised before use and destroyed on
    // every path; argv/envp are NULL-terminated arrays of pointers to C strings that
    // outlive the call; all descriptors named are open.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let r = libc::posix_spawn_file_actions_init(&mut fa);
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        let r = libc::posix_spawnattr_init(&mut attr);
        if r != 0 {
            libc::posix_spawn_file_actions_destroy(&mut fa);
            return Err(io::Error::from_raw_os_error(r));
        }
        let mut mask: libc::sigset_t = std::mem::zeroed();
        let mut dfl: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigemptyset(&mut dfl);
        for sig in DEFAULT_SIGNALS {
            libc::sigaddset(&mut dfl, sig);
        }
        let flags = libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        let mut pid: libc::pid_t = 0;
        let mut r = 0;
        for step in [
            libc::posix_spawn_file_actions_adddup2(&mut fa, null.as_raw_fd(), 0),
            libc::posix_spawn_file_actions_adddup2(&mut fa, out_w.as_raw_fd(), 1),
            libc::posix_spawn_file_actions_adddup2(&mut fa, err_w.as_raw_fd(), 2),
            libc::posix_spawnattr_setpgroup(&mut attr, 0),
            libc::posix_spawnattr_setsigmask(&mut attr, &mask),
            libc::posix_spawnattr_setsigdefault(&mut attr, &dfl),
            libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short),
        ] {
            if step != 0 {
                r = step;
                break;
            }
        }
        if r == 0 {
            r = libc::posix_spawn(
                &mut pid,
                prog.as_ptr(),
                &fa,
                &attr,
                argv.as_ptr(),
                envp.as_ptr() as *const *mut libc::c_char,
            );
        }
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok((
            AgentProc {
                pid: pid as u32,
                status: None,
            },
            out_r,
            err_r,
        ))
    }
}

/// Starts the agent as `uid:gid` (ocf-tester's "nobody" check) through `Command`, whose
/// pre_exec hook can drop privileges; forces a real fork, which is fine for a rare call.
fn spawn_as(
    path: &std::path::Path,
    args: &[String],
    base: &BaseEnv,
    req: &OpRequest,
    roots: &Roots,
    uid: u32,
    gid: u32,
) -> io::Result<(AgentProc, OwnedFd, OwnedFd)> {
    let mut cmd = Command::new(path);
    cmd.args(args).env_clear();
    for (k, v) in &base.vars {
        cmd.env(k, v);
    }
    op_vars(req, roots, |k, v| {
        cmd.env(k, v);
    });
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .uid(uid)
        .gid(gid);
    // SAFETY: the closure only calls async-signal-safe functions (setsid,
    // signal, syscall/fcntl) and allocates nothing.
    unsafe {
        cmd.pre_exec(child_setup);
    }
    let mut child: Child = retry_busy(|| cmd.spawn())?;
    let proc_ = AgentProc {
        pid: child.id(),
        status: None,
    };
    // Dropping std's Child neither waits nor kills: the pid is ours to reap from here.
    match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => Ok((proc_, OwnedFd::from(o), OwnedFd::from(e))),
        _ => Err(io::Error::other("agent pipes missing")),
    }
}

/// Marks every descriptor above stderr close-on-exec in this process, so that no
/// agent inherits one (Rust's own descriptors already are; this catches those
/// inherited from whoever started us).
fn mark_inherited_fds_cloexec() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        let max = std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
                    .max()
                    .unwrap_or(1024)
            })
            .unwrap_or(1024);
        for fd in 3..=max {
            // SAFETY: F_SETFD on a descriptor number that may or may not be open.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Runs in the forked child before exec (only when credentials must change).
fn child_setup() -> io::Result<()> {
    // Own session and process group, so that a timeout can kill everything
    // the agent started, and no terminal signals reach it.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    // Dispositions set to "ignore" survive exec; the agent must start clean.
    for sig in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGCHLD,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGPIPE,
    ] {
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // Close every inherited descriptor above stderr at exec. Marking them
    // close-on-exec rather than closing keeps std's exec-error pipe working.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        // Kernel < 5.11: walk the descriptor table.
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            lim.rlim_cur.min(1 << 16) as RawFd
        } else {
            1024
        };
        for fd in 3..max {
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

/// One `/dev/null` descriptor for every agent's stdin, opened on first use (a path
/// lookup per op showed in lrmd's profile).
fn dev_null_fd() -> io::Result<std::os::fd::BorrowedFd<'static>> {
    use std::os::fd::AsFd;
    static DEV_NULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = DEV_NULL.get() {
        return Ok(fd.as_fd());
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    Ok(DEV_NULL.get_or_init(|| OwnedFd::from(f)).as_fd())
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pollable descriptor that becomes readable when `pid` exits (Linux ≥ 5.3).
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0 as libc::c_uint) };
    if fd < 0 {
        None
    } else {
        // SAFETY: the kernel just gave us this descriptor and nobody else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}

/// One output pipe, read into a bounded buffer.
struct Capture {
    fd: Option<OwnedFd>,
    /// The pipe after EOF, until [`Running::close_retired`].
    closed: Option<OwnedFd>,
    kept: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl Capture {
    fn new(fd: Option<OwnedFd>, limit: usize) -> Capture {
        Capture {
            fd,
            closed: None,
            kept: Vec::new(),
            limit,
            dropped: 0,
        }
    }

    /// Reads what is available now (at most `MAX_DRAIN` bytes per call, so
    /// that a chatty agent cannot monopolise the caller); closes the pipe at EOF.
    fn drain(&mut self) -> io::Result<()> {
        const MAX_DRAIN: usize = 16 * 1024 * 1024;
        thread_local! {
            // One read buffer per thread: zeroing 64 KiB on the stack for every drain
            // (several per op) showed up in lrmd's profile.
            static SCRATCH: std::cell::RefCell<Vec<u8>> =
                std::cell::RefCell::new(vec![0u8; 64 * 1024]);
        }
        let Some(fd) = &self.fd else { return Ok(()) };
        let raw = fd.as_raw_fd();
        let eof = SCRATCH.with(|scratch| -> io::Result<bool> {
            let mut buf = scratch.borrow_mut();
            let mut total = 0usize;
            while total < MAX_DRAIN {
                // SAFETY: buf is valid for buf.len() bytes; raw is our open pipe.
                let n = unsafe { libc::read(raw, buf.as_mut_ptr().cast(), buf.len()) };
                if n == 0 {
                    return Ok(true);
                }
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Ok(false),
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(e),
                    }
                }
                let n = n as usize;
                total += n;
                let room = self.limit.saturating_sub(self.kept.len());
                let take = room.min(n);
                self.kept.extend_from_slice(&buf[..take]);
                self.dropped += (n - take) as u64;
            }
            Ok(false)
        })?;
        if eof {
            self.closed = self.fd.take();
        }
        Ok(())
    }
}

enum State {
    Running {
        child: AgentProc,
        stdout: Capture,
        stderr: Capture,
        pidfd: Option<OwnedFd>,
        term_sent: Option<Instant>,
        kill_sent: Option<Instant>,
        cancelled: bool,
    },
    Finished(Option<OpResult>),
}

/// A started operation. Drive it with [`Running::try_wait`] whenever one of
/// [`Running::poll_fds`] is readable or [`Running::next_wakeup`] has passed,
/// or block with [`Running::wait`].
///
/// The agent is reaped with `waitpid` on its own pid; a daemon that reaps
/// with `waitpid(-1)` elsewhere would steal the exit status.
pub struct Running {
    spec: AgentSpec,
    action: String,
    effective_action: String,
    instance: String,
    started: Instant,
    deadline: Option<Instant>,
    grace: Duration,
    state: State,
    /// Descriptors try_wait is done with, still open: a caller that registered them with
    /// a reactor deregisters them before [`Running::close_retired`] closes them (tokio
    /// leaks its registration if the descriptor is already closed).
    retired: Vec<OwnedFd>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("spec", &self.spec)
            .field("action", &self.action)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

/// How long to sleep between polls when the kernel has no pidfd.
const FALLBACK_POLL: Duration = Duration::from_millis(20);
/// After SIGKILL, how often to complain that the group will not die.
const WILL_NOT_DIE: Duration = Duration::from_secs(5);

impl Running {
    fn immediate(req: &OpRequest, result: OpResult) -> Running {
        Running {
            spec: req.spec.clone(),
            action: req.action.clone(),
            effective_action: req.effective_action().to_string(),
            instance: req.instance.clone(),
            started: Instant::now(),
            deadline: None,
            grace: req.kill_grace,
            state: State::Finished(Some(result)),
            retired: Vec::new(),
        }
    }

    /// Closes the descriptors try_wait has finished with (pipes at EOF, and all of them
    /// once the agent is reaped).
    fn close_retired(&mut self) {
        self.retired.clear();
        if let State::Running { stdout, stderr, .. } = &mut self.state {
            stdout.closed = None;
            stderr.closed = None;
        }
    }

    /// The agent this operation runs.
    pub fn spec(&self) -> &AgentSpec {
        &self.spec
    }

    /// The requested action (before `monitor` → `status` translation).
    pub fn action(&self) -> &str {
        &self.action
    }

    /// When the operation was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The agent's pid (= its process group and session id), if it was started.
    pub fn pid(&self) -> Option<u32> {
        match &self.state {
            State::Running { child, .. } => Some(child.id()),
            State::Finished(_) => None,
        }
    }

    /// Descriptors to poll for readability: the output pipes still open and,
    /// on Linux ≥ 5.3, a pidfd that becomes readable when the agent exits.
    pub fn poll_fds(&self) -> Vec<RawFd> {
        match &self.state {
            State::Running {
                stdout,
                stderr,
                pidfd,
                ..
            } => [&stdout.fd, &stderr.fd, pidfd]
                .into_iter()
                .flatten()
                .map(|fd| fd.as_raw_fd())
                .collect(),
            State::Finished(_) => Vec::new(),
        }
    }

    /// True when exit is signalled through [`Running::poll_fds`]; otherwise
    /// callers must also poll `try_wait` periodically.
    pub fn has_pidfd(&self) -> bool {
        matches!(&self.state, State::Running { pidfd: Some(_), .. })
    }

    /// The next instant at which `try_wait` has timer work to do (SIGTERM at
    /// the timeout, SIGKILL after the grace period).
    pub fn next_wakeup(&self) -> Option<Instant> {
        match &self.state {
            State::Finished(_) => Some(Instant::now()),
            State::Running {
                term_sent,
                kill_sent,
                pidfd,
                ..
            } => {
                let timer = match (term_sent, kill_sent) {
                    (None, _) => self.deadline,
                    (Some(t), None) => Some(*t + self.grace),
                    (Some(_), Some(k)) => Some(*k + WILL_NOT_DIE),
                };
                if pidfd.is_none() {
                    let soon = Instant::now() + FALLBACK_POLL;
                    Some(timer.map_or(soon, |t| t.min(soon)))
                } else {
                    timer
                }
            }
        }
    }

    /// Asks the agent's whole group to stop (SIGTERM, then SIGKILL after the
    /// grace period); the result will say `Cancelled`.
    pub fn cancel(&mut self) {
        if let State::Running {
            child,
            term_sent,
            cancelled,
            ..
        } = &mut self.state
        {
            *cancelled = true;
            if term_sent.is_none() {
                signal_group(child.id(), libc::SIGTERM);
                *term_sent = Some(Instant::now());
            }
        }
    }

    /// Reads available output, applies the timeout, and returns the result
    /// once the agent has exited. Never blocks.
    pub fn try_wait(&mut self) -> Result<Option<OpResult>, RunError> {
        let (spec, action, effective, instance, started, deadline, grace) = (
            &self.spec,
            &self.action,
            &self.effective_action,
            &self.instance,
            self.started,
            self.deadline,
            self.grace,
        );
        let State::Running {
            child,
            stdout,
            stderr,
            term_sent,
            kill_sent,
            cancelled,
            pidfd,
        } = &mut self.state
        else {
            return Ok(match &mut self.state {
                State::Finished(r) => r.take(),
                State::Running { .. } => None,
            });
        };
        let pid = child.id();
        let io_err = |what: &'static str, source: io::Error| RunError::Io {
            spec: spec.to_string(),
            action: action.clone(),
            pid,
            what,
            source,
        };
        stdout.drain().map_err(|e| io_err("reading stdout", e))?;
        stderr.drain().map_err(|e| io_err("reading stderr", e))?;

        // Until a signal was sent, nothing needs the group once its leader exited: reap
        // at once (one syscall per wakeup). After SIGTERM, look without reaping first:
        // while the leader is a zombie its pid (our group id) cannot be reused, so it is
        // safe to kill what is left of a timed-out group.
        let status = if term_sent.is_none() {
            child.try_wait().map_err(|e| io_err("waitpid", e))?
        } else if peek_exited(pid).map_err(|e| io_err("waitid", e))? {
            signal_group(pid, libc::SIGKILL);
            // waitid said it exited; if waitpid disagrees, look again later.
            match child.try_wait() {
                Ok(Some(s)) => Some(s),
                Ok(None) => return Ok(None),
                Err(e) => return Err(io_err("waitpid", e)),
            }
        } else {
            None
        };
        let Some(status) = status else {
            let now = Instant::now();
            match (*term_sent, *kill_sent) {
                (None, _) if deadline.is_some_and(|d| now >= d) => {
                    tracing::warn!(%spec, %action, instance = %instance, pid,
                        "operation timed out; sending SIGTERM to its process group");
                    signal_group(pid, libc::SIGTERM);
                    *term_sent = Some(now);
                }
                (Some(t), None) if now >= t + grace => {
                    tracing::warn!(%spec, %action, instance = %instance, pid,
                        "agent still running {:?} after SIGTERM; sending SIGKILL to its process group", grace);
                    signal_group(pid, libc::SIGKILL);
                    *kill_sent = Some(now);
                }
                (Some(_), Some(k)) if now >= k + WILL_NOT_DIE => {
                    tracing::error!(%spec, %action, pid, "agent process group will not die");
                    *kill_sent = Some(now);
                }
                _ => {}
            }
            return Ok(None);
        };
        // Whatever the agent wrote before exiting is in the pipe buffers now.
        // Background children may hold the pipes open forever: read what is
        // there and stop listening instead of waiting for EOF.
        stdout.drain().map_err(|e| io_err("reading stdout", e))?;
        stderr.drain().map_err(|e| io_err("reading stderr", e))?;

        use std::os::unix::process::ExitStatusExt;
        let raw = match (status.code(), status.signal()) {
            (Some(c), _) => RawExit::Exited(c),
            (None, Some(s)) => RawExit::Signaled(s),
            (None, None) => RawExit::Signaled(0),
        };
        let op_status = if *cancelled {
            OpStatus::Cancelled
        } else if term_sent.is_some() {
            OpStatus::TimedOut
        } else if let RawExit::Signaled(s) = raw {
            OpStatus::Error(format!("agent killed by signal {s}"))
        } else {
            OpStatus::Done
        };
        let rc = match raw {
            RawExit::Exited(code) if op_status == OpStatus::Done || *cancelled => {
                map_exit(spec.class, effective, code, &stdout.kept)
            }
            _ => 1,
        };
        let exit_reason = if spec.class == Class::Ocf {
            parse_exit_reason(&stderr.kept)
        } else {
            None
        };
        let result = OpResult {
            rc,
            status: op_status,
            outcome: OcfRc::from_code(rc),
            raw,
            stdout: std::mem::take(&mut stdout.kept),
            stderr: std::mem::take(&mut stderr.kept),
            stdout_truncated: stdout.dropped,
            stderr_truncated: stderr.dropped,
            exit_reason,
            duration: started.elapsed(),
            pid: Some(pid),
        };
        log_result(spec, action, instance, &result);
        for c in [stdout, stderr] {
            self.retired.extend(c.fd.take());
            self.retired.extend(c.closed.take());
        }
        self.retired.extend(pidfd.take());
        self.state = State::Finished(None);
        Ok(Some(result))
    }

    /// Blocks (in `poll(2)`, no threads) until the operation has finished.
    pub fn wait(mut self) -> Result<OpResult, RunError> {
        loop {
            let done = self.try_wait();
            self.close_retired();
            if let Some(r) = done? {
                return Ok(r);
            }
            let mut fds: Vec<libc::pollfd> = self
                .poll_fds()
                .into_iter()
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let timeout_ms = match self.next_wakeup() {
                None => -1,
                Some(t) => {
                    let d = t.saturating_duration_since(Instant::now());
                    // Round up so that we do not wake just before the deadline.
                    (d.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
                }
            };
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(RunError::Io {
                        spec: self.spec.to_string(),
                        action: self.action.clone(),
                        pid: self.pid().unwrap_or(0),
                        what: "poll",
                        source: e,
                    });
                }
            }
        }
    }

    /// Waits on a tokio runtime (reactor readiness on the pidfd and pipes,
    /// timer for the deadlines; no thread per operation).
    #[cfg(feature = "tokio")]
    pub async fn wait_async(mut self) -> Result<OpResult, RunError> {
        use tokio::io::unix::AsyncFd;
        use tokio::io::Interest;

        struct Fd(RawFd);
        impl AsRawFd for Fd {
            fn as_raw_fd(&self) -> RawFd {
                self.0
            }
        }
        async fn readable(fd: Option<&AsyncFd<Fd>>) {
            match fd {
                Some(fd) => {
                    if let Ok(mut g) = fd.readable().await {
                        g.clear_ready();
                    }
                }
                None => std::future::pending().await,
            }
        }
        // Registered once and kept while open (registering afresh every round cost
        // two epoll_ctl calls per descriptor per wakeup, on every op).
        let mut fds: Vec<AsyncFd<Fd>> = Vec::with_capacity(3);
        loop {
            let done = self.try_wait();
            // try_wait retires a pipe at EOF (and everything when it finishes): drop
            // their registrations while the descriptors are still open, then close them.
            let open = self.poll_fds();
            fds.retain(|a| open.contains(&a.get_ref().0));
            self.close_retired();
            if let Some(r) = done? {
                return Ok(r);
            }
            for fd in open {
                if fds.iter().all(|a| a.get_ref().0 != fd) {
                    // A descriptor that cannot be registered is not polled; the
                    // timer and the other descriptors still drive the op.
                    // SAFETY: `fd` is open (poll_fds lists only open descriptors) and its
                    // registration is dropped, above, as soon as try_wait closes it.
                    let reg =
                        unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) };
                    if let Ok(a) = reg {
                        fds.push(a);
                    }
                }
            }
            let sleep = async {
                match self.next_wakeup() {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = readable(fds.first()) => {}
                _ = readable(fds.get(1)) => {}
                _ = readable(fds.get(2)) => {}
                _ = sleep => {}
            }
        }
    }
}

/// Dropping an operation whose agent is still running kills its whole
/// process group: an agent nobody watches any more must not keep running
/// unaccounted for. An agent that already exited is only reaped.
impl Drop for Running {
    fn drop(&mut self) {
        if let State::Running { child, .. } = &mut self.state {
            let pid = child.id();
            // Already finished: just reap. Its group may hold the daemon a
            // successful start left behind, which must live on.
            if peek_exited(pid).unwrap_or(true) {
                let _ = child.try_wait();
                return;
            }
            tracing::warn!(spec = %self.spec, action = %self.action, pid,
                "operation handle dropped while the agent ran; killing its process group");
            signal_group(pid, libc::SIGKILL);
            // Reap if it dies promptly; a process stuck in the kernel is left
            // as a zombie rather than blocking the caller.
            for _ in 0..50 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Runs `req` on a tokio runtime.
#[cfg(feature = "tokio")]
pub async fn run_async(req: &OpRequest, roots: &Roots) -> Result<OpResult, RunError> {
    spawn(req, roots)?.wait_async().await
}

fn map_exit(class: Class, effective_action: &str, code: i32, stdout: &[u8]) -> i32 {
    let status = effective_action == "status";
    match class {
        Class::Ocf => rc::map_ocf(code),
        Class::Lsb if status => rc::map_lsb_status(code),
        Class::Lsb => rc::map_lsb_other(code),
        // "not installed" wins over the status text, as in lrmd.
        Class::Heartbeat if status && code == 5 => 5,
        Class::Heartbeat if status => rc::map_heartbeat_status(stdout),
        Class::Heartbeat => rc::map_heartbeat_other(code),
    }
}

/// The text after the last `ocf-exit-reason:` on stderr, to the end of its
/// line; empty reasons are ignored (Pacemaker's rule).
pub fn parse_exit_reason(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let idx = text.rfind(EXIT_REASON_PREFIX)?;
    let rest = &text[idx + EXIT_REASON_PREFIX.len()..];
    let reason = rest.split('\n').next().unwrap_or_default().trim_end();
    (!reason.is_empty()).then(|| reason.to_string())
}

/// `waitid(WNOWAIT)`: has the agent exited, without reaping it?
fn peek_exited(pid: u32) -> io::Result<bool> {
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // With WNOHANG and nothing to report, si_pid stays 0.
        return Ok(unsafe { info.si_pid() } != 0);
    }
}

fn signal_group(pgid: u32, sig: libc::c_int) {
    // ESRCH (group already gone) is the expected outcome of a race with exit.
    unsafe { libc::kill(-(pgid as libc::pid_t), sig) };
}

fn log_result(spec: &AgentSpec, action: &str, instance: &str, r: &OpResult) {
    let who = if instance.is_empty() {
        spec.agent_type.as_str()
    } else {
        instance
    };
    for (stream, data) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for line in String::from_utf8_lossy(data).lines() {
            // Like lrmd: stdout of queries at debug, everything else at info.
            if stream == "stdout" && matches!(action, "monitor" | "status" | "meta-data") {
                tracing::debug!("RA output: ({who}:{action}:{stream}) {line}");
            } else {
                tracing::info!("RA output: ({who}:{action}:{stream}) {line}");
            }
        }
    }
    if r.stdout_truncated + r.stderr_truncated > 0 {
        tracing::warn!(%spec, action, stdout_dropped = r.stdout_truncated, stderr_dropped = r.stderr_truncated,
            "agent output exceeded the capture limit; the excess was discarded");
    }
    tracing::debug!(%spec, action, rc = r.rc, status = ?r.status, raw = ?r.raw, duration = ?r.duration, "operation finished");
}

/// For callers that want OsStr environment keys as text (lossy).
pub fn env_to_strings(env: &BTreeMap<OsString, OsString>) -> BTreeMap<String, String> {
    env.iter().map(|(k, v)| (lossy(k), lossy(v))).collect()
}

fn lossy(s: &OsStr) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reason_takes_the_last_non_empty_line() {
        let e = b"x\nocf-exit-reason:first\nlog\nocf-exit-reason:second one\nmore\n";
        assert_eq!(parse_exit_reason(e).as_deref(), Some("second one"));
        assert_eq!(parse_exit_reason(b"ocf-exit-reason:\n"), None);
        assert_eq!(parse_exit_reason(b"nothing"), None);
    }

    #[test]
    fn heartbeat_args_follow_numeric_keys() {
        let mut req = OpRequest::new(AgentSpec::heartbeat("IPaddr").unwrap(), "monitor");
        req.params.insert("2".into(), "b".into());
        req.params.insert("1".into(), "a".into());
        req.params.insert("10".into(), "ignored: beyond N".into());
        assert_eq!(agent_args(&req), ["a", "b", "status"]);
        // A lone "2" is dropped, as lrmd did (N = 1).
        let mut lone = OpRequest::new(AgentSpec::heartbeat("x").unwrap(), "start");
        lone.params.insert("2".into(), "b".into());
        assert_eq!(agent_args(&lone), ["start"]);
    }

    #[test]
    fn capture_is_bounded() {
        let (r, w) = nix::unistd::pipe().unwrap();
        set_nonblocking(r.as_raw_fd()).unwrap();
        let mut cap = Capture::new(Some(r), 10);
        nix::unistd::write(&w, b"0123456789abcdef").unwrap();
        drop(w);
        cap.drain().unwrap();
        assert_eq!(cap.kept, b"0123456789");
        assert_eq!(cap.dropped, 6);
        assert!(cap.fd.is_none(), "EOF closes the pipe");
    }
}
