//! The maintenance job (SPEC M9–M11): what keeps provisioned devices trustworthy after
//! provisioning.
//!
//! - **Console identity** (M9): the server's own mutual-TLS client certificate, issued once by
//!   the embedded CA (`PkiStore::console_identity`, key sealed at rest), presented on the
//!   provisioned channel of mutual-TLS runs and on every maintenance call; replaced when it is
//!   revoked or near its end.
//! - **CRL push** (M10, [`crl`]): every `crl_interval` and right after a revocation, the
//!   embedded CA's CRLs (plus any configured or distribution-point CRLs of other CAs a device
//!   trusts) are reduced to the serials relevant to each device and pushed (`ResetCRLList` +
//!   `AddCRL`) when the device holds anything else.
//! - **Renewal** (M11, [`renew`]): device TLS certificates expiring within `renew_before_days`
//!   get a new key, certificate and credential context; the old one is superseded and revoked.
//! - **Rotation** (M11, [`rotate`]): admin passwords older than `rotate_admin_password_days`
//!   are replaced; the new one is stored as a new secret version before it is sent and the old
//!   one stays escrowed.
//! - **Clock** (M11, [`clock`]): device clocks off by more than `clock_skew_secs` are set.
//!
//! Every step that changes a device is recorded (store `maintenance_ops`) before its call; at
//! start-up and before every pass, operations a stopped server left are settled ([`settle`]).
//!
//! # Audit
//! A scheduled pass that has devices to maintain is recorded in the audit chain as
//! `maintenance-pass` `started` by actor `amtd` before it touches any (the pass is skipped
//! when that record cannot be written) and `ok` with its counts afterwards; a pass asked for
//! through the API is recorded by the API (`maintenance-run`, the caller). Either way every
//! task that changed a device, failed or was deferred is recorded once it ended, as the task's
//! name (`push-crl`, `renew-certificate`, `rotate-admin-password`, `sync-clock`) with the
//! device, `ok` or `failed: <detail>` and the pass's actor ([`Requester`]); settled
//! operations likewise, with `"settled": true`. Tasks that found nothing to do are not
//! recorded (an hourly CRL pass over a fleet would otherwise flood the chain).
//! A pass runs on a [`Clock`]: the scheduled job uses the system clock, `POST
//! /api/v1/maintenance/run` may evaluate the policies as of another time (`as_of`), which is how
//! an operator renews or rotates ahead of schedule and how the tests move time. The time written
//! into device clocks is always the real one. For the crash tests,
//! `AMTD_TEST_CRASH_AT=maintenance:<task>:<phase>` kills the server right after the step is
//! stored and `…+reply` right after the device answered the step's call.

mod clock;
mod crl;
mod renew;
mod rotate;
mod settle;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amtd_core::maintenance::{Clock, Policy, Task};
use amtd_core::{ProvisioningProfile, TlsMode};
use amtd_infra::device_tls::{client_identity, device_access, ConsoleTls, DeviceAccess};
use amtd_infra::provision_runner::Target;
use amtd_infra::store::{DeviceFilter, MaintenanceOpId, NewMaintenanceOp};
use amtd_infra::transport::{ClientIdentity, TransportConfig};
use anyhow::Context as _;
use serde::Serialize;

use super::discovery::{AuditLog, SERVER_ACTOR};
use super::ServerCore;
use crate::config::MaintenanceConfig;
use amtd_infra::store::AuditResult;

/// Subject CN of the server's console certificate (list it in a mutual-TLS profile's
/// `trusted_cns` when that list is not empty).
pub const CONSOLE_CN: &str = "amtd-console";

/// Prefix of the maintenance kill points in `AMTD_TEST_CRASH_AT`.
const CRASH_PREFIX: &str = "maintenance:";

/// Who asked for a pass: the actor of its audit records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// The scheduled job (actor `amtd`); the pass records its own start.
    Schedule,
    /// An API caller (the user name); the API records the run's start and end.
    Caller(String),
}

impl Requester {
    fn actor(&self) -> &str {
        match self {
            Requester::Schedule => SERVER_ACTOR,
            Requester::Caller(name) => name,
        }
    }
}

