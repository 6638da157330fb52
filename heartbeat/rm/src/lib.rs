//! haresources resource manager: resource groups, takeover, failback, standby, monitoring.
//!
//! A sans-I/O state machine. The daemon feeds it node status changes, the
//! cluster messages addressed to us (including our own loopback copies, as
//! hb-core delivers them), the results of the resource operations it asked
//! for and the passing of time; it drains [`Action`]s with
//! [`ResourceManager::poll_action`].
//!
//! Two protocols live here:
//! * two-node clusters speak heartbeat 3.0.6's R1 protocol exactly
//!   (`nice_failback` for `auto_failback on|off`, `ip-request` for `legacy`),
//!   so one Debian node and one of ours fail over both ways (module `nice`);
//! * clusters of three or more nodes (ours only) use a claim-based placement
//!   every node computes identically, with quorum (module `multi`).
//!
//! Both share the group executor (module `exec`): start left to right, stop
//! right to left, one operation at a time per group, recurring monitors,
//! restart in place, blocked groups. See README.md for the full design.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use hb_config::hacf::AutoFailback;
use hb_config::haresources::{Resource, ResourceGroup};
use hb_wire::Msg;

mod exec;
mod msgs;
mod multi;
mod nice;

pub use msgs::{HB_ALL_RSC, HB_FOREIGN_RSC, HB_LOCAL_RSC, HB_NO_RSC};

/// Identifies one operation the RM asked the daemon to run.
pub type OpId = u64;

/// How long heartbeat waits for the other side to become stable before it
/// takes its local groups anyway (`RQSTDELAY`).
pub const RQSTDELAY_MS: u64 = 10_000;
/// Standby: time to wait for the first reply (`STANDBY_INIT_TO_MS`).
pub const STANDBY_INIT_TO_MS: u64 = 10_000;
/// Standby: time allowed for the resource handling (`HB_STANDBY_RSC_TO_MS`).
pub const STANDBY_RSC_TO_MS: u64 = 3_600_000;

/// Message type of our own claim/connectivity report (Debian peers ignore it:
/// no rc.d script of that name exists, so their `HBDoMsg_default` drops it).
pub const T_RSC_STATE: &str = "hb_rsc_state";

/// What to run on a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `start`, left to right within a group.
    Start,
    /// `stop`, right to left within a group.
    Stop,
    /// Recurring health check (`status` for heartbeat-class scripts).
    Monitor,
    /// One-shot check whether the resource is already running (not issued by
    /// the state machine today; reserved for the daemon's start-up audit).
    Probe,
}

/// Result of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded (for Monitor/Probe: running).
    Ok,
    /// Monitor/Probe: not running. For Stop this counts as success.
    NotRunning,
    /// The script failed with this exit code.
    Failed(i32),
    /// The operation did not finish within its timeout.
    TimedOut,
}

/// The resource set of `hb_standby` / `hb_takeover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every group.
    All,
    /// Groups whose preferred node is the requester.
    Local,
    /// Groups whose preferred node is another node.
    Foreign,
    /// Same as `Foreign` (heartbeat maps it so).
    Failback,
}

impl Which {
    /// Parses the `hb_standby` argument (`all|local|foreign|failback`).
    pub fn parse(s: &str) -> Option<Which> {
        match s {
            "all" => Some(Which::All),
            "local" => Some(Which::Local),
            "foreign" => Some(Which::Foreign),
            "failback" => Some(Which::Failback),
            _ => None,
        }
    }

    pub(crate) fn flags(self) -> u8 {
        match self {
            Which::All => HB_ALL_RSC,
            Which::Local => HB_LOCAL_RSC,
            Which::Foreign | Which::Failback => HB_FOREIGN_RSC,
        }
    }
}

/// Log severity of [`Action::Log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warning,
    Error,
}

/// Something the daemon must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this cluster message (no control fields: hb-core adds src, seq, ...).
    Send(Msg),
    /// Run `op` on resource `index` of group `group` and report with
    /// [`ResourceManager::on_op_result`].
    Op {
        id: OpId,
        /// Group key (first resource as written in haresources).
        group: String,
        /// Position of the resource in its group.
        index: usize,
        resource: Resource,
        op: OpKind,
        /// Give up (report [`Outcome::TimedOut`]) after this long.
        timeout_ms: u64,
    },
    /// Fence (STONITH) `node`, then report with [`ResourceManager::on_fence_result`].
    Fence { node: String },
    /// Graceful shutdown: every group is released; the daemon sends `shutdone`.
    ShutdownComplete,
    /// A heartbeat-style log line ("Resources being acquired from X.").
    Log(LogLevel, String),
}

