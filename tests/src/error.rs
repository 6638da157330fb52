//! Error type shared by every part of the bench.

use std::time::Duration;

/// Everything that can go wrong while building or driving a test cluster.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file-system or process-spawning operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An external command (ip, nft, nsenter, ...) exited unsuccessfully.
    #[error("command `{cmd}` failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    /// A bounded wait ran out of time or attempts.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    /// A node daemon misbehaved (exited early, unexpected state).
    #[error("node {node}: {msg}")]
    Node { node: String, msg: String },
    /// The machine lacks something the bench needs, or an argument is out of range.
    #[error("bench setup: {0}")]
    Setup(String),
}

/// Result alias used throughout the bench.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

impl BenchError {
    /// Wraps an I/O error with what we were doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}
