//! CRLs and revocation, judged by openssl.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, SystemTime};

use amt_pki::crl::{addcrl_serials, build_crl, cas_trusted_by_device, serials_for_device};
use amt_pki::{
    CaRole, Cert, Crl, EmbeddedCa, IssuedCert, LeafRequest, Ledger, PkiError, RevocationReason,
};
use common::*;

fn device_cert(ca: &EmbeddedCa, key: &amt_pki::RsaKey, fqdn: &str) -> IssuedCert {
    ca.issue(
        &LeafRequest::Device { fqdn, uuid: UUID },
        key.public_key_info().unwrap(),
        &mut rand::rng(),
        SystemTime::now(),
    )
    .unwrap()
}

fn crl_for(ca: &EmbeddedCa, ledger: &Ledger, role: CaRole, number: u64) -> Vec<u8> {
    let now = SystemTime::now();
    build_crl(
        ca.authority(role),
        number,
        now,
        now + Duration::from_secs(7 * 86400),
        &ledger.revoked_by(role),
        &mut rand::rng(),
    )
    .unwrap()
}

#[test]
fn openssl_rejects_a_revoked_device_certificate_and_accepts_a_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = test_ca(d);
    let (key, _) = openssl_key(d, 2048);
    let old = device_cert(&ca, &key, FQDN);
    let new = device_cert(&ca, &key, FQDN);
    let now = SystemTime::now();
    let mut ledger = Ledger::default();
    ledger.record(&old, now);
    ledger.record(&new, now);
    ledger.mark_installed(&old.cert.serial(), now).unwrap();
    ledger
        .replace_by_maintenance(&old.cert.serial(), &new.cert.serial(), now)
        .unwrap();

    let crl = crl_for(&ca, &ledger, CaRole::Issuing, 2);
    let root_crl = crl_for(&ca, &ledger, CaRole::Root, 1);
    let crl_path = write(d, "issuing.crl", Crl::from_der(&crl).unwrap().to_pem());
    let root_crl_path = write(d, "root.crl", Crl::from_der(&root_crl).unwrap().to_pem());
    let root = write(d, "root.pem", ca.root().cert().to_pem());
    let issuing = write(d, "issuing.pem", ca.issuing().cert().to_pem());
    let old_path = write(d, "old.pem", old.cert.to_pem());
    let new_path = write(d, "new.pem", new.cert.to_pem());

    // openssl checks the CRL signature.
    let (_, out, err) = openssl(&["crl", "-in", &crl_path, "-CAfile", &issuing, "-noout"]);
    assert!(format!("{out}{err}").contains("verify OK"), "{out}{err}");
    let text = openssl_ok(&["crl", "-in", &crl_path, "-noout", "-text"]);
    assert!(text.contains(&old.cert.serial().to_hex()), "{text}");
    assert!(!text.contains(&new.cert.serial().to_hex()), "{text}");
    assert!(text.contains("Superseded"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");

    let verify = |cert: &str, all: bool| {
        let mut args = vec![
            "verify",
            "-CAfile",
            &root,
            "-untrusted",
            &issuing,
            "-CRLfile",
            &crl_path,
        ];
        if all {
            args.extend(["-crl_check_all", "-CRLfile", &root_crl_path]);
        } else {
            args.push("-crl_check");
        }
        args.push(cert);
        openssl(&args)
    };
    let (ok, out, err) = verify(&old_path, false);
    assert!(!ok, "revoked certificate accepted: {out}{err}");
    assert!(
        format!("{out}{err}").contains("certificate revoked"),
        "{out}{err}"
    );
    let (ok, out, err) = verify(&new_path, false);
    assert!(ok, "{out}{err}");
    // With the root's CRL too, the whole chain is checked.
    let (ok, out, err) = verify(&new_path, true);
    assert!(ok, "{out}{err}");
    let (ok, _, _) = verify(&old_path, true);
    assert!(!ok);
}

#[test]
fn failed_provisioning_and_reprovisioning_revoke_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = test_ca(d);
    let (key, _) = openssl_key(d, 2048);
    let first = device_cert(&ca, &key, FQDN);
    let failed = device_cert(&ca, &key, FQDN);
    let second = device_cert(&ca, &key, FQDN);
    let now = SystemTime::now();
    let mut ledger = Ledger::default();
    for c in [&first, &failed, &second] {
        ledger.record(c, now);
    }
    ledger.mark_installed(&first.cert.serial(), now).unwrap();
    // An installed certificate is never revoked as "provisioning failed".
    assert!(matches!(
        ledger.revoke_failed_provisioning(&first.cert.serial(), now),
        Err(PkiError::InvalidTransition { .. })
    ));
    ledger
        .revoke_failed_provisioning(&failed.cert.serial(), now)
        .unwrap();
    let revoked = ledger.revoke_for_reprovision(UUID, Some(&second.cert.serial()), now);
    assert_eq!(revoked, vec![first.cert.serial()]);
    assert_eq!(
        ledger.get(&first.cert.serial()).unwrap().superseded_by,
        Some(second.cert.serial())
    );

    let crl = crl_for(&ca, &ledger, CaRole::Issuing, 3);
    let crl_path = write(d, "issuing.crl", &crl);
    let text = openssl_ok(&["crl", "-inform", "DER", "-in", &crl_path, "-noout", "-text"]);
    assert!(text.contains("Cessation Of Operation"), "{text}");
    assert!(text.contains("Superseded"), "{text}");

    // Our parser reads back the same entries and reasons.
    let parsed = Crl::from_der(&crl).unwrap();
    assert_eq!(parsed.number(), Some(3));
    let mut entries = parsed.entries();
    entries.sort_by(|a, b| a.serial.cmp(&b.serial));
    let mut want = vec![
        (failed.cert.serial(), Some(5)),
        (first.cert.serial(), Some(4)),
    ];
    want.sort();
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.serial.clone(), e.reason_code))
            .collect::<Vec<_>>(),
        want
    );
    // Revoking twice is refused; the first reason stands.
    assert!(ledger
        .revoke(&first.cert.serial(), RevocationReason::KeyCompromise, now)
        .is_err());
}

