//! User and API token management (administrator; see [`super::routes`]), and the auth routes
//! (login, logout, me, the OpenAPI document), merged into [`super::api::router`].
//!
//! - `GET /api/v1/users`, `POST /api/v1/users` `{"name", "role", "password"}`,
//!   `DELETE /api/v1/users/{name}`, `PUT /api/v1/users/{name}/password` `{"password"}`,
//!   `PUT /api/v1/users/{name}/role` `{"role"}`, `POST /api/v1/users/{name}/disable|enable`.
//!   Passwords: at least 12 characters, argon2id. An administrator cannot delete, disable or
//!   demote itself (no lock-out by accident).
//! - `GET /api/v1/tokens?user=`, `POST /api/v1/tokens` `{"name", "user"?}` (the token is in
//!   this answer only; the server keeps its SHA-256), `DELETE /api/v1/tokens/{id}` (revoke).
//!
//! Every change is audited like the API's other privileged actions: `user-create`,
//! `user-delete`, `user-password`, `user-role`, `user-disable`, `user-enable`, `token-create`,
//! `token-revoke`, recorded as `started` (actor: the caller; detail: the user, role, token name
//! or id — never a password or a token) before it is made, refused with 503 when the audit log
//! cannot be written, then recorded with its result (`ok` or `failed: <the answer's message>`).
//! Requests refused before anything is attempted (malformed body, short password, acting on
//! yourself) are not recorded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use amt_wsman::secret::SecretString;
use amtd_infra::store::{ApiToken, AuditResult, User};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, Auth, Caller, Refusal};
use super::routes::Role;

type Answer = Result<Response, Refusal>;

fn error(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal(status, message.into())
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "API request failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The auth and user/token routes.
pub fn routes(auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/openapi.json", get(auth::openapi))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}", delete(delete_user))
        .route("/api/v1/users/{name}/password", put(set_password))
        .route("/api/v1/users/{name}/role", put(set_role))
        .route("/api/v1/users/{name}/disable", post(disable_user))
        .route("/api/v1/users/{name}/enable", post(enable_user))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .with_state(auth)
}

fn user_json(u: &User) -> Value {
    json!({
        "name": u.name,
        "role": u.role,
        "disabled": u.disabled,
        "created_at": unix(u.created_at),
        "updated_at": unix(u.updated_at),
    })
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id,
        "user": t.user_name,
        "name": t.name,
        "created_at": unix(t.created_at),
        "last_used_at": t.last_used_at.map(unix),
        "revoked": t.revoked_at.is_some(),
    })
}

/// A user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
fn check_name(name: &str) -> Result<(), Refusal> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(error(
            StatusCode::BAD_REQUEST,
            format!("{name:?}: a user name has 1 to 64 letters, digits, '.', '_', '-' or '@'"),
        ))
    }
}

fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, Refusal> {
    body.map(|Json(b)| b)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))
}

async fn list_users(State(a): State<Arc<Auth>>) -> Answer {
    let users = a.store.users().await.map_err(internal)?;
    Ok(Json(Value::Array(users.iter().map(user_json).collect())).into_response())
}

/// `POST /api/v1/users` body (no `Debug`: it holds a password).
#[derive(Deserialize)]
struct NewUser {
    name: String,
    role: String,
    password: String,
}

/// One audited user or token change: recorded as `started` before it is made (refused with
/// 503 when the audit log cannot be written), then with its result.
struct Audited<'a> {
    auth: &'a Auth,
    caller: &'a Caller,
    action: &'static str,
    detail: Value,
    peer: SocketAddr,
}

