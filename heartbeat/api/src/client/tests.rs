use super::*;
use crate::server::tests::{default_auth, FakeView};
use crate::testserver::{Options, TestServer};

fn auth_for_us() -> Vec<crate::server::ApiAuth> {
    let me = nix::unistd::geteuid().as_raw();
    let mut auth = default_auth();
    for a in &mut auth {
        a.uids.push(me);
    }
    auth
}

#[test]
fn client_server_roundtrip_over_unix_socket() {
    let s = TestServer::start(
        FakeView::new(),
        auth_for_us(),
        Options {
            inject_async: true,
            ..Options::default()
        },
    );
    let mut c = HbClient::signon_with_timeout(&s.path, None, Some(Duration::from_secs(5))).unwrap();
    assert!(c.is_casual());
    assert_eq!(c.client_id(), std::process::id().to_string());
    assert_eq!((c.deadtime(), c.keepalive()), (10_000, 1_000));
    assert_eq!(c.local_node(), "alpha");
    assert!(c.hbversion().unwrap().starts_with("3.0.6 "));

    let nodes = c.nodelist().unwrap();
    assert_eq!(nodes.len(), 4);
    assert_eq!(
        nodes[2],
        NodeEntry {
            name: "10.251.0.2".into(),
            node_type: "ping".into(),
            status: "ping".into()
        }
    );
    assert_eq!(c.node_status("bravo").unwrap(), "active");
    assert_eq!(c.node_type("bravo").unwrap(), "normal");
    assert_eq!(c.node_weight("bravo").unwrap(), 100);
    assert_eq!(c.node_site("alpha").unwrap(), "");
    assert_eq!(
        c.if_list("bravo").unwrap(),
        vec![("eth0".into(), "up".into()), ("eth1".into(), "dead".into())]
    );
    assert_eq!(c.if_status("bravo", "eth1").unwrap(), "dead");
    assert_eq!(c.num_nodes().unwrap(), 3);
    assert_eq!(c.get_parameter("deadtime").unwrap().as_deref(), Some("10"));
    assert_eq!(c.get_parameter("nosuch").unwrap(), None);
    assert_eq!(c.get_resources().unwrap(), "local");
    assert_eq!(c.get_uuid("bravo").unwrap(), Some([0xb0; 16]));
    assert_eq!(c.get_uuid("zulu").unwrap(), None);
    assert_eq!(
        c.get_nodename(&[0xb0; 16]).unwrap().as_deref(),
        Some("bravo")
    );
    assert_eq!(
        c.client_status("alpha", "ipfail", Duration::from_secs(1))
            .unwrap(),
        "offline"
    );
    c.set_filter(crate::fields::KEEPIT).unwrap();
    c.set_signal(0).unwrap();

    match c.node_status("zulu") {
        Err(ApiError::BadRequest { reqtype, info }) => {
            assert_eq!(reqtype, "nodestatus");
            assert_eq!(info.as_deref(), Some("EINVAL"));
        }
        other => panic!("expected badreq, got {other:?}"),
    }

    // Every reply above was preceded by an injected status message: all were queued.
    let first = c.recv(Some(Duration::from_millis(10))).unwrap().unwrap();
    assert_eq!(first.get_str("t"), Some("status"));
    let mut queued = 1;
    while c.recv(Some(Duration::from_millis(50))).unwrap().is_some() {
        queued += 1;
    }
    assert!(queued >= 15, "only {queued} async messages queued");
    c.signoff().unwrap();
}

#[test]
fn named_client_and_duplicate_refusal() {
    let s = TestServer::start(FakeView::new(), auth_for_us(), Options::default());
    let a =
        HbClient::signon_with_timeout(&s.path, Some("lrmd"), Some(Duration::from_secs(5))).unwrap();
    assert!(!a.is_casual());
    match HbClient::signon_with_timeout(&s.path, Some("lrmd"), Some(Duration::from_secs(5))) {
        Err(ApiError::Refused {
            reason,
            deadtime_ms,
        }) => {
            assert_eq!(reason.as_deref(), Some("duplicate add request"));
            assert_eq!(deadtime_ms, Some(10_000));
        }
        other => panic!("expected refusal, got {other:?}"),
    }
    a.signoff().unwrap();
}

#[test]
fn connect_failure_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("register");
    let e = HbClient::signon(&p, None).unwrap_err();
    assert!(matches!(e, ApiError::Connect { .. }));
    assert!(e.to_string().contains("register"));
}

#[test]
fn recv_times_out_with_none() {
    let s = TestServer::start(FakeView::new(), auth_for_us(), Options::default());
    let mut c = HbClient::signon(&s.path, None).unwrap();
    assert!(c.recv(Some(Duration::from_millis(50))).unwrap().is_none());
}
