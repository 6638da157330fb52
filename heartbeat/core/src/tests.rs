//! Unit tests: one Core driven with hand-made messages, asserting the actions.

use std::time::Duration;

use hb_wire::{Msg, Value};

use crate::*;

const T0: u64 = 1_795_686_728;
const ALPHA: [u8; 16] = [0xa1; 16];
const BRAVO: [u8; 16] = [0xb2; 16];
const GEN: u64 = 0x6b08_0148;
const BGEN: u64 = 0x6b08_0100;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        unix_secs: T0 + ms / 1000,
    }
}

/// alpha + bravo, keepalive 1 s, deadtime 10 s, warntime 5 s, initdead 12 s, eth0.
fn cfg() -> CoreConfig {
    let mut c = CoreConfig::new("alpha", vec!["alpha".into(), "bravo".into()]);
    c.local_uuid = ALPHA;
    c.generation = GEN;
    c.links = vec!["eth0".into()];
    c.deadtime = Duration::from_secs(10);
    c.warntime = Duration::from_secs(5);
    c.initdead = Duration::from_secs(12);
    c.deadping = Duration::from_secs(10);
    c.rng_seed = 7;
    c
}

fn drain(core: &mut Core) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

fn sends(actions: &[Action]) -> Vec<Msg> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn delivered(actions: &[Action]) -> Vec<Msg> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn of_type(msgs: &[Msg], t: &str) -> Vec<Msg> {
    msgs.iter()
        .filter(|m| m.msg_type() == Some(t))
        .cloned()
        .collect()
}

fn names(m: &Msg) -> Vec<&str> {
    m.fields().iter().map(|f| f.name.as_str()).collect()
}

/// A message from a peer with the control fields a real node appends.
fn from_peer(
    src: &str,
    uuid: [u8; 16],
    t: &str,
    fields: &[(&str, &str)],
    seq: Option<u64>,
    hg: u64,
) -> Msg {
    let mut m = Msg::with_type(t);
    for (k, v) in fields {
        m.add_str(k, v);
    }
    m.add_str("src", src).add_bin("srcuuid", uuid);
    if let Some(s) = seq {
        m.add_str("seq", format!("{s:x}"));
    }
    m.add_str("hg", format!("{hg:x}"))
        .add_str("ts", format!("{T0:x}"))
        .add_str("ttl", "3");
    m
}

fn bravo(t: &str, fields: &[(&str, &str)], seq: u64) -> Msg {
    from_peer("bravo", BRAVO, t, fields, Some(seq), BGEN)
}

fn bravo_status(seq: u64, st: &str) -> Msg {
    bravo(
        "status",
        &[("st", st), ("dt", "2710"), ("protocol", "1")],
        seq,
    )
}

/// alpha with comm up and bravo active; returns the core and bravo's next seq.
fn joined() -> (Core, u64) {
    let mut c = Core::new(cfg(), at(0));
    c.on_message(at(100), 0, bravo_status(1, "active"));
    let a = drain(&mut c);
    assert_eq!(of_type(&sends(&a), "reqnodes").len(), 1);
    c.on_message(
        at(150),
        0,
        bravo(
            "repnodes",
            &[
                ("dest", "alpha"),
                ("nodelist", "alpha bravo "),
                ("delnodelist", " "),
            ],
            2,
        ),
    );
    assert!(c.comm_up());
    drain(&mut c);
    (c, 3)
}

#[test]
fn first_status_messages_have_exact_fields() {
    let mut c = Core::new(cfg(), at(0));
    let out = sends(&drain(&mut c));
    assert_eq!(out.len(), 2);
    let m = &out[0];
    assert_eq!(
        names(m),
        ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
    );
    assert_eq!(m.get_str("st"), Some("init"));
    // deadtime 10 s + 2 s startup bonus, as in the real capture
    assert_eq!(m.get_str("dt"), Some("2ee0"));
    assert_eq!(m.get_str("protocol"), Some("1"));
    assert_eq!(m.get_str("src"), Some("alpha"));
    assert_eq!(m.get_bin("srcuuid"), Some(&ALPHA[..]));
    assert_eq!(m.get_str("seq"), Some("1"));
    assert_eq!(m.get_str("hg"), Some("6b080148"));
    assert_eq!(m.get_str("ts"), Some("6b080148"));
    assert_eq!(m.get_str("ttl"), Some("3"));
    assert_eq!(out[1].get_str("st"), Some("up"));
    assert_eq!(out[1].get_str("seq"), Some("2"));
    assert_eq!(c.node("alpha").map(|v| v.status), Some("up".into()));
}

#[test]
fn status_every_keepalive_and_dt_bonus_ends_after_5s() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    // No dead-check poll: the first wake-up is the next status.
    assert_eq!(c.next_wakeup(), 1000);
    c.tick(at(500));
    assert!(sends(&drain(&mut c)).is_empty());
    c.tick(at(1000));
    let s = sends(&drain(&mut c));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].get_str("dt"), Some("2ee0"));
    c.set_loadavg("0.45 0.31 0.13 1/113 21268".into());
    c.tick(at(5000));
    let s = sends(&drain(&mut c));
    assert_eq!(s[0].get_str("dt"), Some("2710"));
    assert_eq!(s[0].get_str("ld"), Some("0.45 0.31 0.13 1/113 21268"));
}

#[test]
fn ttl_counts_ping_nodes_and_no_protocol_without_flow_control() {
    let mut cf = cfg();
    cf.ping_nodes = vec!["10.0.0.254".into()];
    cf.hopfudge = 2;
    cf.flow_control = false;
    let mut c = Core::new(cf, at(0));
    let s = sends(&drain(&mut c));
    assert_eq!(s[0].get_str("ttl"), Some("5"));
    assert!(!s[0].contains("protocol"));
}

