//! Dummy: a state file that exists while the resource is "running", with
//! the semantics of resource-agents' `ocf:heartbeat:Dummy`.

use std::path::PathBuf;

use crate::ocf::{
    self, Action, Agent, AgentError, AgentResult, Level, MetaData, OcfEnv, OcfRc, Param,
};

/// The Dummy agent.
pub struct Dummy;

impl Dummy {
    fn state_file(env: &OcfEnv) -> PathBuf {
        match env.param("state") {
            Some(s) => PathBuf::from(s),
            None => env.rsctmp.join(format!("Dummy-{}.state", env.instance)),
        }
    }

    fn monitor(env: &OcfEnv) -> AgentResult {
        let state = Self::state_file(env);
        if state.exists() {
            Ok(OcfRc::Success)
        } else {
            if !env.is_probe() {
                ocf::exit_reason("No process state file found");
            }
            Ok(OcfRc::NotRunning)
        }
    }

    fn start(env: &OcfEnv) -> AgentResult {
        if Self::monitor_quiet(env) {
            return Ok(OcfRc::Success);
        }
        let state = Self::state_file(env);
        if let Some(dir) = state.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                AgentError::generic(format!("creating state directory {}: {e}", dir.display()))
            })?;
        }
        std::fs::write(&state, b"").map_err(|e| {
            AgentError::generic(format!("creating state file {}: {e}", state.display()))
        })?;
        Ok(OcfRc::Success)
    }

    fn monitor_quiet(env: &OcfEnv) -> bool {
        Self::state_file(env).exists()
    }

    fn stop(env: &OcfEnv) -> AgentResult {
        let state = Self::state_file(env);
        match std::fs::remove_file(&state) {
            Ok(()) => Ok(OcfRc::Success),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OcfRc::Success),
            Err(e) => Err(AgentError::generic(format!(
                "removing state file {}: {e}",
                state.display()
            ))),
        }
    }

    /// Like Dummy's: the state file's directory must be writable here.
    fn validate(env: &OcfEnv) -> AgentResult {
        let state = Self::state_file(env);
        let dir = match state.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // HA_RSCTMP is created on demand (it is wiped at boot); any other
        // directory must already exist.
        if dir == env.rsctmp {
            let _ = std::fs::create_dir_all(&dir);
        }
        let probe = dir.join(format!(".{}", std::process::id()));
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Ok(OcfRc::Success)
            }
            Err(e) => Err(AgentError::new(
                OcfRc::ErrArgs,
                format!("State file \"{}\" is not writable: {e}", state.display()),
            )),
        }
    }
}

impl Agent for Dummy {
    fn metadata(&self, env: &OcfEnv) -> MetaData {
        MetaData {
            name: "Dummy",
            shortdesc: "Example stateless resource agent",
            longdesc: "This is a Dummy Resource Agent. It does absolutely nothing except \
                       keep track of whether it is running or not, in a state file.\n\
                       Its purpose in life is for testing and to serve as a template for RA writers.",
            params: vec![
                Param::new("state", "State file", "Location to store the resource state in.")
                    .unique()
                    .default(
                        env.rsctmp
                            .join(format!("Dummy-{}.state", env.instance))
                            .display()
                            .to_string(),
                    ),
                Param::new(
                    "fake",
                    "Fake attribute that can be changed to cause a reload",
                    "Fake attribute that can be changed to cause a reload",
                )
                .default("dummy"),
            ],
            actions: vec![
                Action::new("start", "20s"),
                Action::new("stop", "20s"),
                Action::monitor("20s", "10s"),
                Action::new("reload", "20s"),
                Action::new("migrate_to", "20s"),
                Action::new("migrate_from", "20s"),
                Action::new("meta-data", "5s"),
                Action::new("validate-all", "20s"),
            ],
        }
    }

    fn action(&self, env: &OcfEnv) -> AgentResult {
        match env.action.as_str() {
            "start" => Self::validate(env).and_then(|_| Self::start(env)),
            "stop" => Self::stop(env),
            "monitor" => Self::monitor(env),
            "validate-all" => Self::validate(env),
            "reload" => {
                ocf::log(Level::Info, &format!("Reloading {} ...", env.instance));
                Ok(OcfRc::Success)
            }
            "migrate_to" => {
                let target =
                    std::env::var("OCF_RESKEY_CRM_meta_migrate_target").unwrap_or_default();
                ocf::log(
                    Level::Info,
                    &format!("Migrating {} to {target}.", env.instance),
                );
                Self::stop(env)
            }
            "migrate_from" => {
                let source =
                    std::env::var("OCF_RESKEY_CRM_meta_migrate_source").unwrap_or_default();
                ocf::log(
                    Level::Info,
                    &format!("Migrating {} from {source}.", env.instance),
                );
                Self::start(env)
            }
            other => Err(AgentError::new(
                OcfRc::ErrUnimplemented,
                format!("unsupported action {other}"),
            )),
        }
    }
}
