//! Maintenance operations in the store (M10, M11), on SQLite and on a real PostgreSQL server:
//! steps are recorded in place until the operation ends, the first outcome stands, a step is
//! never recorded after the end, and unfinished operations are what a restarted server finds.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
mod store_support;

use std::time::{Duration, SystemTime};

use amtd_infra::store::{MaintenanceFilter, NewMaintenanceOp, StoreError};
use serde_json::json;
use store_support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_maintenance_steps_are_recorded_until_the_end() {
    steps_are_recorded_until_the_end(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_maintenance_steps_are_recorded_until_the_end() {
    let Some(db) = TestDb::postgres("maintenance_steps").await else {
        return;
    };
    steps_are_recorded_until_the_end(db).await;
}

async fn steps_are_recorded_until_the_end(db: TestDb) {
    let store = db.open().await;
    let t0 = SystemTime::now() - Duration::from_secs(60);
    let start = |device: &str, task: &str, at: SystemTime| NewMaintenanceOp {
        device_uuid: device.into(),
        task: task.into(),
        phase: "stored".into(),
        payload: json!({ "old_version": 1 }),
        at,
    };
    let rotation = store
        .start_maintenance(&start("dev-1", "rotate-admin-password", t0))
        .await
        .unwrap();
    let crl = store
        .start_maintenance(&start("dev-2", "push-crl", t0 + Duration::from_secs(1)))
        .await
        .unwrap();
    store
        .update_maintenance(
            &rotation,
            "sent",
            &json!({ "old_version": 1, "new_version": 2 }),
            t0 + Duration::from_secs(2),
        )
        .await
        .unwrap();

    // Reopened (a restarted server): both are unfinished, oldest first, in their last step.
    store.close().await;
    let store = db.open().await;
    let open = store.unfinished_maintenance().await.unwrap();
    assert_eq!(
        open.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        vec![rotation.clone(), crl.clone()]
    );
    assert_eq!(open[0].phase, "sent");
    assert_eq!(open[0].payload["new_version"], 2);
    assert_eq!(open[0].task, "rotate-admin-password");

    assert!(store
        .finish_maintenance(&rotation, "rotated", None, t0 + Duration::from_secs(3))
        .await
        .unwrap());
    // The first outcome stands, and no step is recorded after the end.
    assert!(!store
        .finish_maintenance(&rotation, "failed", Some("late"), SystemTime::now())
        .await
        .unwrap());
    let late = store
        .update_maintenance(&rotation, "sent", &json!({}), SystemTime::now())
        .await;
    assert!(matches!(late, Err(StoreError::NotFound { .. })), "{late:?}");
    let op = store.maintenance_op(&rotation).await.unwrap().unwrap();
    assert_eq!(
        (op.outcome.as_deref(), op.phase.as_str()),
        (Some("rotated"), "sent")
    );
    assert!(op.finished_at.is_some());

    let open = store.unfinished_maintenance().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, crl);

    // Filters: by device, task and outcome; newest first.
    let again = store
        .start_maintenance(&start(
            "dev-1",
            "rotate-admin-password",
            t0 + Duration::from_secs(9),
        ))
        .await
        .unwrap();
    let mine = store
        .maintenance_ops(&MaintenanceFilter {
            device_uuid: Some("dev-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        mine.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        vec![again, rotation.clone()]
    );
    let rotated = store
        .maintenance_ops(&MaintenanceFilter {
            task: Some("rotate-admin-password".into()),
            outcome: Some("rotated".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].id, rotation);
    let unknown = store
        .finish_maintenance(
            &amtd_infra::store::MaintenanceOpId("0".repeat(32)),
            "done",
            None,
            SystemTime::now(),
        )
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound { .. })));
}
