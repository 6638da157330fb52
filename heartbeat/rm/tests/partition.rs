//! Three nodes split by a partition and joined again without restarting (the
//! daemon restarts later; what happens before must already be safe): a node
//! returning from a partition is the same incarnation, so it neither sends a
//! comm-up request nor re-announces unchanged claims.

mod common;

use common::{cfg, Node};
use hb_config::hacf::AutoFailback;
use hb_rm::{GroupState, Outcome};

const HARES: &str = "node1 10.0.0.1 httpd\nnode2 10.0.0.2\n";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// Nodes that all run; `hears[i][j]`: node i receives node j's messages (and
/// sees it alive).
struct Split {
    nodes: Vec<Node>,
    hears: [[bool; 3]; 3],
    now: u64,
    /// Off while a known double holder (the two sides joined) is being healed.
    check: bool,
}

impl Split {
    fn new(af: AutoFailback) -> Split {
        let mut nodes: Vec<Node> = NODES
            .iter()
            .map(|n| Node::new(cfg(n, &NODES, HARES, af), 0))
            .collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            for (j, peer) in NODES.iter().enumerate() {
                if i != j {
                    n.rm.on_node_status(0, peer, "active");
                }
            }
        }
        for n in &mut nodes {
            n.rm.on_comm_up(0);
        }
        let mut s = Split {
            nodes,
            hears: [[true; 3]; 3],
            now: 0,
            check: true,
        };
        s.advance(2_000);
        s
    }

    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..3 {
                self.nodes[i].drain();
                while let Some(m) = self.nodes[i].outbox.pop_front() {
                    moved = true;
                    for j in 0..3 {
                        if self.hears[j][i] {
                            self.nodes[j].deliver(self.now, &m);
                        }
                    }
                }
                while let Some((id, ..)) = self.nodes[i].ops.pop_front() {
                    moved = true;
                    self.nodes[i]
                        .rm
                        .on_op_result(self.now, id, Outcome::Ok)
                        .expect("op");
                    self.nodes[i].drain();
                }
            }
            if self.check {
                self.check_single_holder();
            }
            if !moved {
                return;
            }
        }
        panic!("cluster did not quiesce");
    }

    /// Two nodes that hear each other never claim the same group.
    fn check_single_holder(&self) {
        for key in ["10.0.0.1", "10.0.0.2"] {
            let holds = |i: usize| {
                self.nodes[i]
                    .rm
                    .group_state(key)
                    .is_some_and(|s| s != GroupState::Stopped)
            };
            for (a, na) in NODES.iter().enumerate() {
                for (b, nb) in NODES.iter().enumerate().skip(a + 1) {
                    assert!(
                        !(self.hears[a][b] && self.hears[b][a] && holds(a) && holds(b)),
                        "{key} held by {na} and {nb} at {} ms",
                        self.now
                    );
                }
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 100;
            for n in &mut self.nodes {
                n.rm.tick(self.now);
            }
            self.pump();
        }
    }

    /// Cuts node `i` off: it and the others see each other dead.
    fn cut(&mut self, i: usize) {
        for j in (0..3).filter(|&j| j != i) {
            self.hears[i][j] = false;
            self.hears[j][i] = false;
            self.nodes[j].rm.on_node_status(self.now, NODES[i], "dead");
            self.nodes[i].rm.on_node_status(self.now, NODES[j], "dead");
        }
        self.pump();
    }

    /// Nodes `a` and `b` hear each other again, same incarnations: status
    /// only (no comm-up).
    fn rejoin(&mut self, a: usize, b: usize) {
        self.hears[a][b] = true;
        self.hears[b][a] = true;
        self.nodes[a]
            .rm
            .on_node_status(self.now, NODES[b], "active");
        self.nodes[b]
            .rm
            .on_node_status(self.now, NODES[a], "active");
    }

    /// Node `i` is back: the others hear it in ha.cf order, one at a time.
    fn heal(&mut self, i: usize) {
        for j in (0..3).filter(|&j| j != i) {
            self.rejoin(i, j);
            self.pump();
        }
    }

    fn running(&self, key: &str) -> Vec<&'static str> {
        (0..3)
            .filter(|&i| self.nodes[i].rm.group_state(key) == Some(GroupState::Running))
            .map(|i| NODES[i])
            .collect()
    }
}

#[test]
fn a_minority_returning_from_a_partition_takes_nothing() {
    let mut s = Split::new(AutoFailback::On);
    assert_eq!(s.running("10.0.0.1"), ["node1"]);
    assert_eq!(s.running("10.0.0.2"), ["node2"]);
    s.cut(2);
    s.advance(5_000);
    assert!(
        s.nodes[2].take_ops().is_empty(),
        "node3 alone has no quorum"
    );
    s.heal(2);
    s.advance(5_000);
    assert!(
        s.nodes[2].take_ops().is_empty(),
        "node3 started groups the others still run"
    );
    assert_eq!(s.running("10.0.0.1"), ["node1"]);
    assert_eq!(s.running("10.0.0.2"), ["node2"]);
}

fn majority_took_over_then_heal(af: AutoFailback) -> Split {
    let mut s = Split::new(af);
    s.cut(0);
    s.advance(5_000);
    assert_eq!(
        s.running("10.0.0.1"),
        ["node1", "node2"],
        "the majority takes node1's group once; node1 keeps it (no stop policy)"
    );
    assert_eq!(
        s.running("10.0.0.2"),
        ["node2"],
        "node1 alone takes nothing"
    );
    s.check = false;
    s.heal(0);
    s.advance(5_000);
    s.check = true;
    s.pump();
    s
}

#[test]
fn after_a_partition_the_preferred_holder_keeps_a_doubly_held_group() {
    for af in [AutoFailback::On, AutoFailback::Off] {
        let s = majority_took_over_then_heal(af);
        assert_eq!(s.running("10.0.0.1"), ["node1"], "{af:?}");
        assert_eq!(s.running("10.0.0.2"), ["node2"], "{af:?}");
    }
}
