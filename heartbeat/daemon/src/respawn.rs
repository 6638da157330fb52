//! ha.cf `respawn <user> <path> [args]` clients (reference §7.6): started after
//! comm-up as that user, restarted when they exit unless with code 100, given up
//! after more than 10 consecutive runs shorter than 30 s ("respawning too fast"),
//! stopped with SIGTERM in reverse order at shutdown.
//!
//! `failfast`: heartbeat reboots the machine when such a client dies abnormally.
//! We never reboot: the death is logged at error level as a failfast event and the
//! client is respawned like any other (rebooting a test or shared machine from a
//! daemon is not something we do without a STONITH-grade reason).

use std::process::Stdio;
use std::time::Duration;

use hb_config::hacf::ClientChild;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// A run shorter than this counts towards "respawning too fast".
pub const SHORT_RUN: Duration = Duration::from_secs(30);
/// More consecutive short runs than this and the client is given up.
pub const MAX_SHORT_RUNS: u32 = 10;
/// Exit code meaning "do not restart me".
pub const NO_RESPAWN_EXIT: i32 = 100;
/// How long a client may take to exit after SIGTERM at shutdown.
const STOP_WAIT: Duration = Duration::from_secs(10);

struct Supervised {
    command: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The running `respawn` clients.
pub struct Respawner {
    clients: Vec<Supervised>,
}

impl Respawner {
    /// Starts every client (ha.cf order); `env` are ha.cf `env` pairs, exported
    /// as `HA_<name>`.
    pub fn start(clients: &[ClientChild], env: &[(String, String)]) -> Respawner {
        let clients = clients
            .iter()
            .map(|c| {
                let (stop, stop_rx) = oneshot::channel();
                let task = tokio::spawn(supervise(c.clone(), env.to_vec(), stop_rx));
                Supervised {
                    command: c.command.clone(),
                    stop,
                    task,
                }
            })
            .collect();
        Respawner { clients }
    }

    /// Stops the clients in reverse order, each before the next.
    pub async fn stop(self) {
        for c in self.clients.into_iter().rev() {
            tracing::info!("Stopping child client \"{}\"", c.command);
            let _ = c.stop.send(());
            let _ = tokio::time::timeout(STOP_WAIT + Duration::from_secs(2), c.task).await;
        }
    }
}

/// Why a client is not restarted, if it is not.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Respawn,
    /// Exited with [`NO_RESPAWN_EXIT`].
    Done,
    TooFast,
}

/// Decides after one run; `short_runs` is the running count of consecutive
/// short runs (updated).
pub fn verdict(exit_code: Option<i32>, ran_for: Duration, short_runs: &mut u32) -> Verdict {
    if exit_code == Some(NO_RESPAWN_EXIT) {
        return Verdict::Done;
    }
    if ran_for < SHORT_RUN {
        *short_runs += 1;
    } else {
        *short_runs = 0;
    }
    if *short_runs > MAX_SHORT_RUNS {
        Verdict::TooFast
    } else {
        Verdict::Respawn
    }
}

async fn supervise(c: ClientChild, env: Vec<(String, String)>, mut stop: oneshot::Receiver<()>) {
    let mut short_runs = 0;
    loop {
        let mut child = match spawn(&c, &env) {
            Ok(ch) => ch,
            Err(e) => {
                tracing::error!("Cannot start child client \"{}\": {}", c.command, e);
                return;
            }
        };
        let pid = child.id().unwrap_or(0);
        tracing::info!(
            "Starting child client \"{}\" ({},{}) as pid {}",
            c.command,
            c.uid,
            c.gid,
            pid
        );
        let started = tokio::time::Instant::now();
        let status = tokio::select! {
            st = child.wait() => st,
            _ = &mut stop => {
                terminate(&mut child).await;
                return;
            }
        };
        let (code, how) = match &status {
            Ok(st) => match (st.code(), std::os::unix::process::ExitStatusExt::signal(st)) {
                (Some(code), _) => (Some(code), format!("exited with return code {code}")),
                (None, Some(sig)) => (None, format!("killed by signal {sig}")),
                _ => (None, "ended".to_string()),
            },
            Err(e) => (None, format!("could not be waited for: {e}")),
        };
        let abnormal = code != Some(0);
        if c.failfast && abnormal {
            tracing::error!(
                "failfast client \"{}\" (pid {}) {}: heartbeat would reboot this node; \
                 we do not (respawning it instead)",
                c.command,
                pid,
                how
            );
        } else {
            tracing::warn!("Managed {} process {} {}.", c.command, pid, how);
        }
        match verdict(code, started.elapsed(), &mut short_runs) {
            Verdict::Respawn => tracing::info!("Respawning client \"{}\":", c.command),
            Verdict::Done => {
                tracing::info!(
                    "Client \"{}\" exited with return code {}: not respawning.",
                    c.command,
                    NO_RESPAWN_EXIT
                );
                return;
            }
            Verdict::TooFast => {
                tracing::error!(
                    "Client \"{}\" respawning too fast: not respawning it again.",
                    c.command
                );
                return;
            }
        }
    }
}

