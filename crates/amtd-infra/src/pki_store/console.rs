//! The server's own console identity (M9): one mutual-TLS client certificate (clientAuth + the
//! AMT console OID 2.16.840.1.113741.1.2.1) issued by the embedded CA, presented on every call
//! to a device that demands a client certificate.
//!
//! The certificate and its key are kept in one file, `console/identity.sealed`, sealed under the
//! KEK like the CA keys (AES-256-GCM, the file name authenticated), and written atomically, so a
//! server stopped at any moment finds either the old identity or the new one, never a key
//! without its certificate. `console/identity.pem` is a plain copy of the certificate for
//! operators (what to list in a profile's `trusted_cns`, which serial to revoke); it is never
//! read back.
//!
//! [`PkiStore::console_identity`] reuses the stored identity while it is usable and replaces it
//! when it is missing, revoked, issued for another name, or within the renewal window of its
//! expiry; an expiring one is superseded and revoked ("replaced by maintenance") once the new
//! one is stored.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::time::{Duration, SystemTime};

use amt_pki::{Cert, CertState, RsaKey, Serial};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{files, PkiStore, PkiStoreError, Result};

const DIR: &str = "console";
const SEALED: &str = "console/identity.sealed";
const PEM: &str = "console/identity.pem";

/// The console's client certificate, its key and the issuing CA that signed it. `Debug` never
/// prints the key.
#[derive(Clone)]
pub struct ConsoleIdentity {
    cert: Cert,
    key: RsaKey,
    issuing: Cert,
}

impl std::fmt::Debug for ConsoleIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleIdentity")
            .field("subject", &self.cert.subject())
            .field("serial", &self.cert.serial().to_hex())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ConsoleIdentity {
    /// The client certificate.
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// Its private key.
    pub fn key(&self) -> &RsaKey {
        &self.key
    }

    /// The chain a device needs to check it: the client certificate, then the issuing CA (the
    /// device holds the root as a trusted root).
    pub fn chain(&self) -> [&Cert; 2] {
        [&self.cert, &self.issuing]
    }
}

/// What [`PkiStore::console_identity`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleChange {
    /// The stored identity is still good.
    Kept,
    /// There was none: the first one was issued.
    Issued,
    /// The stored one was revoked (by an operator): a new one was issued.
    ReplacedRevoked {
        /// The revoked certificate's serial.
        old: Serial,
    },
    /// The stored one was about to expire (or named another CN): a new one was issued and the
    /// old one superseded and revoked.
    Renewed {
        /// The old certificate's serial.
        old: Serial,
    },
}

impl ConsoleChange {
    /// Whether a new certificate was issued.
    pub fn issued_new(&self) -> bool {
        !matches!(self, ConsoleChange::Kept)
    }
}

/// The sealed file's contents.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    /// The certificate, DER, hex.
    cert: String,
    /// The key, PKCS#8 DER, hex.
    key: String,
}