/// Records a task's end when it changed, failed or deferred something (not when unchanged).
async fn audit_task(audit: &AuditLog, actor: &str, r: &TaskReport, settled: bool) {
    let result = match r.outcome {
        Outcome::Unchanged => return,
        Outcome::Done => AuditResult::Ok,
        Outcome::Failed => AuditResult::Failed(r.detail.clone()),
        Outcome::Deferred => AuditResult::Failed(format!("deferred: {}", r.detail)),
    };
    let mut detail = serde_json::json!({ "detail": r.detail });
    if settled {
        detail["settled"] = serde_json::json!(true);
    }
    audit
        .outcome(actor, &r.task, Some(&r.device), result, detail, None)
        .await;
}

/// The real clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The job's state inside the server core.
pub struct State {
    config: Mutex<MaintenanceConfig>,
    crl_wanted: tokio::sync::Notify,
    pass: tokio::sync::Mutex<()>,
    crash_at: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            config: Mutex::new(MaintenanceConfig::default()),
            crl_wanted: tokio::sync::Notify::new(),
            pass: tokio::sync::Mutex::new(()),
            crash_at: std::env::var(super::recovery::CRASH_ENV)
                .ok()
                .and_then(|v| v.trim().strip_prefix(CRASH_PREFIX).map(str::to_owned)),
        }
    }
}

/// How one task ended on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The device was changed (pushed, renewed, rotated, set).
    Done,
    /// Nothing to do (up to date, not due, in sync).
    Unchanged,
    /// The task failed; see the detail.
    Failed,
    /// Left for a later pass (device unreachable while settling).
    Deferred,
}

/// One line of a pass's report.
#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    /// The device.
    pub device: String,
    /// The task.
    pub task: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What happened, in plain words.
    pub detail: String,
}

impl TaskReport {
    fn new(device: &str, task: Task, outcome: Outcome, detail: impl Into<String>) -> Self {
        TaskReport {
            device: device.to_owned(),
            task: task.name().to_owned(),
            outcome,
            detail: detail.into(),
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Serialize)]
pub struct PassReport {
    /// The time the policies were evaluated at (seconds since the Unix epoch).
    pub as_of: u64,
    /// The console certificate's serial (hex), when the server has one.
    pub console_serial: Option<String>,
    /// Operations a stopped server (or an earlier pass) left, settled first.
    pub settled: Vec<TaskReport>,
    /// Each task on each device.
    pub tasks: Vec<TaskReport>,
}

/// What one pass's tasks share.
struct Ctx {
    core: Arc<ServerCore>,
    /// The audit records' actor.
    actor: String,
    tls: ConsoleTls,
    /// The policies' "now".
    now: SystemTime,
    policy: Policy,
    transport: TransportConfig,
    crl: Option<crl::Inputs>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn policy_of(c: &MaintenanceConfig) -> Policy {
    const DAY: u64 = 86_400;
    Policy {
        renew_before: Duration::from_secs(u64::from(c.renew_before_days) * DAY),
        rotate_every: (c.rotate_admin_password_days > 0)
            .then(|| Duration::from_secs(u64::from(c.rotate_admin_password_days) * DAY)),
        clock_skew: Duration::from_secs(c.clock_skew_secs),
    }
}

/// Timeouts of maintenance calls (a TLS credential change may take a while on real firmware).
fn transport() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    }
}

