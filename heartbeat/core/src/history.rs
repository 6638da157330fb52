//! The sender's history of its own sequenced messages, for retransmission (§3.4).

use std::collections::VecDeque;

use hb_wire::Msg;

/// heartbeat keeps at most this many sent messages.
pub const MAX_HISTORY: usize = 500;

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    /// The message exactly as first sent, so a resend encodes to identical bytes.
    pub(crate) msg: Msg,
    pub(crate) last_resend_ms: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    entries: VecDeque<Entry>,
}

impl History {
    /// Stores a sent message; the oldest is dropped when full.
    pub(crate) fn push(&mut self, seq: u64, msg: Msg) {
        if self.entries.len() >= MAX_HISTORY {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            seq,
            msg,
            last_resend_ms: None,
        });
        match self.entries.len() {
            375 => tracing::warn!("Message hist queue is filling up (375 messages in queue)"),
            450 => tracing::error!("Message hist queue is filling up (450 messages in queue)"),
            _ => {}
        }
    }

    pub(crate) fn oldest(&self) -> Option<u64> {
        self.entries.front().map(|e| e.seq)
    }

    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        let i = self.entries.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.entries.get_mut(i)
    }

    /// Frees every entry with `seq <= upto` (acknowledged by every live node).
    pub(crate) fn free_upto(&mut self, upto: u64) {
        while self.entries.front().is_some_and(|e| e.seq <= upto) {
            self.entries.pop_front();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_freed_by_acks() {
        let mut h = History::default();
        for s in 1..=600 {
            h.push(s, Msg::with_type("status"));
        }
        assert_eq!(h.len(), MAX_HISTORY);
        assert_eq!(h.oldest(), Some(101));
        assert!(h.get_mut(100).is_none());
        assert_eq!(h.get_mut(300).map(|e| e.seq), Some(300));
        h.free_upto(550);
        assert_eq!(h.oldest(), Some(551));
        assert_eq!(h.len(), 50);
    }
}
