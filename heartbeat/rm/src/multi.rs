//! Three or more nodes (ours only): claim-based placement.
//!
//! Every node broadcasts what it claims (`hb_rsc_state held=...`: groups
//! wanted, starting, running, stopping or blocked here). A group nobody
//! claims is taken by exactly one node, computed identically everywhere from
//! the shared view: the candidates are the live nodes that have reported
//! their claims, minus those excluded for the group (standby, failures); the
//! `hb_takeover` requester wins, then the best-connected nodes (ping), then
//! the preferred node, then the first candidate after it in ha.cf order.
//! Nothing is taken without quorum (strict majority of the configured nodes).
//! A holder releases a group when it is excluded, when auto_failback is on
//! and the preferred node is a candidate, or when a better-connected node has
//! been so for the hysteresis period; the group is taken by the designated
//! node only once the holder's report no longer lists it, so a group is never
//! started while it may still run elsewhere.

use std::collections::BTreeSet;

use hb_config::hacf::AutoFailback;
use hb_wire::Msg;

use crate::msgs::{self, encode};
use crate::{Action, LogLevel, ResourceManager, Then, HB_ALL_RSC, HB_FOREIGN_RSC, HB_LOCAL_RSC};

fn alive(status: &str) -> bool {
    !status.is_empty() && status != "dead"
}

impl ResourceManager {
    pub(crate) fn multi_comm_up(&mut self, now: u64) {
        self.sync_deadline = Some(now.saturating_add(self.cfg.rqst_delay_ms));
        self.send_rsc_state_req();
        self.multi_reconcile(now);
    }

    /// A peer is heard again. A new incarnation asks for everybody's claims at its
    /// comm-up, but one returning from a partition says nothing until its claims
    /// change: placement would wait `rqst_delay_ms`, then count it as holding
    /// nothing, and its claims were dropped when it was declared dead. Asking
    /// now gets its report (and everybody's) long before that.
    pub(crate) fn multi_node_alive(&mut self, node: &str) {
        if let Some(p) = self.peers.get_mut(node) {
            p.orphans.clear();
        }
        if self.comm_up && !self.shutdown_in_progress && !self.shutdown_done {
            self.send_rsc_state_req();
        }
    }

    /// Groups of `set` seen from `node` (local = preferred by `node`).
    fn set_keys(&self, node: &str, set: u8) -> BTreeSet<String> {
        self.groups
            .iter()
            .filter(|g| {
                let local = g.def.node == node;
                (local && set & HB_LOCAL_RSC != 0) || (!local && set & HB_FOREIGN_RSC != 0)
            })
            .map(|g| g.key.clone())
            .collect()
    }

    pub(crate) fn multi_message(&mut self, now: u64, t: &str, src: &str, from_us: bool, msg: &Msg) {
        match t {
            "shutdone" if !from_us => {
                self.log(
                    LogLevel::Info,
                    format!("Received shutdown notice from '{src}'."),
                );
                if let Some(p) = self.peers.get_mut(src) {
                    p.claims.clear();
                    p.synced = false;
                }
            }
            "ask_resources" if msg.get_str("info") == Some("me") => {
                // hb_standby on `src`: every node records the same exclusion.
                let set = msg
                    .get_str("rsc_hold")
                    .and_then(encode)
                    .unwrap_or(HB_ALL_RSC);
                let keys = self.set_keys(src, set);
                self.log(
                    LogLevel::Info,
                    format!("{src} wants to go standby [{}]", msgs::decode(set)),
                );
                for k in &keys {
                    if self.override_owner.get(k).is_some_and(|o| o == src) {
                        self.override_owner.remove(k);
                    }
                }
                self.excluded
                    .entry(src.to_string())
                    .or_default()
                    .extend(keys);
                if from_us {
                    self.send_rsc_state(true);
                }
            }
            "hb_takeover" => {
                let set = msg
                    .get_str("rsc_hold")
                    .and_then(encode)
                    .unwrap_or(HB_ALL_RSC);
                let keys = self.set_keys(src, set);
                if let Some(ex) = self.excluded.get_mut(src) {
                    ex.retain(|k| !keys.contains(k));
                }
                for k in keys {
                    self.override_owner.insert(k, src.to_string());
                }
                if from_us {
                    self.send_rsc_state(true);
                }
            }
            _ => {}
        }
        self.multi_reconcile(now);
    }

    fn is_candidate(&self, node: &str, key: &str) -> bool {
        if self.excluded.get(node).is_some_and(|e| e.contains(key)) {
            return false;
        }
        if node == self.cfg.local {
            return self.comm_up && !self.shutdown_in_progress;
        }
        self.peers
            .get(node)
            .is_some_and(|p| alive(&p.status) && p.synced)
    }

    fn ping_of(&self, node: &str) -> u32 {
        if node == self.cfg.local {
            return self.ping_count();
        }
        self.peers.get(node).and_then(|p| p.ping).unwrap_or(0)
    }

