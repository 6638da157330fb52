//! LSB init scripts and heartbeat-class scripts, called as lrmd called them.
mod common;

use std::collections::BTreeMap;
use std::fs;

use common::Sandbox;
use ra_runner::{metadata, run, AgentSpec, OcfRc, OpRequest, OpStatus, Roots};

/// An init script whose `status` exits with the code in $STATUS_FILE and
/// that records its argv.
fn lsb_script(sb: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf) {
    let code = sb.path("status-code");
    let argv = sb.path("argv");
    let body = format!(
        "#!/bin/sh\n\
         ### BEGIN INIT INFO\n\
         # Provides:          websvc\n\
         # Required-Start:    $network $remote_fs\n\
         # Required-Stop:     $network\n\
         # Default-Start:     2 3 4 5\n\
         # Default-Stop:      0 1 6\n\
         # Short-Description: Test web service\n\
         # Description:       A test service\n\
         #  for the runner.\n\
         ### END INIT INFO\n\
         printf '%s\\n' \"$#\" \"$@\" > {argv}\n\
         env | grep -q '^OCF_RESKEY' && exit 99\n\
         case \"$1\" in\n\
         start|stop) exit 0;;\n\
         status) exit $(cat {code});;\n\
         reload) exit 3;;\n\
         *) exit 42;;\n\
         esac\n",
        argv = argv.display(),
        code = code.display()
    );
    sb.lsb_script("websvc", &body);
    (code, argv)
}

#[test]
fn lsb_status_codes_are_mapped() {
    let sb = Sandbox::new();
    let (code, argv) = lsb_script(&sb);
    let spec: AgentSpec = "lsb:websvc".parse().unwrap();
    // (status exit code, expected OCF rc) per LSB §2.3.
    for (exit, want) in [
        (0, 0),
        (1, 7),
        (2, 7),
        (3, 7),
        (4, 1),
        (5, 5),
        (150, 5),
        (151, 4),
        (99, 1),
    ] {
        fs::write(&code, exit.to_string()).unwrap();
        let r = run(&OpRequest::new(spec.clone(), "monitor"), &sb.roots).unwrap();
        assert_eq!(r.status, OpStatus::Done);
        assert_eq!(r.rc, want, "status exit {exit}");
        // monitor is sent as `status`, the only argument.
        assert_eq!(fs::read_to_string(&argv).unwrap(), "1\nstatus\n");
    }
    let mut start = OpRequest::new(spec.clone(), "start");
    start.params.insert("ignored".into(), "x".into());
    let r = run(&start, &sb.roots).unwrap();
    assert_eq!(
        r.rc, 0,
        "LSB scripts get no OCF_RESKEY_* (the script exits 99 if it does)"
    );
    assert_eq!(fs::read_to_string(&argv).unwrap(), "1\nstart\n");
    assert_eq!(
        run(&OpRequest::new(spec.clone(), "reload"), &sb.roots)
            .unwrap()
            .outcome,
        OcfRc::ErrUnimplemented
    );
    // Non-status codes outside 0..7 are generic errors.
    assert_eq!(
        run(&OpRequest::new(spec, "frobnicate"), &sb.roots)
            .unwrap()
            .rc,
        1
    );
}

#[test]
fn lsb_metadata_is_synthesized_from_the_header() {
    let sb = Sandbox::new();
    let (_, argv) = lsb_script(&sb);
    let md = metadata(&"lsb:websvc".parse().unwrap(), &sb.roots).unwrap();
    assert!(!argv.exists(), "meta-data must not execute an init script");
    assert_eq!(md.name, "websvc");
    assert_eq!(md.shortdesc[0].text, "Test web service");
    assert_eq!(md.longdesc[0].text, "A test service for the runner.");
    assert!(md.parameters.is_empty());
    let (tag, special) = md.special.clone().unwrap();
    assert_eq!(tag, "LSB");
    assert!(
        special.contains("$network $remote_fs") && special.contains("0 1 6"),
        "{special}"
    );
    let mon = md.action("monitor").unwrap();
    assert_eq!(
        (mon.timeout.as_str(), mon.interval.as_deref()),
        ("15", Some("15"))
    );
}

