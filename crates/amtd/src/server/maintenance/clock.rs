//! Device clock re-sync (M11): `GetLowAccuracyTimeSynch`, and when the device is off by more
//! than `clock_skew_secs`, `SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)` with the server's real
//! clock (amtd-core `maintenance::clock`). Devices whose profile turned `clock_sync` off are
//! left alone.

use std::time::{SystemTime, UNIX_EPOCH};

use amt_wsman::classes::amt::{
    GetLowAccuracyTimeSynchInput, GetLowAccuracyTimeSynchOutput, SetHighAccuracyTimeSynchInput,
    SetHighAccuracyTimeSynchOutput,
};
use amt_wsman::SelectorSet;
use amtd_core::maintenance::clock::{needs_sync, set_arguments, skew_secs};
use amtd_core::maintenance::Task;
use amtd_infra::device_tls::DeviceAccess;
use anyhow::Context as _;
use serde_json::json;

use super::crl::status;
use super::{Ctx, Outcome};

const TASK: Task = Task::SyncClock;

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Whether the device's profile keeps its clock in sync (true when unknown).
async fn profile_syncs(ctx: &Ctx, uuid: &str) -> bool {
    let store = ctx.core.store();
    let Ok(Some(device)) = store.get_device(uuid).await else {
        return true;
    };
    let Some(name) = device.profile else {
        return true;
    };
    match super::super::profiles::get(store, &name).await {
        Ok(Some(doc)) => doc.clock_sync,
        _ => true,
    }
}

/// Sets the device clock when it is off by more than the policy allows.
pub(super) async fn sync(ctx: &Ctx, access: &DeviceAccess) -> anyhow::Result<(Outcome, String)> {
    if !profile_syncs(ctx, &access.uuid).await {
        return Ok((
            Outcome::Unchanged,
            "the device's profile does not keep its clock in sync".into(),
        ));
    }
    let client = access.client(ctx.transport)?;
    let timeout = ctx.transport.request_timeout;
    let result = async {
        let out: GetLowAccuracyTimeSynchOutput = client
            .invoke(
                &GetLowAccuracyTimeSynchInput::default(),
                SelectorSet::new(),
                timeout,
            )
            .await?;
        status(out.return_value, "GetLowAccuracyTimeSynch")?;
        let tm1 = real_now();
        let ta0 = out.ta0.context("GetLowAccuracyTimeSynch returned no Ta0")?;
        let skew = skew_secs(u64::from(ta0), tm1);
        if !needs_sync(skew, ctx.policy.clock_skew) {
            return Ok((Outcome::Unchanged, format!("in sync (off by {skew} s)")));
        }
        let op = ctx
            .start_op(access, TASK, "setting-clock", json!({ "skew_secs": skew }))
            .await?;
        let (ta0, tm1, tm2) = set_arguments(ta0, tm1, real_now());
        let set = async {
            let out: SetHighAccuracyTimeSynchOutput = client
                .invoke(
                    &SetHighAccuracyTimeSynchInput::new(ta0, tm1, tm2),
                    SelectorSet::new(),
                    timeout,
                )
                .await?;
            status(out.return_value, "SetHighAccuracyTimeSynch")
        }
        .await;
        match set {
            Ok(()) => {
                let detail = format!("set: the device clock was off by {skew} s");
                ctx.finish(&op, "synced", Some(&detail)).await;
                Ok((Outcome::Done, detail))
            }
            Err(e) => {
                ctx.finish(&op, "failed", Some(&format!("{e:#}"))).await;
                Err(e)
            }
        }
    }
    .await;
    client.connection().close().await;
    result
}
