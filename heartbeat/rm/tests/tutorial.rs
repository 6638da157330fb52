//! The tutorial scenario: two nodes, `node1 IPaddr::VIP/24/eth0 httpd`.

mod common;

use common::{cfg, Cluster, TUTORIAL, VIP};
use hb_config::hacf::AutoFailback;

fn cluster(af: AutoFailback) -> Cluster {
    let mut c = Cluster::new(
        &["node1", "node2"],
        Box::new(move |n| cfg(n, &["node1", "node2"], TUTORIAL, af)),
    );
    c.start("node1");
    c.start("node2");
    // Both started together: each waits for the other to be stable, then
    // takes its own groups (rqst_delay).
    c.advance(2_000);
    assert_eq!(c.running(VIP), ["node1"]);
    assert_eq!(
        c.running("httpd"),
        Vec::<String>::new(),
        "httpd is not a group key"
    );
    c
}

fn failover(c: &mut Cluster) {
    c.node("node2").take_sent();
    c.shutdown("node1");
    assert_eq!(c.running(VIP), ["node2"], "graceful handover at once");
    assert!(c
        .node("node2")
        .logs
        .iter()
        .any(|l| l == "Resources being acquired from node1."));
    c.advance(3_000);
    c.declare_dead("node1");
    assert_eq!(c.running(VIP), ["node2"]);
    c.advance(1_000);
}

#[test]
fn auto_failback_on_fails_over_and_back() {
    let mut c = cluster(AutoFailback::On);
    assert_eq!(c.node("node1").rm.rsc_status(), "local");
    assert_eq!(c.node("node2").rm.rsc_status(), "local");
    failover(&mut c);
    assert_eq!(c.node("node2").rm.rsc_status(), "all");
    c.start("node1");
    c.advance(3_000);
    assert_eq!(c.running(VIP), ["node1"], "auto_failback on: back to node1");
    assert_eq!(c.node("node1").rm.rsc_status(), "local");
    assert_eq!(c.node("node2").rm.rsc_status(), "local");
    assert!(c
        .node("node2")
        .sent
        .iter()
        .any(|m| m == "t=ask_resources rsc_hold=foreign info=me"));
}

#[test]
fn auto_failback_off_keeps_the_group_on_the_survivor() {
    let mut c = cluster(AutoFailback::Off);
    failover(&mut c);
    c.start("node1");
    c.advance(20_000);
    assert_eq!(
        c.running(VIP),
        ["node2"],
        "auto_failback off: stays on node2"
    );
    assert_eq!(c.node("node1").rm.rsc_status(), "none");
    assert_eq!(c.node("node2").rm.rsc_status(), "all");
    // hb_takeover on node1 brings it back (node2 runs hb_standby foreign).
    let now = c.now;
    c.node("node1").rm.request_takeover(now, hb_rm::Which::All);
    c.pump();
    c.advance(1_000);
    assert_eq!(c.running(VIP), ["node1"]);
}

#[test]
fn legacy_goes_back_to_the_owner_with_ip_request() {
    let mut c = cluster(AutoFailback::Legacy);
    failover(&mut c);
    c.node("node2").take_sent();
    c.start("node1");
    c.advance(1_000);
    assert_eq!(
        c.running(VIP),
        ["node1"],
        "legacy: preferred node gets it back"
    );
    let n1: Vec<String> = c.node("node1").sent.clone();
    assert!(n1.contains(&format!("t=ip-request ipaddr={VIP}")), "{n1:?}");
    let n2 = c.node("node2").take_sent();
    assert_eq!(
        n2,
        vec![format!(
            "t=ip-request-resp dest=node1 ipaddr={VIP} weown=yes ok=OK"
        )]
    );
}

#[test]
fn hard_kill_of_the_active_node() {
    for af in [AutoFailback::On, AutoFailback::Off, AutoFailback::Legacy] {
        let mut c = cluster(af);
        c.crash("node1");
        c.node("node2").take_sent();
        c.advance(3_000);
        c.declare_dead("node1");
        assert_eq!(c.running(VIP), ["node2"], "{af:?}");
        let sent = c.node("node2").take_sent();
        assert_eq!(sent[0], "t=stonith node=node1 result=n_stnth", "{af:?}");
        let logs = &c.node("node2").logs;
        assert!(logs.iter().any(|l| l == "No STONITH device configured."));
        assert!(logs
            .iter()
            .any(|l| l == "Resources being acquired from node1."));
        if af != AutoFailback::Legacy {
            assert!(
                sent.contains(&"t=resource rsc_hold=foreign info=mach_down".to_string()),
                "{sent:?}"
            );
        }
    }
}
