//! Running external programs (scripts, fence agents, ssh, virsh) with a
//! deadline and bounded output. cluster-glue itself has no timeout here
//! (bug 11: a hung script blocks forever); we kill the whole process
//! group so that grandchildren (sleep, ssh...) die too.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::StonithError;

/// Default deadline for any external call. fence agents wait up to 20 s
/// for power changes and external/ssh pings for 15 s, so leave headroom.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default cap on captured stdout / stderr, each.
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;
/// Default grace period between SIGTERM and SIGKILL to the process group.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_millis(500);

/// Deadline and output bound for external calls.
#[derive(Debug, Clone, Copy)]
pub struct ExecPolicy {
    /// Wall-clock limit for the program (and for draining its output).
    pub timeout: Duration,
    /// Maximum bytes kept from stdout and from stderr.
    pub max_output: usize,
    /// Time between SIGTERM and SIGKILL after the deadline (stonithd uses 5 s).
    pub kill_grace: Duration,
}

impl Default for ExecPolicy {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
            kill_grace: DEFAULT_KILL_GRACE,
        }
    }
}

impl ExecPolicy {
    /// Default policy, with the timeout overridden by the environment
    /// variable `STONITH_TIMEOUT` (seconds, may be fractional) when set:
    /// the CLI has no option for it because cluster-glue's getopt string
    /// is fixed.
    pub fn from_env() -> Self {
        let mut p = Self::default();
        if let Some(secs) = std::env::var("STONITH_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
        {
            p.timeout = Duration::from_secs_f64(secs);
        }
        p
    }
}

/// What a finished program produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, or `None` when killed by a signal.
    pub code: Option<i32>,
    /// Captured stdout (at most `max_output` bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most `max_output` bytes).
    pub stderr: Vec<u8>,
    /// True when stdout or stderr exceeded the bound.
    pub truncated: bool,
}

impl Output {
    /// stdout as UTF-8, or a `BadOutput` error naming the plugin; output
    /// beyond the bound is also rejected since it cannot be trusted whole.
    pub fn stdout_text(&self, plugin: &str, command: &str) -> Result<String, StonithError> {
        if self.truncated {
            return Err(StonithError::BadOutput {
                plugin: plugin.into(),
                command: command.into(),
                reason: "output exceeds size limit".into(),
            });
        }
        String::from_utf8(self.stdout.clone()).map_err(|e| StonithError::BadOutput {
            plugin: plugin.into(),
            command: command.into(),
            reason: format!("not UTF-8 text ({e})"),
        })
    }

    /// Exit code, with signal death reported as -1 as cluster-glue does.
    pub fn rc(&self) -> i32 {
        self.code.unwrap_or(-1)
    }
}

/// A program invocation: argv, extra environment and optional stdin.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// argv[0] (path) and arguments; no shell is involved, so host names
    /// are never interpreted (cluster-glue bug 12a).
    pub argv: Vec<String>,
    /// Variables added to the child's environment only (not the
    /// caller's, unlike cluster-glue: bug 11).
    pub env: Vec<(String, String)>,
    /// Bytes written to stdin, which is then closed.
    pub stdin: Option<Vec<u8>>,
}

impl Invocation {
    /// Invocation of `argv` with no extra environment or stdin.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Human-readable command line for messages.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

fn read_bounded<R: Read + Send + 'static>(
    mut r: R,
    max: usize,
    tx: mpsc::Sender<(usize, Vec<u8>, bool)>,
    idx: usize,
) {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = max.saturating_sub(kept.len());
                    if n > room {
                        truncated = true;
                    }
                    // Keep draining past the bound so the child never
                    // blocks on a full pipe; we just drop the excess.
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send((idx, kept, truncated));
    });
}

