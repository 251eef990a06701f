//! Who is calling the API, and may they: the authentication layer in front of every route,
//! login/logout/me, password hashing, the login rate limit and the first-start bootstrap.
//!
//! Credentials: `Authorization: Bearer <API token>` (looked up by its SHA-256; the token itself
//! is never stored), or the `amtd_session` cookie set by `POST /api/v1/login` (HttpOnly,
//! SameSite=Strict, Path=/, Secure when the listener is TLS). With the cookie, every
//! state-changing method (POST, PUT, PATCH, DELETE) must carry `X-CSRF-Token` equal to the
//! session's CSRF token. Answers: 401 without valid credentials, 403 when the role is below the
//! route's ([`super::routes`]) or the CSRF token is missing or wrong. A route the table does not
//! list is refused (500) even if the router has it: nothing is reachable undocumented.
//!
//! Handlers find the authenticated [`Caller`] in the request's extensions
//! (`axum::Extension<Caller>`), so audit records can name who acted.
//!
//! Passwords are argon2id (the argon2 crate's defaults, OWASP's recommendation: m=19 MiB, t=2,
//! p=1), at least [`MIN_PASSWORD`] characters, and never logged: they live in [`SecretString`].
//!
//! Sessions last [`AuthOptions::session_ttl`] from login (`[server.auth] session_lifetime`,
//! `amtd lab --session-lifetime`; default 8 h) and, when [`AuthOptions::idle_timeout`] is set,
//! end earlier after that long without a request. Activity is written at most once a minute,
//! or every quarter of the idle timeout when that is shorter (see [`session_touch_every`]), so a
//! session in use never looks idle and an idle one ends between three quarters of the idle
//! timeout and all of it after its last request.
//!
//! # Audit
//! Logins and logouts go into the audit chain (action `login`, `logout`; `peer` the source
//! address; never the password):
//! - A successful login is recorded as `login` `ok` (actor: the user) *before* the session is
//!   created; when that record cannot be written the login is refused with 503 and no session
//!   exists — a session is a privilege like any other the API grants.
//! - A failed login is recorded as `login` `failed: <reason>` with the user name as given
//!   (actor; control characters replaced, cut to 64 characters) and is answered 401 **whether
//!   or not the record could be written**. The failure to write is logged (error) instead.
//!   Answering 503 there would tell a password guesser that the audit log is down (so its
//!   guesses go unrecorded), and would make a guess's answer depend on something other than
//!   the credentials. The rate limit counts the failure either way (it is in memory). A
//!   correct password still meets the 503 above, which tells the guesser nothing a working
//!   audit log would not (it would have got a session).
//! - A login refused by the rate limit (429) is recorded once per key (source address or user
//!   name) per limited window, not per attempt: the first refusal records `failed: rate-limited`
//!   and marks the bucket; the mark is cleared when a failure is counted again after the bucket
//!   refilled. The marks live in the limiter's bounded table, so a flood cannot grow the chain
//!   faster than the limiter lets failures through. A full table is recorded at most once a
//!   minute.
//! - A logout is recorded as `logout` (`ended` when a session ended, `ok` for a bearer token)
//!   after the session is deleted: a logout only takes privilege away, so it is never refused
//!   for want of an audit record.
//!
//! The first start's bootstrap (administrator and `api-token` registration) is recorded with
//! actor `amtd` (`user-create`, `token-create`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amt_wsman::secret::SecretString;
use amtd_infra::store::{AuditResult, Session, Store};
use anyhow::Context as _;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::discovery::{AuditLog, SERVER_ACTOR};
use super::routes::{self, Access, Lookup, Role};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "amtd_session";
/// The CSRF header cookie-authenticated state changes must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// The bootstrap administrator.
pub const BOOTSTRAP_USER: &str = "admin";
/// File holding the bootstrap administrator's first password (mode 0600).
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// A session's lifetime by default.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Failed logins allowed per source address and per user name before 429 …
pub const LOGIN_BURST: f64 = 5.0;
/// … and how fast that allowance comes back (failures per minute).
pub const LOGIN_PER_MINUTE: f64 = 5.0;
/// Sources and names the login limiter remembers at once.
pub const LIMITER_ENTRIES: usize = 10_000;
/// Last-use times are written at most this often per token or session (sessions more often
/// under a short idle timeout: [`session_touch_every`]).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How stale a session's recorded activity may get before a request rewrites it: [`TOUCH_EVERY`],
/// or a quarter of the idle timeout when that is shorter. The recorded time then lags the last
/// request by less than a quarter of the timeout, so requests closer together than three
/// quarters of it keep the session alive.
fn session_touch_every(idle_timeout: Option<Duration>) -> Duration {
    idle_timeout.map_or(TOUCH_EVERY, |idle| TOUCH_EVERY.min(idle / 4))
}

