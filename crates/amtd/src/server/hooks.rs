//! The provisioning runner's hooks: persist each transition (and the device's secrets) to the
//! store before the next network call, sign CSRs and revoke certificates with the embedded CA.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use amt_pki::{RevocationReason, Serial, VerifiedCsr};
use amtd_core::provisioning::Transition;
use amtd_core::{DeviceId, Fqdn};
use amtd_infra::provision_runner::ProvisioningHooks;
use amtd_infra::store::{NewTransition, RunId, SecretKind};

use super::ServerCore;

/// Hooks for one provisioning run of one device.
pub(super) struct ServerHooks {
    core: Arc<ServerCore>,
    uuid: String,
    run_id: RunId,
    handle: tokio::runtime::Handle,
}

impl ServerHooks {
    /// Hooks for `uuid`'s run `run_id` (call from within the runtime).
    pub(super) fn new(core: Arc<ServerCore>, uuid: &str, run_id: RunId) -> Self {
        Self {
            core,
            uuid: uuid.to_owned(),
            run_id,
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// Runs a store call from the runner's synchronous hooks (the runner runs on a
    /// multi-threaded runtime, so blocking this worker briefly is allowed).
    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        tokio::task::block_in_place(|| self.handle.block_on(f))
    }
}

impl ProvisioningHooks for ServerHooks {
    fn persist(&mut self, t: &Transition) -> Result<(), String> {
        let store = &self.core.store;
        if let Some(secrets) = &t.secrets {
            self.block(store.put_secret(&self.uuid, SecretKind::Admin, &secrets.admin_password))
                .map_err(|e| e.to_string())?;
            if let Some(mebx) = &secrets.mebx_password {
                self.block(store.put_secret(&self.uuid, SecretKind::Mebx, mebx))
                    .map_err(|e| e.to_string())?;
            }
        }
        let at = UNIX_EPOCH + Duration::from_secs(t.at);
        self.block(store.append_transition(&NewTransition {
            run_id: self.run_id.clone(),
            phase: t.to.to_string(),
            reason: t.note.clone(),
            payload: super::recovery::transition_payload(t),
            at,
        }))
        .map(|_| ())
        .map_err(|e| e.to_string())?;
        if t.from != t.to || t.seq == 1 {
            self.core.crash_point(t.to, false);
        }
        Ok(())
    }

    fn on_reply(&mut self, phase: amtd_core::Phase) {
        self.core.crash_point(phase, true);
    }

    fn sign(
        &mut self,
        csr_der: &[u8],
        fqdn: &Fqdn,
        uuid: &DeviceId,
    ) -> Result<(Vec<u8>, Serial), String> {
        let csr = VerifiedCsr::from_der(csr_der).map_err(|e| e.to_string())?;
        let mut pki = self
            .core
            .pki
            .lock()
            .map_err(|_| "the CA store lock is poisoned".to_owned())?;
        let cert = pki
            .issue_device_from_csr(&csr, fqdn.as_str(), &uuid.to_string())
            .map_err(|e| e.to_string())?;
        drop(pki);
        // `issuing-certificate+reply`: the CA signed, the run has not recorded it.
        self.core
            .crash_point(amtd_core::Phase::IssuingCertificate, true);
        Ok((cert.der().to_vec(), cert.serial()))
    }

    fn revoke(&mut self, serial: &Serial, reason: RevocationReason) {
        if let Ok(mut pki) = self.core.pki.lock() {
            if let Err(e) = pki.revoke(serial, reason) {
                tracing::error!(error = %e, "could not revoke a certificate");
            }
        }
    }
}
