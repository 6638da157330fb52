//! Failover benchmark: Debian heartbeat 3.0.6 against ours, the Linux-HA tutorial's
//! cluster (haresources `node1 IPaddr::<VIP>/24/eth0 httpd`, auto_failback on) with
//! the same ha.cf, the same resource scripts (our IPaddr entry point and the LSB httpd
//! script) and the same client.
//!
//! Every time is "fault → first HTTP answer from the expected node", read off a web
//! client that polls http://VIP/ every 10 ms from its own namespace (see
//! `hb_tests::tutorial::HttpProbe`). Each run is a fresh cluster:
//!
//! 1. cold start: both daemons started → node1 answers;
//! 2. graceful: `heartbeat -k` on node1 → node2 answers;
//! 3. failback: node1 started again → node1 answers;
//! 4. kill: a crash of node1 → node2 answers. A crash is simulated as SIGKILL of every
//!    process of node1 (its process group and everything in its mount namespace:
//!    heartbeat, lrmd, the web server, ARP senders) followed at once by the removal of
//!    the VIP from node1's eth0: the VIP dies with the machine, so the client can only
//!    be served by node2 (node1's own address and link stay, answering nothing
//!    heartbeat-related);
//! 5. failback after the kill (node1 started again → node1 answers);
//! 6. link cut: node1's bridge port down (`Net::cut_link`) → node2 answers; the
//!    cluster is then torn down rather than healed.
//!
//! Kill and link cut wait until node1 has run 7 s (a starting heartbeat advertises
//! deadtime + 2 s for its first 5 s), then a random fraction of a keepalive, so the
//! fault does not always strike at the same phase of node1's heartbeats.
//!
//! Then, unless `--fast-minutes 0`: ours at keepalive 50ms / deadtime 250ms, kill and
//! link-cut failover times, and a soak: both nodes up, no fault, 2×nproc busy loops for
//! M minutes; every episode where a node declares its peer dead (log or cl_status), the
//! VIP shows up on node2 or leaves node1, or node2 answers HTTP counts as a false
//! failover.
//!
//! Usage (root): `bench_failover [--runs N] [--kind debian|ours|both] [--fast-minutes M]`
//! (defaults 5, both, 10). Raw samples go to `<target>/bench/failover-<time>.json`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hb_tests::tutorial::{holds_vip, HttpProbe, TutorialFiles};
use hb_tests::{authkeys, cmd, profile_dir, target_bin, HaCf, Medium, Net, Node, NodeSpec};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use serde_json::{json, Value};

const NAMES: [&str; 2] = ["node1", "node2"];
/// The web client's namespace index.
const CLIENT: usize = 3;
const POLL: Duration = Duration::from_millis(10);
/// Bound for any one transition (Debian's cold start takes about 12 s).
const LIMIT: Duration = Duration::from_secs(90);
/// heartbeat's start-up dead-time bonus (5 s) plus margin for a keepalive.
const BONUS_OVER: Duration = Duration::from_secs(7);
/// Soak events closer than this belong to one false failover.
const EPISODE_GAP: Duration = Duration::from_secs(10);

const COLD: &str = "cold start";
const GRACEFUL: &str = "graceful";
const FAILBACK: &str = "failback";
const FAILBACK_KILL: &str = "failback after kill";
const KILL: &str = "kill";
const LINK_CUT: &str = "link cut";
const SCENARIOS: [&str; 6] = [COLD, GRACEFUL, FAILBACK, FAILBACK_KILL, KILL, LINK_CUT];

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn check_interrupt() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps `d`, waking early when interrupted.
fn nap(d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    while let Some(rest) = until.checked_duration_since(Instant::now()) {
        check_interrupt()?;
        std::thread::sleep(rest.min(Duration::from_millis(100)));
    }
    check_interrupt()
}

/// Ctrl-C and SIGTERM only set a flag: the waits return, and the Drop impls of the
/// nodes, namespaces and busy loops clean up by pid on the way out.
fn install_signal_handlers() -> Result<()> {
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { nix::sys::signal::sigaction(sig, &act) }
            .with_context(|| format!("sigaction {sig}"))?;
    }
    Ok(())
}

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

/// ha.cf timers.
#[derive(Debug, Clone, Copy)]
struct Timers {
    keepalive: &'static str,
    keepalive_ms: u64,
    deadtime: &'static str,
    warntime: &'static str,
    initdead: &'static str,
}

