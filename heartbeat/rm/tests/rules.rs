//! One test per rule of the resource manager.

mod common;

use common::{cfg, msg, Cluster, Node, TUTORIAL, VIP};
use hb_config::hacf::AutoFailback;
use hb_rm::{Action, GroupState, OpKind, Outcome, ResourceManager, RmConfig, RmError, Which};

fn two(af: AutoFailback, tweak: fn(&mut RmConfig)) -> Cluster {
    let mut c = Cluster::new(
        &["node1", "node2"],
        Box::new(move |n| {
            let mut k = cfg(n, &["node1", "node2"], TUTORIAL, af);
            tweak(&mut k);
            k
        }),
    );
    c.start("node1");
    c.start("node2");
    c.advance(2_000);
    assert_eq!(c.running(VIP), ["node1"]);
    c
}

/// A lone node (peer declared dead at initdead) holding the tutorial group,
/// with ops left for the test to complete.
fn lone_node1(tweak: fn(&mut RmConfig)) -> Node {
    let mut k = cfg("node1", &["node1", "node2"], TUTORIAL, AutoFailback::On);
    tweak(&mut k);
    let mut n = Node::new(k, 0);
    n.rm.on_comm_up(0);
    n.loopback(0);
    n.rm.on_node_status(3_000, "node2", "dead");
    n.settle(3_000);
    // rqst_delay later the resource state is stable.
    n.rm.tick(4_000);
    n.settle(4_000);
    assert_eq!(n.rm.rsc_status(), "all");
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Running));
    n.take_ops();
    n.take_sent();
    n
}

fn next_op(n: &mut Node) -> (u64, OpKind, usize) {
    n.drain();
    let (id, _, idx, kind) = n.ops.pop_front().expect("an op was asked for");
    (id, kind, idx)
}

#[test]
fn config_errors_are_reported() {
    let k = cfg("node9", &["node1", "node2"], TUTORIAL, AutoFailback::On);
    assert_eq!(
        ResourceManager::new(k, 0).err(),
        Some(RmError::LocalNotANode("node9".into()))
    );
    let mut k = cfg("node1", &["node1", "node2"], "node1 a\n", AutoFailback::On);
    let mut dup = common::groups("node2 a b\n");
    dup[0].line = 2;
    k.groups.extend(dup);
    assert!(matches!(
        ResourceManager::new(k, 0).err(),
        Some(RmError::DuplicateKey { line: 2, .. })
    ));
    let mut n = lone_node1(|_| {});
    assert_eq!(
        n.rm.on_op_result(0, 999, Outcome::Ok),
        Err(RmError::UnknownOp(999))
    );
}

#[test]
fn groups_start_left_to_right_one_op_at_a_time_and_stop_right_to_left() {
    let mut k = cfg(
        "node1",
        &["node1", "node2"],
        "node1 a b c\n",
        AutoFailback::On,
    );
    k.monitor.interval_ms = 0;
    let mut n = Node::new(k, 0);
    n.rm.on_comm_up(0);
    n.loopback(0);
    n.rm.on_node_status(0, "node2", "dead");
    n.loopback(0);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (id, kind, idx) = next_op(&mut n);
        assert!(n.ops.is_empty(), "one op at a time per group");
        assert_eq!(n.rm.group_state("a"), Some(GroupState::Starting));
        seen.push((kind, idx));
        n.rm.on_op_result(0, id, Outcome::Ok).expect("known");
        n.loopback(0);
    }
    assert_eq!(
        seen,
        [(OpKind::Start, 0), (OpKind::Start, 1), (OpKind::Start, 2)]
    );
    assert_eq!(n.rm.group_state("a"), Some(GroupState::Running));
    n.rm.tick(1_000);
    n.rm.shutdown(1_000);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (id, kind, idx) = next_op(&mut n);
        assert_eq!(n.rm.group_state("a"), Some(GroupState::Stopping));
        seen.push((kind, idx));
        n.rm.on_op_result(0, id, Outcome::Ok).expect("known");
        n.loopback(0);
    }
    assert_eq!(
        seen,
        [(OpKind::Stop, 2), (OpKind::Stop, 1), (OpKind::Stop, 0)]
    );
    assert!(n.shutdown_complete);
    assert_eq!(n.rm.group_state("a"), Some(GroupState::Stopped));
}

