//! The provisioning server's persistent store (O2, P6): devices, hellos, provisioning runs and
//! their timeline, envelope-encrypted secrets, profiles, certificate links, maintenance
//! operations and the per-device provisioning leases that let several amtd instances share one
//! database.
//!
//! One code path serves both backends through sqlx's `Any` driver, chosen by URL:
//! `sqlite://PATH` (the embedded default; the file is created) or `postgres://…` (scale-out).
//! Queries use only what both dialects share (`$n` parameters, `ON CONFLICT … DO UPDATE`,
//! `RETURNING`); the schema lives in `migrations/{sqlite,postgres}/`, embedded in the binary
//! and applied by [`Store::open`] (idempotent; several instances may open at once).
//!
//! Rules:
//! - Every write is one autocommitted statement (or one transaction) and is durable when the
//!   call returns: SQLite runs in WAL mode with `synchronous=FULL`; PostgreSQL commits
//!   synchronously (its default).
//! - Secrets are never stored in plain text: each value is encrypted (AES-256-GCM) under its
//!   own random data key, and that data key is sealed under the key-encryption key (the same
//!   KEK file as the CA store, [`Kek`]). Both ciphertexts are bound to the device, kind and
//!   version, so rows cannot be swapped. Nothing here logs a secret or the database password.
//! - Times are stored as milliseconds since the Unix epoch.
//! - The store never decides workflow: it records what the workflow tells it.

mod audit;
mod console;
mod defense;
mod error;
mod leases;
mod maintenance;
mod records;
mod secrets;
mod timeline;
mod users;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Row};

pub use crate::pki_store::Kek;
pub use audit::{
    audit_hash, AuditEntry, AuditFilter, AuditProblem, AuditRecord, AuditResult, AuditVerification,
    AUDIT_GENESIS, MAX_AUDIT_DETAIL,
};
pub use console::{
    check_tag, AccessScheme, InventorySnapshot, StoredAccess, MAX_INVENTORY_SNAPSHOTS, MAX_TAGS,
};
pub use defense::{AppliedDefense, DefensePut, StoredDefensePolicy, DEFENSE_DOC_VERSION};
pub use error::{Blame, StoreError};
pub use maintenance::{MaintenanceFilter, MaintenanceOp, MaintenanceOpId, NewMaintenanceOp};
pub use records::{
    CertificateLink, Device, DeviceFilter, DeviceUpsert, Hello, HelloFilter, Lease, NewHello,
    NewTransition, RejectedHello, Run, RunId, SecretKind, SecretVersion, Transition,
};
pub use users::{ApiToken, Session, User};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server (several amtd instances may share it).
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing with
    /// [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The store. Cheap to clone (the pool and the KEK are shared).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    kek: Arc<Kek>,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The schema, embedded: (version, description, SQLite SQL, PostgreSQL SQL).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "rejected hellos",
        include_str!("../../migrations/sqlite/0002_rejected_hellos.sql"),
        include_str!("../../migrations/postgres/0002_rejected_hellos.sql"),
    ),
    (
        3,
        "maintenance operations",
        include_str!("../../migrations/sqlite/0003_maintenance.sql"),
        include_str!("../../migrations/postgres/0003_maintenance.sql"),
    ),
    (
        4,
        "console",
        include_str!("../../migrations/sqlite/0004_console.sql"),
        include_str!("../../migrations/postgres/0004_console.sql"),
    ),
    (
        5,
        "system defense",
        include_str!("../../migrations/sqlite/0005_defense.sql"),
        include_str!("../../migrations/postgres/0005_defense.sql"),
    ),
    (
        7,
        "users, API tokens and sessions",
        include_str!("../../migrations/sqlite/0007_users.sql"),
        include_str!("../../migrations/postgres/0007_users.sql"),
    ),
    (
        6,
        "audit log",
        include_str!("../../migrations/sqlite/0006_audit.sql"),
        include_str!("../../migrations/postgres/0006_audit.sql"),
    ),
];

