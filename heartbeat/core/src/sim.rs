//! A deterministic in-process cluster simulator (feature `sim`).
//!
//! Nodes are [`Core`]s sharing one simulated clock; every `Send` goes to every other
//! node (and back to the sender, as real media loop broadcasts back) through a
//! network with seeded random loss, duplication, delay/reordering and partitions.
//! Time jumps straight to the next event, so minutes of protocol run in milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hb_wire::Msg;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{status, Action, Core, CoreConfig, Now};

/// Unix time at simulated time zero.
pub const SIM_EPOCH_SECS: u64 = 1_795_686_728;

/// Network impairments applied to non-loopback deliveries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chaos {
    /// Probability that a copy is lost.
    pub loss: f64,
    /// Probability that a copy is delivered twice.
    pub dup: f64,
    /// Each copy is delayed uniformly in `[0, max_delay_ms]` (this reorders).
    pub max_delay_ms: u64,
}

impl Chaos {
    /// A perfect network (still 1 ms latency).
    pub const NONE: Chaos = Chaos {
        loss: 0.0,
        dup: 0.0,
        max_delay_ms: 1,
    };
}

/// One simulated node.
pub struct SimNode {
    /// Node name.
    pub name: String,
    /// The running core; None while killed.
    pub core: Option<Core>,
    /// Generation of the current (or last) run.
    pub generation: u64,
    /// Offset of this node's monotonic clock, so clocks do not share an origin.
    clock_offset: u64,
    uuid: [u8; 16],
    /// Every action the current run emitted except `Send`, for assertions.
    pub events: Vec<Action>,
}

/// The simulated cluster.
pub struct Sim {
    /// Simulated time in ms since the start.
    pub now_ms: u64,
    /// Current network impairments.
    pub chaos: Chaos,
    /// Each live node sends a client message this often once comm is up (0 = never).
    pub client_traffic_ms: u64,
    /// Set by the sim for every step: the largest history / missing list seen.
    pub max_history_seen: u64,
    /// See `max_history_seen`.
    pub max_missing_seen: u64,
    nodes: Vec<SimNode>,
    rng: SmallRng,
    seed: u64,
    make_cfg: Box<dyn Fn(&str) -> CoreConfig>,
    /// (delivery time, tie breaker) → (destination, message).
    in_flight: BTreeMap<(u64, u64), (usize, Msg)>,
    order: u64,
    cut: BTreeSet<(usize, usize)>,
    next_client_ms: u64,
    stalled_steps: u64,
}

