//! Interop: one Debian heartbeat 3.0.6 node (`alpha`, index 1) and one node of ours
//! (`bravo`, index 2) in one cluster over bcast (reference §11). Every test skips with a
//! message when not root or when Debian's heartbeat is not installed.
//!
//! Timers are fast (keepalive 500 ms, dead time 3-8 s) so the whole file stays within a
//! few minutes; Debian warns about an initdead under 10 s, which is harmless here.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hb_api::client::HbClient;
use hb_tests::{authkeys, our_bin, Capture, HaCf, Medium, Net, Node, NodeSpec, DEBIAN_CL_STATUS};
use hb_wire::Msg;

/// The Debian node.
const ALPHA: &str = "alpha";
/// Our node.
const BRAVO: &str = "bravo";
/// Every node's only interface (the bench names them all the same).
const IFACE: &str = "eth0";
const KEEPALIVE: Duration = Duration::from_millis(500);
/// Debian's R1 start-up negotiation is over: only then does `-k` finish promptly.
const SETTLED: &str = "Initial resource acquisition complete";
/// How long two fresh nodes may take to see each other active.
const JOIN: Duration = Duration::from_secs(25);
/// A fresh node of ours advertises a longer dead time this long.
const OUR_DT_BONUS_PERIOD: Duration = Duration::from_millis(hb_core::DT_BONUS_PERIOD_MS);

/// ha.cf shared by both nodes unless a test needs a per-node variant.
fn ha_cf(net: &Net, deadtime_s: u64, msgfmt: &str) -> String {
    HaCf::new()
        .keepalive("500ms")
        .deadtime(&deadtime_s.to_string())
        .warntime(&(deadtime_s - 1).to_string())
        // Debian refuses an initdead below the dead time.
        .initdead(&deadtime_s.max(4).to_string())
        .set("msgfmt", msgfmt)
        .media(Medium::bcast(net.iface(1)))
        .nodes([ALPHA, BRAVO])
        .render()
}

fn debian_spec(ha_cf: &str, keys: &str) -> NodeSpec {
    NodeSpec {
        // A hanging `-k` must fail the test quickly, not after the default minute.
        stop_timeout: Duration::from_secs(20),
        ..NodeSpec::debian(ALPHA, ha_cf, keys)
    }
}

fn ours_spec(ha_cf: &str, keys: &str) -> anyhow::Result<NodeSpec> {
    Ok(NodeSpec {
        stop_timeout: Duration::from_secs(20),
        ..NodeSpec::ours(BRAVO, our_bin("heartbeat")?, ha_cf, keys)
    })
}

/// Waits until `me` reports `peer` active.
fn wait_active(me: &Node, peer: &str) -> anyhow::Result<Duration> {
    Ok(me.wait_for(&format!("{peer} active"), JOIN, |n| {
        n.node_status(peer) == "active"
    })?)
}