/// The tutorial's timers scaled to the issue's measurement (keepalive 1 s, deadtime 3 s).
const TUTORIAL: Timers = Timers {
    keepalive: "1",
    keepalive_ms: 1000,
    deadtime: "3",
    warntime: "2",
    initdead: "6",
};

/// The fast setting, warntime and initdead scaled like the tutorial's.
const FAST: Timers = Timers {
    keepalive: "50ms",
    keepalive_ms: 50,
    deadtime: "250ms",
    warntime: "150ms",
    initdead: "500ms",
};

struct Opts {
    runs: usize,
    kinds: Vec<Kind>,
    fast_minutes: u64,
}

fn usage() -> String {
    "usage: bench_failover [--runs N] [--kind debian|ours|both] [--fast-minutes M]".into()
}

fn parse_args() -> Result<Opts> {
    let mut opts = Opts {
        runs: 5,
        kinds: vec![Kind::Debian, Kind::Ours],
        fast_minutes: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value; {}", usage()))
        };
        match a.as_str() {
            "--runs" => {
                opts.runs = value("--runs")?.parse().context("--runs")?;
                if opts.runs == 0 {
                    bail!("--runs must be at least 1");
                }
            }
            "--kind" => {
                opts.kinds = match value("--kind")?.as_str() {
                    "debian" => vec![Kind::Debian],
                    "ours" => vec![Kind::Ours],
                    "both" => vec![Kind::Debian, Kind::Ours],
                    other => bail!("unknown kind {other:?}; {}", usage()),
                }
            }
            "--fast-minutes" => {
                opts.fast_minutes = value("--fast-minutes")?.parse().context("--fast-minutes")?;
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; {}", usage()),
        }
    }
    Ok(opts)
}

/// Private copies of our binaries from the profile this bench was built in
/// (bench/failover.sh builds them). The tree is shared with work in progress, and a
/// rebuild during the run would otherwise change the daemon between two runs.
struct Bins {
    heartbeat: PathBuf,
    cl_status: PathBuf,
    ra_agents: PathBuf,
    /// heartbeat starts the `lrmd` next to its own executable: copied along.
    _dir: tempfile::TempDir,
}

impl Bins {
    fn snapshot() -> Result<Bins> {
        let dir = tempfile::Builder::new()
            .prefix("failover-bench-bins-")
            .tempdir()
            .context("tempdir for the binaries")?;
        let copy = |name: &str| -> Result<PathBuf> {
            let from = target_bin(name)?;
            if !from.is_file() {
                bail!(
                    "{} missing: cargo build --release -p heartbeat --bins -p lrm --bin lrmd -p ra-agents",
                    from.display()
                );
            }
            let to = dir.path().join(name);
            std::fs::copy(&from, &to)
                .with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
            Ok(to)
        };
        let heartbeat = copy("heartbeat")?;
        let cl_status = copy("cl_status")?;
        let ra_agents = copy("ra-agents")?;
        copy("lrmd")?;
        Ok(Bins {
            heartbeat,
            cl_status,
            ra_agents,
            _dir: dir,
        })
    }
}

fn ha_cf(t: Timers, net: &Net) -> String {
    HaCf::new()
        .keepalive(t.keepalive)
        .deadtime(t.deadtime)
        .warntime(t.warntime)
        .initdead(t.initdead)
        .auto_failback("on")
        .media(Medium::bcast(net.iface(1)))
        .nodes(NAMES)
        .render()
}

/// Two nodes and the polling client. Field order is drop order: the daemons go
/// first, the probe thread is joined before its namespace is deleted.
struct Cluster {
    timers: Timers,
    nodes: Vec<Node>,
    started: [Instant; 2],
    probe: HttpProbe,
    vip: Ipv4Addr,
    net: Net,
}

