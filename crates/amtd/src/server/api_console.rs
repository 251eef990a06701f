//! The console API (M1, M2, M6, M7, M12), merged into the router of [`super::api`]:
//!
//! - `GET /api/v1/devices/{uuid}/power`: the power state and the actions the device offers.
//! - `POST /api/v1/power` `{"targets": T, "action": A}`: A is `status` (read only) or a
//!   [`PowerAction`] (`on`, `off`, `cycle`, `reset`, `graceful-off`, `graceful-reset`, …).
//! - `POST /api/v1/boot` `{"targets": T, "next_boot": "pxe" | "bios" | "ider-cd" |
//!   "ider-floppy"}`: arms the next boot.
//! - `POST /api/v1/inventory/refresh` `{"targets": T}`: reads the inventory, stores it with the
//!   time read, says how many items changed since the previous read.
//! - `GET /api/v1/devices/{uuid}/inventory`: the last stored inventory, its items and what
//!   changed since the read before it.
//! - `GET /api/v1/devices/{uuid}/events?limit=N`, `GET /api/v1/devices/{uuid}/audit-log?limit=N`:
//!   the logs read from the device now, decoded, newest first.
//! - `GET|PUT /api/v1/devices/{uuid}/tags` (`{"tags": [...]}`).
//! - `POST /api/v1/devices/{uuid}/adopt` `{"address", "fqdn", "scheme": "tls" | "tls-pinned" |
//!   "plain", "port", "pin_sha256", "admin_password"}`: takes over a device that is already
//!   provisioned (its password checked against the device before anything is stored).
//!
//! Targets `T` are `{"devices": [uuid or FQDN…], "tags": [...], "tag": t, "profile": p,
//! "state": s, "all": bool}`: the listed devices plus, when any query field is given, every
//! device matching all of them (`all` alone: every provisioned device). Fleet requests may set
//! `"concurrency"` (1–1024) and `"timeout_secs"` per device. They run on the console's fleet
//! executor (one operation at a time per device across the whole server) and answer one result
//! per device; with `Accept: application/x-ndjson` the answer streams a `start` line, a
//! `device` line as each device finishes (with `done`/`total`/`failed`) and an `end` line.
//!
//! Devices are reached as `device_tls` builds them (TLS verified against the CA root with the
//! FQDN, the console certificate when asked, the admin password in force, the other one when a
//! rotation is unsettled), or as their stored access says (pinned, plain). Changes (power,
//! boot, tags, adoption) are recorded in the audit log per device, `started` before they are
//! made (no record, no change: 503) and with each device's result after.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use amt_wsman::secret::SecretString;
use amtd_infra::console::boot::set_next_boot;
use amtd_infra::console::inventory::{Fields, Inventory, InventoryDiff};
use amtd_infra::console::power::{list_states, state_name};
use amtd_infra::console::{
    change_power, power_status, read_audit_log, read_event_log, read_inventory, run_fleet_items,
    ConsoleError, DeviceGate, DeviceOutcome, DeviceSession, FleetOptions, NextBoot, PowerAction,
};
use amtd_infra::device_tls::{admin_password_versions, device_access, ConsoleTls};
use amtd_infra::store::{
    check_tag, AccessScheme, Device, DeviceFilter, DeviceUpsert, SecretKind, Store, StoredAccess,
};
use amtd_infra::transport::{
    CertFingerprint, DeviceEndpoint, ServerVerification, TlsOptions, TransportConfig,
};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use crate::server::auth::Caller;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{audit_refused, internal, unix, uuid_param, ApiError, ApiState, AuditLog, AuditResult};
use crate::server::ServerCore;

/// Largest request body (target lists can name many devices).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Devices worked on at once by default.
const CONCURRENCY: usize = 64;
/// Longest one device may take by default.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most log records one read returns.
const MAX_LOG_RECORDS: usize = 1000;

/// One console operation at a time per device, across every request of this process.
pub(super) fn device_gate() -> &'static DeviceGate {
    static GATE: OnceLock<DeviceGate> = OnceLock::new();
    GATE.get_or_init(DeviceGate::new)
}

