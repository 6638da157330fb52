//! Network namespaces for one test: a bridge namespace and one namespace per node,
//! joined by veth pairs. Nothing is configured in the host namespace.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::cmd::{self, CmdOutput, SHORT};
use crate::error::{BenchError, Result};
use crate::procs;

/// Distinguishes benches created by the same process (tests run in parallel threads).
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Interface name of a node's only link, inside its namespace. Namespaces are private,
/// so every node can use the same short name; heartbeat link names are local anyway.
const NODE_IFACE: &str = "eth0";
/// The bridge device, inside the bridge namespace.
const BRIDGE: &str = "br0";
/// nftables table used by [`Net::set_loss`].
const LOSS_TABLE: &str = "hbtloss";
/// Highest node count: node addresses are `.11` .. `.(10+n)` in a /24.
pub const MAX_NODES: usize = 200;

/// A test network: namespaces `<prefix>-br` (bridge) and `<prefix>-n1..nN` (nodes).
/// Node `i` (1-based) has [`Net::iface`] `eth0` with address `10.251.<k>.(10+i)/24`.
/// Dropping it kills every process left in its namespaces (by pid) and deletes them.
#[derive(Debug)]
pub struct Net {
    prefix: String,
    subnet: u8,
    n_nodes: usize,
    /// Namespaces created so far, in creation order; cleanup walks it backwards, so a
    /// half-built `Net` is torn down as completely as a finished one.
    created: Vec<String>,
}

impl Net {
    /// Creates the namespaces, bridge and veth pairs for `n_nodes` nodes, addresses
    /// them and brings every link (and each node's `lo`) up.
    pub fn new(n_nodes: usize) -> Result<Net> {
        if n_nodes == 0 || n_nodes > MAX_NODES {
            return Err(BenchError::Setup(format!(
                "node count {n_nodes} out of range 1..={MAX_NODES}"
            )));
        }
        let pid = std::process::id();
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        // The subnet only needs to be unique per bench for readable captures; the
        // networks are isolated from each other anyway.
        let subnet = (pid.wrapping_mul(31).wrapping_add(counter) % 256) as u8;
        let mut net = Net {
            prefix: format!("hbt{pid}-{counter}"),
            subnet,
            n_nodes,
            created: Vec::new(),
        };
        net.build()?;
        Ok(net)
    }

