//! The tutorial's resources on three nodes of ours: haresources
//! `node1 IPaddr::<VIP>/24/eth0 httpd` and `node2 IPaddr::<VIP2>/24/eth0`, a fourth
//! namespace as the HTTP client. heartbeat 3.0.6 lets every survivor take a dead
//! node's groups (two VIP holders); hb-rm's multi-node placement must pick exactly
//! one, and take nothing without a majority of the configured nodes.
//!
//! A sampler thread runs `ip -o addr` in the three node namespaces one after the
//! other, a round every ~50 ms, for the whole test. It records every node that held
//! each VIP (to check there was exactly one taker) and any overlap: node A holding at
//! two consecutive samples of A with node B holding at a sample taken in between.
//! A node counts only while live: killed (its address is deleted as the machine
//! would lose it) or cut off from the bridge (no client or peer can reach it).
//! Timers are the tutorial's scaled down: keepalive 500 ms, deadtime 3 s,
//! initdead 6 s, auto_failback on.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hb_tests::tutorial::TutorialFiles;
use hb_tests::{authkeys, cmd, our_bin, HaCf, Medium, Net, Node, NodeSpec};
use nix::sys::signal::Signal;

const NAMES: [&str; 3] = ["node1", "node2", "node3"];
/// The client's namespace index.
const CLIENT: usize = 4;
const DEADTIME_S: u64 = 3;
/// heartbeat's start-up dead-time bonus (5 s) plus two keepalives.
const BONUS_OVER: Duration = Duration::from_millis(6000);
/// Generous bound for any single transition.
const LIMIT: Duration = Duration::from_secs(30);
/// How long a placement is watched after it happened for a second taker: a
/// duplicate takeover would follow within a few reconcile ticks (200 ms) or at the
/// latest once the dead time expires on every survivor.
const WATCH: Duration = Duration::from_secs(4);
/// VIP indexes in the sampler.
const VIP1: usize = 0;
const VIP2: usize = 1;

#[derive(Clone, Copy, Default)]
struct Sample {
    seq: u64,
    held: bool,
}

#[derive(Default)]
struct Seen {
    /// Per VIP, per node: the last sample (held only if live).
    last: [[Sample; 3]; 2],
    /// Per VIP, per node: the sample before `last`.
    prev: [[Sample; 3]; 2],
    /// Per VIP: nodes that held it live since the last `reset_takers`.
    takers: [[bool; 3]; 2],
    violations: Vec<String>,
    rounds: u64,
}

struct Sampler {
    live: Arc<[AtomicBool; 3]>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(netns: [String; 3], vips: [Ipv4Addr; 2]) -> Sampler {
        let live = Arc::new([
            AtomicBool::new(true),
            AtomicBool::new(true),
            AtomicBool::new(true),
        ]);
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (l, s, v) = (live.clone(), stop.clone(), seen.clone());
        let handle = thread::spawn(move || {
            let t0 = Instant::now();
            let mut seq = 0u64;
            while !s.load(Ordering::SeqCst) {
                let round = Instant::now();
                for (i, ns) in netns.iter().enumerate() {
                    seq += 1;
                    let alive = l[i].load(Ordering::SeqCst);
                    let addrs = addresses(ns);
                    let Ok(mut seen) = v.lock() else { return };
                    for (k, vip) in vips.iter().enumerate() {
                        let held = alive && addrs.contains(&format!(" {vip}/"));
                        let before = seen.last[k][i];
                        if held && before.held {
                            // i held at `before` and now: anybody seen holding in
                            // between held at the same time.
                            for j in (0..3).filter(|&j| j != i) {
                                let other = seen.last[k][j];
                                if other.held && other.seq > before.seq {
                                    let msg = format!(
                                        "{} and {} both hold {vip} at {:?}",
                                        NAMES[i],
                                        NAMES[j],
                                        t0.elapsed()
                                    );
                                    seen.violations.push(msg);
                                }
                            }
                        }
                        if held {
                            seen.takers[k][i] = true;
                        }
                        seen.prev[k][i] = before;
                        seen.last[k][i] = Sample { seq, held };
                    }
                }
                if let Ok(mut seen) = v.lock() {
                    seen.rounds += 1;
                }
                if let Some(rest) = Duration::from_millis(50).checked_sub(round.elapsed()) {
                    thread::sleep(rest);
                }
            }
        });
        Sampler {
            live,
            stop,
            seen,
            handle: Some(handle),
        }
    }