#[test]
fn peer_status_brings_link_and_node_up() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    let st = bravo_status(1, "up");
    c.on_message(at(100), 0, st.clone());
    let a = drain(&mut c);
    assert!(a.contains(&Action::LinkStatus {
        node: "bravo".into(),
        link: "eth0".into(),
        up: true
    }));
    assert!(a.contains(&Action::NodeStatus {
        node: "bravo".into(),
        old: "init".into(),
        new: "up".into()
    }));
    let d = delivered(&a);
    let ifstat = &of_type(&d, "ifstat")[0];
    assert_eq!(names(ifstat), ["t", "node", "ifname", "st"]);
    assert_eq!(ifstat.get_str("st"), Some("up"));
    assert_eq!(of_type(&d, "status"), vec![st]);
    let v = c.node("bravo").expect("bravo");
    assert_eq!(v.links, vec![("eth0".to_string(), LinkState::Up)]);
    assert_eq!(v.uuid, Some(BRAVO));
    assert_eq!(v.generation, Some(BGEN));
    assert_eq!(c.uuid_of("bravo"), Some(BRAVO));
    assert_eq!(c.name_of_uuid(&BRAVO).as_deref(), Some("bravo"));
    assert_eq!(c.live_node_count(), 2);
    // an unchanged status is not delivered again
    c.on_message(at(1100), 0, bravo_status(2, "up"));
    assert!(delivered(&drain(&mut c)).is_empty());
}

#[test]
fn join_sends_reqnodes_and_comes_up_on_repnodes() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    c.on_message(at(100), 0, bravo_status(1, "active"));
    let out = sends(&drain(&mut c));
    let req = &of_type(&out, "reqnodes")[0];
    assert_eq!(
        names(req),
        ["t", "dest", "destuuid", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
    );
    assert_eq!(req.get_str("dest"), Some("bravo"));
    assert_eq!(req.get_bin("destuuid"), Some(&BRAVO[..]));
    assert!(!c.comm_up());
    // retried every keepalive
    c.tick(at(600));
    assert!(of_type(&sends(&drain(&mut c)), "reqnodes").is_empty());
    c.tick(at(1100));
    assert_eq!(of_type(&sends(&drain(&mut c)), "reqnodes").len(), 1);

    c.on_message(
        at(1200),
        0,
        bravo(
            "repnodes",
            &[
                ("dest", "alpha"),
                ("nodelist", "alpha bravo charlie "),
                ("delnodelist", " "),
            ],
            2,
        ),
    );
    let a = drain(&mut c);
    assert!(a.contains(&Action::CommUp));
    assert!(a.contains(&Action::NodeStatus {
        node: "alpha".into(),
        old: "up".into(),
        new: "active".into()
    }));
    let st = of_type(&sends(&a), "status");
    assert_eq!(st[0].get_str("st"), Some("active"));
    assert!(c.comm_up());
    // the node list was reconciled with the peer's
    let list: Vec<String> = c.nodes().into_iter().map(|v| v.name).collect();
    assert_eq!(list, ["alpha", "bravo", "charlie"]);
}

#[test]
fn repnodes_removes_unlisted_dead_nodes_but_not_alive_ones() {
    let mut cf = cfg();
    cf.nodes = vec!["alpha".into(), "bravo".into(), "delta".into()];
    let mut c = Core::new(cf, at(0));
    c.on_message(at(100), 0, bravo_status(1, "active"));
    c.on_message(at(11_000), 0, bravo_status(2, "active"));
    c.tick(at(12_300)); // delta declared dead by initdead → reqnodes to bravo
    assert_eq!(of_type(&sends(&drain(&mut c)), "reqnodes").len(), 1);
    assert_eq!(c.node("delta").map(|v| v.status), Some("dead".into()));
    c.on_message(
        at(12_400),
        0,
        bravo(
            "repnodes",
            &[
                ("dest", "alpha"),
                ("nodelist", "alpha "),
                ("delnodelist", "zulu "),
            ],
            3,
        ),
    );
    assert!(c.comm_up());
    assert!(c.node("delta").is_none());
    assert!(c.node("bravo").is_some(), "alive node must not be removed");
}

#[test]
fn answers_reqnodes_with_repnodes() {
    let (mut c, seq) = joined();
    c.on_message(at(2000), 0, bravo("reqnodes", &[("dest", "alpha")], seq));
    let out = sends(&drain(&mut c));
    let rep = &of_type(&out, "repnodes")[0];
    assert_eq!(
        names(rep),
        [
            "t",
            "dest",
            "nodelist",
            "delnodelist",
            "destuuid",
            "src",
            "srcuuid",
            "seq",
            "hg",
            "ts",
            "ld",
            "ttl"
        ]
    );
    assert_eq!(rep.get_str("dest"), Some("bravo"));
    assert_eq!(rep.get_str("nodelist"), Some("alpha bravo "));
    assert_eq!(rep.get_str("delnodelist"), Some(" "));
    // reqnodes for someone else is ignored
    c.on_message(
        at(2100),
        0,
        bravo("reqnodes", &[("dest", "charlie")], seq + 1),
    );
    assert!(of_type(&sends(&drain(&mut c)), "repnodes").is_empty());
}

#[test]
fn peer_without_protocol_means_no_reqnodes_and_no_acks() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    c.on_message(
        at(100),
        0,
        bravo("status", &[("st", "active"), ("dt", "2710")], 1),
    );
    let a = drain(&mut c);
    assert!(a.contains(&Action::CommUp));
    assert!(of_type(&sends(&a), "reqnodes").is_empty());
    for s in 2..30 {
        c.on_message(at(200), 0, bravo("resource", &[], s));
    }
    assert!(of_type(&sends(&drain(&mut c)), "NS_ackmsg").is_empty());
}

#[test]
fn alone_comm_up_only_after_initdead() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    c.tick(at(11_900));
    assert!(!c.comm_up());
    let a = drain(&mut c);
    assert!(!a
        .iter()
        .any(|x| matches!(x, Action::NodeStatus { node, .. } if node == "bravo")));
    c.tick(at(12_300));
    let a = drain(&mut c);
    assert!(a.contains(&Action::NodeStatus {
        node: "bravo".into(),
        old: "init".into(),
        new: "dead".into()
    }));
    assert!(a.contains(&Action::CommUp));
    assert_eq!(c.live_node_count(), 1);
}

