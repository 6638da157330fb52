//! Property tests: parsers never panic, time values round-trip.

use std::path::Path;

use hb_config::time::{parse_msec, parse_time};
use hb_config::{authkeys, hacf, haresources};
use proptest::prelude::*;

/// Lines built from real directive names and plausible tokens reach much
/// deeper into the parser than random bytes do.
fn hacf_line() -> impl Strategy<Value = String> {
    let directive = prop::sample::select(vec![
        "node",
        "bcast",
        "mcast",
        "ucast",
        "mcast6",
        "ucast6",
        "serial",
        "ping",
        "ping6",
        "ping_group",
        "udp",
        "udpport",
        "baud",
        "keepalive",
        "deadtime",
        "warntime",
        "initdead",
        "deadping",
        "hopfudge",
        "auto_failback",
        "nice_failback",
        "logfile",
        "debugfile",
        "logfacility",
        "use_logd",
        "conn_logd_time",
        "syslogmsgfmt",
        "log_badpack",
        "debug",
        "msgfmt",
        "compression",
        "compression_threshold",
        "traditional_compression",
        "max_rexmit_delay",
        "hbgenmethod",
        "uuidfrom",
        "autojoin",
        "realtime",
        "rtprio",
        "memreserve",
        "coredumps",
        "coreroot",
        "watchdog",
        "stonith",
        "stonith_host",
        "respawn",
        "failfast",
        "apiauth",
        "pacemaker",
        "crm",
        "crm_daemon_dir",
        "crmd_spawns_pengine",
        "record_config_changes",
        "env",
        "cluster",
        "quorum_server",
        "use_apphbd",
        "bogus",
    ]);
    let token = prop_oneof![
        "[a-z0-9.:/=,_-]{0,12}",
        "[0-9]{1,6}(ms|us|s)?",
        Just("225.0.0.1".to_string()),
        Just("root".to_string()),
        Just("uid=root".to_string()),
        Just("on".to_string()),
        Just("#".to_string()),
        Just("/bin/true".to_string()),
    ];
    (directive, prop::collection::vec(token, 0..6))
        .prop_map(|(d, toks)| format!("{d} {}", toks.join(" ")))
}

proptest! {
    #[test]
    fn hacf_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = hacf::parse(&text, Path::new("ha.cf"));
    }

    #[test]
    fn hacf_never_panics_on_directive_soup(lines in prop::collection::vec(hacf_line(), 0..25)) {
        let text = lines.join("\n");
        match hacf::parse(&text, Path::new("ha.cf")) {
            Ok(cf) => {
                // Derived timers always satisfy heartbeat's invariants.
                prop_assert!(cf.deadtime > cf.keepalive * 2);
                prop_assert!(cf.initdead >= cf.deadtime);
                prop_assert!(cf.warntime > std::time::Duration::ZERO);
                let _ = cf.validate("node1");
            }
            Err(e) => {
                prop_assert!(e.line <= lines.len());
                prop_assert!(e.to_string().contains("ha.cf"));
            }
        }
    }

    #[test]
    fn authkeys_never_panics(text in "\\PC{0,300}") {
        let _ = authkeys::parse(&text, Path::new("authkeys"));
    }

    #[test]
    fn authkeys_line_shaped_input(lines in prop::collection::vec(
        "(auth|#|[0-9]{1,3}|-?[0-9]) ?(crc|md5|sha1|x)? ?[a-z!]{0,5}", 0..8)) {
        let text = lines.join("\n");
        if let Ok(k) = authkeys::parse(&text, Path::new("authkeys")) {
            prop_assert!(k.slots.contains_key(&k.active));
            prop_assert!(usize::from(k.active) < authkeys::MAX_AUTH);
        }
    }

    #[test]
    fn haresources_never_panics(text in "\\PC{0,400}") {
        if let Ok(groups) = haresources::parse(&text, Path::new("haresources")) {
            for g in &groups {
                prop_assert_eq!(g.node.to_ascii_lowercase(), g.node.clone());
                for r in &g.resources {
                    // Display gives back a single blank-free item (blanks are ASCII, as in sed).
                    prop_assert!(!r.to_string().contains(|c: char| c.is_ascii_whitespace()));
                }
            }
        }
    }

    #[test]
    fn time_never_panics(s in "\\PC{0,40}") {
        let _ = parse_msec(&s);
    }

    #[test]
    fn time_round_trips_milliseconds(n in 0u64..1_000_000_000_000) {
        prop_assert_eq!(parse_msec(&format!("{n}ms")), Ok(n));
        prop_assert_eq!(parse_msec(&format!("{n} msec")), Ok(n));
        prop_assert_eq!(parse_time(&format!("{n}MS")).map(|d| d.as_millis() as u64), Ok(n));
    }

    #[test]
    fn time_round_trips_seconds(s in 0u64..1_000_000_000, frac in 0u64..1000) {
        prop_assert_eq!(parse_msec(&s.to_string()), Ok(s * 1000));
        prop_assert_eq!(parse_msec(&format!("{s}.{frac:03}")), Ok(s * 1000 + frac));
    }

    #[test]
    fn time_rounds_microseconds_half_up(us in 0u64..1_000_000_000) {
        prop_assert_eq!(parse_msec(&format!("{us}us")), Ok((us + 500) / 1000));
    }
}