#[derive(Debug)]
struct EmbeddedMigrations(Backend);

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        let backend = self.0;
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sqlite, postgres)| {
                    let sql = match backend {
                        Backend::Sqlite => sqlite,
                        Backend::Postgres => postgres,
                    };
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

pub(crate) const KEK_CHECK_KEY: &str = "kek_check";
pub(crate) const KEK_CHECK_LABEL: &str = "amtd-store/kek-check";
pub(crate) const KEK_CHECK_PLAIN: &[u8] = b"amtd store key-encryption key check, v1";

/// Milliseconds since the epoch (0 before it, saturating far in the future).
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`to_ms`] (negative values read as the epoch).
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The URL with its password replaced, for messages.
fn redact_url(url: &str) -> String {
    match url.parse::<AnyConnectOptions>() {
        Ok(mut o) => {
            if o.database_url.password().is_some() {
                let _ = o.database_url.set_password(Some("***"));
            }
            o.database_url.to_string()
        }
        Err(_) => match url.split_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_string(),
        },
    }
}

impl Store {
    /// Open (and create or migrate) the store at `url` with the default [`StoreOptions`].
    /// `kek` seals the secrets; opening a database set up with another KEK fails with
    /// [`StoreError::WrongKek`].
    pub async fn open(url: &str, kek: Kek) -> Result<Self> {
        Self::open_with(url, kek, StoreOptions::default()).await
    }

    /// Like [`Store::open`], with explicit pool settings.
    pub async fn open_with(url: &str, kek: Kek, options: StoreOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let shown = redact_url(url);
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let mut opts: AnyConnectOptions = url.parse().map_err(|e: sqlx::Error| {
            invalid(match e {
                sqlx::Error::Configuration(c) => c.to_string(),
                other => other.to_string(),
            })
        })?;
        let backend = match opts.database_url.scheme() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            other => return Err(invalid(format!("unsupported scheme {other:?}"))),
        };
        if backend == Backend::Sqlite {
            if opts.database_url.path().is_empty() && opts.database_url.host().is_none() {
                return Err(invalid("no database file path".into()));
            }
            if url.contains(":memory:") || url.contains("mode=memory") {
                return Err(invalid(
                    "an in-memory SQLite database would not survive a restart; give a file".into(),
                ));
            }
            if !opts.database_url.query_pairs().any(|(k, _)| k == "mode") {
                opts.database_url
                    .query_pairs_mut()
                    .append_pair("mode", "rwc");
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::from_sqlx(backend, "connect", e))?;
        let store = Store {
            pool,
            backend,
            kek: Arc::new(kek),
            url: shown,
        };
        if backend == Backend::Sqlite {
            store.sqlite_wal().await?;
        }
        Migrator::new(EmbeddedMigrations(backend))
            .await
            .map_err(|source| StoreError::Migration { backend, source })?
            .run(&store.pool)
            .await
            .map_err(|source| StoreError::Migration { backend, source })?;
        store.check_kek().await?;
        Ok(store)
    }

