//! IPaddr2, IPaddr (OCF and heartbeat class) and SendArp inside network
//! namespaces joined by a veth pair; gratuitous ARPs are captured on the
//! peer end. Skipped (with a message) when not root.

mod common;

use std::time::Duration;

use common::*;

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn ipaddr2_start_stop_monitor_with_arp_and_link_check() {
    let Some(net) = NetPair::new() else { return };
    let tmp = state_dir();
    let vip = net.addr(100);
    // No nic and no netmask: both come from the subnet containing the VIP.
    let ip2 = Ctx::new("IPaddr2", "vip", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &vip)
        .param("iflabel", "vip")
        .param("arp_count", "3")
        .param("arp_interval", "100")
        .param("arp_bg", "false");

    assert_eq!(ip2.probe().rc, 7);
    ip2.expect("monitor", 7);
    ip2.expect("stop", 0);
    ip2.expect("validate-all", 0);

    let cap = Capture::start(&net, &vip);
    ip2.expect("start", 0);
    let addrs = net.addrs();
    let line = addrs
        .lines()
        .find(|l| l.contains(&format!("inet {vip}/24")))
        .unwrap_or_else(|| panic!("{vip}/24 not on {}: {addrs}", net.dev));
    assert!(
        line.contains(&format!("{}:vip", net.dev)),
        "label missing: {line}"
    );
    assert!(
        line.contains(&format!("brd 10.{}.0.255", net.net)),
        "broadcast missing: {line}"
    );
    if let Some(cap) = cap {
        let lines = cap.collect(6, Duration::from_secs(10));
        // send_arp's pattern: a request and a reply per repetition.
        assert_eq!(
            count(&lines, &format!("Request who-has {vip}")),
            3,
            "{lines:#?}"
        );
        assert_eq!(
            count(&lines, &format!("Reply {vip} is-at")),
            3,
            "{lines:#?}"
        );
    }

    ip2.expect("monitor", 0);
    let r = ip2.expect("status", 0);
    assert_eq!(r.stdout, "running\n");
    ip2.expect("start", 0);
    assert_eq!(
        net.addrs().matches(&format!("inet {vip}/")).count(),
        1,
        "start twice added twice"
    );

    // A dead link (peer down → no carrier) is not a healthy VIP.
    net.exec_ok(&net.peer_ns, &["ip", "link", "set", &net.peer_dev, "down"]);
    net.wait_carrier(false);
    let r = ip2.expect("monitor", 1);
    assert!(
        r.stderr.contains("link") && r.stderr.contains("down"),
        "{r:?}"
    );
    // ...unless the check is switched off.
    Ctx::new("IPaddr2", "vip", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &vip)
        .param("check_link_status", "false")
        .expect("monitor", 0);
    net.exec_ok(&net.peer_ns, &["ip", "link", "set", &net.peer_dev, "up"]);
    net.wait_carrier(true);
    ip2.expect("monitor", 0);

    ip2.expect("stop", 0);
    assert!(!net.addrs().contains(&vip), "still present after stop");
    ip2.expect("monitor", 7);
    let r = ip2.expect("status", 7);
    assert_eq!(r.stdout, "stopped\n");
    ip2.expect("stop", 0);
}

#[test]
fn ipaddr2_background_arp_and_explicit_params() {
    let Some(net) = NetPair::new() else { return };
    let tmp = state_dir();
    let vip = net.addr(101);
    let ip2 = Ctx::new("IPaddr2", "vip2", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &vip)
        .param("nic", &net.dev)
        .param("cidr_netmask", "255.255.255.0")
        .param("arp_count", "2")
        .param("arp_interval", "100");
    let cap = Capture::start(&net, &vip);
    ip2.expect("start", 0);
    assert!(
        net.addrs().contains(&format!("inet {vip}/24")),
        "{}",
        net.addrs()
    );
    if let Some(cap) = cap {
        let lines = cap.collect(4, Duration::from_secs(10));
        assert_eq!(count(&lines, "Request who-has"), 2, "{lines:#?}");
        assert_eq!(count(&lines, "Reply"), 2, "{lines:#?}");
    }
    ip2.expect("stop", 0);
    assert!(!net.addrs().contains(&vip));

    // An address outside every subnet, without nic/netmask, cannot be placed.
    let lost = Ctx::new("IPaddr2", "lost", tmp.path())
        .in_netns(&net.ns)
        .param("ip", "192.0.2.10");
    let r = lost.expect("start", 1);
    assert!(
        r.stderr
            .contains("ocf-exit-reason:Unable to find nic or netmask"),
        "{r:?}"
    );
    assert_eq!(
        lost.probe().rc,
        7,
        "a probe is never an error for a stopped address"
    );
    lost.expect("stop", 0);
    // A label over 15 characters is a configuration error.
    Ctx::new("IPaddr2", "lbl", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &vip)
        .param("iflabel", "waytoolonglabel")
        .expect("start", 6);
    Ctx::new("IPaddr2", "bad", tmp.path())
        .in_netns(&net.ns)
        .param("ip", "10.0.0.300")
        .expect("validate-all", 6);
}

