//! Error types of the wire codecs.

use thiserror::Error;

/// A message could not be encoded or decoded.
///
/// Offsets are byte offsets into the buffer handed to the top-level decoder, so a log line
/// can point at the exact spot in a captured datagram.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("offset {offset}: expected {expected:?} marker")]
    BadMarker {
        offset: usize,
        expected: &'static str,
    },
    #[error("offset {offset}: input ends inside {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("offset {offset}: bad netstring length ({reason})")]
    BadLength { offset: usize, reason: &'static str },
    #[error("offset {offset}: missing ':' after netstring length")]
    MissingColon { offset: usize },
    #[error("offset {offset}: missing ',' after netstring of {len} bytes")]
    MissingComma { offset: usize, len: usize },
    #[error("offset {offset}: field has no '(T)' type prefix")]
    MissingType { offset: usize },
    #[error("offset {offset}: field type {digit:?} is not a wire type (0-4)")]
    BadType { offset: usize, digit: char },
    #[error("offset {offset}: field has no '=' after its name")]
    MissingEquals { offset: usize },
    #[error("offset {offset}: field has an empty name")]
    EmptyName { offset: usize },
    #[error("offset {offset}: field {field:?}: {reason}")]
    BadValue {
        offset: usize,
        field: String,
        reason: String,
    },
    #[error("offset {offset}: field {field:?}: nesting deeper than {max} levels")]
    TooDeep {
        offset: usize,
        field: String,
        max: usize,
    },
    #[error("offset {offset}: {count} unexpected bytes after the end of the message")]
    TrailingBytes { offset: usize, count: usize },
    #[error("offset 0: not a heartbeat message (starts with {start:?})")]
    UnknownFormat { start: String },
    /// A field cannot be represented in the requested encoding.
    #[error("cannot encode field {field:?}: {reason}")]
    Unencodable { field: String, reason: String },
    /// The message would not fit where it has to go.
    #[error("{what} is {size} bytes, more than the limit of {max}")]
    TooBig {
        what: &'static str,
        size: usize,
        max: usize,
    },
    #[error("{alg} {op} failed: {reason}")]
    Compression {
        alg: &'static str,
        op: &'static str,
        reason: String,
    },
    #[error("unknown compression algorithm {name:?}")]
    UnknownCompression { name: String },
    #[error("no usable key in authkeys slot {index}")]
    NoKey { index: u8 },
}

impl WireError {
    /// The same error, with its offset moved by `base` (for errors found inside a nested
    /// buffer that was parsed on its own).
    pub(crate) fn shifted(self, base: usize) -> WireError {
        use WireError::*;
        match self {
            BadMarker { offset, expected } => BadMarker {
                offset: offset + base,
                expected,
            },
            Truncated { offset, what } => Truncated {
                offset: offset + base,
                what,
            },
            BadLength { offset, reason } => BadLength {
                offset: offset + base,
                reason,
            },
            MissingColon { offset } => MissingColon {
                offset: offset + base,
            },
            MissingComma { offset, len } => MissingComma {
                offset: offset + base,
                len,
            },
            MissingType { offset } => MissingType {
                offset: offset + base,
            },
            BadType { offset, digit } => BadType {
                offset: offset + base,
                digit,
            },
            MissingEquals { offset } => MissingEquals {
                offset: offset + base,
            },
            EmptyName { offset } => EmptyName {
                offset: offset + base,
            },
            BadValue {
                offset,
                field,
                reason,
            } => BadValue {
                offset: offset + base,
                field,
                reason,
            },
            TooDeep { offset, field, max } => TooDeep {
                offset: offset + base,
                field,
                max,
            },
            TrailingBytes { offset, count } => TrailingBytes {
                offset: offset + base,
                count,
            },
            other => other,
        }
    }
}
