//! Device TLS certificate renewal (M11): a new key on the device, a certificate from the CA,
//! installed and switched to before the old one is superseded and revoked.
//!
//! The steps (amtd-core `maintenance::renewal`), each stored before the call it leads to:
//! the device's keys are read; `GenerateKeyPair`; the new key is read and the device signs our
//! null-signed PKCS#10 (`GeneratePKCS10RequestEx`); the CA signs (device TLS profile, the
//! device's FQDN and UUID); `AddCertificate`; Put `AMT_TLSCredentialContext` naming the new
//! certificate, so new TLS sessions on 16993 get it; a new session with the new certificate
//! pinned reads the device; the old certificate is superseded and revoked
//! (`replace_by_maintenance`, reason superseded, on the next CRL) and removed from the device
//! with its key (the device's store holds 32 certificates). A failure after the operation began
//! is settled at once by what the device serves ([`super::settle`]).

use std::time::Duration;

use amt_pki::ledger::from_unix;
use amt_pki::{CertState, Purpose, Serial, VerifiedCsr};
use amt_wsman::classes::amt::{
    key_pair_reference, AddCertificateInput, AddCertificateOutput, AmtGeneralSettings,
    AmtPublicKeyCertificate, AmtPublicPrivateKeyPair, AmtTlsCredentialContext, CsrSigningAlgorithm,
    GenerateKeyPairInput, GenerateKeyPairOutput, GeneratePkcs10RequestExInput,
    GeneratePkcs10RequestExOutput,
};
use amt_wsman::SelectorSet;
use amtd_core::maintenance::renewal::{self, null_signed_request, RenewalPhase};
use amtd_core::maintenance::Task;
use amtd_infra::client::{WsmanClient, WsmanError};
use amtd_infra::device_tls::DeviceAccess;
use amtd_infra::store::MaintenanceOpId;
use amtd_infra::transport::TransportError;
use anyhow::{bail, Context as _};
use base64::Engine as _;
use serde_json::{json, Value};

use super::crl::status;
use super::{Ctx, Outcome};

const TASK: Task = Task::RenewCertificate;

/// AMT may take a while to make a key or change its TLS credential (AMT-PROTOCOLS.md §2.5).
const SLOW: Duration = Duration::from_secs(90);

fn days_until(t: std::time::SystemTime, now: std::time::SystemTime) -> i64 {
    match t.duration_since(now) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        Err(e) => -((e.duration().as_secs() / 86_400) as i64),
    }
}

fn instance_id(epr: Option<&amt_wsman::EndpointReference>) -> Option<String> {
    epr.and_then(|e| e.selectors.get("InstanceID"))
        .map(str::to_owned)
}

/// Whether the device presents `cert_der` on a new TLS session (`None`: it could not be
/// reached). A session that gets past TLS answers yes even when the password is refused.
pub(super) async fn serves(ctx: &Ctx, access: &DeviceAccess, cert_der: &[u8]) -> Option<bool> {
    let pinned = access.clone().with_tls(ctx.tls.pinned(cert_der));
    let client = pinned.client(ctx.transport).ok()?;
    let got = client.get::<AmtGeneralSettings>(SelectorSet::new()).await;
    client.connection().close().await;
    match got {
        Ok(_) | Err(WsmanError::Transport(TransportError::AuthFailed { .. })) => Some(true),
        Err(WsmanError::Transport(TransportError::Tls { .. })) => Some(false),
        Err(_) => None,
    }
}

