//! Replays the Debian capture `heartbeat-mcast-failover-cycle.txt` (graceful
//! stop of node1, takeover by node2, node1 restarted, auto_failback) from
//! node2's point of view: node1's resource messages are fed to our node2 in
//! the captured order, and node2 must answer with the messages the Debian
//! node2 sent (ordered by its `seq`).

mod common;

use common::{cfg, msg, Node, VIP};
use hb_config::hacf::AutoFailback;
use hb_rm::GroupState;

const HARES: &str = "node1 IPaddr::10.0.0.100/24/eth0 benchhttp\n";

/// node2 after it joined a cluster where node1 runs its group.
fn node2_joined(now: u64) -> Node {
    let mut n = Node::new(
        cfg("node2", &["node1", "node2"], HARES, AutoFailback::On),
        now,
    );
    n.rm.on_node_status(now, "node1", "active");
    n.rm.on_comm_up(now);
    n.loopback(now);
    assert_eq!(n.take_sent(), vec!["t=starting"]);
    // Debian node1 answers our `starting` (it holds its own group, stable).
    n.deliver(
        now,
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
    n.settle(now);
    assert_eq!(
        n.take_sent(),
        vec![
            "t=resource rsc_hold=none rtype=full isstable=0",
            "t=resource rsc_hold=local rtype=full isstable=1",
            "t=resource rsc_hold=local rtype=full isstable=1 info=req_our_resources()",
        ]
    );
    assert_eq!(n.rm.rsc_status(), "local");
    n
}

/// The takeover after `shutdone`: heartbeat sends these four from three
/// racing children (the capture's three cycles show three orders), so we
/// require the same messages, the same sequence of types as cycles 1 and 3
/// (ask_resources, resource, resource, resource), `done` before the plain
/// `resource all`, and mach_down last.
fn assert_takeover_like_capture(got: Vec<String>, captured: &[&str]) {
    let mut a = got.clone();
    let mut b: Vec<String> = captured.iter().map(|s| s.to_string()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "same messages as the capture: {got:?}");
    let types: Vec<&str> = got
        .iter()
        .map(|m| m.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        ["t=ask_resources", "t=resource", "t=resource", "t=resource"]
    );
    assert!(got[3].ends_with("info=mach_down"), "{got:?}");
    let pos = |p: &str| got.iter().position(|m| m.as_str() == p);
    assert!(
        pos("t=resource rsc_hold=all rtype=full isstable=1")
            > got.iter().position(|m| m.starts_with("t=ask_resources"))
    );
}

fn res(hold: &str, stable: &str) -> Vec<(&'static str, String)> {
    vec![
        ("t", "resource".into()),
        ("rsc_hold", hold.to_string()),
        ("rtype", "full".into()),
        ("isstable", stable.to_string()),
    ]
}

fn send(n: &mut Node, now: u64, fields: Vec<(&str, String)>) {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    n.deliver(now, &msg("node1", &f));
    n.loopback(now);
}

/// node1: `heartbeat -k` (capture seq 5b, 5c / 15, 16 / 14, 15).
fn node1_shuts_down(n: &mut Node, now: u64) {
    let mut f = res("none", "0");
    f.push(("info", "shutdown".into()));
    send(n, now, f);
    send(
        n,
        now,
        vec![("t", "shutdone".into()), ("st", "dead".into())],
    );
}

/// node1 restarted: `starting`, then its two answers (seq 7, 9, a).
fn node1_restarts(n: &mut Node, now: u64) {
    n.rm.on_node_status(now, "node1", "up");
    n.rm.on_node_status(now, "node1", "active");
    send(n, now, vec![("t", "starting".into())]);
    send(n, now, res("none", "0"));
    send(n, now, res("none", "1"));
}

#[test]
fn replay_failover_and_auto_failback_cycle() {
    let mut t = 1_000;
    let mut n = node2_joined(t);

    // ---- cycle 1: node1 stops gracefully, node2 takes over at once.
    node1_shuts_down(&mut n, t);
    assert!(n
        .logs
        .iter()
        .any(|l| l == "Received shutdown notice from 'node1'."));
    assert!(n
        .logs
        .iter()
        .any(|l| l == "Resources being acquired from node1."));
    assert_eq!(
        n.take_ops(),
        vec![format!("Start {VIP}")],
        "one op at a time, left to right"
    );
    n.settle(t);
    assert_eq!(n.take_ops(), vec!["Start benchhttp".to_string()]);
    assert_takeover_like_capture(
        n.take_sent(),
        // capture cycle 1, seq 59..5c
        &[
            "t=ask_resources rsc_hold=all info=done",
            "t=resource rsc_hold=all rtype=full isstable=1",
            "t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
            "t=resource rsc_hold=foreign info=mach_down",
        ],
    );
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Running));
    assert_eq!(n.rm.rsc_status(), "all");

    // deadtime later node1 is declared dead: it gave its groups up.
    t += 5_000;
    n.rm.on_node_status(t, "node1", "dead");
    n.loopback(t);
    assert_eq!(n.take_sent(), vec!["t=stonith node=node1 result=unneeded"]);
    assert!(n.take_ops().is_empty(), "nothing new to take over");

    // ---- node1 restarts; auto_failback on: node2 gives the group back.
    t += 2_000;
    node1_restarts(&mut n, t);
    assert_eq!(
        n.take_sent(),
        vec![
            "t=resource rsc_hold=all rtype=full isstable=1",
            "t=resource rsc_hold=all rtype=full isstable=1",
            "t=ask_resources rsc_hold=foreign info=me",
        ]
    );
    assert!(n.take_ops().is_empty(), "nothing moves before node1 agrees");
    send(
        &mut n,
        t,
        vec![
            ("t", "ask_resources".into()),
            ("rsc_hold", "foreign".into()),
            ("info", "other".into()),
        ],
    );
    assert_eq!(
        n.take_sent(),
        vec!["t=resource rsc_hold=local rtype=full isstable=0 info=standby"]
    );
    assert_eq!(n.rm.rsc_status(), "transition");
    n.settle(t);
    assert_eq!(
        n.take_ops(),
        vec!["Stop benchhttp".to_string(), format!("Stop {VIP}")],
        "right to left"
    );
    assert_eq!(
        n.take_sent(),
        vec!["t=ask_resources rsc_hold=foreign info=done"]
    );
    // node1 acquired its group: `done` (seq d) then `resource local 1` (e, f).
    send(
        &mut n,
        t,
        vec![
            ("t", "ask_resources".into()),
            ("rsc_hold", "foreign".into()),
            ("info", "done".into()),
        ],
    );
    send(&mut n, t, res("local", "1"));
    send(&mut n, t, res("local", "1"));
    assert_eq!(
        n.take_sent(),
        vec![
            "t=resource rsc_hold=local rtype=full isstable=1",
            "t=resource rsc_hold=local rtype=full isstable=1",
        ]
    );
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Stopped));
    assert_eq!(n.rm.rsc_status(), "local");

    // ---- cycle 2: the standby type remembered is now `foreign`.
    t += 3_000;
    node1_shuts_down(&mut n, t);
    n.settle(t);
    assert_takeover_like_capture(
        n.take_sent(),
        // capture cycle 2, seq 74..77
        &[
            "t=resource rsc_hold=all rtype=full isstable=1 info=req_our_resources()",
            "t=ask_resources rsc_hold=foreign info=done",
            "t=resource rsc_hold=all rtype=full isstable=1",
            "t=resource rsc_hold=foreign info=mach_down",
        ],
    );
    assert_eq!(n.rm.group_state(VIP), Some(GroupState::Running));
}