impl ServerCore {
    fn maintenance_config(&self) -> MaintenanceConfig {
        self.maint
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The job's kill point (see the module doc): SIGKILLs this process.
    pub(super) fn maintenance_crash_point(&self, task: Task, phase: &str, after_reply: bool) {
        let Some(want) = &self.maint.crash_at else {
            return;
        };
        let here = format!(
            "{}:{phase}{}",
            task.name(),
            if after_reply { "+reply" } else { "" }
        );
        if *want != here {
            return;
        }
        tracing::warn!(point = %here, "AMTD_TEST_CRASH_AT: killing the server (SIGKILL)");
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        std::process::abort();
    }

    /// Settles the maintenance operations a stopped server left, then (when enabled) starts the
    /// scheduled job. Call once at start-up, after [`ServerCore::recover`].
    pub async fn start_maintenance(self: &Arc<Self>, config: MaintenanceConfig) {
        let enabled = config.enabled;
        *self.maint.config.lock().unwrap_or_else(|p| p.into_inner()) = config.clone();
        match self.console_tls() {
            Ok(tls) => {
                let audit = AuditLog::new(self.store().clone());
                for r in self.settle_unfinished(&tls, None).await {
                    tracing::info!(device.uuid = %r.device, task = %r.task, outcome = ?r.outcome,
                        detail = %r.detail, "settled an interrupted maintenance operation");
                    audit_task(&audit, SERVER_ACTOR, &r, true).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot settle maintenance operations"),
        }
        if !enabled {
            return;
        }
        let core = self.clone();
        tokio::spawn(async move { core.schedule(config).await });
    }

    async fn schedule(self: Arc<Self>, config: MaintenanceConfig) {
        let start = tokio::time::Instant::now();
        // The first CRL pass runs at once: revocations made while the server was stopped
        // (`amtd ca revoke`) reach the devices without waiting a whole interval.
        let mut crl_timer = tokio::time::interval_at(start, config.crl_interval);
        let mut timer = tokio::time::interval_at(start + config.interval, config.interval);
        crl_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let tasks: &[Task] = tokio::select! {
                _ = crl_timer.tick() => &[Task::PushCrl],
                _ = self.maint.crl_wanted.notified() => &[Task::PushCrl],
                _ = timer.tick() => &[Task::RenewCertificate, Task::RotateAdminPassword, Task::SyncClock],
            };
            match self
                .run_maintenance(&SystemClock, tasks, None, &Requester::Schedule)
                .await
            {
                Ok(report) => {
                    for r in report.tasks.iter().chain(&report.settled) {
                        if r.outcome != Outcome::Unchanged {
                            tracing::info!(device.uuid = %r.device, task = %r.task,
                                outcome = ?r.outcome, detail = %r.detail, "maintenance");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "maintenance pass failed"),
            }
        }
    }

    /// Asks the scheduled job for a CRL push soon (after a revocation).
    pub fn request_crl_push(&self) {
        self.maint.crl_wanted.notify_one();
    }

    /// The server's console certificate as the policies see it at `now`: the stored one,
    /// renewed when revoked or expiring within the renewal window; issued first when `issue`.
    /// A change asks for a CRL push (the old certificate was revoked).
    fn console_identity_at(
        &self,
        now: SystemTime,
        issue: bool,
    ) -> anyhow::Result<Option<amtd_infra::pki_store::ConsoleIdentity>> {
        let renew_before = policy_of(&self.maintenance_config()).renew_before;
        let result = self
            .with_pki(|pki| -> anyhow::Result<_> {
                if !issue && pki.load_console_identity()?.is_none() {
                    return Ok(None);
                }
                Ok(Some(pki.console_identity(CONSOLE_CN, now, renew_before)?))
            })
            .context("the CA store lock is poisoned")??;
        Ok(result.map(|(id, change)| {
            if change.issued_new() {
                tracing::info!(serial = %id.cert().serial().to_hex(), ?change,
                    "console certificate (mutual TLS) issued");
                self.request_crl_push();
            }
            id
        }))
    }

    /// What maintenance calls trust and present: the CA root and the stored console
    /// certificate.
    fn console_tls(&self) -> anyhow::Result<ConsoleTls> {
        Ok(self
            .with_pki(|pki| ConsoleTls::from_pki(pki))
            .context("the CA store lock is poisoned")??)
    }

    /// The server's console certificate (issued now when there is none).
    pub fn console_certificate(&self) -> anyhow::Result<amtd_infra::pki_store::ConsoleIdentity> {
        self.console_identity_at(SystemTime::now(), true)?
            .context("no console certificate was issued")
    }

    /// The provisioning target for a run with `profile`: for a mutual-TLS profile, presenting
    /// the console certificate (issued now when the server has none) on the provisioned
    /// channel; the device demands it once CommitChanges applied the TLS settings.
    pub(super) fn run_target(
        &self,
        address: String,
        profile: &ProvisioningProfile,
    ) -> Result<Target, String> {
        let target = Target::new(address);
        if profile.tls_mode != TlsMode::Mutual {
            return Ok(target);
        }
        let id = self
            .console_identity_at(SystemTime::now(), true)
            .map_err(|e| format!("no console certificate for mutual TLS: {e:#}"))?
            .ok_or("no console certificate for mutual TLS")?;
        let identity: ClientIdentity = client_identity(&id).map_err(|e| e.to_string())?;
        Ok(target.with_console_identity(identity))
    }

    /// Ends a run that cannot start (no console certificate for a mutual-TLS profile) as
    /// failed with the reason, before anything was sent to the device.
    pub(super) async fn refuse_run(
        &self,
        run_id: &amtd_infra::store::RunId,
        reason: String,
    ) -> anyhow::Result<amtd_core::provisioning::Outcome> {
        use amtd_core::provisioning::{Failure, FailureKind, Outcome as RunOutcome};
        tracing::error!(%reason, "provisioning run refused");
        self.store()
            .finish_run(run_id, "failed", Some(&reason), SystemTime::now())
            .await?;
        Ok(RunOutcome::Failed(Failure {
            reason,
            step: amtd_core::Phase::Discovered,
            retryable: true,
            kind: FailureKind::Refused,
        }))
    }

    /// Checks, before a mutual-TLS run touches the device, that this server can present a
    /// console certificate the device will accept: one exists (or is issued now) and its CN is
    /// among `trusted_cns` when that list is not empty. The reason in words otherwise.
    pub(super) fn mutual_tls_ready(&self, trusted_cns: &[String]) -> Result<(), String> {
        if !trusted_cns.is_empty()
            && !trusted_cns
                .iter()
                .any(|c| c.eq_ignore_ascii_case(CONSOLE_CN))
        {
            return Err(format!(
                "it asks for mutual TLS with trusted_cns {trusted_cns:?}, which does not list \
                 this server's console certificate (CN {CONSOLE_CN:?}): the device would refuse \
                 the server after CommitChanges. Add {CONSOLE_CN:?} to trusted_cns"
            ));
        }
        self.console_identity_at(SystemTime::now(), true)
            .map_err(|e| format!("no console certificate for mutual TLS: {e:#}"))?;
        Ok(())
    }

    /// Runs one maintenance pass now: settles what earlier passes left, then runs `tasks` on
    /// every provisioned device (or only `devices`), at most `concurrency` devices at once, each
    /// device's calls one after another. Passes never overlap. What changed is audited with
    /// `by` as the actor (see the module docs); a scheduled pass is not run when its start
    /// cannot be recorded.
    pub async fn run_maintenance(
        self: &Arc<Self>,
        clock: &dyn Clock,
        tasks: &[Task],
        devices: Option<Vec<String>>,
        by: &Requester,
    ) -> anyhow::Result<PassReport> {
        let _one = self.maint.pass.lock().await;
        let audit = AuditLog::new(self.store().clone());
        let now = clock.now();
        let config = self.maintenance_config();
        let console = self.console_identity_at(now, false)?;
        let tls = self.console_tls()?;
        let only = devices.clone();
        let uuids = match devices {
            Some(d) => d,
            None => self.provisioned_devices().await?,
        };
        let task_names: Vec<&str> = tasks.iter().map(|t| t.name()).collect();
        let pass_detail = serde_json::json!({ "tasks": task_names, "devices": uuids.len() });
        let scheduled = *by == Requester::Schedule && !uuids.is_empty();
        if scheduled {
            audit
                .record(
                    SERVER_ACTOR,
                    "maintenance-pass",
                    None,
                    AuditResult::Started,
                    pass_detail.clone(),
                    None,
                )
                .await
                .context("the scheduled maintenance pass was not run")?;
        }
        let settled = self.settle_unfinished(&tls, only.as_deref()).await;
        for r in &settled {
            audit_task(&audit, by.actor(), r, true).await;
        }
        let crl = if tasks.contains(&Task::PushCrl) {
            Some(crl::Inputs::gather(self, &config.crl_urls).await?)
        } else {
            None
        };
        let ctx = Arc::new(Ctx {
            core: self.clone(),
            actor: by.actor().to_owned(),
            tls,
            now,
            policy: policy_of(&config),
            transport: transport(),
            crl,
        });
        let limit = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for uuid in uuids {
            let ctx = ctx.clone();
            let limit = limit.clone();
            let tasks = tasks.to_vec();
            set.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else {
                    return Vec::new();
                };
                ctx.device(&uuid, &tasks).await
            });
        }
        let mut reports = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(mut r) => reports.append(&mut r),
                Err(e) => tracing::error!(error = %e, "a maintenance task panicked"),
            }
        }
        reports.sort_by(|a, b| (&a.device, &a.task).cmp(&(&b.device, &b.task)));
        if scheduled {
            let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
            let mut detail = pass_detail;
            detail["done"] = count(Outcome::Done).into();
            detail["failed"] = count(Outcome::Failed).into();
            detail["deferred"] = count(Outcome::Deferred).into();
            audit
                .outcome(
                    SERVER_ACTOR,
                    "maintenance-pass",
                    None,
                    AuditResult::Ok,
                    detail,
                    None,
                )
                .await;
        }
        Ok(PassReport {
            as_of: unix(now),
            console_serial: console.map(|c| c.cert().serial().to_hex()),
            settled,
            tasks: reports,
        })
    }

