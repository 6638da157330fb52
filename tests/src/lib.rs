//! Test bench: network namespaces, bridges, veth pairs, node processes.
//!
//! A test builds a [`Net`] (one bridge namespace plus one namespace per node), starts
//! [`Node`]s in it (Debian's heartbeat 3.0.6 or ours, each with private /etc/ha.d,
//! /var/lib/heartbeat, /run and hostname), drives them, and relies on `Drop` to kill
//! every process by pid and delete the namespaces, also when the test panics.
//! Declare the `Net` before the nodes so the nodes are dropped first.
//!
//! ```no_run
//! use std::time::Duration;
//! use hb_tests::{authkeys, our_bin, HaCf, Medium, Net, Node, NodeSpec};
//!
//! # fn main() -> hb_tests::Result<()> {
//! if !hb_tests::require_debian() {
//!     return Ok(());
//! }
//! let net = Net::new(2)?;
//! let ha_cf = HaCf::new()
//!     .media(Medium::bcast(net.iface(1)))
//!     .nodes(["alpha", "bravo"])
//!     .render();
//! let keys = authkeys(1, "sha1", "secret");
//! let alpha = Node::start(&net, 1, NodeSpec::debian("alpha", &ha_cf, &keys))?;
//! // Ours is started exactly the same way: `<bin> -f` under private mounts.
//! let bravo = Node::start(&net, 2, NodeSpec::ours("bravo", our_bin("heartbeat")?, &ha_cf, &keys))?;
//! alpha.wait_for("bravo active", Duration::from_secs(30), |n| n.node_status("bravo") == "active")?;
//! assert_eq!(bravo.cl_status(&["nodestatus", "alpha"])?, (0, "active".to_owned()));
//! # Ok(())
//! # }
//! ```

pub mod bins;
pub mod capture;
pub mod cmd;
pub mod error;
pub mod hacf;
pub mod net;
pub mod node;
pub mod procs;
pub mod serial;
pub mod tutorial;

pub use bins::{
    our_bin, profile_dir, target_bin, workspace_root, DEBIAN_CL_STATUS, DEBIAN_HEARTBEAT,
};
pub use capture::Capture;
pub use cmd::{poll_until, wait_until, CmdOutput};
pub use error::{BenchError, Result};
pub use hacf::{authkeys, HaCf, Medium};
pub use net::{list_namespaces, Net};
pub use node::{ExtraFile, Node, NodeKind, NodeSpec};
pub use serial::SerialPair;

/// The name the task brief uses for the network part of the bench.
pub type Bench = Net;

/// True when running on CI (`CI` set to anything but `false`/`0`/empty). There a
/// missing prerequisite is a failure, not a reason to skip.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn skip(test_reason: &str) -> bool {
    if on_ci() {
        panic!("CI must run this test, but {test_reason}");
    }
    eprintln!("SKIPPED: {test_reason}");
    println!("SKIPPED: {test_reason}");
    false
}

/// True when the bench can run: we are root and `ip netns` works. Otherwise prints why
/// the test is skipped and returns false (on CI it panics instead: CI runs as root).
pub fn require_root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return skip("needs root (network namespaces)");
    }
    match cmd::run(&["ip", "netns", "list"], cmd::SHORT) {
        Ok(o) if o.success() => true,
        Ok(o) => skip(&format!("`ip netns` unavailable: {}", o.stderr.trim())),
        Err(e) => skip(&format!("`ip netns` unavailable: {e}")),
    }
}

/// [`require_root`] plus Debian's heartbeat, cl_status, nsenter and unshare installed.
pub fn require_debian() -> bool {
    if !require_root() {
        return false;
    }
    for p in [
        DEBIAN_HEARTBEAT,
        DEBIAN_CL_STATUS,
        "/etc/ha.d",
        "/var/lib/heartbeat",
    ] {
        if !std::path::Path::new(p).exists() {
            return skip(&format!("{p} missing (apt-get install heartbeat)"));
        }
    }
    true
}
