//! Debian's own ocf:heartbeat:Dummy through the runner.
mod common;

use std::path::Path;
use std::time::Duration;

use common::{Sandbox, DEBIAN_DUMMY};
use ra_runner::{metadata, run, AgentSpec, Class, Dialect, OcfRc, OpRequest, OpStatus, Roots};

fn dummy_req(action: &str, state: &Path) -> OpRequest {
    let mut req = OpRequest::new("ocf:heartbeat:Dummy".parse().unwrap(), action);
    req.instance = "d1".into();
    req.params
        .insert("state".into(), state.to_string_lossy().into_owned());
    req.interval = if action == "monitor" {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    req
}

#[test]
fn dummy_start_monitor_stop_monitor() {
    assert!(
        Path::new(DEBIAN_DUMMY).exists(),
        "Debian resource-agents must be installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("d1.state");
    let roots = Roots::default();
    let mut seen = Vec::new();
    for action in ["start", "monitor", "stop", "monitor"] {
        let r = run(&dummy_req(action, &state), &roots).unwrap();
        assert_eq!(r.status, OpStatus::Done, "{action}: {r:?}");
        seen.push(r.rc);
        if action == "start" {
            assert!(state.exists(), "start must create the state file");
        }
    }
    assert_eq!(seen, [0, 0, 0, 7]);

    // A recurring monitor (interval set) on a stopped Dummy gives its exit
    // reason, which only happens when the interval really is passed.
    let r = run(&dummy_req("monitor", &state), &roots).unwrap();
    assert_eq!(r.outcome, OcfRc::NotRunning);
    assert_eq!(
        r.exit_reason.as_deref(),
        Some("No process state file found"),
        "{}",
        r.stderr_str()
    );

    // A probe (interval 0) is silent.
    let mut probe = dummy_req("monitor", &state);
    probe.interval = Duration::ZERO;
    let r = run(&probe, &roots).unwrap();
    assert_eq!(r.rc, 7);
    assert_eq!(r.exit_reason, None);

    // Unknown actions are 3.
    let r = run(&dummy_req("bogus", &state), &roots).unwrap();
    assert_eq!(r.outcome, OcfRc::ErrUnimplemented);
}

#[test]
fn dummy_metadata_parses_and_validates() {
    let md = metadata(&"ocf:heartbeat:Dummy".parse().unwrap(), &Roots::default()).unwrap();
    assert_eq!(md.name, "Dummy");
    assert_eq!(md.ocf_version, "1.0");
    assert_eq!(md.dialect, Dialect::Ocf10Dtd);
    assert!(ra_runner::validate_dtd(&md.raw).is_empty());
    let state = md.parameter("state").expect("state parameter");
    assert!(state.unique);
    assert!(
        state.default.as_deref().unwrap_or("").contains("Dummy-"),
        "{:?}",
        state.default
    );
    let fake = md.parameter("fake").expect("fake parameter");
    assert!(!fake.unique);
    let mon = md.action("monitor").expect("monitor action");
    assert_eq!(mon.timeout_duration(), Some(Duration::from_secs(20)));
    assert_eq!(mon.interval_duration(), Some(Duration::from_secs(10)));
    assert_eq!(mon.depth.as_deref(), Some("0"));
    assert_eq!(md.action("meta-data").unwrap().timeout, "5s");
}

#[test]
fn discovery_on_debian_roots() {
    let roots = Roots::default();
    assert_eq!(
        roots.classes(),
        vec![Class::Heartbeat, Class::Ocf, Class::Lsb]
    );
    let types = roots.types(Class::Ocf, Some("heartbeat")).unwrap();
    assert!(types.contains(&"Dummy".to_string()) && types.contains(&"IPaddr2".to_string()));
    assert!(
        !types.iter().any(|t| t.starts_with('.')),
        "hidden links must not be listed"
    );
    assert!(roots
        .providers(Class::Ocf, Some("Dummy"))
        .unwrap()
        .contains(&"heartbeat".to_string()));
    assert!(roots
        .providers(Class::Ocf, Some("NoSuchAgent"))
        .unwrap()
        .is_empty());
    assert_eq!(
        roots.providers(Class::Lsb, None).unwrap(),
        vec!["heartbeat"]
    );
    assert!(roots
        .types(Class::Heartbeat, None)
        .unwrap()
        .contains(&"IPaddr".to_string()));
}

#[test]
fn discovery_on_private_roots() {
    let sb = Sandbox::new();
    sb.ocf_agent("acme", "Widget", "#!/bin/sh\nexit 0\n");
    sb.ocf_agent("acme", ".hidden", "#!/bin/sh\nexit 0\n");
    sb.ocf_agent("other", "Widget", "#!/bin/sh\nexit 0\n");
    sb.ocf_agent("other", "Gadget", "#!/bin/sh\nexit 0\n");
    std::fs::write(sb.roots.ocf_ra_dir().join("other/notexec"), "x").unwrap();
    std::fs::create_dir_all(sb.roots.ocf_ra_dir().join(".hiddenprov")).unwrap();
    sb.lsb_script("web", "#!/bin/sh\n");
    assert_eq!(
        sb.roots.providers(Class::Ocf, None).unwrap(),
        vec!["acme", "other"]
    );
    assert_eq!(
        sb.roots.providers(Class::Ocf, Some("Gadget")).unwrap(),
        vec!["other"]
    );
    assert_eq!(
        sb.roots.providers(Class::Ocf, Some("Widget")).unwrap(),
        vec!["acme", "other"]
    );
    assert_eq!(
        sb.roots.types(Class::Ocf, None).unwrap(),
        vec!["Gadget", "Widget"]
    );
    assert_eq!(
        sb.roots.types(Class::Ocf, Some("acme")).unwrap(),
        vec!["Widget"]
    );
    assert_eq!(sb.roots.types(Class::Lsb, None).unwrap(), vec!["web"]);
    assert!(sb.roots.types(Class::Heartbeat, None).unwrap().is_empty());
}

#[test]
fn missing_agent_is_not_installed() {
    let sb = Sandbox::new();
    let req = OpRequest::new(AgentSpec::ocf("acme", "Nothing").unwrap(), "start");
    let r = run(&req, &sb.roots).unwrap();
    assert_eq!(r.status, OpStatus::NotInstalled);
    assert_eq!(r.rc, 5);
    assert_eq!(r.outcome, OcfRc::ErrInstalled);

    // Exit codes outside 0..9/190/191 are clamped to 1 for OCF, raw kept.
    sb.ocf_agent("acme", "Weird", "#!/bin/sh\nexit 42\n");
    let r = run(
        &OpRequest::new(AgentSpec::ocf("acme", "Weird").unwrap(), "start"),
        &sb.roots,
    )
    .unwrap();
    assert_eq!((r.rc, r.raw), (1, ra_runner::RawExit::Exited(42)));
    sb.ocf_agent("acme", "Degraded", "#!/bin/sh\nexit 190\n");
    let r = run(
        &OpRequest::new(AgentSpec::ocf("acme", "Degraded").unwrap(), "monitor"),
        &sb.roots,
    )
    .unwrap();
    assert_eq!(r.outcome, OcfRc::Degraded);

    // Not executable: an error with rc 4, as lrmd's EACCES mapping.
    std::fs::write(
        sb.roots.ocf_ra_dir().join("acme/NoExec"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    let r = run(
        &OpRequest::new(AgentSpec::ocf("acme", "NoExec").unwrap(), "start"),
        &sb.roots,
    )
    .unwrap();
    assert!(matches!(r.status, OpStatus::Error(_)), "{r:?}");
    assert_eq!(r.rc, 4);
}
