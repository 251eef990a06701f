//! # amt-pki — certificates the way Intel AMT needs them
//!
//! - [`ca`]: the embedded two-level CA (root + issuing, RSA ≥ 2048, SHA-256) and issuance of
//!   every AMT profile ([`profile`]): device TLS server certificates (P4), console mutual-TLS
//!   client certificates (M9), lab provisioning certificates.
//! - [`csr`]: device PKCS#10 requests, signature-checked.
//! - [`crl`]: CRLs built for the embedded CAs, any CA's CRL parsed and verified, and reduced to
//!   the base64 serial list a device takes with `AddCRL` (M10).
//! - [`ledger`]: every issued certificate and its state; the revocation rules (P7, M11).
//! - [`provisioning`]: purchased provisioning certificates imported and checked against a
//!   device's trusted root hashes ([`hash`]) and domain.
//! - [`trust`] and [`pfx`]: trust files in the order the device expects (M8) and PKCS#12.
//!
//! Sans-IO: no sockets, no files, no clock reads (callers pass `now`), no randomness sources
//! (callers pass an RNG), no database. Must never depend on tokio, sqlx, axum or `amtd-*`.
//! Private keys never appear in `Debug` output.
#![forbid(unsafe_code)]

pub mod ca;
pub mod cert;
pub mod crl;
pub mod csr;
pub mod error;
pub mod hash;
pub mod key;
pub mod ledger;
pub mod oid;
pub mod pem;
pub mod pfx;
pub mod profile;
pub mod provisioning;
pub mod serial;
pub mod trust;

pub use ca::{Authority, CaRole, CaSettings, EmbeddedCa, IssuedCert, LeafRequest};
pub use cert::Cert;
pub use crl::{Crl, RevokedSerial, VerifiedCrl};
pub use csr::VerifiedCsr;
pub use error::PkiError;
pub use hash::{CertHash, HashAlgorithm, RootHashes};
pub use key::RsaKey;
pub use ledger::{CertState, Ledger, LedgerEntry, RevocationReason};
pub use profile::{Purpose, SetupMarker};
pub use provisioning::ProvisioningCert;
pub use serial::Serial;
pub use trust::MtlsBundle;
