//! Serial-over-LAN in the browser through the server (M4 over the API): `GET
//! /api/v1/devices/{uuid}/sol` upgrades to a WebSocket that the server relays to the device's
//! redirection port, so the device's admin password never leaves the server.
//!
//! **Who may open one.** An operator (the route table, [`super::routes`]), authenticated by the
//! auth layer with a bearer token or the session cookie (browsers cannot set headers on a
//! WebSocket). The cookie is sent by the browser whatever page opened the socket, so the
//! upgrade is refused (403) when an `Origin` header names another host than the request's
//! `Host` (the host:port must match; the scheme may differ behind a TLS proxy). A request that
//! is not a WebSocket upgrade gets 426.
//!
//! **The device.** Reached as the console API reaches it (`api_console`'s `Reach`): a device
//! the server provisioned over TLS on 16995, its certificate verified against the CA root with
//! the FQDN as name and the console certificate offered when asked (mutual TLS); a device
//! adopted with a pinned certificate over TLS pinned to it; a plain device on 16994 (digest
//! authentication still protects the password). The admin password in force is used, and the
//! other stored one while a password rotation is unsettled and the device refuses the first.
//!
//! **The socket.** Text frames from the server are JSON status messages:
//! `{"type":"status","state":"connecting"}`, `{"type":"status","state":"connected"}` and, last,
//! `{"type":"status","state":"closed","reason":"..."}` with the reason in plain words (device
//! unreachable, authentication failed, another SOL session is open, closed by user, idle
//! timeout, …), followed by a close frame. Binary frames from the server are the host's serial
//! output, as the device sent it. Binary or text frames from the client are keystrokes, typed
//! as they come.
//!
//! **Bounds.** Frames and messages from the client are at most [`MAX_FRAME`] bytes; one SOL
//! session per device (AMT allows one; a second is refused with a status),
//! [`SolLimits::max_per_user`] per user name and [`SolLimits::max_sessions`] in the whole
//! server; a session idle (nothing typed and no output) for [`SolLimits::idle_timeout`] is
//! closed; the server pings the client every [`SolLimits::ping_every`] and closes a socket that
//! stays silent for three of them, or that does not take a frame within one of them (it
//! stopped reading). Input the device has not taken yet holds the client back (no unbounded
//! queue); input the device does not take within [`SolLimits::input_timeout`] closes the
//! session.
//!
//! **The caller, again.** The upgrade's credentials (its `Cookie` and `Authorization`
//! headers) are kept with the session and put through the auth layer again every
//! [`SolLimits::recheck_every`]: after a logout, a session expiry, the user's disabling or
//! removal the socket is closed with "your session ended", after a role change below operator
//! with "your role no longer allows SOL". When the credentials cannot be checked (the store
//! failed) the session goes on and the next check decides.
//!
//! **Audit.** `sol-session` is recorded as `started` (actor: the authenticated caller, the
//! device, the port and transport) before the server connects to the device; when the audit
//! log cannot be written the session is refused with that reason and the device is not
//! contacted. When the session ends: `ended` (or `failed: reason` when it never got connected,
//! or the device connection broke) with the duration, the bytes each way and the reason.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amt_wire::redirection::SessionStatus;
use amt_wsman::secret::SecretString;
use amtd_infra::device_tls::{device_access, ConsoleTls};
use amtd_infra::redirection::sol::{SolEvent, SolInput, SolSession, MAX_SEND};
use amtd_infra::redirection::{RedirectionError, RedirectionTarget};
use amtd_infra::store::{AccessScheme, AuditResult, SecretKind};
use amtd_infra::transport::{CertFingerprint, ServerVerification, TlsOptions};
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::auth::{Auth, Caller};
use super::discovery::AuditLog;
use super::ServerCore;

/// Largest WebSocket frame and message the server takes from a client.
pub const MAX_FRAME: usize = 64 * 1024;
/// The audit log's name for the action.
pub const AUDIT_ACTION: &str = "sol-session";

