//! The provisioning server core shared by `amtd lab` and `amtd serve`: hello events in,
//! provisioning runs out (amtd-core's machine driven by `amtd_infra::provision_runner`), with
//! bounded concurrency, the store and CA hooks, and per-device status.
//!
//! What differs between the two commands stays with them: where the CA, the provisioning
//! certificates and the FQDN mapping come from, and whether an emulated fleet runs. This module
//! never creates a CA or binds a socket; [`api`] serves the REST API over a listener the caller
//! binds.

pub mod api;
pub mod api_audit;
pub mod api_events;
pub mod api_maintenance;
pub mod api_pki;
pub mod api_sol;
mod api_users;
pub mod auth;
pub mod discovery;
pub mod fqdn;
pub mod headers;
mod hello_log;
mod hooks;
pub mod maintenance;
pub mod profiles;
mod recovery;
pub mod routes;
pub mod tls;
pub mod web;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amt_pki::{CaRole, CertHash, ProvisioningCert};
use amtd_core::provisioning::{random_bytes_needed, Outcome, Start};
use amtd_core::{DeviceRecord, Fqdn, Provisioning};
use amtd_infra::hello_listener::{HelloEvent, HelloOutcome};
use amtd_infra::pki_store::PkiStore;
use amtd_infra::provision_runner::run_provisioning;
use amtd_infra::store::{DeviceUpsert, NewHello, RunId, Store};
use anyhow::{Context, Result};

pub use fqdn::{FqdnPolicy, MappedDevice};
use hooks::ServerHooks;

/// Where one device is, as the running server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Expected (the lab started it) but no hello yet.
    Waiting,
    /// A provisioning run is queued or under way.
    Provisioning,
    /// Provisioned and verified.
    Provisioned,
    /// The last run failed, with the reason in plain words.
    Failed(String),
}

/// What a [`ServerCore`] is built from.
pub struct ServerParts {
    /// The store (devices, hellos, timelines, secrets).
    pub store: Store,
    /// The embedded CA.
    pub pki: PkiStore,
    /// Provisioning certificates offered to devices (the machine picks the one that fits).
    pub provisioning_certs: Vec<ProvisioningCert>,
    /// Name of the management profile devices are provisioned with.
    pub profile: String,
    /// FQDN discovery.
    pub fqdn: FqdnPolicy,
    /// Devices provisioned at the same time.
    pub concurrency: usize,
    /// RFC 2136 registration of provisioned devices' A/PTR records (`[dns.update]`).
    pub dns_update: Option<amtd_infra::dns::Updater>,
}

/// The running server's state, shared by the hello loop, provisioning tasks and the API.
pub struct ServerCore {
    store: Store,
    pki: Mutex<PkiStore>,
    prov: Vec<ProvisioningCert>,
    profile: String,
    fqdn: FqdnPolicy,
    crl_paths: [(CaRole, PathBuf); 2],
    status: Mutex<HashMap<String, DeviceStatus>>,
    /// Seconds each finished provisioning run took (hello accepted → verified).
    durations: Mutex<Vec<f64>>,
    limit: Arc<tokio::sync::Semaphore>,
    /// The crash-safety tests' kill point (`AMTD_TEST_CRASH_AT`; see `recovery.rs`).
    crash_at: Option<(String, bool)>,
    /// Hellos being decided at once.
    deciding: Arc<tokio::sync::Semaphore>,
    /// The maintenance job (CRL push, renewal, rotation, clocks) and its settings.
    maint: maintenance::State,
    /// The readiness check `POST /api/v1/check` runs and its last report (`api_pki.rs`).
    readiness: api_pki::Readiness,
    /// RFC 2136 registration of provisioned devices (`[dns.update]`).
    dns_update: Option<amtd_infra::dns::Updater>,
    /// The last console contact per device (power state), for the web console.
    seen: Mutex<HashMap<String, LastSeen>>,
    /// Bumped on every fleet change ([`ServerCore::watch`]).
    changes: tokio::sync::watch::Sender<u64>,
}

