//! `ssh`: reboot a node by logging in as root (testing only, like the
//! original). Same command line as cluster-glue's external/ssh, then the
//! node must stop answering ping within 15 tries.

use std::thread;
use std::time::Duration;

use crate::error::StonithError;
use crate::exec::{run, ExecPolicy, Invocation};
use crate::log::{log, Level};
use crate::plugin::{params_xml, required_hostlist, Action, InfoKind, Params, Plugin};

/// The remote command external/ssh queues with `at` for a reset.
pub const REBOOT_COMMAND: &str =
    "echo 'sleep 2; /sbin/reboot -nf' | SHELL=/bin/sh at now >/dev/null 2>&1";
/// The C plugin's power-off variant.
pub const POWEROFF_COMMAND: &str =
    "echo 'sleep 2; /sbin/poweroff -nf' | SHELL=/bin/sh at now >/dev/null 2>&1";

/// The `ssh` device. `ssh_cmd` and `ping_cmd` are injectable so tests
/// can run without a network.
#[derive(Debug)]
pub struct Ssh {
    hosts: Option<Vec<String>>,
    /// ssh argv prefix; the host and remote command are appended.
    pub ssh_cmd: Vec<String>,
    /// ping argv prefix; the host is appended.
    pub ping_cmd: Vec<String>,
    /// Pings before declaring the node still alive (15 in the original).
    pub ping_tries: u32,
    /// Pause between pings (1 s in the original).
    pub ping_interval: Duration,
    policy: ExecPolicy,
}

impl Ssh {
    /// Unconfigured device with the original's commands.
    pub fn new(policy: ExecPolicy) -> Self {
        Self {
            hosts: None,
            ssh_cmd: [
                "/usr/bin/ssh",
                "-q",
                "-x",
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "StrictHostKeyChecking=no",
                "-n",
                "-l",
                "root",
            ]
            .map(String::from)
            .to_vec(),
            ping_cmd: ["ping", "-w1", "-c1"].map(String::from).to_vec(),
            ping_tries: 15,
            ping_interval: Duration::from_secs(1),
            policy,
        }
    }

    fn configured(&self) -> Result<&Vec<String>, StonithError> {
        self.hosts
            .as_ref()
            .ok_or_else(|| StonithError::NotConfigured {
                plugin: "ssh".into(),
            })
    }

    fn answers_ping(&self, host: &str) -> bool {
        let mut argv = self.ping_cmd.clone();
        argv.push(host.into());
        matches!(run("ssh", &Invocation { argv, ..Default::default() }, &self.policy), Ok(o) if o.rc() == 0)
    }

    /// external/ssh's is_host_up: alive only if every ping answers.
    fn still_up(&self, host: &str) -> bool {
        for i in 0..self.ping_tries {
            if !self.answers_ping(host) {
                return false;
            }
            if i + 1 < self.ping_tries {
                thread::sleep(self.ping_interval);
            }
        }
        true
    }
}

impl Plugin for Ssh {
    fn type_name(&self) -> &str {
        "ssh"
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        Ok(vec!["hostlist".into()])
    }

    fn set_config(&mut self, params: &Params) -> Result<(), StonithError> {
        self.hosts = Some(required_hostlist("ssh", params)?);
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        Ok(Some(match kind {
            InfoKind::DevId | InfoKind::DevName => "SSH STONITH device".into(),
            InfoKind::DevDescr => {
                "SSH-based host reset\nFine for testing, but not suitable for production!".into()
            }
            InfoKind::DevUrl => "http://openssh.org".into(),
            InfoKind::Xml => params_xml(&[(
                "hostlist",
                true,
                "Hostlist",
                "The list of hosts that the STONITH device controls",
            )]),
        }))
    }

    fn status(&self) -> Result<(), StonithError> {
        self.configured().map(|_| ())
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        self.configured().cloned()
    }

    fn reset(&self, action: Action, host: &str) -> Result<(), StonithError> {
        let hosts = self.configured()?;
        let remote = match action {
            Action::Reset => REBOOT_COMMAND,
            Action::Off => POWEROFF_COMMAND,
            Action::On => {
                return Err(StonithError::Unsupported {
                    plugin: "ssh".into(),
                    op: "on".into(),
                })
            }
        };
        if !hosts.iter().any(|h| h == host) {
            return Err(StonithError::BadHost {
                plugin: "ssh".into(),
                host: host.into(),
            });
        }
        let mut argv = self.ssh_cmd.clone();
        argv.push(host.into());
        argv.push(remote.into());
        let out = run(
            "ssh",
            &Invocation {
                argv,
                ..Default::default()
            },
            &self.policy,
        )?;
        if out.rc() != 0 {
            log(
                Level::Warn,
                &format!("ssh to {host} exited with rc {}", out.rc()),
            );
        }
        if self.still_up(host) {
            return Err(StonithError::ResetFailed {
                plugin: "ssh".into(),
                op: action.as_str().into(),
                host: host.into(),
                detail: "host still answers ping".into(),
            });
        }
        log(Level::Info, &format!("Host {host} ssh-reset."));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(dir: &std::path::Path, ping_rc: i32) -> Ssh {
        let log = dir.join("ssh.log");
        let mut s = Ssh::new(ExecPolicy::default());
        s.ssh_cmd = vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("printf '%s|' \"$@\" >> {}", log.display()),
            "ssh".into(),
        ];
        s.ping_cmd = vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("exit {ping_rc}"),
            "ping".into(),
        ];
        s.ping_tries = 3;
        s.ping_interval = Duration::from_millis(1);
        let mut p = Params::new();
        p.push("hostlist", "NodeA,nodeb");
        s.set_config(&p).unwrap();
        s
    }

    #[test]
    fn reset_runs_reboot_via_ssh_and_checks_ping() {
        let d = tempfile::tempdir().unwrap();
        let s = fake(d.path(), 1);
        s.reset(Action::Reset, "nodea").unwrap();
        let logged = std::fs::read_to_string(d.path().join("ssh.log")).unwrap();
        assert_eq!(logged, format!("nodea|{REBOOT_COMMAND}|"));
        assert_eq!(s.reset(Action::Reset, "nodec").unwrap_err().rc(), 4);
        assert_eq!(s.reset(Action::On, "nodea").unwrap_err().rc(), 3);
    }

    #[test]
    fn reset_fails_when_host_stays_up() {
        let d = tempfile::tempdir().unwrap();
        let s = fake(d.path(), 0);
        assert_eq!(s.reset(Action::Off, "nodeb").unwrap_err().rc(), 5);
    }
}
