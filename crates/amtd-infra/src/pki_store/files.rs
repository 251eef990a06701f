//! File primitives of the store: atomic writes, reads with clear errors, the key-encryption
//! key, and AES-256-GCM sealing of private keys.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use super::error::PkiStoreError;

type Result<T, E = PkiStoreError> = std::result::Result<T, E>;

const SEAL_MAGIC: &[u8] = b"AMTDSEAL1";

/// Write `data` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// renamed over the target, then the directory flushed.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| PkiStoreError::io("create", &tmp, e))?;
        f.write_all(data)
            .map_err(|e| PkiStoreError::io("write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| PkiStoreError::io("sync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| PkiStoreError::io("rename into place", path, e))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Read a whole file; a missing file is reported as such by the caller via `exists` checks.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| PkiStoreError::io("read", path, e))
}

/// Read a UTF-8 file.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|_| PkiStoreError::Corrupt {
        path: path.to_path_buf(),
        detail: "not UTF-8 text".into(),
    })
}

/// A 256-bit key-encryption key, read from a file only its owner can read.
pub struct Kek {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    /// Read the KEK: 32 raw bytes or 64 hex digits (a trailing newline is allowed). The file
    /// must be a regular file with no group or other permission bits.
    pub fn from_file(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|e| PkiStoreError::io("read", path, e))?;
        if !meta.is_file() {
            return Err(PkiStoreError::KekFormat {
                path: path.to_path_buf(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(PkiStoreError::KekPermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let raw = Zeroizing::new(read(path)?);
        let mut key = Zeroizing::new([0u8; 32]);
        let text = std::str::from_utf8(&raw).ok().map(str::trim);
        match text {
            Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
                hex::decode_to_slice(t, key.as_mut_slice()).map_err(|_| {
                    PkiStoreError::KekFormat {
                        path: path.to_path_buf(),
                    }
                })?;
            }
            _ if raw.len() == 32 => key.copy_from_slice(&raw),
            _ => {
                return Err(PkiStoreError::KekFormat {
                    path: path.to_path_buf(),
                })
            }
        }
        Ok(Kek { key })
    }

    /// Create a new random KEK file (64 hex digits, mode 0600). Refuses to overwrite.
    pub fn generate_file(path: &Path) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::fill(key.as_mut_slice());
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_slice())));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| PkiStoreError::io("create", path, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| PkiStoreError::io("write", path, e))?;
        Ok(Kek { key })
    }

    fn aead(&self) -> Result<LessSafeKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.key.as_slice()).map_err(|_| {
            PkiStoreError::KekFormat {
                path: PathBuf::new(),
            }
        })?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Encrypt `plain` for the file `label` (the label is authenticated, so sealed files cannot
    /// be swapped for one another).
    pub(crate) fn seal(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut buf = plain.to_vec();
        let aad = [SEAL_MAGIC, label.as_bytes()].concat();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                &mut buf,
            )
            .map_err(|_| PkiStoreError::Corrupt {
                path: PathBuf::from(label),
                detail: "encryption failed".into(),
            })?;
        let mut out = Vec::with_capacity(SEAL_MAGIC.len() + NONCE_LEN + buf.len());
        out.extend_from_slice(SEAL_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        buf.iter_mut().for_each(|b| *b = 0);
        Ok(out)
    }

    /// Decrypt a sealed file's contents.
    pub(crate) fn open(
        &self,
        path: &Path,
        label: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let corrupt = |detail: &str| PkiStoreError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        let rest = sealed
            .strip_prefix(SEAL_MAGIC)
            .ok_or_else(|| corrupt("not a sealed key file (bad header)"))?;
        if rest.len() < NONCE_LEN + 16 {
            return Err(corrupt("truncated"));
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let mut nonce_arr = [0u8; NONCE_LEN];
        nonce_arr.copy_from_slice(nonce);
        let mut buf = Zeroizing::new(ct.to_vec());
        let aad = [SEAL_MAGIC, label.as_bytes()].concat();
        let plain_len = self
            .aead()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_arr),
                Aad::from(aad.as_slice()),
                &mut buf,
            )
            .map_err(|_| PkiStoreError::WrongKek {
                path: path.to_path_buf(),
            })?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}