#[test]
fn idle_node_wakes_only_for_its_status_until_a_deadline_passes() {
    let (mut c, mut seq) = joined();
    drain(&mut c);
    let mut t = 1000;
    let mut wakes = Vec::new();
    // bravo talks every second, half a second out of phase with our own status.
    for _ in 0..30 {
        let wake = c.next_wakeup();
        if wake <= t + 500 {
            wakes.push(wake);
            c.tick(at(wake));
        }
        c.on_message(at(t + 500), 0, bravo_status(seq, "active"));
        seq += 1;
        drain(&mut c);
        t += 1000;
    }
    // Every wake-up sent a status; none was a dead check finding nothing to do.
    assert!(wakes.windows(2).all(|w| w[1] == w[0] + 1000), "{wakes:?}");
    assert_eq!(wakes.len(), 30);
    // bravo falls silent after its status at t - 500: dead exactly when more than its
    // dt (10 s) has passed, not at some later poll.
    let last_heard = t - 500;
    let deadline = last_heard + 10_001;
    while c.next_wakeup() < deadline {
        let wake = c.next_wakeup();
        c.tick(at(wake));
        let a = drain(&mut c);
        assert!(
            !a.iter().any(|a| matches!(a, Action::NodeStatus { .. })),
            "bravo declared dead at {wake}, before {deadline}"
        );
    }
    assert_eq!(c.next_wakeup(), deadline);
    c.tick(at(deadline));
    assert!(drain(&mut c).contains(&Action::NodeStatus {
        node: "bravo".into(),
        old: "active".into(),
        new: "dead".into()
    }));
}

#[test]
fn dead_detection_uses_peer_dt_and_synthesizes_dead_status() {
    let (mut c, seq) = joined();
    // bravo advertises 3 s
    c.on_message(
        at(1000),
        0,
        bravo(
            "status",
            &[("st", "active"), ("dt", "bb8"), ("protocol", "1")],
            seq,
        ),
    );
    drain(&mut c);
    c.tick(at(3900));
    assert!(drain(&mut c)
        .iter()
        .all(|a| !matches!(a, Action::NodeStatus { .. })));
    // dead once more than 3 s have passed since 1000 ms: the deadline is 4001 ms
    assert!(c.next_wakeup() <= 4001, "{}", c.next_wakeup());
    c.tick(at(4000));
    assert!(drain(&mut c)
        .iter()
        .all(|a| !matches!(a, Action::NodeStatus { .. })));
    c.tick(at(4001));
    let a = drain(&mut c);
    assert!(a.contains(&Action::NodeStatus {
        node: "bravo".into(),
        old: "active".into(),
        new: "dead".into()
    }));
    assert!(a.contains(&Action::LinkStatus {
        node: "bravo".into(),
        link: "eth0".into(),
        up: false
    }));
    let d = delivered(&a);
    let dead = &of_type(&d, "status")[0];
    assert_eq!(names(dead), ["t", "seq", "ts", "src", "st"]);
    assert_eq!(dead.get_str("seq"), Some("1"));
    assert_eq!(dead.get_str("src"), Some("bravo"));
    assert_eq!(dead.get_str("st"), Some("dead"));
    assert_eq!(dead.get_hex("ts"), Some(T0 + 4));
    assert_eq!(of_type(&d, "ifstat")[0].get_str("st"), Some("dead"));
    assert_eq!(c.live_node_count(), 1);
}

#[test]
fn initdead_applies_before_comm_up() {
    let mut c = Core::new(cfg(), at(0));
    c.on_message(at(100), 0, bravo_status(1, "up"));
    drain(&mut c);
    // deadtime (10 s) has passed but comm is not up: initdead (12 s) applies
    c.tick(at(10_500));
    assert_eq!(c.node("bravo").map(|v| v.status), Some("up".into()));
    c.tick(at(12_200));
    assert_eq!(c.node("bravo").map(|v| v.status), Some("dead".into()));
}

#[test]
fn late_heartbeat_beyond_deadtime_marks_dead_at_once() {
    let (mut c, seq) = joined();
    // no tick for 11 s, then a status arrives: dead, then alive again
    c.on_message(at(11_200), 0, bravo_status(seq, "active"));
    let a = drain(&mut c);
    let changes: Vec<&Action> = a
        .iter()
        .filter(|x| matches!(x, Action::NodeStatus { .. }))
        .collect();
    assert_eq!(
        changes,
        [
            &Action::NodeStatus {
                node: "bravo".into(),
                old: "active".into(),
                new: "dead".into()
            },
            &Action::NodeStatus {
                node: "bravo".into(),
                old: "dead".into(),
                new: "active".into()
            },
        ]
    );
}

#[test]
fn gap_schedules_rexmit_with_exact_fields_and_repeats() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("resource", &[], seq + 1));
    let a = drain(&mut c);
    assert!(sends(&a).is_empty(), "request must wait a random delay");
    assert_eq!(c.stats().gaps, 1);
    let (wake, out) = loop {
        let wake = c.next_wakeup();
        assert!(wake <= 1250, "no NS_rexmit by {wake}");
        c.tick(at(wake));
        let out = sends(&drain(&mut c));
        if !of_type(&out, "NS_rexmit").is_empty() {
            break (wake, out);
        }
    };
    assert!((1050..=1250).contains(&wake), "request at {wake}");
    let rx = &of_type(&out, "NS_rexmit")[0];
    assert_eq!(
        names(rx),
        ["t", "dest", "firstseq", "lastseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
    );
    assert_eq!(rx.get_str("dest"), Some("bravo"));
    // decimal, not hex
    assert_eq!(rx.get_str("firstseq"), Some(seq.to_string().as_str()));
    assert_eq!(rx.get_str("lastseq"), Some(seq.to_string().as_str()));
    // repeated every max_rexmit_delay until filled
    c.tick(at(wake + 250));
    assert_eq!(of_type(&sends(&drain(&mut c)), "NS_rexmit").len(), 1);
    c.on_message(at(wake + 300), 0, bravo("resource", &[], seq));
    let d = delivered(&drain(&mut c));
    assert_eq!(
        of_type(&d, "resource").len(),
        1,
        "out-of-order fill is accepted"
    );
    assert_eq!(c.stats().missing_total, 0);
    c.tick(at(wake + 600));
    assert!(of_type(&sends(&drain(&mut c)), "NS_rexmit").is_empty());
}

#[test]
fn wide_gap_resyncs_without_requests() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("resource", &[], seq + 300));
    drain(&mut c);
    assert_eq!(c.stats().resyncs, 1);
    assert_eq!(c.stats().missing_total, 0);
    c.on_message(at(1000), 0, bravo("resource", &[], seq + 301));
    assert_eq!(of_type(&delivered(&drain(&mut c)), "resource").len(), 1);
}

#[test]
fn duplicates_dropped_but_refresh_link() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("resource", &[], seq));
    assert_eq!(delivered(&drain(&mut c)).len(), 1);
    c.on_message(at(1000), 0, bravo("resource", &[], seq));
    assert!(delivered(&drain(&mut c)).is_empty());
    assert_eq!(c.stats().duplicates_dropped, 1);
}

