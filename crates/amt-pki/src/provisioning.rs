//! Provisioning certificates: importing purchased ones (PKCS#12 or PEM chain + key) with
//! validation, and checking one against a device's hello (trusted root hashes) and domain
//! (P3, D5, AMT-PROTOCOLS §1.5).

use std::time::SystemTime;

use crate::cert::Cert;
use crate::error::{PkiError, Result};
use crate::hash::{CertHash, RootHashes};
use crate::key::RsaKey;
use crate::oid;
use crate::profile::{SetupMarker, SETUP_OU};
use crate::trust::path_to_root;

/// A validated provisioning certificate with its key and full chain.
#[derive(Debug, Clone)]
pub struct ProvisioningCert {
    chain: Vec<Cert>,
    key: RsaKey,
    marker: SetupMarker,
    root_hashes: RootHashes,
}

impl ProvisioningCert {
    /// Open a PKCS#12 file and validate its contents (see [`ProvisioningCert::from_parts`]).
    pub fn from_pfx(data: &[u8], password: &str, now: SystemTime) -> Result<Self> {
        let mut contents = crate::pfx::read_pfx(data, password)?;
        if contents.keys.is_empty() {
            return Err(PkiError::MissingKey {
                what: "the PKCS#12 file",
            });
        }
        // The key that belongs to one of the certificates.
        let idx = contents
            .keys
            .iter()
            .position(|k| {
                contents
                    .certs
                    .iter()
                    .any(|c| k.matches(c.public_key_info()))
            })
            .ok_or_else(|| PkiError::KeyMismatch {
                subject: contents
                    .certs
                    .first()
                    .map(|c| c.subject())
                    .unwrap_or_else(|| "(no certificate)".into()),
            })?;
        let key = contents.keys.swap_remove(idx);
        Self::from_parts(contents.certs, key, now)
    }

    /// Read a PEM chain (any order, leaf included) and a PEM key, and validate them.
    pub fn from_pem(chain_pem: &str, key_pem: &str, now: SystemTime) -> Result<Self> {
        let certs = Cert::all_from_pem(chain_pem)?;
        let key = RsaKey::from_pem(key_pem)?;
        Self::from_parts(certs, key, now)
    }

    /// Validate: the key's certificate is the leaf; it carries the setup OID or OU; the chain
    /// is complete up to a self-signed root (needed to compute the root hash); every
    /// certificate is valid at `now`.
    pub fn from_parts(certs: Vec<Cert>, key: RsaKey, now: SystemTime) -> Result<Self> {
        let leaf = certs
            .iter()
            .find(|c| key.matches(c.public_key_info()))
            .cloned()
            .ok_or_else(|| PkiError::KeyMismatch {
                subject: certs
                    .first()
                    .map(|c| c.subject())
                    .unwrap_or_else(|| "(no certificate)".into()),
            })?;
        let has_oid = leaf.extended_key_usages().contains(&oid::AMT_SETUP_USAGE);
        let has_ou = leaf.organizational_units().iter().any(|ou| ou == SETUP_OU);
        let marker = match (has_oid, has_ou) {
            (true, true) => SetupMarker::Both,
            (true, false) => SetupMarker::Oid,
            (false, true) => SetupMarker::Ou,
            (false, false) => {
                return Err(PkiError::NotProvisioningCertificate {
                    subject: leaf.subject(),
                })
            }
        };
        let mut chain = vec![leaf.clone()];
        chain.extend(path_to_root(&leaf, &certs)?);
        for c in &chain {
            c.check_valid_at(now)?;
        }
        let root_hashes =
            chain
                .last()
                .map(|r| r.hashes())
                .ok_or_else(|| PkiError::IncompleteChain {
                    reason: "empty chain".into(),
                })?;
        Ok(ProvisioningCert {
            chain,
            key,
            marker,
            root_hashes,
        })
    }

    /// The leaf.
    pub fn leaf(&self) -> &Cert {
        &self.chain[0]
    }

    /// The root.
    pub fn root(&self) -> &Cert {
        &self.chain[self.chain.len() - 1]
    }

    /// Leaf first, root last: what the server presents as its TLS client chain.
    pub fn chain(&self) -> &[Cert] {
        &self.chain
    }

    /// The private key.
    pub fn key(&self) -> &RsaKey {
        &self.key
    }

    /// How the leaf marks itself as a provisioning certificate.
    pub fn marker(&self) -> SetupMarker {
        self.marker
    }

    /// SHA-1, SHA-256 and SHA-384 of the root.
    pub fn root_hashes(&self) -> &RootHashes {
        &self.root_hashes
    }

    /// The domain the certificate is for: its first CN with the first label removed
    /// (`amtprov.corp.example` and `*.corp.example` give `corp.example`).
    pub fn domain_suffix(&self) -> String {
        let name = self
            .leaf()
            .common_names()
            .into_iter()
            .next()
            .or_else(|| self.leaf().dns_names().into_iter().next())
            .unwrap_or_default();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match name.split_once('.') {
            Some((_, rest)) if !rest.is_empty() => rest.to_string(),
            _ => name,
        }
    }

    /// Whether a device whose domain is `device_domain` accepts this certificate's suffix: the
    /// domain must equal the suffix or be a subdomain of it (case-insensitive).
    pub fn fits_domain(&self, device_domain: &str) -> Result<()> {
        let suffix = self.domain_suffix();
        let dev = device_domain.trim_end_matches('.').to_ascii_lowercase();
        if !dev.is_empty() && (dev == suffix || dev.ends_with(&format!(".{suffix}"))) {
            Ok(())
        } else {
            Err(PkiError::DomainMismatch {
                device_domain: if dev.is_empty() { "(none)".into() } else { dev },
                cert_suffix: suffix,
            })
        }
    }

    /// Whether the root is among a device's trusted root hashes (from its hello).
    pub fn fits_hashes(&self, trusted: &[CertHash]) -> Result<()> {
        match self.root_hashes.find_in(trusted) {
            Some(_) => Ok(()),
            None => Err(PkiError::RootNotTrusted {
                root: self.root().subject(),
                sha256: self.root_hashes.sha256.to_hex(),
                trusted_count: trusted.len(),
            }),
        }
    }

    /// Both checks: the root hash is trusted by the device and the domain fits.
    pub fn check_device(&self, trusted: &[CertHash], device_domain: &str) -> Result<()> {
        self.fits_hashes(trusted)?;
        self.fits_domain(device_domain)
    }
}

/// Pick the first candidate that fits the device, or explain why none does (P3: refuse early
/// with a clear reason).
pub fn select_for_device<'a>(
    candidates: &'a [ProvisioningCert],
    trusted: &[CertHash],
    device_domain: &str,
) -> Result<&'a ProvisioningCert> {
    let mut reasons = Vec::new();
    for c in candidates {
        match c.check_device(trusted, device_domain) {
            Ok(()) => return Ok(c),
            Err(e) => reasons.push(format!("{}: {e}", c.leaf().subject())),
        }
    }
    if reasons.is_empty() {
        reasons.push("no provisioning certificate is configured".into());
    }
    Err(PkiError::NoProvisioningCertificateFits { reasons })
}
