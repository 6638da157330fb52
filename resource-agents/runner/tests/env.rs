//! The environment agents receive.
mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::Duration;

use common::Sandbox;
use proptest::prelude::*;
use ra_runner::{agent_env, exec::env_to_strings, run, AgentSpec, OpRequest, Roots};

fn dump_env(sb: &Sandbox, req: &OpRequest) -> BTreeMap<String, String> {
    let r = run(req, &sb.roots).unwrap();
    assert_eq!(r.rc, 0, "{}", r.stderr_str());
    // `env -0` keeps values with newlines intact.
    r.stdout
        .split(|&b| b == 0)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let s = String::from_utf8_lossy(kv);
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn ocf_agent_sees_every_variable() {
    let sb = Sandbox::new();
    sb.ocf_agent("acme", "EnvDump", "#!/bin/sh\nenv -0\n");
    let mut req = OpRequest::new(AgentSpec::ocf("acme", "EnvDump").unwrap(), "monitor");
    req.instance = "web:2".into();
    req.interval = Duration::from_secs(10);
    req.timeout = Duration::from_millis(20_500);
    req.check_level = Some(10);
    req.params.insert("ip".into(), "10.0.0.1".into());
    req.params.insert("opt_2".into(), "a b\nc".into());
    req.env.insert("HA_LOGFACILITY".into(), "daemon".into());
    let env = dump_env(&sb, &req);
    let expect = [
        ("OCF_ROOT", sb.roots.ocf_root.to_str().unwrap()),
        ("OCF_RA_VERSION_MAJOR", "1"),
        ("OCF_RA_VERSION_MINOR", "0"),
        ("OCF_RESOURCE_INSTANCE", "web:2"),
        ("OCF_RESOURCE_TYPE", "EnvDump"),
        ("OCF_RESOURCE_PROVIDER", "acme"),
        ("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:"),
        ("OCF_RESKEY_ip", "10.0.0.1"),
        ("OCF_RESKEY_opt_2", "a b\nc"),
        ("OCF_RESKEY_CRM_meta_interval", "10000"),
        ("OCF_RESKEY_CRM_meta_timeout", "20500"),
        ("OCF_CHECK_LEVEL", "10"),
        ("HA_LOGFACILITY", "daemon"),
        ("HA_LOGD", "no"),
    ];
    for (k, v) in expect {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k} in {env:?}");
    }
    assert!(env.contains_key("PATH"));
}

#[test]
fn probe_and_metadata_still_get_interval_and_timeout() {
    let sb = Sandbox::new();
    sb.ocf_agent("acme", "EnvDump", "#!/bin/sh\nenv -0\n");
    let req = OpRequest::new(AgentSpec::ocf("acme", "EnvDump").unwrap(), "meta-data");
    let env = dump_env(&sb, &req);
    assert_eq!(
        env.get("OCF_RESKEY_CRM_meta_interval").map(String::as_str),
        Some("0")
    );
    assert_eq!(
        env.get("OCF_RESKEY_CRM_meta_timeout").map(String::as_str),
        Some("20000")
    );
    assert!(
        !env.contains_key("OCF_RESOURCE_INSTANCE"),
        "meta-data runs without an instance"
    );
    assert!(!env.contains_key("OCF_CHECK_LEVEL"));
}

#[test]
fn lsb_and_heartbeat_get_no_ocf_variables() {
    let sb = Sandbox::new();
    sb.lsb_script("envdump", "#!/bin/sh\nenv -0\n");
    let mut req = OpRequest::new(AgentSpec::lsb("envdump").unwrap(), "start");
    req.params.insert("x".into(), "y".into());
    let env = dump_env(&sb, &req);
    assert!(!env.keys().any(|k| k.starts_with("OCF_")), "{env:?}");
}

