//! The hash-chained audit log in the store (issue 8), on SQLite and on a real PostgreSQL
//! server: appends are gap-free and verify, concurrent writers (two instances on one database)
//! stay one chain, and an edited, deleted or reordered record is reported by its seq.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
mod store_support;

use amtd_infra::store::{AuditEntry, AuditFilter, AuditProblem, AuditResult, Store, AUDIT_GENESIS};
use serde_json::json;
use store_support::TestDb;

fn entry(i: usize, device: Option<&str>) -> AuditEntry {
    AuditEntry {
        actor: "api-token".into(),
        action: format!("action-{i}"),
        device: device.map(str::to_owned),
        result: if i.is_multiple_of(3) {
            AuditResult::Failed("device unreachable".into())
        } else {
            AuditResult::Ok
        },
        detail: json!({ "i": i }),
        peer: Some("127.0.0.1:4000".into()),
    }
}

async fn fill(store: &Store, n: usize) {
    for i in 0..n {
        store
            .append_audit(&entry(i, i.is_multiple_of(2).then_some("dev-a")))
            .await
            .unwrap();
    }
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

async fn chain_appends_verify_and_tampering_names_the_seq(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.verify_audit().await.unwrap().problem, None);
    fill(&store, 6).await;
    let all = store.audit_records(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all[0].prev_hash, AUDIT_GENESIS);
    for w in all.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert!(w[1].at_ms >= w[0].at_ms);
    }
    assert_eq!(all[0].result, "failed: device unreachable");
    let dev = store
        .audit_records(&AuditFilter {
            device: Some("dev-a".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(dev.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 3, 5]);
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.problem, None);
    assert_eq!(v.records, 6);
    assert_eq!(v.head, Some((6, all[5].hash.clone())));

    // Edit one record's detail: that record is reported.
    exec(
        &store,
        "UPDATE audit_log SET detail = '{\"i\":99}' WHERE seq = 3",
    )
    .await;
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.problem, Some(AuditProblem::Altered { seq: 3 }));
    assert!(v
        .problem
        .unwrap()
        .to_string()
        .contains("record 3 was altered"));
    exec(
        &store,
        "UPDATE audit_log SET detail = '{\"i\":2}' WHERE seq = 3",
    )
    .await;
    assert_eq!(store.verify_audit().await.unwrap().problem, None);

    // Swap two records' places: the first out of place is reported.
    exec(&store, "UPDATE audit_log SET seq = 100 WHERE seq = 4").await;
    exec(&store, "UPDATE audit_log SET seq = 4 WHERE seq = 5").await;
    exec(&store, "UPDATE audit_log SET seq = 5 WHERE seq = 100").await;
    let p = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(p.seq(), 4, "{p}");
    exec(&store, "UPDATE audit_log SET seq = 100 WHERE seq = 4").await;
    exec(&store, "UPDATE audit_log SET seq = 4 WHERE seq = 5").await;
    exec(&store, "UPDATE audit_log SET seq = 5 WHERE seq = 100").await;
    assert_eq!(store.verify_audit().await.unwrap().problem, None);

    // Delete one: the record after the gap is reported, naming the missing one.
    exec(&store, "DELETE FROM audit_log WHERE seq = 2").await;
    let p = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(
        p,
        AuditProblem::Gap {
            seq: 3,
            previous: 1
        }
    );
    assert!(p.to_string().contains("record 2 is missing"), "{p}");

    // Delete the first: the start is missing.
    exec(&store, "DELETE FROM audit_log WHERE seq = 1").await;
    let p = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(p, AuditProblem::MissingStart { first: 3 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_chain_appends_verify_and_tampering_names_the_seq() {
    chain_appends_verify_and_tampering_names_the_seq(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_chain_appends_verify_and_tampering_names_the_seq() {
    let Some(db) = TestDb::postgres("audit_chain").await else {
        return;
    };
    chain_appends_verify_and_tampering_names_the_seq(db).await;
}

/// Two store instances (as two amtd processes would have) append at once.
async fn concurrent_writers_stay_one_gap_free_chain(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    let per_writer = 100;
    let mut tasks = Vec::new();
    for (w, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for lane in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_writer / 4 {
                    store
                        .append_audit(&entry(w * 1000 + lane * 100 + i, Some("dev")))
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = a.audit_records(&AuditFilter::default()).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|r| r.seq).collect();
    let want: Vec<i64> = (1..=2 * per_writer as i64).collect();
    assert_eq!(seqs, want);
    let v = b.verify_audit().await.unwrap();
    assert_eq!(v.problem, None);
    assert_eq!(v.records, 2 * per_writer as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers_stay_one_gap_free_chain() {
    concurrent_writers_stay_one_gap_free_chain(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_writers_stay_one_gap_free_chain() {
    let Some(db) = TestDb::postgres("audit_concurrent").await else {
        return;
    };
    concurrent_writers_stay_one_gap_free_chain(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_detail_is_refused_and_nothing_is_recorded() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let mut e = entry(1, None);
    e.detail = json!({ "x": "y".repeat(5000) });
    assert!(store.append_audit(&e).await.is_err());
    assert!(store
        .audit_records(&AuditFilter::default())
        .await
        .unwrap()
        .is_empty());
}
