//! `amtd ca` end to end through the binary, with openssl as the judge.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

fn amtd(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run amtd");
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = amtd(dir, args);
    assert!(
        out.status.success(),
        "amtd {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is installed (scripts/install-peers)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ca_cli_issues_a_device_certificate_openssl_accepts() {
    let tmp = tempdir();
    let d = tmp.as_path();
    ok(
        d,
        &[
            "ca",
            "init",
            "--create-kek",
            "--crl-url",
            "http://127.0.0.1:8080/crl",
        ],
    );
    // A second init must refuse and leave the CA alone.
    let again = amtd(d, &["ca", "init", "--create-kek"]);
    assert!(
        !again.status.success(),
        "init over an existing CA must fail"
    );

    // The device's key and CSR, made by openssl (as a device would make them).
    openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "dev.key",
            "-out",
            "dev.csr",
            "-subj",
            "/CN=ignored",
        ],
    );
    let uuid = "4c4c4544-0033-3110-8052-b3c04f4b4d32";
    ok(
        d,
        &[
            "ca",
            "issue-device",
            "--fqdn",
            "amtdev01.amt.test",
            "--uuid",
            uuid,
            "--csr",
            "dev.csr",
            "--out",
            "dev.pem",
        ],
    );
    let subject = openssl(
        d,
        &[
            "x509",
            "-in",
            "dev.pem",
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_comma_plus_space,space_eq",
        ],
    );
    assert_eq!(
        subject.trim(),
        format!("subject=CN = amtdev01.amt.test, CN = Device (UUID: {uuid}), O = Intel® Active Management Technology")
    );
    ok(d, &["ca", "trust-pem", "--out", "trust.pem"]);
    let verify = openssl(d, &["verify", "-CAfile", "trust.pem", "dev.pem"]);
    assert!(verify.contains("dev.pem: OK"), "{verify}");
    // Trust file order: issuing CA first, root last.
    let text = std::fs::read_to_string(d.join("trust.pem")).unwrap();
    let subjects: Vec<String> = text
        .split("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .enumerate()
        .map(|(i, b)| {
            let f = format!("c{i}.pem");
            std::fs::write(d.join(&f), format!("{b}-----END CERTIFICATE-----\n")).unwrap();
            openssl(d, &["x509", "-in", &f, "-noout", "-subject", "-issuer"])
        })
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    let first_issuer = subjects[0].lines().nth(1).unwrap().replace("issuer=", "");
    let second_subject = subjects[1].lines().next().unwrap().replace("subject=", "");
    assert_eq!(
        first_issuer, second_subject,
        "issuing CA must come before its signer"
    );
    let ledger = ok(d, &["ca", "ledger"]);
    assert!(ledger.contains("amtdev01.amt.test"), "{ledger}");
}

/// A fresh temporary directory under the system temp dir (removed at drop).
struct TempDir(std::path::PathBuf);
impl TempDir {
    fn as_path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn tempdir() -> TempDir {
    let p = std::env::temp_dir().join(format!(
        "amtd-ca-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}
