//! `GET /api/v1/events`: the fleet as a live stream of server-sent events (the web console's
//! devices table).
//!
//! The stream opens with one `snapshot` event (every device as a row, in UUID order) and then
//! sends a `device` event with the whole row whenever a row changes, and `removed` with the
//! UUID when a device leaves the store. A row is the store's device (`uuid`, `fqdn`, `address`,
//! `state`, `profile`, `firmware_version`, `created_at`, `updated_at`) plus what this server
//! knows beyond the store: `status` (`waiting`, `provisioning`, `provisioned`, `failed`) with
//! `reason` when a run failed, `power_state` and `last_contact` (unix seconds) from the last
//! console call, and `last_contact_ok`. Devices the lab expects but that have not said hello
//! yet are rows with state `waiting`.
//!
//! Rows are re-read when the server signals a change ([`ServerCore::watch`]) and at least
//! every [`POLL`] (other instances sharing a PostgreSQL store change rows too), once for all
//! open streams (each stream then sends only the rows that differ from what it sent). At most
//! [`MAX_STREAMS`] streams are open at once; more get 503.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amtd_infra::store::DeviceFilter;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::{device_json, unix};
use super::{DeviceStatus, ServerCore};

/// Longest a stream goes without re-reading the store.
pub const POLL: Duration = Duration::from_secs(2);
/// Streams open at once.
pub const MAX_STREAMS: usize = 64;

#[derive(Clone)]
struct EventsState {
    core: Arc<ServerCore>,
    streams: Arc<tokio::sync::Semaphore>,
    shared: Arc<tokio::sync::Mutex<Option<Shared>>>,
}

/// The fleet rows last read, shared by every open stream: one store read per change, not one
/// per stream. Reused while no change was signalled since and it is younger than [`POLL`].
struct Shared {
    version: u64,
    at: Instant,
    rows: Arc<BTreeMap<String, Value>>,
}

impl EventsState {
    /// The rows as of change `version` (read once for all streams; the lock makes concurrent
    /// streams wait for the one read in flight instead of each reading).
    async fn rows(&self, version: u64) -> Result<Arc<BTreeMap<String, Value>>, String> {
        let mut shared = self.shared.lock().await;
        if let Some(s) = shared.as_ref() {
            if s.version == version && s.at.elapsed() < POLL {
                return Ok(s.rows.clone());
            }
        }
        let rows = Arc::new(rows(&self.core).await?);
        *shared = Some(Shared {
            version,
            at: Instant::now(),
            rows: rows.clone(),
        });
        Ok(rows)
    }
}

/// The events route.
pub fn routes(core: Arc<ServerCore>) -> Router {
    Router::new()
        .route("/api/v1/events", get(events))
        .with_state(EventsState {
            core,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
            shared: Arc::new(tokio::sync::Mutex::new(None)),
        })
}

async fn events(State(s): State<EventsState>) -> Response {
    let Ok(permit) = s.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": "too many event streams are open; try again later" })),
        )
            .into_response();
    };
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::spawn(async move {
        let _permit = permit;
        feed(&s, &tx).await;
    });
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Sends the snapshot and then every change until the client goes away.
async fn feed(s: &EventsState, tx: &mpsc::Sender<Result<Event, Infallible>>) {
    let mut watch = s.core.watch();
    let mut sent: BTreeMap<String, String> = BTreeMap::new();
    let mut first = true;
    loop {
        let version = *watch.borrow_and_update();
        let rows = match s.rows(version).await {
            Ok(rows) => rows,
            Err(e) => {
                let ev = Event::default()
                    .event("error")
                    .data(json!({ "error": e }).to_string());
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
                Arc::new(BTreeMap::new())
            }
        };
        if first {
            let all: Vec<&Value> = rows.values().collect();
            let ev = Event::default()
                .event("snapshot")
                .data(Value::from(all.into_iter().cloned().collect::<Vec<_>>()).to_string());
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
            sent = rows
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            first = false;
        } else {
            for (uuid, row) in rows.iter() {
                let text = row.to_string();
                if sent.get(uuid) != Some(&text) {
                    let ev = Event::default().event("device").data(text.clone());
                    if tx.send(Ok(ev)).await.is_err() {
                        return;
                    }
                    sent.insert(uuid.clone(), text);
                }
            }
            let gone: Vec<String> = sent
                .keys()
                .filter(|k| !rows.contains_key(*k))
                .cloned()
                .collect();
            for uuid in gone {
                sent.remove(&uuid);
                let ev = Event::default()
                    .event("removed")
                    .data(json!({ "uuid": uuid }).to_string());
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            changed = watch.changed() => {
                if changed.is_err() {
                    return;
                }
                // Changes come in bursts (a run writes several rows): gather them.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            () = tokio::time::sleep(POLL) => {}
            () = tx.closed() => return,
        }
    }
}

/// Every device as a console row, keyed by UUID.
pub async fn rows(core: &ServerCore) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    let mut filter = DeviceFilter::default();
    loop {
        let page = core
            .store()
            .list_devices(&filter)
            .await
            .map_err(|e| format!("the store could not list devices: {e}"))?;
        let full = page.len() as u32 >= filter.limit;
        for d in &page {
            out.insert(d.uuid.clone(), device_json(d));
        }
        match page.last() {
            Some(last) if full => filter.after = Some(last.uuid.clone()),
            _ => break,
        }
    }
    for (uuid, status) in core.statuses() {
        let row = out.entry(uuid.clone()).or_insert_with(|| {
            json!({
                "uuid": uuid,
                "fqdn": null,
                "address": null,
                "state": "waiting",
                "profile": null,
                "firmware_version": null,
                "created_at": null,
                "updated_at": null,
            })
        });
        let (name, reason) = match status {
            DeviceStatus::Waiting => ("waiting", None),
            DeviceStatus::Provisioning => ("provisioning", None),
            DeviceStatus::Provisioned => ("provisioned", None),
            DeviceStatus::Failed(r) => ("failed", Some(r)),
        };
        row["status"] = name.into();
        row["reason"] = reason.into();
    }
    for (uuid, row) in &mut out {
        if let Some(seen) = core.last_seen(uuid) {
            row["power_state"] = seen.power_state.into();
            row["last_contact"] = unix(seen.at).into();
            row["last_contact_ok"] = seen.ok.into();
        }
    }
    Ok(out)
}
