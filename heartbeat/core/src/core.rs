//! The engine: inputs (messages, ticks, client sends) in, [`Action`]s out.

use std::collections::VecDeque;

use hb_wire::Msg;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, error, info, warn};

use crate::config::{ms, AutoJoin, CoreConfig, Now};
use crate::error::CoreError;
use crate::history::History;
use crate::join::{format_nodelist, parse_nodelist, JoinState};
use crate::link::{ifstat_msg, LinkId, LinkState};
use crate::node::{format_uuid, status, Node, NodeType, NodeView};
use crate::seq::SeqVerdict;

/// Clients are paused when more of our messages than this are unacknowledged.
pub const FLOW_CONTROL_WINDOW: u64 = 250;
/// A node advertises `deadtime + DT_BONUS_MS` during its first `DT_BONUS_PERIOD_MS`.
pub const DT_BONUS_MS: u64 = 2000;
/// See [`DT_BONUS_MS`].
pub const DT_BONUS_PERIOD_MS: u64 = 5000;
/// At most this many packets are resent (or NAKed) for one `NS_rexmit`.
pub const MAX_REXMIT_BATCH: usize = 50;
/// Receivers ACK every `ACK_MSG_DIV`th message.
pub const ACK_MSG_DIV: u64 = 10;

/// Something the caller must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A complete message (all control fields) to encode and write on every medium.
    Send(Msg),
    /// A message for local API clients.
    Deliver(Msg),
    /// A node's status changed (also for the local node).
    NodeStatus {
        node: String,
        old: String,
        new: String,
    },
    /// A (node, medium) link changed state.
    LinkStatus {
        node: String,
        link: String,
        up: bool,
    },
    /// The local node joined: open the API socket, start respawn clients.
    CommUp,
    /// A peer restarted (higher generation).
    NodeRestarted { node: String },
    /// A peer announced `shutdone`.
    ShutdownNotice { node: String },
    /// Flow control: stop (true) or resume (false) reading client sockets.
    ClientsPaused(bool),
    /// The node table, the deleted list or a node's weight, site or UUID changed:
    /// the host cache ([`Core::host_cache`]) is worth saving.
    NodeTable,
}

/// One normal node as the host cache remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedNode {
    pub name: String,
    pub uuid: Option<[u8; 16]>,
    pub weight: u32,
    pub site: String,
}

/// What heartbeat keeps in `hostcache` and `delhostcache` across restarts (§3.7).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCache {
    /// Normal nodes in node-table order.
    pub nodes: Vec<CachedNode>,
    /// Nodes removed with `delnode`: autojoin must not bring them back.
    pub deleted: Vec<String>,
}

/// Counters for diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub delivered: u64,
    pub malformed_dropped: u64,
    pub unknown_nodes_dropped: u64,
    pub duplicates_dropped: u64,
    pub replays_dropped: u64,
    /// Gaps detected (each may cover several packets).
    pub gaps: u64,
    pub packets_missed: u64,
    pub resyncs: u64,
    /// Dead nodes heard again in the same generation ("returning after partition").
    pub returns_after_partition: u64,
    pub rexmit_requests_sent: u64,
    pub rexmit_requests_received: u64,
    /// Packets resent in answer to `NS_rexmit`.
    pub rexmits_answered: u64,
    pub naks_sent: u64,
    pub naks_received: u64,
    pub acks_sent: u64,
    pub acks_received: u64,
    /// Current size of the sent-message history.
    pub history_len: u64,
    /// Current number of missing seqs over all senders.
    pub missing_total: u64,
}

/// The heartbeat protocol for one local node. See the crate docs.
pub struct Core {
    cfg: CoreConfig,
    rng: SmallRng,
    nodes: Vec<Node>,
    deleted: Vec<String>,
    start_ms: u64,
    last_seq: u64,
    history: History,
    join: JoinState,
    paused: bool,
    shutting_down: bool,
    flow_control_warned: bool,
    loadavg: String,
    next_status_ms: u64,
    actions: VecDeque<Action>,
    stats: CoreStats,
}

