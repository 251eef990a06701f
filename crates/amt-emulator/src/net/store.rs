//! The state directory: one JSON file per device (`<uuid>.json`, [`DeviceState`]), so devices
//! survive restarts of the emulator (D7), plus the setup-mode self-signed TLS identity
//! (`<uuid>.setup-tls.json`) once a device has made one.
//!
//! Files are written atomically (a temporary file in the same directory, then `rename`), so a
//! crash leaves either the old or the new state, never half a file. A file that cannot be
//! read back is an error for that device: the emulator never silently resets a device.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::state::{DeviceState, StateError};

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A state file exists but is not a usable state document.
    #[error("{path}: {source} (fix or delete the file to reset this device)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: StateError,
    },
}

/// The setup-mode TLS identity of a device: a self-signed certificate and its RSA key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredIdentity {
    /// Certificate DER, base64.
    pub cert_der_b64: String,
    /// PKCS#8 private key DER, base64.
    pub key_pkcs8_b64: String,
}

impl std::fmt::Debug for StoredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIdentity")
            .field("cert_der_b64", &self.cert_der_b64)
            .field("key_pkcs8_b64", &"[REDACTED]")
            .finish()
    }
}

/// A certificate (DER) and its private key (PKCS#8 DER).
pub type CertAndKey = (Vec<u8>, Vec<u8>);

/// A state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// Opens (creating it if needed) the directory.
    ///
    /// # Errors
    /// [`StoreError::Io`] when it cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(StateStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file of the device with this UUID.
    pub fn state_path(&self, uuid: &str) -> PathBuf {
        self.dir.join(format!("{uuid}.json"))
    }

    fn identity_path(&self, uuid: &str) -> PathBuf {
        self.dir.join(format!("{uuid}.setup-tls.json"))
    }

    /// Loads a device's state; `Ok(None)` when it has none yet.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for an unreadable document, [`StoreError::Io`] otherwise.
    pub fn load(&self, uuid: &str) -> Result<Option<DeviceState>, StoreError> {
        let path = self.state_path(uuid);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        DeviceState::from_json(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Corrupt { path, source })
    }

    /// Writes a device's state atomically.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn save(&self, state: &DeviceState) -> Result<(), StoreError> {
        self.save_bytes(&state.config.uuid, &state.to_json())
    }

    /// Writes an already serialised state document atomically.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn save_bytes(&self, uuid: &str, json: &[u8]) -> Result<(), StoreError> {
        write_atomically(&self.state_path(uuid), json)
    }

    /// Loads the setup-mode identity; `Ok(None)` when none was made yet.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] or [`StoreError::Io`].
    pub fn load_identity(&self, uuid: &str) -> Result<Option<CertAndKey>, StoreError> {
        let path = self.identity_path(uuid);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            source: StateError::Corrupt { reason },
        };
        let id: StoredIdentity =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert = b64
            .decode(&id.cert_der_b64)
            .map_err(|e| corrupt(e.to_string()))?;
        let key = b64
            .decode(&id.key_pkcs8_b64)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Some((cert, key)))
    }

    /// Stores the setup-mode identity.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn save_identity(
        &self,
        uuid: &str,
        cert_der: &[u8],
        key_pkcs8: &[u8],
    ) -> Result<(), StoreError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let id = StoredIdentity {
            cert_der_b64: b64.encode(cert_der),
            key_pkcs8_b64: b64.encode(key_pkcs8),
        };
        let json = serde_json::to_vec_pretty(&id).unwrap_or_default();
        write_atomically(&self.identity_path(uuid), &json)
    }
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::DeviceConfig;

    fn state() -> DeviceState {
        DeviceState::new(
            DeviceConfig {
                uuid: "8086e000-0000-4000-8000-000000000001".into(),
                hostname: "amtdev00001".into(),
                domain: "amt.test".into(),
                mac: "02:80:86:00:00:01".into(),
                persona: "amt16".into(),
                provisioning_server: None,
                extra_root_hashes: vec![],
            },
            [7; 16],
        )
    }

    #[test]
    fn state_survives_a_round_trip_through_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let s = state();
        assert!(store.load(&s.config.uuid).unwrap().is_none());
        store.save(&s).unwrap();
        assert_eq!(store.load(&s.config.uuid).unwrap(), Some(s.clone()));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn corrupt_state_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let s = state();
        std::fs::write(
            store.state_path(&s.config.uuid),
            b"{\"version\": 1, \"trunc",
        )
        .unwrap();
        let err = store.load(&s.config.uuid).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&s.config.uuid), "{err}");
    }

    #[test]
    fn identity_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store.save_identity("u", b"cert", b"key").unwrap();
        assert_eq!(
            store.load_identity("u").unwrap(),
            Some((b"cert".to_vec(), b"key".to_vec()))
        );
    }
}
