//! stonithd's cluster messages, sent through heartbeat's client API as client
//! `stonithd`. heartbeat stamps them `to_id=stonithd`, so they reach the stonithd of
//! every node (the sender's too: [`crate::fencer::Fencer`] ignores its own).
//!
//! | `t` | fields |
//! |---|---|
//! | `stonithd-req` | `node`, `action`, `reqid`, `timeout` (ms) |
//! | `stonithd-claim` | `node`, `action`, `reqid`, `by` |
//! | `stonithd-res` | `node`, `action`, `result`, `device`, `by`, `reqid` (space-separated ids, may be empty), `detail` |

use hb_wire::Msg;
use stonith_ipc::{FenceAction, FenceOutcome, FenceResult};

use crate::fencer::{Announcement, PeerClaim, PeerRequest};

pub const T_REQ: &str = "stonithd-req";
pub const T_CLAIM: &str = "stonithd-claim";
pub const T_RES: &str = "stonithd-res";
/// The API client name stonithd signs on with (heartbeat's `apiauth stonithd`).
pub const CLIENT_NAME: &str = "stonithd";

/// A stonithd message from a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    Request(PeerRequest),
    Claim(PeerClaim),
    Result(Announcement),
}

pub fn request_msg(r: &PeerRequest) -> Msg {
    let mut m = Msg::with_type(T_REQ);
    m.add_str("node", &r.node)
        .add_str("action", r.action.as_str())
        .add_str("reqid", &r.reqid)
        .add_str("timeout", r.timeout_ms.to_string());
    m
}

pub fn claim_msg(c: &PeerClaim, by: &str) -> Msg {
    let mut m = Msg::with_type(T_CLAIM);
    m.add_str("node", &c.node)
        .add_str("action", c.action.as_str())
        .add_str("reqid", &c.reqid)
        .add_str("by", by);
    m
}

pub fn result_msg(a: &Announcement) -> Msg {
    let o = &a.outcome;
    let mut m = Msg::with_type(T_RES);
    m.add_str("node", &o.node)
        .add_str("action", o.action.as_str())
        .add_str("result", o.result.as_str())
        .add_str("device", o.device.as_deref().unwrap_or(""))
        .add_str("by", o.by.as_deref().unwrap_or(""))
        .add_str("reqid", a.reqids.join(" "))
        // heartbeat's classic format cannot carry newlines in values.
        .add_str("detail", short_detail(&o.detail));
    m
}

/// Longest `detail` sent to the cluster: heartbeat messages travel in UDP packets.
const MAX_CLUSTER_DETAIL: usize = 1024;

/// heartbeat's classic format cannot carry newlines in values; long texts are cut.
fn short_detail(d: &str) -> String {
    let mut s = d.replace(['\n', '\r'], " ");
    if s.len() > MAX_CLUSTER_DETAIL {
        let mut cut = MAX_CLUSTER_DETAIL;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The sender (`src`) and content of a stonithd message; `Ok(None)` for messages of
/// other types, `Err` for a stonithd message with missing or bad fields.
pub fn parse(m: &Msg) -> Result<Option<(String, Incoming)>, String> {
    let t = m.msg_type().unwrap_or("");
    if ![T_REQ, T_CLAIM, T_RES].contains(&t) {
        return Ok(None);
    }
    let field = |name: &str| -> Result<String, String> {
        m.get_str(name)
            .map(str::to_string)
            .ok_or_else(|| format!("{t} without {name}"))
    };
    let from = field("src")?.to_lowercase();
    let node = field("node")?.to_lowercase();
    if node.is_empty() {
        return Err(format!("{t} with an empty node"));
    }
    let action = FenceAction::parse(&field("action")?)
        .ok_or_else(|| format!("{t}: bad action {:?}", m.get_str("action")))?;
    let reqid = m.get_str("reqid").unwrap_or("").to_string();
    let incoming = match t {
        T_REQ => {
            let timeout_ms = field("timeout")?
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{t}: bad timeout {:?}", m.get_str("timeout")))?;
            if reqid.is_empty() {
                return Err(format!("{t} without reqid"));
            }
            Incoming::Request(PeerRequest {
                node,
                action,
                reqid,
                timeout_ms,
            })
        }
        T_CLAIM => Incoming::Claim(PeerClaim {
            node,
            action,
            reqid,
        }),
        _ => {
            let result = FenceResult::parse(&field("result")?)
                .ok_or_else(|| format!("{t}: bad result {:?}", m.get_str("result")))?;
            let opt = |name: &str| {
                m.get_str(name)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            Incoming::Result(Announcement {
                outcome: FenceOutcome {
                    node,
                    action,
                    result,
                    device: opt("device"),
                    by: opt("by").or_else(|| Some(from.clone())),
                    detail: m.get_str("detail").unwrap_or("").to_string(),
                },
                reqids: reqid.split_whitespace().map(str::to_string).collect(),
            })
        }
    };
    Ok(Some((from, incoming)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(mut m: Msg, src: &str) -> Msg {
        m.add_str("src", src);
        m
    }

    #[test]
    fn messages_round_trip() {
        let r = PeerRequest {
            node: "n1".into(),
            action: FenceAction::Off,
            reqid: "a-1".into(),
            timeout_ms: 1500,
        };
        assert_eq!(
            parse(&from(request_msg(&r), "Alpha")).unwrap(),
            Some(("alpha".into(), Incoming::Request(r)))
        );
        let c = PeerClaim {
            node: "n1".into(),
            action: FenceAction::Reset,
            reqid: "a-1".into(),
        };
        assert_eq!(
            parse(&from(claim_msg(&c, "beta"), "beta")).unwrap(),
            Some(("beta".into(), Incoming::Claim(c)))
        );
        let a = Announcement {
            outcome: FenceOutcome {
                node: "n1".into(),
                action: FenceAction::Reset,
                result: FenceResult::Failed,
                device: None,
                by: Some("beta".into()),
                detail: "line1\nline2".into(),
            },
            reqids: vec!["a-1".into(), "c-7".into()],
        };
        let Some((_, Incoming::Result(back))) = parse(&from(result_msg(&a), "beta")).unwrap()
        else {
            panic!()
        };
        assert_eq!(back.reqids, a.reqids);
        assert_eq!(back.outcome.device, None);
        assert_eq!(back.outcome.detail, "line1 line2");
        assert_eq!(back.outcome.result, FenceResult::Failed);
        let long = Announcement {
            outcome: FenceOutcome {
                detail: "é".repeat(5000),
                ..a.outcome
            },
            reqids: vec![],
        };
        let m = result_msg(&long);
        assert!(m.get_str("detail").unwrap().len() <= MAX_CLUSTER_DETAIL + 3);
    }

    #[test]
    fn bad_messages_are_errors_and_others_ignored() {
        assert_eq!(parse(&from(Msg::with_type("status"), "x")).unwrap(), None);
        let mut m = Msg::with_type(T_REQ);
        m.add_str("node", "n1")
            .add_str("action", "explode")
            .add_str("reqid", "r")
            .add_str("timeout", "5");
        assert!(parse(&from(m, "x")).unwrap_err().contains("bad action"));
        let mut m = Msg::with_type(T_REQ);
        m.add_str("node", "n1")
            .add_str("action", "reset")
            .add_str("reqid", "r")
            .add_str("timeout", "soon");
        assert!(parse(&from(m.clone(), "x"))
            .unwrap_err()
            .contains("bad timeout"));
        assert!(parse(&m).unwrap_err().contains("without src"));
    }
}