#[test]
fn message_for_other_node_is_sequenced_but_not_delivered() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("resource", &[("dest", "charlie")], seq));
    assert!(delivered(&drain(&mut c)).is_empty());
    c.on_message(at(1000), 0, bravo("resource", &[], seq + 1));
    assert_eq!(delivered(&drain(&mut c)).len(), 1);
    assert_eq!(c.stats().gaps, 0);
}

#[test]
fn lower_generation_is_a_replay() {
    let (mut c, seq) = joined();
    let old = from_peer("bravo", BRAVO, "resource", &[], Some(seq), BGEN - 1);
    c.on_message(at(1000), 0, old);
    assert!(delivered(&drain(&mut c)).is_empty());
    assert_eq!(c.stats().replays_dropped, 1);
    // the sequence slot was not consumed
    c.on_message(at(1000), 0, bravo("resource", &[], seq));
    assert_eq!(delivered(&drain(&mut c)).len(), 1);
}

#[test]
fn a_node_coming_up_gets_our_status_at_once() {
    let (mut c, _) = joined();
    // Restarted bravo (status init, then up): each change is answered at once, not
    // at our next keepalive; its later active status and repeats are not.
    for (seq, st, answered) in [
        (1, "init", true),
        (2, "up", true),
        (3, "active", false),
        (4, "active", false),
    ] {
        let m = from_peer(
            "bravo",
            BRAVO,
            "status",
            &[("st", st), ("dt", "2ee0"), ("protocol", "1")],
            Some(seq),
            BGEN + 1,
        );
        c.on_message(at(1000 + seq), 0, m);
        let sent = sends(&drain(&mut c));
        assert_eq!(
            of_type(&sent, "status").len(),
            usize::from(answered),
            "after bravo's {st}"
        );
    }
}

#[test]
fn higher_generation_status_is_a_restart() {
    let (mut c, _) = joined();
    let st = from_peer(
        "bravo",
        BRAVO,
        "status",
        &[("st", "init"), ("dt", "2ee0"), ("protocol", "1")],
        Some(1),
        BGEN + 1,
    );
    c.on_message(at(1000), 0, st);
    let a = drain(&mut c);
    assert!(a.contains(&Action::NodeRestarted {
        node: "bravo".into()
    }));
    assert!(a.contains(&Action::NodeStatus {
        node: "bravo".into(),
        old: "active".into(),
        new: "init".into()
    }));
    assert_eq!(c.node("bravo").and_then(|v| v.generation), Some(BGEN + 1));
    // seq 1 was accepted (tracking reset), so seq 2 is in order
    let next = from_peer("bravo", BRAVO, "resource", &[], Some(2), BGEN + 1);
    c.on_message(at(1000), 0, next);
    assert_eq!(delivered(&drain(&mut c)).len(), 1);
    assert_eq!(c.stats().gaps, 0);
}

#[test]
fn rexmit_request_resends_identical_message_with_holdoff() {
    let (mut c, _) = joined();
    let mut m = Msg::with_type("crmd");
    m.add_str("payload", "x");
    c.send_cluster(at(1000), m).expect("send");
    let original = sends(&drain(&mut c)).remove(0);
    let seq = original.get_hex("seq").expect("seq");
    let req = |s: u64| {
        from_peer(
            "bravo",
            BRAVO,
            "NS_rexmit",
            &[
                ("dest", "alpha"),
                ("firstseq", &s.to_string()),
                ("lastseq", &s.to_string()),
            ],
            None,
            BGEN,
        )
    };
    c.on_message(at(1100), 0, req(seq));
    assert_eq!(sends(&drain(&mut c)), vec![original.clone()]);
    // asked again within max_rexmit_delay - 10 ms: ignored
    c.on_message(at(1200), 0, req(seq));
    assert!(sends(&drain(&mut c)).is_empty());
    c.on_message(at(1400), 0, req(seq));
    assert_eq!(sends(&drain(&mut c)), vec![original]);
    assert_eq!(c.stats().rexmits_answered, 2);
    // for someone else: ignored
    let mut other = req(seq);
    other.set_str("dest", "charlie");
    c.on_message(at(2000), 0, other);
    assert!(sends(&drain(&mut c)).is_empty());
}

#[test]
fn rexmit_of_acked_or_freed_seq() {
    let (mut c, _) = joined();
    // bravo acks everything so far: history is freed
    let last = c.stats().msgs_out; // upper bound of our seqs
    let ack = from_peer(
        "bravo",
        BRAVO,
        "NS_ackmsg",
        &[("dest", "alpha"), ("ackseq", &format!("{last:x}"))],
        None,
        BGEN,
    );
    c.on_message(at(1000), 0, ack);
    assert_eq!(c.stats().history_len, 0);
    // a request for an acked seq from bravo is skipped silently
    let r = from_peer(
        "bravo",
        BRAVO,
        "NS_rexmit",
        &[("dest", "alpha"), ("firstseq", "1"), ("lastseq", "1")],
        None,
        BGEN,
    );
    c.on_message(at(1100), 0, r);
    assert!(sends(&drain(&mut c)).is_empty());
}

#[test]
fn rexmit_too_low_gets_nak_and_batch_is_bounded() {
    let mut cf = cfg();
    cf.nodes = vec!["alpha".into(), "bravo".into(), "charlie".into()];
    cf.autojoin = AutoJoin::None;
    let mut c = Core::new(cf, at(0));
    // 600 own messages: history keeps the last 500
    c.tick(at(12_300));
    drain(&mut c);
    assert!(c.comm_up());
    for i in 0..600 {
        let _ = c.send_cluster(at(13_000 + i), Msg::with_type("crmd"));
    }
    drain(&mut c);
    assert_eq!(c.stats().history_len, MAX_HISTORY as u64);
    let charlie = [0xcc; 16];
    let r = from_peer(
        "charlie",
        charlie,
        "NS_rexmit",
        &[("dest", "alpha"), ("firstseq", "5"), ("lastseq", "5")],
        None,
        9,
    );
    c.on_message(at(20_000), 0, r);
    let out = sends(&drain(&mut c));
    assert_eq!(out.len(), 1);
    let nak = &out[0];
    assert_eq!(
        names(nak),
        ["t", "firstseq", "dest", "info", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
    );
    assert_eq!(nak.get_str("firstseq"), Some("5"));
    assert_eq!(nak.get_str("info"), Some("seqno too low"));
    let r = from_peer(
        "charlie",
        charlie,
        "NS_rexmit",
        &[("dest", "alpha"), ("firstseq", "200"), ("lastseq", "400")],
        None,
        9,
    );
    c.on_message(at(21_000), 0, r);
    assert_eq!(sends(&drain(&mut c)).len(), MAX_REXMIT_BATCH);
}

#[test]
fn nak_gives_up_on_the_missing_seq() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("resource", &[], seq + 1));
    drain(&mut c);
    assert_eq!(c.stats().missing_total, 1);
    let nak = from_peer(
        "bravo",
        BRAVO,
        "NS_nak_rexmit",
        &[
            ("firstseq", &format!("{seq:x}")),
            ("dest", "alpha"),
            ("info", "seqno too low"),
        ],
        None,
        BGEN,
    );
    c.on_message(at(1010), 0, nak);
    drain(&mut c);
    assert_eq!(c.stats().missing_total, 0);
    assert_eq!(c.stats().naks_received, 1);
    c.tick(at(2000));
    assert!(of_type(&sends(&drain(&mut c)), "NS_rexmit").is_empty());
}

