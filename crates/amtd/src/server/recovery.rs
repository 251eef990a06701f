//! Crash safety (P6): what a restarted server does with the runs a stopped one left.
//!
//! Every transition is stored with its checkpoint (see [`transition_payload`]) before the
//! next network call, and the device's secrets with the transition that creates them. At
//! start-up, before any hello is handled, [`ServerCore::recover`] takes each unfinished run:
//! - certificates the CA issued for the device that are neither installed nor the one the
//!   run's checkpoint holds (signed, then the server died before storing the next step) are
//!   revoked as failed provisioning;
//! - the run is resumed from its last stored phase with amtd-core's
//!   [`Provisioning::resume`], under the same run id, so its timeline continues: calls that
//!   may have reached the device are polled or re-sent by the ordinary P6 rules, and a run
//!   that cannot be resumed ends failed with its certificate revoked;
//! - a run stored before it reached the device (`discovered`, `checking-fit`) is closed and a
//!   new run starts from the device's stored hello — a device stops sending hellos once one
//!   was delivered (D4), so there may never be another.
//!
//! Older unfinished runs of a device that has a newer one are closed as superseded.
//!
//! For the crash-safety tests, `AMTD_TEST_CRASH_AT=<phase>` makes the server kill itself
//! with SIGKILL right after storing the transition into `<phase>`, and
//! `AMTD_TEST_CRASH_AT=<phase>+reply` right after the device answered that phase's request
//! (before the answer is recorded; for `issuing-certificate`, right after the CA signed). Nothing else reads it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::net::IpAddr;

use amt_pki::{CertHash, CertState, Serial};
use amt_wsman::secret::SecretString;
use amtd_core::provisioning::{Checkpoint, DeviceSecrets, Outcome, Resume, Transition};
use amtd_core::{DeviceRecord, Fqdn, Phase, Provisioning};
use amtd_infra::provision_runner::run_provisioning;
use amtd_infra::store::{HelloFilter, RunId, SecretKind};
use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};

use super::hooks::ServerHooks;
use super::{DeviceStatus, ServerCore};

/// Name of the crash-test variable.
pub const CRASH_ENV: &str = "AMTD_TEST_CRASH_AT";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The stored form of a transition: phase (name and index), sequence and checkpoint.
pub(super) fn transition_payload(t: &Transition) -> Value {
    let c = &t.checkpoint;
    json!({
        "seq": t.seq,
        "from": t.from.to_string(),
        "phase": { "name": t.to.name(), "index": t.to.index() },
        "checkpoint": {
            "device": c.device.to_string(),
            "fqdn": c.fqdn.as_str(),
            "profile": c.profile,
            "provisioning_cert": c.provisioning_cert,
            "realm": c.realm,
            "firmware_version": c.firmware_version,
            "key_instance_id": c.key_instance_id,
            "cert_serial": c.cert_serial.as_ref().map(Serial::to_hex),
            "cert_instance_id": c.cert_instance_id,
            "cert_der": c.cert_der.as_ref().map(|d| b64().encode(d)),
            "known_keys": c.known_keys,
            "started_at": c.started_at,
            "deadline": c.deadline,
        },
    })
}

/// A stored transition read back: phase, sequence and checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stored {
    pub phase: Phase,
    pub seq: u64,
    pub checkpoint: Checkpoint,
}

