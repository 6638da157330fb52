//! `fence/<x>`: bridge to Red Hat fence-agents `fence_<x>` programs via
//! their stdin `name=value` protocol (reference §7), in the spirit of
//! cluster-glue's `rhcs/<x>` plugin.

use std::path::{Path, PathBuf};

use crate::error::StonithError;
use crate::exec::{run, ExecPolicy, Invocation, Output};
use crate::log::{log, Level};
use crate::plugin::{split_hostlist, Action, InfoKind, Params, Plugin};

/// Where Debian installs fence agents.
pub const DEFAULT_DIR: &str = "/usr/sbin";
/// Parameters that are ours or the protocol's, never device config.
const SKIP: &[&str] = &[
    "action",
    "option",
    "verbose",
    "debug",
    "version",
    "help",
    "separator",
    "plug",
    "port",
    "nodename",
];

/// Agent directory: `STONITH_FENCE_DIR` if set, else `/usr/sbin`.
pub fn agent_dir() -> PathBuf {
    std::env::var_os("STONITH_FENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Agent names (`fence/<x>` for each `fence_<x>`) in `dir`, sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| n.strip_prefix("fence_").map(str::to_string))
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[derive(Debug, Clone)]
struct ParamMeta {
    name: String,
    required: bool,
    deprecated: bool,
    /// Older name this parameter replaces (`ip` obsoletes `ipaddr`).
    obsoletes: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Meta {
    shortdesc: Option<String>,
    longdesc: Option<String>,
    url: Option<String>,
    params: Vec<ParamMeta>,
    /// The agent's `<parameters>` block, verbatim.
    params_xml: String,
}

fn parse_meta(plugin: &str, command: &str, text: &str) -> Result<Meta, StonithError> {
    let bad = |reason: String| StonithError::BadOutput {
        plugin: plugin.into(),
        command: command.into(),
        reason,
    };
    let doc =
        roxmltree::Document::parse(text).map_err(|e| bad(format!("meta-data is not XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "resource-agent" {
        return Err(bad(format!(
            "root element is <{}>, not <resource-agent>",
            root.tag_name().name()
        )));
    }
    let child_text = |tag: &str| {
        root.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    };
    let mut meta = Meta {
        shortdesc: root.attribute("shortdesc").map(str::to_string),
        longdesc: child_text("longdesc"),
        url: child_text("vendor-url"),
        ..Meta::default()
    };
    if let Some(ps) = root.children().find(|n| n.has_tag_name("parameters")) {
        meta.params_xml = text[ps.range()].to_string();
        for p in ps.children().filter(|n| n.has_tag_name("parameter")) {
            let Some(name) = p.attribute("name") else {
                continue;
            };
            meta.params.push(ParamMeta {
                name: name.to_string(),
                required: p.attribute("required") == Some("1"),
                deprecated: p.attribute("deprecated") == Some("1"),
                obsoletes: p.attribute("obsoletes").map(str::to_string),
            });
        }
    }
    Ok(meta)
}

/// One fence agent.
#[derive(Debug)]
pub struct Fence {
    type_name: String,
    path: PathBuf,
    meta: Meta,
    params: Option<Params>,
    policy: ExecPolicy,
}

impl Fence {
    /// Agent `fence_<name>` from [`agent_dir`].
    pub fn new(name: &str, policy: ExecPolicy) -> Result<Self, StonithError> {
        Self::in_dir(&agent_dir(), name, policy)
    }

    /// Agent `fence_<name>` from `dir`; reads its meta-data now, since
    /// config names and info come from it.
    pub fn in_dir(dir: &Path, name: &str, policy: ExecPolicy) -> Result<Self, StonithError> {
        let type_name = format!("fence/{name}");
        if name.is_empty() || name.contains('/') {
            return Err(StonithError::UnknownType(type_name));
        }
        let path = dir.join(format!("fence_{name}"));
        if !crate::plugins::external::is_usable_script(&path) {
            return Err(StonithError::UnknownType(type_name));
        }
        let inv = Invocation {
            argv: vec![path.display().to_string()],
            env: Vec::new(),
            stdin: Some(b"action=metadata\n".to_vec()),
        };
        let cmd = format!("fence_{name} action=metadata");
        let out = run(&type_name, &inv, &policy)?;
        if out.rc() != 0 {
            return Err(StonithError::CommandFailed {
                plugin: type_name,
                command: cmd,
                detail: format!("exit code {}", out.rc()),
            });
        }
        let text = out.stdout_text(&type_name, &cmd)?;
        let meta = parse_meta(&type_name, &cmd, &text)?;
        Ok(Self {
            type_name,
            path,
            meta,
            params: None,
            policy,
        })
    }

    fn has_param(&self, n: &str) -> bool {
        self.meta.params.iter().any(|p| p.name == n)
    }

    fn configured(&self) -> Result<&Params, StonithError> {
        self.params
            .as_ref()
            .ok_or_else(|| StonithError::NotConfigured {
                plugin: self.type_name.clone(),
            })
    }

    /// Run the agent with `action` (and `host` as plug/port + nodename).
    fn call(&self, action: &str, host: Option<&str>) -> Result<Output, StonithError> {
        let params = self.configured()?;
        let mut stdin = String::new();
        for (k, v) in params.iter() {
            if k == "hostlist" || k.contains(['\n', '=']) || v.contains('\n') {
                continue;
            }
            stdin.push_str(&format!("{k}={v}\n"));
        }
        // Ours last: agents keep the last occurrence, so a stray
        // `action=` parameter cannot turn an `off` into something else.
        stdin.push_str(&format!("action={action}\n"));
        if let Some(h) = host {
            if self.has_param("plug") {
                stdin.push_str(&format!("plug={h}\n"));
            } else if self.has_param("port") {
                stdin.push_str(&format!("port={h}\n"));
            }
            stdin.push_str(&format!("nodename={h}\n"));
        }
        let inv = Invocation {
            argv: vec![self.path.display().to_string()],
            env: Vec::new(),
            stdin: Some(stdin.into_bytes()),
        };
        run(&self.type_name, &inv, &self.policy)
    }

    fn first_err_line(out: &Output) -> String {
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    }
}

impl Plugin for Fence {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn config_names(&self) -> Result<Vec<String>, StonithError> {
        let mut names = vec!["hostlist".to_string()];
        names.extend(
            self.meta
                .params
                .iter()
                .filter(|p| p.required && !p.deprecated && !SKIP.contains(&p.name.as_str()))
                .map(|p| p.name.clone()),
        );
        Ok(names)
    }

    fn set_config(&mut self, params: &Params) -> Result<(), StonithError> {
        // hostlist is optional: without it the agent's `list` is used.
        for n in self.config_names()?.iter().skip(1) {
            // The old spelling (ipaddr for ip, login for username...) is
            // still understood by the agents, so it satisfies the check.
            let old_given = self
                .meta
                .params
                .iter()
                .find(|p| &p.name == n)
                .and_then(|p| p.obsoletes.as_deref())
                .is_some_and(|old| params.get(old).is_some());
            if params.get(n).is_none() && !old_given {
                return Err(StonithError::MissingParam {
                    plugin: self.type_name.clone(),
                    param: n.clone(),
                });
            }
        }
        self.params = Some(params.clone());
        Ok(())
    }

    fn info(&self, kind: InfoKind) -> Result<Option<String>, StonithError> {
        Ok(match kind {
            InfoKind::DevId => Some(self.type_name.clone()),
            InfoKind::DevName => self.meta.shortdesc.clone(),
            InfoKind::DevDescr => self
                .meta
                .longdesc
                .clone()
                .or_else(|| self.meta.shortdesc.clone()),
            InfoKind::DevUrl => self.meta.url.clone(),
            InfoKind::Xml => Some(if self.meta.params_xml.is_empty() {
                "<parameters>\n</parameters>\n".into()
            } else {
                format!("{}\n", self.meta.params_xml)
            }),
        })
    }

    fn status(&self) -> Result<(), StonithError> {
        let out = self.call("monitor", None)?;
        if out.rc() == 0 {
            return Ok(());
        }
        Err(StonithError::Status {
            plugin: self.type_name.clone(),
            code: out.rc(),
            detail: Self::first_err_line(&out),
        })
    }

    fn hosts(&self) -> Result<Vec<String>, StonithError> {
        let params = self.configured()?;
        if let Some(list) = params.get("hostlist") {
            return Ok(split_hostlist(list));
        }
        let cmd = format!("{} action=list", self.type_name);
        let out = self.call("list", None)?;
        if out.rc() != 0 {
            return Err(StonithError::CommandFailed {
                plugin: self.type_name.clone(),
                command: cmd,
                detail: format!("exit code {}: {}", out.rc(), Self::first_err_line(&out)),
            });
        }
        let text = out.stdout_text(&self.type_name, &cmd)?;
        let sep = params.get("separator").unwrap_or(",");
        let mut hosts = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let plug = line.split(sep).next().unwrap_or("").trim();
            if plug == "N/A" || plug.is_empty() || !plug.chars().all(|c| c.is_ascii_graphic()) {
                return Err(StonithError::BadOutput {
                    plugin: self.type_name.clone(),
                    command: cmd,
                    reason: format!(
                        "'{}' is not a plug name (set hostlist)",
                        line.escape_debug()
                    ),
                });
            }
            hosts.push(plug.to_lowercase());
        }
        if hosts.is_empty() {
            return Err(StonithError::BadOutput {
                plugin: self.type_name.clone(),
                command: cmd,
                reason: "no plugs listed".into(),
            });
        }
        Ok(hosts)
    }

    fn reset(&self, action: Action, host: &str) -> Result<(), StonithError> {
        let op = match action {
            Action::Reset => "reboot",
            Action::On => "on",
            Action::Off => "off",
        };
        let out = self.call(op, Some(host))?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            log(
                Level::Info,
                &format!("{}: {op} {host}: {line}", self.type_name),
            );
        }
        if out.rc() == 0 {
            return Ok(());
        }
        let detail = format!("exit code {}: {}", out.rc(), Self::first_err_line(&out));
        log(
            Level::Crit,
            &format!("{}: {op} for host {host} failed: {detail}", self.type_name),
        );
        Err(StonithError::ResetFailed {
            plugin: self.type_name.clone(),
            op: action.as_str().into(),
            host: host.into(),
            detail,
        })
    }
}
