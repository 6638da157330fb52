//! heartbeat's link to lrmd: starts (and restarts) the daemon unless ha.cf
//! `respawn`s it, connects to its JSON-lines socket (docs/lrmd.md), registers the
//! haresources resources and runs the resource manager's operations.
//!
//! One supervisor task owns the lrmd child and the socket; the event loop talks
//! to it through channels, so nothing here ever blocks the loop. Each connection
//! is a *session* with a number: commands carry the session they were meant for
//! and the task drops commands of an older one, so an operation re-issued after
//! a reconnect cannot also run from a stale queue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hb_rm::{OpId, OpKind, Outcome};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Where an installed lrmd of ours lives when it is not next to `heartbeat`.
/// Not /usr/lib/heartbeat/lrmd: that is cluster-glue's, which speaks clplumbing
/// IPC, not our JSON protocol.
pub const INSTALLED_LRMD: &str = "/usr/libexec/rust-ha/lrmd";
/// How long to wait for a freshly started lrmd to answer on its socket.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// One resource as lrmd knows it (class `heartbeat`, positional parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LrmResource {
    /// lrmd resource id.
    pub id: String,
    /// Script name (resource.d, else /etc/init.d).
    pub script: String,
    /// haresources `::` arguments.
    pub args: Vec<String>,
}

impl LrmResource {
    fn register_request(&self) -> Value {
        let params: serde_json::Map<String, Value> = self
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| ((i + 1).to_string(), Value::String(a.clone())))
            .collect();
        json!({
            "id": format!("reg-{}", self.id),
            "request": "register",
            "rsc": self.id,
            "class": "heartbeat",
            "type": self.script,
            "params": params,
        })
    }
}

/// What the supervisor tells the event loop.
#[derive(Debug)]
pub enum LrmEvent {
    /// Session `session` is connected and every resource is registered:
    /// operations may be sent (again).
    Connected { session: u64 },
    /// The session ended (lrmd died or closed the socket).
    Lost { session: u64, why: String },
    /// Result of operation `op`.
    OpResult { op: OpId, outcome: Outcome },
}

/// A request from the loop to the supervisor.
enum Cmd {
    Exec { session: u64, line: String },
    Stop,
}

/// Where a started lrmd logs.
#[derive(Clone, Debug)]
pub enum LrmdLog {
    /// heartbeat's own stderr (foreground without log files).
    Stderr,
    /// Appended to heartbeat's `logfile`.
    File(PathBuf),
    Syslog,
}

/// How lrmd is obtained.
#[derive(Clone, Debug)]
pub enum LrmdLaunch {
    /// heartbeat starts this binary itself.
    Spawn(PathBuf),
    /// Something else (an ha.cf `respawn` line) runs it; only connect.
    External,
}

/// Finds our lrmd: next to the running executable (so a build tree's
/// `target/debug/heartbeat` uses `target/debug/lrmd`), else [`INSTALLED_LRMD`].
pub fn find_lrmd() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("lrmd")));
    beside
        .into_iter()
        .chain(std::iter::once(PathBuf::from(INSTALLED_LRMD)))
        .find(|p| p.is_file())
}

/// The event loop's handle on the supervisor.
pub struct Lrm {
    cmd_tx: mpsc::UnboundedSender<Cmd>,
    task: tokio::task::JoinHandle<()>,
}

impl Lrm {
    /// Starts the supervisor: it launches lrmd (per `launch`) on `socket`,
    /// registers `resources` and reports on `events`.
    pub fn start(
        launch: LrmdLaunch,
        socket: PathBuf,
        resources: Vec<LrmResource>,
        log: LrmdLog,
        events: mpsc::Sender<LrmEvent>,
    ) -> Lrm {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let sup = Supervisor {
            launch,
            socket,
            resources,
            log,
            events,
            cmd_rx,
            session: 0,
            pacer: crate::child::RestartPacer::new("lrmd"),
        };
        let task = tokio::spawn(sup.run());
        Lrm { cmd_tx, task }
    }

