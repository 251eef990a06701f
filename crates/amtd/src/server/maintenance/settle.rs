//! Settling maintenance operations a stopped server (or a failed step) left unfinished, by
//! asking the device what took effect (amtd-core `maintenance::rotation::settle`,
//! `maintenance::renewal::resume`):
//!
//! - a **rotation**: the new password is tried, then the old one; the one the device accepts
//!   is (or is stored again as) the newest secret version; nothing is deleted;
//! - a **renewal**: if the device serves the new certificate the renewal is completed (the old
//!   certificate superseded and revoked), else the new certificate (if the CA signed one) is
//!   revoked and a later pass renews again;
//! - a **CRL push** or **clock sync**: closed; the next pass looks at the device afresh.
//!
//! A device that cannot be reached leaves its operation for the next pass.

use std::sync::Arc;
use std::time::SystemTime;

use amt_pki::{CertState, Purpose, RevocationReason, Serial};
use amtd_core::maintenance::renewal::{self, RenewalPhase, Resume};
use amtd_core::maintenance::rotation::{self, Probe, Settlement};
use amtd_core::maintenance::Task;
use amtd_infra::device_tls::{device_access, ConsoleTls, DeviceAccess};
use amtd_infra::store::{MaintenanceOp, MaintenanceOpId, SecretKind};
use amtd_infra::transport::TransportConfig;
use serde_json::Value;

use super::{policy_of, rotate, Ctx, Outcome, ServerCore, TaskReport};

fn version(payload: &Value, key: &str) -> Option<u32> {
    payload
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

impl ServerCore {
    /// Settles every unfinished maintenance operation (of `devices` only, when given).
    pub(super) async fn settle_unfinished(
        self: &Arc<Self>,
        tls: &ConsoleTls,
        devices: Option<&[String]>,
    ) -> Vec<TaskReport> {
        let open = match self.store().unfinished_maintenance().await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "cannot read unfinished maintenance operations");
                return Vec::new();
            }
        };
        let ctx = Ctx {
            core: self.clone(),
            // Settling records its reports through its caller (`audit_task`).
            actor: super::SERVER_ACTOR.to_owned(),
            tls: tls.clone(),
            now: SystemTime::now(),
            policy: policy_of(&self.maintenance_config()),
            transport: super::transport(),
            crl: None,
        };
        let mut out = Vec::new();
        for op in open {
            if devices.is_some_and(|d| !d.contains(&op.device_uuid)) {
                continue;
            }
            let task = Task::from_name(&op.task);
            let (outcome, detail) = ctx.settle(&op).await;
            out.push(TaskReport {
                device: op.device_uuid.clone(),
                task: task.map_or_else(|| op.task.clone(), |t| t.name().to_owned()),
                outcome,
                detail,
            });
        }
        out
    }
}

impl Ctx {
    async fn settle(&self, op: &MaintenanceOp) -> (Outcome, String) {
        let task = Task::from_name(&op.task);
        if matches!(task, Some(Task::PushCrl | Task::SyncClock) | None) {
            let reason = "interrupted; the next pass looks at the device again";
            self.finish(&op.id, "interrupted", Some(reason)).await;
            return (Outcome::Deferred, reason.to_owned());
        }
        let access = match device_access(self.core.store(), &self.tls, &op.device_uuid).await {
            Ok(a) => a,
            Err(e) => {
                return (
                    Outcome::Deferred,
                    format!("cannot settle yet ({e}); the next pass tries again"),
                )
            }
        };
        match task {
            Some(Task::RotateAdminPassword) => {
                self.core
                    .settle_rotation(&op.id, &op.payload, &access, self.transport)
                    .await
            }
            Some(Task::RenewCertificate) => self.settle_renewal(op, &access).await,
            _ => (Outcome::Deferred, String::new()),
        }
    }

