//! The API's local users, their API tokens and their browser sessions (issue 8, O3).
//!
//! Nothing secret is stored: a password is kept as the argon2id PHC string the caller computed,
//! an API token, a session id and a session's CSRF token only as their SHA-256 (lowercase hex,
//! 64 digits; the caller hashes). The role is opaque text here (the API decides what roles
//! mean). Deleting a user deletes its tokens and sessions; disabling one deletes its sessions.

use std::time::SystemTime;

use sqlx::any::AnyRow;
use sqlx::Any;

use super::{check_text, from_ms, get, to_ms, Result, Store, StoreError};

/// A stored user. `Debug` leaves the password hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Login name (unique).
    pub name: String,
    /// The password as an argon2id PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// The role's name.
    pub role: String,
    /// A disabled user cannot log in and its tokens are refused.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: SystemTime,
    /// Last change (password, role, disabled flag).
    pub updated_at: SystemTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A stored API token (its SHA-256 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id (what `list` shows and `revoke` takes).
    pub id: String,
    /// The user the token acts as.
    pub user_name: String,
    /// SHA-256 of the token, lowercase hex.
    pub token_sha256: String,
    /// What the token is for.
    pub name: String,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it was last used (updated at most about once a minute).
    pub last_used_at: Option<SystemTime>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<SystemTime>,
}

/// A stored browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session id (the cookie's value), lowercase hex.
    pub id_sha256: String,
    /// The user logged in.
    pub user_name: String,
    /// SHA-256 of the session's CSRF token, lowercase hex.
    pub csrf_sha256: String,
    /// Login time.
    pub created_at: SystemTime,
    /// After this the session is refused.
    pub expires_at: SystemTime,
    /// Last request seen (updated at most about once a minute).
    pub last_seen_at: SystemTime,
}

/// A SHA-256 in lowercase hex.
fn check_sha256(what: &'static str, v: &str) -> Result<()> {
    if v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            what,
            detail: "must be a SHA-256 in lowercase hex (64 digits)".into(),
        })
    }
}

const USER_COLUMNS: &str = "name, password_hash, role, disabled, created_at, updated_at";
const TOKEN_COLUMNS: &str = "id, user_name, token_sha256, name, created_at, last_used_at, \
                             revoked_at";
const SESSION_COLUMNS: &str =
    "id_sha256, user_name, csrf_sha256, created_at, expires_at, last_seen_at";

fn user_from_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        name: get(r, "name", "users")?,
        password_hash: get(r, "password_hash", "users")?,
        role: get(r, "role", "users")?,
        disabled: get::<i64>(r, "disabled", "users")? != 0,
        created_at: from_ms(get(r, "created_at", "users")?),
        updated_at: from_ms(get(r, "updated_at", "users")?),
    })
}

/// Reads a user whose columns were selected with a `u_` prefix (joins).
fn joined_user(r: &AnyRow) -> Result<User> {
    Ok(User {
        name: get(r, "u_name", "users")?,
        password_hash: get(r, "u_password_hash", "users")?,
        role: get(r, "u_role", "users")?,
        disabled: get::<i64>(r, "u_disabled", "users")? != 0,
        created_at: from_ms(get(r, "u_created_at", "users")?),
        updated_at: from_ms(get(r, "u_updated_at", "users")?),
    })
}

const JOINED_USER: &str = "u.name AS u_name, u.password_hash AS u_password_hash, \
                           u.role AS u_role, u.disabled AS u_disabled, \
                           u.created_at AS u_created_at, u.updated_at AS u_updated_at";

fn token_from_row(r: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: get(r, "id", "api_tokens")?,
        user_name: get(r, "user_name", "api_tokens")?,
        token_sha256: get(r, "token_sha256", "api_tokens")?,
        name: get(r, "name", "api_tokens")?,
        created_at: from_ms(get(r, "created_at", "api_tokens")?),
        last_used_at: get::<Option<i64>>(r, "last_used_at", "api_tokens")?.map(from_ms),
        revoked_at: get::<Option<i64>>(r, "revoked_at", "api_tokens")?.map(from_ms),
    })
}

