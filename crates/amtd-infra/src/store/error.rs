//! The store's one error type. Every variant says who failed ([`Blame`]) and whether trying
//! the same call again can help ([`StoreError::is_retryable`]).

use crate::pki_store::PkiStoreError;

use super::Backend;

/// Who is at fault for a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blame {
    /// The caller passed something the store cannot use (unknown run, malformed URL, a
    /// record that does not serialise).
    Caller,
    /// The deployment: a wrong or unreadable key-encryption key, a schema that this amtd
    /// cannot migrate.
    Operator,
    /// The database server or file: unreachable, busy, out of space, or a concurrent writer won.
    Database,
    /// Data already in the store is damaged or was written by something else.
    StoredData,
    /// Another amtd instance holds the device (P6 lease).
    OtherInstance,
}

/// What went wrong in the provisioning store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is not `sqlite://…` or `postgres://…`, or does not parse.
    #[error("database URL {url} is not usable: {reason} (expected sqlite://PATH or postgres://USER@HOST:PORT/DB)")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database cannot be reached right now: connection refused, pool timed out, I/O error.
    #[error("the {backend} database is unavailable during {op}: {source}")]
    Unavailable {
        /// Which backend.
        backend: Backend,
        /// The store operation that needed it.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("cannot migrate the {backend} database schema: {source}")]
    Migration {
        /// Which backend.
        backend: Backend,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A concurrent writer got there first (unique key taken, serialization failure, SQLite
    /// busy past its timeout). Re-read and try again.
    #[error("{op} collided with a concurrent writer on the {backend} database: {source}")]
    Conflict {
        /// Which backend.
        backend: Backend,
        /// The store operation.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database refused the statement for another reason (constraint, disk full, …).
    #[error("the {backend} database refused {op}: {source}")]
    Database {
        /// Which backend.
        backend: Backend,
        /// The store operation.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The key-encryption key does not open what the store sealed: the wrong KEK file is
    /// configured, or the sealed data was altered.
    #[error("the key-encryption key does not open {what}: wrong KEK file configured, or the stored secret was altered")]
    WrongKek {
        /// What could not be opened (for example `secret admin of device …`, or `the store`).
        what: String,
    },
    /// The KEK file itself could not be read or has a bad format or mode.
    #[error(transparent)]
    Kek(#[from] PkiStoreError),
    /// Data in the store does not decode (bad JSON, unknown value, wrong column type).
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// The record (table and key).
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// A record the call refers to does not exist.
    #[error("{what} does not exist")]
    NotFound {
        /// The missing record.
        what: String,
    },
    /// The caller passed a value the store cannot keep.
    #[error("invalid {what}: {detail}")]
    InvalidInput {
        /// The argument.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The device's provisioning lease is held by another owner, or expired and was taken
    /// over: this instance must stop working on the device.
    #[error("the provisioning lease on device {device} is no longer held by {owner}")]
    LeaseLost {
        /// The device.
        device: String,
        /// The owner that lost it.
        owner: String,
    },
}

impl StoreError {
    /// Who is at fault.
    #[must_use]
    pub fn blame(&self) -> Blame {
        match self {
            StoreError::InvalidUrl { .. }
            | StoreError::NotFound { .. }
            | StoreError::InvalidInput { .. } => Blame::Caller,
            StoreError::WrongKek { .. } | StoreError::Kek(_) | StoreError::Migration { .. } => {
                Blame::Operator
            }
            StoreError::Unavailable { .. }
            | StoreError::Conflict { .. }
            | StoreError::Database { .. } => Blame::Database,
            StoreError::Corrupt { .. } => Blame::StoredData,
            StoreError::LeaseLost { .. } => Blame::OtherInstance,
        }
    }

    /// Whether the same call, made again a little later, may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Conflict { .. }
        )
    }

    /// Classify a driver error from operation `op`.
    pub(crate) fn from_sqlx(backend: Backend, op: &'static str, source: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &source {
            E::Io(_)
            | E::Tls(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed
            | E::Protocol(_) => StoreError::Unavailable {
                backend,
                op,
                source,
            },
            E::ColumnDecode { .. }
            | E::Decode(_)
            | E::ColumnNotFound(_)
            | E::TypeNotFound { .. }
            | E::ColumnIndexOutOfBounds { .. } => StoreError::Corrupt {
                what: format!("result of {op}"),
                detail: source.to_string(),
            },
            E::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let conflict = db.is_unique_violation()
                    // PostgreSQL: serialization_failure, deadlock_detected.
                    || code == "40001"
                    || code == "40P01"
                    // SQLite: SQLITE_BUSY, SQLITE_LOCKED (primary and extended codes).
                    || matches!(code.parse::<u32>().map(|c| c & 0xff), Ok(5 | 6));
                // PostgreSQL class 08 (connection exception) and 57P01..03 (shutdown).
                let gone = code.starts_with("08") || code.starts_with("57P");
                if gone {
                    StoreError::Unavailable {
                        backend,
                        op,
                        source,
                    }
                } else if conflict {
                    StoreError::Conflict {
                        backend,
                        op,
                        source,
                    }
                } else {
                    StoreError::Database {
                        backend,
                        op,
                        source,
                    }
                }
            }
            _ => StoreError::Database {
                backend,
                op,
                source,
            },
        }
    }
}
