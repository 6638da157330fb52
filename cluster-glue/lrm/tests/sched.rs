//! The scheduler with a fake executor and a fake clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lrm::model::*;
use lrm::sched::{CancelSel, Executor, Lrm, LrmError, Outcome};

#[derive(Debug, Default)]
struct Fake {
    /// (call id, resource, operation) in start order.
    started: Vec<(CallId, String, String)>,
    running: Vec<CallId>,
    killed: Vec<CallId>,
    params: BTreeMap<CallId, BTreeMap<String, String>>,
}

impl Executor for Fake {
    fn start(
        &mut self,
        call_id: CallId,
        rsc: &Resource,
        spec: &OpSpec,
        params: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        self.started
            .push((call_id, rsc.id.clone(), spec.operation.clone()));
        self.running.push(call_id);
        self.params.insert(call_id, params.clone());
        Ok(())
    }
    fn kill(&mut self, call_id: CallId) {
        self.killed.push(call_id);
    }
}

fn rsc(id: &str) -> Resource {
    Resource {
        id: id.into(),
        class: "ocf".into(),
        provider: Some("heartbeat".into()),
        agent_type: "Dummy".into(),
        params: BTreeMap::from([("state".into(), format!("/tmp/{id}"))]),
    }
}

fn lrm(max: usize, ids: &[&str]) -> Lrm<Fake> {
    let mut l = Lrm::new(Fake::default(), max);
    for id in ids {
        l.register(rsc(id)).unwrap();
    }
    l
}

fn op(name: &str, interval: u64) -> OpSpec {
    let mut o = OpSpec::new(name);
    o.interval = interval;
    o
}

/// Completes a running op and returns what was reported.
fn finish(l: &mut Lrm<Fake>, call: CallId, r: ExecResult, now: Instant) -> Vec<Notification> {
    l.executor_mut().running.retain(|&c| c != call);
    l.complete(call, r, now);
    l.take_notifications()
}

use lrm::sched::Notification;

#[test]
fn one_op_at_a_time_per_resource_in_fifo_order() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c1 = l.exec("a", op("start", 0), None, t0).unwrap();
    let c2 = l.exec("a", op("monitor", 0), None, t0).unwrap();
    let c3 = l.exec("a", op("stop", 0), None, t0).unwrap();
    assert_eq!(
        l.executor().running,
        vec![c1],
        "second op must wait for the first"
    );
    finish(&mut l, c1, ExecResult::done(0), t0);
    assert_eq!(l.executor().running, vec![c2]);
    finish(&mut l, c2, ExecResult::done(0), t0);
    finish(&mut l, c3, ExecResult::done(0), t0);
    let order: Vec<&str> = l.executor().started.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(order, ["start", "monitor", "stop"]);
}

#[test]
fn max_children_limits_concurrency_and_serves_oldest_first() {
    let t0 = Instant::now();
    let ids = ["r1", "r2", "r3", "r4", "r5", "r6"];
    let mut l = lrm(4, &ids);
    let calls: Vec<CallId> = ids
        .iter()
        .map(|id| l.exec(id, op("start", 0), None, t0).unwrap())
        .collect();
    assert_eq!(l.running(), 4);
    assert_eq!(l.executor().running, calls[..4].to_vec());
    finish(&mut l, calls[2], ExecResult::done(0), t0);
    assert_eq!(l.running(), 4);
    assert_eq!(
        l.executor().started.last().map(|s| s.1.as_str()),
        Some("r5")
    );
    l.set_max_children(6, t0).unwrap();
    assert_eq!(l.running(), 5, "raising the limit starts the waiting op");
    assert!(matches!(
        l.set_max_children(0, t0),
        Err(LrmError::InvalidMaxChildren(0))
    ));
}

#[test]
fn op_params_override_resource_params() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let mut o = op("start", 0);
    o.params.insert("state".into(), "/other".into());
    o.params.insert("extra".into(), "1".into());
    let c = l.exec("a", o, None, t0).unwrap();
    let p = &l.executor().params[&c];
    assert_eq!(p["state"], "/other");
    assert_eq!(p["extra"], "1");
}