#[test]
fn acks_every_tenth_message_with_hex_ackseq() {
    let (mut c, seq) = joined();
    let mut acks = Vec::new();
    for s in seq..seq + 40 {
        c.on_message(at(1000), 0, bravo("resource", &[], s));
        for m in of_type(&sends(&drain(&mut c)), "NS_ackmsg") {
            assert_eq!(
                names(&m),
                ["t", "dest", "ackseq", "destuuid", "src", "srcuuid", "hg", "ts", "ttl"]
            );
            assert_eq!(m.get_str("dest"), Some("bravo"));
            assert_eq!(m.get_str("ackseq"), Some(format!("{s:x}").as_str()));
            acks.push(s);
        }
    }
    assert_eq!(acks.len(), 4, "acks at {acks:?}");
    assert!(acks.windows(2).all(|w| w[1] - w[0] == ACK_MSG_DIV));
}

#[test]
fn acks_own_loopback_messages_without_redelivering() {
    let mut c = Core::new(cfg(), at(0));
    let mut own = sends(&drain(&mut c));
    for t in 1..30 {
        c.tick(at(t * 1000));
        own.extend(sends(&drain(&mut c)));
    }
    let mut acks = Vec::new();
    for m in own.into_iter().filter(|m| m.msg_type() == Some("status")) {
        c.on_message(at(31_000), 0, m);
        let a = drain(&mut c);
        assert!(
            delivered(&a).is_empty(),
            "own messages are not delivered again"
        );
        acks.extend(of_type(&sends(&a), "NS_ackmsg"));
    }
    assert!(acks.len() >= 2);
    assert!(acks
        .iter()
        .all(|m| m.get_str("dest") == Some("alpha") && m.get_bin("destuuid") == Some(&ALPHA[..])));
}

#[test]
fn flow_control_pauses_and_resumes_clients() {
    let (mut c, _) = joined();
    let ack = |s: u64| {
        from_peer(
            "bravo",
            BRAVO,
            "NS_ackmsg",
            &[("dest", "alpha"), ("ackseq", &format!("{s:x}"))],
            None,
            BGEN,
        )
    };
    c.on_message(at(1000), 0, ack(1));
    drain(&mut c);
    let mut sent = 0;
    let err = loop {
        match c.send_cluster(at(1100), Msg::with_type("crmd")) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 1000, "never paused");
    };
    assert!(matches!(err, CoreError::Paused { .. }), "{err}");
    assert!(drain(&mut c).contains(&Action::ClientsPaused(true)));
    assert!(c.clients_paused());
    let last = c.stats().msgs_out; // ≥ last seq
    c.on_message(at(1200), 0, ack(last));
    assert!(drain(&mut c).contains(&Action::ClientsPaused(false)));
    assert!(c.send_cluster(at(1300), Msg::with_type("crmd")).is_ok());
}

#[test]
fn send_cluster_rules() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    assert_eq!(
        c.send_cluster(at(10), Msg::with_type("crmd")),
        Err(CoreError::CommNotUp {
            msg_type: "crmd".into()
        })
    );
    assert_eq!(
        c.send_cluster(at(10), Msg::new()),
        Err(CoreError::MissingType)
    );
    let (mut c, _) = joined();
    let mut m = Msg::with_type("crmd");
    m.add_str("dest", "bravo").add_str("from_id", "crmd");
    c.send_cluster(at(1000), m).expect("send");
    let a = drain(&mut c);
    let s = &sends(&a)[0];
    assert_eq!(
        names(s),
        ["t", "dest", "from_id", "destuuid", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
    );
    assert!(delivered(&a).is_empty(), "not for us");
    c.send_cluster(at(1000), Msg::with_type("crmd"))
        .expect("send");
    assert_eq!(
        delivered(&drain(&mut c)).len(),
        1,
        "broadcast is delivered locally once"
    );
}

#[test]
fn peer_shutdone_is_dead_at_once_and_trailing_status_ignored() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("shutdone", &[("st", "dead")], seq));
    let a = drain(&mut c);
    assert!(a.contains(&Action::ShutdownNotice {
        node: "bravo".into()
    }));
    assert!(a.contains(&Action::NodeStatus {
        node: "bravo".into(),
        old: "active".into(),
        new: "dead".into()
    }));
    assert_eq!(of_type(&delivered(&a), "shutdone").len(), 1);
    c.on_message(at(1500), 0, bravo_status(seq + 1, "active"));
    drain(&mut c);
    assert_eq!(c.node("bravo").map(|v| v.status), Some("dead".into()));
}

#[test]
fn local_shutdown() {
    let (mut c, _) = joined();
    c.shutdown(at(2000));
    let a = drain(&mut c);
    let s = sends(&a);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].msg_type(), Some("shutdone"));
    assert_eq!(s[0].get_str("st"), Some("dead"));
    assert!(a.contains(&Action::NodeStatus {
        node: "alpha".into(),
        old: "active".into(),
        new: "dead".into()
    }));
    c.tick(at(3000));
    assert!(of_type(&sends(&drain(&mut c)), "status").is_empty());
    assert!(matches!(
        c.send_cluster(at(3000), Msg::with_type("crmd")),
        Err(CoreError::ShuttingDown { .. })
    ));
}