/// How many sessions, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SolLimits {
    /// SOL sessions open at once in the whole server.
    pub max_sessions: usize,
    /// SOL sessions one user (by name) may have open at once.
    pub max_per_user: usize,
    /// A session with nothing typed and no output for this long is closed.
    pub idle_timeout: Duration,
    /// How often the client is pinged; a client silent for three pings is gone, and one that
    /// does not take a frame within one ping interval stopped reading.
    pub ping_every: Duration,
    /// How long the device may take to accept a piece of input.
    pub input_timeout: Duration,
    /// How often the caller's credentials are checked again while the session is open.
    pub recheck_every: Duration,
    /// How long connecting to the device and starting SOL may take.
    pub connect_timeout: Duration,
}

impl Default for SolLimits {
    fn default() -> Self {
        SolLimits {
            max_sessions: 64,
            max_per_user: 4,
            idle_timeout: Duration::from_secs(30 * 60),
            ping_every: Duration::from_secs(30),
            input_timeout: Duration::from_secs(30),
            recheck_every: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(20),
        }
    }
}

/// Open sessions: device UUID → the user name that opened it.
type Open = Arc<Mutex<HashMap<String, String>>>;

/// What the handler shares.
#[derive(Clone)]
struct SolState {
    core: Arc<ServerCore>,
    audit: AuditLog,
    open: Open,
    limits: SolLimits,
    /// The SOL route alone behind the auth layer: what re-admits an open session's caller.
    admit: Router,
}

/// The SOL route (merged into the API router, behind the auth layer `auth`).
pub fn router(
    core: Arc<ServerCore>,
    auth: Arc<Auth>,
    audit: AuditLog,
    limits: SolLimits,
) -> Router {
    let admit = Router::new()
        .route(
            "/api/v1/devices/{uuid}/sol",
            get(|Extension(caller): Extension<Caller>| async move { caller.name }),
        )
        .layer(axum::middleware::from_fn_with_state(
            auth,
            super::auth::layer,
        ));
    let state = SolState {
        core,
        audit,
        open: Arc::new(Mutex::new(HashMap::new())),
        limits,
        admit,
    };
    Router::new()
        .route("/api/v1/devices/{uuid}/sol", get(sol))
        .with_state(state)
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Whether the request's `Origin` (when it has one) names the host:port the request was sent
/// to. The scheme is not compared (a TLS proxy in front of a plain listener).
fn origin_matches(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(HeaderValue::to_str),
    ) else {
        return false;
    };
    let Some((_, authority)) = origin.split_once("://") else {
        // "null" (sandboxed pages, file:) and anything without a scheme.
        return false;
    };
    let authority = authority.trim_end_matches('/');
    !authority.is_empty()
        && !authority.contains(['/', '@'])
        && authority.eq_ignore_ascii_case(host.trim())
}

/// `GET /api/v1/devices/{uuid}/sol`.
async fn sol(
    State(s): State<SolState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(caller): Extension<Caller>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let uuid = match super::api::uuid_param(&uuid) {
        Ok(uuid) => uuid,
        Err(e) => return e.into_response(),
    };
    if !origin_matches(&headers) {
        tracing::warn!(user = %caller.name, peer = %peer, device.uuid = %uuid,
            "SOL WebSocket refused: its Origin is not this server");
        return refuse(
            StatusCode::FORBIDDEN,
            "the WebSocket's Origin is not this server (cross-site WebSocket requests are refused)",
        );
    }
    let ws = match upgrade {
        Ok(ws) => ws,
        Err(e) => {
            let mut r = refuse(
                StatusCode::UPGRADE_REQUIRED,
                format!("this route is a WebSocket (SOL terminal): send a WebSocket upgrade ({e})"),
            );
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return r;
        }
    };
    match s.core.store().get_device(&uuid).await {
        Ok(Some(_)) => {}
        Ok(None) => return refuse(StatusCode::NOT_FOUND, format!("no device {uuid}")),
        Err(e) => {
            tracing::error!(error = %e, "the store failed");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    }
    // The credentials, checked again while the session is open.
    let mut creds = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::COOKIE] {
        for v in headers.get_all(&name) {
            creds.append(name.clone(), v.clone());
        }
    }
    let who = Who {
        caller,
        creds,
        peer,
    };
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let mut socket = socket;
            let closing = bridge(&s, &mut socket, &who, &uuid).await;
            close(&mut socket, closing).await;
        })
}

