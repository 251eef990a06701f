//! The API's users, tokens and sessions (migration 0007), on SQLite and on a real PostgreSQL
//! server: names are unique, `Debug` of a user shows no password hash, a token is found by its
//! hash only and stays refused once revoked, expired sessions are never returned, and disabling
//! or deleting a user ends its sessions (deleting also its tokens).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
mod store_support;

use std::time::{Duration, SystemTime};

use amtd_infra::store::{Session, StoreError};
use store_support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_users_tokens_and_sessions() {
    users_tokens_and_sessions(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_users_tokens_and_sessions() {
    let Some(db) = TestDb::postgres("users").await else {
        return;
    };
    users_tokens_and_sessions(db).await;
}

fn sha(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

async fn users_tokens_and_sessions(db: TestDb) {
    let store = db.open().await;
    const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    assert_eq!(store.count_users().await.unwrap(), 0);
    let alice = store
        .create_user("alice", PHC, "operator")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.role, "operator");
    assert!(!alice.disabled);
    let shown = format!("{alice:?}");
    assert!(
        !shown.contains("argon2") && !shown.contains("aGFza"),
        "{shown}"
    );
    assert!(store
        .create_user("alice", PHC, "viewer")
        .await
        .unwrap()
        .is_none());
    store.create_user("bob", PHC, "viewer").await.unwrap();
    let names: Vec<_> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    // Tokens: found by hash, listed, revoked once.
    let t = store
        .create_token("t1", "alice", &sha('a'), "ci")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.revoked_at, None);
    assert!(matches!(
        store.create_token("t2", "nobody", &sha('b'), "x").await,
        Err(StoreError::InvalidInput { .. })
    ));
    assert!(matches!(
        store.create_token("t3", "alice", "not-a-hash", "x").await,
        Err(StoreError::InvalidInput { .. })
    ));
    assert!(store
        .create_token("t4", "bob", &sha('a'), "same hash")
        .await
        .unwrap()
        .is_none());
    let (found, user) = store.token_by_hash(&sha('a')).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), user.name.as_str()), ("t1", "alice"));
    assert!(store.token_by_hash(&sha('c')).await.unwrap().is_none());
    store.touch_token("t1", SystemTime::now()).await.unwrap();
    assert!(store.tokens(Some("alice")).await.unwrap()[0]
        .last_used_at
        .is_some());
    assert!(store.revoke_token("t1").await.unwrap());
    assert!(!store.revoke_token("t1").await.unwrap());
    let (found, _) = store.token_by_hash(&sha('a')).await.unwrap().unwrap();
    assert!(found.revoked_at.is_some());

    // Sessions: an expired one is never returned.
    let now = SystemTime::now();
    let session = |id: char, user: &str, ttl: u64| Session {
        id_sha256: sha(id),
        user_name: user.into(),
        csrf_sha256: sha('f'),
        created_at: now,
        expires_at: now + Duration::from_secs(ttl),
        last_seen_at: now,
    };
    store
        .create_session(&session('1', "alice", 3600))
        .await
        .unwrap();
    store
        .create_session(&session('2', "bob", 3600))
        .await
        .unwrap();
    let (s, u) = store
        .session_by_hash(&sha('1'), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.csrf_sha256, u.name), (sha('f'), "alice".to_owned()));
    let later = now + Duration::from_secs(3601);
    assert!(store
        .session_by_hash(&sha('1'), later)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.prune_sessions(later).await.unwrap(), 2);
    store
        .create_session(&session('1', "alice", 3600))
        .await
        .unwrap();
    assert!(store.delete_session(&sha('1')).await.unwrap());
    assert!(store
        .session_by_hash(&sha('1'), now)
        .await
        .unwrap()
        .is_none());

    // Password change and disabling end sessions; deleting removes tokens too.
    store
        .create_session(&session('3', "alice", 3600))
        .await
        .unwrap();
    assert!(store.set_user_password("alice", PHC).await.unwrap());
    assert!(store
        .session_by_hash(&sha('3'), now)
        .await
        .unwrap()
        .is_none());
    store
        .create_session(&session('4', "alice", 3600))
        .await
        .unwrap();
    assert!(store.set_user_disabled("alice", true).await.unwrap());
    assert!(store
        .session_by_hash(&sha('4'), now)
        .await
        .unwrap()
        .is_none());
    assert!(store.user("alice").await.unwrap().unwrap().disabled);
    assert!(!store.set_user_disabled("nobody", true).await.unwrap());
    // A role change is stored; an unknown user is reported, not created.
    assert!(store.set_user_role("alice", "operator").await.unwrap());
    assert_eq!(store.user("alice").await.unwrap().unwrap().role, "operator");
    assert!(!store.set_user_role("nobody", "viewer").await.unwrap());
    assert!(store.user("nobody").await.unwrap().is_none());
    store
        .create_token("t5", "bob", &sha('d'), "b")
        .await
        .unwrap();
    store
        .create_session(&session('5', "bob", 3600))
        .await
        .unwrap();
    assert!(store.delete_user("bob").await.unwrap());
    assert!(!store.delete_user("bob").await.unwrap());
    assert!(store.token_by_hash(&sha('d')).await.unwrap().is_none());
    assert!(store
        .session_by_hash(&sha('5'), now)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.count_users().await.unwrap(), 1);
}
