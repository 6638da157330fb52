use super::*;

/// A three-node cluster seen from alpha: bravo active, a ping node, and a dead charlie.
pub(crate) struct FakeView {
    pub nodes: Vec<NodeInfo>,
    pub pacemaker: Option<String>,
    pub manages: bool,
    /// `rscgroups`; `None` plays a daemon without resource manager.
    pub groups: Option<Vec<crate::rscgroups::RscGroup>>,
}

impl FakeView {
    pub fn new() -> FakeView {
        let n = |name: &str, t: &str, st: &str| NodeInfo {
            name: name.into(),
            node_type: t.into(),
            status: st.into(),
        };
        FakeView {
            nodes: vec![
                n("alpha", "normal", "active"),
                n("bravo", "normal", "active"),
                n("10.251.0.2", "ping", "ping"),
                n("charlie", "normal", "dead"),
            ],
            pacemaker: Some("false".into()),
            manages: true,
            groups: Some(fake_groups()),
        }
    }
}

impl ClusterView for FakeView {
    fn local_node(&self) -> String {
        "alpha".into()
    }
    fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.clone()
    }
    fn links(&self, node: &str) -> Option<Vec<(String, String)>> {
        match node {
            "alpha" | "bravo" => Some(vec![
                ("eth0".into(), "up".into()),
                ("eth1".into(), "dead".into()),
            ]),
            "10.251.0.2" => Some(vec![("10.251.0.2".into(), "up".into())]),
            "charlie" => Some(vec![]),
            _ => None,
        }
    }
    fn node_weight(&self, node: &str) -> Option<u32> {
        (node == "bravo").then_some(100)
    }
    fn node_site(&self, node: &str) -> Option<String> {
        Some(if node == "bravo" {
            "west".into()
        } else {
            String::new()
        })
    }
    fn uuid_of(&self, node: &str) -> Option<[u8; 16]> {
        (node == "bravo").then_some([0xb0; 16])
    }
    fn name_of_uuid(&self, uuid: &[u8; 16]) -> Option<String> {
        (uuid == &[0xb0; 16]).then(|| "bravo".into())
    }
    fn param(&self, name: &str) -> Option<String> {
        match name {
            "deadtime" => Some("10".into()),
            "pacemaker" => self.pacemaker.clone(),
            _ => None,
        }
    }
    fn rsc_status(&self) -> String {
        "local".into()
    }
    fn deadtime_ms(&self) -> u64 {
        10_000
    }
    fn keepalive_ms(&self) -> u64 {
        1_000
    }
    fn manages_resources(&self) -> bool {
        self.manages
    }
    fn rsc_groups(&self) -> Option<Vec<crate::rscgroups::RscGroup>> {
        self.groups.clone()
    }
}

/// alpha's web group after one repaired monitor failure, and bravo's idle address.
pub(crate) fn fake_groups() -> Vec<crate::rscgroups::RscGroup> {
    vec![
        crate::rscgroups::RscGroup {
            key: "IPaddr::10.0.0.100/24/eth0".into(),
            resources: vec!["IPaddr::10.0.0.100/24/eth0".into(), "httpd".into()],
            preferred: "alpha".into(),
            holder: Some("alpha".into()),
            state: "running".into(),
            failures: 1,
            last_failure: Some("monitor of httpd failed (rc 7)".into()),
        },
        crate::rscgroups::RscGroup {
            key: "10.0.0.101".into(),
            resources: vec!["10.0.0.101".into()],
            preferred: "bravo".into(),
            holder: None,
            state: "stopped".into(),
            failures: 0,
            last_failure: None,
        },
    ]
}

pub(crate) fn default_auth() -> Vec<ApiAuth> {
    vec![
        ApiAuth {
            name: "anon".into(),
            uids: vec![0],
            gids: vec![60],
        },
        ApiAuth {
            name: "ccm".into(),
            uids: vec![102],
            gids: vec![],
        },
        ApiAuth {
            name: "default".into(),
            uids: vec![0, 1000],
            gids: vec![],
        },
    ]
}