/// Reads [`transition_payload`]'s form; `None` for anything else.
pub(super) fn stored_transition(payload: &Value) -> Option<Stored> {
    let phase = payload.get("phase")?;
    let index = phase
        .get("index")
        .and_then(Value::as_u64)
        .and_then(|i| usize::try_from(i).ok());
    let phase = Phase::from_name(phase.get("name")?.as_str()?, index)?;
    let c = payload.get("checkpoint")?;
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
    let cert_serial = match text("cert_serial") {
        Some(h) => Some(Serial::from_hex(&h).ok()?),
        None => None,
    };
    let cert_der = match text("cert_der") {
        Some(d) => Some(b64().decode(d).ok()?),
        None => None,
    };
    let checkpoint = Checkpoint {
        device: text("device")?.parse().ok()?,
        fqdn: Fqdn::new(&text("fqdn")?).ok()?,
        profile: text("profile")?,
        provisioning_cert: c
            .get("provisioning_cert")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok()),
        realm: text("realm"),
        firmware_version: text("firmware_version"),
        key_instance_id: text("key_instance_id"),
        cert_serial,
        cert_instance_id: text("cert_instance_id"),
        cert_der,
        known_keys: c
            .get("known_keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        started_at: c.get("started_at")?.as_u64()?,
        deadline: c.get("deadline")?.as_u64()?,
    };
    Some(Stored {
        phase,
        seq: payload
            .get("seq")
            .and_then(Value::as_u64)
            .unwrap_or_default(),
        checkpoint,
    })
}

/// Where the crash-safety test wants the server to die: (phase name, after the reply).
pub(super) fn crash_point_from_env() -> Option<(String, bool)> {
    let v = std::env::var(CRASH_ENV).ok()?;
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some(match v.strip_suffix("+reply") {
        Some(p) => (p.to_owned(), true),
        None => (v.to_owned(), false),
    })
}

impl ServerCore {
    /// The crash-safety tests' kill point (see the module doc): SIGKILLs this process.
    pub(super) fn crash_point(&self, phase: Phase, after_reply: bool) {
        let Some((name, reply)) = &self.crash_at else {
            return;
        };
        if phase.name() != name || *reply != after_reply {
            return;
        }
        tracing::warn!(%phase, after_reply, "{CRASH_ENV}: killing the server (SIGKILL)");
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        // `kill` is not there: die as abruptly as we can.
        std::process::abort();
    }

    /// Resumes (or closes) every run a stopped server left unfinished. Call before the first
    /// hello is handled. Returns how many runs were taken up.
    pub async fn recover(self: &Arc<Self>) -> Result<usize> {
        let runs = self
            .store
            .unfinished_runs()
            .await
            .context("reading unfinished provisioning runs")?;
        let mut latest: HashMap<String, amtd_infra::store::Run> = HashMap::new();
        for run in runs {
            match latest.get(&run.device_uuid) {
                Some(l) if l.started_at >= run.started_at => {
                    self.close_superseded(&run.run_id).await;
                }
                Some(l) => {
                    let old = l.run_id.clone();
                    latest.insert(run.device_uuid.clone(), run);
                    self.close_superseded(&old).await;
                }
                None => {
                    latest.insert(run.device_uuid.clone(), run);
                }
            }
        }
        let n = latest.len();
        for (uuid, run) in latest {
            self.set_status(&uuid, DeviceStatus::Provisioning);
            let core = self.clone();
            tokio::spawn(async move {
                let Ok(_permit) = core.limit.clone().acquire_owned().await else {
                    return;
                };
                let begun = Instant::now();
                let (run_id, result) = match core.resume_run(&uuid, &run.run_id).await {
                    Ok(Taken::Resumed(outcome)) => (run.run_id, Ok(outcome)),
                    Ok(Taken::Restart) => core.restart_from_hello(&uuid, &run.run_id).await,
                    Err(e) => {
                        // Not resumable: nothing it issued may stay valid.
                        core.revoke_orphans(&uuid, None);
                        (run.run_id, Err(e))
                    }
                };
                core.finish_device(&uuid, &run_id, result, begun).await;
            });
        }
        if n > 0 {
            tracing::info!(
                runs = n,
                "resuming provisioning runs left by a stopped server"
            );
        }
        Ok(n)
    }

    async fn close_superseded(&self, run_id: &RunId) {
        if let Err(e) = self
            .store
            .finish_run(
                run_id,
                "failed",
                Some("superseded by a newer run of the same device"),
                SystemTime::now(),
            )
            .await
        {
            tracing::error!(error = %e, "could not close a superseded run");
        }
    }

