//! The `external/*` bridge and the `stonith` CLI, against cluster-glue's
//! own scripts and Debian's `stonith` binary.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn external_ssh_names_help_and_metadata_match_debian() {
    let dir = std::path::Path::new(GLUE_EXTERNAL_DIR);
    assert!(
        dir.join("ssh").exists(),
        "cluster-glue is required for this test (apt-get install cluster-glue)"
    );
    let o = run(ours(dir, &["-t", "external/ssh", "-n"]));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "hostlist  \n");
    for args in [
        ["-t", "external/ssh", "-n"],
        ["-t", "external/ssh", "-h"],
        ["-t", "external/ssh", "-m"],
    ] {
        let mine = run(ours(dir, &args));
        let mut deb = std::process::Command::new(DEBIAN_STONITH);
        deb.args(args);
        let theirs = run(deb);
        assert_eq!(
            text(&mine.stdout),
            text(&theirs.stdout),
            "stdout differs for {args:?}"
        );
        assert_eq!(
            mine.status.code(),
            theirs.status.code(),
            "exit differs for {args:?}"
        );
    }
    let m = run(ours(dir, &["-t", "external/ssh", "-m"]));
    let xml = text(&m.stdout);
    assert!(xml.contains("<resource-agent name=\"external/ssh\">"));
    assert!(xml.contains("<shortdesc lang=\"en\">ssh STONITH device\n</shortdesc>"));
}

#[test]
fn external_ssh_lists_hosts_from_env_param() {
    let dir = std::path::Path::new(GLUE_EXTERNAL_DIR);
    let o = run(ours(
        dir,
        &["-t", "external/ssh", "hostlist=NodeA,nodeb", "-l"],
    ));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "NodeA\nnodeb\n");
    // on/off are refused by the script (exit 1) → S_RESETFAIL.
    let o = run(ours(
        dir,
        &["-t", "external/ssh", "hostlist=nodea", "-T", "on", "nodea"],
    ));
    assert_eq!(o.status.code(), Some(5));
}

