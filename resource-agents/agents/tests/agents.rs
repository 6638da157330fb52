//! Dummy, anything, webserver (+ its LSB script), meta-data and install.sh.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn dummy_lifecycle_matches_debian_semantics() {
    let tmp = state_dir();
    let d = Ctx::new("Dummy", "d1", tmp.path());
    let state = tmp.path().join("Dummy-d1.state");

    // Probe on a stopped resource: 7, and quiet like ocf_exit_reason in probes.
    let r = d.probe();
    assert_eq!(r.rc, 7, "{r:?}");
    assert!(!r.stderr.contains("ocf-exit-reason"), "{r:?}");
    // A recurring monitor says why.
    let r = d.expect("monitor", 7);
    assert!(
        r.stderr
            .contains("ocf-exit-reason:No process state file found"),
        "{r:?}"
    );

    d.expect("stop", 0);
    d.expect("start", 0);
    assert!(state.exists());
    d.expect("start", 0);
    d.expect("monitor", 0);
    assert_eq!(d.probe().rc, 0);
    d.expect("reload", 0);
    d.expect("stop", 0);
    assert!(!state.exists());
    d.expect("stop", 0);
    d.expect("monitor", 7);
    d.expect("validate-all", 0);

    // migrate_to stops, migrate_from starts.
    d.expect("migrate_from", 0);
    assert!(state.exists());
    d.expect("migrate_to", 0);
    assert!(!state.exists());

    // Called the OCF way without an instance name: refused like ocf-shellfuncs does.
    let out = Command::new(bin())
        .args(["Dummy", "start"])
        .env("HA_RSCTMP", tmp.path())
        .env("OCF_RA_VERSION_MAJOR", "1")
        .env_remove("OCF_RESOURCE_INSTANCE")
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Need to tell us our resource instance name."));
    assert!(!tmp.path().join("Dummy-default.state").exists());

    let r = d.expect("bogus", 3);
    assert!(r.stdout.starts_with("usage: Dummy"), "{r:?}");
    // Dummy has no status action.
    d.expect("status", 3);
}

#[test]
fn dummy_explicit_state_param_and_unwritable_dir() {
    let tmp = state_dir();
    let file = tmp.path().join("custom.state");
    let d = Ctx::new("Dummy", "d2", tmp.path()).param("state", &file.display().to_string());
    d.expect("start", 0);
    assert!(file.exists());
    d.expect("stop", 0);
    assert!(!file.exists());

    let bad = Ctx::new("Dummy", "d3", tmp.path()).param("state", "/nonexistent/x.state");
    let r = bad.expect("validate-all", 2);
    assert!(
        r.stderr
            .contains("ocf-exit-reason:State file \"/nonexistent/x.state\" is not writable"),
        "{r:?}"
    );
}

#[test]
fn meta_data_is_valid_per_dtd_for_every_agent() {
    let dtd_dir = Path::new("/usr/share/resource-agents");
    for agent in [
        "Dummy",
        "IPaddr2",
        "IPaddr",
        "SendArp",
        "anything",
        "webserver",
    ] {
        let out = Command::new(bin())
            .args([agent, "meta-data"])
            .env_clear()
            .output()
            .expect("spawn");
        assert_eq!(out.status.code(), Some(0), "{agent} meta-data");
        let xml = String::from_utf8_lossy(&out.stdout);
        assert!(
            xml.contains(&format!(
                "<resource-agent name=\"{agent}\" version=\"1.0\">"
            )),
            "{xml}"
        );
        for action in ["start", "stop", "monitor", "meta-data", "validate-all"] {
            assert!(
                xml.contains(&format!("<action name=\"{action}\" timeout=")),
                "{agent}: {action}"
            );
        }
        if have("xmllint") && dtd_dir.join("ra-api-1.dtd").exists() {
            let mut child = Command::new("xmllint")
                .args(["--noout", "--valid", "-"])
                .current_dir(dtd_dir)
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("xmllint");
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().expect("stdin");
                stdin.write_all(&out.stdout).expect("write");
            }
            let res = child.wait_with_output().expect("xmllint wait");
            assert!(
                res.status.success(),
                "{agent}: {}",
                String::from_utf8_lossy(&res.stderr)
            );
        } else {
            eprintln!("SKIP DTD validation: xmllint or ra-api-1.dtd missing");
        }
    }
}