fn param_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_ .-]{0,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every parameter is exported verbatim, interval/timeout always are (in
    /// ms, the request's values winning over same-named params), and no
    /// inherited OCF_ variable leaks.
    #[test]
    fn env_builder_properties(
        params in proptest::collection::btree_map(param_name(), "[^\u{0}]{0,20}", 0..8),
        inherited in proptest::collection::btree_map("(OCF_|__OCF_|HA_|X)[A-Z_]{1,8}", "[a-z]{0,5}", 0..8),
        interval_ms in 0u64..1_000_000,
        timeout_ms in 0u64..1_000_000,
        instance in "[a-z0-9:]{0,8}",
    ) {
        let mut req = OpRequest::new(AgentSpec::ocf("p", "T").unwrap(), "monitor");
        req.params = params.clone();
        req.instance = instance.clone();
        req.interval = Duration::from_millis(interval_ms);
        req.timeout = Duration::from_millis(timeout_ms);
        let inherited_os: Vec<(OsString, OsString)> =
            inherited.iter().map(|(k, v)| (k.into(), v.into())).collect();
        let env = env_to_strings(&agent_env(&req, &Roots::default(), inherited_os));
        for (k, v) in &params {
            if k != "CRM_meta_interval" && k != "CRM_meta_timeout" {
                prop_assert_eq!(env.get(&format!("OCF_RESKEY_{k}")), Some(v));
            }
        }
        prop_assert_eq!(env.get("OCF_RESKEY_CRM_meta_interval"), Some(&interval_ms.to_string()));
        prop_assert_eq!(env.get("OCF_RESKEY_CRM_meta_timeout"), Some(&timeout_ms.to_string()));
        prop_assert_eq!(env.contains_key("OCF_RESOURCE_INSTANCE"), !instance.is_empty());
        let clean = env_to_strings(&agent_env(&req, &Roots::default(), Vec::new()));
        for (k, v) in &inherited {
            if k.starts_with("OCF_") || k.starts_with("__OCF_") {
                // Exactly what we would set without the inherited value.
                prop_assert_eq!(env.get(k.as_str()), clean.get(k.as_str()), "inherited {}={} leaked", k, v);
            } else if k != "HA_LOGD" && k != "PATH" {
                prop_assert_eq!(env.get(k.as_str()), Some(v));
            }
        }
    }
}

/// The spawn path hands the agent its environment without going through `agent_env`;
/// both must agree exactly, overrides included, also with a base captured up front.
#[test]
fn spawned_environment_is_exactly_agent_env() {
    let sb = Sandbox::new();
    sb.ocf_agent("acme", "EnvDump", "#!/bin/sh\nenv -0\n");
    let mut req = OpRequest::new(AgentSpec::ocf("acme", "EnvDump").unwrap(), "monitor");
    req.instance = "r1".into();
    // A param whose variable collides with a fixed one: the later (fixed) one wins.
    req.params
        .insert("CRM_meta_interval".into(), "bogus".into());
    // req.env overrides an inherited variable and a fixed OCF one.
    req.env.insert("PATH".into(), "/bin:/usr/bin".into());
    req.env.insert("OCF_RESOURCE_TYPE".into(), "Other".into());
    let inherited: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), "/nowhere".into()),
        ("HA_debug".into(), "1".into()),
        ("OCF_RESKEY_stale".into(), "x".into()),
    ];
    let want = env_to_strings(&agent_env(&req, &sb.roots, inherited.clone()));
    let base = ra_runner::BaseEnv::from_vars(inherited);
    let r = ra_runner::spawn_with_env(&req, &sb.roots, &base)
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(r.rc, 0, "{}", r.stderr_str());
    let mut got: BTreeMap<String, String> = r
        .stdout
        .split(|&b| b == 0)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let s = String::from_utf8_lossy(kv);
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    // The shell adds PWD (and may add SHLVL/_) by itself.
    for k in ["PWD", "SHLVL", "_"] {
        if !want.contains_key(k) {
            got.remove(k);
        }
    }
    assert_eq!(got, want);
    assert_eq!(got["OCF_RESKEY_CRM_meta_interval"], "0");
    assert_eq!(got["OCF_RESOURCE_TYPE"], "Other");
    assert_eq!(got["PATH"], "/bin:/usr/bin");
    assert!(!got.contains_key("OCF_RESKEY_stale"));
}
