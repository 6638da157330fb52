//! stonithd: holds the node's fencing devices, fences nodes on request over a Unix
//! socket (`stonith-ipc`), and cooperates with the stonithd of other nodes through
//! heartbeat's client API. See `docs/stonithd.md`.
//!
//! The decision logic is [`fencer::Fencer`], with no I/O; [`config`] reads ha.cf's
//! `stonith`/`stonith_host` lines; [`cluster`] maps the cluster messages.

pub mod cluster;
pub mod config;
pub mod device;
pub mod fencer;
