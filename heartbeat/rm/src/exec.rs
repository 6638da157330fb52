//! The group executor: drives each group towards its wanted state, one
//! operation at a time (start left to right, stop right to left), runs the
//! recurring monitors and repairs failures in place.

use std::collections::VecDeque;

use hb_config::haresources::ResourceGroup;

use crate::{Action, GroupState, LogLevel, OpId, OpKind, Outcome, ResourceManager, RmError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub id: OpId,
    pub kind: OpKind,
    pub index: usize,
}

/// Runtime state of one resource group on this node.
#[derive(Clone, Debug)]
pub(crate) struct GroupRt {
    pub def: ResourceGroup,
    pub key: String,
    /// The protocol wants the group running here.
    pub want: bool,
    pub state: GroupState,
    /// Resources `0..started` are (believed) running.
    pub started: usize,
    pub pending: Option<Pending>,
    pub failures: u32,
    /// What the latest of `failures` was, for `cl_status rscgroups`.
    pub last_failure: Option<String>,
    /// Per resource: times of its in-place restarts within its restart window
    /// (each resource has its own limit, so each counts its own repairs).
    pub restarts: Vec<VecDeque<u64>>,
    /// In-place restart: stop down to this index, then start again.
    pub restart_to: Option<usize>,
    pub next_monitor: Vec<u64>,
    pub stop_attempts: u32,
    pub retry_at: Option<u64>,
    /// Releasing after a failure: end in `Failed` and tell the protocol.
    pub gave_up: bool,
}

impl GroupRt {
    pub fn new(def: ResourceGroup, key: String) -> GroupRt {
        let n = def.resources.len();
        GroupRt {
            def,
            key,
            want: false,
            state: GroupState::Stopped,
            started: 0,
            pending: None,
            failures: 0,
            last_failure: None,
            restarts: vec![VecDeque::new(); n],
            restart_to: None,
            next_monitor: vec![0; n],
            stop_attempts: 0,
            retry_at: None,
            gave_up: false,
        }
    }

    /// Anything of the group may be running here: peers must not start it.
    pub fn claimed(&self) -> bool {
        self.want
            || self.started > 0
            || self.state == GroupState::Blocked
            || self
                .pending
                .is_some_and(|p| matches!(p.kind, OpKind::Start | OpKind::Stop))
    }

    /// Not yet where the protocol wants it.
    pub fn in_transition(&self) -> bool {
        !self.settled()
            || self
                .pending
                .is_some_and(|p| matches!(p.kind, OpKind::Start | OpKind::Stop))
    }

    /// Reached the wanted state (or gave up trying).
    pub fn settled(&self) -> bool {
        if self.retry_at.is_some() || self.restart_to.is_some() {
            return false;
        }
        let busy = self
            .pending
            .is_some_and(|p| matches!(p.kind, OpKind::Start | OpKind::Stop));
        match self.state {
            GroupState::Blocked => true,
            _ if busy || self.gave_up => false,
            GroupState::Running => self.want,
            GroupState::Stopped | GroupState::Failed => !self.want && self.pending.is_none(),
            GroupState::Starting | GroupState::Stopping => false,
        }
    }
}

impl ResourceManager {
    pub(crate) fn set_want(&mut self, i: usize, up: bool) {
        let g = &mut self.groups[i];
        if g.state == GroupState::Blocked {
            return;
        }
        if up {
            g.want = true;
            g.gave_up = false;
        } else {
            g.want = false;
            g.restart_to = None;
        }
    }

    fn issue(&mut self, i: usize, kind: OpKind, index: usize) {
        let id = self.next_op;
        self.next_op += 1;
        let g = &mut self.groups[i];
        let Some(resource) = g.def.resources.get(index).cloned() else {
            return;
        };
        g.pending = Some(Pending { id, kind, index });
        let timeout_ms = match kind {
            OpKind::Monitor | OpKind::Probe => self.cfg.monitor_for(&resource).timeout_ms,
            OpKind::Start | OpKind::Stop => self.cfg.op_timeout_ms,
        };
        self.actions.push_back(Action::Op {
            id,
            group: g.key.clone(),
            index,
            resource,
            op: kind,
            timeout_ms,
        });
    }

    /// Moves every idle group one step; returns whether anything happened.
    pub(crate) fn exec_drive(&mut self, now: u64) -> bool {
        let mut progressed = false;
        let mut failed = Vec::new();
        for i in 0..self.groups.len() {
            let g = &mut self.groups[i];
            if g.pending.is_some() || g.state == GroupState::Blocked || g.retry_at.is_some() {
                continue;
            }
            let n = g.def.resources.len();
            if let Some(to) = g.restart_to {
                if g.started > to {
                    g.state = GroupState::Starting;
                    let idx = g.started - 1;
                    self.issue(i, OpKind::Stop, idx);
                    progressed = true;
                    continue;
                }
                g.restart_to = None;
            }
            if g.want {
                if g.started < n {
                    g.state = GroupState::Starting;
                    let idx = g.started;
                    self.issue(i, OpKind::Start, idx);
                    progressed = true;
                } else if g.state != GroupState::Running {
                    g.state = GroupState::Running;
                    g.stop_attempts = 0;
                    for (k, r) in g.def.resources.iter().enumerate() {
                        let spec = self.cfg.monitor_for(r);
                        g.next_monitor[k] = now.saturating_add(spec.interval_ms);
                    }
                    progressed = true;
                }
            } else if g.started > 0 {
                g.state = GroupState::Stopping;
                let idx = g.started - 1;
                self.issue(i, OpKind::Stop, idx);
                progressed = true;
            } else if g.gave_up {
                g.gave_up = false;
                g.state = GroupState::Failed;
                failed.push(i);
                progressed = true;
            } else if matches!(
                g.state,
                GroupState::Starting | GroupState::Stopping | GroupState::Running
            ) {
                g.state = GroupState::Stopped;
                progressed = true;
            }
        }
        for i in failed {
            self.group_failed(now, i);
        }
        progressed
    }