    /// Revokes the device's certificates that were issued but neither installed nor `keep`.
    fn revoke_orphans(&self, uuid: &str, keep: Option<&Serial>) {
        let Ok(mut pki) = self.pki.lock() else {
            return;
        };
        let orphans: Vec<Serial> = pki
            .ledger()
            .for_device(uuid)
            .filter(|e| matches!(e.state, CertState::Issued))
            .filter(|e| Some(&e.serial) != keep)
            .map(|e| e.serial.clone())
            .collect();
        for serial in orphans {
            tracing::warn!(device.uuid = %uuid, %serial,
                "revoking a certificate issued by a run the server did not finish");
            if let Err(e) = pki.revoke_failed_provisioning(&serial) {
                tracing::error!(error = %e, %serial, "could not revoke an orphaned certificate");
            }
        }
    }

    /// A run that never reached the device is closed and started again from the device's
    /// stored hello: a device stops saying hello once one was delivered (D4), so waiting for
    /// the next one would wait for ever.
    async fn restart_from_hello(
        self: &Arc<Self>,
        uuid: &str,
        old: &RunId,
    ) -> (RunId, Result<Outcome>) {
        let reason = "the server stopped before the run reached the device; started again \
                      from the stored hello";
        if let Err(e) = self
            .store
            .finish_run(old, "failed", Some(reason), SystemTime::now())
            .await
        {
            return (old.clone(), Err(e.into()));
        }
        let plan = async {
            let device = self
                .store
                .get_device(uuid)
                .await?
                .context("the device is not in the store")?;
            let hello = self
                .store
                .hellos(&HelloFilter {
                    device_uuid: Some(uuid.to_owned()),
                    limit: 1,
                })
                .await?
                .into_iter()
                .next()
                .context("the device's hello is not in the store")?;
            let ip: IpAddr = device
                .address
                .as_deref()
                .unwrap_or_default()
                .parse()
                .context("the device's stored address")?;
            let fqdn = device
                .fqdn
                .clone()
                .context("the device has no stored FQDN")?;
            let hashes: Vec<CertHash> = hello
                .hashes
                .split(',')
                .filter_map(|h| CertHash::from_hex(h.trim()).ok())
                .collect();
            anyhow::Ok((ip, fqdn, hashes))
        };
        let (ip, fqdn, hashes) = match plan.await {
            Ok(p) => p,
            Err(e) => return (old.clone(), Err(e)),
        };
        let run_id = match self.start_run(uuid, ip, &fqdn).await {
            Ok(r) => r,
            Err(e) => return (old.clone(), Err(e)),
        };
        tracing::info!(device.uuid = %uuid, "starting the interrupted run again from its hello");
        let result = self
            .provision(uuid, &run_id, ip, &fqdn, hashes, false)
            .await;
        (run_id, result)
    }

