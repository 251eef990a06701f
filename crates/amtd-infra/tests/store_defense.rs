//! System Defense policies in the store (M3), on SQLite and on a real PostgreSQL server:
//! documents are versioned (each write one revision more), conditional writes refuse a stale
//! revision, and what a device was given is a copy that outlives edits and deletion of the
//! named policy.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
mod store_support;

use std::time::{Duration, UNIX_EPOCH};

use amtd_core::defense::{DefensePolicy, Verdict};
use amtd_infra::store::{DefensePut, StoredDefensePolicy};
use store_support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_defense_policies_are_versioned_and_applied_copies_kept() {
    policies_are_versioned_and_applied_copies_kept(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_defense_policies_are_versioned_and_applied_copies_kept() {
    let Some(db) = TestDb::postgres("defense_policies").await else {
        return;
    };
    policies_are_versioned_and_applied_copies_kept(db).await;
}

fn stored(p: DefensePut) -> StoredDefensePolicy {
    match p {
        DefensePut::Stored(s) => s,
        other => panic!("not stored: {other:?}"),
    }
}

async fn policies_are_versioned_and_applied_copies_kept(db: TestDb) {
    let store = db.open().await;
    let mut p = DefensePolicy::new("lockdown");
    p.precedence = 5;

    // Create-only write, then an unconditional write: revisions 1 and 2.
    let first = stored(store.put_defense_policy(&p, Some(0)).await.unwrap());
    assert_eq!(first.revision, 1);
    assert_eq!(
        store.put_defense_policy(&p, Some(0)).await.unwrap(),
        DefensePut::RevisionMismatch { current: Some(1) }
    );
    p.rx_default.action = Verdict::Drop;
    let second = stored(store.put_defense_policy(&p, None).await.unwrap());
    assert_eq!(second.revision, 2);
    assert_eq!(second.created_at, first.created_at);

    // A writer that read revision 1 is refused; one that read 2 succeeds.
    p.precedence = 9;
    assert_eq!(
        store.put_defense_policy(&p, Some(1)).await.unwrap(),
        DefensePut::RevisionMismatch { current: Some(2) }
    );
    assert_eq!(
        store
            .get_defense_policy("lockdown")
            .await
            .unwrap()
            .unwrap()
            .policy
            .precedence,
        5,
        "a refused write changes nothing"
    );
    let third = stored(store.put_defense_policy(&p, Some(2)).await.unwrap());
    assert_eq!((third.revision, third.policy.precedence), (3, 9));
    assert_eq!(
        store
            .put_defense_policy(&DefensePolicy::new("nope"), Some(4))
            .await
            .unwrap(),
        DefensePut::RevisionMismatch { current: None }
    );

    // Applied to a device: a copy with its revision, kept across edits and deletion.
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    store
        .record_defense_applied("dev-1", &third.policy, 3, at)
        .await
        .unwrap();
    store
        .put_defense_policy(&DefensePolicy::new("lockdown"), None)
        .await
        .unwrap();
    assert_eq!(
        store.defense_devices("lockdown").await.unwrap(),
        vec![("dev-1".to_owned(), 3)]
    );
    assert!(store.delete_defense_policy("lockdown").await.unwrap());
    assert!(!store.delete_defense_policy("lockdown").await.unwrap());
    let applied = store.defense_applied_to("dev-1").await.unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].policy, third.policy);
    assert_eq!((applied[0].revision, applied[0].applied_at), (3, at));

    // Reopened: still there. Removed from the device: gone.
    store.close().await;
    let store = db.open().await;
    assert_eq!(store.defense_applied_to("dev-1").await.unwrap().len(), 1);
    assert!(store
        .clear_defense_applied("dev-1", "lockdown")
        .await
        .unwrap());
    assert!(store.defense_applied_to("dev-1").await.unwrap().is_empty());
    assert!(!store
        .clear_defense_applied("dev-1", "lockdown")
        .await
        .unwrap());

    // Listing by name; a document another version wrote is reported, not misread.
    for n in ["b-pol", "a-pol"] {
        store
            .put_defense_policy(&DefensePolicy::new(n), None)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE defense_policies SET doc_version = 99 WHERE name = 'b-pol'")
        .execute(store.pool())
        .await
        .unwrap();
    let list = store.list_defense_policies().await.unwrap();
    let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["a-pol", "b-pol"]);
    assert!(list[0].1.is_ok());
    let e = list[1].1.as_ref().unwrap_err().to_string();
    assert!(e.contains("document version 99"), "{e}");
}
