//! Fetching a published CRL over HTTP from an in-test server, verifying it, and reducing it to
//! a device's AddCRL serial list (M10).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use amtd_infra::pki_store::amt_pki::crl::{
    addcrl_serials, cas_trusted_by_device, serials_for_device,
};
use amtd_infra::pki_store::amt_pki::{CaRole, CaSettings, RevocationReason, RsaKey};
use amtd_infra::pki_store::crl_fetch::fetch_crl;
use amtd_infra::pki_store::{Kek, PkiStore, PkiStoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn openssl_key(dir: &std::path::Path, name: &str) -> RsaKey {
    let p = dir.join(name);
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&p)
        .status()
        .expect("openssl CLI")
        .success();
    assert!(ok);
    RsaKey::from_pem(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Serve `responses` (raw HTTP) one per connection on 127.0.0.1; returns the port.
async fn serve(responses: Vec<Vec<u8>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        for r in responses {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(&r).await;
            let _ = s.shutdown().await;
        }
    });
    port
}

#[tokio::test]
async fn published_crl_is_fetched_verified_and_filtered_for_a_device() {
    let tmp = tempfile::tempdir().unwrap();
    let kek = tmp.path().join("kek");
    Kek::generate_file(&kek).unwrap();
    let r = openssl_key(tmp.path(), "r.pem");
    let i = openssl_key(tmp.path(), "i.pem");
    let mut store =
        PkiStore::init_with_keys(&tmp.path().join("ca"), &kek, CaSettings::default(), r, i)
            .unwrap();
    let (console, _) = store.issue_console("op").unwrap();
    store
        .revoke(&console.serial(), RevocationReason::KeyCompromise)
        .unwrap();
    let der = std::fs::read(store.crl_path(CaRole::Issuing)).unwrap();
    let pem = store.crl(CaRole::Issuing).unwrap().to_pem();

    let plain = [
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\n\r\n",
            der.len()
        )
        .into_bytes(),
        der.clone(),
    ]
    .concat();
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in pem.as_bytes().chunks(100) {
        chunked.extend(format!("{:x}\r\n", part.len()).into_bytes());
        chunked.extend(part);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\n\r\n");
    let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
    let port = serve(vec![plain, chunked, missing]).await;
    let url = format!("http://127.0.0.1:{port}/crl/issuing.crl");

    let device_cas = cas_trusted_by_device(
        std::slice::from_ref(store.ca().root().cert()),
        std::slice::from_ref(store.ca().issuing().cert()),
    );
    for _ in 0..2 {
        let crl = fetch_crl(&url, Duration::from_secs(5)).await.unwrap();
        let verified = crl.verify(store.ca().issuing().cert()).unwrap();
        let serials = serials_for_device(&[verified], &device_cas);
        assert_eq!(serials, vec![console.serial()]);
        assert_eq!(addcrl_serials(&serials), vec![console.serial().to_base64()]);
    }
    let err = fetch_crl(&url, Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(err, PkiStoreError::CrlFetch { .. }));
    assert!(err.to_string().contains("HTTP status 404"), "{err}");

    // Nobody listening: a clear error, quickly.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let err = fetch_crl(
        &format!("http://127.0.0.1:{dead_port}/x.crl"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
