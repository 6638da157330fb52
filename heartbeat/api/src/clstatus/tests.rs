use super::*;
use crate::server::tests::{default_auth, FakeView};
use crate::testserver::{Options, TestServer};

fn cl(server: &TestServer, args: &[&str]) -> Outcome {
    let mut a: Vec<String> = vec!["--socket".into(), server.path.display().to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    run(&a, None)
}

/// A server that accepts root/our uid as casual clients whatever the test runs as.
fn server_with(view: FakeView, opts: Options) -> TestServer {
    let mut auth = default_auth();
    for a in &mut auth {
        if a.name == "anon" {
            a.uids.push(nix::unistd::geteuid().as_raw());
        }
    }
    TestServer::start(view, auth, opts)
}

fn server() -> TestServer {
    server_with(FakeView::new(), Options::default())
}

#[test]
fn usage_and_invalid_subcommand() {
    let o = run(&[], None);
    assert_eq!((o.code, o.stdout.as_str()), (0, USAGE));
    assert!(o.stdout.starts_with(
        "Usage: cl_status <sub-command> [<options>] [<parameters>]\n\nSub-commands:\n"
    ));
    let o = run(&["-h".to_string()], None);
    assert_eq!(o.code, 0);
    let o = run(&["bogus".to_string()], None);
    assert_eq!(o.code, PARAMETER_ERROR);
    assert!(
        o.stderr.ends_with("ERROR: bogus: invalid sub-command.\n"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains(" cl_status: ["));
}

#[test]
fn stopped_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nothing-here").display().to_string();
    let o = run(&["hbstatus".into()], Some(&sock));
    assert_eq!(o.stdout, "Heartbeat is stopped on this machine.\n");
    assert_eq!(o.code, 1);
    let o = run(&["hbstatus".into(), "-v".into()], Some(&sock));
    assert_eq!(
        o.stdout,
        "Heartbeat is stopped on this machine.\n(hb_api_signon: Can't initiate connection to heartbeat)\n"
    );
    let o = run(&["nodestatus".into(), "bravo".into()], Some(&sock));
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "");
    let lines: Vec<_> = o.stderr.lines().collect();
    assert!(lines[0].ends_with("ERROR: Cannot signon with heartbeat"));
    assert!(
        lines[1].ends_with("ERROR: REASON: hb_api_signon: Can't initiate connection to heartbeat")
    );
    let o = run(&["--json".into(), "hbstatus".into()], Some(&sock));
    let v: Json = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["running"], false);
    assert_eq!(o.code, 1);
}

#[test]
fn refusing_heartbeat_is_apparently_running() {
    let auth: Vec<_> = default_auth()
        .into_iter()
        .filter(|a| a.name != "anon")
        .collect();
    let s = TestServer::start(FakeView::new(), auth, Options::default());
    let o = cl(&s, &["hbstatus", "-v"]);
    assert_eq!(
        o.stdout,
        "Heartbeat is apparently running on this machine, but refuses my connection\n(apiauth anon missing)\n"
    );
    assert_eq!(o.code, 0);
}

#[test]
fn hbstatus_plain_and_verbose() {
    let s = server();
    let o = cl(&s, &["hbstatus"]);
    assert_eq!(
        (o.stdout.as_str(), o.code),
        ("Heartbeat is running on this machine.\n", 0)
    );
    let o = cl(&s, &["hbstatus", "-v"]);
    let expected_version = format!("version:\t{}\n", crate::hbversion_string());
    assert!(o.stdout.starts_with(&expected_version), "{}", o.stdout);
    assert_eq!(
        &o.stdout[expected_version.len()..],
        "managed by:\t\"haresources\"\n\
         \ncharlie\tdead\t(nodetype: normal)\n\
         \n10.251.0.2\tping\t(nodetype: ping)\n\t10.251.0.2\tup\n\
         \nbravo\tactive\t(nodetype: normal)\n\teth1\tdead\n\teth0\tup\n\
         \nalpha\tactive\t(nodetype: normal)\n\teth1\tdead\n\teth0\tup\n"
    );
    // charlie has no links: the walk fails for it, and the original logs that.
    assert!(o
        .stderr
        .contains("ERROR: Cannot start heartbeat link interface walk."));
    assert_eq!(o.code, 0);
    let o = cl(&s, &["hbstatus", "-v", "-m"]);
    assert!(o
        .stdout
        .starts_with("Heartbeat version 3.0.6 (rust-heartbeat "));
    assert!(o
        .stdout
        .contains("Resources controlled by \"haresources\"\nThe nodes are as follow:\n"));
    assert!(o
        .stdout
        .contains("\tthis node has the following heartbeat links:\n"));
}

