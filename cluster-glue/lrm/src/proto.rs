//! The lrmd socket protocol: newline-delimited JSON.
//!
//! Each request is one JSON object on one line with a client-chosen `id` and a `request`
//! name; the reply echoes the `id`. Results of operations are pushed as event lines
//! (`{"event": ...}`, no `id`) to the client that submitted the op and to subscribers.
//! See docs/lrmd.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{OpRecord, OpSpec, Resource};

/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/heartbeat/lrm/lrmd.sock";
/// Longest accepted request line (bytes, without the newline).
pub const MAX_LINE: usize = 1024 * 1024;

/// A request, tagged by its `request` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// Registers a resource (`lrmadmin -A`).
    Register {
        #[serde(flatten)]
        rsc: Resource,
    },
    /// Unregisters a resource (`lrmadmin -D`).
    Unregister { rsc: String },
    /// Runs an operation (`lrmadmin -E`); the reply carries the call id, the result comes
    /// as an `op-result` event.
    Exec {
        rsc: String,
        #[serde(flatten)]
        op: OpSpec,
    },
    /// Cancels ops by call id, or by operation name and interval.
    Cancel {
        rsc: String,
        #[serde(default)]
        call_id: Option<u64>,
        #[serde(default)]
        operation: Option<String>,
        #[serde(default)]
        interval: Option<u64>,
    },
    /// Cancels every pending op of a resource (`lrmadmin -F`).
    Flush { rsc: String },
    /// Synthesizes an asynchronous failure (`lrmadmin -X`).
    Fail {
        rsc: String,
        #[serde(default)]
        rc: Option<i32>,
        #[serde(default)]
        reason: Option<String>,
    },
    /// A resource's definition (`lrmadmin -I`).
    Get { rsc: String },
    /// All resources (`lrmadmin -L`).
    List,
    /// State and op history (`lrmadmin -S`).
    State { rsc: String },
    /// Supported classes (`lrmadmin -C`).
    Classes,
    /// Providers of a type (`lrmadmin -P`).
    Providers {
        class: String,
        #[serde(default, rename = "type")]
        agent_type: Option<String>,
    },
    /// Types of a class (`lrmadmin -T`).
    Types {
        class: String,
        #[serde(default)]
        provider: Option<String>,
    },
    /// Agent meta-data XML (`lrmadmin -M`).
    Metadata {
        class: String,
        #[serde(rename = "type")]
        agent_type: String,
        #[serde(default)]
        provider: Option<String>,
    },
    /// Fail count of a resource.
    FailcountGet { rsc: String },
    /// Resets a resource's fail count.
    FailcountReset { rsc: String },
    /// Reads an lrmd parameter (`max-children`).
    GetParam { name: String },
    /// Sets an lrmd parameter.
    SetParam { name: String, value: String },
    /// Receive every op result from now on, not only those of one's own ops.
    Subscribe,
    /// Liveness check (`lrmadmin -d`).
    Ping,
}

/// An error reply's machine-readable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, not an object, or a line over [`MAX_LINE`].
    Malformed,
    /// Unknown `request` name.
    UnknownRequest,
    /// Known request with missing or mistyped fields.
    InvalidArgument,
    UnknownResource,
    /// Registration refused (duplicate id, bad class/type).
    InvalidResource,
    /// Resource frozen (flush/delete pending) or lrmd shutting down.
    Busy,
    UnknownOperation,
    /// Discovery or meta-data failed.
    AgentError,
    PermissionDenied,
}

/// Error body of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// A reply line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's `id`, `null` when it could not be read.
    pub id: Value,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Reply {
    /// A success reply.
    pub fn ok(id: Value, result: Value) -> Reply {
        Reply {
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// An error reply.
    pub fn err(id: Value, code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply {
            id,
            ok: false,
            result: None,
            error: Some(ErrorBody {
                code,
                message: message.into(),
            }),
        }
    }
}

/// An event line pushed by lrmd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// An op finished (or was cancelled).
    OpResult(OpRecord),
}

/// Anything lrmd writes: a reply (has `id`) or an event (has `event`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ServerLine {
    Event(Event),
    Reply(Reply),
}

/// `outcome` field of cancel/flush/unregister replies.
pub fn outcome_value(pending: bool) -> Value {
    let mut m = BTreeMap::new();
    m.insert("outcome", if pending { "pending" } else { "done" });
    serde_json::to_value(m).unwrap_or(Value::Null)
}

