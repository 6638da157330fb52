//! Helpers shared by the hb-rm integration tests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::Path;

use hb_config::hacf::AutoFailback;
use hb_config::haresources::{self, ResourceGroup};
use hb_rm::{Action, OpId, OpKind, Outcome, ResourceManager, RmConfig, T_RSC_STATE};
use hb_wire::{Msg, Value};

pub fn groups(text: &str) -> Vec<ResourceGroup> {
    haresources::parse(text, Path::new("haresources")).expect("test haresources parses")
}

/// The tutorial's cluster: node1 prefers `IPaddr::VIP/24/eth0 httpd`.
pub const TUTORIAL: &str = "node1 IPaddr::10.0.0.100/24/eth0 httpd\n";
pub const VIP: &str = "IPaddr::10.0.0.100/24/eth0";

pub fn cfg(local: &str, nodes: &[&str], hares: &str, af: AutoFailback) -> RmConfig {
    let mut c = RmConfig::new(
        local,
        nodes.iter().map(|s| s.to_string()).collect(),
        groups(hares),
        af,
    );
    // Monitors are exercised by dedicated tests; elsewhere they would only
    // add noise to the message/op sequences.
    c.monitor.interval_ms = 0;
    c
}

/// A message as hb-core delivers it: caller fields, then `src`.
pub fn msg(src: &str, fields: &[(&str, &str)]) -> Msg {
    let mut m = Msg::new();
    for (k, v) in fields {
        m.add_str(k, v);
    }
    m.add_str("src", src);
    m
}