fn session_from_row(r: &AnyRow) -> Result<Session> {
    Ok(Session {
        id_sha256: get(r, "id_sha256", "sessions")?,
        user_name: get(r, "user_name", "sessions")?,
        csrf_sha256: get(r, "csrf_sha256", "sessions")?,
        created_at: from_ms(get(r, "created_at", "sessions")?),
        expires_at: from_ms(get(r, "expires_at", "sessions")?),
        last_seen_at: from_ms(get(r, "last_seen_at", "sessions")?),
    })
}

impl Store {
    // ---- users ---------------------------------------------------------------------------

    /// Creates a user. Returns `None` when the name is taken (nothing changed).
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<Option<User>> {
        check_text("user name", name)?;
        check_text("password hash", password_hash)?;
        check_text("role", role)?;
        let now = to_ms(SystemTime::now());
        let row = sqlx::query::<Any>(&format!(
            "INSERT INTO users (name, password_hash, role, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (name) DO NOTHING \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(name)
        .bind(password_hash)
        .bind(role)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("create_user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// One user.
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query::<Any>(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query::<Any>(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("users"))?;
        rows.iter().map(user_from_row).collect()
    }

    /// How many users there are.
    pub async fn count_users(&self) -> Result<u64> {
        let row = sqlx::query::<Any>("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("count_users"))?;
        Ok(u64::try_from(get::<i64>(&row, "n", "users")?).unwrap_or(0))
    }

    /// Replaces a user's password hash and ends its sessions. Returns whether the user exists.
    pub async fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        check_text("password hash", password_hash)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(self.err("set_user_password"))?;
        let done = sqlx::query::<Any>(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3",
        )
        .bind(password_hash)
        .bind(to_ms(SystemTime::now()))
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(self.err("set_user_password"))?;
        sqlx::query::<Any>("DELETE FROM sessions WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(self.err("set_user_password"))?;
        tx.commit().await.map_err(self.err("set_user_password"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Changes a user's role (its tokens and sessions act with the new role from their next
    /// request on). Returns whether the user exists.
    pub async fn set_user_role(&self, name: &str, role: &str) -> Result<bool> {
        check_text("role", role)?;
        let done =
            sqlx::query::<Any>("UPDATE users SET role = $1, updated_at = $2 WHERE name = $3")
                .bind(role)
                .bind(to_ms(SystemTime::now()))
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(self.err("set_user_role"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Disables (ending its sessions) or enables a user. Returns whether the user exists.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(self.err("set_user_disabled"))?;
        let done =
            sqlx::query::<Any>("UPDATE users SET disabled = $1, updated_at = $2 WHERE name = $3")
                .bind(i64::from(disabled))
                .bind(to_ms(SystemTime::now()))
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(self.err("set_user_disabled"))?;
        if disabled {
            sqlx::query::<Any>("DELETE FROM sessions WHERE user_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(self.err("set_user_disabled"))?;
        }
        tx.commit().await.map_err(self.err("set_user_disabled"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a user with its tokens and sessions. Returns whether it existed.
    pub async fn delete_user(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(self.err("delete_user"))?;
        for sql in [
            "DELETE FROM sessions WHERE user_name = $1",
            "DELETE FROM api_tokens WHERE user_name = $1",
        ] {
            sqlx::query::<Any>(sql)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(self.err("delete_user"))?;
        }
        let done = sqlx::query::<Any>("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(self.err("delete_user"))?;
        tx.commit().await.map_err(self.err("delete_user"))?;
        Ok(done.rows_affected() > 0)
    }

    // ---- API tokens ----------------------------------------------------------------------

    /// Stores a token for `user_name` (which must exist). Returns `None` when the id or the
    /// hash is already stored.
    pub async fn create_token(
        &self,
        id: &str,
        user_name: &str,
        token_sha256: &str,
        name: &str,
    ) -> Result<Option<ApiToken>> {
        check_text("token id", id)?;
        check_text("token name", name)?;
        check_sha256("token hash", token_sha256)?;
        if self.user(user_name).await?.is_none() {
            return Err(StoreError::InvalidInput {
                what: "token user",
                detail: format!("no user {user_name:?}"),
            });
        }
        let row = sqlx::query::<Any>(&format!(
            "INSERT INTO api_tokens (id, user_name, token_sha256, name, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(id)
        .bind(user_name)
        .bind(token_sha256)
        .bind(name)
        .bind(to_ms(SystemTime::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("create_token"))?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// The token whose SHA-256 is `token_sha256` (revoked or not) and its user.
    pub async fn token_by_hash(&self, token_sha256: &str) -> Result<Option<(ApiToken, User)>> {
        let row = sqlx::query::<Any>(&format!(
            "SELECT t.id, t.user_name, t.token_sha256, t.name, t.created_at, t.last_used_at, \
                t.revoked_at, {JOINED_USER} \
             FROM api_tokens t JOIN users u ON u.name = t.user_name WHERE t.token_sha256 = $1"
        ))
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("token_by_hash"))?;
        match row {
            Some(r) => Ok(Some((token_from_row(&r)?, joined_user(&r)?))),
            None => Ok(None),
        }
    }

    /// Tokens (all, or one user's), oldest first.
    pub async fn tokens(&self, user_name: Option<&str>) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query::<Any>(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ($1 IS NULL OR user_name = $1) \
             ORDER BY created_at, id"
        ))
        .bind(user_name)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("tokens"))?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token. Returns whether a token with this id was live.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let done = sqlx::query::<Any>(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(to_ms(SystemTime::now()))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.err("revoke_token"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a token's use.
    pub async fn touch_token(&self, id: &str, at: SystemTime) -> Result<()> {
        sqlx::query::<Any>("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(to_ms(at))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.err("touch_token"))?;
        Ok(())
    }

    // ---- sessions ------------------------------------------------------------------------

    /// Stores a new session.
    pub async fn create_session(&self, s: &Session) -> Result<()> {
        check_sha256("session id hash", &s.id_sha256)?;
        check_sha256("CSRF token hash", &s.csrf_sha256)?;
        sqlx::query::<Any>(&format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&s.id_sha256)
        .bind(&s.user_name)
        .bind(&s.csrf_sha256)
        .bind(to_ms(s.created_at))
        .bind(to_ms(s.expires_at))
        .bind(to_ms(s.last_seen_at))
        .execute(&self.pool)
        .await
        .map_err(self.err("create_session"))?;
        Ok(())
    }

    /// The session whose id hashes to `id_sha256`, with its user, if it has not expired at
    /// `now` (an expired session is never returned).
    pub async fn session_by_hash(
        &self,
        id_sha256: &str,
        now: SystemTime,
    ) -> Result<Option<(Session, User)>> {
        let row = sqlx::query::<Any>(&format!(
            "SELECT s.id_sha256, s.user_name, s.csrf_sha256, s.created_at, s.expires_at, \
                s.last_seen_at, {JOINED_USER} \
             FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.id_sha256 = $1 AND s.expires_at > $2"
        ))
        .bind(id_sha256)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("session_by_hash"))?;
        match row {
            Some(r) => Ok(Some((session_from_row(&r)?, joined_user(&r)?))),
            None => Ok(None),
        }
    }

    /// Records a session's activity.
    pub async fn touch_session(&self, id_sha256: &str, at: SystemTime) -> Result<()> {
        sqlx::query::<Any>("UPDATE sessions SET last_seen_at = $1 WHERE id_sha256 = $2")
            .bind(to_ms(at))
            .bind(id_sha256)
            .execute(&self.pool)
            .await
            .map_err(self.err("touch_session"))?;
        Ok(())
    }

    /// Ends a session (logout). Returns whether it existed.
    pub async fn delete_session(&self, id_sha256: &str) -> Result<bool> {
        let done = sqlx::query::<Any>("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await
            .map_err(self.err("delete_session"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes sessions that expired before `now`. Returns how many went.
    pub async fn prune_sessions(&self, now: SystemTime) -> Result<u64> {
        let done = sqlx::query::<Any>("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await
            .map_err(self.err("prune_sessions"))?;
        Ok(done.rows_affected())
    }
}
