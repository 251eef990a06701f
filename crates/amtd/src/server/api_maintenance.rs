//! The maintenance part of the REST API (M9–M11), merged into [`super::api::router`]. Same
//! auth layer (`auth.rs`); every change is written to the audit log before it is made.
//!
//! - `POST /api/v1/maintenance/run` `{"tasks": [...], "devices": [...], "as_of": …}`: one pass
//!   now, answered with its report. `tasks` defaults to all (`push-crl`, `renew-certificate`,
//!   `rotate-admin-password`, `sync-clock`), `devices` to every provisioned device. `as_of`
//!   (seconds since the Unix epoch, or `YYYY-MM-DDTHH:MM:SSZ`) evaluates the policies as of that
//!   time instead of now: renew what expires within the window of that date, rotate what is
//!   older than the schedule by then. Device clocks are always set to the real time.
//! - `GET /api/v1/maintenance?device=&task=&limit=`: the recorded operations, newest first.
//! - `GET /api/v1/maintenance/devices/{uuid}`: a device's admin password versions (never the
//!   values), the version in force, and its operations.
//! - `POST /api/v1/certificates/{serial}/revoke` `{"reason": "key-compromise"}`: revokes a
//!   certificate of the embedded CA, publishes the CRLs and starts a CRL push.
//! - `GET /api/v1/console-certificate`: the server's own mutual-TLS console certificate (PEM,
//!   serial, CN, expiry), issued now if there is none.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amt_pki::{RevocationReason, Serial};
use amtd_core::maintenance::{FixedClock, Task};
use amtd_infra::device_tls::admin_password_versions;
use amtd_infra::store::{AuditResult, MaintenanceFilter, SecretKind};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{audit_refused, internal, ApiError};
use super::auth::Caller;
use super::discovery::AuditLog;
use super::maintenance::{Requester, SystemClock};
use super::ServerCore;