    /// The node that should get group `i` if nobody held it.
    fn designated(&self, i: usize) -> Option<String> {
        let g = &self.groups[i];
        let mut cands: Vec<&String> = self
            .cfg
            .nodes
            .iter()
            .filter(|n| self.is_candidate(n, &g.key))
            .collect();
        if cands.is_empty() {
            return None;
        }
        if let Some(o) = self.override_owner.get(&g.key) {
            if cands.contains(&o) {
                return Some(o.clone());
            }
        }
        if !self.cfg.ping_nodes.is_empty() {
            let best = cands.iter().map(|c| self.ping_of(c)).max().unwrap_or(0);
            cands.retain(|c| self.ping_of(c) == best);
        }
        if cands.iter().any(|c| **c == g.def.node) {
            return Some(g.def.node.clone());
        }
        let n = self.cfg.nodes.len();
        let start = self
            .cfg
            .nodes
            .iter()
            .position(|x| *x == g.def.node)
            .unwrap_or(n.saturating_sub(1));
        (1..=n)
            .map(|k| &self.cfg.nodes[(start + k) % n])
            .find(|x| cands.iter().any(|c| c == x))
            .cloned()
    }

    /// Position of `node` in group `i`'s order: its preferred node first, then
    /// the ha.cf order after it.
    fn rank(&self, i: usize, node: &str) -> usize {
        let nodes = &self.cfg.nodes;
        let n = nodes.len();
        let start = nodes
            .iter()
            .position(|x| *x == self.groups[i].def.node)
            .unwrap_or(0);
        (0..n).find(|k| nodes[(start + k) % n] == node).unwrap_or(n)
    }

    /// Another live node also claims group `i` and comes first in its order.
    /// Two claims only arise from a partition (each side placed the group
    /// alone); whichever way the daemons heal it, the later-ranked holder gives
    /// the group up, so every node agrees on the one that keeps it.
    fn outranked_claim(&self, i: usize) -> bool {
        let key = &self.groups[i].key;
        let mine = self.rank(i, &self.cfg.local);
        self.peers.iter().any(|(n, p)| {
            alive(&p.status) && p.synced && p.claims.contains(key) && self.rank(i, n) < mine
        })
    }

    /// The nodes we see alive, ourselves included (sent as `alive=`).
    pub(crate) fn multi_view(&self) -> BTreeSet<String> {
        let mut v: BTreeSet<String> = self
            .peers
            .iter()
            .filter(|(_, p)| alive(&p.status))
            .map(|(n, _)| n.clone())
            .collect();
        v.insert(self.cfg.local.clone());
        v
    }

    /// A live peer that reported still sees a node alive that we do not. Its
    /// claims are unknown to us (dropped at its death) but it may be running
    /// groups: right after a partition heals the other side is heard one node
    /// at a time, and the first one back must not make us start what the
    /// others still hold. The views agree again within a keepalive (or the
    /// peer's dead time, when the node really died).
    fn views_disagree(&self) -> bool {
        self.peers
            .values()
            .filter(|p| alive(&p.status) && p.synced)
            .flat_map(|p| p.view.iter())
            .any(|x| *x != self.cfg.local && !self.peers.get(x).is_some_and(|q| alive(&q.status)))
    }

    fn quorate(&self) -> bool {
        if !self.cfg.quorum || self.cfg.nodes.len() <= 2 {
            return true;
        }
        let up = 1 + self.peers.values().filter(|p| alive(&p.status)).count();
        up * 2 > self.cfg.nodes.len()
    }

    /// Placement waits until every live peer has reported its claims (or
    /// stayed silent for `rqst_delay_ms`): a peer that just came alive may
    /// hold groups or be the preferred node.
    fn ready(&self, now: u64) -> bool {
        let delay = self.cfg.rqst_delay_ms;
        self.comm_up
            && !self.shutdown_in_progress
            && self.peers.values().all(|p| {
                !alive(&p.status)
                    || p.synced
                    || (self.sync_deadline.is_some_and(|d| now >= d)
                        && now >= p.alive_since.saturating_add(delay))
            })
    }

    /// Releases what should move away and takes what we are designated for.
    pub(crate) fn multi_reconcile(&mut self, now: u64) {
        if !self.multi || !self.ready(now) {
            return;
        }
        let me = self.cfg.local.clone();
        let may_take = self.quorate() && !self.views_disagree();
        let mut taken = Vec::new();
        let ping_moved = self
            .ping_better_since
            .is_some_and(|s| now.saturating_sub(s) >= self.cfg.ping_hysteresis_ms);
        let mine = self.ping_count();
        for i in 0..self.groups.len() {
            let g = &self.groups[i];
            if g.state == crate::GroupState::Blocked {
                continue;
            }
            let key = g.key.clone();
            if g.want {
                let excluded = self.excluded.get(&me).is_some_and(|e| e.contains(&key));
                let release = self.outranked_claim(i)
                    || match self.designated(i) {
                        Some(d) if d != me => {
                            excluded
                                || self.override_owner.get(&key) == Some(&d)
                                || (self.cfg.auto_failback == AutoFailback::On
                                    && d == self.groups[i].def.node)
                                || (ping_moved && self.ping_of(&d) > mine)
                        }
                        Some(_) => false,
                        None => excluded,
                    };
                if release {
                    self.log(LogLevel::Info, format!("Releasing resource group {key}."));
                    self.set_want(i, false);
                }
            } else if !g.claimed() && may_take {
                // Like heartbeat, a silent preferred node's groups wait for
                // initdead to declare it dead (a cold start places each group
                // on its own node).
                let pref = &g.def.node;
                if *pref != me && self.peers.get(pref).is_some_and(|p| p.status.is_empty()) {
                    continue;
                }
                let held_elsewhere = self.peers.values().any(|p| {
                    ((alive(&p.status) || p.unfenced) && p.claims.contains(&key))
                        || p.blocked.contains(&key)
                });
                if !held_elsewhere && self.designated(i).as_deref() == Some(me.as_str()) {
                    self.log(LogLevel::Info, format!("Taking over resource group {key}"));
                    self.set_want(i, true);
                    taken.push(key);
                }
            }
        }
        self.log_acquired(&taken);
    }