impl<'a> Audited<'a> {
    async fn begin(
        auth: &'a Auth,
        caller: &'a Caller,
        action: &'static str,
        detail: Value,
        peer: SocketAddr,
    ) -> Result<Audited<'a>, Refusal> {
        auth.audit
            .record(
                &caller.name,
                action,
                None,
                AuditResult::Started,
                detail.clone(),
                Some(peer),
            )
            .await
            .map_err(|e| {
                tracing::warn!(action, by = %caller.name, peer = %peer,
                    "refused: the audit log cannot be written");
                error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            })?;
        Ok(Audited {
            auth,
            caller,
            action,
            detail,
            peer,
        })
    }

    /// Records how it ended: `Ok` as `ok`, a refusal as `failed: <its message>`.
    async fn end(self, answer: Answer) -> Answer {
        self.end_with(answer, None).await
    }

    /// [`Audited::end`], with more detail on success (never secrets).
    async fn end_with(mut self, answer: Answer, extra: Option<(&str, Value)>) -> Answer {
        let result = match &answer {
            Ok(_) => AuditResult::Ok,
            Err(Refusal(_, message)) => AuditResult::Failed(message.clone()),
        };
        if let (Some((k, v)), Ok(_)) = (extra, &answer) {
            self.detail[k] = v;
        }
        self.auth
            .audit
            .outcome(
                &self.caller.name,
                self.action,
                None,
                result,
                self.detail,
                Some(self.peer),
            )
            .await;
        answer
    }
}

async fn create_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let body = json_body(body)?;
    let password = SecretString::from(body.password);
    check_name(&body.name)?;
    let role = parse_role(&body.role)?;
    auth::check_password(&password).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let detail = json!({ "user": body.name, "role": role.as_str() });
    let audited = Audited::begin(&a, &caller, "user-create", detail, peer).await?;
    let answer = async {
        let phc = auth::hash_password_async(password)
            .await
            .map_err(internal)?;
        match a
            .store
            .create_user(&body.name, &phc, role.as_str())
            .await
            .map_err(internal)?
        {
            Some(u) => {
                tracing::info!(user = %u.name, role = %role, by = %caller.name, "user created");
                Ok((StatusCode::CREATED, Json(user_json(&u))).into_response())
            }
            None => Err(error(
                StatusCode::CONFLICT,
                format!("a user {:?} exists", body.name),
            )),
        }
    }
    .await;
    audited.end(answer).await
}

fn parse_role(role: &str) -> Result<Role, Refusal> {
    Role::parse(role).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            format!("{role:?}: the roles are viewer, operator, administrator"),
        )
    })
}

async fn delete_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Answer {
    if name == caller.name {
        return Err(error(StatusCode::CONFLICT, "you cannot delete yourself"));
    }
    let audited = Audited::begin(&a, &caller, "user-delete", json!({ "user": name }), peer).await?;
    let answer = async {
        if !a.store.delete_user(&name).await.map_err(internal)? {
            return Err(error(StatusCode::NOT_FOUND, format!("no user {name:?}")));
        }
        tracing::info!(user = %name, by = %caller.name, "user deleted");
        Ok(Json(json!({ "deleted": name })).into_response())
    }
    .await;
    audited.end(answer).await
}

/// `PUT /api/v1/users/{name}/password` body.
#[derive(Deserialize)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    body: Result<Json<NewPassword>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let password = SecretString::from(json_body(body)?.password);
    auth::check_password(&password).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let audited =
        Audited::begin(&a, &caller, "user-password", json!({ "user": name }), peer).await?;
    let answer = async {
        if a.store.user(&name).await.map_err(internal)?.is_none() {
            return Err(error(StatusCode::NOT_FOUND, format!("no user {name:?}")));
        }
        let phc = auth::hash_password_async(password)
            .await
            .map_err(internal)?;
        if !a
            .store
            .set_user_password(&name, &phc)
            .await
            .map_err(internal)?
        {
            return Err(error(StatusCode::NOT_FOUND, format!("no user {name:?}")));
        }
        tracing::info!(user = %name, by = %caller.name, "password set");
        let u = a.store.user(&name).await.map_err(internal)?;
        Ok(Json(u.as_ref().map(user_json).unwrap_or(Value::Null)).into_response())
    }
    .await;
    audited.end(answer).await
}

/// `PUT /api/v1/users/{name}/role` body.
#[derive(Debug, Deserialize)]
struct NewRole {
    role: String,
}