/// `t=resource rsc_hold=all ...` (control fields left out).
pub fn text(m: &Msg) -> String {
    m.fields()
        .iter()
        .filter(|f| f.name != "src")
        .map(|f| match &f.value {
            Value::Str(s) => format!("{}={}", f.name, String::from_utf8_lossy(s)),
            other => format!("{}={:?}", f.name, other),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One RM plus what it asked for.
pub struct Node {
    pub name: String,
    pub rm: ResourceManager,
    /// Messages sent (our extension `hb_rsc_state` excluded), as text.
    pub sent: Vec<String>,
    /// Every message sent, with src added, not yet looped back.
    pub outbox: VecDeque<Msg>,
    pub ops: VecDeque<(OpId, String, usize, OpKind)>,
    pub op_log: Vec<String>,
    pub logs: Vec<String>,
    pub fences: Vec<String>,
    pub shutdown_complete: bool,
}

impl Node {
    pub fn new(cfg: RmConfig, now: u64) -> Node {
        Node {
            name: cfg.local.clone(),
            rm: ResourceManager::new(cfg, now).expect("valid config"),
            sent: Vec::new(),
            outbox: VecDeque::new(),
            ops: VecDeque::new(),
            op_log: Vec::new(),
            logs: Vec::new(),
            fences: Vec::new(),
            shutdown_complete: false,
        }
    }

    /// Drains the RM's actions into the queues.
    pub fn drain(&mut self) {
        while let Some(a) = self.rm.poll_action() {
            match a {
                Action::Send(m) => {
                    if m.msg_type() != Some(T_RSC_STATE) {
                        self.sent.push(text(&m));
                    }
                    let mut m = m;
                    m.add_str("src", &self.name);
                    self.outbox.push_back(m);
                }
                Action::Op {
                    id,
                    group,
                    index,
                    resource,
                    op,
                    ..
                } => {
                    self.op_log.push(format!("{op:?} {resource}"));
                    self.ops.push_back((id, group, index, op));
                }
                Action::Fence { node } => self.fences.push(node),
                Action::ShutdownComplete => self.shutdown_complete = true,
                Action::Log(_, t) => self.logs.push(t),
            }
        }
    }

    /// Delivers our own sent messages back to us (hb-core's loopback) and
    /// returns them for delivery to peers.
    pub fn loopback(&mut self, now: u64) -> Vec<Msg> {
        self.drain();
        let mut out = Vec::new();
        while let Some(m) = self.outbox.pop_front() {
            self.rm.on_message(now, &m);
            self.drain();
            out.push(m);
        }
        out
    }

    /// Completes every queued op with `outcome`, looping back messages,
    /// until nothing is left; returns the messages sent meanwhile.
    pub fn settle(&mut self, now: u64) -> Vec<Msg> {
        let mut out = self.loopback(now);
        while let Some((id, ..)) = self.ops.pop_front() {
            self.rm
                .on_op_result(now, id, Outcome::Ok)
                .expect("known op");
            out.extend(self.loopback(now));
        }
        out
    }

    pub fn deliver(&mut self, now: u64, m: &Msg) {
        self.rm.on_message(now, m);
        self.drain();
    }

    pub fn take_sent(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sent)
    }

    pub fn take_ops(&mut self) -> Vec<String> {
        std::mem::take(&mut self.op_log)
    }
}

/// Nodes wired together by a perfect, instantaneous membership layer.
pub struct Cluster {
    pub names: Vec<String>,
    pub nodes: Vec<Node>,
    pub up: Vec<bool>,
    pub now: u64,
    /// Complete operations automatically with success.
    pub auto_ops: bool,
    make: Box<dyn Fn(&str) -> RmConfig>,
}

impl Cluster {
    pub fn new(names: &[&str], make: Box<dyn Fn(&str) -> RmConfig>) -> Cluster {
        let nodes = names.iter().map(|n| Node::new(make(n), 0)).collect();
        Cluster {
            names: names.iter().map(|s| s.to_string()).collect(),
            nodes,
            up: vec![false; names.len()],
            now: 0,
            auto_ops: true,
            make,
        }
    }

    pub fn idx(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .expect("known node")
    }

    /// Starts (or restarts with a fresh RM) `name` and lets it join.
    pub fn start(&mut self, name: &str) {
        let i = self.idx(name);
        self.nodes[i] = Node::new((self.make)(name), self.now);
        self.up[i] = true;
        for j in 0..self.nodes.len() {
            if j != i && self.up[j] {
                let (now, a, b) = (self.now, self.names[j].clone(), self.names[i].clone());
                self.nodes[i].rm.on_node_status(now, &a, "active");
                self.nodes[j].rm.on_node_status(now, &b, "active");
            }
        }
        self.nodes[i].rm.on_comm_up(self.now);
        self.pump();
    }

    /// Tells every live node that `name` is dead (deadtime expired).
    pub fn declare_dead(&mut self, name: &str) {
        for j in 0..self.nodes.len() {
            if self.up[j] && self.names[j] != name {
                self.nodes[j].rm.on_node_status(self.now, name, "dead");
            }
        }
        self.pump();
    }

    /// Hard crash: the node and its resources vanish.
    pub fn crash(&mut self, name: &str) {
        let i = self.idx(name);
        self.up[i] = false;
        self.nodes[i].outbox.clear();
        self.nodes[i].ops.clear();
    }

    /// Graceful stop; sends shutdone like the daemon once the RM is done.
    pub fn shutdown(&mut self, name: &str) {
        let i = self.idx(name);
        self.nodes[i].rm.shutdown(self.now);
        self.pump();
    }

    pub fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 100).min(end);
            for i in 0..self.nodes.len() {
                if self.up[i] {
                    self.nodes[i].rm.tick(self.now);
                }
            }
            self.pump();
        }
    }

    /// Delivers every message and (if `auto_ops`) completes every op.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                if !self.up[i] {
                    continue;
                }
                self.nodes[i].drain();
                if self.nodes[i].shutdown_complete && self.nodes[i].outbox.is_empty() {
                    self.nodes[i].shutdown_complete = false;
                    let mut m = Msg::with_type("shutdone");
                    m.add_str("st", "dead");
                    m.add_str("src", &self.names[i]);
                    self.nodes[i].outbox.push_back(m);
                    self.nodes[i].sent.push("t=shutdone st=dead".into());
                }
                while let Some(m) = self.nodes[i].outbox.pop_front() {
                    moved = true;
                    let last = m.msg_type() == Some("shutdone");
                    for j in 0..self.nodes.len() {
                        if self.up[j] {
                            self.nodes[j].deliver(self.now, &m);
                        }
                    }
                    if last {
                        self.up[i] = false;
                        break;
                    }
                }
                if self.auto_ops && self.up[i] {
                    while let Some((id, ..)) = self.nodes[i].ops.pop_front() {
                        moved = true;
                        self.nodes[i]
                            .rm
                            .on_op_result(self.now, id, Outcome::Ok)
                            .expect("op");
                        self.nodes[i].drain();
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("cluster did not quiesce");
    }

    /// Live nodes where group `key` is Running.
    pub fn running(&self, key: &str) -> Vec<String> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.up[i] && self.nodes[i].rm.group_state(key) == Some(hb_rm::GroupState::Running)
            })
            .map(|i| self.names[i].clone())
            .collect()
    }

    pub fn node(&mut self, name: &str) -> &mut Node {
        let i = self.idx(name);
        &mut self.nodes[i]
    }
}