fn signon_msg(pid: i32, from_id: &str, uid: u32, gid: u32) -> Msg {
    let mut m = Msg::with_type("hbapi-req");
    m.add_str("reqtype", "signon")
        .add_str("dest", "alpha")
        .add_str("pid", pid.to_string())
        .add_str("from_id", from_id)
        .add_str("uid", uid.to_string())
        .add_str("gid", gid.to_string());
    m
}

fn req(reqtype: &str, pid: i32, from_id: &str, extra: &[(&str, &str)]) -> Msg {
    let mut m = Msg::with_type("hbapi-req");
    m.add_str("reqtype", reqtype)
        .add_str("dest", "alpha")
        .add_str("pid", pid.to_string())
        .add_str("from_id", from_id);
    for (k, v) in extra {
        m.add_str(k, v);
    }
    m
}

fn names(m: &Msg) -> Vec<&str> {
    m.fields().iter().map(|f| f.name.as_str()).collect()
}

fn replies(out: &[ApiOutput]) -> Vec<&Msg> {
    out.iter()
        .filter_map(|o| match o {
            ApiOutput::Reply(_, m) => Some(m),
            _ => None,
        })
        .collect()
}

fn one_reply(out: &[ApiOutput]) -> &Msg {
    let r = replies(out);
    assert_eq!(r.len(), 1, "expected exactly one reply in {out:?}");
    r[0]
}

/// A server with a casual client (conn 1, pid 500) already signed on.
fn casual_server(view: &FakeView) -> ApiServer {
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    s.connect(
        1,
        PeerCred {
            pid: 500,
            uid: 0,
            gid: 0,
        },
    );
    let out = s.handle(1, signon_msg(500, "500", 0, 0), view);
    assert_eq!(one_reply(&out).get_str("result"), Some("OK"));
    s
}

#[test]
fn casual_signon_reply_fields_in_heartbeat_order() {
    let view = FakeView::new();
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    s.connect(
        7,
        PeerCred {
            pid: 25915,
            uid: 0,
            gid: 0,
        },
    );
    let out = s.handle(7, signon_msg(25915, "25915", 0, 0), &view);
    // Casual clients are not announced to the cluster.
    assert_eq!(out.len(), 1);
    let r = one_reply(&out);
    assert_eq!(
        names(r),
        [
            "t",
            "reqtype",
            "result",
            "deadtime",
            "keepalive",
            "node",
            "hbversion",
            "pacemaker",
            "logfacility"
        ]
    );
    assert_eq!(r.get_str("t"), Some("hbapi-resp"));
    assert_eq!(r.get_str("result"), Some("OK"));
    assert_eq!(r.get_str("deadtime"), Some("2710"));
    assert_eq!(r.get_str("keepalive"), Some("3e8"));
    assert_eq!(r.get_str("node"), Some("alpha"));
    assert!(r.get_str("hbversion").unwrap().starts_with("3.0.6 ("));
    assert_eq!(r.get_str("pacemaker"), Some("false"));
    assert_eq!(r.get_str("logfacility"), Some("-1"));
    let c = s.client_info(7).unwrap();
    assert!(c.casual);
    assert_eq!(c.id, "25915");
    assert_eq!(c.filter, KEEPIT);
}

#[test]
fn named_signon_announces_join_with_client_gen() {
    let view = FakeView::new();
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    s.connect(
        1,
        PeerCred {
            pid: 10,
            uid: 0,
            gid: 0,
        },
    );
    s.handle(1, signon_msg(10, "10", 0, 0), &view);
    s.connect(
        2,
        PeerCred {
            pid: 11,
            uid: 102,
            gid: 105,
        },
    );
    let out = s.handle(2, signon_msg(11, "ccm", 102, 105), &view);
    let ApiOutput::SendCluster(join) = &out[0] else {
        panic!("join must be announced first: {out:?}");
    };
    assert_eq!(
        names(join),
        ["t", "st", "from_id", "to_id", "src", "info", "client_gen"]
    );
    assert_eq!(join.get_str("t"), Some("hbapi-clstat"));
    assert_eq!(join.get_str("st"), Some("join"));
    assert_eq!(join.get_str("from_id"), Some("ccm"));
    assert_eq!(join.get_str("to_id"), Some("ccm"));
    assert_eq!(join.get_str("src"), Some("alpha"));
    assert_eq!(join.get_str("info"), Some("signon"));
    // Second sign-on attempt of this daemon: generation 1.
    assert_eq!(join.get_str("client_gen"), Some("1"));
    assert_eq!(one_reply(&out).get_str("result"), Some("OK"));
    assert!(!s.client_info(2).unwrap().casual);
}