#[test]
fn ipaddr_ocf_uses_alias_labels() {
    let Some(net) = NetPair::new() else { return };
    let tmp = state_dir();
    let vip = net.addr(102);
    let ip = Ctx::new("IPaddr", "ipa", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &vip)
        .param("arp_count", "1");
    ip.expect("monitor", 7);
    ip.expect("start", 0);
    let addrs = net.addrs();
    assert!(
        addrs.contains(&format!("inet {vip}/24")) && addrs.contains(&format!("{}:0", net.dev)),
        "{addrs}"
    );
    ip.expect("monitor", 0);
    ip.expect("start", 0);
    ip.expect("stop", 0);
    ip.expect("stop", 0);
    ip.expect("monitor", 7);
    assert!(!net.addrs().contains(&vip));
}

/// `IPaddr <spec> <op>` exactly as haresources' `IPaddr::ip/mask/nic` calls it.
fn hb(net: &NetPair, tmp: &std::path::Path, program: &str, spec: &str, op: &str) -> Run {
    net_exec_env(net, tmp, &[program, spec, op])
}

fn net_exec_env(net: &NetPair, tmp: &std::path::Path, args: &[&str]) -> Run {
    std::process::Command::new("ip")
        .args(["netns", "exec", &net.ns])
        .args(args)
        .env("HA_RSCTMP", tmp)
        .env_remove("OCF_RESOURCE_INSTANCE")
        .env_remove("OCF_RA_VERSION_MAJOR")
        .output()
        .expect("spawn")
        .into()
}

#[test]
fn ipaddr_heartbeat_class_like_debian_wrapper() {
    let Some(net) = NetPair::new() else { return };
    let tmp = state_dir();
    // Our binary under the wrapper's name, as /etc/ha.d/resource.d/IPaddr.
    let dir = AgentDir::new();
    let ours = dir.path("IPaddr");
    let vip = net.addr(103);
    let spec = format!("{vip}/24/{}", net.dev);

    let r = hb(&net, tmp.path(), &ours, &spec, "status");
    assert_eq!(
        (r.rc, r.stdout.as_str()),
        (7, "INFO:  Resource is stopped\n"),
        "{r:?}"
    );
    // Same verdict and code as Debian's wrapper for the same call.
    let debian = "/etc/ha.d/resource.d/IPaddr";
    if std::path::Path::new(debian).exists() {
        let d = hb(&net, tmp.path(), debian, &spec, "status");
        assert_eq!(
            (d.rc, d.stdout.as_str()),
            (r.rc, r.stdout.as_str()),
            "debian: {d:?}"
        );
    }

    let r = hb(&net, tmp.path(), &ours, &spec, "start");
    assert_eq!((r.rc, r.stdout.as_str()), (0, "INFO:  Success\n"), "{r:?}");
    let addrs = net.addrs();
    assert!(
        addrs.contains(&format!("inet {vip}/24")) && addrs.contains(&format!("{}:0", net.dev)),
        "{addrs}"
    );
    let r = hb(&net, tmp.path(), &ours, &spec, "status");
    assert_eq!(
        (r.rc, r.stdout.as_str()),
        (0, "INFO:  Running OK\n"),
        "{r:?}"
    );
    // Debian's wrapper sees our address as running too.
    if std::path::Path::new(debian).exists() {
        let d = hb(&net, tmp.path(), debian, &spec, "status");
        assert_eq!(
            (d.rc, d.stdout.as_str()),
            (0, "INFO:  Running OK\n"),
            "debian: {d:?}"
        );
    }
    assert_eq!(hb(&net, tmp.path(), &ours, &spec, "start").rc, 0);
    let r = hb(&net, tmp.path(), &ours, &spec, "stop");
    assert_eq!((r.rc, r.stdout.as_str()), (0, "INFO:  Success\n"), "{r:?}");
    assert!(!net.addrs().contains(&vip));
    assert_eq!(hb(&net, tmp.path(), &ours, &spec, "stop").rc, 0);
    assert_eq!(hb(&net, tmp.path(), &ours, &spec, "status").rc, 7);

    let r = hb(&net, tmp.path(), &ours, &spec, "bogus");
    assert_eq!(r.rc, 1);
    assert!(
        r.stdout
            .starts_with("ERROR: Unknown operation: bogus\nusage: "),
        "{r:?}"
    );

    // The ip/mask/broadcast form (third field numeric) finds the nic itself.
    let spec2 = format!("{}/24/10.{}.0.255", net.addr(104), net.net);
    assert_eq!(hb(&net, tmp.path(), &ours, &spec2, "start").rc, 0);
    assert!(
        net.addrs().contains(&format!(
            "inet {}/24 brd 10.{}.0.255",
            net.addr(104),
            net.net
        )),
        "{}",
        net.addrs()
    );
    assert_eq!(hb(&net, tmp.path(), &ours, &spec2, "stop").rc, 0);

    // Through `ra-agents IPaddr <spec> <op>` as well.
    let r = net_exec_env(&net, tmp.path(), &[bin(), "IPaddr", &spec, "status"]);
    assert_eq!(r.stdout, "INFO:  Resource is stopped\n");
}

