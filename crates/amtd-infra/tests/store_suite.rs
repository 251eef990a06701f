//! The provisioning store against real databases: every case runs on SQLite (a file in a
//! temporary directory) and on a real PostgreSQL server started by the test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod store_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use amt_wsman::secret::SecretString;
use amtd_infra::store::{
    Backend, Blame, CertificateLink, DeviceFilter, DeviceUpsert, HelloFilter, Kek, NewHello,
    NewTransition, RejectedHello, SecretKind, Store, StoreError,
};
use serde_json::json;
use sqlx::Row;
use store_support::TestDb;

/// Generates, for each case, one test per backend: `sqlite::case` and `postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::TestDb::postgres(stringify!($case)).await else {
                        return;
                    };
                    super::cases::$case(db).await;
                }
            )*
        }
    };
}

on_both_backends!(
    device_upsert_keeps_unset_fields_and_lists_in_pages,
    hellos_are_recorded_newest_first,
    hello_batch_is_recorded_in_order,
    rejected_hellos_are_recorded_without_a_uuid_and_with_a_count,
    timeline_is_ordered_and_survives_reopening_the_store,
    finished_run_keeps_its_first_outcome_and_unknown_run_is_not_found,
    secrets_round_trip_and_never_reach_the_table_in_plain_text,
    secret_rows_moved_to_another_device_do_not_open,
    wrong_kek_is_refused_at_open_with_a_clear_error,
    kek_rotation_reseals_every_secret_and_retires_the_old_kek,
    profiles_round_trip_and_list_sorted,
    certificate_links_update_in_place,
    lease_is_exclusive_between_two_concurrent_instances,
    expired_lease_is_taken_over_and_the_old_holder_is_fenced,
    migrations_are_idempotent_and_concurrent_opens_agree,
);

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

mod cases {
    use super::*;

