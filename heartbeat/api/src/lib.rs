//! heartbeat 3.0.6 local client API (the `/run/heartbeat/register` socket).
//!
//! * [`frame`]: the 8-byte `{i32 len; u32 0xabcd}` frame and message bodies.
//! * [`server`]: sans-I/O API server logic (sign-on, requests, routing) for the daemon.
//! * [`client`]: a blocking client library, the Rust counterpart of libhbclient.
//! * [`clstatus`]: the `cl_status` tool, as a library so it can be tested in-process.
//!
//! The wire reference for client writers is `docs/api.md`.

pub mod client;
pub mod clstatus;
pub mod error;
pub mod fields;
pub mod frame;
pub mod rscgroups;
pub mod server;

#[cfg(test)]
mod testserver;

pub use client::{HbClient, HbSender};
pub use error::ApiError;
pub use frame::{decode_body, encode_body, read_frame, write_frame, FrameDecoder, MsgFmt};
pub use rscgroups::RscGroup;
pub use server::{ApiAuth, ApiOutput, ApiServer, ClusterView, ConnId, NodeInfo, PeerCred};

/// Default path of heartbeat's API registration socket (Debian: `/var/run` → `/run`).
pub const API_REGSOCK: &str = "/run/heartbeat/register";

/// Release of the original we are compatible with; clients compare this prefix.
pub const HB_VERSION: &str = "3.0.6";

/// The `hbversion` string reported at sign-on. heartbeat sends
/// `"<VERSION> (<hg changeset>)"`; we keep the `3.0.6` prefix so version checks in old
/// clients still pass, and name ourselves in the parenthesis.
pub fn hbversion_string() -> String {
    format!(
        "{HB_VERSION} (rust-heartbeat {})",
        env!("CARGO_PKG_VERSION")
    )
}