/// The authenticated caller, in every authenticated request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

/// How the API authenticates.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Mark the session cookie Secure (the listener is TLS).
    pub secure_cookie: bool,
    /// Session lifetime (from login).
    pub session_ttl: Duration,
    /// End a session after this long without a request (`None`: only its lifetime ends it).
    pub idle_timeout: Option<Duration>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            secure_cookie: false,
            session_ttl: SESSION_TTL,
            idle_timeout: None,
        }
    }
}

/// The authentication layer's state.
pub struct Auth {
    pub(super) store: Store,
    /// The audit chain user, token and session changes are written to.
    pub(super) audit: AuditLog,
    options: AuthOptions,
    limiter: Mutex<LoginLimiter>,
    /// Verified when the user does not exist, so a login takes as long either way.
    dummy_hash: String,
}

/// An error answer (`{"error": …}`, the API's shape; 401s name the Bearer scheme).
#[derive(Debug)]
pub(super) struct Refusal(pub(super) StatusCode, pub(super) String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"amtd\""),
            );
        }
        r
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    Refusal(status, message.into()).into_response()
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` random bytes in hex.
pub fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut raw = vec![0u8; n];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks a new password's length.
pub fn check_password(p: &SecretString) -> Result<(), String> {
    let n = p.expose().chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD} characters"
        ));
    }
    if p.len() > 1024 {
        return Err("a password has at most 1024 bytes".into());
    }
    Ok(())
}

/// Hashes a password with argon2id (random salt) into a PHC string. CPU-heavy: call from a
/// blocking task.
pub fn hash_password(p: &SecretString) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(p.expose().as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `p` matches the PHC string (false for a malformed one). CPU-heavy.
pub fn verify_password(p: &SecretString, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(p.expose().as_bytes(), &h)
            .is_ok()
    })
}

/// Hashes on the blocking pool.
pub async fn hash_password_async(p: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&p)).await?
}

impl Auth {
    /// The layer's state over `store`.
    #[must_use]
    pub fn new(store: Store, options: AuthOptions) -> Arc<Self> {
        // Only its cost matters: a login for an unknown user fails whatever it verifies.
        let dummy_hash = hash_password(&SecretString::from("no such user")).unwrap_or_default();
        Arc::new(Auth {
            audit: AuditLog::new(store.clone()),
            store,
            options,
            limiter: Mutex::new(LoginLimiter::new(LIMITER_ENTRIES)),
            dummy_hash,
        })
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, LoginLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The caller behind the request's credentials: `Ok(None)` when it carries none,
    /// `Err(answer)` when they are invalid (401) or a cookie request lacks its CSRF token (403).
    async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Option<Caller>, Refusal> {
        let now = SystemTime::now();
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or("");
            if token.is_empty() {
                return Err(unauthorized(
                    "malformed Authorization header (Bearer <token>)",
                ));
            }
            let hash = sha256_hex(token.as_bytes());
            let found = self
                .store
                .token_by_hash(&hash)
                .await
                .map_err(|e| store_failed(&e))?;
            let Some((tok, user)) = found else {
                return Err(unauthorized("unknown API token"));
            };
            if !bool::from(tok.token_sha256.as_bytes().ct_eq(hash.as_bytes())) {
                return Err(unauthorized("unknown API token"));
            }
            if tok.revoked_at.is_some() {
                return Err(unauthorized("the API token was revoked"));
            }
            if user.disabled {
                return Err(unauthorized("the token's user is disabled"));
            }
            let role = Role::parse(&user.role)
                .ok_or_else(|| unauthorized("the token's user has an unknown role"))?;
            if tok
                .last_used_at
                .is_none_or(|t| now.duration_since(t).unwrap_or_default() >= TOUCH_EVERY)
            {
                if let Err(e) = self.store.touch_token(&tok.id, now).await {
                    tracing::warn!(error = %e, token = %tok.id, "could not record a token's use");
                }
            }
            return Ok(Some(Caller {
                name: user.name,
                role,
            }));
        }
        let Some(session_id) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = sha256_hex(session_id.as_bytes());
        let found = self
            .store
            .session_by_hash(&hash, now)
            .await
            .map_err(|e| store_failed(&e))?;
        let Some((session, user)) = found else {
            return Err(unauthorized("no such session, or it expired: log in again"));
        };
        if user.disabled {
            return Err(unauthorized("the session's user is disabled"));
        }
        if let Some(idle) = self.options.idle_timeout {
            if now.duration_since(session.last_seen_at).unwrap_or_default() >= idle {
                if let Err(e) = self.store.delete_session(&session.id_sha256).await {
                    tracing::warn!(error = %e, "could not delete an idle session");
                }
                return Err(unauthorized("the session was idle too long: log in again"));
            }
        }
        let role = Role::parse(&user.role)
            .ok_or_else(|| unauthorized("the session's user has an unknown role"))?;
        if is_state_changing(method) {
            let presented = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ok = !presented.is_empty()
                && bool::from(
                    sha256_hex(presented.as_bytes())
                        .as_bytes()
                        .ct_eq(session.csrf_sha256.as_bytes()),
                );
            if !ok {
                return Err(Refusal(
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token (a cookie session's state changes need the \
                     token login returned)"
                        .into(),
                ));
            }
        }
        if now.duration_since(session.last_seen_at).unwrap_or_default()
            >= session_touch_every(self.options.idle_timeout)
        {
            if let Err(e) = self.store.touch_session(&session.id_sha256, now).await {
                tracing::warn!(error = %e, "could not record a session's activity");
            }
        }
        Ok(Some(Caller {
            name: user.name,
            role,
        }))
    }
}

fn unauthorized(message: &str) -> Refusal {
    Refusal(StatusCode::UNAUTHORIZED, message.into())
}

fn store_failed(e: &amtd_infra::store::StoreError) -> Refusal {
    tracing::error!(error = %e, "the store failed while authenticating");
    Refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "credentials cannot be checked right now (the store failed)".into(),
    )
}

fn is_state_changing(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The value of cookie `name`, if the request has it.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The layer: finds the route in the table, authenticates, checks the role, and hands the
/// [`Caller`] to the handler.
pub async fn layer(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        // No route matched: the router answers 404.
        return next.run(req).await;
    };
    let route = match routes::find(req.method().as_str(), &path) {
        Lookup::Found(r) => r,
        Lookup::WrongMethod => {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
        }
        Lookup::Unknown => {
            tracing::error!(%path, "a route missing from the route table was refused");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this route is not in the API's route table",
            );
        }
    };
    let Access::AtLeast(needed) = route.access else {
        return next.run(req).await;
    };
    let caller = match auth.authenticate(req.method(), req.headers()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return unauthorized("credentials needed: a bearer token or a session").into_response()
        }
        Err(refusal) => return refusal.into_response(),
    };
    if caller.role < needed {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "{} {} needs the {needed} role; user {:?} is {}",
                route.method, route.path, caller.name, caller.role
            ),
        );
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

// ---- login rate limit ---------------------------------------------------------------------

/// Whose failures a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LimitKey {
    Source(IpAddr),
    User(String),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// A refusal of this key was audited since its last counted failure.
    reported: bool,
}

/// A login the limiter refuses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limited {
    /// How long until a key has a failure left.
    wait: Duration,
    /// The first refusal of a key in this window: audit it.
    report: bool,
}

/// Token buckets of failed logins per source address and per user name, in a bounded table.
#[derive(Debug)]
pub struct LoginLimiter {
    buckets: HashMap<LimitKey, Bucket>,
    max: usize,
    /// When a full table was last audited.
    full_reported: Option<Instant>,
}

impl LoginLimiter {
    /// A limiter remembering at most `max` keys.
    #[must_use]
    pub fn new(max: usize) -> Self {
        LoginLimiter {
            buckets: HashMap::new(),
            max: max.max(2),
            full_reported: None,
        }
    }

    fn rate() -> f64 {
        LOGIN_PER_MINUTE / 60.0
    }

    fn refilled(b: Bucket, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + dt * Self::rate()).min(LOGIN_BURST)
    }

    /// `Err` when a key has no failure left; its `report` is true the first time a key is
    /// refused since its last counted failure.
    fn check(&mut self, keys: &[LimitKey], now: Instant) -> Result<(), Limited> {
        let mut wait = Duration::ZERO;
        let mut report = false;
        for k in keys {
            if let Some(b) = self.buckets.get_mut(k) {
                let t = Self::refilled(*b, now);
                if t < 1.0 {
                    wait = wait.max(Duration::from_secs_f64((1.0 - t) / Self::rate()));
                    report |= !b.reported;
                    b.reported = true;
                }
            }
        }
        if wait > Duration::ZERO {
            Err(Limited { wait, report })
        } else {
            Ok(())
        }
    }

    /// Whether a full table should be audited now (at most once a minute).
    fn report_full(&mut self, now: Instant) -> bool {
        let due = self
            .full_reported
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60));
        if due {
            self.full_reported = Some(now);
        }
        due
    }

    /// Counts a failure against every key.
    fn fail(&mut self, keys: &[LimitKey], now: Instant) {
        for k in keys {
            if !self.buckets.contains_key(k) && self.buckets.len() >= self.max {
                // Forget what carries no state (buckets back to full) first.
                self.buckets
                    .retain(|_, b| Self::refilled(*b, now) < LOGIN_BURST);
                if self.buckets.len() >= self.max {
                    continue;
                }
            }
            let b = self.buckets.entry(k.clone()).or_insert(Bucket {
                tokens: LOGIN_BURST,
                at: now,
                reported: false,
            });
            b.tokens = (Self::refilled(*b, now) - 1.0).max(0.0);
            b.at = now;
            b.reported = false;
        }
    }

    /// Whether the table is full of live buckets (logins are then refused outright: failing
    /// closed rather than forgetting who failed).
    fn full(&mut self, now: Instant) -> bool {
        if self.buckets.len() >= self.max {
            self.buckets
                .retain(|_, b| Self::refilled(*b, now) < LOGIN_BURST);
        }
        self.buckets.len() >= self.max
    }
}

// ---- login, logout, me --------------------------------------------------------------------

/// `POST /api/v1/login` body. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub(super) struct LoginBody {
    user: String,
    password: String,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs() + 1;
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins: try again in {secs} s"),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The actor of a failed login: the user name as given, control characters replaced and cut
/// to 64 characters (`(empty)` for none).
fn given_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(64)
        .collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    if out.trim().is_empty() {
        "(empty)".into()
    } else {
        out
    }
}

impl Auth {
    /// Records a refused login. Never changes the answer: a write failure is only logged.
    async fn login_failed(&self, given: &str, peer: SocketAddr, reason: &str) {
        self.audit
            .outcome(
                &given_name(given),
                "login",
                None,
                AuditResult::Failed(reason.to_owned()),
                json!({}),
                Some(peer),
            )
            .await;
    }
}

/// `POST /api/v1/login`.
pub(super) async fn login(
    State(auth): State<Arc<Auth>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected JSON {\"user\": …, \"password\": …}",
        );
    };
    let password = SecretString::from(body.password);
    let user_name = body.user;
    let keys = [
        LimitKey::Source(peer.ip()),
        LimitKey::User(user_name.clone()),
    ];
    let now = Instant::now();
    let refused = {
        let mut limiter = auth.limiter();
        match limiter.check(&keys, now) {
            Err(limited) => Some((limited.wait, limited.report, "rate-limited")),
            Ok(()) if limiter.full(now) => Some((
                Duration::from_secs(60),
                limiter.report_full(now),
                "rate-limited (the limiter's table is full)",
            )),
            Ok(()) => None,
        }
    };
    if let Some((wait, report, reason)) = refused {
        tracing::warn!(user = %given_name(&user_name), peer = %peer, "login refused: {reason}");
        if report {
            auth.login_failed(&user_name, peer, reason).await;
        }
        return too_many(wait);
    }
    let user = match auth.store.user(&user_name).await {
        Ok(u) => u,
        Err(e) => return store_failed(&e).into_response(),
    };
    let phc = user
        .as_ref()
        .map_or_else(|| auth.dummy_hash.clone(), |u| u.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    let role = user.as_ref().and_then(|u| Role::parse(&u.role));
    let reason = match (&user, verified, role) {
        (None, ..) => Some("no such user"),
        (Some(_), false, _) => Some("wrong password"),
        (Some(_), true, None) => Some("the user has an unknown role"),
        (Some(u), true, Some(_)) if u.disabled => Some("the user is disabled"),
        _ => None,
    };
    let (Some(user), Some(role), None) = (user, role, reason) else {
        let reason = reason.unwrap_or("wrong user name or password");
        auth.limiter().fail(&keys, Instant::now());
        tracing::warn!(user = %given_name(&user_name), peer = %peer, %reason, "login failed");
        auth.login_failed(&user_name, peer, reason).await;
        return unauthorized("wrong user name or password").into_response();
    };
    let (Ok(session_id), Ok(csrf)) = (random_hex(32), random_hex(32)) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "no OS randomness");
    };
    let created = SystemTime::now();
    let expires = created + auth.options.session_ttl;
    let session = Session {
        id_sha256: sha256_hex(session_id.as_bytes()),
        user_name: user.name.clone(),
        csrf_sha256: sha256_hex(csrf.as_bytes()),
        created_at: created,
        expires_at: expires,
        last_seen_at: created,
    };
    // The session is granted only once its login is on record.
    let detail = json!({ "role": role.as_str(), "expires": unix(expires) });
    if let Err(e) = auth
        .audit
        .record(
            &user.name,
            "login",
            None,
            AuditResult::Ok,
            detail.clone(),
            Some(peer),
        )
        .await
    {
        tracing::warn!(user = %user.name, peer = %peer, "login refused: the audit log cannot be written");
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    if let Err(e) = auth.store.create_session(&session).await {
        auth.audit
            .outcome(
                &user.name,
                "login",
                None,
                AuditResult::Failed(format!("the session could not be stored: {e}")),
                detail,
                Some(peer),
            )
            .await;
        return store_failed(&e).into_response();
    }
    if let Err(e) = auth.store.prune_sessions(created).await {
        tracing::warn!(error = %e, "could not prune expired sessions");
    }
    tracing::info!(user = %user.name, role = %role, peer = %peer, "logged in");
    let secure = if auth.options.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        auth.options.session_ttl.as_secs()
    );
    let mut r = Json(json!({
        "user": user.name,
        "role": role.as_str(),
        "csrf_token": csrf,
        "expires": unix(expires),
    }))
    .into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not set the cookie",
            )
        }
    }
    r
}

/// `POST /api/v1/logout`: ends the cookie's session (a bearer token has none to end).
pub(super) async fn logout(
    State(auth): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let mut ended = false;
    if headers.get(header::AUTHORIZATION).is_none() {
        if let Some(id) = cookie(&headers, SESSION_COOKIE) {
            match auth.store.delete_session(&sha256_hex(id.as_bytes())).await {
                Ok(existed) => ended = existed,
                Err(e) => return store_failed(&e).into_response(),
            }
        }
    }
    tracing::info!(user = %caller.name, peer = %peer, ended, "logged out");
    auth.audit
        .outcome(
            &caller.name,
            "logout",
            None,
            if ended {
                AuditResult::Ended
            } else {
                AuditResult::Ok
            },
            json!({}),
            Some(peer),
        )
        .await;
    let mut r = Json(json!({ "logged_out": ended })).into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /api/v1/me`.
