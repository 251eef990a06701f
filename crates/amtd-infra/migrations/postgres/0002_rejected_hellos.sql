-- Rejected hellos are recorded too (SPEC P1: every hello with its source and time): a row may
-- have no device UUID (the bytes carried none that could be read), and one row may stand for
-- several connections (`count`: repeated rejections from one source folded by the listener).
-- Keep in step with ../sqlite/0002_rejected_hellos.sql.

ALTER TABLE hellos ALTER COLUMN device_uuid DROP NOT NULL;
ALTER TABLE hellos ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
CREATE INDEX hellos_by_time ON hellos (received_at);
