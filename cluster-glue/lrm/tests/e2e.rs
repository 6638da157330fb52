//! End-to-end: a real lrmd on a temporary socket, driven through our lrmadmin and the JSON
//! client, running Debian's ocf:heartbeat:Dummy and test agents written here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use lrm::client::{Client, ClientError};
use lrm::proto::{ErrorCode, Event};
use serde_json::json;

const DEBIAN_OCF: &str = "/usr/lib/ocf";

struct Env {
    dir: tempfile::TempDir,
    lrmd: Option<Child>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let ra = root.join("ocf/resource.d");
        fs::create_dir_all(ra.join("test")).unwrap();
        fs::create_dir_all(root.join("init.d")).unwrap();
        fs::create_dir_all(root.join("hb.d")).unwrap();
        // Debian's Dummy sources $OCF_ROOT/lib/heartbeat/ocf-shellfuncs.
        std::os::unix::fs::symlink(Path::new(DEBIAN_OCF).join("lib"), root.join("ocf/lib"))
            .unwrap();
        std::os::unix::fs::symlink(
            Path::new(DEBIAN_OCF).join("resource.d/heartbeat"),
            ra.join("heartbeat"),
        )
        .unwrap();
        let mut env = Env { dir, lrmd: None };
        env.start_lrmd();
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn socket(&self) -> PathBuf {
        self.path("lrmd.sock")
    }

