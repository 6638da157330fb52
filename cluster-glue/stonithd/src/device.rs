//! Plugin work (blocking: run it on a blocking thread): checking a device at
//! registration and running one fence attempt.

use std::cell::RefCell;
use std::time::Duration;

use stonith::exec::ExecPolicy;
use stonith::{Action, Params, StonithError};
use stonith_ipc::{DeviceSpec, FenceAction};

use crate::fencer::{effective_hosts, AttemptResult, Device};

/// Between SIGTERM and SIGKILL for a plugin program past its deadline, as the
/// original stonithd's kill sequence.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// Plugin output kept in an outcome's detail.
const MAX_DETAIL_OUTPUT: usize = 2048;

/// Why a device cannot be registered.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device {id}: {source}")]
    Plugin {
        id: String,
        #[source]
        source: StonithError,
    },
    #[error("device {id} ({type_name}): missing required parameter(s) {missing}; the type needs: {names}")]
    MissingParams {
        id: String,
        type_name: String,
        missing: String,
        names: String,
    },
    #[error("device {id} ({type_name}): the device covers no node other than this one ({local})")]
    NoHosts {
        id: String,
        type_name: String,
        local: String,
    },
}

fn policy(timeout: Duration) -> ExecPolicy {
    ExecPolicy {
        timeout,
        kill_grace: KILL_GRACE,
        ..ExecPolicy::default()
    }
}

fn plugin_err(id: &str) -> impl Fn(StonithError) -> DeviceError + '_ {
    move |source| DeviceError::Plugin {
        id: id.to_string(),
        source,
    }
}

/// The parameter names a type needs, in `-p` order (runs `getconfignames` for
/// external scripts).
pub fn config_names(
    id: &str,
    type_name: &str,
    timeout: Duration,
) -> Result<Vec<String>, DeviceError> {
    let plugin = stonith::create(type_name, policy(timeout)).map_err(plugin_err(id))?;
    plugin.config_names().map_err(plugin_err(id))
}

/// Builds a spec from positional values (ha.cf `stonith_host`, a `stonith` file): the
/// values are the type's config names in order, the last taking the rest.
pub fn positional_spec(
    id: &str,
    type_name: &str,
    values: &str,
    timeout: Duration,
) -> Result<DeviceSpec, DeviceError> {
    let names = config_names(id, type_name, timeout)?;
    let params = match Params::from_positional(&names, values) {
        Some(p) => p,
        None => {
            let given = values.split_whitespace().count();
            return Err(DeviceError::MissingParams {
                id: id.to_string(),
                type_name: type_name.to_string(),
                missing: names[given.min(names.len())..].join(" "),
                names: names.join(" "),
            });
        }
    };
    Ok(DeviceSpec {
        id: id.to_string(),
        type_name: type_name.to_string(),
        params: params.0,
        priority: 0,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    })
}

/// What registration does in cluster-glue's stonithd: configure the plugin, check its
/// status, get its host list, and drop the local node from it (unless the type may
/// fence itself).
pub fn probe(spec: &DeviceSpec, local_node: &str, source: &str) -> Result<Device, DeviceError> {
    let id = spec.id.as_str();
    let timeout = Duration::from_millis(spec.timeout_ms);
    let mut plugin = stonith::create(&spec.type_name, policy(timeout)).map_err(plugin_err(id))?;
    let names = plugin.config_names().map_err(plugin_err(id))?;
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !spec.params.iter().any(|(k, _)| k == *n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(DeviceError::MissingParams {
            id: id.to_string(),
            type_name: spec.type_name.clone(),
            missing: missing.join(" "),
            names: names.join(" "),
        });
    }
    plugin
        .set_config(&Params(spec.params.clone()))
        .map_err(plugin_err(id))?;
    plugin.status().map_err(plugin_err(id))?;
    let hosts = plugin.hosts().map_err(plugin_err(id))?;
    let hosts = effective_hosts(&spec.type_name, &hosts, local_node);
    if hosts.is_empty() {
        return Err(DeviceError::NoHosts {
            id: id.to_string(),
            type_name: spec.type_name.clone(),
            local: local_node.to_string(),
        });
    }
    Ok(Device {
        id: spec.id.clone(),
        type_name: spec.type_name.clone(),
        hosts,
        priority: spec.priority,
        timeout_ms: spec.timeout_ms,
        source: source.to_string(),
    })
}

