-- System Defense (M3): named policies and what each device was given.
-- defense_policies: the policy document (amtd-core's DefensePolicy as JSON); doc_version is the
-- document's schema version, revision grows by one with every write of the name.
-- device_defense: the document (and revision) last applied to a device under each name, the
-- intent a read-back is compared with; the row goes when the policy is removed from the device.
-- Keep in step with ../postgres/0005_defense.sql.

CREATE TABLE defense_policies (
    name        TEXT PRIMARY KEY NOT NULL,
    doc_version BIGINT NOT NULL,
    revision    BIGINT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE device_defense (
    device_uuid TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    body        TEXT NOT NULL,
    applied_at  BIGINT NOT NULL,
    PRIMARY KEY (device_uuid, policy_name)
);
CREATE INDEX device_defense_by_policy ON device_defense (policy_name, device_uuid);
