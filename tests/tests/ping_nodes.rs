//! `ping` and `ping_group` nodes with our daemon: a host that is not a cluster member
//! (here a namespace with no daemon, answering ICMP from its kernel) shows up as a node
//! of type `ping`, status `ping` while it answers and `dead` once it stops.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use hb_tests::{authkeys, our_bin, HaCf, Medium, Net, Node, NodeSpec};

const JOIN_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn ping_and_ping_group_nodes_follow_reachability() -> Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let net = Net::new(3)?;
    let target = net.addr(3)?;
    // A group of the live target and an address nobody has: up while any answers.
    let octets = target.octets();
    let nobody = format!("{}.{}.{}.250", octets[0], octets[1], octets[2]);
    let ha_cf = HaCf::new()
        .keepalive("500ms")
        .deadtime("3")
        .warntime("2")
        .initdead("3")
        .media(Medium::bcast(net.iface(1)))
        .nodes(["alpha", "bravo"])
        .line(&format!("ping {target}"))
        .line(&format!("ping_group routers {target} {nobody}"))
        .render();
    let keys = authkeys(1, "sha1", "ping-secret");
    let heartbeat = our_bin("heartbeat")?;
    let cl_status = our_bin("cl_status")?;
    let spec = |name: &str| {
        NodeSpec::ours(name, heartbeat.clone(), &ha_cf, &keys).with_cl_status(cl_status.clone())
    };
    let alpha = Node::start(&net, 1, spec("alpha"))?;
    let _bravo = Node::start(&net, 2, spec("bravo"))?;
    let ping = target.to_string();

    alpha.wait_for("ping node up", JOIN_LIMIT, |n| {
        n.node_status(&ping) == "ping" && n.node_status("routers") == "ping"
    })?;
    assert_eq!(
        alpha.cl_status(&["nodetype", &ping])?,
        (0, "ping".to_owned())
    );
    assert_eq!(
        alpha.cl_status(&["nodetype", "routers"])?,
        (0, "ping".to_owned())
    );
    let (_, listed) = alpha.cl_status(&["listnodes"])?;
    for name in [ping.as_str(), "routers", "alpha", "bravo"] {
        ensure!(
            listed.lines().any(|l| l.trim() == name),
            "{name} missing from listnodes:\n{listed}"
        );
    }
    let (_, normal) = alpha.cl_status(&["listnodes", "-n"])?;
    ensure!(
        !normal.lines().any(|l| l.trim() == ping),
        "listnodes -n lists the ping node:\n{normal}"
    );

    // The target goes away: both ping nodes die after deadping (= deadtime, 3 s).
    net.cut_link(3)?;
    let cut = Instant::now();
    alpha.wait_for("ping nodes dead", Duration::from_secs(15), |n| {
        n.node_status(&ping) == "dead" && n.node_status("routers") == "dead"
    })?;
    let took = cut.elapsed();
    println!(
        "ping nodes declared dead {:.2} s after the cut",
        took.as_secs_f64()
    );
    ensure!(
        took >= Duration::from_millis(2000),
        "declared dead too early ({took:?}) for deadping 3 s"
    );
    // Cluster members are unaffected by the loss of a ping target.
    assert_eq!(alpha.node_status("bravo"), "active");

    net.restore_link(3)?;
    alpha.wait_for("ping nodes back", Duration::from_secs(15), |n| {
        n.node_status(&ping) == "ping" && n.node_status("routers") == "ping"
    })?;
    Ok(())
}

/// `ping6`: the same over ICMPv6, against a namespace answering from its kernel.
#[test]
fn ping6_node_follows_reachability() -> Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let net = Net::new(3)?;
    let target = net.add_ipv6()?[2].to_string();
    let ha_cf = HaCf::new()
        .keepalive("500ms")
        .deadtime("3")
        .warntime("2")
        .initdead("3")
        .media(Medium::bcast(net.iface(1)))
        .nodes(["alpha", "bravo"])
        .line(&format!("ping6 {target}"))
        .render();
    let keys = authkeys(1, "sha1", "ping6-secret");
    let heartbeat = our_bin("heartbeat")?;
    let cl_status = our_bin("cl_status")?;
    let spec = |name: &str| {
        NodeSpec::ours(name, heartbeat.clone(), &ha_cf, &keys).with_cl_status(cl_status.clone())
    };
    let alpha = Node::start(&net, 1, spec("alpha"))?;
    let _bravo = Node::start(&net, 2, spec("bravo"))?;
    alpha.wait_for("ping6 node up", JOIN_LIMIT, |n| {
        n.node_status(&target) == "ping"
    })?;
    assert_eq!(
        alpha.cl_status(&["nodetype", &target])?,
        (0, "ping".to_owned())
    );
    ensure!(
        !alpha
            .log()
            .lines()
            .any(|l| l.contains("not acted on") && l.contains("ping6")),
        "ping6 is acted on:\n{}",
        alpha.log()
    );
    net.cut_link(3)?;
    alpha.wait_for("ping6 node dead", Duration::from_secs(15), |n| {
        n.node_status(&target) == "dead"
    })?;
    assert_eq!(alpha.node_status("bravo"), "active");
    net.restore_link(3)?;
    alpha.wait_for("ping6 node back", Duration::from_secs(15), |n| {
        n.node_status(&target) == "ping"
    })?;
    Ok(())
}