#[test]
fn recurring_monitor_reports_first_result_and_changes_only() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let owner = Some(ClientId(7));
    let c = l.exec("a", op("monitor", 10_000), owner, t0).unwrap();
    let n = finish(&mut l, c, ExecResult::done(0), t0);
    assert_eq!(n.len(), 1, "first result is always reported");
    assert_eq!(n[0].owner, owner);
    assert_eq!(n[0].record.call_id, c);
    assert_eq!(l.next_deadline(), Some(t0 + Duration::from_secs(10)));

    // Not due yet: nothing runs.
    l.tick(t0 + Duration::from_secs(9));
    assert!(l.executor().running.is_empty());
    let mut now = t0 + Duration::from_secs(10);
    l.tick(now);
    assert_eq!(l.executor().running, vec![c], "same call id on every run");
    let n = finish(&mut l, c, ExecResult::done(0), now);
    assert!(n.is_empty(), "unchanged result must not be reported: {n:?}");

    now += Duration::from_secs(10);
    l.tick(now);
    let n = finish(&mut l, c, ExecResult::done(7), now);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].record.rc, n[0].record.last_rc), (7, 0));
    assert_eq!(
        l.fail_count("a").unwrap().count,
        1,
        "recurring monitor finding it stopped is a failure"
    );

    now += Duration::from_secs(10);
    l.tick(now);
    assert!(finish(&mut l, c, ExecResult::done(7), now).is_empty());
    assert_eq!(
        l.fail_count("a").unwrap().count,
        1,
        "unreported repeats do not count"
    );

    now += Duration::from_secs(10);
    l.tick(now);
    let n = finish(&mut l, c, ExecResult::failed(OpStatus::Timeout), now);
    assert_eq!(n.len(), 1, "a timeout is always reported");
    assert_eq!(n[0].record.status, OpStatus::Timeout);
    assert_eq!(l.fail_count("a").unwrap().count, 2);
    l.reset_fail_count("a").unwrap();
    assert_eq!(l.fail_count("a").unwrap().count, 0);
}

#[test]
fn numeric_target_rc_reports_matching_results_only() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let mut o = op("monitor", 1000);
    o.target_rc = Some(7);
    let c = l.exec("a", o, None, t0).unwrap();
    assert!(finish(&mut l, c, ExecResult::done(0), t0).is_empty());
    l.tick(t0 + Duration::from_secs(1));
    assert_eq!(
        finish(&mut l, c, ExecResult::done(7), t0 + Duration::from_secs(1)).len(),
        1
    );
}

#[test]
fn probe_not_running_is_not_a_failure_but_failed_start_is() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c = l.exec("a", op("monitor", 0), None, t0).unwrap();
    finish(&mut l, c, ExecResult::done(7), t0);
    assert_eq!(l.fail_count("a").unwrap().count, 0);
    let c = l.exec("a", op("start", 0), None, t0).unwrap();
    finish(&mut l, c, ExecResult::done(1), t0);
    let f = l.fail_count("a").unwrap();
    assert_eq!(f.count, 1);
    assert!(f.last_failure.is_some());
}

#[test]
fn cancel_idle_recurring_op_reports_cancelled_and_stops_it() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c = l.exec("a", op("monitor", 5000), None, t0).unwrap();
    finish(&mut l, c, ExecResult::done(0), t0);
    let sel = CancelSel::Key {
        operation: "monitor".into(),
        interval: 5000,
    };
    assert_eq!(l.cancel("a", sel.clone(), t0).unwrap(), Outcome::Done);
    let n = l.take_notifications();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].record.status, OpStatus::Cancelled);
    assert_eq!(l.next_deadline(), None);
    l.tick(t0 + Duration::from_secs(60));
    assert!(l.executor().running.is_empty());
    assert!(
        l.state("a", t0).unwrap().ops.is_empty(),
        "cancel erases the history"
    );
    assert!(matches!(
        l.cancel("a", sel, t0),
        Err(LrmError::UnknownOp { .. })
    ));
    assert!(matches!(
        l.cancel("zz", CancelSel::Call(1), t0),
        Err(LrmError::UnknownResource(_))
    ));
}

