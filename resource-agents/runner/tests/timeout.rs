//! Timeouts kill the agent's whole process group; cancel; non-blocking driving.
mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{alive, Sandbox};
use ra_runner::{run, spawn, AgentSpec, OpRequest, OpStatus};

/// An agent that starts a sleeping child, records its pid, then sleeps.
/// With `trap` set it ignores SIGTERM (so only SIGKILL ends it).
fn sleeper(sb: &Sandbox, name: &str, trap: bool) -> std::path::PathBuf {
    let pidfile = sb.path(&format!("{name}.child"));
    let body = format!(
        "#!/bin/sh\n{trap}sleep 300 &\necho $! > {pidfile}\necho started\nsleep 300\n",
        trap = if trap { "trap '' TERM\n" } else { "" },
        pidfile = pidfile.display()
    );
    sb.ocf_agent("test", name, &body);
    pidfile
}

fn read_pid(path: &std::path::Path) -> i32 {
    fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[test]
fn timeout_kills_the_whole_group() {
    let sb = Sandbox::new();
    let pidfile = sleeper(&sb, "Sleeper", false);
    let mut req = OpRequest::new(AgentSpec::ocf("test", "Sleeper").unwrap(), "start");
    req.timeout = Duration::from_millis(500);
    req.kill_grace = Duration::from_secs(2);
    let t0 = Instant::now();
    let r = run(&req, &sb.roots).unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, OpStatus::TimedOut);
    assert_eq!(r.rc, 1);
    assert!(took >= req.timeout, "{took:?}");
    assert!(
        took < req.timeout + req.kill_grace + Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(
        r.stdout_str(),
        "started\n",
        "output before the kill is kept"
    );
    let child = read_pid(&pidfile);
    // The grandchild may need a moment to be reaped by init.
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(child) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(child),
        "child {child} of the timed-out agent survived"
    );
}

#[test]
fn sigterm_ignored_means_sigkill_after_grace() {
    let sb = Sandbox::new();
    let pidfile = sleeper(&sb, "Stubborn", true);
    let mut req = OpRequest::new(AgentSpec::ocf("test", "Stubborn").unwrap(), "stop");
    req.timeout = Duration::from_millis(300);
    req.kill_grace = Duration::from_millis(700);
    let t0 = Instant::now();
    let r = run(&req, &sb.roots).unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, OpStatus::TimedOut);
    assert_eq!(r.raw, ra_runner::RawExit::Signaled(libc::SIGKILL));
    assert!(
        took >= req.timeout + req.kill_grace,
        "SIGKILL came too early: {took:?}"
    );
    assert!(
        took < req.timeout + req.kill_grace + Duration::from_secs(1),
        "{took:?}"
    );
    let child = read_pid(&pidfile);
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(child) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(child),
        "TERM-ignoring child {child} survived SIGKILL of the group"
    );
}

#[test]
fn try_wait_never_blocks_and_cancel_reports_cancelled() {
    let sb = Sandbox::new();
    let pidfile = sleeper(&sb, "Cancel", false);
    let req = OpRequest::new(AgentSpec::ocf("test", "Cancel").unwrap(), "monitor");
    let mut running = spawn(&req, &sb.roots).unwrap();
    let pid = running.pid().expect("started") as i32;
    assert!(running.has_pidfd(), "Linux >= 5.3 gives a pidfd");
    assert_eq!(running.poll_fds().len(), 3);
    let t0 = Instant::now();
    assert!(running.try_wait().unwrap().is_none());
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "try_wait blocked"
    );
    while !pidfile.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    running.cancel();
    let r = running.wait().unwrap();
    assert_eq!(r.status, OpStatus::Cancelled);
    assert!(!alive(pid));
}

#[test]
fn many_concurrent_ops_without_threads() {
    let sb = Sandbox::new();
    sb.ocf_agent(
        "test",
        "Quick",
        "#!/bin/sh\nsleep 0.3\necho \"$OCF_RESOURCE_INSTANCE\"\nexit 7\n",
    );
    let t0 = Instant::now();
    let mut ops: Vec<_> = (0..20)
        .map(|i| {
            let mut req = OpRequest::new(AgentSpec::ocf("test", "Quick").unwrap(), "monitor");
            req.instance = format!("q{i}");
            spawn(&req, &sb.roots).unwrap()
        })
        .collect();
    let mut done = vec![None; ops.len()];
    while done.iter().any(Option::is_none) {
        for (i, op) in ops.iter_mut().enumerate() {
            if done[i].is_none() {
                done[i] = op.try_wait().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Sequentially this would take 6 s.
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    for (i, r) in done.into_iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(r.rc, 7);
        assert_eq!(r.stdout_str().trim(), format!("q{i}"));
    }
}

#[cfg(feature = "tokio")]
#[test]
fn run_async_on_tokio() {
    let sb = Sandbox::new();
    sb.ocf_agent("test", "Async", "#!/bin/sh\nsleep 0.2\necho hi\nexit 0\n");
    sleeper(&sb, "AsyncSleeper", false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ok = OpRequest::new(AgentSpec::ocf("test", "Async").unwrap(), "start");
        let mut slow = OpRequest::new(AgentSpec::ocf("test", "AsyncSleeper").unwrap(), "start");
        slow.timeout = Duration::from_millis(300);
        let (a, b) = tokio::join!(
            ra_runner::run_async(&ok, &sb.roots),
            ra_runner::run_async(&slow, &sb.roots)
        );
        let a = a.unwrap();
        assert_eq!((a.rc, a.stdout_str().as_ref()), (0, "hi\n"));
        assert_eq!(b.unwrap().status, OpStatus::TimedOut);
    });
}

#[test]
fn dropping_a_running_op_kills_its_group() {
    let sb = Sandbox::new();
    let pidfile = sleeper(&sb, "Dropped", false);
    let running = spawn(
        &OpRequest::new(AgentSpec::ocf("test", "Dropped").unwrap(), "start"),
        &sb.roots,
    )
    .unwrap();
    let pid = running.pid().unwrap() as i32;
    while !pidfile.exists() || fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let child = read_pid(&pidfile);
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(2);
    while (alive(pid) || alive(child)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid) && !alive(child));
}

#[test]
fn dropping_a_finished_op_leaves_its_daemon_alone() {
    let sb = Sandbox::new();
    let pidfile = sb.path("daemon.pid");
    sb.ocf_agent(
        "test",
        "Starter",
        &format!(
            "#!/bin/sh\nsleep 30 >/dev/null 2>&1 &\necho $! > {}\nexit 0\n",
            pidfile.display()
        ),
    );
    let running = spawn(
        &OpRequest::new(AgentSpec::ocf("test", "Starter").unwrap(), "start"),
        &sb.roots,
    )
    .unwrap();
    let pid = running.pid().unwrap() as i32;
    // Wait for the agent to exit (it stays a zombie until reaped).
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(running);
    let daemon = read_pid(&pidfile);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        alive(daemon),
        "the started daemon was killed by dropping the handle"
    );
    unsafe { libc::kill(daemon, libc::SIGKILL) };
}