/// Who opened the session, and the credentials they opened it with.
struct Who {
    caller: Caller,
    /// The upgrade's `Authorization` and `Cookie` headers.
    creds: HeaderMap,
    peer: SocketAddr,
}

/// Puts the session's credentials through the auth layer again: `Err` with the reason to
/// close when they no longer admit the caller to SOL on `uuid`.
async fn recheck_caller(s: &SolState, who: &Who, uuid: &str) -> Result<(), Closing> {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = match format!("/api/v1/devices/{uuid}/sol").parse() {
        Ok(uri) => uri,
        Err(_) => return Ok(()),
    };
    *req.headers_mut() = who.creds.clone();
    let answer =
        match tokio::time::timeout(s.limits.recheck_every, s.admit.clone().oneshot(req)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(never)) => match never {},
            Err(_) => {
                tracing::warn!(user = %who.caller.name, device.uuid = %uuid,
                "SOL session: the caller's credentials could not be checked in time");
                return Ok(());
            }
        };
    let status = answer.status();
    let body = axum::body::to_bytes(answer.into_body(), 4096)
        .await
        .unwrap_or_default();
    let why = || {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string())
    };
    match status {
        StatusCode::OK if body == who.caller.name.as_bytes() => Ok(()),
        StatusCode::OK => Err(Closing::new(
            close_code::POLICY,
            "your session ended: its credentials now name another user",
        )),
        StatusCode::UNAUTHORIZED => Err(Closing::new(
            close_code::POLICY,
            format!("your session ended: {}", why()),
        )),
        StatusCode::FORBIDDEN => Err(Closing::new(
            close_code::POLICY,
            format!("your role no longer allows SOL: {}", why()),
        )),
        _ => {
            tracing::warn!(user = %who.caller.name, device.uuid = %uuid, status = %status,
                error = %why(), "SOL session: the caller's credentials could not be checked");
            Ok(())
        }
    }
}

/// How a session ended: the reason for the client and the close code.
#[derive(Debug)]
struct Closing {
    reason: String,
    code: u16,
    /// The client sent a close frame (or vanished): it gets no status.
    client_closed: bool,
}

impl Closing {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Closing {
            reason: reason.into(),
            code,
            client_closed: false,
        }
    }

    fn by_client(reason: impl Into<String>) -> Self {
        Closing {
            client_closed: true,
            ..Closing::new(close_code::NORMAL, reason)
        }
    }
}

/// How long the last status and the close frame may take to go out.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Sends `m` unless the client does not take it within `deadline` (it stopped reading).
async fn send(socket: &mut WebSocket, m: Message, deadline: Duration) -> Result<(), Closing> {
    match tokio::time::timeout(deadline, socket.send(m)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Closing::by_client(
            "closed by user (the connection dropped)",
        )),
        Err(_) => Err(Closing::new(close_code::AWAY, "the client stopped reading")),
    }
}

/// Sends the last status and the close frame; when the client closed first, completes the
/// closing handshake (its close frame is answered; nothing may follow it).
async fn close(socket: &mut WebSocket, c: Closing) {
    if c.client_closed {
        // Reading again sends the queued answer to the client's close frame.
        let _ = tokio::time::timeout(CLOSE_WAIT, socket.recv()).await;
        return;
    }
    let status = json!({ "type": "status", "state": "closed", "reason": c.reason });
    let _ = send(socket, Message::Text(status.to_string().into()), CLOSE_WAIT).await;
    // A close frame's reason is at most 123 bytes; the status above has it all.
    let short = match c.code {
        close_code::NORMAL => "closed",
        close_code::AGAIN => "busy",
        close_code::POLICY => "refused",
        _ => "failed",
    };
    let close = Message::Close(Some(CloseFrame {
        code: c.code,
        reason: short.into(),
    }));
    let _ = send(socket, close, CLOSE_WAIT).await;
}

async fn status(socket: &mut WebSocket, state: &str, deadline: Duration) -> Result<(), Closing> {
    let m = Message::Text(
        json!({ "type": "status", "state": state })
            .to_string()
            .into(),
    );
    send(socket, m, deadline).await
}

