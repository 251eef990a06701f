//! The embedded CA's file-backed store: CA keys sealed at rest with a key-encryption key
//! (AES-256-GCM), certificates, the ledger of every issued certificate, and the CRLs.
//!
//! Layout of a store directory (mode 0700):
//!
//! ```text
//! store.json                 format version, CA settings, CRL numbers (written last by init)
//! root-ca.pem, issuing-ca.pem
//! root-ca.key.sealed, issuing-ca.key.sealed
//! ledger.json                every issued certificate and its state
//! crl/root.crl, crl/issuing.crl       DER, what the server publishes at the distribution points
//! provisioning/<id>.pem, <id>.key.sealed   imported provisioning certificates
//! console/identity.sealed    the server's own mutual-TLS console certificate and key (M9)
//! api/identity.sealed        the API listener's TLS server certificate and key
//! ```
//!
//! Rules: every write is atomic (temporary file, fsync, rename). Only [`PkiStore::init`]
//! creates a CA, and it refuses when any store file already exists. [`PkiStore::open`] never
//! creates anything: a missing, unreadable or corrupt file, or a wrong KEK, is an error that
//! names the file. One writer at a time is assumed (the server, or the CLI while the server is
//! stopped).

mod api_server;
mod console;
pub mod crl_fetch;
mod error;
mod files;
pub mod query;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use amt_pki;
use amt_pki::crl::build_crl;
use amt_pki::trust::redirection_trust_pem;
use amt_pki::{
    Authority, CaRole, CaSettings, Cert, Crl, EmbeddedCa, IssuedCert, LeafRequest, Ledger,
    MtlsBundle, ProvisioningCert, RevocationReason, RsaKey, Serial, SetupMarker, VerifiedCsr,
};
use serde::{Deserialize, Serialize};

pub use api_server::{ApiServerChange, ApiServerIdentity};
pub use console::{ConsoleChange, ConsoleIdentity};
pub use error::PkiStoreError;
pub use files::Kek;

type Result<T, E = PkiStoreError> = std::result::Result<T, E>;

const STORE_FILE: &str = "store.json";
const LEDGER_FILE: &str = "ledger.json";
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreMeta {
    format: u32,
    settings: CaSettings,
    /// Last CRL number published, per CA.
    crl_number_root: u64,
    crl_number_issuing: u64,
}

/// An opened CA store.
#[derive(Debug)]
pub struct PkiStore {
    dir: PathBuf,
    kek: Kek,
    ca: EmbeddedCa,
    ledger: Ledger,
    meta: StoreMeta,
}

fn cert_file(role: CaRole) -> String {
    format!("{}-ca.pem", role.stem())
}

fn key_file(role: CaRole) -> String {
    format!("{}-ca.key.sealed", role.stem())
}

fn crl_file(role: CaRole) -> String {
    format!("crl/{}.crl", role.stem())
}

const ROLES: [CaRole; 2] = [CaRole::Root, CaRole::Issuing];

impl PkiStore {
    /// Create a new CA in `dir` (created if absent) with keys sealed by the KEK in `kek_path`.
    /// Refuses if `dir` already holds any store file. Publishes the first (empty) CRLs.
    pub fn init(dir: &Path, kek_path: &Path, settings: CaSettings) -> Result<Self> {
        Self::init_inner(dir, kek_path, settings, None)
    }

    /// Like [`PkiStore::init`], with CA keys made elsewhere (an HSM export, or tests).
    pub fn init_with_keys(
        dir: &Path,
        kek_path: &Path,
        settings: CaSettings,
        root_key: RsaKey,
        issuing_key: RsaKey,
    ) -> Result<Self> {
        Self::init_inner(dir, kek_path, settings, Some((root_key, issuing_key)))
    }

