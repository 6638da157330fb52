#![warn(missing_docs)]
//! heartbeat 3.0.6 configuration files: `ha.cf`, `authkeys`, `haresources`,
//! and our own optional `monitors` (per-resource monitoring).
//!
//! The parsers follow the original's rules (tokenizing, defaults, derived
//! timers, error conditions) so that any configuration the Debian heartbeat
//! accepts is accepted here with the same meaning. Every error names the
//! file and the line ([`ConfigError`]).

pub mod authkeys;
mod error;
pub mod hacf;
pub mod haresources;
pub mod monitors;
pub mod time;
pub mod uuid;

pub use error::{ConfigError, ErrorKind};
