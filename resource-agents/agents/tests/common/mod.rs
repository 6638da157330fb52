//! Shared helpers: running agents with a controlled environment, network
//! namespaces, and a packet capture on the peer side of a veth pair.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ra-agents")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Result of one agent call.
#[derive(Debug)]
pub struct Run {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            rc: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// An agent invocation context: instance, parameters, state dir and an
/// optional network namespace to run in.
pub struct Ctx {
    pub agent: String,
    pub instance: String,
    pub params: Vec<(String, String)>,
    pub rsctmp: PathBuf,
    pub netns: Option<String>,
    pub interval_ms: Option<u64>,
}

impl Ctx {
    pub fn new(agent: &str, instance: &str, rsctmp: &Path) -> Self {
        Ctx {
            agent: agent.into(),
            instance: instance.into(),
            params: Vec::new(),
            rsctmp: rsctmp.to_path_buf(),
            netns: None,
            interval_ms: Some(10_000),
        }
    }

    pub fn param(mut self, k: &str, v: &str) -> Self {
        self.params.push((k.into(), v.into()));
        self
    }

    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.into());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin()]);
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(args);
        cmd.env("HA_RSCTMP", &self.rsctmp)
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RA_VERSION_MAJOR", "1")
            .env("OCF_RA_VERSION_MINOR", "0")
            .env("OCF_RESOURCE_INSTANCE", &self.instance)
            .env("OCF_RESKEY_CRM_meta_timeout", "20000")
            .env_remove("HA_LOGFILE");
        match self.interval_ms {
            Some(i) => cmd.env("OCF_RESKEY_CRM_meta_interval", i.to_string()),
            None => cmd.env_remove("OCF_RESKEY_CRM_meta_interval"),
        };
        for (k, v) in &self.params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        cmd
    }

    /// `ra-agents <agent> <action>`.
    pub fn run(&self, action: &str) -> Run {
        self.command(&[&self.agent, action])
            .stdin(Stdio::null())
            .output()
            .expect("spawn ra-agents")
            .into()
    }

    /// A monitor with interval 0: a probe.
    pub fn probe(&self) -> Run {
        let mut cmd = self.command(&[&self.agent, "monitor"]);
        cmd.env("OCF_RESKEY_CRM_meta_interval", "0");
        cmd.stdin(Stdio::null())
            .output()
            .expect("spawn ra-agents")
            .into()
    }

    /// Asserts the rc of an action, showing the output on failure.
    pub fn expect(&self, action: &str, rc: i32) -> Run {
        let r = self.run(action);
        assert_eq!(r.rc, rc, "{} {action}: {r:?}", self.agent);
        r
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Two network namespaces joined by a veth pair: the agent side `dev` with
/// 10.<net>.0.1/24 and the peer side `peer_dev` with 10.<net>.0.2/24.
/// Both are deleted on drop.
pub struct NetPair {
    pub ns: String,
    pub peer_ns: String,
    pub dev: String,
    pub peer_dev: String,
    pub net: u8,
}

pub fn sh(args: &[&str]) -> Run {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn")
        .into()
}

fn must(args: &[&str]) {
    let r = sh(args);
    assert_eq!(r.rc, 0, "{args:?}: {r:?}");
}

impl NetPair {
    /// None (with a message) when not root or `ip netns` is unavailable.
    pub fn new() -> Option<NetPair> {
        if !is_root() {
            eprintln!("SKIP: network namespace tests need root");
            return None;
        }
        if !have("ip") {
            eprintln!("SKIP: iproute2 missing");
            return None;
        }
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id() % 100_000;
        let pair = NetPair {
            ns: format!("ra{pid}-{n}a"),
            peer_ns: format!("ra{pid}-{n}b"),
            dev: format!("va{pid}{n}"),
            peer_dev: format!("vb{pid}{n}"),
            net: 100 + (n as u8 % 100),
        };
        for ns in [&pair.ns, &pair.peer_ns] {
            let r = sh(&["ip", "netns", "add", ns]);
            if r.rc != 0 {
                eprintln!("SKIP: ip netns add failed: {}", r.stderr);
                return None;
            }
        }
        must(&[
            "ip",
            "link",
            "add",
            "name",
            &pair.dev,
            "netns",
            &pair.ns,
            "type",
            "veth",
            "peer",
            "name",
            &pair.peer_dev,
            "netns",
            &pair.peer_ns,
        ]);
        let (a, b) = (pair.addr(1), pair.addr(2));
        pair.exec_ok(
            &pair.ns,
            &["ip", "addr", "add", &format!("{a}/24"), "dev", &pair.dev],
        );
        pair.exec_ok(
            &pair.peer_ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("{b}/24"),
                "dev",
                &pair.peer_dev,
            ],
        );
        for (ns, dev) in [(&pair.ns, &pair.dev), (&pair.peer_ns, &pair.peer_dev)] {
            pair.exec_ok(ns, &["ip", "link", "set", "lo", "up"]);
            pair.exec_ok(ns, &["ip", "link", "set", dev, "up"]);
        }
        Some(pair)
    }

    /// 10.<net>.0.<host>
    pub fn addr(&self, host: u8) -> String {
        format!("10.{}.0.{host}", self.net)
    }

    pub fn exec(&self, ns: &str, args: &[&str]) -> Run {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        sh(&full)
    }

    pub fn exec_ok(&self, ns: &str, args: &[&str]) {
        let r = self.exec(ns, args);
        assert_eq!(r.rc, 0, "{ns}: {args:?}: {r:?}");
    }

    /// `ip -o -4 addr show dev <dev>` on the agent side.
    pub fn addrs(&self) -> String {
        self.exec(
            &self.ns,
            &["ip", "-o", "-4", "addr", "show", "dev", &self.dev],
        )
        .stdout
    }

    /// Waits until the agent-side link reports carrier state `up`.
    pub fn wait_carrier(&self, up: bool) {
        let want = if up { "1" } else { "0" };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let r = self.exec(
                &self.ns,
                &["cat", &format!("/sys/class/net/{}/carrier", self.dev)],
            );
            if r.stdout.trim() == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("carrier of {} never became {want}", self.dev);
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end inside it (and its peer).
        let _ = sh(&["ip", "netns", "del", &self.ns]);
        let _ = sh(&["ip", "netns", "del", &self.peer_ns]);
    }
}

