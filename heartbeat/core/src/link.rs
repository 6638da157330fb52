//! Link state: one entry per (node, local medium).

use hb_wire::Msg;

/// Index of a local medium in [`crate::CoreConfig::links`].
pub type LinkId = usize;

/// State of one (node, medium) link as cl_status shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// A packet from that node arrived through that medium recently.
    Up,
    /// Nothing arrived for a dead interval (or never).
    Dead,
}

impl LinkState {
    /// The word heartbeat uses (`up` / `dead`).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Link {
    /// The local medium this link is heard through; None for a ping node's link,
    /// which is fed by the ICMP reader whatever id it passes.
    pub(crate) id: Option<LinkId>,
    pub(crate) name: String,
    pub(crate) state: LinkState,
    /// Local monotonic time of the last packet through this link.
    pub(crate) last_ms: Option<u64>,
}

impl Link {
    pub(crate) fn new(id: Option<LinkId>, name: &str) -> Link {
        Link {
            id,
            name: name.to_string(),
            state: LinkState::Dead,
            last_ms: None,
        }
    }
}

/// The internal `t=ifstat` message clients get on a link change (§3.2).
pub(crate) fn ifstat_msg(node: &str, link: &str, state: LinkState) -> Msg {
    let mut m = Msg::with_type("ifstat");
    m.add_str("node", node)
        .add_str("ifname", link)
        .add_str("st", state.as_str());
    m
}
