//! STONITH for the haresources manager: heartbeat keeps a stonithd running (unless
//! an ha.cf `respawn` line does) and asks it to reset a dead node before taking its
//! groups. In heartbeat 3.0.6 the daemon linked the plugins itself; here the plugins
//! run in stonithd, so a hanging or crashing plugin never stalls the heartbeat loop.
//!
//! Every fence request gets its own connection and task: a reset of one node can
//! take a minute and must not queue behind or ahead of another.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stonith_ipc::{FenceAction, FenceResult, StonithdClient};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::config::DaemonConfig;
use crate::paths::Paths;

/// Where a package installs stonithd when it is not beside heartbeat.
pub const INSTALLED_STONITHD: &str = "/usr/libexec/rust-ha/stonithd";
/// One fence request, stonithd's own retries included.
const FENCE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a request waits for stonithd to answer on its socket (it may be
/// starting or restarting).
const CONNECT_PATIENCE: Duration = Duration::from_secs(15);

/// The outcome of one fence request, for the event loop.
#[derive(Debug)]
pub struct FenceDone {
    pub node: String,
    pub ok: bool,
    pub detail: String,
}

/// True when ha.cf configures a STONITH device this node can use: a `stonith`
/// line, or a `stonith_host` line for `*` or this node (heartbeat ignores the others).
pub fn configured(cfg: &DaemonConfig) -> bool {
    !cfg.hacf.stonith.is_empty()
        || cfg
            .hacf
            .stonith_hosts
            .iter()
            .any(|h| h.host == "*" || h.host.eq_ignore_ascii_case(&cfg.node))
}

/// stonithd's socket under heartbeat's run dir.
pub fn socket(paths: &Paths) -> PathBuf {
    stonith_ipc::socket_path(&paths.run_dir)
}

/// Finds our stonithd: next to the running executable (a build tree), else
/// [`INSTALLED_STONITHD`].
pub fn find_stonithd() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("stonithd")));
    beside
        .into_iter()
        .chain(std::iter::once(PathBuf::from(INSTALLED_STONITHD)))
        .find(|p| p.is_file())
}

/// How stonithd is run.
#[derive(Debug, Clone)]
pub enum Launch {
    /// heartbeat starts (and restarts) this binary with these arguments.
    Spawn { bin: PathBuf, args: Vec<String> },
    /// An ha.cf `respawn` line runs it; only connect.
    External,
}

/// The arguments that make stonithd see what heartbeat sees: the same ha.cf
/// (its `stonith`/`stonith_host` lines become devices), node name and sockets.
pub fn stonithd_args(cfg: &DaemonConfig, paths: &Paths) -> Vec<String> {
    let mut a = vec![
        "--config-dir".to_string(),
        paths.config_dir.display().to_string(),
        "--run-dir".to_string(),
        paths.run_dir.display().to_string(),
        "--node".to_string(),
        cfg.node.clone(),
        "--register-socket".to_string(),
        paths.api_socket().display().to_string(),
    ];
    if let Some(f) = &cfg.log.logfile {
        a.push("--logfile".to_string());
        a.push(f.display().to_string());
    }
    a
}

/// The loop's handle: fence requests in, [`FenceDone`] out on the channel given
/// to [`Fencer::start`].
pub struct Fencer {
    socket: PathBuf,
    done: mpsc::Sender<FenceDone>,
    stop: Option<oneshot::Sender<()>>,
    supervisor: Option<tokio::task::JoinHandle<()>>,
}

impl Fencer {
    pub fn start(launch: Launch, socket: PathBuf, done: mpsc::Sender<FenceDone>) -> Fencer {
        let (stop_tx, stop_rx) = oneshot::channel();
        let supervisor = match launch {
            Launch::Spawn { bin, args } => {
                Some(tokio::spawn(supervise(bin, args, socket.clone(), stop_rx)))
            }
            Launch::External => None,
        };
        Fencer {
            socket,
            done,
            stop: Some(stop_tx),
            supervisor,
        }
    }

