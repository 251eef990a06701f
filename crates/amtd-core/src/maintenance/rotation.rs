//! Admin password rotation (M11): a new password on a schedule, escrowed so that nothing is
//! ever lost.
//!
//! The steps, each stored before the call it leads to: the operation is recorded with the
//! version of the password in force (**storing**); the new password is stored as a new secret
//! version (**sending**: it is about to reach the device); `SetAdminAclEntryEx` over a session
//! authenticated with the old password; the device answered (**verifying**); a fresh session
//! authenticates with the new password; the operation ends. Old versions stay in the store.
//!
//! A server stopped in between settles the operation at start-up ([`settle`]): it tries the new
//! password, then the old one, and keeps whichever the device accepts as the newest version
//! (storing the old value again when the new one never took effect), so the newest stored
//! version is always the one that works once the operation has ended.

use std::time::{Duration, SystemTime};

/// Where a rotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationPhase {
    /// Recorded; the new password is being stored (the device has the old one).
    Storing,
    /// The new password is stored; `SetAdminAclEntryEx` is (about to be) sent.
    Sending,
    /// The device accepted `SetAdminAclEntryEx`; the new password is being tried.
    Verifying,
}

impl RotationPhase {
    /// Every phase, in order.
    pub const ALL: [RotationPhase; 3] = [
        RotationPhase::Storing,
        RotationPhase::Sending,
        RotationPhase::Verifying,
    ];

    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            RotationPhase::Storing => "storing-new-password",
            RotationPhase::Sending => "sending-new-password",
            RotationPhase::Verifying => "verifying-new-password",
        }
    }

    /// The phase of a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Whether a password stored at `set_at` is due for rotation at `now`.
pub fn due(set_at: SystemTime, now: SystemTime, every: Option<Duration>) -> bool {
    every.is_some_and(|every| set_at + every <= now)
}

/// Which stored password versions to use while a rotation is at `phase`: the one most likely
/// in force, then the other. `old` was in force when the rotation began; `new` is the version
/// it stored, once it did.
pub fn in_force(phase: RotationPhase, old: u32, new: Option<u32>) -> (u32, Option<u32>) {
    match (phase, new) {
        (RotationPhase::Verifying, Some(new)) => (new, Some(old)),
        (_, Some(new)) => (old, Some(new)),
        (_, None) => (old, None),
    }
}

/// How the device answered a password it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// It authenticated.
    Accepted,
    /// The device refused it (HTTP 401 after the Digest exchange).
    Refused,
    /// The device could not be reached or answered something else: nothing learnt.
    Unreachable,
}

/// How an interrupted rotation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The new password works: the rotation is complete.
    Rotated,
    /// The old password still works: the new one never took effect; store the old value again
    /// as the newest version.
    Reverted,
    /// The device could not be asked: settle at the next pass.
    Later,
    /// The device refuses both: keep both versions (nothing is deleted) and tell the operator.
    Neither,
}

/// Settles an interrupted rotation from probes of the new password (when one was stored) and,
/// when the new one was not accepted, the old one. Probe the new one first: once the device
/// took it, the old one fails.
pub fn settle(new: Option<Probe>, old: Option<Probe>) -> Settlement {
    match (new, old) {
        (Some(Probe::Accepted), _) => Settlement::Rotated,
        (_, Some(Probe::Accepted)) => Settlement::Reverted,
        (Some(Probe::Unreachable), _) | (_, Some(Probe::Unreachable)) | (_, None) => {
            Settlement::Later
        }
        (_, Some(Probe::Refused)) => Settlement::Neither,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn rotation_is_due_once_the_password_is_old_enough_and_never_without_a_schedule() {
        let set = SystemTime::UNIX_EPOCH + 100 * DAY;
        assert!(!due(set, set + 89 * DAY, Some(90 * DAY)));
        assert!(due(set, set + 90 * DAY, Some(90 * DAY)));
        assert!(!due(set, set + 9000 * DAY, None));
    }

    #[test]
    fn the_password_in_force_follows_the_phase() {
        use RotationPhase::*;
        assert_eq!(in_force(Storing, 3, None), (3, None));
        assert_eq!(in_force(Storing, 3, Some(4)), (3, Some(4)));
        assert_eq!(in_force(Sending, 3, Some(4)), (3, Some(4)));
        assert_eq!(in_force(Verifying, 3, Some(4)), (4, Some(3)));
    }

    #[test]
    fn an_interrupted_rotation_keeps_whichever_password_works() {
        use Probe::*;
        assert_eq!(settle(Some(Accepted), None), Settlement::Rotated);
        assert_eq!(settle(Some(Refused), Some(Accepted)), Settlement::Reverted);
        assert_eq!(settle(None, Some(Accepted)), Settlement::Reverted);
        assert_eq!(settle(Some(Unreachable), Some(Refused)), Settlement::Later);
        assert_eq!(settle(Some(Refused), Some(Unreachable)), Settlement::Later);
        assert_eq!(settle(Some(Refused), Some(Refused)), Settlement::Neither);
        assert_eq!(settle(None, Some(Refused)), Settlement::Neither);
    }

    #[test]
    fn phase_names_round_trip() {
        for p in RotationPhase::ALL {
            assert_eq!(RotationPhase::from_name(p.name()), Some(p));
        }
    }
}
