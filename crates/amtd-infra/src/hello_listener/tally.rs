//! Folding repeated rejections into summaries, sans-IO (the caller passes the time).
//!
//! Every connection that produced no hello is accounted for, yet a flood yields a bounded
//! number of events: within one summary interval, the first rejection of each kind from each
//! source ([`source_key`]) is reported at once, exactly as it happened (up to `max_immediate`
//! such reports per interval); the further ones are counted and reported together at the end
//! of the interval as one event with a count. An event that cannot be delivered (the channel
//! is congested) is folded back and reported with the next summary instead of being lost.
//!
//! The table holds at most `max_keys` (source, kind) pairs; beyond that, new pairs are counted
//! under the unspecified address `0.0.0.0` (one entry per kind), so memory stays bounded
//! whatever the number of addresses a flood comes from. Hence at most `max_immediate` +
//! `max_keys` + one per kind events per interval: the server writes each one to its store,
//! and that budget is what keeps a flood from many addresses from queueing a real device's
//! hello behind thousands of records.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::SystemTime;

use super::event::{HelloEvent, HelloOutcome, RejectKind};
use super::rate_limit::source_key;

/// What a rejection is counted under, besides its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Category {
    Rejected(RejectKind),
    RateLimited,
}

impl Category {
    fn of(outcome: &HelloOutcome) -> Option<Self> {
        match outcome {
            HelloOutcome::Accepted(_) => None,
            HelloOutcome::Rejected(r) => Some(Self::Rejected(r.kind())),
            HelloOutcome::RateLimited => Some(Self::RateLimited),
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// Connections counted but not yet reported.
    pending: u32,
    /// When the first of them arrived.
    first: SystemTime,
    /// The last of them: its source and verdict.
    last: Option<(SocketAddr, HelloOutcome)>,
}

/// Rejections of the current summary interval, by source and kind.
#[derive(Debug)]
pub(super) struct Tally {
    max_keys: usize,
    max_immediate: usize,
    /// Reports made at once in this interval.
    immediate: usize,
    table: HashMap<(IpAddr, Category), Entry>,
    folded: u64,
}

/// The source summaries beyond the table's bound are reported under.
const OVERFLOW: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Tally {
    /// A tally of at most `max_keys` (source, kind) pairs (at least 1) and `max_immediate`
    /// reports made at once per interval.
    pub(super) fn new(max_keys: usize, max_immediate: usize) -> Self {
        Self {
            max_keys: max_keys.max(1),
            max_immediate,
            immediate: 0,
            table: HashMap::new(),
            folded: 0,
        }
    }

    /// Counts one verdict. Returns the event to report at once (every accepted hello, and the
    /// first of its source and kind in this interval while the interval's budget of immediate
    /// reports lasts); `None` when it was folded into the interval's summary.
    pub(super) fn note(
        &mut self,
        source: SocketAddr,
        outcome: HelloOutcome,
        now: SystemTime,
    ) -> Option<HelloEvent> {
        let Some(category) = Category::of(&outcome) else {
            return Some(HelloEvent {
                source,
                time: now,
                outcome,
                count: 1,
            });
        };
        let mut key = (source_key(source.ip()), category);
        if !self.table.contains_key(&key) {
            if self.table.len() >= self.max_keys {
                key = (OVERFLOW, category);
            } else if self.immediate < self.max_immediate {
                self.immediate += 1;
                self.table.insert(
                    key,
                    Entry {
                        pending: 0,
                        first: now,
                        last: None,
                    },
                );
                return Some(HelloEvent {
                    source,
                    time: now,
                    outcome,
                    count: 1,
                });
            }
        }
        self.fold(key, source, outcome, now, 1);
        None
    }

    /// Folds back an event that could not be delivered: it is reported with the next summary.
    pub(super) fn defer(&mut self, event: HelloEvent) {
        let Some(category) = Category::of(&event.outcome) else {
            return;
        };
        let mut key = (source_key(event.source.ip()), category);
        if !self.table.contains_key(&key) && self.table.len() >= self.max_keys {
            key = (OVERFLOW, category);
        }
        let HelloEvent {
            source,
            time,
            outcome,
            count,
        } = event;
        self.fold(key, source, outcome, time, count);
    }

    fn fold(
        &mut self,
        key: (IpAddr, Category),
        source: SocketAddr,
        outcome: HelloOutcome,
        time: SystemTime,
        count: u32,
    ) {
        let source = if key.0 == OVERFLOW {
            SocketAddr::new(OVERFLOW, 0)
        } else {
            source
        };
        let entry = self.table.entry(key).or_insert(Entry {
            pending: 0,
            first: time,
            last: None,
        });
        if entry.pending == 0 || time < entry.first {
            entry.first = time;
        }
        entry.pending = entry.pending.saturating_add(count);
        entry.last = Some((source, outcome));
        self.folded = self.folded.saturating_add(u64::from(count));
    }

    /// Ends the interval: the summaries of everything folded, oldest first, and an empty table.
    pub(super) fn drain(&mut self) -> Vec<HelloEvent> {
        self.immediate = 0;
        let mut out: Vec<HelloEvent> = self
            .table
            .drain()
            .filter_map(|(_, e)| {
                let (source, outcome) = e.last?;
                (e.pending > 0).then_some(HelloEvent {
                    source,
                    time: e.first,
                    outcome,
                    count: e.pending,
                })
            })
            .collect();
        out.sort_by_key(|e| e.time);
        out
    }

    /// (source, kind) pairs in the current interval.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Connections folded into summaries so far (delivered or not).
    pub(super) fn folded(&self) -> u64 {
        self.folded
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use amt_wire::hello::HelloError;

    use super::super::event::RejectReason;
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn from(last: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), port)
    }

    fn truncated() -> HelloOutcome {
        HelloOutcome::Rejected(RejectReason::Malformed(HelloError::Empty))
    }

    #[test]
    fn first_rejection_of_a_kind_is_reported_at_once_and_repeats_are_summed() {
        let mut t = Tally::new(16, 16);
        let first = t.note(from(1, 1000), truncated(), at(0)).unwrap();
        assert_eq!((first.count, first.time), (1, at(0)));
        // Another kind from the same source, and the same kind from another source: at once.
        assert!(t
            .note(from(1, 1001), HelloOutcome::RateLimited, at(1))
            .is_some());
        assert!(t.note(from(2, 1002), truncated(), at(2)).is_some());
        // Repeats: folded.
        for i in 0..1000 {
            assert!(t
                .note(from(1, 2000 + i), truncated(), at(10 + u64::from(i)))
                .is_none());
        }
        let summaries = t.drain();
        assert_eq!(summaries.len(), 1, "{summaries:?}");
        let s = &summaries[0];
        assert_eq!((s.count, s.time, s.source), (1000, at(10), from(1, 2999)));
        assert_eq!(t.folded(), 1000);
        // A new interval: the next one is reported at once again.
        assert!(t.note(from(1, 3000), truncated(), at(2000)).is_some());
    }

    #[test]
    fn accepted_hellos_are_never_folded() {
        let mut t = Tally::new(1, 1);
        let hello = amt_wire::hello::Hello::psk(
            false,
            0,
            amt_wire::hello::Uuid16::from_wire_bytes([7; 16]),
            [0; 8],
        );
        for _ in 0..3 {
            let e = t
                .note(from(1, 1), HelloOutcome::Accepted(hello.clone()), at(0))
                .unwrap();
            assert_eq!(e.count, 1);
        }
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn undelivered_events_are_folded_back_into_the_summary() {
        let mut t = Tally::new(16, 16);
        let first = t.note(from(1, 1), truncated(), at(5)).unwrap();
        assert!(t.note(from(1, 2), truncated(), at(6)).is_none());
        t.defer(first);
        let s = t.drain();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].count, s[0].time), (2, at(5)));
    }

    #[test]
    fn immediate_reports_are_capped_per_interval() {
        let mut t = Tally::new(100, 3);
        let at_once = (0..10u8)
            .filter_map(|n| t.note(from(n, 1), truncated(), at(u64::from(n))))
            .count();
        assert_eq!(at_once, 3);
        // The other seven sources keep their own summaries.
        let s = t.drain();
        assert_eq!(s.len(), 7);
        assert!(s.iter().all(|e| e.count == 1 && e.source.ip() != OVERFLOW));
        // The budget is per interval.
        assert!(t.note(from(50, 1), truncated(), at(1000)).is_some());
    }

    #[test]
    fn table_is_bounded_and_overflow_is_counted_under_the_unspecified_address() {
        let mut t = Tally::new(4, 4);
        for n in 0..200u8 {
            let _ = t.note(from(n, 1), HelloOutcome::RateLimited, at(u64::from(n)));
            assert!(t.len() <= 5, "{}", t.len());
        }
        let s = t.drain();
        let overflow: Vec<_> = s.iter().filter(|e| e.source.ip() == OVERFLOW).collect();
        assert_eq!(overflow.len(), 1);
        assert_eq!(overflow[0].count, 196);
        assert_eq!(overflow[0].source.port(), 0);
    }
}