/// Both directions: each side's cl_status reports the other `active` and the link `up`.
fn assert_mutually_active(alpha: &Node, bravo: &Node, case: &str) -> anyhow::Result<()> {
    for (me, peer) in [(alpha, BRAVO), (bravo, ALPHA)] {
        wait_active(me, peer).map_err(|e| {
            anyhow::anyhow!(
                "{case}: {e}\n--- {ALPHA} log:\n{}\n--- {BRAVO} log:\n{}",
                tail(&alpha.log(), 30),
                tail(&bravo.log(), 30)
            )
        })?;
        assert_eq!(
            me.cl_status(&["nodestatus", peer])?,
            (0, "active".to_owned()),
            "{case}: {} nodestatus {peer}",
            me.name()
        );
        assert_eq!(
            me.cl_status(&["hblinkstatus", peer, IFACE])?,
            (0, "up".to_owned()),
            "{case}: {} hblinkstatus {peer} {IFACE}",
            me.name()
        );
    }
    Ok(())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Fails when our daemon logged something it must not log in a healthy interop run.
fn assert_ours_clean(bravo: &Node) {
    let log = bravo.log();
    for bad in [
        "returning after partition",
        "attempted replay attack",
        "authentication failed",
        "Dropped bad packet",
    ] {
        assert!(
            !log.contains(bad),
            "our log has {bad:?}:\n{}",
            tail(&log, 60)
        );
    }
}

fn generation(node: &Node) -> u64 {
    std::fs::read_to_string(node.varlib_dir().join("hb_generation"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `node`'s cl_status until it reports `peer` dead (rc 1); returns the time since
/// `since`.
fn wait_dead(node: &Node, peer: &str, since: Instant, limit: Duration) -> anyhow::Result<Duration> {
    node.wait_for(&format!("{peer} dead"), limit, |n| {
        n.cl_status(&["nodestatus", peer])
            .is_ok_and(|r| r == (1, "dead".to_owned()))
    })?;
    Ok(since.elapsed())
}

#[test]
fn auth_methods_with_classic_msgfmt() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    for method in ["sha1", "md5", "crc"] {
        let net = Net::new(2)?;
        let cf = ha_cf(&net, 3, "classic");
        let keys = authkeys(1, method, "interop-secret");
        let alpha = Node::start(&net, 1, debian_spec(&cf, &keys))?;
        let bravo = Node::start(&net, 2, ours_spec(&cf, &keys)?)?;
        assert_mutually_active(&alpha, &bravo, &format!("auth {method}, classic"))?;
        assert!(
            alpha.log().contains("Link bravo:eth0 up"),
            "{method}: Debian log:\n{}",
            alpha.log()
        );
        assert!(
            !alpha.log().contains("authtoken does not match"),
            "{method}: Debian rejected our packets:\n{}",
            alpha.log()
        );
        assert_ours_clean(&bravo);
    }
    Ok(())
}

#[test]
fn netstring_and_mixed_msgfmt() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    // (Debian's msgfmt, ours, auth method)
    let cases = [
        ("netstring", "netstring", "sha1"),
        ("classic", "netstring", "md5"),
        ("netstring", "classic", "crc"),
    ];
    for (deb_fmt, our_fmt, method) in cases {
        let net = Net::new(2)?;
        let keys = authkeys(2, method, "mixed-formats");
        let alpha = Node::start(&net, 1, debian_spec(&ha_cf(&net, 3, deb_fmt), &keys))?;
        let bravo = Node::start(&net, 2, ours_spec(&ha_cf(&net, 3, our_fmt), &keys)?)?;
        let case = format!("Debian {deb_fmt}, ours {our_fmt}, {method}");
        assert_mutually_active(&alpha, &bravo, &case)?;
        assert!(
            !alpha.log().contains("authtoken does not match"),
            "{case}: Debian rejected our packets:\n{}",
            alpha.log()
        );
        assert_ours_clean(&bravo);
    }
    Ok(())
}

/// The IPv6 media: Debian's mcast6 and ucast6 plugins and ours form one cluster.
#[test]
fn ipv6_media_interoperate() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    for kind in ["mcast6", "ucast6"] {
        let net = Net::new(2)?;
        let addrs = net.add_ipv6()?;
        let medium = if kind == "mcast6" {
            Medium::Mcast6 {
                iface: IFACE.into(),
                group: "ff15::694".parse()?,
                port: 694,
                hops: 1,
                loopback: false,
            }
        } else {
            Medium::Ucast6 {
                iface: IFACE.into(),
                peers: addrs,
            }
        };
        let cf = HaCf::new()
            .keepalive("500ms")
            .deadtime("3")
            .warntime("2")
            .initdead("4")
            .media(medium)
            .nodes([ALPHA, BRAVO])
            .render();
        let keys = authkeys(1, "sha1", "ipv6-media");
        let alpha = Node::start(&net, 1, debian_spec(&cf, &keys))?;
        let bravo = Node::start(&net, 2, ours_spec(&cf, &keys)?)?;
        assert_mutually_active(&alpha, &bravo, kind)?;
        assert_ours_clean(&bravo);
    }
    Ok(())
}

/// Our dead time (3 s) differs from Debian's (8 s), so each side's dead detection shows
/// whose advertised `dt` it honours.
#[test]
fn stop_and_kill_are_seen_by_the_peer() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    const OUR_DT: u64 = 3;
    const DEBIAN_DT: u64 = 8;
    let net = Net::new(2)?;
    let keys = authkeys(1, "sha1", "stop-and-kill");
    let mut alpha = Node::start(
        &net,
        1,
        debian_spec(&ha_cf(&net, DEBIAN_DT, "classic"), &keys),
    )?;
    let mut bravo = Node::start(&net, 2, ours_spec(&ha_cf(&net, OUR_DT, "classic"), &keys)?)?;
    assert_mutually_active(&alpha, &bravo, "start")?;
    alpha.wait_log(SETTLED, Duration::from_secs(30))?;

    // 1. Debian `-k`: it sends shutdone, so ours marks it dead at once, well before
    //    Debian's dead time.
    let t = Instant::now();
    alpha.stop()?;
    let stop_took = t.elapsed();
    let seen = wait_dead(&bravo, ALPHA, t, Duration::from_secs(DEBIAN_DT))?;
    eprintln!("Debian -k took {stop_took:?}; ours saw it dead after {seen:?}");
    assert!(
        seen < stop_took + Duration::from_secs(3),
        "ours saw Debian dead only {seen:?} after -k (which took {stop_took:?})"
    );
    assert!(
        bravo
            .log()
            .contains("Received shutdown notice from 'alpha'"),
        "our log:\n{}",
        bravo.log()
    );

    // 2. Our graceful stop: Debian takes over at once but only calls us dead after the
    //    dead time (its behaviour).
    alpha.start_again()?;
    assert_mutually_active(&alpha, &bravo, "Debian restarted")?;
    let mark = alpha.log_len();
    let t = Instant::now();
    bravo.stop()?;
    let seen = wait_dead(
        &alpha,
        BRAVO,
        t,
        Duration::from_secs(DEBIAN_DT) + Duration::from_secs(6),
    )?;
    eprintln!("Debian saw our stopped node dead after {seen:?}");
    alpha.wait_log_after(
        mark,
        "Received shutdown notice from 'bravo'",
        Duration::from_secs(1),
    )?;

    // 3. SIGKILL of ours: Debian calls us dead after OUR advertised dt, not its own.
    bravo.start_again()?;
    let started = Instant::now();
    assert_mutually_active(&alpha, &bravo, "ours restarted")?;
    // Ours advertises a bonus dt during its first seconds; let that pass, plus a couple
    // of keepalives so Debian has heard the plain dt.
    let plain_dt_heard = OUR_DT_BONUS_PERIOD + 3 * KEEPALIVE;
    std::thread::sleep(plain_dt_heard.saturating_sub(started.elapsed()));
    bravo.kill9()?;
    let t = Instant::now();
    let seen = wait_dead(&alpha, BRAVO, t, Duration::from_secs(DEBIAN_DT + 4))?;
    eprintln!("Debian saw our killed node dead after {seen:?}");
    let earliest = Duration::from_secs(OUR_DT) - KEEPALIVE - Duration::from_millis(300);
    assert!(seen >= earliest, "declared dead after only {seen:?}");
    assert!(
        seen < Duration::from_secs(OUR_DT + 2),
        "Debian took {seen:?}: it did not use our dt of {OUR_DT} s (its own is {DEBIAN_DT} s)"
    );

    // 4. SIGKILL of Debian: ours calls it dead after Debian's dt, not our own.
    bravo.start_again()?;
    assert_mutually_active(&alpha, &bravo, "ours restarted after kill")?;
    alpha.kill9()?;
    let t = Instant::now();
    let seen = wait_dead(&bravo, ALPHA, t, Duration::from_secs(DEBIAN_DT + 5))?;
    eprintln!("ours saw the killed Debian node dead after {seen:?}");
    let earliest = Duration::from_secs(DEBIAN_DT) - KEEPALIVE - Duration::from_millis(300);
    assert!(
        seen >= earliest,
        "ours declared Debian dead after {seen:?}, before its dt of {DEBIAN_DT} s"
    );
    assert_ours_clean(&bravo);
    Ok(())
}