#[test]
fn listnodes_variants() {
    let s = server();
    let o = cl(&s, &["listnodes"]);
    assert_eq!(o.stdout, "charlie\n10.251.0.2\nbravo\nalpha\n");
    assert_eq!(o.code, 0);
    assert_eq!(cl(&s, &["listnodes", "-p"]).stdout, "10.251.0.2\n");
    assert_eq!(
        cl(&s, &["listnodes", "-n"]).stdout,
        "charlie\nbravo\nalpha\n"
    );
    // Both filters cancel out, as in the original.
    assert_eq!(
        cl(&s, &["listnodes", "-pn"]).stdout,
        "charlie\n10.251.0.2\nbravo\nalpha\n"
    );
    let o = cl(&s, &["listnodes", "-x"]);
    assert_eq!(o.code, PARAMETER_ERROR);
    assert!(o.stderr.starts_with("listnodes: invalid option -- 'x'\n"));
    let o = cl(&s, &["--json", "listnodes", "-p"]);
    let v: Json = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        v,
        json!({"nodes": [{"name": "10.251.0.2", "type": "ping", "status": "ping"}]})
    );
}

#[test]
fn node_queries_and_exit_codes() {
    let s = server();
    let o = cl(&s, &["nodestatus", "bravo"]);
    assert_eq!((o.stdout.as_str(), o.code), ("active\n", 0));
    let o = cl(&s, &["nodestatus", "charlie"]);
    assert_eq!((o.stdout.as_str(), o.code), ("dead\n", 1));
    assert_eq!(cl(&s, &["nodestatus", "10.251.0.2"]).code, 0);
    let o = cl(&s, &["nodestatus", "zulu"]);
    assert_eq!(
        (o.stderr.as_str(), o.code),
        ("Error. May be due to incorrect node name\n", 11)
    );
    let o = cl(&s, &["nodestatus"]);
    assert_eq!(
        (o.stderr.as_str(), o.code),
        ("Not enough parameters.\n", 11)
    );
    // getopt permutes: options may follow the node name.
    let o = cl(&s, &["nodestatus", "bravo", "-m"]);
    assert_eq!(o.stdout, "The cluster node bravo is active\n");

    assert_eq!(cl(&s, &["nodeweight", "bravo"]).stdout, "100\n");
    assert_eq!(
        cl(&s, &["nodeweight", "-m", "bravo"]).stdout,
        "The weight of the cluster node bravo is 100\n"
    );
    let o = cl(&s, &["nodeweight", "zulu"]);
    assert_eq!(
        (o.stderr.as_str(), o.code),
        ("Error. Maybe due to incorrect node name.\n", 11)
    );
    assert_eq!(cl(&s, &["nodesite", "alpha"]).stdout, "\n");
    assert_eq!(cl(&s, &["nodesite", "bravo"]).stdout, "west\n");
    assert_eq!(cl(&s, &["nodetype", "10.251.0.2"]).stdout, "ping\n");
    assert_eq!(
        cl(&s, &["nodetype", "-m", "bravo"]).stdout,
        "The node bravo's type: normal\n"
    );
    let o = cl(&s, &["nodetype"]);
    assert_eq!((o.stderr.as_str(), o.code), ("No enough parameter.\n", 11));
    let o = cl(&s, &["nodestatus", "-q", "bravo"]);
    assert_eq!(o.code, 11);
    assert!(o
        .stderr
        .contains("ERROR: Error: getopt returnedcharacter ?."));

    let o = cl(&s, &["--json", "nodeweight", "bravo"]);
    assert_eq!(
        serde_json::from_str::<Json>(&o.stdout).unwrap(),
        json!({"node": "bravo", "weight": 100})
    );
    let o = cl(&s, &["--json", "nodestatus", "zulu"]);
    let v: Json = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["exit_code"], 11);
    assert_eq!(v["error"], "Error. May be due to incorrect node name");
}

