//! What the management console keeps (M1, M2, M12): device tags (fleet operations select devices
//! by tag), how the console reaches a device when that is not the default, and hardware
//! inventory snapshots with the time they were read.
//!
//! The default way to reach a device needs no row: TLS on 16993, the certificate verified
//! against the embedded CA's root and the device's FQDN (the one the server provisioned it
//! with). Devices adopted already provisioned may be reached with a pinned certificate or, in a
//! lab, over plain 16992 ([`StoredAccess`]). Inventory documents are stored as JSON, the newest
//! [`MAX_INVENTORY_SNAPSHOTS`] per device.

use std::collections::BTreeMap;
use std::time::SystemTime;

use sqlx::Any;

use super::{check_text, device_from_row, from_ms, get, to_ms, Device, Result, Store, StoreError};

/// Inventory snapshots kept per device (older ones are deleted when a new one is stored).
pub const MAX_INVENTORY_SNAPSHOTS: u32 = 50;

/// Tags one device may carry.
pub const MAX_TAGS: usize = 64;

/// How the console reaches a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessScheme {
    /// TLS, the certificate verified against the embedded CA's root with the FQDN as name (the
    /// default for devices the server provisioned).
    Tls,
    /// TLS, accepting exactly the certificate whose SHA-256 is pinned.
    TlsPinned,
    /// Plain HTTP (16992), digest authentication only. For lab devices started provisioned.
    Plain,
}

impl AccessScheme {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AccessScheme::Tls => "tls",
            AccessScheme::TlsPinned => "tls-pinned",
            AccessScheme::Plain => "plain",
        }
    }

    /// The scheme a stored name stands for.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tls" => AccessScheme::Tls,
            "tls-pinned" => AccessScheme::TlsPinned,
            "plain" => AccessScheme::Plain,
            _ => return None,
        })
    }
}

impl std::fmt::Display for AccessScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored way to reach a device (one row of `device_access`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccess {
    /// TLS (CA-verified or pinned) or plain.
    pub scheme: AccessScheme,
    /// The port, when not AMT's (16993 TLS, 16992 plain).
    pub port: Option<u16>,
    /// For [`AccessScheme::TlsPinned`]: the certificate's SHA-256, 64 hex digits.
    pub pin_sha256: Option<String>,
}

impl Default for StoredAccess {
    fn default() -> Self {
        StoredAccess {
            scheme: AccessScheme::Tls,
            port: None,
            pin_sha256: None,
        }
    }
}

/// One stored inventory snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct InventorySnapshot {
    /// Its id (increasing in the order snapshots were stored).
    pub id: i64,
    /// The device.
    pub device_uuid: String,
    /// When it was read from the device.
    pub read_at: SystemTime,
    /// The inventory document.
    pub body: serde_json::Value,
}

/// A tag: 1 to 64 letters, digits, `.`, `_`, `-` or `:`.
///
/// # Errors
/// [`StoreError::InvalidInput`] for anything else.
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            what: "tag",
            detail: format!("{tag:?}: a tag has 1 to 64 letters, digits, '.', '_', '-' or ':'"),
        })
    }
}

impl Store {
    // ---- tags ----------------------------------------------------------------------------

    /// Replaces a device's tags (one transaction). Returns them sorted, without duplicates.
    pub async fn set_tags(&self, device_uuid: &str, tags: &[String]) -> Result<Vec<String>> {
        check_text("device uuid", device_uuid)?;
        let mut set: Vec<String> = tags.to_vec();
        set.sort();
        set.dedup();
        for t in &set {
            check_tag(t)?;
        }
        if set.len() > MAX_TAGS {
            return Err(StoreError::InvalidInput {
                what: "tags",
                detail: format!("{} tags, a device carries at most {MAX_TAGS}", set.len()),
            });
        }
        let mut tx = self.pool.begin().await.map_err(self.err("set_tags"))?;
        sqlx::query::<Any>("DELETE FROM device_tags WHERE device_uuid = $1")
            .bind(device_uuid)
            .execute(&mut *tx)
            .await
            .map_err(self.err("set_tags"))?;
        for t in &set {
            sqlx::query::<Any>("INSERT INTO device_tags (device_uuid, tag) VALUES ($1, $2)")
                .bind(device_uuid)
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(self.err("set_tags"))?;
        }
        tx.commit().await.map_err(self.err("set_tags"))?;
        Ok(set)
    }

