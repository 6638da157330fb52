use super::*;

/// A host with users root(0,0) and hacluster(102,105), group haclient(105),
/// and whatever executables a test lists.
struct FakeHost {
    executables: Vec<&'static str>,
}

impl SystemProbe for FakeHost {
    fn user(&self, name: &str) -> Option<(u32, u32)> {
        match name {
            "root" => Some((0, 0)),
            "hacluster" => Some((102, 105)),
            _ => None,
        }
    }
    fn group(&self, name: &str) -> Option<u32> {
        match name {
            "root" => Some(0),
            "haclient" => Some(105),
            _ => None,
        }
    }
    fn is_executable(&self, path: &Path) -> bool {
        self.executables.iter().any(|e| Path::new(e) == path)
    }
}

const FILE: &str = "/etc/ha.d/ha.cf";
const BASE: &str = "bcast eth0\nnode alpha bravo\n";

fn host() -> FakeHost {
    FakeHost {
        executables: vec!["/usr/libexec/heartbeat/ipfail", "/bin/true"],
    }
}

fn p(text: &str) -> HaCf {
    match parse_with(text, Path::new(FILE), &host()) {
        Ok(cf) => cf,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn pe(text: &str) -> ConfigError {
    match parse_with(text, Path::new(FILE), &host()) {
        Ok(_) => panic!("{text:?} was accepted"),
        Err(e) => e,
    }
}

/// The error is at `line` of ha.cf and its message contains `msg`.
fn assert_err(text: &str, line: usize, msg: &str) {
    let e = pe(text);
    let s = e.to_string();
    assert_eq!(e.line, line, "{text:?}: {s}");
    assert!(s.contains(msg), "{text:?}: {s:?} lacks {msg:?}");
    assert!(s.contains(FILE), "{s}");
    if line > 0 {
        assert!(s.contains(&format!("line {line}")), "{s}");
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn defaults() {
    let cf = p(BASE);
    assert_eq!(cf.cluster, "linux-ha");
    assert_eq!(cf.keepalive, ms(1000));
    assert_eq!(cf.deadtime, ms(30000));
    assert_eq!(cf.warntime, ms(15000));
    assert_eq!(cf.initdead, ms(30000));
    assert_eq!(cf.deadping, ms(30000));
    assert_eq!(cf.udpport, 694);
    assert_eq!(cf.baud, 19200);
    assert_eq!(cf.hopfudge, 1);
    assert_eq!(cf.auto_failback, AutoFailback::Legacy);
    assert_eq!(cf.msgfmt, MsgFmt::Classic);
    assert_eq!(cf.compression, Compression::Zlib);
    assert_eq!(cf.compression_threshold_kib, 2);
    assert!(!cf.traditional_compression);
    assert_eq!(cf.max_rexmit_delay, ms(250));
    assert_eq!(cf.hbgenmethod, GenMethod::File);
    assert_eq!(cf.uuidfrom, UuidFrom::File);
    assert_eq!(cf.autojoin, AutoJoin::None);
    assert!(cf.realtime && cf.coredumps && cf.syslogmsgfmt && cf.log_badpack);
    assert_eq!(cf.memreserve_kib, 6500);
    assert_eq!(cf.conn_logd_time, ms(60_000));
    assert_eq!(cf.pacemaker, PacemakerMode::Off);
    assert_eq!(cf.resource_manager(), ResourceManager::Haresources);
    // No logging configured: heartbeat turns use_logd on.
    assert!(cf.use_logd);
    assert_eq!(cf.param("use_logd").as_deref(), Some("yes"));
    // Legacy + haresources: heartbeat's deprecation warning.
    assert!(
        cf.warnings
            .iter()
            .any(|w| w.contains("Deprecated 'legacy'")),
        "{:?}",
        cf.warnings
    );
}

#[test]
fn params_as_written_and_computed_defaults() {
    let cf = p("bcast eth0\nnode alpha\nkeepalive 1\ndeadtime 10\nlogfile /tmp/x\n");
    assert_eq!(cf.param("deadtime").as_deref(), Some("10"));
    assert_eq!(cf.param("keepalive").as_deref(), Some("1"));
    // heartbeat stores computed timer defaults as "%ldms"; verified with the
    // real daemon (`cl_status hbparameter -p warntime` → 5000ms, initdead → 20000ms).
    assert_eq!(cf.param("warntime").as_deref(), Some("5000ms"));
    assert_eq!(cf.param("initdead").as_deref(), Some("20000ms"));
    assert_eq!(cf.param("deadping").as_deref(), Some("10000ms"));
    assert_eq!(cf.param("udpport").as_deref(), Some("694"));
    assert_eq!(cf.param("debug").as_deref(), Some("0"));
    assert_eq!(cf.param("cluster").as_deref(), Some("linux-ha"));
    assert_eq!(cf.param("pacemaker").as_deref(), Some("false"));
    assert_eq!(cf.param("crm").as_deref(), Some("false"));
    assert_eq!(cf.param("logfile").as_deref(), Some("/tmp/x"));
    // Not recorded by heartbeat.
    assert_eq!(cf.param("node"), None);
    assert_eq!(cf.param("bcast"), None);
    assert_eq!(cf.param("use_logd"), None);
    assert_eq!(cf.param("nosuch"), None);
    // Values given explicitly are reported as written.
    let cf = p("bcast eth0\nnode a\ndeadtime 10\nwarntime 5\ninitdead 12\nlogfile /x\n");
    assert_eq!(cf.param("warntime").as_deref(), Some("5"));
    assert_eq!(cf.param("initdead").as_deref(), Some("12"));
    assert_eq!(cf.warntime, ms(5000));
    assert_eq!(cf.initdead, ms(12000));
    // Last token wins.
    let cf = p("bcast eth0\nnode a\nkeepalive 2, 500ms\n");
    assert_eq!(cf.keepalive, ms(500));
    assert_eq!(cf.param("keepalive").as_deref(), Some("500ms"));
}

#[test]
fn initdead_derivation() {
    // deadtime > 10 s → deadtime; < 6 s → 12 s; else 2×deadtime.
    assert_eq!(p("bcast e\nnode a\ndeadtime 20\n").initdead, ms(20000));
    assert_eq!(p("bcast e\nnode a\ndeadtime 5\n").initdead, ms(12000));
    assert_eq!(p("bcast e\nnode a\ndeadtime 10\n").initdead, ms(20000));
    assert_eq!(p("bcast e\nnode a\ndeadtime 6\n").initdead, ms(12000));
    assert_eq!(p("bcast e\nnode a\ndeadtime 8\n").initdead, ms(16000));
}

#[test]
fn timer_validation() {
    assert_err(
        "bcast e\nnode a\nkeepalive 2\ndeadtime 4\n",
        4,
        "Dead time [4000] is too small compared to keeplive [2000]",
    );
    assert_err(
        "bcast e\nnode a\ndeadtime 10\ninitdead 5\n",
        4,
        "Initial dead time [5000] is smaller than deadtime [10000]",
    );
    assert_err(
        "bcast e\nnode a\ndeadping 2\n",
        3,
        "Ping dead time [2000] is too small",
    );
    assert_err("keepalive 0\n", 1, "keepalive");
    assert_err("keepalive 500 ms\n", 1, "[ms]");
    assert_err("deadtime 10s\n", 1, "unknown unit");
    assert_err("warntime 0\n", 1, "Warn time [0] is invalid.");
    assert_err("initdead x\n", 1, "not a number");
    // Small initdead is only a warning.
    let cf = p("bcast e\nnode a\nkeepalive 1\ndeadtime 3\ninitdead 3\n");
    assert!(cf
        .warnings
        .iter()
        .any(|w| w.contains("Initial dead time [3000 ms] may be too small")));
    // warntime above deadtime is accepted silently, like heartbeat.
    let cf = p("bcast e\nnode a\ndeadtime 8\nwarntime 10\nlogfile /l\nauto_failback on\n");
    assert_eq!(cf.warntime, ms(10000));
    assert!(cf.warnings.is_empty(), "{:?}", cf.warnings);
}

#[test]
fn illegal_directive_names_file_and_line() {
    let e = pe("# comment\n\nnode a\nbogus 1\n");
    assert_eq!(
        e.to_string(),
        "Illegal directive [bogus] in /etc/ha.d/ha.cf line 4"
    );
    assert!(matches!(e.kind, ErrorKind::IllegalDirective(ref d) if d == "bogus"));
    // Directives are case-sensitive and commas do not end them.
    assert_err("Node a\n", 1, "Illegal directive [Node]");
    assert_err("node,a\n", 1, "Illegal directive [node,a]");
    // Not compiled into the Debian binary.
    assert_err("normalpoll true\n", 1, "Illegal directive [normalpoll]");
    assert_err("hbaping fc0\n", 1, "Illegal directive [hbaping]");
}

#[test]
fn comments_whitespace_and_crlf() {
    let cf = p("  node Alpha # bravo\r\n\tbcast eth0#eth1\r\n#node charlie\nnode\tb,c  d\n");
    assert_eq!(cf.nodes, vec!["alpha", "b", "c", "d"]);
    assert_eq!(cf.media.len(), 1);
    // A directive with no value does nothing.
    let cf = p("node a\nbcast e\nlogfile\n");
    assert_eq!(cf.logfile, None);
}

#[test]
fn nodes_lowercased_deduplicated_and_limited() {
    let cf = p("bcast e\nnode NODE1.hoo.com node1.hoo.com\n");
    assert_eq!(cf.nodes, vec!["node1.hoo.com"]);
    assert!(cf.warnings.iter().any(|w| w.contains("more than once")));
    let many: String = (0..101).map(|i| format!("node n{i}\n")).collect();
    assert_err(&many, 101, "Too many nodes");
}

#[test]
fn media_and_udpport_in_force() {
    let cf = p("bcast eth0 eth1\nudpport 700\nucast eth2 10.0.0.2\nbcast eth3\nnode a\n\
                mcast eth0 225.16.1.1 694 1 0\nmcast6 eth0 ff02::1:2 695 4 1\nucast6 eth0 fe80::1\n\
                serial /dev/ttyS0\nping 10.0.0.1 10.0.0.254\nping6 fe80::2\nping_group G1 10.1.1.1 10.1.1.2\n");
    assert_eq!(
        cf.media[..4],
        [
            Medium::Bcast {
                iface: "eth0".into(),
                udpport: 694
            },
            Medium::Bcast {
                iface: "eth1".into(),
                udpport: 694
            },
            Medium::Ucast {
                iface: "eth2".into(),
                peer: "10.0.0.2".into(),
                udpport: 700
            },
            Medium::Bcast {
                iface: "eth3".into(),
                udpport: 700
            },
        ]
    );
    assert_eq!(
        cf.media[4],
        Medium::Mcast {
            iface: "eth0".into(),
            group: Ipv4Addr::new(225, 16, 1, 1),
            port: 694,
            ttl: 1,
            loop_: false
        }
    );
    assert!(matches!(
        cf.media[5],
        Medium::Mcast6 {
            port: 695,
            hops: 4,
            loop_: true,
            ..
        }
    ));
    assert!(
        matches!(cf.media[6], Medium::Ucast6 { ref peer, udpport: 700, .. } if peer == "fe80::1")
    );
    assert_eq!(
        cf.media[7],
        Medium::Serial {
            device: "/dev/ttyS0".into()
        }
    );
    assert_eq!(
        cf.media[8],
        Medium::Ping {
            addr: "10.0.0.1".into()
        }
    );
    assert_eq!(
        cf.media[10],
        Medium::Ping6 {
            addr: "fe80::2".into()
        }
    );
    assert_eq!(
        cf.media[11],
        Medium::PingGroup {
            name: "g1".into(),
            addrs: vec!["10.1.1.1".into(), "10.1.1.2".into()]
        }
    );
    assert_eq!(
        cf.ping_nodes(),
        vec!["10.0.0.1", "10.0.0.254", "fe80::2", "g1"]
    );
    assert_eq!(cf.udpport, 700);
    assert_eq!(cf.media[11].directive(), "ping_group");
    assert_eq!(cf.media[0].name(), "eth0");
    assert!(!cf.media[0].is_ping() && cf.media[8].is_ping());
}

#[test]
fn udp_alias_warns() {
    let cf = p("udp eth0\nnode a\n");
    assert_eq!(
        cf.media,
        vec![Medium::Bcast {
            iface: "eth0".into(),
            udpport: 694
        }]
    );
    assert!(cf
        .warnings
        .iter()
        .any(|w| w.contains("'udp' replaced by 'bcast'")));
}

#[test]
fn media_errors() {
    assert_err(
        "mcast eth0 225.0.0.1 694 5 0\n",
        1,
        "mcast [eth0] bad ttl [5]",
    );
    assert_err("mcast eth0 225.0.0.1 694 1 2\n", 1, "bad loop [2]");
    assert_err("mcast eth0 10.0.0.1 694 1 0\n", 1, "bad addr [10.0.0.1]");
    assert_err("mcast eth0 225.0.0.1 0 1 0\n", 1, "bad port [0]");
    assert_err("mcast eth0 225.0.0.1 70000 1 0\n", 1, "bad port [70000]");
    assert_err("mcast eth0 225.0.0.1 x 1 0\n", 1, "bad port [x]");
    // Like the plugin's atoi(): trailing junk is ignored, no digits is 0.
    let cf = p("mcast eth0 225.0.0.1 694x 1y z\nnode a\n");
    assert!(matches!(
        cf.media[0],
        Medium::Mcast {
            port: 694,
            ttl: 1,
            loop_: false,
            ..
        }
    ));
    assert_err("mcast eth0\n", 1, "missing mcast address");
    assert_err("mcast eth0 225.0.0.1\n", 1, "missing port");
    assert_err("mcast eth0 225.0.0.1 694\n", 1, "missing ttl");
    assert_err("mcast eth0 225.0.0.1 694 1\n", 1, "missing loop");
    assert_err("mcast6 eth0 fe80::1 694 1 0\n", 1, "bad addr");
    assert_err("mcast6 eth0 ff02::1 694 9 0\n", 1, "bad hops [9]");
    assert_err("mcast6\n", 1, "without device");
    assert_err("ucast eth0\n", 1, "missing target");
    assert_err("ping_group g\n", 1, "no addresses");
    assert_err("ping_group\n", 1, "missing group name");
    assert_err("serial ttyS0\n", 1, "not full pathname");
    let many: String = (0..65).map(|i| format!("bcast e{i}\n")).collect();
    assert_err(&many, 65, "Too many media");
}

#[test]
fn udpport_errors() {
    assert_err("udpport 0\n", 1, "invalid port [0]");
    assert_err("udpport x\n", 1, "invalid port [x]");
    assert_err("udpport 70000\n", 1, "invalid port");
}

#[test]
fn integer_directives_use_atoi() {
    let cf = p("bcast e\nnode a\nhopfudge 255\ndebug 3\nmemreserve 100\nmax_rexmit_delay 50\ncompression_threshold 8\n");
    assert_eq!(cf.hopfudge, 255);
    assert_eq!(cf.debug, 3);
    assert_eq!(cf.memreserve_kib, 100);
    assert_eq!(cf.max_rexmit_delay, ms(50));
    assert_eq!(cf.compression_threshold_kib, 8);
    assert_eq!(cf.param("debug").as_deref(), Some("3"));
    // heartbeat's atoi reads "abc" as 0, which hopfudge accepts.
    assert_eq!(p("bcast e\nnode a\nhopfudge abc\n").hopfudge, 0);
    assert_eq!(p("bcast e\nnode a\nhopfudge 3x\n").hopfudge, 3);
    assert_err("hopfudge 256\n", 1, "hopfudge");
    assert_err("hopfudge -1\n", 1, "hopfudge");
    assert_err("debug 256\n", 1, "debug");
    assert_err("memreserve 0\n", 1, "memreserve");
    assert_err(
        "max_rexmit_delay 0\n",
        1,
        "Invalid max_rexmit_delay time(0)",
    );
    assert_err(
        "compression_threshold 0\n",
        1,
        "compress_threshhold(0) invalid",
    );
    assert_err("rtprio 0\n", 1, "Illegal realtime priority [0]");
    assert_eq!(p("bcast e\nnode a\nrtprio 50\n").rtprio, Some(50));
}

#[test]
fn baud_and_watchdog_once() {
    let cf = p("baud 115200\nserial /dev/ttyS1\nnode a\n");
    assert_eq!(cf.baud, 115200);
    assert!(cf.warnings.is_empty() || !cf.warnings.iter().any(|w| w.contains("baudrate")));
    assert_err("baud 9600\nbaud 9600\n", 2, "Baudrate multiply specified.");
    assert_err("baud 1200\n", 1, "invalid baudrate [1200]");
    let cf = p("serial /dev/ttyS1\nbaud 9600\nnode a\n");
    assert!(cf
        .warnings
        .iter()
        .any(|w| w.contains("baudrate setting must precede media")));
    assert_eq!(
        p("bcast e\nnode a\nwatchdog /dev/watchdog\n").watchdog,
        Some("/dev/watchdog".into())
    );
    assert_err(
        "watchdog /dev/a\nwatchdog /dev/b\n",
        2,
        "Watchdog device multiply specified.",
    );
}

#[test]
fn booleans() {
    for (v, want) in [
        ("TRUE", true),
        ("on", true),
        ("Yes", true),
        ("y", true),
        ("1", true),
        ("false", false),
        ("OFF", false),
        ("no", false),
        ("N", false),
        ("0", false),
    ] {
        let cf = p(&format!(
            "bcast e\nnode a\nrealtime {v}\ncoredumps {v}\ntraditional_compression {v}\n"
        ));
        assert_eq!(cf.realtime, want, "{v}");
        assert_eq!(cf.coredumps, want, "{v}");
        assert_eq!(cf.traditional_compression, want, "{v}");
    }
    for d in [
        "realtime",
        "coredumps",
        "log_badpack",
        "syslogmsgfmt",
        "use_logd",
        "use_apphbd",
        "traditional_compression",
        "record_config_changes",
        "record_pengine_inputs",
        "enable_config_writes",
        "crmd_spawns_pengine",
    ] {
        assert_err(
            &format!("{d} maybe\n"),
            1,
            &format!("Invalid {d} value [maybe]"),
        );
    }
    let cf = p("bcast e\nnode a\nlog_badpack off\nsyslogmsgfmt no\nuse_apphbd yes\nrecord_config_changes off\n\
                record_pengine_inputs off\nenable_config_writes off\ncrmd_spawns_pengine no\n");
    assert!(!cf.log_badpack && !cf.syslogmsgfmt && cf.use_apphbd);
    assert!(!cf.record_config_changes && !cf.record_pengine_inputs && !cf.enable_config_writes);
    assert!(!cf.crmd_spawns_pengine);
}

#[test]
fn enums() {
    let cf = p("bcast e\nnode a\nmsgfmt netstring\ncompression bz2\nhbgenmethod time\nuuidfrom nodename\nautojoin OTHER\n");
    assert_eq!(cf.msgfmt, MsgFmt::Netstring);
    assert_eq!(cf.compression, Compression::Bz2);
    assert_eq!(cf.compression.name(), "bz2");
    assert_eq!(cf.hbgenmethod, GenMethod::Time);
    assert_eq!(cf.uuidfrom, UuidFrom::Nodename);
    assert_eq!(cf.autojoin, AutoJoin::Other);
    assert_eq!(p("bcast e\nautojoin any\n").autojoin, AutoJoin::Any);
    assert_err("msgfmt Classic\n", 1, "msgfmt");
    assert_err("compression lzo\n", 1, "no such compression plugin");
    assert_err(
        "hbgenmethod clock\n",
        1,
        "Illegal hb generation method [clock]",
    );
    assert_err("uuidfrom mac\n", 1, "Invalid uuidfrom directive [mac]");
    assert_err("autojoin some\n", 1, "Invalid autojoin directive [some]");
}

#[test]
fn auto_failback_and_nice_failback() {
    assert_eq!(
        p("bcast e\nnode a\nauto_failback on\n").auto_failback,
        AutoFailback::On
    );
    assert_eq!(
        p("bcast e\nnode a\nauto_failback off\n").auto_failback,
        AutoFailback::Off
    );
    assert_eq!(
        p("bcast e\nnode a\nauto_failback LEGACY\n").auto_failback,
        AutoFailback::Legacy
    );
    assert_err("auto_failback sometimes\n", 1, "must be on, off or legacy");
    // heartbeat maps by the current mode, not by the value.
    let cf = p("bcast e\nnode a\nnice_failback on\n");
    assert_eq!(cf.auto_failback, AutoFailback::Legacy);
    assert!(cf
        .warnings
        .iter()
        .any(|w| w.contains("nice_failback flag is obsolete")));
    // ...and it does not record auto_failback, so getparm reports the default.
    assert_eq!(cf.param("auto_failback").as_deref(), Some("legacy"));
    let cf = p("bcast e\nnode a\nauto_failback on\nnice_failback off\n");
    assert_eq!(cf.auto_failback, AutoFailback::Off);
    assert_eq!(cf.param("auto_failback").as_deref(), Some("on"));
    assert_err("nice_failback perhaps\n", 1, "nice_failback");
    assert!(AutoFailback::On.nice_failback() && !AutoFailback::Legacy.nice_failback());
}

#[test]
fn logging() {
    let cf = p("bcast e\nnode a\nlogfacility local0\n");
    assert_eq!(cf.logfacility.map(|f| f.code), Some(16 << 3));
    assert!(!cf.use_logd);
    assert_eq!(cf.param("logfile").as_deref(), Some("/dev/null"));
    assert_eq!(cf.param("debugfile").as_deref(), Some("/dev/null"));
    let cf = p("bcast e\nnode a\nlogfacility none\n");
    assert_eq!(cf.logfacility.map(|f| f.name), Some("none"));
    assert!(cf.use_logd, "none is not a syslog facility");
    assert_err("logfacility LOCAL0\n", 1, "Log facility(LOCAL0) not valid");
    assert_err(
        "bcast e\nnode a\nuse_logd off\n",
        3,
        "No log entry found in ha.cf and use_logd is set to off",
    );
    let cf = p("bcast e\nnode a\ndebugfile /var/log/ha-debug\nlogfile /var/log/ha-log\nconn_logd_time 30\n");
    assert_eq!(cf.debugfile, Some("/var/log/ha-debug".into()));
    assert_eq!(cf.logfile, Some("/var/log/ha-log".into()));
    assert_eq!(cf.conn_logd_time, ms(30_000));
    assert!(!cf.use_logd);
    assert_err("conn_logd_time 0\n", 1, "conn_logd_time");
    assert!(SyslogFacility::from_name("mark").is_some());
    assert!(!SyslogFacility::from_name("kern").is_some_and(SyslogFacility::logs_to_syslog));
}

#[test]
fn misc_string_directives() {
    let cf = p("bcast e\nnode a\ncluster prod\nquorum_server q.example\ncoreroot /var/cores\nenv FOO=bar=baz, X=\n");
    assert_eq!(cf.cluster, "prod");
    assert_eq!(cf.quorum_server.as_deref(), Some("q.example"));
    assert_eq!(cf.coreroot, Some("/var/cores".into()));
    assert_eq!(
        cf.env,
        vec![
            ("FOO".into(), "bar=baz".into()),
            ("X".into(), String::new())
        ]
    );
    assert_err("env NOVALUE\n", 1, "invalid nvpair(NOVALUE)");
    assert_err("env =x\n", 1, "invalid nvpair");
}

#[test]
fn respawn_and_failfast() {
    let cf = p("bcast e\nnode a\nrespawn hacluster /usr/libexec/heartbeat/ipfail -x  y\nfailfast root /bin/true\n");
    assert_eq!(cf.clients.len(), 2);
    let c = &cf.clients[0];
    assert_eq!((c.user.as_str(), c.uid, c.gid), ("hacluster", 102, 105));
    assert_eq!(c.path, PathBuf::from("/usr/libexec/heartbeat/ipfail"));
    assert_eq!(c.args, vec!["-x", "y"]);
    assert_eq!(c.command, "/usr/libexec/heartbeat/ipfail -x  y");
    assert!(!c.failfast && cf.clients[1].failfast);
    assert_eq!(c.line, 3);
    assert_err(
        "respawn nobody-here /bin/true\n",
        1,
        "Invalid uid [nobody-here] specified for client child",
    );
    assert_err(
        "respawn root bin/true\n",
        1,
        "Client child command [bin/true] is not full pathname",
    );
    assert_err(
        "respawn root /usr/lib/heartbeat/ipfail\n",
        1,
        "Client child command [/usr/lib/heartbeat/ipfail] is not executable",
    );
    assert_err("respawn root\n", 1, "is not full pathname");
}

#[test]
fn apiauth_entries_and_builtins() {
    let cf = p("bcast e\nnode a\napiauth ipfail gid=haclient uid=hacluster,root,7\napiauth default gid=haclient\n");
    let ipfail = cf.apiauth_for("ipfail").unwrap();
    assert_eq!(ipfail.uids, Some(vec![102, 0, 7]));
    assert_eq!(ipfail.gids, Some(vec![105]));
    assert!(!ipfail.builtin);
    assert_eq!(ipfail.line, 3);
    assert!(ipfail.allows(7, 9999) && ipfail.allows(9999, 105) && !ipfail.allows(1, 1));
    assert_eq!(cf.apiauth_for("default").unwrap().uids, None);
    // Built-ins fill the rest.
    let ccm = cf.apiauth_for("ccm").unwrap();
    assert!(ccm.builtin);
    assert_eq!(ccm.uids, Some(vec![102]));
    assert_eq!(cf.apiauth_for("ping").unwrap().gids, Some(vec![105]));
    assert_eq!(cf.apiauth_for("lha-snmpagent").unwrap().uids, Some(vec![0]));
    let anon = cf.apiauth_for("anon").unwrap();
    assert_eq!(
        (anon.uids.clone(), anon.gids.clone()),
        (Some(vec![0]), Some(vec![105]))
    );
    assert_eq!(cf.apiauth.len(), 6);

    assert_err(
        "apiauth ipfail uid=root\napiauth ipfail uid=root\n",
        2,
        "Duplicate apiauth directive for API client ipfail",
    );
    assert_err("apiauth x\n", 1, "no uid or gid list");
    assert_err("apiauth x uid=root uid=root\n", 1, "Duplicate uid list");
    assert_err("apiauth x gid=root gid=root\n", 1, "Duplicate gid list");
    assert_err("apiauth x foo=bar\n", 1, "Missing uid or gid");
    assert_err("apiauth x uid=ghost\n", 1, "Invalid user id name [ghost]");
    assert_err("apiauth x gid=ghosts\n", 1, "Invalid group name [ghosts]");
    assert_err("apiauth\n", 1, "missing client name");
}

#[test]
fn builtin_apiauth_skipped_when_users_missing() {
    struct Bare;
    impl SystemProbe for Bare {
        fn user(&self, n: &str) -> Option<(u32, u32)> {
            (n == "root").then_some((0, 0))
        }
        fn group(&self, _: &str) -> Option<u32> {
            None
        }
        fn is_executable(&self, _: &Path) -> bool {
            false
        }
    }
    let cf = parse_with("bcast e\nnode a\n", Path::new(FILE), &Bare).unwrap();
    assert!(cf.apiauth_for("ccm").is_none());
    assert!(cf.apiauth_for("lha-snmpagent").is_some());
    assert!(cf
        .warnings
        .iter()
        .any(|w| w.contains("built-in apiauth for ccm not added")));
}

#[test]
fn stonith_lines() {
    let cf = p("bcast e\nnode a\nstonith baytech /etc/ha.d/conf/stonith.baytech\n\
                stonith_host *     baytech 10.0.0.3 mylogin mysecretpassword\nstonith_host KEN3 rps10 /dev/ttyS1 kathy 0 \n");
    assert_eq!(cf.stonith[0].kind, "baytech");
    assert_eq!(cf.stonith[0].config_file, "/etc/ha.d/conf/stonith.baytech");
    assert_eq!(cf.stonith_hosts[0].host, "*");
    assert_eq!(
        cf.stonith_hosts[0].params,
        "10.0.0.3 mylogin mysecretpassword"
    );
    assert_eq!(cf.stonith_hosts[1].host, "ken3");
    assert_eq!(cf.stonith_hosts[1].params, "/dev/ttyS1 kathy 0");
    assert!(cf.stonith_hosts[0].applies_to("anything"));
    assert!(cf.stonith_hosts[1].applies_to("Ken3") && !cf.stonith_hosts[1].applies_to("kathy"));
    assert_err("stonith\n", 1, "No Stonith type given");
    assert_err("stonith_host\n", 1, "No Stonith hostname argument given");
    assert_err("stonith_host *\n", 1, "No Stonith type given");
}

#[test]
fn pacemaker_without_crm_falls_back_to_haresources() {
    let cf = p("bcast e\nnode a\ncrm on\n");
    assert_eq!(cf.pacemaker, PacemakerMode::On);
    assert_eq!(cf.resource_manager(), ResourceManager::Haresources);
    assert_eq!(cf.param("crm").as_deref(), Some("on"));
    assert_eq!(cf.param("pacemaker").as_deref(), Some("on"));
    let crm: Vec<_> = cf
        .warnings
        .iter()
        .filter(|w| w.contains("'crm on' (line 3) ignored"))
        .collect();
    assert_eq!(crm.len(), 1, "{:?}", cf.warnings);
    // No pacemaker apiauth entries are added when it is not used.
    assert!(cf.apiauth_for("cib").is_none());
    for (v, mode) in [
        ("respawn", PacemakerMode::Respawn),
        ("manual", PacemakerMode::Minimal),
        ("minimal", PacemakerMode::Minimal),
        ("valgrind", PacemakerMode::Valgrind),
        ("yes", PacemakerMode::On),
        ("off", PacemakerMode::Off),
    ] {
        assert_eq!(
            p(&format!("bcast e\nnode a\npacemaker {v}\n")).pacemaker,
            mode,
            "{v}"
        );
    }
    assert!(p("bcast e\nnode a\npacemaker off\n")
        .warnings
        .iter()
        .all(|w| !w.contains("ignored")));
    assert_err(
        "crm on\npacemaker on\n",
        2,
        "pacemaker/crm directive used multiple times!",
    );
    assert_err("pacemaker sometimes\n", 1, "pacemaker");
    assert_err(
        "pacemaker off\ncrm_daemon_dir /x\n",
        2,
        "must come before the pacemaker directive",
    );
    assert_err(
        "crm yes\ncrmd_spawns_pengine no\n",
        2,
        "must come before the pacemaker directive",
    );
}

#[test]
fn pacemaker_with_crm_installed() {
    let h = FakeHost {
        executables: vec!["/opt/pcmk/cib", "/opt/pcmk/crmd"],
    };
    let cf = parse_with(
        "bcast e\nnode a\ncrm_daemon_dir /opt/pcmk\ncrm respawn\nautojoin any\n",
        Path::new(FILE),
        &h,
    )
    .unwrap();
    assert_eq!(
        cf.resource_manager(),
        ResourceManager::Pacemaker(PacemakerMode::Respawn)
    );
    assert_eq!(cf.crm_daemon_dir, PathBuf::from("/opt/pcmk"));
    assert!(cf
        .apiauth_for("cib")
        .is_some_and(|a| a.builtin && a.uids == Some(vec![102])));
    assert!(cf.apiauth_for("stonith-ng").is_some());
    assert!(!cf
        .warnings
        .iter()
        .any(|w| w.contains("Deprecated 'legacy'")));
    // autojoin is fine with a CRM.
    assert!(cf.validate("zulu").is_ok());
    // A user entry for a pacemaker client collides with heartbeat's own.
    let e = parse_with(
        "crm_daemon_dir /opt/pcmk\ncrm on\napiauth cib uid=root\n",
        Path::new(FILE),
        &h,
    )
    .unwrap_err();
    assert_eq!(e.line, 3);
    let cf = parse_with(
        "crm_daemon_dir /opt/pcmk\ncrm minimal\nbcast e\nnode a\n",
        Path::new(FILE),
        &h,
    )
    .unwrap();
    assert!(cf.apiauth_for("cib").is_some() && cf.apiauth_for("stonithd").is_none());
}

#[test]
fn not_acted_on_warning_is_single_and_lists_lines() {
    let cf = p("bcast e\nnode a\nlogfile /l\nauto_failback on\nrealtime off\ncoredumps false\nmemreserve 10\n");
    let w: Vec<_> = cf
        .warnings
        .iter()
        .filter(|w| w.contains("not acted on"))
        .collect();
    assert_eq!(w.len(), 1, "{:?}", cf.warnings);
    assert!(
        !w[0].contains("realtime")
            && w[0].contains("coredumps (line 6)")
            && w[0].contains("memreserve (line 7)"),
        "{}",
        w[0]
    );
    assert_eq!(cf.warnings.len(), 1, "{:?}", cf.warnings);
    assert!(!cf.realtime && !cf.coredumps);
    // What the daemon does act on is not in the warning.
    let cf = p("bcast e\nnode a\nrespawn hacluster /bin/true\nenv X=1\nstonith_host * null a\n");
    assert!(
        !cf.warnings.iter().any(|w| w.contains("not acted on")),
        "{:?}",
        cf.warnings
    );
}

#[test]
fn validation_needs_local_node() {
    let cf = p(BASE);
    assert!(cf.validate("alpha").is_ok());
    assert!(cf.validate("BRAVO").is_ok());
    let e = cf.validate("charlie").unwrap_err();
    assert!(
        e.to_string()
            .contains("Current node [charlie] not in configuration!"),
        "{e}"
    );
    assert_eq!(e.line, 2);
    let e = p("node a\n").validate("a").unwrap_err();
    assert_eq!(
        e.to_string(),
        "No heartbeat media defined in /etc/ha.d/ha.cf"
    );
    let e = p("bcast e\n").validate("a").unwrap_err();
    assert!(e.to_string().contains("no nodes defined"));
    // autojoin any: no nodes needed, but R1 mode forbids autojoin.
    let e = p("bcast e\nautojoin any\n").validate("a").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e
        .to_string()
        .contains("R1 style resource management conflicts with autojoin"));
    let e = p("bcast e\nnode a\nautojoin other\n")
        .validate("a")
        .unwrap_err();
    assert_eq!(e.line, 3);
}

#[test]
fn defaults_table_rows() {
    let t = defaults_table();
    assert_eq!(t.len(), 24);
    assert_eq!(t[0], ("cluster", "linux-ha", "the name of cluster"));
    assert_eq!(
        t[23],
        (
            "memreserve",
            "6500",
            "number of kbytes to preallocate in heartbeat"
        )
    );
    let text = render_defaults_table();
    assert!(text.starts_with("Directive                Default   Description\n"));
    assert!(text.contains("\ndeadtime                 30000ms   node deadtime\n"));
    // Every fixed default is what parse fills in.
    let cf = p(BASE);
    for (d, v, _) in t {
        assert_eq!(cf.param(d).as_deref(), Some(v), "{d}");
    }
}

#[test]
fn whole_line_directives_keep_commas() {
    // For whole-line directives commas are part of the value; after the
    // directive name, leading commas are skipped like blanks.
    let cf = p("bcast e\nnode a\napiauth ,x uid=root,0\n");
    assert_eq!(cf.apiauth_for("x").unwrap().uids, Some(vec![0]));
}
