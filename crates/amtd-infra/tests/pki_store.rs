//! The CA key store: init/open round trip, failures that must create nothing, and the
//! published files judged by openssl.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use amtd_infra::pki_store::amt_pki::{
    CaRole, CaSettings, CertState, RevocationReason, RsaKey, SetupMarker, VerifiedCsr,
};
use amtd_infra::pki_store::{Kek, PkiStore, PkiStoreError};

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI must be installed: it is the judge of these tests");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn openssl_key(dir: &Path, name: &str) -> (RsaKey, PathBuf) {
    let p = dir.join(name);
    let (ok, out) = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        p.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    (
        RsaKey::from_pem(&std::fs::read_to_string(&p).unwrap()).unwrap(),
        p,
    )
}

struct Fixture {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    kek: PathBuf,
    work: PathBuf,
}

fn settings() -> CaSettings {
    CaSettings {
        crl_base_url: Some("http://127.0.0.1:8080/crl".into()),
        ..CaSettings::default()
    }
}

/// A store made with openssl keys (fast), closed again.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let kek = tmp.path().join("kek");
    Kek::generate_file(&kek).unwrap();
    let store = tmp.path().join("ca");
    let (r, _) = openssl_key(&work, "r.pem");
    let (i, _) = openssl_key(&work, "i.pem");
    PkiStore::init_with_keys(&store, &kek, settings(), r, i).unwrap();
    Fixture {
        _tmp: tmp,
        store,
        kek,
        work,
    }
}

/// Every file under `dir` with its bytes, to prove a failure changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.insert(p.clone(), b"<dir>".to_vec());
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn init_then_open_round_trips_and_files_are_private() {
    let f = fixture();
    let s = PkiStore::open(&f.store, &f.kek).unwrap();
    assert_eq!(s.ledger().entries.len(), 2);
    let mode = |p: &str| {
        std::fs::metadata(f.store.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("root-ca.key.sealed"), 0o600);
    assert_eq!(mode("issuing-ca.key.sealed"), 0o600);
    assert_eq!(mode("ledger.json"), 0o600);
    assert_eq!(mode(""), 0o700);
    // The sealed files hold no PKCS#8 in clear.
    let sealed = std::fs::read(f.store.join("root-ca.key.sealed")).unwrap();
    assert!(sealed.starts_with(b"AMTDSEAL1"));
    let pkcs8 = s.ca().root().key().to_pkcs8_der().unwrap();
    assert!(!sealed.windows(64).any(|w| w == &pkcs8[100..164]));
    // First CRLs are published and openssl verifies them.
    let crl = s.crl_path(CaRole::Issuing);
    let issuing = f.work.join("issuing.pem");
    std::fs::write(&issuing, s.ca().issuing().cert().to_pem()).unwrap();
    let (_, out) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        issuing.to_str().unwrap(),
        "-noout",
    ]);
    assert!(out.contains("verify OK"), "{out}");
}

