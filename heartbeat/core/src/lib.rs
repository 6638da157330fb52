//! heartbeat protocol core: nodes, links, sequence numbers, retransmission, generations.
//!
//! A sans-I/O state machine in the style of foca/raft-rs: the caller owns the clock,
//! the sockets and the API clients. It feeds decoded, authenticated packets to
//! [`Core::on_message`], calls [`Core::tick`] no later than [`Core::next_wakeup`],
//! passes client messages to [`Core::send_cluster`] and drains [`Action`]s with
//! [`Core::poll_action`]: messages to write on every medium, messages for local
//! clients, and membership events.
//!
//! ```
//! use hb_core::{Action, Core, CoreConfig, Now};
//! let cfg = CoreConfig::new("alpha", vec!["alpha".into()]);
//! let mut core = Core::new(cfg, Now { mono_ms: 0, unix_secs: 1_700_000_000 });
//! let mut sent = 0;
//! while let Some(a) = core.poll_action() {
//!     if let Action::Send(_) = a { sent += 1 } // encode + write on every medium
//! }
//! assert_eq!(sent, 2); // status init, then status up
//! ```
//!
//! Behaviour follows heartbeat 3.0.6 (reference §2.6, §3) with two deliberate
//! differences: a peer that announces `shutdone` is dead at once, and the local node
//! never restarts itself after a partition.

#![forbid(unsafe_code)]

mod config;
mod core;
mod error;
mod history;
mod join;
mod link;
mod node;
mod seq;
#[cfg(feature = "sim")]
pub mod sim;

pub use crate::config::{default_initdead, AutoJoin, CoreConfig, Now};
pub use crate::core::{
    Action, CachedNode, Core, CoreStats, HostCache, ACK_MSG_DIV, DT_BONUS_MS, DT_BONUS_PERIOD_MS,
    FLOW_CONTROL_WINDOW, MAX_REXMIT_BATCH,
};
pub use crate::error::CoreError;
pub use crate::history::MAX_HISTORY;
pub use crate::link::{LinkId, LinkState};
pub use crate::node::{format_uuid, status, NodeType, NodeView};
pub use crate::seq::{MAX_GAP, MAX_MISSING};
pub use hb_wire::Msg;

#[cfg(test)]
mod tests;