#[test]
fn failed_start_releases_the_group_to_the_peer() {
    let mut c = two(AutoFailback::On, |_| {});
    // Restart node1's group elsewhere: node1 standby, then node2 fails to
    // start it, so node2 asks node1 to take its foreign groups back.
    c.auto_ops = false;
    let now = c.now;
    c.node("node1").rm.request_standby(now, Which::All);
    c.pump();
    // node1 releases: stop httpd, stop VIP.
    for _ in 0..2 {
        let (id, kind, _) = next_op(c.node("node1"));
        assert_eq!(kind, OpKind::Stop);
        c.node("node1")
            .rm
            .on_op_result(now, id, Outcome::Ok)
            .expect("op");
        c.pump();
    }
    // node2 starts VIP fine, httpd fails.
    let (id, kind, idx) = next_op(c.node("node2"));
    assert_eq!((kind, idx), (OpKind::Start, 0));
    c.node("node2")
        .rm
        .on_op_result(now, id, Outcome::Ok)
        .expect("op");
    c.pump();
    let (id, kind, idx) = next_op(c.node("node2"));
    assert_eq!((kind, idx), (OpKind::Start, 1));
    c.node("node2")
        .rm
        .on_op_result(now, id, Outcome::Failed(1))
        .expect("op");
    c.pump();
    // Released: the failed resource and what started before it are stopped.
    let (id, kind, idx) = next_op(c.node("node2"));
    assert_eq!((kind, idx), (OpKind::Stop, 1));
    c.node("node2")
        .rm
        .on_op_result(now, id, Outcome::Ok)
        .expect("op");
    c.pump();
    let (id, kind, idx) = next_op(c.node("node2"));
    assert_eq!((kind, idx), (OpKind::Stop, 0));
    c.node("node2")
        .rm
        .on_op_result(now, id, Outcome::Ok)
        .expect("op");
    c.auto_ops = true;
    c.pump();
    assert_eq!(
        c.node("node2").rm.group_state(VIP),
        Some(GroupState::Failed)
    );
    let sent = c.node("node2").sent.clone();
    assert!(
        sent.contains(&"t=ask_resources rsc_hold=foreign info=me".to_string()),
        "{sent:?}"
    );
    let g = c.node("node2").rm.groups();
    assert_eq!(g[0].failures, 1);
    assert_eq!(c.running(VIP), ["node1"], "node1 took it back");
}

/// Runs node1 until httpd's monitor is asked for, answering the VIP's
/// monitors with success; returns the httpd monitor's op id.
fn until_httpd_monitor(c: &mut Cluster) -> u64 {
    for _ in 0..100 {
        c.advance(100);
        let now = c.now;
        let n1 = c.node("node1");
        n1.drain();
        while let Some((id, _, idx, kind)) = n1.ops.pop_front() {
            assert_eq!(kind, OpKind::Monitor);
            if idx == 1 {
                return id;
            }
            n1.rm.on_op_result(now, id, Outcome::Ok).expect("op");
            n1.drain();
        }
    }
    panic!("httpd never monitored");
}