    async fn provisioned_devices(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store()
                .list_devices(&DeviceFilter {
                    state: Some("provisioned".into()),
                    after: after.clone(),
                    limit: DeviceFilter::MAX_LIMIT,
                })
                .await?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            after = Some(last.uuid.clone());
            let full = page.len() as u32 >= DeviceFilter::MAX_LIMIT;
            out.extend(page.into_iter().map(|d| d.uuid));
            if !full {
                return Ok(out);
            }
        }
    }
}

impl Ctx {
    /// Runs `tasks` on one device, in order.
    async fn device(&self, uuid: &str, tasks: &[Task]) -> Vec<TaskReport> {
        let access = match device_access(self.core.store(), &self.tls, uuid).await {
            Ok(a) => a,
            Err(e) => {
                return tasks
                    .iter()
                    .map(|t| TaskReport::new(uuid, *t, Outcome::Failed, e.to_string()))
                    .collect()
            }
        };
        let mut out = Vec::new();
        for task in tasks {
            let result = match task {
                Task::PushCrl => crl::push(self, &access).await,
                Task::RenewCertificate => renew::renew(self, &access).await,
                Task::RotateAdminPassword => rotate::rotate(self, &access).await,
                Task::SyncClock => clock::sync(self, &access).await,
            };
            let report = match result {
                Ok((outcome, detail)) => TaskReport::new(uuid, *task, outcome, detail),
                Err(e) => TaskReport::new(uuid, *task, Outcome::Failed, format!("{e:#}")),
            };
            audit_task(
                &AuditLog::new(self.core.store().clone()),
                &self.actor,
                &report,
                false,
            )
            .await;
            out.push(report);
        }
        out
    }

