//! An agent printing 50 MiB: capture stays bounded. Alone in its own test
//! binary so that no other test disturbs the peak-RSS measurement.
mod common;

use std::time::Duration;

use common::Sandbox;
use ra_runner::{run, AgentSpec, OpRequest, OpStatus};

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn fifty_megabytes_of_output_stay_bounded() {
    let sb = Sandbox::new();
    // 50 MiB on stdout and 5 MiB on stderr, then a normal exit.
    sb.ocf_agent(
        "test",
        "Chatty",
        "#!/bin/sh\nhead -c 52428800 /dev/zero | tr '\\0' 'x'\nhead -c 5242880 /dev/zero >&2\nexit 0\n",
    );
    let hwm_before = vm_hwm_kib();
    let mut req = OpRequest::new(AgentSpec::ocf("test", "Chatty").unwrap(), "start");
    req.timeout = Duration::from_secs(60);
    let r = run(&req, &sb.roots).unwrap();
    assert_eq!(r.status, OpStatus::Done);
    assert_eq!(r.rc, 0);
    assert_eq!(r.stdout.len(), ra_runner::exec::DEFAULT_OUTPUT_LIMIT);
    assert!(r.stdout.iter().all(|&b| b == b'x'));
    assert_eq!(r.stdout.len() as u64 + r.stdout_truncated, 52_428_800);
    assert_eq!(r.stderr.len(), ra_runner::exec::DEFAULT_OUTPUT_LIMIT);
    assert_eq!(r.stderr.len() as u64 + r.stderr_truncated, 5_242_880);
    let grown = vm_hwm_kib().saturating_sub(hwm_before);
    assert!(
        grown < 8 * 1024,
        "peak RSS grew by {grown} KiB while capturing 55 MiB"
    );
}
