//! Three-node "kill node1" bench, Debian heartbeat 3.0.6 against ours, same ha.cf
//! (keepalive 1 s, deadtime 3 s, auto_failback on, bcast) and same resources:
//! haresources `node1 IPaddr::<VIP>/24/eth0 httpd`, with Debian's IPaddr wrapper
//! (`/etc/ha.d/resource.d/IPaddr`) by default and the LSB web server script of
//! resource-agents/agents/lsb; a fourth namespace is the HTTP client.
//!
//! Each run starts a fresh cluster, waits until node1 serves and its start-up
//! dead-time bonus is over, waits a random part of a keepalive, kills node1's whole
//! process tree with SIGKILL and deletes its VIP (the machine is gone), then times
//! the first HTTP answer from a survivor and watches node2's and node3's addresses
//! (a round over both every ~50 ms) for `--watch` seconds: which nodes took the VIP
//! and how many held it in the same round.
//!
//! Usage: `bench_three_nodes [--runs K] [--kind debian|ours|both]
//! [--ipaddr debian|ours] [--watch SECONDS]` (defaults 5, both, debian, 10). Root.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use hb_tests::tutorial::{ensure_helpers, TutorialFiles};
use hb_tests::{authkeys, cmd, target_bin, workspace_root, HaCf, Medium, Net, Node, NodeSpec};