    /// Records the start of an operation (before its first call).
    async fn start_op(
        &self,
        access: &DeviceAccess,
        task: Task,
        phase: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<MaintenanceOpId> {
        let id = self
            .core
            .store()
            .start_maintenance(&NewMaintenanceOp {
                device_uuid: access.uuid.clone(),
                task: task.name().to_owned(),
                phase: phase.to_owned(),
                payload,
                at: SystemTime::now(),
            })
            .await?;
        self.core.maintenance_crash_point(task, phase, false);
        Ok(id)
    }

    /// Records a step (before its call).
    async fn step(
        &self,
        op: &MaintenanceOpId,
        task: Task,
        phase: &str,
        payload: &serde_json::Value,
    ) -> anyhow::Result<()> {
        self.core
            .store()
            .update_maintenance(op, phase, payload, SystemTime::now())
            .await?;
        self.core.maintenance_crash_point(task, phase, false);
        Ok(())
    }

    /// Records the end of an operation.
    async fn finish(&self, op: &MaintenanceOpId, outcome: &str, reason: Option<&str>) {
        if let Err(e) = self
            .core
            .store()
            .finish_maintenance(op, outcome, reason, SystemTime::now())
            .await
        {
            tracing::error!(error = %e, op = %op, "could not close a maintenance operation");
        }
    }
}
