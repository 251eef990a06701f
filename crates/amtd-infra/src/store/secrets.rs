//! Envelope-encrypted device secrets (O2, §8).
//!
//! Each stored value has its own random 256-bit data key. The value is encrypted with it
//! (AES-256-GCM, random nonce); the data key is sealed under the KEK with the CA store's
//! sealing format. Both layers authenticate the label `amtd-secret/v1/<uuid>/<kind>/<version>`,
//! so a row moved to another device, kind or version does not open. Old versions are kept:
//! a rotated password is escrowed, never lost. Revealing a value (and auditing that) is the
//! caller's business.

use std::path::Path;
use std::time::SystemTime;

use amt_wsman::secret::SecretString;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use sqlx::Any;
use zeroize::Zeroizing;

use super::{
    check_text, from_ms, get, to_ms, Result, SecretKind, SecretVersion, Store, StoreError,
    KEK_CHECK_KEY, KEK_CHECK_LABEL, KEK_CHECK_PLAIN,
};
use crate::pki_store::{Kek, PkiStoreError};

const LABEL_PREFIX: &str = "amtd-secret/v1";
const TAG_LEN: usize = 16;
/// How often `put_secret` retries when another writer took the same version number.
const PUT_RETRIES: usize = 5;

fn label(device_uuid: &str, kind: impl std::fmt::Display, version: i64) -> String {
    format!("{LABEL_PREFIX}/{device_uuid}/{kind}/{version}")
}

fn data_key(dek: &[u8]) -> Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, dek).map_err(|_| StoreError::Corrupt {
        what: "secret data key".into(),
        detail: "not a 256-bit key".into(),
    })?;
    Ok(LessSafeKey::new(unbound))
}

/// `nonce || ciphertext || tag` of `plain` under `dek`, authenticating `label`.
fn encrypt(dek: &[u8], label: &str, plain: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    let mut buf = Zeroizing::new(plain.to_vec());
    data_key(dek)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(label.as_bytes()),
            &mut *buf,
        )
        .map_err(|_| StoreError::Corrupt {
            what: label.to_string(),
            detail: "encryption failed".into(),
        })?;
    let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok(out)
}

fn decrypt(dek: &[u8], label: &str, sealed: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(StoreError::Corrupt {
            what: what.to_string(),
            detail: "ciphertext truncated".into(),
        });
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let mut nonce_arr = [0u8; NONCE_LEN];
    nonce_arr.copy_from_slice(nonce);
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = data_key(dek)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce_arr),
            Aad::from(label.as_bytes()),
            &mut buf,
        )
        .map_err(|_| StoreError::Corrupt {
            what: what.to_string(),
            detail: "the data key does not open the value: the row was altered or moved".into(),
        })?
        .len();
    buf.truncate(len);
    Ok(buf)
}