/// The last time the console reached a device, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSeen {
    /// When.
    pub at: SystemTime,
    /// Whether the device answered.
    pub ok: bool,
    /// The power state it last reported (`on`, `off`, …).
    pub power_state: Option<String>,
}

/// Hellos decided at the same time (FQDN discovery may wait on DNS or the device).
const DECIDING: usize = 64;

impl ServerCore {
    /// Builds the core.
    pub fn new(parts: ServerParts) -> Arc<Self> {
        let crl_paths = [
            (CaRole::Issuing, parts.pki.crl_path(CaRole::Issuing)),
            (CaRole::Root, parts.pki.crl_path(CaRole::Root)),
        ];
        Arc::new(Self {
            store: parts.store,
            pki: Mutex::new(parts.pki),
            prov: parts.provisioning_certs,
            profile: parts.profile,
            fqdn: parts.fqdn,
            crl_paths,
            status: Mutex::new(HashMap::new()),
            durations: Mutex::new(Vec::new()),
            limit: Arc::new(tokio::sync::Semaphore::new(parts.concurrency.max(1))),
            crash_at: recovery::crash_point_from_env(),
            deciding: Arc::new(tokio::sync::Semaphore::new(DECIDING)),
            maint: maintenance::State::default(),
            readiness: api_pki::Readiness::default(),
            dns_update: parts.dns_update,
            seen: Mutex::new(HashMap::new()),
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Path of a CA's current CRL file.
    pub fn crl_path(&self, role: CaRole) -> Option<&PathBuf> {
        self.crl_paths
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p)
    }

    /// Runs `f` on the CA store (None when its lock is poisoned).
    pub fn with_pki<R>(&self, f: impl FnOnce(&mut PkiStore) -> R) -> Option<R> {
        self.pki.lock().ok().map(|mut p| f(&mut p))
    }

    /// Re-publishes the CA's CRLs when less than half their validity is left.
    pub fn refresh_crls(&self) {
        if let Ok(mut pki) = self.pki.lock() {
            if let Err(e) = pki.refresh_crls_if_due(SystemTime::now()) {
                tracing::error!(error = %e, "could not publish the CRLs");
            }
        }
    }

    fn status_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, DeviceStatus>> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets a device's status and tells the watchers ([`ServerCore::watch`]).
    fn set_status(&self, uuid: &str, status: DeviceStatus) {
        self.status_map().insert(uuid.to_owned(), status);
        self.changed();
    }

    /// Every device this server has a status for (the lab's expected fleet included).
    pub fn statuses(&self) -> HashMap<String, DeviceStatus> {
        self.status_map().clone()
    }

    /// Tells the watchers that something about the fleet changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that wakes when the fleet changes (statuses, runs, console contacts). Changes
    /// made by other instances sharing the store are not signalled: watchers also re-read the
    /// store on a timer.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Records a console contact with a device: when, whether it answered, and the power state
    /// it reported (kept when the answer had none).
    pub fn note_contact(&self, uuid: &str, ok: bool, power_state: Option<String>) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let prev = seen.get(uuid).and_then(|s| s.power_state.clone());
            seen.insert(
                uuid.to_owned(),
                LastSeen {
                    at: SystemTime::now(),
                    ok,
                    power_state: power_state.or(prev),
                },
            );
        }
        self.changed();
    }