/// Per-group runtime state as shown by `cl_status` and `groups()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Stopped,
    Starting,
    Running,
    Stopping,
    /// Released after a failed start or too many monitor failures.
    Failed,
    /// A stop failed: never started elsewhere until this node is fenced.
    Blocked,
}

/// Status view of one group on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupView {
    pub key: String,
    /// Preferred node (first word of the haresources line).
    pub preferred: String,
    /// Node believed to hold the group (ourselves when running/starting here).
    pub holder: Option<String>,
    pub state: GroupState,
    /// Failed starts, monitors and stops seen on this node.
    pub failures: u32,
    /// The most recent of those failures, as logged (`monitor of httpd failed (rc 7)`).
    pub last_failure: Option<String>,
}

/// Monitor settings of a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorSpec {
    /// 0 disables monitoring of the resource.
    pub interval_ms: u64,
    pub timeout_ms: u64,
}

/// In-place repairs allowed to one resource before its group fails over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartSpec {
    /// Failed monitors repaired in place within `window_ms`; one more fails the group over.
    pub limit: u32,
    pub window_ms: u64,
}

/// Everything the RM needs to know about the cluster and its resources.
#[derive(Clone, Debug)]
pub struct RmConfig {
    /// Our node name (lower-case, as in ha.cf).
    pub local: String,
    /// Normal nodes in ha.cf order (ping nodes excluded), including `local`.
    pub nodes: Vec<String>,
    pub groups: Vec<ResourceGroup>,
    pub auto_failback: AutoFailback,
    /// Default monitor interval/timeout.
    pub monitor: MonitorSpec,
    /// Per-resource monitor settings, keyed by the resource as written in
    /// haresources (`IPaddr::10.0.0.1/24`) or by its script name.
    pub monitor_overrides: HashMap<String, MonitorSpec>,
    /// Start/stop timeout.
    pub op_timeout_ms: u64,
    /// Monitor failures repaired in place within `restart_window_ms` before
    /// the group is released to a peer.
    pub restart_limit: u32,
    pub restart_window_ms: u64,
    /// Per-resource restart limits, keyed like `monitor_overrides`; a
    /// resource without one uses `restart_limit` in `restart_window_ms`.
    pub restart_overrides: HashMap<String, RestartSpec>,
    /// Attempts of a failing stop (heartbeat: 10, 1 s apart) before Blocked.
    pub stop_retries: u32,
    pub stop_retry_delay_ms: u64,
    /// Ping nodes (ha.cf `ping`/`ping_group`) whose reachability we compare.
    pub ping_nodes: Vec<String>,
    /// How long a ping-count difference must persist before groups move.
    pub ping_hysteresis_ms: u64,
    /// Require a strict majority of `nodes` alive before any takeover
    /// (never applied to two-node clusters).
    pub quorum: bool,
    /// A STONITH device is configured: fence a dead node before taking its groups.
    pub stonith: bool,
    /// When both sides of a split hold groups, both want to fence: the node
    /// later in ha.cf order waits this long so the earlier one shoots first
    /// and only one survives (the daemon sets deadtime).
    pub fence_delay_ms: u64,
    /// Two-node nice_failback: when both nodes start together neither is
    /// stable; each takes its own groups after this delay. heartbeat's
    /// `RQSTDELAY` is 10 s; taking only our own groups the other side does
    /// not hold is safe at any delay, so the default is 1 s (faster cold start).
    pub rqst_delay_ms: u64,
}

impl RmConfig {
    /// A configuration with heartbeat-like defaults: monitor every 10 s with
    /// a 20 s timeout, 3 restarts in 10 minutes, quorum on, no STONITH.
    pub fn new(
        local: &str,
        nodes: Vec<String>,
        groups: Vec<ResourceGroup>,
        auto_failback: AutoFailback,
    ) -> RmConfig {
        RmConfig {
            local: local.to_ascii_lowercase(),
            nodes: nodes.into_iter().map(|n| n.to_ascii_lowercase()).collect(),
            groups,
            auto_failback,
            monitor: MonitorSpec {
                interval_ms: 10_000,
                timeout_ms: 20_000,
            },
            monitor_overrides: HashMap::new(),
            op_timeout_ms: 120_000,
            restart_limit: 3,
            restart_window_ms: 600_000,
            restart_overrides: HashMap::new(),
            stop_retries: 3,
            stop_retry_delay_ms: 1_000,
            ping_nodes: Vec::new(),
            ping_hysteresis_ms: 20_000,
            quorum: true,
            stonith: false,
            fence_delay_ms: 0,
            rqst_delay_ms: 1_000,
        }
    }