#[test]
fn failed_monitor_restarts_in_place_then_fails_over() {
    let mut c = two(AutoFailback::Off, |k| {
        k.monitor.interval_ms = 1_000;
        k.restart_limit = 2;
    });
    c.auto_ops = false;
    for round in 0..3 {
        let id = until_httpd_monitor(&mut c);
        let now = c.now;
        let n1 = c.node("node1");
        n1.rm
            .on_op_result(now, id, Outcome::NotRunning)
            .expect("op");
        n1.drain();
        assert_eq!(n1.rm.groups()[0].failures, round + 1);
        if round < 2 {
            // Restart in place: stop httpd, start httpd; the VIP is untouched.
            let (id, kind, idx) = next_op(n1);
            assert_eq!((kind, idx), (OpKind::Stop, 1));
            assert_eq!(n1.rm.group_state(VIP), Some(GroupState::Starting));
            n1.rm.on_op_result(now, id, Outcome::Ok).expect("op");
            let (id, kind, idx) = next_op(n1);
            assert_eq!((kind, idx), (OpKind::Start, 1));
            n1.rm.on_op_result(now, id, Outcome::Ok).expect("op");
            n1.drain();
            assert!(n1.ops.is_empty());
            assert_eq!(n1.rm.group_state(VIP), Some(GroupState::Running));
        }
    }
    // Limit reached: the whole group is released and node2 takes it.
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
fn failed_stop_blocks_the_group_and_halts_shutdown() {
    let mut n = lone_node1(|k| {
        k.stop_retries = 2;
        k.stop_retry_delay_ms = 1_000;
    });
    n.rm.shutdown(5_000);
    n.loopback(5_000);
    let (id, kind, idx) = next_op(&mut n);
    assert_eq!((kind, idx), (OpKind::Stop, 1));
    n.rm.on_op_result(5_000, id, Outcome::Failed(1))
        .expect("op");
    n.drain();
    assert!(n.ops.is_empty(), "retry only after the delay");
    n.rm.tick(6_000);
    let (id, kind, idx) = next_op(&mut n);
    assert_eq!((kind, idx), (OpKind::Stop, 1));
    n.rm.on_op_result(6_000, id, Outcome::TimedOut).expect("op");
    n.loopback(6_000);
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Blocked));
    assert!(
        n.ops.is_empty(),
        "the VIP is not stopped under a running httpd"
    );
    assert!(!n.shutdown_complete, "shutdone would let the peer start it");
    assert!(n.logs.iter().any(|l| l.contains("Resource STOP failure")));
    assert!(n.logs.iter().any(|l| l.contains("shutdown halted")));
}

#[test]
fn blocked_group_of_a_dead_peer_is_not_taken_without_fencing() {
    let make = |stonith: bool| -> Node {
        let mut k = cfg("node2", &["node1", "node2"], TUTORIAL, AutoFailback::On);
        k.stonith = stonith;
        let mut n = Node::new(k, 0);
        n.rm.on_node_status(0, "node1", "active");
        n.rm.on_comm_up(0);
        n.loopback(0);
        n.deliver(
            0,
            &msg(
                "node1",
                &[
                    ("t", "resource"),
                    ("rsc_hold", "local"),
                    ("rtype", "full"),
                    ("isstable", "1"),
                ],
            ),
        );
        n.settle(0);
        // node1's extension report: its group is blocked there.
        n.deliver(
            0,
            &msg(
                "node1",
                &[("t", "hb_rsc_state"), ("held", VIP), ("blocked", VIP)],
            ),
        );
        n.take_sent();
        n.rm.on_node_status(5_000, "node1", "dead");
        n.settle(5_000);
        n
    };
    let mut n = make(false);
    assert!(n.take_ops().is_empty(), "blocked: never started elsewhere");
    assert!(n.logs.iter().any(|l| l.contains("blocked on node1")));
    assert_eq!(n.take_sent()[0], "t=stonith node=node1 result=n_stnth");

    let mut n = make(true);
    assert_eq!(n.fences, ["node1"], "fence before takeover");
    assert!(n.take_ops().is_empty());
    n.rm.on_fence_result(6_000, "node1", false);
    n.drain();
    assert!(
        n.take_ops().is_empty(),
        "failed fencing: retry, no takeover"
    );
    n.rm.tick(11_000);
    n.drain();
    assert_eq!(n.fences, ["node1", "node1"], "retried after 5 s");
    n.rm.on_fence_result(11_500, "node1", true);
    n.settle(11_500);
    assert_eq!(
        n.take_ops(),
        vec![format!("Start {VIP}"), "Start httpd".to_string()]
    );
    let sent = n.take_sent();
    assert_eq!(sent[0], "t=stonith node=node1 result=OK");
    assert!(sent.contains(&"t=resource rsc_hold=foreign info=mach_down".to_string()));
}