    pub async fn device_upsert_keeps_unset_fields_and_lists_in_pages(db: TestDb) {
        let store = db.open().await;
        let first = store
            .upsert_device(&DeviceUpsert {
                address: Some("10.0.0.5:51234".into()),
                ..DeviceUpsert::new("uuid-b")
            })
            .await
            .unwrap();
        assert_eq!(first.state, DeviceUpsert::DEFAULT_STATE);
        assert_eq!(first.fqdn, None);
        let second = store
            .upsert_device(&DeviceUpsert {
                fqdn: Some("amtdev01.amt.test".into()),
                state: Some("provisioned".into()),
                firmware_version: Some("16.1.27".into()),
                ..DeviceUpsert::new("uuid-b")
            })
            .await
            .unwrap();
        assert_eq!(second.address.as_deref(), Some("10.0.0.5:51234"));
        assert_eq!(second.fqdn.as_deref(), Some("amtdev01.amt.test"));
        assert_eq!(second.state, "provisioned");
        assert_eq!(second.created_at, first.created_at);
        assert!(second.updated_at >= first.updated_at);
        for u in ["uuid-a", "uuid-c", "uuid-d"] {
            store.upsert_device(&DeviceUpsert::new(u)).await.unwrap();
        }
        let all = store.list_devices(&DeviceFilter::default()).await.unwrap();
        let uuids: Vec<_> = all.iter().map(|d| d.uuid.as_str()).collect();
        assert_eq!(uuids, ["uuid-a", "uuid-b", "uuid-c", "uuid-d"]);
        let provisioned = store
            .list_devices(&DeviceFilter {
                state: Some("provisioned".into()),
                ..DeviceFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(provisioned, vec![second.clone()]);
        let page1 = store
            .list_devices(&DeviceFilter {
                limit: 2,
                ..DeviceFilter::default()
            })
            .await
            .unwrap();
        let page2 = store
            .list_devices(&DeviceFilter {
                limit: 2,
                after: Some(page1[1].uuid.clone()),
                ..DeviceFilter::default()
            })
            .await
            .unwrap();
        let paged: Vec<_> = page1
            .iter()
            .chain(&page2)
            .map(|d| d.uuid.as_str())
            .collect();
        assert_eq!(paged, uuids);
        assert_eq!(store.get_device("uuid-b").await.unwrap(), Some(second));
        assert_eq!(store.get_device("nope").await.unwrap(), None);
        let err = store
            .upsert_device(&DeviceUpsert::new(""))
            .await
            .unwrap_err();
        assert_eq!(err.blame(), Blame::Caller, "{err}");
    }

    pub async fn hellos_are_recorded_newest_first(db: TestDb) {
        let store = db.open().await;
        let mut ids = Vec::new();
        for (i, uuid) in ["u1", "u2", "u1"].iter().enumerate() {
            ids.push(
                store
                    .record_hello(&NewHello {
                        device_uuid: (*uuid).into(),
                        source: format!("10.0.0.{i}:1000"),
                        received_at: ago(10 - i as u64),
                        retry_count: i as u32,
                        hashes: "c3846bf2,d7a7a0fb".into(),
                        outcome: None,
                    })
                    .await
                    .unwrap(),
            );
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(store.set_hello_outcome(ids[2], "accepted").await.unwrap());
        assert!(!store.set_hello_outcome(ids[2] + 100, "x").await.unwrap());
        let u1 = store
            .hellos(&HelloFilter {
                device_uuid: Some("u1".into()),
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(u1.len(), 2);
        assert_eq!(u1[0].id, ids[2]);
        assert_eq!(u1[0].outcome.as_deref(), Some("accepted"));
        assert_eq!(u1[0].retry_count, 2);
        assert_eq!(u1[1].source, "10.0.0.0:1000");
        let all = store.hellos(&HelloFilter::default()).await.unwrap();
        assert_eq!(all.len(), 3);
        // Retention: the two older than 8.5 s go.
        assert_eq!(
            store
                .prune_hellos(SystemTime::now() - Duration::from_millis(8_500))
                .await
                .unwrap(),
            2
        );
        let left = store.hellos(&HelloFilter::default()).await.unwrap();
        assert_eq!(left.iter().map(|h| h.id).collect::<Vec<_>>(), [ids[2]]);
    }

    pub async fn timeline_is_ordered_and_survives_reopening_the_store(db: TestDb) {
        let store = db.open().await;
        let uuid = "dev-timeline";
        store.upsert_device(&DeviceUpsert::new(uuid)).await.unwrap();
        let run1 = store.start_run(uuid, ago(60)).await.unwrap();
        let phases = ["hello", "fqdn", "connect", "admin-setup", "commit"];
        for (i, phase) in phases.iter().enumerate() {
            let t = store
                .append_transition(&NewTransition {
                    run_id: run1.clone(),
                    phase: (*phase).into(),
                    reason: (i == 4).then(|| "EOF after CommitChanges: polling state".into()),
                    payload: json!({ "step": i, "nested": { "ok": true } }),
                    at: ago(50 - i as u64),
                })
                .await
                .unwrap();
            assert_eq!(t.seq as usize, i + 1);
            assert_eq!(t.device_uuid, uuid);
        }
        assert!(store
            .finish_run(&run1, "failed", Some("device reset"), ago(40))
            .await
            .unwrap());
        let run2 = store.start_run(uuid, ago(30)).await.unwrap();
        assert_ne!(run1, run2);
        store
            .append_transition(&NewTransition {
                run_id: run2.clone(),
                phase: "hello".into(),
                reason: None,
                payload: json!(null),
                at: ago(29),
            })
            .await
            .unwrap();
        let unfinished: Vec<_> = store
            .unfinished_runs()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(unfinished, vec![run2.clone()]);
        store.close().await;
        drop(store);

        // A new store over the same database (as after a restart) reads everything back.
        let store = db.open().await;
        let timeline = store.timeline(uuid).await.unwrap();
        let got: Vec<_> = timeline
            .iter()
            .map(|t| (t.run_id.clone(), t.seq, t.phase.as_str()))
            .collect();
        let mut want: Vec<_> = phases
            .iter()
            .enumerate()
            .map(|(i, p)| (run1.clone(), i as u32 + 1, *p))
            .collect();
        want.push((run2.clone(), 1, "hello"));
        assert_eq!(got, want);
        assert_eq!(
            timeline[2].payload,
            json!({ "step": 2, "nested": { "ok": true } })
        );
        assert_eq!(
            timeline[4].reason.as_deref(),
            Some("EOF after CommitChanges: polling state")
        );
        assert!(timeline.windows(2).all(|w| w[0].id < w[1].id));
        let runs = store.runs(uuid).await.unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].outcome.as_deref(), Some("failed"));
        assert_eq!(runs[0].reason.as_deref(), Some("device reset"));
        assert!(runs[1].finished_at.is_none());
        assert_eq!(store.run_timeline(&run2).await.unwrap().len(), 1);
    }

    pub async fn finished_run_keeps_its_first_outcome_and_unknown_run_is_not_found(db: TestDb) {
        let store = db.open().await;
        let run = store.start_run("dev-run", SystemTime::now()).await.unwrap();
        assert!(store
            .finish_run(&run, "provisioned", None, SystemTime::now())
            .await
            .unwrap());
        assert!(!store
            .finish_run(&run, "failed", Some("late"), SystemTime::now())
            .await
            .unwrap());
        assert_eq!(
            store.run(&run).await.unwrap().unwrap().outcome.as_deref(),
            Some("provisioned")
        );
        let ghost = amtd_infra::store::RunId("0".repeat(32));
        let err = store
            .append_transition(&NewTransition {
                run_id: ghost.clone(),
                phase: "hello".into(),
                reason: None,
                payload: json!({}),
                at: SystemTime::now(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        assert!(!err.is_retryable());
        let err = store
            .finish_run(&ghost, "failed", None, SystemTime::now())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }

    pub async fn secrets_round_trip_and_never_reach_the_table_in_plain_text(db: TestDb) {
        let store = db.open().await;
        let admin = "Adm!n-Pa55word-7QzX";
        let mebx = "Mebx#Passw0rd-2";
        assert_eq!(
            store
                .put_secret("dev-s", SecretKind::Admin, &SecretString::from(admin))
                .await
                .unwrap(),
            1
        );
        store
            .put_secret("dev-s", SecretKind::Mebx, &SecretString::from(mebx))
            .await
            .unwrap();
        let got = store
            .get_secret("dev-s", SecretKind::Admin)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), admin);
        assert!(!format!("{got:?}").contains(admin));
        assert_eq!(
            store
                .get_secret("dev-s", SecretKind::Mebx)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            mebx
        );
        assert!(store
            .get_secret("dev-s", SecretKind::AdComputer)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .get_secret("other", SecretKind::Admin)
            .await
            .unwrap()
            .is_none());

        // Rotation keeps the old version (escrow).
        let rotated = "Rotated!Pa55-99";
        assert_eq!(
            store
                .put_secret("dev-s", SecretKind::Admin, &SecretString::from(rotated))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .get_secret("dev-s", SecretKind::Admin)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            rotated
        );
        assert_eq!(
            store
                .get_secret_version("dev-s", SecretKind::Admin, 1)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            admin
        );
        let versions = store
            .secret_versions("dev-s", SecretKind::Admin)
            .await
            .unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [1, 2]
        );

        // The raw rows hold neither the passwords nor the data keys in the clear.
        let rows = sqlx::query("SELECT sealed_key, ciphertext FROM secrets")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(rows.len(), 3);
        for row in &rows {
            for column in ["sealed_key", "ciphertext"] {
                let bytes: Vec<u8> = row.try_get(column).unwrap();
                for plain in [admin, mebx, rotated] {
                    assert!(
                        !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                        "{column} holds a password in the clear"
                    );
                }
                assert!(bytes.len() >= 12 + 16);
            }
        }
        // Nor does any other table.
        let store_debug = format!("{store:?}");
        assert!(!store_debug.contains(admin));
    }

    pub async fn secret_rows_moved_to_another_device_do_not_open(db: TestDb) {
        let store = db.open().await;
        store
            .put_secret(
                "dev-x",
                SecretKind::Admin,
                &SecretString::from("X-Secret!1"),
            )
            .await
            .unwrap();
        sqlx::query("UPDATE secrets SET device_uuid = 'dev-y' WHERE device_uuid = 'dev-x'")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store
            .get_secret("dev-y", SecretKind::Admin)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WrongKek { .. } | StoreError::Corrupt { .. }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains("X-Secret!1"));
    }

    pub async fn wrong_kek_is_refused_at_open_with_a_clear_error(db: TestDb) {
        let store = db.open().await;
        store
            .put_secret(
                "dev-k",
                SecretKind::Admin,
                &SecretString::from("K3k-test!pw"),
            )
            .await
            .unwrap();
        store.close().await;
        let other = db.other_kek();
        let err = Store::open(&db.url, Kek::from_file(&other).unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::WrongKek { .. }), "{err}");
        assert_eq!(err.blame(), Blame::Operator);
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(text.contains("key-encryption key"), "{text}");
        assert!(text.contains("another KEK"), "{text}");
        // The right KEK still opens it.
        let store = db.open().await;
        assert_eq!(
            store
                .get_secret("dev-k", SecretKind::Admin)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "K3k-test!pw"
        );
    }

    pub async fn kek_rotation_reseals_every_secret_and_retires_the_old_kek(db: TestDb) {
        let store = db.open().await;
        for (dev, pw) in [("dev-r1", "R1-Pass!word"), ("dev-r2", "R2-Pass!word")] {
            store
                .put_secret(dev, SecretKind::Admin, &SecretString::from(pw))
                .await
                .unwrap();
        }
        store
            .put_secret(
                "dev-r1",
                SecretKind::Admin,
                &SecretString::from("R1-New!word"),
            )
            .await
            .unwrap();
        let ciphertexts_before: Vec<Vec<u8>> =
            sqlx::query("SELECT ciphertext FROM secrets ORDER BY device_uuid, version")
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get("ciphertext").unwrap())
                .collect();
        let new_path = db.other_kek();
        let (store, n) = store
            .rotate_kek(Kek::from_file(&new_path).unwrap())
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            store
                .get_secret_version("dev-r1", SecretKind::Admin, 1)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "R1-Pass!word"
        );
        let ciphertexts_after: Vec<Vec<u8>> =
            sqlx::query("SELECT ciphertext FROM secrets ORDER BY device_uuid, version")
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get("ciphertext").unwrap())
                .collect();
        assert_eq!(
            ciphertexts_before, ciphertexts_after,
            "only data keys are re-sealed"
        );
        store.close().await;
        let err = Store::open(&db.url, Kek::from_file(&db.kek_path).unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::WrongKek { .. }), "{err}");
        let store = Store::open(&db.url, Kek::from_file(&new_path).unwrap())
            .await
            .unwrap();
        assert_eq!(
            store
                .get_secret("dev-r2", SecretKind::Admin)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "R2-Pass!word"
        );
    }

    pub async fn hello_batch_is_recorded_in_order(db: TestDb) {
        let store = db.open().await;
        let batch: Vec<_> = (0..50)
            .map(|i| NewHello {
                device_uuid: format!("flood-{}", i % 5),
                source: format!("10.1.0.{i}:9000"),
                received_at: SystemTime::now(),
                retry_count: 0,
                hashes: String::new(),
                outcome: Some("rate-limited".into()),
            })
            .collect();
        let ids = store.record_hellos(&batch).await.unwrap();
        assert_eq!(ids.len(), 50);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let newest = store.hellos(&HelloFilter::default()).await.unwrap();
        assert_eq!(newest.len(), 50);
        assert_eq!(newest[0].source, "10.1.0.49:9000");
        // A bad record rejects the whole batch, before anything is written.
        let mut bad = batch.clone();
        bad[3].device_uuid = String::new();
        assert!(store.record_hellos(&bad).await.is_err());
        assert_eq!(
            store.hellos(&HelloFilter::default()).await.unwrap().len(),
            50
        );
    }

    pub async fn rejected_hellos_are_recorded_without_a_uuid_and_with_a_count(db: TestDb) {
        let store = db.open().await;
        let accepted = store
            .record_hello(&NewHello {
                device_uuid: "u1".into(),
                source: "10.0.0.1:1000".into(),
                received_at: ago(9),
                retry_count: 0,
                hashes: String::new(),
                outcome: Some("accepted".into()),
            })
            .await
            .unwrap();
        let malformed = store
            .record_rejected_hello(&RejectedHello {
                device_uuid: None,
                source: "10.0.0.2:1001".into(),
                received_at: ago(8),
                outcome: "rejected (truncated): malformed hello: truncated".into(),
                count: 1,
            })
            .await
            .unwrap();
        let zero = "00000000-0000-0000-0000-000000000000";
        let bogus = store
            .record_rejected_hello(&RejectedHello {
                device_uuid: Some(zero.into()),
                source: "10.0.0.2:1002".into(),
                received_at: ago(7),
                outcome: "rejected (bogus_uuid): malformed hello: bogus device UUID".into(),
                count: 1,
            })
            .await
            .unwrap();
        let flood = store
            .record_rejected_hello(&RejectedHello {
                device_uuid: None,
                source: "10.0.0.3:40000".into(),
                received_at: ago(6),
                outcome: "rate-limited".into(),
                count: 9_999,
            })
            .await
            .unwrap();
        let all = store.hellos(&HelloFilter::default()).await.unwrap();
        let ids: Vec<i64> = all.iter().map(|h| h.id).collect();
        assert_eq!(ids, [flood, bogus, malformed, accepted]);
        assert_eq!(all[0].count, 9_999);
        assert_eq!(all[0].device_uuid, None);
        assert_eq!(all[0].outcome.as_deref(), Some("rate-limited"));
        assert_eq!(all[1].device_uuid.as_deref(), Some(zero));
        assert_eq!(all[2].source, "10.0.0.2:1001");
        assert_eq!(
            (all[3].count, all[3].device_uuid.as_deref()),
            (1, Some("u1"))
        );
        // A device's hellos are its own; rows without a UUID never match a filter.
        let u1 = store
            .hellos(&HelloFilter {
                device_uuid: Some("u1".into()),
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(u1.iter().map(|h| h.id).collect::<Vec<_>>(), [accepted]);
        // Bad text is the caller's error; nothing is written.
        let err = store
            .record_rejected_hello(&RejectedHello {
                device_uuid: None,
                source: "bad\nsource".into(),
                received_at: ago(1),
                outcome: String::new(),
                count: 1,
            })
            .await
            .unwrap_err();
        assert_eq!(err.blame(), Blame::Caller, "{err}");
        // Retention covers them like any hello.
        assert_eq!(
            store
                .prune_hellos(SystemTime::now() - Duration::from_millis(6_500))
                .await
                .unwrap(),
            3
        );
        let left = store.hellos(&HelloFilter::default()).await.unwrap();
        assert_eq!(left.iter().map(|h| h.id).collect::<Vec<_>>(), [flood]);
    }

    pub async fn profiles_round_trip_and_list_sorted(db: TestDb) {
        let store = db.open().await;
        let p = json!({ "tls": "server-auth", "digest_users": ["support"], "kvm": false });
        store.put_profile("zeta", &p).await.unwrap();
        store.put_profile("alpha", &json!({})).await.unwrap();
        assert_eq!(
            store
                .get_profile::<serde_json::Value>("zeta")
                .await
                .unwrap(),
            Some(p)
        );
        let edited = json!({ "tls": "mutual" });
        store.put_profile("zeta", &edited).await.unwrap();
        assert_eq!(
            store
                .get_profile::<serde_json::Value>("zeta")
                .await
                .unwrap(),
            Some(edited)
        );
        assert_eq!(store.list_profiles().await.unwrap(), ["alpha", "zeta"]);
        assert!(store.delete_profile("alpha").await.unwrap());
        assert!(!store.delete_profile("alpha").await.unwrap());
        assert_eq!(
            store
                .get_profile::<serde_json::Value>("alpha")
                .await
                .unwrap(),
            None
        );
        let err = store.get_profile::<Vec<u8>>("zeta").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    pub async fn certificate_links_update_in_place(db: TestDb) {
        let store = db.open().await;
        let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut link = CertificateLink {
            serial: "4f1a".into(),
            device_uuid: Some("dev-c".into()),
            state: "issued".into(),
            not_after: Some(not_after),
            updated_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        store.put_certificate(&link).await.unwrap();
        link.state = "installed".into();
        store
            .put_certificate(&CertificateLink {
                device_uuid: None,
                not_after: None,
                ..link.clone()
            })
            .await
            .unwrap();
        assert_eq!(store.certificates("dev-c").await.unwrap(), vec![link]);
    }

    pub async fn lease_is_exclusive_between_two_concurrent_instances(db: TestDb) {
        // Two "instances": separate stores (separate pools) over one database.
        let a = Arc::new(db.open().await);
        let b = Arc::new(db.open().await);
        let ttl = Duration::from_secs(60);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let device = format!("dev-{i:02}");
            for (store, owner) in [(a.clone(), "instance-a"), (b.clone(), "instance-b")] {
                let device = device.clone();
                tasks.push(tokio::spawn(async move {
                    let lease = store.try_acquire_lease(&device, owner, ttl).await.unwrap();
                    (device, owner, lease)
                }));
            }
        }
        let mut winners = std::collections::BTreeMap::new();
        for t in tasks {
            let (device, owner, lease) = t.await.unwrap();
            if let Some(lease) = lease {
                assert_eq!(lease.owner, owner);
                assert_eq!(lease.generation, 1);
                assert!(
                    winners.insert(device.clone(), owner).is_none(),
                    "two owners hold {device}"
                );
            }
        }
        assert_eq!(winners.len(), 40, "every device has exactly one holder");
        let owners: BTreeSet<_> = winners.values().collect();
        eprintln!("lease winners by owner: {owners:?}");
        // The holder re-acquires (extends); the other still cannot.
        for (device, owner) in &winners {
            let other = if *owner == "instance-a" {
                "instance-b"
            } else {
                "instance-a"
            };
            let (mine, theirs) = if *owner == "instance-a" {
                (&a, &b)
            } else {
                (&b, &a)
            };
            assert!(mine
                .try_acquire_lease(device, owner, ttl)
                .await
                .unwrap()
                .is_some());
            assert!(theirs
                .try_acquire_lease(device, other, ttl)
                .await
                .unwrap()
                .is_none());
            assert_eq!(a.lease(device).await.unwrap().unwrap().owner, *owner);
        }
    }

    pub async fn expired_lease_is_taken_over_and_the_old_holder_is_fenced(db: TestDb) {
        let a = db.open().await;
        let b = db.open().await;
        let dev = "dev-lease";
        // Whole milliseconds: the store keeps times in milliseconds.
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let ttl = Duration::from_secs(30);
        let la = a
            .try_acquire_lease_at(dev, "a", ttl, t0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(la.generation, 1);
        let run = a.start_run(dev, t0).await.unwrap();
        let step = |phase: &str, at| NewTransition {
            run_id: run.clone(),
            phase: phase.into(),
            reason: None,
            payload: json!({}),
            at,
        };
        a.append_transition_fenced(&step("hello", t0), &la)
            .await
            .unwrap();
        // Before expiry: B is refused, A renews.
        let t1 = t0 + Duration::from_secs(20);
        assert!(b
            .try_acquire_lease_at(dev, "b", ttl, t1)
            .await
            .unwrap()
            .is_none());
        let la = a.renew_lease_at(&la, ttl, t1).await.unwrap();
        assert_eq!(la.expires_at, t1 + ttl);
        // A stalls past its expiry: B takes over with a new generation.
        let t2 = t1 + ttl + Duration::from_secs(1);
        let lb = b
            .try_acquire_lease_at(dev, "b", ttl, t2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lb.generation, 2);
        assert_eq!(lb.owner, "b");
        // A can neither renew nor write into the timeline any more.
        let err = a.renew_lease_at(&la, ttl, t2).await.unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
        assert_eq!(err.blame(), Blame::OtherInstance);
        let err = a
            .append_transition_fenced(&step("admin-setup", t2), &la)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
        let t = b
            .append_transition_fenced(&step("connect", t2), &lb)
            .await
            .unwrap();
        assert_eq!(t.seq, 2);
        assert_eq!(
            b.timeline(dev)
                .await
                .unwrap()
                .iter()
                .map(|t| t.phase.as_str())
                .collect::<Vec<_>>(),
            ["hello", "connect"]
        );
        // Release: A may take it again, with a newer generation.
        assert!(b.release_lease(&lb).await.unwrap());
        assert!(!b.release_lease(&la).await.unwrap());
        let again = a
            .try_acquire_lease_at(dev, "a", ttl, t2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.generation, 3);
    }

    pub async fn migrations_are_idempotent_and_concurrent_opens_agree(db: TestDb) {
        let first = db.open().await;
        first
            .upsert_device(&DeviceUpsert::new("dev-m"))
            .await
            .unwrap();
        first.close().await;
        // Several instances starting at once against the same database.
        let (s1, s2, s3) = tokio::join!(db.open(), db.open(), db.open());
        let stores = [s1, s2, s3];
        for s in &stores {
            assert!(s.get_device("dev-m").await.unwrap().is_some());
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
            .fetch_one(stores[0].pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        // Every migration file of the backend, applied once however many instances opened it.
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match stores[0].backend() {
                amtd_infra::store::Backend::Sqlite => "migrations/sqlite",
                amtd_infra::store::Backend::Postgres => "migrations/postgres",
            });
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
            })
            .count();
        assert!(
            files >= 5,
            "0001_initial … 0005_defense in {}",
            dir.display()
        );
        assert_eq!(
            n,
            i64::try_from(files).unwrap(),
            "migrations in {}",
            dir.display()
        );
        let expected = if db.url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        assert_eq!(stores[0].backend(), expected);
    }
}

#[tokio::test]
async fn unsupported_url_scheme_is_the_callers_error() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    Kek::generate_file(&kek).unwrap();
    let err = Store::open(
        "mysql://u:hunter2@127.0.0.1/db",
        Kek::from_file(&kek).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
    assert_eq!(err.blame(), Blame::Caller);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = Store::open("sqlite::memory:", Kek::from_file(&kek).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_is_retryable_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    Kek::generate_file(&kek).unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Store::open_with(
        &format!("postgres://amtd:hunter2@127.0.0.1:{port}/amtd"),
        Kek::from_file(&kek).unwrap(),
        amtd_infra::store::StoreOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(2),
        },
    )
    .await
    .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.blame(), Blame::Database);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn store_debug_shows_backend_and_url_only() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let shown = format!("{store:?}");
    assert!(shown.contains("Sqlite"), "{shown}");
    assert!(shown.contains("amtd.db"), "{shown}");
    assert!(!shown.contains("kek"), "{shown}");
}

#[tokio::test]
async fn sqlite_store_runs_in_wal_mode_with_full_sync() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
    let sync: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(
        sync, 2,
        "synchronous=FULL: a commit is on disk when the call returns"
    );
}
