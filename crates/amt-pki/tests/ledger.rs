//! Ledger states, serialisation and the renewal window.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, SystemTime};

use amt_pki::ledger::{from_unix, unix};
use amt_pki::{CaRole, CertState, LeafRequest, Ledger, PkiError, RevocationReason, Serial};
use common::*;

#[test]
fn ledger_round_trips_through_json_with_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (key, _) = openssl_key(dir.path(), 2048);
    let spki = key.public_key_info().unwrap();
    let now = SystemTime::now();
    let mut rng = rand::rng();
    let dev = |fqdn| LeafRequest::Device { fqdn, uuid: UUID };
    let a = ca
        .issue(&dev("a.lab.example"), spki.clone(), &mut rng, now)
        .unwrap();
    let b = ca
        .issue(&dev("a.lab.example"), spki.clone(), &mut rng, now)
        .unwrap();
    let c = ca
        .issue(&dev("a.lab.example"), spki.clone(), &mut rng, now)
        .unwrap();
    let d = ca
        .issue(
            &LeafRequest::Console { common_name: "op" },
            spki,
            &mut rng,
            now,
        )
        .unwrap();
    let mut l = Ledger::default();
    for x in [&a, &b, &c, &d] {
        l.record(x, now);
    }
    l.mark_installed(&a.cert.serial(), now).unwrap();
    l.replace_by_maintenance(&a.cert.serial(), &b.cert.serial(), now)
        .unwrap();
    l.revoke(&d.cert.serial(), RevocationReason::KeyCompromise, now)
        .unwrap();
    let json = serde_json::to_string_pretty(&l).unwrap();
    assert!(json.contains("\"state\": \"revoked\""), "{json}");
    assert!(
        json.contains("\"reason\": \"replaced-by-maintenance\""),
        "{json}"
    );
    assert!(json.contains("\"purpose\": \"device-tls\""), "{json}");
    let back: Ledger = serde_json::from_str(&json).unwrap();
    assert_eq!(back, l);
    assert_eq!(l.for_device(&UUID.to_uppercase()).count(), 3);
    assert_eq!(l.revoked_by(CaRole::Issuing).len(), 2);
    assert!(l.revoked_by(CaRole::Root).is_empty());
    assert!(matches!(
        l.get(&b.cert.serial()).unwrap().state,
        CertState::Installed { .. }
    ));
    // Revoked certificates cannot be installed; unknown serials are named.
    assert!(matches!(
        l.mark_installed(&a.cert.serial(), now),
        Err(PkiError::InvalidTransition { .. })
    ));
    let unknown = Serial::from_hex("01").unwrap();
    assert_eq!(
        l.revoke(&unknown, RevocationReason::Unspecified, now)
            .unwrap_err()
            .to_string(),
        "no certificate with serial 01 in the ledger"
    );
}

#[test]
fn renewal_is_due_thirty_days_before_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (key, _) = openssl_key(dir.path(), 2048);
    let now = SystemTime::now();
    let issued = ca
        .issue(
            &LeafRequest::Device {
                fqdn: FQDN,
                uuid: UUID,
            },
            key.public_key_info().unwrap(),
            &mut rand::rng(),
            now,
        )
        .unwrap();
    let mut l = Ledger::default();
    l.record(&issued, now);
    let window = Duration::from_secs(30 * 86400);
    // Not installed yet: nothing to renew.
    let late = from_unix(l.entries[0].not_after) - Duration::from_secs(86400);
    assert!(l.due_for_renewal(late, window).is_empty());
    l.mark_installed(&issued.cert.serial(), now).unwrap();
    assert!(l.due_for_renewal(now, window).is_empty());
    assert_eq!(l.due_for_renewal(late, window).len(), 1);
    assert_eq!(unix(from_unix(12345)), 12345);
}

#[test]
fn reasons_parse_and_map_to_crl_codes() {
    for (s, code) in [
        ("replaced-by-maintenance", 4),
        ("reprovisioned", 4),
        ("provisioning-failed", 5),
        ("key-compromise", 1),
        ("decommissioned", 5),
        ("unspecified", 0),
    ] {
        let r: RevocationReason = s.parse().unwrap();
        assert_eq!(r.crl_code(), code);
        assert_eq!(r.to_string(), s);
    }
    assert!("because".parse::<RevocationReason>().is_err());
}
