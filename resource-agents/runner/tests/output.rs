//! Output capture is bounded; stdin is /dev/null; inherited descriptors are closed.
mod common;

use std::time::Duration;

use common::Sandbox;
use ra_runner::{run, AgentSpec, OpRequest, OpStatus};

#[test]
fn stdin_is_dev_null_and_fds_are_closed() {
    let sb = Sandbox::new();
    // No pipeline: its pipes would show up among the shell's descriptors.
    sb.ocf_agent(
        "test",
        "Fds",
        "#!/bin/sh\nreadlink /proc/self/fd/0\nls /proc/$$/fd\n",
    );
    // An inherited descriptor without CLOEXEC, at a number nothing else
    // uses, must not reach the agent.
    const LEAK_FD: i32 = 517;
    let file = std::fs::File::open("/dev/null").unwrap();
    let dup = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), LEAK_FD) };
    assert_eq!(dup, LEAK_FD);
    let res = run(
        &OpRequest::new(AgentSpec::ocf("test", "Fds").unwrap(), "monitor"),
        &sb.roots,
    );
    unsafe { libc::close(LEAK_FD) };
    let res = res.unwrap();
    let out = res.stdout_str();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("/dev/null"));
    let fds: Vec<i32> = lines.map(|f| f.trim().parse().unwrap()).collect();
    assert!(fds.contains(&2), "{fds:?}");
    assert!(
        !fds.contains(&LEAK_FD),
        "inherited fd {LEAK_FD} leaked: {fds:?}"
    );
    // Only the shell's own beyond 0-2: the script it reads (dash: fd 10).
    assert!(fds.iter().filter(|&&f| f > 2).count() <= 1, "{fds:?}");
}

#[test]
fn background_child_holding_stdout_does_not_hang_the_op() {
    let sb = Sandbox::new();
    // A badly written start that leaves a daemon attached to our pipes.
    let pidfile = sb.path("daemon.pid");
    sb.ocf_agent(
        "test",
        "Leaky",
        &format!(
            "#!/bin/sh\nsleep 30 &\necho $! > {}\necho done\nexit 0\n",
            pidfile.display()
        ),
    );
    let t0 = std::time::Instant::now();
    let r = run(
        &OpRequest::new(AgentSpec::ocf("test", "Leaky").unwrap(), "start"),
        &sb.roots,
    )
    .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(r.status, OpStatus::Done);
    assert_eq!((r.rc, r.stdout_str().as_ref()), (0, "done\n"));
    // A successful start's children are the service: they must survive.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(common::alive(pid));
    unsafe { libc::kill(pid, libc::SIGKILL) };
}