#[test]
fn standby_and_takeover_move_groups_both_ways() {
    let mut c = two(AutoFailback::Off, |_| {});
    let now = c.now;
    c.node("node1").rm.request_standby(now, Which::Local);
    c.pump();
    assert_eq!(c.running(VIP), ["node2"]);
    let sent = c.node("node1").sent.clone();
    let from = sent
        .iter()
        .position(|m| m == "t=ask_resources rsc_hold=local info=me")
        .expect("hb_standby sent");
    assert_eq!(
        sent[from..].to_vec(),
        vec![
            "t=ask_resources rsc_hold=local info=me",
            "t=resource rsc_hold=none rtype=full isstable=0 info=standby",
            "t=ask_resources rsc_hold=local info=done",
            // one when node2's done arrives, one when node2 says it is stable
            "t=resource rsc_hold=none rtype=full isstable=1",
            "t=resource rsc_hold=none rtype=full isstable=1",
        ]
    );
    assert_eq!(c.node("node2").rm.rsc_status(), "all");
    // hb_takeover local on node1: node2 goes standby [foreign].
    c.node("node1").rm.request_takeover(now, Which::Local);
    c.pump();
    assert!(c
        .node("node1")
        .sent
        .contains(&"t=hb_takeover rsc_hold=local".to_string()));
    assert!(c
        .node("node2")
        .sent
        .contains(&"t=ask_resources rsc_hold=foreign info=me".to_string()));
    assert_eq!(c.running(VIP), ["node1"]);
    assert_eq!(c.node("node1").rm.rsc_status(), "local");
}

#[test]
fn standby_without_reply_is_cancelled() {
    let mut n = lone_node1(|_| {});
    n.rm.request_standby(4_000, Which::All);
    n.loopback(4_000);
    assert_eq!(n.rm.rsc_status(), "transition");
    n.rm.tick(14_001);
    n.drain();
    assert!(n
        .logs
        .iter()
        .any(|l| l == "No reply to standby request.  Standby request cancelled."));
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Running));
    assert_eq!(n.rm.rsc_status(), "all");
}

#[test]
fn legacy_ip_request_for_a_group_we_do_not_run() {
    let k = cfg("node2", &["node1", "node2"], TUTORIAL, AutoFailback::Legacy);
    let mut n = Node::new(k, 0);
    n.rm.on_node_status(0, "node1", "active");
    n.rm.on_comm_up(0);
    n.loopback(0);
    n.deliver(0, &msg("node1", &[("t", "ip-request"), ("ipaddr", VIP)]));
    assert_eq!(
        n.take_sent(),
        vec![format!(
            "t=ip-request-resp dest=node1 ipaddr={VIP} weown=no ok=OK"
        )]
    );
    // A grant addressed to someone else is ignored.
    n.deliver(
        0,
        &msg(
            "node1",
            &[
                ("t", "ip-request-resp"),
                ("dest", "node1"),
                ("ipaddr", VIP),
                ("weown", "yes"),
                ("ok", "OK"),
            ],
        ),
    );
    assert!(n.take_ops().is_empty());
    // hb_standby is not supported in legacy mode.
    n.rm.request_standby(0, Which::All);
    n.loopback(0);
    assert!(n
        .logs
        .iter()
        .any(|l| l == "Standby mode only implemented when nice_failback on"));
}

#[test]
fn malformed_messages_are_ignored() {
    let mut n = lone_node1(|_| {});
    for m in [
        msg("node2", &[("t", "resource")]),
        msg(
            "node2",
            &[("t", "resource"), ("rsc_hold", "bogus"), ("rtype", "full")],
        ),
        msg("node2", &[("t", "ask_resources")]),
        msg("nodeX", &[("t", "starting")]),
        msg("node2", &[("t", "ip-request")]),
        hb_wire::Msg::with_type("starting"),
    ] {
        n.deliver(4_000, &m);
    }
    assert!(n.take_ops().is_empty());
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Running));
}

