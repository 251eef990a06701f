//! Maintenance operations (M10, M11): one row per operation on one device — a CRL push, a
//! certificate renewal, an admin password rotation, a clock re-sync — with the step it is in and
//! what is needed to go on from there (`payload`, JSON).
//!
//! The workflow writes each step **before** the network call it leads to (as provisioning does
//! with its transitions), so a server stopped at any point finds the operation unfinished
//! ([`Store::unfinished_maintenance`]) and settles it at start-up. The store records; it never
//! decides. Never put a secret in a payload: passwords are secret versions
//! ([`Store::put_secret`](super::Store::put_secret)) and the payload names their numbers.

use std::time::SystemTime;

use sqlx::any::AnyRow;
use sqlx::Any;

use super::{check_text, from_ms, get, to_ms, DeviceFilter, Result, Store, StoreError};

const COLUMNS: &str = "op_id, device_uuid, task, phase, payload, started_at, updated_at, \
                       finished_at, outcome, reason";

/// The id of one maintenance operation (32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MaintenanceOpId(pub String);

impl std::fmt::Display for MaintenanceOpId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An operation to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMaintenanceOp {
    /// The device.
    pub device_uuid: String,
    /// What kind of operation (`push-crl`, `renew-certificate`, `rotate-admin-password`,
    /// `sync-clock`, …).
    pub task: String,
    /// The step it starts in.
    pub phase: String,
    /// What the workflow needs to go on from that step (no secrets).
    pub payload: serde_json::Value,
    /// When it started.
    pub at: SystemTime,
}

/// A recorded maintenance operation.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceOp {
    /// Its id.
    pub id: MaintenanceOpId,
    /// The device.
    pub device_uuid: String,
    /// What kind of operation.
    pub task: String,
    /// The step it is in (or ended in).
    pub phase: String,
    /// What the workflow needs to go on from that step.
    pub payload: serde_json::Value,
    /// When it started.
    pub started_at: SystemTime,
    /// When its step or payload last changed.
    pub updated_at: SystemTime,
    /// When it ended, if it did.
    pub finished_at: Option<SystemTime>,
    /// How it ended (`done`, `failed`, …).
    pub outcome: Option<String>,
    /// Why, in plain words.
    pub reason: Option<String>,
}

/// Which operations [`Store::maintenance_ops`] returns: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceFilter {
    /// Only this device's.
    pub device_uuid: Option<String>,
    /// Only this task's.
    pub task: Option<String>,
    /// Only operations that ended with this outcome.
    pub outcome: Option<String>,
    /// At most this many (capped at [`DeviceFilter::MAX_LIMIT`]).
    pub limit: u32,
}

impl Default for MaintenanceFilter {
    fn default() -> Self {
        MaintenanceFilter {
            device_uuid: None,
            task: None,
            outcome: None,
            limit: 100,
        }
    }
}

fn payload_text(payload: &serde_json::Value) -> Result<String> {
    serde_json::to_string(payload).map_err(|e| StoreError::InvalidInput {
        what: "maintenance payload",
        detail: e.to_string(),
    })
}

impl Store {
    /// Start an operation. It is committed (durable) when this returns.
    pub async fn start_maintenance(&self, op: &NewMaintenanceOp) -> Result<MaintenanceOpId> {
        check_text("device uuid", &op.device_uuid)?;
        check_text("maintenance task", &op.task)?;
        check_text("maintenance phase", &op.phase)?;
        let id = MaintenanceOpId(format!("{:032x}", rand::random::<u128>()));
        let at = to_ms(op.at);
        sqlx::query::<Any>(
            "INSERT INTO maintenance_ops \
                (op_id, device_uuid, task, phase, payload, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id.0)
        .bind(&op.device_uuid)
        .bind(&op.task)
        .bind(&op.phase)
        .bind(payload_text(&op.payload)?)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(self.err("start_maintenance"))?;
        Ok(id)
    }

    /// Move an unfinished operation to `phase` with `payload`. Committed when this returns.
    /// An operation that ended (or does not exist) is [`StoreError::NotFound`]: a step is never
    /// recorded after the end.
    pub async fn update_maintenance(
        &self,
        id: &MaintenanceOpId,
        phase: &str,
        payload: &serde_json::Value,
        at: SystemTime,
    ) -> Result<()> {
        check_text("maintenance phase", phase)?;
        let done = sqlx::query::<Any>(
            "UPDATE maintenance_ops SET phase = $1, payload = $2, updated_at = $3 \
             WHERE op_id = $4 AND finished_at IS NULL",
        )
        .bind(phase)
        .bind(payload_text(payload)?)
        .bind(to_ms(at))
        .bind(&id.0)
        .execute(&self.pool)
        .await
        .map_err(self.err("update_maintenance"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: format!("unfinished maintenance operation {id}"),
            });
        }
        Ok(())
    }