    /// Resumes `run_id` of `uuid` from its last stored transition.
    async fn resume_run(self: &Arc<Self>, uuid: &str, run_id: &RunId) -> Result<Taken> {
        let timeline = self.store.run_timeline(run_id).await?;
        let last = timeline
            .iter()
            .rev()
            .find_map(|t| stored_transition(&t.payload));
        let device = self.store.get_device(uuid).await?;
        let (Some(last), Some(device)) = (last, device) else {
            self.revoke_orphans(uuid, None);
            return Ok(Taken::Restart);
        };
        if matches!(last.phase, Phase::Discovered | Phase::CheckingFit) {
            self.revoke_orphans(uuid, None);
            return Ok(Taken::Restart);
        }
        self.revoke_orphans(uuid, last.checkpoint.cert_serial.as_ref());
        let admin = self.store.get_secret(uuid, SecretKind::Admin).await?;
        let mebx = self.store.get_secret(uuid, SecretKind::Mebx).await?;
        let secrets = admin.map(|admin_password: SecretString| DeviceSecrets {
            admin_password,
            mebx_password: mebx,
        });
        let address = device
            .address
            .clone()
            .context("the device has no stored address")?;
        let record = DeviceRecord {
            id: last.checkpoint.device,
            fqdn: last.checkpoint.fqdn.clone(),
            address: address.clone(),
            root_hashes: Vec::new(),
            admin_credentials_set: false,
        };
        // The profile as stored now: a resumed run pushes what is still to be pushed from it.
        let profile = super::profiles::load(self, &last.checkpoint.profile)
            .await
            .map_err(|reason| {
                anyhow::anyhow!(
                    "cannot resume: management profile {:?}: {reason}",
                    last.checkpoint.profile
                )
            })?;
        // A mutual-TLS profile: the console certificate on the provisioned channel (M9).
        let target = self
            .run_target(address, &profile)
            .map_err(|reason| anyhow::anyhow!("cannot resume: {reason}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        tracing::info!(device.uuid = %uuid, phase = %last.phase, "resuming a provisioning run");
        let (machine, actions) = Provisioning::resume(Resume {
            device: record,
            profile,
            phase: last.phase,
            checkpoint: last.checkpoint,
            secrets,
            candidates: &self.prov,
            now,
            seq: last.seq,
        });
        let mut hooks = ServerHooks::new(self.clone(), uuid, run_id.clone());
        Ok(Taken::Resumed(
            run_provisioning(machine, actions, &self.prov, &target, &mut hooks).await,
        ))
    }
}

/// What recovery did with an unfinished run.
enum Taken {
    /// Resumed under its own id, with this outcome.
    Resumed(Outcome),
    /// It never reached the device: start a new run from the stored hello.
    Restart,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            device: "8086e000-0000-4000-8000-000000000001".parse().unwrap(),
            fqdn: Fqdn::new("amt1.amt.test").unwrap(),
            profile: "default".into(),
            provisioning_cert: Some(0),
            realm: Some("Digest:0123456789ABCDEF0123456789ABCDEF".into()),
            firmware_version: Some("16.1.25".into()),
            key_instance_id: Some("Intel(r) AMT Key: Handle: 0".into()),
            cert_serial: Some(Serial::from_bytes(&[0x12, 0x34, 0x56])),
            cert_instance_id: Some("Intel(r) AMT Certificate: Handle: 1".into()),
            cert_der: Some(vec![0x30, 0x82, 0x01, 0x00]),
            known_keys: vec!["Intel(r) AMT Key: Handle: 7".into()],
            started_at: 1_700_000_000,
            deadline: 1_700_000_600,
        }
    }

    #[test]
    fn a_stored_transition_reads_back_as_it_was_written() {
        let t = Transition {
            seq: 17,
            at: 1_700_000_100,
            from: Phase::AddingUsers { index: 0 },
            to: Phase::AddingUsers { index: 1 },
            note: None,
            checkpoint: checkpoint(),
            secrets: None,
        };
        let payload = transition_payload(&t);
        let back = stored_transition(&payload).unwrap();
        assert_eq!(back.phase, Phase::AddingUsers { index: 1 });
        assert_eq!(back.seq, 17);
        assert_eq!(back.checkpoint, checkpoint());
    }

    #[test]
    fn payloads_without_a_checkpoint_are_not_resumable() {
        assert_eq!(stored_transition(&json!({ "seq": 1, "from": "x" })), None);
        let mut bad = transition_payload(&Transition {
            seq: 1,
            at: 0,
            from: Phase::Discovered,
            to: Phase::CheckingFit,
            note: None,
            checkpoint: checkpoint(),
            secrets: None,
        });
        bad["phase"]["name"] = json!("no-such-phase");
        assert_eq!(stored_transition(&bad), None);
    }
}
