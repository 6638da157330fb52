//! lrmd and heartbeat's client API: lrmd signs on when heartbeat runs (heartbeat then
//! reports it as an online client), keeps serving when heartbeat stops, and runs
//! stand-alone when there is no heartbeat at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hb_tests::{authkeys, our_bin, HaCf, Medium, Net, Node, NodeSpec};

/// An lrmd child, killed by pid when dropped.
struct Lrmd {
    child: Child,
    dir: PathBuf,
}

impl Lrmd {
    fn socket(dir: &Path) -> PathBuf {
        dir.join("lrmd.sock")
    }

    /// Starts `lrmd --socket <dir>/lrmd.sock --hb-socket <hb_socket> ...` and waits until
    /// it answers.
    fn start(dir: &Path, hb_socket: &Path) -> Lrmd {
        let child = Command::new(env!("CARGO_BIN_EXE_lrmd"))
            .arg("--socket")
            .arg(Self::socket(dir))
            .arg("--hb-socket")
            .arg(hb_socket)
            .arg("--logfile")
            .arg(dir.join("lrmd.log"))
            .arg("-v")
            .stdin(Stdio::null())
            .spawn()
            .expect("start lrmd");
        let mut lrmd = Lrmd {
            child,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while lrm::client::Client::connect(&Self::socket(dir)).is_err() {
            lrmd.assert_alive();
            assert!(
                Instant::now() < deadline,
                "lrmd did not come up; log:\n{}",
                lrmd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        lrmd
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("lrmd.log")).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "lrmd log never said {needle:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn assert_alive(&mut self) {
        let st = self.child.try_wait().expect("try_wait lrmd");
        assert!(st.is_none(), "lrmd exited ({st:?}); log:\n{}", self.log());
    }

    /// Exit code and stdout of our lrmadmin against this lrmd.
    fn admin(&self, args: &[&str]) -> (i32, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_lrmadmin"))
            .arg("--socket")
            .arg(Self::socket(&self.dir))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run lrmadmin");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    /// Registers Debian's Dummy and runs start, monitor, stop through lrmadmin: proof that
    /// lrmd does its real job.
    fn exercise(&self, rsc: &str) {
        let state = self.dir.join(format!("{rsc}.state"));
        let (code, out) = self.admin(&[
            "-A",
            rsc,
            "ocf",
            "Dummy",
            "heartbeat",
            &format!("state={}", state.display()),
        ]);
        assert_eq!(
            (code, out.as_str()),
            (0, "Succeeded in adding this resource.\n")
        );
        for (op, rc) in [("start", 0), ("monitor", 0), ("stop", 0), ("monitor", 7)] {
            let (code, out) = self.admin(&["-E", rsc, op, "20000", "0", "EVERYTIME"]);
            assert_eq!(code, rc, "{rsc} {op}: {out}\nlrmd log:\n{}", self.log());
        }
        assert!(!state.exists());
    }
}

impl Drop for Lrmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_dummy() -> bool {
    Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").is_file()
}

#[test]
fn lrmd_runs_stand_alone_without_heartbeat() {
    if !have_dummy() {
        eprintln!("SKIPPED: Debian's Dummy agent missing (apt-get install resource-agents)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Not --standalone: lrmd looks for heartbeat, finds nothing, and carries on.
    let mut lrmd = Lrmd::start(dir.path(), &dir.path().join("no-heartbeat/register"));
    lrmd.wait_log("running stand-alone", Duration::from_secs(5));
    assert!(!lrmd.log().contains("signed on to heartbeat"));
    lrmd.exercise("d1");
    lrmd.assert_alive();
}

#[test]
fn lrmd_signs_on_to_heartbeat_and_survives_its_stop() {
    if !hb_tests::require_root() {
        return;
    }
    if !have_dummy() {
        eprintln!("SKIPPED: Debian's Dummy agent missing (apt-get install resource-agents)");
        return;
    }
    let heartbeat = our_bin("heartbeat").expect("our heartbeat binary");
    let net = Net::new(1).expect("network namespace");
    let ha_cf = HaCf::new()
        .media(Medium::bcast(net.iface(1)))
        .nodes(["alpha"])
        .render();
    let keys = authkeys(1, "sha1", "lrmd-test");
    let mut node = Node::start(&net, 1, NodeSpec::ours("alpha", heartbeat, &ha_cf, &keys))
        .expect("start our heartbeat");
    node.wait_for("alpha active", Duration::from_secs(30), |n| {
        n.node_status("alpha") == "active"
    })
    .expect("heartbeat up");
    let hb_pid = node.pid().expect("heartbeat pid");

    // heartbeat's API socket is in the node's private /run; lrmd reaches it through the
    // daemon's root. lrmd itself stays outside the node's mount namespace: stopping the
    // node kills every process in there, and lrmd must outlive heartbeat.
    let dir = tempfile::tempdir().expect("tempdir");
    let hb_socket = PathBuf::from(format!("/proc/{hb_pid}/root/run/heartbeat/register"));
    assert!(hb_socket.exists(), "{} missing", hb_socket.display());
    let mut lrmd = Lrmd::start(dir.path(), &hb_socket);
    lrmd.wait_log("signed on to heartbeat", Duration::from_secs(10));
    // A casual client's id is its pid.
    let client = lrmd.pid().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, status) = node
            .cl_status(&["clientstatus", "alpha", &client])
            .expect("cl_status clientstatus");
        if code == 0 && status == "online" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "heartbeat never saw lrmd (pid {client}) online: {code} {status:?}\nheartbeat log:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A pid that is not signed on is offline: the check above can tell the difference.
    let (_, other) = node
        .cl_status(&["clientstatus", "alpha", "1"])
        .expect("cl_status clientstatus");
    assert_eq!(other, "offline");
    lrmd.exercise("d1");

    // heartbeat goes away (killed: its graceful stop waits for its own resource
    // manager, which is not what is tested here): lrmd notices, stays up and keeps serving.
    node.kill9().expect("kill heartbeat");
    lrmd.wait_log("heartbeat API connection lost", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    lrmd.assert_alive();
    lrmd.exercise("d2");
    lrmd.assert_alive();
    drop(lrmd);
    drop(node);
    drop(net);
}