fn refused(out: &[ApiOutput]) -> String {
    let r = one_reply(out);
    assert_eq!(r.get_str("result"), Some("badreq"));
    assert_eq!(names(r)[..4], ["t", "reqtype", "info", "result"]);
    // heartbeat reports its timing even when refusing.
    assert_eq!(r.get_str("deadtime"), Some("2710"));
    let Some(ApiOutput::Close(_, reason)) = out.last() else {
        panic!("refusal must close: {out:?}");
    };
    assert_eq!(Some(reason.as_str()), r.get_str("info"));
    reason.clone()
}

#[test]
fn signon_rejections() {
    let view = FakeView::new();
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);

    // Claimed pid differs from SO_PEERCRED.
    s.connect(
        1,
        PeerCred {
            pid: 501,
            uid: 0,
            gid: 0,
        },
    );
    assert_eq!(
        refused(&s.handle(1, signon_msg(500, "500", 0, 0), &view)),
        "pid mismatch"
    );
    assert!(s.client_info(1).is_none());

    // Claimed uid differs from SO_PEERCRED.
    s.connect(
        2,
        PeerCred {
            pid: 502,
            uid: 1000,
            gid: 1000,
        },
    );
    assert_eq!(
        refused(&s.handle(2, signon_msg(502, "502", 0, 0), &view)),
        "incorrect/false credentials"
    );

    // Casual client whose uid/gid is not in apiauth anon.
    s.connect(
        3,
        PeerCred {
            pid: 503,
            uid: 1000,
            gid: 1000,
        },
    );
    assert_eq!(
        refused(&s.handle(3, signon_msg(503, "503", 1000, 1000), &view)),
        "client failed authorization"
    );

    // Named client with its own entry that does not list the uid.
    s.connect(
        4,
        PeerCred {
            pid: 504,
            uid: 1000,
            gid: 1000,
        },
    );
    assert_eq!(
        refused(&s.handle(4, signon_msg(504, "ccm", 1000, 1000), &view)),
        "client failed authorization"
    );

    // Missing uid field.
    s.connect(
        5,
        PeerCred {
            pid: 505,
            uid: 0,
            gid: 0,
        },
    );
    let mut m = signon_msg(505, "505", 0, 0);
    m.remove("uid");
    assert_eq!(refused(&s.handle(5, m, &view)), "invalid id info");

    // Duplicate named client.
    s.connect(
        6,
        PeerCred {
            pid: 506,
            uid: 1000,
            gid: 1000,
        },
    );
    let ok = s.handle(6, signon_msg(506, "lrmd", 1000, 1000), &view);
    assert_eq!(replies(&ok)[0].get_str("result"), Some("OK"));
    s.connect(
        7,
        PeerCred {
            pid: 507,
            uid: 1000,
            gid: 1000,
        },
    );
    assert_eq!(
        refused(&s.handle(7, signon_msg(507, "lrmd", 1000, 1000), &view)),
        "duplicate add request"
    );
    assert_eq!(s.clients().count(), 1);
}

#[test]
fn named_client_without_default_entry_is_refused() {
    let view = FakeView::new();
    let auth: Vec<ApiAuth> = default_auth()
        .into_iter()
        .filter(|a| a.name != "default")
        .collect();
    let mut s = ApiServer::new(auth, MsgFmt::Classic);
    s.connect(
        1,
        PeerCred {
            pid: 9,
            uid: 0,
            gid: 0,
        },
    );
    assert_eq!(
        refused(&s.handle(1, signon_msg(9, "crmd", 0, 0), &view)),
        "no default client auth"
    );
}

#[test]
fn first_message_must_be_signon() {
    let view = FakeView::new();
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    s.connect(
        1,
        PeerCred {
            pid: 9,
            uid: 0,
            gid: 0,
        },
    );
    let out = s.handle(1, req("nodelist", 9, "9", &[]), &view);
    assert!(matches!(out.as_slice(), [ApiOutput::Close(1, _)]));
}

