//! `suicide`: a node can only reset itself ("last gasp" fencing). The
//! reboot command is injectable so tests never reboot the machine.

use crate::error::StonithError;
use crate::exec::{run, ExecPolicy, Invocation};
use crate::log::{log, Level};
use crate::plugin::{Action, InfoKind, Params, Plugin};

/// The `suicide` device.
#[derive(Debug)]
pub struct Suicide {
    configured: bool,
    /// Local node name (`uname -n`, lower-cased).
    pub node: String,
    /// Command for reset; like the original it backgrounds a delayed
    /// reboot so the caller can still report success.
    pub reboot_cmd: Vec<String>,
    /// Command for off.
    pub poweroff_cmd: Vec<String>,
    policy: ExecPolicy,
}

/// The local node name as `uname -n` reports it, lower-cased.
pub fn local_node() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

impl Suicide {
    /// Device for the local node with the real reboot commands.
    pub fn new(policy: ExecPolicy) -> Self {
        let sh = |c: &str| vec!["/bin/sh".to_string(), "-c".to_string(), c.to_string()];
        Self {
            configured: false,
            node: local_node(),
            reboot_cmd: sh("nohup sh -c 'sleep 2; /sbin/reboot -nf' >/dev/null 2>&1 &"),
            poweroff_cmd: sh("nohup sh -c 'sleep 2; /sbin/poweroff -nf' >/dev/null 2>&1 &"),
            policy,
        }
    }
}

impl Plugin for Suicide {
    fn type_name(&self) -> &str {
        "suicide"
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        Ok(Vec::new())
    }

    fn set_config(&mut self, _params: &Params) -> Result<(), StonithError> {
        self.configured = true;
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        Ok(match kind {
            InfoKind::DevId | InfoKind::DevName => Some("Suicide STONITH device".into()),
            InfoKind::DevDescr => Some("Virtual device to reboot/powerdown itself.\n".into()),
            InfoKind::DevUrl => None,
            InfoKind::Xml => Some("<parameters></parameters>".into()),
        })
    }

    fn status(&self) -> Result<(), StonithError> {
        if !self.configured {
            return Err(StonithError::NotConfigured {
                plugin: "suicide".into(),
            });
        }
        Ok(())
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        self.status()?;
        Ok(vec![self.node.clone()])
    }

    fn reset(&self, action: Action, host: &str) -> Result<(), StonithError> {
        self.status()?;
        let argv = match action {
            Action::Reset => self.reboot_cmd.clone(),
            Action::Off => self.poweroff_cmd.clone(),
            Action::On => {
                return Err(StonithError::Unsupported {
                    plugin: "suicide".into(),
                    op: "on".into(),
                })
            }
        };
        if host != self.node {
            return Err(StonithError::BadHost {
                plugin: "suicide".into(),
                host: host.into(),
            });
        }
        let out = run(
            "suicide",
            &Invocation {
                argv,
                ..Default::default()
            },
            &self.policy,
        )?;
        if out.rc() != 0 {
            return Err(StonithError::ResetFailed {
                plugin: "suicide".into(),
                op: action.as_str().into(),
                host: host.into(),
                detail: format!("exit code {}", out.rc()),
            });
        }
        log(
            Level::Info,
            &format!("Initiated self-{} of {host}", action.as_str()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(log: &std::path::Path) -> Suicide {
        let mut s = Suicide::new(ExecPolicy::default());
        s.node = "self".into();
        let rec = |what: &str| {
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo {what} >> {}", log.display()),
            ]
        };
        s.reboot_cmd = rec("reboot");
        s.poweroff_cmd = rec("poweroff");
        s.set_config(&Params::new()).unwrap();
        s
    }

    #[test]
    fn only_resets_itself() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let s = fake(&log);
        assert_eq!(s.hosts().unwrap(), vec!["self"]);
        assert_eq!(s.reset(Action::Reset, "other").unwrap_err().rc(), 4);
        assert!(!log.exists(), "must not run anything for another node");
        s.reset(Action::Reset, "self").unwrap();
        s.reset(Action::Off, "self").unwrap();
        assert_eq!(s.reset(Action::On, "self").unwrap_err().rc(), 3);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "reboot\npoweroff\n");
    }

    #[test]
    fn default_node_is_local_uname() {
        let s = Suicide::new(ExecPolicy::default());
        assert_eq!(s.node, local_node());
        assert!(!s.node.is_empty());
        assert!(s.config_names().unwrap().is_empty());
    }
}
