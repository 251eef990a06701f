-- The audit log (issue 8): every privileged action, hash-chained. seq is assigned by the writer
-- (last + 1, inside a transaction that holds the table's write lock), so it is gap-free;
-- prev_hash/hash are lowercase hex SHA-256 (see amtd-infra src/store/audit.rs for the exact
-- encoding that is hashed). Rows are only ever inserted; nothing updates or deletes them.
-- Keep in step with ../postgres/0006_audit.sql.

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY NOT NULL,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    device    TEXT,
    result    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    peer      TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_by_device ON audit_log (device, seq);