/// The console routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/devices/{uuid}/power", get(device_power))
        .route("/api/v1/power", post(fleet_power))
        .route("/api/v1/boot", post(fleet_boot))
        .route("/api/v1/inventory/refresh", post(fleet_inventory))
        .route("/api/v1/devices/{uuid}/inventory", get(device_inventory))
        .route("/api/v1/devices/{uuid}/events", get(device_events))
        .route("/api/v1/devices/{uuid}/audit-log", get(device_audit_log))
        .route("/api/v1/devices/{uuid}/tags", get(get_tags).put(put_tags))
        .route("/api/v1/devices/{uuid}/adopt", post(adopt))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// A device that could not be reached or refused: 502, the reason in words.
fn device_failed(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_GATEWAY, msg.into())
}

fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| ApiError(e.status(), format!("could not read the {what}: {e}")))?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| bad(format!("not a {what}: {e}")))
}

// ---- targets ---------------------------------------------------------------------------------

/// Which devices a fleet request is for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Targets {
    /// Device UUIDs or FQDNs.
    #[serde(default)]
    devices: Vec<String>,
    /// Only devices with every one of these tags.
    #[serde(default)]
    tags: Vec<String>,
    /// Only devices with this tag (added to `tags`).
    tag: Option<String>,
    /// Only devices provisioned with this profile.
    profile: Option<String>,
    /// Only devices in this state (`provisioned`, …).
    state: Option<String>,
    /// Every device (in state `provisioned` unless `state` says otherwise).
    #[serde(default)]
    all: bool,
}

/// The targets' devices, listed ones first (in the order given), then the query's (by UUID);
/// each once.
pub(super) async fn resolve_targets(store: &Store, t: &Targets) -> Result<Vec<Device>, ApiError> {
    let mut out: Vec<Device> = Vec::new();
    for name in &t.devices {
        let found = match uuid_param(name) {
            Ok(uuid) => store.get_device(&uuid).await.map_err(internal)?,
            Err(_) => store.device_by_fqdn(name).await.map_err(internal)?,
        };
        let Some(d) = found else {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("{name:?} is neither a known device UUID nor a known FQDN"),
            ));
        };
        if !out.iter().any(|o| o.uuid == d.uuid) {
            out.push(d);
        }
    }
    let mut tags: Vec<&String> = t.tags.iter().chain(t.tag.as_ref()).collect();
    tags.sort();
    tags.dedup();
    for tag in &tags {
        check_tag(tag).map_err(|e| bad(e.to_string()))?;
    }
    let query = t.all || t.profile.is_some() || t.state.is_some() || !tags.is_empty();
    if query {
        let state = t
            .state
            .clone()
            .or_else(|| t.all.then(|| "provisioned".to_owned()));
        let tagged: Option<BTreeMap<String, Vec<String>>> = if tags.is_empty() {
            None
        } else {
            Some(store.all_tags().await.map_err(internal)?)
        };
        let mut filter = DeviceFilter {
            state: state.clone(),
            ..DeviceFilter::default()
        };
        loop {
            let page = store.list_devices(&filter).await.map_err(internal)?;
            let full = page.len() as u32 >= filter.limit;
            let last = page.last().map(|d| d.uuid.clone());
            for d in page {
                let profile_ok = t.profile.is_none() || d.profile == t.profile;
                let tags_ok = tagged.as_ref().is_none_or(|m| {
                    m.get(&d.uuid)
                        .is_some_and(|have| tags.iter().all(|t| have.contains(t)))
                });
                if profile_ok && tags_ok && !out.iter().any(|o| o.uuid == d.uuid) {
                    out.push(d);
                }
            }
            match last {
                Some(l) if full => filter.after = Some(l),
                _ => break,
            }
        }
    }
    if out.is_empty() {
        return Err(bad(if query || !t.devices.is_empty() {
            "the targets select no device"
        } else {
            "say which devices: {\"devices\": [...], \"tags\": [...], \"profile\": P, \
             \"state\": S, \"all\": true}"
        }));
    }
    Ok(out)
}

// ---- sessions --------------------------------------------------------------------------------

/// What sessions are built from, fetched once per request.
pub(super) struct Reach {
    tls: ConsoleTls,
    /// Every stored access row (fleet requests: one query for all devices); `None`: read the
    /// device's own row (single-device requests).
    stored: Option<BTreeMap<String, StoredAccess>>,
    transport: TransportConfig,
}

