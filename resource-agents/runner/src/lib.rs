//! Resource agent runner: OCF (1.0/1.1), LSB init scripts, heartbeat-class scripts.
//!
//! Agents are called exactly as cluster-glue's lrmd and heartbeat's
//! ResourceManager called them:
//!
//! * OCF: `<OCF_ROOT>/resource.d/<provider>/<type> <action>`, everything else
//!   in the environment ([`agent_env`]), including
//!   `OCF_RESKEY_CRM_meta_interval`/`_timeout` on every call.
//! * LSB: `/etc/init.d/<type> <action>`, `monitor` sent as `status`, LSB
//!   status codes mapped to OCF ([`rc::map_lsb_status`]).
//! * heartbeat: `/etc/ha.d/resource.d/<type> <arg1> <arg2>... <action>`,
//!   status judged from the output text ([`rc::map_heartbeat_status`]).
//!
//! Each agent runs in its own session/process group with stdin on
//! `/dev/null` and inherited descriptors closed. On timeout the group gets
//! SIGTERM, then SIGKILL after [`OpRequest::kill_grace`]. Output is captured
//! up to [`OpRequest::output_limit`] bytes per stream.
//!
//! ```no_run
//! use ra_runner::{run, AgentSpec, OpRequest, Roots};
//! use std::time::Duration;
//! let mut req = OpRequest::new("ocf:heartbeat:Dummy".parse().unwrap(), "monitor");
//! req.instance = "d1".into();
//! req.interval = Duration::from_secs(10);
//! let result = run(&req, &Roots::default()).unwrap();
//! println!("{} {:?}", result.rc, result.outcome);
//! ```

pub mod exec;
pub mod metadata;
pub mod rc;
pub mod roots;
pub mod spec;

#[cfg(feature = "tokio")]
pub use exec::run_async;
pub use exec::{
    agent_args, agent_env, parse_exit_reason, run, spawn, spawn_with_env, BaseEnv, OpRequest,
    OpResult, OpStatus, RawExit, RunError, Running,
};
pub use metadata::{
    metadata, validate_dtd, validate_ocf11, Action, ContentType, Desc, Dialect, FetchError,
    MetaData, MetaDataError, Parameter, Problem,
};
pub use rc::OcfRc;
pub use roots::{DiscoveryError, Roots};
pub use spec::{AgentSpec, Class, SpecError};
