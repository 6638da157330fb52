//! The real stonithd binary, stand-alone (`-a`), in temporary directories: devices from
//! the socket and from ha.cf, fencing with `null` and with an external test script
//! that succeeds, fails, hangs or prints garbage, bad requests, and the permission check.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stonith_ipc::{DeviceSpec, FenceAction, FenceResult, IpcError, StonithdClient};

/// A test script for `external/hbtest`: behaviour chosen by the `mode` parameter,
/// every reset/on/off appended to `countfile`, the hanging mode's pid in `pidfile`.
const SCRIPT: &str = r#"#!/bin/sh
case "$1" in
getconfignames) echo "hostlist mode countfile" ;;
gethosts) for h in $(echo "$hostlist" | tr ',' ' '); do echo "$h"; done ;;
status) exit 0 ;;
getinfo-devid) echo "hbtest device" ;;
getinfo-*) echo "hbtest" ;;
reset|on|off)
    echo "$1 $2" >> "$countfile"
    case "$mode" in
    ok) echo "did $1 of $2"; exit 0 ;;
    fail) echo "power switch says no"; exit 1 ;;
    hang) echo $$ > "$pidfile"; exec sleep 1000 ;;
    slow) sleep 2; exit 0 ;;
    garbage) printf '\001\002GARBAGE\377\376\n'; exit 3 ;;
    esac
    exit 2 ;;
*) exit 1 ;;
esac
"#;

/// `external/badhosts`: a host list that is not text.
const BAD_HOSTS: &str = r#"#!/bin/sh
case "$1" in
getconfignames) echo "hostlist" ;;
gethosts) printf 'ok\001\002\033[31m\n' ;;
*) exit 0 ;;
esac
"#;

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    sock: PathBuf,
}

impl Daemon {
    /// Starts stonithd as node `me` with `hacf` as ha.cf and the test scripts installed.
    fn start(hacf: &str) -> Daemon {
        Daemon::start_with(hacf, |_| {})
    }

