//! `libvirt`: power control of virtual machines through `virsh`, with
//! external/libvirt's parameter names (`hostlist`, `hypervisor_uri`,
//! optional `reboot_method`). A `hostlist` entry is `node[:domain]`,
//! the domain defaulting to the node name.

use crate::error::StonithError;
use crate::exec::{run, ExecPolicy, Invocation, Output};
use crate::log::{log, Level};
use crate::plugin::{params_xml, Action, InfoKind, Params, Plugin};

/// The virsh program: `STONITH_VIRSH` if set, else `virsh` from PATH.
pub fn virsh_program() -> String {
    std::env::var("STONITH_VIRSH").unwrap_or_else(|_| "virsh".into())
}

#[derive(Debug, Clone)]
struct Config {
    /// (node, domain), node lower-cased.
    hosts: Vec<(String, String)>,
    uri: String,
    /// `reset` (hard reset) or `off` (destroy then start).
    reboot_method: String,
}

/// The `libvirt` device.
#[derive(Debug)]
pub struct Libvirt {
    config: Option<Config>,
    /// virsh argv[0].
    pub virsh: String,
    policy: ExecPolicy,
}

impl Libvirt {
    /// Unconfigured device using [`virsh_program`].
    pub fn new(policy: ExecPolicy) -> Self {
        Self {
            config: None,
            virsh: virsh_program(),
            policy,
        }
    }

    fn cfg(&self) -> Result<&Config, StonithError> {
        self.config
            .as_ref()
            .ok_or_else(|| StonithError::NotConfigured {
                plugin: "libvirt".into(),
            })
    }

    fn virsh(&self, args: &[&str]) -> Result<Output, StonithError> {
        let cfg = self.cfg()?;
        let mut argv = vec![self.virsh.clone(), "-c".into(), cfg.uri.clone()];
        argv.extend(args.iter().map(|s| s.to_string()));
        run(
            "libvirt",
            &Invocation {
                argv,
                ..Default::default()
            },
            &self.policy,
        )
    }

