//! The LRM state machine: resources, per-resource op queues, recurring ops, the global
//! `max-children` limit, cancel/flush/delete, history and fail counts.
//!
//! It does no I/O: agents are started through an [`Executor`], completions are fed back
//! with [`Lrm::complete`], time is passed in, and results to report are collected as
//! [`Notification`]s for the caller to deliver. That keeps lrmd's scheduling rules testable
//! with a fake executor and a fake clock.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ra_runner::{AgentSpec, Class};

use crate::model::*;

/// lrmd's default `max-children`.
pub const DEFAULT_MAX_CHILDREN: usize = 4;
/// Queue length from which lrmd complained that a resource's op list is suspiciously long.
const LONG_QUEUE: usize = 4;
/// Queue wait after which lrmd advised raising max-children.
const LONG_WAIT: Duration = Duration::from_secs(10);

/// Starts and kills agents on behalf of the [`Lrm`].
pub trait Executor {
    /// Starts `spec` on `rsc` with the merged `params`. The result must later be passed to
    /// [`Lrm::complete`] with the same `call_id`. An `Err` is reported as op status `error`.
    fn start(
        &mut self,
        call_id: CallId,
        rsc: &Resource,
        spec: &OpSpec,
        params: &BTreeMap<String, String>,
    ) -> Result<(), String>;

    /// Kills a running op (only used at the end of a shutdown grace period); its completion
    /// is still expected.
    fn kill(&mut self, call_id: CallId);
}

/// A result to deliver: to `owner` if still connected, and to every subscribed client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub owner: Option<ClientId>,
    pub record: OpRecord,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LrmError {
    #[error("no such resource {0:?}")]
    UnknownResource(String),
    #[error("resource {id:?} is already registered with a different definition")]
    Duplicate { id: String },
    #[error("resource {id:?}: {reason}")]
    InvalidResource { id: String, reason: String },
    #[error("resource {id:?} is frozen ({why}); new operations are refused until it finishes")]
    Frozen { id: String, why: &'static str },
    #[error("lrmd is shutting down; new operations are refused")]
    ShuttingDown,
    #[error("resource {rsc:?}: no operation {what}")]
    UnknownOp { rsc: String, what: String },
    #[error("invalid operation: {0}")]
    InvalidOp(String),
    #[error("invalid value for max-children: {0} (must be > 0)")]
    InvalidMaxChildren(usize),
}

/// Outcome of cancel/flush/delete: done at once, or deferred until a running op ends
/// (cluster-glue's `HA_RSCBUSY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Pending,
}

/// Which ops a cancel applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelSel {
    Call(CallId),
    Key { operation: String, interval: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frozen {
    Flushing,
    Removing,
}

impl Frozen {
    fn why(self) -> &'static str {
        match self {
            Frozen::Flushing => "flushing operations",
            Frozen::Removing => "removal pending",
        }
    }
}

#[derive(Debug)]
struct Rsc {
    info: Resource,
    queue: VecDeque<CallId>,
    running: Option<CallId>,
    /// This resource's key in `Lrm::ready` while it is in there.
    ready_seq: Option<u64>,
    frozen: Option<Frozen>,
    history: BTreeMap<(String, u64), OpRecord>,
    fail: FailCount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpState {
    Waiting(Instant),
    Queued,
    Running,
}

#[derive(Debug)]
struct Op {
    call_id: CallId,
    rsc: String,
    spec: OpSpec,
    owner: Option<ClientId>,
    state: OpState,
    /// Position in the global FIFO: ready resources are served oldest head op first.
    seq: u64,
    queued_at: Instant,
    started_at: Instant,
    t_run: u64,
    last_rc: Option<i32>,
    t_rcchange: u64,
    cancelled: bool,
    warned_wait: bool,
}

/// The Local Resource Manager.
#[derive(Debug)]
pub struct Lrm<E: Executor> {
    exec: E,
    rscs: BTreeMap<String, Rsc>,
    ops: HashMap<CallId, Op>,
    waiting: BTreeSet<(Instant, CallId)>,
    /// Resources that could start an op now (nothing running, an op queued), keyed by
    /// their head op's seq: `dispatch` takes them oldest first without scanning every
    /// resource (with a thousand monitored resources that scan was most of lrmd's CPU).
    /// Kept exact by `refresh_ready` after every change to a queue or `running`.
    ready: BTreeSet<(u64, String)>,
    next_call: CallId,
    next_seq: u64,
    running: usize,
    max_children: usize,
    shutting_down: bool,
    events: Vec<Notification>,
}

/// Current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn ms_between(a: Instant, b: Instant) -> u64 {
    b.saturating_duration_since(a).as_millis() as u64
}

