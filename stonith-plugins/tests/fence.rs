//! The fence-agents bridge (`fence/<x>`): a fake agent that logs its
//! stdin, and Debian's real `fence_dummy`.

mod common;

use common::*;

const META: &str = r#"<?xml version="1.0" ?>
<resource-agent name="fence_fake" shortdesc="Fake fence agent for tests" >
<longdesc>Logs its stdin.</longdesc>
<vendor-url>http://example.invalid</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1"><content type="string" default="reboot"/><shortdesc lang="en">Fencing action</shortdesc></parameter>
	<parameter name="ipaddr" unique="0" required="1" deprecated="1"><content type="string"/><shortdesc lang="en">IP</shortdesc></parameter>
	<parameter name="ip" unique="0" required="1" obsoletes="ipaddr"><content type="string"/><shortdesc lang="en">IP</shortdesc></parameter>
	<parameter name="plug" unique="0" required="1" obsoletes="port"><content type="string"/><shortdesc lang="en">Plug</shortdesc></parameter>
	<parameter name="username" unique="0" required="0"><content type="string"/><shortdesc lang="en">Login</shortdesc></parameter>
</parameters>
<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="monitor"/><action name="list"/><action name="metadata"/></actions>
</resource-agent>
"#;

fn fake_agent(dir: &std::path::Path, log: &std::path::Path) {
    std::fs::write(dir.join("meta.xml"), META).unwrap();
    write_script(
        dir,
        "fence_fake",
        &format!(
            r#"#!/bin/sh
input=$(cat)
action=$(printf '%s\n' "$input" | sed -n 's/^action=//p' | tail -n1)
[ "$action" = metadata ] && {{ cat {dir}/meta.xml; exit 0; }}
printf '%s\n--\n' "$input" >> {log}
case $action in
list) echo "p1,alias1"; echo "P2,alias2";;
monitor) exit 2;;
reboot) echo "ERROR: Failed: Timed out waiting to power OFF" >&2; exit 1;;
*) echo "Success: Powered $action";;
esac
exit 0
"#,
            dir = dir.display(),
            log = log.display()
        ),
    );
}

fn fence(dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut c = ours(dir, args);
    c.env("STONITH_FENCE_DIR", dir);
    c
}

#[test]
fn fake_agent_gets_key_value_stdin() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("stdin.log");
    fake_agent(d.path(), &log);

    let o = run(fence(d.path(), &["-t", "fence/fake", "-n"]));
    assert_eq!(
        text(&o.stdout),
        "hostlist  ip  \n",
        "plug comes from the target node"
    );

    let o = run(fence(
        d.path(),
        &[
            "-t",
            "fence/fake",
            "ip=10.0.0.1",
            "username=admin",
            "action=reboot",
            "-T",
            "off",
            "Node1",
        ],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // A stray action= parameter is overridden: ours comes last.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "ip=10.0.0.1\nusername=admin\naction=reboot\naction=off\nplug=node1\nnodename=node1\n--\n"
    );

    std::fs::write(&log, "").unwrap();
    let o = run(fence(
        d.path(),
        &["-t", "fence/fake", "ipaddr=10.0.0.2", "-l"],
    ));
    assert_eq!(
        o.status.code(),
        Some(0),
        "old parameter spelling is accepted: {}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout), "p1\np2\n", "plugs from action=list");

    let o = run(fence(
        d.path(),
        &["-t", "fence/fake", "ip=x", "hostlist=a b", "-l"],
    ));
    assert_eq!(text(&o.stdout), "a\nb\n", "hostlist wins over list");

    let o = run(fence(d.path(), &["-t", "fence/fake", "ip=x", "-S"]));
    assert_eq!(
        o.status.code(),
        Some(2),
        "monitor exit 2 (off) is reported raw"
    );

    let o = run(fence(
        d.path(),
        &["-t", "fence/fake", "ip=x", "-T", "reset", "n1"],
    ));
    assert_eq!(o.status.code(), Some(5));
    assert!(
        text(&o.stderr).contains("Timed out waiting to power OFF"),
        "{}",
        text(&o.stderr)
    );

    let o = run(fence(
        d.path(),
        &["-d", "-t", "fence/fake", "username=x", "-S"],
    ));
    assert_eq!(o.status.code(), Some(3), "missing required ip → S_INVAL");
    assert!(
        text(&o.stderr).contains("missing required parameter 'ip'"),
        "{}",
        text(&o.stderr)
    );

    let m = run(fence(d.path(), &["-t", "fence/fake", "-m"]));
    let xml = text(&m.stdout);
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    assert!(
        roxmltree::Document::parse_with_options(&xml, opts).is_ok(),
        "{xml}"
    );
    assert!(xml.contains("<parameter name=\"ip\""));
    assert!(xml.contains("<longdesc lang=\"en\">\nLogs its stdin.\n</longdesc>"));
}

#[test]
fn garbage_metadata_and_missing_agent() {
    let d = tempfile::tempdir().unwrap();
    write_script(
        d.path(),
        "fence_junk",
        "#!/bin/sh\necho 'not xml at all <'\n",
    );
    let o = run(fence(d.path(), &["-t", "fence/junk", "-n"]));
    assert_eq!(o.status.code(), Some(8));
    assert!(
        text(&o.stderr).contains("fence/junk: invalid output"),
        "{}",
        text(&o.stderr)
    );
    let o = run(fence(d.path(), &["-t", "fence/absent", "-n"]));
    assert_eq!(o.status.code(), Some(8));
    assert!(text(&o.stderr).contains("Invalid device type: 'fence/absent'"));
}

#[test]
fn real_fence_dummy_through_the_bridge() {
    let dummy = std::path::Path::new("/usr/sbin/fence_dummy");
    assert!(
        dummy.exists(),
        "fence-agents is required (apt-get install fence-agents)"
    );
    let d = tempfile::tempdir().unwrap();
    let st = d.path().join("status");
    let sf = format!("status_file={}", st.display());
    let run_dummy = |args: &[&str]| {
        let mut c = ours(d.path(), args);
        c.env("STONITH_FENCE_DIR", "/usr/sbin");
        run(c)
    };
    let o = run_dummy(&["-t", "fence/dummy", &sf, "hostlist=n1", "-T", "reset", "n1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&st).unwrap().trim(), "on");
    let o = run_dummy(&["-t", "fence/dummy", &sf, "hostlist=n1", "-T", "off", "n1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&st).unwrap().trim(), "off");
    let o = run_dummy(&["-t", "fence/dummy", &sf, "hostlist=n1", "-S"]);
    assert_eq!(o.status.code(), Some(0));
    let o = run_dummy(&["-t", "fence/dummy", &sf, "hostlist=n1", "-l"]);
    assert_eq!(text(&o.stdout), "n1\n");
    // Without a hostlist the bridge asks the agent, which has no plugs.
    let o = run_dummy(&["-t", "fence/dummy", &sf, "-l"]);
    assert_eq!(o.status.code(), Some(255));
}
