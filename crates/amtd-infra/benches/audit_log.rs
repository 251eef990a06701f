//! The hash-chained audit log (issue 8): appends per second (one writer, and four writers on
//! two store instances as two amtd processes would be) and the time to verify a chain of
//! 10,000 records, on SQLite (a file, WAL, `synchronous=FULL`) and on a PostgreSQL server this
//! binary starts (as the store tests do; skipped without PostgreSQL binaries).
//!
//! ```text
//! cargo bench -p amtd-infra --bench audit_log
//! AMTD_BENCH_APPENDS=5000 cargo bench -p amtd-infra --bench audit_log
//! ```
//!
//! Every append is one transaction holding the table's write lock (SQLite `BEGIN IMMEDIATE`,
//! PostgreSQL `LOCK TABLE … IN EXCLUSIVE MODE`) that reads the last record and inserts the
//! next, durable on return. The 10,000-record chain for the verify figure is written directly
//! (one transaction, hashes computed as appends compute them), then verified with
//! `Store::verify_audit`, which reads pages of 1,000 and re-hashes every record.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/store_support/mod.rs"]
#[allow(dead_code)]
mod store_support;

use std::time::Instant;

use amtd_infra::store::{audit_hash, AuditEntry, AuditResult, Store, AUDIT_GENESIS};
use serde_json::json;
use store_support::TestDb;

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        actor: "api-token".into(),
        action: "power-off".into(),
        device: Some(format!("8086e000-0000-4000-8000-{i:012x}")),
        result: AuditResult::Started,
        detail: json!({ "i": i }),
        peer: Some("127.0.0.1:40000".into()),
    }
}

async fn appends(label: &str, db: &TestDb, n: usize) {
    let store = db.open().await;
    let t = Instant::now();
    for i in 0..n {
        store.append_audit(&entry(i)).await.unwrap();
    }
    let one = t.elapsed();
    let a = db.open().await;
    let b = db.open().await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 4 {
                s.append_audit(&entry(w * n + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let four = t.elapsed();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.problem, None);
    println!(
        "{label:<10} appends: 1 writer {:>7.0}/s ({n} in {:.2} s); 4 writers on 2 instances \
         {:>7.0}/s ({} in {:.2} s)",
        n as f64 / one.as_secs_f64(),
        one.as_secs_f64(),
        (n / 4 * 4) as f64 / four.as_secs_f64(),
        n / 4 * 4,
        four.as_secs_f64()
    );
}

/// Writes a valid chain of `n` records in one transaction.
async fn write_chain(store: &Store, n: i64) {
    let mut tx = store.pool().begin().await.unwrap();
    let mut prev = AUDIT_GENESIS.to_owned();
    for seq in 1..=n {
        let at = 1_795_000_000_000 + seq;
        let device = format!("8086e000-0000-4000-8000-{seq:012x}");
        let detail = format!("{{\"i\":{seq}}}");
        let hash = audit_hash(
            seq,
            at,
            "api-token",
            "power-off",
            Some(&device),
            "ok",
            &detail,
            Some("127.0.0.1:40000"),
            &prev,
        );
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, device, result, detail, peer, \
             prev_hash, hash) VALUES ($1, $2, 'api-token', 'power-off', $3, 'ok', $4, \
             '127.0.0.1:40000', $5, $6)",
        )
        .bind(seq)
        .bind(at)
        .bind(&device)
        .bind(&detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .unwrap();
        prev = hash;
    }
    tx.commit().await.unwrap();
}

async fn verify(label: &str, db: &TestDb) {
    let store = db.open().await;
    write_chain(&store, 10_000).await;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let v = store.verify_audit().await.unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!((v.records, v.problem), (10_000, None));
    }
    println!(
        "{label:<10} verify 10,000 records: {:.3} s (best of 3)",
        best
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("AMTD_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    appends("SQLite", &TestDb::sqlite(), n).await;
    verify("SQLite", &TestDb::sqlite()).await;
    match TestDb::postgres("bench_appends").await {
        Some(db) => {
            appends("PostgreSQL", &db, n).await;
            let db = TestDb::postgres("bench_verify").await.unwrap();
            verify("PostgreSQL", &db).await;
        }
        None => println!("PostgreSQL: skipped (no PostgreSQL binaries)"),
    }
}