    fn set_live(&self, i: usize, alive: bool) {
        self.live[i].store(alive, Ordering::SeqCst);
    }

    fn rounds(&self) -> u64 {
        self.seen.lock().map(|s| s.rounds).unwrap_or(0)
    }

    /// Waits for two complete sampling rounds, so what follows sees the present.
    fn sync(&self) {
        let r = self.rounds();
        cmd::poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
            self.rounds() >= r + 2
        });
    }

    fn reset_takers(&self) {
        self.sync();
        if let Ok(mut s) = self.seen.lock() {
            s.takers = [[false; 3]; 2];
        }
    }

    /// Nodes that held VIP `k` while live since the last reset.
    fn takers(&self, k: usize) -> Vec<&'static str> {
        self.sync();
        let t = self.seen.lock().map(|s| s.takers[k]).unwrap_or_default();
        (0..3).filter(|&i| t[i]).map(|i| NAMES[i]).collect()
    }

    /// Fails if two live nodes ever held the same VIP so far.
    fn check(&self) -> Result<()> {
        let v = self
            .seen
            .lock()
            .map(|s| s.violations.clone())
            .unwrap_or_default();
        ensure!(v.is_empty(), "VIP held twice: {v:?}");
        Ok(())
    }

    fn finish(mut self) -> Result<u64> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.check()?;
        Ok(self.rounds())
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn addresses(ns: &str) -> String {
    cmd::run(
        &["ip", "-n", ns, "-o", "-4", "addr", "show"],
        Duration::from_secs(5),
    )
    .map(|o| o.stdout)
    .unwrap_or_default()
}