/// Ops whose failure does not count against the resource.
fn is_informational(op: &str) -> bool {
    matches!(
        op,
        "meta-data" | "validate-all" | "methods" | "asyncmon-none"
    )
}

/// Is this result a failure of the resource (fail count)?
///
/// A probe (interval 0 monitor) may find the resource stopped (7); a recurring monitor may
/// not: that means it died behind our back.
fn is_failure(spec: &OpSpec, r: &ExecResult) -> bool {
    match r.status {
        OpStatus::Cancelled | OpStatus::Pending => return false,
        OpStatus::Timeout | OpStatus::Error | OpStatus::NotSupported => return true,
        OpStatus::Done => {}
    }
    if is_informational(&spec.operation) {
        return false;
    }
    match spec.operation.as_str() {
        "monitor" | "status" if spec.interval == 0 => !matches!(r.rc, 0 | 7 | 8),
        "monitor" | "status" => !matches!(r.rc, 0 | 8),
        _ => r.rc != 0,
    }
}

impl<E: Executor> Lrm<E> {
    /// An empty LRM; `max_children` of 0 is raised to 1.
    pub fn new(exec: E, max_children: usize) -> Lrm<E> {
        Lrm {
            exec,
            rscs: BTreeMap::new(),
            ops: HashMap::new(),
            waiting: BTreeSet::new(),
            ready: BTreeSet::new(),
            next_call: 1,
            next_seq: 0,
            running: 0,
            max_children: max_children.max(1),
            shutting_down: false,
            events: Vec::new(),
        }
    }

    /// The executor (tests inspect their fake through it).
    pub fn executor(&self) -> &E {
        &self.exec
    }

    /// Mutable access to the executor.
    pub fn executor_mut(&mut self) -> &mut E {
        &mut self.exec
    }

    /// Current concurrency limit.
    pub fn max_children(&self) -> usize {
        self.max_children
    }

    /// Changes the concurrency limit (`setparam max-children`); takes effect at the next
    /// dispatch, running ops are not touched.
    pub fn set_max_children(&mut self, n: usize, now: Instant) -> Result<(), LrmError> {
        if n == 0 {
            return Err(LrmError::InvalidMaxChildren(n));
        }
        self.max_children = n;
        self.dispatch(now);
        Ok(())
    }