impl Reach {
    /// For a fleet request.
    pub(super) async fn load(s: &ApiState) -> Result<Self, ApiError> {
        let mut reach = Self::load_one(s)?;
        reach.stored = Some(s.core.store().all_access().await.map_err(internal)?);
        Ok(reach)
    }

    /// For a single-device request.
    fn load_one(s: &ApiState) -> Result<Self, ApiError> {
        let tls = s
            .core
            .with_pki(|pki| ConsoleTls::from_pki(pki))
            .ok_or_else(|| internal("the CA store is unavailable"))?
            .map_err(internal)?;
        Ok(Reach {
            tls,
            stored: None,
            transport: TransportConfig {
                connect_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(30),
                ..TransportConfig::default()
            },
        })
    }

    /// How to reach `d`, or why it cannot be reached (in words).
    pub(super) async fn session(&self, store: &Store, d: &Device) -> Result<DeviceSession, String> {
        let access = match &self.stored {
            Some(all) => all.get(&d.uuid).cloned().unwrap_or_default(),
            None => store.access(&d.uuid).await.map_err(|e| e.to_string())?,
        };
        let session = match access.scheme {
            AccessScheme::Tls => {
                let a = device_access(store, &self.tls, &d.uuid)
                    .await
                    .map_err(|e| e.to_string())?;
                DeviceSession::from_parts(
                    &d.uuid,
                    Some(a.fqdn.clone()),
                    a.endpoint(),
                    a.username.clone(),
                    a.password.clone(),
                )
                .with_fallback_password(a.fallback_password.clone())
            }
            scheme => {
                if d.state != "provisioned" {
                    return Err(format!(
                        "device {} is not provisioned (state {})",
                        d.uuid, d.state
                    ));
                }
                let address = d
                    .address
                    .clone()
                    .or_else(|| d.fqdn.clone())
                    .ok_or_else(|| format!("device {}: no address is known", d.uuid))?;
                let (first, then) = admin_password_versions(store, &d.uuid)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("device {}: no admin password is stored", d.uuid))?;
                let secret = |v| store.get_secret_version(&d.uuid, SecretKind::Admin, v);
                let password = secret(first)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("device {}: no admin password is stored", d.uuid))?;
                let fallback = match then {
                    Some(v) => secret(v).await.map_err(|e| e.to_string())?,
                    None => None,
                };
                let endpoint = if scheme == AccessScheme::Plain {
                    DeviceEndpoint::http(address)
                } else {
                    let pin = access
                        .pin_sha256
                        .as_deref()
                        .and_then(CertFingerprint::from_hex)
                        .ok_or("the stored certificate pin is unusable")?;
                    DeviceEndpoint::https(address, pinned_options(&self.tls, pin))
                };
                DeviceSession::from_parts(&d.uuid, d.fqdn.clone(), endpoint, "admin", password)
                    .with_fallback_password(fallback)
            }
        };
        let session = match access.port {
            Some(p) => session.with_port(p),
            None => session,
        };
        Ok(session.with_transport(self.transport))
    }
}

/// TLS options accepting exactly the certificate with SHA-256 `pin`, with the console
/// certificate presented when the device asks.
fn pinned_options(tls: &ConsoleTls, pin: CertFingerprint) -> TlsOptions {
    let options = TlsOptions::new(ServerVerification::PinnedSha256(pin));
    match tls.identity() {
        Some(id) => options.with_client_identity(id.clone()),
        None => options,
    }
}

/// One device's session, or the API error for it (single-device routes).
async fn one_session(s: &ApiState, uuid: &str) -> Result<(Device, DeviceSession), ApiError> {
    let store = s.core.store();
    let device = store
        .get_device(uuid)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no device {uuid}")))?;
    let reach = Reach::load_one(s)?;
    let session = reach
        .session(store, &device)
        .await
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    Ok((device, session))
}

// ---- fleet runs ------------------------------------------------------------------------------

/// Per-run options a request may set.
#[derive(Debug, Default, Deserialize)]
struct RunOptions {
    concurrency: Option<usize>,
    timeout_secs: Option<u64>,
}

