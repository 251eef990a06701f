//! The TLS server certificate of amtd's own API listener (`[server.api_tls] mode =
//! "embedded-ca"`): issued by the embedded CA for the listener's DNS names and IP addresses
//! (serverAuth), kept with its key in `api/identity.sealed` under the KEK like the CA keys, and
//! reused across restarts.
//!
//! [`PkiStore::api_server_identity`] keeps the stored certificate while it is usable and issues
//! a new one when it is missing, revoked, names other DNS names or addresses, was signed by
//! another issuing CA (the CA was replaced), or expires within the renewal window; a replaced
//! certificate that the ledger knows is superseded and revoked once the new one is stored.

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::time::{Duration, SystemTime};

use amt_pki::{Cert, CertState, LeafRequest, RsaKey, Serial};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{files, PkiStore, PkiStoreError, Result};

const DIR: &str = "api";
const SEALED: &str = "api/identity.sealed";

/// The API listener's certificate, its key and the issuing CA that signed it. `Debug` never
/// prints the key.
#[derive(Clone)]
pub struct ApiServerIdentity {
    cert: Cert,
    key: RsaKey,
    issuing: Cert,
}

impl std::fmt::Debug for ApiServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerIdentity")
            .field("subject", &self.cert.subject())
            .field("serial", &self.cert.serial().to_hex())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ApiServerIdentity {
    /// The server certificate.
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// Its private key.
    pub fn key(&self) -> &RsaKey {
        &self.key
    }

    /// What the listener sends: the certificate, then the issuing CA (clients trust the root).
    pub fn chain(&self) -> [&Cert; 2] {
        [&self.cert, &self.issuing]
    }
}

/// What [`PkiStore::api_server_identity`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiServerChange {
    /// The stored certificate is still good.
    Kept,
    /// There was none: the first one was issued.
    Issued,
    /// The stored one was revoked: a new one was issued.
    ReplacedRevoked {
        /// The revoked certificate's serial.
        old: Serial,
    },
    /// The stored one expires soon, names other names or addresses, or was signed by another
    /// issuing CA: a new one was issued.
    Renewed {
        /// The old certificate's serial.
        old: Serial,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    /// The certificate, DER, hex.
    cert: String,
    /// The key, PKCS#8 DER, hex.
    key: String,
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

impl PkiStore {
    fn load_api_server_identity(&self) -> Result<Option<(Cert, RsaKey)>> {
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
        Ok(Some((cert, key)))
    }

    /// The API listener's identity at `now` for `names` (DNS, the first is the CN) and `ips`:
    /// the stored one while it is usable, else a new one (see the module doc).
    pub fn api_server_identity(
        &mut self,
        names: &[String],
        ips: &[IpAddr],
        now: SystemTime,
        renew_before: Duration,
    ) -> Result<(ApiServerIdentity, ApiServerChange)> {
        let issuing = self.ca.issuing().cert().clone();
        let current = self.load_api_server_identity()?;
        let change = match &current {
            None => ApiServerChange::Issued,
            Some((cert, _)) => {
                let serial = cert.serial();
                let revoked = matches!(
                    self.ledger.get(&serial).map(|e| &e.state),
                    Some(CertState::Revoked { .. })
                );
                let same_names = sorted(&cert.dns_names()) == sorted(names)
                    && sorted(&cert.ip_addresses()) == sorted(ips);
                if revoked {
                    ApiServerChange::ReplacedRevoked { old: serial }
                } else if !same_names
                    || cert.verify_signed_by(&issuing).is_err()
                    || cert.not_after() <= now + renew_before
                {
                    ApiServerChange::Renewed { old: serial }
                } else {
                    ApiServerChange::Kept
                }
            }
        };
        if let (ApiServerChange::Kept, Some((cert, key))) = (&change, current) {
            return Ok((ApiServerIdentity { cert, key, issuing }, change));
        }
        let (cert, key) = self.issue_with_new_key(&LeafRequest::ApiServer { names, ips })?;
        self.store_api_server_identity(&cert, &key)?;
        match &change {
            ApiServerChange::Renewed { old } if self.ledger.get(old).is_some() => {
                self.replace_by_maintenance(old, &cert.serial())?;
            }
            _ => self.mark_installed(&cert.serial())?,
        }
        tracing::info!(serial = %cert.serial().to_hex(), ?change, "API server certificate issued");
        Ok((ApiServerIdentity { cert, key, issuing }, change))
    }

    fn store_api_server_identity(&self, cert: &Cert, key: &RsaKey) -> Result<()> {
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
        files::write_atomic(&self.dir.join(SEALED), &sealed, 0o600)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use amt_pki::{oid, CaSettings, Purpose};

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn the_api_certificate_is_reused_until_its_names_change() {
        let tmp = tempfile::tempdir().unwrap();
        let kek = tmp.path().join("kek");
        super::super::Kek::generate_file(&kek).unwrap();
        let key = RsaKey::generate(&mut rand::rng(), 2048).unwrap();
        let mut pki = PkiStore::init_with_keys(
            &tmp.path().join("ca"),
            &kek,
            CaSettings::default(),
            key.clone(),
            key,
        )
        .unwrap();
        let names = vec!["amtd.example.test".to_owned(), "localhost".to_owned()];
        let ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        let now = SystemTime::now();
        let (first, change) = pki
            .api_server_identity(&names, &ips, now, 30 * DAY)
            .unwrap();
        assert_eq!(change, ApiServerChange::Issued);
        assert_eq!(first.cert().extended_key_usages(), vec![oid::SERVER_AUTH]);
        assert_eq!(first.cert().dns_names(), names);
        assert_eq!(first.cert().ip_addresses(), ips);
        assert_eq!(first.cert().common_names(), vec!["amtd.example.test"]);
        let entry = pki.ledger().get(&first.cert().serial()).unwrap();
        assert_eq!(entry.purpose, Purpose::ApiServer);
        assert!(format!("{first:?}").contains("<redacted>"));

        let mut again = PkiStore::open(&tmp.path().join("ca"), &kek).unwrap();
        let reversed: Vec<String> = names.iter().rev().cloned().collect();
        let (second, change) = again
            .api_server_identity(&reversed, &ips, now, 30 * DAY)
            .unwrap();
        assert_eq!(change, ApiServerChange::Kept);
        assert_eq!(second.cert().der(), first.cert().der());

        let more = vec!["localhost".to_owned(), "other.example.test".to_owned()];
        let (third, change) = again
            .api_server_identity(&more, &ips, now, 30 * DAY)
            .unwrap();
        assert_eq!(
            change,
            ApiServerChange::Renewed {
                old: first.cert().serial()
            }
        );
        assert_eq!(third.cert().dns_names(), more);
        let old = again.ledger().get(&first.cert().serial()).unwrap();
        assert_eq!(old.state.name(), "revoked");

        // Near expiry (the window reaches past its end): renewed.
        let (_, change) = again
            .api_server_identity(&more, &ips, now, 10_000 * DAY)
            .unwrap();
        assert!(matches!(change, ApiServerChange::Renewed { .. }));
    }
}
