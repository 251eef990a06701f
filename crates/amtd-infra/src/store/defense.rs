//! System Defense policies (M3): named policy documents, versioned, and the revision of each
//! policy last applied to each device (the intent a device's read-back is compared with).
//!
//! A document is amtd-core's [`DefensePolicy`] as JSON, stored with its schema version
//! ([`DEFENSE_DOC_VERSION`]) and a revision that grows by one with every write of the name.
//! Writes may be conditional on the revision the writer read (`if_revision`), so two operators
//! editing the same policy cannot silently overwrite each other. What a device was given is
//! stored as a copy of the document, so editing or deleting the named policy never changes what
//! a device is compared with.

use std::time::SystemTime;

use amtd_core::defense::DefensePolicy;
use sqlx::any::AnyRow;
use sqlx::Any;

use super::{check_text, from_ms, get, to_ms, Result, Store, StoreError};

/// The schema version of stored policy documents this build writes and reads.
pub const DEFENSE_DOC_VERSION: i64 = 1;

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDefensePolicy {
    /// The policy (its name is the key).
    pub policy: DefensePolicy,
    /// 1 for the first write, then one more with every write.
    pub revision: i64,
    /// When it was first written.
    pub created_at: SystemTime,
    /// When it was last written.
    pub updated_at: SystemTime,
}

/// What [`Store::put_defense_policy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefensePut {
    /// Written; the policy as stored.
    Stored(StoredDefensePolicy),
    /// Not written: the stored revision is not the one the caller named.
    RevisionMismatch {
        /// The stored revision (`None`: the policy does not exist).
        current: Option<i64>,
    },
}

/// A policy as applied to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedDefense {
    /// The device.
    pub device_uuid: String,
    /// The policy as it was applied.
    pub policy: DefensePolicy,
    /// The revision that was applied.
    pub revision: i64,
    /// When the apply was confirmed by a read-back.
    pub applied_at: SystemTime,
}

fn encode(p: &DefensePolicy) -> Result<String> {
    serde_json::to_string(p).map_err(|e| StoreError::InvalidInput {
        what: "System Defense policy",
        detail: e.to_string(),
    })
}

