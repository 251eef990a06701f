//! The REST API (JSON, versioned under `/api/v1`; users, roles, tokens and sessions checked by
//! the auth layer against the route table: [`super::auth`], [`super::routes`]) and the CRL distribution
//! point (`/crl/issuing.crl`, `/crl/root.crl`, no auth: devices and consoles fetch it).
//!
//! Routes: `GET /api/v1/devices`, `GET /api/v1/devices/{uuid}` (with the provisioning runs and
//! timeline), `POST /api/v1/devices/{uuid}/reveal-password` (audited),
//! `GET /api/v1/hellos?device=&limit=`, and the management profiles: `GET /api/v1/profiles`,
//! `GET|PUT|DELETE /api/v1/profiles/{name}` (writes validated, bodies at most
//! [`profiles::MAX_BODY`] bytes, audited; digest and MEBx passwords are write-only and never
//! appear in an answer; the server's active profile cannot be deleted). Only this module maps
//! errors to HTTP statuses.
//!
//! Privileged actions are recorded in the audit log ([`AuditLog`]) as `started` before they
//! are attempted and with their result after; when the audit log cannot be written the action
//! is refused with 503 and nothing is done.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use amt_pki::CaRole;
use amtd_infra::store::{Device, DeviceFilter, HelloFilter, SecretKind};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use amtd_infra::store::AuditResult;

use super::auth::Caller;
use super::discovery::{AuditLog, AuditUnavailable};
use super::profiles::{self, ProfileDoc, Source, WriteError};
use super::ServerCore;

#[path = "api_console.rs"]
mod api_console;
#[path = "api_defense.rs"]
mod api_defense;

/// What the handlers share.
#[derive(Clone)]
struct ApiState {
    core: Arc<ServerCore>,
    audit: AuditLog,
}

/// An error answer: status and a message in plain words (`{"error": "..."}`).
pub(super) struct ApiError(pub(super) StatusCode, pub(super) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "API request failed");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The audit log cannot be written: 503, nothing done.
pub(super) fn audit_refused(e: AuditUnavailable) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The audit result of an attempted action.
fn audit_result<T, E: std::fmt::Display>(r: &Result<T, E>) -> AuditResult {
    match r {
        Ok(_) => AuditResult::Ok,
        Err(e) => AuditResult::Failed(e.to_string()),
    }
}

pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub(crate) fn device_json(d: &Device) -> Value {
    json!({
        "uuid": d.uuid,
        "fqdn": d.fqdn,
        "address": d.address,
        "state": d.state,
        "profile": d.profile,
        "firmware_version": d.firmware_version,
        "created_at": unix(d.created_at),
        "updated_at": unix(d.updated_at),
    })
}