#[test]
fn autojoin_none_drops_unknown_other_adds() {
    let mut c = Core::new(cfg(), at(0));
    let charlie = from_peer("charlie", [0xcc; 16], "status", &[("st", "up")], Some(1), 1);
    c.on_message(at(10), 0, charlie.clone());
    assert!(c.node("charlie").is_none());
    assert_eq!(c.stats().unknown_nodes_dropped, 1);
    let mut cf = cfg();
    cf.autojoin = AutoJoin::Other;
    let mut c = Core::new(cf, at(0));
    c.on_message(at(10), 0, charlie);
    assert_eq!(c.node("charlie").map(|v| v.status), Some("up".into()));
}

#[test]
fn uuid_rename_and_change() {
    let (mut c, seq) = joined();
    // same uuid, new name: renamed
    let renamed = from_peer("bravo2", BRAVO, "resource", &[], Some(seq), BGEN);
    c.on_message(at(1000), 0, renamed);
    assert!(c.node("bravo").is_none());
    assert_eq!(c.name_of_uuid(&BRAVO).as_deref(), Some("bravo2"));
    // known name, new uuid: updated
    let changed = from_peer("bravo2", [0xee; 16], "resource", &[], Some(seq + 1), BGEN);
    c.on_message(at(1000), 0, changed);
    assert_eq!(c.uuid_of("bravo2"), Some([0xee; 16]));
}

#[test]
fn ping_node_up_and_dead_after_deadping() {
    let mut cf = cfg();
    cf.ping_nodes = vec!["10.251.0.2".into()];
    // the daemon appends one link per ping node after the heartbeat media
    cf.links.push("10.251.0.2".into());
    cf.deadping = Duration::from_secs(5);
    let mut c = Core::new(cf, at(0));
    drain(&mut c);
    let mut p = Msg::with_type("NS_st");
    p.add_str("st", "ping")
        .add_str("info", "ping")
        .add_str("src", "10.251.0.2")
        .add_str("ts", format!("{T0:x}"));
    c.on_message(at(100), 1, p.clone());
    let a = drain(&mut c);
    assert!(a.contains(&Action::NodeStatus {
        node: "10.251.0.2".into(),
        old: "init".into(),
        new: "ping".into()
    }));
    assert!(a.contains(&Action::LinkStatus {
        node: "10.251.0.2".into(),
        link: "10.251.0.2".into(),
        up: true
    }));
    let v = c.node("10.251.0.2").expect("ping node");
    assert_eq!(v.node_type, NodeType::Ping);
    assert_eq!(v.links, vec![("10.251.0.2".to_string(), LinkState::Up)]);
    let b = c.node("bravo").expect("bravo");
    assert_eq!(
        b.links,
        vec![("eth0".to_string(), LinkState::Dead)],
        "no ping link on normal nodes"
    );
    // bravo is alive and joins so that deadping (not initdead) applies
    c.on_message(
        at(200),
        0,
        bravo("status", &[("st", "active"), ("dt", "2710")], 1),
    );
    drain(&mut c);
    assert!(c.comm_up());
    for t in 1..=6 {
        c.on_message(
            at(200 + t * 1000),
            0,
            bravo("status", &[("st", "active"), ("dt", "2710")], 1 + t),
        );
        c.tick(at(200 + t * 1000));
    }
    let a = drain(&mut c);
    let dead = of_type(&delivered(&a), "status")
        .into_iter()
        .find(|m| m.get_str("src") == Some("10.251.0.2"))
        .expect("synthetic dead status for the ping node");
    assert_eq!(dead.get_str("st"), Some("dead"));
    assert_eq!(dead.get_str("info"), Some("ping"));
}

#[test]
fn malformed_messages_are_dropped_without_panic() {
    let mut c = Core::new(cfg(), at(0));
    drain(&mut c);
    let mut no_ts = Msg::with_type("status");
    no_ts.add_str("src", "bravo");
    c.on_message(at(1), 0, no_ts);
    let mut zero_ts = bravo_status(1, "up");
    zero_ts.set_str("ts", "0");
    c.on_message(at(1), 0, zero_ts);
    let mut no_seq = bravo_status(1, "up");
    no_seq.remove("seq");
    c.on_message(at(1), 0, no_seq);
    let mut bad_uuid = bravo_status(1, "up");
    bad_uuid.set("srcuuid", Value::Bin(vec![1, 2, 3]));
    c.on_message(at(1), 99, bad_uuid); // unknown link id too
    assert_eq!(c.stats().malformed_dropped, 3);
    let bad_rexmit = from_peer(
        "bravo",
        BRAVO,
        "NS_rexmit",
        &[("dest", "alpha"), ("firstseq", "x")],
        None,
        BGEN,
    );
    c.on_message(at(2), 0, bad_rexmit);
    assert_eq!(c.stats().malformed_dropped, 4);
}

#[test]
fn setweight_and_setsite_update_the_node_table() {
    let (mut c, seq) = joined();
    c.on_message(
        at(1000),
        0,
        bravo("setweight", &[("node", "bravo"), ("weight", "250")], seq),
    );
    c.on_message(
        at(1000),
        0,
        bravo("setsite", &[("node", "alpha"), ("site", "dc2")], seq + 1),
    );
    assert_eq!(c.node("bravo").map(|v| v.weight), Some(250));
    assert_eq!(c.node("alpha").map(|v| v.site), Some("dc2".to_string()));
    assert_eq!(c.node("alpha").map(|v| v.weight), Some(100));
}

#[test]
fn clstat_is_held_back_until_the_gap_is_filled() {
    let (mut c, seq) = joined();
    // seq is lost; a client join notice overtakes it
    c.on_message(
        at(1000),
        0,
        bravo(
            "hbapi-clstat",
            &[("st", "join"), ("from_id", "crmd")],
            seq + 1,
        ),
    );
    assert!(delivered(&drain(&mut c)).is_empty());
    c.on_message(at(1100), 0, bravo("crmd", &[], seq));
    let d = delivered(&drain(&mut c));
    let types: Vec<_> = d.iter().filter_map(|m| m.msg_type()).collect();
    assert_eq!(types, ["crmd", "hbapi-clstat"]);
}