    fn virsh_ok(&self, args: &[&str], action: Action, host: &str) -> Result<(), StonithError> {
        let out = self.virsh(args)?;
        if out.rc() == 0 {
            return Ok(());
        }
        Err(StonithError::ResetFailed {
            plugin: "libvirt".into(),
            op: action.as_str().into(),
            host: host.into(),
            detail: format!(
                "virsh {} exited {}: {}",
                args.join(" "),
                out.rc(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

impl Plugin for Libvirt {
    fn type_name(&self) -> &str {
        "libvirt"
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["hostlist".into(), "hypervisor_uri".into()])
    }

    fn set_config(&mut self, params: &Params) -> Result<(), StonithError> {
        let missing = |p: &str| StonithError::MissingParam {
            plugin: "libvirt".into(),
            param: p.into(),
        };
        let list = params.get("hostlist").ok_or_else(|| missing("hostlist"))?;
        let uri = params
            .get("hypervisor_uri")
            .ok_or_else(|| missing("hypervisor_uri"))?;
        let hosts: Vec<(String, String)> = list
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|e| match e.split_once(':') {
                Some((n, d)) => (n.to_lowercase(), d.to_string()),
                None => (e.to_lowercase(), e.to_string()),
            })
            .collect();
        if hosts.is_empty() || hosts.iter().any(|(n, d)| n.is_empty() || d.is_empty()) {
            return Err(StonithError::BadConfig {
                plugin: "libvirt".into(),
                reason: format!("bad hostlist '{list}'"),
            });
        }
        let reboot_method = params.get("reboot_method").unwrap_or("reset").to_string();
        if reboot_method != "reset" && reboot_method != "off" {
            return Err(StonithError::BadConfig {
                plugin: "libvirt".into(),
                reason: format!("reboot_method must be reset or off, not '{reboot_method}'"),
            });
        }
        self.config = Some(Config {
            hosts,
            uri: uri.to_string(),
            reboot_method,
        });
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        Ok(Some(match kind {
            InfoKind::DevId => "libvirt STONITH device".into(),
            InfoKind::DevName => "libvirt STONITH device (virsh)".into(),
            InfoKind::DevDescr => {
                "libvirt-based host reset for virtual machines, driven through virsh".into()
            }
            InfoKind::DevUrl => "http://libvirt.org/".into(),
            InfoKind::Xml => params_xml(&[
                (
                    "hostlist",
                    true,
                    "List of hostname[:domain_id]",
                    "Nodes this device controls; the libvirt domain defaults to the node name",
                ),
                (
                    "hypervisor_uri",
                    true,
                    "Hypervisor URI",
                    "libvirt connection URI, e.g. qemu+ssh://host/system",
                ),
                (
                    "reboot_method",
                    false,
                    "Reboot method",
                    "reset (virsh reset, default) or off (destroy then start)",
                ),
            ]),
        }))
    }

    fn status(&self) -> Result<(), StonithError> {
        let out = self.virsh(&["list", "--all"])?;
        if out.rc() == 0 {
            return Ok(());
        }
        Err(StonithError::Status {
            plugin: "libvirt".into(),
            code: out.rc(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        Ok(self.cfg()?.hosts.iter().map(|(n, _)| n.clone()).collect())
    }

    fn reset(&self, action: Action, host: &str) -> Result<(), StonithError> {
        let cfg = self.cfg()?;
        let Some((_, dom)) = cfg.hosts.iter().find(|(n, _)| n == host) else {
            return Err(StonithError::BadHost {
                plugin: "libvirt".into(),
                host: host.into(),
            });
        };
        match action {
            Action::On => self.virsh_ok(&["start", dom], action, host)?,
            Action::Off => self.virsh_ok(&["destroy", dom], action, host)?,
            Action::Reset if cfg.reboot_method == "reset" => {
                self.virsh_ok(&["reset", dom], action, host)?
            }
            Action::Reset => {
                self.virsh_ok(&["destroy", dom], action, host)?;
                self.virsh_ok(&["start", dom], action, host)?;
            }
        }
        log(
            Level::Info,
            &format!("libvirt: {} of {host} (domain {dom}) done", action.as_str()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_virsh_with_uri_and_domain() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("virsh.log");
        let fake = d.path().join("virsh");
        std::fs::write(&fake, format!("#!/bin/sh\necho \"$*\" >> {}\n[ \"$3\" = destroy ] && [ \"$4\" = bad ] && exit 1\nexit 0\n", log.display())).unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut v = Libvirt::new(ExecPolicy::default());
        v.virsh = fake.display().to_string();
        let mut p = Params::new();
        p.push("hostlist", "NodeA:vm-a nodeb,nodec:bad");
        p.push("hypervisor_uri", "qemu:///system");
        v.set_config(&p).unwrap();
        assert_eq!(v.hosts().unwrap(), vec!["nodea", "nodeb", "nodec"]);
        v.status().unwrap();
        v.reset(Action::Reset, "nodea").unwrap();
        v.reset(Action::Off, "nodeb").unwrap();
        v.reset(Action::On, "nodeb").unwrap();
        assert_eq!(v.reset(Action::Off, "nodec").unwrap_err().rc(), 5);
        assert_eq!(v.reset(Action::On, "other").unwrap_err().rc(), 4);
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            got,
            "-c qemu:///system list --all\n-c qemu:///system reset vm-a\n-c qemu:///system destroy nodeb\n-c qemu:///system start nodeb\n-c qemu:///system destroy bad\n"
        );
    }

    #[test]
    fn missing_uri_is_inval() {
        let mut v = Libvirt::new(ExecPolicy::default());
        let mut p = Params::new();
        p.push("hostlist", "a");
        assert_eq!(v.set_config(&p).unwrap_err().rc(), 3);
    }
}
