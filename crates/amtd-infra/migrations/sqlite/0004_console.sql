-- The management console (M1, M2, M6, M7, M12): tags that fleet operations select devices by,
-- how the console reaches a device when it is not the default (TLS on 16993 verified against
-- the embedded CA's root, the name checked being the FQDN), and hardware inventory snapshots
-- with the time they were read (JSON). Keep in step with ../postgres/0004_console.sql.

CREATE TABLE device_tags (
    device_uuid TEXT NOT NULL,
    tag         TEXT NOT NULL,
    PRIMARY KEY (device_uuid, tag)
);
CREATE INDEX device_tags_by_tag ON device_tags (tag, device_uuid);

-- scheme: 'tls' (CA root, the default when there is no row), 'tls-pinned' (pin_sha256: the
-- SHA-256 of the certificate the device serves), 'plain' (16992, digest only).
CREATE TABLE device_access (
    device_uuid TEXT PRIMARY KEY NOT NULL,
    scheme      TEXT NOT NULL,
    port        BIGINT,
    pin_sha256  TEXT,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE inventory_snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_uuid TEXT NOT NULL,
    read_at     BIGINT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX inventory_by_device ON inventory_snapshots (device_uuid, id);
