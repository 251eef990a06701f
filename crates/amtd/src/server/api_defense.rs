//! The System Defense API (M3), merged into the router of [`super::api`]:
//!
//! - `GET /api/v1/defense-policies`: every stored policy with its revision and the devices it
//!   is applied to.
//! - `GET|PUT|DELETE /api/v1/defense-policies/{name}`: one policy. PUT takes the policy document
//!   (amtd-core's `DefensePolicy` as JSON; `name` may be left out), refuses an invalid one with
//!   400 and every problem, honours `If-Match: <revision>` (412 when stale; `0`: create only)
//!   and answers 201 or 200 with the stored document and its new revision. DELETE is refused
//!   (409) while the policy is applied to a device.
//! - `POST /api/v1/defense-policies/{name}/apply` and `…/remove` with the console's targets
//!   (`{"devices": [uuid or FQDN…], "tags": [...], "tag": T, "profile": P, "state": S,
//!   "all": bool}`): runs on every selected device through the console's fleet executor (bounded
//!   concurrency, one operation at a time per device, a per-device timeout) and answers one
//!   result per device. With `Accept: application/x-ndjson` the answer streams one JSON line as
//!   each device finishes (`{"event":"device","done","total","failed",…}`), then a summary
//!   line. A device counts as applied only when it reads back as intended; the store then
//!   keeps a copy of what it was given.
//! - `GET /api/v1/devices/{uuid}/defense`: the device's policies read back now, and for each
//!   policy applied to it, the differences from that intent in words.
//!
//! Writes are audited: a `started` record before they happen (no record, no change: 503),
//! then the result (policy writes with the policy named in the detail; apply and remove once
//! per device). Targets, how devices are reached and the
//! per-device gate are the console API's (`api_console`): the same target syntax, and one
//! console operation at a time per device whatever kind it is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use amtd_core::defense::{self as model, DefensePolicy};
use amtd_infra::console::{run_fleet, DeviceOutcome, DeviceSession, FleetOptions};
use amtd_infra::defense;
use amtd_infra::store::{DefensePut, Store, StoredDefensePolicy};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};

use crate::server::auth::Caller;
use serde_json::{json, Value};

use super::api_console::{device_gate, resolve_targets, Reach, Targets};
use super::{
    audit_refused, audit_result, internal, unix, uuid_param, ApiError, ApiState, AuditLog,
    AuditResult,
};

/// Largest policy document or target list accepted.
const MAX_BODY: usize = 256 * 1024;
/// Devices worked on at once by one apply or remove.
const CONCURRENCY: usize = 32;
/// Longest one device may take (read, changes, read again).
const DEVICE_TIMEOUT: Duration = Duration::from_secs(120);

/// The System Defense routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/defense-policies", get(list_policies))
        .route(
            "/api/v1/defense-policies/{name}",
            get(show_policy)
                .put(put_policy)
                .delete(delete_policy)
                .layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route(
            "/api/v1/defense-policies/{name}/apply",
            post(apply_policy).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route(
            "/api/v1/defense-policies/{name}/remove",
            post(remove_policy).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .route("/api/v1/devices/{uuid}/defense", get(device_defense))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn name_param(raw: &str) -> Result<String, ApiError> {
    if model::valid_name(raw) {
        Ok(raw.to_owned())
    } else {
        Err(bad(format!(
            "{raw:?} is not a System Defense policy name (1 to 16 letters, digits, '-', '_' or \
             '.')"
        )))
    }
}

fn stored_json(s: &StoredDefensePolicy, devices: &[(String, i64)]) -> Value {
    json!({
        "name": s.policy.name,
        "revision": s.revision,
        "created_at": unix(s.created_at),
        "updated_at": unix(s.updated_at),
        "policy": s.policy,
        "devices": devices
            .iter()
            .map(|(uuid, rev)| json!({ "uuid": uuid, "revision": rev }))
            .collect::<Vec<_>>(),
    })
}

async fn list_policies(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let store = s.core.store();
    let mut out = Vec::new();
    for (name, row) in store.list_defense_policies().await.map_err(internal)? {
        let devices = store.defense_devices(&name).await.map_err(internal)?;
        out.push(match row {
            Ok(p) => stored_json(&p, &devices),
            Err(e) => json!({ "name": name, "error": e.to_string() }),
        });
    }
    Ok(Json(Value::Array(out)))
}

async fn show_policy(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = name_param(&name)?;
    let store = s.core.store();
    let Some(p) = store.get_defense_policy(&name).await.map_err(internal)? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no System Defense policy {name:?}"),
        ));
    };
    let devices = store.defense_devices(&name).await.map_err(internal)?;
    Ok(Json(stored_json(&p, &devices)))
}