impl Store {
    /// Store a new version of a device secret. Returns its version (1 for the first). The
    /// value is committed, encrypted, when this returns.
    pub async fn put_secret(
        &self,
        device_uuid: &str,
        kind: SecretKind,
        value: &SecretString,
    ) -> Result<u32> {
        check_text("device uuid", device_uuid)?;
        let mut last = None;
        for _ in 0..PUT_RETRIES {
            let row = sqlx::query::<Any>(
                "SELECT COALESCE(MAX(version), 0) AS v FROM secrets \
                 WHERE device_uuid = $1 AND kind = $2",
            )
            .bind(device_uuid)
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("put_secret"))?;
            let version = get::<i64>(&row, "v", "secrets")? + 1;
            let label = label(device_uuid, kind, version);
            let mut dek = Zeroizing::new([0u8; 32]);
            rand::fill(dek.as_mut_slice());
            let ciphertext = encrypt(dek.as_slice(), &label, value.expose().as_bytes())?;
            let sealed_key = self.kek.seal(&label, dek.as_slice())?;
            let res = sqlx::query::<Any>(
                "INSERT INTO secrets \
                    (device_uuid, kind, version, sealed_key, ciphertext, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(device_uuid)
            .bind(kind.as_str())
            .bind(version)
            .bind(sealed_key)
            .bind(ciphertext)
            .bind(to_ms(SystemTime::now()))
            .execute(&self.pool)
            .await
            .map_err(self.err("put_secret"));
            match res {
                Ok(_) => {
                    return u32::try_from(version).map_err(|_| StoreError::Corrupt {
                        what: format!("secret {kind} of device {device_uuid}"),
                        detail: "version out of range".into(),
                    })
                }
                Err(e @ StoreError::Conflict { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(StoreError::InvalidInput {
            what: "secret",
            detail: "no attempt made".into(),
        }))
    }

    /// The newest version of a device secret.
    pub async fn get_secret(
        &self,
        device_uuid: &str,
        kind: SecretKind,
    ) -> Result<Option<SecretString>> {
        self.read_secret(device_uuid, kind, None).await
    }

    /// One version of a device secret (for example the one in force before a rotation).
    pub async fn get_secret_version(
        &self,
        device_uuid: &str,
        kind: SecretKind,
        version: u32,
    ) -> Result<Option<SecretString>> {
        self.read_secret(device_uuid, kind, Some(version)).await
    }

    /// The stored versions of a device secret, oldest first (never the values).
    pub async fn secret_versions(
        &self,
        device_uuid: &str,
        kind: SecretKind,
    ) -> Result<Vec<SecretVersion>> {
        let rows = sqlx::query::<Any>(
            "SELECT version, created_at FROM secrets WHERE device_uuid = $1 AND kind = $2 \
             ORDER BY version",
        )
        .bind(device_uuid)
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("secret_versions"))?;
        rows.iter()
            .map(|r| {
                Ok(SecretVersion {
                    version: u32::try_from(get::<i64>(r, "version", "secrets")?)
                        .unwrap_or(u32::MAX),
                    created_at: from_ms(get(r, "created_at", "secrets")?),
                })
            })
            .collect()
    }

    async fn read_secret(
        &self,
        device_uuid: &str,
        kind: SecretKind,
        version: Option<u32>,
    ) -> Result<Option<SecretString>> {
        let row = sqlx::query::<Any>(
            "SELECT version, sealed_key, ciphertext FROM secrets \
             WHERE device_uuid = $1 AND kind = $2 AND ($3 IS NULL OR version = $3) \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(device_uuid)
        .bind(kind.as_str())
        .bind(version.map(i64::from))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("get_secret"))?;
        let Some(row) = row else { return Ok(None) };
        let version: i64 = get(&row, "version", "secrets")?;
        let sealed_key: Vec<u8> = get(&row, "sealed_key", "secrets")?;
        let ciphertext: Vec<u8> = get(&row, "ciphertext", "secrets")?;
        let label = label(device_uuid, kind, version);
        let what = format!("secret {kind} (version {version}) of device {device_uuid}");
        let dek = self
            .kek
            .open(Path::new(&label), &label, &sealed_key)
            .map_err(|e| match e {
                PkiStoreError::WrongKek { .. } => StoreError::WrongKek { what: what.clone() },
                other => StoreError::Corrupt {
                    what: what.clone(),
                    detail: other.to_string(),
                },
            })?;
        let plain = decrypt(&dek, &label, &ciphertext, &what)?;
        let text = std::str::from_utf8(&plain).map_err(|_| StoreError::Corrupt {
            what,
            detail: "not UTF-8".into(),
        })?;
        Ok(Some(SecretString::new(text.to_owned())))
    }

    /// Rotate the key-encryption key: re-seal every secret's data key (and the store's KEK
    /// check) under `new_kek`, in one transaction. The values themselves are not re-encrypted;
    /// that is the point of envelope encryption. Returns the store, now using `new_kek`, and
    /// how many secrets were re-sealed. Other instances must be stopped and restarted with the
    /// new KEK file.
    pub async fn rotate_kek(self, new_kek: Kek) -> Result<(Store, usize)> {
        let mut tx = self.pool.begin().await.map_err(self.err("rotate_kek"))?;
        if self.backend == super::Backend::Postgres {
            sqlx::query::<Any>("LOCK TABLE secrets, store_meta IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(self.err("rotate_kek"))?;
        }
        // Write first, so SQLite takes its write lock before reading.
        let check = new_kek.seal(KEK_CHECK_LABEL, KEK_CHECK_PLAIN)?;
        sqlx::query::<Any>("UPDATE store_meta SET value = $1 WHERE key = $2")
            .bind(check)
            .bind(KEK_CHECK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(self.err("rotate_kek"))?;
        let rows = sqlx::query::<Any>(
            "SELECT device_uuid, kind, version, sealed_key FROM secrets \
             ORDER BY device_uuid, kind, version",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err("rotate_kek"))?;
        let mut count = 0;
        for row in &rows {
            let device: String = get(row, "device_uuid", "secrets")?;
            let kind: String = get(row, "kind", "secrets")?;
            let version: i64 = get(row, "version", "secrets")?;
            let sealed: Vec<u8> = get(row, "sealed_key", "secrets")?;
            let label = label(&device, &kind, version);
            let dek = self
                .kek
                .open(Path::new(&label), &label, &sealed)
                .map_err(|e| match e {
                    PkiStoreError::WrongKek { .. } => StoreError::WrongKek {
                        what: format!("secret {kind} (version {version}) of device {device}"),
                    },
                    other => StoreError::Corrupt {
                        what: format!("secret {kind} (version {version}) of device {device}"),
                        detail: other.to_string(),
                    },
                })?;
            let resealed = new_kek.seal(&label, &dek)?;
            sqlx::query::<Any>(
                "UPDATE secrets SET sealed_key = $1 \
                 WHERE device_uuid = $2 AND kind = $3 AND version = $4",
            )
            .bind(resealed)
            .bind(&device)
            .bind(&kind)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(self.err("rotate_kek"))?;
            count += 1;
        }
        tx.commit().await.map_err(self.err("rotate_kek"))?;
        let store = Store {
            kek: std::sync::Arc::new(new_kek),
            ..self
        };
        Ok((store, count))
    }
}