pub(super) async fn me(Extension(caller): Extension<Caller>) -> Response {
    Json(json!({ "user": caller.name, "role": caller.role.as_str() })).into_response()
}

/// `GET /api/v1/openapi.json`.
pub(super) async fn openapi() -> Response {
    Json(routes::openapi()).into_response()
}

// ---- bootstrap ----------------------------------------------------------------------------

/// [`bootstrap`], then the layer's state with `options`.
pub async fn start(
    store: &Store,
    data_dir: &Path,
    token: &SecretString,
    options: AuthOptions,
) -> anyhow::Result<Arc<Auth>> {
    bootstrap(store, data_dir, token).await?;
    Ok(Auth::new(store.clone(), options))
}

/// First start: with no users, creates [`BOOTSTRAP_USER`] (administrator) with a random
/// password written once to `<data_dir>/initial-admin-password` (mode 0600). Every start: the
/// `api-token` value is registered as that user's token "bootstrap" unless its hash is already
/// stored (a revoked one stays revoked). Both are audited with actor `amtd`; the server does
/// not start when the audit log cannot be written.
pub async fn bootstrap(store: &Store, data_dir: &Path, token: &SecretString) -> anyhow::Result<()> {
    let audit = AuditLog::new(store.clone());
    if store.count_users().await? == 0 {
        let password = SecretString::from(random_hex(16)?);
        let phc = hash_password_async(SecretString::from(password.expose())).await?;
        let detail = json!({ "user": BOOTSTRAP_USER, "role": Role::Administrator.as_str(),
            "bootstrap": true });
        audit
            .record(
                SERVER_ACTOR,
                "user-create",
                None,
                AuditResult::Started,
                detail.clone(),
                None,
            )
            .await?;
        let created = store
            .create_user(BOOTSTRAP_USER, &phc, Role::Administrator.as_str())
            .await;
        let result = match &created {
            Ok(Some(_)) => AuditResult::Ok,
            Ok(None) => AuditResult::Failed("another instance created it first".into()),
            Err(e) => AuditResult::Failed(e.to_string()),
        };
        audit
            .outcome(SERVER_ACTOR, "user-create", None, result, detail, None)
            .await;
        if created?.is_some() {
            let path = data_dir.join(INITIAL_PASSWORD_FILE);
            write_private(&path, format!("{}\n", password.expose()).as_bytes())?;
            tracing::info!(user = BOOTSTRAP_USER, file = %path.display(),
                "created the bootstrap administrator; its first password is in the file");
        }
    }
    let hash = sha256_hex(token.expose().as_bytes());
    if store.token_by_hash(&hash).await?.is_none() {
        match store.user(BOOTSTRAP_USER).await? {
            Some(u) if !u.disabled => {
                let id = random_hex(8)?;
                let detail = json!({ "user": BOOTSTRAP_USER, "name": "bootstrap", "token": id });
                audit
                    .record(
                        SERVER_ACTOR,
                        "token-create",
                        None,
                        AuditResult::Started,
                        detail.clone(),
                        None,
                    )
                    .await?;
                let created = store
                    .create_token(&id, BOOTSTRAP_USER, &hash, "bootstrap")
                    .await;
                let result = match &created {
                    Ok(Some(_)) => AuditResult::Ok,
                    Ok(None) => AuditResult::Failed("token id collision".into()),
                    Err(e) => AuditResult::Failed(e.to_string()),
                };
                audit
                    .outcome(SERVER_ACTOR, "token-create", None, result, detail, None)
                    .await;
                created?;
                tracing::info!(user = BOOTSTRAP_USER, "registered api-token as its token");
            }
            _ => tracing::warn!(
                "api-token is not a registered token and user {BOOTSTRAP_USER:?} is gone or \
                 disabled: the file gives no access"
            ),
        }
    }
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_activity_is_written_every_quarter_of_a_short_idle_timeout() {
        assert_eq!(session_touch_every(None), TOUCH_EVERY);
        assert_eq!(
            session_touch_every(Some(Duration::from_secs(30 * 60))),
            TOUCH_EVERY
        );
        assert_eq!(
            session_touch_every(Some(Duration::from_secs(30))),
            Duration::from_millis(7500)
        );
        assert_eq!(
            session_touch_every(Some(Duration::from_secs(2))),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn password_hash_is_argon2id_phc_and_verifies() {
        let p = SecretString::from("correct horse battery");
        let phc = hash_password(&p).unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password(&p, &phc));
        assert!(!verify_password(
            &SecretString::from("wrong password!"),
            &phc
        ));
        assert!(!verify_password(&p, "not a phc string"));
        assert!(check_password(&SecretString::from("short")).is_err());
        assert!(check_password(&SecretString::from("twelve chars")).is_ok());
    }

    #[test]
    fn login_limiter_refuses_after_the_burst_and_refills() {
        let mut l = LoginLimiter::new(100);
        let keys = [LimitKey::User("alice".into())];
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.check(&keys, t0).is_ok());
            l.fail(&keys, t0);
        }
        let limited = l.check(&keys, t0).err();
        assert!(
            limited.is_some_and(|l| l.report),
            "the first refusal is audited"
        );
        let wait = limited.map(|l| l.wait).unwrap_or_default();
        // Later refusals in the same window are not.
        assert!(l.check(&keys, t0).err().is_some_and(|l| !l.report));
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
        assert!(l.check(&keys, t0 + Duration::from_secs(13)).is_ok());
        // Another user is not limited by alice's failures.
        assert!(l.check(&[LimitKey::User("bob".into())], t0).is_ok());
    }

    #[test]
    fn a_failed_login_names_the_user_as_given_but_bounded_and_printable() {
        assert_eq!(given_name("alice"), "alice");
        assert_eq!(given_name("a\nb\u{7}"), "a b ");
        assert_eq!(given_name(""), "(empty)");
        assert_eq!(given_name(" \t"), "(empty)");
        let long = given_name(&"x".repeat(5000));
        assert_eq!(long.chars().count(), 65, "64 characters and an ellipsis");
        assert!(long.ends_with('…'));
    }

    #[test]
    fn a_full_limiter_table_is_reported_at_most_once_a_minute() {
        let mut l = LoginLimiter::new(10);
        let t0 = Instant::now();
        assert!(l.report_full(t0));
        assert!(!l.report_full(t0 + Duration::from_secs(30)));
        assert!(l.report_full(t0 + Duration::from_secs(61)));
    }

    #[test]
    fn a_counted_failure_after_the_window_rearms_the_report() {
        let mut l = LoginLimiter::new(100);
        let keys = [LimitKey::Source(IpAddr::from([127, 0, 0, 1]))];
        let t0 = Instant::now();
        for _ in 0..5 {
            l.fail(&keys, t0);
        }
        assert!(l.check(&keys, t0).err().is_some_and(|x| x.report));
        assert!(l.check(&keys, t0).err().is_some_and(|x| !x.report));
        // Refilled by one: the next failure counts, then the refusal is reported again.
        let t1 = t0 + Duration::from_secs(13);
        assert!(l.check(&keys, t1).is_ok());
        l.fail(&keys, t1);
        assert!(l.check(&keys, t1).err().is_some_and(|x| x.report));
    }

    #[test]
    fn login_limiter_table_is_bounded() {
        let mut l = LoginLimiter::new(10);
        let t0 = Instant::now();
        for i in 0..100 {
            l.fail(&[LimitKey::User(format!("u{i}"))], t0);
        }
        assert!(l.buckets.len() <= 10);
        assert!(l.full(t0));
        // Once buckets are full again they are forgotten to make room.
        l.fail(
            &[LimitKey::User("late".into())],
            t0 + Duration::from_secs(600),
        );
        assert!(l.buckets.contains_key(&LimitKey::User("late".into())));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; amtd_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn caller_debug_and_login_body_hold_no_secret() {
        let c = Caller {
            name: "alice".into(),
            role: Role::Operator,
        };
        assert_eq!(
            format!("{c:?}"),
            "Caller { name: \"alice\", role: Operator }"
        );
        let p = SecretString::from("hunter2hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