    /// End an operation with its outcome and, when there is something to say, the reason.
    /// Returns false if it had already ended (the first outcome stands).
    pub async fn finish_maintenance(
        &self,
        id: &MaintenanceOpId,
        outcome: &str,
        reason: Option<&str>,
        at: SystemTime,
    ) -> Result<bool> {
        let done = sqlx::query::<Any>(
            "UPDATE maintenance_ops SET finished_at = $1, updated_at = $1, outcome = $2, \
                reason = $3 WHERE op_id = $4 AND finished_at IS NULL",
        )
        .bind(to_ms(at))
        .bind(outcome)
        .bind(reason)
        .bind(&id.0)
        .execute(&self.pool)
        .await
        .map_err(self.err("finish_maintenance"))?;
        if done.rows_affected() == 0 && self.maintenance_op(id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: format!("maintenance operation {id}"),
            });
        }
        Ok(done.rows_affected() > 0)
    }

    /// One operation.
    pub async fn maintenance_op(&self, id: &MaintenanceOpId) -> Result<Option<MaintenanceOp>> {
        let row = sqlx::query::<Any>(&format!(
            "SELECT {COLUMNS} FROM maintenance_ops WHERE op_id = $1"
        ))
        .bind(&id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("maintenance_op"))?;
        row.as_ref().map(op_from_row).transpose()
    }

    /// Operations that have not ended, oldest first: what a restarted server settles.
    pub async fn unfinished_maintenance(&self) -> Result<Vec<MaintenanceOp>> {
        let rows = sqlx::query::<Any>(&format!(
            "SELECT {COLUMNS} FROM maintenance_ops WHERE finished_at IS NULL \
             ORDER BY started_at, op_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("unfinished_maintenance"))?;
        rows.iter().map(op_from_row).collect()
    }

    /// Recorded operations, newest first.
    pub async fn maintenance_ops(&self, filter: &MaintenanceFilter) -> Result<Vec<MaintenanceOp>> {
        let rows = sqlx::query::<Any>(&format!(
            "SELECT {COLUMNS} FROM maintenance_ops \
             WHERE ($1 IS NULL OR device_uuid = $1) AND ($2 IS NULL OR task = $2) \
                AND ($3 IS NULL OR outcome = $3) \
             ORDER BY started_at DESC, op_id DESC LIMIT $4"
        ))
        .bind(filter.device_uuid.as_deref())
        .bind(filter.task.as_deref())
        .bind(filter.outcome.as_deref())
        .bind(i64::from(filter.limit.min(DeviceFilter::MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("maintenance_ops"))?;
        rows.iter().map(op_from_row).collect()
    }
}

fn op_from_row(r: &AnyRow) -> Result<MaintenanceOp> {
    const T: &str = "maintenance_ops";
    let id: String = get(r, "op_id", T)?;
    let payload: String = get(r, "payload", T)?;
    Ok(MaintenanceOp {
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
            what: format!("maintenance operation {id} payload"),
            detail: e.to_string(),
        })?,
        id: MaintenanceOpId(id),
        device_uuid: get(r, "device_uuid", T)?,
        task: get(r, "task", T)?,
        phase: get(r, "phase", T)?,
        started_at: from_ms(get(r, "started_at", T)?),
        updated_at: from_ms(get(r, "updated_at", T)?),
        finished_at: get::<Option<i64>>(r, "finished_at", T)?.map(from_ms),
        outcome: get(r, "outcome", T)?,
        reason: get(r, "reason", T)?,
    })
}