    /// Number of agents running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Results to deliver, oldest first.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.events)
    }

    /// Registers a resource. Registering the identical definition again is accepted (a
    /// client re-registering after an lrmd restart or reconnect); a different one is not.
    pub fn register(&mut self, mut rsc: Resource) -> Result<(), LrmError> {
        let invalid = |reason: String| LrmError::InvalidResource {
            id: rsc.id.clone(),
            reason,
        };
        if rsc.id.is_empty() {
            return Err(invalid("empty resource id".into()));
        }
        if rsc.id.len() > MAX_RSC_ID {
            return Err(invalid(format!(
                "resource id is {} bytes, at most {MAX_RSC_ID} allowed",
                rsc.id.len()
            )));
        }
        if rsc.id.chars().any(|c| c.is_control()) {
            return Err(invalid("resource id contains control characters".into()));
        }
        let class = Class::from_str(&rsc.class).map_err(|e| invalid(e.to_string()))?;
        // lrmadmin passes "heartbeat" or NULL as provider for lsb/heartbeat classes.
        if class != Class::Ocf {
            rsc.provider = None;
        }
        AgentSpec::new(class, rsc.provider.as_deref(), &rsc.agent_type)
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(existing) = self.rscs.get(&rsc.id) {
            if existing.info == rsc && existing.frozen != Some(Frozen::Removing) {
                return Ok(());
            }
            return Err(LrmError::Duplicate { id: rsc.id });
        }
        self.rscs.insert(
            rsc.id.clone(),
            Rsc {
                info: rsc,
                queue: VecDeque::new(),
                running: None,
                ready_seq: None,
                frozen: None,
                history: BTreeMap::new(),
                fail: FailCount {
                    count: 0,
                    last_failure: None,
                },
            },
        );
        Ok(())
    }

    /// A registered resource.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.rscs.get(id).map(|r| &r.info)
    }

    /// All resource ids, sorted.
    pub fn resource_ids(&self) -> Vec<String> {
        self.rscs.keys().cloned().collect()
    }

    /// Submits an op and returns its call id. It runs when the resource is idle and a
    /// child slot is free (after `start_delay`).
    pub fn exec(
        &mut self,
        rsc_id: &str,
        spec: OpSpec,
        owner: Option<ClientId>,
        now: Instant,
    ) -> Result<CallId, LrmError> {
        if self.shutting_down {
            return Err(LrmError::ShuttingDown);
        }
        let rsc = self
            .rscs
            .get_mut(rsc_id)
            .ok_or_else(|| LrmError::UnknownResource(rsc_id.to_string()))?;
        if let Some(f) = rsc.frozen {
            return Err(LrmError::Frozen {
                id: rsc_id.to_string(),
                why: f.why(),
            });
        }
        if spec.operation.is_empty() || spec.operation.chars().any(|c| c.is_control()) {
            return Err(LrmError::InvalidOp(format!(
                "operation name {:?} is empty or contains control characters",
                spec.operation
            )));
        }
        let call_id = self.next_call;
        self.next_call += 1;
        let state = if spec.start_delay > 0 {
            let at = now + Duration::from_millis(spec.start_delay);
            self.waiting.insert((at, call_id));
            OpState::Waiting(at)
        } else {
            rsc.queue.push_back(call_id);
            if rsc.queue.len() >= LONG_QUEUE {
                tracing::warn!(
                    rsc = rsc_id,
                    len = rsc.queue.len(),
                    "operations list for {rsc_id} is suspiciously long"
                );
            }
            OpState::Queued
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ops.insert(
            call_id,
            Op {
                call_id,
                rsc: rsc_id.to_string(),
                spec,
                owner,
                state,
                seq,
                queued_at: now,
                started_at: now,
                t_run: 0,
                last_rc: None,
                t_rcchange: 0,
                cancelled: false,
                warned_wait: false,
            },
        );
        self.refresh_ready(rsc_id);
        self.dispatch(now);
        Ok(call_id)
    }

    /// Moves recurring/delayed ops that are due into their queues and starts what can run.
    pub fn tick(&mut self, now: Instant) {
        while let Some(&(at, call_id)) = self.waiting.first() {
            if at > now {
                break;
            }
            self.waiting.pop_first();
            let Some(op) = self.ops.get_mut(&call_id) else {
                continue;
            };
            op.state = OpState::Queued;
            op.queued_at = now;
            op.seq = self.next_seq;
            self.next_seq += 1;
            let rsc_id = op.rsc.clone();
            if let Some(rsc) = self.rscs.get_mut(&rsc_id) {
                rsc.queue.push_back(call_id);
            }
            self.refresh_ready(&rsc_id);
        }
        self.dispatch(now);
    }

    /// When [`Lrm::tick`] next has work to do (a recurring or delayed op falls due).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.first().map(|&(at, _)| at)
    }

    /// Re-files `rsc_id` in `ready` from its current queue and running op.
    fn refresh_ready(&mut self, rsc_id: &str) {
        let Some(rsc) = self.rscs.get_mut(rsc_id) else {
            return;
        };
        let want = match (rsc.running, rsc.queue.front()) {
            (None, Some(head)) => self.ops.get(head).map(|op| op.seq),
            _ => None,
        };
        if rsc.ready_seq == want {
            return;
        }
        if let Some(old) = rsc.ready_seq.take() {
            self.ready.remove(&(old, rsc_id.to_string()));
        }
        if let Some(seq) = want {
            self.ready.insert((seq, rsc_id.to_string()));
            rsc.ready_seq = Some(seq);
        }
    }

    /// Forgets a resource, and its place in `ready`.
    fn remove_rsc(&mut self, rsc_id: &str) {
        if let Some(rsc) = self.rscs.remove(rsc_id) {
            if let Some(seq) = rsc.ready_seq {
                self.ready.remove(&(seq, rsc_id.to_string()));
            }
        }
    }

    fn dispatch(&mut self, now: Instant) {
        // Oldest head op first across resources, one op per resource at a time.
        while self.running < self.max_children {
            let Some((_, rsc_id)) = self.ready.pop_first() else {
                break;
            };
            if let Some(rsc) = self.rscs.get_mut(&rsc_id) {
                rsc.ready_seq = None;
            }
            self.start_head(&rsc_id, now);
        }
        if self.running >= self.max_children {
            self.warn_long_waits(now);
        }
    }

    /// Warns once per op about ops waiting too long for a free child slot.
    fn warn_long_waits(&mut self, now: Instant) {
        // `ready` is ordered by seq, which follows queueing time: stop at the first op
        // that has not waited long, so a burst of queued monitors costs O(1) here.
        for (_, rsc_id) in &self.ready {
            let Some(call_id) = self.rscs.get(rsc_id).and_then(|r| r.queue.front()) else {
                continue;
            };
            let Some(op) = self.ops.get_mut(call_id) else {
                continue;
            };
            if now.saturating_duration_since(op.queued_at) <= LONG_WAIT {
                break;
            }
            if op.state == OpState::Queued && !op.warned_wait {
                op.warned_wait = true;
                tracing::warn!(rsc = %op.rsc, operation = %op.spec.operation, call_id = op.call_id,
                    "operation waited more than {}s for a free child slot; \
                     consider raising max-children or lengthening monitor intervals",
                    LONG_WAIT.as_secs());
            }
        }
    }

    fn start_head(&mut self, rsc_id: &str, now: Instant) {
        let Some(rsc) = self.rscs.get_mut(rsc_id) else {
            return;
        };
        if rsc.running.is_some() {
            return;
        }
        let Some(call_id) = rsc.queue.pop_front() else {
            return;
        };
        let Some(op) = self.ops.get_mut(&call_id) else {
            return;
        };
        rsc.running = Some(call_id);
        op.state = OpState::Running;
        op.started_at = now;
        op.t_run = unix_now();
        self.running += 1;
        let mut params = rsc.info.params.clone();
        params.extend(op.spec.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        if op.spec.interval > 0 {
            tracing::debug!(rsc = rsc_id, operation = %op.spec.operation, call_id, "starting recurring op");
        } else {
            tracing::info!(rsc = rsc_id, operation = %op.spec.operation, call_id, "starting op");
        }
        if let Err(e) = self.exec.start(call_id, &rsc.info, &op.spec, &params) {
            tracing::error!(rsc = rsc_id, call_id, "cannot start agent: {e}");
            let mut r = ExecResult::failed(OpStatus::Error);
            r.exit_reason = Some(e);
            // Completing re-enters dispatch; that is fine, the slot is freed first.
            self.complete(call_id, r, now);
        }
    }

    /// Feeds back the result of a run started through the executor.
    pub fn complete(&mut self, call_id: CallId, result: ExecResult, now: Instant) {
        let Some(op) = self.ops.get_mut(&call_id) else {
            tracing::warn!(call_id, "completion for an unknown op ignored");
            return;
        };
        if op.state != OpState::Running {
            tracing::warn!(call_id, "completion for an op that is not running ignored");
            return;
        }
        self.running = self.running.saturating_sub(1);
        let Some(rsc) = self.rscs.get_mut(&op.rsc) else {
            self.ops.remove(&call_id);
            return;
        };
        rsc.running = None;
        let rsc_id = op.rsc.clone();
        let mut result = result;
        if op.cancelled && result.status != OpStatus::Timeout {
            result.status = OpStatus::Cancelled;
        }
        let first = op.last_rc.is_none();
        let last_rc = op.last_rc.unwrap_or(result.rc);
        if first || last_rc != result.rc {
            op.t_rcchange = unix_now();
        }
        op.last_rc = Some(result.rc);
        let removing = rsc.frozen == Some(Frozen::Removing);
        let target = op.spec.effective_target();
        let notify = result.status != OpStatus::Done
            || result.rc == -1
            || result.rc == target
            || target == TARGET_EVERYTIME
            || (target == TARGET_CHANGED && (first || last_rc != result.rc))
            || removing;
        let record = OpRecord {
            call_id,
            rsc: op.rsc.clone(),
            spec: op.spec.clone(),
            status: result.status,
            rc: result.rc,
            last_rc,
            t_run: op.t_run,
            t_rcchange: op.t_rcchange,
            exec_time: result.exec_time,
            queue_time: ms_between(op.queued_at, op.started_at),
            output: result.output.clone(),
            exit_reason: result.exit_reason.clone(),
            rsc_deleted: removing,
        };
        if result.status != OpStatus::Cancelled {
            rsc.history.insert(
                (op.spec.operation.clone(), op.spec.interval),
                record.clone(),
            );
        }
        if notify && is_failure(&op.spec, &result) {
            rsc.fail.count = rsc.fail.count.saturating_add(1);
            rsc.fail.last_failure = Some(unix_now());
        }
        let rearm = op.spec.interval > 0
            && !op.cancelled
            && rsc.frozen.is_none()
            && !self.shutting_down
            && result.status != OpStatus::Cancelled;
        if notify {
            self.events.push(Notification {
                owner: op.owner,
                record,
            });
        }
        if rearm {
            let at = now + Duration::from_millis(op.spec.interval);
            op.state = OpState::Waiting(at);
            self.waiting.insert((at, call_id));
        } else {
            self.ops.remove(&call_id);
        }
        match rsc.frozen {
            Some(Frozen::Removing) => {
                let id = rsc.info.id.clone();
                self.remove_rsc(&id);
                tracing::info!(rsc = %id, "resource removed after its last operation ended");
            }
            Some(Frozen::Flushing) => rsc.frozen = None,
            None => {}
        }
        self.refresh_ready(&rsc_id);
        self.dispatch(now);
    }

    /// Reports an idle op as cancelled and forgets it.
    fn drop_idle(&mut self, call_id: CallId, now: Instant) {
        let Some(op) = self.ops.remove(&call_id) else {
            return;
        };
        if let OpState::Waiting(at) = op.state {
            self.waiting.remove(&(at, call_id));
        }
        if let Some(rsc) = self.rscs.get_mut(&op.rsc) {
            rsc.queue.retain(|&c| c != call_id);
        }
        self.refresh_ready(&op.rsc);
        let rc = op.last_rc.unwrap_or(0);
        self.events.push(Notification {
            owner: op.owner,
            record: OpRecord {
                call_id,
                rsc: op.rsc,
                spec: op.spec,
                status: OpStatus::Cancelled,
                rc: 0,
                last_rc: rc,
                t_run: op.t_run,
                t_rcchange: op.t_rcchange,
                exec_time: 0,
                queue_time: ms_between(op.queued_at, now),
                output: None,
                exit_reason: None,
                rsc_deleted: false,
            },
        });
    }

    /// Cancels the selected ops of a resource. Idle ones are dropped at once (reported as
    /// cancelled); a running one is not killed: it is marked and its completion is reported
    /// as cancelled (cluster-glue's behaviour, reply "busy"). The op's history is erased.
    pub fn cancel(
        &mut self,
        rsc_id: &str,
        sel: CancelSel,
        now: Instant,
    ) -> Result<Outcome, LrmError> {
        if !self.rscs.contains_key(rsc_id) {
            return Err(LrmError::UnknownResource(rsc_id.to_string()));
        }
        let matching: Vec<CallId> = self
            .ops
            .values()
            .filter(|op| op.rsc == rsc_id)
            .filter(|op| match &sel {
                CancelSel::Call(c) => op.call_id == *c,
                CancelSel::Key {
                    operation,
                    interval,
                } => op.spec.operation == *operation && op.spec.interval == *interval,
            })
            .map(|op| op.call_id)
            .collect();
        if matching.is_empty() {
            let what = match &sel {
                CancelSel::Call(c) => format!("with call id {c}"),
                CancelSel::Key {
                    operation,
                    interval,
                } => format!("{operation} interval {interval}"),
            };
            return Err(LrmError::UnknownOp {
                rsc: rsc_id.to_string(),
                what,
            });
        }
        let mut outcome = Outcome::Done;
        for call_id in matching {
            let Some(op) = self.ops.get_mut(&call_id) else {
                continue;
            };
            let key = (op.spec.operation.clone(), op.spec.interval);
            if op.state == OpState::Running {
                op.cancelled = true;
                outcome = Outcome::Pending;
            } else {
                self.drop_idle(call_id, now);
            }
            if let Some(rsc) = self.rscs.get_mut(rsc_id) {
                rsc.history.remove(&key);
            }
        }
        Ok(outcome)
    }

    /// Cancels everything queued or waiting on the resource; a running op is left to finish
    /// (reported cancelled) and the resource refuses new ops until then.
    pub fn flush(&mut self, rsc_id: &str, now: Instant) -> Result<Outcome, LrmError> {
        self.flush_as(rsc_id, Frozen::Flushing, now)
    }

    fn flush_as(
        &mut self,
        rsc_id: &str,
        freeze: Frozen,
        now: Instant,
    ) -> Result<Outcome, LrmError> {
        let rsc = self
            .rscs
            .get(rsc_id)
            .ok_or_else(|| LrmError::UnknownResource(rsc_id.to_string()))?;
        let running = rsc.running;
        let idle: Vec<CallId> = self
            .ops
            .values()
            .filter(|op| op.rsc == rsc_id && op.state != OpState::Running)
            .map(|op| op.call_id)
            .collect();
        for c in idle {
            self.drop_idle(c, now);
        }
        match running {
            Some(c) => {
                if let Some(op) = self.ops.get_mut(&c) {
                    op.cancelled = true;
                }
                if let Some(rsc) = self.rscs.get_mut(rsc_id) {
                    rsc.frozen = Some(freeze);
                }
                Ok(Outcome::Pending)
            }
            None => Ok(Outcome::Done),
        }
    }

    /// Unregisters a resource: flushes it, and removes it now or, if an op is running, when
    /// that op ends (its result then carries `rsc_deleted`).
    pub fn delete(&mut self, rsc_id: &str, now: Instant) -> Result<Outcome, LrmError> {
        let outcome = self.flush_as(rsc_id, Frozen::Removing, now)?;
        if outcome == Outcome::Done {
            self.remove_rsc(rsc_id);
        }
        Ok(outcome)
    }

    /// Synthesizes a failed `asyncmon` result (lrmadmin -X, crm_resource -F): reported to
    /// every subscriber and counted as a failure.
    pub fn fail_rsc(
        &mut self,
        rsc_id: &str,
        rc: i32,
        reason: Option<String>,
    ) -> Result<CallId, LrmError> {
        let rsc = self
            .rscs
            .get_mut(rsc_id)
            .ok_or_else(|| LrmError::UnknownResource(rsc_id.to_string()))?;
        let rc = if rc <= 0 { 1 } else { rc };
        let call_id = self.next_call;
        self.next_call += 1;
        let now = unix_now();
        let mut spec = OpSpec::new("asyncmon");
        spec.timeout = 0;
        spec.target_rc = Some(TARGET_EVERYTIME);
        rsc.fail.count = rsc.fail.count.saturating_add(1);
        rsc.fail.last_failure = Some(now);
        self.events.push(Notification {
            owner: None,
            record: OpRecord {
                call_id,
                rsc: rsc_id.to_string(),
                spec,
                status: OpStatus::Done,
                rc,
                last_rc: rc,
                t_run: now,
                t_rcchange: now,
                exec_time: 0,
                queue_time: 0,
                output: None,
                exit_reason: Some(reason.unwrap_or_else(|| "asynchronous monitor error".into())),
                rsc_deleted: false,
            },
        });
        Ok(call_id)
    }

    /// State and op history of a resource.
    pub fn state(&self, rsc_id: &str, now: Instant) -> Result<RscState, LrmError> {
        let rsc = self
            .rscs
            .get(rsc_id)
            .ok_or_else(|| LrmError::UnknownResource(rsc_id.to_string()))?;
        let mut ops: BTreeMap<CallId, OpRecord> = BTreeMap::new();
        for r in rsc.history.values() {
            ops.insert(r.call_id, r.clone());
        }
        for op in self.ops.values().filter(|op| op.rsc == rsc_id) {
            // A recurring op waiting for its next run is shown by its last result if any.
            if matches!(op.state, OpState::Waiting(_)) && ops.contains_key(&op.call_id) {
                continue;
            }
            ops.insert(
                op.call_id,
                OpRecord {
                    call_id: op.call_id,
                    rsc: op.rsc.clone(),
                    spec: op.spec.clone(),
                    status: OpStatus::Pending,
                    rc: 14,
                    last_rc: op.last_rc.unwrap_or(14),
                    t_run: op.t_run,
                    t_rcchange: op.t_rcchange,
                    exec_time: 0,
                    queue_time: ms_between(op.queued_at, now),
                    output: None,
                    exit_reason: None,
                    rsc_deleted: false,
                },
            );
        }
        let busy = rsc.running.is_some() || !rsc.queue.is_empty();
        Ok(RscState {
            state: if busy { "busy" } else { "idle" }.to_string(),
            ops: ops.into_values().collect(),
            fail_count: rsc.fail.count,
        })
    }

    /// Fail count of a resource.
    pub fn fail_count(&self, rsc_id: &str) -> Result<FailCount, LrmError> {
        self.rscs
            .get(rsc_id)
            .map(|r| r.fail.clone())
            .ok_or_else(|| LrmError::UnknownResource(rsc_id.to_string()))
    }

    /// Resets a resource's fail count.
    pub fn reset_fail_count(&mut self, rsc_id: &str) -> Result<(), LrmError> {
        let rsc = self
            .rscs
            .get_mut(rsc_id)
            .ok_or_else(|| LrmError::UnknownResource(rsc_id.to_string()))?;
        rsc.fail = FailCount {
            count: 0,
            last_failure: None,
        };
        Ok(())
    }

    /// A client went away: its ops keep running (unlike cluster-glue, which flushed its
    /// recurring ops, and Debian's build, which crashed); results go to subscribers only.
    pub fn client_gone(&mut self, client: ClientId) {
        for op in self.ops.values_mut() {
            if op.owner == Some(client) {
                op.owner = None;
            }
        }
    }

    /// Starts a graceful shutdown: new ops are refused, recurring and delayed ops that are
    /// waiting are dropped, queued and running ops are left to finish.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let waiting: Vec<CallId> = self.waiting.iter().map(|&(_, c)| c).collect();
        for c in waiting {
            self.drop_idle(c, now);
        }
    }

    /// True once shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// No op runs or is queued (waiting recurring ops do not count, as in lrmd).
    pub fn is_idle(&self) -> bool {
        // With nothing running, every resource with a queued op is in `ready`.
        self.running == 0 && self.ready.is_empty()
    }

    /// Kills every running op (end of the shutdown grace period) and drops queued ones.
    pub fn kill_all(&mut self, now: Instant) {
        let queued: Vec<CallId> = self
            .ops
            .values()
            .filter(|op| op.state != OpState::Running)
            .map(|op| op.call_id)
            .collect();
        for c in queued {
            self.drop_idle(c, now);
        }
        let running: Vec<CallId> = self
            .ops
            .values()
            .filter(|op| op.state == OpState::Running)
            .map(|op| op.call_id)
            .collect();
        for c in running {
            self.exec.kill(c);
        }
    }
}