/// The same capture from node1's side: a restarted node1 facing a Debian
/// node2 that holds everything must send node1's captured messages.
#[test]
fn replay_node1_side_of_failback() {
    let t = 50_000;
    let mut n = Node::new(
        cfg("node1", &["node1", "node2"], HARES, AutoFailback::On),
        t,
    );
    n.rm.on_node_status(t, "node2", "active");
    n.rm.on_comm_up(t);
    n.loopback(t);
    let d = |n: &mut Node, f: &[(&str, &str)]| {
        n.deliver(t, &msg("node2", f));
        n.loopback(t);
    };
    d(
        &mut n,
        &[
            ("t", "resource"),
            ("rsc_hold", "all"),
            ("rtype", "full"),
            ("isstable", "1"),
        ],
    );
    d(
        &mut n,
        &[
            ("t", "resource"),
            ("rsc_hold", "all"),
            ("rtype", "full"),
            ("isstable", "1"),
        ],
    );
    d(
        &mut n,
        &[
            ("t", "ask_resources"),
            ("rsc_hold", "foreign"),
            ("info", "me"),
        ],
    );
    assert!(n.take_ops().is_empty(), "node2 still runs the group");
    d(
        &mut n,
        &[
            ("t", "resource"),
            ("rsc_hold", "local"),
            ("rtype", "full"),
            ("isstable", "0"),
            ("info", "standby"),
        ],
    );
    d(
        &mut n,
        &[
            ("t", "ask_resources"),
            ("rsc_hold", "foreign"),
            ("info", "done"),
        ],
    );
    n.settle(t);
    d(
        &mut n,
        &[
            ("t", "resource"),
            ("rsc_hold", "local"),
            ("rtype", "full"),
            ("isstable", "1"),
        ],
    );
    d(
        &mut n,
        &[
            ("t", "resource"),
            ("rsc_hold", "local"),
            ("rtype", "full"),
            ("isstable", "1"),
        ],
    );
    assert_eq!(
        n.take_sent(),
        vec![
            "t=starting",
            "t=resource rsc_hold=none rtype=full isstable=0",
            "t=resource rsc_hold=none rtype=full isstable=1",
            "t=ask_resources rsc_hold=foreign info=other",
            "t=ask_resources rsc_hold=foreign info=done",
            "t=resource rsc_hold=local rtype=full isstable=1",
            "t=resource rsc_hold=local rtype=full isstable=1",
        ]
    );
    assert_eq!(
        n.take_ops(),
        vec![format!("Start {VIP}"), "Start benchhttp".to_string()]
    );
    assert_eq!(n.rm.rsc_status(), "local");

    // node1 stops: release right to left, then announce and complete.
    n.rm.shutdown(t);
    n.settle(t);
    assert_eq!(
        n.take_sent(),
        vec!["t=resource rsc_hold=none rtype=full isstable=0 info=shutdown"]
    );
    assert_eq!(
        n.take_ops(),
        vec!["Stop benchhttp".to_string(), format!("Stop {VIP}")]
    );
    assert!(n.shutdown_complete);
}