fn holds(ns: &str, vip: Ipv4Addr) -> bool {
    addresses(ns).contains(&format!(" {vip}/"))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Three nodes and a client. Field order is drop order: nodes before the namespaces.
struct Cluster {
    nodes: Vec<Node>,
    started: [Instant; 3],
    sampler: Option<Sampler>,
    vips: [Ipv4Addr; 2],
    net: Net,
    _files: TutorialFiles,
}

impl Cluster {
    fn start() -> Result<Cluster> {
        let files = TutorialFiles::prepare()?;
        let net = Net::new(4)?;
        let base = net.addr(1)?.octets();
        let vips = [
            Ipv4Addr::new(base[0], base[1], base[2], 100),
            Ipv4Addr::new(base[0], base[1], base[2], 101),
        ];
        let ha_cf = HaCf::new()
            .keepalive("500ms")
            .deadtime(&DEADTIME_S.to_string())
            .warntime("2")
            .initdead("6")
            .auto_failback("on")
            .media(Medium::bcast(net.iface(1)))
            .nodes(NAMES)
            .render();
        let keys = authkeys(1, "sha1", "three-nodes-secret");
        let iface = net.iface(1);
        let haresources = format!(
            "node1 IPaddr::{}/24/{iface} httpd\nnode2 IPaddr::{}/24/{iface}\n",
            vips[0], vips[1]
        );
        let mut nodes = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let spec = NodeSpec::ours(name, our_bin("heartbeat")?, &ha_cf, &keys);
            let spec = files
                .install(spec)
                .with_cl_status(our_bin("cl_status")?)
                .with_haresources(&haresources);
            nodes.push(Node::start(&net, i + 1, spec)?);
        }
        let sampler = Sampler::start(
            [
                nodes[0].netns().to_owned(),
                nodes[1].netns().to_owned(),
                nodes[2].netns().to_owned(),
            ],
            vips,
        );
        Ok(Cluster {
            nodes,
            started: [Instant::now(); 3],
            sampler: Some(sampler),
            vips,
            net,
            _files: files,
        })
    }

    fn sampler(&self) -> &Sampler {
        self.sampler.as_ref().expect("sampler runs until finish")
    }

    /// Which node answered `GET http://VIP/` from the client, if any.
    fn server(&self) -> Option<&'static str> {
        let url = format!("http://{}/", self.vips[VIP1]);
        let out = self
            .net
            .exec_timeout(
                CLIENT,
                &["curl", "-s", "-m", "0.5", &url],
                Duration::from_secs(3),
            )
            .ok()?;
        NAMES.iter().copied().find(|n| out.stdout.contains(n))
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {}\n{}\n", n.name(), tail(&n.log(), 40)))
            .collect()
    }

    /// Waits until `name` serves the page; returns how long it took.
    fn wait_server(&self, name: &str, limit: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.server() == Some(name) {
                return Ok(t0.elapsed());
            }
            thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "{name} did not serve within {limit:?}; logs:\n{}",
            self.logs()
        )
    }

    /// Waits until only `name` among the nodes holds VIP `k`.
    fn wait_holder(&self, k: usize, name: &str, limit: Duration) -> Result<()> {
        let ok = cmd::poll_until(limit, Duration::from_millis(50), || {
            self.nodes
                .iter()
                .all(|n| holds(n.netns(), self.vips[k]) == (n.name() == name))
        });
        ensure!(
            ok,
            "{} not held by {name} alone within {limit:?}; logs:\n{}",
            self.vips[k],
            self.logs()
        );
        Ok(())
    }

    /// After a placement: nobody else takes VIP `k` for a while, and exactly
    /// `expected` (besides `former`, the holder before the change) held it.
    fn expect_single_taker(&self, k: usize, former: Option<&str>, expected: &str) -> Result<()> {
        thread::sleep(WATCH);
        let takers: Vec<&str> = self
            .sampler()
            .takers(k)
            .into_iter()
            .filter(|t| Some(*t) != former)
            .collect();
        ensure!(
            takers == [expected],
            "{} was taken by {takers:?}, expected only {expected}; logs:\n{}",
            self.vips[k],
            self.logs()
        );
        self.sampler().check()
    }

    fn settle(&self, i: usize) {
        let settled = self.started[i] + BONUS_OVER;
        if let Some(wait) = settled.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }

    /// Hard kill of node `i`: its whole process tree (daemon, lrmd, web server) gets
    /// SIGKILL, and its VIP is deleted as a crashed machine's would vanish.
    fn kill_node(&mut self, i: usize) -> Result<Instant> {
        self.settle(i);
        self.sampler().set_live(i, false);
        let at = Instant::now();
        self.nodes[i].kill9()?;
        let ns = self.nodes[i].netns().to_owned();
        for vip in self.vips {
            if holds(&ns, vip) {
                let cidr = format!("{vip}/24");
                cmd::run(
                    &["ip", "-n", &ns, "addr", "del", &cidr, "dev", "eth0"],
                    Duration::from_secs(5),
                )?;
            }
        }
        Ok(at)
    }

    /// SIGTERM to node `i` (what `heartbeat -k` sends), without waiting for it.
    fn sigterm(&self, i: usize) -> Result<()> {
        let pid = self.nodes[i].pid().context("node not running")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM)?;
        Ok(())
    }

    fn start_again(&mut self, i: usize) -> Result<()> {
        self.nodes[i].start_again()?;
        self.started[i] = Instant::now();
        self.sampler().set_live(i, true);
        Ok(())
    }

    /// Runs a tool of ours (hb_standby, hb_takeover) inside node `i`.
    fn run_tool(&self, i: usize, tool: &str, arg: &str) -> Result<()> {
        let bin: PathBuf = our_bin(tool)?;
        let out = self.nodes[i].nsenter(
            &[bin.to_string_lossy().as_ref(), arg],
            Duration::from_secs(10),
        )?;
        ensure!(out.success(), "{tool} {arg}: {} {}", out.stdout, out.stderr);
        Ok(())
    }

    /// Node `i`'s view of `peer` (`cl_status nodestatus`, answered locally).
    fn wait_sees(&self, i: usize, peer: &str, status: &str) -> Result<()> {
        self.nodes[i]
            .wait_for(&format!("{peer} {status}"), LIMIT, |n| {
                n.node_status(peer) == status
            })
            .with_context(|| format!("{} never saw {peer} {status}", NAMES[i]))?;
        Ok(())
    }

    /// Cold start: node1 serves VIP1, node2 holds VIP2, nobody else holds either.
    fn wait_placed(&self) -> Result<()> {
        let cold = self.wait_server("node1", LIMIT)?;
        self.wait_holder(VIP1, "node1", LIMIT)?;
        self.wait_holder(VIP2, "node2", LIMIT)?;
        println!("cold start: node1 serves after {cold:?}, node2 holds its VIP");
        Ok(())
    }

    /// After a partition heals, heartbeat restarts every node that saw a peer come
    /// back with the same generation (all of them here); waits until that is over
    /// and the groups are home again.
    fn wait_healed(&self, from: &[usize; 3]) -> Result<()> {
        for (i, n) in self.nodes.iter().enumerate() {
            n.wait_log_after(from[i], "Heartbeat restart after a partition.", LIMIT)
                .with_context(|| format!("{} did not restart; logs:\n{}", n.name(), self.logs()))?;
        }
        self.wait_placed()
    }

    fn finish(mut self) -> Result<u64> {
        match self.sampler.take() {
            Some(s) => s.finish(),
            None => Ok(0),
        }
    }
}