/// The device's slot: one SOL session per device, a bounded number per user and in all.
/// Freed on drop.
#[derive(Debug)]
struct Slot {
    open: Open,
    uuid: String,
}

impl Slot {
    fn take(
        open_slots: &Open,
        limits: &SolLimits,
        uuid: &str,
        user: &str,
    ) -> Result<Slot, Closing> {
        let mut open = open_slots.lock().unwrap_or_else(|p| p.into_inner());
        if open.contains_key(uuid) {
            return Err(Closing::new(
                close_code::AGAIN,
                format!(
                    "another SOL session is open on device {uuid} (AMT allows one at a time); \
                     close it first"
                ),
            ));
        }
        let mine = open.values().filter(|u| *u == user).count();
        if mine >= limits.max_per_user {
            return Err(Closing::new(
                close_code::AGAIN,
                format!(
                    "user {user:?} has {mine} SOL sessions open, the limit per user; \
                     close one first"
                ),
            ));
        }
        if open.len() >= limits.max_sessions {
            return Err(Closing::new(
                close_code::AGAIN,
                format!(
                    "the server has {} SOL sessions open, its limit; try again later",
                    open.len()
                ),
            ));
        }
        open.insert(uuid.to_owned(), user.to_owned());
        Ok(Slot {
            open: open_slots.clone(),
            uuid: uuid.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.uuid);
    }
}

/// How to reach the device's redirection port, and the password to try when the one in force
/// is refused (an unsettled rotation).
struct Reach {
    target: RedirectionTarget,
    fallback: Option<SecretString>,
    transport: &'static str,
}

/// Builds the redirection target from the store, as the console API builds WS-Man sessions.
async fn reach(s: &SolState, uuid: &str) -> Result<Reach, String> {
    let store = s.core.store();
    let device = store
        .get_device(uuid)
        .await
        .map_err(|e| format!("the store failed: {e}"))?
        .ok_or_else(|| format!("no device {uuid}"))?;
    if device.state != "provisioned" {
        return Err(format!(
            "device {uuid} is not provisioned (state {}), so it has no SOL for the server",
            device.state
        ));
    }
    let access = store
        .access(uuid)
        .await
        .map_err(|e| format!("the store failed: {e}"))?;
    let tls = s
        .core
        .with_pki(|pki| ConsoleTls::from_pki(pki))
        .ok_or("the CA store is unavailable")?
        .map_err(|e| e.to_string())?;
    let user = amt_wsman::password::ADMIN_USERNAME;
    let (mut target, fallback, transport) = match access.scheme {
        AccessScheme::Tls => {
            let a = device_access(store, &tls, uuid)
                .await
                .map_err(|e| e.to_string())?;
            (
                RedirectionTarget::tls(&a.address, a.tls.clone(), user, a.password.clone()),
                a.fallback_password.clone(),
                "tls",
            )
        }
        scheme => {
            let address = device
                .address
                .clone()
                .or_else(|| device.fqdn.clone())
                .ok_or_else(|| format!("device {uuid}: no address is known"))?;
            let (first, then) = amtd_infra::device_tls::admin_password_versions(store, uuid)
                .await
                .map_err(|e| format!("the store failed: {e}"))?
                .ok_or_else(|| format!("device {uuid}: no admin password is stored"))?;
            let secret = |v| store.get_secret_version(uuid, SecretKind::Admin, v);
            let password = secret(first)
                .await
                .map_err(|e| format!("the store failed: {e}"))?
                .ok_or_else(|| format!("device {uuid}: no admin password is stored"))?;
            let fallback = match then {
                Some(v) => secret(v)
                    .await
                    .map_err(|e| format!("the store failed: {e}"))?,
                None => None,
            };
            if scheme == AccessScheme::Plain {
                (
                    RedirectionTarget::plain(&address, user, password),
                    fallback,
                    "plain",
                )
            } else {
                let pin = access
                    .pin_sha256
                    .as_deref()
                    .and_then(CertFingerprint::from_hex)
                    .ok_or("the stored certificate pin is unusable")?;
                let mut options = TlsOptions::new(ServerVerification::PinnedSha256(pin));
                if let Some(id) = tls.identity() {
                    options = options.with_client_identity(id.clone());
                }
                (
                    RedirectionTarget::tls(&address, options, user, password),
                    fallback,
                    "tls-pinned",
                )
            }
        }
    };
    target.timeout = s.limits.connect_timeout;
    Ok(Reach {
        target,
        fallback,
        transport,
    })
}

/// A redirection failure in words for the person at the terminal.
fn in_words(e: &RedirectionError) -> String {
    match e {
        RedirectionError::Connect { peer, source } => {
            format!("device unreachable: cannot connect to {peer} ({source})")
        }
        RedirectionError::Timeout { during, .. } => {
            format!("device unreachable: it did not answer in time ({during})")
        }
        RedirectionError::AuthenticationFailed { .. } => {
            "authentication failed: the device refused the stored admin password".into()
        }
        RedirectionError::Refused {
            status: SessionStatus::Busy,
            ..
        } => "the device refused SOL: another SOL session is open on it (AMT allows one)".into(),
        RedirectionError::Refused { what, status } => {
            format!("the device refused {what} ({status:?}): is SOL enabled on it?")
        }
        RedirectionError::Tls(t) => format!("TLS to the device failed: {t}"),
        other => format!("the device connection failed: {other}"),
    }
}

/// The same target with another password.
fn with_password(t: &RedirectionTarget, password: SecretString) -> RedirectionTarget {
    let mut out = match &t.tls {
        Some(tls) => RedirectionTarget::tls(&t.host, tls.clone(), &t.user, password),
        None => RedirectionTarget::plain(&t.host, &t.user, password),
    };
    out.port = t.port;
    out.timeout = t.timeout;
    out.allow_plain_auth = t.allow_plain_auth;
    out
}

/// Connects (with the fallback password after a refusal) within the connect timeout.
async fn connect(r: &Reach) -> Result<SolSession, String> {
    let first = tokio::time::timeout(
        r.target.timeout + Duration::from_secs(5),
        SolSession::start(&r.target),
    )
    .await;
    match first {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(RedirectionError::AuthenticationFailed { .. })) if r.fallback.is_some() => {
            let mut target = r.target.clone();
            if let Some(p) = &r.fallback {
                target = with_password(&r.target, p.clone());
            }
            match tokio::time::timeout(
                target.timeout + Duration::from_secs(5),
                SolSession::start(&target),
            )
            .await
            {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(in_words(&e)),
                Err(_) => Err("device unreachable: starting SOL took too long".into()),
            }
        }
        Ok(Err(e)) => Err(in_words(&e)),
        Err(_) => Err("device unreachable: starting SOL took too long".into()),
    }
}