/// The body as a policy named `name` (the name may be left out), validated.
fn parse_policy(name: &str, body: &[u8]) -> Result<DefensePolicy, ApiError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("not a JSON System Defense policy: {e}")))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(bad("a System Defense policy is a JSON object"));
    };
    match obj.get("name") {
        None => {
            obj.insert("name".into(), name.into());
        }
        Some(Value::String(n)) if n == name => {}
        Some(other) => {
            return Err(bad(format!(
                "the document names policy {other}, the path {name:?}"
            )))
        }
    }
    let policy: DefensePolicy = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        bad(format!(
            "not a System Defense policy{at}: {}",
            e.into_inner()
        ))
    })?;
    policy.validated().map_err(|e| bad(e.to_string()))
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|r| *r >= 0)
        .map(Some)
        .ok_or_else(|| bad("If-Match must be a policy revision number"))
}

async fn put_policy(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = name_param(&name)?;
    let body = body.map_err(|e| {
        ApiError(
            e.status(),
            format!("could not read the policy document (at most {MAX_BODY} bytes): {e}"),
        )
    })?;
    let policy = parse_policy(&name, &body)?;
    let expected = if_match(&headers)?;
    // Audited before the change is made: no record, no change.
    let detail = json!({ "policy": name });
    s.audit
        .record(
            &caller.name,
            "defense-policy-put",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let store = s.core.store();
    let put = store.put_defense_policy(&policy, expected).await;
    let result = match &put {
        Ok(DefensePut::Stored(_)) => AuditResult::Ok,
        Ok(DefensePut::RevisionMismatch { current }) => AuditResult::Failed(format!(
            "the stored revision is {current:?}, not the one the request named"
        )),
        Err(e) => AuditResult::Failed(e.to_string()),
    };
    s.audit
        .outcome(
            &caller.name,
            "defense-policy-put",
            None,
            result,
            detail,
            Some(peer),
        )
        .await;
    match put.map_err(internal)? {
        DefensePut::Stored(stored) => {
            tracing::info!(policy = %name, revision = stored.revision, peer = %peer, "System Defense policy written (audited)");
            let devices = store.defense_devices(&name).await.map_err(internal)?;
            let status = if stored.revision == 1 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(stored_json(&stored, &devices))).into_response())
        }
        DefensePut::RevisionMismatch { current } => Err(ApiError(
            StatusCode::PRECONDITION_FAILED,
            match current {
                Some(c) => format!(
                    "policy {name:?} is at revision {c}, not {} (changed by someone else; read \
                     it again)",
                    expected.unwrap_or_default()
                ),
                None if expected == Some(0) => format!("policy {name:?} already exists"),
                None => format!("no System Defense policy {name:?}"),
            },
        )),
    }
}

async fn delete_policy(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = name_param(&name)?;
    let store = s.core.store();
    let devices = store.defense_devices(&name).await.map_err(internal)?;
    if !devices.is_empty() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "policy {name:?} is applied to {} device(s) ({}); remove it from them first",
                devices.len(),
                devices
                    .iter()
                    .map(|(u, _)| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if store
        .get_defense_policy(&name)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no System Defense policy {name:?}"),
        ));
    }
    let detail = json!({ "policy": name });
    s.audit
        .record(
            &caller.name,
            "defense-policy-delete",
            None,
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
        .map_err(audit_refused)?;
    let existed = store.delete_defense_policy(&name).await;
    s.audit
        .outcome(
            &caller.name,
            "defense-policy-delete",
            None,
            audit_result(&existed),
            detail,
            Some(peer),
        )
        .await;
    let existed = existed.map_err(internal)?;
    tracing::info!(policy = %name, peer = %peer, "System Defense policy deleted (audited)");
    Ok(Json(json!({ "deleted": name, "existed": existed })))
}

fn parse_targets(body: &[u8]) -> Result<Targets, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Targets::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| bad(format!("not a target list: {e}")))
}

/// One device's result of an apply or remove.
#[derive(Debug, Clone)]
struct DeviceResult {
    ok: bool,
    /// What was done, in words.
    summary: String,
    /// Why it failed, in words.
    error: Option<String>,
    /// The differences a failed apply left.
    differences: Vec<model::Difference>,
}