    fn init_inner(
        dir: &Path,
        kek_path: &Path,
        settings: CaSettings,
        keys: Option<(RsaKey, RsaKey)>,
    ) -> Result<Self> {
        settings.validate()?;
        let kek = Kek::from_file(kek_path)?;
        if dir.exists() {
            for name in [STORE_FILE, LEDGER_FILE]
                .into_iter()
                .map(String::from)
                .chain(ROLES.iter().flat_map(|r| [cert_file(*r), key_file(*r)]))
            {
                if dir.join(&name).exists() {
                    return Err(PkiStoreError::AlreadyExists {
                        dir: dir.to_path_buf(),
                        found: name,
                    });
                }
            }
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join("crl"))
            .map_err(|e| PkiStoreError::io("create", dir, e))?;
        let now = SystemTime::now();
        let mut rng = rand::rng();
        let (ca, records) = match keys {
            Some((root, issuing)) => {
                EmbeddedCa::create_with_keys(settings.clone(), root, issuing, &mut rng, now)?
            }
            None => EmbeddedCa::create(settings.clone(), &mut rng, now)?,
        };
        let mut ledger = Ledger::default();
        for r in &records {
            ledger.record(r, now);
        }
        let mut store = PkiStore {
            dir: dir.to_path_buf(),
            kek,
            ca,
            ledger,
            meta: StoreMeta {
                format: FORMAT,
                settings,
                crl_number_root: 0,
                crl_number_issuing: 0,
            },
        };
        for role in ROLES {
            let auth = store.ca.authority(role);
            let pkcs8 = auth.key().to_pkcs8_der()?;
            let sealed = store.kek.seal(&key_file(role), &pkcs8)?;
            files::write_atomic(&dir.join(key_file(role)), &sealed, 0o600)?;
            files::write_atomic(
                &dir.join(cert_file(role)),
                auth.cert().to_pem().as_bytes(),
                0o644,
            )?;
        }
        store.save_ledger()?;
        store.publish_crls_at(now)?;
        // store.json last: its presence marks a complete store.
        store.save_meta()?;
        Ok(store)
    }