impl RunOptions {
    fn fleet(&self) -> Result<FleetOptions, ApiError> {
        let concurrency = self.concurrency.unwrap_or(CONCURRENCY);
        if !(1..=1024).contains(&concurrency) {
            return Err(bad("concurrency must be 1 to 1024"));
        }
        let secs = self.timeout_secs.unwrap_or(DEVICE_TIMEOUT.as_secs());
        if !(1..=3600).contains(&secs) {
            return Err(bad("timeout_secs must be 1 to 3600"));
        }
        Ok(FleetOptions {
            concurrency,
            device_timeout: Duration::from_secs(secs),
        })
    }
}

/// Tells the server core what a device answered (last contact and power state, which the web
/// console's live table shows).
fn note_contact(core: &ServerCore, v: &Value) {
    let Some(uuid) = v["uuid"].as_str() else {
        return;
    };
    let ok = v["ok"].as_bool().unwrap_or(false);
    let power = v["result"]["power_state"].as_str().map(str::to_owned);
    core.note_contact(uuid, ok, power);
}

fn outcome_json<T>(o: &DeviceOutcome<T>, fqdn: Option<&String>, value: fn(&T) -> Value) -> Value {
    let mut v = json!({
        "uuid": o.uuid,
        "fqdn": fqdn,
        "elapsed_ms": u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX),
    });
    match &o.result {
        Ok(t) => {
            v["ok"] = true.into();
            v["result"] = value(t);
        }
        Err(e) => {
            v["ok"] = false.into();
            v["error"] = e.clone().into();
        }
    }
    v
}

/// Runs `op` on `devices` and answers with every result, or streams NDJSON progress when the
/// client accepts it.
/// A fleet change to record per device once it has run: (actor, action, client).
type FleetAudit = Option<(String, String, SocketAddr)>;

/// Each device's result of a fleet change, for the audit log.
fn audit_results<T>(out: &[DeviceOutcome<T>]) -> Vec<(String, AuditResult)> {
    out.iter()
        .map(|o| {
            let result = match &o.result {
                Ok(_) => AuditResult::Ok,
                Err(e) => AuditResult::Failed(e.clone()),
            };
            (o.uuid.clone(), result)
        })
        .collect()
}

