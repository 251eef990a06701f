//! The crate's one error type.

/// What can go wrong building domain values or starting a workflow. Failures of a running
/// provisioning are not errors: they are [`crate::provisioning::Failure`] values the machine
/// ends in, with a reason an operator can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A host name or FQDN is not a valid DNS name.
    #[error("{value:?} is not a valid FQDN: {reason}")]
    InvalidFqdn {
        /// The text given (truncated to 80 characters).
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A device UUID is malformed or bogus (all zeros or all ones).
    #[error("{value:?} is not a usable device UUID")]
    InvalidUuid {
        /// The text given (truncated to 80 characters).
        value: String,
    },
    /// A provisioning profile is inconsistent.
    #[error("profile {profile:?}: {problem}")]
    InvalidProfile {
        /// The profile's name.
        profile: String,
        /// What is wrong, in words.
        problem: String,
    },
    /// Not enough random bytes were supplied to generate the per-device passwords.
    #[error("{needed} random bytes are needed, {got} were given")]
    NotEnoughRandom {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// A password could not be generated or validated.
    #[error("password: {0}")]
    Password(String),
}

pub(crate) fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}
