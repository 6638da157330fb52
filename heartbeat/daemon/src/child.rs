//! The helper daemons heartbeat runs itself (lrmd, stonithd): how they are started
//! and stopped.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

/// At most this many starts of one helper within [`RESTART_WINDOW`]...
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// ...else a pause this long: a helper that cannot stay up must not spin.
const RESTART_BACKOFF: Duration = Duration::from_secs(30);
/// And never two starts less than this apart.
const RESTART_GAP: Duration = Duration::from_secs(1);

/// The restart rate limit of one helper.
#[derive(Debug)]
pub struct RestartPacer {
    what: &'static str,
    starts: Vec<Instant>,
}

impl RestartPacer {
    pub fn new(what: &'static str) -> RestartPacer {
        RestartPacer {
            what,
            starts: Vec::new(),
        }
    }

    /// How long to wait before the next start (logged when it is the back-off).
    /// Call [`RestartPacer::started`] once it happened.
    pub fn pause(&mut self) -> Duration {
        let now = Instant::now();
        self.starts
            .retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        if self.starts.len() >= MAX_RESTARTS {
            tracing::error!(
                "{} restarted {} times within {}s: waiting {}s",
                self.what,
                self.starts.len(),
                RESTART_WINDOW.as_secs(),
                RESTART_BACKOFF.as_secs()
            );
            self.starts.clear();
            RESTART_BACKOFF
        } else if let Some(last) = self.starts.last() {
            RESTART_GAP.saturating_sub(now.duration_since(*last))
        } else {
            Duration::ZERO
        }
    }

    pub fn started(&mut self) {
        self.starts.push(Instant::now());
    }
}

/// Spawns `cmd` (the helper at `bin`) with no stdin/stdout, in its own process
/// group: it must not die with heartbeat's terminal session nor get a ^C meant for
/// heartbeat.
pub fn spawn(mut cmd: Command, bin: &Path) -> std::io::Result<Child> {
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd.process_group(0);
    let child = cmd.spawn()?;
    tracing::info!(
        "Starting {} as pid {}",
        bin.display(),
        child.id().unwrap_or(0)
    );
    Ok(child)
}

/// Graceful stop: SIGTERM, then SIGKILL if it lingers more than 4 s.
pub async fn terminate(c: &mut Child) {
    if let Some(pid) = c.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(Duration::from_secs(4), c.wait())
        .await
        .is_err()
    {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_spaced_then_backed_off() {
        let mut p = RestartPacer::new("helper");
        assert_eq!(p.pause(), Duration::ZERO, "the first start is immediate");
        p.started();
        let gap = p.pause();
        assert!(
            gap > Duration::from_millis(900) && gap <= RESTART_GAP,
            "{gap:?}"
        );
        for _ in 1..MAX_RESTARTS {
            p.started();
        }
        assert_eq!(p.pause(), RESTART_BACKOFF, "five starts within a minute");
        assert_eq!(p.pause(), Duration::ZERO, "the back-off forgets the burst");
    }
}
