//! Certificate profiles judged by the openssl CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::SystemTime;

use amt_pki::{CaSettings, EmbeddedCa, LeafRequest, PkiError, Purpose, SetupMarker, VerifiedCsr};
use common::*;

fn verify_chain(dir: &std::path::Path, ca: &EmbeddedCa, leaf_pem: &str, purpose: &str) -> String {
    let root = write(dir, "root.pem", ca.root().cert().to_pem());
    let issuing = write(dir, "issuing.pem", ca.issuing().cert().to_pem());
    let leaf = write(dir, "leaf.pem", leaf_pem);
    openssl_ok(&[
        "verify",
        "-CAfile",
        &root,
        "-untrusted",
        &issuing,
        "-purpose",
        purpose,
        &leaf,
    ])
}

#[test]
fn device_cert_subject_is_exactly_what_openssl_prints() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (dev_key, _) = openssl_key(dir.path(), 2048);
    let issued = ca
        .issue(
            &LeafRequest::Device {
                fqdn: FQDN,
                uuid: UUID,
            },
            dev_key.public_key_info().unwrap(),
            &mut rand::rng(),
            SystemTime::now(),
        )
        .unwrap();
    let path = write(dir.path(), "dev.pem", issued.cert.to_pem());
    assert_eq!(
        openssl_subject(&path),
        format!("CN = {FQDN}, CN = Device (UUID: {UUID}), O = Intel® Active Management Technology")
    );
    // Our own printer agrees with openssl.
    assert_eq!(issued.cert.subject(), openssl_subject(&path));
    // O is a UTF8String holding the ® sign.
    let asn1 = openssl_ok(&["asn1parse", "-in", &path]);
    assert!(
        asn1.lines()
            .any(|l| l.contains("UTF8STRING") && l.contains("Intel® Active Management Technology")),
        "{asn1}"
    );
    let text = openssl_text(&path);
    assert!(text.contains(&format!("DNS:{FQDN}")), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(!text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        text.contains(&format!("URI:{CRL_BASE}/issuing.crl")),
        "{text}"
    );
    assert_eq!(issued.purpose, Purpose::DeviceTls);
    assert_eq!(issued.device.as_deref(), Some(UUID));
    verify_chain(dir.path(), &ca, &issued.cert.to_pem(), "sslserver");
}

#[test]
fn device_cert_from_openssl_csr_certifies_the_csr_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (_, key_path) = openssl_key(dir.path(), 2048);
    let csr_path = dir.path().join("dev.csr");
    // The device asks for some subject of its own; the CA imposes the AMT profile.
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        key_path.to_str().unwrap(),
        "-subj",
        "/CN=whatever-the-device-says",
        "-out",
        csr_path.to_str().unwrap(),
    ]);
    let csr_pem = std::fs::read_to_string(&csr_path).unwrap();
    let (_, out, err) = openssl(&[
        "req",
        "-verify",
        "-noout",
        "-in",
        csr_path.to_str().unwrap(),
    ]);
    assert!(format!("{out}{err}").contains("verify OK"), "{out}{err}");
    let csr = VerifiedCsr::from_pem_or_base64(&csr_pem).unwrap();
    assert_eq!(csr.requested_subject(), "CN = whatever-the-device-says");
    assert_eq!(csr.key_bits(), 2048);
    let issued = ca
        .issue_from_csr(
            &LeafRequest::Device {
                fqdn: FQDN,
                uuid: UUID,
            },
            &csr,
            &mut rand::rng(),
            SystemTime::now(),
        )
        .unwrap();
    let cert_path = write(dir.path(), "dev.pem", issued.cert.to_pem());
    // The certificate's public key is the CSR's.
    let cert_pub = openssl_ok(&["x509", "-in", &cert_path, "-noout", "-pubkey"]);
    let csr_pub = openssl_ok(&[
        "req",
        "-in",
        csr_path.to_str().unwrap(),
        "-noout",
        "-pubkey",
    ]);
    assert_eq!(cert_pub, csr_pub);
    assert!(openssl_subject(&cert_path).starts_with(&format!("CN = {FQDN}, CN = Device")));
    verify_chain(dir.path(), &ca, &issued.cert.to_pem(), "sslserver");

    // The same request as bare base64 (how GeneratePKCS10RequestEx returns it).
    let der = openssl_ok(&["req", "-in", csr_path.to_str().unwrap(), "-outform", "PEM"]);
    let b64: String = der.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(VerifiedCsr::from_pem_or_base64(&b64).is_ok());
}

