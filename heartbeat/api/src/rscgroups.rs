//! Our `rscgroups` request (an extension; heartbeat 3.0.6 has nothing like it): the
//! state of every haresources group on the answering node, so that a failed monitor
//! or a blocked stop is visible in `cl_status rscgroups`.
//!
//! One reply carries the whole list (a consistent snapshot, and an empty list still
//! gets an answer, unlike `nodelist`): `numgroups=<n>`, then for each group `i` in
//! haresources order the fields `group<i>_key`, `group<i>_resources`,
//! `group<i>_preferred`, `group<i>_holder` (absent when unknown), `group<i>_state`,
//! `group<i>_failures` and `group<i>_last_failure` (absent when none).

use hb_wire::Msg;

use crate::error::ApiError;
use crate::fields::API_RSCGROUPS;

/// Number of groups in a `rscgroups` reply.
pub const F_NUMGROUPS: &str = "numgroups";

/// More groups than this in one reply means a corrupt or hostile answer: a real
/// haresources file is a few lines, and heartbeat's MAXMSG caps a reply anyway.
const MAX_GROUPS: usize = 10_000;

/// One haresources group as seen from the answering node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RscGroup {
    /// The group's key: its first resource as written in haresources.
    pub key: String,
    /// Every resource of the group as written, left to right (the key first).
    pub resources: Vec<String>,
    /// The node that owns the group (first word of its haresources line).
    pub preferred: String,
    /// The node believed to run the group; `None` when nobody is known to.
    pub holder: Option<String>,
    /// State on the answering node: `stopped`, `starting`, `running`, `stopping`,
    /// `failed` (released after a failed start or too many monitor failures) or
    /// `blocked` (a stop failed).
    pub state: String,
    /// Failed starts, monitors and stops seen on the answering node.
    pub failures: u32,
    /// The most recent of those failures, e.g. `monitor of httpd failed (rc 7)`.
    pub last_failure: Option<String>,
}

fn field(i: usize, name: &str) -> String {
    format!("group{i}_{name}")
}

/// Adds the `rscgroups` reply fields for `groups` to `msg`.
pub fn encode(msg: &mut Msg, groups: &[RscGroup]) {
    msg.add_str(F_NUMGROUPS, groups.len().to_string());
    for (i, g) in groups.iter().enumerate() {
        msg.add_str(&field(i, "key"), &g.key)
            .add_str(&field(i, "resources"), g.resources.join(" "))
            .add_str(&field(i, "preferred"), &g.preferred);
        if let Some(h) = &g.holder {
            msg.add_str(&field(i, "holder"), h);
        }
        msg.add_str(&field(i, "state"), &g.state)
            .add_str(&field(i, "failures"), g.failures.to_string());
        if let Some(f) = &g.last_failure {
            msg.add_str(&field(i, "last_failure"), f);
        }
    }
}

/// Reads the groups back from a `rscgroups` reply.
pub fn decode(msg: &Msg) -> Result<Vec<RscGroup>, ApiError> {
    let bad = |detail: String| ApiError::BadReply {
        reqtype: API_RSCGROUPS.to_string(),
        detail,
    };
    let n = msg
        .get_str(F_NUMGROUPS)
        .ok_or_else(|| bad(format!("no {F_NUMGROUPS} field in reply")))?;
    let n: usize = n
        .trim()
        .parse()
        .ok()
        .filter(|&n| n <= MAX_GROUPS)
        .ok_or_else(|| bad(format!("{F_NUMGROUPS} {n:?} is not a group count")))?;
    let mut groups = Vec::with_capacity(n);
    for i in 0..n {
        let get = |name: &str| msg.get_str(&field(i, name)).map(str::to_string);
        let need =
            |name: &str| get(name).ok_or_else(|| bad(format!("no {} field", field(i, name))));
        let key = need("key")?;
        // An older encoder without the resource list still gives a usable group.
        let resources = get("resources")
            .map(|r| r.split_whitespace().map(str::to_string).collect())
            .unwrap_or_else(|| vec![key.clone()]);
        let failures = need("failures")?;
        let failures = failures.trim().parse().map_err(|_| {
            bad(format!(
                "{} {failures:?} is not a number",
                field(i, "failures")
            ))
        })?;
        groups.push(RscGroup {
            resources,
            preferred: need("preferred")?,
            holder: get("holder").filter(|h| !h.is_empty()),
            state: need("state")?,
            failures,
            last_failure: get("last_failure"),
            key,
        });
    }
    Ok(groups)
}