    /// The first live node after `node` in ha.cf order fences and reports.
    fn is_first_after(&self, node: &str) -> bool {
        let n = self.cfg.nodes.len();
        let start = self.cfg.nodes.iter().position(|x| x == node).unwrap_or(0);
        (1..n)
            .map(|k| &self.cfg.nodes[(start + k) % n])
            .find(|x| {
                **x == self.cfg.local
                    || self.peers.get(x.as_str()).is_some_and(|p| alive(&p.status))
            })
            .is_some_and(|x| *x == self.cfg.local)
    }

    pub(crate) fn multi_node_dead(&mut self, now: u64, node: &str) {
        let stonith = self.cfg.stonith;
        let first = self.is_first_after(node);
        let Some(p) = self.peers.get_mut(node) else {
            return;
        };
        let had: BTreeSet<String> = p.claims.union(&p.blocked).cloned().collect();
        p.synced = false;
        self.excluded.remove(node);
        if had.is_empty() {
            if first {
                self.send(msgs::stonith(node, "unneeded"));
            }
            return;
        }
        if stonith {
            p.unfenced = true;
            if first {
                self.log(LogLevel::Info, format!("Resetting node {node}"));
                self.fencing.insert(node.to_string(), None);
                self.actions.push_back(Action::Fence {
                    node: node.to_string(),
                });
            }
            return;
        }
        // Without STONITH a blocked group stays put: it may still run there.
        p.claims.clear();
        if first {
            self.send(msgs::stonith(node, "n_stnth"));
            self.log(
                LogLevel::Warning,
                "No STONITH device configured.".to_string(),
            );
        }
        self.multi_takeover_log(now, node, &had);
    }

    /// The takeover may wait (views, fencing by another node): reconcile logs
    /// "Resources being acquired" when it actually starts one of `had`.
    fn multi_takeover_log(&mut self, now: u64, node: &str, had: &BTreeSet<String>) {
        if let Some(p) = self.peers.get_mut(node) {
            p.orphans = had.clone();
        }
        self.multi_reconcile(now);
    }

    fn log_acquired(&mut self, taken: &[String]) {
        let claimed: BTreeSet<String> = self
            .peers
            .values()
            .filter(|p| alive(&p.status))
            .flat_map(|p| p.claims.iter().cloned())
            .collect();
        let mut from = Vec::new();
        for (n, p) in &mut self.peers {
            if taken.iter().any(|k| p.orphans.contains(k)) {
                from.push(n.clone());
                p.orphans.clear();
            }
            p.orphans.retain(|k| !claimed.contains(k));
        }
        for n in from {
            self.log(
                LogLevel::Info,
                format!("Resources being acquired from {n}."),
            );
        }
    }

    pub(crate) fn multi_fenced(&mut self, now: u64, node: &str) {
        let Some(p) = self.peers.get_mut(node) else {
            return;
        };
        let had: BTreeSet<String> = p.claims.union(&p.blocked).cloned().collect();
        p.claims.clear();
        p.blocked.clear();
        p.unfenced = false;
        self.multi_takeover_log(now, node, &had);
    }

    pub(crate) fn multi_tick(&mut self, now: u64) {
        self.multi_reconcile(now);
    }

    pub(crate) fn multi_shutdown(&mut self, now: u64) {
        let _ = now;
        if self.shutdown_in_progress || self.shutdown_done {
            return;
        }
        self.shutdown_in_progress = true;
        // The daemon has logged "Heartbeat shutdown in progress. (pid)" already.
        self.log(LogLevel::Info, "Giving up all HA resources.".to_string());
        // Excluding ourselves lets peers take each group as soon as it is
        // stopped here, instead of waiting for shutdone.
        let all: BTreeSet<String> = self.groups.iter().map(|g| g.key.clone()).collect();
        let me = self.cfg.local.clone();
        self.excluded.insert(me, all);
        self.send_rsc_state(true);
        let idx = (0..self.groups.len()).collect();
        self.job(idx, false, Then::Shutdown);
    }
}