    /// Ends an interrupted renewal by what the device serves.
    pub(super) async fn settle_renewal(
        &self,
        op: &MaintenanceOp,
        access: &DeviceAccess,
    ) -> (Outcome, String) {
        let p = &op.payload;
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let phase = RenewalPhase::from_name(&op.phase).unwrap_or(RenewalPhase::ReadingKeys);
        let new_serial = text("new_serial").and_then(|h| Serial::from_hex(&h).ok());
        let cert_der = text("cert_der").and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        });
        let old_serial = text("old_serial").and_then(|h| Serial::from_hex(&h).ok());
        let known = new_serial.is_some() && cert_der.is_some();
        let serves_new = match &cert_der {
            Some(der) => super::renew::serves(self, access, der).await,
            None => None,
        };
        match renewal::resume(phase, known, serves_new) {
            Resume::Complete => {
                let (Some(old), Some(new)) = (old_serial, new_serial) else {
                    return (
                        Outcome::Failed,
                        "the stored renewal lacks its serials".into(),
                    );
                };
                match super::renew::retire(self, &op.id, access, &old, &new).await {
                    Ok(detail) => (Outcome::Done, detail),
                    Err(e) => (Outcome::Failed, format!("{e:#}")),
                }
            }
            Resume::RevokeNew => {
                if let Some(new) = &new_serial {
                    self.revoke(new);
                }
                let reason = "interrupted before the device served the new certificate; it was \
                              revoked and the old one stays in force (a later pass renews again)";
                self.finish(&op.id, "abandoned", Some(reason)).await;
                (Outcome::Failed, reason.to_owned())
            }
            Resume::Abandon => {
                // The CA may have signed without the operation recording it: revoke what it
                // signed for this device since the operation began and never installed.
                let since = op
                    .started_at
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let orphans: Vec<Serial> = self
                    .core
                    .with_pki(|pki| {
                        pki.ledger()
                            .for_device(&access.uuid)
                            .filter(|e| e.purpose == Purpose::DeviceTls)
                            .filter(|e| matches!(e.state, CertState::Issued))
                            .filter(|e| e.issued_at >= since)
                            .map(|e| e.serial.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for s in &orphans {
                    self.revoke(s);
                }
                let reason = "interrupted before a new certificate was installed; the old one \
                              stays in force (a later pass renews again)";
                self.finish(&op.id, "abandoned", Some(reason)).await;
                (Outcome::Failed, reason.to_owned())
            }
            Resume::Later => (
                Outcome::Deferred,
                "the device could not be asked which certificate it serves; the next pass \
                 tries again"
                    .to_owned(),
            ),
        }
    }

    fn revoke(&self, serial: &Serial) {
        let done = self.core.with_pki(|pki| {
            let unused = pki
                .ledger()
                .get(serial)
                .is_some_and(|e| !matches!(e.state, CertState::Revoked { .. }));
            if unused {
                pki.revoke(serial, RevocationReason::ProvisioningFailed)
            } else {
                Ok(())
            }
        });
        match done {
            Some(Ok(())) => self.core.request_crl_push(),
            Some(Err(e)) => tracing::error!(%serial, error = %e, "could not revoke a certificate"),
            None => tracing::error!("the CA store lock is poisoned"),
        }
    }
}

impl ServerCore {
    /// Ends a rotation by which password the device accepts (see the module doc). Returns
    /// `Done` when the new password is in force.
    pub(super) async fn settle_rotation(
        &self,
        op: &MaintenanceOpId,
        payload: &Value,
        access: &DeviceAccess,
        transport: TransportConfig,
    ) -> (Outcome, String) {
        let store = self.store();
        let uuid = access.uuid.as_str();
        let Some(old_version) = version(payload, "old_version") else {
            return (
                Outcome::Failed,
                "the stored rotation names no old version".into(),
            );
        };
        let read = |v| store.get_secret_version(uuid, SecretKind::Admin, v);
        let old = match read(old_version).await {
            Ok(Some(pw)) => pw,
            other => {
                return (
                    Outcome::Deferred,
                    format!("cannot read password version {old_version}: {other:?}"),
                )
            }
        };
        let new_version = version(payload, "new_version");
        let new = match new_version {
            Some(v) => read(v).await.ok().flatten(),
            None => None,
        };
        let new_probe = match &new {
            Some(pw) => {
                Some(rotate::probe(&access.clone().with_password(pw.clone()), transport).await)
            }
            None => None,
        };
        let old_probe = if new_probe == Some(Probe::Accepted) {
            None
        } else {
            Some(rotate::probe(&access.clone().with_password(old.clone()), transport).await)
        };
        let finish = |outcome: &'static str, reason: String| async move {
            if let Err(e) = store
                .finish_maintenance(op, outcome, Some(&reason), SystemTime::now())
                .await
            {
                tracing::error!(error = %e, "could not close a rotation");
            }
            reason
        };
        match rotation::settle(new_probe, old_probe) {
            Settlement::Rotated => {
                let v = new_version.unwrap_or_default();
                let reason = format!("the device accepts the new password (version {v})");
                (Outcome::Done, finish("rotated", reason).await)
            }
            Settlement::Reverted => {
                // The newest stored version must be the one that works.
                let newest = store
                    .secret_versions(uuid, SecretKind::Admin)
                    .await
                    .ok()
                    .and_then(|v| v.last().map(|v| v.version));
                let again = if newest == Some(old_version) {
                    Ok(old_version)
                } else {
                    store.put_secret(uuid, SecretKind::Admin, &old).await
                };
                match again {
                    Ok(v) => {
                        let reason = format!(
                            "the new password never took effect; the old one (version \
                             {old_version}, stored again as version {v}) is in force"
                        );
                        (Outcome::Failed, finish("reverted", reason).await)
                    }
                    Err(e) => (
                        Outcome::Deferred,
                        format!("the old password works but could not be stored again: {e}"),
                    ),
                }
            }
            Settlement::Later => (
                Outcome::Deferred,
                "the device could not be reached to settle the rotation; the next pass tries \
                 again (both passwords stay stored)"
                    .to_owned(),
            ),
            Settlement::Neither => {
                let reason = format!(
                    "the device refuses both the new and the old password (versions {} and \
                     {old_version} stay in the store)",
                    new_version.map_or("-".to_owned(), |v| v.to_string())
                );
                (Outcome::Failed, finish("failed", reason).await)
            }
        }
    }
}