fn outcome_json(o: &DeviceOutcome<DeviceResult>) -> Value {
    let mut v = json!({
        "uuid": o.uuid,
        "elapsed_ms": u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX),
    });
    match &o.result {
        Ok(r) => {
            v["ok"] = r.ok.into();
            v["result"] = r.summary.clone().into();
            if let Some(e) = &r.error {
                v["error"] = e.clone().into();
            }
            if !r.differences.is_empty() {
                v["differences"] = differences_json(&r.differences);
            }
        }
        Err(e) => {
            v["ok"] = false.into();
            v["error"] = e.clone().into();
        }
    }
    v
}

fn differences_json(d: &[model::Difference]) -> Value {
    Value::Array(
        d.iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
                v["text"] = d.to_string().into();
                v
            })
            .collect(),
    )
}

/// Records each device's result of an apply or remove.
async fn audit_outcomes(
    (log, actor, action, detail, peer): &(AuditLog, String, String, Value, SocketAddr),
    out: &[DeviceOutcome<DeviceResult>],
) {
    for o in out {
        let result = match &o.result {
            Ok(r) if r.ok => AuditResult::Ok,
            Ok(r) => AuditResult::Failed(r.error.clone().unwrap_or_else(|| r.summary.clone())),
            Err(e) => AuditResult::Failed(e.clone()),
        };
        log.outcome(
            actor,
            action,
            Some(&o.uuid),
            result,
            detail.clone(),
            Some(*peer),
        )
        .await;
    }
}

fn ok(o: &DeviceOutcome<DeviceResult>) -> bool {
    o.result.as_ref().is_ok_and(|r| r.ok)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Apply,
    Remove,
}

impl Op {
    fn word(self) -> &'static str {
        match self {
            Op::Apply => "apply",
            Op::Remove => "remove",
        }
    }
}

async fn apply_policy(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    run(s, peer, caller, headers, name, body, Op::Apply).await
}

async fn remove_policy(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    run(s, peer, caller, headers, name, body, Op::Remove).await
}

