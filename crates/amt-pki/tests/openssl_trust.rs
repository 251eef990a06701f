//! Trust files (M8) and PKCS#12, judged by openssl.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::SystemTime;

use amt_pki::pfx::{read_pfx, write_pfx};
use amt_pki::trust::{order_to_root, redirection_trust_pem};
use amt_pki::{Cert, LeafRequest, MtlsBundle, PkiError};
use common::*;

/// Subjects of the certificates in a PEM file, in file order, as openssl reads them.
fn openssl_subjects_in_order(path: &str) -> Vec<String> {
    let out = openssl_ok(&["storeutl", "-noout", "-certs", "-text", path]);
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Subject: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn redirection_trust_pem_lists_issuing_ca_then_root() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = test_ca(d);
    // Given in the wrong order, it still comes out issuing first, root last.
    let pem =
        redirection_trust_pem(&[ca.root().cert().clone(), ca.issuing().cert().clone()]).unwrap();
    let path = write(d, "trust.pem", &pem);
    let subjects = openssl_subjects_in_order(&path);
    assert_eq!(
        subjects,
        vec!["CN=amtd Issuing CA, O=amtd", "CN=amtd Root CA, O=amtd"],
        "{pem}"
    );
    // The file is a working trust store for a device certificate.
    let (key, _) = openssl_key(d, 2048);
    let leaf = ca
        .issue(
            &LeafRequest::Device {
                fqdn: FQDN,
                uuid: UUID,
            },
            key.public_key_info().unwrap(),
            &mut rand::rng(),
            SystemTime::now(),
        )
        .unwrap();
    let leaf_path = write(d, "leaf.pem", leaf.cert.to_pem());
    openssl_ok(&["verify", "-CAfile", &path, &leaf_path]);
}

#[test]
fn three_level_chain_is_ordered_issuing_signing_root() {
    // issuing <- signing <- root, made by openssl, given shuffled.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).to_str().unwrap().to_string();
    std::fs::write(
        d.join("ext.cnf"),
        "[v3ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    let (_, rk) = openssl_key(d, 2048);
    let (_, sk) = openssl_key(d, 2048);
    let (_, ik) = openssl_key(d, 2048);
    let (rk, sk, ik) = (
        rk.to_str().unwrap().to_string(),
        sk.to_str().unwrap().to_string(),
        ik.to_str().unwrap().to_string(),
    );
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &rk,
        "-subj",
        "/CN=Root",
        "-days",
        "30",
        "-out",
        &s("root.pem"),
    ]);
    for (key, cn, parent, parent_key, out) in [
        (&sk, "/CN=Signing", "root.pem", &rk, "signing.pem"),
        (&ik, "/CN=Issuing", "signing.pem", &sk, "issuing.pem"),
    ] {
        openssl_ok(&[
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            cn,
            "-out",
            &s("tmp.csr"),
        ]);
        openssl_ok(&[
            "x509",
            "-req",
            "-in",
            &s("tmp.csr"),
            "-CA",
            &s(parent),
            "-CAkey",
            parent_key,
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &s("ext.cnf"),
            "-extensions",
            "v3ca",
            "-out",
            &s(out),
        ]);
    }
    let load = |p: &str| Cert::from_pem(&std::fs::read_to_string(s(p)).unwrap()).unwrap();
    let (root, signing, issuing) = (load("root.pem"), load("signing.pem"), load("issuing.pem"));
    let ordered = order_to_root(&[signing.clone(), root.clone(), issuing.clone()]).unwrap();
    assert_eq!(
        ordered,
        vec![issuing.clone(), signing.clone(), root.clone()]
    );
    let pem = redirection_trust_pem(&[root.clone(), issuing.clone(), signing.clone()]).unwrap();
    let path = write(d, "trust.pem", &pem);
    assert_eq!(
        openssl_subjects_in_order(&path),
        vec!["CN=Issuing", "CN=Signing", "CN=Root"]
    );
    // Without the signing CA the chain is incomplete, and the reason names what is missing.
    let err = redirection_trust_pem(&[root, issuing]).unwrap_err();
    assert!(matches!(&err, PkiError::IncompleteChain { .. }), "{err}");
}