    fn script(&self, rel: &str, body: &str) {
        let p = self.path(rel);
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn start_lrmd(&mut self) {
        let root = self.dir.path();
        let child = Command::new(env!("CARGO_BIN_EXE_lrmd"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--standalone")
            .arg("--ocf-root")
            .arg(root.join("ocf"))
            .arg("--lsb-dir")
            .arg(root.join("init.d"))
            .arg("--heartbeat-dir")
            .arg(root.join("hb.d"))
            .arg("--logfile")
            .arg(root.join("lrmd.log"))
            .arg("-v")
            .spawn()
            .unwrap();
        self.lrmd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Client::connect(&self.socket()).is_err() {
            assert!(Instant::now() < deadline, "lrmd did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.lrmd.as_ref().unwrap().id()
    }

    fn assert_alive(&mut self) {
        let status = self.lrmd.as_mut().unwrap().try_wait().unwrap();
        assert!(
            status.is_none(),
            "lrmd died: {status:?}\nlog:\n{}",
            self.log()
        );
        let mut c = self.client();
        c.call(json!({"request": "ping"}))
            .expect("lrmd must keep serving");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path("lrmd.log")).unwrap_or_default()
    }

    fn client(&self) -> Client {
        Client::connect(&self.socket()).unwrap()
    }

    fn admin(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_lrmadmin"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap()
    }

    /// stdout and exit code of an lrmadmin call.
    fn admin_out(&self, args: &[&str]) -> (String, i32) {
        let o = self.admin(args);
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code().unwrap_or(-1),
        )
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.lrmd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(c) = &self.lrmd {
            // SIGTERM: graceful shutdown, then make sure.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        std::thread::sleep(Duration::from_millis(100));
        self.kill9();
    }
}

fn op_block(op: &str, status: &str, op_status: i32, rc: i32, output: &str) -> String {
    format!(
        "Waiting for lrmd to callback...\n----------------operation--------------\ntype:{op}\n\
         operation status:{status}\nop_status: {op_status}\nreturn code: {rc}\noutput data: \n{output}\n\
         ---------------------------------------\n"
    )
}

#[test]
fn dummy_lifecycle_through_lrmadmin() {
    let env = Env::new();
    let state = env.path("d1.state");
    let state_arg = format!("state={}", state.display());
    assert_eq!(
        env.admin_out(&["-A", "d1", "ocf", "Dummy", "heartbeat", &state_arg]),
        ("Succeeded in adding this resource.\n".into(), 0)
    );
    assert_eq!(
        env.admin_out(&["-I", "d1"]).0,
        format!(
            "\nResource ID:d1\nResource agent class:ocf\nResource agent type:Dummy\n\
             Resource agent provider:heartbeat\nResource agent parameters:{state_arg}  \n"
        )
    );
    assert_eq!(
        env.admin_out(&["-E", "d1", "monitor", "20000", "0", "EVERYTIME"]),
        (op_block("monitor", "succeed", 0, 7, "[null]"), 7)
    );
    assert_eq!(
        env.admin_out(&["-E", "d1", "start", "20000", "0", "EVERYTIME"]),
        (op_block("start", "succeed", 0, 0, "[null]"), 0)
    );
    assert!(state.exists(), "Dummy start creates its state file");
    assert_eq!(
        env.admin_out(&["-E", "d1", "monitor", "20000", "0", "EVERYTIME"]),
        (op_block("monitor", "succeed", 0, 0, "[null]"), 0)
    );
    let (s, code) = env.admin_out(&["-S", "d1"]);
    assert_eq!(code, 0);
    assert!(
        s.starts_with("resource state:LRM_RSC_IDLE\nThe resource 2 operations' information:\n"),
        "{s}"
    );
    assert!(
        s.contains(
            "   operation 'start' [call_id=2]:\n      start_delay=0, interval=0, timeout=20000"
        ),
        "{s}"
    );
    assert!(
        s.contains("      rc=0 (ok), op_status=0 (succeed)\n"),
        "{s}"
    );
    assert_eq!(
        env.admin_out(&["-E", "d1", "stop", "20000", "0", "EVERYTIME"]),
        (op_block("stop", "succeed", 0, 0, "[null]"), 0)
    );
    assert!(!state.exists());
    // Unknown resource: lrmadmin exits 254.
    assert_eq!(
        env.admin_out(&["-E", "nope", "start", "1000", "0", "EVERYTIME"])
            .1,
        254
    );
    assert_eq!(
        env.admin_out(&["-C"]).0,
        "There are 3 RA classes supported:\nheartbeat\nocf\nlsb\n"
    );
    assert_eq!(env.admin_out(&["-P", "ocf", "Dummy"]).0, "heartbeat\n");
    let (t, _) = env.admin_out(&["-T", "ocf"]);
    assert!(
        t.starts_with("There are ") && t.contains("\nDummy\n"),
        "{t}"
    );
    let (m, code) = env.admin_out(&["-M", "ocf", "Dummy", "heartbeat"]);
    assert_eq!(code, 0);
    assert!(m.contains("<resource-agent name=\"Dummy\""), "{m}");
    assert_eq!(
        env.admin_out(&["-g", "max-children"]).0,
        "max-children: 4\n"
    );
    assert_eq!(
        env.admin_out(&["-p", "max-children", "6"]),
        (String::new(), 0)
    );
    assert_eq!(
        env.admin_out(&["-g", "max-children"]).0,
        "max-children: 6\n"
    );
    assert_eq!(env.admin_out(&["-d"]), ("lrmd is stopped.\n".into(), 0));
    assert_eq!(
        env.admin_out(&["-D", "d1"]),
        ("Succeeded in deleting this resource.\n".into(), 0)
    );
    assert_eq!(
        env.admin_out(&["-D", "d1"]),
        ("Failed to delete this resource.\n".into(), 253)
    );
    assert_eq!(
        env.admin_out(&["-L"]).0,
        "Currently no resources are managed by LRM.\n"
    );
    assert_eq!(
        env.admin_out(&["-A", "bad", "nosuchclass", "Dummy", "NULL"]),
        ("Failed to add this resource.\n".into(), 253)
    );
    let json_out = env.admin(&["--json", "-E", "x", "start", "1000", "0", "EVERYTIME"]);
    assert_eq!(json_out.status.code(), Some(254));
}

#[test]
fn lrmadmin_reports_lrmd_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_lrmadmin"))
        .args([
            "--socket",
            &dir.path().join("none").display().to_string(),
            "-L",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "lrmd is not running.\n");
    assert_eq!(o.status.code(), Some(254));
    let o = Command::new(env!("CARGO_BIN_EXE_lrmadmin"))
        .args([
            "--socket",
            &dir.path().join("none").display().to_string(),
            "-d",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn recurring_monitor_reports_change_when_state_file_vanishes() {
    let env = Env::new();
    let state = env.path("r1.state");
    let mut c = env.client();
    c.call(
        json!({"request": "register", "rsc": "r1", "class": "ocf", "provider": "heartbeat",
        "type": "Dummy", "params": {"state": state}}),
    )
    .unwrap();
    let (_, code) = env.admin_out(&["-E", "r1", "start", "20000", "0", "EVERYTIME"]);
    assert_eq!(code, 0);
    let call = c
        .call(json!({"request": "exec", "rsc": "r1", "operation": "monitor", "interval": 300, "timeout": 10000}))
        .unwrap()["call_id"]
        .as_u64()
        .unwrap();
    let deadline = Some(Instant::now() + Duration::from_secs(20));
    let first = c.wait_result(call, deadline).unwrap();
    assert_eq!((first.rc, first.spec.interval), (0, 300));
    // Several unchanged runs happen here; none may be reported.
    std::thread::sleep(Duration::from_millis(1200));
    fs::remove_file(&state).unwrap();
    let changed = c.wait_result(call, deadline).unwrap();
    assert_eq!(
        (changed.rc, changed.last_rc),
        (7, 0),
        "the next report is the change"
    );
    assert_eq!(changed.call_id, call);
    let fc = c
        .call(json!({"request": "failcount-get", "rsc": "r1"}))
        .unwrap();
    assert_eq!(fc["count"], 1);
    // lrmadmin sees the monitor in the history with the new rc.
    let (s, _) = env.admin_out(&["-S", "r1"]);
    assert!(
        s.contains("interval=300") && s.contains("rc=7 (not running)"),
        "{s}"
    );
    assert_eq!(
        env.admin_out(&["-c", "r1", "monitor", "300"]),
        ("Succeeded in cancelling this operation.\n".into(), 0)
    );
    assert_eq!(env.admin_out(&["--failcount", "r1"]).0, "fail-count: 1\n");
    assert_eq!(env.admin_out(&["--failcount", "r1", "reset"]).1, 0);
    assert_eq!(env.admin_out(&["--failcount", "r1"]).0, "fail-count: 0\n");
}

#[test]
fn lsb_and_heartbeat_class_scripts() {
    let env = Env::new();
    let flag = env.path("lsb.on");
    env.script(
        "init.d/lsbsvc",
        &format!(
            "#!/bin/sh\nF={}\ncase \"$1\" in\nstart) touch $F;;\nstop) rm -f $F;;\n\
             status) [ -e $F ] && exit 0 || exit 3;;\n*) exit 3;;\nesac\nexit 0\n",
            flag.display()
        ),
    );
    env.script(
        "hb.d/hbsvc",
        "#!/bin/sh\n# heartbeat class: positional args, then the action\nd=\"$1\"\ncase \"$2\" in\n\
         start) touch \"$d/hb.on\";;\nstop) rm -f \"$d/hb.on\";;\n\
         status) if [ -e \"$d/hb.on\" ]; then echo \"hbsvc is running\"; else echo \"hbsvc is stopped\"; fi;;\n\
         esac\nexit 0\n",
    );
    let dir = env.dir.path().display().to_string();
    assert_eq!(env.admin_out(&["-A", "l1", "lsb", "lsbsvc", "NULL"]).1, 0);
    assert_eq!(
        env.admin_out(&["-A", "h1", "heartbeat", "hbsvc", "NULL", &dir])
            .1,
        0
    );
    assert!(env
        .admin_out(&["-I", "h1"])
        .0
        .ends_with(&format!("Resource agent parameters:{dir}  \n")));
    assert_eq!(
        env.admin_out(&["-T", "lsb"]).0,
        "There are 1 RAs:\nlsbsvc\n"
    );
    assert_eq!(
        env.admin_out(&["-P", "heartbeat", "hbsvc"]).0,
        "heartbeat\n"
    );

    // LSB status 3 is "not running".
    assert_eq!(
        env.admin_out(&["-E", "l1", "monitor", "5000", "0", "EVERYTIME"])
            .1,
        7
    );
    assert_eq!(
        env.admin_out(&["-E", "l1", "start", "5000", "0", "EVERYTIME"])
            .1,
        0
    );
    assert!(flag.exists());
    assert_eq!(
        env.admin_out(&["-E", "l1", "monitor", "5000", "0", "EVERYTIME"])
            .1,
        0
    );

    // heartbeat class: status judged from the text, which reaches the client.
    assert_eq!(
        env.admin_out(&["-E", "h1", "monitor", "5000", "0", "EVERYTIME"]),
        (op_block("monitor", "succeed", 0, 7, "hbsvc is stopped"), 7)
    );
    assert_eq!(
        env.admin_out(&["-E", "h1", "start", "5000", "0", "EVERYTIME"])
            .1,
        0
    );
    assert!(
        env.path("hb.on").exists(),
        "positional arg reached the script"
    );
    assert_eq!(
        env.admin_out(&["-E", "h1", "monitor", "5000", "0", "EVERYTIME"]),
        (op_block("monitor", "succeed", 0, 0, "hbsvc is running"), 0)
    );
    let (m, code) = env.admin_out(&["-M", "lsb", "lsbsvc", "NULL"]);
    assert_eq!(code, 0);
    assert!(m.contains("resource-agent"), "{m}");
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); look at the state instead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(") ").next().unwrap_or("").starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn hanging_agent_is_killed_with_its_children_and_reported_timed_out() {
    let env = Env::new();
    let pids = env.path("hang.pids");
    env.script(
        "ocf/resource.d/test/Hang",
        "#!/bin/sh\ncase \"$1\" in\nstart) sleep 1000 & echo $! > \"$OCF_RESKEY_pids\"; echo $$ >> \"$OCF_RESKEY_pids\"; \
         sleep 1000;;\nmeta-data) exit 0;;\nesac\nexit 0\n",
    );
    let p = format!("pids={}", pids.display());
    assert_eq!(
        env.admin_out(&["-A", "hang", "ocf", "Hang", "test", &p]).1,
        0
    );
    let t0 = Instant::now();
    let (out, code) = env.admin_out(&["-E", "hang", "start", "1000", "0", "EVERYTIME"]);
    assert_eq!(out, op_block("start", "timeout", 2, -2, "[null]"));
    assert_eq!(code, 254, "exit status is the rc (-2)");
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "reported at the timeout, not after the KILL grace: {:?}",
        t0.elapsed()
    );
    let text = fs::read_to_string(&pids).unwrap();
    let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(pids.len(), 2, "{text}");
    std::thread::sleep(Duration::from_millis(300));
    for pid in pids {
        assert!(!alive(pid), "agent process {pid} survived its timeout");
    }
    let fc = env
        .client()
        .call(json!({"request": "failcount-get", "rsc": "hang"}))
        .unwrap();
    assert_eq!(fc["count"], 1);
}

fn vm_rss_kb(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn chatty_agent_does_not_grow_lrmd_memory() {
    let env = Env::new();
    env.script(
        "ocf/resource.d/test/Chatty",
        "#!/bin/sh\nhead -c 20000000 /dev/zero | tr '\\0' x\nhead -c 20000000 /dev/zero | tr '\\0' y >&2\nexit 0\n",
    );
    assert_eq!(env.admin_out(&["-A", "chat", "ocf", "Chatty", "test"]).1, 0);
    let before = vm_rss_kb(env.pid());
    let mut peak = before;
    for _ in 0..3 {
        let (out, code) = env.admin_out(&["-E", "chat", "monitor", "60000", "0", "EVERYTIME"]);
        assert_eq!(code, 0, "{out}");
        peak = peak.max(vm_rss_kb(env.pid()));
    }
    assert!(
        peak < before + 8 * 1024,
        "lrmd RSS grew from {before} kB to {peak} kB after 120 MB of output"
    );
    assert!(peak < 40 * 1024, "lrmd RSS {peak} kB");
}

#[test]
fn restarted_lrmd_starts_nothing_twice() {
    let mut env = Env::new();
    env.script(
        "ocf/resource.d/test/Counter",
        "#!/bin/sh\ncase \"$1\" in\nstart) echo start >> \"$OCF_RESKEY_counter\"; touch \"$OCF_RESKEY_state\";;\n\
         stop) rm -f \"$OCF_RESKEY_state\";;\nmonitor) [ -e \"$OCF_RESKEY_state\" ] || exit 7;;\n\
         meta-data) echo '<resource-agent name=\"Counter\"/>';;\nesac\nexit 0\n",
    );
    let counter = env.path("counter");
    let args = [
        format!("counter={}", counter.display()),
        format!("state={}", env.path("c.state").display()),
    ];
    let add =
        |env: &Env| env.admin_out(&["-A", "c1", "ocf", "Counter", "test", &args[0], &args[1]]);
    assert_eq!(add(&env).1, 0);
    assert_eq!(
        add(&env).1,
        0,
        "re-registering the same definition is accepted"
    );
    assert_eq!(
        env.admin_out(&["-E", "c1", "start", "5000", "0", "EVERYTIME"])
            .1,
        0
    );
    assert_eq!(
        env.admin_out(&["-E", "c1", "monitor", "5000", "1000", "CHANGED"])
            .1,
        0
    );
    env.kill9();
    env.start_lrmd();
    assert_eq!(
        env.admin_out(&["-L"]).0,
        "Currently no resources are managed by LRM.\n"
    );
    assert_eq!(add(&env).1, 0);
    // The client re-establishes what it wants: a probe finds the resource running.
    assert_eq!(
        env.admin_out(&["-E", "c1", "monitor", "5000", "0", "EVERYTIME"])
            .1,
        0
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        fs::read_to_string(&counter).unwrap(),
        "start\n",
        "started exactly once"
    );
    env.assert_alive();
}

#[test]
fn malformed_requests_get_errors_and_lrmd_keeps_serving() {
    let mut env = Env::new();
    let mut c = env.client();
    let r = c.raw(b"this is not json\n").unwrap();
    assert_eq!(r.error.unwrap().code, ErrorCode::Malformed);
    let r = c
        .raw(b"{\"id\":1,\"request\":\"exec\",\"rsc\":[1],\"operation\":2}\n")
        .unwrap();
    assert_eq!(r.id, json!(1));
    assert_eq!(r.error.unwrap().code, ErrorCode::InvalidArgument);
    let r = c
        .raw(b"{\"id\":2,\"request\":\"self-destruct\"}\n")
        .unwrap();
    let e = r.error.unwrap();
    assert_eq!(e.code, ErrorCode::UnknownRequest);
    assert!(e.message.contains("self-destruct"));
    let mut huge = vec![b'{'; 3 * 1024 * 1024];
    huge.push(b'\n');
    let r = c.raw(&huge).unwrap();
    let e = r.error.unwrap();
    assert_eq!(e.code, ErrorCode::Malformed);
    assert!(e.message.contains("exceeds"), "{}", e.message);
    let r = c
        .raw(b"{\"id\":3,\"request\":\"exec\",\"rsc\":\"ghost\",\"operation\":\"start\"}\n")
        .unwrap();
    assert_eq!(r.error.unwrap().code, ErrorCode::UnknownResource);
    c.call(json!({"request": "register", "rsc": "d", "class": "ocf", "provider": "heartbeat", "type": "Dummy",
        "params": {"state": env.path("d.state")}}))
        .unwrap();
    match c.call(json!({"request": "cancel", "rsc": "d", "operation": "monitor", "interval": 5})) {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::UnknownOperation),
        other => panic!("{other:?}"),
    }
    match c.call(json!({"request": "exec", "rsc": "d", "operation": ""})) {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::InvalidArgument),
        other => panic!("{other:?}"),
    }
    // Same connection still works after all that.
    c.call(json!({"request": "ping"})).unwrap();
    env.assert_alive();
}

#[test]
fn client_disconnecting_mid_op_does_not_disturb_lrmd() {
    let mut env = Env::new();
    env.script(
        "ocf/resource.d/test/Slow",
        "#!/bin/sh\ncase \"$1\" in\nstart) sleep 1; touch \"$OCF_RESKEY_state\";;\nmonitor) [ -e \"$OCF_RESKEY_state\" ] || exit 7;;\nesac\nexit 0\n",
    );
    let state = env.path("slow.state");
    {
        let mut c = env.client();
        c.call(json!({"request": "register", "rsc": "s", "class": "ocf", "provider": "test", "type": "Slow",
            "params": {"state": state}}))
            .unwrap();
        c.call(json!({"request": "exec", "rsc": "s", "operation": "start"}))
            .unwrap();
        // Dropped here, while the agent runs.
    }
    let mut watcher = env.client();
    watcher.call(json!({"request": "subscribe"})).unwrap();
    let Event::OpResult(r) = watcher
        .next_event(Some(Instant::now() + Duration::from_secs(10)))
        .unwrap();
    assert_eq!((r.spec.operation.as_str(), r.rc), ("start", 0));
    assert!(state.exists(), "the op of the vanished client completed");
    env.assert_alive();
}

#[test]
fn peers_outside_root_and_haclient_are_refused() {
    let env = Env::new();
    fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(env.socket(), fs::Permissions::from_mode(0o666)).unwrap();
    use std::os::unix::process::CommandExt;
    let o = Command::new(env!("CARGO_BIN_EXE_lrmadmin"))
        .arg("--socket")
        .arg(env.socket())
        .arg("-L")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("may not use lrmd"), "stderr: {err}");
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn socket_mode_is_0660() {
    let env = Env::new();
    let mode = fs::metadata(env.socket()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn sigterm_lets_running_op_finish_then_exits() {
    let mut env = Env::new();
    env.script(
        "ocf/resource.d/test/Slow",
        "#!/bin/sh\ncase \"$1\" in\nstart) sleep 1; touch \"$OCF_RESKEY_state\";;\nesac\nexit 0\n",
    );
    let state = env.path("slow.state");
    let mut c = env.client();
    c.call(json!({"request": "register", "rsc": "s", "class": "ocf", "provider": "test", "type": "Slow",
        "params": {"state": state}}))
        .unwrap();
    let call = c
        .call(json!({"request": "exec", "rsc": "s", "operation": "start"}))
        .unwrap()["call_id"]
        .as_u64()
        .unwrap();
    unsafe { libc::kill(env.pid() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(200));
    match c.call(json!({"request": "exec", "rsc": "s", "operation": "monitor"})) {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::Busy, "{}", e.message),
        other => panic!("exec during shutdown: {other:?}"),
    }
    let r = c
        .wait_result(call, Some(Instant::now() + Duration::from_secs(10)))
        .unwrap();
    assert_eq!(r.rc, 0);
    assert!(state.exists(), "the running op finished");
    let child = env.lrmd.as_mut().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{st:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lrmd did not exit after its last op"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!env.socket().exists(), "socket removed on exit");
    env.lrmd = None;
}
