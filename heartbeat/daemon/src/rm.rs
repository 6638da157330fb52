//! Glue between the event loop, hb-rm's haresources resource manager and lrmd.
//!
//! The loop feeds [`RmGlue`] hb-core's events (status changes, comm-up, delivered
//! cluster messages, our own loopback copies included) and lrmd's op results; the
//! glue runs the RM's operations through [`crate::lrmd_client`] and hands back what
//! only the loop can do: cluster sends and the end of a graceful shutdown.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{Context, Result};
use hb_config::hacf::ResourceManager as RmMode;
use hb_rm::{Action, OpId, OpKind, Outcome, ResourceManager, RmConfig, Which};
use hb_wire::Msg;
use tokio::sync::mpsc;

use crate::config::DaemonConfig;
use crate::lrmd_client::{self, Lrm, LrmEvent, LrmResource, LrmdLaunch, LrmdLog};
use crate::paths::Paths;

/// How often the RM's timers (monitors, retries, standby, the 1 s request delay)
/// are looked at when there are resources; hb-rm asks for at most 500 ms.
pub const TICK_MS: u64 = 200;
/// Without resources only protocol timers remain: fewer wake-ups on an idle node.
pub const IDLE_TICK_MS: u64 = 500;

/// Message types the RM consumes (hb_resource.c's handlers plus our claim report).
const RM_TYPES: &[&str] = &[
    "starting",
    "resource",
    "ask_resources",
    "hb_takeover",
    "ip-request",
    "ip-request-resp",
    "shutdone",
    "stonith",
    hb_rm::T_RSC_STATE,
];

/// What the RM wants from the loop.
#[derive(Debug)]
pub enum RmOut {
    /// Send this message to the cluster (core adds the control fields).
    Send(Msg),
    /// Everything is released: send `shutdone` and exit.
    ShutdownComplete,
}

struct InFlight {
    rsc: String,
    kind: OpKind,
    timeout_ms: u64,
}

/// The resource manager with its lrmd connection.
pub struct RmGlue {
    rm: ResourceManager,
    lrm: Option<Lrm>,
    /// lrmd session the resources are registered in; `None` while (re)connecting.
    session: Option<u64>,
    ids: BTreeMap<(String, usize), LrmResource>,
    in_flight: HashMap<OpId, InFlight>,
    next_tick_ms: u64,
    tick_ms: u64,
    shutting_down: bool,
}

/// True when this daemon runs the haresources manager: ha.cf has no `crm`
/// (R1 mode) and `-M` was not given.
pub fn wanted(cfg: &DaemonConfig, no_resources: bool) -> bool {
    !no_resources && cfg.hacf.resource_manager() == RmMode::Haresources
}

impl RmGlue {
    /// Loads haresources and builds the RM (nothing runs until comm-up).
    pub fn new(cfg: &DaemonConfig, paths: &Paths, now_ms: u64) -> Result<RmGlue> {
        let groups = hb_config::haresources::load(&paths.haresources())?;
        let ping = cfg.hacf.ping_nodes();
        let nodes: Vec<String> = cfg
            .hacf
            .nodes
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .filter(|n| !ping.contains(n))
            .collect();
        let mut rc = RmConfig::new(&cfg.node, nodes, groups.clone(), cfg.hacf.auto_failback);
        rc.ping_nodes = ping;
        let rm = ResourceManager::new(rc, now_ms)
            .with_context(|| format!("{}", paths.haresources().display()))?;
        Ok(RmGlue {
            rm,
            lrm: None,
            session: None,
            ids: lrmd_client::resource_ids(&groups),
            in_flight: HashMap::new(),
            next_tick_ms: now_ms + TICK_MS,
            tick_ms: if groups.iter().all(|g| g.resources.is_empty()) {
                IDLE_TICK_MS
            } else {
                TICK_MS
            },
            shutting_down: false,
        })
    }

