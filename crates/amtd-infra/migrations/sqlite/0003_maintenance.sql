-- Maintenance operations (M10, M11): one row per operation on one device (a CRL push, a
-- certificate renewal, an admin password rotation, a clock re-sync). `phase` and `payload`
-- (JSON) hold the step the operation is in and what is needed to go on from it; they are
-- written before the network call the step leads to, so a restarted server settles what a
-- stopped one left (`finished_at IS NULL`). Secrets never go in the payload: passwords are
-- secret versions, the payload names their version numbers.
-- Keep in step with ../postgres/0003_maintenance.sql.

CREATE TABLE maintenance_ops (
    op_id       TEXT PRIMARY KEY NOT NULL,
    device_uuid TEXT NOT NULL,
    task        TEXT NOT NULL,
    phase       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    reason      TEXT
);
CREATE INDEX maintenance_by_device ON maintenance_ops (device_uuid, task, started_at);
CREATE INDEX maintenance_open ON maintenance_ops (finished_at);
