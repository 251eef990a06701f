//! Device TLS certificate renewal (M11): renewed at least [`super::Policy::renew_before`]
//! before it expires, the new certificate installed and served before the old one is
//! superseded and revoked.
//!
//! The steps, each stored before the call it leads to: read the device's keys; GenerateKeyPair
//! (non-idempotent: the stored key list tells the new key apart after a crash); read the new
//! key and have the device sign our null-signed PKCS#10 (GeneratePKCS10RequestEx); the CA signs
//! it; AddCertificate; Put `AMT_TLSCredentialContext` to switch 16993 to the new certificate;
//! connect again with the new certificate pinned and read the device; then supersede and revoke
//! the old certificate and remove it and its key from the device (whose store is small).

use std::time::{Duration, SystemTime};

/// Where a renewal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenewalPhase {
    /// Enumerating the device's key pairs.
    ReadingKeys,
    /// `GenerateKeyPair`.
    GeneratingKey,
    /// Reading the new key and `GeneratePKCS10RequestEx`.
    RequestingCsr,
    /// The CA signs.
    Issuing,
    /// `AddCertificate` with the new certificate.
    AddingCertificate,
    /// Put `AMT_TLSCredentialContext`: 16993 switches to the new certificate.
    Switching,
    /// A new TLS session with the new certificate pinned.
    Verifying,
    /// The old certificate is superseded and revoked, and removed from the device.
    Retiring,
}

impl RenewalPhase {
    /// Every phase, in order.
    pub const ALL: [RenewalPhase; 8] = [
        RenewalPhase::ReadingKeys,
        RenewalPhase::GeneratingKey,
        RenewalPhase::RequestingCsr,
        RenewalPhase::Issuing,
        RenewalPhase::AddingCertificate,
        RenewalPhase::Switching,
        RenewalPhase::Verifying,
        RenewalPhase::Retiring,
    ];

    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            RenewalPhase::ReadingKeys => "reading-keys",
            RenewalPhase::GeneratingKey => "generating-key",
            RenewalPhase::RequestingCsr => "requesting-csr",
            RenewalPhase::Issuing => "issuing-certificate",
            RenewalPhase::AddingCertificate => "adding-certificate",
            RenewalPhase::Switching => "switching-tls-certificate",
            RenewalPhase::Verifying => "verifying",
            RenewalPhase::Retiring => "retiring-old-certificate",
        }
    }

    /// The phase of a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The null-signed PKCS#10 request for the device's new key (its `DERKey`, PKCS#1) with
/// subject `CN=<fqdn>`, which `GeneratePKCS10RequestEx` signs: the same request provisioning
/// builds. The error is a reason in words.
pub fn null_signed_request(device_pkcs1: &[u8], fqdn: &str) -> Result<Vec<u8>, String> {
    crate::provisioning::csr::null_signed_csr(device_pkcs1, fqdn)
}

/// Whether a certificate ending at `not_after` is due for renewal at `now`: it expires within
/// `renew_before`.
pub fn due(not_after: SystemTime, now: SystemTime, renew_before: Duration) -> bool {
    not_after <= now + renew_before
}

/// What a restarted server does with a renewal a stopped one left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The device serves the new certificate: finish the renewal (supersede and revoke the
    /// old one, remove it from the device).
    Complete,
    /// The new certificate was signed but the device does not serve it: revoke it and end the
    /// operation; the old certificate stays in force and a later pass renews again.
    RevokeNew,
    /// No new certificate was signed (or none the operation knows of): end the operation; a
    /// later pass renews again.
    Abandon,
    /// The device could not be asked which certificate it serves: leave the operation for the
    /// next pass.
    Later,
}

/// Decides how to end an interrupted renewal. `new_cert_known`: the operation recorded the
/// certificate the CA signed for it. `serves_new`: whether the device presents that
/// certificate on a new TLS session (`None` when it could not be reached).
pub fn resume(phase: RenewalPhase, new_cert_known: bool, serves_new: Option<bool>) -> Resume {
    if !new_cert_known {
        return Resume::Abandon;
    }
    match (phase, serves_new) {
        (_, None) => Resume::Later,
        (_, Some(true)) => Resume::Complete,
        // Switched, verified and partly retired, yet the device no longer serves it: whatever
        // happened, the old certificate is what it serves; the new one must not stay valid.
        (_, Some(false)) => Resume::RevokeNew,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_certificate_is_due_within_the_window_and_not_before() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        assert!(!due(now + 31 * DAY, now, 30 * DAY));
        assert!(due(now + 30 * DAY, now, 30 * DAY));
        assert!(due(now + 29 * DAY, now, 30 * DAY));
        assert!(due(now - DAY, now, 30 * DAY), "an expired one too");
    }

    #[test]
    fn phase_names_round_trip() {
        for p in RenewalPhase::ALL {
            assert_eq!(RenewalPhase::from_name(p.name()), Some(p));
        }
        assert_eq!(RenewalPhase::from_name("x"), None);
    }

    #[test]
    fn an_interrupted_renewal_ends_by_what_the_device_serves() {
        use RenewalPhase::*;
        for p in [ReadingKeys, GeneratingKey, RequestingCsr, Issuing] {
            assert_eq!(resume(p, false, None), Resume::Abandon);
        }
        assert_eq!(resume(Switching, true, Some(true)), Resume::Complete);
        assert_eq!(
            resume(AddingCertificate, true, Some(false)),
            Resume::RevokeNew
        );
        assert_eq!(resume(Verifying, true, None), Resume::Later);
        assert_eq!(resume(Retiring, true, Some(true)), Resume::Complete);
    }
}