impl Cluster {
    /// Starts both nodes; returns the cluster and its cold start time.
    fn start(
        kind: Kind,
        timers: Timers,
        files: &TutorialFiles,
        bins: &Bins,
    ) -> Result<(Cluster, Duration)> {
        let net = Net::new(3)?;
        let base = net.addr(1)?.octets();
        let vip = Ipv4Addr::new(base[0], base[1], base[2], 100);
        let ha_cf = ha_cf(timers, &net);
        let keys = authkeys(1, "sha1", "bench-failover");
        let haresources = format!("node1 IPaddr::{vip}/24/{} httpd\n", net.iface(1));
        let probe = HttpProbe::start(&net.ns(CLIENT)?, vip, &NAMES, POLL)?;
        let mut nodes = Vec::new();
        let t0 = Instant::now();
        for (i, name) in NAMES.iter().enumerate() {
            let spec = match kind {
                Kind::Debian => NodeSpec::debian(name, &ha_cf, &keys),
                Kind::Ours => NodeSpec::ours(name, bins.heartbeat.clone(), &ha_cf, &keys)
                    .with_cl_status(bins.cl_status.clone()),
            };
            let spec = files.install(spec).with_haresources(&haresources);
            nodes.push(Node::start(&net, i + 1, spec)?);
        }
        let mut c = Cluster {
            timers,
            nodes,
            started: [t0; 2],
            probe,
            vip,
            net,
        };
        let cold = c.answer(0, t0)?;
        Ok((c, cold))
    }

    /// Time from `since` to the first HTTP answer from node `who`.
    fn answer(&mut self, who: usize, since: Instant) -> Result<Duration> {
        match self.probe.wait_answer(who, since, LIMIT, interrupted) {
            Ok(d) => Ok(d),
            Err(e) => bail!("{e}\n{}", self.log_tails()),
        }
    }

    fn log_tails(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let log = n.log();
            // An empty tail alone would hide a node directory removed from outside.
            let note = if log.is_empty() {
                format!(
                    " (log {} empty or missing; node dir exists: {})",
                    n.log_path().display(),
                    n.dir().is_dir()
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "--- {} rscstatus {:?}, log tail{note}\n{}\n",
                n.name(),
                self.rscstatus(i),
                tail(&log, 25)
            ));
        }
        out
    }

    fn rscstatus(&self, i: usize) -> String {
        self.nodes[i]
            .cl_status(&["rscstatus"])
            .map(|(_, s)| s)
            .unwrap_or_default()
    }

    /// Waits until node `holder` reports holding the group and the other node (if up)
    /// is not in a transition, so the next fault starts from a quiet cluster.
    fn settle(&mut self, holder: usize) -> Result<()> {
        let want: &[&str] = if holder == 0 {
            &["local", "all"]
        } else {
            &["foreign", "all"]
        };
        let other = 1 - holder;
        let deadline = Instant::now() + LIMIT;
        loop {
            check_interrupt()?;
            let mine = self.rscstatus(holder);
            let theirs = if self.nodes[other].is_running() {
                self.rscstatus(other)
            } else {
                "down".to_owned()
            };
            if want.contains(&mine.as_str()) && !matches!(theirs.as_str(), "transition" | "") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not settled: rscstatus {mine:?}, {} says {theirs:?}\n{}",
                    NAMES[holder],
                    NAMES[other],
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until node `i` is past heartbeat's start-up dead-time bonus, then a
    /// random part of a keepalive: a node's heartbeats keep the phase of its start,
    /// and a fault always struck just before (or after) one would bias the
    /// detection time by up to a keepalive.
    fn past_bonus(&self, i: usize) -> Result<()> {
        let until = self.started[i] + BONUS_OVER;
        nap(until.saturating_duration_since(Instant::now()))?;
        let ms = self.timers.keepalive_ms.max(1);
        nap(Duration::from_micros(random_u64() % (ms * 1000)))
    }

    fn start_again(&mut self, i: usize) -> Result<Instant> {
        let t0 = Instant::now();
        self.nodes[i].start_again()?;
        self.started[i] = t0;
        Ok(t0)
    }

    /// The crash described in the module doc; returns its instant.
    fn crash(&mut self, i: usize) -> Result<Instant> {
        let t0 = Instant::now();
        self.nodes[i].kill9()?;
        let ns = self.nodes[i].netns().to_owned();
        let cidr = format!("{}/24", self.vip);
        cmd::run(
            &[
                "ip",
                "-n",
                &ns,
                "addr",
                "del",
                &cidr,
                "dev",
                self.net.iface(i + 1),
            ],
            Duration::from_secs(5),
        )?;
        Ok(t0)
    }
}

/// A random number from the standard library's per-instance hasher keys (no crate
/// needed for a phase jitter).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Raw samples (seconds) and failures per scenario for one setting.
#[derive(Debug, Default)]
struct Samples {
    times: BTreeMap<&'static str, Vec<f64>>,
    errors: Vec<String>,
}

impl Samples {
    fn add(&mut self, scenario: &'static str, d: Duration) {
        let s = d.as_secs_f64();
        println!("    {scenario:<20} {s:7.3} s");
        self.times.entry(scenario).or_default().push(s);
    }

    fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.times {
            m.insert((*k).to_owned(), json!(v));
        }
        m.insert("errors".into(), json!(self.errors));
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    min: f64,
    median: f64,
    max: f64,
    n: usize,
}

fn stats(v: Option<&Vec<f64>>) -> Option<Stats> {
    let mut v = v?.clone();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stats {
        min: v[0],
        median,
        max: v[n - 1],
        n,
    })
}