/// Records each device's result of an audited fleet change.
async fn audit_outcomes(log: &AuditLog, audit: &FleetAudit, results: Vec<(String, AuditResult)>) {
    let Some((actor, action, peer)) = audit else {
        return;
    };
    for (uuid, result) in results {
        log.outcome(actor, action, Some(&uuid), result, json!({}), Some(*peer))
            .await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn fleet_response<T, F, Fut>(
    s: &ApiState,
    headers: &HeaderMap,
    operation: String,
    devices: Vec<Device>,
    options: FleetOptions,
    op: F,
    value: fn(&T) -> Value,
    audit: FleetAudit,
) -> Result<Response, ApiError>
where
    T: Send + 'static,
    F: Fn(Arc<DeviceSession>) -> Fut + Send + Sync + 'static,
    Fut:
        std::future::Future<Output = Result<T, amtd_infra::console::ConsoleError>> + Send + 'static,
{
    let store = s.core.store().clone();
    let reach = Arc::new(Reach::load(s).await?);
    let fqdns: Arc<BTreeMap<String, Option<String>>> = Arc::new(
        devices
            .iter()
            .map(|d| (d.uuid.clone(), d.fqdn.clone()))
            .collect(),
    );
    // Each device's session is made by the worker that runs it (store reads and the password's
    // decryption run bounded and alongside the devices, not all before the first one).
    let total = devices.len();
    let items: Vec<(String, Device)> = devices.into_iter().map(|d| (d.uuid.clone(), d)).collect();
    let op = Arc::new(op);
    let op = move |d: Device| {
        let (reach, store, op) = (reach.clone(), store.clone(), op.clone());
        async move {
            let session = reach
                .session(&store, &d)
                .await
                .map_err(|reason| ConsoleError::Setup { reason })?;
            op(Arc::new(session)).await
        }
    };
    let head = json!({ "operation": operation, "total": total });
    let started = Instant::now();
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"));
    let fqdn_of = |fqdns: &BTreeMap<String, Option<String>>, uuid: &str| -> Option<String> {
        fqdns.get(uuid).cloned().flatten()
    };

    if !streaming {
        let out = run_fleet_items(items, options, device_gate(), op, |_| {}).await;
        audit_outcomes(&s.audit, &audit, audit_results(&out)).await;
        let failed = out.iter().filter(|o| o.result.is_err()).count();
        let mut v = head;
        v["succeeded"] = (total - failed).into();
        v["failed"] = failed.into();
        v["elapsed_ms"] = u64::try_from(started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .into();
        v["results"] = Value::Array(
            out.iter()
                .map(|o| {
                    let v = outcome_json(o, fqdn_of(&fqdns, &o.uuid).as_ref(), value);
                    note_contact(&s.core, &v);
                    v
                })
                .collect(),
        );
        return Ok(Json(v).into_response());
    }

    let (tx, rx) =
        tokio::sync::mpsc::unbounded_channel::<Result<Bytes, std::convert::Infallible>>();
    let line = |v: Value| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        Ok(Bytes::from(b))
    };
    let mut start = head.clone();
    start["event"] = "start".into();
    let _ = tx.send(line(start));
    let log = s.audit.clone();
    let core = s.core.clone();
    tokio::spawn(async move {
        let out = run_fleet_items(items, options, device_gate(), op, |p| {
            let mut v = outcome_json(p.last, fqdn_of(&fqdns, &p.last.uuid).as_ref(), value);
            note_contact(&core, &v);
            v["event"] = "device".into();
            v["done"] = p.done.into();
            v["total"] = p.total.into();
            v["failed"] = p.failed.into();
            let _ = tx.send(line(v));
        })
        .await;
        let results = audit_results(&out);
        audit_outcomes(&log, &audit, results).await;
        let failed = out.iter().filter(|o| o.result.is_err()).count();
        let mut end = head;
        end["event"] = "end".into();
        end["succeeded"] = (total - failed).into();
        end["failed"] = failed.into();
        end["elapsed_ms"] = u64::try_from(started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .into();
        let _ = tx.send(line(end));
    });
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Records a change in the audit log before it is made: one `started` record per device. When
/// a record cannot be written the whole change is refused (503) and no device is touched.
async fn audit<'a>(
    s: &ApiState,
    actor: &str,
    action: &str,
    uuids: impl IntoIterator<Item = &'a str>,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    for uuid in uuids {
        s.audit
            .record(
                actor,
                action,
                Some(uuid),
                AuditResult::Started,
                json!({}),
                Some(peer),
            )
            .await
            .map_err(audit_refused)?;
    }
    Ok(())
}

fn uuids(devices: &[Device]) -> impl Iterator<Item = &str> {
    devices.iter().map(|d| d.uuid.as_str())
}

// ---- power -----------------------------------------------------------------------------------

fn status_json(st: &amtd_infra::console::PowerStatus) -> Value {
    json!({
        "power_state": st.state.map(state_name),
        "power_state_value": st.state.map(|s| s.value()),
        "available": st.available.iter().map(|s| s.value()).collect::<Vec<_>>(),
        "available_text": list_states(&st.available),
        "actions": st.actions().iter().map(|a| a.name()).collect::<Vec<_>>(),
    })
}

fn change_json(c: &amtd_infra::console::PowerChange) -> Value {
    json!({
        "action": c.action.name(),
        "sent": c.sent,
        "before": c.before.map(state_name),
        "power_state": c.after.map(state_name),
        "power_state_value": c.after.map(|s| s.value()),
    })
}

async fn device_power(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let (_, session) = one_session(&s, &uuid).await?;
    let _held = device_gate().enter(&uuid).await;
    let st = session.run(async |c| power_status(c).await).await;
    let st = match st {
        Ok(st) => st,
        Err(e) => {
            s.core.note_contact(&uuid, false, None);
            return Err(device_failed(e.in_words()));
        }
    };
    let mut v = status_json(&st);
    s.core
        .note_contact(&uuid, true, v["power_state"].as_str().map(str::to_owned));
    v["uuid"] = uuid.into();
    Ok(Json(v))
}

/// `POST /api/v1/power` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerRequest {
    targets: Targets,
    action: String,
    #[serde(flatten)]
    run: RunOptions,
}

async fn fleet_power(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: PowerRequest = json_body(body, "power request")?;
    let options = req.run.fleet()?;
    let action = match req.action.as_str() {
        "status" => None,
        other => Some(
            other
                .parse::<PowerAction>()
                .map_err(|e| bad(format!("{e}, or status")))?,
        ),
    };
    let devices = resolve_targets(s.core.store(), &req.targets).await?;
    match action {
        None => {
            fleet_response(
                &s,
                &headers,
                "power status".into(),
                devices,
                options,
                |d: Arc<DeviceSession>| async move { d.run(async |c| power_status(c).await).await },
                status_json,
                None,
            )
            .await
        }
        Some(action) => {
            let audited = format!("power-{action}");
            audit(&s, &caller.name, &audited, uuids(&devices), peer).await?;
            tracing::info!(action = %action, devices = devices.len(), peer = %peer, "power change (audited)");
            let timeout = options.device_timeout;
            fleet_response(
                &s,
                &headers,
                format!("power {action}"),
                devices,
                options,
                move |d: Arc<DeviceSession>| async move {
                    d.run(async move |c| change_power(c, action, timeout).await)
                        .await
                },
                change_json,
                Some((caller.name.clone(), audited, peer)),
            )
            .await
        }
    }
}

// ---- boot ------------------------------------------------------------------------------------

/// `POST /api/v1/boot` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BootRequest {
    targets: Targets,
    next_boot: String,
    #[serde(flatten)]
    run: RunOptions,
}