#[test]
fn ping_connectivity_moves_groups_after_hysteresis() {
    let mut c = two(AutoFailback::Off, |k| {
        k.ping_nodes = vec!["gw1".into(), "gw2".into()];
        k.ping_hysteresis_ms = 6_000;
    });
    for n in ["node1", "node2"] {
        let now = c.now;
        c.node(n).rm.on_node_status(now, "gw1", "ping");
        c.node(n).rm.on_node_status(now, "gw2", "ping");
    }
    c.pump();
    // node1 loses gw2; node2 still reaches both.
    let now = c.now;
    c.node("node1").rm.on_node_status(now, "gw2", "dead");
    c.pump();
    assert_eq!(c.node("node1").rm.ping_count(), 1);
    c.advance(4_000);
    assert_eq!(c.running(VIP), ["node1"], "not before the hysteresis");
    // Flap: back up, down again -> the timer restarts.
    let now = c.now;
    c.node("node1").rm.on_node_status(now, "gw2", "ping");
    c.pump();
    c.node("node1").rm.on_node_status(now, "gw2", "dead");
    c.pump();
    c.advance(4_000);
    assert_eq!(c.running(VIP), ["node1"], "flapping does not move it");
    c.advance(3_000);
    assert_eq!(
        c.running(VIP),
        ["node2"],
        "moved to the better-connected node"
    );
}

#[test]
fn rsc_status_reports_transition_while_starting() {
    let k = cfg("node1", &["node1", "node2"], TUTORIAL, AutoFailback::On);
    let mut n = Node::new(k, 0);
    assert_eq!(n.rm.rsc_status(), "transition");
    n.rm.on_comm_up(0);
    n.loopback(0);
    n.rm.on_node_status(0, "node2", "dead");
    n.loopback(0);
    assert_eq!(n.rm.rsc_status(), "transition");
    n.settle(0);
    assert_eq!(n.rm.rsc_status(), "transition", "rqst_delay not over");
    n.rm.tick(1_000);
    assert_eq!(n.rm.rsc_status(), "all");
    let v = n.rm.groups();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].key, VIP);
    assert_eq!(v[0].holder.as_deref(), Some("node1"));
    assert_eq!(v[0].state, GroupState::Running);
}

#[test]
fn actions_carry_resource_and_timeouts() {
    let mut k = cfg("node1", &["node1", "node2"], TUTORIAL, AutoFailback::On);
    k.monitor.interval_ms = 1_000;
    k.monitor_overrides.insert(
        "httpd".into(),
        hb_rm::MonitorSpec {
            interval_ms: 5_000,
            timeout_ms: 7_000,
        },
    );
    let mut rm = ResourceManager::new(k, 0).expect("cfg");
    rm.on_comm_up(0);
    rm.on_node_status(0, "node2", "dead");
    let mut ops = Vec::new();
    let mut now = 0;
    while now < 6_000 {
        while let Some(a) = rm.poll_action() {
            if let Action::Op {
                id,
                resource,
                op,
                timeout_ms,
                ..
            } = a
            {
                ops.push((op, resource.to_string(), timeout_ms, now));
                let _ = rm.on_op_result(now, id, Outcome::Ok);
            }
        }
        now += 500;
        rm.tick(now);
    }
    let httpd_monitors: Vec<_> = ops
        .iter()
        .filter(|o| o.0 == OpKind::Monitor && o.1 == "httpd")
        .collect();
    assert_eq!(httpd_monitors.len(), 1, "{ops:?}");
    assert_eq!(httpd_monitors[0].2, 7_000);
    // Due at 5 s; the VIP's monitor (same group, one op at a time) goes first.
    assert!((5_000..=5_500).contains(&httpd_monitors[0].3), "{ops:?}");
    let vip_monitors = ops
        .iter()
        .filter(|o| o.0 == OpKind::Monitor && o.1 == VIP)
        .count();
    assert!(vip_monitors >= 4, "{ops:?}");
}