#[test]
fn sendarp_announces_and_tracks_pseudo_state() {
    let Some(net) = NetPair::new() else { return };
    let tmp = state_dir();
    let ip = net.addr(1);
    let s = Ctx::new("SendArp", "sa", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &ip)
        .param("nic", &net.dev)
        .param("background", "false")
        .param("arp_count", "2")
        .param("arp_interval", "50");
    assert_eq!(s.probe().rc, 7);
    s.expect("validate-all", 0);
    let cap = Capture::start(&net, &ip);
    s.expect("start", 0);
    if let Some(cap) = cap {
        let lines = cap.collect(4, Duration::from_secs(10));
        assert_eq!(
            count(&lines, &format!("Request who-has {ip}")),
            2,
            "{lines:#?}"
        );
        assert_eq!(count(&lines, &format!("Reply {ip} is-at")), 2, "{lines:#?}");
    }
    s.expect("monitor", 0);
    s.expect("start", 0);
    s.expect("stop", 0);
    s.expect("monitor", 7);
    s.expect("stop", 0);
    // Loopback has no hardware address to announce.
    Ctx::new("SendArp", "lo", tmp.path())
        .in_netns(&net.ns)
        .param("ip", "127.0.0.1")
        .param("nic", "lo")
        .expect("start", 2);
}

#[test]
fn send_arp_cli_like_heartbeat_send_arp() {
    let Some(net) = NetPair::new() else { return };
    let ip = net.addr(1);
    let cap = Capture::start(&net, &ip);
    let r = net_exec_env(
        &net,
        std::path::Path::new("/tmp"),
        &[
            bin(),
            "send_arp",
            "-i",
            "50",
            "-r",
            "1",
            &net.dev,
            &ip,
            "auto",
            "not_used",
            "not_used",
        ],
    );
    assert_eq!(r.rc, 0, "{r:?}");
    if let Some(cap) = cap {
        let lines = cap.collect(2, Duration::from_secs(10));
        assert_eq!(lines.len(), 2, "{lines:#?}");
    }
    let r = net_exec_env(
        &net,
        std::path::Path::new("/tmp"),
        &[bin(), "send_arp", &net.dev],
    );
    assert_eq!(r.rc, 1);
}

#[test]
fn ipaddr2_run_arping_refuses_an_address_in_use() {
    let Some(net) = NetPair::new() else { return };
    let tmp = state_dir();
    // The peer already owns .2; .120 is free.
    let taken = net.addr(2);
    let ip2 = Ctx::new("IPaddr2", "dup", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &taken)
        .param("run_arping", "true")
        .param("arp_count", "1");
    let r = ip2.expect("start", 1);
    assert!(
        r.stderr.contains("ocf-exit-reason:IPv4 address collision"),
        "{r:?}"
    );
    assert!(!net.addrs().contains(&format!("inet {taken}/")));
    ip2.expect("monitor", 7);

    let free = net.addr(120);
    let ok = Ctx::new("IPaddr2", "free", tmp.path())
        .in_netns(&net.ns)
        .param("ip", &free)
        .param("run_arping", "true")
        .param("arp_count", "1");
    ok.expect("start", 0);
    ok.expect("monitor", 0);
    ok.expect("stop", 0);
}