#[test]
fn csr_with_a_broken_signature_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key_path) = openssl_key(dir.path(), 2048);
    let csr_path = dir.path().join("dev.der");
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        key_path.to_str().unwrap(),
        "-subj",
        "/CN=x",
        "-outform",
        "DER",
        "-out",
        csr_path.to_str().unwrap(),
    ]);
    let mut der = std::fs::read(&csr_path).unwrap();
    let n = der.len();
    der[n - 5] ^= 0x01; // inside the signature
    assert_eq!(
        VerifiedCsr::from_der(&der).unwrap_err(),
        PkiError::BadSignature {
            what: "PKCS#10 request"
        }
    );
    // And openssl agrees that it is broken (openssl 3.0 exits 0 here, so read its words).
    let bad = write(dir.path(), "bad.der", &der);
    let (_, out, err) = openssl(&["req", "-verify", "-noout", "-inform", "DER", "-in", &bad]);
    assert!(
        format!("{out}{err}").contains("verify failure"),
        "{out}{err}"
    );
}

#[test]
fn csr_with_a_small_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("small.pem");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
        "-out",
        key.to_str().unwrap(),
    ]);
    let csr = dir.path().join("small.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=x",
        "-out",
        csr.to_str().unwrap(),
    ]);
    let err = VerifiedCsr::from_pem_or_base64(&std::fs::read_to_string(csr).unwrap()).unwrap_err();
    assert_eq!(
        err,
        PkiError::KeyTooSmall {
            bits: 1024,
            min: 2048
        }
    );
}

#[test]
fn console_cert_has_client_auth_and_the_amt_console_oid() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (key, _) = openssl_key(dir.path(), 2048);
    let issued = ca
        .issue(
            &LeafRequest::Console {
                common_name: "amtd console",
            },
            key.public_key_info().unwrap(),
            &mut rand::rng(),
            SystemTime::now(),
        )
        .unwrap();
    let path = write(dir.path(), "console.pem", issued.cert.to_pem());
    let text = openssl_text(&path);
    assert!(
        text.contains("TLS Web Client Authentication, 2.16.840.1.113741.1.2.1"),
        "{text}"
    );
    assert_eq!(openssl_subject(&path), "CN = amtd console, O = amtd");
    verify_chain(dir.path(), &ca, &issued.cert.to_pem(), "sslclient");
}

#[test]
fn provisioning_cert_carries_the_setup_oid_or_ou() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (key, _) = openssl_key(dir.path(), 2048);
    for (marker, want_oid, want_ou) in [
        (SetupMarker::Oid, true, false),
        (SetupMarker::Ou, false, true),
        (SetupMarker::Both, true, true),
    ] {
        let issued = ca
            .issue(
                &LeafRequest::Provisioning {
                    fqdn: "amtprov.lab.example",
                    marker,
                },
                key.public_key_info().unwrap(),
                &mut rand::rng(),
                SystemTime::now(),
            )
            .unwrap();
        let path = write(dir.path(), "prov.pem", issued.cert.to_pem());
        let text = openssl_text(&path);
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        assert_eq!(
            text.contains("2.16.840.1.113741.1.2.3"),
            want_oid,
            "{marker:?}: {text}"
        );
        let subject = openssl_subject(&path);
        assert_eq!(
            subject.contains("OU = Intel(R) Client Setup Certificate"),
            want_ou,
            "{subject}"
        );
        assert!(subject.starts_with("CN = amtprov.lab.example"));
        verify_chain(dir.path(), &ca, &issued.cert.to_pem(), "sslserver");
    }
}