fn decode(what: String, version: i64, body: &str) -> Result<DefensePolicy> {
    if version != DEFENSE_DOC_VERSION {
        return Err(StoreError::Corrupt {
            what,
            detail: format!(
                "document version {version}; this amtd reads version {DEFENSE_DOC_VERSION}"
            ),
        });
    }
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn policy_from_row(r: &AnyRow) -> Result<StoredDefensePolicy> {
    let name: String = get(r, "name", "defense_policies")?;
    let body: String = get(r, "body", "defense_policies")?;
    let version: i64 = get(r, "doc_version", "defense_policies")?;
    Ok(StoredDefensePolicy {
        policy: decode(format!("System Defense policy {name:?}"), version, &body)?,
        revision: get(r, "revision", "defense_policies")?,
        created_at: from_ms(get(r, "created_at", "defense_policies")?),
        updated_at: from_ms(get(r, "updated_at", "defense_policies")?),
    })
}

fn applied_from_row(r: &AnyRow) -> Result<AppliedDefense> {
    let uuid: String = get(r, "device_uuid", "device_defense")?;
    let name: String = get(r, "policy_name", "device_defense")?;
    let body: String = get(r, "body", "device_defense")?;
    Ok(AppliedDefense {
        policy: decode(
            format!("System Defense policy {name:?} applied to {uuid}"),
            DEFENSE_DOC_VERSION,
            &body,
        )?,
        device_uuid: uuid,
        revision: get(r, "revision", "device_defense")?,
        applied_at: from_ms(get(r, "applied_at", "device_defense")?),
    })
}

impl Store {
    /// Store (or replace) a policy under its name. With `if_revision`, the write happens only
    /// if the stored revision is that one (0: only if there is none yet); otherwise nothing is
    /// written and the answer is [`DefensePut::RevisionMismatch`] with the current revision.
    pub async fn put_defense_policy(
        &self,
        policy: &DefensePolicy,
        if_revision: Option<i64>,
    ) -> Result<DefensePut> {
        check_text("System Defense policy name", &policy.name)?;
        let body = encode(policy)?;
        let now = to_ms(SystemTime::now());
        const RETURNING: &str =
            "RETURNING name, doc_version, revision, body, created_at, updated_at";
        let sql = match if_revision {
            None => format!(
                "INSERT INTO defense_policies \
                    (name, doc_version, revision, body, created_at, updated_at) \
                 VALUES ($1, $2, 1, $3, $4, $4) \
                 ON CONFLICT (name) DO UPDATE SET doc_version = $2, \
                    revision = defense_policies.revision + 1, body = $3, updated_at = $4 \
                 {RETURNING}"
            ),
            Some(0) => format!(
                "INSERT INTO defense_policies \
                    (name, doc_version, revision, body, created_at, updated_at) \
                 VALUES ($1, $2, 1, $3, $4, $4) ON CONFLICT (name) DO NOTHING {RETURNING}"
            ),
            Some(_) => format!(
                "UPDATE defense_policies SET doc_version = $2, revision = revision + 1, \
                    body = $3, updated_at = $4 WHERE name = $1 AND revision = $5 {RETURNING}"
            ),
        };
        let mut q = sqlx::query::<Any>(&sql)
            .bind(&policy.name)
            .bind(DEFENSE_DOC_VERSION)
            .bind(body)
            .bind(now);
        if let Some(r) = if_revision.filter(|r| *r != 0) {
            q = q.bind(r);
        }
        let row = q
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("put_defense_policy"))?;
        match row {
            Some(r) => Ok(DefensePut::Stored(policy_from_row(&r)?)),
            None => Ok(DefensePut::RevisionMismatch {
                current: self
                    .get_defense_policy(&policy.name)
                    .await?
                    .map(|p| p.revision),
            }),
        }
    }

    /// The policy `name`.
    pub async fn get_defense_policy(&self, name: &str) -> Result<Option<StoredDefensePolicy>> {
        let row = sqlx::query::<Any>(
            "SELECT name, doc_version, revision, body, created_at, updated_at \
             FROM defense_policies WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("get_defense_policy"))?;
        row.as_ref().map(policy_from_row).transpose()
    }

    /// Every policy, by name. A document that does not decode is reported with its name.
    pub async fn list_defense_policies(
        &self,
    ) -> Result<Vec<(String, Result<StoredDefensePolicy>)>> {
        let rows = sqlx::query::<Any>(
            "SELECT name, doc_version, revision, body, created_at, updated_at \
             FROM defense_policies ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("list_defense_policies"))?;
        rows.iter()
            .map(|r| Ok((get(r, "name", "defense_policies")?, policy_from_row(r))))
            .collect()
    }

    /// Delete the policy `name` (what devices were given stays). Returns whether it existed.
    pub async fn delete_defense_policy(&self, name: &str) -> Result<bool> {
        let done = sqlx::query::<Any>("DELETE FROM defense_policies WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.err("delete_defense_policy"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Record that `policy` at `revision` was applied to a device (and read back as intended).
    pub async fn record_defense_applied(
        &self,
        device_uuid: &str,
        policy: &DefensePolicy,
        revision: i64,
        at: SystemTime,
    ) -> Result<()> {
        check_text("device uuid", device_uuid)?;
        check_text("System Defense policy name", &policy.name)?;
        sqlx::query::<Any>(
            "INSERT INTO device_defense (device_uuid, policy_name, revision, body, applied_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (device_uuid, policy_name) DO UPDATE SET revision = $3, body = $4, \
                applied_at = $5",
        )
        .bind(device_uuid)
        .bind(&policy.name)
        .bind(revision)
        .bind(encode(policy)?)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await
        .map_err(self.err("record_defense_applied"))?;
        Ok(())
    }

    /// Forget that the policy `name` was applied to a device (it was removed). Returns whether
    /// it had been.
    pub async fn clear_defense_applied(&self, device_uuid: &str, name: &str) -> Result<bool> {
        let done = sqlx::query::<Any>(
            "DELETE FROM device_defense WHERE device_uuid = $1 AND policy_name = $2",
        )
        .bind(device_uuid)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(self.err("clear_defense_applied"))?;
        Ok(done.rows_affected() > 0)
    }

    /// The policies applied to a device, by name.
    pub async fn defense_applied_to(&self, device_uuid: &str) -> Result<Vec<AppliedDefense>> {
        let rows = sqlx::query::<Any>(
            "SELECT device_uuid, policy_name, revision, body, applied_at FROM device_defense \
             WHERE device_uuid = $1 ORDER BY policy_name",
        )
        .bind(device_uuid)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("defense_applied_to"))?;
        rows.iter().map(applied_from_row).collect()
    }

    /// The devices the policy `name` is applied to, with the revision each was given.
    pub async fn defense_devices(&self, name: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query::<Any>(
            "SELECT device_uuid, revision FROM device_defense WHERE policy_name = $1 \
             ORDER BY device_uuid",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("defense_devices"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    get(r, "device_uuid", "device_defense")?,
                    get(r, "revision", "device_defense")?,
                ))
            })
            .collect()
    }
}