    pub(crate) fn monitor_for(&self, r: &Resource) -> MonitorSpec {
        self.monitor_overrides
            .get(&r.to_string())
            .or_else(|| self.monitor_overrides.get(&r.canonical()))
            .or_else(|| self.monitor_overrides.get(&r.script))
            .copied()
            .unwrap_or(self.monitor)
    }

    pub(crate) fn restart_for(&self, r: &Resource) -> RestartSpec {
        self.restart_overrides
            .get(&r.to_string())
            .or_else(|| self.restart_overrides.get(&r.canonical()))
            .or_else(|| self.restart_overrides.get(&r.script))
            .copied()
            .unwrap_or(RestartSpec {
                limit: self.restart_limit,
                window_ms: self.restart_window_ms,
            })
    }
}

/// Errors of the public entry points (bad requests, never bad peer input:
/// malformed messages are logged and ignored, as heartbeat does).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RmError {
    #[error("unknown operation id {0}")]
    UnknownOp(OpId),
    #[error("local node '{0}' is not in the node list")]
    LocalNotANode(String),
    #[error("haresources line {line}: duplicate group key '{key}'")]
    DuplicateKey { key: String, line: usize },
}

/// nice_failback resource state (`resourcestate` in hb_resource.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RState {
    Init,
    Starting,
    BothStarting,
    RscRcvd,
    Stable,
    Shutdown,
}

/// Standby three-phase protocol state (`going_standby`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standby {
    Not,
    Me,
    Other,
    Done,
}

/// What happens once every group of a job has settled (heartbeat ran these
/// steps at the end of its forked resource-management children).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    Nothing,
    /// `resource rsc_hold=<held> rtype=full isstable=1 info=<comment>`.
    ResourcesHeld(Option<&'static str>),
    /// `ask_resources rsc_hold=<standby_rsctype> info=done`.
    StandbyDone,
    /// `resource rsc_hold=foreign info=mach_down`.
    MachDown(String),
    /// `ip-request-resp dest=.. ipaddr=.. weown=.. ok=OK`.
    IpRequestResp {
        dest: String,
        key: String,
        weown: bool,
    },
    /// Graceful shutdown finished.
    Shutdown,
}

#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub groups: Vec<usize>,
    pub then: Then,
}

/// What we know about a peer node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    /// Last heartbeat status (`init|up|active|dead`), "" until heard.
    pub status: String,
    /// Any packet seen from it (`anypacketsyet`).
    pub any_packets: bool,
    /// Claims from its last `hb_rsc_state` (multi-node and extensions).
    pub claims: BTreeSet<String>,
    pub blocked: BTreeSet<String>,
    /// Heard its `hb_rsc_state` since it last came up.
    pub synced: bool,
    /// Reachable ping nodes it reported.
    pub ping: Option<u32>,
    /// Claims kept after its death until it is fenced.
    pub unfenced: bool,
    /// When it last came alive (its report is awaited for `rqst_delay_ms`).
    pub alive_since: u64,
    /// Nodes it sees alive, from its last `hb_rsc_state` (multi-node).
    pub view: BTreeSet<String>,
    /// Groups it had at its death that we may take ("Resources being acquired").
    pub orphans: BTreeSet<String>,
}

