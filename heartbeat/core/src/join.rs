//! Joining the cluster: `reqnodes`/`repnodes` and "comm up" (§3.1 step 3, §3.7).

/// Where the local node is in the join sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JoinState {
    /// Waiting until every configured node has been heard from or declared dead.
    Waiting,
    /// `reqnodes` sent; retried every keepalive with the next live peer.
    Requesting { attempts: usize, next_try_ms: u64 },
    /// Comm is up.
    Up,
}

/// `nodelist` / `delnodelist` format: every name followed by a space, `" "` when empty.
pub(crate) fn format_nodelist<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::new();
    for n in names {
        s.push_str(n);
        s.push(' ');
    }
    if s.is_empty() {
        s.push(' ');
    }
    s
}

pub(crate) fn parse_nodelist(s: &str) -> Vec<String> {
    s.split_whitespace().map(|n| n.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodelist_round_trip() {
        assert_eq!(format_nodelist(["node1", "node2"]), "node1 node2 ");
        assert_eq!(format_nodelist([]), " ");
        assert_eq!(parse_nodelist("node1 Node2 "), vec!["node1", "node2"]);
        assert!(parse_nodelist(" ").is_empty());
    }
}