impl Core {
    /// Builds the node table and queues the first status messages (`init`, then `up`).
    pub fn new(cfg: CoreConfig, now: Now) -> Core {
        let mut cfg = cfg;
        cfg.local = cfg.local.to_lowercase();
        let mut core = Core {
            rng: SmallRng::seed_from_u64(cfg.rng_seed),
            nodes: Vec::new(),
            deleted: Vec::new(),
            start_ms: now.mono_ms,
            last_seq: 0,
            history: History::default(),
            join: JoinState::Waiting,
            paused: false,
            shutting_down: false,
            flow_control_warned: false,
            loadavg: "0.00 0.00 0.00 1/1 1".to_string(),
            next_status_ms: now.mono_ms + ms(cfg.keepalive),
            actions: VecDeque::new(),
            stats: CoreStats::default(),
            cfg,
        };
        let mut normal = core.cfg.nodes.clone();
        if !normal
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&core.cfg.local))
        {
            // autojoin any: the local node need not be listed.
            normal.insert(0, core.cfg.local.clone());
        }
        for n in normal {
            core.add_node(&n, NodeType::Normal);
        }
        for n in core.cfg.ping_nodes.clone() {
            core.add_node(&n, NodeType::Ping);
        }
        let li = core.local_idx();
        let local = &mut core.nodes[li];
        local.uuid = Some(core.cfg.local_uuid);
        local.generation = Some(core.cfg.generation);
        // Our own links never time out; they start up so a medium without loopback
        // (ucast) still reports the local side as usable.
        for l in &mut local.links {
            l.state = LinkState::Up;
            l.last_ms = Some(now.mono_ms);
        }
        core.send_status(now);
        core.set_local_status(now, status::UP);
        core
    }

    // ----- queries -----------------------------------------------------------------

    /// The local node name.
    pub fn local(&self) -> &str {
        &self.cfg.local
    }

    /// True once the join is complete.
    pub fn comm_up(&self) -> bool {
        self.join == JoinState::Up
    }

    /// True when comm is up and every normal node is active with every link up: the
    /// only traffic then expected is each node's `st=active` status, whose handling
    /// may wait for the next wake-up when given its arrival time (the daemon parks
    /// it, see heartbeat/daemon/src/parking.rs). Anything that makes a status
    /// message news (a node dead, joining or leaving, a link down) ends it.
    pub fn settled(&self) -> bool {
        self.comm_up()
            && !self.shutting_down
            && self.nodes.iter().all(|n| {
                n.node_type != NodeType::Normal
                    || (n.status == status::ACTIVE
                        && n.links.iter().all(|l| l.state == LinkState::Up))
            })
    }

    /// True while flow control keeps clients paused.
    pub fn clients_paused(&self) -> bool {
        self.paused
    }

    /// All nodes in node-table order.
    pub fn nodes(&self) -> Vec<NodeView> {
        self.nodes.iter().map(Node::view).collect()
    }

    /// One node by (case-insensitive) name.
    pub fn node(&self, name: &str) -> Option<NodeView> {
        self.find_name(name).map(|i| self.nodes[i].view())
    }

    /// A node's UUID, if known.
    pub fn uuid_of(&self, name: &str) -> Option<[u8; 16]> {
        self.find_name(name).and_then(|i| self.nodes[i].uuid)
    }

    /// The name of the node with that UUID.
    pub fn name_of_uuid(&self, uuid: &[u8; 16]) -> Option<String> {
        self.find_uuid(uuid).map(|i| self.nodes[i].name.clone())
    }

    /// Normal nodes that are up or active, including the local node.
    pub fn live_node_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_live_normal()).count()
    }

    /// Counters and queue sizes.
    pub fn stats(&self) -> CoreStats {
        let mut s = self.stats.clone();
        s.history_len = self.history.len() as u64;
        s.missing_total = self.nodes.iter().map(|n| n.seq.missing.len() as u64).sum();
        s
    }

    /// The normal nodes and the deleted list, for `hostcache`/`delhostcache`.
    pub fn host_cache(&self) -> HostCache {
        HostCache {
            nodes: self
                .nodes
                .iter()
                .filter(|n| n.node_type == NodeType::Normal)
                .map(|n| CachedNode {
                    name: n.name.clone(),
                    uuid: n.uuid,
                    weight: n.weight,
                    site: n.site.clone(),
                })
                .collect(),
            deleted: self.deleted.clone(),
        }
    }

    /// Start-up with autojoin: nodes that joined or were added in an earlier run come
    /// back (with their UUID, weight and site) and deleted nodes stay deleted. Nodes
    /// are only added, never removed: a node from ha.cf missing from the cache stays.
    /// No [`Action::NodeTable`] is queued: the cache already says this.
    pub fn restore_host_cache(&mut self, cache: &HostCache) {
        let mut deleted: Vec<String> = Vec::new();
        for d in &cache.deleted {
            let d = d.to_lowercase();
            if valid_node_name(&d) && !deleted.contains(&d) {
                deleted.push(d);
            }
        }
        self.deleted = deleted;
        let local = self.local_idx();
        for c in &cache.nodes {
            let name = c.name.to_lowercase();
            if !valid_node_name(&name) || self.deleted.contains(&name) {
                continue;
            }
            let i = match self.find_name(&name) {
                Some(i) if self.nodes[i].node_type != NodeType::Normal => continue,
                Some(i) => i,
                None => {
                    debug!("host cache: adding node {}", name);
                    self.add_node(&name, NodeType::Normal)
                }
            };
            // Our own UUID comes from hb_uuid, and a UUID already taken would make
            // two entries answer to one sender.
            if let Some(u) = c.uuid {
                if i != local && self.nodes[i].uuid.is_none() && self.find_uuid(&u).is_none() {
                    self.nodes[i].uuid = Some(u);
                }
            }
            self.nodes[i].weight = c.weight;
            self.nodes[i].site = c.site.clone();
        }
    }

    /// The latest monotonic time at which [`Core::tick`] must be called.
    pub fn next_wakeup(&self) -> u64 {
        let mut t = self.next_status_ms.min(self.liveness_deadline());
        if let JoinState::Requesting { next_try_ms, .. } = self.join {
            t = t.min(next_try_ms);
        }
        for n in self.nodes.iter().filter(|n| !n.is_dead()) {
            if let Some(&first) = n.seq.missing.values().min() {
                t = t.min(first);
            }
        }
        t
    }

    /// Takes the next pending output.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    // ----- inputs ------------------------------------------------------------------

    /// Sets the `ld` value (contents of /proc/loadavg without the newline).
    pub fn set_loadavg(&mut self, ld: String) {
        self.loadavg = ld;
    }

    /// Timers: status every keepalive, dead detection, join retries, rexmit requests.
    pub fn tick(&mut self, now: Now) {
        if now.mono_ms >= self.next_status_ms {
            if !self.shutting_down {
                let m = self.status_msg(now);
                self.send(now, m);
            }
            let ka = ms(self.cfg.keepalive).max(1);
            self.next_status_ms += ka;
            if self.next_status_ms <= now.mono_ms {
                // The caller was late: do not send a burst to catch up.
                self.next_status_ms = now.mono_ms + ka;
            }
        }
        // Dead detection runs exactly when a node or link can first expire, not on a
        // poll: a death is seen at its deadline, and while peers keep talking the
        // deadline keeps moving, so an idle node wakes for nothing but its own status.
        if now.mono_ms >= self.liveness_deadline() {
            self.check_timeouts(now);
        }
        self.check_join(now);
        if let JoinState::Requesting { next_try_ms, .. } = &mut self.join {
            // check_join may have waited without retrying: never leave a timer in the past.
            if *next_try_ms <= now.mono_ms {
                *next_try_ms = now.mono_ms + ms(self.cfg.keepalive).max(1);
            }
        }
        self.send_due_rexmit_requests(now);
        self.update_flow_control();
    }

    /// Sends a message from a local client: control fields are added, it is stored
    /// for retransmission, sent, and delivered locally if addressed to us or to all.
    pub fn send_cluster(&mut self, now: Now, msg: Msg) -> Result<(), CoreError> {
        let msg_type = msg.msg_type().ok_or(CoreError::MissingType)?.to_string();
        if msg_type.starts_with("NS_") {
            return Err(CoreError::ReservedType { msg_type });
        }
        if self.shutting_down {
            return Err(CoreError::ShuttingDown { msg_type });
        }
        if !self.comm_up() {
            return Err(CoreError::CommNotUp { msg_type });
        }
        if self.paused {
            let unacked = self.last_seq.saturating_sub(self.effective_ack_point());
            return Err(CoreError::Paused { msg_type, unacked });
        }
        let sent = self.send_copy(now, msg);
        if self.is_for_us(&sent) {
            // Our own copy is delivered here, not when it loops back (the loopback is
            // only acked), so its effect on the node table is applied here too.
            self.apply_table_change(&msg_type, &sent);
            self.deliver(sent);
        }
        self.update_flow_control();
        Ok(())
    }

    /// Graceful stop: sends `shutdone st=dead` and marks the local node dead. Status
    /// messages stop; retransmission requests are still answered.
    pub fn shutdown(&mut self, now: Now) {
        if self.shutting_down {
            return;
        }
        let mut m = Msg::with_type("shutdone");
        m.add_str("st", status::DEAD);
        let sent = self.send_copy(now, m);
        self.deliver(sent);
        self.shutting_down = true;
        let li = self.local_idx();
        self.change_status(li, status::DEAD);
    }

    /// An authenticated, decoded packet that arrived on local medium `link`.
    pub fn on_message(&mut self, now: Now, link: LinkId, msg: Msg) {
        self.stats.msgs_in += 1;
        let Some(msg_type) = msg.msg_type().map(str::to_owned) else {
            return self.malformed("missing type", &msg);
        };
        let Some(src) = msg.get_str("src").map(str::to_lowercase) else {
            return self.malformed("missing from", &msg);
        };
        // ts is %lx; 0 or unparsable is silently dropped (§2.6).
        if msg.get_hex("ts").unwrap_or(0) == 0 {
            return self.malformed("missing ts", &msg);
        }
        if msg_type == "NS_st" {
            return self.on_ping(now, &src, msg);
        }
        let Some(idx) = self.lookup_sender(&src, &msg) else {
            return;
        };
        self.link_heard(now, idx, link);

        let ns = msg_type.starts_with("NS_");
        if ns {
            // NS_ messages are outside generations and sequence numbers.
            if self.is_for_us(&msg) {
                self.on_ns(now, idx, &msg_type, &msg);
            }
            return;
        }
        let Some(seq) = msg.get_hex("seq") else {
            return self.malformed("missing seqno", &msg);
        };
        let hg = msg.get_hex("hg").unwrap_or(0);
        if idx == self.local_idx() {
            return self.on_own_loopback(now, seq, hg);
        }
        let prev_gen = self.nodes[idx].generation;
        if let Some(gen) = prev_gen {
            if hg < gen {
                warn!(
                    "attempted replay attack [{}]? [gen = {}, curgen = {}]",
                    self.nodes[idx].name, hg, gen
                );
                self.stats.replays_dropped += 1;
                return;
            }
            if hg > gen && msg_type == "status" {
                self.node_restarted(idx, hg);
            }
        } else if msg_type == "status" {
            self.nodes[idx].generation = Some(hg);
        }

        let verdict = self.track_seq(now, idx, seq);
        if !verdict.accepted() {
            self.stats.duplicates_dropped += 1;
            return;
        }
        self.maybe_ack(now, idx, seq, &verdict);
        // A filled gap may release held-back messages, after this one.
        let release = matches!(
            verdict,
            SeqVerdict::Filled { .. } | SeqVerdict::Resync { .. }
        );
        if self.is_for_us(&msg) {
            let same_gen = prev_gen == Some(hg);
            self.dispatch(now, idx, seq, hg, same_gen, &msg_type, msg);
        }
        if release {
            self.release_held(idx);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        now: Now,
        idx: usize,
        seq: u64,
        hg: u64,
        same_gen: bool,
        msg_type: &str,
        msg: Msg,
    ) {
        match msg_type {
            "status" => self.on_status(now, idx, seq, hg, same_gen, msg),
            "shutdone" => self.on_shutdone(now, idx, hg, msg),
            "reqnodes" => self.on_reqnodes(now, idx),
            "repnodes" => self.on_repnodes(now, &msg),
            "setweight" | "setsite" | "addnode" | "delnode" => {
                self.apply_table_change(msg_type, &msg);
                self.deliver(msg);
            }
            "hbapi-clstat" => self.deliver_ordered(idx, seq, msg),
            _ => self.deliver(msg),
        }
    }

    /// Client join/leave notices must not overtake older messages of their sender.
    fn deliver_ordered(&mut self, idx: usize, seq: u64, msg: Msg) {
        let n = &mut self.nodes[idx];
        match n.seq.missing.keys().next() {
            Some(&first_missing) if seq > first_missing => n.held_clstat.push((seq, msg)),
            _ => self.deliver(msg),
        }
    }

    /// Delivers held-back `hbapi-clstat` messages no longer behind a gap.
    fn release_held(&mut self, idx: usize) {
        let n = &mut self.nodes[idx];
        if n.held_clstat.is_empty() {
            return;
        }
        let barrier = n.seq.missing.keys().next().copied().unwrap_or(u64::MAX);
        let (ready, held): (Vec<_>, Vec<_>) =
            n.held_clstat.drain(..).partition(|(s, _)| *s < barrier);
        n.held_clstat = held;
        for (_, m) in ready {
            self.deliver(m);
        }
    }

    // ----- message handlers --------------------------------------------------------

    fn on_ns(&mut self, now: Now, idx: usize, msg_type: &str, msg: &Msg) {
        match msg_type {
            "NS_ackmsg" => {
                let Some(ack) = msg.get_hex("ackseq") else {
                    return self.malformed("missing ackseq", msg);
                };
                self.stats.acks_received += 1;
                let ack = ack.min(self.last_seq);
                let n = &mut self.nodes[idx];
                n.ackseq = Some(n.ackseq.map_or(ack, |a| a.max(ack)));
                self.update_flow_control();
            }
            "NS_rexmit" => {
                if idx != self.local_idx() {
                    self.on_rexmit_request(now, idx, msg);
                }
            }
            "NS_nak_rexmit" => {
                let Some(seq) = msg.get_hex("firstseq") else {
                    return self.malformed("missing firstseq", msg);
                };
                self.stats.naks_received += 1;
                let name = self.nodes[idx].name.clone();
                if self.nodes[idx].seq.give_up(seq) {
                    self.release_held(idx);
                    error!("Irretrievably lost packet: node {} seq {}", name, seq);
                    if self.nodes[idx].seq.missing.is_empty() {
                        info!("No pkts missing from {}!", name);
                        self.send_ack_for_last(now, idx);
                    }
                }
            }
            other => debug!("ignoring {} from {}", other, self.nodes[idx].name),
        }
    }

    fn on_rexmit_request(&mut self, now: Now, idx: usize, msg: &Msg) {
        let (Some(first), Some(last)) = (msg.get_dec("firstseq"), msg.get_dec("lastseq")) else {
            return self.malformed("bad firstseq/lastseq", msg);
        };
        self.stats.rexmit_requests_received += 1;
        let requester = self.nodes[idx].name.clone();
        if last > self.last_seq {
            warn!(
                "rexmit request from {} for seq {} beyond our last seq {}",
                requester, last, self.last_seq
            );
        }
        let start = match self.nodes[idx].ackseq {
            // The requester already acknowledged these.
            Some(a) => first.max(a.saturating_add(1)),
            None => first,
        };
        let end = last.min(self.last_seq);
        let oldest = self.history.oldest().unwrap_or(self.last_seq + 1);
        let holdoff = ms(self.cfg.max_rexmit_delay).saturating_sub(10);
        let mut outputs = 0;
        let mut seq = start;
        while seq <= end && outputs < MAX_REXMIT_BATCH {
            if seq < oldest {
                self.send_nak(now, &requester, seq, "seqno too low");
                outputs += 1;
            } else {
                match self.history.get_mut(seq) {
                    None => {
                        self.send_nak(now, &requester, seq, "seqno not found");
                        outputs += 1;
                    }
                    Some(e) => {
                        let recent = e
                            .last_resend_ms
                            .is_some_and(|t| now.mono_ms.saturating_sub(t) < holdoff);
                        if !recent {
                            e.last_resend_ms = Some(now.mono_ms);
                            let copy = e.msg.clone();
                            self.stats.rexmits_answered += 1;
                            self.stats.msgs_out += 1;
                            self.actions.push_back(Action::Send(copy));
                            outputs += 1;
                        }
                    }
                }
            }
            seq += 1;
        }
    }

    fn send_nak(&mut self, now: Now, dest: &str, seq: u64, info: &str) {
        let mut m = Msg::with_type("NS_nak_rexmit");
        m.add_str("firstseq", format!("{seq:x}"))
            .add_str("dest", dest)
            .add_str("info", info);
        self.stats.naks_sent += 1;
        self.send(now, m);
    }

    /// `same_gen`: the sender's generation was already known and unchanged.
    fn on_status(&mut self, now: Now, idx: usize, seq: u64, hg: u64, same_gen: bool, msg: Msg) {
        let local_deadtime = ms(self.cfg.deadtime);
        let local_warntime = ms(self.cfg.warntime);
        let name = self.nodes[idx].name.clone();
        {
            let n = &self.nodes[idx];
            if n.shutdown_gen.is_some_and(|g| hg <= g) {
                // Status keeps flowing for a moment after shutdone; it must not revive it.
                return;
            }
            if n.last_status_seq.is_some_and(|s| seq < s) {
                // A retransmitted older status: newer state is already known.
                return;
            }
        }
        if let Some(dt) = msg.get_hex("dt") {
            self.nodes[idx].dead_ms = dt;
        }
        self.nodes[idx].protocol = Some(msg.contains("protocol"));
        if let Some(last) = self.nodes[idx].last_status_ms {
            if !self.nodes[idx].is_dead() {
                let interval = now.mono_ms.saturating_sub(last);
                if interval > local_deadtime {
                    error!(
                        "Late heartbeat: Node {}: interval {} ms (> deadtime)",
                        name, interval
                    );
                    self.mark_dead(now, idx);
                } else if interval > local_warntime {
                    warn!("Late heartbeat: Node {}: interval {} ms", name, interval);
                }
            }
        }
        if self.nodes[idx].is_dead() && same_gen {
            error!("Cluster node {} returning after partition.", name);
            self.stats.returns_after_partition += 1;
        }
        let n = &mut self.nodes[idx];
        n.last_status_ms = Some(now.mono_ms);
        n.last_status_seq = Some(seq);
        let st = msg.get_str("st").unwrap_or(status::UP).to_string();
        if n.status != st {
            // Back from the dead, or restarted (init/up again before comm-up).
            let returned = n.node_type == NodeType::Normal
                && (n.is_dead() || st == status::INIT || st == status::UP);
            if n.is_dead() {
                // It is alive again: it owes us acks only from now on.
                n.ackseq = None;
            }
            info!("Status update for node {}: status {}", name, st);
            self.change_status(idx, &st);
            self.deliver(msg);
            if returned && !self.shutting_down {
                // A (re)starting node is not up until it has heard every node:
                // answer now rather than at our next keepalive (up to a whole
                // interval later). Once per return, so two nodes cannot ping-pong.
                let m = self.status_msg(now);
                self.send(now, m);
            }
        }
        self.update_flow_control();
        self.check_join(now);
    }

    fn on_shutdone(&mut self, now: Now, idx: usize, hg: u64, msg: Msg) {
        let name = self.nodes[idx].name.clone();
        // heartbeat's line comes from its resource manager (ours logs it too); here
        // it would appear twice.
        debug!("Received shutdown notice from '{}'.", name);
        self.nodes[idx].shutdown_gen = Some(hg);
        self.actions
            .push_back(Action::ShutdownNotice { node: name });
        self.deliver(msg);
        // Unlike heartbeat (which waits for the dead time) the node is dead at once:
        // it told us so.
        self.mark_dead(now, idx);
    }

    fn on_reqnodes(&mut self, now: Now, idx: usize) {
        let asker = self.nodes[idx].name.clone();
        let list = format_nodelist(
            self.nodes
                .iter()
                .filter(|n| n.node_type == NodeType::Normal)
                .map(|n| n.name.as_str()),
        );
        let del = format_nodelist(self.deleted.iter().map(String::as_str));
        let mut m = Msg::with_type("repnodes");
        m.add_str("dest", &asker)
            .add_str("nodelist", list)
            .add_str("delnodelist", del);
        self.send(now, m);
    }

    fn on_repnodes(&mut self, now: Now, msg: &Msg) {
        if !matches!(self.join, JoinState::Requesting { .. }) {
            debug!("ignoring unsolicited repnodes");
            return;
        }
        let Some(list) = msg.get_str("nodelist") else {
            return self.malformed("missing nodelist", msg);
        };
        let before = self.host_cache();
        let names = parse_nodelist(list);
        for n in &names {
            if self.find_name(n).is_none() {
                info!("Adding node [{}] to the node list", n);
                self.add_node(n, NodeType::Normal);
            }
        }
        let local = self.local_idx();
        let mut i = 0;
        while i < self.nodes.len() {
            let n = &self.nodes[i];
            if i != local && n.node_type == NodeType::Normal && !names.contains(&n.name) {
                if n.is_live_normal() {
                    warn!("Cannot remove alive node {}", n.name);
                } else {
                    info!("Removing node [{}] from the node list", n.name);
                    self.nodes.remove(i);
                    continue;
                }
            }
            i += 1;
        }
        self.deleted = msg
            .get_str("delnodelist")
            .map(parse_nodelist)
            .unwrap_or_default();
        if self.host_cache() != before {
            self.actions.push_back(Action::NodeTable);
        }
        self.comm_now_up(now);
    }

    /// Messages that change the node table, from any node including ourselves.
    fn apply_table_change(&mut self, msg_type: &str, msg: &Msg) {
        match msg_type {
            "setweight" | "setsite" => self.on_set_attribute(msg_type, msg),
            "addnode" => self.on_addnode(msg),
            "delnode" => self.on_delnode(msg),
            _ => {}
        }
    }

    /// The names of an `addnode`/`delnode` request; None (logged) when there are none.
    fn request_nodelist(msg_type: &str, msg: &Msg) -> Option<Vec<String>> {
        let names = msg
            .get_str("nodelist")
            .map(parse_nodelist)
            .unwrap_or_default();
        if names.is_empty() {
            error!(
                "HBDoMsg_T_{}: nodelist not found in msg",
                msg_type.to_uppercase()
            );
            return None;
        }
        Some(names)
    }

    /// `hb_addnode` (§3.7): each name is added on its own; existing ones are refused.
    fn on_addnode(&mut self, msg: &Msg) {
        let Some(names) = Self::request_nodelist("addnode", msg) else {
            return;
        };
        let mut changed = false;
        for name in names {
            if self.find_name(&name).is_some() {
                error!("hb_add_one_node: node({}) already exists", name);
                error!("Add node {} failed", name);
                continue;
            }
            info!(
                "hb_add_one_node: Adding new node[{}] to configuration.",
                name
            );
            self.add_node(&name, NodeType::Normal);
            self.deleted.retain(|d| *d != name);
            changed = true;
        }
        if changed {
            self.actions.push_back(Action::NodeTable);
        }
    }

    /// `hb_delnode` (§3.7): all or nothing. Only nodes that are not running can go,
    /// and only while every other node is alive, so that no node that missed the
    /// message can later bring the deleted ones back through `repnodes`.
    fn on_delnode(&mut self, msg: &Msg) {
        let Some(names) = Self::request_nodelist("delnode", msg) else {
            return;
        };
        // Checked first: we are alive, so the check below would hide why.
        if names.contains(&self.cfg.local) {
            error!("I am being deleted from the cluster. This should not happen");
            return;
        }
        for name in &names {
            let Some(i) = self.find_name(name) else {
                continue;
            };
            let n = &self.nodes[i];
            if n.node_type != NodeType::Normal {
                warn!("deletion failed: node {} is a ping node", name);
                return;
            }
            // A node never heard from (init) is not running either (§3.7).
            if !n.is_dead() && n.status != status::INIT {
                warn!("deletion failed: node {} is not dead", name);
                return;
            }
        }
        if let Some(n) = self.nodes.iter().find(|n| {
            n.node_type == NodeType::Normal && !names.contains(&n.name) && !n.is_live_normal()
        }) {
            error!(
                "HBDoMsg_T_DELNODE: deletion failed. We don't have all required nodes alive ({} is dead)",
                n.name
            );
            return;
        }
        for name in names {
            info!("Removing node [{}] from configuration.", name);
            if let Some(i) = self.find_name(&name) {
                self.nodes.remove(i);
            }
            if !self.deleted.contains(&name) {
                self.deleted.push(name);
            }
        }
        self.actions.push_back(Action::NodeTable);
    }

    /// `hb_setweight` / `hb_setsite` from any node (§2.7).
    fn on_set_attribute(&mut self, msg_type: &str, msg: &Msg) {
        let Some(idx) = msg.get_str("node").and_then(|n| self.find_name(n)) else {
            return self.malformed("setweight/setsite for unknown node", msg);
        };
        let changed = if msg_type == "setweight" {
            match msg.get_str("weight").and_then(|w| w.trim().parse().ok()) {
                Some(w) => std::mem::replace(&mut self.nodes[idx].weight, w) != w,
                None => {
                    self.malformed("bad weight", msg);
                    false
                }
            }
        } else if let Some(site) = msg.get_str("site") {
            std::mem::replace(&mut self.nodes[idx].site, site.to_string()) != site
        } else {
            false
        };
        if changed {
            self.actions.push_back(Action::NodeTable);
        }
    }

    fn on_ping(&mut self, now: Now, src: &str, msg: Msg) {
        let Some(idx) = self
            .find_name(src)
            .filter(|&i| self.nodes[i].node_type == NodeType::Ping)
        else {
            self.stats.unknown_nodes_dropped += 1;
            warn!("ping packet from unknown ping node [{}]", src);
            return;
        };
        if msg.get_str("st") != Some(status::PING) {
            return self.malformed("NS_st without st=ping", &msg);
        }
        self.link_heard(now, idx, 0);
        self.nodes[idx].last_status_ms = Some(now.mono_ms);
        if self.nodes[idx].status != status::PING {
            info!("Status update for node {}: status ping", src);
            self.change_status(idx, status::PING);
            self.deliver(msg);
        }
    }

    /// Our own sequenced message came back through a medium: only acked (§3.5).
    fn on_own_loopback(&mut self, now: Now, seq: u64, hg: u64) {
        if hg != self.cfg.generation {
            self.stats.replays_dropped += 1;
            return;
        }
        let li = self.local_idx();
        let n = &mut self.nodes[li];
        // Gaps in our own stream are not worth a rexmit request: we have them all.
        match n.seq.last_seq {
            Some(l) if seq <= l => {
                self.stats.duplicates_dropped += 1;
                return;
            }
            _ => n.seq.last_seq = Some(seq),
        }
        if seq % ACK_MSG_DIV == n.ack_trigger {
            self.send_ack(now, li, seq);
        }
    }

    // ----- node table --------------------------------------------------------------

    fn add_node(&mut self, name: &str, node_type: NodeType) -> usize {
        let dead_ms = match node_type {
            NodeType::Normal => ms(self.cfg.deadtime),
            NodeType::Ping => ms(self.cfg.deadping),
        };
        let trigger = self.rng.gen_range(0..ACK_MSG_DIV);
        self.nodes.push(Node::new(
            &name.to_lowercase(),
            node_type,
            &self.cfg.links,
            &self.cfg.ping_nodes,
            dead_ms,
            trigger,
        ));
        self.nodes.len() - 1
    }

    fn local_idx(&self) -> usize {
        // The constructor guarantees the local node is in the table and repnodes
        // never removes it.
        self.find_name(&self.cfg.local).unwrap_or(0)
    }

    fn find_name(&self, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(name))
    }

    fn find_uuid(&self, uuid: &[u8; 16]) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.uuid.as_ref() == Some(uuid))
    }

    /// §3.8: by UUID first, then by name; autojoin for unknown senders (§3.7).
    fn lookup_sender(&mut self, src: &str, msg: &Msg) -> Option<usize> {
        let uuid: Option<[u8; 16]> = msg.get_bin("srcuuid").and_then(|b| b.try_into().ok());
        let local = self.local_idx();
        if let Some(u) = uuid {
            if let Some(i) = self.find_uuid(&u) {
                if !self.nodes[i].name.eq_ignore_ascii_case(src) {
                    if i == local || self.find_name(src).is_some() {
                        warn!(
                            "node [{}] uses the uuid {} of node {}: message dropped",
                            src,
                            format_uuid(&u),
                            self.nodes[i].name
                        );
                        self.stats.unknown_nodes_dropped += 1;
                        return None;
                    }
                    info!("node {} renamed to {}", self.nodes[i].name, src);
                    self.nodes[i].name = src.to_string();
                    self.actions.push_back(Action::NodeTable);
                }
                return Some(i);
            }
        }
        let i = match self.find_name(src) {
            Some(i) => i,
            None if self.cfg.autojoin == AutoJoin::None => {
                error!("process_status_message: bad node [{}] in message", src);
                debug!("message dump: {:?}", msg);
                self.stats.unknown_nodes_dropped += 1;
                return None;
            }
            None if self.deleted.iter().any(|d| d == src) => {
                warn!(
                    "node [{}] was deleted from the cluster: not adding it back (autojoin)",
                    src
                );
                self.stats.unknown_nodes_dropped += 1;
                return None;
            }
            None => {
                info!("Adding new node [{}] (autojoin)", src);
                let i = self.add_node(src, NodeType::Normal);
                self.actions.push_back(Action::NodeTable);
                i
            }
        };
        if let Some(u) = uuid {
            if i == local {
                warn!(
                    "message claims our name with uuid {}: dropped",
                    format_uuid(&u)
                );
                self.stats.unknown_nodes_dropped += 1;
                return None;
            }
            if self.nodes[i].uuid.is_some_and(|old| old != u) {
                warn!(
                    "node {} changed its uuid to {}",
                    self.nodes[i].name,
                    format_uuid(&u)
                );
            }
            if self.nodes[i].uuid != Some(u) {
                self.nodes[i].uuid = Some(u);
                self.actions.push_back(Action::NodeTable);
            }
        }
        Some(i)
    }

    fn node_restarted(&mut self, idx: usize, hg: u64) {
        let name = self.nodes[idx].name.clone();
        info!("Heartbeat restart on node {}", name);
        let n = &mut self.nodes[idx];
        n.generation = Some(hg);
        n.seq.reset();
        n.ackseq = None;
        n.last_status_seq = None;
        n.shutdown_gen = None;
        self.release_held(idx);
        self.actions.push_back(Action::NodeRestarted { node: name });
    }

    fn change_status(&mut self, idx: usize, new: &str) {
        let n = &mut self.nodes[idx];
        if n.status == new {
            return;
        }
        let old = std::mem::replace(&mut n.status, new.to_string());
        self.actions.push_back(Action::NodeStatus {
            node: n.name.clone(),
            old,
            new: new.to_string(),
        });
    }

    fn mark_dead(&mut self, now: Now, idx: usize) {
        if self.nodes[idx].is_dead() || idx == self.local_idx() {
            return;
        }
        let name = self.nodes[idx].name.clone();
        warn!("node {}: is dead", name);
        let n = &mut self.nodes[idx];
        n.seq.reset();
        n.ackseq = None;
        n.last_status_seq = None;
        let ping = n.node_type == NodeType::Ping;
        self.release_held(idx);
        self.change_status(idx, status::DEAD);
        let mut m = Msg::with_type("status");
        m.add_str("seq", "1")
            .add_str("ts", format!("{:x}", now.unix_secs))
            .add_str("src", &name)
            .add_str("st", status::DEAD);
        if ping {
            m.add_str("info", "ping");
        }
        self.deliver(m);
        self.update_flow_control();
    }

    fn set_local_status(&mut self, now: Now, st: &str) {
        let li = self.local_idx();
        if self.nodes[li].status == st {
            return;
        }
        let name = self.nodes[li].name.clone();
        info!("Status update for node {}: status {}", name, st);
        self.change_status(li, st);
        let sent = self.send_status(now);
        self.deliver(sent);
    }

    // ----- links -------------------------------------------------------------------

    fn link_heard(&mut self, now: Now, idx: usize, link: LinkId) {
        let n = &mut self.nodes[idx];
        // A ping node has a single link named after its address.
        let Some(l) = n
            .links
            .iter_mut()
            .find(|l| l.id.is_none() || l.id == Some(link))
        else {
            warn!("packet from {} on unknown link id {}", n.name, link);
            return;
        };
        l.last_ms = Some(now.mono_ms);
        if l.state == LinkState::Up {
            return;
        }
        l.state = LinkState::Up;
        let (node, link) = (n.name.clone(), l.name.clone());
        info!("Link {}:{} up.", node, link);
        self.link_changed(node, link, LinkState::Up);
    }

    fn link_changed(&mut self, node: String, link: String, state: LinkState) {
        self.deliver(ifstat_msg(&node, &link, state));
        self.actions.push_back(Action::LinkStatus {
            node,
            link,
            up: state == LinkState::Up,
        });
    }

    // ----- timers ------------------------------------------------------------------

    fn dead_threshold(&self, n: &Node) -> u64 {
        if !self.comm_up() {
            return ms(self.cfg.initdead);
        }
        match n.node_type {
            NodeType::Ping => ms(self.cfg.deadping),
            NodeType::Normal => n.dead_ms,
        }
    }

    /// When the first node or link can expire (`u64::MAX` if none can): a node or link
    /// is dead once more than its threshold has passed since it was last heard.
    fn liveness_deadline(&self) -> u64 {
        let local = self.local_idx();
        let mut next = u64::MAX;
        for (i, n) in self.nodes.iter().enumerate() {
            if i == local {
                continue;
            }
            let threshold = self.dead_threshold(n);
            if !n.is_dead() {
                let last = n.last_status_ms.unwrap_or(self.start_ms);
                next = next.min(last.saturating_add(threshold).saturating_add(1));
            }
            for l in n.links.iter().filter(|l| l.state == LinkState::Up) {
                let since = l.last_ms.unwrap_or(self.start_ms);
                next = next.min(since.saturating_add(threshold).saturating_add(1));
            }
        }
        next
    }

    /// Marks expired nodes and links dead (see [`Core::liveness_deadline`]).
    fn check_timeouts(&mut self, now: Now) {
        let local = self.local_idx();
        for i in 0..self.nodes.len() {
            if i == local {
                continue;
            }
            let threshold = self.dead_threshold(&self.nodes[i]);
            let last = self.nodes[i].last_status_ms.unwrap_or(self.start_ms);
            if !self.nodes[i].is_dead() && now.mono_ms.saturating_sub(last) > threshold {
                self.mark_dead(now, i);
            }
            let mut changed = Vec::new();
            let n = &mut self.nodes[i];
            for l in &mut n.links {
                let since = l.last_ms.unwrap_or(self.start_ms);
                if l.state == LinkState::Up && now.mono_ms.saturating_sub(since) > threshold {
                    l.state = LinkState::Dead;
                    changed.push(l.name.clone());
                }
            }
            let node = n.name.clone();
            for link in changed {
                info!("Link {}:{} dead.", node, link);
                self.link_changed(node.clone(), link, LinkState::Dead);
            }
        }
    }

    fn check_join(&mut self, now: Now) {
        if self.comm_up() || self.shutting_down {
            return;
        }
        let since_start = now.mono_ms.saturating_sub(self.start_ms);
        let initdead = ms(self.cfg.initdead);
        if self.cfg.autojoin != AutoJoin::None && since_start < initdead {
            return;
        }
        let local = self.local_idx();
        let peers = || {
            self.nodes
                .iter()
                .enumerate()
                .filter(move |(i, n)| *i != local && n.node_type == NodeType::Normal)
        };
        if !peers().all(|(_, n)| n.last_status_ms.is_some() || n.is_dead()) {
            return;
        }
        let live: Vec<usize> = peers()
            .filter(|(_, n)| !n.is_dead() && n.last_status_ms.is_some())
            .map(|(i, _)| i)
            .collect();
        if live.is_empty() {
            if since_start >= initdead {
                self.comm_now_up(now);
            }
            return;
        }
        if !self.flow_control_enabled() {
            return self.comm_now_up(now);
        }
        let attempts = match self.join {
            JoinState::Waiting => 0,
            JoinState::Requesting {
                attempts,
                next_try_ms,
            } if now.mono_ms >= next_try_ms => attempts,
            _ => return,
        };
        let target = self.nodes[live[attempts % live.len()]].name.clone();
        debug!("requesting node list from {}", target);
        let mut m = Msg::with_type("reqnodes");
        m.add_str("dest", &target);
        self.send(now, m);
        self.join = JoinState::Requesting {
            attempts: attempts + 1,
            next_try_ms: now.mono_ms + ms(self.cfg.keepalive).max(1),
        };
    }

    fn comm_now_up(&mut self, now: Now) {
        if self.comm_up() {
            return;
        }
        // Dead times shrink from initdead to each node's own: `liveness_deadline`
        // follows, as it is computed from the thresholds in force.
        self.join = JoinState::Up;
        info!("Comm_now_up(): updating status to active");
        self.set_local_status(now, status::ACTIVE);
        self.actions.push_back(Action::CommUp);
    }

    fn send_due_rexmit_requests(&mut self, now: Now) {
        let local = self.local_idx();
        let repeat = ms(self.cfg.max_rexmit_delay).max(1);
        let mut requests = Vec::new();
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if i == local {
                continue;
            }
            if n.is_dead() {
                // A dead sender will not answer (§3.4): stop asking.
                n.seq.missing.clear();
                continue;
            }
            for (seq, at) in n.seq.missing.iter_mut() {
                if *at <= now.mono_ms {
                    *at = now.mono_ms + repeat;
                    requests.push((n.name.clone(), *seq));
                }
            }
        }
        for (dest, seq) in requests {
            let mut m = Msg::with_type("NS_rexmit");
            m.add_str("dest", &dest)
                .add_str("firstseq", seq.to_string())
                .add_str("lastseq", seq.to_string());
            self.stats.rexmit_requests_sent += 1;
            self.send(now, m);
        }
    }

    // ----- sequence tracking and acks ----------------------------------------------

    fn rexmit_delay(&mut self) -> u64 {
        let max = ms(self.cfg.max_rexmit_delay);
        let min = if max < 100 { 0 } else { 50 };
        self.rng.gen_range(min..=max.max(min))
    }

    fn track_seq(&mut self, now: Now, idx: usize, seq: u64) -> SeqVerdict {
        // Delays are drawn up front: the closure cannot borrow the rng and the node.
        let last = self.nodes[idx].seq.last_seq.unwrap_or(seq);
        let gap = seq
            .saturating_sub(last.saturating_add(1))
            .min(crate::seq::MAX_GAP);
        let delays: Vec<u64> = (0..gap).map(|_| self.rexmit_delay()).collect();
        let mut it = delays.into_iter();
        let verdict = self.nodes[idx]
            .seq
            .observe(seq, || now.mono_ms + it.next().unwrap_or(0));
        let name = &self.nodes[idx].name;
        match &verdict {
            SeqVerdict::Gap { first, last } => {
                let count = last - first + 1;
                warn!(
                    "{} lost packet(s) for [{}] [{}:{}]",
                    count, name, first, last
                );
                self.stats.gaps += 1;
                self.stats.packets_missed += count;
            }
            SeqVerdict::Resync { lost } => {
                error!("lost a lot of packets! ({} from {})", lost, name);
                self.stats.resyncs += 1;
                self.stats.packets_missed += lost;
            }
            SeqVerdict::Filled { now_complete: true } => info!("No pkts missing from {}!", name),
            _ => {}
        }
        verdict
    }

    fn maybe_ack(&mut self, now: Now, idx: usize, seq: u64, verdict: &SeqVerdict) {
        let n = &self.nodes[idx];
        match verdict {
            SeqVerdict::First | SeqVerdict::InOrder
                if n.seq.missing.is_empty() && seq % ACK_MSG_DIV == n.ack_trigger =>
            {
                self.send_ack(now, idx, seq);
            }
            // A filled gap may have held back acks: catch up at once.
            SeqVerdict::Filled { now_complete: true } => self.send_ack_for_last(now, idx),
            _ => {}
        }
    }

    fn send_ack_for_last(&mut self, now: Now, idx: usize) {
        if let Some(last) = self.nodes[idx].seq.last_seq {
            self.send_ack(now, idx, last);
        }
    }

    fn send_ack(&mut self, now: Now, idx: usize, seq: u64) {
        if !self.flow_control_enabled() {
            return;
        }
        let mut m = Msg::with_type("NS_ackmsg");
        m.add_str("dest", &self.nodes[idx].name)
            .add_str("ackseq", format!("{seq:x}"));
        self.stats.acks_sent += 1;
        self.send(now, m);
    }

    /// ACKs and reqnodes are used only if we and every peer that sent a status
    /// advertise `protocol` (§3.5).
    fn flow_control_enabled(&self) -> bool {
        self.cfg.flow_control
            && self
                .nodes
                .iter()
                .filter(|n| n.node_type == NodeType::Normal)
                .all(|n| n.protocol != Some(false))
    }

    /// The lowest seq acknowledged by every live peer that has acked since it came
    /// alive; None if there is none.
    fn real_ack_point(&self) -> Option<u64> {
        let local = self.local_idx();
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != local && n.is_live_normal())
            .filter_map(|(_, n)| n.ackseq)
            .min()
    }

    fn effective_ack_point(&self) -> u64 {
        if !self.flow_control_enabled() {
            return self.last_seq;
        }
        // Alone (or nobody acked yet): nothing can be waited for.
        self.real_ack_point().unwrap_or(self.last_seq)
    }

    fn update_flow_control(&mut self) {
        let fc = self.flow_control_enabled();
        if !fc && self.cfg.flow_control && !self.flow_control_warned {
            warn!("flow control disabled due to different version heartbeat");
            self.flow_control_warned = true;
        }
        if fc {
            if let Some(p) = self.real_ack_point() {
                self.history.free_upto(p);
            }
        }
        let unacked = self.last_seq - self.effective_ack_point().min(self.last_seq);
        let paused = unacked > FLOW_CONTROL_WINDOW;
        if paused != self.paused {
            self.paused = paused;
            if paused {
                warn!("all clients are now paused");
            } else {
                info!("all clients are now resumed");
            }
            self.actions.push_back(Action::ClientsPaused(paused));
        }
    }

    // ----- output ------------------------------------------------------------------

    fn status_msg(&self, now: Now) -> Msg {
        let mut dt = ms(self.cfg.deadtime);
        if now.mono_ms.saturating_sub(self.start_ms) < DT_BONUS_PERIOD_MS {
            dt += DT_BONUS_MS;
        }
        let li = self.local_idx();
        let mut m = Msg::with_type("status");
        m.add_str("st", &self.nodes[li].status)
            .add_str("dt", format!("{dt:x}"));
        if self.cfg.flow_control {
            m.add_str("protocol", "1");
        }
        m
    }

    fn send_status(&mut self, now: Now) -> Msg {
        let m = self.status_msg(now);
        self.send_copy(now, m)
    }

    /// Adds the control fields (§2.6), stores sequenced messages, queues the send.
    fn send(&mut self, now: Now, msg: Msg) {
        let msg = self.stamp(now, msg);
        self.actions.push_back(Action::Send(msg));
    }

    /// [`Core::send`], keeping a copy for local delivery.
    fn send_copy(&mut self, now: Now, msg: Msg) -> Msg {
        let msg = self.stamp(now, msg);
        self.actions.push_back(Action::Send(msg.clone()));
        msg
    }

    /// The control fields, the seq and the history copy of an outgoing message.
    fn stamp(&mut self, now: Now, mut msg: Msg) -> Msg {
        msg.reserve(8);
        let ns = msg.msg_type().is_some_and(|t| t.starts_with("NS_"));
        if let Some(dest) = msg.get_str("dest").map(str::to_owned) {
            if let Some(u) = self.uuid_of(&dest) {
                msg.set_bin("destuuid", u);
            }
        }
        msg.set_str("src", &self.cfg.local);
        msg.set_bin("srcuuid", self.cfg.local_uuid);
        let seq = if ns {
            None
        } else {
            self.last_seq += 1;
            msg.set_str("seq", format!("{:x}", self.last_seq));
            Some(self.last_seq)
        };
        msg.set_str("hg", format!("{:x}", self.cfg.generation));
        msg.set_str("ts", format!("{:x}", now.unix_secs));
        if !ns {
            msg.set_str("ld", &self.loadavg);
        }
        let ttl = u64::from(self.cfg.hopfudge) + self.nodes.len() as u64;
        msg.set_str("ttl", ttl.to_string());
        if let Some(seq) = seq {
            self.history.push(seq, msg.clone());
        }
        self.stats.msgs_out += 1;
        msg
    }

    fn deliver(&mut self, msg: Msg) {
        self.stats.delivered += 1;
        self.actions.push_back(Action::Deliver(msg));
    }

    fn is_for_us(&self, msg: &Msg) -> bool {
        if let Some(u) = msg.get_bin("destuuid") {
            return u == self.cfg.local_uuid;
        }
        match msg.get_str("dest") {
            Some(d) => d.eq_ignore_ascii_case(&self.cfg.local),
            None => true,
        }
    }

    fn malformed(&mut self, why: &str, msg: &Msg) {
        warn!("dropping malformed message ({}): {:?}", why, msg);
        self.stats.malformed_dropped += 1;
    }
}

/// A name the host cache may bring in: `nodelist` is space-separated, so a name with
/// whitespace (or none at all) could never be sent to peers intact.
fn valid_node_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(char::is_whitespace)
}