    /// Starts lrmd (unless ha.cf respawns one) and the connection to it.
    pub fn start_lrm(&mut self, cfg: &DaemonConfig, paths: &Paths, events: mpsc::Sender<LrmEvent>) {
        let respawned = cfg
            .hacf
            .clients
            .iter()
            .any(|c| c.path.file_name().is_some_and(|f| f == "lrmd"));
        let launch = if respawned {
            tracing::info!("lrmd is started by a respawn line of ha.cf; connecting to it");
            LrmdLaunch::External
        } else if !self.has_resources() {
            // Nothing to run: an lrmd would only cost memory (an idle node stays at
            // one process, like the messaging layer alone).
            tracing::debug!("haresources names no resource: lrmd not started");
            return;
        } else {
            match lrmd_client::find_lrmd() {
                Some(bin) => LrmdLaunch::Spawn(bin),
                None => {
                    tracing::error!(
                        "lrmd not found next to heartbeat nor at {}: resources cannot be managed",
                        lrmd_client::INSTALLED_LRMD
                    );
                    return;
                }
            }
        };
        let resources = self.ids.values().cloned().collect();
        self.lrm = Some(Lrm::start(
            launch,
            lrmd_socket(paths),
            resources,
            lrmd_log(cfg),
            events,
        ));
    }

    /// True when haresources names at least one resource.
    pub fn has_resources(&self) -> bool {
        !self.ids.is_empty()
    }