/// The resource manager of one node.
#[derive(Debug)]
pub struct ResourceManager {
    pub(crate) cfg: RmConfig,
    pub(crate) multi: bool,
    pub(crate) nice: bool,
    pub(crate) groups: Vec<exec::GroupRt>,
    pub(crate) key_index: HashMap<String, usize>,
    pub(crate) peers: BTreeMap<String, Peer>,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) jobs: Vec<Job>,
    pub(crate) next_op: OpId,
    pub(crate) comm_up: bool,
    // ---- heartbeat R1 state (two-node protocol) ----
    pub(crate) hold: u8,
    pub(crate) other_holds: u8,
    pub(crate) other_stable: bool,
    pub(crate) rstate: RState,
    pub(crate) standby: Standby,
    pub(crate) standby_rsctype: u8,
    pub(crate) standby_deadline: Option<u64>,
    pub(crate) takeover_in_progress: bool,
    pub(crate) rsc_needs_failback: bool,
    pub(crate) failback_retry_at: Option<u64>,
    pub(crate) local_takeover_at: Option<u64>,
    pub(crate) shutdown_in_progress: bool,
    pub(crate) rsc_needs_shutdown: bool,
    pub(crate) shutdown_done: bool,
    pub(crate) peer_has_resources: bool,
    pub(crate) fencing: BTreeMap<String, Option<u64>>,
    /// The peer sent `starting`: its next stable report is fresh.
    pub(crate) peer_restarted: bool,
    /// The live peer has sent a stable report since it came alive.
    pub(crate) peer_reported: bool,
    pub(crate) orphan_repair: bool,
    /// Group sets to hand to the peer (hb_standby) after a local failure.
    pub(crate) failover_pending: u8,
    // ---- multi-node placement ----
    /// Groups a node must not get (standby, failures), by node.
    pub(crate) excluded: BTreeMap<String, BTreeSet<String>>,
    /// hb_takeover: the node that asked for a group.
    pub(crate) override_owner: BTreeMap<String, String>,
    pub(crate) sync_deadline: Option<u64>,
    #[allow(clippy::type_complexity)]
    pub(crate) last_claims_sent: Option<(
        BTreeSet<String>,
        BTreeSet<String>,
        BTreeSet<String>,
        Option<u32>,
        BTreeSet<String>,
    )>,
    // ---- connectivity ----
    pub(crate) ping_up: BTreeSet<String>,
    /// Since when a peer has reached strictly more ping nodes than us.
    pub(crate) ping_better_since: Option<u64>,
}

impl ResourceManager {
    /// Creates the RM; nothing happens until [`on_comm_up`](Self::on_comm_up).
    pub fn new(cfg: RmConfig, now: u64) -> Result<ResourceManager, RmError> {
        if !cfg.nodes.contains(&cfg.local) {
            return Err(RmError::LocalNotANode(cfg.local.clone()));
        }
        let mut key_index = HashMap::new();
        let mut groups = Vec::new();
        for g in &cfg.groups {
            let key = g.key();
            if key_index.insert(key.clone(), groups.len()).is_some() {
                return Err(RmError::DuplicateKey { key, line: g.line });
            }
            groups.push(exec::GroupRt::new(g.clone(), key));
        }
        let peers = cfg
            .nodes
            .iter()
            .filter(|n| **n != cfg.local)
            .map(|n| (n.clone(), Peer::default()))
            .collect();
        let multi = cfg.nodes.len() > 2;
        let nice = cfg.auto_failback.nice_failback();
        let _ = now;
        Ok(ResourceManager {
            cfg,
            multi,
            nice,
            groups,
            key_index,
            peers,
            actions: VecDeque::new(),
            jobs: Vec::new(),
            next_op: 1,
            comm_up: false,
            hold: HB_NO_RSC,
            other_holds: HB_NO_RSC,
            other_stable: false,
            rstate: RState::Init,
            standby: Standby::Not,
            standby_rsctype: HB_ALL_RSC,
            standby_deadline: None,
            takeover_in_progress: false,
            rsc_needs_failback: false,
            failback_retry_at: None,
            local_takeover_at: None,
            shutdown_in_progress: false,
            rsc_needs_shutdown: false,
            shutdown_done: false,
            peer_has_resources: true,
            fencing: BTreeMap::new(),
            failover_pending: HB_NO_RSC,
            peer_restarted: false,
            peer_reported: false,
            orphan_repair: false,
            excluded: BTreeMap::new(),
            override_owner: BTreeMap::new(),
            sync_deadline: None,
            last_claims_sent: None,
            ping_up: BTreeSet::new(),
            ping_better_since: None,
        })
    }

    /// Next action for the daemon, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Our cluster communication is up (hb-core's `CommUp`).
    pub fn on_comm_up(&mut self, now: u64) {
        if self.comm_up {
            return;
        }
        self.comm_up = true;
        if self.multi {
            self.multi_comm_up(now);
        } else {
            self.nice_comm_up(now);
        }
        self.pump(now);
    }

