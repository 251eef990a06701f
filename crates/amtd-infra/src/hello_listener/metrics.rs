//! Counters of the hello listener, updated lock-free and read as a [`MetricsSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

use super::event::{HelloOutcome, RejectKind};

/// Live counters of one listener (shared through an `Arc`; see
/// [`super::HelloListener::metrics`]).
#[derive(Debug, Default)]
pub struct HelloMetrics {
    connections: AtomicU64,
    accepted: AtomicU64,
    rejected: [AtomicU64; RejectKind::ALL.len()],
    rate_limited: AtomicU64,
    open: AtomicU64,
    events_dropped: AtomicU64,
    folded: AtomicU64,
    accept_errors: AtomicU64,
    rate_limiter_sources: AtomicU64,
    rate_limiter_evictions: AtomicU64,
}

/// A point-in-time copy of [`HelloMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// TCP connections accepted from the socket (every outcome).
    pub connections: u64,
    /// Hellos accepted.
    pub accepted: u64,
    /// Rejections per [`RejectKind`], indexed by [`RejectKind::index`].
    pub rejected: [u64; RejectKind::ALL.len()],
    /// Connections closed unread because their source was over its rate limit.
    pub rate_limited: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Accepted hellos not delivered because the event channel stayed full for
    /// [`super::ACCEPTED_EVENT_SEND_TIMEOUT`] or was closed. (Rejections that do not fit are
    /// not dropped: they are folded into the next summary.)
    pub events_dropped: u64,
    /// Rejected or rate-limited connections reported in a summary event rather than one event
    /// each ([`super::HelloEvent::count`]).
    pub rejections_folded: u64,
    /// Errors from `accept` (for example the process ran out of file descriptors).
    pub accept_errors: u64,
    /// Sources the rate limiter tracks now.
    pub rate_limiter_sources: u64,
    /// Rate-limiter buckets evicted so far.
    pub rate_limiter_evictions: u64,
}

impl MetricsSnapshot {
    /// Rejections of one kind.
    pub fn rejected(&self, kind: RejectKind) -> u64 {
        self.rejected.get(kind.index()).copied().unwrap_or(0)
    }

    /// All rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// `(kind, count)` for every kind with a non-zero count.
    pub fn rejected_by_kind(&self) -> Vec<(RejectKind, u64)> {
        RejectKind::ALL
            .iter()
            .map(|k| (*k, self.rejected(*k)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl HelloMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut rejected = [0; RejectKind::ALL.len()];
        for (out, c) in rejected.iter_mut().zip(&self.rejected) {
            *out = c.load(Ordering::Relaxed);
        }
        MetricsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected,
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            open_connections: self.open.load(Ordering::Relaxed),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            rejections_folded: self.folded.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
            rate_limiter_sources: self.rate_limiter_sources.load(Ordering::Relaxed),
            rate_limiter_evictions: self.rate_limiter_evictions.load(Ordering::Relaxed),
        }
    }

    pub(super) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn outcome(&self, outcome: &HelloOutcome) {
        match outcome {
            HelloOutcome::Accepted(_) => self.accepted.fetch_add(1, Ordering::Relaxed),
            HelloOutcome::RateLimited => self.rate_limited.fetch_add(1, Ordering::Relaxed),
            HelloOutcome::Rejected(r) => match self.rejected.get(r.kind().index()) {
                Some(c) => c.fetch_add(1, Ordering::Relaxed),
                None => 0,
            },
        };
    }

    pub(super) fn event_dropped(&self) {
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn folded(&self, total: u64) {
        self.folded.store(total, Ordering::Relaxed);
    }

    pub(super) fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn rate_limiter(&self, sources: usize, evictions: u64) {
        self.rate_limiter_sources
            .store(sources as u64, Ordering::Relaxed);
        self.rate_limiter_evictions
            .store(evictions, Ordering::Relaxed);
    }

    pub(super) fn open(&self) -> OpenGuard<'_> {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(self)
    }
}

/// Decrements the open-connection gauge when dropped.
pub(super) struct OpenGuard<'a>(&'a HelloMetrics);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}
