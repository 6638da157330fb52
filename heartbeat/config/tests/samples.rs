//! Real-world files: the tutorial configuration, Debian's sample files and
//! the installed original's `heartbeat -D` output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hb_config::hacf::{self, AutoFailback, Compression, Medium, PacemakerMode, ResourceManager};
use hb_config::{authkeys, haresources};

const TUTORIAL_HACF: &str = "\
logfile /var/log/ha-log
keepalive 1000ms
deadtime 8
warntime 10
udpport 694
mcast eth0 225.16.1.1 694 1 0
auto_failback on
node node1.hoo.com
node node2.hoo.com
crm on
ping 172.16.0.1
compression bz2
compression_threshold 2
";

const DEBIAN_DOC: &str = "/usr/share/doc/heartbeat";
const REAL_HEARTBEAT: &str = "/usr/libexec/heartbeat/heartbeat";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Debian ships the samples gzipped; read them with the system's zcat.
fn debian_sample(name: &str) -> String {
    let plain = Path::new(DEBIAN_DOC).join(name);
    if let Ok(t) = std::fs::read_to_string(&plain) {
        return t;
    }
    let gz = Path::new(DEBIAN_DOC).join(format!("{name}.gz"));
    let out = Command::new("zcat").arg(&gz).output().expect("zcat");
    assert!(out.status.success(), "cannot read {}", gz.display());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tutorial_hacf_loads_with_only_the_crm_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ha.cf", TUTORIAL_HACF);
    let cf = hacf::load(&path).unwrap();

    assert_eq!(cf.logfile, Some(PathBuf::from("/var/log/ha-log")));
    assert_eq!(cf.keepalive, Duration::from_millis(1000));
    assert_eq!(cf.deadtime, Duration::from_secs(8));
    // warntime > deadtime is accepted as heartbeat does (no check there).
    assert_eq!(cf.warntime, Duration::from_secs(10));
    assert_eq!(cf.initdead, Duration::from_secs(16));
    assert_eq!(cf.deadping, Duration::from_secs(8));
    assert_eq!(cf.udpport, 694);
    assert_eq!(cf.auto_failback, AutoFailback::On);
    assert_eq!(cf.nodes, vec!["node1.hoo.com", "node2.hoo.com"]);
    assert_eq!(cf.compression, Compression::Bz2);
    assert_eq!(cf.compression_threshold_kib, 2);
    assert_eq!(cf.pacemaker, PacemakerMode::On);
    assert_eq!(
        cf.media,
        vec![
            Medium::Mcast {
                iface: "eth0".into(),
                group: "225.16.1.1".parse().unwrap(),
                port: 694,
                ttl: 1,
                loop_: false,
            },
            Medium::Ping {
                addr: "172.16.0.1".into()
            },
        ]
    );
    assert_eq!(cf.ping_nodes(), vec!["172.16.0.1"]);
    assert_eq!(cf.param("crm").as_deref(), Some("on"));
    assert_eq!(cf.param("warntime").as_deref(), Some("10"));
    assert_eq!(cf.param("initdead").as_deref(), Some("16000ms"));

    // Bookworm has no heartbeat-stack Pacemaker, so R1 it is, with one warning.
    if !Path::new("/usr/libexec/pacemaker/crmd").exists() {
        assert_eq!(cf.resource_manager(), ResourceManager::Haresources);
        assert_eq!(cf.warnings.len(), 1, "{:?}", cf.warnings);
        assert!(
            cf.warnings[0].contains("'crm on' (line 10) ignored"),
            "{}",
            cf.warnings[0]
        );
    }
    cf.validate("node1.hoo.com").unwrap();
    cf.validate("NODE2.hoo.com").unwrap();
    assert!(cf.validate("node3.hoo.com").is_err());
}

#[test]
fn tutorial_haresources_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    let cf = hacf::parse(TUTORIAL_HACF, Path::new("/etc/ha.d/ha.cf")).unwrap();
    for (text, key, first_args) in [
        (
            "node1.hoo.com IPaddr::192.168.249.188/24/eth0 httpd\n",
            "IPaddr::192.168.249.188/24/eth0",
            "192.168.249.188/24/eth0",
        ),
        (
            "node1.hoo.com 172.16.249.188 httpd\n",
            "172.16.249.188",
            "172.16.249.188",
        ),
    ] {
        let path = write(dir.path(), "haresources", text);
        let groups = haresources::load(&path).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].key(), key);
        assert_eq!(groups[0].resources[0].script, "IPaddr");
        assert_eq!(groups[0].resources[0].args, vec![first_args]);
        assert_eq!(groups[0].resources[1].script, "httpd");
        haresources::validate_nodes(&groups, &cf.nodes, &path).unwrap();
    }
}

