//! Debian's /usr/sbin/ocf-tester must pass against every agent we ship.

mod common;

use common::*;

fn assert_passed(agent_path: &str, r: Option<Run>) {
    let Some(r) = r else { return };
    assert_eq!(
        r.rc, 0,
        "ocf-tester failed for {agent_path}:\n{}\n{}",
        r.stdout, r.stderr
    );
    assert!(
        r.stdout.contains(&format!("{agent_path} passed all tests")),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(!r.stdout.contains("* rc="), "{}", r.stdout);
}

#[test]
fn ocf_tester_dummy() {
    let dir = AgentDir::new();
    let tmp = state_dir();
    let state = tmp.path().join("t.state").display().to_string();
    let agent = dir.path("Dummy");
    assert_passed(
        &agent,
        ocf_tester(None, tmp.path(), "td", &[("state", &state)], &agent),
    );
}

#[test]
fn ocf_tester_anything() {
    let dir = AgentDir::new();
    let tmp = state_dir();
    let pidfile = tmp.path().join("ta.pid").display().to_string();
    let agent = dir.path("anything");
    let opts = [
        ("binfile", "/bin/sleep"),
        ("cmdline_options", "1000"),
        ("pidfile", pidfile.as_str()),
        ("stop_timeout", "2"),
    ];
    assert_passed(&agent, ocf_tester(None, tmp.path(), "ta", &opts, &agent));
    // ocf-tester ends with a stop: nothing may be left running.
    assert!(!std::path::Path::new(&pidfile).exists());
}

#[test]
fn ocf_tester_webserver() {
    let dir = AgentDir::new();
    let tmp = state_dir();
    let port = free_port().to_string();
    let pidfile = tmp.path().join("tw.pid").display().to_string();
    let agent = dir.path("webserver");
    let opts = [
        ("port", port.as_str()),
        ("bind", "127.0.0.1"),
        ("pidfile", pidfile.as_str()),
    ];
    assert_passed(&agent, ocf_tester(None, tmp.path(), "tw", &opts, &agent));
    assert!(!std::path::Path::new(&pidfile).exists());
}

#[test]
fn ocf_tester_network_agents_in_netns() {
    let Some(net) = NetPair::new() else { return };
    let dir = AgentDir::new();
    let tmp = state_dir();
    let vip = net.addr(150);
    let vip2 = net.addr(151);
    let own = net.addr(1);
    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "IPaddr2",
            vec![
                ("ip", vip.as_str()),
                ("cidr_netmask", "24"),
                ("nic", net.dev.as_str()),
                ("arp_count", "1"),
            ],
        ),
        ("IPaddr", vec![("ip", vip2.as_str()), ("arp_count", "1")]),
        (
            "SendArp",
            vec![
                ("ip", own.as_str()),
                ("nic", net.dev.as_str()),
                ("arp_count", "1"),
            ],
        ),
    ];
    for (name, opts) in cases {
        let agent = dir.path(name);
        assert_passed(
            &agent,
            ocf_tester(Some(&net.ns), tmp.path(), name, &opts, &agent),
        );
    }
    assert!(
        !net.addrs().contains(&vip) && !net.addrs().contains(&vip2),
        "{}",
        net.addrs()
    );
}