    /// Asks lrmd (session `session`) to run `op` on `rsc`.
    pub fn exec(&self, session: u64, op: OpId, rsc: &str, kind: OpKind, timeout_ms: u64) {
        let operation = match kind {
            OpKind::Start => "start",
            OpKind::Stop => "stop",
            // The runner maps monitor to `status` for heartbeat-class scripts and
            // judges it by its output, as ResourceManager's `status` does.
            OpKind::Monitor | OpKind::Probe => "monitor",
        };
        let req = json!({
            "id": format!("op-{op}"),
            "request": "exec",
            "rsc": rsc,
            "operation": operation,
            "timeout": timeout_ms,
            "interval": 0,
            "target_rc": -1,
            "user_data": op.to_string(),
        });
        let _ = self.cmd_tx.send(Cmd::Exec {
            session,
            line: req.to_string(),
        });
    }

    /// Stops lrmd (SIGTERM, graceful) if we started it and waits a little for it.
    pub async fn stop(self) {
        let _ = self.cmd_tx.send(Cmd::Stop);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Maps an lrmd op record to what the resource manager wants.
pub fn outcome_of(kind: OpKind, status: &str, rc: i64) -> Outcome {
    match status {
        "done" => match (kind, rc) {
            (_, 0) => Outcome::Ok,
            // Stopping something that is not running succeeded.
            (OpKind::Stop, 7) => Outcome::Ok,
            (OpKind::Monitor | OpKind::Probe, 7) => Outcome::NotRunning,
            (_, rc) => Outcome::Failed(i32::try_from(rc).unwrap_or(1)),
        },
        "timeout" => Outcome::TimedOut,
        // cancelled, not-supported, error, or something newer than us.
        _ => Outcome::Failed(if rc > 0 {
            i32::try_from(rc).unwrap_or(1)
        } else {
            1
        }),
    }
}

/// Parses an `op-result` event line into (op id, status, rc); `None` for
/// lines that are not results of our ops.
pub fn parse_result(v: &Value) -> Option<(OpId, String, i64)> {
    if v.get("event")?.as_str()? != "op-result" {
        return None;
    }
    let op: OpId = v.get("user_data")?.as_str()?.parse().ok()?;
    let status = v.get("status")?.as_str()?.to_string();
    let rc = v.get("rc").and_then(Value::as_i64).unwrap_or(-2);
    Some((op, status, rc))
}

struct Supervisor {
    launch: LrmdLaunch,
    socket: PathBuf,
    resources: Vec<LrmResource>,
    log: LrmdLog,
    events: mpsc::Sender<LrmEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    session: u64,
    pacer: crate::child::RestartPacer,
}

enum SessionEnd {
    Lost(String),
    Stop,
}

impl Supervisor {
    async fn run(mut self) {
        loop {
            self.pace_restarts().await;
            // An lrmd left running by a killed predecessor keeps the socket (a new
            // one would exit 100): use it; it knows nothing we must not re-register.
            let alive = UnixStream::connect(&self.socket).await.is_ok();
            let mut child = match &self.launch {
                LrmdLaunch::Spawn(_) if alive => {
                    tracing::info!(
                        "Using the lrmd already answering on {}",
                        self.socket.display()
                    );
                    None
                }
                LrmdLaunch::Spawn(bin) => match spawn_lrmd(bin, &self.socket, &self.log) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::error!("Cannot start lrmd {}: {}", bin.display(), e);
                        continue;
                    }
                },
                LrmdLaunch::External => None,
            };
            self.session += 1;
            let end = self.session_run(child.as_mut()).await;
            if let Some(c) = child.as_mut() {
                if matches!(end, SessionEnd::Stop) {
                    crate::child::terminate(c).await;
                } else {
                    // A connection problem with a live lrmd: start afresh.
                    let _ = c.start_kill();
                    let _ = c.wait().await;
                }
            }
            match end {
                SessionEnd::Stop => return,
                SessionEnd::Lost(why) => {
                    tracing::error!("lrmd connection lost: {}; restarting it", why);
                    let lost = LrmEvent::Lost {
                        session: self.session,
                        why,
                    };
                    if self.events.send(lost).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// The restart rate limit (crate::child::RestartPacer).
    async fn pace_restarts(&mut self) {
        tokio::time::sleep(self.pacer.pause()).await;
        self.pacer.started();
    }

    async fn session_run(&mut self, mut child: Option<&mut Child>) -> SessionEnd {
        let stream = match self.connect(child.as_deref_mut()).await {
            Ok(s) => s,
            Err(why) => return SessionEnd::Lost(why),
        };
        let (rd, mut wr) = stream.into_split();
        let mut lines = BufReader::new(rd).lines();
        for r in &self.resources {
            let line = r.register_request().to_string() + "\n";
            if let Err(e) = wr.write_all(line.as_bytes()).await {
                return SessionEnd::Lost(format!("register {}: {e}", r.id));
            }
        }
        // Anything queued for an older session is re-issued by the loop itself.
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            if matches!(cmd, Cmd::Stop) {
                return SessionEnd::Stop;
            }
        }
        let session = self.session;
        if self
            .events
            .send(LrmEvent::Connected { session })
            .await
            .is_err()
        {
            return SessionEnd::Stop;
        }
        loop {
            tokio::select! {
                cmd = self.cmd_rx.recv() => match cmd {
                    None | Some(Cmd::Stop) => return SessionEnd::Stop,
                    Some(Cmd::Exec { session: s, line }) if s == session => {
                        if let Err(e) = wr.write_all((line + "\n").as_bytes()).await {
                            return SessionEnd::Lost(format!("write: {e}"));
                        }
                    }
                    Some(Cmd::Exec { .. }) => {}
                },
                line = lines.next_line() => match line {
                    Ok(Some(l)) => {
                        if let Some(ev) = self.on_line(&l) {
                            if self.events.send(ev).await.is_err() {
                                return SessionEnd::Stop;
                            }
                        }
                    }
                    Ok(None) => return SessionEnd::Lost("lrmd closed the connection".into()),
                    Err(e) => return SessionEnd::Lost(format!("read: {e}")),
                },
                st = wait_opt(child.as_deref_mut()) => {
                    return SessionEnd::Lost(format!("lrmd exited ({st})"));
                }
            }
        }
    }

    fn on_line(&self, line: &str) -> Option<LrmEvent> {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("lrmd sent a line that is not JSON ({}): {:.200}", e, line);
                return None;
            }
        };
        if let Some((op, status, rc)) = parse_result(&v) {
            // Only the loop knows the op's kind (rc 7 of a stop is a success), so the
            // raw result goes up as a monitor's and is re-mapped there.
            return Some(LrmEvent::OpResult {
                op,
                outcome: raw_outcome(&status, rc),
            });
        }
        if v.get("ok").and_then(Value::as_bool) == Some(false) {
            let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
            let err = v.get("error").cloned().unwrap_or(Value::Null);
            tracing::error!("lrmd refused request {}: {}", id, err);
            // A refused exec never produces a result: report it failed.
            if let Some(op) = id.strip_prefix("op-").and_then(|s| s.parse::<OpId>().ok()) {
                return Some(LrmEvent::OpResult {
                    op,
                    outcome: Outcome::Failed(1),
                });
            }
        }
        None
    }

    async fn connect(&mut self, mut child: Option<&mut Child>) -> Result<UnixStream, String> {
        let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
        loop {
            match UnixStream::connect(&self.socket).await {
                Ok(s) => return Ok(s),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(format!("cannot connect to {}: {e}", self.socket.display()))
                }
                Err(_) => {}
            }
            if let Some(c) = child.as_deref_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(format!("lrmd exited during start-up ({st})"));
                }
            }
            // A Stop while lrmd is still coming up must not wait for it.
            if let Ok(Cmd::Stop) = self.cmd_rx.try_recv() {
                return Err("stopping".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Outcome with rc 7 left as `NotRunning`; the loop turns it into `Ok` for stops.
fn raw_outcome(status: &str, rc: i64) -> Outcome {
    outcome_of(OpKind::Monitor, status, rc)
}

async fn wait_opt(child: Option<&mut Child>) -> String {
    match child {
        Some(c) => match c.wait().await {
            Ok(st) => st.to_string(),
            Err(e) => e.to_string(),
        },
        None => std::future::pending().await,
    }
}

fn spawn_lrmd(bin: &Path, socket: &Path, log: &LrmdLog) -> std::io::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.arg("--socket").arg(socket);
    match log {
        // Its log lines join ours on stderr.
        LrmdLog::Stderr => {}
        LrmdLog::File(f) => {
            cmd.arg("--logfile").arg(f).stderr(Stdio::null());
        }
        LrmdLog::Syslog => {
            cmd.arg("--syslog").stderr(Stdio::null());
        }
    }
    crate::child::spawn(cmd, bin)
}

/// lrmd resource ids for every resource of every group, keyed by (group key, index).
pub fn resource_ids(
    groups: &[hb_config::haresources::ResourceGroup],
) -> BTreeMap<(String, usize), LrmResource> {
    let mut out = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        for (ri, r) in g.resources.iter().enumerate() {
            // Ids must be unique, printable and short: position plus script name.
            let id = format!("hb{}-{}-{}", gi + 1, ri + 1, r.script)
                .chars()
                .filter(|c| !c.is_control() && *c != '/')
                .take(120)
                .collect();
            out.insert(
                (g.key(), ri),
                LrmResource {
                    id,
                    script: r.script.clone(),
                    args: r.args.clone(),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_op_kind() {
        assert_eq!(outcome_of(OpKind::Start, "done", 0), Outcome::Ok);
        assert_eq!(outcome_of(OpKind::Stop, "done", 7), Outcome::Ok);
        assert_eq!(outcome_of(OpKind::Monitor, "done", 7), Outcome::NotRunning);
        assert_eq!(outcome_of(OpKind::Start, "done", 7), Outcome::Failed(7));
        assert_eq!(outcome_of(OpKind::Start, "timeout", -2), Outcome::TimedOut);
        assert_eq!(outcome_of(OpKind::Stop, "error", -2), Outcome::Failed(1));
        assert_eq!(outcome_of(OpKind::Monitor, "done", 1), Outcome::Failed(1));
    }

    #[test]
    fn results_are_matched_by_user_data() {
        let v: Value = serde_json::from_str(
            r#"{"event":"op-result","call_id":3,"rsc":"hb1-1-IPaddr","operation":"start","status":"done","rc":0,"user_data":"17"}"#,
        )
        .unwrap();
        assert_eq!(parse_result(&v), Some((17, "done".into(), 0)));
        let other: Value = serde_json::from_str(r#"{"id":1,"ok":true,"result":{}}"#).unwrap();
        assert_eq!(parse_result(&other), None);
    }

    #[test]
    fn heartbeat_class_registration_has_positional_params() {
        let text = "node1 IPaddr::10.0.0.5/24/eth0 httpd\n";
        let groups = hb_config::haresources::parse(text, Path::new("haresources")).unwrap();
        let ids = resource_ids(&groups);
        let ip = &ids[&("IPaddr::10.0.0.5/24/eth0".to_string(), 0)];
        assert_eq!(ip.id, "hb1-1-IPaddr");
        let req = ip.register_request();
        assert_eq!(req["class"], "heartbeat");
        assert_eq!(req["type"], "IPaddr");
        assert_eq!(req["params"]["1"], "10.0.0.5/24/eth0");
        let httpd = &ids[&("IPaddr::10.0.0.5/24/eth0".to_string(), 1)];
        assert_eq!(httpd.id, "hb1-2-httpd");
        assert!(httpd.register_request()["params"]
            .as_object()
            .unwrap()
            .is_empty());
    }
}
