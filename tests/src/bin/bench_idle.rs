//! Idle cost of a 2-node cluster: CPU seconds, RSS and PSS per node, Debian heartbeat
//! 3.0.6 against ours (when `<profile>/heartbeat` exists), same ha.cf (keepalive 1 s,
//! bcast), and the floor of this machine: `bench_floor`, a loop doing only the I/O of
//! a heartbeat (one 306-byte broadcast a second, read the peer's), on the same network.
//!
//! Usage: `bench_idle [SECONDS] [--kind debian|ours|floor|both|all]` (default 60, all;
//! both = debian and ours). Needs root.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hb_tests::{procs, target_bin, BenchError, HaCf, Medium, Net, Node, NodeSpec, Result};

const NAMES: [&str; 2] = ["alpha", "bravo"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Debian,
    Ours,
    Floor,
}

/// What one node cost over the measurement window.
#[derive(Debug, Clone, Copy, Default)]
struct NodeCost {
    cpu_s: f64,
    rss_kb: u64,
    pss_kb: u64,
    processes: usize,
}

/// CPU time per process in nanoseconds, summed over its threads from
/// `/proc/<pid>/task/*/schedstat`: clock ticks (10 ms) are too coarse for daemons
/// that use a few tens of milliseconds a minute.
fn cpu_ns_by_pid(node: &Node) -> HashMap<i32, u64> {
    node.processes()
        .into_iter()
        .filter_map(|p| Some((p, procs::cpu_ns(p)?)))
        .collect()
}

fn measure(kind: Kind, secs: u64) -> Result<[NodeCost; 2]> {
    let bin = match kind {
        Kind::Debian => None,
        Kind::Ours => Some(target_bin("heartbeat")?),
        Kind::Floor => Some(target_bin("bench_floor")?),
    };
    let net = Net::new(2)?;
    let ha_cf = HaCf::new()
        .keepalive("1")
        .deadtime("10")
        .warntime("5")
        .initdead("20")
        .media(Medium::bcast(net.iface(1)))
        .nodes(NAMES)
        .render();
    let keys = hb_tests::authkeys(1, "sha1", "bench-idle");
    let mut nodes = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let spec = match &bin {
            None => NodeSpec::debian(name, &ha_cf, &keys),
            Some(b) => NodeSpec::ours(name, b.clone(), &ha_cf, &keys),
        };
        nodes.push(Node::start(&net, i + 1, spec)?);
    }
    for (me, peer) in [(0, 1), (1, 0)] {
        if kind == Kind::Floor {
            break;
        }
        let peer_name = NAMES[peer];
        let line = format!("Status update for node {peer_name}: status active");
        nodes[me].wait_for(
            &format!("{peer_name} active"),
            Duration::from_secs(60),
            |n| n.node_status(peer_name) == "active" || n.log().contains(&line),
        )?;
    }
    // Let start-up work (rc.d scripts, initial resource acquisition) finish first.
    std::thread::sleep(Duration::from_secs(5));
    let before: Vec<_> = nodes.iter().map(cpu_ns_by_pid).collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let window = start.elapsed().as_secs_f64();
    let mut out = [NodeCost::default(); 2];
    for (k, node) in nodes.iter_mut().enumerate() {
        if !node.is_running() {
            return Err(BenchError::Node {
                node: node.name().into(),
                msg: "died during the measurement".into(),
            });
        }
        let after = cpu_ns_by_pid(node);
        let ns: u64 = after
            .iter()
            .map(|(pid, t)| t.saturating_sub(before[k].get(pid).copied().unwrap_or(0)))
            .sum();
        let mut cost = NodeCost {
            cpu_s: ns as f64 / 1e9,
            processes: after.len(),
            ..NodeCost::default()
        };
        for pid in after.keys() {
            let m = procs::memory(*pid).unwrap_or_default();
            cost.rss_kb += m.rss_kb;
            cost.pss_kb += m.pss_kb;
        }
        out[k] = cost;
    }
    eprintln!("bench_idle: {kind:?} measured over {window:.1} s");
    for n in &mut nodes {
        if let Err(e) = n.stop() {
            eprintln!("bench_idle: {e}");
        }
    }
    Ok(out)
}