#[test]
fn cancel_running_op_is_deferred_and_reported_cancelled() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c = l.exec("a", op("monitor", 5000), None, t0).unwrap();
    assert_eq!(
        l.cancel("a", CancelSel::Call(c), t0).unwrap(),
        Outcome::Pending
    );
    assert!(
        l.executor().killed.is_empty(),
        "cancel does not kill (cluster-glue)"
    );
    let n = finish(&mut l, c, ExecResult::done(0), t0);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].record.status, OpStatus::Cancelled);
    assert_eq!(
        l.next_deadline(),
        None,
        "a cancelled recurring op is not re-armed"
    );
}

#[test]
fn flush_drops_queue_and_freezes_until_running_op_ends() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c1 = l.exec("a", op("start", 0), None, t0).unwrap();
    let _c2 = l.exec("a", op("monitor", 0), None, t0).unwrap();
    let _c3 = l.exec("a", op("monitor", 10_000), None, t0).unwrap();
    assert_eq!(l.flush("a", t0).unwrap(), Outcome::Pending);
    let n = l.take_notifications();
    assert_eq!(n.len(), 2);
    assert!(n.iter().all(|n| n.record.status == OpStatus::Cancelled));
    assert!(matches!(
        l.exec("a", op("stop", 0), None, t0),
        Err(LrmError::Frozen { .. })
    ));
    let n = finish(&mut l, c1, ExecResult::done(0), t0);
    assert_eq!(n[0].record.status, OpStatus::Cancelled);
    assert_eq!(l.executor().started.len(), 1, "flushed ops never ran");
    l.exec("a", op("stop", 0), None, t0)
        .expect("unfrozen after the running op ended");
}

#[test]
fn delete_while_running_is_deferred_and_marks_result() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a", "b"]);
    let c = l.exec("a", op("start", 0), None, t0).unwrap();
    assert_eq!(l.delete("a", t0).unwrap(), Outcome::Pending);
    assert!(l.resource("a").is_some());
    let n = finish(&mut l, c, ExecResult::done(0), t0);
    assert!(n[0].record.rsc_deleted);
    assert!(l.resource("a").is_none());
    assert_eq!(l.delete("b", t0).unwrap(), Outcome::Done);
    assert!(matches!(
        l.delete("b", t0),
        Err(LrmError::UnknownResource(_))
    ));
}

#[test]
fn register_validates_and_is_idempotent() {
    let mut l = lrm(4, &["a"]);
    l.register(rsc("a"))
        .expect("identical re-registration is accepted");
    let mut other = rsc("a");
    other.agent_type = "Stateful".into();
    assert!(matches!(l.register(other), Err(LrmError::Duplicate { .. })));
    let mut bad = rsc("x");
    bad.class = "stonith".into();
    assert!(matches!(
        l.register(bad),
        Err(LrmError::InvalidResource { .. })
    ));
    let mut bad = rsc("y");
    bad.provider = None;
    assert!(matches!(
        l.register(bad),
        Err(LrmError::InvalidResource { .. })
    ));
    let mut bad = rsc(&"z".repeat(MAX_RSC_ID + 1));
    bad.agent_type = "Dummy".into();
    assert!(matches!(
        l.register(bad),
        Err(LrmError::InvalidResource { .. })
    ));
    let mut rel = rsc("w");
    rel.agent_type = "../../bin/sh".into();
    assert!(matches!(
        l.register(rel),
        Err(LrmError::InvalidResource { .. })
    ));
    let mut lsb = rsc("l");
    lsb.class = "lsb".into();
    lsb.provider = Some("heartbeat".into());
    l.register(lsb).expect("provider is ignored for lsb");
    assert_eq!(l.resource("l").unwrap().provider, None);
}

#[test]
fn start_delay_and_failed_spawn() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let mut o = op("start", 0);
    o.start_delay = 2000;
    let c = l.exec("a", o, None, t0).unwrap();
    assert!(l.executor().running.is_empty());
    l.tick(t0 + Duration::from_millis(1999));
    assert!(l.executor().running.is_empty());
    l.tick(t0 + Duration::from_millis(2000));
    assert_eq!(l.executor().running, vec![c]);
}