#[test]
fn a_crl_made_by_openssl_is_verified_and_filtered_for_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An "external" CA run by openssl ca, with two revoked serials.
    let (_, ext_key) = openssl_key(d, 2048);
    let ext_key = ext_key.to_str().unwrap().to_string();
    let ext_cert = d.join("ext.pem").to_str().unwrap().to_string();
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &ext_key,
        "-subj",
        "/CN=External CA",
        "-days",
        "30",
        "-out",
        &ext_cert,
    ]);
    std::fs::write(
        d.join("index.txt"),
        "R\t301231000000Z\t240101000000Z,superseded\t0A1B\tunknown\t/CN=a\n\
         R\t301231000000Z\t240101000000Z\t7F00FF\tunknown\t/CN=b\n\
         V\t301231000000Z\t\t0C\tunknown\t/CN=c\n",
    )
    .unwrap();
    std::fs::write(d.join("crlnumber"), "10\n").unwrap();
    std::fs::write(
        d.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca=x\n[x]\ndatabase={}\ncrlnumber={}\ndefault_md=sha256\n\
             default_crl_days=7\n",
            d.join("index.txt").display(),
            d.join("crlnumber").display()
        ),
    )
    .unwrap();
    let ext_crl = d.join("ext.crl").to_str().unwrap().to_string();
    openssl_ok(&[
        "ca",
        "-gencrl",
        "-config",
        d.join("ca.cnf").to_str().unwrap(),
        "-keyfile",
        &ext_key,
        "-cert",
        &ext_cert,
        "-out",
        &ext_crl,
    ]);
    let ext_ca = Cert::from_pem(&std::fs::read_to_string(&ext_cert).unwrap()).unwrap();
    let ext_crl_bytes = std::fs::read(&ext_crl).unwrap();
    let parsed = Crl::from_der_or_pem(&ext_crl_bytes).unwrap();
    assert_eq!(parsed.number(), Some(0x10));
    let verified = parsed.clone().verify(&ext_ca).unwrap();
    assert!(verified.is_current(SystemTime::now()));

    // Our own CA with one revoked certificate.
    let ca = test_ca(d);
    let (key, _) = openssl_key(d, 2048);
    let revoked = device_cert(&ca, &key, FQDN);
    let mut ledger = Ledger::default();
    ledger.record(&revoked, SystemTime::now());
    ledger
        .revoke(
            &revoked.cert.serial(),
            RevocationReason::Unspecified,
            SystemTime::now(),
        )
        .unwrap();
    let ours = Crl::from_der(&crl_for(&ca, &ledger, CaRole::Issuing, 1))
        .unwrap()
        .verify(ca.issuing().cert())
        .unwrap();

    // A CRL checked against the wrong CA, or tampered with, is refused.
    assert!(matches!(
        parsed.clone().verify(ca.issuing().cert()),
        Err(PkiError::CrlIssuerMismatch { .. })
    ));
    let mut tampered = ours.crl().der().to_vec();
    let n = tampered.len();
    tampered[n - 3] ^= 0x40;
    assert_eq!(
        Crl::from_der(&tampered)
            .unwrap()
            .verify(ca.issuing().cert())
            .unwrap_err(),
        PkiError::BadSignature { what: "CRL" }
    );

    let crls = vec![verified, ours];
    // A device that trusts only our root gets only our serials.
    let device_cas = cas_trusted_by_device(
        std::slice::from_ref(ca.root().cert()),
        &[ca.issuing().cert().clone(), ext_ca.clone()],
    );
    assert_eq!(device_cas.len(), 2);
    let serials = serials_for_device(&crls, &device_cas);
    assert_eq!(serials, vec![revoked.cert.serial()]);
    // A device that trusts both gets all three, sorted, base64 for AddCRL.
    let both = cas_trusted_by_device(
        &[ca.root().cert().clone(), ext_ca.clone()],
        std::slice::from_ref(ca.issuing().cert()),
    );
    let serials = serials_for_device(&crls, &both);
    assert_eq!(serials.len(), 3);
    let b64 = addcrl_serials(&serials);
    assert!(b64.contains(&"Chs=".to_string()), "{b64:?}"); // 0x0A1B
    assert!(b64.contains(&"fwD/".to_string()), "{b64:?}"); // 0x7F00FF
}

#[test]
fn an_empty_crl_is_valid_for_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = test_ca(d);
    let crl = crl_for(&ca, &Ledger::default(), CaRole::Issuing, 1);
    let crl_path = write(d, "empty.crl", &crl);
    let issuing = write(d, "issuing.pem", ca.issuing().cert().to_pem());
    let (_, out, err) = openssl(&[
        "crl", "-inform", "DER", "-in", &crl_path, "-CAfile", &issuing, "-noout",
    ]);
    assert!(format!("{out}{err}").contains("verify OK"), "{out}{err}");
    let text = openssl_ok(&["crl", "-inform", "DER", "-in", &crl_path, "-noout", "-text"]);
    assert!(text.contains("No Revoked Certificates"), "{text}");
}