/// tcpdump on the peer end, capturing ARP for one address.
pub struct Capture {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Capture {
    /// Starts the capture and waits until tcpdump is listening.
    pub fn start(pair: &NetPair, ip: &str) -> Option<Capture> {
        if !have("tcpdump") {
            eprintln!("SKIP capture: tcpdump missing");
            return None;
        }
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &pair.peer_ns,
                "tcpdump",
                "-l",
                "-n",
                "-i",
                &pair.peer_dev,
                "arp",
                "and",
                "host",
                ip,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("tcpdump did not start listening");
        Some(Capture { child, lines: rx })
    }

    /// Collects lines until `n` have arrived or `limit` passes.
    pub fn collect(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => break,
            }
        }
        got
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory that `nobody` can traverse, holding agent symlinks named
/// like the installed agents (ocf-tester runs meta-data as nobody).
pub struct AgentDir {
    pub dir: tempfile::TempDir,
}

impl AgentDir {
    pub fn new() -> AgentDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        for a in [
            "Dummy",
            "IPaddr2",
            "IPaddr",
            "SendArp",
            "anything",
            "webserver",
        ] {
            std::os::unix::fs::symlink(bin(), dir.path().join(a)).expect("symlink");
        }
        AgentDir { dir }
    }

    pub fn path(&self, agent: &str) -> String {
        self.dir.path().join(agent).display().to_string()
    }
}

/// A state directory for HA_RSCTMP.
pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs Debian's ocf-tester; returns None when it is not installed.
pub fn ocf_tester(
    netns: Option<&str>,
    rsctmp: &Path,
    name: &str,
    opts: &[(&str, &str)],
    agent: &str,
) -> Option<Run> {
    if !Path::new("/usr/sbin/ocf-tester").exists() {
        eprintln!("SKIP: /usr/sbin/ocf-tester not installed");
        return None;
    }
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "/usr/sbin/ocf-tester"]);
            c
        }
        None => Command::new("/usr/sbin/ocf-tester"),
    };
    cmd.arg("-n").arg(name);
    // Every -o must precede the agent path (ocf-tester stops parsing there).
    for (k, v) in opts {
        cmd.arg("-o").arg(format!("{k}={v}"));
    }
    cmd.arg(agent).env("HA_RSCTMP", rsctmp).stdin(Stdio::null());
    Some(cmd.output().expect("spawn ocf-tester").into())
}