#[test]
fn mtls_bundle_is_a_pkcs12_openssl_reads_then_issuing_ca_then_root() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = test_ca(d);
    let (key, _) = openssl_key(d, 2048);
    let client = ca
        .issue(
            &LeafRequest::Console {
                common_name: "operator-1",
            },
            key.public_key_info().unwrap(),
            &mut rand::rng(),
            SystemTime::now(),
        )
        .unwrap();
    let bundle = MtlsBundle::new(
        &client.cert,
        &key,
        &[ca.root().cert().clone(), ca.issuing().cert().clone()],
        "s3cret pass",
        &mut rand::rng(),
    )
    .unwrap();
    let files = bundle.files();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["1-client.pfx", "2-issuing-ca.pem", "3-root-ca.pem"]);
    for (n, data) in &files {
        write(d, n, data);
    }
    let pfx = s_path(d, "1-client.pfx");
    // openssl reads it with the password and finds the key and the certificate.
    let info = openssl_ok(&[
        "pkcs12",
        "-info",
        "-in",
        &pfx,
        "-passin",
        "pass:s3cret pass",
        "-nodes",
    ]);
    assert!(info.contains("-----BEGIN PRIVATE KEY-----"), "{info}");
    assert!(info.contains("subject=CN = operator-1, O = amtd"), "{info}");
    // ... and refuses a wrong password.
    let (ok, _, _) = openssl(&[
        "pkcs12",
        "-info",
        "-in",
        &pfx,
        "-passin",
        "pass:wrong",
        "-nodes",
    ]);
    assert!(!ok);
    // The key in the PFX is the certificate's key.
    let key_pem = openssl_ok(&[
        "pkcs12",
        "-in",
        &pfx,
        "-passin",
        "pass:s3cret pass",
        "-nodes",
        "-nocerts",
    ]);
    let key_path = write(d, "k.pem", key_pem);
    let cert_pem = openssl_ok(&[
        "pkcs12",
        "-in",
        &pfx,
        "-passin",
        "pass:s3cret pass",
        "-nokeys",
        "-clcerts",
    ]);
    let cert_path = write(d, "c.pem", cert_pem);
    assert_eq!(
        openssl_ok(&["pkey", "-in", &key_path, "-pubout"]),
        openssl_ok(&["x509", "-in", &cert_path, "-noout", "-pubkey"])
    );
    // The two CA files, in that order, verify the client certificate.
    assert_eq!(
        openssl_subject(&s_path(d, "2-issuing-ca.pem")),
        "CN = amtd Issuing CA, O = amtd"
    );
    assert_eq!(
        openssl_subject(&s_path(d, "3-root-ca.pem")),
        "CN = amtd Root CA, O = amtd"
    );
    openssl_ok(&[
        "verify",
        "-CAfile",
        &s_path(d, "3-root-ca.pem"),
        "-untrusted",
        &s_path(d, "2-issuing-ca.pem"),
        "-purpose",
        "sslclient",
        &cert_path,
    ]);
    // Our reader opens our writer's file.
    let back = read_pfx(&bundle.pfx, "s3cret pass").unwrap();
    assert_eq!(back.certs, vec![client.cert.clone()]);
    assert!(back.keys[0].matches(client.cert.public_key_info()));
    assert!(matches!(
        read_pfx(&bundle.pfx, "nope"),
        Err(PkiError::Pkcs12 { .. })
    ));
}

fn s_path(d: &std::path::Path, n: &str) -> String {
    d.join(n).to_str().unwrap().to_string()
}

#[test]
fn pfx_refuses_a_key_that_is_not_the_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let (other, _) = openssl_key(dir.path(), 2048);
    let err = write_pfx(ca.root().cert(), &other, &[], "x", "pw", &mut rand::rng()).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }));
}