#[test]
fn required_params_missing_are_configuration_errors() {
    let tmp = state_dir();
    for agent in ["IPaddr2", "IPaddr", "SendArp", "anything"] {
        let c = Ctx::new(agent, "x", tmp.path());
        let r = c.expect("validate-all", 6);
        assert!(r.stderr.contains("ocf-exit-reason:"), "{agent}: {r:?}");
        // Stop with an unusable configuration cannot have anything to stop.
        c.expect("stop", 0);
    }
    // A bad number is a configuration error too.
    Ctx::new("webserver", "w", tmp.path())
        .param("port", "http")
        .expect("validate-all", 6);
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("numeric pid")
}

#[test]
fn anything_supervises_sleep_by_identity() {
    let tmp = state_dir();
    let pidfile = tmp.path().join("a1.pid");
    let a = Ctx::new("anything", "a1", tmp.path())
        .param("binfile", "sleep")
        .param("cmdline_options", "1000")
        .param("pidfile", &pidfile.display().to_string())
        .param("stop_timeout", "2");

    assert_eq!(a.probe().rc, 7);
    a.expect("validate-all", 0);
    a.expect("start", 0);
    let pid = read_pid(&pidfile);
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let argv: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
    // exec'd directly: the recorded pid is sleep itself, not a shell.
    assert!(
        argv.len() == 2 && argv[0].ends_with("sleep") && argv[1] == "1000",
        "{argv:?}"
    );
    a.expect("monitor", 0);
    // Start on a running resource keeps the same process.
    a.expect("start", 0);
    assert_eq!(read_pid(&pidfile), pid);

    // monitor_hook failing makes monitor fail.
    let hooked = Ctx::new("anything", "a1", tmp.path())
        .param("binfile", "sleep")
        .param("pidfile", &pidfile.display().to_string())
        .param("monitor_hook", "exit 3");
    hooked.expect("monitor", 1);

    a.expect("stop", 0);
    assert!(!pidfile.exists());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true),
        "sleep {pid} survived stop"
    );
    a.expect("stop", 0);
    a.expect("monitor", 7);
}

#[test]
fn anything_stale_or_recycled_pid_is_a_failure_not_running() {
    let tmp = state_dir();
    let pidfile = tmp.path().join("a2.pid");
    let a = Ctx::new("anything", "a2", tmp.path())
        .param("binfile", "/bin/sleep")
        .param("cmdline_options", "1000")
        .param("pidfile", &pidfile.display().to_string());
    a.expect("start", 0);
    let pid = read_pid(&pidfile);
    // The daemon dies behind the cluster's back.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    std::thread::sleep(Duration::from_millis(200));
    let r = a.expect("monitor", 1);
    assert!(r.stderr.contains("ocf-exit-reason:"), "{r:?}");
    a.expect("stop", 0);
    assert!(!pidfile.exists());

    // A pid file naming a live but unrelated process (a recycled pid:
    // this test process is not "sleep") is not "running".
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).expect("write");
    a.expect("monitor", 1);
    a.expect("stop", 0);
    assert!(!pidfile.exists(), "stale pid file removed by stop");
}

#[test]
fn anything_start_fails_for_missing_or_dying_binary() {
    let tmp = state_dir();
    let pidfile = tmp.path().join("a3.pid");
    Ctx::new("anything", "a3", tmp.path())
        .param("binfile", "/nonexistent/daemon")
        .param("pidfile", &pidfile.display().to_string())
        .expect("start", 5);
    Ctx::new("anything", "a3", tmp.path())
        .param("binfile", "/bin/false")
        .param("pidfile", &pidfile.display().to_string())
        .expect("start", 1);
    assert!(!pidfile.exists());
}