#[test]
fn shutdown_refuses_new_ops_drops_waiting_and_waits_for_running() {
    let t0 = Instant::now();
    let mut l = lrm(1, &["a", "b"]);
    let mon = l.exec("a", op("monitor", 1000), None, t0).unwrap();
    finish(&mut l, mon, ExecResult::done(0), t0);
    let run = l.exec("a", op("stop", 0), None, t0).unwrap();
    let queued = l.exec("b", op("stop", 0), None, t0).unwrap();
    l.shutdown(t0);
    let n = l.take_notifications();
    assert_eq!(
        n.iter().map(|n| n.record.call_id).collect::<Vec<_>>(),
        vec![mon]
    );
    assert!(matches!(
        l.exec("a", op("start", 0), None, t0),
        Err(LrmError::ShuttingDown)
    ));
    assert!(!l.is_idle());
    finish(&mut l, run, ExecResult::done(0), t0);
    assert_eq!(
        l.executor().running,
        vec![queued],
        "queued ops still run during shutdown"
    );
    l.kill_all(t0);
    assert_eq!(l.executor().killed, vec![queued]);
    finish(&mut l, queued, ExecResult::failed(OpStatus::Error), t0);
    assert!(l.is_idle());
}

#[test]
fn client_gone_keeps_ops_running() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c = l
        .exec("a", op("monitor", 1000), Some(ClientId(1)), t0)
        .unwrap();
    l.client_gone(ClientId(1));
    let n = finish(&mut l, c, ExecResult::done(0), t0);
    assert_eq!(n[0].owner, None);
    assert!(
        l.next_deadline().is_some(),
        "recurring op survives its client"
    );
}

#[test]
fn state_lists_history_and_pending_ops() {
    let t0 = Instant::now();
    let mut l = lrm(4, &["a"]);
    let c1 = l.exec("a", op("start", 0), None, t0).unwrap();
    finish(&mut l, c1, ExecResult::done(0), t0);
    let c2 = l.exec("a", op("monitor", 0), None, t0).unwrap();
    let s = l.state("a", t0).unwrap();
    assert_eq!(s.state, "busy");
    assert_eq!(
        s.ops
            .iter()
            .map(|o| (o.call_id, o.status))
            .collect::<Vec<_>>(),
        vec![(c1, OpStatus::Done), (c2, OpStatus::Pending)]
    );
    finish(&mut l, c2, ExecResult::done(0), t0);
    assert_eq!(l.state("a", t0).unwrap().state, "idle");
}

#[test]
fn fail_rsc_synthesizes_asyncmon() {
    let mut l = lrm(4, &["a"]);
    l.fail_rsc("a", 0, None).unwrap();
    let n = l.take_notifications();
    assert_eq!(n[0].record.spec.operation, "asyncmon");
    assert_eq!(n[0].record.rc, 1);
    assert_eq!(l.fail_count("a").unwrap().count, 1);
    assert!(l.fail_rsc("nope", 1, None).is_err());
}

/// Many resources, one slot: ops start in global queueing order across resources, a
/// resource whose op runs is skipped until it ends, cancelled and deleted resources drop
/// out of the ready set, and `is_idle` follows the queues.
#[test]
fn ready_resources_are_served_in_queue_order_without_strays() {
    let t0 = Instant::now();
    let ids: Vec<String> = (0..50).map(|i| format!("r{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut l = lrm(1, &refs);
    // Queued in reverse id order, so map order and queue order differ.
    let mut calls = Vec::new();
    for id in ids.iter().rev() {
        calls.push(l.exec(id, op("start", 0), None, t0).unwrap());
    }
    // A second op on the first resource queues behind its first one.
    let again = l.exec("r49", op("monitor", 0), None, t0).unwrap();
    // Cancel one queued op and delete another resource outright.
    assert_eq!(
        l.cancel("r10", CancelSel::Call(calls[39]), t0).unwrap(),
        Outcome::Done
    );
    assert_eq!(l.delete("r20", t0).unwrap(), Outcome::Done);
    assert!(!l.is_idle());
    let mut order = Vec::new();
    while let Some(&c) = l.executor().running.first() {
        order.push(c);
        finish(&mut l, c, ExecResult::done(0), t0);
    }
    let mut want: Vec<CallId> = calls
        .iter()
        .copied()
        .filter(|&c| c != calls[39] && c != calls[29])
        .collect();
    // r49's monitor is the newest op: it waits for every older head, then runs last.
    want.push(again);
    assert_eq!(order, want);
    assert!(l.is_idle());
}
