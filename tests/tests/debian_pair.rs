//! Self-test of the bench with no code of ours: two Debian heartbeat 3.0.6 nodes over
//! bcast see each other, one is killed, the other declares it dead in time, and
//! everything the bench created is gone afterwards.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hb_tests::{authkeys, list_namespaces, procs, HaCf, Medium, Net, Node, NodeSpec};

const KEEPALIVE_S: u64 = 1;
const DEADTIME_S: u64 = 5;

#[test]
fn debian_pair_sees_each_other_and_detects_death() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("[{:>6.2}s] {what}", t0.elapsed().as_secs_f64());
    let net = Net::new(2)?;
    let iface = net.iface(1);
    let ha_cf = HaCf::new()
        .keepalive(&KEEPALIVE_S.to_string())
        .deadtime(&DEADTIME_S.to_string())
        .warntime("3")
        .initdead("10")
        .media(Medium::bcast(iface))
        .nodes(["alpha", "bravo"])
        .render();
    let keys = authkeys(1, "sha1", "bench-self-test");
    let mut alpha = Node::start(&net, 1, NodeSpec::debian("alpha", &ha_cf, &keys))?;
    let mut bravo = Node::start(&net, 2, NodeSpec::debian("bravo", &ha_cf, &keys))?;

    phase("both nodes started");
    // Both directions: each node reports the other active, and its own link to it up.
    for (me, peer) in [(&alpha, "bravo"), (&bravo, "alpha")] {
        me.wait_for(&format!("{peer} active"), Duration::from_secs(30), |n| {
            n.node_status(peer) == "active"
        })?;
        assert_eq!(
            me.cl_status(&["hblinkstatus", peer, iface])?,
            (0, "up".to_owned())
        );
        assert_eq!(
            me.cl_status(&["nodestatus", me.name()])?,
            (0, "active".to_owned())
        );
        let (rc, list) = me.cl_status(&["listnodes"])?;
        assert_eq!(rc, 0);
        let mut names: Vec<&str> = list.lines().collect();
        names.sort_unstable();
        assert_eq!(names, ["alpha", "bravo"]);
    }
    phase("both see each other active");
    // Each node runs with its own hostname and private /run in its own namespaces.
    assert_eq!(
        alpha
            .nsenter(&["hostname"], Duration::from_secs(5))?
            .stdout
            .trim(),
        "alpha"
    );
    assert_eq!(
        bravo
            .nsenter(&["hostname"], Duration::from_secs(5))?
            .stdout
            .trim(),
        "bravo"
    );
    assert!(
        alpha.log().contains("Link bravo:eth0 up"),
        "alpha log:\n{}",
        alpha.log()
    );
    assert!(
        alpha.processes().len() >= 4,
        "master, FIFO reader, bcast read+write"
    );

    // Kill bravo hard: alpha must call it dead after deadtime, not before, not much after.
    let bravo_pids = bravo.processes();
    bravo.kill9()?;
    let killed = Instant::now();
    assert!(
        bravo_pids.iter().all(|&p| !procs::is_alive(p)),
        "bravo left {bravo_pids:?}"
    );
    assert!(!bravo.is_running());
    // Generous: the daemon checks deadtime on its own timer and cl_status polling adds
    // up to a second on a loaded CI machine.
    let slack = Duration::from_secs(8);
    alpha.wait_for("bravo dead", Duration::from_secs(DEADTIME_S) + slack, |n| {
        n.cl_status(&["nodestatus", "bravo"])
            .is_ok_and(|r| r == (1, "dead".to_owned()))
    })?;
    let elapsed = killed.elapsed();
    phase(&format!("bravo declared dead {elapsed:?} after kill"));
    // The last heartbeat left bravo at most one keepalive before the kill.
    let earliest = Duration::from_secs(DEADTIME_S - KEEPALIVE_S) - Duration::from_millis(300);
    assert!(elapsed >= earliest, "declared dead after only {elapsed:?}");
    assert!(
        alpha.log().contains("node bravo: is dead"),
        "alpha log:\n{}",
        alpha.log()
    );
    assert_eq!(
        alpha.cl_status(&["hblinkstatus", "bravo", iface])?,
        (1, "dead".to_owned())
    );

    // Graceful stop of alpha through `heartbeat -k` in its namespaces.
    let alpha_pids = alpha.processes();
    alpha.stop()?;
    assert!(
        alpha.log().contains("Heartbeat shutdown complete"),
        "alpha log:\n{}",
        alpha.log()
    );
    assert!(
        alpha_pids.iter().all(|&p| !procs::is_alive(p)),
        "alpha left {alpha_pids:?}"
    );
    assert_eq!(alpha.cl_status(&["hbstatus"])?.0, 1, "hbstatus after stop");

    phase("alpha stopped");
    // Cleanup: drop everything, then nothing of it may remain.
    let names = net.namespaces();
    let dirs: Vec<PathBuf> = [&alpha, &bravo]
        .iter()
        .map(|n| n.dir().to_path_buf())
        .collect();
    drop(alpha);
    drop(bravo);
    drop(net);
    let left = list_namespaces()?;
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "namespaces left: {left:?}"
    );
    assert!(dirs.iter().all(|d| !d.exists()), "node dirs left: {dirs:?}");
    phase("cleaned up");
    Ok(())
}