/// Renews the device's TLS certificate when it is due.
pub(super) async fn renew(ctx: &Ctx, access: &DeviceAccess) -> anyhow::Result<(Outcome, String)> {
    let uuid = access.uuid.as_str();
    let current = ctx
        .core
        .with_pki(|pki| {
            pki.ledger()
                .for_device(uuid)
                .filter(|e| e.purpose == Purpose::DeviceTls)
                .filter(|e| matches!(e.state, CertState::Installed { .. }))
                .filter(|e| e.superseded_by.is_none())
                .map(|e| (e.serial.clone(), e.not_after))
                .last()
        })
        .context("the CA store lock is poisoned")?;
    let Some((old_serial, not_after)) = current else {
        return Ok((
            Outcome::Unchanged,
            "no installed certificate of the embedded CA is recorded for the device".into(),
        ));
    };
    let expires = from_unix(not_after);
    if !renewal::due(expires, ctx.now, ctx.policy.renew_before) {
        return Ok((
            Outcome::Unchanged,
            format!(
                "not due: certificate {} expires in {} days (renewed {} days before)",
                old_serial.to_hex(),
                days_until(expires, ctx.now),
                ctx.policy.renew_before.as_secs() / 86_400
            ),
        ));
    }

    let client = access.client(ctx.transport)?;
    let keys: Vec<AmtPublicPrivateKeyPair> = client
        .enumerate()
        .await
        .context("reading the device's keys")?;
    let mut payload = json!({
        "old_serial": old_serial.to_hex(),
        "known_keys": keys.iter().filter_map(|k| k.instance_id.clone()).collect::<Vec<_>>(),
    });
    let op = ctx
        .start_op(
            access,
            TASK,
            RenewalPhase::GeneratingKey.name(),
            payload.clone(),
        )
        .await?;
    let result = install(ctx, access, &client, &op, &mut payload).await;
    client.connection().close().await;
    let new_serial = match result {
        Ok(s) => s,
        Err(e) => {
            let stored = ctx.core.store().maintenance_op(&op).await.ok().flatten();
            let settled = match stored {
                Some(op) => ctx.settle_renewal(&op, access).await.1,
                None => String::new(),
            };
            bail!("{e:#}; {settled}");
        }
    };
    let detail = retire(ctx, &op, access, &old_serial, &new_serial).await?;
    Ok((Outcome::Done, detail))
}

/// Generates the key, has the certificate signed, installs it and switches TLS to it, then
/// checks a new session gets it. Returns the new certificate's serial.
async fn install(
    ctx: &Ctx,
    access: &DeviceAccess,
    client: &WsmanClient,
    op: &MaintenanceOpId,
    payload: &mut Value,
) -> anyhow::Result<Serial> {
    let none = SelectorSet::new;
    let out: GenerateKeyPairOutput = client
        .invoke(&GenerateKeyPairInput::rsa_2048(), none(), SLOW)
        .await?;
    status(out.return_value, "GenerateKeyPair")?;
    let key_id =
        instance_id(out.key_pair.as_ref()).context("GenerateKeyPair returned no key reference")?;
    ctx.core
        .maintenance_crash_point(TASK, RenewalPhase::GeneratingKey.name(), true);
    payload["key_instance_id"] = json!(key_id);
    ctx.step(op, TASK, RenewalPhase::RequestingCsr.name(), payload)
        .await?;

    let key: AmtPublicPrivateKeyPair = client
        .get(SelectorSet::one("InstanceID", &key_id))
        .await
        .context("reading the new key")?;
    let public = key.public_key_der()?.context("the new key has no DERKey")?;
    let request = null_signed_request(&public, &access.fqdn).map_err(anyhow::Error::msg)?;
    let input = GeneratePkcs10RequestExInput {
        key_pair: Some(key_pair_reference(&key_id)),
        signing_algorithm: Some(CsrSigningAlgorithm::Sha256Rsa),
        null_signed_certificate_request: Some(
            base64::engine::general_purpose::STANDARD.encode(&request),
        ),
        ..Default::default()
    };
    let out: GeneratePkcs10RequestExOutput = client.invoke(&input, none(), SLOW).await?;
    status(out.return_value, "GeneratePKCS10RequestEx")?;
    let csr_der = out.request_der()?.context("no signed request")?;
    let csr = VerifiedCsr::from_der(&csr_der)
        .map_err(|e| anyhow::anyhow!("the device's PKCS#10 request does not verify: {e}"))?;
    if csr.public_key().subject_public_key.raw_bytes() != public.as_slice() {
        bail!("the device signed a request for another key");
    }
    ctx.step(op, TASK, RenewalPhase::Issuing.name(), payload)
        .await?;

    let cert = ctx
        .core
        .with_pki(|pki| pki.issue_device_from_csr(&csr, &access.fqdn, &access.uuid))
        .context("the CA store lock is poisoned")??;
    let new_serial = cert.serial();
    ctx.core
        .maintenance_crash_point(TASK, RenewalPhase::Issuing.name(), true);
    payload["new_serial"] = json!(new_serial.to_hex());
    payload["cert_der"] = json!(base64::engine::general_purpose::STANDARD.encode(cert.der()));
    ctx.step(op, TASK, RenewalPhase::AddingCertificate.name(), payload)
        .await?;

    let out: AddCertificateOutput = client
        .invoke(&AddCertificateInput::from_der(cert.der()), none(), SLOW)
        .await?;
    status(out.return_value, "AddCertificate")?;
    let cert_id = instance_id(out.created_certificate.as_ref())
        .context("AddCertificate returned no certificate reference")?;
    payload["cert_instance_id"] = json!(cert_id);
    ctx.step(op, TASK, RenewalPhase::Switching.name(), payload)
        .await?;

    client
        .put(
            &AmtTlsCredentialContext::for_certificate(&cert_id),
            none(),
            SLOW,
        )
        .await
        .context("switching TLS to the new certificate")?;
    ctx.core
        .maintenance_crash_point(TASK, RenewalPhase::Switching.name(), true);
    ctx.step(op, TASK, RenewalPhase::Verifying.name(), payload)
        .await?;

    match serves(ctx, access, cert.der()).await {
        Some(true) => {}
        Some(false) => bail!("after the switch the device still presents another certificate"),
        None => bail!("the device could not be reached after the switch"),
    }
    ctx.step(op, TASK, RenewalPhase::Retiring.name(), payload)
        .await?;
    Ok(new_serial)
}