    /// Asks stonithd to reset `node`; the result arrives as a [`FenceDone`].
    pub fn fence(&self, node: &str) {
        let socket = self.socket.clone();
        let done = self.done.clone();
        let node = node.to_string();
        tokio::spawn(async move {
            let (ok, detail) = match fence_once(&socket, &node).await {
                Ok((ok, detail)) => (ok, detail),
                Err(e) => (false, e),
            };
            let _ = done.send(FenceDone { node, ok, detail }).await;
        });
    }

    /// Stops the stonithd we started.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.supervisor.take() {
            let _ = tokio::time::timeout(Duration::from_secs(6), t).await;
        }
    }
}

async fn fence_once(socket: &Path, node: &str) -> Result<(bool, String), String> {
    let deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    let mut client = loop {
        match StonithdClient::connect(socket, "heartbeat").await {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("stonithd at {}: {}", socket.display(), e));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let out = client
        .fence(node, FenceAction::Reset, FENCE_TIMEOUT)
        .await
        .map_err(|e| format!("stonithd: {e}"))?;
    let via = match (&out.device, &out.by) {
        (Some(d), Some(b)) => format!(" (device {d} on {b})"),
        (Some(d), None) => format!(" (device {d})"),
        (None, Some(b)) => format!(" (by {b})"),
        (None, None) => String::new(),
    };
    let result = match out.result {
        FenceResult::Ok => "OK",
        FenceResult::Cannot => "no device can fence it",
        FenceResult::Timeout => "timed out",
        FenceResult::Failed => "failed",
    };
    let detail = if out.detail.is_empty() {
        format!("{result}{via}")
    } else {
        format!("{result}{via}: {}", out.detail.trim())
    };
    Ok((out.result == FenceResult::Ok, detail))
}

/// Keeps stonithd running until `stop` fires, with a restart rate limit.
async fn supervise(
    bin: PathBuf,
    args: Vec<String>,
    socket: PathBuf,
    mut stop: oneshot::Receiver<()>,
) {
    let mut pacer = crate::child::RestartPacer::new("stonithd");
    loop {
        let pause = pacer.pause();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut stop => return,
        }
        pacer.started();
        // A stonithd left by a killed predecessor still serves the socket.
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            tracing::info!(
                "Using the stonithd already answering on {}",
                socket.display()
            );
            let _ = stop.await;
            return;
        }
        let mut child = match spawn(&bin, &args) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("Cannot start stonithd {}: {}", bin.display(), e);
                continue;
            }
        };
        tokio::select! {
            st = child.wait() => {
                let why = st.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                tracing::error!("stonithd exited ({}); restarting it", why);
            }
            _ = &mut stop => {
                crate::child::terminate(&mut child).await;
                return;
            }
        }
    }
}

fn spawn(bin: &Path, args: &[String]) -> std::io::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.args(args);
    crate::child::spawn(cmd, bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stonith_host_lines_for_us_or_everyone_count() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("authkeys");
        std::fs::write(&keys, "auth 1\n1 sha1 secret\n").unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        let paths = Paths {
            config_dir: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let load = |extra: &str| {
            std::fs::write(
                dir.path().join("ha.cf"),
                format!("node node1 node2\nbcast lo\n{extra}"),
            )
            .unwrap();
            DaemonConfig::load(&paths, "node1", 0, true).unwrap()
        };
        assert!(!configured(&load("")));
        assert!(!configured(&load("stonith_host node2 null node1\n")));
        assert!(configured(&load("stonith_host node1 null node2\n")));
        assert!(configured(&load("stonith_host * null node1 node2\n")));
        assert!(configured(&load(
            "stonith baytech /etc/ha.d/conf/stonith.baytech\n"
        )));
        let a = stonithd_args(&load(""), &paths);
        let at = |flag: &str| a[a.iter().position(|x| x == flag).unwrap() + 1].clone();
        assert_eq!(at("--node"), "node1");
        assert_eq!(at("--config-dir"), dir.path().display().to_string());
        assert!(at("--register-socket").ends_with("register"));
    }
}