#[test]
fn ca_certificates_are_rsa_2048_sha256_with_the_right_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let root = write(dir.path(), "root.pem", ca.root().cert().to_pem());
    let issuing = write(dir.path(), "issuing.pem", ca.issuing().cert().to_pem());
    let rt = openssl_text(&root);
    assert!(rt.contains("Public-Key: (2048 bit)"), "{rt}");
    assert!(rt.contains("sha256WithRSAEncryption"));
    assert!(rt.contains("CA:TRUE"));
    assert!(rt.contains("Certificate Sign, CRL Sign"));
    let it = openssl_text(&issuing);
    assert!(it.contains("CA:TRUE, pathlen:0"), "{it}");
    assert!(it.contains(&format!("URI:{CRL_BASE}/root.crl")), "{it}");
    openssl_ok(&["verify", "-CAfile", &root, &issuing]);
    assert_eq!(openssl_subject(&root), "CN = amtd Root CA, O = amtd");
}

#[test]
fn ca_generates_its_own_keys() {
    // The one test that runs our RSA key generation (slow in debug builds).
    let dir = tempfile::tempdir().unwrap();
    let (ca, records) =
        EmbeddedCa::create(CaSettings::default(), &mut rand::rng(), SystemTime::now()).unwrap();
    assert_eq!(records[0].purpose, Purpose::RootCa);
    assert_eq!(records[1].purpose, Purpose::IssuingCa);
    let root = write(dir.path(), "root.pem", ca.root().cert().to_pem());
    let issuing = write(dir.path(), "issuing.pem", ca.issuing().cert().to_pem());
    openssl_ok(&["verify", "-CAfile", &root, &issuing]);
    // No distribution point when no base URL is configured.
    assert!(!openssl_text(&issuing).contains("CRL Distribution"));
    // The PKCS#8 export is a key openssl reads, and it matches the certificate.
    let key = write(
        dir.path(),
        "root.key",
        ca.root().key().to_pkcs8_pem().unwrap().as_bytes(),
    );
    let from_key = openssl_ok(&["pkey", "-in", &key, "-pubout"]);
    let from_cert = openssl_ok(&["x509", "-in", &root, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
    // And the PKCS#1 form (AddKey's KeyBlob) is an RSA key openssl reads.
    let pkcs1 = write(
        dir.path(),
        "root.pkcs1",
        ca.root().key().to_pkcs1_der().unwrap().as_slice(),
    );
    openssl_ok(&["rsa", "-inform", "DER", "-in", &pkcs1, "-check", "-noout"]);
}

#[test]
fn bad_names_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (key, _) = openssl_key(dir.path(), 2048);
    let spki = key.public_key_info().unwrap();
    let mut rng = rand::rng();
    let now = SystemTime::now();
    for (fqdn, uuid, field) in [
        ("bad name.example", UUID, "FQDN"),
        ("-x.example", UUID, "FQDN"),
        ("*.lab.example", UUID, "FQDN"),
        (FQDN, "not-a-uuid", "UUID"),
    ] {
        let err = ca
            .issue(
                &LeafRequest::Device { fqdn, uuid },
                spki.clone(),
                &mut rng,
                now,
            )
            .unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidInput { field: f, .. } if f == field),
            "{fqdn} {uuid}: {err}"
        );
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = openssl_key(dir.path(), 2048);
    let dbg = format!("{key:?}");
    assert_eq!(dbg, "RsaKey { bits: 2048, .. }");
    let pem = key.to_pkcs8_pem().unwrap();
    let block = &amt_pki::pem::blocks(&pem).unwrap()[0];
    assert!(!format!("{block:?}").contains(&pem[30..60]));
}