    /// Due monitors and stop retries.
    pub(crate) fn exec_tick(&mut self, now: u64) {
        for i in 0..self.groups.len() {
            let g = &mut self.groups[i];
            if g.retry_at.is_some_and(|t| now >= t) {
                g.retry_at = None;
            }
            if g.state != GroupState::Running
                || !g.want
                || g.pending.is_some()
                || g.restart_to.is_some()
            {
                continue;
            }
            let due = g
                .def
                .resources
                .iter()
                .enumerate()
                .find(|(k, r)| self.cfg.monitor_for(r).interval_ms > 0 && g.next_monitor[*k] <= now)
                .map(|(k, _)| k);
            if let Some(k) = due {
                self.issue(i, OpKind::Monitor, k);
            }
        }
    }

    pub(crate) fn exec_op_result(
        &mut self,
        now: u64,
        id: OpId,
        outcome: Outcome,
    ) -> Result<(), RmError> {
        let i = self
            .groups
            .iter()
            .position(|g| g.pending.is_some_and(|p| p.id == id))
            .ok_or(RmError::UnknownOp(id))?;
        let Some(p) = self.groups[i].pending.take() else {
            return Err(RmError::UnknownOp(id));
        };
        let key = self.groups[i].key.clone();
        let rsc = self.groups[i]
            .def
            .resources
            .get(p.index)
            .map(ToString::to_string)
            .unwrap_or_default();
        match p.kind {
            OpKind::Start => match outcome {
                Outcome::Ok => self.groups[i].started = p.index + 1,
                bad => {
                    let g = &mut self.groups[i];
                    g.failures += 1;
                    g.last_failure = Some(failure_text("start", &rsc, bad));
                    // Stop the failed resource too: it may be half started.
                    g.started = p.index + 1;
                    g.want = false;
                    g.gave_up = true;
                    g.restart_to = None;
                    self.log(
                        LogLevel::Error,
                        format!("Resource {rsc} of group {key}: start failed ({bad:?})."),
                    );
                }
            },
            OpKind::Stop => {
                match outcome {
                    Outcome::Ok | Outcome::NotRunning => {
                        let g = &mut self.groups[i];
                        g.started = p.index;
                        g.stop_attempts = 0;
                    }
                    bad => {
                        let retries = self.cfg.stop_retries;
                        let delay = self.cfg.stop_retry_delay_ms;
                        let g = &mut self.groups[i];
                        g.failures += 1;
                        g.last_failure = Some(failure_text("stop", &rsc, bad));
                        g.stop_attempts += 1;
                        if g.stop_attempts < retries.max(1) {
                            g.retry_at = Some(now.saturating_add(delay));
                            self.log(
                            LogLevel::Warning,
                            format!("Resource {rsc} of group {key}: stop failed ({bad:?}), retrying."),
                        );
                        } else {
                            g.state = GroupState::Blocked;
                            g.want = false;
                            g.gave_up = false;
                            g.restart_to = None;
                            self.log(
                                LogLevel::Error,
                                format!(
                                    "Resource STOP failure: {rsc} of group {key} ({bad:?}). \
                                 Group blocked until this node is fenced."
                                ),
                            );
                            self.send_rsc_state(true);
                        }
                    }
                }
            }
            OpKind::Monitor => {
                let g = &self.groups[i];
                if g.state != GroupState::Running || !g.want || p.index >= g.started {
                    return Ok(());
                }
                match outcome {
                    Outcome::Ok => {
                        let spec = self.cfg.monitor_for(&g.def.resources[p.index]);
                        self.groups[i].next_monitor[p.index] = now.saturating_add(spec.interval_ms);
                    }
                    bad => {
                        let spec = self.cfg.restart_for(&g.def.resources[p.index]);
                        let g = &mut self.groups[i];
                        g.failures += 1;
                        g.last_failure = Some(failure_text("monitor", &rsc, bad));
                        let Some(history) = g.restarts.get_mut(p.index) else {
                            return Ok(());
                        };
                        while history
                            .front()
                            .is_some_and(|&t| now.saturating_sub(t) > spec.window_ms)
                        {
                            history.pop_front();
                        }
                        if (history.len() as u64) < u64::from(spec.limit) {
                            history.push_back(now);
                            g.restart_to = Some(p.index);
                            g.state = GroupState::Starting;
                            self.log(
                                LogLevel::Warning,
                                format!(
                                    "Resource {rsc} of group {key}: monitor failed ({bad:?}), \
                                     restarting in place."
                                ),
                            );
                        } else {
                            g.want = false;
                            g.gave_up = true;
                            self.log(
                                LogLevel::Error,
                                format!(
                                    "Resource {rsc} of group {key}: monitor failed ({bad:?}), \
                                     restart limit reached."
                                ),
                            );
                        }
                    }
                }
            }
            OpKind::Probe => {}
        }
        Ok(())
    }
}

/// One line a user can act on: which operation of which resource, and how it failed.
fn failure_text(op: &str, rsc: &str, outcome: Outcome) -> String {
    let how = match outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::NotRunning => "not running".to_string(),
        Outcome::Failed(rc) => format!("rc {rc}"),
        Outcome::TimedOut => "timed out".to_string(),
    };
    format!("{op} of {rsc} failed ({how})")
}
