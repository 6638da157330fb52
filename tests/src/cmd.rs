//! Running external commands (ip, nft, nsenter, cl_status, ...) with a hard time limit
//! and bounded polling helpers.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

/// Default limit for short administrative commands (`ip`, `nft`, `cp`).
pub const SHORT: Duration = Duration::from_secs(20);

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    /// Exit code; `None` when the command was killed by a signal.
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl CmdOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Exit code, or -1 when the command died from a signal.
    pub fn code(&self) -> i32 {
        self.code.unwrap_or(-1)
    }
}

/// Renders an argv for error messages.
pub fn display_argv(argv: &[&str]) -> String {
    argv.join(" ")
}

/// Runs `argv` with optional stdin, capturing output; kills it (by pid) after `timeout`.
/// A non-zero exit is not an error here: callers decide what an exit code means.
pub fn run_with_input(argv: &[&str], stdin: Option<&str>, timeout: Duration) -> Result<CmdOutput> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| BenchError::Setup("empty command line".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group: a timed-out command is killed together with whatever it
        // forked, without touching the test process.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| BenchError::io(format!("spawn `{}`", display_argv(argv)), e))?;

    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_owned();
            // A separate thread so a child that does not read its stdin cannot block us.
            Some(thread::spawn(move || {
                let _ = pipe.write_all(text.as_bytes());
            }))
        }
        _ => None,
    };
    let out_reader = spawn_reader(child.stdout.take());
    let err_reader = spawn_reader(child.stderr.take());

    let status = wait_child(&mut child, timeout);
    let status = match status {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(&mut child);
            return Err(BenchError::Timeout {
                what: format!("`{}` to finish", display_argv(argv)),
                after: timeout,
            });
        }
        Err(e) => {
            kill_group(&mut child);
            return Err(BenchError::io(
                format!("wait for `{}`", display_argv(argv)),
                e,
            ));
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(CmdOutput {
        code: status.code(),
        stdout,
        stderr,
    })
}

/// Runs `argv` (no stdin) with a time limit; see [`run_with_input`].
pub fn run(argv: &[&str], timeout: Duration) -> Result<CmdOutput> {
    run_with_input(argv, None, timeout)
}

/// Runs `argv` and turns a non-zero exit into [`BenchError::Command`].
pub fn run_ok(argv: &[&str], timeout: Duration) -> Result<CmdOutput> {
    check(argv, run(argv, timeout)?)
}

/// Like [`run_ok`] with text fed on stdin.
pub fn run_ok_with_input(argv: &[&str], stdin: &str, timeout: Duration) -> Result<CmdOutput> {
    check(argv, run_with_input(argv, Some(stdin), timeout)?)
}

fn check(argv: &[&str], out: CmdOutput) -> Result<CmdOutput> {
    if out.success() {
        Ok(out)
    } else {
        Err(BenchError::Command {
            cmd: display_argv(argv),
            status: match out.code {
                Some(c) => format!("exit {c}"),
                None => "killed by signal".into(),
            },
            stderr: out.stderr.trim().to_owned(),
        })
    }
}

fn spawn_reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Polls `child` until it exits or `timeout` passes; `Ok(None)` on timeout.
pub fn wait_child(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let mut result = None;
    poll_until(timeout, Duration::from_millis(10), || {
        match child.try_wait() {
            Ok(Some(st)) => {
                result = Some(Ok(st));
                true
            }
            Ok(None) => false,
            Err(e) => {
                result = Some(Err(e));
                true
            }
        }
    });
    result.transpose()
}

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        crate::procs::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = wait_child(child, Duration::from_secs(5));
}

/// Calls `cond` every `interval` until it returns true or `timeout` passes. The number
/// of attempts is bounded as well as the time, so a `cond` that blocks cannot make the
/// loop spin forever. Returns whether `cond` became true.
pub fn poll_until(timeout: Duration, interval: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let interval = interval.max(Duration::from_millis(1));
    let max_attempts = timeout.as_millis() / interval.as_millis() + 2;
    for _ in 0..max_attempts {
        if cond() {
            return true;
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return false;
        }
        thread::sleep(interval.min(timeout - elapsed));
    }
    false
}

/// Like [`poll_until`] but returns the elapsed time on success and a
/// [`BenchError::Timeout`] naming `what` otherwise.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    interval: Duration,
    cond: impl FnMut() -> bool,
) -> Result<Duration> {
    let start = Instant::now();
    if poll_until(timeout, interval, cond) {
        Ok(start.elapsed())
    } else {
        Err(BenchError::Timeout {
            what: what.to_owned(),
            after: timeout,
        })
    }
}

/// Quotes `s` for inclusion in a `sh -c` script.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_paths_and_escapes_quotes() {
        assert_eq!(sh_quote("/tmp/a-b_c.d"), "/tmp/a-b_c.d");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn run_captures_output_and_exit_code() {
        let out = run(&["sh", "-c", "echo hi; echo err >&2; exit 3"], SHORT).unwrap();
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.code, Some(3));
        assert!(run_ok(&["false"], SHORT).is_err());
        let out = run_ok_with_input(&["cat"], "abc", SHORT).unwrap();
        assert_eq!(out.stdout, "abc");
    }

    #[test]
    fn run_times_out_and_kills() {
        let start = Instant::now();
        let err = run(&["sleep", "30"], Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, BenchError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn poll_until_is_bounded() {
        let mut n = 0;
        assert!(!poll_until(
            Duration::from_millis(50),
            Duration::from_millis(10),
            || {
                n += 1;
                false
            }
        ));
        assert!(n <= 7, "attempts {n}");
        assert!(poll_until(
            Duration::from_secs(1),
            Duration::from_millis(10),
            || true
        ));
    }
}