async fn fleet_boot(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: BootRequest = json_body(body, "boot request")?;
    let options = req.run.fleet()?;
    let next: NextBoot = req.next_boot.parse().map_err(bad)?;
    let devices = resolve_targets(s.core.store(), &req.targets).await?;
    let audited = format!("boot-{next}");
    audit(&s, &caller.name, &audited, uuids(&devices), peer).await?;
    tracing::info!(next_boot = %next, devices = devices.len(), peer = %peer, "next boot set (audited)");
    let timeout = options.device_timeout;
    fleet_response(
        &s,
        &headers,
        format!("next boot {next}"),
        devices,
        options,
        move |d: Arc<DeviceSession>| async move {
            d.run(async move |c| set_next_boot(c, next, timeout).await)
                .await
        },
        |b| serde_json::to_value(b).unwrap_or(Value::Null),
        Some((caller.name.clone(), audited, peer)),
    )
    .await
}

// ---- inventory -------------------------------------------------------------------------------

/// `POST /api/v1/inventory/refresh` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryRequest {
    targets: Targets,
    #[serde(flatten)]
    run: RunOptions,
}

/// What one refresh did.
#[derive(Debug)]
struct Refreshed {
    read_at: SystemTime,
    amt_version: Option<String>,
    changes: Option<usize>,
    unreadable: usize,
}

fn refreshed_json(r: &Refreshed) -> Value {
    json!({
        "read_at": unix(r.read_at),
        "amt_version": r.amt_version,
        "items_changed": r.changes,
        "unreadable_classes": r.unreadable,
    })
}

async fn fleet_inventory(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: InventoryRequest = json_body(body, "inventory request")?;
    let options = req.run.fleet()?;
    let devices = resolve_targets(s.core.store(), &req.targets).await?;
    let store = s.core.store().clone();
    fleet_response(
        &s,
        &headers,
        "inventory refresh".into(),
        devices,
        options,
        move |d: Arc<DeviceSession>| {
            let store = store.clone();
            async move {
                let inv = d.run(async |c| read_inventory(c).await).await?;
                let read_at = SystemTime::now();
                store_inventory(&store, &d.uuid, read_at, &inv)
                    .await
                    .map(|changes| Refreshed {
                        read_at,
                        amt_version: inv.amt_version().map(str::to_owned),
                        changes,
                        unreadable: inv.unreadable.len(),
                    })
            }
        },
        refreshed_json,
        None,
    )
    .await
}

/// Stores a read; returns how many items changed since the previous stored read (none for the
/// first). A store failure is reported as the device's failure, in words.
async fn store_inventory(
    store: &Store,
    uuid: &str,
    read_at: SystemTime,
    inv: &Inventory,
) -> Result<Option<usize>, ConsoleError> {
    let fail = |e: amtd_infra::store::StoreError| ConsoleError::Local {
        what: "storing the inventory",
        detail: e.to_string(),
    };
    let previous = store.inventory_snapshots(uuid, 1).await.map_err(fail)?;
    let body = serde_json::to_value(inv).unwrap_or(Value::Null);
    store
        .put_inventory(uuid, read_at, &body)
        .await
        .map_err(fail)?;
    if let Some(firmware) = inv.amt_version() {
        let mut up = DeviceUpsert::new(uuid);
        up.firmware_version = Some(firmware.to_owned());
        store.upsert_device(&up).await.map_err(fail)?;
    }
    Ok(previous.first().map(|p| {
        let old: Inventory = serde_json::from_value(p.body.clone()).unwrap_or_default();
        InventoryDiff::between(&old, inv).items_touched()
    }))
}

