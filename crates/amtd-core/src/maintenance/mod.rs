//! Maintenance policies (M10, M11) as sans-IO decisions: what is due at a given time, what a
//! device should hold, and how an interrupted operation is settled. The server's maintenance
//! job asks these questions and performs the answers (over the network, with each step stored
//! before its call); nothing here reads a clock, a socket or a database.
//!
//! - [`Clock`]: where "now" comes from. The job takes one per pass, so an operator (and a test)
//!   can evaluate the policies as of another time without touching the system clock; the time
//!   written into a device's clock is always the real one.
//! - [`crl`]: the serial lists a device should hold (AddCRL) and whether to push them.
//! - [`renewal`]: device TLS certificates renewed at least [`Policy::renew_before`] before they
//!   expire; the steps of a renewal and how an interrupted one ends.
//! - [`rotation`]: the admin password rotated every [`Policy::rotate_every`]; the steps of a
//!   rotation and which stored password is in force at each of them, so nothing is ever lost.
//! - [`clock`]: when a device clock is far enough off to be set again.

pub mod clock;
pub mod crl;
pub mod renewal;
pub mod rotation;

use std::time::{Duration, SystemTime};

/// Where "now" comes from for a maintenance pass.
pub trait Clock: Send + Sync {
    /// The current time as the policies should see it.
    fn now(&self) -> SystemTime;
}

/// A clock that always says the same time: a pass evaluated as of that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The kinds of maintenance operation, with the names the store records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// Push the device's relevant revoked serials (ResetCRLList + AddCRL).
    PushCrl,
    /// Replace the device's TLS certificate before it expires.
    RenewCertificate,
    /// Replace the device's admin password.
    RotateAdminPassword,
    /// Set the device clock.
    SyncClock,
}

impl Task {
    /// Every task, in the order a pass runs them.
    pub const ALL: [Task; 4] = [
        Task::PushCrl,
        Task::RenewCertificate,
        Task::RotateAdminPassword,
        Task::SyncClock,
    ];

    /// The stable name (store, API, CLI).
    pub fn name(self) -> &'static str {
        match self {
            Task::PushCrl => "push-crl",
            Task::RenewCertificate => "renew-certificate",
            Task::RotateAdminPassword => "rotate-admin-password",
            Task::SyncClock => "sync-clock",
        }
    }

    /// The task of a stored name.
    pub fn from_name(name: &str) -> Option<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The maintenance policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Renew a device certificate once it expires within this long (M11: at least 30 days).
    pub renew_before: Duration,
    /// Rotate the admin password once it is this old; `None`: never.
    pub rotate_every: Option<Duration>,
    /// Set a device clock again when it is off by more than this.
    pub clock_skew: Duration,
}

impl Default for Policy {
    /// 30 days, no rotation, 60 seconds (Kerberos tolerates five minutes).
    fn default() -> Self {
        Policy {
            renew_before: Duration::from_secs(30 * 86_400),
            rotate_every: None,
            clock_skew: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_round_trip() {
        for t in Task::ALL {
            assert_eq!(Task::from_name(t.name()), Some(t));
        }
        assert_eq!(Task::from_name("defragment"), None);
    }

    #[test]
    fn a_fixed_clock_says_its_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(FixedClock(t).now(), t);
    }
}
