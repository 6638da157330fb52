//! Errors returned to the caller of the core.

use thiserror::Error;

/// Why [`crate::Core::send_cluster`] refused a message. The core's state is unchanged.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// Comm is not up yet (join not complete): clients may not send.
    #[error("cannot send {msg_type} message: communications are not up yet")]
    CommNotUp { msg_type: String },
    /// Flow control: too many of our messages are unacknowledged.
    #[error(
        "cannot send {msg_type} message: clients are paused ({unacked} messages unacknowledged)"
    )]
    Paused { msg_type: String, unacked: u64 },
    /// The local node is shutting down.
    #[error("cannot send {msg_type} message: local node is shutting down")]
    ShuttingDown { msg_type: String },
    /// The message has no `t` field.
    #[error("cannot send message without a type field (t)")]
    MissingType,
    /// Types starting `NS_` belong to the protocol itself.
    #[error("cannot send {msg_type} message: NS_ types are reserved for the protocol")]
    ReservedType { msg_type: String },
}