#[test]
fn lone_node_becomes_stable_and_can_shut_down() {
    use hb_config::haresources::parse as parse_haresources;
    let groups = parse_haresources("solo Dummy::a\n", std::path::Path::new("haresources")).unwrap();
    let cfg = hb_rm::RmConfig::new(
        "solo".into(),
        vec!["solo".into()],
        groups,
        hb_config::hacf::AutoFailback::On,
    );
    let mut rm = hb_rm::ResourceManager::new(cfg, 0).unwrap();
    rm.on_comm_up(0);
    let mut started = None;
    let mut sent = Vec::new();
    while let Some(a) = rm.poll_action() {
        match a {
            hb_rm::Action::Op {
                id,
                op: hb_rm::OpKind::Start,
                ..
            } => started = Some(id),
            hb_rm::Action::Send(m) => sent.push(m.msg_type().unwrap_or_default().to_string()),
            _ => {}
        }
    }
    let id = started.expect("a lone node starts its own group");
    assert!(sent.contains(&"starting".to_string()), "{sent:?}");
    rm.on_op_result(10, id, hb_rm::Outcome::Ok).unwrap();
    rm.tick(20);
    while rm.poll_action().is_some() {}
    assert_eq!(rm.rsc_status(), "local");
    rm.shutdown(30);
    let mut stop = None;
    while let Some(a) = rm.poll_action() {
        if let hb_rm::Action::Op {
            id,
            op: hb_rm::OpKind::Stop,
            ..
        } = a
        {
            stop = Some(id);
        }
    }
    let stop = stop.expect("shutdown stops the group instead of waiting");
    rm.on_op_result(40, stop, hb_rm::Outcome::Ok).unwrap();
    let mut done = false;
    for t in [50, 60, 70] {
        rm.tick(t);
        while let Some(a) = rm.poll_action() {
            done |= matches!(a, hb_rm::Action::ShutdownComplete);
        }
    }
    assert!(done, "shutdown completes");
}

/// node1 prefers A, node2 prefers B; a link cut makes each see the other dead
/// while both run a group: both need a fence, and only node1 (first in ha.cf)
/// may shoot at once, or both would die.
#[test]
fn split_with_groups_on_both_sides_lets_the_first_node_fence_first() {
    let hares = "node1 10.0.0.1\nnode2 10.0.0.2\n";
    let mut c = Cluster::new(
        &["node1", "node2"],
        Box::new(move |n| {
            let mut k = cfg(n, &["node1", "node2"], hares, AutoFailback::On);
            k.stonith = true;
            k.fence_delay_ms = 3_000;
            k
        }),
    );
    c.start("node1");
    c.start("node2");
    c.advance(2_000);
    assert_eq!(c.running("10.0.0.1"), ["node1"]);
    assert_eq!(c.running("10.0.0.2"), ["node2"]);

    // The split: statuses change on each side, nothing crosses any more.
    let t = c.now;
    for (me, other) in [("node1", "node2"), ("node2", "node1")] {
        let n = c.node(me);
        n.rm.on_node_status(t, other, "dead");
        n.drain();
    }
    assert_eq!(
        c.node("node1").fences,
        ["node2"],
        "first node fences at once"
    );
    assert!(c.node("node2").fences.is_empty(), "second node waits");
    assert!(c
        .node("node2")
        .logs
        .iter()
        .any(|l| l.contains("Delaying STONITH of node1 by 3000 ms")));
    c.node("node2").rm.tick(t + 2_900);
    c.node("node2").drain();
    assert!(c.node("node2").fences.is_empty(), "not before the delay");
    // Had node1 been really dead, node2 fences it once the delay is over.
    c.node("node2").rm.tick(t + 3_000);
    c.node("node2").drain();
    assert_eq!(c.node("node2").fences, ["node1"]);
}

