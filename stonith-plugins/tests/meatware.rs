//! meatware + meatclient end to end, including Debian's meatclient
//! talking to our plugin.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn wait_for(path: &std::path::Path) {
    let t = Instant::now();
    while !path.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_reset(fifo_dir: &std::path::Path, node: &str) -> std::process::Child {
    let mut c = ours(
        fifo_dir,
        &[
            "-t",
            "meatware",
            &format!("hostlist={node}"),
            "-T",
            "reset",
            node,
        ],
    );
    c.env("STONITH_MEATWARE_DIR", fifo_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().unwrap()
}

fn meatclient(bin: &str, dir: &std::path::Path, node: &str, answer: &str) -> std::process::Output {
    let mut c = Command::new(bin);
    c.args(["-c", node])
        .env("STONITH_MEATWARE_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // meatclient may exit before reading (e.g. FIFO missing): EPIPE is fine.
    let _ = child.stdin.take().unwrap().write_all(answer.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn our_meatclient_confirms_and_cancels() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("meatware.nodem");
    let st = start_reset(d.path(), "NodeM");
    wait_for(&fifo);
    // Cancel first: the plugin keeps waiting.
    let o = meatclient(env!("CARGO_BIN_EXE_meatclient"), d.path(), "nodem", "n\n");
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o.stdout).ends_with("PROCEED? [yN] Meatware_client: operation canceled.\n"));
    let o = meatclient(env!("CARGO_BIN_EXE_meatclient"), d.path(), "NODEM", "y\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Meatware_client: reset confirmed."));
    let out = st.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("CRIT: OPERATOR INTERVENTION REQUIRED to reset nodem."));
    assert!(err.contains("CRIT: Run \"meatclient -c nodem\" AFTER power-cycling the machine."));
    assert!(err.contains("info: node Meatware-reset: nodem"));
    assert!(!fifo.exists(), "FIFO removed after use");
}

#[test]
fn meatclient_usage_and_missing_fifo() {
    let d = tempfile::tempdir().unwrap();
    let o = meatclient(env!("CARGO_BIN_EXE_meatclient"), d.path(), "ghost", "y\n");
    assert_eq!(o.status.code(), Some(4));
    assert!(text(&o.stderr).starts_with("Meatware_IPC failed:"));
    let o = Command::new(env!("CARGO_BIN_EXE_meatclient"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stderr), "usage: meatclient -c node [-w]\n");
}

#[test]
fn debian_meatclient_confirms_our_meatware() {
    assert!(have(DEBIAN_MEATCLIENT), "Debian cluster-glue is required");
    // Debian's meatclient only knows /run, so use a unique node name there.
    let node = format!("hbrs-meat-{}", std::process::id());
    let run_dir = std::path::Path::new("/run");
    let fifo = run_dir.join(format!("meatware.{node}"));
    let _guard = RemoveOnDrop(fifo.clone());
    let st = start_reset(run_dir, &node);
    wait_for(&fifo);
    let o = meatclient(DEBIAN_MEATCLIENT, run_dir, &node, "y\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = st.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
