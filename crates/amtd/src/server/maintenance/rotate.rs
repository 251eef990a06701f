//! Admin password rotation (M11): escrowed, never lost.
//!
//! In order, each step stored before the call it leads to (amtd-core
//! `maintenance::rotation`): the operation with the version in force (`storing-new-password`);
//! the new password as a new secret version (`sending-new-password`); `SetAdminAclEntryEx` over
//! a session authenticated with the old password; the device answered
//! (`verifying-new-password`); a fresh session with the new password; the end. When anything
//! fails after the new password was stored, the operation is settled at once ([`super::settle`]):
//! whichever password the device accepts ends up as the newest stored version.

use std::time::Duration;

use amt_wsman::classes::amt::{
    AmtGeneralSettings, SetAdminAclEntryExInput, SetAdminAclEntryExOutput,
};
use amt_wsman::password::{generate_admin_password, random_bytes_needed, ADMIN_USERNAME};
use amt_wsman::secret::SecretString;
use amt_wsman::SelectorSet;
use amtd_core::maintenance::rotation::{self, Probe, RotationPhase};
use amtd_core::maintenance::Task;
use amtd_infra::client::WsmanError;
use amtd_infra::device_tls::{admin_password_set_at, DeviceAccess};
use amtd_infra::store::SecretKind;
use amtd_infra::transport::{TransportConfig, TransportError};
use anyhow::{bail, Context as _};
use serde_json::json;

use super::crl::status;
use super::{Ctx, Outcome};

const TASK: Task = Task::RotateAdminPassword;

/// Whether the device accepts `access`'s password: a Get of `AMT_GeneralSettings` on a new
/// session.
pub(super) async fn probe(access: &DeviceAccess, transport: TransportConfig) -> Probe {
    let client = match access.client(transport) {
        Ok(c) => c,
        Err(_) => return Probe::Unreachable,
    };
    let got = client.get::<AmtGeneralSettings>(SelectorSet::new()).await;
    client.connection().close().await;
    match got {
        Ok(_) => Probe::Accepted,
        Err(WsmanError::Transport(TransportError::AuthFailed { .. })) => Probe::Refused,
        Err(e) => {
            tracing::debug!(device.uuid = %access.uuid, error = %e, "password probe inconclusive");
            Probe::Unreachable
        }
    }
}

/// The admin password length of the device's profile (the default 16 when unknown).
async fn password_length(ctx: &Ctx, uuid: &str) -> usize {
    let store = ctx.core.store();
    let profile = match store.get_device(uuid).await {
        Ok(Some(d)) => d.profile,
        _ => None,
    };
    let doc = match profile {
        Some(name) => super::super::profiles::get(store, &name)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    doc.map_or(crate::config::DEFAULT_ADMIN_PASSWORD_LENGTH, |d| {
        d.admin_password_length
    })
    .clamp(8, 32)
}

fn days(d: Duration) -> u64 {
    d.as_secs() / 86_400
}

/// Rotates the device's admin password when it is due.
pub(super) async fn rotate(ctx: &Ctx, access: &DeviceAccess) -> anyhow::Result<(Outcome, String)> {
    let store = ctx.core.store();
    let uuid = access.uuid.as_str();
    let set_at = admin_password_set_at(store, uuid)
        .await?
        .context("no admin password is stored")?;
    let age = ctx.now.duration_since(set_at).unwrap_or_default();
    if !rotation::due(set_at, ctx.now, ctx.policy.rotate_every) {
        return Ok((
            Outcome::Unchanged,
            match ctx.policy.rotate_every {
                Some(every) => format!(
                    "not due: the password is {} days old (rotated every {} days)",
                    days(age),
                    days(every)
                ),
                None => "rotation is off".to_owned(),
            },
        ));
    }
    let old_version = store
        .secret_versions(uuid, SecretKind::Admin)
        .await?
        .last()
        .map(|v| v.version)
        .context("no admin password is stored")?;
    let len = password_length(ctx, uuid).await;

    // The realm, over a session with the password in force.
    let client = access.client(ctx.transport)?;
    let realm = client
        .get::<AmtGeneralSettings>(SelectorSet::new())
        .await
        .context("reading AMT_GeneralSettings")?
        .digest_realm
        .context("the device reports no digest realm")?;

    let op = ctx
        .start_op(
            access,
            TASK,
            RotationPhase::Storing.name(),
            json!({ "old_version": old_version }),
        )
        .await?;
    let mut random = vec![0u8; random_bytes_needed(len)];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let new: SecretString = generate_admin_password(&random, len)?;
    random.iter_mut().for_each(|b| *b = 0);
    let new_version = store.put_secret(uuid, SecretKind::Admin, &new).await?;
    let payload = json!({ "old_version": old_version, "new_version": new_version });
    ctx.step(&op, TASK, RotationPhase::Sending.name(), &payload)
        .await?;

    let ha1 = amt_wsman::digest::ha1(ADMIN_USERNAME, &realm, new.expose());
    let sent: anyhow::Result<()> = async {
        let out: SetAdminAclEntryExOutput = client
            .invoke(
                &SetAdminAclEntryExInput::new(ADMIN_USERNAME, &ha1),
                SelectorSet::new(),
                ctx.transport.request_timeout,
            )
            .await?;
        status(out.return_value, "SetAdminAclEntryEx")
    }
    .await;
    client.connection().close().await;
    if let Err(e) = sent {
        // Maybe applied, maybe not: the device decides which password stays.
        let settled = ctx
            .core
            .settle_rotation(&op, &payload, access, ctx.transport)
            .await;
        bail!("SetAdminAclEntryEx failed ({e:#}); {}", settled.1);
    }
    ctx.core
        .maintenance_crash_point(TASK, RotationPhase::Sending.name(), true);
    ctx.step(&op, TASK, RotationPhase::Verifying.name(), &payload)
        .await?;

    let (outcome, detail) = ctx
        .core
        .settle_rotation(&op, &payload, access, ctx.transport)
        .await;
    match outcome {
        Outcome::Done => Ok((
            Outcome::Done,
            format!("rotated: admin password version {old_version} → {new_version}; {detail}"),
        )),
        _ => bail!("the new password was sent but {detail}"),
    }
}
