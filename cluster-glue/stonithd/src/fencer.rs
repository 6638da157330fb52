//! The fencing decisions, with no I/O: which device to try next, retry rounds, joining
//! concurrent requests for the same node, and asking peers when no local device
//! covers the target. Events go in (requests, attempt results, cluster messages, the
//! time), [`Action`]s come out; the daemon runs plugins and sends messages.
//!
//! Time is milliseconds on a monotonic clock chosen by the caller.

use std::collections::BTreeMap;

use stonith_ipc::{DeviceInfo, FenceAction, FenceOutcome, FenceResult};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// Pause between two rounds over the devices (the original retried at once; a
/// short pause lets a flapping power switch settle).
pub const RETRY_DELAY_MS: Millis = 1000;

/// At most this much of a request's time is kept back when a peer is asked (a tenth
/// of it for short requests), for the peer's result to travel back.
pub const PEER_MARGIN_MS: Millis = 2000;
/// How long peers have to claim a request before it is `cannot`. A claim is sent
/// as soon as a peer reads the request (milliseconds through heartbeat); waiting
/// the whole request timeout for one that cannot come would hold a takeover back
/// for minutes when no node has a device for the target.
pub const CLAIM_WAIT_MS: Millis = 5000;

/// Plugin types allowed to fence the node they run on: `suicide` exists for that, and
/// `null` is used for "last gasp" tests. For every other type cluster-glue's stonithd
/// drops the local node from the host list, so a node never shoots itself by mistake.
pub const SELF_FENCING_TYPES: &[&str] = &["suicide", "null"];

/// A registered device as the decision logic sees it (the plugin object lives at
/// the I/O edge, keyed by `id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub type_name: String,
    /// Lower case, local node already removed (see [`effective_hosts`]).
    pub hosts: Vec<String>,
    pub priority: i32,
    pub timeout_ms: Millis,
    pub source: String,
}

/// The host list stonithd records for a device: lower-cased, without duplicates, and
/// without the local node unless the type may fence its own node.
pub fn effective_hosts(type_name: &str, hosts: &[String], local_node: &str) -> Vec<String> {
    let local = local_node.to_lowercase();
    let keep_local = SELF_FENCING_TYPES.contains(&type_name);
    let mut out: Vec<String> = Vec::new();
    for h in hosts {
        let h = h.to_lowercase();
        if (keep_local || h != local) && !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// Who is waiting for an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    /// A socket client: connection and the request's `req`.
    Local { conn: u64, req: u64 },
    /// Another node's stonithd, through a `stonithd-req` message.
    Peer { node: String, reqid: String },
}

/// `t=stonithd-req`: "who can fence `node`? please do".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRequest {
    pub node: String,
    pub action: FenceAction,
    pub reqid: String,
    pub timeout_ms: Millis,
}

/// `t=stonithd-claim`: a peer has a covering device and is fencing for `reqid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerClaim {
    pub node: String,
    pub action: FenceAction,
    pub reqid: String,
}

/// `t=stonithd-res`: an outcome, with the peer request ids it answers (may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub outcome: FenceOutcome,
    pub reqids: Vec<String>,
}

/// How one attempt with one device ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Ok,
    /// The plugin reported failure (error text, output).
    Failed(String),
    /// The plugin did not finish in time and was killed.
    Timeout(String),
}

/// What the daemon must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run `action` on `node` with device `device`, within `timeout_ms`, then report
    /// with [`Fencer::attempt_done`]`(op, attempt, ..)`.
    Run {
        op: u64,
        attempt: u64,
        device: String,
        node: String,
        action: FenceAction,
        timeout_ms: Millis,
    },
    /// Answer a socket request.
    Reply {
        conn: u64,
        req: u64,
        outcome: FenceOutcome,
    },
    /// Broadcast `t=stonithd-req`.
    AskPeers(PeerRequest),
    /// Broadcast `t=stonithd-claim`.
    Claim(PeerClaim),
    /// Broadcast `t=stonithd-res`.
    Announce(Announcement),
    /// Send a `fenced` event to every watcher.
    Notify(FenceOutcome),
}

#[derive(Debug)]
enum Phase {
    Running {
        attempt: u64,
    },
    RetryWait {
        until: Millis,
    },
    AskingPeers {
        reqid: String,
        claimed_by: Vec<String>,
        failed: Vec<FenceOutcome>,
        /// Without a claim by then, nobody can do it.
        claim_by: Millis,
    },
}