#[test]
fn test_script_receives_subcommands_and_environment() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("calls.log");
    write_script(d.path(), "rec", &recording_script(&log));
    let dir = d.path();

    let o = run(ours(
        dir,
        &["-t", "external/rec", "foo=1", "extra=x y", "-l"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "NodeA\nnodeb\n",
        "gethosts output is kept as printed"
    );

    let o = run(ours(dir, &["-t", "external/rec", "foo=1", "-S"]));
    assert_eq!(
        o.status.code(),
        Some(7),
        "-S exit is the script's raw status"
    );
    assert!(text(&o.stderr).contains("ERROR: external/rec device not accessible."));
    assert!(text(&o.stderr).contains("WARN: external_status: 'rec status' failed with rc 7"));

    let o = run(ours(
        dir,
        &["-t", "external/rec", "foo=1", "-T", "reset", "NodeA"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("output: did reset nodea"),
        "{}",
        text(&o.stderr)
    );

    let o = run(ours(
        dir,
        &["-t", "external/rec", "-p", "2", "-T", "off", "nodeb"],
    ));
    assert_eq!(o.status.code(), Some(5));
    assert!(text(&o.stderr)
        .contains("CRIT: external_reset_req: 'rec off' for host nodeb failed with rc 3"));

    let o = run(ours(dir, &["-t", "external/rec", "foo=1", "nodea"]));
    assert_eq!(o.status.code(), Some(0), "a bare node name means reset");

    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls
        .lines()
        .filter(|l| !l.starts_with("op=getconfignames"))
        .collect();
    assert_eq!(
        lines,
        vec![
            "op=gethosts host= foo=1 extra=x y tag=external/rec path1=/usr/share/cluster-glue",
            "op=status host= foo=1 extra= tag=external/rec path1=/usr/share/cluster-glue",
            "op=reset host=nodea foo=1 extra= tag=external/rec path1=/usr/share/cluster-glue",
            "op=off host=nodeb foo=2 extra= tag=external/rec path1=/usr/share/cluster-glue",
            "op=reset host=nodea foo=1 extra= tag=external/rec path1=/usr/share/cluster-glue",
        ]
    );
    // getconfignames runs without parameters in its environment.
    assert!(calls.contains("op=getconfignames host= foo= "));
}

#[test]
fn our_cli_matches_debian_on_the_same_script() {
    if !have(DEBIAN_STONITH) {
        panic!("Debian cluster-glue is required: {DEBIAN_STONITH} missing");
    }
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("calls.log");
    let name = format!("hbrs-test-{}", std::process::id());
    let installed = std::path::Path::new(GLUE_EXTERNAL_DIR).join(&name);
    std::fs::write(&installed, recording_script(&log)).unwrap();
    let _guard = RemoveOnDrop(installed.clone());
    std::fs::set_permissions(
        &installed,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ty = format!("external/{name}");

    for args in [
        vec!["-t", ty.as_str(), "foo=1", "-l"],
        vec!["-t", ty.as_str(), "foo=1", "-S"],
        vec!["-t", ty.as_str(), "foo=1", "-T", "reset", "NodeA"],
        vec!["-t", ty.as_str(), "foo=1", "-T", "off", "nodeb"],
        vec!["-t", ty.as_str(), "-n"],
        vec!["-t", ty.as_str(), "-m"],
        vec!["-t", ty.as_str(), "-h"],
    ] {
        std::fs::write(&log, "").unwrap();
        let mut deb = std::process::Command::new(DEBIAN_STONITH);
        deb.args(&args).stdin(std::process::Stdio::null());
        let theirs = run(deb);
        let their_calls = std::fs::read_to_string(&log).unwrap();
        std::fs::write(&log, "").unwrap();
        let mine = run(ours(std::path::Path::new(GLUE_EXTERNAL_DIR), &args));
        let my_calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            mine.status.code(),
            theirs.status.code(),
            "exit differs for {args:?}"
        );
        assert_eq!(
            text(&mine.stdout),
            text(&theirs.stdout),
            "stdout differs for {args:?}"
        );
        // The script must see the same sub-commands and variables (PATH
        // may be prefixed once more by Debian's own fence_legacy setup,
        // so only our own record line format is compared).
        let norm = |s: &str| {
            let mut v: Vec<String> = s.lines().map(str::to_string).collect();
            v.sort();
            v.dedup();
            v
        };
        assert_eq!(
            norm(&my_calls),
            norm(&their_calls),
            "script calls differ for {args:?}"
        );
    }
}

#[test]
fn debian_stonith_runs_our_ssh_compatible_reset_path() {
    // Debian's CLI against a script installed where it looks: the script
    // uses the exact protocol our bridge speaks, proving both agree.
    if !have(DEBIAN_STONITH) {
        panic!("Debian cluster-glue is required");
    }
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("calls.log");
    let name = format!("hbrs-deb-{}", std::process::id());
    let installed = std::path::Path::new(GLUE_EXTERNAL_DIR).join(&name);
    std::fs::write(&installed, recording_script(&log)).unwrap();
    let _guard = RemoveOnDrop(installed.clone());
    std::fs::set_permissions(
        &installed,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let o = run({
        let mut c = std::process::Command::new(DEBIAN_STONITH);
        c.args([
            "-t",
            &format!("external/{name}"),
            "foo=9",
            "-T",
            "on",
            "NODEA",
        ]);
        c
    });
    assert_eq!(o.status.code(), Some(0));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("op=on host=nodea foo=9"), "{calls}");
    // Our -L lists the installed script the same way Debian's does.
    let ours_l = text(&run(ours(std::path::Path::new(GLUE_EXTERNAL_DIR), &["-L"])).stdout);
    let theirs_l = text(
        &run({
            let mut c = std::process::Command::new(DEBIAN_STONITH);
            c.arg("-L");
            c
        })
        .stdout,
    );
    // Other tests install their own hbrs-* scripts concurrently: compare
    // everything but those.
    let own = format!("external/{name}");
    let ext = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("external/") && (!l.contains("hbrs-") || *l == own))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(ext(&ours_l), ext(&theirs_l));
    assert!(ext(&ours_l).contains(&format!("external/{name}")));
}

#[test]
fn writable_scripts_are_ignored_like_cluster_glue() {
    let d = tempfile::tempdir().unwrap();
    let p = write_script(d.path(), "loose", "#!/bin/sh\necho hostlist\n");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o775)).unwrap();
    let o = run(ours(d.path(), &["-t", "external/loose", "-n"]));
    assert_eq!(o.status.code(), Some(8));
    assert!(!text(&run(ours(d.path(), &["-L"])).stdout).contains("external/loose"));
}

#[test]
fn unknown_type_missing_and_bad_params() {
    let d = tempfile::tempdir().unwrap();
    let o = run(ours(d.path(), &["-t", "bogus", "-l"]));
    assert_eq!(o.status.code(), Some(8));
    assert!(text(&o.stderr).contains("ERROR: Invalid device type: 'bogus'"));

    let o = run(ours(d.path(), &["-t", "null", "-l"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with("Must specify either -p option, -F option, -E option, or name=value style arguments\nusage:"));

    let o = run(ours(d.path(), &["-t", "null", "bogus=1", "-l"]));
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        text(&o.stderr),
        "Invalid config info for null device\nValid config names are:\n\thostlist\n"
    );

    let o = run(ours(d.path(), &["-t", "libvirt", "hostlist=a", "-l"]));
    assert_eq!(o.status.code(), Some(3), "missing hypervisor_uri");

    let o = run(ours(
        d.path(),
        &["-t", "null", "-F", "/nonexistent/file", "-l"],
    ));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("CRIT: Cannot open /nonexistent/file"));

    let o = run(ours(
        d.path(),
        &["-t", "null", "hostlist=a", "-T", "bogus", "a"],
    ));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with("bad reset type [bogus]"));

    let cfg = d.path().join("cfg");
    std::fs::write(&cfg, "# comment\nA B\n").unwrap();
    let o = run(ours(
        d.path(),
        &["-t", "null", "-F", cfg.to_str().unwrap(), "-l"],
    ));
    assert_eq!(text(&o.stdout), "a\nb\n");
}