/// What a session moved.
#[derive(Debug, Default)]
struct Counts {
    to_device: u64,
    from_device: u64,
}

/// The whole session: slot, audit, connect, relay. Returns how to close the socket.
async fn bridge(s: &SolState, socket: &mut WebSocket, who: &Who, uuid: &str) -> Closing {
    let (caller, peer) = (&who.caller, who.peer);
    let _slot = match Slot::take(&s.open, &s.limits, uuid, &caller.name) {
        Ok(slot) => slot,
        Err(c) => {
            tracing::info!(user = %caller.name, device.uuid = %uuid, reason = %c.reason,
                "SOL session refused");
            return c;
        }
    };
    let r = match reach(s, uuid).await {
        Ok(r) => r,
        Err(why) => return Closing::new(close_code::POLICY, why),
    };
    let detail = json!({
        "port": r.target.port,
        "transport": r.transport,
    });
    // Recorded before the device is contacted: no record, no session.
    if let Err(e) = s
        .audit
        .record(
            &caller.name,
            AUDIT_ACTION,
            Some(uuid),
            AuditResult::Started,
            detail.clone(),
            Some(peer),
        )
        .await
    {
        return Closing::new(close_code::ERROR, format!("the session was refused: {e}"));
    }
    let started = Instant::now();
    let mut counts = Counts::default();
    let (result, closing) = match status(socket, "connecting", s.limits.ping_every).await {
        Err(c) => (AuditResult::Failed(c.reason.clone()), c),
        Ok(()) => match connect(&r).await {
            Err(why) => (
                AuditResult::Failed(why.clone()),
                Closing::new(close_code::ERROR, why),
            ),
            Ok(session) => {
                tracing::info!(user = %caller.name, device.uuid = %uuid, peer = %peer,
                    device = %session.peer(), "SOL session connected");
                relay(s, socket, who, uuid, session, &mut counts).await
            }
        },
    };
    let elapsed = started.elapsed();
    let mut end = detail;
    end["reason"] = closing.reason.clone().into();
    end["duration_ms"] = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .into();
    end["bytes_to_device"] = counts.to_device.into();
    end["bytes_from_device"] = counts.from_device.into();
    s.audit
        .outcome(
            &caller.name,
            AUDIT_ACTION,
            Some(uuid),
            result,
            end,
            Some(peer),
        )
        .await;
    tracing::info!(user = %caller.name, device.uuid = %uuid, reason = %closing.reason,
        secs = elapsed.as_secs_f64(), to_device = counts.to_device,
        from_device = counts.from_device, "SOL session closed");
    closing
}