/// Checks a path UUID (canonical 8-4-4-4-12 hex) and lowercases it.
pub(super) fn uuid_param(raw: &str) -> Result<String, ApiError> {
    let ok = raw.len() == 36
        && raw.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if !ok {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("not a device UUID: {raw:?}"),
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

/// The router: API and CRL distribution point, every route behind the auth layer; SOL
/// sessions bounded by `sol`.
pub fn router(
    core: Arc<ServerCore>,
    auth: Arc<super::auth::Auth>,
    audit: AuditLog,
    sol: super::api_sol::SolLimits,
) -> Router {
    let core_for_events = core.clone();
    let state = ApiState { core, audit };
    let maintenance = super::api_maintenance::router(state.core.clone(), state.audit.clone());
    let pki = super::api_pki::router(state.core.clone(), state.audit.clone());
    let sol = super::api_sol::router(state.core.clone(), auth.clone(), state.audit.clone(), sol);
    Router::new()
        .route("/api/v1/devices", get(list_devices))
        .route("/api/v1/devices/{uuid}", get(show_device))
        .route(
            "/api/v1/devices/{uuid}/reveal-password",
            post(reveal_password),
        )
        .route("/api/v1/hellos", get(list_hellos))
        .route("/api/v1/profiles", get(list_profiles))
        .route(
            "/api/v1/profiles/{name}",
            get(show_profile)
                .put(put_profile)
                .delete(delete_profile)
                .layer(DefaultBodyLimit::max(profiles::MAX_BODY)),
        )
        .route("/api/v1/trust/redirection.pem", get(trust_pem))
        .route(
            "/api/v1/console-certificates",
            post(issue_console_certificate),
        )
        .route("/crl/{file}", get(crl))
        .merge(api_defense::routes())
        .merge(api_console::routes())
        .with_state(state)
        .merge(maintenance)
        .merge(pki)
        .merge(super::api_users::routes(auth.clone()))
        .merge(sol)
        .merge(super::api_audit::routes(core_for_events.clone()))
        .merge(super::api_events::routes(core_for_events))
        .merge(super::web::routes())
        .layer(axum::middleware::from_fn_with_state(
            auth,
            super::auth::layer,
        ))
        .layer(axum::middleware::from_fn(super::headers::layer))
}

/// Serves the router on an already bound listener until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn list_devices(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    let mut filter = DeviceFilter::default();
    loop {
        let page = s
            .core
            .store()
            .list_devices(&filter)
            .await
            .map_err(internal)?;
        let full = page.len() as u32 >= filter.limit;
        out.extend(page.iter().map(device_json));
        match page.last() {
            Some(last) if full => filter.after = Some(last.uuid.clone()),
            _ => break,
        }
    }
    Ok(Json(Value::Array(out)))
}

async fn show_device(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let store = s.core.store();
    let Some(d) = store.get_device(&uuid).await.map_err(internal)? else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no device {uuid}")));
    };
    let runs: Vec<Value> = store
        .runs(&uuid)
        .await
        .map_err(internal)?
        .iter()
        .map(|r| {
            json!({
                "run_id": r.run_id.0,
                "started_at": unix(r.started_at),
                "finished_at": r.finished_at.map(unix),
                "outcome": r.outcome,
                "reason": r.reason,
            })
        })
        .collect();
    let timeline: Vec<Value> = store
        .timeline(&uuid)
        .await
        .map_err(internal)?
        .iter()
        .map(|t| {
            json!({
                "run_id": t.run_id.0,
                "seq": t.seq,
                "phase": t.phase,
                "reason": t.reason,
                "at": unix(t.at),
            })
        })
        .collect();
    let mut v = device_json(&d);
    v["runs"] = Value::Array(runs);
    v["timeline"] = Value::Array(timeline);
    Ok(Json(v))
}

async fn reveal_password(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    // During an unsettled password rotation the newest version may not be on the device yet:
    // reveal the version in force.
    let store = s.core.store();
    let secret = match amtd_infra::device_tls::admin_password_versions(store, &uuid)
        .await
        .map_err(internal)?
    {
        Some((in_force, _)) => store
            .get_secret_version(&uuid, SecretKind::Admin, in_force)
            .await
            .map_err(internal)?,
        None => store
            .get_secret(&uuid, SecretKind::Admin)
            .await
            .map_err(internal)?,
    };
    let Some(secret) = secret else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no admin password stored for device {uuid}"),
        ));
    };
    // The audit record is written before the password leaves: no record, no password.
    s.audit
        .record(
            &caller.name,
            "reveal-password",
            Some(&uuid),
            AuditResult::Started,
            json!({}),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    s.audit
        .outcome(
            &caller.name,
            "reveal-password",
            Some(&uuid),
            AuditResult::Ok,
            json!({}),
            Some(peer),
        )
        .await;
    tracing::info!(device.uuid = %uuid, peer = %peer, "admin password revealed (audited)");
    Ok(Json(
        json!({ "uuid": uuid, "admin_password": secret.expose() }),
    ))
}

/// `GET /api/v1/hellos` query.
#[derive(Debug, Deserialize)]
struct HelloQuery {
    device: Option<String>,
    limit: Option<u32>,
}

