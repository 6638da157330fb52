//! Our ocf-tester and Debian's /usr/sbin/ocf-tester reach the same verdicts.
mod common;

use std::path::Path;
use std::process::Command;

use common::{Sandbox, DEBIAN_DUMMY};

const OURS: &str = env!("CARGO_BIN_EXE_ocf-tester");
const DEBIAN: &str = "/usr/sbin/ocf-tester";

struct Verdict {
    code: i32,
    /// The verdict lines: "* ..." results, "Aborting tests", and the final line.
    lines: Vec<String>,
    all: String,
}

fn verdict(tester: &str, args: &[&str]) -> Verdict {
    let out = Command::new(tester)
        .args(args)
        .env_remove("OCF_ROOT")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = all
        .lines()
        .filter(|l| {
            l.starts_with("* ")
                || *l == "Aborting tests"
                || l.ends_with(" passed all tests")
                || l.starts_with("Tests failed: ")
                || l.starts_with("Beginning tests for ")
        })
        .map(str::to_string)
        .collect();
    Verdict {
        code: out.status.code().unwrap_or(-1),
        lines,
        all,
    }
}

/// Runs both testers on `agent` with a fresh state file each and compares.
fn compare(sb: &Sandbox, agent: &Path, tag: &str) -> Verdict {
    let run = |tester: &str, which: &str| {
        let state = sb.path(&format!("{tag}-{which}.state"));
        let _ = std::fs::remove_file(&state);
        let state_opt = format!("state={}", state.display());
        verdict(
            tester,
            &["-n", "t1", "-o", &state_opt, agent.to_str().unwrap()],
        )
    };
    let theirs = run(DEBIAN, "debian");
    let ours = run(OURS, "ours");
    assert_eq!(
        ours.lines, theirs.lines,
        "verdict lines differ.\n--- ours:\n{}\n--- debian:\n{}",
        ours.all, theirs.all
    );
    assert_eq!(
        ours.code, theirs.code,
        "exit codes differ.\n--- ours:\n{}\n--- debian:\n{}",
        ours.all, theirs.all
    );
    ours
}

const BROKEN: &str = r#"#!/bin/sh
# A deliberately broken OCF agent; MODE selects the defect.
MODE=@MODE@
STATE=${OCF_RESKEY_state:-/nonexistent/broken.state}
meta_data() {
cat <<END
<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Broken" version="1.0">
<version>1.0</version>
<longdesc lang="en">Broken on purpose.</longdesc>
<shortdesc lang="en">Broken</shortdesc>
<parameters>
<parameter name="state" unique="1">
<longdesc lang="en">State file</longdesc>
<shortdesc lang="en">State file</shortdesc>
<content type="string" default="/tmp/x" />
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s" />
<action name="stop" timeout="20s" />
<action name="monitor" timeout="20s" interval="10s" />
<action name="meta-data" timeout="5s" />
<action name="validate-all" timeout="20s" />
</actions>
</resource-agent>
END
}
case "$1" in
meta-data)
    [ "$MODE" = nometa ] && exit 3
    [ "$MODE" = badmeta ] && { meta_data | sed 's/name="stop"/name="halt"/'; exit 0; }
    meta_data; exit 0;;
start)
    if [ -f "$STATE" ]; then [ "$MODE" = idem ] && exit 1; exit 0; fi
    [ "$MODE" = nostart ] && { echo "cannot start: broken on purpose" >&2; exit 1; }
    touch "$STATE"; exit 0;;
stop)
    if [ ! -f "$STATE" ]; then [ "$MODE" = idem ] && exit 7; exit 0; fi
    rm -f "$STATE"; exit 0;;
monitor)
    [ "$MODE" = liar ] && exit 0
    [ -f "$STATE" ] && exit 0; exit 7;;
validate-all) exit 0;;
*) exit 3;;
esac
"#;

fn broken(sb: &Sandbox, mode: &str) -> std::path::PathBuf {
    sb.ocf_agent(
        "test",
        &format!("Broken-{mode}"),
        &BROKEN.replace("@MODE@", mode),
    )
}

#[test]
fn same_verdict_on_debian_dummy() {
    let sb = Sandbox::new();
    let v = compare(&sb, Path::new(DEBIAN_DUMMY), "dummy");
    assert_eq!(v.code, 0);
    assert_eq!(
        v.lines.last().unwrap(),
        &format!("{DEBIAN_DUMMY} passed all tests")
    );
    assert!(v
        .lines
        .contains(&"* Your agent does not support promotable clones (optional)".to_string()));
}

#[test]
fn same_verdict_on_non_idempotent_agent() {
    let sb = Sandbox::new();
    let agent = broken(&sb, "idem");
    let v = compare(&sb, &agent, "idem");
    assert_eq!(v.code, 1);
    assert!(
        v.lines
            .contains(&"* rc=1: Starting a running resource is required to succeed".to_string()),
        "{}",
        v.all
    );
    assert!(
        v.lines
            .contains(&"* rc=7: Stopping a stopped resource is required to succeed".to_string()),
        "{}",
        v.all
    );
    assert_eq!(
        v.lines.last().unwrap(),
        &format!("Tests failed: {} failed 2 tests", agent.display())
    );
}

#[test]
fn same_verdict_on_monitor_that_lies() {
    let sb = Sandbox::new();
    let agent = broken(&sb, "liar");
    let v = compare(&sb, &agent, "liar");
    assert_eq!(v.code, 1);
    assert!(
        v.lines
            .contains(&"* rc=0: Monitoring a stopped resource should return 7".to_string()),
        "{}",
        v.all
    );
}

#[test]
fn same_verdict_on_agent_without_metadata() {
    let sb = Sandbox::new();
    let agent = broken(&sb, "nometa");
    let v = compare(&sb, &agent, "nometa");
    assert_eq!(v.code, 1);
    assert!(
        v.lines
            .contains(&"* rc=3: Your agent does not support the meta-data action".to_string()),
        "{}",
        v.all
    );
}

#[test]
fn same_verdict_on_invalid_metadata() {
    let sb = Sandbox::new();
    let agent = broken(&sb, "badmeta");
    let v = compare(&sb, &agent, "badmeta");
    assert!(
        v.lines.contains(
            &"* rc=4: Your agent produces meta-data which does not conform to ra-api-1.dtd"
                .to_string()
        ),
        "{}",
        v.all
    );
}

#[test]
fn same_verdict_when_start_fails_and_tests_abort() {
    let sb = Sandbox::new();
    let agent = broken(&sb, "nostart");
    let v = compare(&sb, &agent, "nostart");
    assert_eq!(v.code, 1);
    assert_eq!(v.lines.last().unwrap(), "Aborting tests");
    assert!(
        v.all.contains("cannot start: broken on purpose"),
        "agent output is shown on abort: {}",
        v.all
    );
}

#[test]
fn usage_errors_match() {
    for args in [
        &["/usr/lib/ocf/resource.d/heartbeat/Dummy"][..],
        &["-n", "x", "/nonexistent/agent"][..],
    ] {
        let ours = Command::new(OURS).args(args).output().unwrap();
        let theirs = Command::new(DEBIAN).args(args).output().unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(ours.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr).lines().next(),
            String::from_utf8_lossy(&theirs.stderr).lines().next()
        );
    }
    let help = Command::new(OURS).arg("-h").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout)
        .starts_with("Tool for testing if a cluster resource is OCF compliant"));
}