impl PkiStore {
    /// The stored console identity, if one was issued. Never issues one.
    pub fn load_console_identity(&self) -> Result<Option<ConsoleIdentity>> {
        let path = self.dir.join(SEALED);
        if !path.exists() {
            return Ok(None);
        }
        let plain = self.kek.open(&path, SEALED, &files::read(&path)?)?;
        let corrupt = |detail: String| PkiStoreError::Corrupt {
            path: path.clone(),
            detail,
        };
        let stored: Stored = serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))?;
        let cert_der = hex::decode(&stored.cert).map_err(|e| corrupt(e.to_string()))?;
        let key_der = Zeroizing::new(hex::decode(&stored.key).map_err(|e| corrupt(e.to_string()))?);
        let cert = Cert::from_der(&cert_der).map_err(|e| corrupt(e.to_string()))?;
        let key = RsaKey::from_pkcs8_der(&key_der).map_err(|e| corrupt(e.to_string()))?;
        if !key.matches(cert.public_key_info()) {
            return Err(corrupt("the key does not belong to the certificate".into()));
        }
        Ok(Some(ConsoleIdentity {
            cert,
            key,
            issuing: self.ca.issuing().cert().clone(),
        }))
    }

    /// The console identity to use at `now`: the stored one while it is usable, else a new one
    /// for `common_name` (issued now, stored sealed). A stored identity is replaced when the
    /// ledger shows it revoked, when it names another CN, or when it expires within
    /// `renew_before` of `now`; in the last two cases the old certificate is superseded and
    /// revoked ("replaced by maintenance") after the new one is stored, and new CRLs are
    /// published.
    pub fn console_identity(
        &mut self,
        common_name: &str,
        now: SystemTime,
        renew_before: Duration,
    ) -> Result<(ConsoleIdentity, ConsoleChange)> {
        let current = self.load_console_identity()?;
        let change = match &current {
            None => ConsoleChange::Issued,
            Some(id) => {
                let serial = id.cert.serial();
                let revoked = matches!(
                    self.ledger.get(&serial).map(|e| &e.state),
                    Some(CertState::Revoked { .. })
                );
                let other_name = !id.cert.common_names().iter().any(|c| c == common_name);
                if revoked {
                    ConsoleChange::ReplacedRevoked { old: serial }
                } else if other_name || id.cert.not_after() <= now + renew_before {
                    ConsoleChange::Renewed { old: serial }
                } else {
                    ConsoleChange::Kept
                }
            }
        };
        if let (ConsoleChange::Kept, Some(id)) = (&change, current) {
            return Ok((id, ConsoleChange::Kept));
        }
        let (cert, key) = self.issue_console(common_name)?;
        self.store_console_identity(&cert, &key)?;
        match &change {
            ConsoleChange::Renewed { old } if self.ledger.get(old).is_some() => {
                self.replace_by_maintenance(old, &cert.serial())?;
            }
            _ => self.mark_installed(&cert.serial())?,
        }
        tracing::info!(serial = %cert.serial().to_hex(), ?change, "console certificate issued");
        let issuing = self.ca.issuing().cert().clone();
        Ok((ConsoleIdentity { cert, key, issuing }, change))
    }

    fn store_console_identity(&self, cert: &Cert, key: &RsaKey) -> Result<()> {
        let dir = self.dir.join(DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| PkiStoreError::io("create", &dir, e))?;
        let key_der = key.to_pkcs8_der()?;
        let json = Zeroizing::new(
            serde_json::to_vec(&Stored {
                cert: hex::encode(cert.der()),
                key: hex::encode(key_der.as_slice()),
            })
            .map_err(|e| PkiStoreError::Corrupt {
                path: self.dir.join(SEALED),
                detail: e.to_string(),
            })?,
        );
        let sealed = self.kek.seal(SEALED, &json)?;
        files::write_atomic(&self.dir.join(SEALED), &sealed, 0o600)?;
        files::write_atomic(&self.dir.join(PEM), cert.to_pem().as_bytes(), 0o644)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use amt_pki::{oid, CaSettings, Purpose, RevocationReason};
    use std::os::unix::fs::PermissionsExt;

    fn store(dir: &std::path::Path) -> PkiStore {
        let kek = dir.join("kek");
        super::super::Kek::generate_file(&kek).unwrap();
        let key = RsaKey::generate(&mut rand::rng(), 2048).unwrap();
        PkiStore::init_with_keys(
            &dir.join("ca"),
            &kek,
            CaSettings::default(),
            key.clone(),
            key,
        )
        .unwrap()
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn the_console_identity_is_issued_once_sealed_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut pki = store(tmp.path());
        assert!(pki.load_console_identity().unwrap().is_none());
        let now = SystemTime::now();
        let (first, change) = pki.console_identity("amtd console", now, 30 * DAY).unwrap();
        assert_eq!(change, ConsoleChange::Issued);
        let eku = first.cert().extended_key_usages();
        assert!(eku.contains(&oid::CLIENT_AUTH) && eku.contains(&oid::AMT_CONSOLE_USAGE));
        let entry = pki.ledger().get(&first.cert().serial()).unwrap();
        assert_eq!(entry.purpose, Purpose::ConsoleClient);
        assert_eq!(entry.state.name(), "installed");

        // Sealed: the key is not in the file in any readable form, and only the owner reads it.
        let raw = std::fs::read(tmp.path().join("ca").join(SEALED)).unwrap();
        let key_der = first.key().to_pkcs8_der().unwrap();
        assert!(!raw.windows(32).any(|w| w == &key_der[64..96]));
        let mode = std::fs::metadata(tmp.path().join("ca").join(SEALED))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);

        // Reopened (another process): the same identity, kept.
        let kek = tmp.path().join("kek");
        let mut again = PkiStore::open(&tmp.path().join("ca"), &kek).unwrap();
        let (second, change) = again
            .console_identity("amtd console", now, 30 * DAY)
            .unwrap();
        assert_eq!(change, ConsoleChange::Kept);
        assert_eq!(second.cert().der(), first.cert().der());
        assert!(format!("{second:?}").contains("<redacted>"));
    }

    #[test]
    fn a_revoked_or_expiring_console_identity_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let mut pki = store(tmp.path());
        let now = SystemTime::now();
        let (first, _) = pki.console_identity("amtd console", now, 30 * DAY).unwrap();
        let old = first.cert().serial();
        pki.revoke(&old, RevocationReason::KeyCompromise).unwrap();
        let (second, change) = pki.console_identity("amtd console", now, 30 * DAY).unwrap();
        assert_eq!(change, ConsoleChange::ReplacedRevoked { old: old.clone() });
        assert_ne!(second.cert().serial(), old);

        // 340 days later the 365-day certificate is within 30 days of its end.
        let later = now + 340 * DAY;
        let (third, change) = pki
            .console_identity("amtd console", later, 30 * DAY)
            .unwrap();
        let second_serial = second.cert().serial();
        assert_eq!(
            change,
            ConsoleChange::Renewed {
                old: second_serial.clone()
            }
        );
        let entry = pki.ledger().get(&second_serial).unwrap();
        assert!(matches!(
            entry.state,
            CertState::Revoked {
                reason: RevocationReason::ReplacedByMaintenance,
                ..
            }
        ));
        assert_eq!(entry.superseded_by.as_ref(), Some(&third.cert().serial()));
        let on_crl: Vec<Serial> = pki
            .crl(amt_pki::CaRole::Issuing)
            .unwrap()
            .entries()
            .into_iter()
            .map(|e| e.serial)
            .collect();
        assert!(on_crl.contains(&old) && on_crl.contains(&second_serial));
    }
}