fn kill_group(pgid: i32, grace: Duration) {
    // The child was made leader of its own process group, so -pgid
    // reaches everything it forked that did not escape with setsid.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    thread::sleep(grace);
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Run `inv` under `policy`. A timeout kills the process group and
/// yields `StonithError::Timeout` naming `plugin`.
pub fn run(plugin: &str, inv: &Invocation, policy: &ExecPolicy) -> Result<Output, StonithError> {
    let Some((prog, args)) = inv.argv.split_first() else {
        return Err(StonithError::CommandFailed {
            plugin: plugin.into(),
            command: String::new(),
            detail: "empty command".into(),
        });
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(if inv.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| StonithError::Io {
        plugin: plugin.into(),
        context: format!("cannot run '{}'", inv.display()),
        source: e,
    })?;
    let pgid = child.id() as i32;

    if let (Some(data), Some(mut sin)) = (inv.stdin.clone(), child.stdin.take()) {
        // A writer thread, so an agent that never reads stdin cannot
        // block us past the deadline; EPIPE is ignored for the same reason.
        thread::spawn(move || {
            let _ = sin.write_all(&data);
        });
    }
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        read_bounded(out, policy.max_output, tx.clone(), 0);
    }
    if let Some(err) = child.stderr.take() {
        read_bounded(err, policy.max_output, tx.clone(), 1);
    }
    drop(tx);

    let timeout_err = || StonithError::Timeout {
        plugin: plugin.into(),
        command: inv.display(),
        secs: policy.timeout.as_secs_f64(),
    };

    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => {
                kill_group(pgid, policy.kill_grace);
                let _ = child.wait();
                return Err(StonithError::Io {
                    plugin: plugin.into(),
                    context: format!("waiting for '{}'", inv.display()),
                    source: e,
                });
            }
        }
        if started.elapsed() >= policy.timeout {
            kill_group(pgid, policy.kill_grace);
            let _ = child.wait();
            return Err(timeout_err());
        }
        thread::sleep(Duration::from_millis(10));
    };

    let mut out = Output {
        code: status.code(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated: false,
    };
    if status.signal().is_some() {
        out.code = None;
    }
    // A background grandchild may still hold the pipes open; wait for EOF
    // only until the deadline, then kill the group and use what we have.
    let mut pending = 2;
    while pending > 0 {
        let left = policy.timeout.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok((idx, data, trunc)) => {
                pending -= 1;
                out.truncated |= trunc;
                if idx == 0 {
                    out.stdout = data;
                } else {
                    out.stderr = data;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill_group(pgid, policy.kill_grace);
                return Err(timeout_err());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(ms: u64) -> ExecPolicy {
        ExecPolicy {
            timeout: Duration::from_millis(ms),
            max_output: 16,
            kill_grace: DEFAULT_KILL_GRACE,
        }
    }

    #[test]
    fn captures_exit_code_env_and_stdin() {
        let mut inv = Invocation::new(["/bin/sh", "-c", "read x; echo \"$x$FOO\"; exit 3"]);
        inv.env.push(("FOO".into(), "bar".into()));
        inv.stdin = Some(b"hi\n".to_vec());
        let out = run("t", &inv, &policy(5000)).unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, b"hibar\n");
        assert!(!out.truncated);
    }

    #[test]
    fn timeout_kills_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("alive");
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let inv = Invocation::new(["/bin/sh", "-c", script.as_str()]);
        let t = Instant::now();
        let err = run("hang", &inv, &policy(300)).unwrap_err();
        assert!(matches!(err, StonithError::Timeout { .. }), "{err}");
        assert_eq!(err.rc(), 6);
        assert!(t.elapsed() < Duration::from_secs(5));
        thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "grandchild survived the group kill");
    }

    #[test]
    fn output_is_bounded() {
        let inv = Invocation::new(["/bin/sh", "-c", "head -c 100000 /dev/zero"]);
        let out = run("big", &inv, &policy(5000)).unwrap();
        assert!(out.truncated);
        assert_eq!(out.stdout.len(), 16);
        assert!(out.stdout_text("big", "x").is_err());
    }

    #[test]
    fn signal_death_is_minus_one() {
        let inv = Invocation::new(["/bin/sh", "-c", "kill -9 $$"]);
        let out = run("sig", &inv, &policy(5000)).unwrap();
        assert_eq!(out.rc(), -1);
    }
}
