//! Shared helpers: the `openssl` CLI as the judge, fast RSA keys made by openssl (our own
//! generator is exercised once, in `ca_generates_its_own_keys`), and a test CA.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use amt_pki::{CaSettings, EmbeddedCa, RsaKey};

pub const CRL_BASE: &str = "http://amtd.lab.example:8080/crl";
pub const UUID: &str = "4b529b93-d413-181d-e487-1c697a6b7a2b";
pub const FQDN: &str = "amt-dev01.lab.example";

/// Run openssl with `args`; returns (success, stdout, stderr).
pub fn openssl(args: &[&str]) -> (bool, String, String) {
    openssl_in(None, args)
}

/// Run openssl in `dir`.
pub fn openssl_in(dir: Option<&Path>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("openssl");
    cmd.args(args).stdin(Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd
        .output()
        .expect("the openssl CLI must be installed: it is the judge of these tests");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run openssl and insist it succeeds; returns stdout.
pub fn openssl_ok(args: &[&str]) -> String {
    let (ok, out, err) = openssl(args);
    assert!(ok, "openssl {args:?} failed:\n{out}\n{err}");
    out
}

/// A fresh RSA key made by `openssl genpkey` (fast even in debug builds).
pub fn openssl_key(dir: &Path, bits: u32) -> (RsaKey, PathBuf) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("key{n}.pem"));
    let bits_opt = format!("rsa_keygen_bits:{bits}");
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        &bits_opt,
        "-out",
        path.to_str().unwrap(),
    ]);
    let pem = std::fs::read_to_string(&path).unwrap();
    (RsaKey::from_pem(&pem).unwrap(), path)
}

pub fn settings() -> CaSettings {
    CaSettings {
        crl_base_url: Some(CRL_BASE.into()),
        ..CaSettings::default()
    }
}

/// A CA with openssl-made keys.
pub fn test_ca(dir: &Path) -> EmbeddedCa {
    let (root_key, _) = openssl_key(dir, 2048);
    let (issuing_key, _) = openssl_key(dir, 2048);
    let (ca, _) = EmbeddedCa::create_with_keys(
        settings(),
        root_key,
        issuing_key,
        &mut rand::rng(),
        SystemTime::now(),
    )
    .unwrap();
    ca
}

/// Write `data` to `dir/name` and return the path as a string.
pub fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

/// The subject exactly as openssl prints it with UTF-8 output.
pub fn openssl_subject(cert_path: &str) -> String {
    let out = openssl_ok(&[
        "x509",
        "-in",
        cert_path,
        "-noout",
        "-subject",
        "-nameopt",
        "utf8,sep_comma_plus_space,space_eq",
    ]);
    out.trim().trim_start_matches("subject=").to_string()
}

/// `openssl x509 -text` of a certificate.
pub fn openssl_text(cert_path: &str) -> String {
    openssl_ok(&["x509", "-in", cert_path, "-noout", "-text"])
}

/// Hashes from a recorded hello (hex file): version 3 layout, see AMT-PROTOCOLS §1.2.
pub fn hello_hashes(hex_text: &str) -> Vec<amt_pki::CertHash> {
    let b = hex::decode(hex_text.trim()).unwrap();
    assert_eq!(u16::from_le_bytes([b[2], b[3]]), 3, "PKI hello");
    let count = b[24] as usize;
    let mut i = 25;
    let mut out = Vec::new();
    for _ in 0..count {
        let alg = amt_pki::HashAlgorithm::try_from(b[i]).unwrap();
        let len = b[i + 1] as usize;
        out.push(amt_pki::CertHash::new(alg, b[i + 2..i + 2 + len].to_vec()).unwrap());
        i += 2 + len;
    }
    out
}

/// The recorded hello fixtures, or `None` (with a message) when the folder is absent.
pub fn hello_fixtures() -> Option<Vec<(String, String)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/hello");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIP: hello fixtures not found at {} (shared/ folder absent)",
            dir.display()
        );
        return None;
    };
    let mut v: Vec<(String, String)> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    Some(v)
}