#[test]
fn returning_after_partition_versus_restart() {
    let (mut c, seq) = joined();
    c.tick(at(10_500)); // bravo (dt 10 s, last status at 100 ms) is dead
    drain(&mut c);
    assert_eq!(c.node("bravo").map(|v| v.status), Some("dead".into()));
    c.on_message(at(11_000), 0, bravo_status(seq + 20, "active"));
    assert_eq!(c.stats().returns_after_partition, 1);
    assert_eq!(c.node("bravo").map(|v| v.status), Some("active".into()));
    c.tick(at(22_000));
    drain(&mut c);
    let st = from_peer(
        "bravo",
        BRAVO,
        "status",
        &[("st", "init")],
        Some(1),
        BGEN + 1,
    );
    c.on_message(at(22_100), 0, st);
    assert!(drain(&mut c).contains(&Action::NodeRestarted {
        node: "bravo".into()
    }));
    assert_eq!(
        c.stats().returns_after_partition,
        1,
        "a restart is not a partition"
    );
}

#[test]
fn dead_node_replaced_by_new_install_is_a_restart_not_a_partition() {
    // Seen live: our bravo killed, then a Debian bravo started with a fresh state dir
    // (new uuid, higher generation) in its place.
    let (mut c, _) = joined();
    c.tick(at(10_500));
    drain(&mut c);
    assert_eq!(c.node("bravo").map(|v| v.status), Some("dead".into()));
    let new_uuid = [7u8; 16];
    for (seq, st) in [(1, "init"), (2, "up"), (3, "up")] {
        let m = from_peer(
            "bravo",
            new_uuid,
            "status",
            &[("st", st), ("dt", "2710"), ("protocol", "1")],
            Some(seq),
            BGEN + 16,
        );
        c.on_message(at(11_000 + seq), 0, m);
    }
    let actions = drain(&mut c);
    assert!(actions.contains(&Action::NodeRestarted {
        node: "bravo".into()
    }));
    assert_eq!(c.stats().returns_after_partition, 0);
    assert_eq!(c.node("bravo").map(|v| v.status), Some("up".into()));
}

#[test]
fn settled_only_while_every_node_is_active_with_its_links_up() {
    let c = Core::new(cfg(), at(0));
    assert!(!c.settled(), "comm is not up yet");
    let (mut c, seq) = joined();
    assert!(c.settled(), "{:?}", c.nodes());
    // A status processed late but stamped with its arrival keeps it settled, and
    // liveness follows the stamp, not the processing time.
    c.on_message(at(900), 0, bravo_status(seq, "active"));
    c.tick(at(1_800));
    drain(&mut c);
    assert!(c.settled());
    c.tick(at(10_850));
    drain(&mut c);
    assert_eq!(
        c.node("bravo").unwrap().status,
        "active",
        "9.95 s after its last status"
    );
    c.tick(at(10_950));
    drain(&mut c);
    assert_eq!(c.node("bravo").unwrap().status, "dead");
    assert!(!c.settled(), "a dead node makes every status news");
}

fn node_table_changed(actions: &[Action]) -> bool {
    actions.contains(&Action::NodeTable)
}

fn repnodes_lists(c: &mut Core, now: Now, seq: u64) -> (String, String) {
    c.on_message(now, 0, bravo("reqnodes", &[("dest", "alpha")], seq));
    let out = sends(&drain(c));
    let rep = &of_type(&out, "repnodes")[0];
    (
        rep.get_str("nodelist").unwrap_or_default().to_string(),
        rep.get_str("delnodelist").unwrap_or_default().to_string(),
    )
}

/// joined(), then bravo adds `nodes`, which never start: they are dead after 10.5 s
/// while bravo keeps talking. Returns bravo's next seq.
fn with_dead_nodes(c: &mut Core, seq: u64, nodes: &str) -> u64 {
    c.on_message(at(1000), 0, bravo("addnode", &[("nodelist", nodes)], seq));
    c.on_message(at(9000), 0, bravo_status(seq + 1, "active"));
    c.tick(at(10_500));
    drain(c);
    for n in nodes.split_whitespace() {
        assert_eq!(c.node(n).map(|v| v.status), Some("dead".into()), "{n}");
    }
    assert_eq!(c.node("bravo").map(|v| v.status), Some("active".into()));
    seq + 2
}

#[test]
fn addnode_adds_normal_nodes_and_repnodes_lists_them() {
    let (mut c, seq) = joined();
    c.on_message(
        at(1000),
        0,
        bravo("addnode", &[("nodelist", "Charlie delta ")], seq),
    );
    let a = drain(&mut c);
    assert!(node_table_changed(&a));
    assert_eq!(of_type(&delivered(&a), "addnode").len(), 1);
    let charlie = c.node("charlie").expect("charlie added");
    assert_eq!(charlie.node_type, NodeType::Normal);
    assert_eq!(charlie.status, "init");
    assert!(c.node("delta").is_some());
    let (list, del) = repnodes_lists(&mut c, at(1100), seq + 1);
    assert_eq!(list, "alpha bravo charlie delta ");
    assert_eq!(del, " ");
    // Our own request (the FIFO) is applied once, here: its loopback is only acked.
    let mut m = Msg::with_type("addnode");
    m.add_str("nodelist", "echo");
    c.send_cluster(at(1200), m).unwrap();
    let a = drain(&mut c);
    assert!(node_table_changed(&a));
    assert!(c.node("echo").is_some());
    let own = of_type(&sends(&a), "addnode")[0].clone();
    c.on_message(at(1201), 0, own);
    assert!(!node_table_changed(&drain(&mut c)));
    assert_eq!(c.nodes().len(), 5);
}

#[test]
fn addnode_of_existing_node_or_without_names_changes_nothing() {
    let (mut c, seq) = joined();
    c.on_message(
        at(1000),
        0,
        bravo("addnode", &[("nodelist", "BRAVO alpha")], seq),
    );
    c.on_message(at(1000), 0, bravo("addnode", &[("nodelist", " ")], seq + 1));
    c.on_message(at(1000), 0, bravo("addnode", &[], seq + 2));
    c.on_message(at(1000), 0, bravo("delnode", &[], seq + 3));
    assert!(!node_table_changed(&drain(&mut c)));
    let names: Vec<String> = c.nodes().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["alpha", "bravo"]);
}