#[test]
fn restarts_of_ours_are_restarts_not_replays() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    let net = Net::new(2)?;
    let cf = ha_cf(&net, 3, "classic");
    let keys = authkeys(1, "md5", "restart");
    let alpha = Node::start(&net, 1, debian_spec(&cf, &keys))?;
    let mut bravo = Node::start(&net, 2, ours_spec(&cf, &keys)?)?;
    assert_mutually_active(&alpha, &bravo, "start")?;
    let mut gen = generation(&bravo);
    assert!(gen > 0, "ours wrote hb_generation");

    for how in ["kill", "stop"] {
        let mark = alpha.log_len();
        match how {
            "kill" => bravo.kill9()?,
            _ => bravo.stop()?,
        }
        bravo.start_again()?;
        alpha.wait_log_after(
            mark,
            "Heartbeat restart on node bravo",
            Duration::from_secs(20),
        )?;
        wait_active(&alpha, BRAVO)?;
        assert_mutually_active(&alpha, &bravo, how)?;
        let new_gen = generation(&bravo);
        assert!(new_gen > gen, "{how}: generation {gen} -> {new_gen}");
        gen = new_gen;
        let after = alpha.log().get(mark..).unwrap_or_default().to_owned();
        assert!(
            !after.contains("attempted replay attack"),
            "{how}: Debian log:\n{after}"
        );
    }
    assert_ours_clean(&bravo);
    Ok(())
}