    /// Switch an SQLite file to WAL (persistent; readers then never block the writer). Taking
    /// the mode needs a moment without other writers, so retry briefly.
    async fn sqlite_wal(&self) -> Result<()> {
        let mut tries = 0;
        loop {
            match sqlx::query::<Any>("PRAGMA journal_mode = WAL")
                .fetch_optional(&self.pool)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let err = StoreError::from_sqlx(self.backend, "set journal mode", e);
                    tries += 1;
                    if !err.is_retryable() || tries >= 50 {
                        return Err(err);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// The first open stores a value sealed under the KEK; later opens check they can open it.
    async fn check_kek(&self) -> Result<()> {
        let sealed = self.kek.seal(KEK_CHECK_LABEL, KEK_CHECK_PLAIN)?;
        sqlx::query::<Any>(
            "INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(KEK_CHECK_KEY)
        .bind(sealed)
        .execute(&self.pool)
        .await
        .map_err(self.err("store KEK check"))?;
        let row = sqlx::query::<Any>("SELECT value FROM store_meta WHERE key = $1")
            .bind(KEK_CHECK_KEY)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("read KEK check"))?;
        let stored: Vec<u8> = get(&row, "value", "store_meta")?;
        match self.kek.open(
            std::path::Path::new(KEK_CHECK_LABEL),
            KEK_CHECK_LABEL,
            &stored,
        ) {
            Ok(plain) if plain.as_slice() == KEK_CHECK_PLAIN => Ok(()),
            Ok(_) => Err(StoreError::Corrupt {
                what: "store_meta kek_check".into(),
                detail: "unexpected content".into(),
            }),
            Err(crate::pki_store::PkiStoreError::WrongKek { .. }) => Err(StoreError::WrongKek {
                what: format!(
                    "the {} database at {} (it was set up with another KEK)",
                    self.backend, self.url
                ),
            }),
            Err(e) => Err(StoreError::Corrupt {
                what: "store_meta kek_check".into(),
                detail: e.to_string(),
            }),
        }
    }

    /// The backend in use.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Close the pool: waits for the connections in use to come back, then closes them all.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and tools that inspect tables directly.
    #[doc(hidden)]
    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn err(&self, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        let backend = self.backend;
        move |e| StoreError::from_sqlx(backend, op, e)
    }

    // ---- devices -------------------------------------------------------------------------

    /// Insert the device, or update the fields given in `d` (a `None` keeps the stored value).
    /// Returns the row as stored.
    pub async fn upsert_device(&self, d: &DeviceUpsert) -> Result<Device> {
        check_text("device uuid", &d.uuid)?;
        let now = to_ms(SystemTime::now());
        let row = sqlx::query::<Any>(
            "INSERT INTO devices \
                (uuid, fqdn, address, state, profile, firmware_version, created_at, updated_at) \
             VALUES ($1, $2, $3, COALESCE($4, $8), $5, $6, $7, $7) \
             ON CONFLICT (uuid) DO UPDATE SET \
                fqdn = COALESCE($2, devices.fqdn), \
                address = COALESCE($3, devices.address), \
                state = COALESCE($4, devices.state), \
                profile = COALESCE($5, devices.profile), \
                firmware_version = COALESCE($6, devices.firmware_version), \
                updated_at = $7 \
             RETURNING uuid, fqdn, address, state, profile, firmware_version, created_at, \
                updated_at",
        )
        .bind(&d.uuid)
        .bind(d.fqdn.as_deref())
        .bind(d.address.as_deref())
        .bind(d.state.as_deref())
        .bind(d.profile.as_deref())
        .bind(d.firmware_version.as_deref())
        .bind(now)
        .bind(DeviceUpsert::DEFAULT_STATE)
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("upsert_device"))?;
        device_from_row(&row)
    }

    /// One device.
    pub async fn get_device(&self, uuid: &str) -> Result<Option<Device>> {
        let row = sqlx::query::<Any>(
            "SELECT uuid, fqdn, address, state, profile, firmware_version, created_at, \
                updated_at FROM devices WHERE uuid = $1",
        )
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("get_device"))?;
        row.as_ref().map(device_from_row).transpose()
    }

    /// A page of devices, ordered by UUID.
    pub async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        let rows = sqlx::query::<Any>(
            "SELECT uuid, fqdn, address, state, profile, firmware_version, created_at, \
                updated_at FROM devices \
             WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR uuid > $2) \
             ORDER BY uuid LIMIT $3",
        )
        .bind(filter.state.as_deref())
        .bind(filter.after.as_deref())
        .bind(i64::from(filter.limit.min(DeviceFilter::MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list_devices"))?;
        rows.iter().map(device_from_row).collect()
    }

    // ---- hellos --------------------------------------------------------------------------

    /// Record a hello. Returns its id.
    pub async fn record_hello(&self, h: &NewHello) -> Result<i64> {
        check_text("hello device uuid", &h.device_uuid)?;
        let row = insert_hello(h)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("record_hello"))?;
        get(&row, "id", "hellos")
    }

    /// Record many hellos in one transaction (one disk flush for the batch: what a listener
    /// under a hello flood should use). Returns their ids, in order.
    pub async fn record_hellos(&self, hellos: &[NewHello]) -> Result<Vec<i64>> {
        for h in hellos {
            check_text("hello device uuid", &h.device_uuid)?;
        }
        let mut tx = self.pool.begin().await.map_err(self.err("record_hellos"))?;
        let mut ids = Vec::with_capacity(hellos.len());
        for h in hellos {
            let row = insert_hello(h)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.err("record_hellos"))?;
            ids.push(get(&row, "id", "hellos")?);
        }
        tx.commit().await.map_err(self.err("record_hellos"))?;
        Ok(ids)
    }

    /// Record a connection to the hello port that produced no hello (malformed, bogus UUID,
    /// rate-limited, …), or a summary of several from one source ([`RejectedHello::count`]).
    /// Returns its id.
    pub async fn record_rejected_hello(&self, h: &RejectedHello) -> Result<i64> {
        if let Some(uuid) = &h.device_uuid {
            check_text("hello device uuid", uuid)?;
        }
        check_text("hello source", &h.source)?;
        let row = sqlx::query::<Any>(
            "INSERT INTO hellos \
                (device_uuid, source, received_at, retry_count, hashes, outcome, count) \
             VALUES ($1, $2, $3, 0, '', $4, $5) RETURNING id",
        )
        .bind(h.device_uuid.as_deref())
        .bind(&h.source)
        .bind(to_ms(h.received_at))
        .bind(&h.outcome)
        .bind(i64::from(h.count.max(1)))
        .fetch_one(&self.pool)
        .await
        .map_err(self.err("record_rejected_hello"))?;
        get(&row, "id", "hellos")
    }

    /// Set what the server did with hello `id`. Returns whether it exists.
    pub async fn set_hello_outcome(&self, id: i64, outcome: &str) -> Result<bool> {
        let done = sqlx::query::<Any>("UPDATE hellos SET outcome = $1 WHERE id = $2")
            .bind(outcome)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.err("set_hello_outcome"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete hellos received before `before` (retention). Returns how many went.
    pub async fn prune_hellos(&self, before: SystemTime) -> Result<u64> {
        let done = sqlx::query::<Any>("DELETE FROM hellos WHERE received_at < $1")
            .bind(to_ms(before))
            .execute(&self.pool)
            .await
            .map_err(self.err("prune_hellos"))?;
        Ok(done.rows_affected())
    }

    /// Recorded hellos, newest first.
    pub async fn hellos(&self, filter: &HelloFilter) -> Result<Vec<Hello>> {
        let rows = sqlx::query::<Any>(
            "SELECT id, device_uuid, source, received_at, retry_count, hashes, outcome, count \
             FROM hellos WHERE ($1 IS NULL OR device_uuid = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(filter.device_uuid.as_deref())
        .bind(i64::from(filter.limit.min(DeviceFilter::MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("hellos"))?;
        rows.iter()
            .map(|r| {
                Ok(Hello {
                    id: get(r, "id", "hellos")?,
                    device_uuid: get(r, "device_uuid", "hellos")?,
                    source: get(r, "source", "hellos")?,
                    received_at: from_ms(get(r, "received_at", "hellos")?),
                    retry_count: u32::try_from(get::<i64>(r, "retry_count", "hellos")?)
                        .unwrap_or(u32::MAX),
                    hashes: get(r, "hashes", "hellos")?,
                    outcome: get(r, "outcome", "hellos")?,
                    count: u32::try_from(get::<i64>(r, "count", "hellos")?).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    // ---- profiles ------------------------------------------------------------------------

    /// Store (or replace) the profile `name` as JSON.
    pub async fn put_profile<T: Serialize + ?Sized>(&self, name: &str, profile: &T) -> Result<()> {
        check_text("profile name", name)?;
        let body = serde_json::to_string(profile).map_err(|e| StoreError::InvalidInput {
            what: "profile",
            detail: e.to_string(),
        })?;
        let now = to_ms(SystemTime::now());
        sqlx::query::<Any>(
            "INSERT INTO profiles (name, body, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET body = $2, updated_at = $3",
        )
        .bind(name)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(self.err("put_profile"))?;
        Ok(())
    }

    /// The profile `name`, decoded as `T`.
    pub async fn get_profile<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let row = sqlx::query::<Any>("SELECT body FROM profiles WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("get_profile"))?;
        let Some(row) = row else { return Ok(None) };
        let body: String = get(&row, "body", "profiles")?;
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!("profile {name:?}"),
                detail: e.to_string(),
            })
    }

    /// The names of all profiles, sorted.
    pub async fn list_profiles(&self) -> Result<Vec<String>> {
        let rows = sqlx::query::<Any>("SELECT name FROM profiles ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("list_profiles"))?;
        rows.iter().map(|r| get(r, "name", "profiles")).collect()
    }

    /// Delete the profile `name`. Returns whether it existed.
    pub async fn delete_profile(&self, name: &str) -> Result<bool> {
        let done = sqlx::query::<Any>("DELETE FROM profiles WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.err("delete_profile"))?;
        Ok(done.rows_affected() > 0)
    }

    // ---- certificates --------------------------------------------------------------------

    /// Record (or update) which device a certificate belongs to and its state.
    pub async fn put_certificate(&self, c: &CertificateLink) -> Result<()> {
        check_text("certificate serial", &c.serial)?;
        sqlx::query::<Any>(
            "INSERT INTO certificates (serial, device_uuid, state, not_after, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (serial) DO UPDATE SET device_uuid = COALESCE($2, \
                certificates.device_uuid), state = $3, not_after = COALESCE($4, \
                certificates.not_after), updated_at = $5",
        )
        .bind(&c.serial)
        .bind(c.device_uuid.as_deref())
        .bind(&c.state)
        .bind(c.not_after.map(to_ms))
        .bind(to_ms(c.updated_at))
        .execute(&self.pool)
        .await
        .map_err(self.err("put_certificate"))?;
        Ok(())
    }

    /// The certificates linked to a device, by serial.
    pub async fn certificates(&self, device_uuid: &str) -> Result<Vec<CertificateLink>> {
        let rows = sqlx::query::<Any>(
            "SELECT serial, device_uuid, state, not_after, updated_at FROM certificates \
             WHERE device_uuid = $1 ORDER BY serial",
        )
        .bind(device_uuid)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("certificates"))?;
        rows.iter()
            .map(|r| {
                Ok(CertificateLink {
                    serial: get(r, "serial", "certificates")?,
                    device_uuid: get(r, "device_uuid", "certificates")?,
                    state: get(r, "state", "certificates")?,
                    not_after: get::<Option<i64>>(r, "not_after", "certificates")?.map(from_ms),
                    updated_at: from_ms(get(r, "updated_at", "certificates")?),
                })
            })
            .collect()
    }
}

fn insert_hello(h: &NewHello) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query::<Any>(
        "INSERT INTO hellos (device_uuid, source, received_at, retry_count, hashes, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&h.device_uuid)
    .bind(&h.source)
    .bind(to_ms(h.received_at))
    .bind(i64::from(h.retry_count))
    .bind(&h.hashes)
    .bind(h.outcome.as_deref())
}

/// Read a column, reporting a decode failure as corrupt data in `table`.
pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &'static str, table: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column).map_err(|e| StoreError::Corrupt {
        what: format!("{table}.{column}"),
        detail: e.to_string(),
    })
}

/// Keys must be non-empty text without control characters.
pub(crate) fn check_text(what: &'static str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput {
            what,
            detail: "must be 1 to 1024 characters without control characters".into(),
        });
    }
    Ok(())
}

fn device_from_row(r: &AnyRow) -> Result<Device> {
    Ok(Device {
        uuid: get(r, "uuid", "devices")?,
        fqdn: get(r, "fqdn", "devices")?,
        address: get(r, "address", "devices")?,
        state: get(r, "state", "devices")?,
        profile: get(r, "profile", "devices")?,
        firmware_version: get(r, "firmware_version", "devices")?,
        created_at: from_ms(get(r, "created_at", "devices")?),
        updated_at: from_ms(get(r, "updated_at", "devices")?),
    })
}