#[test]
fn init_refuses_to_create_a_ca_over_an_existing_one() {
    let f = fixture();
    let before = snapshot(&f.store);
    let (r, _) = openssl_key(&f.work, "r2.pem");
    let (i, _) = openssl_key(&f.work, "i2.pem");
    let err = PkiStore::init_with_keys(&f.store, &f.kek, settings(), r, i).unwrap_err();
    assert!(matches!(err, PkiStoreError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("refusing to create a new CA"));
    assert_eq!(snapshot(&f.store), before);
}

#[test]
fn store_failures_are_clear_errors_and_create_nothing() {
    let f = fixture();
    let pristine = snapshot(&f.store);
    type Break = fn(&Path, &Path);
    type Expect = fn(&PkiStoreError) -> bool;
    let cases: Vec<(&str, Break, Expect)> = vec![
        (
            "wrong KEK",
            |_, kek| {
                std::fs::remove_file(kek).unwrap();
                Kek::generate_file(kek).unwrap();
            },
            |e| matches!(e, PkiStoreError::WrongKek { .. }),
        ),
        (
            "KEK readable by others",
            |_, kek| std::fs::set_permissions(kek, std::fs::Permissions::from_mode(0o644)).unwrap(),
            |e| matches!(e, PkiStoreError::KekPermissions { mode: 0o644, .. }),
        ),
        (
            "KEK file garbage",
            |_, kek| std::fs::write(kek, b"short").unwrap(),
            |e| matches!(e, PkiStoreError::KekFormat { .. }),
        ),
        (
            "missing key file",
            |s, _| std::fs::remove_file(s.join("issuing-ca.key.sealed")).unwrap(),
            |e| matches!(e, PkiStoreError::Incomplete { missing, .. } if missing == "issuing-ca.key.sealed"),
        ),
        (
            "unreadable key file",
            |s, _| {
                // Tests run as root, where chmod 000 does not stop reads: a directory does.
                let p = s.join("root-ca.key.sealed");
                std::fs::remove_file(&p).unwrap();
                std::fs::create_dir(&p).unwrap();
            },
            |e| matches!(e, PkiStoreError::Io { action: "read", .. }),
        ),
        (
            "truncated key file",
            |s, _| {
                let p = s.join("root-ca.key.sealed");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() - 40]).unwrap();
            },
            |e| matches!(e, PkiStoreError::WrongKek { .. }),
        ),
        (
            "corrupt ledger",
            |s, _| std::fs::write(s.join("ledger.json"), b"{\"entries\": [ {\"serial\": ").unwrap(),
            |e| matches!(e, PkiStoreError::Corrupt { path, .. } if path.ends_with("ledger.json")),
        ),
        (
            "missing ledger",
            |s, _| std::fs::remove_file(s.join("ledger.json")).unwrap(),
            |e| matches!(e, PkiStoreError::Incomplete { .. }),
        ),
        (
            "corrupt store.json",
            |s, _| std::fs::write(s.join("store.json"), b"not json").unwrap(),
            |e| matches!(e, PkiStoreError::Corrupt { .. }),
        ),
        (
            "store.json missing (interrupted init)",
            |s, _| std::fs::remove_file(s.join("store.json")).unwrap(),
            |e| matches!(e, PkiStoreError::Incomplete { missing, .. } if missing == "store.json"),
        ),
        (
            "certificate swapped for another CA's",
            |s, _| {
                let root = std::fs::read(s.join("root-ca.pem")).unwrap();
                std::fs::write(s.join("issuing-ca.pem"), root).unwrap();
            },
            |e| matches!(e, PkiStoreError::Corrupt { .. }),
        ),
        (
            "sealed keys swapped",
            |s, _| {
                let r = std::fs::read(s.join("root-ca.key.sealed")).unwrap();
                let i = std::fs::read(s.join("issuing-ca.key.sealed")).unwrap();
                std::fs::write(s.join("root-ca.key.sealed"), i).unwrap();
                std::fs::write(s.join("issuing-ca.key.sealed"), r).unwrap();
            },
            |e| matches!(e, PkiStoreError::WrongKek { .. }),
        ),
    ];
    for (name, breakit, expected) in cases {
        // Fresh copy of the pristine store and KEK for each case.
        let case_dir = tempfile::tempdir().unwrap();
        let store = case_dir.path().join("ca");
        let kek = case_dir.path().join("kek");
        for (p, data) in &pristine {
            let rel = p.strip_prefix(&f.store).unwrap();
            if data == b"<dir>" {
                std::fs::create_dir_all(store.join(rel)).unwrap();
            }
        }
        for (p, data) in &pristine {
            let rel = p.strip_prefix(&f.store).unwrap();
            if data != b"<dir>" {
                std::fs::create_dir_all(store.join(rel).parent().unwrap()).unwrap();
                std::fs::write(store.join(rel), data).unwrap();
            }
        }
        std::fs::copy(&f.kek, &kek).unwrap();
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The copy is sound before it is broken, so the error below is the breakage's.
        PkiStore::open(&store, &kek).unwrap();
        breakit(&store, &kek);
        let before = snapshot(case_dir.path());
        let err = PkiStore::open(&store, &kek).unwrap_err();
        assert!(expected(&err), "{name}: unexpected error {err:?}");
        let msg = err.to_string();
        assert!(!msg.is_empty());
        eprintln!("{name}: {msg}");
        // Nothing was created or changed, and init still refuses.
        assert_eq!(snapshot(case_dir.path()), before, "{name}: files changed");
        if !name.starts_with("KEK") && name != "wrong KEK" {
            let (r, _) = openssl_key(&f.work, "x.pem");
            let (i, _) = openssl_key(&f.work, "y.pem");
            let again = PkiStore::init_with_keys(&store, &kek, settings(), r, i);
            assert!(
                matches!(again, Err(PkiStoreError::AlreadyExists { .. })),
                "{name}: init over a damaged store must refuse"
            );
            assert_eq!(
                snapshot(case_dir.path()),
                before,
                "{name}: init changed files"
            );
        }
    }
    // A directory that does not exist is "not found", and stays absent.
    let none = f.work.join("nothing-here");
    assert!(matches!(
        PkiStore::open(&none, &f.kek),
        Err(PkiStoreError::NotFound { .. })
    ));
    assert!(!none.exists());
}