/// Quotes `s` for a `key="value"` column of `cl_status rscgroups`: backslash,
/// double quote, newline, carriage return and tab are escaped with a backslash,
/// other control characters as `\u{XX}`, so a group stays on one line.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode_body, encode_body, MsgFmt};

    fn sample() -> Vec<RscGroup> {
        vec![
            RscGroup {
                key: "IPaddr::10.0.0.100/24/eth0".into(),
                resources: vec!["IPaddr::10.0.0.100/24/eth0".into(), "httpd".into()],
                preferred: "node1".into(),
                holder: Some("node1".into()),
                state: "running".into(),
                failures: 1,
                last_failure: Some("monitor of httpd failed (rc 7)".into()),
            },
            RscGroup {
                key: "10.0.0.101".into(),
                resources: vec!["10.0.0.101".into()],
                preferred: "node2".into(),
                holder: None,
                state: "stopped".into(),
                failures: 0,
                last_failure: None,
            },
        ]
    }

    #[test]
    fn round_trip_in_both_body_formats() {
        let mut m = Msg::with_type("hbapi-resp");
        m.add_str("reqtype", API_RSCGROUPS);
        encode(&mut m, &sample());
        m.add_str("result", "OK");
        for fmt in [MsgFmt::Classic, MsgFmt::Netstring] {
            let body = encode_body(&m, fmt).unwrap();
            let back = decode_body(&body).unwrap();
            assert_eq!(decode(&back).unwrap(), sample(), "{fmt:?}");
        }
    }

    #[test]
    fn field_layout() {
        let mut m = Msg::new();
        encode(&mut m, &sample());
        let names: Vec<&str> = m.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "numgroups",
                "group0_key",
                "group0_resources",
                "group0_preferred",
                "group0_holder",
                "group0_state",
                "group0_failures",
                "group0_last_failure",
                "group1_key",
                "group1_resources",
                "group1_preferred",
                "group1_state",
                "group1_failures",
            ]
        );
        assert_eq!(
            m.get_str("group0_resources"),
            Some("IPaddr::10.0.0.100/24/eth0 httpd")
        );
        let mut empty = Msg::new();
        encode(&mut empty, &[]);
        assert_eq!(empty.get_str("numgroups"), Some("0"));
        assert_eq!(decode(&empty).unwrap(), vec![]);
    }

    #[test]
    fn broken_replies_are_errors() {
        let mut m = Msg::new();
        assert!(matches!(decode(&m), Err(ApiError::BadReply { .. })));
        m.add_str("numgroups", "many");
        assert!(decode(&m).is_err());
        let mut m = Msg::new();
        m.add_str("numgroups", "99999999999");
        assert!(decode(&m).is_err(), "absurd counts are refused");
        let mut m = Msg::new();
        encode(&mut m, &sample());
        m.set_str("group1_failures", "-1");
        let e = decode(&m).unwrap_err().to_string();
        assert!(e.contains("group1_failures"), "{e}");
        let mut m = Msg::new();
        m.add_str("numgroups", "1").add_str("group0_key", "httpd");
        let e = decode(&m).unwrap_err().to_string();
        assert!(e.contains("group0_failures"), "{e}");
    }

    #[test]
    fn quoting_keeps_one_line() {
        assert_eq!(
            quote("monitor of httpd failed (rc 7)"),
            "\"monitor of httpd failed (rc 7)\""
        );
        assert_eq!(quote("a\"b\\c\nd\te\u{1}"), "\"a\\\"b\\\\c\\nd\\te\\u{1}\"");
    }
}