#[test]
fn delnode_removes_a_dead_node_and_lists_it_as_deleted() {
    let (mut c, seq) = joined();
    let seq = with_dead_nodes(&mut c, seq, "charlie");
    c.on_message(
        at(10_600),
        0,
        bravo("delnode", &[("nodelist", "charlie")], seq),
    );
    let a = drain(&mut c);
    assert!(node_table_changed(&a));
    assert!(c.node("charlie").is_none());
    assert_eq!(c.host_cache().deleted, ["charlie"]);
    let (list, del) = repnodes_lists(&mut c, at(10_700), seq + 1);
    assert_eq!(list, "alpha bravo ");
    assert_eq!(del, "charlie ");
    // Adding it again takes it off the deleted list.
    c.on_message(
        at(10_800),
        0,
        bravo("addnode", &[("nodelist", "charlie")], seq + 2),
    );
    assert!(c.node("charlie").is_some());
    assert!(c.host_cache().deleted.is_empty());
}

#[test]
fn delnode_of_an_alive_node_changes_nothing() {
    let (mut c, seq) = joined();
    c.on_message(at(1000), 0, bravo("delnode", &[("nodelist", "bravo")], seq));
    assert!(!node_table_changed(&drain(&mut c)));
    assert_eq!(c.node("bravo").map(|v| v.status), Some("active".into()));
    assert!(c.host_cache().deleted.is_empty());
}

#[test]
fn delnode_while_another_node_is_dead_changes_nothing() {
    let (mut c, seq) = joined();
    let seq = with_dead_nodes(&mut c, seq, "charlie delta");
    c.on_message(
        at(10_600),
        0,
        bravo("delnode", &[("nodelist", "charlie")], seq),
    );
    assert!(!node_table_changed(&drain(&mut c)));
    assert!(c.node("charlie").is_some());
    assert!(c.host_cache().deleted.is_empty());
    // Both at once is fine: every node left is alive.
    c.on_message(
        at(10_700),
        0,
        bravo("delnode", &[("nodelist", "charlie delta")], seq + 1),
    );
    assert!(node_table_changed(&drain(&mut c)));
    assert_eq!(c.nodes().len(), 2);
    assert_eq!(c.host_cache().deleted, ["charlie", "delta"]);
}

#[test]
fn deleting_ourselves_changes_nothing() {
    let (mut c, seq) = joined();
    let seq = with_dead_nodes(&mut c, seq, "charlie");
    c.on_message(
        at(10_600),
        0,
        bravo("delnode", &[("nodelist", "charlie alpha")], seq),
    );
    assert!(!node_table_changed(&drain(&mut c)));
    assert!(c.node("charlie").is_some());
    assert_eq!(c.node("alpha").map(|v| v.status), Some("active".into()));
    assert!(c.host_cache().deleted.is_empty());
    // No shutdown either: we keep sending status.
    c.tick(at(12_000));
    let out = sends(&drain(&mut c));
    assert_eq!(of_type(&out, "status").len(), 1);
    assert!(of_type(&out, "shutdone").is_empty());
}

#[test]
fn autojoin_does_not_bring_back_a_deleted_node() {
    let mut cf = cfg();
    cf.autojoin = AutoJoin::Other;
    let mut c = Core::new(cf, at(0));
    c.restore_host_cache(&HostCache {
        nodes: Vec::new(),
        deleted: vec!["charlie".into()],
    });
    drain(&mut c);
    let charlie = from_peer("charlie", [0xcc; 16], "status", &[("st", "up")], Some(1), 1);
    c.on_message(at(10), 0, charlie);
    assert!(c.node("charlie").is_none());
    assert_eq!(c.stats().unknown_nodes_dropped, 1);
    assert!(!node_table_changed(&drain(&mut c)));
    let dave = from_peer("dave", [0xdd; 16], "status", &[("st", "up")], Some(1), 1);
    c.on_message(at(20), 0, dave);
    assert!(node_table_changed(&drain(&mut c)));
    assert_eq!(c.uuid_of("dave"), Some([0xdd; 16]));
}

#[test]
fn host_cache_round_trip_and_node_table_actions() {
    let (mut c, seq) = joined();
    c.on_message(
        at(1000),
        0,
        bravo("setweight", &[("node", "bravo"), ("weight", "250")], seq),
    );
    assert!(node_table_changed(&drain(&mut c)));
    // The same weight again is no change.
    c.on_message(
        at(1000),
        0,
        bravo(
            "setweight",
            &[("node", "bravo"), ("weight", "250")],
            seq + 1,
        ),
    );
    assert!(!node_table_changed(&drain(&mut c)));
    c.on_message(
        at(1000),
        0,
        bravo("setsite", &[("node", "alpha"), ("site", "dc2")], seq + 2),
    );
    assert!(node_table_changed(&drain(&mut c)));
    let seq = with_dead_nodes(&mut c, seq + 3, "charlie delta");
    c.on_message(
        at(10_600),
        0,
        bravo("delnode", &[("nodelist", "charlie delta")], seq),
    );
    c.on_message(
        at(10_600),
        0,
        bravo("addnode", &[("nodelist", "delta")], seq + 1),
    );
    drain(&mut c);
    let cache = c.host_cache();
    assert_eq!(
        cache.nodes,
        [
            CachedNode {
                name: "alpha".into(),
                uuid: Some(ALPHA),
                weight: 100,
                site: "dc2".into()
            },
            CachedNode {
                name: "bravo".into(),
                uuid: Some(BRAVO),
                weight: 250,
                site: String::new()
            },
            CachedNode {
                name: "delta".into(),
                uuid: None,
                weight: 100,
                site: String::new()
            },
        ]
    );
    assert_eq!(cache.deleted, ["charlie"]);

    // A fresh start from ha.cf (alpha, bravo) plus the cache is the same table.
    let mut fresh = Core::new(cfg(), at(0));
    fresh.restore_host_cache(&cache);
    assert_eq!(fresh.host_cache(), cache);
    assert!(!node_table_changed(&drain(&mut fresh)));
    // Nothing in the cache may take our UUID or a name from the deleted list.
    let mut fresh = Core::new(cfg(), at(0));
    fresh.restore_host_cache(&HostCache {
        nodes: vec![
            CachedNode {
                name: "bravo".into(),
                uuid: Some(ALPHA),
                weight: 7,
                site: String::new(),
            },
            CachedNode {
                name: "charlie".into(),
                uuid: None,
                weight: 100,
                site: String::new(),
            },
        ],
        deleted: vec!["Charlie".into()],
    });
    assert_eq!(fresh.uuid_of("bravo"), None);
    assert_eq!(fresh.node("bravo").map(|v| v.weight), Some(7));
    assert!(fresh.node("charlie").is_none());
    assert_eq!(fresh.host_cache().deleted, ["charlie"]);
}
