//! A pair of connected pseudo-terminals (socat), standing in for a null-modem cable
//! between two nodes' `serial` media.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::cmd;
use crate::error::{BenchError, Result};
use crate::procs;

/// Two linked ptys `<dir>/ttyA` and `<dir>/ttyB`. They live under /dev/pts, which node
/// namespaces share with the host (nodes never mount their own devpts), so any node can
/// open them. socat is killed by pid on drop.
#[derive(Debug)]
pub struct SerialPair {
    child: Option<Child>,
    a: PathBuf,
    b: PathBuf,
    dir: TempDir,
}

impl SerialPair {
    /// Starts socat and waits (bounded) until both links exist.
    pub fn new() -> Result<SerialPair> {
        let dir = tempfile::Builder::new()
            .prefix("hbt-serial-")
            .tempdir()
            .map_err(|e| BenchError::io("create serial directory", e))?;
        let a = dir.path().join("ttyA");
        let b = dir.path().join("ttyB");
        let log_path = dir.path().join("socat.log");
        let log = File::create(&log_path)
            .map_err(|e| BenchError::io(format!("create {}", log_path.display()), e))?;
        let child = Command::new("socat")
            .args(["-d", "-d"])
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| BenchError::io("spawn socat", e))?;
        let pair = SerialPair {
            child: Some(child),
            a,
            b,
            dir,
        };
        cmd::wait_until(
            "socat pty links",
            Duration::from_secs(10),
            Duration::from_millis(10),
            || pair.a.exists() && pair.b.exists(),
        )?;
        Ok(pair)
    }

    /// First end (a symlink to a /dev/pts device).
    pub fn a(&self) -> &Path {
        &self.a
    }

    /// Second end.
    pub fn b(&self) -> &Path {
        &self.b
    }

    /// The /dev/pts devices behind the links (heartbeat's tty locking wants real
    /// device names).
    pub fn devices(&self) -> Result<(PathBuf, PathBuf)> {
        let resolve = |p: &Path| {
            std::fs::canonicalize(p)
                .map_err(|e| BenchError::io(format!("resolve {}", p.display()), e))
        };
        Ok((resolve(&self.a)?, resolve(&self.b)?))
    }

    /// socat's pid.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }

    /// Directory holding the links and socat's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SerialPair {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                procs::signal(pid, Signal::SIGKILL);
            }
            let _ = cmd::wait_child(&mut c, Duration::from_secs(5));
        }
    }
}