#[test]
fn links() {
    let s = server();
    assert_eq!(cl(&s, &["listhblinks", "bravo"]).stdout, "\teth1\n\teth0\n");
    assert_eq!(
        cl(&s, &["listhblinks", "bravo", "-v"]).stdout,
        "\teth1\tdead\n\teth0\tup\n"
    );
    let o = cl(&s, &["listhblinks", "zulu"]);
    assert_eq!(o.code, 13);
    assert!(o
        .stderr
        .contains("ERROR: Cannot start heartbeat link interface walk.\n"));
    assert!(o.stderr.contains("ERROR: REASON: EINVAL\n"));
    let o = cl(&s, &["hblinkstatus", "bravo", "eth0"]);
    assert_eq!((o.stdout.as_str(), o.code), ("up\n", 0));
    let o = cl(&s, &["hblinkstatus", "bravo", "eth1", "-m"]);
    assert_eq!(
        (o.stdout.as_str(), o.code),
        ("The node bravo's heartbeat link eth1 is dead\n", 1),
        "stderr: {}",
        o.stderr
    );
    let o = cl(&s, &["hblinkstatus", "bravo", "eth7"]);
    assert_eq!(o.code, 13);
    assert!(o
        .stderr
        .contains("ERROR: Cannot get heartbeat link status\n"));
    let o = cl(&s, &["--json", "listhblinks", "-v", "alpha"]);
    assert_eq!(
        serde_json::from_str::<Json>(&o.stdout).unwrap(),
        json!({"node": "alpha", "links": [{"name": "eth1", "status": "dead"}, {"name": "eth0", "status": "up"}]})
    );
}

#[test]
fn resources_parameters_and_test() {
    let s = server();
    assert_eq!(cl(&s, &["rscstatus"]).stdout, "local\n");
    assert_eq!(
        cl(&s, &["rscstatus", "-m"]).stdout,
        "This node is holding local resources.\n"
    );
    assert_eq!(cl(&s, &["hbparameter", "-p", "deadtime"]).stdout, "10\n");
    assert_eq!(
        cl(&s, &["hbparameter", "-pdeadtime", "-m"]).stdout,
        "Heartbeat parameter deadtime's value: 10\n"
    );
    let o = cl(&s, &["hbparameter", "-p", "nosuch"]);
    assert_eq!(o.code, 1);
    assert!(o
        .stderr
        .contains("ERROR: Cannot get parameter nosuch's value\n"));
    let o = cl(&s, &["hbparameter"]);
    assert_eq!(o.code, 11);
    assert!(o.stderr.contains("ERROR: parameter name required\n"));
    let o = cl(&s, &["hbparameter", "-p"]);
    assert_eq!(o.code, 11);
    assert!(o
        .stderr
        .starts_with("hbparameter: option requires an argument -- 'p'\n"));
    let o = cl(&s, &["test"]);
    assert_eq!(
        o.stdout,
        "Dead time: 10000\n keeplive time: 1000\n mynodeid: alpha\n rsc: local\n"
    );
    let o = cl(&s, &["--json", "test"]);
    assert_eq!(
        serde_json::from_str::<Json>(&o.stdout).unwrap(),
        json!({"deadtime_ms": 10000, "keepalive_ms": 1000, "node": "alpha", "resources": "local"})
    );
}