#[test]
fn a_node_that_comes_back_cancels_a_pending_fence() {
    let mut k = cfg("node2", &["node1", "node2"], TUTORIAL, AutoFailback::On);
    k.stonith = true;
    let mut n = Node::new(k, 0);
    n.rm.on_node_status(0, "node1", "active");
    n.rm.on_comm_up(0);
    n.deliver(
        0,
        &msg(
            "node1",
            &[
                ("t", "resource"),
                ("rsc_hold", "local"),
                ("rtype", "full"),
                ("isstable", "1"),
            ],
        ),
    );
    n.settle(0);
    n.rm.on_node_status(5_000, "node1", "dead");
    n.drain();
    assert_eq!(n.fences, ["node1"]);
    n.rm.on_fence_result(6_000, "node1", false);
    n.drain();
    assert!(n.logs.iter().any(|l| l.contains("STONITH of node1 failed")));
    // The link heals before the 5 s retry: the retry is dropped.
    n.rm.on_node_status(8_000, "node1", "active");
    n.drain();
    assert!(n
        .logs
        .iter()
        .any(|l| l.contains("pending STONITH cancelled")));
    n.rm.tick(12_000);
    n.drain();
    assert_eq!(
        n.fences,
        ["node1"],
        "no second fence after the node came back"
    );
    assert!(n.take_ops().is_empty(), "and no takeover");
}

/// The tutorial split: node1 runs the group, node2 nothing. Only node2 fences.
#[test]
fn split_where_only_the_owner_holds_groups_fences_from_the_idle_side_only() {
    let mut c = Cluster::new(
        &["node1", "node2"],
        Box::new(|n| {
            let mut k = cfg(n, &["node1", "node2"], TUTORIAL, AutoFailback::On);
            k.stonith = true;
            k.fence_delay_ms = 3_000;
            k
        }),
    );
    c.start("node1");
    c.start("node2");
    c.advance(2_000);
    assert_eq!(c.running(VIP), ["node1"]);
    let t = c.now;
    for (me, other) in [("node1", "node2"), ("node2", "node1")] {
        let n = c.node(me);
        n.rm.on_node_status(t, other, "dead");
        n.drain();
    }
    let sent2 = c.node("node2").sent.clone();
    assert!(
        c.node("node1").fences.is_empty(),
        "node1 fenced idle node2: {:?} / node2 sent {sent2:?}",
        c.node("node1").logs,
    );
    assert_eq!(c.node("node2").fences, ["node1"]);
}

/// Both nodes start together (the cold start): each takes its own groups as soon
/// as the other's report shows it holds none of them, not RQSTDELAY later.
#[test]
fn cold_start_takes_own_groups_without_waiting_for_the_request_delay() {
    let hares = "node1 10.0.0.1\nnode2 10.0.0.2\n";
    let mut n: Vec<Node> = ["node1", "node2"]
        .iter()
        .map(|me| {
            let mut k = cfg(me, &["node1", "node2"], hares, AutoFailback::On);
            k.rqst_delay_ms = 10_000;
            Node::new(k, 0)
        })
        .collect();
    n[0].rm.on_node_status(0, "node2", "active");
    n[1].rm.on_node_status(0, "node1", "active");
    n[0].rm.on_comm_up(0);
    n[1].rm.on_comm_up(0);
    // Exchange everything at t=0, completing ops at once; no time passes.
    for _ in 0..20 {
        let out0 = n[0].settle(0);
        let out1 = n[1].settle(0);
        if out0.is_empty() && out1.is_empty() {
            break;
        }
        for m in &out0 {
            n[1].deliver(0, m);
        }
        for m in &out1 {
            n[0].deliver(0, m);
        }
    }
    assert_eq!(n[0].rm.group_state("10.0.0.1"), Some(GroupState::Running));
    assert_eq!(n[1].rm.group_state("10.0.0.2"), Some(GroupState::Running));
    assert_eq!(n[0].rm.group_state("10.0.0.2"), Some(GroupState::Stopped));
    assert_eq!(n[1].rm.group_state("10.0.0.1"), Some(GroupState::Stopped));
}
