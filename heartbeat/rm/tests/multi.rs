//! Three or more nodes: one deterministic taker, quorum, standby, fencing.

mod common;

use common::{cfg, Cluster};
use hb_config::hacf::AutoFailback;
use hb_rm::{GroupState, RmConfig, Which};

const HARES: &str = "node1 10.0.0.1 httpd\nnode2 10.0.0.2\nnode3 10.0.0.3\n";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

fn three(af: AutoFailback, tweak: fn(&mut RmConfig)) -> Cluster {
    let mut c = Cluster::new(
        &NODES,
        Box::new(move |n| {
            let mut k = cfg(n, &NODES, HARES, af);
            tweak(&mut k);
            k
        }),
    );
    for n in NODES {
        c.start(n);
    }
    c.advance(2_000);
    assert_eq!(c.running("10.0.0.1"), ["node1"]);
    assert_eq!(c.running("10.0.0.2"), ["node2"]);
    assert_eq!(c.running("10.0.0.3"), ["node3"]);
    c
}

#[test]
fn exactly_one_node_takes_a_dead_nodes_groups() {
    let mut c = three(AutoFailback::Off, |_| {});
    for n in NODES {
        c.node(n).take_ops();
    }
    c.crash("node1");
    c.advance(3_000);
    c.declare_dead("node1");
    assert_eq!(
        c.running("10.0.0.1"),
        ["node2"],
        "first live node after node1"
    );
    assert_eq!(
        c.node("node2").take_ops(),
        vec!["Start 10.0.0.1".to_string(), "Start httpd".to_string()]
    );
    assert!(c.node("node3").take_ops().is_empty(), "node3 takes nothing");
    assert!(c
        .node("node2")
        .logs
        .iter()
        .any(|l| l == "Resources being acquired from node1."));
    assert!(c
        .node("node2")
        .sent
        .contains(&"t=stonith node=node1 result=n_stnth".to_string()));
    assert!(!c
        .node("node3")
        .sent
        .iter()
        .any(|m| m.starts_with("t=stonith")));
    // node1 back with auto_failback off: the group stays on node2.
    c.start("node1");
    c.advance(5_000);
    assert_eq!(c.running("10.0.0.1"), ["node2"]);
}

#[test]
fn no_takeover_without_quorum() {
    let mut c = three(AutoFailback::Off, |_| {});
    c.crash("node1");
    c.crash("node2");
    c.advance(3_000);
    c.declare_dead("node1");
    c.declare_dead("node2");
    c.advance(5_000);
    assert!(c.running("10.0.0.1").is_empty());
    assert!(c.running("10.0.0.2").is_empty());
    assert_eq!(
        c.running("10.0.0.3"),
        ["node3"],
        "what it runs keeps running"
    );
    // A second node comes back: quorum again, the orphans are placed.
    c.start("node1");
    c.advance(3_000);
    assert_eq!(c.running("10.0.0.1"), ["node1"]);
    assert_eq!(
        c.running("10.0.0.2"),
        ["node3"],
        "first candidate after node2"
    );
}

#[test]
fn two_node_rule_is_exempt_from_quorum_but_three_nodes_without_quorum_setting_take_over() {
    let mut c = three(AutoFailback::Off, |k| k.quorum = false);
    c.crash("node1");
    c.crash("node2");
    c.advance(3_000);
    c.declare_dead("node1");
    c.declare_dead("node2");
    assert_eq!(c.running("10.0.0.1"), ["node3"]);
    assert_eq!(c.running("10.0.0.2"), ["node3"]);
}

#[test]
fn auto_failback_on_returns_groups_after_restart() {
    let mut c = three(AutoFailback::On, |_| {});
    c.crash("node2");
    c.advance(3_000);
    c.declare_dead("node2");
    assert_eq!(c.running("10.0.0.2"), ["node3"]);
    c.start("node2");
    c.advance(2_000);
    assert_eq!(c.running("10.0.0.2"), ["node2"]);
}

#[test]
fn graceful_shutdown_hands_groups_over_before_deadtime() {
    let mut c = three(AutoFailback::On, |_| {});
    c.shutdown("node3");
    assert_eq!(
        c.running("10.0.0.3"),
        ["node1"],
        "next after node3, cyclically"
    );
    assert!(c
        .node("node3")
        .sent
        .contains(&"t=shutdone st=dead".to_string()));
}

#[test]
fn standby_and_takeover_in_a_three_node_cluster() {
    let mut c = three(AutoFailback::Off, |_| {});
    let now = c.now;
    c.node("node1").rm.request_standby(now, Which::All);
    c.pump();
    assert_eq!(c.running("10.0.0.1"), ["node2"]);
    assert_eq!(c.node("node1").rm.rsc_status(), "none");
    c.node("node1").rm.request_takeover(now, Which::Local);
    c.pump();
    assert_eq!(c.running("10.0.0.1"), ["node1"]);
    assert_eq!(c.running("10.0.0.2"), ["node2"]);
}

#[test]
fn fencing_precedes_takeover_and_is_done_once() {
    let mut c = three(AutoFailback::Off, |k| k.stonith = true);
    c.crash("node1");
    c.advance(3_000);
    c.declare_dead("node1");
    assert_eq!(c.node("node2").fences, ["node1"]);
    assert!(c.node("node3").fences.is_empty());
    assert!(c.running("10.0.0.1").is_empty(), "not before the fence");
    let now = c.now;
    c.node("node2").rm.on_fence_result(now, "node1", true);
    c.pump();
    assert_eq!(c.running("10.0.0.1"), ["node2"]);
    assert!(c
        .node("node2")
        .sent
        .contains(&"t=stonith node=node1 result=OK".to_string()));
}

#[test]
fn better_connected_node_gets_the_groups() {
    let mut c = three(AutoFailback::Off, |k| {
        k.ping_nodes = vec!["gw".into()];
        k.ping_hysteresis_ms = 5_000;
    });
    let now = c.now;
    for n in ["node2", "node3"] {
        c.node(n).rm.on_ping_status(now, "gw", true);
    }
    c.pump();
    c.advance(3_000);
    assert_eq!(c.running("10.0.0.1"), ["node1"], "hysteresis");
    c.advance(3_000);
    assert_eq!(c.running("10.0.0.1"), ["node2"]);
    assert_eq!(
        c.node("node1").rm.group_state("10.0.0.1"),
        Some(GroupState::Stopped)
    );
}

#[test]
fn blocked_group_of_a_dead_node_stays_put_without_stonith() {
    let mut c = three(AutoFailback::Off, |k| k.stop_retries = 1);
    c.auto_ops = false;
    let now = c.now;
    c.node("node1").rm.request_standby(now, Which::All);
    c.pump();
    // httpd's stop fails: the group is blocked on node1.
    let n1 = c.node("node1");
    n1.drain();
    let (id, ..) = n1.ops.pop_front().expect("stop httpd");
    n1.rm
        .on_op_result(now, id, hb_rm::Outcome::Failed(1))
        .expect("op");
    c.pump();
    assert_eq!(
        c.node("node1").rm.group_state("10.0.0.1"),
        Some(GroupState::Blocked)
    );
    c.auto_ops = true;
    c.pump();
    assert!(c.running("10.0.0.1").is_empty());
    c.crash("node1");
    c.advance(3_000);
    c.declare_dead("node1");
    c.advance(5_000);
    assert!(
        c.running("10.0.0.1").is_empty(),
        "may still run on node1: not taken"
    );
    assert_eq!(c.running("10.0.0.2"), ["node2"]);
}
