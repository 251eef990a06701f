//! User and API token management (administrator; see [`super::routes`]), and the auth routes
//! (login, logout, me, the OpenAPI document), merged into [`super::api::router`].
//!
//! - `GET /api/v1/users`, `POST /api/v1/users` `{"name", "role", "password"}`,
//!   `DELETE /api/v1/users/{name}`, `PUT /api/v1/users/{name}/password` `{"password"}`,
//!   `POST /api/v1/users/{name}/disable|enable`. Passwords: at least 12 characters, argon2id.
//!   An administrator cannot delete or disable itself (no lock-out by accident).
//! - `GET /api/v1/tokens?user=`, `POST /api/v1/tokens` `{"name", "user"?}` (the token is in
//!   this answer only; the server keeps its SHA-256), `DELETE /api/v1/tokens/{id}` (revoke).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use amt_wsman::secret::SecretString;
use amtd_infra::store::{ApiToken, User};
use axum::extract::{Path, Query, State};
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

async fn create_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let body = json_body(body)?;
    let password = SecretString::from(body.password);
    check_name(&body.name)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "{:?}: the roles are viewer, operator, administrator",
                body.role
            ),
        )
    })?;
    auth::check_password(&password).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
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

async fn delete_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Answer {
    if name == caller.name {
        return Err(error(StatusCode::CONFLICT, "you cannot delete yourself"));
    }
    if !a.store.delete_user(&name).await.map_err(internal)? {
        return Err(error(StatusCode::NOT_FOUND, format!("no user {name:?}")));
    }
    tracing::info!(user = %name, by = %caller.name, "user deleted");
    Ok(Json(json!({ "deleted": name })).into_response())
}

/// `PUT /api/v1/users/{name}/password` body.
#[derive(Deserialize)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<Json<NewPassword>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let password = SecretString::from(json_body(body)?.password);
    auth::check_password(&password).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
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

async fn set_disabled(a: &Auth, caller: &Caller, name: &str, disabled: bool) -> Answer {
    if disabled && name == caller.name {
        return Err(error(StatusCode::CONFLICT, "you cannot disable yourself"));
    }
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

async fn disable_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Answer {
    set_disabled(&a, &caller, &name, true).await
}

async fn enable_user(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Answer {
    set_disabled(&a, &caller, &name, false).await
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
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let body = json_body(body)?;
    let user = body.user.unwrap_or_else(|| caller.name.clone());
    if body.name.trim().is_empty() || body.name.len() > 128 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "a token name has 1 to 128 characters",
        ));
    }
    if a.store.user(&user).await.map_err(internal)?.is_none() {
        return Err(error(StatusCode::NOT_FOUND, format!("no user {user:?}")));
    }
    let token = SecretString::from(auth::random_hex(32).map_err(internal)?);
    let id = auth::random_hex(8).map_err(internal)?;
    let hash = auth::sha256_hex(token.expose().as_bytes());
    let Some(stored) = a
        .store
        .create_token(&id, &user, &hash, body.name.trim())
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

async fn revoke_token(
    State(a): State<Arc<Auth>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Answer {
    if !a.store.revoke_token(&id).await.map_err(internal)? {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no live token {id:?}"),
        ));
    }
    tracing::info!(token = %id, by = %caller.name, "API token revoked");
    Ok(Json(json!({ "revoked": id })).into_response())
}