/// Relays until either side ends, the client goes silent or stops reading, the device stops
/// taking input, the session idles out or the caller's credentials no longer admit them.
async fn relay(
    s: &SolState,
    socket: &mut WebSocket,
    who: &Who,
    uuid: &str,
    mut session: SolSession,
    counts: &mut Counts,
) -> (AuditResult, Closing) {
    let deadline = s.limits.ping_every;
    if let Err(c) = status(socket, "connected", deadline).await {
        let _ = session.close().await;
        return (AuditResult::Ended, c);
    }
    let input = session.input();
    // Keystrokes the device has not taken yet (each at most MAX_SEND bytes); while there are
    // some, the client is not read: it waits, nothing queues without bound. The device has
    // until `front_since + input_timeout` to take the first.
    let mut pending: VecDeque<Vec<u8>> = VecDeque::new();
    let mut front_since = Instant::now();
    let idle = s.limits.idle_timeout;
    let mut last_activity = Instant::now();
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(Instant::now() + deadline, deadline);
    let mut recheck = tokio::time::interval_at(
        Instant::now() + s.limits.recheck_every,
        s.limits.recheck_every,
    );
    let silent_limit = deadline * 3;
    let (broke, closing) = loop {
        tokio::select! {
            ev = session.recv() => match ev {
                Some(SolEvent::Data(d)) => {
                    counts.from_device += d.len() as u64;
                    last_activity = Instant::now();
                    if let Err(c) = send(socket, Message::Binary(d.into()), deadline).await {
                        break (false, c);
                    }
                }
                Some(SolEvent::Controls { .. }) => {}
                None => break (true, Closing::new(close_code::ERROR, "the device ended the session")),
            },
            sent = send_front(&input, &pending), if !pending.is_empty() => {
                if sent.is_err() {
                    break (true, Closing::new(close_code::ERROR, "the device ended the session"));
                }
                if let Some(chunk) = pending.pop_front() {
                    counts.to_device += chunk.len() as u64;
                }
                front_since = Instant::now();
                if pending.is_empty() {
                    // The client was not read meanwhile: its silence was ours.
                    last_heard = Instant::now();
                }
            }
            () = tokio::time::sleep_until(front_since + s.limits.input_timeout), if !pending.is_empty() => {
                break (false, Closing::new(close_code::ERROR, "the device stopped taking input"));
            }
            msg = socket.recv(), if pending.is_empty() => {
                last_heard = Instant::now();
                let bytes = match msg {
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => {
                        break (false, Closing::by_client("closed by user"));
                    }
                    Some(Err(e)) => {
                        break (false, Closing::by_client(format!("the client's connection failed: {e}")));
                    }
                };
                if !bytes.is_empty() {
                    last_activity = Instant::now();
                    front_since = Instant::now();
                    pending.extend(bytes.chunks(MAX_SEND).map(<[u8]>::to_vec));
                }
            }
            _ = ping.tick() => {
                if pending.is_empty() && last_heard.elapsed() >= silent_limit {
                    break (false, Closing::new(close_code::AWAY, "the client stopped answering keep-alive pings"));
                }
                if let Err(c) = send(socket, Message::Ping(Vec::new().into()), deadline).await {
                    break (false, c);
                }
            }
            _ = recheck.tick() => {
                if let Err(c) = recheck_caller(s, who, uuid).await {
                    tracing::info!(user = %who.caller.name, device.uuid = %uuid,
                        reason = %c.reason, "SOL session: the caller is no longer admitted");
                    break (false, c);
                }
            }
            () = tokio::time::sleep_until(last_activity + idle) => {
                break (false, Closing::new(
                    close_code::NORMAL,
                    format!("idle timeout: nothing typed and no output for {} s", idle.as_secs()),
                ));
            }
        }
    };
    drop(input);
    let ended = session.close().await;
    let result = match (&ended, broke) {
        (Err(e), true) => {
            let why = format!("the device ended the session: {}", in_words(e));
            return (
                AuditResult::Failed(why.clone()),
                Closing::new(closing.code, why),
            );
        }
        _ => AuditResult::Ended,
    };
    (result, closing)
}