fn spawn(c: &ClientChild, env: &[(String, String)]) -> std::io::Result<Child> {
    let mut cmd = Command::new(&c.path);
    cmd.args(&c.args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(format!("HA_{k}"), v);
    }
    if nix::unistd::geteuid().is_root() {
        let gid = c.gid;
        // SAFETY: only setgroups(2), async-signal-safe, runs between fork and exec;
        // without it the client would keep root's supplementary groups.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(gid)])
                    .map_err(std::io::Error::from)
            });
        }
        cmd.uid(c.uid).gid(c.gid);
    }
    cmd.spawn()
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(STOP_WAIT, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[test]
    fn verdict_rules() {
        let mut n = 0;
        assert_eq!(verdict(Some(100), Duration::ZERO, &mut n), Verdict::Done);
        for _ in 0..MAX_SHORT_RUNS {
            assert_eq!(
                verdict(Some(1), Duration::from_secs(1), &mut n),
                Verdict::Respawn
            );
        }
        // A long run resets the count.
        assert_eq!(verdict(Some(1), SHORT_RUN, &mut n), Verdict::Respawn);
        assert_eq!(n, 0);
        for _ in 0..MAX_SHORT_RUNS {
            verdict(None, Duration::ZERO, &mut n);
        }
        assert_eq!(verdict(None, Duration::ZERO, &mut n), Verdict::TooFast);
    }

    fn client(dir: &Path, body: &str) -> ClientChild {
        let script = dir.join("client.sh");
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        ClientChild {
            user: "root".into(),
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            path: script.clone(),
            args: vec![dir.join("runs").to_string_lossy().into_owned()],
            command: script.to_string_lossy().into_owned(),
            failfast: false,
            line: 1,
        }
    }

    fn runs(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    async fn settle(dir: &Path, want: usize) {
        for _ in 0..200 {
            if runs(dir) >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Give a wrongly respawned client time to show up.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    #[tokio::test]
    async fn crashing_client_is_given_up_after_too_many_short_runs() {
        let dir = tempfile::tempdir().unwrap();
        let c = client(dir.path(), "echo run >> \"$1\"; exit 1");
        let r = Respawner::start(&[c], &[]);
        settle(dir.path(), MAX_SHORT_RUNS as usize + 1).await;
        assert_eq!(runs(dir.path()), MAX_SHORT_RUNS as usize + 1);
        r.stop().await;
    }

    #[tokio::test]
    async fn exit_100_is_not_respawned_and_env_is_exported() {
        let dir = tempfile::tempdir().unwrap();
        let c = client(dir.path(), "echo \"$HA_FOO\" >> \"$1\"; exit 100");
        let r = Respawner::start(&[c], &[("FOO".into(), "bar".into())]);
        settle(dir.path(), 1).await;
        assert_eq!(
            std::fs::read_to_string(dir.path().join("runs")).unwrap(),
            "bar\n"
        );
        r.stop().await;
    }

    #[tokio::test]
    async fn stop_terminates_a_running_client() {
        let dir = tempfile::tempdir().unwrap();
        let c = client(
            dir.path(),
            "echo $$ >> \"$1\"; trap 'echo term >> \"$1\"; exit 0' TERM; while :; do sleep 0.05; done",
        );
        let r = Respawner::start(&[c], &[]);
        settle(dir.path(), 1).await;
        r.stop().await;
        let text = std::fs::read_to_string(dir.path().join("runs")).unwrap();
        assert!(text.ends_with("term\n"), "{text}");
        assert_eq!(text.lines().count(), 2, "respawned after stop: {text}");
    }
}
