//! Provisioning runs and their append-only timeline (P6: every step recorded, with reasons,
//! before the next network call).

use std::time::SystemTime;

use sqlx::any::AnyRow;
use sqlx::Any;

use super::{
    check_text, from_ms, get, to_ms, Lease, NewTransition, Result, Run, RunId, Store, StoreError,
    Transition,
};

const TRANSITION_COLUMNS: &str = "id, run_id, device_uuid, seq, phase, reason, payload, at";

impl Store {
    /// Start a provisioning run for a device. Returns its new id.
    pub async fn start_run(&self, device_uuid: &str, at: SystemTime) -> Result<RunId> {
        check_text("device uuid", device_uuid)?;
        let run_id = RunId(format!("{:032x}", rand::random::<u128>()));
        sqlx::query::<Any>(
            "INSERT INTO provisioning_runs (run_id, device_uuid, started_at) VALUES ($1, $2, $3)",
        )
        .bind(&run_id.0)
        .bind(device_uuid)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await
        .map_err(self.err("start_run"))?;
        Ok(run_id)
    }

    /// End a run with its outcome and, on failure, the reason in plain words. Returns false
    /// if the run had already ended (the first outcome stands).
    pub async fn finish_run(
        &self,
        run_id: &RunId,
        outcome: &str,
        reason: Option<&str>,
        at: SystemTime,
    ) -> Result<bool> {
        let done = sqlx::query::<Any>(
            "UPDATE provisioning_runs SET finished_at = $1, outcome = $2, reason = $3 \
             WHERE run_id = $4 AND finished_at IS NULL",
        )
        .bind(to_ms(at))
        .bind(outcome)
        .bind(reason)
        .bind(&run_id.0)
        .execute(&self.pool)
        .await
        .map_err(self.err("finish_run"))?;
        if done.rows_affected() == 0 && self.run(run_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: format!("provisioning run {run_id}"),
            });
        }
        Ok(done.rows_affected() > 0)
    }

    /// One run.
    pub async fn run(&self, run_id: &RunId) -> Result<Option<Run>> {
        let row = sqlx::query::<Any>(
            "SELECT run_id, device_uuid, started_at, finished_at, outcome, reason \
             FROM provisioning_runs WHERE run_id = $1",
        )
        .bind(&run_id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("run"))?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The runs of a device, oldest first.
    pub async fn runs(&self, device_uuid: &str) -> Result<Vec<Run>> {
        let rows = sqlx::query::<Any>(
            "SELECT run_id, device_uuid, started_at, finished_at, outcome, reason \
             FROM provisioning_runs WHERE device_uuid = $1 ORDER BY started_at, run_id",
        )
        .bind(device_uuid)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs that have not ended, oldest first: what a restarted server resumes.
    pub async fn unfinished_runs(&self) -> Result<Vec<Run>> {
        let rows = sqlx::query::<Any>(
            "SELECT run_id, device_uuid, started_at, finished_at, outcome, reason \
             FROM provisioning_runs WHERE finished_at IS NULL ORDER BY started_at, run_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("unfinished_runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    /// Append a step to a run's timeline. The step is committed (durable) when this returns;
    /// its `seq` is the next in the run. Two writers racing on one run get
    /// [`StoreError::Conflict`] for the loser.
    pub async fn append_transition(&self, t: &NewTransition) -> Result<Transition> {
        self.append(t, None).await
    }

    /// Like [`Store::append_transition`], but only while `lease` is still held (same owner
    /// and generation, not expired at `t.at`): a provisioner that lost its lease cannot write
    /// into the timeline ([`StoreError::LeaseLost`]).
    pub async fn append_transition_fenced(
        &self,
        t: &NewTransition,
        lease: &Lease,
    ) -> Result<Transition> {
        self.append(t, Some(lease)).await
    }

    async fn append(&self, t: &NewTransition, lease: Option<&Lease>) -> Result<Transition> {
        check_text("phase", &t.phase)?;
        let payload = serde_json::to_string(&t.payload).map_err(|e| StoreError::InvalidInput {
            what: "transition payload",
            detail: e.to_string(),
        })?;
        let fence = if lease.is_some() {
            " AND EXISTS (SELECT 1 FROM leases l WHERE l.device_uuid = r.device_uuid \
               AND l.owner = $6 AND l.generation = $7 AND l.expires_at > $5)"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO transitions (run_id, device_uuid, seq, phase, reason, payload, at) \
             SELECT r.run_id, r.device_uuid, \
                COALESCE((SELECT MAX(t.seq) FROM transitions t WHERE t.run_id = $1), 0) + 1, \
                $2, $3, $4, $5 \
             FROM provisioning_runs r WHERE r.run_id = $1{fence} \
             RETURNING {TRANSITION_COLUMNS}"
        );
        let mut q = sqlx::query::<Any>(&sql)
            .bind(&t.run_id.0)
            .bind(&t.phase)
            .bind(t.reason.as_deref())
            .bind(payload)
            .bind(to_ms(t.at));
        if let Some(l) = lease {
            q = q
                .bind(&l.owner)
                .bind(i64::try_from(l.generation).unwrap_or(i64::MAX));
        }
        let row = q
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("append_transition"))?;
        match row {
            Some(row) => transition_from_row(&row),
            None => match (self.run(&t.run_id).await?, lease) {
                (None, _) => Err(StoreError::NotFound {
                    what: format!("provisioning run {}", t.run_id),
                }),
                (Some(run), Some(l)) => Err(StoreError::LeaseLost {
                    device: run.device_uuid,
                    owner: l.owner.clone(),
                }),
                (Some(_), None) => Err(StoreError::NotFound {
                    what: format!("provisioning run {}", t.run_id),
                }),
            },
        }
    }

    /// Every recorded step of a device, all runs, in the order they were recorded.
    pub async fn timeline(&self, device_uuid: &str) -> Result<Vec<Transition>> {
        let rows = sqlx::query::<Any>(&format!(
            "SELECT {TRANSITION_COLUMNS} FROM transitions WHERE device_uuid = $1 ORDER BY id"
        ))
        .bind(device_uuid)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("timeline"))?;
        rows.iter().map(transition_from_row).collect()
    }

    /// The steps of one run, in order.
    pub async fn run_timeline(&self, run_id: &RunId) -> Result<Vec<Transition>> {
        let rows = sqlx::query::<Any>(&format!(
            "SELECT {TRANSITION_COLUMNS} FROM transitions WHERE run_id = $1 ORDER BY seq"
        ))
        .bind(&run_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("run_timeline"))?;
        rows.iter().map(transition_from_row).collect()
    }
}

fn run_from_row(r: &AnyRow) -> Result<Run> {
    const T: &str = "provisioning_runs";
    Ok(Run {
        run_id: RunId(get(r, "run_id", T)?),
        device_uuid: get(r, "device_uuid", T)?,
        started_at: from_ms(get(r, "started_at", T)?),
        finished_at: get::<Option<i64>>(r, "finished_at", T)?.map(from_ms),
        outcome: get(r, "outcome", T)?,
        reason: get(r, "reason", T)?,
    })
}

fn transition_from_row(r: &AnyRow) -> Result<Transition> {
    const T: &str = "transitions";
    let id: i64 = get(r, "id", T)?;
    let payload: String = get(r, "payload", T)?;
    Ok(Transition {
        id,
        run_id: RunId(get(r, "run_id", T)?),
        device_uuid: get(r, "device_uuid", T)?,
        seq: u32::try_from(get::<i64>(r, "seq", T)?).map_err(|_| StoreError::Corrupt {
            what: format!("transitions row {id}"),
            detail: "seq out of range".into(),
        })?,
        phase: get(r, "phase", T)?,
        reason: get(r, "reason", T)?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
            what: format!("transitions row {id} payload"),
            detail: e.to_string(),
        })?,
        at: from_ms(get(r, "at", T)?),
    })
}
