//! Importing and checking provisioning certificates, against openssl-made chains and the
//! root hashes of recorded real hellos.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use amt_pki::provisioning::select_for_device;
use amt_pki::{Cert, CertHash, HashAlgorithm, PkiError, ProvisioningCert, SetupMarker};
use common::*;

struct Chain {
    root: String,
    leaf: String,
    leaf_key: String,
}

/// A root and a leaf made by openssl; `ext` is the leaf's extension section body.
fn openssl_chain(d: &Path, cn: &str, ext: &str) -> Chain {
    let s = |p: &str| d.join(p).to_str().unwrap().to_string();
    let (_, rk) = openssl_key(d, 2048);
    let (_, lk) = openssl_key(d, 2048);
    let rk = rk.to_str().unwrap().to_string();
    let lk = lk.to_str().unwrap().to_string();
    std::fs::write(
        d.join("ext.cnf"),
        format!(
            "[v3ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             [leaf]\nbasicConstraints=CA:FALSE\n{ext}\n"
        ),
    )
    .unwrap();
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &rk,
        "-subj",
        "/CN=Purchased Root/O=Some CA",
        "-days",
        "60",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-out",
        &s("root.pem"),
    ]);
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        &lk,
        "-subj",
        cn,
        "-out",
        &s("leaf.csr"),
    ]);
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        &s("leaf.csr"),
        "-CA",
        &s("root.pem"),
        "-CAkey",
        &rk,
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &s("ext.cnf"),
        "-extensions",
        "leaf",
        "-out",
        &s("leaf.pem"),
    ]);
    Chain {
        root: s("root.pem"),
        leaf: s("leaf.pem"),
        leaf_key: lk,
    }
}

const SETUP_EXT: &str = "extendedKeyUsage=serverAuth,2.16.840.1.113741.1.2.3";

fn export_pfx(d: &Path, c: &Chain, extra: &[&str], with_root: bool) -> Vec<u8> {
    let out = d.join("prov.pfx").to_str().unwrap().to_string();
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        &c.leaf,
        "-inkey",
        &c.leaf_key,
        "-passout",
        "pass:pfxpw",
        "-out",
        &out,
    ];
    if with_root {
        args.extend(["-certfile", &c.root]);
    }
    args.extend(extra);
    openssl_ok(&args);
    std::fs::read(&out).unwrap()
}

fn root_fingerprint(path: &str, alg: &str) -> String {
    let out = openssl_ok(&["x509", "-in", path, "-noout", "-fingerprint", alg]);
    out.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase()
}

#[test]
fn purchased_pkcs12_is_imported_with_its_root_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = openssl_chain(d, "/CN=amtprov.lab.example/O=Lab", SETUP_EXT);
    let now = SystemTime::now();
    // OpenSSL 3 defaults (PBES2/AES-256, HMAC-SHA256) and the legacy 3DES/SHA-1 form that
    // Windows exports.
    for extra in [
        &[][..],
        &[
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ][..],
    ] {
        let pfx = export_pfx(d, &c, extra, true);
        let p = ProvisioningCert::from_pfx(&pfx, "pfxpw", now).unwrap();
        assert_eq!(p.marker(), SetupMarker::Oid);
        assert_eq!(p.chain().len(), 2);
        assert_eq!(p.leaf().subject(), "CN = amtprov.lab.example, O = Lab");
        assert_eq!(p.root().subject(), "CN = Purchased Root, O = Some CA");
        assert_eq!(p.domain_suffix(), "lab.example");
        assert_eq!(
            p.root_hashes().sha256.to_hex(),
            root_fingerprint(&c.root, "-sha256")
        );
        assert_eq!(
            p.root_hashes().sha1.to_hex(),
            root_fingerprint(&c.root, "-sha1")
        );
        assert_eq!(
            p.root_hashes().sha384.to_hex(),
            root_fingerprint(&c.root, "-sha384")
        );
    }
    assert!(matches!(
        ProvisioningCert::from_pfx(&export_pfx(d, &c, &[], true), "wrong", now),
        Err(PkiError::Pkcs12 { .. })
    ));
}

#[test]
fn pem_chain_and_key_import_and_setup_ou_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = openssl_chain(
        d,
        "/CN=*.lab.example/OU=Intel(R) Client Setup Certificate/O=Lab",
        "extendedKeyUsage=serverAuth",
    );
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(&c.root).unwrap(),
        std::fs::read_to_string(&c.leaf).unwrap()
    );
    let key = std::fs::read_to_string(&c.leaf_key).unwrap();
    let p = ProvisioningCert::from_pem(&chain, &key, SystemTime::now()).unwrap();
    assert_eq!(p.marker(), SetupMarker::Ou);
    assert_eq!(p.domain_suffix(), "lab.example");
    // Leaf first, whatever the input order.
    assert_eq!(
        p.chain()[0].common_names(),
        vec!["*.lab.example".to_string()]
    );
}

