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
//! [`MAX_STREAMS`] streams are open at once (more get 503), at most [`MAX_STREAMS_PER_USER`]
//! per user (more get 429), and a stream ends after [`MAX_STREAM_AGE`]: the browser reconnects
//! and is authenticated again. A failed store read is a `store-error` event (the rows are not
//! diffed against it).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amtd_infra::store::DeviceFilter;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::{device_json, unix};
use super::auth::Caller;
use super::{DeviceStatus, ServerCore};

/// Longest a stream goes without re-reading the store.
pub const POLL: Duration = Duration::from_secs(2);
/// Streams open at once.
pub const MAX_STREAMS: usize = 64;
/// Streams one user may have open at once.
pub const MAX_STREAMS_PER_USER: usize = 8;
/// Longest a stream stays open; the client reconnects (EventSource does so by itself, after
/// the `retry` the snapshot names) and is authenticated again, so a user logged out, disabled
/// or demoted stops receiving the fleet within this time.
pub const MAX_STREAM_AGE: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct EventsState {
    core: Arc<ServerCore>,
    streams: Arc<tokio::sync::Semaphore>,
    per_user: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    shared: Arc<tokio::sync::Mutex<Option<Shared>>>,
}

/// One of a user's open streams; counted down when the stream ends.
struct UserStream {
    per_user: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    user: String,
}

impl UserStream {
    /// Counts a stream for `user`, unless they have [`MAX_STREAMS_PER_USER`] open.
    fn open(per_user: &Arc<std::sync::Mutex<HashMap<String, usize>>>, user: &str) -> Option<Self> {
        let mut map = per_user.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(user.to_owned()).or_insert(0);
        if *n >= MAX_STREAMS_PER_USER {
            return None;
        }
        *n += 1;
        Some(UserStream {
            per_user: per_user.clone(),
            user: user.to_owned(),
        })
    }
}

impl Drop for UserStream {
    fn drop(&mut self) {
        let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
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
            per_user: Arc::new(std::sync::Mutex::new(HashMap::new())),
            shared: Arc::new(tokio::sync::Mutex::new(None)),
        })
}

async fn events(State(s): State<EventsState>, Extension(caller): Extension<Caller>) -> Response {
    let Some(mine) = UserStream::open(&s.per_user, &caller.name) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({ "error": format!(
                "user {:?} already has {MAX_STREAMS_PER_USER} event streams open; close one",
                caller.name
            ) })),
        )
            .into_response();
    };
    let Ok(permit) = s.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": "too many event streams are open; try again later" })),
        )
            .into_response();
    };
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::spawn(async move {
        let _held = (permit, mine);
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
    let opened = Instant::now();
    loop {
        if opened.elapsed() >= MAX_STREAM_AGE {
            // The client reconnects (EventSource does by itself) and is authenticated again, so
            // a logged-out, disabled or demoted user stops receiving the fleet.
            return;
        }
        let version = *watch.borrow_and_update();
        let rows = match s.rows(version).await {
            Ok(rows) => Some(rows),
            Err(e) => {
                // Nothing is diffed against a failed read (that would look like every device
                // removed); the client is told and the next read tries again.
                let ev = Event::default()
                    .event("store-error")
                    .data(json!({ "error": e }).to_string());
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
                None
            }
        };
        if let Some(rows) = rows {
            if !send_changes(tx, &rows, &mut sent, &mut first).await {
                return;
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

/// Sends the snapshot (first time) or the rows that changed since; false when the client is
/// gone.
async fn send_changes(
    tx: &mpsc::Sender<Result<Event, Infallible>>,
    rows: &BTreeMap<String, Value>,
    sent: &mut BTreeMap<String, String>,
    first: &mut bool,
) -> bool {
    if *first {
        let all: Vec<&Value> = rows.values().collect();
        let ev = Event::default()
            .event("snapshot")
            .retry(Duration::from_secs(1))
            .data(Value::from(all.into_iter().cloned().collect::<Vec<_>>()).to_string());
        if tx.send(Ok(ev)).await.is_err() {
            return false;
        }
        *sent = rows
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        *first = false;
    } else {
        for (uuid, row) in rows {
            let text = row.to_string();
            if sent.get(uuid) != Some(&text) {
                let ev = Event::default().event("device").data(text.clone());
                if tx.send(Ok(ev)).await.is_err() {
                    return false;
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
                return false;
            }
        }
    }
    true
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
