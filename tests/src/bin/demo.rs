//! The README's demo: the Linux-HA tutorial on this machine.
//!
//! Two nodes run our `heartbeat`, each in its own network namespace (private
//! /etc/ha.d, /var/lib/heartbeat, /run and hostname) on one bridge, with haresources
//! `node1 IPaddr::<VIP>/24/eth0 httpd`; a third namespace is a web client. The demo
//! prints both nodes' status, then shows a graceful handover, the failback
//! (auto_failback on) and a hard-kill failover, timing each from the client's side.
//! Everything it creates is removed when it ends.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hb_tests::tutorial::TutorialFiles;
use hb_tests::{authkeys, our_bin, HaCf, Medium, Net, Node, NodeSpec};

const NAMES: [&str; 2] = ["node1", "node2"];
const CLIENT: usize = 3;

fn show(node: &Node, name: &str) -> Result<()> {
    let (_, nodes) = node.cl_status(&["listnodes", "-v"])?;
    let (_, rsc) = node.cl_status(&["rscstatus"])?;
    println!(
        "--- {name}: cl_status listnodes -v, rscstatus = {} ---",
        rsc.trim()
    );
    for line in nodes.lines().filter(|l| !l.trim().is_empty()) {
        println!("    {line}");
    }
    Ok(())
}

/// Which node answered `GET http://VIP/` from the client namespace, if any.
fn server(net: &Net, vip: Ipv4Addr) -> Option<&'static str> {
    let url = format!("http://{vip}/");
    let out = net
        .exec_timeout(
            CLIENT,
            &["curl", "-s", "-m", "0.5", &url],
            Duration::from_secs(3),
        )
        .ok()?;
    NAMES.iter().copied().find(|n| out.stdout.contains(n))
}

fn wait_server(net: &Net, vip: Ipv4Addr, name: &str) -> Result<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if server(net, vip) == Some(name) {
            return Ok(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{name} did not start serving http://{vip}/ within 60 s")
}

fn main() -> Result<()> {
    if !hb_tests::require_root() {
        std::process::exit(1);
    }
    let files = TutorialFiles::prepare()?;
    let net = Net::new(3)?;
    let base = net.addr(1)?.octets();
    let vip = Ipv4Addr::new(base[0], base[1], base[2], 100);
    let ha_cf = HaCf::new()
        .keepalive("500ms")
        .deadtime("3")
        .warntime("2")
        .initdead("6")
        .auto_failback("on")
        .media(Medium::bcast(net.iface(1)))
        .nodes(NAMES)
        .render();
    let haresources = format!("node1 IPaddr::{vip}/24/{} httpd\n", net.iface(1));
    let keys = authkeys(1, "sha1", "demo-secret");
    println!("ha.cf (both nodes):\n{ha_cf}\nharesources: {haresources}");
    let mut nodes = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let spec = NodeSpec::ours(name, our_bin("heartbeat")?, &ha_cf, &keys)
            .with_cl_status(our_bin("cl_status")?)
            .with_haresources(&haresources);
        nodes.push(Node::start(&net, i + 1, files.install(spec))?);
    }
    let t = Instant::now();
    wait_server(&net, vip, "node1")?;
    println!(
        "node1 serves http://{vip}/ {:.2} s after both nodes started.\n",
        t.elapsed().as_secs_f64()
    );
    show(&nodes[0], "node1")?;
    show(&nodes[1], "node2")?;

    println!("\nStopping node1 gracefully (heartbeat -k)...");
    let t = Instant::now();
    nodes[0].stop()?;
    wait_server(&net, vip, "node2")?;
    println!(
        "node2 serves {:.2} s after the stop began.",
        t.elapsed().as_secs_f64()
    );

    println!("\nStarting node1 again (auto_failback on)...");
    let t = Instant::now();
    nodes[0].start_again()?;
    wait_server(&net, vip, "node1")?;
    println!(
        "node1 serves again {:.2} s after it started.",
        t.elapsed().as_secs_f64()
    );

    // A starting node advertises deadtime + 2 s for its first 5 s (as heartbeat does):
    // wait that out so the kill shows the configured deadtime.
    std::thread::sleep(Duration::from_secs(6));
    println!("\nKilling node1 (SIGKILL: the machine dies, its address with it)...");
    let t = Instant::now();
    nodes[0].kill9()?;
    let cidr = format!("{vip}/24");
    let _ = net.exec(1, &["ip", "addr", "del", &cidr, "dev", net.iface(1)]);
    wait_server(&net, vip, "node2")?;
    println!(
        "node2 serves {:.2} s after the kill (deadtime 3 s).\n",
        t.elapsed().as_secs_f64()
    );
    show(&nodes[1], "node2")?;
    println!("\nCleaning up namespaces and processes.");
    drop(nodes);
    Ok(())
}