/// Kill, graceful stop, failback and hb_standby with three nodes: every change of
/// VIP1's holder has exactly one taker, node2 (the first candidate after node1 in
/// ha.cf order), and node2's own group stays put.
#[test]
fn three_nodes_exactly_one_taker() -> Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let mut c = Cluster::start()?;
    c.wait_placed()?;

    // Hard kill of node1.
    c.sampler().reset_takers();
    let t0 = c.kill_node(0)?;
    c.wait_server("node2", LIMIT)?;
    let kill = t0.elapsed();
    println!("kill failover: node2 serves after {kill:?}");
    ensure!(
        kill >= Duration::from_secs(DEADTIME_S) - Duration::from_millis(500),
        "node2 served {kill:?} after the kill: before the dead time?"
    );
    c.expect_single_taker(VIP1, Some("node1"), "node2")?;
    ensure!(
        !holds(c.nodes[2].netns(), c.vips[VIP1]),
        "node3 holds node1's VIP too"
    );
    c.wait_holder(VIP2, "node2", LIMIT)?;

    // node1 back: auto_failback on gives it its group; node2 releases first.
    c.sampler().reset_takers();
    let t0 = Instant::now();
    c.start_again(0)?;
    c.wait_server("node1", LIMIT)?;
    println!("failback: node1 serves after {:?}", t0.elapsed());
    c.expect_single_taker(VIP1, Some("node2"), "node1")?;
    c.wait_holder(VIP1, "node1", LIMIT)?;

    // Graceful stop of node1: it releases, then exactly one node takes over.
    c.settle(0);
    c.sampler().reset_takers();
    let t0 = Instant::now();
    c.sigterm(0)?;
    c.wait_server("node2", LIMIT)?;
    println!("graceful handover: node2 serves after {:?}", t0.elapsed());
    c.nodes[0].stop()?;
    c.sampler().set_live(0, false);
    c.expect_single_taker(VIP1, Some("node1"), "node2")?;

    // node1 back again.
    c.start_again(0)?;
    c.wait_server("node1", LIMIT)?;
    c.wait_holder(VIP1, "node1", LIMIT)?;
    c.wait_holder(VIP2, "node2", LIMIT)?;

    // hb_standby on the holder: exactly one other node takes its group.
    c.sampler().reset_takers();
    let t0 = Instant::now();
    c.run_tool(0, "hb_standby", "all")?;
    c.wait_server("node2", LIMIT)?;
    println!("hb_standby: node2 serves after {:?}", t0.elapsed());
    c.expect_single_taker(VIP1, Some("node1"), "node2")?;
    c.wait_holder(VIP1, "node2", LIMIT)?;

    // hb_takeover all (heartbeat's meaning: every group, node2's own included)
    // moves both groups to node1, each with a single taker.
    c.sampler().reset_takers();
    let t0 = Instant::now();
    c.run_tool(0, "hb_takeover", "all")?;
    c.wait_server("node1", LIMIT)?;
    println!("hb_takeover: node1 serves after {:?}", t0.elapsed());
    c.wait_holder(VIP2, "node1", LIMIT)?;
    c.expect_single_taker(VIP1, Some("node2"), "node1")?;
    c.expect_single_taker(VIP2, Some("node2"), "node1")?;

    let rounds = c.finish()?;
    println!("VIPs sampled in {rounds} rounds: never on two live nodes");
    Ok(())
}

