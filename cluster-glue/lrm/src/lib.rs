//! Local Resource Manager: resources, operations, recurring monitors, the lrmd socket protocol.
//!
//! * [`sched::Lrm`]: the scheduling state machine (no I/O; agents run through an
//!   [`sched::Executor`]).
//! * [`runner::RunnerExecutor`]: the executor lrmd uses, backed by `ra-runner` on tokio.
//! * [`proto`]: the newline-delimited JSON protocol; [`client::Client`]: a blocking client.

pub mod client;
pub mod model;
pub mod proto;
pub mod runner;
pub mod sched;

pub use model::*;
pub use sched::{CancelSel, Executor, Lrm, LrmError, Notification, Outcome, DEFAULT_MAX_CHILDREN};