#[test]
fn nodelist_is_ok_more_sequence() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    let out = s.handle(1, req("nodelist", 500, "500", &[]), &view);
    let r = replies(&out);
    assert_eq!(r.len(), 4);
    for m in &r {
        assert_eq!(
            names(m),
            ["t", "reqtype", "node", "nodetype", "st", "result"]
        );
    }
    let got: Vec<_> = r
        .iter()
        .map(|m| {
            (
                m.get_str("node").unwrap(),
                m.get_str("nodetype").unwrap(),
                m.get_str("st").unwrap(),
                m.get_str("result").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("alpha", "normal", "active", "ok/more"),
            ("bravo", "normal", "active", "ok/more"),
            ("10.251.0.2", "ping", "ping", "ok/more"),
            ("charlie", "normal", "dead", "OK"),
        ]
    );
}

#[test]
fn single_value_requests() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    let mut ask = |rt: &str, extra: &[(&str, &str)]| -> Msg {
        one_reply(&s.handle(1, req(rt, 500, "500", extra), &view)).clone()
    };

    let r = ask("nodestatus", &[("node", "BRAVO")]);
    assert_eq!(names(&r), ["t", "reqtype", "st", "result"]);
    assert_eq!(r.get_str("st"), Some("active"));
    assert_eq!(r.get_str("result"), Some("OK"));

    let r = ask("nodeweight", &[("node", "bravo")]);
    assert_eq!(names(&r), ["t", "reqtype", "weight", "result"]);
    assert_eq!(r.get_str("weight"), Some("100"));

    let r = ask("nodesite", &[("node", "alpha")]);
    assert_eq!(r.get_str("site"), Some(""));
    assert_eq!(
        ask("nodesite", &[("node", "bravo")]).get_str("site"),
        Some("west")
    );

    let r = ask("nodetype", &[("node", "10.251.0.2")]);
    assert_eq!(names(&r), ["t", "reqtype", "nodetype", "result"]);
    assert_eq!(r.get_str("nodetype"), Some("ping"));

    let r = ask("ifstatus", &[("node", "bravo"), ("ifname", "eth1")]);
    assert_eq!(names(&r), ["t", "reqtype", "st", "result"]);
    assert_eq!(r.get_str("st"), Some("dead"));

    let r = ask("numnodes", &[]);
    assert_eq!(r.get_str("numnodes"), Some("3"));

    let r = ask("getparm", &[("pname", "deadtime")]);
    assert_eq!(names(&r), ["t", "reqtype", "pvalue", "result"]);
    assert_eq!(r.get_str("pvalue"), Some("10"));
    // crm is an alias of pacemaker.
    assert_eq!(
        ask("getparm", &[("pname", "crm")]).get_str("pvalue"),
        Some("false")
    );
    // Unset parameter: OK without pvalue.
    let r = ask("getparm", &[("pname", "nosuch")]);
    assert_eq!(names(&r), ["t", "reqtype", "result"]);
    assert_eq!(r.get_str("result"), Some("OK"));

    let r = ask("getrsc", &[]);
    assert_eq!(names(&r), ["t", "reqtype", "rsc_hold", "result"]);
    assert_eq!(r.get_str("rsc_hold"), Some("local"));

    let r = ask("getuuid", &[("queryname", "bravo")]);
    assert_eq!(names(&r), ["t", "reqtype", "queryuuid", "result"]);
    assert_eq!(r.get_bin("queryuuid"), Some(&[0xb0u8; 16][..]));
    assert_eq!(
        names(&ask("getuuid", &[("queryname", "zulu")])),
        ["t", "reqtype", "result"]
    );

    let mut m = req("getnodename", 500, "500", &[]);
    m.add_bin("queryuuid", [0xb0u8; 16]);
    let out = s.handle(1, m, &view);
    let r = one_reply(&out);
    assert_eq!(names(r), ["t", "reqtype", "queryname", "result"]);
    assert_eq!(r.get_str("queryname"), Some("bravo"));
}

