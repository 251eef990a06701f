-- amtd provisioning store, PostgreSQL flavour. Keep in step with ../sqlite/0001_initial.sql:
-- same tables, columns and meaning; only the types differ (BLOB/BYTEA, identity columns).
-- Times are milliseconds since the Unix epoch (BIGINT); JSON is TEXT.

CREATE TABLE devices (
    uuid             TEXT PRIMARY KEY NOT NULL,
    fqdn             TEXT,
    address          TEXT,
    state            TEXT NOT NULL,
    profile          TEXT,
    firmware_version TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX devices_by_state ON devices (state, uuid);

CREATE TABLE hellos (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_uuid TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    retry_count BIGINT NOT NULL,
    hashes      TEXT NOT NULL,
    outcome     TEXT
);
CREATE INDEX hellos_by_device ON hellos (device_uuid, id);

CREATE TABLE provisioning_runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    device_uuid TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    reason      TEXT
);
CREATE INDEX runs_by_device ON provisioning_runs (device_uuid, started_at);
CREATE INDEX runs_open ON provisioning_runs (finished_at);

CREATE TABLE transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES provisioning_runs (run_id),
    device_uuid TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    phase       TEXT NOT NULL,
    reason      TEXT,
    payload     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX transitions_by_device ON transitions (device_uuid, id);

CREATE TABLE secrets (
    device_uuid TEXT NOT NULL,
    kind        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    sealed_key  BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (device_uuid, kind, version)
);

CREATE TABLE profiles (
    name       TEXT PRIMARY KEY NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE certificates (
    serial      TEXT PRIMARY KEY NOT NULL,
    device_uuid TEXT,
    state       TEXT NOT NULL,
    not_after   BIGINT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX certificates_by_device ON certificates (device_uuid);

CREATE TABLE leases (
    device_uuid TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    generation  BIGINT NOT NULL
);

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);