#[derive(Clone)]
struct MState {
    core: Arc<ServerCore>,
    audit: AuditLog,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The maintenance routes, to merge into the API router.
pub fn router(core: Arc<ServerCore>, audit: AuditLog) -> Router {
    Router::new()
        .route("/api/v1/maintenance/run", post(run))
        .route("/api/v1/maintenance", get(list))
        .route("/api/v1/maintenance/devices/{uuid}", get(device))
        .route("/api/v1/certificates/{serial}/revoke", post(revoke))
        .route("/api/v1/console-certificate", get(console_certificate))
        .with_state(MState { core, audit })
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `as_of`: seconds since the epoch, or `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn parse_as_of(v: &Value) -> Result<SystemTime, String> {
    if let Some(n) = v.as_u64() {
        return Ok(UNIX_EPOCH + Duration::from_secs(n));
    }
    let text = v
        .as_str()
        .ok_or("as_of: give seconds since the Unix epoch or \"YYYY-MM-DDTHH:MM:SSZ\"")?;
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    let parts = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    );
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = parts else {
        return Err(format!("as_of: {text:?} is not YYYY-MM-DDTHH:MM:SSZ"));
    };
    if !shape || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(format!("as_of: {text:?} is not YYYY-MM-DDTHH:MM:SSZ"));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let secs = u64::try_from(secs).map_err(|_| format!("as_of: {text:?} is before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

/// `POST /api/v1/maintenance/run` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RunRequest {
    tasks: Option<Vec<String>>,
    devices: Option<Vec<String>>,
    as_of: Option<Value>,
}

async fn run(
    State(s): State<MState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: RunRequest = if body.is_empty() {
        RunRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid request: {e}")))?
    };
    let tasks = match &req.tasks {
        None => Task::ALL.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                Task::from_name(n).ok_or_else(|| {
                    bad(format!(
                        "unknown task {n:?} (push-crl, renew-certificate, \
                         rotate-admin-password, sync-clock)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let devices = match req.devices {
        Some(list) => {
            let mut out = Vec::new();
            for d in list {
                out.push(uuid_param(&d)?);
            }
            Some(out)
        }
        None => None,
    };
    let as_of = req
        .as_of
        .as_ref()
        .map(parse_as_of)
        .transpose()
        .map_err(bad)?;
    let detail = json!({
        "tasks": tasks.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "as_of": as_of.map(unix),
        "devices": devices.as_ref().map(Vec::len),
    });
    s.audit
        .record(
            &caller.name,
            "maintenance-run",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let by = Requester::Caller(caller.name.clone());
    let report = match as_of {
        Some(t) => {
            s.core
                .run_maintenance(&FixedClock(t), &tasks, devices, &by)
                .await
        }
        None => {
            s.core
                .run_maintenance(&SystemClock, &tasks, devices, &by)
                .await
        }
    };
    let result = match &report {
        Ok(_) => AuditResult::Ok,
        Err(e) => AuditResult::Failed(format!("{e:#}")),
    };
    s.audit
        .outcome(
            &caller.name,
            "maintenance-run",
            None,
            result,
            detail,
            Some(peer),
        )
        .await;
    let report = report.map_err(|e| internal(format!("{e:#}")))?;
    Ok(Json(serde_json::to_value(report).map_err(internal)?))
}

fn uuid_param(raw: &str) -> Result<String, ApiError> {
    let ok = raw.len() == 36
        && raw.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if !ok {
        return Err(bad(format!("not a device UUID: {raw:?}")));
    }
    Ok(raw.to_ascii_lowercase())
}

/// `GET /api/v1/maintenance` query.
#[derive(Debug, Deserialize)]
struct ListQuery {
    device: Option<String>,
    task: Option<String>,
    limit: Option<u32>,
}

fn op_json(op: &amtd_infra::store::MaintenanceOp) -> Value {
    json!({
        "id": op.id.0,
        "device": op.device_uuid,
        "task": op.task,
        "phase": op.phase,
        "payload": op.payload,
        "started_at": unix(op.started_at),
        "updated_at": unix(op.updated_at),
        "finished_at": op.finished_at.map(unix),
        "outcome": op.outcome,
        "reason": op.reason,
    })
}

async fn list(
    State(s): State<MState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let device = q.device.as_deref().map(uuid_param).transpose()?;
    let ops = s
        .core
        .store()
        .maintenance_ops(&MaintenanceFilter {
            device_uuid: device,
            task: q.task,
            outcome: None,
            limit: q.limit.unwrap_or(100),
        })
        .await
        .map_err(internal)?;
    Ok(Json(Value::Array(ops.iter().map(op_json).collect())))
}

async fn device(
    State(s): State<MState>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let store = s.core.store();
    let versions = store
        .secret_versions(&uuid, SecretKind::Admin)
        .await
        .map_err(internal)?;
    let in_force = admin_password_versions(store, &uuid)
        .await
        .map_err(internal)?;
    let ops = store
        .maintenance_ops(&MaintenanceFilter {
            device_uuid: Some(uuid.clone()),
            ..Default::default()
        })
        .await
        .map_err(internal)?;
    Ok(Json(json!({
        "uuid": uuid,
        "admin_password_versions": versions
            .iter()
            .map(|v| json!({ "version": v.version, "created_at": unix(v.created_at) }))
            .collect::<Vec<_>>(),
        "admin_password_in_force": in_force.map(|(v, _)| v),
        "admin_password_fallback": in_force.and_then(|(_, f)| f),
        "operations": ops.iter().map(op_json).collect::<Vec<_>>(),
    })))
}

/// `POST /api/v1/certificates/{serial}/revoke` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RevokeRequest {
    reason: Option<String>,
}

async fn revoke(
    State(s): State<MState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(serial): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: RevokeRequest = if body.is_empty() {
        RevokeRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid request: {e}")))?
    };
    let serial = Serial::from_hex(&serial).map_err(|e| bad(e.to_string()))?;
    let reason: RevocationReason = req
        .reason
        .as_deref()
        .unwrap_or("unspecified")
        .parse()
        .map_err(|e: amt_pki::PkiError| bad(e.to_string()))?;
    let detail = json!({ "serial": serial.to_hex(), "reason": reason.as_str() });
    s.audit
        .record(
            &caller.name,
            "revoke-certificate",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let revoked = s.core.with_pki(|pki| pki.revoke(&serial, reason));
    let result = match &revoked {
        None => AuditResult::Failed("the CA store is unavailable".into()),
        Some(Err(e)) => AuditResult::Failed(e.to_string()),
        Some(Ok(_)) => AuditResult::Ok,
    };
    s.audit
        .outcome(
            &caller.name,
            "revoke-certificate",
            None,
            result,
            detail,
            Some(peer),
        )
        .await;
    revoked
        .ok_or_else(|| internal("the CA store is unavailable"))?
        .map_err(|e| bad(e.to_string()))?;
    tracing::info!(serial = %serial.to_hex(), %reason, peer = %peer, "certificate revoked (audited)");
    // Devices learn it at the next CRL push: ask for one now.
    s.core.request_crl_push();
    Ok(Json(
        json!({ "serial": serial.to_hex(), "reason": reason.as_str(), "crl_push": "requested" }),
    ))
}

async fn console_certificate(State(s): State<MState>) -> Result<Json<Value>, ApiError> {
    let id = s
        .core
        .console_certificate()
        .map_err(|e| internal(format!("{e:#}")))?;
    let cert = id.cert();
    Ok(Json(json!({
        "serial": cert.serial().to_hex(),
        "subject": cert.subject(),
        "common_name": super::maintenance::CONSOLE_CN,
        "not_after": unix(cert.not_after()),
        "pem": cert.to_pem(),
    })))
}
