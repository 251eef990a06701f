-- Rejected hellos are recorded too (SPEC P1: every hello with its source and time): a row may
-- have no device UUID (the bytes carried none that could be read), and one row may stand for
-- several connections (`count`: repeated rejections from one source folded by the listener).
-- Keep in step with ../postgres/0002_rejected_hellos.sql. SQLite cannot drop a NOT NULL
-- constraint in place, so the table is rebuilt with the same ids.

CREATE TABLE hellos_v2 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_uuid TEXT,
    source      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    retry_count BIGINT NOT NULL,
    hashes      TEXT NOT NULL,
    outcome     TEXT,
    count       BIGINT NOT NULL DEFAULT 1
);
INSERT INTO hellos_v2 (id, device_uuid, source, received_at, retry_count, hashes, outcome)
    SELECT id, device_uuid, source, received_at, retry_count, hashes, outcome FROM hellos;
DROP TABLE hellos;
ALTER TABLE hellos_v2 RENAME TO hellos;
CREATE INDEX hellos_by_device ON hellos (device_uuid, id);
CREATE INDEX hellos_by_time ON hellos (received_at);