    /// `cl_status rscstatus`.
    pub fn rsc_status(&self) -> &'static str {
        self.rm.rsc_status()
    }

    /// When the RM next wants [`RmGlue::tick`].
    pub fn next_tick_ms(&self) -> u64 {
        self.next_tick_ms
    }

    /// Whether the event loop must wake up for this manager's ticks. With no resources
    /// nothing it does is time-critical: it is ticked whenever the loop wakes anyway
    /// (every keepalive at least), which keeps an idle node at one wake-up a beat.
    pub fn needs_timer(&self) -> bool {
        self.tick_ms != IDLE_TICK_MS || self.shutting_down
    }

    /// Time passes.
    pub fn tick(&mut self, now: u64) {
        if now >= self.next_tick_ms {
            self.next_tick_ms = now + self.tick_ms;
            self.rm.tick(now);
        }
    }

    pub fn on_comm_up(&mut self, now: u64) {
        self.rm.on_comm_up(now);
    }

    pub fn on_node_status(&mut self, now: u64, node: &str, status: &str) {
        self.rm.on_node_status(now, node, status);
    }

    /// A delivered cluster message; those the RM has no business with are ignored.
    pub fn on_message(&mut self, now: u64, msg: &Msg) {
        if msg.msg_type().is_some_and(|t| RM_TYPES.contains(&t)) {
            self.rm.on_message(now, msg);
        }
    }

    /// A classic message written to the FIFO by `hb_standby`/`hb_takeover`.
    /// Returns false when it is not one of theirs (the loop sends it as is).
    pub fn on_local_request(&mut self, now: u64, msg: &Msg) -> bool {
        let which = || {
            msg.get_str("rsc_hold")
                .and_then(Which::parse)
                .unwrap_or(Which::All)
        };
        match msg.msg_type() {
            Some("ask_resources") if msg.get_str("info") == Some("me") => {
                self.rm.request_standby(now, which());
                true
            }
            Some("hb_takeover") => {
                self.rm.request_takeover(now, which());
                true
            }
            _ => false,
        }
    }

    /// SIGTERM: release everything (reverse order), then `ShutdownComplete`.
    pub fn shutdown(&mut self, now: u64) {
        if !self.shutting_down {
            self.shutting_down = true;
            self.rm.shutdown(now);
        }
    }

    pub fn on_lrm_event(&mut self, now: u64, ev: LrmEvent) {
        match ev {
            LrmEvent::Connected { session } => {
                tracing::info!("lrmd connected (session {})", session);
                self.session = Some(session);
                // Operations of a lost session never reported: run them again.
                // heartbeat-class start/stop/status are idempotent, so running one
                // twice is harmless; reporting it failed would move or block groups.
                let mut ids: Vec<OpId> = self.in_flight.keys().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    if let (Some(lrm), Some(f)) = (self.lrm.as_ref(), self.in_flight.get(&id)) {
                        lrm.exec(session, id, &f.rsc, f.kind, f.timeout_ms);
                    }
                }
            }
            LrmEvent::Lost { session, why } => {
                if self.session == Some(session) {
                    tracing::error!("lrmd session {} lost: {}", session, why);
                    self.session = None;
                }
            }
            LrmEvent::OpResult { op, outcome } => {
                let Some(f) = self.in_flight.remove(&op) else {
                    tracing::debug!("result of unknown or finished op {} ignored", op);
                    return;
                };
                let outcome = match (f.kind, outcome) {
                    (OpKind::Stop, Outcome::NotRunning) => Outcome::Ok,
                    (OpKind::Start, Outcome::NotRunning) => Outcome::Failed(7),
                    (_, o) => o,
                };
                tracing::debug!("{} {:?}: {:?}", f.rsc, f.kind, outcome);
                if let Err(e) = self.rm.on_op_result(now, op, outcome) {
                    tracing::warn!("resource manager refused op result: {}", e);
                }
            }
        }
    }

    /// Runs the RM's operations and returns what the loop must do, in order.
    pub fn poll(&mut self, now: u64) -> Vec<RmOut> {
        let mut out = Vec::new();
        while let Some(a) = self.rm.poll_action() {
            match a {
                Action::Send(m) => out.push(RmOut::Send(m)),
                Action::ShutdownComplete => out.push(RmOut::ShutdownComplete),
                // hb-rm already wrote these through tracing, which is our logger.
                Action::Log(..) => {}
                Action::Fence { node } => {
                    // No STONITH device support yet (issue 5): the RM only asks
                    // when one is configured, which RmConfig never says.
                    tracing::error!("Cannot fence {}: no STONITH support", node);
                    self.rm.on_fence_result(now, &node, false);
                }
                Action::Op {
                    id,
                    group,
                    index,
                    resource,
                    op,
                    timeout_ms,
                } => {
                    let Some(r) = self.ids.get(&(group.clone(), index)) else {
                        tracing::error!("no lrmd resource for {} in group {}", resource, group);
                        let _ = self.rm.on_op_result(now, id, Outcome::Failed(5));
                        continue;
                    };
                    if !matches!(op, OpKind::Monitor) {
                        tracing::info!("{:?} {} (group {})", op, resource, group);
                    }
                    let rsc = r.id.clone();
                    if let (Some(lrm), Some(session)) = (self.lrm.as_ref(), self.session) {
                        lrm.exec(session, id, &rsc, op, timeout_ms);
                    }
                    if self.lrm.is_none() {
                        // No lrmd at all: every operation fails at once.
                        let _ = self.rm.on_op_result(now, id, Outcome::Failed(5));
                        continue;
                    }
                    // Sent now, or at the next Connected.
                    self.in_flight.insert(
                        id,
                        InFlight {
                            rsc,
                            kind: op,
                            timeout_ms,
                        },
                    );
                }
            }
        }
        out
    }

    /// Stops lrmd at exit.
    pub async fn stop_lrm(&mut self) {
        if let Some(lrm) = self.lrm.take() {
            lrm.stop().await;
        }
    }
}

/// lrmd logs where heartbeat does: its logfile, else stderr in the foreground,
/// else syslog.
fn lrmd_log(cfg: &DaemonConfig) -> LrmdLog {
    match (&cfg.log.logfile, cfg.log.stderr) {
        (Some(f), _) => LrmdLog::File(f.clone()),
        (None, true) => LrmdLog::Stderr,
        (None, false) => LrmdLog::Syslog,
    }
}