#[test]
fn tutorial_files_error_paths_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.cf");
    let e = hacf::load(&missing).unwrap_err();
    assert!(e.to_string().contains("nope.cf"), "{e}");
    let path = write(
        dir.path(),
        "ha.cf",
        &format!("{TUTORIAL_HACF}bogus_directive 1\n"),
    );
    let e = hacf::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Illegal directive [bogus_directive] in {} line 14",
            path.display()
        )
    );
}

#[test]
fn debian_sample_hacf_parses_as_shipped() {
    let text = debian_sample("ha.cf");
    let cf = hacf::parse(&text, Path::new("/etc/ha.d/ha.cf")).unwrap();
    assert_eq!(cf.auto_failback, AutoFailback::On);
    assert_eq!(cf.logfacility.map(|f| f.name), Some("local0"));
    // Like heartbeat, the shipped sample alone is not a runnable config.
    assert!(cf.validate("ken3").is_err());
}

/// Every example directive in Debian's sample, uncommented and added to a
/// minimal config: those valid on Linux parse, and the ones heartbeat would
/// reject on this host are rejected too.
#[test]
fn debian_sample_examples_one_by_one() {
    let text = debian_sample("ha.cf");
    let examples: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| {
            let word = l.split_whitespace().next().unwrap_or("");
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                && l.starts_with(word)
                && l.len() > word.len()
        })
        .map(str::to_string)
        .collect();
    assert!(examples.len() > 30, "sample changed? {examples:?}");
    // (prefix of the example, reason heartbeat also refuses it here)
    let refused: &[&str] = &[
        "hbaping",                                     // no such plugin in Debian
        "respawn userid",                              // no such user
        "respawn hacluster /usr/lib/heartbeat/ipfail", // moved to /usr/libexec on bookworm
        "apiauth client-name",                         // no such group
        "apiauth ping gid=haclient uid=alanr,root",    // no such user
        "msgfmt  classic/netstring",                   // placeholder text
    ];
    let mut accepted = 0;
    for ex in &examples {
        let cfg = format!("node ken3\nbcast lo\n{ex}\n");
        let result = hacf::parse(&cfg, Path::new("/etc/ha.d/ha.cf"));
        let should_refuse = refused.iter().any(|r| ex.starts_with(r));
        // serial lines name devices of other systems; we leave stat() to the daemon.
        match (result, should_refuse) {
            (Ok(_), false) => accepted += 1,
            (Err(e), true) => assert_eq!(e.line, 3, "{ex}: {e}"),
            (Ok(_), true) => panic!("accepted {ex:?}, heartbeat refuses it"),
            (Err(e), false) => panic!("refused {ex:?}: {e}"),
        }
    }
    assert!(accepted > 25);
}

#[test]
fn debian_sample_authkeys() {
    let text = debian_sample("authkeys");
    // Everything is commented out: heartbeat refuses it the same way.
    let e = authkeys::parse(&text, Path::new("/etc/ha.d/authkeys")).unwrap_err();
    assert!(e.to_string().contains("Missing auth directive"), "{e}");
    // Uncommented, the examples form a valid file.
    let uncommented: String = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| l.starts_with("auth ") || l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| format!("{l}\n"))
        .collect();
    let keys = authkeys::parse(&uncommented, Path::new("/etc/ha.d/authkeys")).unwrap();
    assert_eq!(keys.active, 1);
    assert_eq!(keys.slots.len(), 3);
    assert_eq!(
        keys.slots[&2],
        (authkeys::AuthMethodName::Sha1, Some("HI!".into()))
    );
}

#[test]
fn debian_sample_haresources() {
    let text = debian_sample("haresources");
    assert!(
        haresources::parse(&text, Path::new("/etc/ha.d/haresources"))
            .unwrap()
            .is_empty()
    );
    // Each example group, uncommented.
    let examples: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| l.starts_with("just.linux-ha.org") || l.starts_with("node1 "))
        .collect();
    assert_eq!(examples.len(), 5, "{examples:?}");
    for ex in examples {
        let g = haresources::parse(ex, Path::new("/etc/ha.d/haresources")).unwrap();
        assert_eq!(g.len(), 1, "{ex}");
        assert_eq!(g[0].resources[0].script, "IPaddr", "{ex}");
    }
    let g = haresources::parse(
        "node1  10.0.0.170 Filesystem::/dev/sda1::/data1::ext2",
        Path::new("x"),
    )
    .unwrap();
    assert_eq!(g[0].resources[1].args, vec!["/dev/sda1", "/data1", "ext2"]);
}

#[test]
fn defaults_table_matches_real_heartbeat_dash_d() {
    if !Path::new(REAL_HEARTBEAT).exists() {
        eprintln!("{REAL_HEARTBEAT} not installed; comparing with the recorded table only");
        assert!(hacf::render_defaults_table().contains("memreserve               6500      "));
        return;
    }
    let out = Command::new(REAL_HEARTBEAT).arg("-D").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        hacf::render_defaults_table()
    );
}