fn node_name() -> String {
    nix::sys::utsname::uname()
        .expect("uname")
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn webserver_serves_node_name_and_files() {
    let tmp = state_dir();
    let root = tmp.path().join("www");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::write(root.join("hello.txt"), "hello from the cluster\n").expect("write");
    let port = free_port();
    let w = Ctx::new("webserver", "web", tmp.path())
        .param("port", &port.to_string())
        .param("bind", "127.0.0.1")
        .param("root", &root.display().to_string());

    assert_eq!(w.probe().rc, 7);
    w.expect("validate-all", 0);
    w.expect("start", 0);
    let page = http_get(port, "/").expect("GET /");
    assert!(page.starts_with("HTTP/1.0 200 OK"), "{page}");
    assert!(page.contains(&node_name()), "{page}");
    let file = http_get(port, "/hello.txt").expect("GET file");
    assert!(
        file.starts_with("HTTP/1.0 200") && file.ends_with("hello from the cluster\n"),
        "{file}"
    );
    let missing = http_get(port, "/nope").expect("GET missing");
    assert!(missing.starts_with("HTTP/1.0 404"), "{missing}");
    let escape = http_get(port, "/../../etc/passwd").expect("GET escape");
    assert!(escape.starts_with("HTTP/1.0 403"), "{escape}");
    w.expect("monitor", 0);
    w.expect("start", 0);

    // A server that stops answering (SIGSTOP) fails monitor within its own
    // bounded timeout instead of hanging it.
    let pidfile = tmp.path().join("webserver-web.pid");
    let pid = read_pid(&pidfile);
    let p = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGSTOP).expect("stop");
    let t = std::time::Instant::now();
    w.expect("monitor", 1);
    assert!(t.elapsed() < Duration::from_secs(15));
    // Start on a hung server replaces it with one that answers.
    w.expect("start", 0);
    let new_pid = read_pid(&pidfile);
    assert_ne!(new_pid, pid);
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z")),
        "hung server {pid} left running"
    );
    w.expect("monitor", 0);
    assert!(http_get(port, "/")
        .expect("GET after restart")
        .starts_with("HTTP/1.0 200"));

    w.expect("stop", 0);
    assert!(http_get(port, "/").is_err(), "still serving after stop");
    w.expect("monitor", 7);
    w.expect("stop", 0);
}

#[test]
fn webserver_missing_root_is_not_installed_here() {
    let tmp = state_dir();
    Ctx::new("webserver", "w2", tmp.path())
        .param("root", "/nonexistent/www")
        .expect("validate-all", 5);
}

fn lsb(script_env: &[(&str, String)], action: &str) -> Run {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("lsb/httpd");
    let mut cmd = Command::new("sh");
    cmd.arg(script)
        .arg(action)
        .env("RA_AGENTS", bin())
        .env("HTTPD_DEFAULTS", "/nonexistent");
    for (k, v) in script_env {
        cmd.env(k, v);
    }
    cmd.output().expect("spawn lsb script").into()
}

#[test]
fn lsb_httpd_script_follows_lsb_codes() {
    let tmp = state_dir();
    let port = free_port();
    let env = [
        ("HTTPD_PORT", port.to_string()),
        ("HTTPD_BIND", "127.0.0.1".to_string()),
        (
            "HTTPD_PIDFILE",
            tmp.path().join("httpd.pid").display().to_string(),
        ),
    ];
    let r = lsb(&env, "status");
    assert_eq!(r.rc, 3, "{r:?}");
    // heartbeat's status matching: "not running" means stopped.
    assert!(r.stdout.contains("not running"), "{r:?}");
    assert_eq!(lsb(&env, "stop").rc, 0, "stop when stopped");
    let r = lsb(&env, "start");
    assert_eq!(r.rc, 0, "{r:?}");
    let r = lsb(&env, "status");
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(
        r.stdout.contains("is running") && !r.stdout.contains("not"),
        "{r:?}"
    );
    assert!(http_get(port, "/").expect("GET").contains(&node_name()));
    assert_eq!(lsb(&env, "start").rc, 0, "start when running");
    let r = lsb(&env, "restart");
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(http_get(port, "/")
        .expect("GET after restart")
        .starts_with("HTTP/1.0 200"));
    assert_eq!(lsb(&env, "stop").rc, 0);
    assert_eq!(lsb(&env, "status").rc, 3);
    assert!(http_get(port, "/").is_err());
    assert_eq!(lsb(&env, "frobnicate").rc, 2);

    // A pid file left by a dead server: status 1 and "not running".
    std::fs::write(tmp.path().join("httpd.pid"), "999999\n").expect("write");
    let r = lsb(&env, "status");
    assert_eq!(r.rc, 1, "{r:?}");
    assert!(r.stdout.contains("not running"), "{r:?}");
    assert_eq!(lsb(&env, "stop").rc, 0);
}