async fn list_hellos(
    State(s): State<ApiState>,
    Query(q): Query<HelloQuery>,
) -> Result<Json<Value>, ApiError> {
    let device_uuid = q.device.as_deref().map(uuid_param).transpose()?;
    let filter = HelloFilter {
        device_uuid,
        limit: q.limit.unwrap_or(100).min(DeviceFilter::MAX_LIMIT),
    };
    let hellos = s.core.store().hellos(&filter).await.map_err(internal)?;
    Ok(Json(Value::Array(
        hellos
            .iter()
            .map(|h| {
                json!({
                    "id": h.id,
                    "uuid": h.device_uuid,
                    "source": h.source,
                    "received_at": unix(h.received_at),
                    "retry_count": h.retry_count,
                    "hashes": h.hashes,
                    "outcome": h.outcome,
                    // Connections this row stands for (rejections are folded per interval).
                    "count": h.count,
                })
            })
            .collect(),
    )))
}

async fn list_profiles(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let store = s.core.store();
    let active = s.core.active_profile();
    let mut out = Vec::new();
    for name in store.list_profiles().await.map_err(internal)? {
        let mut row = json!({ "name": name, "active": name == active });
        match profiles::get(store, &name).await {
            Ok(doc) => row["profile"] = serde_json::to_value(doc).map_err(internal)?,
            Err(e) => {
                row["profile"] = Value::Null;
                row["error"] = e.into();
            }
        }
        out.push(row);
    }
    Ok(Json(Value::Array(out)))
}

/// Checks a path profile name.
fn profile_param(raw: &str) -> Result<&str, ApiError> {
    crate::config::profile_name(raw).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))
}

/// `GET /api/v1/profiles/{name}`: the stored document, as PUT takes it (no passwords).
async fn show_profile(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = profile_param(&name)?;
    match profiles::get(s.core.store(), name)
        .await
        .map_err(internal)?
    {
        Some(doc) => Ok(Json(serde_json::to_value(doc).map_err(internal)?)),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no profile {name:?}"),
        )),
    }
}

/// `PUT /api/v1/profiles/{name}`: creates or replaces a profile (201 or 200 with the stored
/// document). Refused with 400 and every problem listed when the document is invalid.
async fn put_profile(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = profile_param(&name)?.to_owned();
    let body = body.map_err(|e| {
        ApiError(
            e.status(),
            format!(
                "could not read the profile document (at most {} bytes): {e}",
                profiles::MAX_BODY
            ),
        )
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let doc: ProfileDoc = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("not a profile document{at}: {}", e.into_inner()),
        )
    })?;
    let trust = s
        .core
        .server_trust()
        .ok_or_else(|| internal("the CA store is unavailable"))?;
    let store = s.core.store();
    let prepared = profiles::prepare(store, &trust, &name, doc, Source::Api)
        .await
        .map_err(write_error)?;
    // Audited before the change is made: no record, no change.
    let detail = json!({ "profile": name });
    s.audit
        .record(
            &caller.name,
            "profile-put",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let created = prepared.created();
    let stored = profiles::commit(store, prepared).await;
    s.audit
        .outcome(
            &caller.name,
            "profile-put",
            None,
            audit_result(&stored),
            detail,
            Some(peer),
        )
        .await;
    let stored = stored.map_err(write_error)?;
    tracing::info!(profile = %name, peer = %peer, created, "profile written (audited)");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::to_value(stored).map_err(internal)?),
    )
        .into_response())
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Invalid(m) => ApiError(StatusCode::BAD_REQUEST, m),
        WriteError::Store(e) => internal(e),
    }
}