    /// Open an existing store. Never creates or changes anything.
    pub fn open(dir: &Path, kek_path: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(PkiStoreError::NotFound {
                dir: dir.to_path_buf(),
            });
        }
        let meta_path = dir.join(STORE_FILE);
        if !meta_path.exists() {
            let any = ROLES
                .iter()
                .flat_map(|r| [cert_file(*r), key_file(*r)])
                .chain([LEDGER_FILE.to_string()])
                .any(|n| dir.join(n).exists());
            return Err(if any {
                PkiStoreError::Incomplete {
                    dir: dir.to_path_buf(),
                    missing: STORE_FILE.into(),
                }
            } else {
                PkiStoreError::NotFound {
                    dir: dir.to_path_buf(),
                }
            });
        }
        let meta: StoreMeta =
            serde_json::from_str(&files::read_text(&meta_path)?).map_err(|e| {
                PkiStoreError::Corrupt {
                    path: meta_path.clone(),
                    detail: e.to_string(),
                }
            })?;
        if meta.format != FORMAT {
            return Err(PkiStoreError::Corrupt {
                path: meta_path,
                detail: format!(
                    "unknown store format {} (this amtd reads {FORMAT})",
                    meta.format
                ),
            });
        }
        let kek = Kek::from_file(kek_path)?;
        let mut auths = Vec::new();
        for role in ROLES {
            let cpath = dir.join(cert_file(role));
            let kpath = dir.join(key_file(role));
            for p in [&cpath, &kpath] {
                if !p.exists() {
                    return Err(PkiStoreError::Incomplete {
                        dir: dir.to_path_buf(),
                        missing: p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    });
                }
            }
            let cert =
                Cert::from_pem(&files::read_text(&cpath)?).map_err(|e| PkiStoreError::Corrupt {
                    path: cpath.clone(),
                    detail: e.to_string(),
                })?;
            let pkcs8 = kek.open(&kpath, &key_file(role), &files::read(&kpath)?)?;
            let key = RsaKey::from_pkcs8_der(&pkcs8).map_err(|e| PkiStoreError::Corrupt {
                path: kpath.clone(),
                detail: e.to_string(),
            })?;
            auths.push(
                Authority::new(cert, key).map_err(|e| PkiStoreError::Corrupt {
                    path: kpath.clone(),
                    detail: e.to_string(),
                })?,
            );
        }
        let issuing = auths.pop();
        let root = auths.pop();
        let (Some(root), Some(issuing)) = (root, issuing) else {
            return Err(PkiStoreError::Incomplete {
                dir: dir.to_path_buf(),
                missing: cert_file(CaRole::Root),
            });
        };
        let ca = EmbeddedCa::from_parts(root, issuing, meta.settings.clone()).map_err(|e| {
            PkiStoreError::Corrupt {
                path: dir.join(cert_file(CaRole::Issuing)),
                detail: e.to_string(),
            }
        })?;
        let lpath = dir.join(LEDGER_FILE);
        if !lpath.exists() {
            return Err(PkiStoreError::Incomplete {
                dir: dir.to_path_buf(),
                missing: LEDGER_FILE.into(),
            });
        }
        let ledger: Ledger = serde_json::from_str(&files::read_text(&lpath)?).map_err(|e| {
            PkiStoreError::Corrupt {
                path: lpath.clone(),
                detail: e.to_string(),
            }
        })?;
        Ok(PkiStore {
            dir: dir.to_path_buf(),
            kek,
            ca,
            ledger,
            meta,
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA.
    pub fn ca(&self) -> &EmbeddedCa {
        &self.ca
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn save_ledger(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.ledger).map_err(|e| PkiStoreError::Corrupt {
            path: self.dir.join(LEDGER_FILE),
            detail: e.to_string(),
        })?;
        files::write_atomic(&self.dir.join(LEDGER_FILE), &json, 0o600)
    }

    fn save_meta(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.meta).map_err(|e| PkiStoreError::Corrupt {
            path: self.dir.join(STORE_FILE),
            detail: e.to_string(),
        })?;
        files::write_atomic(&self.dir.join(STORE_FILE), &json, 0o600)
    }

    fn record(&mut self, issued: IssuedCert) -> Result<Cert> {
        self.ledger.record(&issued, SystemTime::now());
        self.save_ledger()?;
        Ok(issued.cert)
    }

    /// Issue a device TLS certificate for the key in a device's PKCS#10 request (P4) and
    /// record it.
    pub fn issue_device_from_csr(
        &mut self,
        csr: &VerifiedCsr,
        fqdn: &str,
        uuid: &str,
    ) -> Result<Cert> {
        let issued = self.ca.issue_from_csr(
            &LeafRequest::Device { fqdn, uuid },
            csr,
            &mut rand::rng(),
            SystemTime::now(),
        )?;
        self.record(issued)
    }

    /// Issue a certificate with a key made here (old firmware: pushed with AddKey; consoles;
    /// lab provisioning certificates), record it, and hand back the key. The store keeps no
    /// copy of the key.
    pub fn issue_with_new_key(&mut self, request: &LeafRequest<'_>) -> Result<(Cert, RsaKey)> {
        let (issued, key) =
            self.ca
                .issue_with_new_key(request, &mut rand::rng(), SystemTime::now())?;
        Ok((self.record(issued)?, key))
    }

    /// Convenience: a console mutual-TLS client certificate with a new key.
    pub fn issue_console(&mut self, common_name: &str) -> Result<(Cert, RsaKey)> {
        self.issue_with_new_key(&LeafRequest::Console { common_name })
    }

    /// Convenience: a lab provisioning certificate with a new key.
    pub fn issue_provisioning(
        &mut self,
        fqdn: &str,
        marker: SetupMarker,
    ) -> Result<(Cert, RsaKey)> {
        self.issue_with_new_key(&LeafRequest::Provisioning { fqdn, marker })
    }

    /// The device confirmed the certificate is installed.
    pub fn mark_installed(&mut self, serial: &Serial) -> Result<()> {
        self.ledger.mark_installed(serial, SystemTime::now())?;
        self.save_ledger()
    }

    /// Revoke a certificate with a reason, then publish new CRLs.
    pub fn revoke(&mut self, serial: &Serial, reason: RevocationReason) -> Result<()> {
        let now = SystemTime::now();
        self.ledger.revoke(serial, reason, now)?;
        self.save_ledger()?;
        self.publish_crls_at(now).map(|_| ())
    }

    /// Maintenance replaced `old` by `new` (installed): supersede and revoke `old`, publish CRLs.
    pub fn replace_by_maintenance(&mut self, old: &Serial, new: &Serial) -> Result<()> {
        let now = SystemTime::now();
        self.ledger.replace_by_maintenance(old, new, now)?;
        self.save_ledger()?;
        self.publish_crls_at(now).map(|_| ())
    }

    /// The device is provisioned again: revoke its older device certificates (all but `keep`),
    /// publish CRLs if any was revoked. Returns the serials revoked.
    pub fn revoke_for_reprovision(
        &mut self,
        uuid: &str,
        keep: Option<&Serial>,
    ) -> Result<Vec<Serial>> {
        let now = SystemTime::now();
        let revoked = self.ledger.revoke_for_reprovision(uuid, keep, now);
        if !revoked.is_empty() {
            self.save_ledger()?;
            self.publish_crls_at(now)?;
        }
        Ok(revoked)
    }

    /// Provisioning failed after `serial` was issued: revoke it, publish CRLs.
    pub fn revoke_failed_provisioning(&mut self, serial: &Serial) -> Result<()> {
        let now = SystemTime::now();
        self.ledger.revoke_failed_provisioning(serial, now)?;
        self.save_ledger()?;
        self.publish_crls_at(now).map(|_| ())
    }

    /// Sign and write new CRLs for both CAs (numbers increase). Returns them (DER).
    pub fn publish_crls(&mut self) -> Result<Vec<(CaRole, Vec<u8>)>> {
        self.publish_crls_at(SystemTime::now())
    }

    fn publish_crls_at(&mut self, now: SystemTime) -> Result<Vec<(CaRole, Vec<u8>)>> {
        let validity = Duration::from_secs(self.meta.settings.crl_validity_secs);
        let mut out = Vec::new();
        for role in ROLES {
            let number = match role {
                CaRole::Root => &mut self.meta.crl_number_root,
                CaRole::Issuing => &mut self.meta.crl_number_issuing,
            };
            *number += 1;
            let der = build_crl(
                self.ca.authority(role),
                *number,
                now,
                now + validity,
                &self.ledger.revoked_by(role),
                &mut rand::rng(),
            )?;
            files::write_atomic(&self.dir.join(crl_file(role)), &der, 0o644)?;
            out.push((role, der));
        }
        self.save_meta()?;
        Ok(out)
    }

    /// Re-publish the CRLs when less than half their validity is left (the schedule). Returns
    /// whether it did.
    pub fn refresh_crls_if_due(&mut self, now: SystemTime) -> Result<bool> {
        let half = Duration::from_secs(self.meta.settings.crl_validity_secs / 2);
        let mut due = false;
        for role in ROLES {
            match self.crl(role) {
                Ok(crl) => {
                    if crl.next_update().is_none_or(|n| n < now + half) {
                        due = true;
                    }
                }
                Err(_) => due = true,
            }
        }
        if due {
            self.publish_crls_at(now)?;
        }
        Ok(due)
    }

    /// The current CRL of a CA, as published.
    pub fn crl(&self, role: CaRole) -> Result<Crl> {
        let path = self.dir.join(crl_file(role));
        Crl::from_der(&files::read(&path)?).map_err(|e| PkiStoreError::Corrupt {
            path,
            detail: e.to_string(),
        })
    }

    /// Path of a CA's CRL file (what the HTTP server serves at the distribution point).
    pub fn crl_path(&self, role: CaRole) -> PathBuf {
        self.dir.join(crl_file(role))
    }

    /// The redirection trust PEM: issuing CA, then root (M8).
    pub fn trust_pem(&self) -> Result<String> {
        Ok(redirection_trust_pem(&self.ca.chain())?)
    }

    /// The mutual-TLS bundle for a console certificate and key (M8).
    pub fn mtls_bundle(&self, cert: &Cert, key: &RsaKey, password: &str) -> Result<MtlsBundle> {
        Ok(MtlsBundle::new(
            cert,
            key,
            &self.ca.chain(),
            password,
            &mut rand::rng(),
        )?)
    }

    /// A PKCS#12 file with `cert`, its `key` and the CA chain (issuing CA, root), for example
    /// a lab provisioning certificate.
    pub fn pfx_with_chain(
        &self,
        cert: &Cert,
        key: &RsaKey,
        friendly_name: &str,
        password: &str,
    ) -> Result<Vec<u8>> {
        Ok(amt_pki::pfx::write_pfx(
            cert,
            key,
            &self.ca.chain(),
            friendly_name,
            password,
            &mut rand::rng(),
        )?)
    }

    /// Keep an imported provisioning certificate (chain in PEM, key sealed). Returns its id
    /// (the first 16 hex digits of the leaf's SHA-256).
    pub fn import_provisioning(&self, cert: &ProvisioningCert) -> Result<String> {
        let id = cert.leaf().hashes().sha256.to_hex()[..16].to_string();
        let dir = self.dir.join("provisioning");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| PkiStoreError::io("create", &dir, e))?;
        let label = format!("provisioning/{id}.key.sealed");
        let sealed = self.kek.seal(&label, &cert.key().to_pkcs8_der()?)?;
        files::write_atomic(&self.dir.join(&label), &sealed, 0o600)?;
        let pem: String = cert.chain().iter().map(Cert::to_pem).collect();
        files::write_atomic(&dir.join(format!("{id}.pem")), pem.as_bytes(), 0o644)?;
        Ok(id)
    }

    /// Every imported provisioning certificate, re-validated at `now` (an expired one is an
    /// error that names it).
    pub fn provisioning_certs(&self, now: SystemTime) -> Result<Vec<(String, ProvisioningCert)>> {
        let dir = self.dir.join("provisioning");
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut ids: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".pem"))
                    .map(String::from)
            })
            .collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            let pem_path = dir.join(format!("{id}.pem"));
            let label = format!("provisioning/{id}.key.sealed");
            let kpath = self.dir.join(&label);
            let key_der = self.kek.open(&kpath, &label, &files::read(&kpath)?)?;
            let key = RsaKey::from_pkcs8_der(&key_der).map_err(|e| PkiStoreError::Corrupt {
                path: kpath.clone(),
                detail: e.to_string(),
            })?;
            let certs = Cert::all_from_pem(&files::read_text(&pem_path)?).map_err(|e| {
                PkiStoreError::Corrupt {
                    path: pem_path.clone(),
                    detail: e.to_string(),
                }
            })?;
            out.push((id, ProvisioningCert::from_parts(certs, key, now)?));
        }
        Ok(out)
    }
}