    fn build(&mut self) -> Result<()> {
        let br = self.bridge_ns();
        self.add_ns(&br)?;
        run_ok(&[
            "ip",
            "-n",
            &br,
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        run_ok(&["ip", "-n", &br, "link", "set", BRIDGE, "up"])?;
        // With br_netfilter in the kernel (Docker loads it) every frame crossing the
        // bridge also walks the IP hooks, in the softirq of the sending node, so it is
        // charged to the daemon that sent it. A switch between real nodes costs them
        // nothing: switch the hooks off in the bridge's own namespace (absent keys mean
        // no br_netfilter, nothing to do).
        for key in [
            "net.bridge.bridge-nf-call-iptables",
            "net.bridge.bridge-nf-call-ip6tables",
            "net.bridge.bridge-nf-call-arptables",
        ] {
            let _ = cmd::run(
                &[
                    "ip",
                    "netns",
                    "exec",
                    &br,
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("{key}=0"),
                ],
                SHORT,
            );
        }
        for i in 1..=self.n_nodes {
            let ns = self.ns_name(i);
            self.add_ns(&ns)?;
            let port = self.bridge_port(i);
            // Both ends are created directly inside their namespaces: no interface ever
            // appears in the host namespace, so names cannot clash between tests.
            run_ok(&[
                "ip", "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", NODE_IFACE,
                "netns", &ns,
            ])?;
            run_ok(&[
                "ip", "-n", &br, "link", "set", &port, "master", BRIDGE, "up",
            ])?;
            let cidr = format!("{}/24", self.addr(i)?);
            let bcast = self.broadcast().to_string();
            run_ok(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &cidr,
                "broadcast",
                &bcast,
                "dev",
                NODE_IFACE,
            ])?;
            run_ok(&["ip", "-n", &ns, "link", "set", NODE_IFACE, "up"])?;
            run_ok(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    fn add_ns(&mut self, name: &str) -> Result<()> {
        run_ok(&["ip", "netns", "add", name])?;
        self.created.push(name.to_owned());
        Ok(())
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.n_nodes
    }

    /// Always false: a `Net` has at least one node.
    pub fn is_empty(&self) -> bool {
        self.n_nodes == 0
    }

    /// Unique name prefix (`hbt<pid>-<counter>`) of every namespace of this bench.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Name of the bridge namespace.
    pub fn bridge_ns(&self) -> String {
        format!("{}-br", self.prefix)
    }

    fn ns_name(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    /// Name of node `i`'s network namespace (1-based).
    pub fn ns(&self, i: usize) -> Result<String> {
        self.check(i)?;
        Ok(self.ns_name(i))
    }

    /// All namespaces this bench created (still existing until drop).
    pub fn namespaces(&self) -> Vec<String> {
        self.created.clone()
    }

    /// Interface name of node `i`'s link inside its namespace (same for every node).
    pub fn iface(&self, _i: usize) -> &'static str {
        NODE_IFACE
    }

    /// Name of the bridge-side veth of node `i` (in the bridge namespace).
    pub fn bridge_port(&self, i: usize) -> String {
        format!("v{i}")
    }

    /// Address of node `i`: `10.251.<k>.(10+i)`.
    pub fn addr(&self, i: usize) -> Result<Ipv4Addr> {
        self.check(i)?;
        let host = u8::try_from(10 + i)
            .map_err(|_| BenchError::Setup(format!("node index {i} too large")))?;
        Ok(Ipv4Addr::new(10, 251, self.subnet, host))
    }

    /// Gives every node an IPv6 address (fd42:4242::<10+i>/64) on its interface,
    /// usable at once (no duplicate address detection); returns them, node 1 first.
    pub fn add_ipv6(&self) -> Result<Vec<std::net::Ipv6Addr>> {
        let mut out = Vec::new();
        for i in 1..=self.n_nodes {
            let ns = self.ns_name(i);
            let addr: std::net::Ipv6Addr = format!("fd42:4242::{}", 10 + i)
                .parse()
                .map_err(|e| BenchError::Setup(format!("IPv6 address: {e}")))?;
            let cidr = format!("{addr}/64");
            run_ok(&[
                "ip", "-n", &ns, "-6", "addr", "add", &cidr, "dev", NODE_IFACE, "nodad",
            ])?;
            out.push(addr);
        }
        Ok(out)
    }

    /// Addresses of all nodes, node 1 first.
    pub fn addrs(&self) -> Vec<Ipv4Addr> {
        (1..=self.n_nodes)
            .filter_map(|i| self.addr(i).ok())
            .collect()
    }

    /// Broadcast address of the test subnet.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 251, self.subnet, 255)
    }

    fn check(&self, i: usize) -> Result<()> {
        if i == 0 || i > self.n_nodes {
            return Err(BenchError::Setup(format!(
                "node index {i} out of range 1..={}",
                self.n_nodes
            )));
        }
        Ok(())
    }

    /// Cuts node `i` off the bridge by setting the bridge-side veth down (the node's
    /// `eth0` loses carrier, as when a cable is pulled).
    pub fn cut_link(&self, i: usize) -> Result<()> {
        self.check(i)?;
        run_ok(&[
            "ip",
            "-n",
            &self.bridge_ns(),
            "link",
            "set",
            &self.bridge_port(i),
            "down",
        ])
        .map(drop)
    }

    /// Reconnects node `i` after [`Net::cut_link`].
    pub fn restore_link(&self, i: usize) -> Result<()> {
        self.check(i)?;
        run_ok(&[
            "ip",
            "-n",
            &self.bridge_ns(),
            "link",
            "set",
            &self.bridge_port(i),
            "up",
        ])
        .map(drop)
    }

    /// Drops `percent`% of the UDP packets node `i` receives, at random, with an
    /// nftables table in node `i`'s namespace (netem is not available everywhere).
    /// Replaces any loss set before.
    pub fn set_loss(&self, i: usize, percent: u8) -> Result<()> {
        let ns = self.ns(i)?;
        if percent > 100 {
            return Err(BenchError::Setup(format!("loss {percent}% is over 100%")));
        }
        // `mod 100` yields 0..=99, and nft rejects a bound outside that range, so 100%
        // is an unconditional drop. The counter stays in both forms for
        // `dropped_packets`.
        let verdict = if percent == 100 {
            "counter drop".to_owned()
        } else {
            format!("numgen random mod 100 < {percent} counter drop")
        };
        let body = format!(
            "\tchain input {{\n\
             \t\ttype filter hook input priority 0; policy accept;\n\
             \t\tmeta l4proto udp {verdict}\n\
             \t}}\n"
        );
        nft_replace_table(&ns, LOSS_TABLE, &body)
    }

    /// Removes the loss set by [`Net::set_loss`] (no error if there is none).
    pub fn clear_loss(&self, i: usize) -> Result<()> {
        nft_delete_table(&self.ns(i)?, LOSS_TABLE)
    }

    /// Number of packets the loss rule of node `i` has dropped so far.
    pub fn dropped_packets(&self, i: usize) -> Result<u64> {
        let ns = self.ns(i)?;
        let out = run_ok(&[
            "ip", "netns", "exec", &ns, "nft", "list", "table", "inet", LOSS_TABLE,
        ])?;
        parse_counter(&out.stdout).ok_or_else(|| BenchError::Command {
            cmd: format!("nft list table inet {LOSS_TABLE} (in {ns})"),
            status: "no counter in output".into(),
            stderr: out.stdout.clone(),
        })
    }

    /// Runs `argv` inside node `i`'s network namespace (only the network: no private
    /// mounts or hostname; use [`crate::Node::nsenter`] for those). Any exit code is
    /// returned, not treated as an error.
    pub fn exec(&self, i: usize, argv: &[&str]) -> Result<CmdOutput> {
        self.exec_timeout(i, argv, Duration::from_secs(60))
    }

    /// [`Net::exec`] with an explicit time limit.
    pub fn exec_timeout(&self, i: usize, argv: &[&str], timeout: Duration) -> Result<CmdOutput> {
        let ns = self.ns(i)?;
        let mut full = vec!["ip", "netns", "exec", ns.as_str()];
        full.extend_from_slice(argv);
        cmd::run(&full, timeout)
    }
}

fn run_ok(argv: &[&str]) -> Result<CmdOutput> {
    cmd::run_ok(argv, SHORT)
}

fn parse_counter(listing: &str) -> Option<u64> {
    let mut words = listing.split_whitespace();
    while let Some(w) = words.next() {
        if w == "packets" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Pids of processes in network namespace `ns` (`ip netns pids`).
pub fn netns_pids(ns: &str) -> Vec<i32> {
    cmd::run(&["ip", "netns", "pids", ns], SHORT)
        .map(|o| {
            o.stdout
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Names of all network namespaces on the machine (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>> {
    let out = run_ok(&["ip", "netns", "list"])?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            // Anything still running in the namespace (a node the test forgot, a
            // tcpdump) would keep it alive; kill it by pid first.
            let live = || -> Vec<i32> {
                netns_pids(ns)
                    .into_iter()
                    .filter(|&p| procs::is_alive(p))
                    .collect()
            };
            for pid in live() {
                procs::signal(pid, Signal::SIGKILL);
            }
            cmd::poll_until(Duration::from_secs(5), Duration::from_millis(20), || {
                live().is_empty()
            });
            if let Err(e) = run_ok(&["ip", "netns", "del", ns]) {
                eprintln!("hb-tests: cleanup of namespace {ns} failed: {e}");
            }
        }
    }
}

/// Replaces (or creates) the `inet` table `table` in namespace `ns` with `body` (its
/// chains). `add` + `delete` first makes the removal of an old table idempotent, and
/// the whole script is one nft transaction: there is no window without the rules.
pub fn nft_replace_table(ns: &str, table: &str, body: &str) -> Result<()> {
    let script = format!(
        "add table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n{body}}}\n"
    );
    cmd::run_ok_with_input(
        &["ip", "netns", "exec", ns, "nft", "-f", "-"],
        &script,
        SHORT,
    )
    .map(drop)
}

/// Removes the `inet` table `table` from namespace `ns` (no error when there is none).
pub fn nft_delete_table(ns: &str, table: &str) -> Result<()> {
    let script = format!("add table inet {table}\ndelete table inet {table}\n");
    cmd::run_ok_with_input(
        &["ip", "netns", "exec", ns, "nft", "-f", "-"],
        &script,
        SHORT,
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_parsed_from_nft_listing() {
        let text = "table inet hbtloss {\n\tchain input {\n\t\tmeta l4proto udp numgen random mod 100 < 30 counter packets 17 bytes 3000 drop\n\t}\n}\n";
        assert_eq!(parse_counter(text), Some(17));
        assert_eq!(parse_counter("nothing here"), None);
    }
}