impl Phase {
    /// When this phase needs [`Fencer::tick`] before the operation's deadline.
    fn due(&self) -> Option<Millis> {
        match self {
            Phase::RetryWait { until } => Some(*until),
            Phase::AskingPeers {
                claimed_by,
                claim_by,
                ..
            } if claimed_by.is_empty() => Some(*claim_by),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Op {
    node: String,
    action: FenceAction,
    requesters: Vec<Requester>,
    deadline: Millis,
    timeout_ms: Millis,
    round: u32,
    /// Devices tried in the current round, so each is used at most once per round
    /// even if devices are registered while the operation runs.
    tried: Vec<String>,
    current: Option<String>,
    phase: Phase,
    /// One line per failed attempt, for the outcome's detail.
    failures: Vec<String>,
    last_was_timeout: bool,
}

/// The decision logic of one stonithd.
#[derive(Debug)]
pub struct Fencer {
    local: String,
    retries: u32,
    cluster: bool,
    devices: Vec<(u64, Device)>,
    next_order: u64,
    ops: BTreeMap<u64, Op>,
    next_op: u64,
    next_attempt: u64,
    next_reqid: u64,
    reqid_prefix: String,
}

impl Fencer {
    /// `local_node`: our node name; `retries`: extra rounds over the devices after the
    /// first; `reqid_prefix`: makes peer request ids unique across restarts (e.g. the
    /// node name and pid).
    pub fn new(local_node: &str, retries: u32, reqid_prefix: &str) -> Fencer {
        Fencer {
            local: local_node.to_lowercase(),
            retries,
            cluster: false,
            devices: Vec::new(),
            next_order: 0,
            ops: BTreeMap::new(),
            next_op: 1,
            next_attempt: 1,
            next_reqid: 1,
            reqid_prefix: reqid_prefix.to_string(),
        }
    }

    /// Our node name (lower case).
    pub fn local_node(&self) -> &str {
        &self.local
    }

    /// Whether peers can be asked (signed on to heartbeat).
    pub fn set_cluster(&mut self, up: bool) {
        self.cluster = up;
    }

    /// Adds a device; a device with the same id is replaced (and goes to the end of
    /// the registration order). Returns true when it replaced one.
    pub fn add_device(&mut self, dev: Device) -> bool {
        let replaced = self.remove_device(&dev.id);
        self.devices.push((self.next_order, dev));
        self.next_order += 1;
        replaced
    }

    /// Forgets a device; false if there was none with this id.
    pub fn remove_device(&mut self, id: &str) -> bool {
        let before = self.devices.len();
        self.devices.retain(|(_, d)| d.id != id);
        before != self.devices.len()
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().map(|(_, d)| d).find(|d| d.id == id)
    }

    /// Registered devices in registration order.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.devices
            .iter()
            .map(|(_, d)| DeviceInfo {
                id: d.id.clone(),
                type_name: d.type_name.clone(),
                hosts: d.hosts.clone(),
                priority: d.priority,
                source: d.source.clone(),
            })
            .collect()
    }

    /// Devices covering `node`, in the order they are tried: priority (lower first),
    /// then registration order.
    pub fn candidates(&self, node: &str) -> Vec<&Device> {
        let node = node.to_lowercase();
        let mut v: Vec<&(u64, Device)> = self
            .devices
            .iter()
            .filter(|(_, d)| d.hosts.iter().any(|h| h.to_lowercase() == node))
            .collect();
        v.sort_by_key(|(order, d)| (d.priority, *order));
        v.into_iter().map(|(_, d)| d).collect()
    }

    /// Operations in progress.
    pub fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// When [`Fencer::tick`] must be called next.
    pub fn next_wakeup(&self) -> Option<Millis> {
        self.ops
            .values()
            .map(|op| op.phase.due().map_or(op.deadline, |d| d.min(op.deadline)))
            .min()
    }

    /// A fence request. A request for a node and action already in progress joins
    /// that operation: one run, every requester gets its outcome.
    pub fn fence(
        &mut self,
        now: Millis,
        requester: Requester,
        node: &str,
        action: FenceAction,
        timeout_ms: Millis,
    ) -> Vec<Action> {
        let node = node.trim().to_lowercase();
        let from_peer = matches!(requester, Requester::Peer { .. });
        let joinable = self.ops.values_mut().find(|op| {
            op.node == node
                && op.action == action
                // Asking peers on behalf of a peer would bounce requests around.
                && !(from_peer && matches!(op.phase, Phase::AskingPeers { .. }))
        });
        if let Some(op) = joinable {
            op.requesters.push(requester);
            return Vec::new();
        }
        let id = self.next_op;
        self.next_op += 1;
        self.ops.insert(
            id,
            Op {
                node,
                action,
                requesters: vec![requester],
                deadline: now.saturating_add(timeout_ms),
                timeout_ms,
                round: 0,
                tried: Vec::new(),
                current: None,
                phase: Phase::RetryWait { until: now },
                failures: Vec::new(),
                last_was_timeout: false,
            },
        );
        let mut out = Vec::new();
        self.step(id, now, &mut out);
        out
    }

    /// The result of an [`Action::Run`]. Results of attempts the operation no longer
    /// waits for (it timed out meanwhile) are ignored.
    pub fn attempt_done(
        &mut self,
        now: Millis,
        op_id: u64,
        attempt: u64,
        result: AttemptResult,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(op) = self.ops.get_mut(&op_id) else {
            return out;
        };
        if !matches!(op.phase, Phase::Running { attempt: a } if a == attempt) {
            return out;
        }
        let device = op.current.take().unwrap_or_default();
        match result {
            AttemptResult::Ok => {
                let detail = if op.failures.is_empty() {
                    format!("{} of {} by device {device}", op.action, op.node)
                } else {
                    format!(
                        "{} of {} by device {device} after failures: {}",
                        op.action,
                        op.node,
                        op.failures.join("; ")
                    )
                };
                let by = self.local.clone();
                self.finish(
                    op_id,
                    FenceResult::Ok,
                    Some(device),
                    Some(by),
                    detail,
                    false,
                    &mut out,
                );
            }
            AttemptResult::Failed(why) => {
                op.failures
                    .push(format!("round {} {device}: {why}", op.round + 1));
                op.last_was_timeout = false;
                op.phase = Phase::RetryWait { until: now };
                op.current = Some(device);
                self.step(op_id, now, &mut out);
            }
            AttemptResult::Timeout(why) => {
                op.failures
                    .push(format!("round {} {device}: {why}", op.round + 1));
                op.last_was_timeout = true;
                op.phase = Phase::RetryWait { until: now };
                op.current = Some(device);
                self.step(op_id, now, &mut out);
            }
        }
        out
    }

    /// Deadlines and retry pauses that have come due.
    pub fn tick(&mut self, now: Millis) -> Vec<Action> {
        let mut out = Vec::new();
        let due: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, op)| now >= op.deadline || op.phase.due().is_some_and(|d| now >= d))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(op) = self.ops.get(&id) else {
                continue;
            };
            let unclaimed = match &op.phase {
                Phase::AskingPeers {
                    claimed_by,
                    claim_by,
                    ..
                } if claimed_by.is_empty() && now >= *claim_by => {
                    Some(claim_by.saturating_sub(op.deadline.saturating_sub(op.timeout_ms)))
                }
                _ => None,
            };
            if now >= op.deadline || unclaimed.is_some() {
                let (result, detail) = match &op.phase {
                    Phase::AskingPeers { claimed_by, .. } if claimed_by.is_empty() => (
                        FenceResult::Cannot,
                        format!(
                            "no local device covers {} and no peer claimed it within {} ms",
                            op.node,
                            unclaimed.unwrap_or(op.timeout_ms)
                        ),
                    ),
                    Phase::AskingPeers { claimed_by, .. } => (
                        FenceResult::Timeout,
                        format!(
                            "{} claimed the {} of {} but sent no result within {} ms",
                            claimed_by.join(", "),
                            op.action,
                            op.node,
                            op.timeout_ms
                        ),
                    ),
                    _ => {
                        let mut d = format!("overall timeout of {} ms reached", op.timeout_ms);
                        if let (Phase::Running { .. }, Some(dev)) = (&op.phase, &op.current) {
                            d.push_str(&format!(" while device {dev} ran"));
                        }
                        if !op.failures.is_empty() {
                            d.push_str(&format!("; earlier: {}", op.failures.join("; ")));
                        }
                        (FenceResult::Timeout, d)
                    }
                };
                let device = op.current.clone();
                let by = device.as_ref().map(|_| self.local.clone());
                self.finish(id, result, device, by, detail, false, &mut out);
            } else {
                self.step(id, now, &mut out);
            }
        }
        out
    }

    /// A `stonithd-req` from `from`. If a local device covers the node we claim the
    /// job and fence (joining an operation already running for the node).
    pub fn on_peer_request(&mut self, now: Millis, from: &str, req: PeerRequest) -> Vec<Action> {
        if from.eq_ignore_ascii_case(&self.local) || self.candidates(&req.node).is_empty() {
            return Vec::new();
        }
        let mut out = vec![Action::Claim(PeerClaim {
            node: req.node.to_lowercase(),
            action: req.action,
            reqid: req.reqid.clone(),
        })];
        out.extend(self.fence(
            now,
            Requester::Peer {
                node: from.to_lowercase(),
                reqid: req.reqid,
            },
            &req.node,
            req.action,
            req.timeout_ms,
        ));
        out
    }

    /// A `stonithd-claim` from `from`: once someone claimed our request, running out
    /// of time means `timeout` rather than `cannot`.
    pub fn on_peer_claim(&mut self, from: &str, claim: &PeerClaim) {
        if from.eq_ignore_ascii_case(&self.local) {
            return;
        }
        for op in self.ops.values_mut() {
            if let Phase::AskingPeers {
                reqid, claimed_by, ..
            } = &mut op.phase
            {
                if *reqid == claim.reqid && !claimed_by.iter().any(|c| c == from) {
                    claimed_by.push(from.to_lowercase());
                }
            }
        }
    }

    /// A `stonithd-res` from `from`: passed to watchers, and it settles our requests
    /// it answers. A success for the node settles any request for it, whoever asked.
    pub fn on_peer_result(&mut self, from: &str, ann: &Announcement) -> Vec<Action> {
        let mut out = Vec::new();
        if from.eq_ignore_ascii_case(&self.local) {
            // Our own announcement looped back; watchers already had it.
            return out;
        }
        out.push(Action::Notify(ann.outcome.clone()));
        let o = &ann.outcome;
        let matching: Vec<u64> = self
            .ops
            .iter()
            .filter_map(|(id, op)| match &op.phase {
                Phase::AskingPeers { reqid, .. }
                    if ann.reqids.contains(reqid)
                        || (o.result == FenceResult::Ok
                            && o.node.eq_ignore_ascii_case(&op.node)
                            && o.action == op.action) =>
                {
                    Some(*id)
                }
                _ => None,
            })
            .collect();
        for id in matching {
            if o.result == FenceResult::Ok {
                let detail = format!(
                    "fenced by {}: {}",
                    o.by.as_deref().unwrap_or(from),
                    o.detail
                );
                self.finish(
                    id,
                    FenceResult::Ok,
                    o.device.clone(),
                    o.by.clone(),
                    detail,
                    true,
                    &mut out,
                );
                continue;
            }
            let Some(op) = self.ops.get_mut(&id) else {
                continue;
            };
            let Phase::AskingPeers {
                claimed_by, failed, ..
            } = &mut op.phase
            else {
                continue;
            };
            let by = o.by.clone().unwrap_or_else(|| from.to_lowercase());
            if !claimed_by.contains(&by) {
                claimed_by.push(by);
            }
            failed.push(o.clone());
            // Settled once every peer that claimed the job has failed at it.
            if failed.len() >= claimed_by.len() {
                let detail = failed
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {} ({})",
                            f.by.as_deref().unwrap_or("?"),
                            f.result,
                            f.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let result = o.result;
                let device = o.device.clone();
                let by = o.by.clone();
                self.finish(id, result, device, by, detail, true, &mut out);
            }
        }
        out
    }

    /// Chooses what an operation does next: the next untried device of this round, a
    /// new round, the peers, or the end.
    fn step(&mut self, id: u64, now: Millis, out: &mut Vec<Action>) {
        let Some(op) = self.ops.get(&id) else { return };
        if let Phase::RetryWait { until } = op.phase {
            if now < until {
                return;
            }
        }
        let next = self
            .candidates(&op.node)
            .into_iter()
            .find(|d| !op.tried.contains(&d.id))
            .map(|d| (d.id.clone(), d.timeout_ms));
        let left = op.deadline.saturating_sub(now);
        let nothing_ran = op.failures.is_empty() && op.round == 0 && op.tried.is_empty();
        let only_peers = op
            .requesters
            .iter()
            .all(|r| matches!(r, Requester::Peer { .. }));
        let node = op.node.clone();
        let action = op.action;
        if let Some((device, dev_timeout)) = next {
            if left == 0 {
                self.tick(now).into_iter().for_each(|a| out.push(a));
                return;
            }
            let attempt = self.next_attempt;
            self.next_attempt += 1;
            let Some(op) = self.ops.get_mut(&id) else {
                return;
            };
            op.tried.push(device.clone());
            op.current = Some(device.clone());
            op.phase = Phase::Running { attempt };
            out.push(Action::Run {
                op: id,
                attempt,
                device,
                node,
                action,
                timeout_ms: dev_timeout.min(left),
            });
            return;
        }
        if nothing_ran {
            if self.cluster && !only_peers {
                let reqid = format!("{}-{}", self.reqid_prefix, self.next_reqid);
                self.next_reqid += 1;
                let Some(op) = self.ops.get_mut(&id) else {
                    return;
                };
                op.phase = Phase::AskingPeers {
                    reqid: reqid.clone(),
                    claimed_by: Vec::new(),
                    failed: Vec::new(),
                    claim_by: now.saturating_add(CLAIM_WAIT_MS),
                };
                // Peers get a little less time than we have, so that their result
                // still reaches us before our own deadline.
                let margin = (left / 10).min(PEER_MARGIN_MS);
                out.push(Action::AskPeers(PeerRequest {
                    node,
                    action,
                    reqid,
                    timeout_ms: left - margin,
                }));
            } else {
                let detail = if self.cluster || only_peers {
                    format!("no device covers {node}")
                } else {
                    format!("no local device covers {node} and no cluster connection to ask peers")
                };
                self.finish(id, FenceResult::Cannot, None, None, detail, false, out);
            }
            return;
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let result = if op.last_was_timeout {
            FenceResult::Timeout
        } else {
            FenceResult::Failed
        };
        if op.round < self.retries && now.saturating_add(RETRY_DELAY_MS) < op.deadline {
            op.round += 1;
            op.tried.clear();
            op.phase = Phase::RetryWait {
                until: now + RETRY_DELAY_MS,
            };
            return;
        }
        let rounds = op.round + 1;
        let detail = format!(
            "{} of {} failed after {rounds} round(s): {}",
            op.action,
            op.node,
            op.failures.join("; ")
        );
        let device = op.current.clone();
        let by = device.as_ref().map(|_| self.local.clone());
        self.finish(id, result, device, by, detail, false, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        id: u64,
        result: FenceResult,
        device: Option<String>,
        by: Option<String>,
        detail: String,
        from_peer: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        let outcome = FenceOutcome {
            node: op.node.clone(),
            action: op.action,
            result,
            device,
            by,
            detail,
        };
        let mut reqids = Vec::new();
        for r in &op.requesters {
            match r {
                Requester::Local { conn, req } => out.push(Action::Reply {
                    conn: *conn,
                    req: *req,
                    outcome: outcome.clone(),
                }),
                Requester::Peer { reqid, .. } => reqids.push(reqid.clone()),
            }
        }
        if from_peer {
            // The peer announced it; watchers got it from that announcement.
            return;
        }
        let ran = !op.failures.is_empty() || result == FenceResult::Ok;
        if ran || !reqids.is_empty() {
            out.push(Action::Announce(Announcement {
                outcome: outcome.clone(),
                reqids,
            }));
        }
        out.push(Action::Notify(outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: &str, hosts: &[&str], priority: i32) -> Device {
        Device {
            id: id.into(),
            type_name: "null".into(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            priority,
            timeout_ms: 10_000,
            source: "test".into(),
        }
    }

    fn local(conn: u64, req: u64) -> Requester {
        Requester::Local { conn, req }
    }

    fn runs(actions: &[Action]) -> Vec<(u64, u64, String, Millis)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Run {
                    op,
                    attempt,
                    device,
                    timeout_ms,
                    ..
                } => Some((*op, *attempt, device.clone(), *timeout_ms)),
                _ => None,
            })
            .collect()
    }

    fn replies(actions: &[Action]) -> Vec<(u64, u64, FenceOutcome)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Reply { conn, req, outcome } => Some((*conn, *req, outcome.clone())),
                _ => None,
            })
            .collect()
    }

    fn one_run(actions: &[Action]) -> (u64, u64, String, Millis) {
        let r = runs(actions);
        assert_eq!(r.len(), 1, "expected one Run in {actions:?}");
        r.into_iter().next().unwrap()
    }

    #[test]
    fn local_node_removed_unless_self_fencing_type() {
        let hosts: Vec<String> = ["Alpha", "beta", "BETA", "gamma"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            effective_hosts("external/ssh", &hosts, "alpha"),
            vec!["beta", "gamma"]
        );
        assert_eq!(
            effective_hosts("null", &hosts, "ALPHA"),
            vec!["alpha", "beta", "gamma"]
        );
        assert_eq!(
            effective_hosts("suicide", &["alpha".to_string()], "alpha"),
            vec!["alpha"]
        );
        assert!(effective_hosts("ssh", &["alpha".to_string()], "alpha").is_empty());
    }

    #[test]
    fn devices_tried_by_priority_then_registration_order() {
        let mut f = Fencer::new("me", 0, "me-1");
        f.add_device(dev("late-low", &["n1"], 5));
        f.add_device(dev("first-high", &["n1", "n2"], 1));
        f.add_device(dev("second-high", &["N1"], 1));
        f.add_device(dev("other", &["n2"], 0));
        let order: Vec<&str> = f.candidates("N1").iter().map(|d| d.id.as_str()).collect();
        assert_eq!(order, vec!["first-high", "second-high", "late-low"]);

        let a = f.fence(0, local(1, 1), "N1", FenceAction::Reset, 60_000);
        let (op, att, device, _) = one_run(&a);
        assert_eq!(device, "first-high");
        let a = f.attempt_done(10, op, att, AttemptResult::Failed("exit 1".into()));
        let (_, att, device, _) = one_run(&a);
        assert_eq!(device, "second-high");
        let a = f.attempt_done(20, op, att, AttemptResult::Failed("exit 2".into()));
        let (_, att, device, _) = one_run(&a);
        assert_eq!(device, "late-low");
        let a = f.attempt_done(30, op, att, AttemptResult::Ok);
        let r = replies(&a);
        assert_eq!(r.len(), 1);
        let (conn, req, o) = &r[0];
        assert_eq!((*conn, *req), (1, 1));
        assert_eq!(o.result, FenceResult::Ok);
        assert_eq!(o.device.as_deref(), Some("late-low"));
        assert_eq!(o.by.as_deref(), Some("me"));
        assert_eq!(o.node, "n1");
        assert!(
            o.detail.contains("exit 1") && o.detail.contains("exit 2"),
            "{}",
            o.detail
        );
        // Success is announced to the cluster and to watchers.
        assert!(a
            .iter()
            .any(|x| matches!(x, Action::Announce(an) if an.outcome == *o)));
        assert!(a.iter().any(|x| matches!(x, Action::Notify(n) if n == o)));
        assert_eq!(f.in_flight(), 0);
        // A replaced device moves to the end of the registration order.
        assert!(f.add_device(dev("first-high", &["n1"], 1)));
        let order: Vec<&str> = f.candidates("n1").iter().map(|d| d.id.as_str()).collect();
        assert_eq!(order, vec!["second-high", "first-high", "late-low"]);
        assert!(f.remove_device("late-low"));
        assert!(!f.remove_device("late-low"));
    }

    #[test]
    fn retries_rounds_one_second_apart_then_failed() {
        let mut f = Fencer::new("me", 2, "p");
        f.add_device(dev("d", &["n1"], 0));
        let a = f.fence(0, local(1, 7), "n1", FenceAction::Off, 60_000);
        let (op, mut att, _, _) = one_run(&a);
        let mut now = 0;
        let mut attempts = 1;
        loop {
            now += 100;
            let a = f.attempt_done(
                now,
                op,
                att,
                AttemptResult::Failed(format!("exit 1 #{attempts}")),
            );
            if let Some((_, _, o)) = replies(&a).into_iter().next() {
                assert_eq!(o.result, FenceResult::Failed);
                assert_eq!(o.action, FenceAction::Off);
                assert!(o.detail.contains("3 round(s)"), "{}", o.detail);
                assert!(o.detail.contains("#3"), "{}", o.detail);
                break;
            }
            assert!(runs(&a).is_empty(), "retry must wait: {a:?}");
            assert_eq!(f.next_wakeup(), Some(now + RETRY_DELAY_MS));
            assert!(f.tick(now + RETRY_DELAY_MS - 1).is_empty());
            now += RETRY_DELAY_MS;
            let a = f.tick(now);
            att = one_run(&a).1;
            attempts += 1;
            assert!(attempts <= 3, "more than 1 + retries attempts");
        }
        assert_eq!(attempts, 3);
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn hanging_device_times_out_and_late_results_are_ignored() {
        let mut f = Fencer::new("me", 2, "p");
        f.add_device(Device {
            timeout_ms: 3_000,
            ..dev("slow", &["n1"], 0)
        });
        let a = f.fence(0, local(1, 1), "n1", FenceAction::Reset, 5_000);
        let (op, att, _, timeout) = one_run(&a);
        assert_eq!(timeout, 3_000, "device timeout bounds the attempt");
        let a = f.attempt_done(3_000, op, att, AttemptResult::Timeout("killed".into()));
        assert!(a.is_empty());
        let a = f.tick(4_000);
        let (_, att2, _, timeout) = one_run(&a);
        assert_eq!(timeout, 1_000, "the request's deadline bounds the attempt");
        // The overall deadline passes while the second attempt still runs.
        let a = f.tick(5_000);
        let (_, _, o) = replies(&a)
            .into_iter()
            .next()
            .expect("a reply at the deadline");
        assert_eq!(o.result, FenceResult::Timeout);
        assert!(o.detail.contains("while device slow ran"), "{}", o.detail);
        // Its result arriving later changes nothing.
        assert!(f
            .attempt_done(5_100, op, att2, AttemptResult::Ok)
            .is_empty());
        // Every attempt timing out with no time for another round: timeout.
        let a = f.fence(10_000, local(1, 2), "n1", FenceAction::Reset, 3_500);
        let (op, att, _, _) = one_run(&a);
        let a = f.attempt_done(13_000, op, att, AttemptResult::Timeout("killed".into()));
        assert_eq!(replies(&a)[0].2.result, FenceResult::Timeout);
    }

    #[test]
    fn concurrent_requests_for_one_node_are_joined() {
        let mut f = Fencer::new("me", 0, "p");
        f.add_device(dev("d", &["n1", "n2"], 0));
        let a = f.fence(0, local(1, 1), "n1", FenceAction::Reset, 60_000);
        let (op, att, _, _) = one_run(&a);
        assert!(f
            .fence(5, local(2, 9), "N1", FenceAction::Reset, 60_000)
            .is_empty());
        // Another node or action is a separate operation.
        assert_eq!(
            runs(&f.fence(6, local(3, 1), "n2", FenceAction::Reset, 60_000)).len(),
            1
        );
        assert_eq!(
            runs(&f.fence(7, local(3, 2), "n1", FenceAction::Off, 60_000)).len(),
            1
        );
        let a = f.attempt_done(10, op, att, AttemptResult::Ok);
        let r = replies(&a);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].0, r[0].1), (1, 1));
        assert_eq!((r[1].0, r[1].1), (2, 9));
        assert_eq!(r[0].2, r[1].2);
        // One announcement, one notification.
        assert_eq!(
            a.iter().filter(|x| matches!(x, Action::Notify(_))).count(),
            1
        );
    }

    #[test]
    fn no_device_without_cluster_is_cannot() {
        let mut f = Fencer::new("me", 2, "p");
        f.add_device(dev("d", &["n2"], 0));
        let a = f.fence(0, local(1, 1), "n1", FenceAction::Reset, 60_000);
        let o = &replies(&a)[0].2;
        assert_eq!(o.result, FenceResult::Cannot);
        assert!(o.detail.contains("no cluster"), "{}", o.detail);
        assert!(!a.iter().any(|x| matches!(x, Action::Announce(_))));
        assert!(a.iter().any(|x| matches!(x, Action::Notify(_))));
    }

    #[test]
    fn unclaimed_peer_request_is_cannot_after_the_claim_window_not_the_timeout() {
        let mut f = Fencer::new("me", 2, "me-42");
        f.set_cluster(true);
        let a = f.fence(100, local(1, 1), "n1", FenceAction::Reset, 60_000);
        assert!(matches!(a.first(), Some(Action::AskPeers(_))), "{a:?}");
        assert_eq!(f.next_wakeup(), Some(100 + CLAIM_WAIT_MS));
        assert!(f.tick(100 + CLAIM_WAIT_MS - 1).is_empty());
        let a = f.tick(100 + CLAIM_WAIT_MS);
        let o = &replies(&a)[0].2;
        assert_eq!(o.result, FenceResult::Cannot);
        assert!(o.detail.contains("within 5000 ms"), "{}", o.detail);

        // A claim inside the window: the request then runs to its own deadline.
        let a = f.fence(10_000, local(1, 2), "n2", FenceAction::Reset, 60_000);
        let Some(Action::AskPeers(req)) = a.first() else {
            panic!("no AskPeers: {a:?}")
        };
        f.on_peer_claim(
            "peer",
            &PeerClaim {
                node: "n2".into(),
                action: FenceAction::Reset,
                reqid: req.reqid.clone(),
            },
        );
        assert!(
            f.tick(10_000 + CLAIM_WAIT_MS).is_empty(),
            "claimed: no early end"
        );
        assert_eq!(f.next_wakeup(), Some(70_000));
    }

    #[test]
    fn peers_asked_then_cannot_when_nobody_claims() {
        let mut f = Fencer::new("me", 2, "me-42");
        f.set_cluster(true);
        let a = f.fence(100, local(1, 1), "n1", FenceAction::Reset, 2_000);
        let Some(Action::AskPeers(req)) = a.first() else {
            panic!("no AskPeers: {a:?}")
        };
        assert_eq!(req.node, "n1");
        assert_eq!(req.timeout_ms, 1_800, "a tenth kept back for the answer");
        assert!(req.reqid.starts_with("me-42-"));
        assert_eq!(f.next_wakeup(), Some(2_100));
        assert!(f.tick(2_099).is_empty());
        let a = f.tick(2_100);
        let o = &replies(&a)[0].2;
        assert_eq!(o.result, FenceResult::Cannot);
        assert!(o.detail.contains("no peer claimed"), "{}", o.detail);
        assert!(
            a.iter().any(|x| matches!(x, Action::Notify(n) if n == o)),
            "watchers learn it"
        );
        assert!(
            !a.iter().any(|x| matches!(x, Action::Announce(_))),
            "nothing ran here"
        );
    }

    #[test]
    fn claimed_peer_request_without_result_is_timeout() {
        let mut f = Fencer::new("me", 2, "p");
        f.set_cluster(true);
        let a = f.fence(0, local(1, 1), "n1", FenceAction::Reset, 2_000);
        let Some(Action::AskPeers(req)) = a.first().cloned() else {
            panic!()
        };
        // A claim for another request id does not count; our own looped-back one neither.
        f.on_peer_claim(
            "other",
            &PeerClaim {
                node: "n1".into(),
                action: FenceAction::Reset,
                reqid: "zzz".into(),
            },
        );
        f.on_peer_claim(
            "me",
            &PeerClaim {
                node: "n1".into(),
                action: FenceAction::Reset,
                reqid: req.reqid.clone(),
            },
        );
        assert_eq!(replies(&f.tick(2_000))[0].2.result, FenceResult::Cannot);

        let a = f.fence(3_000, local(1, 2), "n1", FenceAction::Reset, 2_000);
        let Some(Action::AskPeers(req)) = a.first().cloned() else {
            panic!()
        };
        f.on_peer_claim(
            "peer",
            &PeerClaim {
                node: "n1".into(),
                action: FenceAction::Reset,
                reqid: req.reqid,
            },
        );
        let o = &replies(&f.tick(5_000))[0].2;
        assert_eq!(o.result, FenceResult::Timeout);
        assert!(o.detail.contains("peer claimed"), "{}", o.detail);
    }

    #[test]
    fn peer_result_settles_request() {
        let mut f = Fencer::new("me", 2, "p");
        f.set_cluster(true);
        let a = f.fence(0, local(4, 5), "n1", FenceAction::Reset, 10_000);
        let Some(Action::AskPeers(req)) = a.first().cloned() else {
            panic!()
        };
        f.on_peer_claim(
            "peer",
            &PeerClaim {
                node: "n1".into(),
                action: FenceAction::Reset,
                reqid: req.reqid.clone(),
            },
        );
        let outcome = FenceOutcome {
            node: "n1".into(),
            action: FenceAction::Reset,
            result: FenceResult::Ok,
            device: Some("pdu".into()),
            by: Some("peer".into()),
            detail: "reset of n1 by device pdu".into(),
        };
        let a = f.on_peer_result(
            "peer",
            &Announcement {
                outcome: outcome.clone(),
                reqids: vec![req.reqid],
            },
        );
        assert_eq!(
            a.iter().filter(|x| matches!(x, Action::Notify(_))).count(),
            1
        );
        assert!(
            !a.iter().any(|x| matches!(x, Action::Announce(_))),
            "peer results are not re-announced"
        );
        let (conn, r, o) = &replies(&a)[0];
        assert_eq!((*conn, *r), (4, 5));
        assert_eq!(o.result, FenceResult::Ok);
        assert_eq!(o.by.as_deref(), Some("peer"));
        assert_eq!(o.device.as_deref(), Some("pdu"));

        // A failure from the only claimer settles as failed.
        let a = f.fence(20_000, local(4, 6), "n1", FenceAction::Reset, 10_000);
        let Some(Action::AskPeers(req)) = a.first().cloned() else {
            panic!()
        };
        f.on_peer_claim(
            "peer",
            &PeerClaim {
                node: "n1".into(),
                action: FenceAction::Reset,
                reqid: req.reqid.clone(),
            },
        );
        let failed = FenceOutcome {
            result: FenceResult::Failed,
            detail: "exit 1".into(),
            ..outcome.clone()
        };
        let a = f.on_peer_result(
            "peer",
            &Announcement {
                outcome: failed,
                reqids: vec![req.reqid],
            },
        );
        let o = &replies(&a)[0].2;
        assert_eq!(o.result, FenceResult::Failed);
        assert!(o.detail.contains("exit 1"));

        // Our own announcement looping back is ignored entirely.
        assert!(f
            .on_peer_result(
                "me",
                &Announcement {
                    outcome,
                    reqids: vec![]
                }
            )
            .is_empty());
    }

    #[test]
    fn peer_request_is_claimed_only_with_a_covering_device() {
        let mut f = Fencer::new("me", 0, "p");
        f.set_cluster(true);
        let req = PeerRequest {
            node: "N1".into(),
            action: FenceAction::Off,
            reqid: "x-1".into(),
            timeout_ms: 5_000,
        };
        assert!(
            f.on_peer_request(0, "peer", req.clone()).is_empty(),
            "nothing covers n1: stay silent"
        );
        f.add_device(dev("d", &["n1"], 0));
        assert!(
            f.on_peer_request(0, "me", req.clone()).is_empty(),
            "own request looped back"
        );
        let a = f.on_peer_request(0, "peer", req.clone());
        assert!(matches!(&a[0], Action::Claim(c) if c.reqid == "x-1" && c.node == "n1"));
        let (op, att, device, _) = one_run(&a);
        assert_eq!(device, "d");
        let a = f.attempt_done(50, op, att, AttemptResult::Ok);
        assert!(replies(&a).is_empty());
        let ann = a
            .iter()
            .find_map(|x| match x {
                Action::Announce(an) => Some(an.clone()),
                _ => None,
            })
            .expect("announced");
        assert_eq!(ann.reqids, vec!["x-1".to_string()]);
        assert_eq!(ann.outcome.result, FenceResult::Ok);
        assert_eq!(ann.outcome.by.as_deref(), Some("me"));
    }
}
