//! The one error type of this crate.

use crate::hash::HashAlgorithm;

/// Everything that can go wrong while building, parsing or checking certificates.
///
/// Variants carry structured fields; `Display` gives a plain-words sentence an operator can act
/// on. None of them carries key material.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkiError {
    /// DER or PEM input could not be decoded (or a value could not be encoded).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded ("certificate", "CRL", "PKCS#10 request", …).
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A signature did not verify.
    #[error("the signature on the {what} does not verify")]
    BadSignature {
        /// What was signed ("PKCS#10 request", "CRL", "certificate").
        what: &'static str,
    },
    /// A signature or key algorithm this crate does not support (only RSA is).
    #[error("unsupported algorithm {oid} in {what} (only RSA with SHA-1/SHA-256/SHA-384/SHA-512 is supported)")]
    UnsupportedAlgorithm {
        /// What carried it.
        what: &'static str,
        /// The algorithm OID, dotted.
        oid: String,
    },
    /// An RSA key is smaller than the firmware accepts.
    #[error("RSA key of {bits} bits is too small (at least {min} bits are required)")]
    KeyTooSmall {
        /// Size of the offered key.
        bits: usize,
        /// The minimum.
        min: usize,
    },
    /// RSA key generation or signing failed.
    #[error("RSA operation failed: {0}")]
    Rsa(String),
    /// A private key does not belong to the certificate it was paired with.
    #[error("the private key does not match the certificate {subject}")]
    KeyMismatch {
        /// Subject of the certificate.
        subject: String,
    },
    /// A value given for a certificate field is not acceptable.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidInput {
        /// Which field ("FQDN", "UUID", "common name", "CRL URL", …).
        field: &'static str,
        /// The offending value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A certificate chain is incomplete or does not link up.
    #[error("certificate chain is incomplete: {reason}")]
    IncompleteChain {
        /// Plain-words reason ("no certificate issued CN=Foo").
        reason: String,
    },
    /// A certificate is outside its validity period at the given time.
    #[error("certificate {subject} is not valid at this time (valid {not_before} to {not_after})")]
    NotValidNow {
        /// Subject of the certificate.
        subject: String,
        /// Start of validity (RFC 3339).
        not_before: String,
        /// End of validity (RFC 3339).
        not_after: String,
    },
    /// A provisioning certificate lacks both the AMT setup OID and the setup OU.
    #[error("certificate {subject} is not a provisioning certificate: it has neither the extended key usage 2.16.840.1.113741.1.2.3 nor OU=Intel(R) Client Setup Certificate")]
    NotProvisioningCertificate {
        /// Subject of the leaf.
        subject: String,
    },
    /// A PKCS#12 file could not be opened (wrong password or unsupported format).
    #[error("cannot read the PKCS#12 file: {detail}")]
    Pkcs12 {
        /// The reader's message.
        detail: String,
    },
    /// The input held no private key where one was required.
    #[error("no private key found in {what}")]
    MissingKey {
        /// Where one was looked for.
        what: &'static str,
    },
    /// A CRL was checked against a CA that did not issue it.
    #[error("CRL issuer {crl_issuer} is not the CA {ca}")]
    CrlIssuerMismatch {
        /// Issuer name in the CRL.
        crl_issuer: String,
        /// Subject of the CA it was checked against.
        ca: String,
    },
    /// No ledger entry for a serial number.
    #[error("no certificate with serial {serial} in the ledger")]
    UnknownSerial {
        /// Serial, hex.
        serial: String,
    },
    /// A ledger state change that is not allowed (for example installing a revoked certificate).
    #[error("certificate {serial} is {state}; cannot {action}")]
    InvalidTransition {
        /// Serial, hex.
        serial: String,
        /// Current state name.
        state: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// A provisioning certificate does not fit a device's domain.
    #[error("device domain {device_domain} does not match provisioning certificate suffix {cert_suffix}")]
    DomainMismatch {
        /// The device's domain (DHCP option 15 or configured suffix).
        device_domain: String,
        /// The certificate's domain suffix.
        cert_suffix: String,
    },
    /// A provisioning certificate's root is not trusted by a device.
    #[error("the provisioning certificate's root {root} (SHA-256 {sha256}) is not among the device's {trusted_count} trusted root hashes")]
    RootNotTrusted {
        /// Subject of the root.
        root: String,
        /// Its SHA-256, hex.
        sha256: String,
        /// How many hashes the device listed.
        trusted_count: usize,
    },
    /// No provisioning certificate fits a device; one reason per candidate.
    #[error("no provisioning certificate fits this device: {}", reasons.join("; "))]
    NoProvisioningCertificateFits {
        /// Why each candidate was refused.
        reasons: Vec<String>,
    },
    /// A hash of an unexpected length was given for an algorithm.
    #[error("a {algorithm} hash must be {expected} bytes, got {got}")]
    BadHashLength {
        /// The algorithm.
        algorithm: HashAlgorithm,
        /// Expected size.
        expected: usize,
        /// Given size.
        got: usize,
    },
}

impl PkiError {
    pub(crate) fn malformed(what: &'static str, e: impl std::fmt::Display) -> Self {
        PkiError::Malformed {
            what,
            detail: e.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
