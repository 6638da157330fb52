//! The heartbeat (haresources) class entry point:
//! `IPaddr 10.0.0.1/24/eth0 start|stop|status`, behaving like heartbeat's
//! `/etc/ha.d/resource.d/IPaddr` wrapper around the OCF agent.
//!
//! heartbeat judges `status` by its stdout text only ("running"/"OK" vs
//! anything else), so the verdict lines are printed exactly as
//! `hto-mapfuncs` prints them (`INFO:  Running OK`, `INFO:  Resource is
//! stopped`, with its empty `$rsc_type` double space) and the OCF code is
//! returned as the exit status.

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::ocf::{self, Agent, Level, OcfEnv, OcfRc};

/// Which wrapper is being emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    IPaddr,
    IPaddr2,
    SendArp,
}

const LEGAL_ACTIONS: &str = "(start|stop|status|usage|meta-data)";

fn log_and_print(msg: &str) {
    ocf::log_line(msg);
    println!("{msg}");
}

/// Splits `ip[/mask[/nic[:label][/broadcast]]]` like the IPaddr wrapper:
/// a third field starting with a digit is the broadcast (and no nic).
pub fn parse_ip_spec(spec: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut fields = spec.split('/');
    if let Some(ip) = fields.next() {
        m.insert("ip".to_string(), ip.to_string());
    }
    if let Some(mask) = fields.next().filter(|s| !s.is_empty()) {
        m.insert("cidr_netmask".to_string(), mask.to_string());
    }
    if let Some(third) = fields.next().filter(|s| !s.is_empty()) {
        if third.starts_with(|c: char| c.is_ascii_digit()) {
            m.insert("broadcast".to_string(), third.to_string());
        } else {
            m.insert("nic".to_string(), third.to_string());
            if let Some(b) = fields.next().filter(|s| !s.is_empty()) {
                m.insert("broadcast".to_string(), b.to_string());
            }
        }
    }
    m
}

/// SendArp's `ip/interface`.
fn parse_sendarp_spec(spec: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let (ip, nic) = spec.split_once('/').unwrap_or((spec, ""));
    m.insert("ip".to_string(), ip.to_string());
    if !nic.is_empty() {
        m.insert("nic".to_string(), nic.to_string());
    }
    m
}

/// Runs `<wrapper> <spec> <op>`; `args` are the two positional arguments.
pub fn run(wrapper: Wrapper, prog: &str, args: &[OsString]) -> i32 {
    let usage = || {
        println!("usage: {prog} <ip-address> {LEGAL_ACTIONS}");
        1
    };
    let [spec, op] = args else {
        return usage();
    };
    let (spec, op) = (spec.to_string_lossy(), op.to_string_lossy());
    let (ocf_action, is_status) = match op.as_ref() {
        "start" | "stop" | "monitor" => (op.as_ref(), false),
        // hto-mapfuncs maps status to monitor (so the agent sees a probe).
        "status" => ("monitor", true),
        "usage" | "help" => return usage(),
        other => {
            log_and_print(&format!("ERROR: Unknown operation: {other}"));
            return usage();
        }
    };
    let (params, type_name) = match wrapper {
        Wrapper::IPaddr => (parse_ip_spec(&spec), "IPaddr"),
        Wrapper::IPaddr2 => (parse_ip_spec(&spec), "IPaddr2"),
        Wrapper::SendArp => (parse_sendarp_spec(&spec), "SendArp"),
    };
    let ip = params.get("ip").cloned().unwrap_or_default();
    let env = OcfEnv {
        action: ocf_action.to_string(),
        instance: format!("{type_name}_{ip}"),
        params,
        interval_ms: None,
        timeout_ms: None,
        rsctmp: ocf::rsctmp(),
        instance_missing: false,
    };
    let agent: Box<dyn Agent> = match wrapper {
        Wrapper::IPaddr => Box::new(crate::ipaddr::IpAgent(crate::ipaddr::Flavor::IPaddr)),
        Wrapper::IPaddr2 => Box::new(crate::ipaddr::IpAgent(crate::ipaddr::Flavor::IPaddr2)),
        Wrapper::SendArp => Box::new(crate::sendarp::SendArp),
    };
    let rc = match agent.action(&env) {
        Ok(rc) => rc.code(),
        Err(e) => {
            ocf::log(Level::Err, &e.reason);
            e.rc.code()
        }
    };
    // The wrapper never sets $rsc_type, hence the double space.
    let text = match rc {
        0 if is_status || ocf_action == "monitor" => "INFO:  Running OK",
        0 => "INFO:  Success",
        1 => "ERROR:  Generic error",
        2 => "ERROR:  Illegal argument",
        3 => "ERROR:  Function unimplemented",
        4 => "ERROR:  User had insufficient privilege",
        5 => "ERROR:  Program is not installed",
        6 => "ERROR:  Program is not configured",
        7 => "INFO:  Resource is stopped",
        other => {
            log_and_print(&format!("ERROR:  Unknown error: {other}"));
            return OcfRc::ErrGeneric.code();
        }
    };
    log_and_print(text);
    rc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(m: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
        m.get(k).map(String::as_str)
    }

    #[test]
    fn ip_spec_forms() {
        let m = parse_ip_spec("10.0.0.1/24/eth0");
        assert_eq!(get(&m, "ip"), Some("10.0.0.1"));
        assert_eq!(get(&m, "cidr_netmask"), Some("24"));
        assert_eq!(get(&m, "nic"), Some("eth0"));
        assert_eq!(get(&m, "broadcast"), None);

        let m = parse_ip_spec("10.0.0.1/24/10.0.0.255");
        assert_eq!(get(&m, "nic"), None);
        assert_eq!(get(&m, "broadcast"), Some("10.0.0.255"));

        let m = parse_ip_spec("10.0.0.1/24/eth0:web/10.0.0.255");
        assert_eq!(get(&m, "nic"), Some("eth0:web"));
        assert_eq!(get(&m, "broadcast"), Some("10.0.0.255"));

        let m = parse_ip_spec("10.0.0.1");
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn sendarp_spec() {
        let m = parse_sendarp_spec("10.0.0.1/eth1");
        assert_eq!(get(&m, "ip"), Some("10.0.0.1"));
        assert_eq!(get(&m, "nic"), Some("eth1"));
    }
}