#[test]
fn iflist_sequence_and_errors() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    let out = s.handle(1, req("iflist", 500, "500", &[("node", "bravo")]), &view);
    let r = replies(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(names(r[0]), ["t", "reqtype", "ifname", "st", "result"]);
    assert_eq!(
        (
            r[0].get_str("ifname"),
            r[0].get_str("st"),
            r[0].get_str("result")
        ),
        (Some("eth0"), Some("up"), Some("ok/more"))
    );
    assert_eq!(
        (
            r[1].get_str("ifname"),
            r[1].get_str("st"),
            r[1].get_str("result")
        ),
        (Some("eth1"), Some("dead"), Some("OK"))
    );

    let out = s.handle(
        1,
        req("iflist", 500, "500", &[("node", "10.251.0.2")]),
        &view,
    );
    let r = one_reply(&out);
    assert_eq!(r.get_str("ifname"), Some("10.251.0.2"));
    assert_eq!(r.get_str("result"), Some("OK"));

    for extra in [&[("node", "zulu")][..], &[][..], &[("node", "charlie")][..]] {
        let out = s.handle(1, req("iflist", 500, "500", extra), &view);
        let r = one_reply(&out);
        assert_eq!(names(r), ["t", "reqtype", "result", "info"]);
        assert_eq!(r.get_str("result"), Some("badreq"));
        assert_eq!(r.get_str("info"), Some("EINVAL"));
    }
}

#[test]
fn bad_requests() {
    let mut view = FakeView::new();
    let mut s = casual_server(&view);
    let r =
        one_reply(&s.handle(1, req("nodestatus", 500, "500", &[("node", "zulu")]), &view)).clone();
    assert_eq!(
        (r.get_str("result"), r.get_str("info")),
        (Some("badreq"), Some("EINVAL"))
    );

    let r = one_reply(&s.handle(1, req("frobnicate", 500, "500", &[]), &view)).clone();
    assert_eq!(names(&r), ["t", "reqtype", "result"]);
    assert_eq!(r.get_str("result"), Some("badreq"));

    let r = one_reply(&s.handle(
        1,
        req(
            "ifstatus",
            500,
            "500",
            &[("node", "bravo"), ("ifname", "eth9")],
        ),
        &view,
    ))
    .clone();
    assert_eq!(r.get_str("info"), Some("EINVAL"));

    let r = one_reply(&s.handle(1, req("getuuid", 500, "500", &[]), &view)).clone();
    assert_eq!(r.get_str("info"), Some("no query node name found"));

    view.manages = false;
    let r = one_reply(&s.handle(1, req("getrsc", 500, "500", &[]), &view)).clone();
    assert_eq!(r.get_str("result"), Some("badreq"));
    assert!(r.get_str("info").unwrap().contains("managed by crm"));

    // A request claiming another client's identity is dropped silently.
    assert!(s
        .handle(1, req("nodelist", 999, "999", &[]), &view)
        .is_empty());
}

#[test]
fn clientstatus_local_remote_and_dead() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    s.connect(
        2,
        PeerCred {
            pid: 20,
            uid: 0,
            gid: 0,
        },
    );
    s.handle(2, signon_msg(20, "ipfail", 0, 0), &view);

    let out = s.handle(
        1,
        req(
            "clientstatus",
            500,
            "500",
            &[("node", "alpha"), ("cn", "ipfail")],
        ),
        &view,
    );
    let r = one_reply(&out);
    assert_eq!(names(r), ["t", "reqtype", "subt", "cs", "result"]);
    assert_eq!(r.get_str("subt"), Some("respond-cstatus"));
    assert_eq!(r.get_str("cs"), Some("online"));

    let out = s.handle(
        1,
        req(
            "clientstatus",
            500,
            "500",
            &[("node", "alpha"), ("cn", "crmd")],
        ),
        &view,
    );
    assert_eq!(one_reply(&out).get_str("cs"), Some("offline"));

    let out = s.handle(
        1,
        req(
            "clientstatus",
            500,
            "500",
            &[("node", "charlie"), ("cn", "ipfail")],
        ),
        &view,
    );
    assert_eq!(one_reply(&out).get_str("cs"), Some("offline"));

    let out = s.handle(
        1,
        req(
            "clientstatus",
            500,
            "500",
            &[("node", "bravo"), ("cn", "ipfail")],
        ),
        &view,
    );
    let [ApiOutput::QueryClientStatus {
        node,
        client,
        conn,
        query,
    }] = out.as_slice()
    else {
        panic!("expected a remote query, got {out:?}");
    };
    assert_eq!(
        (node.as_str(), client.as_str(), *conn),
        ("bravo", "ipfail", 1)
    );
    assert_eq!(names(query), ["t", "dest", "cn", "from_id"]);
    assert_eq!(query.get_str("t"), Some("query-cstatus"));
    assert_eq!(query.get_str("from_id"), Some("500"));

    // The remote node's answer is addressed to the asking client.
    let mut q = query.clone();
    q.add_str("src", "alpha");
    let answer = s.answer_query_cstatus(&q).unwrap();
    assert_eq!(names(&answer), ["t", "dest", "result", "cn", "to_id", "cs"]);
    assert_eq!(answer.get_str("cs"), Some("online"));
    assert_eq!(s.route(&answer), vec![1]);
}