    /// The last console contact with a device, if any since the server started.
    pub fn last_seen(&self, uuid: &str) -> Option<LastSeen> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uuid)
            .cloned()
    }

    /// Marks devices as expected (the lab's fleet); those the store already has provisioned
    /// count as provisioned (their state survives in the data directory).
    pub async fn expect<'a>(&self, uuids: impl IntoIterator<Item = &'a String>) {
        for uuid in uuids {
            let provisioned = matches!(
                self.store.get_device(uuid).await,
                Ok(Some(d)) if d.state == "provisioned"
            );
            let s = if provisioned {
                DeviceStatus::Provisioned
            } else {
                DeviceStatus::Waiting
            };
            self.set_status(uuid, s);
        }
    }

    /// (provisioned, failed, known) devices.
    pub fn counts(&self) -> (usize, usize, usize) {
        let status = self.status_map();
        let done = status
            .values()
            .filter(|s| **s == DeviceStatus::Provisioned)
            .count();
        let failed = status
            .values()
            .filter(|s| matches!(s, DeviceStatus::Failed(_)))
            .count();
        (done, failed, status.len())
    }

    /// Prints the summary table and throughput figures.
    pub fn print_summary(&self, elapsed: Duration) {
        let status = self.status_map().clone();
        let mut rows: Vec<_> = status.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        println!("\n{:<38} state", "device");
        for (uuid, s) in rows {
            let s = match s {
                DeviceStatus::Waiting => "waiting for hello".to_owned(),
                DeviceStatus::Provisioning => "provisioning".to_owned(),
                DeviceStatus::Provisioned => "provisioned".to_owned(),
                DeviceStatus::Failed(r) => format!("failed: {r}"),
            };
            println!("{uuid:<38} {s}");
        }
        let mut d = self
            .durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        d.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            d.get(((d.len() as f64 - 1.0) * p).round() as usize)
                .copied()
        };
        let done = status
            .values()
            .filter(|s| **s == DeviceStatus::Provisioned)
            .count();
        println!(
            "\n{done} of {} devices provisioned in {:.2} s ({:.1} devices/s); per device p50 {:.2} s, p95 {:.2} s",
            status.len(),
            elapsed.as_secs_f64(),
            done as f64 / elapsed.as_secs_f64().max(1e-9),
            pct(0.5).unwrap_or_default(),
            pct(0.95).unwrap_or_default(),
        );
    }

    /// Handles one hello event: records it, finds the FQDN and, when the device needs it,
    /// spawns a provisioning run (at most `concurrency` at once).
    pub async fn handle_hello(self: &Arc<Self>, event: HelloEvent) {
        if !matches!(event.outcome, HelloOutcome::Accepted(_)) {
            hello_log::record_rejected(&self.store, &event).await;
            return;
        }
        // Deciding may take a while (reverse DNS, reading the device's settings): each hello
        // is decided in its own task, at most DECIDING at once (the hello loop waits beyond).
        let Ok(permit) = self.deciding.clone().acquire_owned().await else {
            return;
        };
        let core = self.clone();
        tokio::spawn(async move {
            core.handle_accepted(event).await;
            drop(permit);
        });
    }

    async fn handle_accepted(self: &Arc<Self>, event: HelloEvent) {
        let HelloOutcome::Accepted(hello) = &event.outcome else {
            return;
        };
        let uuid = hello.uuid.to_string().to_ascii_lowercase();
        let source = event.source.ip();
        let root_hashes: Vec<CertHash> = hello
            .hashes()
            .iter()
            .filter_map(|h| CertHash::from_hex(&h.to_string()).ok())
            .collect();
        let decision = self.decide(&uuid, source, &root_hashes).await;
        let hashes: Vec<String> = hello.hashes().iter().map(|h| h.to_string()).collect();
        let outcome = match &decision {
            Ok(r) if r.notes.is_empty() => "accepted".to_owned(),
            Ok(r) => {
                tracing::warn!(device.uuid = %uuid, notes = %r.notes.join("; "), "FQDN discovery");
                format!("accepted; {}", r.notes.join("; "))
            }
            Err(reason) => format!("ignored: {reason}"),
        };
        if let Err(e) = self
            .store
            .record_hello(&NewHello {
                device_uuid: uuid.clone(),
                source: event.source.to_string(),
                received_at: event.time,
                retry_count: hello.retry_count,
                hashes: hashes.join(","),
                outcome: Some(outcome),
            })
            .await
        {
            tracing::error!(error = %e, device.uuid = %uuid, "could not record a hello");
        }
        let Ok(fqdn::Resolved { fqdn, .. }) = decision else {
            return;
        };
        let core = self.clone();
        let admin_set = hello.admin_credentials_set;
        tokio::spawn(async move {
            let Ok(_permit) = core.limit.clone().acquire_owned().await else {
                return;
            };
            let begun = Instant::now();
            match core.start_run(&uuid, source, &fqdn).await {
                Ok(run_id) => {
                    let result = core
                        .provision(&uuid, &run_id, source, &fqdn, root_hashes, admin_set)
                        .await;
                    core.finish_device(&uuid, &run_id, result, begun).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, device.uuid = %uuid, "could not start a run");
                    core.set_status(&uuid, DeviceStatus::Failed(format!("{e:#}")));
                }
            }
        });
    }

    /// Records a run's end: the certificate installed, the device's state, the run's outcome
    /// (in that order, so a server stopped in between resumes the run rather than losing it).
    async fn finish_device(
        &self,
        uuid: &str,
        run_id: &RunId,
        result: Result<Outcome>,
        begun: Instant,
    ) {
        self.durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(begun.elapsed().as_secs_f64());
        let (status, label, reason) = match result {
            Ok(Outcome::Provisioned(done)) => {
                if let Ok(mut pki) = self.pki.lock() {
                    if let Err(e) = pki.mark_installed(&done.cert_serial) {
                        tracing::error!(error = %e, "could not mark a certificate installed");
                    }
                }
                (DeviceStatus::Provisioned, "provisioned", None)
            }
            Ok(Outcome::Failed(f)) => (
                DeviceStatus::Failed(f.reason.clone()),
                "failed",
                Some(f.reason),
            ),
            Err(e) => {
                let r = format!("{e:#}");
                (DeviceStatus::Failed(r.clone()), "failed", Some(r))
            }
        };
        match &reason {
            None => tracing::info!(device.uuid = %uuid, run = %run_id,
                secs = begun.elapsed().as_secs_f64(), "provisioned"),
            Some(r) => tracing::warn!(device.uuid = %uuid, run = %run_id, reason = %r,
                "provisioning failed"),
        }
        let mut up = DeviceUpsert::new(uuid.to_owned());
        up.state = Some(label.into());
        if let Err(e) = self.store.upsert_device(&up).await {
            tracing::error!(error = %e, device.uuid = %uuid, "could not store the outcome");
        }
        if let Err(e) = self
            .store
            .finish_run(run_id, label, reason.as_deref(), SystemTime::now())
            .await
        {
            tracing::error!(error = %e, device.uuid = %uuid, "could not close the run");
        }
        let result = match reason {
            None => amtd_infra::store::AuditResult::Ok,
            Some(r) => amtd_infra::store::AuditResult::Failed(r),
        };
        discovery::AuditLog::new(self.store.clone())
            .outcome(
                discovery::SERVER_ACTOR,
                "provision",
                Some(uuid),
                result,
                serde_json::json!({ "run": run_id.to_string(), "profile": self.profile }),
                None,
            )
            .await;
        self.set_status(uuid, status);
    }

    /// Stores the device (FQDN, address, state) and opens a run for it.
    async fn start_run(&self, uuid: &str, ip: IpAddr, fqdn: &str) -> Result<RunId> {
        let mut up = DeviceUpsert::new(uuid.to_owned());
        up.fqdn = Some(fqdn.to_owned());
        up.address = Some(ip.to_string());
        up.state = Some("provisioning".into());
        up.profile = Some(self.profile.clone());
        self.store.upsert_device(&up).await?;
        let run = self.store.start_run(uuid, SystemTime::now()).await?;
        self.changed();
        Ok(run)
    }

    /// Whether to provision: the FQDN, or why not. Claims the device (status Provisioning).
    async fn decide(
        &self,
        uuid: &str,
        source: IpAddr,
        trusted: &[CertHash],
    ) -> Result<fqdn::Resolved, String> {
        match self.status_map().get(uuid) {
            Some(DeviceStatus::Provisioning) => {
                return Err("a provisioning run is under way".into())
            }
            Some(DeviceStatus::Provisioned) => {
                return Err("the device is already provisioned (re-hello alert)".into())
            }
            _ => {}
        }
        let probe = fqdn::SettingsProbe {
            candidates: &self.prov,
            trusted,
        };
        let fqdn = self.fqdn.resolve_with(uuid, source, Some(probe)).await?;
        let known = self.status_map().get(uuid).cloned();
        if known.is_none() {
            if let Ok(Some(d)) = self.store.get_device(uuid).await {
                if d.state == "provisioned" {
                    tracing::warn!(device.uuid = %uuid, peer = %source,
                        "hello from a device already provisioned: not re-provisioned");
                    self.set_status(uuid, DeviceStatus::Provisioned);
                    return Err("the device is already provisioned (re-hello alert)".into());
                }
            }
        }
        let mut status = self.status_map();
        match status.get(uuid) {
            None | Some(DeviceStatus::Waiting) | Some(DeviceStatus::Failed(_)) => {
                status.insert(uuid.to_owned(), DeviceStatus::Provisioning);
                drop(status);
                self.changed();
                Ok(fqdn)
            }
            Some(DeviceStatus::Provisioning) => Err("a provisioning run is under way".into()),
            Some(DeviceStatus::Provisioned) => {
                Err("the device is already provisioned (re-hello alert)".into())
            }
        }
    }

    async fn provision(
        self: &Arc<Self>,
        uuid: &str,
        run_id: &RunId,
        ip: IpAddr,
        fqdn: &str,
        root_hashes: Vec<CertHash>,
        admin_credentials_set: bool,
    ) -> Result<Outcome> {
        let device = DeviceRecord {
            id: uuid.parse().context("device UUID")?,
            fqdn: Fqdn::new(fqdn).context("device FQDN")?,
            address: ip.to_string(),
            root_hashes,
            admin_credentials_set,
        };
        let mut random = vec![0u8; random_bytes_needed()];
        amt_emulator::net::random_fill(&mut random);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let profile = match profiles::load_for_run(self, run_id.clone()).await {
            Ok(p) => p,
            Err(failed) => return failed,
        };
        // A mutual-TLS profile: the console certificate on the provisioned channel (M9).
        let target = match self.run_target(ip.to_string(), &profile) {
            Ok(t) => t,
            Err(reason) => return self.refuse_run(run_id, reason).await,
        };
        let (machine, actions) = Provisioning::begin(Start {
            device,
            profile,
            candidates: &self.prov,
            now,
            random: &random,
        });
        let mut hooks = ServerHooks::new(self.clone(), uuid, run_id.clone());
        let outcome = run_provisioning(machine, actions, &self.prov, &target, &mut hooks).await;
        if let (Outcome::Provisioned(_), Some(updater)) = (&outcome, &self.dns_update) {
            // The device is provisioned either way: a failed registration is logged for the
            // DNS team, not turned into a failed run.
            match updater.register(fqdn, ip).await {
                Ok(z) => tracing::info!(
                    device.uuid = %uuid, %fqdn, %ip, forward_zone = %z.forward_zone,
                    reverse_zone = %z.reverse_zone, "registered A and PTR (RFC 2136)"
                ),
                Err(e) => tracing::warn!(
                    device.uuid = %uuid, %fqdn, %ip, error = %e,
                    "could not register the device in DNS (RFC 2136)"
                ),
            }
        }
        Ok(outcome)
    }
}