async fn device_inventory(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let store = s.core.store();
    if store.get_device(&uuid).await.map_err(internal)?.is_none() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no device {uuid}")));
    }
    let snaps = store
        .inventory_snapshots(&uuid, 2)
        .await
        .map_err(internal)?;
    let Some(latest) = snaps.first() else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no inventory stored for {uuid}: refresh it first"),
        ));
    };
    let decode = |v: &Value| -> Result<Inventory, ApiError> {
        serde_json::from_value(v.clone()).map_err(|e| internal(format!("stored inventory: {e}")))
    };
    let inv = decode(&latest.body)?;
    let previous = snaps.get(1);
    let diff = match previous {
        Some(p) => Some(InventoryDiff::between(&decode(&p.body)?, &inv)),
        None => None,
    };
    let items: BTreeMap<String, Fields> = inv.items();
    Ok(Json(json!({
        "uuid": uuid,
        "read_at": unix(latest.read_at),
        "previous_read_at": previous.map(|p| unix(p.read_at)),
        "inventory": inv,
        "items": items,
        "diff": diff,
    })))
}

// ---- logs ------------------------------------------------------------------------------------

/// `?limit=` of the log routes.
#[derive(Debug, Deserialize)]
struct LogQuery {
    limit: Option<usize>,
}

async fn device_events(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LOG_RECORDS);
    let (_, session) = one_session(&s, &uuid).await?;
    let _held = device_gate().enter(&uuid).await;
    let entries = session
        .run(async move |c| read_event_log(c, limit, DEVICE_TIMEOUT).await)
        .await
        .map_err(|e| device_failed(e.in_words()))?;
    Ok(Json(json!({
        "uuid": uuid,
        "read_at": unix(SystemTime::now()),
        "entries": entries,
    })))
}

async fn device_audit_log(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LOG_RECORDS);
    let (_, session) = one_session(&s, &uuid).await?;
    let _held = device_gate().enter(&uuid).await;
    let entries = session
        .run(async move |c| read_audit_log(c, limit, DEVICE_TIMEOUT).await)
        .await
        .map_err(|e| device_failed(e.in_words()))?;
    Ok(Json(json!({
        "uuid": uuid,
        "read_at": unix(SystemTime::now()),
        "entries": entries,
    })))
}

// ---- tags ------------------------------------------------------------------------------------

/// `PUT /api/v1/devices/{uuid}/tags` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsRequest {
    tags: Vec<String>,
}

async fn get_tags(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let store = s.core.store();
    if store.get_device(&uuid).await.map_err(internal)?.is_none() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no device {uuid}")));
    }
    let tags = store.tags(&uuid).await.map_err(internal)?;
    Ok(Json(json!({ "uuid": uuid, "tags": tags })))
}

async fn put_tags(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(uuid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let req: TagsRequest = json_body(body, "tag list")?;
    for t in &req.tags {
        check_tag(t).map_err(|e| bad(e.to_string()))?;
    }
    let store = s.core.store();
    let Some(device) = store.get_device(&uuid).await.map_err(internal)? else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no device {uuid}")));
    };
    audit(&s, &caller.name, "tags-set", [device.uuid.as_str()], peer).await?;
    let tags = store.set_tags(&uuid, &req.tags).await;
    let result = match &tags {
        Ok(t) => (AuditResult::Ok, json!({ "tags": t })),
        Err(e) => (AuditResult::Failed(e.to_string()), json!({})),
    };
    s.audit
        .outcome(
            &caller.name,
            "tags-set",
            Some(&uuid),
            result.0,
            result.1,
            Some(peer),
        )
        .await;
    let tags = tags.map_err(|e| bad(e.to_string()))?;
    tracing::info!(device.uuid = %uuid, tags = %tags.join(","), peer = %peer, "tags set (audited)");
    Ok(Json(json!({ "uuid": uuid, "tags": tags })))
}

