//! cluster-glue return codes and the error type carrying them.

use thiserror::Error;

/// cluster-glue's `S_*` return codes (also the `stonith` CLI exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Rc {
    /// `S_OK`
    Ok = 0,
    /// `S_BADCONFIG`
    BadConfig = 1,
    /// `S_ACCESS`
    Access = 2,
    /// `S_INVAL`
    Inval = 3,
    /// `S_BADHOST`
    BadHost = 4,
    /// `S_RESETFAIL`
    ResetFail = 5,
    /// `S_TIMEOUT`
    Timeout = 6,
    /// `S_ISOFF`
    IsOff = 7,
    /// `S_OOPS`
    Oops = 8,
}

impl Rc {
    /// Numeric value as used on the wire and as exit status.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Every failure of a plugin operation; [`StonithError::rc`] gives the
/// cluster-glue code the original would have returned.
#[derive(Debug, Error)]
pub enum StonithError {
    /// Unknown plugin type name.
    #[error("Invalid device type: '{0}'")]
    UnknownType(String),
    /// A required configuration parameter is absent.
    #[error("{plugin}: missing required parameter '{param}'")]
    MissingParam { plugin: String, param: String },
    /// Configuration present but unusable (e.g. empty host list).
    #[error("{plugin}: bad configuration: {reason}")]
    BadConfig { plugin: String, reason: String },
    /// An operation that needs `set_config` was called before it.
    #[error("{plugin}: device not configured")]
    NotConfigured { plugin: String },
    /// The operation is not supported by this device (e.g. `on` for ssh).
    #[error("{plugin}: operation '{op}' not supported")]
    Unsupported { plugin: String, op: String },
    /// The target is not in the device's host list.
    #[error("{plugin}: host '{host}' is not controlled by this device")]
    BadHost { plugin: String, host: String },
    /// A reset/on/off request failed; `detail` says how.
    #[error("{plugin}: {op} of host '{host}' failed: {detail}")]
    ResetFailed {
        plugin: String,
        op: String,
        host: String,
        detail: String,
    },
    /// Status check failed; `code` is the plugin's raw status (the CLI's
    /// `-S` exit status, as in cluster-glue).
    #[error("{plugin}: device not accessible (status {code}): {detail}")]
    Status {
        plugin: String,
        code: i32,
        detail: String,
    },
    /// An external program did not finish in time (its process group
    /// was killed).
    #[error("{plugin}: '{command}' timed out after {secs:.1}s (process group killed)")]
    Timeout {
        plugin: String,
        command: String,
        secs: f64,
    },
    /// An external program printed something we cannot accept.
    #[error("{plugin}: invalid output from '{command}': {reason}")]
    BadOutput {
        plugin: String,
        command: String,
        reason: String,
    },
    /// An external program failed for an operation without its own code.
    #[error("{plugin}: '{command}' failed: {detail}")]
    CommandFailed {
        plugin: String,
        command: String,
        detail: String,
    },
    /// Could not start an external program or other OS-level failure.
    #[error("{plugin}: {context}: {source}")]
    Io {
        plugin: String,
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StonithError {
    /// The cluster-glue return code for this failure.
    pub fn rc(&self) -> i32 {
        match self {
            StonithError::UnknownType(_) => Rc::Oops.code(),
            StonithError::MissingParam { .. } => Rc::Inval.code(),
            StonithError::BadConfig { .. } => Rc::BadConfig.code(),
            StonithError::NotConfigured { .. } => Rc::Inval.code(),
            StonithError::Unsupported { .. } => Rc::Inval.code(),
            StonithError::BadHost { .. } => Rc::BadHost.code(),
            StonithError::ResetFailed { .. } => Rc::ResetFail.code(),
            StonithError::Status { code, .. } => *code,
            StonithError::Timeout { .. } => Rc::Timeout.code(),
            StonithError::BadOutput { .. } => Rc::Oops.code(),
            StonithError::CommandFailed { .. } => Rc::Oops.code(),
            StonithError::Io { .. } => Rc::Oops.code(),
        }
    }
}