impl Sim {
    /// A cluster of `names`, not started; `make_cfg` gives each node's config (the sim
    /// overrides `local_uuid`, `generation` and `rng_seed`).
    pub fn new(names: &[&str], seed: u64, make_cfg: impl Fn(&str) -> CoreConfig + 'static) -> Sim {
        let mut rng = SmallRng::seed_from_u64(seed);
        let nodes = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut uuid = [0u8; 16];
                rng.fill(&mut uuid[..]);
                uuid[0] = i as u8;
                SimNode {
                    name: n.to_string(),
                    core: None,
                    generation: 1000 + i as u64,
                    clock_offset: rng.gen_range(0..1_000_000),
                    uuid,
                    events: Vec::new(),
                }
            })
            .collect();
        Sim {
            now_ms: 0,
            chaos: Chaos::NONE,
            client_traffic_ms: 0,
            max_history_seen: 0,
            max_missing_seen: 0,
            nodes,
            rng,
            seed,
            make_cfg: Box::new(make_cfg),
            in_flight: BTreeMap::new(),
            order: 0,
            cut: BTreeSet::new(),
            next_client_ms: 0,
            stalled_steps: 0,
        }
    }

    /// The seed this simulation was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the cluster has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node by index.
    pub fn node(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    /// The core of node `i`, if running.
    pub fn core(&self, i: usize) -> Option<&Core> {
        self.nodes[i].core.as_ref()
    }

    fn now_for(&self, i: usize) -> Now {
        Now {
            mono_ms: self.now_ms + self.nodes[i].clock_offset,
            unix_secs: SIM_EPOCH_SECS + self.now_ms / 1000,
        }
    }

    /// Starts (or restarts, with generation + 1) node `i`.
    pub fn start(&mut self, i: usize) {
        if self.nodes[i].core.is_some() {
            return;
        }
        self.nodes[i].generation += 1;
        let mut cfg = (self.make_cfg)(&self.nodes[i].name);
        cfg.local_uuid = self.nodes[i].uuid;
        cfg.generation = self.nodes[i].generation;
        cfg.rng_seed = self.rng.gen();
        let now = self.now_for(i);
        self.nodes[i].core = Some(Core::new(cfg, now));
        self.nodes[i].events.clear();
        self.drain(i);
    }

    /// Starts every node.
    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Kills node `i` (no shutdown: like `kill -9`).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].core = None;
    }

    /// Graceful stop of node `i`: `shutdone` goes out, then the node is gone.
    pub fn shutdown(&mut self, i: usize) {
        let now = self.now_for(i);
        if let Some(c) = self.nodes[i].core.as_mut() {
            c.shutdown(now);
        }
        self.drain(i);
        self.kill(i);
    }

    /// Cuts node `i` off from every other node.
    pub fn isolate(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            if j != i {
                self.cut.insert((i.min(j), i.max(j)));
            }
        }
    }

    /// Removes all partitions.
    pub fn heal_partitions(&mut self) {
        self.cut.clear();
    }

    /// Runs until simulated time `t_ms`.
    pub fn run_until(&mut self, t_ms: u64) {
        while self.step(t_ms) {}
    }

    /// Runs until `pred` holds (checked after every step) or `deadline_ms`; true if it held.
    pub fn run_until_pred(&mut self, deadline_ms: u64, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        loop {
            if pred(self) {
                return true;
            }
            if !self.step(deadline_ms) {
                return pred(self);
            }
        }
    }

    /// Advances to the next event not after `limit_ms`; false once `limit_ms` is reached.
    pub fn step(&mut self, limit_ms: u64) -> bool {
        if self.now_ms >= limit_ms {
            return false;
        }
        let mut next = limit_ms;
        if let Some((&(t, _), _)) = self.in_flight.iter().next() {
            next = next.min(t);
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(c) = &n.core {
                let w = c.next_wakeup().saturating_sub(self.nodes[i].clock_offset);
                next = next.min(w);
            }
        }
        if self.client_traffic_ms > 0 {
            next = next.min(self.next_client_ms);
        }
        if next <= self.now_ms {
            self.stalled_steps += 1;
            assert!(
                self.stalled_steps < 100_000,
                "seed {}: simulation stalled at t={} (a timer never advances)",
                self.seed,
                self.now_ms
            );
        } else {
            self.stalled_steps = 0;
        }
        self.now_ms = self.now_ms.max(next);

        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now_ms {
                break;
            }
            let (to, msg) = entry.remove();
            let now = self.now_for(to);
            let _span = self.span(to).entered();
            if let Some(c) = self.nodes[to].core.as_mut() {
                c.on_message(now, 0, msg);
                self.drain(to);
            }
        }
        for i in 0..self.nodes.len() {
            let now = self.now_for(i);
            let due = self.nodes[i]
                .core
                .as_ref()
                .is_some_and(|c| c.next_wakeup() <= now.mono_ms);
            if due {
                let _span = self.span(i).entered();
                if let Some(c) = self.nodes[i].core.as_mut() {
                    c.tick(now);
                }
                self.drain(i);
            }
        }
        if self.client_traffic_ms > 0 && self.now_ms >= self.next_client_ms {
            self.next_client_ms = self.now_ms + self.client_traffic_ms;
            for i in 0..self.nodes.len() {
                let now = self.now_for(i);
                if let Some(c) = self.nodes[i].core.as_mut() {
                    let mut m = Msg::with_type("simtest");
                    m.add_str("payload", format!("from {} at {}", i, now.mono_ms));
                    // Refusals (comm not up, paused) are part of what is simulated.
                    let _ = c.send_cluster(now, m);
                }
                self.drain(i);
            }
        }
        for n in &self.nodes {
            if let Some(c) = &n.core {
                let s = c.stats();
                self.max_history_seen = self.max_history_seen.max(s.history_len);
                self.max_missing_seen = self.max_missing_seen.max(s.missing_total);
            }
        }
        true
    }

    /// Log context: which node, at which simulated time.
    fn span(&self, i: usize) -> tracing::Span {
        tracing::info_span!("sim", t = self.now_ms, node = %self.nodes[i].name)
    }

    fn drain(&mut self, from: usize) {
        loop {
            let Some(a) = self.nodes[from].core.as_mut().and_then(Core::poll_action) else {
                return;
            };
            match a {
                Action::Send(msg) => self.transmit(from, msg),
                other => self.nodes[from].events.push(other),
            }
        }
    }

    fn transmit(&mut self, from: usize, msg: Msg) {
        for to in 0..self.nodes.len() {
            if to == from {
                // Loopback copy: reliable and immediate, as the kernel does it.
                self.enqueue(self.now_ms, to, msg.clone());
                continue;
            }
            if self.cut.contains(&(from.min(to), from.max(to))) {
                continue;
            }
            if self.rng.gen_bool(self.chaos.loss.clamp(0.0, 1.0)) {
                continue;
            }
            let copies = if self.rng.gen_bool(self.chaos.dup.clamp(0.0, 1.0)) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self.rng.gen_range(1..=self.chaos.max_delay_ms.max(1));
                self.enqueue(self.now_ms + delay, to, msg.clone());
            }
        }
    }

    fn enqueue(&mut self, at: u64, to: usize, msg: Msg) {
        self.order += 1;
        self.in_flight.insert((at, self.order), (to, msg));
    }

    /// Checks that every running node has comm up and sees every other running node
    /// `active` and every stopped node `dead`; the error names the first mismatch.
    pub fn check_converged(&self) -> Result<(), String> {
        for a in &self.nodes {
            let Some(core) = &a.core else { continue };
            if !core.comm_up() {
                return Err(format!("{}: comm not up", a.name));
            }
            for b in &self.nodes {
                let want = if b.core.is_some() {
                    status::ACTIVE
                } else {
                    status::DEAD
                };
                let got = core.node(&b.name).map(|v| v.status);
                if got.as_deref() != Some(want) {
                    return Err(format!(
                        "{} sees {} as {:?}, want {}",
                        a.name, b.name, got, want
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A config for simulations: short timers so a run covers many keepalives.
pub fn fast_config(local: &str, nodes: &[&str]) -> CoreConfig {
    let mut c = CoreConfig::new(local, nodes.iter().map(|s| s.to_string()).collect());
    c.links = vec!["sim0".into()];
    c.keepalive = Duration::from_millis(500);
    c.deadtime = Duration::from_millis(3000);
    c.warntime = Duration::from_millis(1500);
    c.initdead = Duration::from_millis(6000);
    c.deadping = c.deadtime;
    c
}