// ---- adoption --------------------------------------------------------------------------------

/// `POST /api/v1/devices/{uuid}/adopt` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdoptRequest {
    /// Where the device listens.
    address: String,
    /// Its FQDN (the name its TLS certificate carries, for `tls`).
    fqdn: Option<String>,
    /// `tls` (CA-verified, the default), `tls-pinned` or `plain`.
    scheme: Option<String>,
    /// A port other than AMT's.
    port: Option<u16>,
    /// For `tls-pinned`: the SHA-256 of the device's certificate.
    pin_sha256: Option<String>,
    /// The device's admin password (sealed in the store).
    admin_password: String,
    /// The profile to record for it.
    profile: Option<String>,
}

async fn adopt(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(uuid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let req: AdoptRequest = json_body(body, "adoption request")?;
    let scheme = match req.scheme.as_deref() {
        None => AccessScheme::Tls,
        Some(name) => AccessScheme::parse(name)
            .ok_or_else(|| bad(format!("scheme {name:?}: use tls, tls-pinned or plain")))?,
    };
    if req.address.trim().is_empty() || req.admin_password.is_empty() {
        return Err(bad("address and admin_password are required"));
    }
    if scheme == AccessScheme::Tls && req.fqdn.is_none() {
        return Err(bad(
            "a CA-verified TLS device needs its fqdn (the name its certificate carries)",
        ));
    }
    let access = StoredAccess {
        scheme,
        port: req.port,
        pin_sha256: req.pin_sha256.clone(),
    };
    let password = SecretString::new(req.admin_password);
    // Check the credentials on the device before anything is stored.
    let tls = s
        .core
        .with_pki(|pki| ConsoleTls::from_pki(pki))
        .ok_or_else(|| internal("the CA store is unavailable"))?
        .map_err(internal)?;
    let endpoint = match scheme {
        AccessScheme::Tls => DeviceEndpoint::https(
            req.address.clone(),
            tls.options(req.fqdn.as_deref().unwrap_or_default()),
        ),
        AccessScheme::TlsPinned => {
            let pin = req
                .pin_sha256
                .as_deref()
                .and_then(CertFingerprint::from_hex)
                .ok_or_else(|| bad("tls-pinned needs pin_sha256 (64 hex digits)"))?;
            DeviceEndpoint::https(req.address.clone(), pinned_options(&tls, pin))
        }
        AccessScheme::Plain => DeviceEndpoint::http(req.address.clone()),
    };
    let mut session =
        DeviceSession::from_parts(&uuid, req.fqdn.clone(), endpoint, "admin", password.clone());
    if let Some(p) = req.port {
        session = session.with_port(p);
    }
    audit(&s, &caller.name, "device-adopt", [uuid.as_str()], peer).await?;
    let adopted = async {
        let status = {
            let _held = device_gate().enter(&uuid).await;
            session
                .run(async |c| power_status(c).await)
                .await
                .map_err(|e| {
                    ApiError(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("the device did not accept these settings: {}", e.in_words()),
                    )
                })?
        };
        let store = s.core.store();
        let mut up = DeviceUpsert::new(uuid.clone());
        up.address = Some(req.address);
        up.fqdn = req.fqdn.map(|f| f.to_ascii_lowercase());
        up.state = Some("provisioned".into());
        up.profile = req.profile;
        store.upsert_device(&up).await.map_err(internal)?;
        store
            .put_secret(&uuid, SecretKind::Admin, &password)
            .await
            .map_err(internal)?;
        store
            .set_access(&uuid, &access)
            .await
            .map_err(|e| bad(e.to_string()))?;
        Ok::<_, ApiError>(status)
    }
    .await;
    let result = match &adopted {
        Ok(_) => AuditResult::Ok,
        Err(e) => AuditResult::Failed(e.1.clone()),
    };
    s.audit
        .outcome(
            &caller.name,
            "device-adopt",
            Some(&uuid),
            result,
            json!({ "scheme": scheme.as_str() }),
            Some(peer),
        )
        .await;
    let status = adopted?;
    tracing::info!(device.uuid = %uuid, scheme = %scheme, peer = %peer, "device adopted (audited)");
    Ok(Json(json!({
        "uuid": uuid,
        "state": "provisioned",
        "scheme": scheme.as_str(),
        "power": status_json(&status),
    })))
}
