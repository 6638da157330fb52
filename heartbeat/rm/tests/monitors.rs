//! Per-resource monitor settings (the daemon fills them from /etc/ha.d/monitors):
//! intervals, disabled monitors and restart limits counted per resource.

mod common;

use common::{cfg, Cluster, TUTORIAL, VIP};
use hb_config::hacf::AutoFailback;
use hb_rm::{GroupState, MonitorSpec, OpKind, Outcome, RestartSpec, RmConfig};

/// Index of httpd in the tutorial group (the VIP is 0).
const HTTPD: usize = 1;

/// node1 runs the tutorial group, node2 is up; ops are left to the test.
fn two(tweak: fn(&mut RmConfig)) -> Cluster {
    let mut c = Cluster::new(
        &["node1", "node2"],
        Box::new(move |n| {
            let mut k = cfg(n, &["node1", "node2"], TUTORIAL, AutoFailback::Off);
            k.monitor.interval_ms = 1_000;
            tweak(&mut k);
            k
        }),
    );
    c.start("node1");
    c.start("node2");
    c.advance(2_000);
    assert_eq!(c.running(VIP), ["node1"]);
    c.auto_ops = false;
    c
}

/// Advances time until node1 asks for a monitor of resource `idx`, completing
/// every other operation with success; returns the monitor's op id.
fn until_monitor(c: &mut Cluster, idx: usize) -> u64 {
    for _ in 0..600 {
        c.advance(100);
        let now = c.now;
        let n1 = c.node("node1");
        n1.drain();
        while let Some((id, _, i, kind)) = n1.ops.pop_front() {
            if kind == OpKind::Monitor && i == idx {
                return id;
            }
            n1.rm.on_op_result(now, id, Outcome::Ok).expect("op");
            n1.drain();
        }
    }
    panic!("resource {idx} never monitored");
}

/// Reports the monitor `id` failed and completes what node1 does about it;
/// returns the operations it ran (`Stop httpd`, `Start httpd`, ...).
fn fail_monitor(c: &mut Cluster, id: u64) -> Vec<String> {
    let now = c.now;
    let n1 = c.node("node1");
    n1.take_ops();
    n1.rm
        .on_op_result(now, id, Outcome::NotRunning)
        .expect("op");
    n1.drain();
    while let Some((id, ..)) = n1.ops.pop_front() {
        n1.rm.on_op_result(now, id, Outcome::Ok).expect("op");
        n1.drain();
    }
    n1.take_ops()
}

fn restarted_in_place(ops: &[String], what: &str) {
    assert!(
        ops.iter().any(|o| o == &format!("Stop {what}"))
            && ops.iter().any(|o| o == &format!("Start {what}")),
        "{what} not restarted: {ops:?}"
    );
}

fn failed_over(mut c: Cluster) {
    c.auto_ops = true;
    c.pump();
    c.advance(500);
    assert_eq!(c.running(VIP), ["node2"]);
    assert_eq!(
        c.node("node1").rm.group_state(VIP),
        Some(GroupState::Failed)
    );
    assert!(c
        .node("node1")
        .logs
        .iter()
        .any(|l| l.contains("restart limit reached")));
}

#[test]
fn a_resource_limit_overrides_the_default() {
    // The default would repair httpd three times; its own limit allows one.
    let mut c = two(|k| {
        k.restart_overrides.insert(
            "httpd".into(),
            RestartSpec {
                limit: 1,
                window_ms: 600_000,
            },
        );
    });
    let id = until_monitor(&mut c, HTTPD);
    let ops = fail_monitor(&mut c, id);
    restarted_in_place(&ops, "httpd");
    assert!(!ops.iter().any(|o| o.contains(VIP)), "{ops:?}");
    assert_eq!(
        c.node("node1").rm.group_state(VIP),
        Some(GroupState::Running)
    );
    let id = until_monitor(&mut c, HTTPD);
    fail_monitor(&mut c, id);
    failed_over(c);
}

#[test]
fn restarts_older_than_the_window_are_forgotten() {
    let mut c = two(|k| {
        k.restart_overrides.insert(
            "httpd".into(),
            RestartSpec {
                limit: 1,
                window_ms: 3_000,
            },
        );
    });
    for _ in 0..3 {
        let id = until_monitor(&mut c, HTTPD);
        let ops = fail_monitor(&mut c, id);
        restarted_in_place(&ops, "httpd");
        // Past the window before the next failure.
        c.advance(3_500);
    }
    assert_eq!(c.running(VIP), ["node1"]);
    // Two failures inside the window: the second one fails the group over.
    let id = until_monitor(&mut c, HTTPD);
    fail_monitor(&mut c, id);
    let id = until_monitor(&mut c, HTTPD);
    fail_monitor(&mut c, id);
    failed_over(c);
}

#[test]
fn each_resource_counts_its_own_repairs() {
    let mut c = two(|k| k.restart_limit = 1);
    // The VIP's one repair restarts the whole group from the VIP...
    let id = until_monitor(&mut c, 0);
    let ops = fail_monitor(&mut c, id);
    restarted_in_place(&ops, VIP);
    restarted_in_place(&ops, "httpd");
    // ...and does not use up httpd's.
    let id = until_monitor(&mut c, HTTPD);
    let ops = fail_monitor(&mut c, id);
    restarted_in_place(&ops, "httpd");
    assert_eq!(c.running(VIP), ["node1"]);
    let id = until_monitor(&mut c, HTTPD);
    fail_monitor(&mut c, id);
    failed_over(c);
}

#[test]
fn the_resource_text_wins_over_its_script_name() {
    let mut c = Cluster::new(
        &["node1", "node2"],
        Box::new(|n| {
            let mut k = cfg(n, &["node1", "node2"], TUTORIAL, AutoFailback::Off);
            k.monitor.interval_ms = 1_000;
            k.restart_overrides.insert(
                "IPaddr".into(),
                RestartSpec {
                    limit: 5,
                    window_ms: 600_000,
                },
            );
            k.restart_overrides.insert(
                VIP.into(),
                RestartSpec {
                    limit: 0,
                    window_ms: 600_000,
                },
            );
            k
        }),
    );
    c.start("node1");
    c.start("node2");
    c.advance(2_000);
    c.auto_ops = false;
    // Limit 0: the first failed monitor fails the group over, no repair.
    let id = until_monitor(&mut c, 0);
    let ops = fail_monitor(&mut c, id);
    assert!(!ops.iter().any(|o| o.starts_with("Start")), "{ops:?}");
    failed_over(c);
}

#[test]
fn interval_zero_disables_monitoring_of_that_resource() {
    let mut c = two(|k| {
        k.monitor_overrides.insert(
            "httpd".into(),
            MonitorSpec {
                interval_ms: 0,
                timeout_ms: 5_000,
            },
        );
    });
    let mut monitored = [0u32; 2];
    for _ in 0..60 {
        c.advance(100);
        let now = c.now;
        let n1 = c.node("node1");
        n1.drain();
        while let Some((id, _, i, kind)) = n1.ops.pop_front() {
            assert_eq!(kind, OpKind::Monitor);
            monitored[i] += 1;
            n1.rm.on_op_result(now, id, Outcome::Ok).expect("op");
            n1.drain();
        }
    }
    assert!(monitored[0] >= 4, "VIP monitored {} times", monitored[0]);
    assert_eq!(monitored[HTTPD], 0, "httpd is not to be monitored");
}
