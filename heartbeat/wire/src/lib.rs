//! heartbeat 3.0.6 message model and wire formats.
//!
//! Everything a Debian heartbeat node puts on a UDP socket or a local API socket is a
//! [`Msg`] in one of two encodings (netstring `###\n…%%%\n` or classic `>>>\n…<<<\n`),
//! signed with an authentication trailer from `authkeys`, optionally compressed.

pub mod msg;

pub use msg::{Field, FieldType, Msg, Value};