#[test]
fn issue_revoke_and_publish_through_the_store() {
    let f = fixture();
    let mut s = PkiStore::open(&f.store, &f.kek).unwrap();
    // A device CSR made by openssl.
    let (_, key_path) = openssl_key(&f.work, "dev.pem");
    let csr_path = f.work.join("dev.csr");
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-key",
        key_path.to_str().unwrap(),
        "-subj",
        "/CN=dev",
        "-out",
        csr_path.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let csr =
        VerifiedCsr::from_pem_or_base64(&std::fs::read_to_string(&csr_path).unwrap()).unwrap();
    let uuid = "4b529b93-d413-181d-e487-1c697a6b7a2b";
    let first = s
        .issue_device_from_csr(&csr, "dev1.lab.example", uuid)
        .unwrap();
    s.mark_installed(&first.serial()).unwrap();
    let second = s
        .issue_device_from_csr(&csr, "dev1.lab.example", uuid)
        .unwrap();
    s.replace_by_maintenance(&first.serial(), &second.serial())
        .unwrap();
    let failed = s
        .issue_device_from_csr(&csr, "dev1.lab.example", uuid)
        .unwrap();
    s.revoke_failed_provisioning(&failed.serial()).unwrap();
    let (console, console_key) = s.issue_console("operator").unwrap();
    let (prov, _) = s
        .issue_provisioning("amtprov.lab.example", SetupMarker::Oid)
        .unwrap();
    drop(s);

    // Everything survived a reopen.
    let s = PkiStore::open(&f.store, &f.kek).unwrap();
    let l = s.ledger();
    assert_eq!(l.entries.len(), 2 + 3 + 2);
    assert!(matches!(
        l.get(&first.serial()).unwrap().state,
        CertState::Revoked {
            reason: RevocationReason::ReplacedByMaintenance,
            ..
        }
    ));
    assert_eq!(
        l.get(&first.serial()).unwrap().superseded_by,
        Some(second.serial())
    );
    assert!(matches!(
        l.get(&second.serial()).unwrap().state,
        CertState::Installed { .. }
    ));
    assert!(matches!(
        l.get(&failed.serial()).unwrap().state,
        CertState::Revoked {
            reason: RevocationReason::ProvisioningFailed,
            ..
        }
    ));
    assert!(l.get(&console.serial()).is_some() && l.get(&prov.serial()).is_some());

    // openssl: the published CRL rejects the replaced certificate, accepts the live one.
    let w = |n: &str, data: &[u8]| {
        let p = f.work.join(n);
        std::fs::write(&p, data).unwrap();
        p.to_str().unwrap().to_string()
    };
    let trust = w("trust.pem", s.trust_pem().unwrap().as_bytes());
    let crl_pem = w(
        "crl.pem",
        s.crl(CaRole::Issuing).unwrap().to_pem().as_bytes(),
    );
    let old = w("old.pem", first.to_pem().as_bytes());
    let live = w("live.pem", second.to_pem().as_bytes());
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        &trust,
        "-crl_check",
        "-CRLfile",
        &crl_pem,
        &old,
    ]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        &trust,
        "-crl_check",
        "-CRLfile",
        &crl_pem,
        &live,
    ]);
    assert!(ok, "{out}");
    // CRL numbers grew with each revocation.
    assert!(s.crl(CaRole::Issuing).unwrap().number().unwrap() >= 3);

    // The mutual-TLS bundle for the console certificate.
    let bundle = s.mtls_bundle(&console, &console_key, "pw").unwrap();
    let pfx = w("c.pfx", &bundle.pfx);
    let (ok, out) = openssl(&[
        "pkcs12", "-info", "-in", &pfx, "-passin", "pass:pw", "-nodes",
    ]);
    assert!(ok && out.contains("BEGIN PRIVATE KEY"), "{out}");
    assert_eq!(bundle.cas.len(), 2);
}

#[test]
fn crls_are_refreshed_on_schedule() {
    let f = fixture();
    let mut s = PkiStore::open(&f.store, &f.kek).unwrap();
    let n0 = s.crl(CaRole::Root).unwrap().number().unwrap();
    assert!(!s.refresh_crls_if_due(std::time::SystemTime::now()).unwrap());
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5 * 86400);
    assert!(s.refresh_crls_if_due(later).unwrap());
    assert_eq!(s.crl(CaRole::Root).unwrap().number().unwrap(), n0 + 1);
}

#[test]
fn kek_file_is_created_private_and_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("kek");
    Kek::generate_file(&p).unwrap();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&p).unwrap();
    assert!(Kek::generate_file(&p).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(format!("{:?}", Kek::from_file(&p).unwrap()), "Kek(..)");
}
