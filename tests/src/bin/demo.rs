//! The README's demo: a two-node heartbeat cluster on this machine.
//!
//! Each node runs our `heartbeat` in its own network namespace (with private
//! /etc/ha.d, /var/lib/heartbeat, /run and hostname), joined by a bridge. The demo
//! prints both nodes' view of the cluster, kills one node and shows the other
//! declaring it dead, restarts it, then stops one gracefully. Everything it creates is
//! removed when it ends.

use std::time::{Duration, Instant};

use hb_tests::{authkeys, our_bin, HaCf, Medium, Net, Node, NodeSpec};

fn show(node: &Node, name: &str) -> hb_tests::Result<()> {
    let (_, out) = node.cl_status(&["listnodes", "-v"])?;
    println!("--- cl_status listnodes -v on {name} ---");
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        println!("    {line}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if !hb_tests::require_root() {
        std::process::exit(1);
    }
    let heartbeat = our_bin("heartbeat")?;
    let cl_status = our_bin("cl_status")?;
    let net = Net::new(2)?;
    let ha_cf = HaCf::new()
        .keepalive("500ms")
        .deadtime("3")
        .warntime("2")
        .initdead("6")
        .media(Medium::bcast(net.iface(1)))
        .nodes(["node1", "node2"])
        .render();
    let keys = authkeys(1, "sha1", "demo-secret");
    println!(
        "Starting node1 ({}) and node2 ({}) with this ha.cf:\n{}",
        net.addr(1)?,
        net.addr(2)?,
        ha_cf
    );
    let spec = |name: &str| {
        NodeSpec::ours(name, heartbeat.clone(), &ha_cf, &keys).with_cl_status(cl_status.clone())
    };
    let node1 = Node::start(&net, 1, spec("node1"))?;
    let mut node2 = Node::start(&net, 2, spec("node2"))?;
    let t = Instant::now();
    node1.wait_for("node2 active", Duration::from_secs(30), |n| {
        n.node_status("node2") == "active"
    })?;
    node2.wait_for("node1 active", Duration::from_secs(30), |n| {
        n.node_status("node1") == "active"
    })?;
    println!(
        "\nBoth nodes active after {:.2} s.\n",
        t.elapsed().as_secs_f64()
    );
    show(&node1, "node1")?;
    show(&node2, "node2")?;

    // A starting node advertises deadtime + 2 s for its first 5 s (heartbeat does the
    // same, to ride out start-up hiccups); wait that out so the kill shows deadtime.
    std::thread::sleep(Duration::from_secs(5));
    println!("\nKilling node2 (SIGKILL)...");
    node2.kill9()?;
    let t = Instant::now();
    node1.wait_for("node2 dead", Duration::from_secs(30), |n| {
        n.node_status("node2") == "dead"
    })?;
    println!(
        "node1 declared node2 dead after {:.2} s (deadtime 3 s).",
        t.elapsed().as_secs_f64()
    );
    show(&node1, "node1")?;

    println!("\nStarting node2 again...");
    node2.start_again()?;
    node1.wait_for("node2 active", Duration::from_secs(30), |n| {
        n.node_status("node2") == "active"
    })?;
    println!("node2 is back: node1's log says");
    for line in node1
        .log()
        .lines()
        .filter(|l| l.contains("restart on node"))
    {
        println!("    {line}");
    }

    println!("\nStopping node2 gracefully (heartbeat -k)...");
    let t = Instant::now();
    node2.stop()?;
    node1.wait_for("node2 dead", Duration::from_secs(30), |n| {
        n.node_status("node2") == "dead"
    })?;
    println!(
        "node1 saw node2 dead {:.2} s after the stop began (it announced its shutdown).",
        t.elapsed().as_secs_f64()
    );
    show(&node1, "node1")?;
    println!("\nCleaning up namespaces and processes.");
    Ok(())
}
