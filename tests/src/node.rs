//! One heartbeat daemon (Debian's or ours) running in a node namespace with its own
//! /etc/ha.d, /var/lib/heartbeat, /run and hostname (reference §11.3).

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::bins::{DEBIAN_CL_STATUS, DEBIAN_HEARTBEAT};
use crate::cmd::{self, sh_quote, CmdOutput, SHORT};
use crate::error::{BenchError, Result};
use crate::net::Net;
use crate::procs;

/// Which daemon a node runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Debian's heartbeat 3.0.6 ([`DEBIAN_HEARTBEAT`]).
    Debian,
    /// Our daemon at `bin` (see [`crate::our_bin`]).
    Ours { bin: PathBuf },
}

impl NodeKind {
    /// The daemon executable.
    pub fn bin(&self) -> PathBuf {
        match self {
            NodeKind::Debian => PathBuf::from(DEBIAN_HEARTBEAT),
            NodeKind::Ours { bin } => bin.clone(),
        }
    }
}

/// A file written below the node's /etc/ha.d (e.g. `resource.d/Dummy1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    /// Path relative to /etc/ha.d.
    pub path: PathBuf,
    /// File contents.
    pub contents: String,
    /// Permission bits (0o755 for scripts).
    pub mode: u32,
}

/// Everything needed to start one node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name: becomes the hostname (`uname -n`) in the node's UTS namespace.
    pub name: String,
    /// Which daemon.
    pub kind: NodeKind,
    /// ha.cf text; `logfile`/`debugfile` in the node's log dir are prepended if absent.
    pub ha_cf: String,
    /// authkeys text (written with mode 0600).
    pub authkeys: String,
    /// haresources text; `None` writes an empty file (R1 mode refuses to start without).
    pub haresources: Option<String>,
    /// Further files under /etc/ha.d.
    pub extra_files: Vec<ExtraFile>,
    /// Start from a copy of the system /etc/ha.d (harc, rc.d, resource.d, shellfuncs).
    pub copy_system_ha_d: bool,
    /// cl_status binary used by [`Node::cl_status`].
    pub cl_status: PathBuf,
    /// Limit for a graceful stop before falling back to signals.
    pub stop_timeout: Duration,
    /// Extra environment for the daemon (and so its children, e.g. stonithd).
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    /// A Debian heartbeat node (copies the system /etc/ha.d, uses Debian's cl_status).
    pub fn debian(name: &str, ha_cf: &str, authkeys: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_owned(),
            kind: NodeKind::Debian,
            ha_cf: ha_cf.to_owned(),
            authkeys: authkeys.to_owned(),
            haresources: None,
            extra_files: Vec::new(),
            copy_system_ha_d: true,
            cl_status: PathBuf::from(DEBIAN_CL_STATUS),
            stop_timeout: Duration::from_secs(60),
            env: Vec::new(),
        }
    }

    /// A node running our daemon `bin`. It also gets a copy of the system /etc/ha.d
    /// when one exists (R1 resource scripts live there); cl_status stays Debian's
    /// unless changed with [`NodeSpec::with_cl_status`].
    pub fn ours(name: &str, bin: PathBuf, ha_cf: &str, authkeys: &str) -> NodeSpec {
        NodeSpec {
            kind: NodeKind::Ours { bin },
            copy_system_ha_d: Path::new("/etc/ha.d").is_dir(),
            ..NodeSpec::debian(name, ha_cf, authkeys)
        }
    }

    /// Sets the haresources text.
    pub fn with_haresources(mut self, text: &str) -> NodeSpec {
        self.haresources = Some(text.to_owned());
        self
    }

    /// Adds a file below /etc/ha.d (`rel` must be relative, without `..`).
    pub fn with_file(mut self, rel: &str, contents: &str, mode: u32) -> NodeSpec {
        self.extra_files.push(ExtraFile {
            path: PathBuf::from(rel),
            contents: contents.to_owned(),
            mode,
        });
        self
    }

    /// Adds an environment variable for the daemon and its children.
    pub fn with_env(mut self, key: &str, value: &str) -> NodeSpec {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses another cl_status binary (e.g. ours) in [`Node::cl_status`].
    pub fn with_cl_status(mut self, bin: PathBuf) -> NodeSpec {
        self.cl_status = bin;
        self
    }
}