fn cell(s: Option<Stats>) -> String {
    s.map_or_else(
        || "n/a".into(),
        |s| format!("{:.3}/{:.3}/{:.3} ({})", s.min, s.median, s.max, s.n),
    )
}

/// One run of every scenario on a fresh cluster; samples are recorded as they come,
/// so a failure late in the run keeps the earlier ones.
fn tutorial_run(
    kind: Kind,
    timers: Timers,
    files: &TutorialFiles,
    bins: &Bins,
    out: &mut Samples,
) -> Result<()> {
    let (mut c, cold) = Cluster::start(kind, timers, files, bins)?;
    out.add(COLD, cold);
    c.settle(0)?;

    let t0 = Instant::now();
    c.nodes[0].stop()?;
    out.add(GRACEFUL, c.answer(1, t0)?);
    c.settle(1)?;

    let t0 = c.start_again(0)?;
    out.add(FAILBACK, c.answer(0, t0)?);
    c.settle(0)?;
    c.past_bonus(0)?;

    let t0 = c.crash(0)?;
    out.add(KILL, c.answer(1, t0)?);
    c.settle(1)?;

    let t0 = c.start_again(0)?;
    out.add(FAILBACK_KILL, c.answer(0, t0)?);
    c.settle(0)?;
    c.past_bonus(0)?;

    let t0 = Instant::now();
    c.net.cut_link(1)?;
    out.add(LINK_CUT, c.answer(1, t0)?);
    Ok(())
}

/// Kill and link cut at the fast timers (failback after the kill on the way).
fn fast_run(files: &TutorialFiles, bins: &Bins, out: &mut Samples) -> Result<()> {
    let (mut c, cold) = Cluster::start(Kind::Ours, FAST, files, bins)?;
    out.add(COLD, cold);
    c.settle(0)?;
    c.past_bonus(0)?;
    let t0 = c.crash(0)?;
    out.add(KILL, c.answer(1, t0)?);
    c.settle(1)?;
    let t0 = c.start_again(0)?;
    out.add(FAILBACK_KILL, c.answer(0, t0)?);
    c.settle(0)?;
    c.past_bonus(0)?;
    let t0 = Instant::now();
    c.net.cut_link(1)?;
    out.add(LINK_CUT, c.answer(1, t0)?);
    Ok(())
}

/// Busy-loop processes, killed by pid when dropped.
struct Burners(Vec<Child>);