#[test]
fn install_script_creates_provider_links() {
    let tmp = state_dir();
    let prefix = tmp.path().join("usr");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh");
    let r: Run = Command::new("sh")
        .arg(&script)
        .args(["--binary", bin(), "--with-resource-d"])
        .arg(&prefix)
        .env_remove("OCF_ROOT")
        .env_remove("DESTDIR")
        .output()
        .expect("install.sh")
        .into();
    assert_eq!(r.rc, 0, "{r:?}");
    let installed = prefix.join("libexec/rust-ha/ra-agents");
    assert!(installed.is_file());
    for agent in [
        "Dummy",
        "IPaddr2",
        "IPaddr",
        "SendArp",
        "anything",
        "webserver",
    ] {
        let link = prefix.join("lib/ocf/resource.d/rustha").join(agent);
        assert_eq!(
            std::fs::read_link(&link).expect("symlink"),
            installed,
            "{agent}"
        );
        let out = Command::new(&link)
            .arg("meta-data")
            .output()
            .expect("run link");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("name=\"{agent}\"")),
            "{agent}"
        );
    }
    let lsb = std::fs::read_to_string(prefix.join("etc/init.d/httpd")).expect("lsb installed");
    assert!(lsb.contains(&installed.display().to_string()) && !lsb.contains("@RA_AGENTS@"));
    assert_eq!(
        std::fs::read_link(prefix.join("etc/ha.d/resource.d/IPaddr")).expect("hb link"),
        installed
    );
    // Called through the heartbeat-class link with a spec, it is the
    // heartbeat wrapper.
    let out = Command::new(prefix.join("etc/ha.d/resource.d/IPaddr"))
        .args(["192.0.2.77/32/lo", "status"])
        .env("HA_RSCTMP", tmp.path())
        .output()
        .expect("hb status");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "INFO:  Resource is stopped\n"
    );
    assert_eq!(out.status.code(), Some(7));
    // Never into Debian's provider by accident.
    let r: Run = Command::new("sh")
        .arg(&script)
        .args(["--binary", bin(), "--provider", "heartbeat"])
        .arg(&prefix)
        .output()
        .expect("install.sh")
        .into();
    assert_eq!(r.rc, 1, "{r:?}");
}

#[test]
fn multi_call_dispatch_and_unknown_agent() {
    let out = Command::new(bin())
        .args(["NoSuchAgent", "start"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(5));
    let out = Command::new(bin()).output().expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage: ra-agents"));
}

#[test]
fn anything_runs_as_configured_user() {
    if !is_root() {
        eprintln!("SKIP: switching user needs root");
        return;
    }
    let tmp = state_dir();
    let pidfile = tmp.path().join("a4.pid");
    let a = Ctx::new("anything", "a4", tmp.path())
        .param("binfile", "/bin/sleep")
        .param("cmdline_options", "1000")
        .param("user", "nobody")
        .param("pidfile", &pidfile.display().to_string());
    a.expect("start", 0);
    let pid = read_pid(&pidfile);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("lookup")
        .expect("nobody exists");
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == nobody.uid.to_string()),
        "{uid_line}"
    );
    a.expect("monitor", 0);
    a.expect("stop", 0);
    Ctx::new("anything", "a5", tmp.path())
        .param("binfile", "/bin/sleep")
        .param("user", "no-such-user-here")
        .param("pidfile", &pidfile.display().to_string())
        .expect("validate-all", 2);
}