async fn send_front(input: &SolInput, pending: &VecDeque<Vec<u8>>) -> Result<(), ()> {
    match pending.front() {
        Some(chunk) => input.send(chunk).await.map_err(|_| ()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_name_the_requests_host_and_port_in_any_scheme() {
        assert!(origin_matches(&headers(&[("host", "127.0.0.1:9972")])));
        assert!(origin_matches(&headers(&[
            ("host", "127.0.0.1:9972"),
            ("origin", "http://127.0.0.1:9972")
        ])));
        assert!(origin_matches(&headers(&[
            ("host", "amtd.example:8443"),
            ("origin", "https://AMTD.example:8443")
        ])));
        for bad in [
            "http://127.0.0.1:9973",
            "http://evil.example",
            "null",
            "http://127.0.0.1:9972.evil.example",
            "http://user@127.0.0.1:9972",
            "127.0.0.1:9972",
        ] {
            let h = headers(&[("host", "127.0.0.1:9972"), ("origin", bad)]);
            assert!(!origin_matches(&h), "{bad}");
        }
        assert!(!origin_matches(&headers(&[("origin", "http://x")])));
    }

    #[test]
    fn one_user_holds_at_most_max_per_user_sessions_and_others_still_get_theirs() {
        let open: Open = Arc::default();
        let limits = SolLimits {
            max_sessions: 6,
            max_per_user: 2,
            ..SolLimits::default()
        };
        let a = Slot::take(&open, &limits, "dev-a", "otto").unwrap();
        let _b = Slot::take(&open, &limits, "dev-b", "otto").unwrap();
        let refused = Slot::take(&open, &limits, "dev-c", "otto").unwrap_err();
        assert_eq!(refused.code, close_code::AGAIN);
        assert!(
            refused.reason.contains("the limit per user"),
            "{}",
            refused.reason
        );
        // Another user is not held back by otto's sessions.
        let _c = Slot::take(&open, &limits, "dev-c", "vera").unwrap();
        // The device check comes first: its reason is the one that helps.
        let busy = Slot::take(&open, &limits, "dev-a", "vera").unwrap_err();
        assert!(
            busy.reason.contains("another SOL session is open"),
            "{}",
            busy.reason
        );
        // A closed session frees the user's slot.
        drop(a);
        let _d = Slot::take(&open, &limits, "dev-d", "otto").unwrap();
    }

    #[test]
    fn the_server_wide_limit_still_holds_across_users() {
        let open: Open = Arc::default();
        let limits = SolLimits {
            max_sessions: 2,
            ..SolLimits::default()
        };
        let _a = Slot::take(&open, &limits, "dev-a", "otto").unwrap();
        let _b = Slot::take(&open, &limits, "dev-b", "vera").unwrap();
        let full = Slot::take(&open, &limits, "dev-c", "ida").unwrap_err();
        assert!(full.reason.contains("its limit"), "{}", full.reason);
    }
}
