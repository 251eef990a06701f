//! The certificate list's search (`GET /api/v1/pki/certificates`, issue 8) over a ledger of
//! 10,000 entries: the scan `pki_store::query::search` makes per request, for a first page, a
//! text search matching one entry, a status filter, and a text search matching nothing.
//!
//! ```text
//! cargo bench -p amtd-infra --bench pki_search
//! AMTD_BENCH_ENTRIES=100000 cargo bench -p amtd-infra --bench pki_search
//! ```
//!
//! The ledger is synthetic (entries as `Ledger::record` writes them, no signing): the search
//! never looks at certificates, only at ledger entries. The API holds the CA store's lock for
//! the scan, so this is also how long other PKI calls may wait behind one search.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use amt_pki::ledger::unix;
use amt_pki::{CaRole, CertState, Ledger, LedgerEntry, Purpose, RevocationReason, Serial};
use amtd_infra::pki_store::query::{search, CertQuery, CertStatus};

fn ledger(n: usize, now: u64) -> Ledger {
    let entries = (0..n)
        .map(|i| {
            let fqdn = format!("amtdev{i:05}.corp.example.com");
            let state = match i % 10 {
                0 => CertState::Revoked {
                    at: now - 100,
                    reason: RevocationReason::Reprovisioned,
                },
                1 => CertState::Issued,
                _ => CertState::Installed { at: now - 1000 },
            };
            LedgerEntry {
                serial: Serial::from_bytes(&(0x4000_0000_0000_0000_u64 + i as u64).to_be_bytes()),
                subject: format!("CN={fqdn}, CN={fqdn}, O=Intel® Active Management Technology"),
                purpose: Purpose::DeviceTls,
                issuer: CaRole::Issuing,
                device: Some(format!("8086e000-0000-4000-8000-{i:012x}")),
                issued_at: now - 5000,
                not_before: Some(now - 8600),
                not_after: if i % 50 == 0 { now - 1 } else { now + 86_400 },
                sans: vec![fqdn],
                state,
                superseded_by: None,
            }
        })
        .collect();
    Ledger { entries }
}

/// Runs `f` repeatedly for about a second; the mean time per call.
fn time(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut hits = f();
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < Duration::from_secs(1) || runs < 10 {
        hits = black_box(f());
        runs += 1;
    }
    (start.elapsed() / runs, hits)
}

fn main() {
    let n: usize = std::env::var("AMTD_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let now = SystemTime::now();
    let l = ledger(n, unix(now));
    let json = serde_json::to_vec(&l).unwrap();
    println!(
        "ledger: {n} entries ({:.1} MB as ledger.json)",
        json.len() as f64 / 1e6
    );
    let one = format!("amtdev{:05}.corp", n / 2);
    let cases: [(&str, CertQuery<'_>); 5] = [
        (
            "first page, no filter (limit 100)",
            CertQuery {
                limit: 100,
                ..CertQuery::default()
            },
        ),
        (
            "q = one device's FQDN",
            CertQuery {
                text: Some(&one),
                limit: 100,
                ..CertQuery::default()
            },
        ),
        (
            "status = revoked (limit 500)",
            CertQuery {
                status: Some(CertStatus::Revoked),
                limit: 500,
                ..CertQuery::default()
            },
        ),
        (
            "q = a UUID fragment",
            CertQuery {
                text: Some("8000-0000000012"),
                limit: 100,
                ..CertQuery::default()
            },
        ),
        (
            "q matching nothing",
            CertQuery {
                text: Some("no-such-name.example"),
                limit: 100,
                ..CertQuery::default()
            },
        ),
    ];
    println!("{:<36} {:>12} {:>8}", "search", "per request", "matches");
    for (label, q) in &cases {
        let (t, hits) = time(|| search(&l, q, now).unwrap().total);
        println!("{label:<36} {:>9.2} ms {hits:>8}", t.as_secs_f64() * 1e3);
    }
}