/// lrmd's socket under heartbeat's run dir.
pub fn lrmd_socket(paths: &Paths) -> PathBuf {
    paths.run_dir.join("lrm").join("lrmd.sock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A two-node R1 configuration in a temporary /etc/ha.d.
    fn glue(haresources: &str) -> (tempfile::TempDir, RmGlue) {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path();
        std::fs::write(
            etc.join("ha.cf"),
            "bcast lo\nnode alpha bravo\nauto_failback on\n",
        )
        .unwrap();
        let keys = etc.join("authkeys");
        std::fs::write(&keys, "auth 1\n1 sha1 secret\n").unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(etc.join("haresources"), haresources).unwrap();
        let paths = Paths {
            config_dir: etc.to_path_buf(),
            ..Paths::default()
        };
        let cfg = DaemonConfig::load(&paths, "alpha", 0, true).unwrap();
        assert!(wanted(&cfg, false));
        assert!(!wanted(&cfg, true), "-M disables the resource manager");
        let g = RmGlue::new(&cfg, &paths, 0).unwrap();
        (dir, g)
    }

    fn sent(outs: &[RmOut]) -> Vec<(String, Option<String>, Option<String>)> {
        outs.iter()
            .filter_map(|o| match o {
                RmOut::Send(m) => Some((
                    m.msg_type().unwrap_or("").to_string(),
                    m.get_str("rsc_hold").map(str::to_string),
                    m.get_str("info").map(str::to_string),
                )),
                RmOut::ShutdownComplete => None,
            })
            .collect()
    }

    #[test]
    fn comm_up_announces_starting() {
        let (_d, mut g) = glue("alpha 10.0.0.5 httpd\n");
        g.on_comm_up(0);
        let out = sent(&g.poll(0));
        assert!(
            out.iter().any(|(t, _, _)| t == "starting"),
            "no starting in {out:?}"
        );
    }

    #[test]
    fn fifo_requests_go_to_the_resource_manager() {
        let (_d, mut g) = glue("alpha 10.0.0.5 httpd\n");
        g.on_comm_up(0);
        g.poll(0);
        let mut standby = Msg::with_type("ask_resources");
        standby.add_str("rsc_hold", "foreign").add_str("info", "me");
        assert!(g.on_local_request(10, &standby));
        let out = sent(&g.poll(10));
        assert!(
            out.contains(&(
                "ask_resources".into(),
                Some("foreign".into()),
                Some("me".into())
            )),
            "{out:?}"
        );
        let mut takeover = Msg::with_type("hb_takeover");
        takeover.add_str("rsc_hold", "local");
        assert!(g.on_local_request(20, &takeover));
        let out = sent(&g.poll(20));
        assert!(
            out.contains(&("hb_takeover".into(), Some("local".into()), None)),
            "{out:?}"
        );
        // Anything else is not the RM's: the loop sends it as it is.
        let other = Msg::with_type("ask_resources");
        assert!(!g.on_local_request(30, &other));
        assert!(!g.on_local_request(30, &Msg::with_type("my-event")));
    }

    #[test]
    fn without_lrmd_operations_fail_instead_of_hanging() {
        // Alone at comm-up with a dead peer, alpha takes its group: with no lrmd the
        // start fails at once, and so do the stops meant to clean up, so the group
        // ends Blocked (never handed on while its state here is unknown).
        let (_d, mut g) = glue("alpha 10.0.0.5 httpd\n");
        g.on_comm_up(0);
        g.on_node_status(0, "bravo", "dead");
        for t in (0..30).map(|i| i * 500) {
            g.tick(t);
            g.poll(t);
        }
        assert!(g.in_flight.is_empty());
        let groups = g.rm.groups();
        assert_eq!(groups[0].state, hb_rm::GroupState::Blocked, "{groups:?}");
        assert!(groups[0].failures > 0);
    }
}
