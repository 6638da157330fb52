//! Per-sender sequence tracking (§3.3): last seq, the missing list and its rexmit timers.

use std::collections::BTreeMap;

/// A gap wider than this makes the receiver forget the missing packets and resync.
pub const MAX_GAP: u64 = 250;
/// Upper bound of the missing list per sender.
pub const MAX_MISSING: usize = 500;

/// What to do with a sequenced message after tracking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SeqVerdict {
    /// First message seen from this sender (or after a reset).
    First,
    /// `seq == last_seq + 1`.
    InOrder,
    /// `seq > last_seq + 1`: accepted; `first..=last` are now missing.
    Gap { first: u64, last: u64 },
    /// Gap too wide: missing list forgotten, tracking restarted at `seq`.
    Resync { lost: u64 },
    /// A missing seq arrived; `now_complete` if nothing is missing any more.
    Filled { now_complete: bool },
    /// Already seen.
    Duplicate,
}

impl SeqVerdict {
    pub(crate) fn accepted(&self) -> bool {
        !matches!(self, SeqVerdict::Duplicate)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SeqTrack {
    pub(crate) last_seq: Option<u64>,
    /// Missing seq → local monotonic time of the next `NS_rexmit` for it.
    pub(crate) missing: BTreeMap<u64, u64>,
}

impl SeqTrack {
    pub(crate) fn reset(&mut self) {
        self.last_seq = None;
        self.missing.clear();
    }

    /// Tracks `seq`; `first_request` gives the time of the first rexmit request for a
    /// newly missing seq.
    pub(crate) fn observe(
        &mut self,
        seq: u64,
        mut first_request: impl FnMut() -> u64,
    ) -> SeqVerdict {
        let Some(last) = self.last_seq else {
            self.last_seq = Some(seq);
            return SeqVerdict::First;
        };
        if seq == last.wrapping_add(1) {
            self.last_seq = Some(seq);
            return SeqVerdict::InOrder;
        }
        if seq > last {
            let gap = seq - last - 1;
            if gap > MAX_GAP || self.missing.len() as u64 + gap > MAX_MISSING as u64 {
                self.missing.clear();
                self.last_seq = Some(seq);
                return SeqVerdict::Resync { lost: gap };
            }
            for s in last + 1..seq {
                let at = first_request();
                self.missing.insert(s, at);
            }
            self.last_seq = Some(seq);
            return SeqVerdict::Gap {
                first: last + 1,
                last: seq - 1,
            };
        }
        if self.missing.remove(&seq).is_some() {
            return SeqVerdict::Filled {
                now_complete: self.missing.is_empty(),
            };
        }
        SeqVerdict::Duplicate
    }

    /// Gives up on a seq (NAK received); true if it was missing.
    pub(crate) fn give_up(&mut self, seq: u64) -> bool {
        self.missing.remove(&seq).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_gap_fill_duplicate() {
        let mut t = SeqTrack::default();
        assert_eq!(t.observe(5, || 0), SeqVerdict::First);
        assert_eq!(t.observe(6, || 0), SeqVerdict::InOrder);
        assert_eq!(t.observe(6, || 0), SeqVerdict::Duplicate);
        assert_eq!(t.observe(9, || 42), SeqVerdict::Gap { first: 7, last: 8 });
        assert_eq!(t.missing.get(&7), Some(&42));
        assert_eq!(
            t.observe(8, || 0),
            SeqVerdict::Filled {
                now_complete: false
            }
        );
        assert_eq!(t.observe(8, || 0), SeqVerdict::Duplicate);
        assert_eq!(
            t.observe(7, || 0),
            SeqVerdict::Filled { now_complete: true }
        );
        assert_eq!(t.observe(3, || 0), SeqVerdict::Duplicate);
    }

    #[test]
    fn wide_gap_resyncs() {
        let mut t = SeqTrack::default();
        t.observe(1, || 0);
        assert_eq!(t.observe(300, || 0), SeqVerdict::Resync { lost: 298 });
        assert!(t.missing.is_empty());
        assert_eq!(t.observe(301, || 0), SeqVerdict::InOrder);
        // exactly MAX_GAP missing is still tracked
        assert_eq!(
            t.observe(301 + MAX_GAP + 1, || 0),
            SeqVerdict::Gap {
                first: 302,
                last: 301 + MAX_GAP
            }
        );
        assert_eq!(t.missing.len() as u64, MAX_GAP);
        // the list stays bounded even if gaps accumulate
        for _ in 0..10 {
            let l = t.last_seq.unwrap_or(0);
            t.observe(l + 200, || 0);
            assert!(t.missing.len() <= MAX_MISSING);
        }
    }
}