/// Quorum (a strict majority of the three configured nodes). node3 cut off while
/// node1 holds: node3 sees both others dead, has no quorum and takes nothing; node1
/// keeps serving. node1 cut off from {node2, node3}: the majority takes its group
/// exactly once (node2). What hb-rm does on the minority side is "no stop policy":
/// a node that loses quorum keeps what it runs and starts nothing, so node1 still
/// has the VIP while isolated (nobody can reach it; STONITH, where configured, fences
/// it before the majority takes over). When a link comes back every node restarts
/// (heartbeat 3.0.6's split-brain healing) and the groups go home.
#[test]
fn three_nodes_quorum() -> Result<()> {
    if !hb_tests::require_root() {
        return Ok(());
    }
    let c = Cluster::start()?;
    c.wait_placed()?;
    c.settle(0);
    c.settle(2);

    // node3 alone: the minority takes nothing.
    c.sampler().set_live(2, false);
    c.net.cut_link(3)?;
    c.wait_sees(2, "node1", "dead")?;
    c.wait_sees(2, "node2", "dead")?;
    let until = Instant::now() + WATCH;
    while Instant::now() < until {
        for (k, vip) in c.vips.iter().enumerate() {
            ensure!(
                !holds(c.nodes[2].netns(), *vip),
                "node3 took VIP{} without quorum; log:\n{}",
                k + 1,
                tail(&c.nodes[2].log(), 40)
            );
        }
        ensure!(
            c.server() == Some("node1"),
            "node1 stopped serving while node3 was cut off"
        );
        thread::sleep(Duration::from_millis(200));
    }
    c.wait_holder(VIP2, "node2", LIMIT)?;
    let from = [
        c.nodes[0].log_len(),
        c.nodes[1].log_len(),
        c.nodes[2].log_len(),
    ];
    c.net.restore_link(3)?;
    // node3 held nothing: it may count as live at once.
    c.sampler().set_live(2, true);
    c.wait_healed(&from)?;
    println!("node3's partition healed: node1 serves again");

    // node1 alone: the majority takes its group once (once the restarted
    // daemons' start-up dead-time bonus is over).
    thread::sleep(BONUS_OVER);
    c.sampler().reset_takers();
    c.sampler().set_live(0, false);
    let t0 = Instant::now();
    c.net.cut_link(1)?;
    c.wait_server("node2", LIMIT)?;
    println!("node1 cut off: node2 serves after {:?}", t0.elapsed());
    c.expect_single_taker(VIP1, Some("node1"), "node2")?;
    c.wait_sees(0, "node2", "dead")?;
    c.wait_sees(0, "node3", "dead")?;
    ensure!(
        holds(c.nodes[0].netns(), c.vips[VIP1]),
        "node1 (minority) released its VIP: hb-rm has no stop policy on quorum loss"
    );
    ensure!(
        !holds(c.nodes[0].netns(), c.vips[VIP2]),
        "node1 (minority) took node2's VIP without quorum"
    );
    let from = [
        c.nodes[0].log_len(),
        c.nodes[1].log_len(),
        c.nodes[2].log_len(),
    ];
    c.net.restore_link(1)?;
    // Until the restarts give it up, node1's VIP is the known split brain.
    let t0 = Instant::now();
    let healed = cmd::poll_until(LIMIT, Duration::from_millis(50), || {
        !(holds(c.nodes[0].netns(), c.vips[VIP1]) && holds(c.nodes[1].netns(), c.vips[VIP1]))
    });
    ensure!(healed, "VIP1 still on node1 and node2; logs:\n{}", c.logs());
    println!(
        "node1's link back: split brain over after {:?}",
        t0.elapsed()
    );
    c.sampler().set_live(0, true);
    c.wait_healed(&from)?;
    let rounds = c.finish()?;
    println!("VIPs sampled in {rounds} rounds: never on two live nodes");
    Ok(())
}
