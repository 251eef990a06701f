//! `cargo bench -p amt-pki --bench ca`: certificates signed per second from PKCS#10 requests
//! with an RSA-2048 issuing key, and CRL build time for 100,000 revoked serials, each beside
//! the openssl CLI doing the same work with the same issuing key in the same run.
//!
//! Knobs (environment): `PKI_BENCH_CERTS` (default 300), `PKI_BENCH_CRL` (default 100000).
//! Prints figures and ratios; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use amt_pki::crl::{build_crl, Crl};
use amt_pki::{
    CaSettings, EmbeddedCa, LeafRequest, RevocationReason, RevokedSerial, Serial, VerifiedCsr,
};

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let n_certs = env_usize("PKI_BENCH_CERTS", 300);
    let n_crl = env_usize("PKI_BENCH_CRL", 100_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let s = |p: &str| d.join(p).to_str().expect("utf-8 path").to_string();
    let now = SystemTime::now();
    let mut rng = rand::rng();

    println!("amt-pki CA benchmark: {n_certs} certificates from PKCS#10, CRL of {n_crl} serials");
    println!("openssl: {}", openssl(d, &["version"]).trim());

    // One CA for both sides: our root + RSA-2048 issuing CA; openssl gets the same key/cert.
    let t = Instant::now();
    let (ca, _) = EmbeddedCa::create(CaSettings::default(), &mut rng, now).expect("CA");
    println!(
        "(setup) our root + issuing RSA-2048 key generation: {:.2?}",
        t.elapsed()
    );
    std::fs::write(s("issuing.pem"), ca.issuing().cert().to_pem()).expect("write");
    std::fs::write(
        s("issuing.key"),
        ca.issuing().key().to_pkcs8_pem().expect("pem").as_bytes(),
    )
    .expect("write");

    // Device requests: 4 device keys, n distinct CSRs (made by openssl, outside the timing).
    let keys: Vec<String> = (0..4)
        .map(|i| {
            let k = format!("dev{i}.key");
            openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &k,
                ],
            );
            k
        })
        .collect();
    let mut csr_files = Vec::new();
    let mut csrs_der = Vec::new();
    for i in 0..n_certs {
        let f = format!("req{i}.csr");
        let subj = format!("/CN=amt-dev{i:05}.lab.example");
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                &keys[i % keys.len()],
                "-subj",
                &subj,
                "-out",
                &f,
            ],
        );
        let der_f = format!("req{i}.der");
        openssl(d, &["req", "-in", &f, "-outform", "DER", "-out", &der_f]);
        csrs_der.push(std::fs::read(s(&der_f)).expect("read"));
        csr_files.push(f);
    }

    // Ours: verify each CSR, issue the full AMT device profile (two CNs, O, SAN, EKU, CDP).
    let t = Instant::now();
    let mut issued = 0;
    for (i, der) in csrs_der.iter().enumerate() {
        let csr = VerifiedCsr::from_der(der).expect("csr");
        let fqdn = format!("amt-dev{i:05}.lab.example");
        let c = ca
            .issue_from_csr(
                &LeafRequest::Device {
                    fqdn: &fqdn,
                    uuid: "4b529b93-d413-181d-e487-1c697a6b7a2b",
                },
                &csr,
                &mut rng,
                now,
            )
            .expect("issue");
        issued += c.cert.der().len().min(1);
    }
    let ours = t.elapsed();

    // openssl ca: all requests in one process (-infiles), same issuing key, same kind of profile.
    std::fs::write(s("index.txt"), "").expect("write");
    std::fs::write(s("serial"), "01\n").expect("write");
    std::fs::write(
        s("ca.cnf"),
        format!(
            "[ca]\ndefault_ca=x\n[x]\ndir={dir}\ndatabase=$dir/index.txt\nserial=$dir/serial\n\
             new_certs_dir=$dir/out\ndefault_md=sha256\ndefault_days=365\npolicy=p\n\
             unique_subject=no\ncopy_extensions=none\nx509_extensions=dev\n\
             crlnumber=$dir/crlnumber\ndefault_crl_days=7\n\
             [p]\ncommonName=supplied\n\
             [dev]\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             subjectAltName=DNS:amt-dev.lab.example\n\
             crlDistributionPoints=URI:http://amtd.lab.example/crl/issuing.crl\n",
            dir = d.display()
        ),
    )
    .expect("write");
    std::fs::create_dir(s("out")).expect("mkdir");
    let mut args: Vec<String> = [
        "ca",
        "-batch",
        "-notext",
        "-config",
        "ca.cnf",
        "-cert",
        "issuing.pem",
        "-keyfile",
        "issuing.key",
        "-out",
        "all.pem",
        "-infiles",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(csr_files.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Instant::now();
    openssl(d, &argv);
    let ossl_ca = t.elapsed();

    // openssl x509 -req: one process per request, as scripts usually do it (first 50).
    let n_x509 = n_certs.min(50);
    let t = Instant::now();
    for f in csr_files.iter().take(n_x509) {
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                f,
                "-CA",
                "issuing.pem",
                "-CAkey",
                "issuing.key",
                "-CAcreateserial",
                "-days",
                "365",
                "-sha256",
                "-out",
                "one.pem",
            ],
        );
    }
    let ossl_x509 = t.elapsed();

    println!();
    println!("## certificates from PKCS#10 (RSA-2048 issuing key, SHA-256)");
    println!(
        "amt-pki  issue_from_csr   {issued:>6} certs  {:>8.2?}  {:>8.1} certs/s",
        ours,
        per_sec(issued, ours)
    );
    println!(
        "openssl  ca -infiles      {n_certs:>6} certs  {:>8.2?}  {:>8.1} certs/s",
        ossl_ca,
        per_sec(n_certs, ossl_ca)
    );
    println!(
        "openssl  x509 -req (1/proc) {n_x509:>4} certs  {:>8.2?}  {:>8.1} certs/s",
        ossl_x509,
        per_sec(n_x509, ossl_x509)
    );
    println!(
        "ratio amt-pki / openssl ca: {:.2}",
        per_sec(issued, ours) / per_sec(n_certs, ossl_ca)
    );

    // CRL of n_crl revoked serials.
    let revoked: Vec<RevokedSerial> = (0..n_crl)
        .map(|_| RevokedSerial {
            serial: Serial::random(&mut rng),
            revoked_at: now - Duration::from_secs(3600),
            reason: Some(RevocationReason::ReplacedByMaintenance),
        })
        .collect();
    let t = Instant::now();
    let der = build_crl(
        ca.issuing(),
        2,
        now,
        now + Duration::from_secs(7 * 86400),
        &revoked,
        &mut rng,
    )
    .expect("crl");
    let ours_crl = t.elapsed();
    let t = Instant::now();
    let verified = Crl::from_der(&der)
        .expect("parse")
        .verify(ca.issuing().cert())
        .expect("verify");
    let entries = verified.crl().entries().len();
    let ours_parse = t.elapsed();
    assert_eq!(entries, n_crl);

    // openssl ca -gencrl over an index.txt with the same serials.
    let mut index = String::with_capacity(n_crl * 80);
    for r in &revoked {
        index.push_str("R\t300101000000Z\t250101000000Z,superseded\t");
        index.push_str(&r.serial.to_hex());
        index.push_str("\tunknown\t/CN=x\n");
    }
    std::fs::write(s("index.txt"), index).expect("write");
    std::fs::write(s("index.txt.attr"), "unique_subject = no\n").expect("write");
    std::fs::write(s("crlnumber"), "02\n").expect("write");
    let t = Instant::now();
    openssl(
        d,
        &[
            "ca",
            "-gencrl",
            "-config",
            "ca.cnf",
            "-cert",
            "issuing.pem",
            "-keyfile",
            "issuing.key",
            "-out",
            "big.crl",
        ],
    );
    let ossl_crl = t.elapsed();
    let ossl_size = std::fs::metadata(s("big.crl"))
        .map(|m| m.len())
        .unwrap_or(0);

    println!();
    println!("## CRL with {n_crl} revoked serials (with reason codes)");
    println!(
        "amt-pki  build_crl        {:>8.2?}  ({} bytes DER)",
        ours_crl,
        der.len()
    );
    println!("amt-pki  parse + verify   {:>8.2?}", ours_parse);
    println!(
        "openssl  ca -gencrl       {:>8.2?}  ({ossl_size} bytes PEM)",
        ossl_crl
    );
    println!(
        "ratio openssl / amt-pki build time: {:.2}",
        ossl_crl.as_secs_f64() / ours_crl.as_secs_f64()
    );
}
