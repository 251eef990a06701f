//! What API authentication costs per request and per login (issue 8).
//!
//! ```text
//! cargo bench -p amtd-infra --bench api_auth
//! AMTD_BENCH_SECS=5 cargo bench -p amtd-infra --bench api_auth
//! ```
//!
//! 1. **old check**: the single `api-token` compared in constant time with the presented token
//!    (what every request cost before users and roles).
//! 2. **token lookup**: what the auth layer now does per bearer request: SHA-256 of the
//!    presented token, then the store's `token_by_hash` (one indexed SELECT joining the user)
//!    on an SQLite file holding 1,000 users' tokens; sequential, and with 8 concurrent tasks.
//! 3. **session lookup**: the same for a session cookie (`session_by_hash`).
//! 4. **argon2id verify**: one login's password check (argon2 crate defaults: m=19 MiB, t=2,
//!    p=1), and one hash (user creation, password change).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use amtd_infra::store::{Kek, Session, Store};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token(i: u32) -> String {
    sha256_hex(format!("token-{i}").as_bytes())
}

/// Runs `f` for about `secs`; returns (operations, elapsed).
fn timed(secs: u64, mut f: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    (n, start.elapsed())
}

fn report(what: &str, n: u64, took: Duration) {
    let per = took.as_secs_f64() / n as f64;
    println!(
        "{what:<44} {:>12.0} /s   {:>10.2} µs each",
        n as f64 / took.as_secs_f64(),
        per * 1e6
    );
}

fn main() {
    let secs = env_u64("AMTD_BENCH_SECS", 3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // 1. The old check.
    let stored = token(0);
    let presented = token(0);
    let (n, took) = timed(secs, || {
        assert!(std::hint::black_box(ct_eq(
            presented.as_bytes(),
            stored.as_bytes()
        )));
    });
    report("old: constant-time compare of api-token", n, took);
    let old_per = took.as_secs_f64() / n as f64;

    // 2./3. The store.
    let dir = tempfile::tempdir().unwrap();
    let kek_path = dir.path().join("kek");
    Kek::generate_file(&kek_path).unwrap();
    let url = format!("sqlite://{}", dir.path().join("amtd.db").display());
    let store = rt.block_on(async {
        let store = Store::open(&url, Kek::from_file(&kek_path).unwrap())
            .await
            .unwrap();
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let now = SystemTime::now();
        for i in 0..1000u32 {
            let name = format!("user{i}");
            store.create_user(&name, phc, "viewer").await.unwrap();
            store
                .create_token(&format!("id{i}"), &name, &token(i), "bench")
                .await
                .unwrap();
            store
                .create_session(&Session {
                    id_sha256: token(100_000 + i),
                    user_name: name,
                    csrf_sha256: token(200_000 + i),
                    created_at: now,
                    expires_at: now + Duration::from_secs(3600),
                    last_seen_at: now,
                })
                .await
                .unwrap();
        }
        store
    });
    let presented: Vec<String> = (0..1000).map(|i| format!("token-{i}")).collect();
    let mut i = 0usize;
    let (n, took) = timed(secs, || {
        let hash = sha256_hex(presented[i % 1000].as_bytes());
        i += 1;
        let found = rt.block_on(store.token_by_hash(&hash)).unwrap();
        assert!(found.is_some());
    });
    report("new: SHA-256 + token_by_hash (sequential)", n, took);
    let new_per = took.as_secs_f64() / n as f64;

    let store = Arc::new(store);
    let (n, took) = rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..8u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut i = t;
                while start.elapsed() < Duration::from_secs(secs) {
                    let hash = sha256_hex(format!("token-{}", i % 1000).as_bytes());
                    i += 8;
                    assert!(store.token_by_hash(&hash).await.unwrap().is_some());
                    n += 1;
                }
                n
            }));
        }
        let mut n = 0;
        for t in tasks {
            n += t.await.unwrap();
        }
        (n, start.elapsed())
    });
    report("new: SHA-256 + token_by_hash (8 tasks)", n, took);

    let mut i = 0u32;
    let (n, took) = timed(secs, || {
        let hash = token(100_000 + (i % 1000));
        i += 1;
        let found = rt
            .block_on(store.session_by_hash(&hash, SystemTime::now()))
            .unwrap();
        assert!(found.is_some());
    });
    report("new: session_by_hash (sequential)", n, took);

    // 4. argon2id.
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    let argon = argon2::Argon2::default();
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let phc = argon
        .hash_password(b"a long enough password", &salt)
        .unwrap()
        .to_string();
    let parsed = PasswordHash::new(&phc).unwrap();
    let rounds = 20u32;
    let start = Instant::now();
    for _ in 0..rounds {
        argon
            .verify_password(b"a long enough password", &parsed)
            .unwrap();
    }
    let verify = start.elapsed() / rounds;
    let start = Instant::now();
    for _ in 0..rounds {
        argon.hash_password(b"another password", &salt).unwrap();
    }
    let hash = start.elapsed() / rounds;
    println!(
        "argon2id verify (one login)                  {:>10.1} ms   ({:.1} logins/s per core)",
        verify.as_secs_f64() * 1e3,
        1.0 / verify.as_secs_f64()
    );
    println!(
        "argon2id hash (user created / password set)  {:>10.1} ms",
        hash.as_secs_f64() * 1e3
    );
    println!(
        "\nper bearer request: the token lookup costs {:.0} µs more than the old compare \
         ({:.0}x)",
        (new_per - old_per) * 1e6,
        new_per / old_per
    );
}
