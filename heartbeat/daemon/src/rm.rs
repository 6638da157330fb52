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
use hb_config::monitors::Monitors;
use hb_rm::{
    Action, GroupState, MonitorSpec, OpId, OpKind, Outcome, ResourceManager, RestartSpec, RmConfig,
    Which,
};
use hb_wire::Msg;
use tokio::sync::mpsc;

use crate::config::DaemonConfig;
use crate::fencing::{self, FenceDone, Fencer};
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
    /// stonithd's handle when ha.cf configures a STONITH device for this node.
    fencer: Option<Fencer>,
    /// Each group's resources as written in haresources, by group key.
    group_resources: HashMap<String, Vec<String>>,
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
        rc.stonith = fencing::configured(cfg);
        rc.fence_delay_ms = cfg.hacf.deadtime.as_millis() as u64;
        if let Some(monitors) = hb_config::monitors::load(&paths.monitors())? {
            for warning in monitors.unmatched(&groups) {
                tracing::warn!("{warning}");
            }
            apply_monitors(&mut rc, &monitors);
            tracing::info!(
                "per-resource monitoring from {} ({} resource lines)",
                monitors.file.display(),
                monitors.entries.len()
            );
        }
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
            fencer: None,
            group_resources: groups
                .iter()
                .map(|g| {
                    (
                        g.key(),
                        g.resources.iter().map(ToString::to_string).collect(),
                    )
                })
                .collect(),
        })
    }

    /// Starts stonithd (unless ha.cf respawns one) when a STONITH device is
    /// configured; fence results come back on `done`.
    pub fn start_fencing(
        &mut self,
        cfg: &DaemonConfig,
        paths: &Paths,
        done: mpsc::Sender<FenceDone>,
    ) {
        if !fencing::configured(cfg) {
            return;
        }
        let respawned = cfg
            .hacf
            .clients
            .iter()
            .any(|c| c.path.file_name().is_some_and(|f| f == "stonithd"));
        let launch = if respawned {
            tracing::info!("stonithd is started by a respawn line of ha.cf; connecting to it");
            fencing::Launch::External
        } else {
            match fencing::find_stonithd() {
                Some(bin) => fencing::Launch::Spawn {
                    bin,
                    args: fencing::stonithd_args(cfg, paths),
                },
                None => {
                    // Fencing stays on in the RM: every fence fails, so no takeover
                    // happens unfenced (the safe side), and the log says why.
                    tracing::error!(
                        "stonithd not found next to heartbeat nor at {}: STONITH cannot succeed",
                        fencing::INSTALLED_STONITHD
                    );
                    fencing::Launch::External
                }
            }
        };
        self.fencer = Some(Fencer::start(launch, fencing::socket(paths), done));
    }

    /// stonithd's answer to an [`Action::Fence`].
    pub fn on_fence_done(&mut self, now: u64, done: FenceDone) {
        if done.ok {
            tracing::info!("STONITH of {}: {}", done.node, done.detail);
        } else {
            tracing::error!("STONITH of {} failed: {}", done.node, done.detail);
        }
        self.rm.on_fence_result(now, &done.node, done.ok);
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

    /// `cl_status rscgroups`: every group with its state on this node.
    pub fn rsc_groups(&self) -> Vec<hb_api::RscGroup> {
        self.rm
            .groups()
            .into_iter()
            .map(|g| hb_api::RscGroup {
                resources: self
                    .group_resources
                    .get(&g.key)
                    .cloned()
                    .unwrap_or_else(|| vec![g.key.clone()]),
                key: g.key,
                preferred: g.preferred,
                holder: g.holder,
                state: state_name(g.state).to_string(),
                failures: g.failures,
                last_failure: g.last_failure,
            })
            .collect()
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
                Action::Fence { node } => match self.fencer.as_ref() {
                    Some(f) => f.fence(&node),
                    None => {
                        tracing::error!("Cannot fence {}: stonithd is not running", node);
                        self.rm.on_fence_result(now, &node, false);
                    }
                },
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

    /// Stops stonithd, then lrmd, at exit.
    pub async fn stop_lrm(&mut self) {
        if let Some(f) = self.fencer.take() {
            f.stop().await;
        }
        if let Some(lrm) = self.lrm.take() {
            lrm.stop().await;
        }
    }
}

/// The state names `cl_status rscgroups` shows (docs/api.md).
fn state_name(s: GroupState) -> &'static str {
    match s {
        GroupState::Stopped => "stopped",
        GroupState::Starting => "starting",
        GroupState::Running => "running",
        GroupState::Stopping => "stopping",
        GroupState::Failed => "failed",
        GroupState::Blocked => "blocked",
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
/// The monitors file's `default` line replaces the built-in defaults, and every
/// haresources resource gets its merged settings under its exact text (the key
/// hb-rm looks up first), so the file's precedence rules live in one place.
fn apply_monitors(rc: &mut RmConfig, m: &Monitors) {
    let d = m.default;
    rc.monitor.interval_ms = d.interval_ms.unwrap_or(rc.monitor.interval_ms);
    rc.monitor.timeout_ms = d.timeout_ms.unwrap_or(rc.monitor.timeout_ms);
    rc.restart_limit = d.restarts.unwrap_or(rc.restart_limit);
    rc.restart_window_ms = d.window_ms.unwrap_or(rc.restart_window_ms);
    for r in rc.groups.iter().flat_map(|g| &g.resources) {
        let s = m.settings_for(r);
        rc.monitor_overrides.insert(
            r.to_string(),
            MonitorSpec {
                interval_ms: s.interval_ms.unwrap_or(rc.monitor.interval_ms),
                timeout_ms: s.timeout_ms.unwrap_or(rc.monitor.timeout_ms),
            },
        );
        rc.restart_overrides.insert(
            r.to_string(),
            RestartSpec {
                limit: s.restarts.unwrap_or(rc.restart_limit),
                window_ms: s.window_ms.unwrap_or(rc.restart_window_ms),
            },
        );
    }
}

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

    #[test]
    fn rsc_groups_show_state_failures_and_the_last_one() {
        let (_d, mut g) = glue("alpha 10.0.0.5 httpd\nbravo IPaddr::10.0.0.6/24\n");
        let before = g.rsc_groups();
        assert_eq!(before.len(), 2);
        assert_eq!(before[0].resources, ["10.0.0.5", "httpd"]);
        assert_eq!(
            (
                before[0].state.as_str(),
                before[0].failures,
                &before[0].last_failure
            ),
            ("stopped", 0, &None)
        );
        assert_eq!(before[1].key, "IPaddr::10.0.0.6/24");
        assert_eq!(before[1].preferred, "bravo");
        // Without lrmd every operation fails: the start of 10.0.0.5, then the stops
        // of the clean-up, until the group is blocked here.
        g.on_comm_up(0);
        g.on_node_status(0, "bravo", "dead");
        for t in (0..30).map(|i| i * 500) {
            g.tick(t);
            g.poll(t);
        }
        let after = g.rsc_groups();
        let web = &after[0];
        assert_eq!(web.state, "blocked", "{after:?}");
        assert_eq!(web.holder.as_deref(), Some("alpha"));
        assert!(web.failures >= 2, "{web:?}");
        assert_eq!(
            web.last_failure.as_deref(),
            Some("stop of 10.0.0.5 failed (rc 5)"),
            "{web:?}"
        );
    }

    /// RmGlue::new over a temporary /etc/ha.d that has a monitors file.
    fn glue_with_monitors(haresources: &str, monitors: &str) -> Result<RmGlue> {
        let dir = tempfile::tempdir()?;
        let etc = dir.path();
        std::fs::write(etc.join("ha.cf"), "bcast lo\nnode alpha bravo\n")?;
        let keys = etc.join("authkeys");
        std::fs::write(&keys, "auth 1\n1 sha1 secret\n")?;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
        std::fs::write(etc.join("haresources"), haresources)?;
        std::fs::write(etc.join("monitors"), monitors)?;
        let paths = Paths {
            config_dir: etc.to_path_buf(),
            ..Paths::default()
        };
        assert_eq!(paths.monitors(), etc.join("monitors"));
        let cfg = DaemonConfig::load(&paths, "alpha", 0, true)?;
        RmGlue::new(&cfg, &paths, 0)
    }

    #[test]
    fn a_bad_monitors_file_stops_the_start_naming_its_line() {
        let e = glue_with_monitors(
            "alpha 10.0.0.5 httpd\n",
            "default interval=5s\nhttpd interval=soon\n",
        )
        .err()
        .expect("bad interval refused");
        let text = format!("{e:#}");
        assert!(text.contains("monitors line 2"), "{text}");
        assert!(text.contains("[soon]"), "{text}");
        // A line for a resource haresources does not have is only a warning.
        assert!(glue_with_monitors("alpha 10.0.0.5 httpd\n", "mysql interval=1\n").is_ok());
    }

    #[test]
    fn monitors_file_fills_the_rm_config() {
        let groups = hb_config::haresources::parse(
            "alpha 10.0.0.5 httpd\nbravo IPaddr::10.0.0.6 Filesystem::/dev/sdb1::/data\n",
            std::path::Path::new("haresources"),
        )
        .unwrap();
        let monitors = hb_config::monitors::parse(
            "default interval=10s timeout=20s restarts=3 window=10min\n\
             httpd interval=2s timeout=5s\n\
             IPaddr restarts=1\n\
             IPaddr::10.0.0.6 interval=1s\n\
             Filesystem interval=0\n",
            std::path::Path::new("monitors"),
        )
        .unwrap();
        let mut rc = RmConfig::new(
            "alpha",
            vec!["alpha".into(), "bravo".into()],
            groups,
            hb_config::hacf::AutoFailback::On,
        );
        rc.restart_limit = 7;
        apply_monitors(&mut rc, &monitors);
        assert_eq!(rc.restart_limit, 3, "the default line wins over built-ins");
        assert_eq!(rc.restart_window_ms, 600_000);
        let spec = |k: &str| (rc.monitor_overrides[k], rc.restart_overrides[k]);
        let m = |interval_ms, timeout_ms| MonitorSpec {
            interval_ms,
            timeout_ms,
        };
        let r = |limit| RestartSpec {
            limit,
            window_ms: 600_000,
        };
        assert_eq!(spec("httpd"), (m(2_000, 5_000), r(3)));
        // A bare address is IPaddr: the script line's restarts, default timing.
        assert_eq!(spec("10.0.0.5"), (m(10_000, 20_000), r(1)));
        assert_eq!(spec("IPaddr::10.0.0.6"), (m(1_000, 20_000), r(1)));
        assert_eq!(spec("Filesystem::/dev/sdb1::/data"), (m(0, 20_000), r(3)));
        assert_eq!(rc.monitor_overrides.len(), 4);
    }
}