#[test]
fn heartbeat_class_positional_args_and_status_text() {
    let sb = Sandbox::new();
    let argv = sb.path("hb-argv");
    let out = sb.path("hb-out");
    let body = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > {argv}\ncat {out}\nexit 1\n",
        argv = argv.display(),
        out = out.display()
    );
    sb.hb_script("Thing", &body);
    let spec: AgentSpec = "heartbeat:Thing".parse().unwrap();
    let mut req = OpRequest::new(spec.clone(), "start");
    req.params = BTreeMap::from([
        ("3".to_string(), "third arg".to_string()),
        ("1".to_string(), "10.0.0.1/24/eth0".to_string()),
        ("2".to_string(), "second".to_string()),
    ]);
    fs::write(&out, "").unwrap();
    let r = run(&req, &sb.roots).unwrap();
    assert_eq!(
        fs::read_to_string(&argv).unwrap(),
        "10.0.0.1/24/eth0\nsecond\nthird arg\nstart\n"
    );
    assert_eq!(r.rc, 1, "non-status ops keep their exit code");

    // Status: the exit code (1) is ignored, the first stdout line decides.
    req.action = "monitor".into();
    for (text, want) in [
        ("INFO:  Running OK\n", 0),
        ("INFO:  Resource is stopped\n", 7),
        ("thing is not running\n", 7),
        ("running\n", 0),
        ("all OK\n", 0),
        ("", 7),
        ("garbage\nrunning\n", 7),
    ] {
        fs::write(&out, text).unwrap();
        let r = run(&req, &sb.roots).unwrap();
        assert_eq!(r.rc, want, "status output {text:?}");
        assert!(fs::read_to_string(&argv)
            .unwrap()
            .ends_with("third arg\nstatus\n"));
    }

    // Synthesized meta-data, script not run.
    fs::remove_file(&argv).unwrap();
    let md = metadata(&spec, &sb.roots).unwrap();
    assert!(!argv.exists());
    assert_eq!(
        md.parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3", "4", "5"]
    );
}

#[test]
fn heartbeat_class_falls_back_to_init_dir() {
    let sb = Sandbox::new();
    sb.lsb_script("legacy", "#!/bin/sh\necho \"$1 $2\"\n");
    let mut req = OpRequest::new("heartbeat:legacy".parse().unwrap(), "status");
    req.params.insert("1".into(), "arg".into());
    let r = run(&req, &sb.roots).unwrap();
    assert_eq!(r.stdout_str(), "arg status\n");
}

#[test]
fn debian_ipaddr_wrapper_status_has_no_side_effects() {
    let roots = Roots::default();
    let spec: AgentSpec = "heartbeat:IPaddr".parse().unwrap();
    let before = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap()
        .stdout;

    // 127.0.0.1 is on lo: the wrapper says "Running OK".
    let mut req = OpRequest::new(spec.clone(), "status");
    req.params.insert("1".into(), "127.0.0.1/8/lo".into());
    let r = run(&req, &roots).unwrap();
    assert_eq!(r.status, OpStatus::Done);
    assert!(
        r.stdout_str().contains("Running OK"),
        "{:?} / {:?}",
        r.stdout_str(),
        r.stderr_str()
    );
    assert_eq!(r.rc, 0);

    // An address nobody has: "Resource is stopped".
    req.params.insert("1".into(), "10.254.253.252/24/lo".into());
    let r = run(&req, &roots).unwrap();
    assert!(
        r.stdout_str().contains("Resource is stopped"),
        "{:?}",
        r.stdout_str()
    );
    assert_eq!(r.rc, 7);
    assert_eq!(r.outcome, OcfRc::NotRunning);

    let after = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(before, after, "status must not change addresses");
}