async fn set_role(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    body: Result<Json<NewRole>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let role = parse_role(&json_body(body)?.role)?;
    if name == caller.name {
        return Err(error(
            StatusCode::CONFLICT,
            "you cannot change your own role (ask another administrator)",
        ));
    }
    let detail = json!({ "user": name, "role": role.as_str() });
    let audited = Audited::begin(&a, &caller, "user-role", detail, peer).await?;
    let answer = async {
        if !a
            .store
            .set_user_role(&name, role.as_str())
            .await
            .map_err(internal)?
        {
            return Err(error(StatusCode::NOT_FOUND, format!("no user {name:?}")));
        }
        tracing::info!(user = %name, role = %role, by = %caller.name, "role changed");
        let u = a.store.user(&name).await.map_err(internal)?;
        Ok(Json(u.as_ref().map(user_json).unwrap_or(Value::Null)).into_response())
    }
    .await;
    audited.end(answer).await
}

async fn set_disabled(
    a: &Auth,
    caller: &Caller,
    peer: SocketAddr,
    name: &str,
    disabled: bool,
) -> Answer {
    if disabled && name == caller.name {
        return Err(error(StatusCode::CONFLICT, "you cannot disable yourself"));
    }
    let action = if disabled {
        "user-disable"
    } else {
        "user-enable"
    };
    let audited = Audited::begin(a, caller, action, json!({ "user": name }), peer).await?;
    let answer = async {
        if !a
            .store
            .set_user_disabled(name, disabled)
            .await
            .map_err(internal)?
        {
            return Err(error(StatusCode::NOT_FOUND, format!("no user {name:?}")));
        }
        tracing::info!(user = %name, disabled, by = %caller.name, "user disabled flag set");
        let u = a.store.user(name).await.map_err(internal)?;
        Ok(Json(u.as_ref().map(user_json).unwrap_or(Value::Null)).into_response())
    }
    .await;
    audited.end(answer).await
}

async fn disable_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Answer {
    set_disabled(&a, &caller, peer, &name, true).await
}

async fn enable_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Answer {
    set_disabled(&a, &caller, peer, &name, false).await
}

/// `GET /api/v1/tokens` query.
#[derive(Debug, Deserialize)]
struct TokenQuery {
    user: Option<String>,
}

async fn list_tokens(State(a): State<Arc<Auth>>, Query(q): Query<TokenQuery>) -> Answer {
    let tokens = a.store.tokens(q.user.as_deref()).await.map_err(internal)?;
    Ok(Json(Value::Array(tokens.iter().map(token_json).collect())).into_response())
}

/// `POST /api/v1/tokens` body.
#[derive(Debug, Deserialize)]
struct NewToken {
    name: String,
    user: Option<String>,
}

async fn create_token(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let body = json_body(body)?;
    let user = body.user.unwrap_or_else(|| caller.name.clone());
    let name = body.name.trim().to_owned();
    if name.is_empty() || body.name.len() > 128 || name.chars().any(char::is_control) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "a token name has 1 to 128 characters (no control characters)",
        ));
    }
    let detail = json!({ "user": user, "name": name });
    let audited = Audited::begin(&a, &caller, "token-create", detail, peer).await?;
    let mut id = String::new();
    let answer = async {
        if a.store.user(&user).await.map_err(internal)?.is_none() {
            return Err(error(StatusCode::NOT_FOUND, format!("no user {user:?}")));
        }
        let token = SecretString::from(auth::random_hex(32).map_err(internal)?);
        id = auth::random_hex(8).map_err(internal)?;
        let hash = auth::sha256_hex(token.expose().as_bytes());
        let Some(stored) = a
            .store
            .create_token(&id, &user, &hash, &name)
            .await
            .map_err(internal)?
        else {
            return Err(internal("token id collision; try again"));
        };
        tracing::info!(token = %stored.id, user = %user, by = %caller.name, "API token created");
        let mut v = token_json(&stored);
        v["token"] = json!(token.expose());
        Ok((StatusCode::CREATED, Json(v)).into_response())
    }
    .await;
    audited.end_with(answer, Some(("token", json!(id)))).await
}

async fn revoke_token(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Answer {
    let audited = Audited::begin(&a, &caller, "token-revoke", json!({ "token": id }), peer).await?;
    let answer = async {
        if !a.store.revoke_token(&id).await.map_err(internal)? {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no live token {id:?}"),
            ));
        }
        tracing::info!(token = %id, by = %caller.name, "API token revoked");
        Ok(Json(json!({ "revoked": id })).into_response())
    }
    .await;
    audited.end(answer).await
}