#[test]
fn import_refuses_with_a_plain_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now();

    // Neither the OID nor the OU.
    let c = openssl_chain(d, "/CN=amtprov.lab.example", "extendedKeyUsage=serverAuth");
    let err = ProvisioningCert::from_pfx(&export_pfx(d, &c, &[], true), "pfxpw", now).unwrap_err();
    assert!(
        matches!(err, PkiError::NotProvisioningCertificate { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2.16.840.1.113741.1.2.3"));

    // No root in the file: the chain is incomplete and the root hash cannot be computed.
    let c = openssl_chain(d, "/CN=amtprov.lab.example", SETUP_EXT);
    let err = ProvisioningCert::from_pfx(&export_pfx(d, &c, &[], false), "pfxpw", now).unwrap_err();
    assert!(matches!(err, PkiError::IncompleteChain { .. }), "{err}");
    assert!(err.to_string().contains("Purchased Root"), "{err}");

    // Expired (checked 40 days on; the leaf lives 30).
    let pfx = export_pfx(d, &c, &[], true);
    let later = now + Duration::from_secs(40 * 86400);
    let err = ProvisioningCert::from_pfx(&pfx, "pfxpw", later).unwrap_err();
    assert!(matches!(err, PkiError::NotValidNow { .. }), "{err}");

    // A key that belongs to none of the certificates.
    let (_, other) = openssl_key(d, 2048);
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(&c.leaf).unwrap(),
        std::fs::read_to_string(&c.root).unwrap()
    );
    let err = ProvisioningCert::from_pem(&chain, &std::fs::read_to_string(other).unwrap(), now)
        .unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
}

#[test]
fn device_domain_must_fit_the_certificate_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = openssl_chain(d, "/CN=amtprov.lab.example", SETUP_EXT);
    let p = ProvisioningCert::from_pfx(&export_pfx(d, &c, &[], true), "pfxpw", SystemTime::now())
        .unwrap();
    assert!(p.fits_domain("lab.example").is_ok());
    assert!(p.fits_domain("LAB.example.").is_ok());
    assert!(p.fits_domain("site1.lab.example").is_ok());
    assert_eq!(
        p.fits_domain("corp.example").unwrap_err().to_string(),
        "device domain corp.example does not match provisioning certificate suffix lab.example"
    );
    assert!(p.fits_domain("badlab.example").is_err());
    assert!(p.fits_domain("").is_err());
}

#[test]
fn root_hash_is_checked_against_recorded_hello_hash_lists() {
    let Some(fixtures) = hello_fixtures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = openssl_chain(d, "/CN=amtprov.lab.example", SETUP_EXT);
    let p = ProvisioningCert::from_pfx(&export_pfx(d, &c, &[], true), "pfxpw", SystemTime::now())
        .unwrap();
    for (name, hex_text) in fixtures {
        let factory = hello_hashes(&hex_text);
        assert!(factory.len() >= 23, "{name}");
        // Our lab root is not a factory root.
        let err = p.check_device(&factory, "lab.example").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the provisioning certificate's root CN = Purchased Root, O = Some CA (SHA-256 {}) \
                 is not among the device's {} trusted root hashes",
                p.root_hashes().sha256.to_hex(),
                factory.len()
            ),
            "{name}"
        );
        // Once added as a custom hash (MEBx), SHA-256 or SHA-1 form, it fits.
        for alg in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha384,
        ] {
            let mut custom = factory.clone();
            custom.push(p.root_hashes().get(alg).clone());
            p.check_device(&custom, "lab.example").unwrap();
        }
        // Selection among candidates explains why each does not fit.
        let err =
            select_for_device(std::slice::from_ref(&p), &factory, "corp.example").unwrap_err();
        assert!(matches!(
            err,
            PkiError::NoProvisioningCertificateFits { .. }
        ));
        assert!(err.to_string().contains("not among the device's"), "{err}");
    }
}

#[test]
fn public_roots_hash_to_entries_of_the_recorded_hellos() {
    // The factory lists are SHA-256 hashes of public roots; our hashing must find them.
    let Some(fixtures) = hello_fixtures() else {
        return;
    };
    let Ok(rd) = std::fs::read_dir("/etc/ssl/certs") else {
        eprintln!("SKIP: /etc/ssl/certs absent");
        return;
    };
    let mut roots = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "pem") {
            if let Ok(c) = Cert::from_pem(&std::fs::read_to_string(&p).unwrap_or_default()) {
                roots.push(c);
            }
        }
    }
    if roots.is_empty() {
        eprintln!("SKIP: no PEM roots in /etc/ssl/certs");
        return;
    }
    for (name, hex_text) in fixtures {
        let factory = hello_hashes(&hex_text);
        let found: Vec<String> = roots
            .iter()
            .filter(|r| r.hashes().find_in(&factory).is_some())
            .map(|r| r.subject())
            .collect();
        assert!(!found.is_empty(), "{name}: no system root matches");
        eprintln!(
            "{name}: {} of {} hashes are system roots",
            found.len(),
            factory.len()
        );
        // A well-known factory root (its SHA-256 as published) parses back from hex.
        let h = CertHash::from_hex(&factory[0].to_hex()).unwrap();
        assert_eq!(h.algorithm(), HashAlgorithm::Sha256);
    }
}