/// The new certificate is in use: supersede and revoke the old one (it goes on the next CRL,
/// which is pushed soon), remove it and its key from the device, end the operation.
pub(super) async fn retire(
    ctx: &Ctx,
    op: &MaintenanceOpId,
    access: &DeviceAccess,
    old: &Serial,
    new: &Serial,
) -> anyhow::Result<String> {
    ctx.core
        .with_pki(|pki| pki.replace_by_maintenance(old, new))
        .context("the CA store lock is poisoned")??;
    ctx.core.request_crl_push();
    let removed = match remove_old(ctx, access, old).await {
        Ok(n) => format!("{n} old item(s) removed from the device"),
        Err(e) => format!("the old certificate could not be removed from the device: {e:#}"),
    };
    let detail = format!(
        "renewed: certificate {} replaced by {} (the old one superseded and revoked); {removed}",
        old.to_hex(),
        new.to_hex()
    );
    ctx.finish(op, "renewed", Some(&detail)).await;
    Ok(detail)
}

/// Deletes the old certificate and its key pair from the device. Returns how many items went.
async fn remove_old(ctx: &Ctx, access: &DeviceAccess, old: &Serial) -> anyhow::Result<usize> {
    let client = access.client(ctx.transport)?;
    let result = async {
        let certs: Vec<AmtPublicKeyCertificate> = client.enumerate().await?;
        let mut removed = 0;
        for c in certs {
            if c.trusted_root_certificate == Some(true) {
                continue;
            }
            let Some(cert) = c
                .certificate_der()
                .ok()
                .flatten()
                .and_then(|d| amt_pki::Cert::from_der(&d).ok())
            else {
                continue;
            };
            if cert.serial() != *old {
                continue;
            }
            if let Some(id) = &c.instance_id {
                client
                    .delete::<AmtPublicKeyCertificate>(SelectorSet::one("InstanceID", id))
                    .await
                    .context("deleting the old certificate")?;
                removed += 1;
            }
            let public = cert
                .public_key_info()
                .subject_public_key
                .raw_bytes()
                .to_vec();
            let keys: Vec<AmtPublicPrivateKeyPair> = client.enumerate().await?;
            for k in keys {
                if k.public_key_der().ok().flatten().as_deref() == Some(public.as_slice()) {
                    if let Some(id) = &k.instance_id {
                        client
                            .delete::<AmtPublicPrivateKeyPair>(SelectorSet::one("InstanceID", id))
                            .await
                            .context("deleting the old key")?;
                        removed += 1;
                    }
                }
            }
        }
        anyhow::Ok(removed)
    }
    .await;
    client.connection().close().await;
    result
}