    /// Like [`Daemon::start`], with `prepare(run_dir)` run before the daemon starts.
    fn start_with(hacf: &str, prepare: impl FnOnce(&Path)) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let etc = dir.path().join("etc");
        let ext = dir.path().join("ext");
        for d in [&run, &etc, &ext] {
            std::fs::create_dir(d).unwrap();
        }
        for (name, text) in [("hbtest", SCRIPT), ("badhosts", BAD_HOSTS)] {
            let p = ext.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(etc.join("ha.cf"), hacf).unwrap();
        prepare(&run);
        let log = std::fs::File::create(dir.path().join("stonithd.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_stonithd"))
            .args(["-a", "-d", "--node", "me", "--retries", "2"])
            .arg("--run-dir")
            .arg(&run)
            .arg("--config-dir")
            .arg(&etc)
            .arg("--pid-file")
            .arg(dir.path().join("stonithd.pid"))
            .env("STONITH_EXTERNAL_DIR", &ext)
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let sock = stonith_ipc::socket_path(&run);
        let t = Instant::now();
        while StdUnixStream::connect(&sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "no socket {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, dir, sock }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("stonithd.log")).unwrap_or_default()
    }

    async fn client(&self) -> StonithdClient {
        StonithdClient::connect(&self.sock, "test").await.unwrap()
    }

    /// A `external/hbtest` device for `hosts` in `mode`, counting into `<mode>.count`.
    fn script_device(&self, id: &str, hosts: &str, mode: &str, timeout_ms: u64) -> DeviceSpec {
        DeviceSpec {
            id: id.into(),
            type_name: "external/hbtest".into(),
            params: vec![
                ("hostlist".into(), hosts.into()),
                ("mode".into(), mode.into()),
                (
                    "countfile".into(),
                    self.path(&format!("{id}.count")).display().to_string(),
                ),
                (
                    "pidfile".into(),
                    self.path(&format!("{id}.pid")).display().to_string(),
                ),
            ],
            priority: 0,
            timeout_ms,
        }
    }

    fn attempts(&self, id: &str) -> usize {
        std::fs::read_to_string(self.path(&format!("{id}.count")))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Gone, or a zombie waiting to be reaped (its process group was killed).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[tokio::test]
async fn devices_from_hacf_and_socket() {
    let d = Daemon::start(
        "stonith_host * null peer1 Peer2\n\
         stonith_host otherhost null nobody\n\
         stonith_host me external/hbtest me,peer3 ok /dev/null\n\
         stonith_host * bogus-type x\n\
         stonith_host * null\n",
    );
    let mut c = d.client().await;
    assert_eq!(c.node(), "me");
    // ha.cf devices register in the background; wait for the good ones.
    let t = Instant::now();
    let devices = loop {
        let devs = c.devices().await.unwrap();
        if devs.len() >= 2 {
            break devs;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "ha.cf devices missing: {devs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(devices.len(), 2, "{devices:?}");
    assert_eq!(devices[0].id, "ha.cf:1");
    assert_eq!(devices[0].source, "ha.cf:1");
    assert_eq!(devices[0].hosts, vec!["peer1", "peer2"]);
    assert_eq!(devices[1].type_name, "external/hbtest");
    // The local node is dropped from an ordinary device's host list.
    assert_eq!(devices[1].hosts, vec!["peer3"]);
    let log = d.log();
    assert!(
        log.contains("ha.cf:4") && log.contains("Invalid device type: 'bogus-type'"),
        "{log}"
    );
    assert!(log.contains("ha.cf:5") && log.contains("hostlist"), "{log}");

    // Over the socket; null keeps the local node.
    let hosts = c
        .register(&DeviceSpec {
            id: "sock1".into(),
            type_name: "null".into(),
            params: vec![("hostlist".into(), "ME nodeZ".into())],
            priority: -1,
            timeout_ms: 5_000,
        })
        .await
        .unwrap();
    assert_eq!(hosts, vec!["me", "nodez"]);
    let devs = c.devices().await.unwrap();
    let s = devs.iter().find(|x| x.id == "sock1").unwrap();
    assert_eq!((s.priority, s.source.as_str()), (-1, "client:test"));

    // Fence with null: ok, by this node, device chosen by host list.
    let o = c
        .fence("PEER2", FenceAction::Reset, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Ok, "{o:?}");
    assert_eq!(
        (o.node.as_str(), o.device.as_deref(), o.by.as_deref()),
        ("peer2", Some("ha.cf:1"), Some("me"))
    );
    let o = c
        .fence("nodez", FenceAction::Off, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (o.result, o.device.as_deref()),
        (FenceResult::Ok, Some("sock1"))
    );
    // Nothing covers it and there are no peers (-a).
    let o = c
        .fence("stranger", FenceAction::Reset, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Cannot, "{o:?}");

    c.unregister("sock1").await.unwrap();
    let e = c.unregister("sock1").await.unwrap_err();
    assert!(
        matches!(&e, IpcError::Refused { message, .. } if message.contains("no device 'sock1'")),
        "{e}"
    );
    let o = c
        .fence("nodez", FenceAction::Reset, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Cannot);
}

#[tokio::test]
async fn external_script_success_failure_and_watchers() {
    let d = Daemon::start("");
    let mut c = d.client().await;
    let mut w = d.client().await;
    let mut events = w.watch().await.unwrap();
    assert_eq!(
        c.register(&d.script_device("good", "n1", "ok", 5_000))
            .await
            .unwrap(),
        vec!["n1"]
    );
    assert_eq!(
        c.register(&d.script_device("bad", "n2", "fail", 5_000))
            .await
            .unwrap(),
        vec!["n2"]
    );

    let o = c
        .fence("n1", FenceAction::Reset, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Ok, "{o:?}");
    assert_eq!(d.attempts("good"), 1);
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, o, "watchers get the outcome");

    let t = Instant::now();
    let o = c
        .fence("n2", FenceAction::Off, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Failed, "{o:?}");
    assert_eq!(d.attempts("bad"), 3, "one attempt plus --retries 2");
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "rounds are 1 s apart"
    );
    assert!(o.detail.contains("exit code 1"), "{}", o.detail);
    assert!(
        o.detail.contains("power switch says no"),
        "plugin output in detail: {}",
        o.detail
    );
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.result, FenceResult::Failed);
}

#[tokio::test]
async fn hanging_script_times_out_and_is_killed() {
    let d = Daemon::start("");
    let mut c = d.client().await;
    c.register(&d.script_device("hang", "n1", "hang", 1_000))
        .await
        .unwrap();
    let t = Instant::now();
    let o = c
        .fence("n1", FenceAction::Reset, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Timeout, "{o:?}");
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "answered by the deadline: {:?}",
        t.elapsed()
    );
    assert!(d.attempts("hang") >= 1);
    let pid: u32 = std::fs::read_to_string(d.path("hang.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let t = Instant::now();
    while !process_gone(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "plugin process {pid} survived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The daemon is still serving.
    assert!(c.devices().await.is_ok());
}

#[tokio::test]
async fn garbage_output_is_a_failure_with_detail() {
    let d = Daemon::start("");
    let mut c = d.client().await;
    c.register(&d.script_device("junk", "n1", "garbage", 5_000))
        .await
        .unwrap();
    let o = c
        .fence("n1", FenceAction::Reset, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(o.result, FenceResult::Failed, "{o:?}");
    assert!(o.detail.contains("GARBAGE"), "{}", o.detail);
    assert!(o.detail.contains("exit code 3"), "{}", o.detail);
    assert!(
        !o.detail.contains('\u{1}'),
        "control characters are escaped: {:?}",
        o.detail
    );

    // A host list that is not text: registration fails, naming the output.
    let e = c
        .register(&DeviceSpec {
            id: "bh".into(),
            type_name: "external/badhosts".into(),
            params: vec![("hostlist".into(), "x".into())],
            priority: 0,
            timeout_ms: 5_000,
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid output"), "{e}");
}

#[tokio::test]
async fn bad_registrations_are_clear_errors() {
    let d = Daemon::start("");
    let mut c = d.client().await;
    let e = c
        .register(&DeviceSpec {
            id: "x".into(),
            type_name: "no-such-type".into(),
            params: vec![],
            priority: 0,
            timeout_ms: 5_000,
        })
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("Invalid device type: 'no-such-type'"),
        "{e}"
    );
    let mut spec = d.script_device("m", "n1", "ok", 5_000);
    spec.params.retain(|(k, _)| k != "mode");
    let e = c.register(&spec).await.unwrap_err();
    assert!(
        e.to_string().contains("missing required parameter(s) mode"),
        "{e}"
    );
    let e = c
        .register(&DeviceSpec {
            id: "y".into(),
            type_name: "null".into(),
            params: vec![],
            priority: 0,
            timeout_ms: 5_000,
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("hostlist"), "{e}");
    assert!(c.devices().await.unwrap().is_empty());
}

fn read_json(r: &mut impl BufRead) -> serde_json::Value {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[test]
fn malformed_lines_get_errors_and_the_connection_stays_usable() {
    let d = Daemon::start("stonith_host * null n1\n");
    let s = StdUnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"{\"req\":1,\"op\":\"signon\",\"client\":\"raw\"}\nthis is not json\n{\"req\":7,\"op\":\"launch\"}\n")
        .unwrap();
    // Parse errors are answered by the connection itself, so they may overtake the
    // sign-on reply: match by req.
    let lines: Vec<serde_json::Value> = (0..3).map(|_| read_json(&mut r)).collect();
    let by_req = |want: serde_json::Value| {
        lines
            .iter()
            .find(|v| v["req"] == want)
            .unwrap_or_else(|| panic!("no reply with req {want} in {lines:?}"))
            .clone()
    };
    let v = by_req(1.into());
    assert_eq!(v["ok"], true);
    let v = by_req(serde_json::Value::Null);
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().starts_with("line 2: "), "{v}");
    let v = by_req(7.into());
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"], "line 3: unknown op 'launch'");

    // Two fences in flight on one connection: the slow one's reply comes last.
    w.write_all(b"{\"req\":8,\"op\":\"register\",\"device\":{\"id\":\"slow\",\"type\":\"external/hbtest\",\"params\":[[\"hostlist\",\"n2\"],[\"mode\",\"slow\"],[\"countfile\",\"/dev/null\"]]}}\n")
        .unwrap();
    let v = read_json(&mut r);
    assert_eq!(
        (v["req"].as_u64(), v["ok"].as_bool()),
        (Some(8), Some(true)),
        "{v}"
    );
    w.write_all(b"{\"req\":9,\"op\":\"fence\",\"node\":\"n2\",\"timeout_ms\":20000}\n{\"req\":10,\"op\":\"fence\",\"node\":\"n1\",\"timeout_ms\":20000}\n")
        .unwrap();
    let first = read_json(&mut r);
    let second = read_json(&mut r);
    assert_eq!(first["req"], 10, "{first}");
    assert_eq!(first["outcome"]["result"], "ok");
    assert_eq!(second["req"], 9, "{second}");
    assert_eq!(second["outcome"]["result"], "ok");
}

#[test]
fn joined_fences_run_once() {
    let d = Daemon::start("");
    let s = StdUnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let count = d.path("j.count");
    w.write_all(
        format!(
            "{{\"req\":1,\"op\":\"register\",\"device\":{{\"id\":\"j\",\"type\":\"external/hbtest\",\"params\":[[\"hostlist\",\"n1\"],[\"mode\",\"slow\"],[\"countfile\",\"{}\"]]}}}}\n",
            count.display()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_json(&mut r)["ok"], true);
    w.write_all(b"{\"req\":2,\"op\":\"fence\",\"node\":\"n1\",\"timeout_ms\":20000}\n{\"req\":3,\"op\":\"fence\",\"node\":\"N1\",\"timeout_ms\":20000}\n")
        .unwrap();
    let a = read_json(&mut r);
    let b = read_json(&mut r);
    let mut reqs = [a["req"].as_u64().unwrap(), b["req"].as_u64().unwrap()];
    reqs.sort();
    assert_eq!(reqs, [2, 3]);
    assert_eq!(a["outcome"], b["outcome"]);
    assert_eq!(a["outcome"]["result"], "ok");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        1,
        "one run for both"
    );
}

#[test]
fn unauthorized_peer_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root to run a client as nobody");
        return;
    }
    let (Some(setpriv), Some(socat)) = (which("setpriv"), which("socat")) else {
        eprintln!("SKIP: setpriv or socat missing");
        return;
    };
    let d = Daemon::start("");
    let mode = std::fs::metadata(&d.sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660, "socket mode");
    // Let nobody reach the socket file so the credential check itself is exercised.
    for p in [d.dir.path(), d.sock.parent().unwrap()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let as_nobody = || {
        let mut child = Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&socat)
            .args(["-t", "5", "-"])
            .arg(format!("UNIX-CONNECT:{}", d.sock.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"req\":1,\"op\":\"devices\"}\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // 0660 root:haclient: nobody cannot even connect.
    let out = as_nobody();
    assert!(!out.status.success(), "connected through mode 0660");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ermission denied"));

    std::fs::set_permissions(&d.sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(v["ok"], false);
    assert!(
        v["error"].as_str().unwrap().contains("permission denied"),
        "{v}"
    );
    assert_eq!(text.lines().count(), 1, "nothing after the refusal: {text}");
    assert!(d.log().contains("connection refused"));
}

fn which(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

#[test]
fn stale_socket_replaced_pid_file_and_clean_exit() {
    let d = Daemon::start_with("stonith_host * null n1\n", |run| {
        // A socket file left by a crashed stonithd: nobody listens on it.
        drop(std::os::unix::net::UnixListener::bind(stonith_ipc::socket_path(run)).unwrap());
    });
    // Written right after the socket is bound.
    let t = Instant::now();
    let pid: u32 = loop {
        if let Some(p) = std::fs::read_to_string(d.path("stonithd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(pid, d.child.id());
    // A second daemon on the same run dir refuses to take the live socket over.
    let second = Command::new(env!("CARGO_BIN_EXE_stonithd"))
        .args(["-a", "--node", "me", "--run-dir"])
        .arg(d.sock.parent().unwrap())
        .arg("--config-dir")
        .arg(d.path("etc"))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another stonithd"));
    assert!(
        StdUnixStream::connect(&d.sock).is_ok(),
        "first daemon still serving"
    );

    let mut d = d;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    loop {
        if let Some(st) = d.child.try_wait().unwrap() {
            assert!(st.success(), "{st:?}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!d.sock.exists(), "socket removed at exit");
    assert!(!d.path("stonithd.pid").exists(), "pid file removed at exit");
}