    /// A device's tags, sorted.
    pub async fn tags(&self, device_uuid: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query::<Any>("SELECT tag FROM device_tags WHERE device_uuid = $1 ORDER BY tag")
                .bind(device_uuid)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("tags"))?;
        rows.iter().map(|r| get(r, "tag", "device_tags")).collect()
    }

    /// Every tagged device's tags (device → sorted tags), for listings and fleet queries.
    pub async fn all_tags(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let rows = sqlx::query::<Any>(
            "SELECT device_uuid, tag FROM device_tags ORDER BY device_uuid, tag",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("all_tags"))?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            let uuid: String = get(r, "device_uuid", "device_tags")?;
            out.entry(uuid)
                .or_default()
                .push(get(r, "tag", "device_tags")?);
        }
        Ok(out)
    }

    /// The devices carrying `tag`, by UUID.
    pub async fn devices_tagged(&self, tag: &str) -> Result<Vec<String>> {
        let rows = sqlx::query::<Any>(
            "SELECT device_uuid FROM device_tags WHERE tag = $1 ORDER BY device_uuid",
        )
        .bind(tag)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("devices_tagged"))?;
        rows.iter()
            .map(|r| get(r, "device_uuid", "device_tags"))
            .collect()
    }

    /// The device whose FQDN is `fqdn` (compared without case), if one is.
    pub async fn device_by_fqdn(&self, fqdn: &str) -> Result<Option<Device>> {
        let row = sqlx::query::<Any>(
            "SELECT uuid, fqdn, address, state, profile, firmware_version, created_at, \
                updated_at FROM devices WHERE LOWER(fqdn) = LOWER($1) ORDER BY uuid LIMIT 1",
        )
        .bind(fqdn)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("device_by_fqdn"))?;
        row.as_ref().map(device_from_row).transpose()
    }

    // ---- access --------------------------------------------------------------------------

    /// Stores how the console reaches a device.
    pub async fn set_access(&self, device_uuid: &str, access: &StoredAccess) -> Result<()> {
        check_text("device uuid", device_uuid)?;
        if access.scheme == AccessScheme::TlsPinned
            && !access
                .pin_sha256
                .as_deref()
                .is_some_and(|p| p.len() == 64 && p.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(StoreError::InvalidInput {
                what: "device access",
                detail: "a pinned TLS access needs the certificate's SHA-256 (64 hex digits)"
                    .into(),
            });
        }
        sqlx::query::<Any>(
            "INSERT INTO device_access (device_uuid, scheme, port, pin_sha256, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (device_uuid) DO UPDATE SET scheme = $2, port = $3, pin_sha256 = $4, \
                updated_at = $5",
        )
        .bind(device_uuid)
        .bind(access.scheme.as_str())
        .bind(access.port.map(i64::from))
        .bind(access.pin_sha256.as_deref().map(str::to_ascii_lowercase))
        .bind(to_ms(SystemTime::now()))
        .execute(&self.pool)
        .await
        .map_err(self.err("set_access"))?;
        Ok(())
    }

    /// How the console reaches a device ([`StoredAccess::default`] when nothing is stored).
    pub async fn access(&self, device_uuid: &str) -> Result<StoredAccess> {
        let row = sqlx::query::<Any>(
            "SELECT device_uuid, scheme, port, pin_sha256 FROM device_access \
             WHERE device_uuid = $1",
        )
        .bind(device_uuid)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("access"))?;
        match row {
            Some(r) => Ok(access_from_row(&r)?.1),
            None => Ok(StoredAccess::default()),
        }
    }

    /// Every stored access row (device → access); devices without one use the default.
    pub async fn all_access(&self) -> Result<BTreeMap<String, StoredAccess>> {
        let rows =
            sqlx::query::<Any>("SELECT device_uuid, scheme, port, pin_sha256 FROM device_access")
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("all_access"))?;
        rows.iter().map(access_from_row).collect()
    }

    // ---- inventory -----------------------------------------------------------------------

    /// Stores an inventory snapshot read at `read_at`; keeps the newest
    /// [`MAX_INVENTORY_SNAPSHOTS`] of the device. Returns its id.
    pub async fn put_inventory(
        &self,
        device_uuid: &str,
        read_at: SystemTime,
        body: &serde_json::Value,
    ) -> Result<i64> {
        check_text("device uuid", device_uuid)?;
        let text = serde_json::to_string(body).map_err(|e| StoreError::InvalidInput {
            what: "inventory",
            detail: e.to_string(),
        })?;
        let mut tx = self.pool.begin().await.map_err(self.err("put_inventory"))?;
        let row = sqlx::query::<Any>(
            "INSERT INTO inventory_snapshots (device_uuid, read_at, body) VALUES ($1, $2, $3) \
             RETURNING id",
        )
        .bind(device_uuid)
        .bind(to_ms(read_at))
        .bind(text)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.err("put_inventory"))?;
        let id: i64 = get(&row, "id", "inventory_snapshots")?;
        sqlx::query::<Any>(
            "DELETE FROM inventory_snapshots WHERE device_uuid = $1 AND id NOT IN \
                (SELECT id FROM inventory_snapshots WHERE device_uuid = $1 \
                 ORDER BY id DESC LIMIT $2)",
        )
        .bind(device_uuid)
        .bind(i64::from(MAX_INVENTORY_SNAPSHOTS))
        .execute(&mut *tx)
        .await
        .map_err(self.err("put_inventory"))?;
        tx.commit().await.map_err(self.err("put_inventory"))?;
        Ok(id)
    }

    /// A device's newest inventory snapshots, newest first (at most `limit`).
    pub async fn inventory_snapshots(
        &self,
        device_uuid: &str,
        limit: u32,
    ) -> Result<Vec<InventorySnapshot>> {
        let rows = sqlx::query::<Any>(
            "SELECT id, device_uuid, read_at, body FROM inventory_snapshots \
             WHERE device_uuid = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(device_uuid)
        .bind(i64::from(limit.min(MAX_INVENTORY_SNAPSHOTS)))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("inventory_snapshots"))?;
        rows.iter()
            .map(|r| {
                let id: i64 = get(r, "id", "inventory_snapshots")?;
                let body: String = get(r, "body", "inventory_snapshots")?;
                Ok(InventorySnapshot {
                    id,
                    device_uuid: get(r, "device_uuid", "inventory_snapshots")?,
                    read_at: from_ms(get(r, "read_at", "inventory_snapshots")?),
                    body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                        what: format!("inventory snapshot {id}"),
                        detail: e.to_string(),
                    })?,
                })
            })
            .collect()
    }
}

fn access_from_row(r: &sqlx::any::AnyRow) -> Result<(String, StoredAccess)> {
    let uuid: String = get(r, "device_uuid", "device_access")?;
    let scheme: String = get(r, "scheme", "device_access")?;
    let scheme = AccessScheme::parse(&scheme).ok_or_else(|| StoreError::Corrupt {
        what: format!("device_access.scheme of {uuid}"),
        detail: format!("unknown scheme {scheme:?}"),
    })?;
    let port = get::<Option<i64>>(r, "port", "device_access")?
        .map(|p| {
            u16::try_from(p).map_err(|_| StoreError::Corrupt {
                what: format!("device_access.port of {uuid}"),
                detail: format!("{p} is not a port"),
            })
        })
        .transpose()?;
    Ok((
        uuid,
        StoredAccess {
            scheme,
            port,
            pin_sha256: get(r, "pin_sha256", "device_access")?,
        },
    ))
}