/// Splits a request line into its `id` and the parsed request, or an error reply.
pub fn parse_request(line: &[u8]) -> Result<(Value, Request), Reply> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        Reply::err(
            Value::Null,
            ErrorCode::Malformed,
            format!("request is not JSON: {e}"),
        )
    })?;
    let Value::Object(map) = &v else {
        return Err(Reply::err(
            Value::Null,
            ErrorCode::Malformed,
            "request must be a JSON object",
        ));
    };
    let id = map.get("id").cloned().unwrap_or(Value::Null);
    let name = match map.get("request") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(Reply::err(
                id,
                ErrorCode::InvalidArgument,
                "field \"request\" must be a string",
            ))
        }
        None => {
            return Err(Reply::err(
                id,
                ErrorCode::Malformed,
                "missing field \"request\"",
            ))
        }
    };
    let mut body = map.clone();
    body.remove("id");
    serde_json::from_value::<Request>(Value::Object(body))
        .map(|r| (id.clone(), r))
        .map_err(|e| {
            let msg = e.to_string();
            if msg.starts_with("unknown variant") {
                Reply::err(
                    id.clone(),
                    ErrorCode::UnknownRequest,
                    format!("unknown request {name:?}"),
                )
            } else {
                Reply::err(
                    id.clone(),
                    ErrorCode::InvalidArgument,
                    format!("request {name:?}: {msg}"),
                )
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_and_names_problems() {
        let (id, r) = parse_request(
            br#"{"id":3,"request":"exec","rsc":"d1","operation":"monitor","interval":1000}"#,
        )
        .unwrap();
        assert_eq!(id, serde_json::json!(3));
        match r {
            Request::Exec { rsc, op } => {
                assert_eq!(rsc, "d1");
                assert_eq!(
                    (op.operation.as_str(), op.interval, op.timeout),
                    ("monitor", 1000, 20_000)
                );
            }
            other => panic!("parsed as {other:?}"),
        }
        let (_, r) = parse_request(br#"{"id":"x","request":"register","rsc":"a","class":"ocf","provider":"heartbeat","type":"Dummy"}"#).unwrap();
        assert!(
            matches!(r, Request::Register { rsc } if rsc.id == "a" && rsc.agent_type == "Dummy")
        );

        let e = parse_request(b"\x00garbage").unwrap_err();
        assert_eq!(e.error.unwrap().code, ErrorCode::Malformed);
        let e = parse_request(b"[1,2]").unwrap_err();
        assert_eq!(e.error.unwrap().code, ErrorCode::Malformed);
        let e = parse_request(br#"{"id":1,"request":"frobnicate"}"#).unwrap_err();
        assert_eq!(e.id, serde_json::json!(1));
        assert_eq!(e.error.unwrap().code, ErrorCode::UnknownRequest);
        let e = parse_request(
            br#"{"id":2,"request":"exec","rsc":"d1","operation":"start","timeout":"soon"}"#,
        )
        .unwrap_err();
        let body = e.error.unwrap();
        assert_eq!(body.code, ErrorCode::InvalidArgument);
        assert!(
            body.message.contains("soon") || body.message.contains("invalid type"),
            "{}",
            body.message
        );
        let e = parse_request(br#"{"id":2,"request":"get"}"#).unwrap_err();
        assert!(e.error.unwrap().message.contains("rsc"));
        let e = parse_request(br#"{"id":2,"request":7}"#).unwrap_err();
        assert_eq!(e.error.unwrap().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn events_round_trip() {
        let rec = crate::model::OpRecord {
            call_id: 4,
            rsc: "d1".into(),
            spec: crate::model::OpSpec::new("start"),
            status: crate::model::OpStatus::Done,
            rc: 0,
            last_rc: 0,
            t_run: 1,
            t_rcchange: 1,
            exec_time: 3,
            queue_time: 0,
            output: None,
            exit_reason: None,
            rsc_deleted: false,
        };
        let line = serde_json::to_string(&Event::OpResult(rec.clone())).unwrap();
        assert!(line.starts_with(r#"{"event":"op-result""#), "{line}");
        match serde_json::from_str::<ServerLine>(&line).unwrap() {
            ServerLine::Event(Event::OpResult(r)) => assert_eq!(r, rec),
            other => panic!("{other:?}"),
        }
    }
}