#[test]
fn cleanup_on_panic_kills_nodes_and_namespaces() {
    if !hb_tests::require_debian() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let net = Net::new(1).expect("net");
        let ha_cf = HaCf::new()
            .media(Medium::bcast(net.iface(1)))
            .nodes(["solo"])
            .render();
        let node = Node::start(
            &net,
            1,
            NodeSpec::debian("solo", &ha_cf, &authkeys(1, "crc", "")),
        )
        .expect("start");
        node.wait_for("solo running", Duration::from_secs(30), |n| {
            n.cl_status(&["hbstatus"]).is_ok_and(|(rc, _)| rc == 0)
        })
        .expect("running");
        tx.send((net.namespaces(), node.processes())).expect("send");
        panic!("deliberate panic to exercise Drop");
    })
    .join();
    assert!(result.is_err(), "the thread should have panicked");
    let (names, pids) = rx.recv().expect("state from the panicking thread");
    assert!(pids.len() >= 4, "solo had processes {pids:?}");
    assert!(
        pids.iter().all(|&p| !procs::is_alive(p)),
        "left after panic: {pids:?}"
    );
    let left = list_namespaces().expect("ip netns list");
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "namespaces left: {left:?}"
    );
}

fn generation(node: &Node) -> u64 {
    let text = std::fs::read_to_string(node.varlib_dir().join("hb_generation")).unwrap_or_default();
    text.trim().parse().unwrap_or(0)
}

/// Heartbeat 3.0.6 in R1 mode negotiates resources for a while after start-up; a
/// restart inside that window confuses the peer ("Received 'starting' message in state
/// 2") and shutdown is "delayed until current resource activity finishes" for good.
const SETTLED: &str = "Initial resource acquisition complete";

#[test]
fn debian_restarts_keep_state_and_are_seen_by_the_peer() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    let net = Net::new(2)?;
    let ha_cf = HaCf::new()
        .media(Medium::bcast(net.iface(1)))
        .nodes(["alpha", "bravo"])
        .render();
    let keys = authkeys(2, "md5", "restart-test");
    let alpha = Node::start(&net, 1, NodeSpec::debian("alpha", &ha_cf, &keys))?;
    let mut bravo = Node::start(&net, 2, NodeSpec::debian("bravo", &ha_cf, &keys))?;
    let active = |n: &Node| n.node_status("bravo") == "active";
    alpha.wait_for("bravo active", Duration::from_secs(30), active)?;
    bravo.wait_log(SETTLED, Duration::from_secs(40))?;
    let gen1 = generation(&bravo);
    assert!(gen1 > 0, "bravo wrote hb_generation");

    // Crash and come back within deadtime: a restart, with a higher generation kept in
    // bravo's private /var/lib/heartbeat.
    let old_pid = bravo.pid();
    let (alpha_mark, bravo_mark) = (alpha.log_len(), bravo.log_len());
    bravo.kill9()?;
    bravo.start_again()?;
    assert_ne!(bravo.pid(), old_pid);
    alpha.wait_log_after(
        alpha_mark,
        "Heartbeat restart on node bravo",
        Duration::from_secs(30),
    )?;
    alpha.wait_for("bravo active again", Duration::from_secs(30), active)?;
    bravo.wait_log_after(bravo_mark, SETTLED, Duration::from_secs(40))?;
    let gen2 = generation(&bravo);
    assert!(gen2 > gen1, "generation {gen1} -> {gen2}");

    // Graceful restart: alpha hears the shutdown notice, then bravo rejoins.
    let alpha_mark = alpha.log_len();
    bravo.restart()?;
    alpha.wait_log_after(
        alpha_mark,
        "Received shutdown notice from 'bravo'",
        Duration::from_secs(10),
    )?;
    // cl_status may still say "active" right after the notice, so look for the new
    // instance's own status change in the log instead.
    alpha.wait_log_after(
        alpha_mark,
        "Status update for node bravo: status active",
        Duration::from_secs(30),
    )?;
    assert_eq!(alpha.node_status("bravo"), "active");
    assert!(generation(&bravo) > gen2);
    Ok(())
}