/// One fence attempt with a fresh plugin object (so concurrent attempts on one device
/// never share state, and each gets its own deadline). What the plugin logs during the
/// attempt (an external script's output lines) goes into a failure's text.
pub fn attempt(
    type_name: &str,
    params: &[(String, String)],
    action: FenceAction,
    node: &str,
    timeout: Duration,
) -> AttemptResult {
    let run = || -> Result<(), StonithError> {
        let mut plugin = stonith::create(type_name, policy(timeout))?;
        plugin.set_config(&Params(params.to_vec()))?;
        let action = match action {
            FenceAction::Reset => Action::Reset,
            FenceAction::On => Action::On,
            FenceAction::Off => Action::Off,
        };
        stonith::plugin::request(plugin.as_ref(), action, node)
    };
    let (result, output) = capture(run);
    match result {
        Ok(()) => AttemptResult::Ok,
        Err(e) => {
            let mut text = e.to_string();
            if !output.is_empty() {
                text.push_str("; output: ");
                text.push_str(&output);
            }
            if matches!(e, StonithError::Timeout { .. }) {
                AttemptResult::Timeout(text)
            } else {
                AttemptResult::Failed(text)
            }
        }
    }
}

thread_local! {
    /// Plugin log lines of the attempt running on this thread.
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Runs `f` collecting the plugin messages logged on this thread meanwhile.
fn capture<T>(f: impl FnOnce() -> T) -> (T, String) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let r = f();
    let lines = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    let mut out = String::new();
    for l in lines {
        // external plugins log each output line with this prefix; the line is what counts.
        let l = match l.find("' output: ") {
            Some(i) if l.starts_with("external_run_cmd:") => l[i + 10..].to_string(),
            _ => l,
        };
        if !out.is_empty() {
            out.push_str(" | ");
        }
        out.push_str(&l.escape_debug().to_string());
        if out.len() > MAX_DETAIL_OUTPUT {
            let mut cut = MAX_DETAIL_OUTPUT;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    (r, out)
}

/// Sends plugin messages to tracing, and to the capture of the attempt running on the
/// same thread.
pub fn install_log_sink() {
    stonith::log::set_sink(Box::new(|level, msg| {
        use stonith::log::Level;
        match level {
            Level::Debug => tracing::debug!(target: "stonith", "{msg}"),
            Level::Info | Level::Notice => tracing::info!(target: "stonith", "{msg}"),
            Level::Warn => tracing::warn!(target: "stonith", "{msg}"),
            Level::Error | Level::Crit => tracing::error!(target: "stonith", "{msg}"),
        }
        if level >= Level::Info {
            CAPTURE.with(|c| {
                if let Some(v) = c.borrow_mut().as_mut() {
                    v.push(msg.to_string());
                }
            });
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(type_name: &str, params: &[(&str, &str)]) -> DeviceSpec {
        DeviceSpec {
            id: "d1".into(),
            type_name: type_name.into(),
            params: params
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            priority: 3,
            timeout_ms: 5_000,
        }
    }

    #[test]
    fn probe_null_keeps_local_and_lowercases() {
        let d = probe(&spec("null", &[("hostlist", "Me Peer")]), "me", "client:t").unwrap();
        assert_eq!(d.hosts, vec!["me", "peer"]);
        assert_eq!((d.priority, d.source.as_str()), (3, "client:t"));
    }

    #[test]
    fn probe_errors_are_clear() {
        let e = probe(&spec("bogus", &[]), "me", "t").unwrap_err();
        assert_eq!(e.to_string(), "device d1: Invalid device type: 'bogus'");
        let e = probe(&spec("null", &[]), "me", "t").unwrap_err();
        assert!(
            e.to_string()
                .contains("missing required parameter(s) hostlist"),
            "{e}"
        );
        let e = probe(&spec("meatware", &[("hostlist", "ME")]), "me", "t").unwrap_err();
        assert!(matches!(e, DeviceError::NoHosts { .. }), "{e}");
    }

    #[test]
    fn positional_values_follow_config_names() {
        let s = positional_spec("hacf", "null", "a b c", Duration::from_secs(5)).unwrap();
        assert_eq!(
            s.params,
            vec![("hostlist".to_string(), "a b c".to_string())]
        );
        let e = positional_spec("hacf", "null", "  ", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("hostlist"), "{e}");
        let s = positional_spec("s", "suicide", "", Duration::from_secs(5)).unwrap();
        assert!(s.params.is_empty());
    }

    #[test]
    fn attempt_with_null_succeeds() {
        let r = attempt(
            "null",
            &[("hostlist".into(), "x".into())],
            FenceAction::Reset,
            "X",
            Duration::from_secs(5),
        );
        assert_eq!(r, AttemptResult::Ok);
        let r = attempt("null", &[], FenceAction::Reset, "x", Duration::from_secs(5));
        assert!(matches!(r, AttemptResult::Failed(t) if t.contains("hostlist")));
    }
}