    /// A node's heartbeat status changed (`init|up|active|dead`, or `ping`
    /// for ping nodes).
    pub fn on_node_status(&mut self, now: u64, node: &str, status: &str) {
        let node = node.to_ascii_lowercase();
        if self.cfg.ping_nodes.contains(&node) {
            self.on_ping_status(now, &node, status != "dead");
            return;
        }
        if node == self.cfg.local {
            return;
        }
        let Some(peer) = self.peers.get_mut(&node) else {
            tracing::debug!(%node, "status of a node not in the node list ignored");
            return;
        };
        let was = std::mem::replace(&mut peer.status, status.to_string());
        let came_alive = status != "dead" && (was == "dead" || was.is_empty());
        if came_alive {
            // A restarted peer may take groups again (legacy's has_resources).
            self.peer_has_resources = true;
            self.peer_reported = false;
        }
        if status == "dead" {
            peer.synced = false;
            if was != "dead" {
                if self.multi {
                    self.multi_node_dead(now, &node);
                } else {
                    self.nice_node_dead(now, &node);
                }
            }
        } else if came_alive {
            if let Some(peer) = self.peers.get_mut(&node) {
                peer.any_packets = true;
                peer.alive_since = now;
            }
            if self.multi {
                self.multi_node_alive(&node);
            }
            // A fence waiting for its delay or retry is moot once the node talks
            // to us again; one already running reports through on_fence_result.
            if self.fencing.get(&node).is_some_and(Option::is_some) {
                self.fencing.remove(&node);
                self.log(
                    LogLevel::Warning,
                    format!("{node} is back: pending STONITH cancelled."),
                );
            }
        }
        if self.multi {
            self.multi_reconcile(now);
        }
        self.pump(now);
    }

    /// A ping node became reachable (`up`) or not.
    pub fn on_ping_status(&mut self, now: u64, ping_node: &str, up: bool) {
        let changed = if up {
            self.ping_up.insert(ping_node.to_string())
        } else {
            self.ping_up.remove(ping_node)
        };
        if changed && self.comm_up {
            self.send_rsc_state(true);
            self.check_connectivity(now);
            self.pump(now);
        }
    }

    /// A cluster message for us (from a peer or our own loopback copy; `src`
    /// names the sender).
    pub fn on_message(&mut self, now: u64, msg: &Msg) {
        let Some(t) = msg.msg_type() else { return };
        let Some(src) = msg.get_str("src").map(str::to_ascii_lowercase) else {
            tracing::warn!(t, "resource message without src ignored");
            return;
        };
        let from_us = src == self.cfg.local;
        if !from_us {
            match self.peers.get_mut(&src) {
                Some(p) => p.any_packets = true,
                None => {
                    tracing::debug!(%src, t, "message from a node not in the node list ignored");
                    return;
                }
            }
        }
        if t == T_RSC_STATE {
            self.on_rsc_state(now, &src, from_us, msg);
        } else if t == "stonith" {
            self.on_stonith_msg(now, &src, msg);
        } else if self.multi {
            self.multi_message(now, t, &src, from_us, msg);
        } else {
            self.nice_message(now, t, &src, from_us, msg);
        }
        self.pump(now);
    }

    /// Result of an [`Action::Op`].
    pub fn on_op_result(&mut self, now: u64, id: OpId, outcome: Outcome) -> Result<(), RmError> {
        self.exec_op_result(now, id, outcome)?;
        self.pump(now);
        Ok(())
    }

    /// Result of an [`Action::Fence`].
    pub fn on_fence_result(&mut self, now: u64, node: &str, ok: bool) {
        let node = node.to_ascii_lowercase();
        if self.fencing.remove(&node).is_none() {
            return;
        }
        if ok {
            self.log(LogLevel::Info, format!("node {node} now reset."));
            self.send(msgs::stonith(&node, "OK"));
            if self.peer_alive(&node) {
                // It rejoined while we were fencing: its new incarnation
                // reports its own groups; a reset makes it dead again.
                self.log(
                    LogLevel::Warning,
                    format!("{node} came back before STONITH completed: no takeover."),
                );
                if let Some(p) = self.peers.get_mut(&node) {
                    p.unfenced = false;
                }
            } else if self.multi {
                self.multi_fenced(now, &node);
            } else {
                self.takeover_from_node(now, &node, true);
            }
        } else {
            self.log(
                LogLevel::Error,
                format!("STONITH of {node} failed.  Retrying..."),
            );
            self.fencing.insert(node, Some(now + 5_000));
        }
        self.pump(now);
    }

    /// Time passes: monitors, retries, protocol timers.
    pub fn tick(&mut self, now: u64) {
        let retry: Vec<String> = self
            .fencing
            .iter()
            .filter(|(_, at)| at.is_some_and(|t| now >= t))
            .map(|(n, _)| n.clone())
            .collect();
        for node in retry {
            self.fencing.insert(node.clone(), None);
            self.actions.push_back(Action::Fence { node });
        }
        if self.multi {
            self.multi_tick(now);
        } else {
            self.nice_tick(now);
        }
        self.check_connectivity(now);
        self.exec_tick(now);
        self.pump(now);
    }

