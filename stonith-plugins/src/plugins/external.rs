//! `external/<name>`: runs cluster-glue external scripts unchanged, with
//! the same sub-commands, environment and exit-code meaning (reference
//! §4.3). Deliberate differences: arguments are passed without a shell,
//! parameters go only into the child's environment, every call has a
//! deadline, and there is no 1 s polling sleep.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::StonithError;
use crate::exec::{run, ExecPolicy, Invocation, Output};
use crate::log::{log, Level};
use crate::plugin::{Action, InfoKind, Params, Plugin};

/// Where Debian's cluster-glue keeps external scripts.
pub const DEFAULT_DIR: &str = "/usr/lib/stonith/plugins/external";
/// Directory prepended to `PATH` so scripts find `ha_log.sh`.
const GLUE_SHARE: &str = "/usr/share/cluster-glue";

/// The scripts directory: `STONITH_EXTERNAL_DIR` if set (tests, local
/// installs), else [`DEFAULT_DIR`].
pub fn plugin_dir() -> PathBuf {
    std::env::var_os("STONITH_EXTERNAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// cluster-glue's rule: a regular file with some x bit and not writable
/// by group or others (a writable script could be swapped by anyone).
pub fn is_usable_script(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) => {
            let mode = m.permissions().mode();
            m.is_file() && mode & 0o111 != 0 && mode & 0o022 == 0
        }
        Err(_) => false,
    }
}

/// Sub-plugin names available in `dir`, sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter(|e| is_usable_script(&e.path()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// True when `name` is a plausible host or parameter token: printable,
/// no whitespace, bounded length. Anything else from a script is garbage.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.chars().all(|c| c.is_ascii_graphic())
}

/// One external sub-plugin.
#[derive(Debug)]
pub struct External {
    type_name: String,
    name: String,
    path: PathBuf,
    params: Option<Params>,
    policy: ExecPolicy,
}

impl External {
    /// Sub-plugin `name` from [`plugin_dir`]; fails with `UnknownType`
    /// when the script is missing or not usable.
    pub fn new(name: &str, policy: ExecPolicy) -> Result<Self, StonithError> {
        Self::in_dir(&plugin_dir(), name, policy)
    }

    /// Sub-plugin `name` from an explicit directory.
    pub fn in_dir(dir: &Path, name: &str, policy: ExecPolicy) -> Result<Self, StonithError> {
        let type_name = format!("external/{name}");
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(StonithError::UnknownType(type_name));
        }
        let path = dir.join(name);
        if !is_usable_script(&path) {
            return Err(StonithError::UnknownType(type_name));
        }
        Ok(Self {
            type_name,
            name: name.to_string(),
            path,
            params: None,
            policy,
        })
    }

    fn env(&self, with_params: bool) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if with_params {
            if let Some(p) = &self.params {
                // All pairs are exported, not only getconfignames' list:
                // scripts read optional ones such as livedangerously.
                env.extend(p.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            }
        }
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
        let path = if path.split(':').next() == Some(GLUE_SHARE) {
            path
        } else {
            format!("{GLUE_SHARE}:{path}")
        };
        env.push(("PATH".into(), path));
        env.push(("HA_LOGTAG".into(), self.type_name.clone()));
        env
    }

    fn call(&self, args: &[&str], with_params: bool) -> Result<Output, StonithError> {
        let mut argv = vec![self.path.display().to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let inv = Invocation {
            argv,
            env: self.env(with_params),
            stdin: None,
        };
        run(&self.type_name, &inv, &self.policy)
    }

    fn configured(&self) -> Result<(), StonithError> {
        if self.params.is_none() {
            return Err(StonithError::NotConfigured {
                plugin: self.type_name.clone(),
            });
        }
        Ok(())
    }
}

impl Plugin for External {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        let out = self.call(&["getconfignames"], false)?;
        let cmd = format!("{} getconfignames", self.name);
        if out.rc() != 0 {
            return Err(StonithError::CommandFailed {
                plugin: self.type_name.clone(),
                command: cmd,
                detail: format!("exit code {}", out.rc()),
            });
        }
        let text = out.stdout_text(&self.type_name, &cmd)?;
        let names: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if let Some(bad) = names.iter().find(|n| !is_token(n) || n.contains('=')) {
            return Err(StonithError::BadOutput {
                plugin: self.type_name.clone(),
                command: cmd,
                reason: format!("'{}' is not a parameter name", bad.escape_debug()),
            });
        }
        Ok(names)
    }

    fn set_config(&mut self, params: &Params) -> Result<(), StonithError> {
        let names = self.config_names()?;
        for n in &names {
            if params.get(n).is_none() {
                // As in cluster-glue: only noted, the script decides.
                log(
                    Level::Debug,
                    &format!("{}: required parameter {n} is missing", self.type_name),
                );
            }
        }
        self.params = Some(params.clone());
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        let op = kind.external_op();
        let out = self.call(&[op], false)?;
        if out.rc() != 0 {
            return Ok(None);
        }
        let cmd = format!("{} {op}", self.name);
        let text = out.stdout_text(&self.type_name, &cmd)?;
        if kind == InfoKind::Xml {
            if let Err(e) = roxmltree::Document::parse(&text) {
                return Err(StonithError::BadOutput {
                    plugin: self.type_name.clone(),
                    command: cmd,
                    reason: format!("meta-data is not XML: {e}"),
                });
            }
        }
        Ok(Some(text))
    }

    fn status(&self) -> Result<(), StonithError> {
        self.configured()?;
        let out = self.call(&["status"], true)?;
        if out.rc() == 0 {
            return Ok(());
        }
        log(
            Level::Warn,
            &format!(
                "external_status: '{} status' failed with rc {}",
                self.name,
                out.rc()
            ),
        );
        Err(StonithError::Status {
            plugin: self.type_name.clone(),
            code: out.rc(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        self.configured()?;
        let cmd = format!("{} gethosts", self.name);
        let out = self.call(&["gethosts"], true)?;
        if out.rc() != 0 {
            return Err(StonithError::CommandFailed {
                plugin: self.type_name.clone(),
                command: cmd,
                detail: format!("exit code {}", out.rc()),
            });
        }
        let text = out.stdout_text(&self.type_name, &cmd)?;
        // Returned as printed: cluster-glue does not lower-case gethosts.
        let hosts: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if hosts.is_empty() {
            return Err(StonithError::BadOutput {
                plugin: self.type_name.clone(),
                command: cmd,
                reason: "no host names".into(),
            });
        }
        if let Some(bad) = hosts.iter().find(|h| !is_token(h)) {
            return Err(StonithError::BadOutput {
                plugin: self.type_name.clone(),
                command: cmd,
                reason: format!("'{}' is not a host name", bad.escape_debug()),
            });
        }
        Ok(hosts)
    }

    fn reset(&self, action: Action, host: &str) -> Result<(), StonithError> {
        self.configured()?;
        let op = action.as_str();
        let out = self.call(&[op, host], true)?;
        let shown = format!("{} {op} {host}", self.path.display());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            log(
                Level::Info,
                &format!("external_run_cmd: '{shown}' output: {line}"),
            );
        }
        if out.rc() == 0 {
            return Ok(());
        }
        log(
            Level::Crit,
            &format!(
                "external_reset_req: '{} {op}' for host {host} failed with rc {}",
                self.name,
                out.rc()
            ),
        );
        Err(StonithError::ResetFailed {
            plugin: self.type_name.clone(),
            op: op.into(),
            host: host.into(),
            detail: format!("exit code {}", out.rc()),
        })
    }
}