#[test]
fn setfilter_setsignal_and_debug_permission() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    let r = one_reply(&s.handle(1, req("setfilter", 500, "500", &[("fmask", "3")]), &view)).clone();
    assert_eq!(names(&r), ["t", "reqtype", "result"]);
    assert_eq!(s.client_info(1).unwrap().filter, KEEPIT | NOCHANGE);
    let r =
        one_reply(&s.handle(1, req("setfilter", 500, "500", &[("fmask", "40")]), &view)).clone();
    assert_eq!(r.get_str("info"), Some("EINVAL"));

    let r =
        one_reply(&s.handle(1, req("setsignal", 500, "500", &[("signal", "10")]), &view)).clone();
    assert_eq!(r.get_str("result"), Some("OK"));
    assert_eq!(s.client_info(1).unwrap().signal, 10);
    let r =
        one_reply(&s.handle(1, req("setsignal", 500, "500", &[("signal", "9")]), &view)).clone();
    assert_eq!(r.get_str("info"), Some("EINVAL"));
    assert_eq!(s.client_info(1).unwrap().signal, 10);

    // A non-root named client may not ask for debug treatments.
    s.connect(
        2,
        PeerCred {
            pid: 30,
            uid: 1000,
            gid: 1000,
        },
    );
    s.handle(2, signon_msg(30, "lrmd", 1000, 1000), &view);
    let r =
        one_reply(&s.handle(2, req("setfilter", 30, "lrmd", &[("fmask", "11")]), &view)).clone();
    assert_eq!(r.get_str("info"), Some("EPERM"));
    assert_eq!(s.client_info(2).unwrap().filter, KEEPIT);
}

#[test]
fn set_sendqlen_has_no_reply() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    assert!(s
        .handle(
            1,
            req("set_sendqlen", 500, "500", &[("sendqlen", "64")]),
            &view
        )
        .is_empty());
    assert_eq!(s.client_info(1).unwrap().sendqlen, Some(64));
}

#[test]
fn routing_by_to_id_and_filter() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    s.connect(
        2,
        PeerCred {
            pid: 20,
            uid: 102,
            gid: 105,
        },
    );
    s.handle(2, signon_msg(20, "ccm", 102, 105), &view);
    s.connect(
        3,
        PeerCred {
            pid: 30,
            uid: 0,
            gid: 0,
        },
    );
    s.handle(3, signon_msg(30, "30", 0, 0), &view);
    s.handle(3, req("setfilter", 30, "30", &[("fmask", "3f")]), &view);
    // Not yet signed on: never receives anything.
    s.connect(
        4,
        PeerCred {
            pid: 40,
            uid: 0,
            gid: 0,
        },
    );

    let mut status = Msg::with_type("status");
    status.add_str("src", "bravo").add_str("st", "active");
    assert_eq!(s.route(&status), vec![1, 2, 3]);
    assert_eq!(s.route_with(&status, NOCHANGE), vec![3]);

    let mut ifstat = Msg::with_type("ifstat");
    ifstat
        .add_str("node", "bravo")
        .add_str("ifname", "eth0")
        .add_str("st", "dead");
    assert_eq!(s.route(&ifstat), vec![1, 2, 3]);

    let mut ccm = Msg::with_type("CCM_TYPE_ALIVE");
    ccm.add_str("from_id", "ccm").add_str("to_id", "ccm");
    assert_eq!(s.route(&ccm), vec![2]);
    ccm.set_str("to_id", "crmd");
    assert!(s.route(&ccm).is_empty());

    // Debug clients see API calls of others.
    let out = s.handle(1, req("numnodes", 500, "500", &[]), &view);
    assert!(
        matches!(&out[0], ApiOutput::Reply(3, m) if m.get_str("reqtype") == Some("numnodes") && m.get_str("t") == Some("hbapi-req"))
    );
    assert!(matches!(&out[1], ApiOutput::Reply(1, m) if m.get_str("t") == Some("hbapi-resp")));
}

