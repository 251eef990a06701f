//! Errors of the key store. Each names the file and says what to do.

use std::path::PathBuf;

use amt_pki::PkiError;

/// What went wrong opening, creating or updating the CA store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiStoreError {
    /// No store at that path.
    #[error("no CA store at {dir}: create one with `amtd ca init`")]
    NotFound {
        /// The store directory.
        dir: PathBuf,
    },
    /// `init` was asked to create a CA where one (or part of one) already exists.
    #[error(
        "{dir} already holds a CA store ({found} exists): refusing to create a new CA over it"
    )]
    AlreadyExists {
        /// The store directory.
        dir: PathBuf,
        /// The file that was found.
        found: String,
    },
    /// The store lacks a file it needs (for example an `init` that was interrupted).
    #[error("the CA store at {dir} is incomplete: {missing} is missing. Restore it from backup; a new CA is never created over an existing store")]
    Incomplete {
        /// The store directory.
        dir: PathBuf,
        /// The missing file.
        missing: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// read, write, create, rename…
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The key-encryption key file is readable by others than its owner.
    #[error("key-encryption key file {path} has mode {mode:04o}; it must be readable by its owner only (chmod 600 {path})")]
    KekPermissions {
        /// The KEK file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key-encryption key file does not hold a 256-bit key.
    #[error("key-encryption key file {path} must hold 32 bytes, or 64 hexadecimal digits")]
    KekFormat {
        /// The KEK file.
        path: PathBuf,
    },
    /// A sealed key did not decrypt: wrong KEK, or the file was altered.
    #[error("the key-encryption key does not open {path}: wrong KEK file, or the sealed key was altered")]
    WrongKek {
        /// The sealed key file.
        path: PathBuf,
    },
    /// A store file is damaged.
    #[error("{path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A CRL could not be fetched or parsed.
    #[error("cannot fetch the CRL at {url}: {detail}")]
    CrlFetch {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The certificate layer refused (bad input, mismatch, …).
    #[error(transparent)]
    Pki(#[from] PkiError),
}

impl PkiStoreError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        PkiStoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