    /// `hb_standby [which]`: ask to give our groups of that set away.
    pub fn request_standby(&mut self, now: u64, which: Which) {
        self.log(
            LogLevel::Info,
            format!("Going standby [{}].", msgs::decode(which.flags())),
        );
        self.send(msgs::ask_resources(which.flags(), "me"));
        self.pump(now);
    }

    /// `hb_takeover [which]`: ask the other nodes to give that set to us.
    pub fn request_takeover(&mut self, now: u64, which: Which) {
        self.send(msgs::hb_takeover(which.flags()));
        self.pump(now);
    }

    /// Graceful stop: release every group (reverse order), announce it, then
    /// emit [`Action::ShutdownComplete`] so the daemon sends `shutdone`.
    pub fn shutdown(&mut self, now: u64) {
        if self.multi {
            self.multi_shutdown(now);
        } else {
            self.hb_giveup_resources(now);
        }
        self.pump(now);
    }

    /// `cl_status rscstatus`: `all|local|foreign|none|transition`.
    pub fn rsc_status(&self) -> &'static str {
        if self.multi || !self.nice {
            if !self.jobs.is_empty() || self.groups.iter().any(|g| g.in_transition()) {
                return "transition";
            }
            return msgs::decode(self.physical_hold());
        }
        if self.hb_rsc_isstable() {
            msgs::decode(self.hold)
        } else {
            "transition"
        }
    }

    /// State of one group on this node.
    pub fn group_state(&self, key: &str) -> Option<GroupState> {
        self.key_index.get(key).map(|&i| self.groups[i].state)
    }

    /// Status of every group, in haresources order.
    pub fn groups(&self) -> Vec<GroupView> {
        self.groups
            .iter()
            .map(|g| GroupView {
                key: g.key.clone(),
                preferred: g.def.node.clone(),
                holder: self.holder_of(g),
                state: g.state,
                failures: g.failures,
                last_failure: g.last_failure.clone(),
            })
            .collect()
    }

    /// Reachable ping nodes (what we report to our peers).
    pub fn ping_count(&self) -> u32 {
        u32::try_from(self.ping_up.len()).unwrap_or(u32::MAX)
    }

    /// True once a graceful shutdown has released everything.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown_done
    }

    // ------------------------------------------------------------------
    // shared helpers

    pub(crate) fn send(&mut self, m: Msg) {
        self.actions.push_back(Action::Send(m));
    }

    pub(crate) fn log(&mut self, level: LogLevel, text: String) {
        match level {
            LogLevel::Info => tracing::info!("{text}"),
            LogLevel::Warning => tracing::warn!("{text}"),
            LogLevel::Error => tracing::error!("{text}"),
        }
        self.actions.push_back(Action::Log(level, text));
    }

    /// Fence `node` now, or after `fence_delay_ms` when this is one side of a
    /// split where both sides run groups and `node` comes first in ha.cf:
    /// without the delay both would shoot and nobody would be left to serve.
    pub(crate) fn schedule_fence(&mut self, now: u64, node: &str) {
        let rank = |n: &str| self.cfg.nodes.iter().position(|x| x == n);
        let we_hold = self.physical_hold() != HB_NO_RSC;
        let it_first = matches!((rank(node), rank(&self.cfg.local)), (Some(a), Some(b)) if a < b);
        if we_hold && it_first && self.cfg.fence_delay_ms > 0 {
            self.log(
                LogLevel::Info,
                format!(
                    "Delaying STONITH of {node} by {} ms: both sides hold resources and {node} fences first.",
                    self.cfg.fence_delay_ms
                ),
            );
            self.fencing
                .insert(node.to_string(), Some(now + self.cfg.fence_delay_ms));
        } else {
            self.log(LogLevel::Info, format!("Resetting node {node}"));
            self.fencing.insert(node.to_string(), None);
            self.actions.push_back(Action::Fence {
                node: node.to_string(),
            });
        }
    }

    pub(crate) fn peer_alive(&self, node: &str) -> bool {
        self.peers
            .get(node)
            .is_some_and(|p| !p.status.is_empty() && p.status != "dead")
    }

    /// Groups preferred by `node`, in haresources order.
    pub(crate) fn keys_of(&self, node: &str) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|&i| self.groups[i].def.node == node)
            .collect()
    }

    /// Groups preferred by another node than `node`.
    pub(crate) fn keys_not_of(&self, node: &str) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|&i| self.groups[i].def.node != node)
            .collect()
    }

    /// Flags describing what we physically run (local/foreign groups).
    pub(crate) fn physical_hold(&self) -> u8 {
        let mut f = HB_NO_RSC;
        for g in self.groups.iter().filter(|g| g.claimed()) {
            f |= if g.def.node == self.cfg.local {
                HB_LOCAL_RSC
            } else {
                HB_FOREIGN_RSC
            };
        }
        f
    }

    fn holder_of(&self, g: &exec::GroupRt) -> Option<String> {
        if g.claimed() {
            return Some(self.cfg.local.clone());
        }
        if let Some((n, _)) = self
            .peers
            .iter()
            .find(|(_, p)| p.status != "dead" && p.claims.contains(&g.key))
        {
            return Some(n.clone());
        }
        if !self.multi && self.nice {
            // A Debian peer only reports local/foreign flags.
            if let Some((n, p)) = self.peers.iter().next() {
                if p.status != "dead" {
                    let theirs = g.def.node == *n;
                    let bit = if theirs { HB_LOCAL_RSC } else { HB_FOREIGN_RSC };
                    if self.other_holds & bit != 0 {
                        return Some(n.clone());
                    }
                }
            }
        }
        None
    }

    /// Our `hb_rsc_state` report, asking every peer for theirs.
    pub(crate) fn send_rsc_state_req(&mut self) {
        self.rsc_state_msg(true, true);
    }

    /// Our `hb_rsc_state` report: claims, blocked groups, exclusions and
    /// ping count; unless `force`, only when something changed.
    pub(crate) fn send_rsc_state(&mut self, force: bool) {
        self.rsc_state_msg(force, false);
    }

    fn rsc_state_msg(&mut self, force: bool, req: bool) {
        let claims: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|g| g.claimed())
            .map(|g| g.key.clone())
            .collect();
        let blocked: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|g| g.state == GroupState::Blocked)
            .map(|g| g.key.clone())
            .collect();
        let excluded = self
            .excluded
            .get(&self.cfg.local)
            .cloned()
            .unwrap_or_default();
        let ping = (!self.cfg.ping_nodes.is_empty()).then(|| self.ping_count());
        let view = if self.multi {
            self.multi_view()
        } else {
            BTreeSet::new()
        };
        let now_state = (claims, blocked, excluded, ping, view);
        if !force && self.last_claims_sent.as_ref() == Some(&now_state) {
            return;
        }
        let (c, b, e, p, v) = &now_state;
        let mut m = msgs::rsc_state(c, b, e, *p, req);
        if !v.is_empty() {
            m.add_str("alive", v.iter().cloned().collect::<Vec<_>>().join(" "));
        }
        self.send(m);
        self.last_claims_sent = Some(now_state);
    }

    fn on_rsc_state(&mut self, now: u64, src: &str, from_us: bool, msg: &Msg) {
        if from_us {
            return;
        }
        let list = |f: &str| -> BTreeSet<String> {
            msg.get_str(f)
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let claims = list("held");
        let blocked = list("blocked");
        let excl = list("excluded");
        let ping = msg.get_str("ping").and_then(|p| p.parse::<u32>().ok());
        let req = msg.get_str("req") == Some("1");
        let view = list("alive");
        if let Some(p) = self.peers.get_mut(src) {
            p.claims = claims;
            p.blocked = blocked;
            p.ping = ping;
            p.view = view;
            p.synced = true;
        }
        if excl.is_empty() {
            self.excluded.remove(src);
        } else {
            self.excluded.insert(src.to_string(), excl);
        }
        if req && self.comm_up {
            self.send_rsc_state(true);
        }
        self.check_connectivity(now);
        if self.multi {
            self.multi_reconcile(now);
        }
    }

    fn on_stonith_msg(&mut self, now: u64, src: &str, msg: &Msg) {
        let node = msg.get_str("node").unwrap_or("").to_ascii_lowercase();
        let result = msg.get_str("result").unwrap_or("");
        tracing::info!(%src, %node, result, "stonith report");
        if self.multi && result == "OK" && src != self.cfg.local && !self.peer_alive(&node) {
            self.multi_fenced(now, &node);
        }
    }

    /// ipfail's job: when a peer reaches strictly more ping nodes than we do
    /// for the hysteresis period, give our groups to it.
    fn check_connectivity(&mut self, now: u64) {
        if self.cfg.ping_nodes.is_empty() || !self.comm_up || self.shutdown_in_progress {
            self.ping_better_since = None;
            return;
        }
        let mine = self.ping_count();
        let better = self
            .peers
            .values()
            .any(|p| p.status != "dead" && p.synced && p.ping.is_some_and(|c| c > mine));
        if !better {
            self.ping_better_since = None;
            return;
        }
        let since = *self.ping_better_since.get_or_insert(now);
        if now.saturating_sub(since) < self.cfg.ping_hysteresis_ms {
            return;
        }
        if self.multi {
            // Placement already prefers the better-connected node; releasing
            // is done by multi_reconcile, which reads ping_better_since.
            self.multi_reconcile(now);
        } else if self.physical_hold() != HB_NO_RSC && self.standby == Standby::Not {
            self.ping_better_since = None;
            self.log(
                LogLevel::Info,
                "Peer reaches more ping nodes: going standby [all].".to_string(),
            );
            self.send(msgs::ask_resources(HB_ALL_RSC, "me"));
        }
    }

    /// Runs the executor and finished jobs until nothing changes.
    pub(crate) fn pump(&mut self, now: u64) {
        for _ in 0..64 {
            let mut progressed = self.exec_drive(now);
            let done: Vec<Job> = {
                let (done, keep): (Vec<Job>, Vec<Job>) = std::mem::take(&mut self.jobs)
                    .into_iter()
                    .partition(|j| j.groups.iter().all(|&i| self.groups[i].settled()));
                self.jobs = keep;
                done
            };
            for job in done {
                progressed = true;
                self.job_done(job.then);
            }
            if self.comm_up {
                self.send_rsc_state(false);
            }
            if !progressed {
                break;
            }
        }
        if !self.multi && self.rsc_needs_shutdown {
            self.hb_giveup_resources(now);
        }
        if !self.multi {
            self.nice_failover();
        }
    }

    fn job_done(&mut self, then: Then) {
        match then {
            Then::Nothing => {}
            Then::ResourcesHeld(comment) => {
                if comment == Some("req_our_resources()") {
                    self.log(
                        LogLevel::Info,
                        "Local Resource acquisition completed.".to_string(),
                    );
                }
                if self.nice {
                    self.send(msgs::resource(self.hold, Some(true), comment));
                }
            }
            Then::StandbyDone => {
                self.send(msgs::ask_resources(self.standby_rsctype, "done"));
            }
            Then::MachDown(node) => {
                if self.nice {
                    self.send(msgs::resource(HB_FOREIGN_RSC, None, Some("mach_down")));
                }
                self.log(
                    LogLevel::Info,
                    format!("mach_down takeover complete for node {node}."),
                );
            }
            Then::IpRequestResp { dest, key, weown } => {
                self.send(msgs::ip_request_resp(&dest, &key, weown));
            }
            Then::Shutdown => {
                if let Some(blocked) = self.blocked_keys() {
                    self.log(
                        LogLevel::Error,
                        format!(
                            "Resource STOP failure ({blocked}): shutdown halted, \
                             groups stay claimed until this node is fenced."
                        ),
                    );
                    return;
                }
                self.log(LogLevel::Info, "All HA resources relinquished.".to_string());
                self.shutdown_done = true;
                self.actions.push_back(Action::ShutdownComplete);
            }
        }
    }

    pub(crate) fn blocked_keys(&self) -> Option<String> {
        let v: Vec<&str> = self
            .groups
            .iter()
            .filter(|g| g.state == GroupState::Blocked)
            .map(|g| g.key.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(" "))
    }

    /// Starts a job that brings `groups` up (or down) and then runs `then`.
    pub(crate) fn job(&mut self, groups: Vec<usize>, up: bool, then: Then) {
        for &i in &groups {
            self.set_want(i, up);
        }
        self.jobs.push(Job { groups, then });
    }

    /// Called by the executor when a group gave up (start failure or too
    /// many monitor failures) so that a peer takes it.
    pub(crate) fn group_failed(&mut self, now: u64, i: usize) {
        let key = self.groups[i].key.clone();
        self.log(
            LogLevel::Error,
            format!("Resource group {key} failed here: releasing it to a peer."),
        );
        if self.multi {
            let me = self.cfg.local.clone();
            self.excluded.entry(me).or_default().insert(key);
            self.send_rsc_state(true);
            self.multi_reconcile(now);
        } else if !self.nice {
            // legacy has no standby protocol (heartbeat refuses hb_standby
            // there too): the group stays down until its owner restarts.
            self.log(
                LogLevel::Warning,
                format!("auto_failback legacy: {key} stays down (no standby protocol)."),
            );
        } else if self.nice && !self.shutdown_in_progress {
            // heartbeat runs hb_standby 30 s later; we ask as soon as no
            // other resource transition is under way (see nice_failover).
            self.failover_pending |= if self.groups[i].def.node == self.cfg.local {
                HB_LOCAL_RSC
            } else {
                HB_FOREIGN_RSC
            };
        }
    }
}