const NAMES: [&str; 3] = ["node1", "node2", "node3"];
const CLIENT: usize = 4;
/// Cold start (Debian's takes ~12 s with initdead) and failover bound.
const LIMIT: Duration = Duration::from_secs(90);
/// A fresh node advertises deadtime + 2 s for its first 5 s (heartbeat's start-up
/// bonus): the kill waits that out so it shows the configured deadtime.
const BONUS_OVER: Duration = Duration::from_secs(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Debian,
    Ours,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Debian => "debian",
            Kind::Ours => "ours",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpAddrScript {
    /// `/etc/ha.d/resource.d/IPaddr` from Debian's heartbeat package.
    Debian,
    /// Our heartbeat-class entry point (ra-agents).
    Ours,
}

struct Options {
    runs: usize,
    kinds: Vec<Kind>,
    ipaddr: IpAddrScript,
    watch: Duration,
}

/// One kill of node1.
struct RunResult {
    cold_start: Duration,
    /// Kill to the first HTTP answer, and who answered.
    failover: Option<(Duration, &'static str)>,
    /// Survivors that held the VIP at any sample after the kill.
    takers: Vec<&'static str>,
    /// Most survivors seen holding the VIP in one sampling round.
    max_holders: usize,
    /// Holders at the end of the watch.
    final_holders: Vec<&'static str>,
}

/// What the sampler thread saw.
#[derive(Default)]
struct Seen {
    took: [bool; 3],
    max_holders: usize,
    last: [bool; 3],
}

fn holds(ns: &str, vip: Ipv4Addr) -> bool {
    cmd::run(
        &["ip", "-n", ns, "-o", "-4", "addr", "show"],
        Duration::from_secs(5),
    )
    .map(|o| o.stdout.contains(&format!(" {vip}/")))
    .unwrap_or(false)
}

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

/// The LSB web server script, pointing at our ra-agents binary.
fn httpd_script() -> Result<String> {
    ensure_helpers()?;
    let ra_agents = target_bin("ra-agents")?;
    let path = workspace_root().join("resource-agents/agents/lsb/httpd");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.replace("@RA_AGENTS@", &ra_agents.to_string_lossy()))
}

fn one_run(kind: Kind, opts: &Options, files: &TutorialFiles, httpd: &str) -> Result<RunResult> {
    let net = Net::new(4)?;
    let base = net.addr(1)?.octets();
    let vip = Ipv4Addr::new(base[0], base[1], base[2], 100);
    let ha_cf = HaCf::new()
        .keepalive("1")
        .deadtime("3")
        .warntime("2")
        .initdead("6")
        .auto_failback("on")
        .media(Medium::bcast(net.iface(1)))
        .nodes(NAMES)
        .render();
    let keys = authkeys(1, "sha1", "bench-three-nodes");
    let haresources = format!("node1 IPaddr::{vip}/24/{} httpd\n", net.iface(1));
    let mut nodes = Vec::new();
    let t0 = Instant::now();
    for (i, name) in NAMES.iter().enumerate() {
        let spec = match kind {
            Kind::Debian => NodeSpec::debian(name, &ha_cf, &keys),
            Kind::Ours => NodeSpec::ours(name, target_bin("heartbeat")?, &ha_cf, &keys),
        };
        let spec = match opts.ipaddr {
            IpAddrScript::Debian => spec.with_file("resource.d/httpd", httpd, 0o755),
            IpAddrScript::Ours => files.install(spec),
        };
        nodes.push(Node::start(
            &net,
            i + 1,
            spec.with_haresources(&haresources),
        )?);
    }
    let started = Instant::now();
    let mut cold = None;
    while t0.elapsed() < LIMIT {
        if server(&net, vip) == Some("node1") {
            cold = Some(t0.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let Some(cold_start) = cold else {
        bail!(
            "node1 never served; node1 log:\n{}",
            tail(&nodes[0].log(), 30)
        );
    };
    if let Some(wait) = (started + BONUS_OVER).checked_duration_since(Instant::now()) {
        thread::sleep(wait);
    }
    // Started at a fixed point, every run would kill at the same phase of node1's
    // keepalive: a jitter of up to one keepalive spreads the kills over it.
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    thread::sleep(Duration::from_nanos(u64::from(jitter)));
    // Whatever the survivors do on their own (nothing, normally) before the kill
    // would be blamed on it.
    for n in &nodes[1..] {
        if holds(n.netns(), vip) {
            bail!("{} holds the VIP before the kill", n.name());
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sampler = {
        let (stop, seen) = (stop.clone(), seen.clone());
        let netns: Vec<String> = nodes.iter().map(|n| n.netns().to_owned()).collect();
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let round = Instant::now();
                // node1 is dead: only the survivors count.
                let held: Vec<bool> = netns[1..].iter().map(|ns| holds(ns, vip)).collect();
                if let Ok(mut s) = seen.lock() {
                    for (k, h) in held.iter().enumerate() {
                        s.took[k + 1] |= *h;
                        s.last[k + 1] = *h;
                    }
                    let n = held.iter().filter(|h| **h).count();
                    s.max_holders = s.max_holders.max(n);
                }
                if let Some(rest) = Duration::from_millis(50).checked_sub(round.elapsed()) {
                    thread::sleep(rest);
                }
            }
        })
    };
    let killed = Instant::now();
    nodes[0].kill9()?;
    let cidr = format!("{vip}/24");
    let _ = net.exec(1, &["ip", "addr", "del", &cidr, "dev", net.iface(1)]);
    let mut failover = None;
    while killed.elapsed() < LIMIT {
        if let Some(who) = server(&net, vip).filter(|w| *w != "node1") {
            failover = Some((killed.elapsed(), who));
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(opts.watch);
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let s = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("sampler thread panicked"))?;
    let pick = |flags: &[bool; 3]| -> Vec<&'static str> {
        (0..3).filter(|&i| flags[i]).map(|i| NAMES[i]).collect()
    };
    let result = RunResult {
        cold_start,
        failover,
        takers: pick(&s.took),
        max_holders: s.max_holders,
        final_holders: pick(&s.last),
    };
    drop(s);
    for n in &mut nodes {
        let _ = n.kill9();
    }
    Ok(result)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    v.sort_by(f64::total_cmp);
    format!(
        "min {:.2} s  median {:.2} s  max {:.2} s",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 5,
        kinds: vec![Kind::Debian, Kind::Ours],
        ipaddr: IpAddrScript::Debian,
        watch: Duration::from_secs(10),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        match (a.as_str(), v.as_deref()) {
            ("--runs", Some(n)) => {
                o.runs = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or("--runs wants 1..=100")?
            }
            ("--kind", Some("debian")) => o.kinds = vec![Kind::Debian],
            ("--kind", Some("ours")) => o.kinds = vec![Kind::Ours],
            ("--kind", Some("both")) => o.kinds = vec![Kind::Debian, Kind::Ours],
            ("--ipaddr", Some("debian")) => o.ipaddr = IpAddrScript::Debian,
            ("--ipaddr", Some("ours")) => o.ipaddr = IpAddrScript::Ours,
            ("--watch", Some(n)) => {
                o.watch = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=600).contains(n))
                    .map(Duration::from_secs)
                    .ok_or("--watch wants 1..=600 seconds")?
            }
            _ => return Err(format!("bad argument {a} {}", v.unwrap_or_default())),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench_three_nodes: {e}");
            eprintln!(
                "usage: bench_three_nodes [--runs K] [--kind debian|ours|both] \
                 [--ipaddr debian|ours] [--watch SECONDS]"
            );
            return ExitCode::from(2);
        }
    };
    if !hb_tests::require_root() {
        return ExitCode::from(2);
    }
    if opts.kinds.contains(&Kind::Debian) && !hb_tests::require_debian() {
        return ExitCode::from(2);
    }
    let prepared =
        || -> Result<(TutorialFiles, String)> { Ok((TutorialFiles::prepare()?, httpd_script()?)) };
    let (files, httpd) = match prepared() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench_three_nodes: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "3 nodes, keepalive 1 s, deadtime 3 s, initdead 6 s, auto_failback on, bcast; \
         haresources: node1 IPaddr::VIP/24/eth0 httpd ({} IPaddr); kill = SIGKILL of \
         node1's processes + its VIP deleted, at a random phase of its keepalive; \
         watch {} s after the first answer",
        match opts.ipaddr {
            IpAddrScript::Debian => "Debian's",
            IpAddrScript::Ours => "our",
        },
        opts.watch.as_secs()
    );
    let mut failed = false;
    for &kind in &opts.kinds {
        if kind == Kind::Ours && !target_bin("heartbeat").is_ok_and(|p| p.is_file()) {
            eprintln!("bench_three_nodes: our heartbeat is not built; skipping ours");
            failed = true;
            continue;
        }
        let mut times = Vec::new();
        let mut colds = Vec::new();
        let mut multi = 0;
        let mut worst = 0;
        let mut done = 0;
        for run in 1..=opts.runs {
            match one_run(kind, &opts, &files, &httpd) {
                Ok(r) => {
                    done += 1;
                    colds.push(r.cold_start.as_secs_f64());
                    let fo = match r.failover {
                        Some((d, who)) => {
                            times.push(d.as_secs_f64());
                            format!("{:.2} s ({who} answered)", d.as_secs_f64())
                        }
                        None => "no answer".into(),
                    };
                    if r.takers.len() > 1 {
                        multi += 1;
                    }
                    worst = worst.max(r.max_holders);
                    println!(
                        "{:<7} run {run}: cold start {:.2} s; failover {fo}; took the VIP: {:?}; \
                         max simultaneous holders {}; holders at the end {:?}",
                        kind.label(),
                        r.cold_start.as_secs_f64(),
                        r.takers,
                        r.max_holders,
                        r.final_holders
                    );
                }
                Err(e) => {
                    failed = true;
                    println!("{:<7} run {run}: failed: {e:#}", kind.label());
                }
            }
        }
        println!(
            "{:<7} summary: {done}/{} runs; failover {}; cold start {}; runs with more \
             than one taker: {multi}; max simultaneous holders: {worst}",
            kind.label(),
            opts.runs,
            stats(times),
            stats(colds)
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