#[test]
fn hanging_plugin_times_out_and_group_is_killed() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("survivor");
    write_script(
        d.path(),
        "hang",
        &format!(
            "#!/bin/sh\ncase $1 in getconfignames) echo hostlist; exit 0;; esac\n(sleep 3; touch {}) &\nsleep 60\n",
            marker.display()
        ),
    );
    let t = Instant::now();
    let mut c = ours(
        d.path(),
        &["-t", "external/hang", "hostlist=a", "-T", "reset", "a"],
    );
    c.env("STONITH_TIMEOUT", "1");
    let o = run(c);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(6), "S_TIMEOUT");
    assert!(
        text(&o.stderr).contains("external/hang"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("timed out"), "{}", text(&o.stderr));
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        !marker.exists(),
        "background child of the hung plugin survived"
    );
}

#[test]
fn garbage_output_is_a_named_error() {
    let d = tempfile::tempdir().unwrap();
    write_script(
        d.path(),
        "junk",
        "#!/bin/sh\ncase $1 in\ngetconfignames) echo hostlist;;\ngethosts) printf '\\377\\376\\001binary';;\ngetinfo-xml) echo '<parameters><unclosed>';;\nstatus) head -c 10000000 /dev/zero;;\n*) echo ok;;\nesac\nexit 0\n",
    );
    write_script(d.path(), "badnames", "#!/bin/sh\nprintf 'a\\001b\\n'\n");
    let o = run(ours(d.path(), &["-t", "external/junk", "hostlist=a", "-l"]));
    assert_eq!(o.status.code(), Some(255));
    assert!(
        text(&o.stderr).contains("external/junk: invalid output"),
        "{}",
        text(&o.stderr)
    );

    let o = run(ours(d.path(), &["-t", "external/junk", "-m"]));
    assert_eq!(o.status.code(), Some(8));
    assert!(
        text(&o.stderr).contains("external/junk: invalid output from 'junk getinfo-xml'"),
        "{}",
        text(&o.stderr)
    );

    // Huge output is bounded and does not wedge the caller.
    let o = run(ours(d.path(), &["-t", "external/junk", "hostlist=a", "-S"]));
    assert_eq!(o.status.code(), Some(0));

    let o = run(ours(d.path(), &["-t", "external/badnames", "-n"]));
    assert_eq!(o.status.code(), Some(8));
    assert!(
        text(&o.stderr).contains("external/badnames: invalid output"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn env_params_and_repeat_count() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("calls.log");
    write_script(d.path(), "rec", &recording_script(&log));
    let mut c = ours(
        d.path(),
        &["-t", "external/rec", "-E", "-c", "2", "-T", "on", "n1"],
    );
    // -E takes the value of each config name (foo) from our environment.
    c.env("foo", "fromenv");
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    let ons: Vec<&str> = calls.lines().filter(|l| l.starts_with("op=on")).collect();
    assert_eq!(ons.len(), 2, "-c 2 repeats the action: {calls}");
    assert!(ons[0].starts_with("op=on host=n1 foo=fromenv "), "{calls}");
}

#[test]
fn every_cluster_glue_script_describes_itself_identically() {
    assert!(have(DEBIAN_STONITH), "Debian cluster-glue is required");
    let dir = std::path::Path::new(GLUE_EXTERNAL_DIR);
    let listed = text(&run(ours(dir, &["-L"])).stdout);
    let scripts: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with("external/") && !l.contains("hbrs-"))
        .collect();
    assert!(
        scripts.len() >= 10,
        "expected Debian's external scripts, got {scripts:?}"
    );
    for ty in scripts {
        for flag in ["-n", "-m", "-h"] {
            let mine = run(ours(dir, &["-t", ty, flag]));
            let mut deb = std::process::Command::new(DEBIAN_STONITH);
            deb.args(["-t", ty, flag])
                .stdin(std::process::Stdio::null());
            let theirs = run(deb);
            assert_eq!(text(&mine.stdout), text(&theirs.stdout), "{ty} {flag}");
            assert_eq!(mine.status.code(), theirs.status.code(), "{ty} {flag}");
        }
    }
}
