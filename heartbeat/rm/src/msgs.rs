//! Builders for the R1 resource messages, field order as heartbeat 3.0.6
//! sends them (see the failover capture).

use std::collections::BTreeSet;

use hb_wire::Msg;

/// `i_hold_resources` bits.
pub const HB_NO_RSC: u8 = 0;
pub const HB_LOCAL_RSC: u8 = 1;
pub const HB_FOREIGN_RSC: u8 = 2;
pub const HB_ALL_RSC: u8 = 3;

const RSC_MSG: [&str; 4] = ["none", "local", "foreign", "all"];

/// `decode_resources`.
pub(crate) fn decode(flags: u8) -> &'static str {
    RSC_MSG[usize::from(flags & HB_ALL_RSC)]
}

/// `encode_resources`: unknown strings mean none (heartbeat logs and returns 0).
pub(crate) fn encode(s: &str) -> Option<u8> {
    RSC_MSG
        .iter()
        .position(|x| *x == s)
        .and_then(|p| u8::try_from(p).ok())
}

/// Swaps local and foreign: the same set seen from the other node.
pub(crate) fn swap(flags: u8) -> u8 {
    match flags & HB_ALL_RSC {
        HB_LOCAL_RSC => HB_FOREIGN_RSC,
        HB_FOREIGN_RSC => HB_LOCAL_RSC,
        f => f,
    }
}

/// `t=resource rsc_hold=<h> [rtype=full isstable=<0|1>] [info=<comment>]`.
/// `stable` None gives the short form the mach_down script sends.
pub(crate) fn resource(hold: u8, stable: Option<bool>, info: Option<&str>) -> Msg {
    let mut m = Msg::with_type("resource");
    m.add_str("rsc_hold", decode(hold));
    if let Some(s) = stable {
        m.add_str("rtype", "full");
        m.add_str("isstable", if s { "1" } else { "0" });
    }
    if let Some(i) = info {
        m.add_str("info", i);
    }
    m
}

pub(crate) fn starting() -> Msg {
    Msg::with_type("starting")
}

/// `t=ask_resources rsc_hold=<set> info=me|other|done`.
pub(crate) fn ask_resources(set: u8, info: &str) -> Msg {
    let mut m = Msg::with_type("ask_resources");
    m.add_str("rsc_hold", decode(set)).add_str("info", info);
    m
}

pub(crate) fn hb_takeover(set: u8) -> Msg {
    let mut m = Msg::with_type("hb_takeover");
    m.add_str("rsc_hold", decode(set));
    m
}

pub(crate) fn ip_request(key: &str) -> Msg {
    let mut m = Msg::with_type("ip-request");
    m.add_str("ipaddr", key);
    m
}

pub(crate) fn ip_request_resp(dest: &str, key: &str, weown: bool) -> Msg {
    let mut m = Msg::with_type("ip-request-resp");
    m.add_str("dest", dest)
        .add_str("ipaddr", key)
        .add_str("weown", if weown { "yes" } else { "no" })
        .add_str("ok", "OK");
    m
}

pub(crate) fn stonith(node: &str, result: &str) -> Msg {
    let mut m = Msg::with_type("stonith");
    m.add_str("node", node).add_str("result", result);
    m
}

/// Our extension (type [`crate::T_RSC_STATE`]): what we hold, what is
/// blocked, which groups we must not get, and how many ping nodes we reach.
pub(crate) fn rsc_state(
    held: &BTreeSet<String>,
    blocked: &BTreeSet<String>,
    excluded: &BTreeSet<String>,
    ping: Option<u32>,
    req: bool,
) -> Msg {
    let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(" ");
    let mut m = Msg::with_type(crate::T_RSC_STATE);
    // Empty values are left out: heartbeat's classic parser rejects `name=`.
    for (name, set) in [("held", held), ("blocked", blocked), ("excluded", excluded)] {
        if !set.is_empty() {
            m.add_str(name, join(set));
        }
    }
    if let Some(p) = ping {
        m.add_str("ping", p.to_string());
    }
    if req {
        m.add_str("req", "1");
    }
    m
}
