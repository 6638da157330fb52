//! The node table entry: status, generation, UUID, links and per-sender tracking.

use crate::link::{Link, LinkState};
use crate::seq::SeqTrack;

/// Kind of node table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    /// A heartbeat node (`node` line, autojoin, `repnodes`).
    Normal,
    /// A `ping` address or `ping_group`.
    Ping,
}

impl NodeType {
    /// The word cl_status prints (`normal` / `ping`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Normal => "normal",
            NodeType::Ping => "ping",
        }
    }
}

/// Node status words (§3.2).
pub mod status {
    /// Never heard from / first status of a starting node.
    pub const INIT: &str = "init";
    /// Running, comm not yet up.
    pub const UP: &str = "up";
    /// Comm up, fully functional.
    pub const ACTIVE: &str = "active";
    /// Declared dead.
    pub const DEAD: &str = "dead";
    /// A live ping node.
    pub const PING: &str = "ping";
}

/// A snapshot of one node table entry, for cl_status and the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub node_type: NodeType,
    /// `init`, `up`, `active`, `dead` or `ping`.
    pub status: String,
    pub uuid: Option<[u8; 16]>,
    /// Per local medium (per ping address for ping nodes).
    pub links: Vec<(String, LinkState)>,
    pub weight: u32,
    pub site: String,
    /// Last generation seen in a status message.
    pub generation: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) node_type: NodeType,
    pub(crate) status: String,
    pub(crate) uuid: Option<[u8; 16]>,
    pub(crate) weight: u32,
    pub(crate) site: String,
    pub(crate) generation: Option<u64>,
    pub(crate) links: Vec<Link>,
    /// Local monotonic time of the last accepted status (liveness).
    pub(crate) last_status_ms: Option<u64>,
    /// seq of the last status that updated liveness, to ignore retransmitted old ones.
    pub(crate) last_status_seq: Option<u64>,
    /// Dead time: the `dt` the node advertises, initially the local deadtime/deadping.
    pub(crate) dead_ms: u64,
    /// Whether its last status carried `protocol` (None: no status yet).
    pub(crate) protocol: Option<bool>,
    pub(crate) seq: SeqTrack,
    /// Highest `ackseq` it sent for our messages since it last came alive.
    pub(crate) ackseq: Option<u64>,
    /// We ACK its messages whose `seq % 10` equals this.
    pub(crate) ack_trigger: u64,
    /// Generation in which it announced `shutdone`: its trailing status messages of
    /// that generation must not revive it.
    pub(crate) shutdown_gen: Option<u64>,
    /// `hbapi-clstat` messages (seq, msg) held back until the gap before them is
    /// filled (§3.3 ordering barrier).
    pub(crate) held_clstat: Vec<(u64, hb_wire::Msg)>,
}

impl Node {
    pub(crate) fn new(
        name: &str,
        node_type: NodeType,
        link_names: &[String],
        ping_links: &[String],
        dead_ms: u64,
        ack_trigger: u64,
    ) -> Node {
        let links = match node_type {
            NodeType::Normal => link_names
                .iter()
                .enumerate()
                .filter(|(_, l)| !ping_links.contains(l))
                .map(|(id, l)| Link::new(Some(id), l))
                .collect(),
            // A ping node's only link is named after the ping target (§3.2).
            NodeType::Ping => vec![Link::new(None, name)],
        };
        Node {
            name: name.to_string(),
            node_type,
            status: status::INIT.to_string(),
            uuid: None,
            weight: 100,
            site: String::new(),
            generation: None,
            links,
            last_status_ms: None,
            last_status_seq: None,
            dead_ms,
            protocol: None,
            seq: SeqTrack::default(),
            ackseq: None,
            ack_trigger,
            shutdown_gen: None,
            held_clstat: Vec::new(),
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.status == status::DEAD
    }

    /// up or active: counts in `live_node_count` and in the ack point.
    pub(crate) fn is_live_normal(&self) -> bool {
        self.node_type == NodeType::Normal
            && (self.status == status::UP || self.status == status::ACTIVE)
    }

    pub(crate) fn view(&self) -> NodeView {
        NodeView {
            name: self.name.clone(),
            node_type: self.node_type,
            status: self.status.clone(),
            uuid: self.uuid,
            links: self
                .links
                .iter()
                .map(|l| (l.name.clone(), l.state))
                .collect(),
            weight: self.weight,
            site: self.site.clone(),
            generation: self.generation,
        }
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, for logs.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
