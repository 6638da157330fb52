//! heartbeat 3.0.6 message model and wire formats.
//!
//! Everything a Debian heartbeat node puts on a UDP socket or a local API socket is a
//! [`Msg`] in one of two encodings (netstring `###\n…%%%\n` or classic `>>>\n…<<<\n`),
//! signed with an authentication trailer from `authkeys`, optionally compressed.

pub mod auth;
pub mod classic;
pub mod compress;
pub mod display;
mod error;
pub mod msg;
pub mod netstring;
mod ns;
pub mod packet;

pub use display::to_text;
pub use error::WireError;
pub use msg::{Field, FieldType, Msg, Value};

/// Decodes a message in either format, chosen by its first bytes (`###\n` netstring,
/// `>>>\n` classic), as heartbeat's `wirefmt2msg` does. No auth trailer is expected.
pub fn decode_any(bytes: &[u8]) -> Result<Msg, WireError> {
    if bytes.starts_with(netstring::MSG_START) {
        netstring::decode(bytes)
    } else if bytes.starts_with(classic::MSG_START) {
        classic::decode(bytes)
    } else {
        Err(WireError::UnknownFormat {
            start: String::from_utf8_lossy(&bytes[..bytes.len().min(8)]).into_owned(),
        })
    }
}
