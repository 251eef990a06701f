//! Per-source token buckets with a bounded table, sans-IO (the caller passes the time).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// A token-bucket limit: `burst` connections at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained connections per second per source (tokens added per second). Must be > 0.
    pub per_second: f64,
    /// Bucket size: how many connections a quiet source may open back to back. Must be ≥ 1.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 2 connections per second, bursts of 20: far above what a device sends (one hello per
    /// minute at most, SPEC D4), and enough for a lab's NAT gateway or a test harness.
    fn default() -> Self {
        Self {
            per_second: 2.0,
            burst: 20,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The key a source is limited under: the IPv4 address (IPv4-mapped IPv6 counts as IPv4), or
/// the /64 prefix of an IPv6 address, since one IPv6 host usually owns a whole /64 and could
/// otherwise pick a fresh address for every connection.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Token buckets per source ([`source_key`]), at most `max_sources` of them.
///
/// When the table is full and a new source arrives, it first drops every bucket that has
/// refilled completely (such a source is indistinguishable from a new one, so nothing is
/// lost); if that frees less than an eighth of the table, it also drops the least recently
/// seen buckets until an eighth is free. Eviction is therefore amortised O(1) per new source,
/// and memory is `max_sources` buckets whatever the number of addresses a flood comes from.
/// The price: under a flood from more than `max_sources` addresses, an evicted source starts
/// again with a full bucket.
#[derive(Debug)]
pub struct SourceRateLimiter {
    limit: RateLimit,
    /// `limit.per_second`, or 0 (no refill) when that is not a positive finite number.
    rate: f64,
    max_sources: usize,
    table: HashMap<IpAddr, Bucket>,
    evicted: u64,
}

impl SourceRateLimiter {
    /// A limiter applying `limit` to each source, tracking at most `max_sources` (at least 1).
    pub fn new(limit: RateLimit, max_sources: usize) -> Self {
        let max_sources = max_sources.max(1);
        let rate = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            limit.per_second
        } else {
            0.0
        };
        Self {
            limit,
            rate,
            max_sources,
            table: HashMap::with_capacity(max_sources.min(4096)),
            evicted: 0,
        }
    }

    /// Takes one token for `source` at `now`: true when the connection may proceed.
    pub fn check(&mut self, source: IpAddr, now: Instant) -> bool {
        let key = source_key(source);
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.rate;
        if !self.table.contains_key(&key) && self.table.len() >= self.max_sources {
            self.evict(now);
        }
        let bucket = self.table.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now.max(bucket.last);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many sources are tracked now (never more than `max_sources`).
    pub fn sources(&self) -> usize {
        self.table.len()
    }

    /// The table's bound.
    pub fn max_sources(&self) -> usize {
        self.max_sources
    }

    /// How many buckets were evicted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Time for an empty bucket to refill completely.
    fn refill_time(&self) -> Duration {
        let secs = f64::from(self.limit.burst.max(1)) / self.rate;
        if secs.is_finite() {
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
        } else {
            Duration::MAX
        }
    }

    fn evict(&mut self, now: Instant) {
        let before = self.table.len();
        let target = self.max_sources - (self.max_sources / 8).max(1);
        let refill = self.refill_time();
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.rate;
        self.table.retain(|_, b| {
            let idle = now.saturating_duration_since(b.last);
            let full = idle >= refill || b.tokens + idle.as_secs_f64() * rate >= burst;
            !full
        });
        if self.table.len() > target {
            let excess = self.table.len() - target;
            let mut ages: Vec<(Instant, IpAddr)> =
                self.table.iter().map(|(ip, b)| (b.last, *ip)).collect();
            ages.select_nth_unstable_by_key(excess - 1, |(last, _)| *last);
            for (_, ip) in ages.iter().take(excess) {
                self.table.remove(ip);
            }
        }
        self.evicted += (before - self.table.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
    }

    #[test]
    fn burst_then_refill_at_the_configured_rate() {
        let mut rl = SourceRateLimiter::new(
            RateLimit {
                per_second: 10.0,
                burst: 3,
            },
            16,
        );
        let t0 = Instant::now();
        assert!((0..3).all(|_| rl.check(v4(1), t0)));
        assert!(!rl.check(v4(1), t0));
        // Another source has its own bucket.
        assert!(rl.check(v4(2), t0));
        // 100 ms at 10/s is one token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(rl.check(v4(1), t1));
        assert!(!rl.check(v4(1), t1));
        // Never more than the burst, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| rl.check(v4(1), t2)).count(), 3);
    }

    #[test]
    fn table_stays_bounded_under_a_flood_from_many_addresses() {
        let mut rl = SourceRateLimiter::new(RateLimit::default(), 1000);
        let t0 = Instant::now();
        for n in 0..100_000u32 {
            let now = t0 + Duration::from_micros(u64::from(n));
            assert!(rl.check(v4(n), now), "a new source has a full bucket");
            assert!(rl.sources() <= 1000);
        }
        assert!(rl.evicted() >= 99_000);
    }

    #[test]
    fn eviction_prefers_refilled_buckets_over_active_flooders() {
        let limit = RateLimit {
            per_second: 1.0,
            burst: 2,
        };
        let mut rl = SourceRateLimiter::new(limit, 8);
        let t0 = Instant::now();
        // The flooder empties its bucket.
        while rl.check(v4(0), t0) {}
        // Seven quiet sources, long ago.
        for n in 1..8 {
            rl.check(v4(n), t0);
        }
        // Much later, the flooder is active again and new sources arrive.
        let t1 = t0 + Duration::from_secs(60);
        while rl.check(v4(0), t1) {}
        for n in 100..104 {
            assert!(rl.check(v4(n), t1));
        }
        assert!(!rl.check(v4(0), t1), "the flooder's empty bucket was kept");
    }

    #[test]
    fn ipv6_sources_are_limited_per_64_prefix_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_key(mapped), v4(1));
    }

    #[test]
    fn nonsensical_limits_do_not_panic() {
        for per_second in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut rl = SourceRateLimiter::new(
                RateLimit {
                    per_second,
                    burst: 0,
                },
                0,
            );
            let t0 = Instant::now();
            for n in 0..10 {
                rl.check(v4(n), t0 + Duration::from_secs(u64::from(n)));
            }
            assert!(rl.sources() <= 1);
        }
    }
}
