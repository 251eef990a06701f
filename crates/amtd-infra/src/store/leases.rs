//! Per-device provisioning leases (P6: exactly one provisioner per device, even with several
//! amtd instances on one database).
//!
//! A lease is a row `(device, owner, expires_at, generation)`. Taking it is one atomic
//! statement, an upsert whose update applies only `WHERE` the lease has expired or is already
//! ours; both SQLite and PostgreSQL evaluate that under the row's write lock, so of two
//! instances racing, exactly one gets a row back. `generation` grows each time the lease
//! changes hands and serves as a fencing token ([`Store::append_transition_fenced`]).
//!
//! Expiry compares the callers' clocks: keep the TTL well above the clock skew between
//! instances, and renew at a fraction of it.

use std::time::{Duration, SystemTime};

use sqlx::any::AnyRow;
use sqlx::Any;

use super::{check_text, from_ms, get, to_ms, Lease, Result, Store, StoreError};

const LEASE_COLUMNS: &str = "device_uuid, owner, expires_at, acquired_at, generation";

fn lease_from_row(r: &AnyRow) -> Result<Lease> {
    const T: &str = "leases";
    Ok(Lease {
        device_uuid: get(r, "device_uuid", T)?,
        owner: get(r, "owner", T)?,
        expires_at: from_ms(get(r, "expires_at", T)?),
        acquired_at: from_ms(get(r, "acquired_at", T)?),
        generation: u64::try_from(get::<i64>(r, "generation", T)?).unwrap_or(0),
    })
}

fn ttl_ms(ttl: Duration) -> Result<i64> {
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 {
        return Err(StoreError::InvalidInput {
            what: "lease ttl",
            detail: "must be at least one millisecond".into(),
        });
    }
    Ok(ms)
}

impl Store {
    /// Take the provisioning lease on a device for `ttl`, unless another owner holds an
    /// unexpired one (then `None`). Taking a lease we already hold extends it.
    pub async fn try_acquire_lease(
        &self,
        device_uuid: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        self.try_acquire_lease_at(device_uuid, owner, ttl, SystemTime::now())
            .await
    }

    /// [`Store::try_acquire_lease`] with an explicit clock reading (simulated time, tests).
    pub async fn try_acquire_lease_at(
        &self,
        device_uuid: &str,
        owner: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Option<Lease>> {
        check_text("device uuid", device_uuid)?;
        check_text("lease owner", owner)?;
        let now_ms = to_ms(now);
        let expires = now_ms.saturating_add(ttl_ms(ttl)?);
        let row = sqlx::query::<Any>(&format!(
            "INSERT INTO leases (device_uuid, owner, expires_at, acquired_at, generation) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (device_uuid) DO UPDATE SET \
                generation = CASE WHEN leases.owner = $2 THEN leases.generation \
                    ELSE leases.generation + 1 END, \
                acquired_at = CASE WHEN leases.owner = $2 THEN leases.acquired_at ELSE $4 END, \
                owner = $2, \
                expires_at = $3 \
             WHERE leases.owner = $2 OR leases.expires_at <= $4 \
             RETURNING {LEASE_COLUMNS}"
        ))
        .bind(device_uuid)
        .bind(owner)
        .bind(expires)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("try_acquire_lease"))?;
        row.as_ref().map(lease_from_row).transpose()
    }

    /// Extend a held lease to `ttl` from now. Fails with [`StoreError::LeaseLost`] when it
    /// expired or changed hands: the caller must stop working on the device.
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        self.renew_lease_at(lease, ttl, SystemTime::now()).await
    }

    /// [`Store::renew_lease`] with an explicit clock reading.
    pub async fn renew_lease_at(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Lease> {
        let now_ms = to_ms(now);
        let expires = now_ms.saturating_add(ttl_ms(ttl)?);
        let row = sqlx::query::<Any>(&format!(
            "UPDATE leases SET expires_at = $1 \
             WHERE device_uuid = $2 AND owner = $3 AND generation = $4 AND expires_at > $5 \
             RETURNING {LEASE_COLUMNS}"
        ))
        .bind(expires)
        .bind(&lease.device_uuid)
        .bind(&lease.owner)
        .bind(i64::try_from(lease.generation).unwrap_or(i64::MAX))
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("renew_lease"))?;
        match row {
            Some(r) => lease_from_row(&r),
            None => Err(StoreError::LeaseLost {
                device: lease.device_uuid.clone(),
                owner: lease.owner.clone(),
            }),
        }
    }

    /// Give a lease up (it expires at once; the generation is kept so fencing tokens keep
    /// growing). Returns false if it was no longer ours.
    pub async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        let done = sqlx::query::<Any>(
            "UPDATE leases SET expires_at = 0 \
             WHERE device_uuid = $1 AND owner = $2 AND generation = $3",
        )
        .bind(&lease.device_uuid)
        .bind(&lease.owner)
        .bind(i64::try_from(lease.generation).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(self.err("release_lease"))?;
        Ok(done.rows_affected() > 0)
    }

    /// The lease row of a device, expired or not (for display: who provisions it).
    pub async fn lease(&self, device_uuid: &str) -> Result<Option<Lease>> {
        let row = sqlx::query::<Any>(&format!(
            "SELECT {LEASE_COLUMNS} FROM leases WHERE device_uuid = $1"
        ))
        .bind(device_uuid)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("lease"))?;
        row.as_ref().map(lease_from_row).transpose()
    }
}
