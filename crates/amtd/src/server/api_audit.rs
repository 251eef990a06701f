//! `GET /api/v1/audit`: the server's hash-chained audit log, read through the API (the web
//! console's device page shows a device's records). Administrator only: the records name users
//! and client addresses. `amtd audit list|verify` read the store directly instead.
//!
//! Query: `device` (a UUID: only its records), `after` (a seq: the page after it), `limit`
//! (1…1000, default 100). Records come in chain order (`seq` ascending); the answer's
//! `next_after` is the last seq when the page is full (ask again with `after=` for more).

use std::sync::Arc;

use amtd_infra::store::AuditFilter;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{internal, uuid_param, ApiError};
use super::ServerCore;

/// Most records one call returns.
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    device: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

/// The audit route.
pub fn routes(core: Arc<ServerCore>) -> Router {
    Router::new()
        .route("/api/v1/audit", get(list))
        .with_state(core)
}

async fn list(
    State(core): State<Arc<ServerCore>>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1…{MAX_LIMIT}"),
        ));
    }
    let device = q.device.as_deref().map(uuid_param).transpose()?;
    let records = core
        .store()
        .audit_records(&AuditFilter {
            device,
            since: None,
            after_seq: q.after,
            limit,
        })
        .await
        .map_err(internal)?;
    let next_after = (records.len() as u32 >= limit)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    Ok(Json(json!({
        "records": records.iter().map(crate::audit_cmd::record_json).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}
