//! cluster-glue 1.0.12 compatible STONITH layer: the plugin model
//! ([`Plugin`], [`registry`]), the shipped plugins, and the logic behind
//! the `stonith` and `meatclient` command-line tools.
//!
//! Return codes, parameter names, type names and the `external/*` and
//! fence-agents protocols follow the originals so that existing
//! configurations and scripts keep working unchanged.

pub mod cli;
pub mod error;
pub mod exec;
pub mod log;
pub mod meatclient;
pub mod plugin;
pub mod plugins;
pub mod registry;

pub use error::{Rc, StonithError};
pub use plugin::{Action, InfoKind, Params, Plugin};
pub use registry::{create, list_types};