#[test]
fn named_client_cluster_messages_and_casual_misuse() {
    let view = FakeView::new();
    let mut s = casual_server(&view);
    s.connect(
        2,
        PeerCred {
            pid: 20,
            uid: 102,
            gid: 105,
        },
    );
    s.handle(2, signon_msg(20, "ccm", 102, 105), &view);

    let mut m = Msg::with_type("CCM_TYPE_PROTOVERSION");
    m.add_str("ccmproto", "1").add_str("to_id", "spoofed");
    let out = s.handle(2, m, &view);
    let [ApiOutput::SendCluster(sent)] = out.as_slice() else {
        panic!("expected one cluster message, got {out:?}");
    };
    assert_eq!(
        names(sent),
        ["t", "ccmproto", "to_id", "from_id", "client_gen"]
    );
    assert_eq!(sent.get_str("to_id"), Some("ccm"));
    assert_eq!(sent.get_str("from_id"), Some("ccm"));
    assert_eq!(sent.get_str("client_gen"), Some("1"));

    let out = s.handle(1, Msg::with_type("resource"), &view);
    assert_eq!(out, vec![ApiOutput::Close(1, "badclient".into())]);
    assert!(s.client_info(1).is_none());
}

#[test]
fn signoff_and_disconnect_announce_leave() {
    let view = FakeView::new();
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    s.connect(
        2,
        PeerCred {
            pid: 20,
            uid: 102,
            gid: 105,
        },
    );
    s.handle(2, signon_msg(20, "ccm", 102, 105), &view);
    let out = s.disconnect(2, &view);
    let [ApiOutput::SendCluster(leave)] = out.as_slice() else {
        panic!("expected a leave announcement, got {out:?}");
    };
    assert_eq!(leave.get_str("t"), Some("hbapi-clstat"));
    assert_eq!(leave.get_str("st"), Some("leave"));
    assert_eq!(leave.get_str("from_id"), Some("ccm"));
    assert_eq!(leave.get_str("info"), Some("died"));
    assert!(
        s.disconnect(2, &view).is_empty(),
        "disconnect must be idempotent"
    );

    s.connect(
        3,
        PeerCred {
            pid: 21,
            uid: 102,
            gid: 105,
        },
    );
    s.handle(3, signon_msg(21, "ccm", 102, 105), &view);
    let out = s.handle(3, req("signoff", 21, "ccm", &[]), &view);
    assert!(
        matches!(&out[0], ApiOutput::Reply(3, m) if m.get_str("st") == Some("leave") && m.get_str("info") == Some("signoff"))
    );
    assert!(matches!(&out[1], ApiOutput::SendCluster(m) if m.get_str("client_gen") == Some("1")));
    assert_eq!(out[2], ApiOutput::Close(3, "signoff".into()));
    assert_eq!(s.clients().count(), 0);

    // Casual clients leave silently.
    let mut s = casual_server(&view);
    assert_eq!(
        s.handle(1, req("signoff", 500, "500", &[]), &view),
        vec![ApiOutput::Close(1, "signoff".into())]
    );
}

#[test]
fn c_number_parsing() {
    assert_eq!(c_atol("123abc"), 123);
    assert_eq!(c_atol(" -5"), -5);
    assert_eq!(c_atol("ccm"), 0);
    assert_eq!(c_hex("0x1f"), Some(0x1f));
    assert_eq!(c_hex("3fz"), Some(0x3f));
    assert_eq!(c_hex("z"), None);
}

