//! Errors of the API layer.

use std::path::PathBuf;

/// Everything that can go wrong on an API connection.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The socket could not be reached (heartbeat not running, or wrong path).
    #[error("hb_api_signon: Can't initiate connection to heartbeat at {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The peer closed the connection.
    #[error("connection closed by peer while {context}")]
    Eof { context: String },
    /// A frame header whose magic is not 0xabcd: the stream is out of sync.
    #[error("bad frame magic {magic:#x} (expected 0xabcd)")]
    BadMagic { magic: u32 },
    /// A frame whose length is negative or larger than heartbeat's MAXMSG.
    #[error("bad frame length {len} (must be 0..={max})")]
    BadLength { len: i64, max: usize },
    /// The frame body is not a message in either wire format.
    #[error("undecodable message body: {reason}")]
    Body { reason: String },
    #[error("message codec error ({context}): {source}")]
    Wire {
        context: &'static str,
        #[source]
        source: hb_wire::WireError,
    },
    /// No answer within the allowed time.
    #[error("No timely response ({context})")]
    Timeout { context: String },
    /// heartbeat answered the sign-on with `result=badreq`.
    #[error("sign-on refused by heartbeat: {}", reason.as_deref().unwrap_or("no reason given"))]
    Refused {
        reason: Option<String>,
        /// heartbeat still reports its dead time when refusing, which tells "running
        /// but refusing us" apart from "not running" (cl_status hbstatus relies on it).
        deadtime_ms: Option<u64>,
    },
    /// heartbeat answered a request with `result=badreq`.
    #[error("request {reqtype} rejected: {}", info.as_deref().unwrap_or("no reason given"))]
    BadRequest {
        reqtype: String,
        info: Option<String>,
    },
    /// heartbeat refused a request it does not know (`result=badreq` without a
    /// reason): one of our extensions asked of a Debian heartbeat.
    #[error("request {reqtype} is not supported by this heartbeat")]
    Unsupported { reqtype: String },
    /// A reply that lacks a field or carries an unexpected value.
    #[error("bad reply to {reqtype}: {detail}")]
    BadReply { reqtype: String, detail: String },
    #[error("not signed on")]
    NotSignedOn,
}

impl ApiError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> ApiError {
        ApiError::Io {
            context: context.into(),
            source,
        }
    }

    /// True for the errors that mean "nothing arrived in time".
    pub fn is_timeout(&self) -> bool {
        matches!(self, ApiError::Timeout { .. })
    }
}
