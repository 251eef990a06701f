//! A lease the client holds, and its timers (RFC 2131 §4.4.5).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::message::Message;

/// Option 51 value meaning "infinite lease" (RFC 2131 §3.3).
pub const INFINITE_LEASE: u32 = 0xffff_ffff;

/// An address the client holds, with the parameters and the messages that granted it.
///
/// Times are on the caller's clock (the `now` values passed to the client). An infinite lease
/// has `lease_time`, `t1` and `t2` of [`Duration::MAX`], and its `*_at` methods return `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The leased address (the ACK's `yiaddr`).
    pub address: Ipv4Addr,
    /// Option 1 of the ACK.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3 of the ACK.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6 of the ACK.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15 of the ACK (trimmed and checked, see [`Message::domain_name`]).
    pub domain: Option<String>,
    /// The server that granted or last renewed the lease (option 54).
    pub server_id: Ipv4Addr,
    /// Lease duration (option 51).
    pub lease_time: Duration,
    /// Renewal time T1 after `acquired_at`: option 58, else half the lease.
    pub t1: Duration,
    /// Rebinding time T2 after `acquired_at`: option 59, else 7/8 of the lease.
    pub t2: Duration,
    /// When the REQUEST that got this lease was first sent (RFC 2131 §4.4.1: lease times count
    /// from the request, not from the reply).
    pub acquired_at: Duration,
    /// The name sent in option 81 of that REQUEST, in the presentation form of
    /// [`crate::message::ClientFqdn`] (a trailing dot marks a fully qualified name).
    pub fqdn_sent: Option<String>,
    /// The whole ACK.
    pub ack: Message,
    /// The OFFER that led to this lease; `None` when the lease comes from a renewal.
    pub offer: Option<Message>,
}

impl Lease {
    /// Builds a lease from an ACK; `None` when the ACK carries no usable lease time (option 51
    /// absent, malformed or zero: a zero lease would expire as soon as it is granted and send
    /// the client round DORA without pause).
    pub(crate) fn from_ack(
        ack: Message,
        server_id: Ipv4Addr,
        acquired_at: Duration,
        fqdn_sent: Option<String>,
        offer: Option<Message>,
    ) -> Option<Self> {
        let (lease_time, t1, t2) = lease_timers(
            ack.lease_time().filter(|&secs| secs > 0)?,
            ack.renewal_time(),
            ack.rebinding_time(),
        );
        Some(Self {
            address: ack.yiaddr,
            subnet_mask: ack.subnet_mask(),
            routers: ack.routers(),
            dns_servers: ack.dns_servers(),
            domain: ack.domain_name(),
            server_id: ack.server_id().unwrap_or(server_id),
            lease_time,
            t1,
            t2,
            acquired_at,
            fqdn_sent,
            ack,
            offer,
        })
    }

    /// Whether the lease never ends.
    pub fn is_infinite(&self) -> bool {
        self.lease_time == Duration::MAX
    }

    /// When the lease ends; `None` for an infinite lease.
    pub fn expires_at(&self) -> Option<Duration> {
        self.at(self.lease_time)
    }

    /// When the client starts renewing with its server (T1); `None` for an infinite lease.
    pub fn renew_at(&self) -> Option<Duration> {
        self.at(self.t1)
    }

    /// When the client starts rebinding with any server (T2); `None` for an infinite lease.
    pub fn rebind_at(&self) -> Option<Duration> {
        self.at(self.t2)
    }

    fn at(&self, offset: Duration) -> Option<Duration> {
        if offset == Duration::MAX {
            return None;
        }
        self.acquired_at.checked_add(offset)
    }
}

/// Lease duration, T1 and T2 from options 51, 58 and 59 (seconds). Missing or inconsistent
/// T1/T2 (not T1 < T2 < lease) fall back to the RFC 2131 §4.4.5 defaults, 0.5 and 0.875 of the
/// lease (T1 then stays below an explicit T2 at 4/7 of it); an infinite lease gives [`Duration::MAX`] for all three.
pub fn lease_timers(
    lease_secs: u32,
    t1_secs: Option<u32>,
    t2_secs: Option<u32>,
) -> (Duration, Duration, Duration) {
    if lease_secs == INFINITE_LEASE {
        return (Duration::MAX, Duration::MAX, Duration::MAX);
    }
    let lease = Duration::from_secs(lease_secs.into());
    let t2 = match t2_secs {
        Some(t2) if t2 < lease_secs => Duration::from_secs(t2.into()),
        _ => lease * 7 / 8,
    };
    let t1 = match t1_secs {
        Some(t1) if Duration::from_secs(t1.into()) < t2 => Duration::from_secs(t1.into()),
        // Half the lease, but before T2 (4/7 of T2 keeps the default 0.5 : 0.875 ratio).
        _ => (lease / 2).min(t2 * 4 / 7),
    };
    (lease, t1, t2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timers_are_half_and_seven_eighths() {
        let (l, t1, t2) = lease_timers(3600, None, None);
        assert_eq!(l, Duration::from_secs(3600));
        assert_eq!(t1, Duration::from_secs(1800));
        assert_eq!(t2, Duration::from_secs(3150));
    }

    #[test]
    fn explicit_timers_are_used_when_consistent() {
        let (_, t1, t2) = lease_timers(3600, Some(600), Some(1200));
        assert_eq!(
            (t1, t2),
            (Duration::from_secs(600), Duration::from_secs(1200))
        );
        // T1 past T2, T2 past the lease: defaults.
        let (_, t1, t2) = lease_timers(3600, Some(2000), Some(1000));
        let t2_1000 = Duration::from_secs(1000);
        assert_eq!((t1, t2), (t2_1000 * 4 / 7, t2_1000));
        let (_, t1, t2) = lease_timers(100, None, Some(100));
        assert_eq!(
            (t1, t2),
            (Duration::from_secs(50), Duration::from_millis(87_500))
        );
    }

    #[test]
    fn infinite_lease_never_renews() {
        assert_eq!(
            lease_timers(INFINITE_LEASE, Some(10), Some(20)),
            (Duration::MAX, Duration::MAX, Duration::MAX)
        );
    }
}