/// `DELETE /api/v1/profiles/{name}`: 409 for the profile the server provisions with.
async fn delete_profile(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = profile_param(&name)?.to_owned();
    if name == s.core.active_profile() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "profile {name:?} is the one this server provisions devices with; it cannot be \
                 deleted (edit it instead, or change the server's profile)"
            ),
        ));
    }
    let store = s.core.store();
    if !store
        .list_profiles()
        .await
        .map_err(internal)?
        .contains(&name)
    {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no profile {name:?}"),
        ));
    }
    let detail = json!({ "profile": name });
    s.audit
        .record(
            &caller.name,
            "profile-delete",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let existed = profiles::delete(store, &name).await;
    s.audit
        .outcome(
            &caller.name,
            "profile-delete",
            None,
            audit_result(&existed),
            detail,
            Some(peer),
        )
        .await;
    let existed = existed.map_err(internal)?;
    tracing::info!(profile = %name, peer = %peer, "profile deleted (audited)");
    Ok(Json(json!({ "deleted": name, "existed": existed })))
}

async fn crl(State(s): State<ApiState>, Path(file): Path<String>) -> Response {
    let role = match file.as_str() {
        "issuing.crl" => CaRole::Issuing,
        "root.crl" => CaRole::Root,
        _ => return ApiError(StatusCode::NOT_FOUND, "no such CRL".into()).into_response(),
    };
    let Some(path) = s.core.crl_path(role) else {
        return ApiError(StatusCode::NOT_FOUND, "no such CRL".into()).into_response();
    };
    match std::fs::read(path) {
        Ok(der) => ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response(),
        Err(e) => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the CRL is not published yet: {e}"),
        )
        .into_response(),
    }
}

/// `GET /api/v1/trust/redirection.pem`: the PEM trust file a redirection (SOL/IDE-R) client
/// needs, in the order the device expects: issuing CA first, ending with the root (M8).
async fn trust_pem(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let pem = s
        .core
        .with_pki(|pki| pki.trust_pem())
        .ok_or_else(|| internal("the CA store is unavailable"))?
        .map_err(internal)?;
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// `POST /api/v1/console-certificates` body.
#[derive(Debug, Deserialize)]
struct ConsoleCertRequest {
    /// Subject CN of the console certificate.
    common_name: String,
    /// Password protecting the PKCS#12 (at least 8 characters).
    password: String,
}

/// `POST /api/v1/console-certificates`: issues a mutual-TLS console certificate (clientAuth +
/// the AMT console OID, M9) and returns the bundle in the order the device expects (M8): the
/// client certificate with its key as PKCS#12 (base64), then the issuing CA, then the root.
/// Audited; the key is not kept by the server.
async fn issue_console_certificate(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<ConsoleCertRequest>,
) -> Result<Json<Value>, ApiError> {
    use base64::Engine as _;
    if req.password.len() < 8 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "password must have at least 8 characters".into(),
        ));
    }
    if req.common_name.trim().is_empty() || req.common_name.len() > 64 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "common_name must have 1 to 64 characters".into(),
        ));
    }
    let detail = json!({ "common_name": req.common_name.trim() });
    s.audit
        .record(
            &caller.name,
            "issue-console-certificate",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let files = s
        .core
        .with_pki(|pki| -> Result<Vec<(String, Vec<u8>)>, String> {
            let (cert, key) = pki
                .issue_console(req.common_name.trim())
                .map_err(|e| e.to_string())?;
            let bundle = pki
                .mtls_bundle(&cert, &key, &req.password)
                .map_err(|e| e.to_string())?;
            Ok(bundle.files())
        });
    let done: Result<(), &str> = match &files {
        None => Err("the CA store is unavailable"),
        Some(Err(e)) => Err(e),
        Some(Ok(_)) => Ok(()),
    };
    s.audit
        .outcome(
            &caller.name,
            "issue-console-certificate",
            None,
            audit_result(&done),
            detail,
            Some(peer),
        )
        .await;
    let files = files
        .ok_or_else(|| internal("the CA store is unavailable"))?
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Json(json!({
        "files": files
            .iter()
            .map(|(name, data)| json!({ "name": name, "base64": b64.encode(data) }))
            .collect::<Vec<_>>()
    })))
}
