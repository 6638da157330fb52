//! The network helpers of the bench, checked with plain tools (ping, socat, tcpdump):
//! addressing, link cuts, nftables loss, serial pty pairs, capture, cleanup.

use std::io::{Read, Write};
use std::time::Duration;

use hb_tests::{list_namespaces, Capture, Net, SerialPair};

fn ping(net: &Net, from: usize, to: usize) -> bool {
    let addr = net.addr(to).expect("addr").to_string();
    net.exec(from, &["ping", "-c", "1", "-W", "1", &addr])
        .expect("run ping")
        .success()
}

/// Sends `count` UDP datagrams from node `from` to node `to`, port 694.
fn send_udp(net: &Net, from: usize, to: usize, count: usize) {
    let target = format!("UDP-SENDTO:{}:694", net.addr(to).expect("addr"));
    for _ in 0..count {
        let out = net
            .exec(
                from,
                &["sh", "-c", &format!("echo x | socat -u - {target}")],
            )
            .expect("run socat");
        assert!(out.success(), "socat: {}", out.stderr);
    }
}

#[test]
fn addressing_link_cut_and_loss() -> anyhow::Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let net = Net::new(3)?;
    assert_eq!(net.len(), 3);
    let a1 = net.addr(1)?;
    assert_eq!(a1.octets()[0..2], [10, 251]);
    assert_eq!(a1.octets()[3], 11);
    assert_eq!(net.addr(3)?.octets()[3], 13);
    assert!(net.addr(4).is_err() && net.addr(0).is_err());
    let shown = net.exec(2, &["ip", "-4", "-o", "addr", "show", "dev", net.iface(2)])?;
    assert!(
        shown
            .stdout
            .contains(&format!("{}/24 brd {}", net.addr(2)?, net.broadcast())),
        "{}",
        shown.stdout
    );
    // The host namespace gets no test address.
    let host = hb_tests::cmd::run(&["ip", "-4", "-o", "addr"], Duration::from_secs(10))?;
    assert!(!host.stdout.contains(&a1.to_string()));

    assert!(ping(&net, 1, 2) && ping(&net, 3, 1), "bridge forwards");
    net.cut_link(2)?;
    assert!(
        !ping(&net, 1, 2),
        "node 2 must be unreachable after cut_link"
    );
    assert!(ping(&net, 1, 3), "other nodes unaffected");
    net.restore_link(2)?;
    hb_tests::wait_until(
        "node 2 reachable again",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || ping(&net, 1, 2),
    )?;

    net.set_loss(2, 100)?;
    send_udp(&net, 1, 2, 5);
    let dropped = net.dropped_packets(2)?;
    assert!(dropped >= 5, "dropped {dropped}");
    net.set_loss(2, 0)?;
    send_udp(&net, 1, 2, 5);
    assert_eq!(
        net.dropped_packets(2)?,
        0,
        "0% loss drops nothing (and resets the table)"
    );
    net.clear_loss(2)?;
    assert!(net.dropped_packets(2).is_err(), "table removed");
    net.clear_loss(2)?; // idempotent
    assert!(net.set_loss(2, 101).is_err());

    let names = net.namespaces();
    assert_eq!(names.len(), 4);
    drop(net);
    let left = list_namespaces()?;
    assert!(names.iter().all(|n| !left.contains(n)), "left: {left:?}");
    Ok(())
}

#[test]
fn serial_pair_carries_bytes_from_a_node_namespace() -> anyhow::Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let net = Net::new(1)?;
    let pair = SerialPair::new()?;
    let (dev_a, dev_b) = pair.devices()?;
    assert!(dev_a.starts_with("/dev/pts") && dev_b.starts_with("/dev/pts"));
    let mut b = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(pair.b())?;
    let script = format!("printf ping > {}", pair.a().display());
    assert!(net.exec(1, &["sh", "-c", &script])?.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reader = b.try_clone()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4];
        let r = reader.read_exact(&mut buf).map(|_| buf);
        let _ = tx.send(r);
    });
    let got = rx.recv_timeout(Duration::from_secs(10))??;
    assert_eq!(&got, b"ping");
    b.write_all(b"x")?;
    let socat = pair.pid().expect("socat pid");
    drop(pair);
    assert!(!hb_tests::procs::is_alive(socat), "socat killed on drop");
    Ok(())
}

#[test]
fn capture_records_packets() -> anyhow::Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let net = Net::new(2)?;
    let dir = tempfile::tempdir()?;
    let pcap = dir.path().join("cap.pcap");
    let mut cap = Capture::start(&net, 1, &pcap, "icmp")?;
    assert!(ping(&net, 2, 1));
    cap.stop()?;
    // 24-byte pcap header plus at least one echo request and reply.
    let len = std::fs::metadata(&pcap)?.len();
    assert!(len > 24 + 2 * 16, "pcap only {len} bytes");
    Ok(())
}