#[test]
fn casual_client_signing_on_again_replaces_its_stale_session() {
    let view = FakeView::new();
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    let cred = PeerCred {
        pid: 4242,
        uid: 0,
        gid: 0,
    };
    s.connect(1, cred);
    let ok = s.handle(1, signon_msg(4242, "4242", 0, 0), &view);
    assert_eq!(replies(&ok)[0].get_str("result"), Some("OK"));
    // Same process, new connection, before the old one's EOF was processed.
    s.connect(2, cred);
    let out = s.handle(2, signon_msg(4242, "4242", 0, 0), &view);
    assert!(out
        .iter()
        .any(|o| matches!(o, ApiOutput::Close(1, why) if why.contains("replaced"))));
    let reply = out
        .iter()
        .find_map(|o| match o {
            ApiOutput::Reply(2, m) => Some(m),
            _ => None,
        })
        .expect("reply to the new session");
    assert_eq!(reply.get_str("result"), Some("OK"));
    assert_eq!(s.clients().count(), 1);
    // Another process claiming that casual id is still refused.
    s.connect(
        3,
        PeerCred {
            pid: 4343,
            uid: 0,
            gid: 0,
        },
    );
    let out = s.handle(3, signon_msg(4242, "4242", 0, 0), &view);
    assert!(out.iter().any(|o| matches!(o, ApiOutput::Close(3, _))));
    assert_eq!(s.clients().count(), 1);
}

#[test]
fn stonithd_signs_on_as_root_without_an_apiauth_entry() {
    let view = FakeView::new();
    let auth: Vec<ApiAuth> = default_auth()
        .into_iter()
        .filter(|a| a.name != "default")
        .collect();
    let mut s = ApiServer::new(auth, MsgFmt::Classic);
    s.connect(
        1,
        PeerCred {
            pid: 9,
            uid: 0,
            gid: 0,
        },
    );
    let out = s.handle(1, signon_msg(9, "stonithd", 0, 0), &view);
    assert!(s.is_client_online("stonithd"), "{out:?}");
    let mut s = ApiServer::new(default_auth(), MsgFmt::Classic);
    s.connect(
        2,
        PeerCred {
            pid: 10,
            uid: 1000,
            gid: 1000,
        },
    );
    assert_eq!(
        refused(&s.handle(2, signon_msg(10, "stonithd", 1000, 1000), &view)),
        "client failed authorization"
    );
}

#[test]
fn rscgroups_lists_every_group_in_one_reply() {
    let mut view = FakeView::new();
    let mut s = casual_server(&view);
    let r = one_reply(&s.handle(1, req("rscgroups", 500, "500", &[]), &view)).clone();
    assert_eq!(
        names(&r)[..4],
        ["t", "reqtype", "numgroups", "group0_key"],
        "{r:?}"
    );
    assert_eq!(names(&r).last(), Some(&"result"));
    assert_eq!(r.get_str("result"), Some("OK"));
    assert_eq!(r.get_str("group0_state"), Some("running"));
    assert_eq!(
        r.get_str("group0_last_failure"),
        Some("monitor of httpd failed (rc 7)")
    );
    assert_eq!(crate::rscgroups::decode(&r).unwrap(), fake_groups());

    // No resource manager (-M): refused with a reason, unlike an unknown request.
    view.groups = None;
    let r = one_reply(&s.handle(1, req("rscgroups", 500, "500", &[]), &view)).clone();
    assert_eq!(r.get_str("result"), Some("badreq"));
    assert_eq!(r.get_str("info"), Some(NO_HARESOURCES_MANAGER));

    view.groups = Some(Vec::new());
    let r = one_reply(&s.handle(1, req("rscgroups", 500, "500", &[]), &view)).clone();
    assert_eq!(
        (r.get_str("numgroups"), r.get_str("result")),
        (Some("0"), Some("OK"))
    );

    view.manages = false;
    view.groups = Some(fake_groups());
    let r = one_reply(&s.handle(1, req("rscgroups", 500, "500", &[]), &view)).clone();
    assert_eq!(r.get_str("result"), Some("badreq"));
    assert!(r.get_str("info").unwrap().contains("managed by crm"));
}
