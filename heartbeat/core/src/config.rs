//! Configuration of one [`crate::Core`] and the clock value passed into it.

use std::time::Duration;

/// A point in time, supplied by the caller: the core never reads a clock itself.
///
/// `mono_ms` drives every timer; `unix_secs` only goes into the `ts` field of messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Now {
    /// Monotonic milliseconds (any origin).
    pub mono_ms: u64,
    /// Wall-clock seconds since the epoch, for `ts`.
    pub unix_secs: u64,
}

/// ha.cf `autojoin`: what to do with messages from nodes missing from the node table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AutoJoin {
    /// Unknown senders are dropped ("bad node [x] in message").
    #[default]
    None,
    /// Unknown senders are added to the node table.
    Other,
    /// Like `Other`; the local node need not be listed in ha.cf either.
    Any,
}

/// Everything the core needs from ha.cf and the local state files.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Local node name, lower-case (`uname -n` or `/etc/ha.d/nodeinfo`).
    pub local: String,
    /// Local node UUID (`/var/lib/heartbeat/hb_uuid`), sent as `srcuuid`.
    pub local_uuid: [u8; 16],
    /// This run's generation (`hb_generation`), sent as `hg`.
    pub generation: u64,
    /// Normal nodes from `node` lines, including the local node.
    pub nodes: Vec<String>,
    /// Node names declared by `ping` (the address) and `ping_group` (the group name).
    pub ping_nodes: Vec<String>,
    /// Local medium names; the index is the [`crate::LinkId`]. Entries equal to a
    /// ping node name are that ping node's link and are not links of normal nodes.
    pub links: Vec<String>,
    /// `keepalive`: interval between status messages.
    pub keepalive: Duration,
    /// `deadtime`: advertised to peers as `dt`.
    pub deadtime: Duration,
    /// `warntime`: late heartbeat warning threshold.
    pub warntime: Duration,
    /// `initdead`: dead time applied to every node before comm is up.
    pub initdead: Duration,
    /// `deadping`: dead time of ping nodes.
    pub deadping: Duration,
    /// Upper bound of the random delay before asking for a missing packet.
    pub max_rexmit_delay: Duration,
    /// `hopfudge`: added to the node count to form `ttl`.
    pub hopfudge: u32,
    /// `autojoin`.
    pub autojoin: AutoJoin,
    /// Advertise `protocol=1` (ACKs, flow control, reqnodes). Default true.
    pub flow_control: bool,
    /// Seed for the core's random choices (ack triggers, rexmit delays).
    pub rng_seed: u64,
}

impl CoreConfig {
    /// A configuration with heartbeat 3.0.6's defaults (keepalive 1 s, deadtime 30 s,
    /// warntime deadtime/2, initdead per §3.1, deadping = deadtime, max_rexmit_delay
    /// 250 ms, hopfudge 1, autojoin none, flow control on).
    pub fn new(local: impl Into<String>, nodes: Vec<String>) -> Self {
        let deadtime = Duration::from_secs(30);
        CoreConfig {
            local: local.into().to_lowercase(),
            local_uuid: [0; 16],
            generation: 0,
            nodes: nodes.into_iter().map(|n| n.to_lowercase()).collect(),
            ping_nodes: Vec::new(),
            links: Vec::new(),
            keepalive: Duration::from_secs(1),
            deadtime,
            warntime: deadtime / 2,
            initdead: default_initdead(deadtime),
            deadping: deadtime,
            max_rexmit_delay: Duration::from_millis(250),
            hopfudge: 1,
            autojoin: AutoJoin::None,
            flow_control: true,
            rng_seed: 0,
        }
    }
}

/// heartbeat's `initdead` default for a given `deadtime` (§3.1).
pub fn default_initdead(deadtime: Duration) -> Duration {
    if deadtime > Duration::from_secs(10) {
        deadtime
    } else if deadtime < Duration::from_secs(6) {
        Duration::from_secs(12)
    } else {
        deadtime * 2
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_heartbeat() {
        let c = CoreConfig::new("Alpha", vec!["Alpha".into(), "bravo".into()]);
        assert_eq!(c.local, "alpha");
        assert_eq!(c.nodes, vec!["alpha", "bravo"]);
        assert_eq!(c.keepalive, Duration::from_secs(1));
        assert_eq!(c.deadtime, Duration::from_secs(30));
        assert_eq!(c.warntime, Duration::from_secs(15));
        assert_eq!(c.initdead, Duration::from_secs(30));
        assert_eq!(c.max_rexmit_delay, Duration::from_millis(250));
        assert_eq!(c.hopfudge, 1);
        assert!(c.flow_control);
    }

    #[test]
    fn initdead_rules() {
        assert_eq!(
            default_initdead(Duration::from_secs(5)),
            Duration::from_secs(12)
        );
        assert_eq!(
            default_initdead(Duration::from_secs(8)),
            Duration::from_secs(16)
        );
        assert_eq!(
            default_initdead(Duration::from_secs(10)),
            Duration::from_secs(20)
        );
        assert_eq!(
            default_initdead(Duration::from_secs(11)),
            Duration::from_secs(11)
        );
    }
}