async fn run(
    s: ApiState,
    peer: SocketAddr,
    caller: Caller,
    headers: HeaderMap,
    name: String,
    body: Result<Bytes, BytesRejection>,
    op: Op,
) -> Result<Response, ApiError> {
    let name = name_param(&name)?;
    let body =
        body.map_err(|e| ApiError(e.status(), format!("could not read the targets: {e}")))?;
    let targets = parse_targets(&body)?;
    let store = s.core.store().clone();
    // Apply needs the stored policy; remove works by name (the policy may be deleted already).
    let stored = match op {
        Op::Apply => Some(
            store
                .get_defense_policy(&name)
                .await
                .map_err(internal)?
                .ok_or_else(|| {
                    ApiError(
                        StatusCode::NOT_FOUND,
                        format!("no System Defense policy {name:?}"),
                    )
                })?,
        ),
        Op::Remove => None,
    };
    let targets = resolve_targets(&store, &targets).await?;
    let reach = Reach::load(&s).await?;
    let mut devices = Vec::with_capacity(targets.len());
    let action = format!("defense-{}", op.word());
    let detail = json!({ "policy": name });
    // Audited per device before anything is sent to any: no record, no change.
    for d in &targets {
        s.audit
            .record(
                &caller.name,
                &action,
                Some(&d.uuid),
                AuditResult::Started,
                detail.clone(),
                Some(peer),
            )
            .await
            .map_err(audit_refused)?;
    }
    for d in &targets {
        devices.push((d.uuid.clone(), reach.session(&store, d).await));
    }
    let audited = (s.audit.clone(), caller.name.clone(), action, detail, peer);
    tracing::info!(policy = %name, op = op.word(), devices = devices.len(), peer = %peer, "System Defense run started (audited)");

    let op_store = store.clone();
    let policy_name = name.clone();
    let task = move |session: Arc<DeviceSession>| {
        let store = op_store.clone();
        let stored = stored.clone();
        let name = policy_name.clone();
        async move {
            let client = session.connect()?;
            Ok(device_op(&store, &client, &session.uuid, &name, stored.as_ref(), op).await)
        }
    };
    let options = FleetOptions {
        concurrency: CONCURRENCY,
        device_timeout: DEVICE_TIMEOUT,
    };
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"));
    let total = devices.len();
    let head = json!({ "policy": name, "operation": op.word(), "total": total });

    if !streaming {
        let out = run_fleet(devices, options, device_gate(), task, |_| {}).await;
        audit_outcomes(&audited, &out).await;
        let failed = out.iter().filter(|o| !ok(o)).count();
        let mut v = head;
        v["succeeded"] = (total - failed).into();
        v["failed"] = failed.into();
        v["results"] = Value::Array(out.iter().map(outcome_json).collect());
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
    tokio::spawn(async move {
        let mut failed = 0usize;
        let out = run_fleet(devices, options, device_gate(), task, |p| {
            if !ok(p.last) {
                failed += 1;
            }
            let mut v = outcome_json(p.last);
            v["event"] = "device".into();
            v["done"] = p.done.into();
            v["total"] = p.total.into();
            v["failed"] = failed.into();
            let _ = tx.send(line(v));
        })
        .await;
        audit_outcomes(&audited, &out).await;
        let failed = out.iter().filter(|o| !ok(o)).count();
        let mut end = head;
        end["event"] = "end".into();
        end["succeeded"] = (total - failed).into();
        end["failed"] = failed.into();
        let _ = tx.send(line(end));
    });
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Applies or removes on one device and records the result in the store.
async fn device_op(
    store: &Store,
    client: &amtd_infra::client::WsmanClient,
    uuid: &str,
    name: &str,
    stored: Option<&StoredDefensePolicy>,
    op: Op,
) -> DeviceResult {
    let failed = |e: defense::DefenseError| DeviceResult {
        ok: false,
        summary: "failed".into(),
        differences: match &e {
            defense::DefenseError::NotApplied { differences } => differences.clone(),
            _ => Vec::new(),
        },
        error: Some(e.to_string()),
    };
    let recorded = |r: Result<_, amtd_infra::store::StoreError>, summary: String| match r {
        Ok(_) => DeviceResult {
            ok: true,
            summary,
            error: None,
            differences: Vec::new(),
        },
        Err(e) => DeviceResult {
            ok: false,
            summary,
            error: Some(format!("done on the device, but not recorded: {e}")),
            differences: Vec::new(),
        },
    };
    match (op, stored) {
        (Op::Apply, Some(stored)) => match defense::apply(client, &stored.policy).await {
            Ok(o) => {
                let summary = if o.changed {
                    format!(
                        "policy {}, {} filter(s) created, {} deleted",
                        o.policy, o.filters_created, o.filters_deleted
                    )
                } else {
                    "already as intended, nothing sent".to_owned()
                };
                recorded(
                    store
                        .record_defense_applied(
                            uuid,
                            &stored.policy,
                            stored.revision,
                            SystemTime::now(),
                        )
                        .await,
                    summary,
                )
            }
            Err(e) => failed(e),
        },
        (Op::Remove, _) | (Op::Apply, None) => match defense::remove(client, name).await {
            Ok(o) => {
                let summary = if o.found {
                    format!(
                        "removed: {} polic(ies), {} filter(s), disabled on {} port(s)",
                        o.policies_deleted, o.filters_deleted, o.ports_disabled
                    )
                } else {
                    "not on the device".to_owned()
                };
                recorded(
                    store.clear_defense_applied(uuid, name).await.map(|_| ()),
                    summary,
                )
            }
            Err(e) => failed(e),
        },
    }
}

async fn device_defense(
    State(s): State<ApiState>,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let uuid = uuid_param(&uuid)?;
    let store = s.core.store();
    let Some(d) = store.get_device(&uuid).await.map_err(internal)? else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no device {uuid}")));
    };
    let session = Reach::load(&s)
        .await?
        .session(store, &d)
        .await
        .map_err(|e| ApiError(StatusCode::CONFLICT, e))?;
    let unreachable = |e: String| ApiError(StatusCode::BAD_GATEWAY, format!("device {uuid}: {e}"));
    let client = session.connect().map_err(|e| unreachable(e.in_words()))?;
    let device = {
        let _held = device_gate().enter(&uuid).await;
        defense::read_back(&client)
            .await
            .map_err(|e| unreachable(e.to_string()))?
    };
    let applied = store.defense_applied_to(&uuid).await.map_err(internal)?;
    let intents: Vec<Value> = applied
        .iter()
        .map(|a| {
            let diffs = model::compare(&a.policy, &device);
            json!({
                "name": a.policy.name,
                "revision": a.revision,
                "applied_at": unix(a.applied_at),
                "in_sync": diffs.is_empty(),
                "differences": differences_json(&diffs),
                "policy": a.policy,
            })
        })
        .collect();
    Ok(Json(json!({
        "uuid": uuid,
        "device": device.views(),
        "unreadable_policies": device.unreadable_policies,
        "unreadable_filters": device
            .filters
            .iter()
            .filter_map(|f| f.filter.as_ref().err().map(|e| json!({
                "instance_id": f.instance_id,
                "class": f.class,
                "error": e.to_string(),
            })))
            .collect::<Vec<_>>(),
        "applied": intents,
    })))
}
