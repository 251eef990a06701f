//! The console's store records (migration 0004), on SQLite and on a real PostgreSQL server:
//! tags replace as a set and select devices, access rows say how to reach a device (and refuse a
//! pin that is not a SHA-256), inventory snapshots come back newest first with their read time,
//! and only the newest [`MAX_INVENTORY_SNAPSHOTS`] are kept.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
mod store_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amtd_infra::store::{
    AccessScheme, DeviceUpsert, StoreError, StoredAccess, MAX_INVENTORY_SNAPSHOTS,
};
use serde_json::json;
use store_support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_console_records() {
    console_records(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_console_records() {
    let Some(db) = TestDb::postgres("console_records").await else {
        return;
    };
    console_records(db).await;
}

async fn console_records(db: TestDb) {
    let store = db.open().await;
    for (uuid, fqdn) in [("dev-a", "a.amt.test"), ("dev-b", "b.amt.test")] {
        let mut up = DeviceUpsert::new(uuid);
        up.fqdn = Some(fqdn.into());
        store.upsert_device(&up).await.unwrap();
    }

    // Tags: a set, sorted, replaced as a whole.
    let set = store
        .set_tags("dev-a", &["lab".into(), "floor-2".into(), "lab".into()])
        .await
        .unwrap();
    assert_eq!(set, ["floor-2", "lab"]);
    store.set_tags("dev-b", &["lab".into()]).await.unwrap();
    assert_eq!(
        store.devices_tagged("lab").await.unwrap(),
        ["dev-a", "dev-b"]
    );
    store.set_tags("dev-a", &["floor-3".into()]).await.unwrap();
    assert_eq!(store.tags("dev-a").await.unwrap(), ["floor-3"]);
    assert_eq!(store.devices_tagged("lab").await.unwrap(), ["dev-b"]);
    let all = store.all_tags().await.unwrap();
    assert_eq!(all["dev-a"], ["floor-3"]);
    assert!(matches!(
        store.set_tags("dev-a", &["no spaces".into()]).await,
        Err(StoreError::InvalidInput { what: "tag", .. })
    ));
    assert_eq!(
        store.tags("dev-a").await.unwrap(),
        ["floor-3"],
        "refused set left as it was"
    );

    // FQDN lookup, case-insensitive.
    assert_eq!(
        store
            .device_by_fqdn("B.AMT.test")
            .await
            .unwrap()
            .unwrap()
            .uuid,
        "dev-b"
    );
    assert!(store.device_by_fqdn("c.amt.test").await.unwrap().is_none());

    // Access: default without a row; plain with a port; a pin must be a SHA-256.
    assert_eq!(
        store.access("dev-a").await.unwrap(),
        StoredAccess::default()
    );
    let plain = StoredAccess {
        scheme: AccessScheme::Plain,
        port: Some(16992),
        pin_sha256: None,
    };
    store.set_access("dev-a", &plain).await.unwrap();
    assert_eq!(store.access("dev-a").await.unwrap(), plain);
    let bad_pin = StoredAccess {
        scheme: AccessScheme::TlsPinned,
        port: None,
        pin_sha256: Some("abcd".into()),
    };
    assert!(store.set_access("dev-b", &bad_pin).await.is_err());
    let pin = StoredAccess {
        pin_sha256: Some("AB".repeat(32)),
        ..bad_pin
    };
    store.set_access("dev-b", &pin).await.unwrap();
    let got = store.access("dev-b").await.unwrap();
    assert_eq!(got.pin_sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert_eq!(store.all_access().await.unwrap().len(), 2);

    // Inventory: newest first, with the time read (ms precision); retention.
    let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let first = store
        .put_inventory("dev-a", t0, &json!({ "bios": { "version": "1.0" } }))
        .await
        .unwrap();
    let second = store
        .put_inventory(
            "dev-a",
            t0 + Duration::from_secs(60),
            &json!({ "bios": { "version": "1.1" } }),
        )
        .await
        .unwrap();
    assert!(second > first);
    let snaps = store.inventory_snapshots("dev-a", 2).await.unwrap();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].body["bios"]["version"], "1.1");
    assert_eq!(snaps[1].read_at, t0);
    assert!(store
        .inventory_snapshots("dev-b", 5)
        .await
        .unwrap()
        .is_empty());
    for i in 0..MAX_INVENTORY_SNAPSHOTS + 5 {
        store
            .put_inventory("dev-b", SystemTime::now(), &json!({ "n": i }))
            .await
            .unwrap();
    }
    let kept = store
        .inventory_snapshots("dev-b", MAX_INVENTORY_SNAPSHOTS + 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), MAX_INVENTORY_SNAPSHOTS as usize);
    assert_eq!(kept[0].body["n"], MAX_INVENTORY_SNAPSHOTS + 4);
    assert_eq!(
        store.inventory_snapshots("dev-a", 10).await.unwrap().len(),
        2,
        "retention is per device"
    );
    store.close().await;
}
