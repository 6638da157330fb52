//! The LRM data model: resources, operations, results (cluster-glue's `lrm_rsc_t`/`lrm_op_t`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted resource id in bytes (cluster-glue's `RID_LEN` is 128 including the NUL).
pub const MAX_RSC_ID: usize = 127;

/// Identifies a connected client of the daemon; assigned by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u64);

/// lrmd's call id: one per submitted operation, kept by every run of a recurring op.
pub type CallId = u64;

/// A resource as registered by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Serialized as `rsc`, the name every request uses for a resource id (`id` is the
    /// request id).
    #[serde(rename = "rsc")]
    pub id: String,
    /// `ocf`, `lsb` or `heartbeat`.
    pub class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(rename = "type")]
    pub agent_type: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// `target_rc` of an op: which results are reported (cluster-glue's notification rule).
pub const TARGET_EVERYTIME: i32 = -1;
/// `target_rc` value: report a result when its rc differs from the previous run.
pub const TARGET_CHANGED: i32 = -2;

/// What a client asks to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSpec {
    /// `start`, `stop`, `monitor`, `meta-data`, `validate-all`, `promote`, ...
    pub operation: String,
    /// Milliseconds; 0 = no timeout.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Milliseconds; 0 = one-shot.
    #[serde(default)]
    pub interval: u64,
    /// Milliseconds to wait before the first run.
    #[serde(default)]
    pub start_delay: u64,
    /// Merged over the resource's params (op wins on equal keys).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_level: Option<u32>,
    /// Report rule: an rc, [`TARGET_EVERYTIME`] or [`TARGET_CHANGED`]. Default: EVERYTIME for
    /// one-shot ops, CHANGED for recurring ones (what crmd asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rc: Option<i32>,
    /// Opaque string echoed in the result (crmd's transition key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

fn default_timeout() -> u64 {
    20_000
}

impl OpSpec {
    /// A one-shot op with the default 20 s timeout.
    pub fn new(operation: &str) -> OpSpec {
        OpSpec {
            operation: operation.to_string(),
            timeout: default_timeout(),
            interval: 0,
            start_delay: 0,
            params: BTreeMap::new(),
            check_level: None,
            target_rc: None,
            user_data: None,
        }
    }

    /// The report rule in effect.
    pub fn effective_target(&self) -> i32 {
        match self.target_rc {
            Some(t) => t,
            None if self.interval > 0 => TARGET_CHANGED,
            None => TARGET_EVERYTIME,
        }
    }
}

/// How an execution ended (cluster-glue's `op_status`, same numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpStatus {
    Pending,
    Done,
    Cancelled,
    Timeout,
    NotSupported,
    Error,
}

impl OpStatus {
    /// cluster-glue's numeric `op_status`.
    pub fn code(self) -> i32 {
        match self {
            OpStatus::Pending => -1,
            OpStatus::Done => 0,
            OpStatus::Cancelled => 1,
            OpStatus::Timeout => 2,
            OpStatus::NotSupported => 3,
            OpStatus::Error => 4,
        }
    }

    /// The word lrmadmin prints for it.
    pub fn lrmadmin_text(self) -> &'static str {
        match self {
            OpStatus::Pending => "pending",
            OpStatus::Done => "succeed",
            OpStatus::Cancelled => "cancelled",
            OpStatus::Timeout => "timeout",
            OpStatus::NotSupported => "not Supported",
            OpStatus::Error => "failed due to an error",
        }
    }
}

impl fmt::Display for OpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lrmadmin_text())
    }
}

/// What an executor reports for one finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    pub status: OpStatus,
    /// Mapped (OCF-numbered) exit code; meaningful when `status` is `Done`.
    pub rc: i32,
    /// Output handed to clients (heartbeat-class status line, as lrmd did), bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// Milliseconds the agent ran.
    pub exec_time: u64,
}

impl ExecResult {
    /// A normal exit with `rc`.
    pub fn done(rc: i32) -> ExecResult {
        ExecResult {
            status: OpStatus::Done,
            rc,
            output: None,
            exit_reason: None,
            exec_time: 0,
        }
    }

    /// A non-`Done` ending (`rc` is cluster-glue's: −2 for a timeout, 1 otherwise).
    pub fn failed(status: OpStatus) -> ExecResult {
        let rc = match status {
            OpStatus::Timeout => -2,
            OpStatus::Cancelled => 0,
            _ => 1,
        };
        ExecResult {
            status,
            rc,
            output: None,
            exit_reason: None,
            exec_time: 0,
        }
    }
}

/// One op as reported to clients and kept in the history (cluster-glue's result message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRecord {
    pub call_id: CallId,
    pub rsc: String,
    #[serde(flatten)]
    pub spec: OpSpec,
    pub status: OpStatus,
    pub rc: i32,
    /// The previous run's rc (recurring ops), else equal to `rc`.
    pub last_rc: i32,
    /// Unix seconds when the run started (0 while queued).
    pub t_run: u64,
    /// Unix seconds when the rc last changed.
    pub t_rcchange: u64,
    pub exec_time: u64,
    pub queue_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// Set on the result of an op that ran while its resource was being deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rsc_deleted: bool,
}

/// A resource's state as `state` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RscState {
    /// `idle` or `busy` (an op runs or is queued).
    pub state: String,
    /// Last op per (operation, interval), then queued, running and waiting recurring ops
    /// (status `pending`), sorted by call id.
    pub ops: Vec<OpRecord>,
    pub fail_count: u32,
}

/// Fail count of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailCount {
    pub count: u32,
    /// Unix seconds of the last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<u64>,
}
