//! `IPaddr2` run through our lrmadmin and lrmd inside a private network namespace: Debian's
//! `ocf:heartbeat:IPaddr2` and our `ocf:rustha:IPaddr2` (the `ra-agents` binary).
//!
//! Each test creates its own namespace with a veth pair (both ends inside, so nothing
//! touches the host's network), starts lrmd in it with `ip netns exec`, and drives it with
//! lrmadmin over the Unix socket (socket paths are not bound to a network namespace).
//! Everything is cleaned up by pid and `ip netns del`, also when an assertion fails.
//! Without root the tests print a SKIPPED message and pass.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEBIAN_OCF: &str = "/usr/lib/ocf";
const DEBIAN_IPADDR2: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";
/// The veth end carrying the subnet and the managed address.
const NIC: &str = "lrmv0";
const PEER: &str = "lrmv1";

fn skip(reason: &str) -> bool {
    eprintln!("SKIPPED: {reason}");
    println!("SKIPPED: {reason}");
    false
}

/// Root and a working `ip netns`; otherwise explains the skip.
fn can_run() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return skip("needs root (network namespaces)");
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => skip(&format!(
            "`ip netns` unavailable: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => skip(&format!("`ip` unavailable: {e}")),
    }
}

fn run(argv: &[&str]) -> Output {
    let o = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        o.status.success(),
        "{argv:?} failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A network namespace with a veth pair `NIC`/`PEER`, `10.251.<k>.1/24` on `NIC`, and an
/// lrmd running inside it. Dropping it kills lrmd by pid and deletes the namespace.
struct NetnsLrmd {
    ns: String,
    k: u8,
    dir: tempfile::TempDir,
    lrmd: Option<Child>,
}

impl NetnsLrmd {
    /// `salt` keeps the namespaces (and subnets) of tests in one process apart.
    fn new(salt: u8, ocf_root: impl FnOnce(&Path) -> PathBuf) -> NetnsLrmd {
        let pid = std::process::id();
        let k = ((pid % 100) as u8) * 2 + salt;
        let ns = format!("lrmt-{pid}-{salt}");
        let dir = tempfile::tempdir().expect("tempdir");
        // Created before the namespace so that Drop cleans up whatever was made.
        let mut env = NetnsLrmd {
            ns,
            k,
            dir,
            lrmd: None,
        };
        run(&["ip", "netns", "add", &env.ns]);
        let ns = env.ns.clone();
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        run(&[
            "ip", "-n", &ns, "link", "add", NIC, "type", "veth", "peer", "name", PEER,
        ]);
        run(&["ip", "-n", &ns, "link", "set", NIC, "up"]);
        run(&["ip", "-n", &ns, "link", "set", PEER, "up"]);
        run(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("10.251.{k}.1/24"),
            "dev",
            NIC,
        ]);
        let root = ocf_root(env.dir.path());
        let socket = env.socket();
        let log = env.log_path();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(env!("CARGO_BIN_EXE_lrmd"))
            .arg("--socket")
            .arg(&socket)
            .arg("--standalone")
            .arg("--ocf-root")
            .arg(&root)
            .arg("--logfile")
            .arg(&log)
            .arg("-v")
            .stdin(Stdio::null())
            .spawn()
            .expect("start lrmd in the namespace");
        env.lrmd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while lrm::client::Client::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "lrmd did not come up; log:\n{}",
                env.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        env
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("lrmd.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("lrmd.log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn addr(&self, host: u8) -> String {
        format!("10.251.{}.{host}", self.k)
    }

    /// Exit code and stdout of `lrmadmin --socket <ours> args...`.
    fn admin(&self, args: &[&str]) -> (i32, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_lrmadmin"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run lrmadmin");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    /// The IPv4 addresses on `NIC` inside the namespace, as `ip -o addr` shows them.
    fn addrs_on_nic(&self) -> Vec<String> {
        let o = run(&["ip", "-n", &self.ns, "-o", "-4", "addr", "show", "dev", NIC]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                f.position(|w| w == "inet")?;
                f.next().map(str::to_owned)
            })
            .collect()
    }

    /// Runs one op through lrmadmin -E and checks its rc (= lrmadmin's exit code).
    fn exec(&self, rsc: &str, op: &str, want_rc: i32) {
        let (code, out) = self.admin(&["-E", rsc, op, "20000", "0", "EVERYTIME"]);
        assert_eq!(
            code,
            want_rc,
            "{rsc} {op}: lrmadmin exit {code}, output:\n{out}\nlrmd log:\n{}",
            self.log()
        );
        assert!(
            out.contains(&format!("return code: {want_rc}\n")),
            "{rsc} {op}: {out}"
        );
    }

    /// add → start (address present, rc 0) → monitor 0 → stop (address gone) → monitor 7.
    fn lifecycle(&self, provider: &str) {
        let vip = self.addr(100);
        let (code, out) = self.admin(&[
            "-A",
            "vip",
            "ocf",
            "IPaddr2",
            provider,
            &format!("ip={vip}"),
            "cidr_netmask=24",
            &format!("nic={NIC}"),
        ]);
        assert_eq!(
            (code, out.as_str()),
            (0, "Succeeded in adding this resource.\n")
        );
        let want = format!("{vip}/24");
        assert!(!self.addrs_on_nic().contains(&want));
        // A probe first: cleanly stopped.
        self.exec("vip", "monitor", 7);
        self.exec("vip", "start", 0);
        let addrs = self.addrs_on_nic();
        assert!(
            addrs.contains(&want),
            "after start {want} must be on {NIC}: {addrs:?}"
        );
        assert!(
            addrs.contains(&format!("{}/24", self.addr(1))),
            "the base address stays: {addrs:?}"
        );
        self.exec("vip", "monitor", 0);
        // Idempotent: a second start changes nothing and succeeds.
        self.exec("vip", "start", 0);
        assert_eq!(
            self.addrs_on_nic().iter().filter(|a| **a == want).count(),
            1
        );
        self.exec("vip", "stop", 0);
        let addrs = self.addrs_on_nic();
        assert!(
            !addrs.contains(&want),
            "after stop {want} must be gone: {addrs:?}"
        );
        assert!(addrs.contains(&format!("{}/24", self.addr(1))), "{addrs:?}");
        self.exec("vip", "monitor", 7);
        // lrmd's record of the last start agrees.
        let (code, state) = self.admin(&["-S", "vip"]);
        assert_eq!(code, 0);
        assert!(state.contains("operation 'stop'"), "{state}");
    }
}

impl Drop for NetnsLrmd {
    fn drop(&mut self) {
        if let Some(mut c) = self.lrmd.take() {
            // `ip netns exec` execs lrmd in place: this pid is lrmd's own.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Kills any leftover process in the namespace (e.g. a background send_arp) first,
        // by pid: `ip netns pids` lists exactly the namespace's processes.
        if let Ok(o) = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
        {
            for pid in String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse::<libc::pid_t>().ok())
            {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

/// The `ra-agents` binary in the same cargo profile as this test (built if missing:
/// cargo does not build another package's binaries for an integration test).
fn ra_agents_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile.join("ra-agents");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "ra-agents", "--bin", "ra-agents"]);
        if profile.file_name().and_then(|n| n.to_str()) == Some("release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build -p ra-agents");
        assert!(st.success(), "cargo build -p ra-agents failed");
    }
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

#[test]
fn debian_ipaddr2_through_lrmadmin_in_a_namespace() {
    if !can_run() {
        return;
    }
    if !Path::new(DEBIAN_IPADDR2).is_file() {
        if std::env::var_os("CI").is_some() {
            panic!("{DEBIAN_IPADDR2} missing on CI (apt-get install resource-agents)");
        }
        skip(&format!(
            "{DEBIAN_IPADDR2} missing (apt-get install resource-agents)"
        ));
        return;
    }
    let env = NetnsLrmd::new(0, |_| PathBuf::from(DEBIAN_OCF));
    env.lifecycle("heartbeat");
}

#[test]
fn our_ipaddr2_through_lrmadmin_in_a_namespace() {
    if !can_run() {
        return;
    }
    let bin = ra_agents_bin();
    let env = NetnsLrmd::new(1, |dir| {
        let root = dir.join("ocf");
        let provider = root.join("resource.d/rustha");
        fs::create_dir_all(&provider).expect("create OCF root");
        // ra-agents picks the agent from argv[0]'s file name.
        std::os::unix::fs::symlink(&bin, provider.join("IPaddr2")).expect("symlink IPaddr2");
        root
    });
    let (code, types) = env.admin(&["-T", "ocf"]);
    assert_eq!(code, 0);
    assert!(types.contains("\nIPaddr2\n"), "{types}");
    env.lifecycle("rustha");
}