/// A running (or stopped) node. Dropping it kills every process it started and removes
/// its directory (kept when the environment variable `HB_TESTS_KEEP` is set).
#[derive(Debug)]
pub struct Node {
    spec: NodeSpec,
    index: usize,
    ns: String,
    log_path: PathBuf,
    child: Option<Child>,
    /// Open handles on the daemon's mount and UTS namespaces. Holding them keeps the
    /// namespaces (and their inode numbers) alive, so matching processes by mount
    /// namespace can never hit an unrelated namespace that reused the number, and
    /// tools can still enter the node's view after the daemon died.
    mnt_ns: Option<File>,
    uts_ns: Option<File>,
    mnt_id: Option<String>,
    /// Last field so the directory is removed after everything else is cleaned up.
    dir: TempDir,
}

impl Node {
    /// Prepares node `i`'s private directory and starts its daemon as in §11.3:
    /// `ip netns exec <ns> unshare --mount --uts --propagation private sh -c '...; exec
    /// BIN -f'` in a new session, so [`Node::pid`] is the daemon's master pid.
    pub fn start(net: &Net, i: usize, spec: NodeSpec) -> Result<Node> {
        let ns = net.ns(i)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("hbt-{}-", spec.name))
            .tempdir()
            .map_err(|e| BenchError::io("create node directory", e))?;
        let log_path = prepare_dir(dir.path(), &spec)?;
        let mut node = Node {
            spec,
            index: i,
            ns,
            log_path,
            child: None,
            mnt_ns: None,
            uts_ns: None,
            mnt_id: None,
            dir,
        };
        node.spawn()?;
        Ok(node)
    }

    fn spawn(&mut self) -> Result<()> {
        let bin = self.spec.kind.bin();
        if !bin.is_file() {
            return Err(self.err(format!("daemon binary {} not found", bin.display())));
        }
        let d = self.dir.path();
        let q = |p: &Path| sh_quote(&p.to_string_lossy());
        // /run/resource-agents is the OCF agents' HA_RSCTMP (Debian's IPaddr keeps
        // its state there); tmpfiles.d creates it at boot on a real node.
        let script = format!(
            "set -e\n\
             hostname {name}\n\
             mount --bind {etc} /etc/ha.d\n\
             mount --bind {varlib} /var/lib/heartbeat\n\
             mount -t tmpfs -o mode=0755 tmpfs /run\n\
             mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm /run/lock /run/resource-agents\n\
             chown -R hacluster:haclient /run/heartbeat /run/crm || true\n\
             chmod 0750 /run/heartbeat /run/heartbeat/ccm /run/heartbeat/crm\n\
             exec {bin} -f\n",
            name = sh_quote(&self.spec.name),
            etc = q(&d.join("etc")),
            varlib = q(&d.join("varlib")),
            bin = q(&bin),
        );
        let stdout_path = d.join("log").join("stdout");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdout_path)
            .map_err(|e| BenchError::io(format!("open {}", stdout_path.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| BenchError::io("duplicate stdout handle", e))?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns, "unshare", "--mount", "--uts"])
            .args(["--propagation", "private", "sh", "-c", &script])
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // SAFETY: only setsid(2), which is async-signal-safe, runs between fork and
        // exec. A new session makes the daemon's pid its process group id, so the
        // whole node can be signalled without touching the test process.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        // `ip netns exec`, `unshare` and `sh -c 'exec ..'` all exec in place, so the
        // child's pid ends up being the daemon's master pid.
        let child = command
            .spawn()
            .map_err(|e| BenchError::io(format!("spawn node {}", self.spec.name), e))?;
        self.child = Some(child);
        self.wait_exec(&bin)
    }

    /// Waits until the child has exec'd the daemon inside its private namespaces and
    /// takes handles on those namespaces.
    fn wait_exec(&mut self, bin: &Path) -> Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| self.err("no child after spawn".into()))?;
        let want = fs::canonicalize(bin).unwrap_or_else(|_| bin.to_path_buf());
        let host_mnt = procs::own_mnt_ns();
        let mut exited = None;
        let ok = cmd::poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    exited = Some(st);
                    return true;
                }
            }
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            exe.as_deref() == Some(want.as_path()) && procs::mnt_ns(pid) != host_mnt
        });
        if let Some(st) = exited {
            self.child = None;
            return Err(self.err(format!(
                "exited during startup ({st}); output:\n{}\nlog tail:\n{}",
                self.stdout_log(),
                tail(&self.log(), 20)
            )));
        }
        if !ok {
            self.kill9()?;
            return Err(BenchError::Timeout {
                what: format!("node {} to exec {}", self.spec.name, want.display()),
                after: Duration::from_secs(10),
            });
        }
        let open = |what: &str| {
            File::open(format!("/proc/{pid}/ns/{what}"))
                .map_err(|e| BenchError::io(format!("open /proc/{pid}/ns/{what}"), e))
        };
        self.mnt_ns = Some(open("mnt")?);
        self.uts_ns = Some(open("uts")?);
        self.mnt_id = procs::mnt_ns(pid);
        Ok(())
    }

    fn err(&self, msg: String) -> BenchError {
        BenchError::Node {
            node: self.spec.name.clone(),
            msg,
        }
    }

    /// Node name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The node's index in its [`Net`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// The spec it was started with.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// Network namespace name.
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// Master pid while the daemon has been started and not yet reaped.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }

    /// True while the master process is alive.
    pub fn is_running(&mut self) -> bool {
        !self.reap()
    }

    /// The node's private directory (contains `etc/`, `varlib/`, `log/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What is mounted over /etc/ha.d.
    pub fn etc_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// What is mounted over /var/lib/heartbeat.
    pub fn varlib_dir(&self) -> PathBuf {
        self.dir.path().join("varlib")
    }

    /// Path of the heartbeat logfile.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Contents of the heartbeat logfile (empty if not yet written).
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// What the daemon wrote to stdout/stderr.
    pub fn stdout_log(&self) -> String {
        read_lossy(&self.dir.path().join("log").join("stdout"))
    }

    /// The daemon's mount namespace (`mnt:[inode]`, as readlink of /proc/PID/ns/mnt
    /// shows it): every process of the node shares it.
    pub fn mnt_ns_id(&self) -> Option<&str> {
        self.mnt_id.as_deref()
    }

    /// Live processes of this node: the master's process group and everything in its
    /// private mount namespace.
    pub fn processes(&self) -> Vec<i32> {
        procs::node_processes(self.mnt_id.as_deref(), self.pid())
    }

    /// Runs `argv` inside the node's mount, UTS and network namespaces (so it sees the
    /// node's /etc/ha.d, /run/heartbeat and hostname). Works after the daemon died.
    pub fn nsenter(&self, argv: &[&str], timeout: Duration) -> Result<CmdOutput> {
        let full = self.nsenter_argv(argv)?;
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        cmd::run(&refs, timeout)
    }

    /// The `nsenter ... -- argv` command line. Namespaces are entered through our own
    /// handles rather than `-t <pid>`, so this does not depend on the daemon being alive.
    fn nsenter_argv(&self, argv: &[&str]) -> Result<Vec<String>> {
        let (Some(mnt), Some(uts)) = (&self.mnt_ns, &self.uts_ns) else {
            return Err(self.err("never started: no namespaces to enter".into()));
        };
        let me = std::process::id();
        let mut full = vec![
            "nsenter".to_owned(),
            format!("--mount=/proc/{me}/fd/{}", mnt.as_raw_fd()),
            format!("--uts=/proc/{me}/fd/{}", uts.as_raw_fd()),
            format!("--net=/run/netns/{}", self.ns),
            "--".to_owned(),
        ];
        full.extend(argv.iter().map(|s| (*s).to_owned()));
        Ok(full)
    }

    /// Runs the spec's cl_status with `args` in the node's namespaces; returns its exit
    /// code and trimmed stdout.
    pub fn cl_status(&self, args: &[&str]) -> Result<(i32, String)> {
        self.cl_status_with(&self.spec.cl_status.clone(), args)
    }

    /// Like [`Node::cl_status`] with an explicit cl_status binary.
    pub fn cl_status_with(&self, bin: &Path, args: &[&str]) -> Result<(i32, String)> {
        let bin = bin.to_string_lossy();
        let mut argv = vec![bin.as_ref()];
        argv.extend_from_slice(args);
        // cl_status aborts itself after 5 s; the extra margin only catches a wedge.
        let out = self.nsenter(&argv, Duration::from_secs(15))?;
        Ok((out.code(), out.stdout.trim().to_owned()))
    }

    /// `cl_status nodestatus <node>` output (`active`, `up`, `dead`, ...), or an empty
    /// string when cl_status fails to answer.
    pub fn node_status(&self, node: &str) -> String {
        self.cl_status(&["nodestatus", node])
            .map(|(_, s)| s)
            .unwrap_or_default()
    }

    /// Polls `cond` every 200 ms until it holds; bounded by `timeout`. Returns the
    /// elapsed time.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Node) -> bool,
    ) -> Result<Duration> {
        cmd::wait_until(
            &format!("{} on node {}", what, self.spec.name),
            timeout,
            Duration::from_millis(200),
            || cond(self),
        )
    }

    /// Waits until the logfile contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Result<Duration> {
        self.wait_for(&format!("log line {needle:?}"), timeout, |n| {
            n.log().contains(needle)
        })
    }

    /// Current length of the logfile in bytes, to look only at what comes after.
    pub fn log_len(&self) -> usize {
        fs::metadata(&self.log_path).map_or(0, |m| m.len() as usize)
    }

    /// Waits until the logfile contains `needle` after byte offset `from` (from
    /// [`Node::log_len`]); useful across restarts, which append to the same file.
    pub fn wait_log_after(&self, from: usize, needle: &str, timeout: Duration) -> Result<Duration> {
        self.wait_for(&format!("new log line {needle:?}"), timeout, |n| {
            n.log().get(from..).is_some_and(|t| t.contains(needle))
        })
    }

    /// Graceful stop: `heartbeat -k` inside the node's namespaces (SIGTERM to the
    /// master if that fails), then waits for the master to exit, bounded by the spec's
    /// `stop_timeout`. Leftover processes are killed. An error means the daemon did not
    /// stop by itself (it has been killed anyway).
    pub fn stop(&mut self) -> Result<()> {
        if !self.is_running() {
            return self.kill9();
        }
        let bin = self.spec.kind.bin();
        let argv = self.nsenter_argv(&[bin.to_string_lossy().as_ref(), "-k"])?;
        let limit = self.spec.stop_timeout;
        // `heartbeat -k` polls until the master pid is gone, and the master is our
        // child: it stays a zombie until we reap it. So -k runs in a thread while this
        // thread keeps reaping.
        let mut asker = Some(std::thread::spawn(move || {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            cmd::run(&refs, limit)
        }));
        let mut asked: Option<Result<CmdOutput>> = None;
        let start = Instant::now();
        let interval = Duration::from_millis(20);
        let max_rounds = limit.as_millis() / interval.as_millis() + 2;
        let mut exited = false;
        for _ in 0..max_rounds {
            if self.reap() {
                exited = true;
                break;
            }
            if asker.as_ref().is_some_and(|h| h.is_finished()) {
                let res = asker.take().map(|h| h.join());
                let res = match res {
                    Some(Ok(r)) => r,
                    _ => Err(self.err("the `-k` thread panicked".into())),
                };
                // -k could not even ask (no pidfile, binary refused): fall back.
                if !matches!(&res, Ok(o) if o.success()) {
                    if let Some(pid) = self.pid() {
                        procs::signal(pid, Signal::SIGTERM);
                    }
                }
                asked = Some(res);
            }
            if start.elapsed() >= limit {
                break;
            }
            std::thread::sleep(interval);
        }
        self.kill9()?;
        // The master is reaped now, so a still-running -k finishes within its poll.
        if let Some(h) = asker.take() {
            asked = h.join().ok();
        }
        if exited {
            return Ok(());
        }
        Err(self.err(format!(
            "did not stop within {limit:?} (`-k`: {}); killed",
            match asked {
                Some(Ok(o)) => format!("exit {} {}", o.code(), o.stderr.trim()),
                Some(Err(e)) => e.to_string(),
                None => "no result".into(),
            }
        )))
    }

    /// SIGKILL to the master's process group and every process in the node's mount
    /// namespace, then reaps the master. Waits (bounded) until none is left.
    pub fn kill9(&mut self) -> Result<()> {
        let mnt = self.mnt_id.clone();
        let gone = cmd::poll_until(Duration::from_secs(10), Duration::from_millis(20), || {
            // The group id is only trusted until the master is reaped: after that the
            // number may be reused, while the held mount namespace handle keeps `mnt`
            // unique.
            let pgrp = self.pid();
            if let Some(g) = pgrp {
                procs::signal_group(g, Signal::SIGKILL);
            }
            let left = procs::node_processes(mnt.as_deref(), pgrp);
            for &p in &left {
                procs::signal(p, Signal::SIGKILL);
            }
            self.reap();
            left.is_empty() && self.child.is_none()
        });
        if gone {
            Ok(())
        } else {
            Err(self.err(format!(
                "processes left after SIGKILL: {:?}",
                procs::node_processes(mnt.as_deref(), self.pid())
            )))
        }
    }

    /// Reaps the master if it has exited; true when it is gone (or never ran).
    fn reap(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => false,
            Some(Ok(Some(_))) | Some(Err(_)) | None => {
                self.child = None;
                true
            }
        }
    }

    /// [`Node::stop`] then start again with the same directory (so generation and
    /// UUID persist, as on a real machine).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.start_again()
    }

    /// Starts the daemon again after [`Node::stop`] or [`Node::kill9`].
    pub fn start_again(&mut self) -> Result<()> {
        if self.is_running() {
            return Err(self.err("start_again while running".into()));
        }
        self.kill9()?;
        self.mnt_ns = None;
        self.uts_ns = None;
        self.mnt_id = None;
        self.spawn()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.kill9() {
            eprintln!("hb-tests: cleanup of node {}: {e}", self.spec.name);
        }
        self.mnt_ns = None;
        self.uts_ns = None;
        if std::env::var_os("HB_TESTS_KEEP").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "hb-tests: kept node {} files in {}",
                self.spec.name,
                self.dir.path().display()
            );
        }
    }
}

fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn io_at(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> BenchError {
    let context = format!("{what} {}", p.display());
    move |e| BenchError::io(context, e)
}

fn write_file(p: &Path, contents: &str, mode: u32) -> Result<()> {
    fs::write(p, contents).map_err(io_at("write", p))?;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(io_at("chmod", p))
}

/// The `logfile` path set in ha.cf text, if any.
pub fn logfile_of(ha_cf: &str) -> Option<PathBuf> {
    ha_cf.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("logfile"))
            .then(|| w.next().map(PathBuf::from))
            .flatten()
    })
}

/// Fills a node directory: `etc/` (system /etc/ha.d copy + our files), `varlib/`,
/// `log/`. Returns the logfile path.
fn prepare_dir(d: &Path, spec: &NodeSpec) -> Result<PathBuf> {
    // Daemon helpers may run as hacluster; they must be able to reach the log dir.
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).map_err(io_at("chmod", d))?;
    let etc = d.join("etc");
    let varlib = d.join("varlib");
    let log = d.join("log");
    let cp = |from: &str, to: &Path| -> Result<()> {
        cmd::run_ok(&["cp", "-a", from, &to.to_string_lossy()], SHORT).map(drop)
    };
    if spec.copy_system_ha_d {
        cp("/etc/ha.d", &etc)?;
    } else {
        fs::create_dir(&etc).map_err(io_at("mkdir", &etc))?;
    }
    if Path::new("/var/lib/heartbeat").is_dir() {
        cp("/var/lib/heartbeat", &varlib)?;
    } else {
        fs::create_dir(&varlib).map_err(io_at("mkdir", &varlib))?;
    }
    fs::create_dir(&log).map_err(io_at("mkdir", &log))?;
    fs::set_permissions(&log, fs::Permissions::from_mode(0o1777)).map_err(io_at("chmod", &log))?;

    let (ha_cf, log_path) = match logfile_of(&spec.ha_cf) {
        Some(p) => (spec.ha_cf.clone(), p),
        None => {
            let p = log.join("ha-log");
            let text = format!(
                "logfile {}\ndebugfile {}\n{}",
                p.display(),
                log.join("ha-debug").display(),
                spec.ha_cf
            );
            (text, p)
        }
    };
    write_file(&etc.join("ha.cf"), &ha_cf, 0o644)?;
    write_file(&etc.join("authkeys"), &spec.authkeys, 0o600)?;
    write_file(
        &etc.join("haresources"),
        spec.haresources.as_deref().unwrap_or(""),
        0o644,
    )?;
    for f in &spec.extra_files {
        let safe = f
            .path
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !safe || f.path.as_os_str().is_empty() {
            return Err(BenchError::Setup(format!(
                "extra file {} must be a plain relative path",
                f.path.display()
            )));
        }
        let p = etc.join(&f.path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(io_at("mkdir", parent))?;
        }
        write_file(&p, &f.contents, f.mode)?;
    }
    Ok(log_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfile_is_found_in_ha_cf() {
        assert_eq!(
            logfile_of("keepalive 1\nlogfile /x/ha-log\n"),
            Some(PathBuf::from("/x/ha-log"))
        );
        assert_eq!(logfile_of("debugfile /x/d\n"), None);
    }

    #[test]
    fn prepare_dir_writes_config_with_modes() {
        let d = tempfile::tempdir().unwrap();
        let spec = NodeSpec {
            copy_system_ha_d: false,
            ..NodeSpec::debian("alpha", "keepalive 1\n", "auth 1\n1 crc\n")
        }
        .with_haresources("alpha Dummy")
        .with_file("resource.d/Dummy", "#!/bin/sh\n", 0o755);
        let log = prepare_dir(d.path(), &spec).unwrap();
        assert_eq!(log, d.path().join("log/ha-log"));
        let etc = d.path().join("etc");
        let ha_cf = fs::read_to_string(etc.join("ha.cf")).unwrap();
        assert!(
            ha_cf.starts_with(&format!("logfile {}\n", log.display())),
            "{ha_cf}"
        );
        assert!(ha_cf.ends_with("keepalive 1\n"));
        let mode = |p: &str| fs::metadata(etc.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("authkeys"), 0o600);
        assert_eq!(mode("resource.d/Dummy"), 0o755);
        assert_eq!(
            fs::read_to_string(etc.join("haresources")).unwrap(),
            "alpha Dummy"
        );
        let bad = NodeSpec::debian("a", "", "").with_file("../x", "", 0o644);
        let d2 = tempfile::tempdir().unwrap();
        assert!(prepare_dir(
            d2.path(),
            &NodeSpec {
                copy_system_ha_d: false,
                ..bad
            }
        )
        .is_err());
    }
}
