-- API users, tokens and sessions (issue 8). No secret is stored: password_hash is an argon2id
-- PHC string; API tokens, session ids and CSRF tokens are kept as lowercase hex SHA-256 only.
-- disabled is 0 or 1. Times are milliseconds since the Unix epoch. Deleting a user deletes
-- its tokens and sessions. Keep in step with ../sqlite/0007_users.sql.

CREATE TABLE users (
    name          TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    token_sha256 TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_name);

CREATE TABLE sessions (
    id_sha256    TEXT PRIMARY KEY NOT NULL,
    user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_sha256  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