#[test]
fn rscstatus_refused_under_pacemaker() {
    let mut view = FakeView::new();
    view.pacemaker = Some("respawn".into());
    view.manages = false;
    let s = server_with(view, Options::default());
    let o = cl(&s, &["rscstatus"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains(
        "ERROR: Cannot get cluster resource status of a pacemaker cluster; try crm_mon\n"
    ));
    let o = cl(&s, &["hbstatus", "-v"]);
    assert!(
        o.stdout.contains("managed by:\tpacemaker\t(respawn)\n"),
        "{}",
        o.stdout
    );
}

#[test]
fn clientstatus_local_and_remote() {
    let s = server_with(
        FakeView::new(),
        Options {
            answer_remote_cstatus: true,
            inject_async: true,
            ..Options::default()
        },
    );
    let o = cl(&s, &["clientstatus", "alpha", "ipfail"]);
    assert_eq!((o.stdout.as_str(), o.code), ("offline\n", 1));
    let o = cl(&s, &["clientstatus", "bravo", "ipfail", "2000"]);
    assert_eq!((o.stdout.as_str(), o.code), ("offline\n", 1));
    let o = cl(&s, &["clientstatus", "alpha"]);
    assert_eq!(o.code, 11);

    // A remote node that never answers: the original's "No timely response." (rc 13).
    let s = server_with(FakeView::new(), Options::default());
    let o = cl(&s, &["clientstatus", "bravo", "ipfail", "100"]);
    assert_eq!(o.code, 13);
    assert!(o
        .stderr
        .contains("ERROR: Cannot get heartbeat client ipfail's status\n"));
    assert!(o.stderr.contains("ERROR: REASON: No timely response.\n"));
}

#[test]
fn silent_daemon_times_out_with_code_12() {
    let s = server_with(
        FakeView::new(),
        Options {
            mute_after_signon: true,
            ..Options::default()
        },
    );
    let started = std::time::Instant::now();
    let o = cl(&s, &["listnodes"]);
    assert_eq!(o.code, TIMEOUT);
    assert!(started.elapsed() < OVERALL_TIMEOUT + Duration::from_secs(2));
}

#[test]
fn rscgroups_lines_sentences_and_json() {
    let s = server();
    let o = cl(&s, &["rscgroups"]);
    assert_eq!(
        (o.stdout.as_str(), o.code),
        (
            "IPaddr::10.0.0.100/24/eth0 httpd\tpreferred=alpha\tholder=alpha\tstate=running\t\
             failures=1\tlast=\"monitor of httpd failed (rc 7)\"\n\
             10.0.0.101\tpreferred=bravo\tholder=-\tstate=stopped\tfailures=0\n",
            0
        ),
        "{}",
        o.stderr
    );
    let o = cl(&s, &["rscgroups", "-m"]);
    assert_eq!(
        o.stdout,
        "Resource group IPaddr::10.0.0.100/24/eth0 httpd (preferred node alpha) is running \
         on this node, held by alpha, 1 failure, last: monitor of httpd failed (rc 7).\n\
         Resource group 10.0.0.101 (preferred node bravo) is stopped on this node, \
         held by no known node, 0 failures.\n"
    );
    let o = cl(&s, &["--json", "rscgroups"]);
    assert_eq!(o.code, 0);
    assert_eq!(
        serde_json::from_str::<Json>(&o.stdout).unwrap(),
        json!([
            {"key": "IPaddr::10.0.0.100/24/eth0",
             "resources": ["IPaddr::10.0.0.100/24/eth0", "httpd"],
             "preferred": "alpha", "holder": "alpha", "state": "running",
             "failures": 1, "last_failure": "monitor of httpd failed (rc 7)"},
            {"key": "10.0.0.101", "resources": ["10.0.0.101"],
             "preferred": "bravo", "holder": null, "state": "stopped",
             "failures": 0, "last_failure": null}
        ])
    );
    let o = cl(&s, &["rscgroups", "-x"]);
    assert_eq!(o.code, PARAMETER_ERROR);
}

#[test]
fn rscgroups_says_why_there_is_nothing_to_list() {
    let mut view = FakeView::new();
    view.groups = Some(Vec::new());
    let o = cl(&server_with(view, Options::default()), &["rscgroups"]);
    assert_eq!((o.stdout.as_str(), o.code), ("", 1));
    assert!(o
        .stderr
        .ends_with("ERROR: No haresources resource groups on this node\n"));

    let mut view = FakeView::new();
    view.groups = None;
    let o = cl(
        &server_with(view, Options::default()),
        &["--json", "rscgroups"],
    );
    assert_eq!(o.code, 1);
    let v: Json = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        v["error"],
        "Cannot get resource groups (no haresources resource manager on this node)"
    );
    assert_eq!(v["exit_code"], 1);

    let mut view = FakeView::new();
    view.pacemaker = Some("respawn".into());
    view.manages = false;
    let o = cl(&server_with(view, Options::default()), &["rscgroups"]);
    assert_eq!(o.code, 1);
    assert!(o
        .stderr
        .contains("ERROR: Cannot get resource groups of a pacemaker cluster; try crm_mon\n"));
}

#[test]
fn rscgroups_of_a_debian_heartbeat_is_not_supported() {
    let opts = Options {
        unknown_reqtypes: vec!["rscgroups".into()],
        ..Options::default()
    };
    let s = server_with(FakeView::new(), opts);
    let o = cl(&s, &["rscgroups"]);
    assert_eq!((o.stdout.as_str(), o.code), ("", 1));
    let lines: Vec<_> = o.stderr.lines().collect();
    assert!(
        lines[0].ends_with("ERROR: Cannot get resource groups"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("ERROR: REASON: request rscgroups is not supported by this heartbeat"),
        "{lines:?}"
    );
    // The library tells it apart from a refusal with a reason.
    let mut c = HbClient::signon(&s.path, None).unwrap();
    assert!(matches!(
        c.rsc_groups(),
        Err(ApiError::Unsupported { reqtype }) if reqtype == "rscgroups"
    ));
    // The connection stays usable afterwards.
    assert_eq!(c.get_resources().unwrap(), "local");
}
