//! stonithd as heartbeat runs it: started by our daemon from ha.cf's `stonith_host`
//! lines, signed on to heartbeat, asking the other node's stonithd when it has no
//! device of its own for the target (cluster messages through both heartbeats).
//!
//! node1's device covers only `node8`, node2's only `node9` (the `null` plugin, which
//! "resets" any host of its list). Fencing node9 through node1's stonithd must be done
//! by node2; fencing a host nobody covers must end `cannot`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hb_tests::{authkeys, cmd, our_bin, HaCf, Medium, Net, Node, NodeSpec};
use serde_json::{json, Value};

/// node1's stonithd socket, reached through its root (its /run is private).
fn socket_of(node: &Node) -> Result<PathBuf> {
    let pid = node.pid().context("node1 not running")?;
    Ok(PathBuf::from(format!(
        "/proc/{pid}/root/run/heartbeat/stonithd.sock"
    )))
}

/// One JSON-lines exchange: sends `req` and returns the reply carrying its `req` id.
fn ask(stream: &mut UnixStream, reader: &mut impl BufRead, req: Value) -> Result<Value> {
    let id = req["req"].clone();
    writeln!(stream, "{req}")?;
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("stonithd closed the connection");
        }
        let v: Value = serde_json::from_str(&line).with_context(|| format!("reply {line:?}"))?;
        if v["req"] == id {
            return Ok(v);
        }
    }
    bail!("no reply to {req}")
}

#[test]
fn a_node_without_a_device_has_the_peer_fence() -> Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let net = Net::new(2)?;
    let ha_cf = HaCf::new()
        .keepalive("500ms")
        .deadtime("3")
        .warntime("2")
        .initdead("6")
        .media(Medium::bcast(net.iface(1)))
        .nodes(["node1", "node2"])
        .line("stonith_host node1 null node8")
        .line("stonith_host node2 null node9")
        .render();
    let keys = authkeys(1, "sha1", "stonithd-secret");
    hb_tests::tutorial::ensure_helpers()?;
    let mut nodes = Vec::new();
    for (i, name) in ["node1", "node2"].iter().enumerate() {
        let spec = NodeSpec::ours(name, our_bin("heartbeat")?, &ha_cf, &keys)
            .with_cl_status(our_bin("cl_status")?)
            .with_haresources("");
        nodes.push(Node::start(&net, i + 1, spec)?);
    }
    // Both stonithds signed on to their heartbeat (after comm-up).
    for n in &nodes {
        n.wait_log("signed on to heartbeat", Duration::from_secs(30))?;
    }
    let path = socket_of(&nodes[0])?;
    let mut stream = None;
    cmd::poll_until(Duration::from_secs(10), Duration::from_millis(100), || {
        stream = UnixStream::connect(&path).ok();
        stream.is_some()
    });
    let mut stream = stream.with_context(|| format!("connect {}", path.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(40)))?;
    let mut reader = BufReader::new(stream.try_clone()?);

    let r = ask(
        &mut stream,
        &mut reader,
        json!({"req": 1, "op": "signon", "client": "test"}),
    )?;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["node"], "node1", "{r}");

    let devices = ask(&mut stream, &mut reader, json!({"req": 2, "op": "devices"}))?;
    assert_eq!(
        devices["devices"][0]["hosts"],
        json!(["node8"]),
        "{devices}"
    );

    // Covered locally.
    let r = ask(
        &mut stream,
        &mut reader,
        json!({"req": 3, "op": "fence", "node": "node8", "action": "reset", "timeout_ms": 20000}),
    )?;
    assert_eq!(r["outcome"]["result"], "ok", "{r}");
    assert_eq!(r["outcome"]["by"], "node1", "{r}");

    // Covered only by node2's device: node1 asks through heartbeat.
    let t0 = Instant::now();
    let r = ask(
        &mut stream,
        &mut reader,
        json!({"req": 4, "op": "fence", "node": "node9", "action": "reset", "timeout_ms": 20000}),
    )?;
    println!("delegated fence answered in {:?}: {r}", t0.elapsed());
    assert_eq!(r["outcome"]["result"], "ok", "{r}");
    assert_eq!(r["outcome"]["by"], "node2", "{r}");

    // Nobody covers node7: nobody claims it, so `cannot` once the time is up.
    let r = ask(
        &mut stream,
        &mut reader,
        json!({"req": 5, "op": "fence", "node": "node7", "action": "reset", "timeout_ms": 3000}),
    )?;
    assert_eq!(r["outcome"]["result"], "cannot", "{r}");
    drop(nodes);
    Ok(())
}