fn ratio(ours: Option<f64>, debian: Option<f64>) -> String {
    match (ours, debian) {
        (Some(o), Some(d)) if d > 0.0 => format!("{:.2}", o / d),
        _ => "n/a".into(),
    }
}

fn cell(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.prec$}"))
}

fn print_table(
    secs: u64,
    debian: Option<[NodeCost; 2]>,
    ours: Option<[NodeCost; 2]>,
    floor: Option<[NodeCost; 2]>,
) {
    println!("idle 2-node cluster, keepalive 1 s, bcast, window {secs} s");
    println!(
        "{:<26}{:>12}{:>12}{:>12}{:>14}{:>12}",
        "metric", "debian", "ours", "floor", "ours/debian", "ours/floor"
    );
    type Get = fn(&NodeCost) -> f64;
    let rows: [(&str, Get, usize); 5] = [
        ("cpu s", |c| c.cpu_s, 3),
        ("cpu % of one core", |c| c.cpu_s, 3),
        ("rss kB", |c| c.rss_kb as f64, 0),
        ("pss kB", |c| c.pss_kb as f64, 0),
        ("processes", |c| c.processes as f64, 0),
    ];
    let scale = |label: &str, v: f64| {
        if label.starts_with("cpu %") {
            v * 100.0 / secs as f64
        } else {
            v
        }
    };
    for node in 0..3 {
        for (label, get, prec) in rows {
            let pick = |set: &Option<[NodeCost; 2]>| {
                set.as_ref().map(|s| {
                    let v = if node == 2 {
                        get(&s[0]) + get(&s[1])
                    } else {
                        get(&s[node])
                    };
                    scale(label, v)
                })
            };
            let (d, o, f) = (pick(&debian), pick(&ours), pick(&floor));
            let who = if node == 2 {
                "total".to_owned()
            } else {
                NAMES[node].to_owned()
            };
            println!(
                "{:<26}{:>12}{:>12}{:>12}{:>14}{:>12}",
                format!("{who} {label}"),
                cell(d, prec),
                cell(o, prec),
                cell(f, prec),
                ratio(o, d),
                ratio(o, f)
            );
        }
    }
}

fn main() -> ExitCode {
    let mut secs = 60u64;
    let mut kinds = vec![Kind::Debian, Kind::Ours, Kind::Floor];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--kind" => {
                kinds = match args.next().as_deref() {
                    Some("debian") => vec![Kind::Debian],
                    Some("ours") => vec![Kind::Ours],
                    Some("floor") => vec![Kind::Floor],
                    Some("both") => vec![Kind::Debian, Kind::Ours],
                    Some("all") => vec![Kind::Debian, Kind::Ours, Kind::Floor],
                    other => {
                        eprintln!(
                            "bench_idle: --kind wants debian|ours|floor|both|all, got {other:?}"
                        );
                        return ExitCode::from(2);
                    }
                }
            }
            s => match s.parse::<u64>() {
                Ok(n) if (1..=3600).contains(&n) => secs = n,
                _ => {
                    eprintln!(
                        "usage: bench_idle [SECONDS 1..3600] [--kind debian|ours|floor|both|all]"
                    );
                    return ExitCode::from(2);
                }
            },
        }
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench_idle: needs root (network namespaces)");
        return ExitCode::from(2);
    }
    let mut failed = false;
    let mut run = |kind: Kind| -> Option<[NodeCost; 2]> {
        if !kinds.contains(&kind) {
            return None;
        }
        if kind != Kind::Debian {
            let name = if kind == Kind::Ours {
                "heartbeat"
            } else {
                "bench_floor"
            };
            match target_bin(name) {
                Ok(p) if p.is_file() => {}
                Ok(p) => {
                    eprintln!("bench_idle: {} not built; skipping {kind:?}", p.display());
                    return None;
                }
                Err(e) => {
                    eprintln!("bench_idle: {e}; skipping {kind:?}");
                    return None;
                }
            }
        }
        match measure(kind, secs) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("bench_idle: {kind:?}: {e}");
                failed = true;
                None
            }
        }
    };
    let debian = run(Kind::Debian);
    let ours = run(Kind::Ours);
    let floor = run(Kind::Floor);
    print_table(secs, debian, ours, floor);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
