//! The [`Executor`] lrmd uses: agents run through `ra-runner`, each driven by a tokio task
//! (reactor readiness on the agent's pidfd and pipes, no thread per op).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ra_runner::{AgentSpec, BaseEnv, Class, OpRequest, Roots};
use tokio::sync::{mpsc, oneshot};

use crate::model::{CallId, ExecResult, OpSpec, OpStatus, Resource};
use crate::sched::Executor;

/// Bytes of agent output kept per stream (the rest is read and dropped, so a chatty agent
/// cannot grow lrmd's memory).
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// lrmd handed clients at most this much of a heartbeat-class status line.
const HB_STATUS_LINE: usize = 79;

/// A finished run, sent from the op's task to the daemon's main loop.
pub type Completion = (CallId, ExecResult);

/// Runs agents as tokio tasks; completions arrive on the channel given to [`RunnerExecutor::new`].
#[derive(Debug)]
pub struct RunnerExecutor {
    roots: Arc<Roots>,
    /// lrmd's own environment, filtered once at startup: agents inherit it on every op.
    base_env: BaseEnv,
    done: mpsc::UnboundedSender<Completion>,
    kills: HashMap<CallId, oneshot::Sender<()>>,
}

impl RunnerExecutor {
    /// Must be used from within a tokio runtime (start spawns tasks).
    pub fn new(roots: Roots, done: mpsc::UnboundedSender<Completion>) -> RunnerExecutor {
        RunnerExecutor {
            roots: Arc::new(roots),
            base_env: BaseEnv::capture(),
            done,
            kills: HashMap::new(),
        }
    }

    /// The agent directories in use.
    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Forgets the kill handle of a finished op.
    pub fn finished(&mut self, call_id: CallId) {
        self.kills.remove(&call_id);
    }
}

/// Builds the runner request for `spec` on `rsc`.
pub fn op_request(
    rsc: &Resource,
    spec: &OpSpec,
    params: &BTreeMap<String, String>,
) -> Result<OpRequest, String> {
    let class = Class::from_str(&rsc.class).map_err(|e| e.to_string())?;
    let agent = AgentSpec::new(class, rsc.provider.as_deref(), &rsc.agent_type)
        .map_err(|e| e.to_string())?;
    let mut req = OpRequest::new(agent, &spec.operation);
    req.params = params.clone();
    req.instance = rsc.id.clone();
    req.interval = Duration::from_millis(spec.interval);
    req.timeout = Duration::from_millis(spec.timeout);
    req.check_level = spec.check_level;
    req.output_limit = OUTPUT_LIMIT;
    Ok(req)
}

/// Maps a runner result onto cluster-glue's op_status/rc.
pub fn exec_result(req: &OpRequest, r: &ra_runner::OpResult) -> ExecResult {
    let (status, rc) = match &r.status {
        ra_runner::OpStatus::Done => (OpStatus::Done, r.rc),
        // lrmd reported a missing agent as a normal exit with "not installed".
        ra_runner::OpStatus::NotInstalled => (OpStatus::Done, 5),
        ra_runner::OpStatus::TimedOut => (OpStatus::Timeout, -2),
        ra_runner::OpStatus::Cancelled => (OpStatus::Cancelled, 0),
        ra_runner::OpStatus::Error(_) => (OpStatus::Error, 1),
    };
    let output = if req.spec.class == Class::Heartbeat && req.effective_action() == "status" {
        let text = r.stdout_str();
        text.lines().next().map(|l| truncate(l, HB_STATUS_LINE))
    } else {
        None
    };
    let exit_reason = match &r.status {
        ra_runner::OpStatus::Error(e) => Some(e.clone()),
        _ => r.exit_reason.clone(),
    };
    ExecResult {
        status,
        rc,
        output,
        exit_reason,
        exec_time: r.duration.as_millis() as u64,
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl Executor for RunnerExecutor {
    fn start(
        &mut self,
        call_id: CallId,
        rsc: &Resource,
        spec: &OpSpec,
        params: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let req = op_request(rsc, spec, params)?;
        // Forking happens here, synchronously: the child is in its own process group before
        // the task is scheduled, so a kill can always reach it.
        let running = ra_runner::spawn_with_env(&req, &self.roots, &self.base_env)
            .map_err(|e| e.to_string())?;
        let (kill_tx, kill_rx) = oneshot::channel();
        self.kills.insert(call_id, kill_tx);
        let done = self.done.clone();
        tokio::spawn(async move {
            let result = tokio::select! {
                r = running.wait_async() => match r {
                    Ok(r) => exec_result(&req, &r),
                    Err(e) => {
                        let mut x = ExecResult::failed(OpStatus::Error);
                        x.exit_reason = Some(e.to_string());
                        x
                    }
                },
                // Dropping the unfinished `Running` SIGKILLs the agent's process group.
                _ = kill_rx => {
                    let mut x = ExecResult::failed(OpStatus::Error);
                    x.exit_reason = Some("killed: lrmd shutdown grace period expired".into());
                    x
                }
            };
            // The receiver is gone only when lrmd is exiting.
            let _ = done.send((call_id, result));
        });
        Ok(())
    }

    fn kill(&mut self, call_id: CallId) {
        if let Some(tx) = self.kills.remove(&call_id) {
            let _ = tx.send(());
        }
    }
}