/// Runs `cl_status args` with `bin` in `node`'s namespaces: exit code and raw stdout.
fn cl_status_raw(node: &Node, bin: &str, args: &[&str]) -> anyhow::Result<(i32, String)> {
    let mut argv = vec![bin];
    argv.extend_from_slice(args);
    let out = node.nsenter(&argv, Duration::from_secs(15))?;
    Ok((out.code(), out.stdout))
}

/// `hbstatus -v` minus its `version:` line, which names each build; that line must
/// still claim 3.0.6.
fn without_version(args: &[&str], (code, out): (i32, String)) -> (i32, String) {
    if args.first() != Some(&"hbstatus") {
        return (code, out);
    }
    let mut kept = String::new();
    let mut versions = 0;
    for line in out.split_inclusive('\n') {
        match line.strip_prefix("version:") {
            Some(v) => {
                assert!(v.trim_start().starts_with("3.0.6"), "version line {line:?}");
                versions += 1;
            }
            None => kept.push_str(line),
        }
    }
    let verbose = args.contains(&"-v");
    assert_eq!(
        versions,
        usize::from(verbose),
        "`cl_status {args:?}` printed {out:?}"
    );
    (code, kept)
}

#[test]
fn cl_status_outputs_agree() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    let our_cl_status: PathBuf = our_bin("cl_status")?;
    let ours = our_cl_status.to_string_lossy().into_owned();
    let net = Net::new(2)?;
    let cf = ha_cf(&net, 4, "classic");
    let keys = authkeys(1, "sha1", "cl-status");
    let alpha = Node::start(&net, 1, debian_spec(&cf, &keys))?;
    let bravo = Node::start(&net, 2, ours_spec(&cf, &keys)?)?;
    assert_mutually_active(&alpha, &bravo, "start")?;
    // Link and node states are settled once both sides run past initdead and R1 start-up.
    alpha.wait_log(SETTLED, Duration::from_secs(30))?;

    let mut queries: Vec<Vec<String>> = Vec::new();
    let q = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    for a in [
        &["hbstatus"][..],
        &["hbstatus", "-v"],
        &["listnodes"],
        &["listnodes", "-v"],
        &["listnodes", "-n"],
        &["listnodes", "-p"],
        &["rscstatus"],
        &["nodestatus", "charlie"],
        &["hbparameter"],
    ] {
        queries.push(q(a));
    }
    for node in [ALPHA, BRAVO] {
        for sub in [
            "nodestatus",
            "nodetype",
            "nodeweight",
            "nodesite",
            "listhblinks",
        ] {
            queries.push(q(&[sub, node]));
        }
        queries.push(q(&["listhblinks", "-v", node]));
        queries.push(q(&["hblinkstatus", node, IFACE]));
        queries.push(q(&["hblinkstatus", node, "eth9"]));
    }
    for p in [
        "deadtime",
        "keepalive",
        "warntime",
        "initdead",
        "udpport",
        "auto_failback",
        "msgfmt",
        "baud",
        "hopfudge",
        "logfacility",
        "node",
        "bcast",
        "nonexistent",
    ] {
        queries.push(q(&["hbparameter", "-p", p]));
    }

    let mut mismatches = Vec::new();
    // Same daemon, two clients: Debian's cl_status and ours must print the same.
    for node in [&bravo, &alpha] {
        for args in &queries {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let deb = without_version(&args, cl_status_raw(node, DEBIAN_CL_STATUS, &args)?);
            let our = without_version(&args, cl_status_raw(node, &ours, &args)?);
            if deb != our {
                mismatches.push(format!(
                    "on {} `cl_status {}`: Debian's {deb:?}, ours {our:?}",
                    node.name(),
                    args.join(" ")
                ));
            }
        }
    }
    // Same client, two daemons: answers that do not depend on which node is asked
    // must be the same from Debian's daemon and ours (same ha.cf on both).
    for args in &queries {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Links are per node, and rscstatus is what each node holds (Debian in R1 mode
        // owns everything, ours holds nothing).
        if matches!(args[0], "listhblinks" | "hblinkstatus" | "rscstatus") {
            continue;
        }
        let from_debian = without_version(&args, cl_status_raw(&alpha, DEBIAN_CL_STATUS, &args)?);
        let from_ours = without_version(&args, cl_status_raw(&bravo, DEBIAN_CL_STATUS, &args)?);
        if from_debian != from_ours {
            mismatches.push(format!(
                "`cl_status {}`: Debian's daemon {from_debian:?}, ours {from_ours:?}",
                args.join(" ")
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_ours_clean(&bravo);
    Ok(())
}

#[test]
fn debian_in_haresources_mode_settles_and_stops() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    let net = Net::new(2)?;
    let cf = ha_cf(&net, 3, "classic");
    let keys = authkeys(1, "crc", "");
    // The bench writes an empty haresources and no `crm` line: Debian runs in R1 mode.
    let mut alpha = Node::start(&net, 1, debian_spec(&cf, &keys))?;
    let bravo = Node::start(&net, 2, ours_spec(&cf, &keys)?)?;
    assert_mutually_active(&alpha, &bravo, "start")?;
    alpha.wait_log(SETTLED, Duration::from_secs(30))?;
    let t = Instant::now();
    alpha.stop()?;
    let took = t.elapsed();
    let log = alpha.log();
    assert!(
        took < Duration::from_secs(10),
        "Debian -k took {took:?}:\n{}",
        tail(&log, 30)
    );
    assert!(
        log.contains("Heartbeat shutdown complete"),
        "{}",
        tail(&log, 30)
    );
    assert!(
        !log.contains("Shutdown delayed until current resource activity finishes"),
        "{}",
        tail(&log, 30)
    );
    assert_ours_clean(&bravo);
    Ok(())
}

/// A node of ours is killed and a Debian node takes over its name (new uuid, higher
/// generation), once before and once after our other node declared it dead: our node
/// must see a restart, not a partition coming back.
#[test]
fn debian_node_replacing_ours_is_a_restart() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    for declared_dead_first in [false, true] {
        let net = Net::new(2)?;
        let cf = ha_cf(&net, 3, "classic") + "debug 1\n";
        let keys = authkeys(1, "sha1", "replace");
        let bin = our_bin("heartbeat")?;
        let ours_a = Node::start(&net, 1, NodeSpec::ours(ALPHA, bin.clone(), &cf, &keys))?;
        let mut ours_b = Node::start(&net, 2, NodeSpec::ours(BRAVO, bin, &cf, &keys))?;
        let b_started = Instant::now();
        wait_active(&ours_a, BRAVO)?;
        wait_active(&ours_b, ALPHA)?;
        let mark = ours_a.log_len();
        ours_b.kill9()?;
        let killed = Instant::now();
        if declared_dead_first {
            wait_dead(&ours_a, BRAVO, killed, Duration::from_secs(10))?;
        }
        // Fresh nodes start their generation at the clock's seconds: start Debian's a
        // couple of seconds later so its generation is higher, as on a real machine.
        std::thread::sleep(Duration::from_secs(2).saturating_sub(b_started.elapsed()));
        drop(ours_b);
        let deb_b = Node::start(&net, 2, NodeSpec::debian(BRAVO, &cf, &keys))?;
        let case = format!("declared dead first: {declared_dead_first}");
        ours_a
            .wait_log_after(mark, "Heartbeat restart on node bravo", JOIN)
            .map_err(|e| anyhow::anyhow!("{case}: {e}\n{}", tail(&ours_a.log(), 40)))?;
        wait_active(&ours_a, BRAVO)?;
        wait_active(&deb_b, ALPHA)?;
        // Give a late misinterpretation a few keepalives to show up.
        std::thread::sleep(Duration::from_secs(2));
        let after = ours_a.log().get(mark..).unwrap_or_default().to_owned();
        assert!(
            !after.contains("returning after partition"),
            "{case}: our log after the replacement:\n{after}"
        );
    }
    Ok(())
}

/// The API socket of `node`, reached from the host through the daemon's root: the
/// node's /run is a tmpfs only its mount namespace sees.
fn api_socket(node: &Node) -> anyhow::Result<PathBuf> {
    let pid = node
        .pid()
        .ok_or_else(|| anyhow::anyhow!("node {} is not running", node.name()))?;
    Ok(PathBuf::from(format!(
        "/proc/{pid}/root/run/heartbeat/register"
    )))
}

/// Debian with `traditional_compression yes` compresses a > 2 KB client message into a
/// `_compressed_payload` packet; ours must decompress it and deliver the inner message
/// to its client with the same name.
#[test]
fn compressed_big_client_message_from_debian() -> anyhow::Result<()> {
    if !hb_tests::require_debian() {
        return Ok(());
    }
    const CLIENT: &str = "bigmsg";
    let net = Net::new(2)?;
    let cf = ha_cf(&net, 3, "classic")
        + "traditional_compression yes\n"
        + &format!("apiauth {CLIENT} uid=root\n");
    let keys = authkeys(1, "sha1", "big");
    let alpha = Node::start(&net, 1, debian_spec(&cf, &keys))?;
    let bravo = Node::start(&net, 2, ours_spec(&cf, &keys)?)?;
    assert_mutually_active(&alpha, &bravo, "start")?;

    let pcap = bravo.dir().join("big.pcap");
    let mut capture = Capture::start(&net, 2, &pcap, "udp")?;
    let mut receiver = HbClient::signon(&api_socket(&bravo)?, Some(CLIENT))?;
    let mut sender = HbClient::signon(&api_socket(&alpha)?, Some(CLIENT))?;
    // Text that zlib shrinks well below the UDP limit but is far above 2 KB raw.
    let payload: String = (0..400).map(|i| format!("line{i:04}|")).collect();
    assert!(payload.len() > 3000);
    let mut msg = Msg::with_type("interop-big");
    msg.add_str("payload", &payload);
    sender.send_cluster(&msg)?;

    let got = recv_type(&mut receiver, "interop-big")?;
    capture.stop()?;
    let got = got.ok_or_else(|| {
        anyhow::anyhow!(
            "our client never got the big message; our log:\n{}",
            tail(&bravo.log(), 30)
        )
    })?;
    assert_eq!(got.get_str("payload"), Some(payload.as_str()));
    assert_eq!(got.get_str("src"), Some(ALPHA));
    assert_eq!(got.get_str("from_id"), Some(CLIENT));

    // And back: Debian's daemon accepts our big message and hands it to its client.
    let mut back = Msg::with_type("interop-big-back");
    back.add_str("payload", &payload);
    receiver.send_cluster(&back)?;
    let got = recv_type(&mut sender, "interop-big-back")?.ok_or_else(|| {
        anyhow::anyhow!(
            "Debian's client never got our big message; Debian log:\n{}",
            tail(&alpha.log(), 30)
        )
    })?;
    assert_eq!(got.get_str("payload"), Some(payload.as_str()));
    assert_eq!(got.get_str("src"), Some(BRAVO));
    // It really crossed the wire compressed: the raw payload never appears in a packet.
    let wire = std::fs::read(&pcap)?;
    let contains = |needle: &[u8]| wire.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"_compressed_payload"),
        "no compressed packet captured"
    );
    assert!(
        !contains(&payload.as_bytes()[..200]),
        "payload went uncompressed"
    );
    assert_ours_clean(&bravo);
    Ok(())
}

/// The next message of type `t` for `client`, skipping status and other traffic;
/// `None` after 10 s.
fn recv_type(client: &mut HbClient, t: &str) -> anyhow::Result<Option<Msg>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(m) = client.recv(Some(Duration::from_millis(500)))? {
            if m.msg_type() == Some(t) {
                return Ok(Some(m));
            }
        }
    }
    Ok(None)
}