impl Burners {
    fn spawn(n: usize) -> Result<Burners> {
        let mut b = Burners(Vec::new());
        for _ in 0..n {
            let child = Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Out of the terminal's process group: only our Drop stops them.
                .process_group(0)
                .spawn()
                .context("spawn busy loop")?;
            b.0.push(child);
        }
        Ok(b)
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What the soak saw.
#[derive(Debug, Default)]
struct Soak {
    minutes: u64,
    busy_loops: usize,
    /// (seconds since the soak began, what) for every sign of a failover.
    events: Vec<(f64, String)>,
    false_failovers: usize,
    late_heartbeat_warnings: usize,
    http_polls: usize,
    http_misses: usize,
    longest_no_answer_s: f64,
    cl_status_samples: usize,
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

fn soak(files: &TutorialFiles, bins: &Bins, minutes: u64) -> Result<Soak> {
    let (mut c, _) = Cluster::start(Kind::Ours, FAST, files, bins)?;
    c.settle(0)?;
    c.past_bonus(0)?;
    c.past_bonus(1)?;
    let nproc = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut report = Soak {
        minutes,
        busy_loops: 2 * nproc,
        ..Soak::default()
    };
    let mut offsets: Vec<usize> = c.nodes.iter().map(Node::log_len).collect();
    let burners = Burners::spawn(2 * nproc)?;
    let t0 = Instant::now();
    let window = Duration::from_secs(minutes * 60);
    let mut checked = t0;
    let mut event_at: Vec<Instant> = Vec::new();
    let mut note = |report: &mut Soak, at: Instant, what: String| {
        let s = at.saturating_duration_since(t0).as_secs_f64();
        println!("    soak event at {s:.1} s: {what}");
        report.events.push((s, what));
        event_at.push(at);
    };
    let mut round: u64 = 0;
    // One round a second; the count bound is a guard against a clock that stalls.
    while t0.elapsed() < window && round < minutes * 60 + 60 {
        round += 1;
        nap(Duration::from_secs(1))?;
        let now = Instant::now();
        for i in 0..2 {
            if !c.nodes[i].is_running() {
                bail!("{} died during the soak\n{}", NAMES[i], c.log_tails());
            }
            let log = c.nodes[i].log();
            let new = log.get(offsets[i]..).unwrap_or("");
            let dead = count(new, "is dead");
            if dead > 0 {
                note(
                    &mut report,
                    now,
                    format!("{} logged {dead}× 'is dead'", NAMES[i]),
                );
            }
            report.late_heartbeat_warnings += count(new, "Late heartbeat");
            offsets[i] = log.len();
        }
        if holds_vip(c.nodes[1].netns(), c.vip) {
            note(&mut report, now, "VIP on node2".into());
        }
        if !holds_vip(c.nodes[0].netns(), c.vip) {
            note(&mut report, now, "VIP not on node1".into());
        }
        for s in c.probe.samples_since(checked) {
            if s.answered_by == Some(1) {
                note(&mut report, s.at, "node2 answered HTTP".into());
                break;
            }
        }
        checked = now;
        if round.is_multiple_of(5) {
            for (i, peer) in [(0, 1), (1, 0)] {
                let st = c.nodes[i].node_status(NAMES[peer]);
                report.cl_status_samples += 1;
                if st == "dead" {
                    note(
                        &mut report,
                        Instant::now(),
                        format!("{} cl_status: {} dead", NAMES[i], NAMES[peer]),
                    );
                }
            }
        }
    }
    drop(burners);
    let samples = c.probe.samples_since(t0);
    report.http_polls = samples.len();
    report.http_misses = samples.iter().filter(|s| s.answered_by.is_none()).count();
    let mut last_answer = t0;
    for s in &samples {
        if s.answered_by.is_some() {
            let gap = s.at.saturating_duration_since(last_answer).as_secs_f64();
            report.longest_no_answer_s = report.longest_no_answer_s.max(gap);
            last_answer = s.at;
        }
    }
    report.false_failovers = episodes(event_at, EPISODE_GAP);
    Ok(report)
}

/// Number of groups of events, a group ending where the next event is more than `gap`
/// after the previous one: one failover shows up in several samplers at once.
fn episodes(mut at: Vec<Instant>, gap: Duration) -> usize {
    at.sort();
    let mut n = 0;
    let mut prev: Option<Instant> = None;
    for t in at {
        if prev.is_none_or(|p| t.saturating_duration_since(p) > gap) {
            n += 1;
        }
        prev = Some(t);
    }
    n
}

fn soak_json(s: &Soak) -> Value {
    json!({
        "minutes": s.minutes,
        "busy_loops": s.busy_loops,
        "false_failovers": s.false_failovers,
        "events": s.events.iter().map(|(t, w)| json!({"t_s": t, "what": w})).collect::<Vec<_>>(),
        "late_heartbeat_warnings": s.late_heartbeat_warnings,
        "http_polls": s.http_polls,
        "http_misses": s.http_misses,
        "longest_no_answer_s": s.longest_no_answer_s,
        "cl_status_samples": s.cl_status_samples,
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn utc_now(format: &str) -> String {
    cmd::run(&["date", "-u", format], Duration::from_secs(5))
        .map(|o| o.stdout.trim().to_owned())
        .unwrap_or_default()
}

/// The issue's target for ours, as text, per scenario.
fn target(scenario: &str) -> &'static str {
    match scenario {
        COLD => "<= 1.0",
        GRACEFUL => "<= 0.15",
        FAILBACK | FAILBACK_KILL => "<= 0.4",
        KILL => "<= Debian",
        _ => "",
    }
}

fn print_table(opts: &Opts, results: &BTreeMap<&'static str, Samples>) {
    println!();
    println!(
        "Failover times in seconds, fault -> first HTTP answer from the other node: \
         min/median/max (samples); ha.cf keepalive {} deadtime {} warntime {} initdead {}",
        TUTORIAL.keepalive, TUTORIAL.deadtime, TUTORIAL.warntime, TUTORIAL.initdead
    );
    println!(
        "{:<20} {:>28} {:>28} {:>12} {:>10}",
        "scenario", "Debian 3.0.6", "ours", "ours/Debian", "target"
    );
    for sc in SCENARIOS {
        let get = |k: Kind| results.get(k.label()).and_then(|s| stats(s.times.get(sc)));
        let (d, o) = (get(Kind::Debian), get(Kind::Ours));
        let ratio = match (o, d) {
            (Some(o), Some(d)) if d.median > 0.0 => format!("{:.2}", o.median / d.median),
            _ => "n/a".into(),
        };
        let shown = |k: Kind, s: Option<Stats>| {
            if opts.kinds.contains(&k) {
                cell(s)
            } else {
                "-".into()
            }
        };
        println!(
            "{sc:<20} {:>28} {:>28} {ratio:>12} {:>10}",
            shown(Kind::Debian, d),
            shown(Kind::Ours, o),
            target(sc)
        );
    }
    for k in &opts.kinds {
        if let Some(s) = results.get(k.label()) {
            for e in &s.errors {
                println!("  {} failed run: {}", k.label(), first_line(e));
            }
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn print_fast(fast: &Samples, soak: Option<&Soak>) {
    println!();
    println!(
        "Ours at keepalive {} deadtime {} warntime {} initdead {}: min/median/max (samples)",
        FAST.keepalive, FAST.deadtime, FAST.warntime, FAST.initdead
    );
    for sc in [COLD, KILL, LINK_CUT, FAILBACK_KILL] {
        let t = match sc {
            KILL | LINK_CUT => "<= 0.30",
            _ => "",
        };
        println!("{sc:<20} {:>28} {t:>10}", cell(stats(fast.times.get(sc))));
    }
    for e in &fast.errors {
        println!("  fast failed run: {}", first_line(e));
    }
    if let Some(s) = soak {
        println!(
            "soak: {} min, {} busy loops on {} CPUs: {} false failover(s) (target 0); \
             {} 'Late heartbeat' warnings; HTTP {} polls, {} unanswered, longest gap \
             between answers {:.3} s; {} cl_status samples",
            s.minutes,
            s.busy_loops,
            s.busy_loops / 2,
            s.false_failovers,
            s.late_heartbeat_warnings,
            s.http_polls,
            s.http_misses,
            s.longest_no_answer_s,
            s.cl_status_samples
        );
        for (t, what) in s.events.iter().take(20) {
            println!("  event at {t:.1} s: {what}");
        }
    }
}

fn run() -> Result<()> {
    let opts = parse_args()?;
    if !hb_tests::require_root() {
        bail!("needs root and `ip netns`");
    }
    if opts.kinds.contains(&Kind::Debian) && !hb_tests::require_debian() {
        bail!("Debian heartbeat 3.0.6 is not installed (apt-get install heartbeat)");
    }
    install_signal_handlers()?;
    let bins = Bins::snapshot()?;
    let files = TutorialFiles::prepare_with(&bins.ra_agents)?;
    let started_at = utc_now("+%Y-%m-%dT%H:%M:%SZ");
    println!(
        "bench_failover {started_at}: {} run(s) of {:?}, fast soak {} min; load average {}",
        opts.runs,
        opts.kinds.iter().map(|k| k.label()).collect::<Vec<_>>(),
        opts.fast_minutes,
        loadavg()
    );
    // The tree may have moved on since the daemon was built: say what is measured.
    let built = target_bin("heartbeat")?;
    let built_at = cmd::run(
        &[
            "date",
            "-u",
            "-r",
            built.to_string_lossy().as_ref(),
            "+%Y-%m-%dT%H:%M:%SZ",
        ],
        Duration::from_secs(5),
    )
    .map(|o| o.stdout.trim().to_owned())
    .unwrap_or_default();
    println!(
        "ours: {} built {built_at}, run from a copy in {}",
        built.display(),
        bins.heartbeat
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );

    let mut results: BTreeMap<&'static str, Samples> = BTreeMap::new();
    // Runs alternate between the kinds so machine noise falls on both alike.
    for run in 1..=opts.runs {
        for &kind in &opts.kinds {
            check_interrupt()?;
            println!("run {run}/{} {}:", opts.runs, kind.label());
            let out = results.entry(kind.label()).or_default();
            if let Err(e) = tutorial_run(kind, TUTORIAL, &files, &bins, out) {
                check_interrupt()?;
                println!("    FAILED: {e:#}");
                out.errors.push(format!("run {run}: {e:#}"));
            }
        }
    }
    if !opts.kinds.is_empty() {
        print_table(&opts, &results);
    }

    let mut fast = Samples::default();
    let mut soak_report = None;
    if opts.fast_minutes > 0 {
        for run in 1..=opts.runs {
            check_interrupt()?;
            println!("fast run {run}/{}:", opts.runs);
            if let Err(e) = fast_run(&files, &bins, &mut fast) {
                check_interrupt()?;
                println!("    FAILED: {e:#}");
                fast.errors.push(format!("run {run}: {e:#}"));
            }
        }
        println!(
            "soak: {} min, both nodes up, CPUs saturated; load average {}",
            opts.fast_minutes,
            loadavg()
        );
        match soak(&files, &bins, opts.fast_minutes) {
            Ok(s) => soak_report = Some(s),
            Err(e) => {
                check_interrupt()?;
                println!("    soak FAILED: {e:#}");
                fast.errors.push(format!("soak: {e:#}"));
            }
        }
        print_fast(&fast, soak_report.as_ref());
    }
    println!("\nload average at the end: {}", loadavg());

    let mut kinds = serde_json::Map::new();
    for (k, s) in &results {
        kinds.insert((*k).to_owned(), s.json());
    }
    let doc = json!({
        "started": started_at,
        "runs": opts.runs,
        "unit": "seconds from the fault to the first HTTP answer from the expected node",
        "poll_interval_ms": POLL.as_millis() as u64,
        "timers": {
            "tutorial": {"keepalive": TUTORIAL.keepalive, "deadtime": TUTORIAL.deadtime,
                         "warntime": TUTORIAL.warntime, "initdead": TUTORIAL.initdead},
            "fast": {"keepalive": FAST.keepalive, "deadtime": FAST.deadtime,
                     "warntime": FAST.warntime, "initdead": FAST.initdead},
        },
        "kinds": Value::Object(kinds),
        "fast": {
            "samples": fast.json(),
            "soak": soak_report.as_ref().map(soak_json),
        },
    });
    let dir = profile_dir()?
        .parent()
        .map(|p| p.join("bench"))
        .context("profile directory has no parent")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let stamp = utc_now("+%Y%m%dT%H%M%SZ");
    let path = dir.join(format!("failover-{stamp}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("write {}", path.display()))?;
    println!("raw samples: {}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_failover: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = stats(Some(&vec![3.0, 1.0, 2.0])).unwrap();
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 2.0, 3.0, 3));
        let s = stats(Some(&vec![4.0, 1.0, 2.0, 3.0])).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 4.0));
        assert!(stats(Some(&Vec::new())).is_none());
        assert!(stats(None).is_none());
    }

    #[test]
    fn events_close_together_are_one_false_failover() {
        let t = Instant::now();
        let s = |secs: u64| t + Duration::from_secs(secs);
        assert_eq!(episodes(Vec::new(), EPISODE_GAP), 0);
        // A dead declaration, the VIP on node2 and node2's answer a second apart, then
        // a second failover a minute later.
        let events = vec![s(61), s(1), s(0), s(2), s(60)];
        assert_eq!(episodes(events, EPISODE_GAP), 2);
        assert_eq!(episodes(vec![s(0), s(11), s(22)], EPISODE_GAP), 3);
    }
}
