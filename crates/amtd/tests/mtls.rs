//! Mutual TLS and CRL push end to end (M8–M10), through `amtd serve` and `amtd sim`:
//!
//! - a mutual-TLS profile provisions a device: the server presents its console certificate
//!   (issued by the embedded CA, clientAuth + the AMT console OID) after CommitChanges; then a
//!   call with that certificate works and one without a client certificate is refused by the
//!   emulated device at TLS — seen both through amtd's transport and through `openssl s_client`;
//! - revoking a console certificate through the running server publishes the CRL and (without
//!   anyone asking for a pass) pushes it: the device's `AMT_CRL` holds the serial and the
//!   device refuses that certificate, while the server goes on with a new one of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use amt_pki::{Cert, Serial};
use amt_wsman::classes::amt::{AmtCrl, AmtGeneralSettings, AmtTlsSettingData};
use amt_wsman::secret::SecretString;
use amt_wsman::SelectorSet;
use amtd_infra::client::{WsmanClient, WsmanError};
use amtd_infra::device_tls::{client_identity, ConsoleTls};
use amtd_infra::pki_store::{ConsoleIdentity, PkiStore};
use amtd_infra::transport::{
    CertificateDer, ClientIdentity, DeviceEndpoint, PrivateKeyDer, TlsOptions, TransportConfig,
    TransportError, WsmanConnection,
};
use serde_json::Value;
use support::{amtd, text, wait_for, Serve, FIRST_UUID};

const FQDN: &str = "amtdev00001.amt.test";

/// `amtd serve` with a mutual-TLS default profile (and `extra` config).
fn serve_mutual(dir: &Path, extra: &str) -> Serve {
    Serve::start(
        dir,
        &format!("[[profile]]\nname = \"default\"\ntls = \"mutual\"\n{extra}"),
        &[],
    )
}

fn pki(dir: &Path) -> PkiStore {
    PkiStore::open(&dir.join("amtd-data/ca"), &dir.join("amtd-data/ca.kek")).unwrap()
}

fn console(dir: &Path) -> ConsoleIdentity {
    pki(dir)
        .load_console_identity()
        .unwrap()
        .expect("the server issued its console certificate")
}

fn admin_password(serve: &Serve) -> SecretString {
    let (status, v) = serve.call(
        "POST",
        &format!("/api/v1/devices/{FIRST_UUID}/reveal-password"),
        "",
    );
    assert_eq!(status, 200, "{v}");
    SecretString::from(v["admin_password"].as_str().unwrap().to_owned())
}

fn root_der(dir: &Path) -> Vec<u8> {
    pki(dir).ca().root().cert().der().to_vec()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A WS-Man client to the device with `tls`, as admin.
fn client(ip: &str, tls: TlsOptions, password: &SecretString) -> WsmanClient {
    let config = TransportConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        ..TransportConfig::default()
    };
    let endpoint = DeviceEndpoint::https(ip.to_owned(), tls);
    WsmanClient::new(WsmanConnection::new(endpoint, "admin", password.clone(), config).unwrap())
}

fn get_settings(
    ip: &str,
    tls: TlsOptions,
    password: &SecretString,
) -> Result<AmtGeneralSettings, WsmanError> {
    runtime().block_on(async {
        let c = client(ip, tls, password);
        let r = c.get::<AmtGeneralSettings>(SelectorSet::new()).await;
        c.connection().close().await;
        r
    })
}

/// Refused at TLS (not at Digest, not unreachable).
fn assert_refused_at_tls(result: Result<AmtGeneralSettings, WsmanError>, what: &str) {
    match result {
        // A TLS alert from the device (certificate required, access denied).
        Err(WsmanError::Transport(TransportError::Tls { .. })) => {}
        other => panic!("{what}: expected a TLS refusal, got {other:?}"),
    }
}

/// PEM files of a certificate and its key, for openssl.
fn pem_files(dir: &Path, name: &str, cert: &Cert, key_pem: &str) -> (PathBuf, PathBuf) {
    let c = dir.join(format!("{name}.crt"));
    let k = dir.join(format!("{name}.key"));
    std::fs::write(&c, cert.to_pem()).unwrap();
    std::fs::write(&k, key_pem).unwrap();
    (c, k)
}

/// `openssl s_client` to the device's 16993, verifying it against the CA (trust.pem), with or
/// without a client certificate, sending one HTTP request. Returns whether an HTTP answer came
/// back, and everything openssl printed.
fn s_client(dir: &Path, ip: &str, client: Option<&(PathBuf, PathBuf)>) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.args(["20", "openssl", "s_client", "-connect"])
        .arg(format!("{ip}:16993"))
        .args([
            "-servername",
            FQDN,
            "-verify_return_error",
            "-quiet",
            "-CAfile",
        ])
        .arg(dir.join("trust.pem"));
    if let Some((c, k)) = client {
        cmd.arg("-cert").arg(c).arg("-key").arg(k);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    use std::io::Write as _;
    let _ = child.stdin.take().unwrap().write_all(
        b"POST /wsman HTTP/1.1\r\nHost: amtdev00001.amt.test:16993\r\nContent-Length: 0\r\n\
          Connection: close\r\n\r\n",
    );
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    (
        String::from_utf8_lossy(&out.stdout).contains("HTTP/1.1 401"),
        all,
    )
}

fn provisioned(serve: &Serve) -> Value {
    let v = serve.wait_device_done(FIRST_UUID);
    assert_eq!(
        v["state"],
        "provisioned",
        "{v}\nserver log:\n{}",
        serve.log()
    );
    v
}

#[test]
fn mutual_tls_profile_provisions_and_the_device_then_demands_the_console_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = serve_mutual(path, "");
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);

    let id = console(path);
    let eku: Vec<String> = id
        .cert()
        .extended_key_usages()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        eku.contains(&"1.3.6.1.5.5.7.3.2".to_owned())
            && eku.contains(&"2.16.840.1.113741.1.2.1".to_owned()),
        "{eku:?}"
    );
    let password = admin_password(&serve);
    let with_cert = ConsoleTls::new(&root_der(path), Some(client_identity(&id).unwrap()));
    let without = ConsoleTls::new(&root_der(path), None);

    // With the console certificate: the device answers, and it is in mutual TLS.
    let gs = get_settings(&ip, with_cert.options(FQDN), &password).unwrap();
    assert!(gs.digest_realm.is_some());
    let tls: Vec<AmtTlsSettingData> = runtime().block_on(async {
        let c = client(&ip, with_cert.options(FQDN), &password);
        c.enumerate().await.unwrap()
    });
    assert!(
        tls.iter()
            .any(|t| t.is_remote() && t.mutual_authentication == Some(true)),
        "{tls:?}"
    );
    // Without a client certificate: refused at TLS, before any HTTP.
    assert_refused_at_tls(
        get_settings(&ip, without.options(FQDN), &password),
        "no client certificate",
    );
    // A client certificate that is not a console certificate (the provisioning certificate:
    // serverAuth + the setup OID, same CA): refused.
    let prov = amt_pki::ProvisioningCert::from_pfx(
        &std::fs::read(path.join("prov.pfx")).unwrap(),
        "pfx-test-password",
        std::time::SystemTime::now(),
    )
    .unwrap();
    let not_console = ClientIdentity::new(
        prov.chain()
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect(),
        PrivateKeyDer::Pkcs8(prov.key().to_pkcs8_der().unwrap().to_vec().into()),
    );
    assert_refused_at_tls(
        get_settings(
            &ip,
            without.options(FQDN).with_client_identity(not_console),
            &password,
        ),
        "a certificate without the console OID",
    );

    // openssl sees the same: the device's certificate verifies against the CA; with the
    // console certificate an HTTP answer (401: no Digest yet) comes back, without it none.
    let files = pem_files(
        path,
        "console",
        id.cert(),
        &id.key().to_pkcs8_pem().unwrap(),
    );
    let (answered, out) = s_client(path, &ip, Some(&files));
    assert!(answered, "with the console certificate:\n{out}");
    assert!(!out.contains("verify error"), "device certificate: {out}");
    let (answered, out) = s_client(path, &ip, None);
    assert!(!answered, "without a client certificate:\n{out}");
    assert!(out.contains("alert certificate required"), "{out}");

    // The API shows the console certificate; the mutual run's timeline ends provisioned.
    let (status, v) = serve.call("GET", "/api/v1/console-certificate", "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["serial"], id.cert().serial().to_hex());
    assert!(
        v["subject"].as_str().unwrap().contains("amtd-console"),
        "{v}"
    );
}

/// The serials the device holds (its `AMT_CRL` lists), read with the server's current
/// console certificate; `None` when the device could not be read (the server may be replacing
/// its certificate right now).
fn device_crl(dir: &Path, ip: &str, password: &SecretString) -> Option<Vec<Serial>> {
    use base64::Engine as _;
    let tls = ConsoleTls::new(
        &root_der(dir),
        Some(client_identity(&console(dir)).unwrap()),
    );
    let lists: Vec<AmtCrl> = runtime()
        .block_on(async {
            let c = client(ip, tls.options(FQDN), password);
            let r = c.enumerate().await;
            c.connection().close().await;
            r
        })
        .ok()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Some(
        lists
            .iter()
            .flat_map(|l| l.serial_numbers.iter())
            .map(|s| Serial::from_bytes(&b64.decode(s).unwrap()))
            .collect(),
    )
}

#[test]
fn a_revoked_console_certificate_is_pushed_to_the_device_and_refused_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    // The scheduled job runs (hourly); a revocation asks it for a push at once.
    let serve = serve_mutual(path, "[maintenance]\ncrl_interval = \"1h\"\n");
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);
    let password = admin_password(&serve);

    // An operator's console certificate from the API (PKCS#12 bundle), read with openssl.
    let body = r#"{"common_name":"support-console","password":"Bundle-Pass-1"}"#;
    let (status, v) = serve.call("POST", "/api/v1/console-certificates", body);
    assert_eq!(status, 200, "{v}");
    use base64::Engine as _;
    let pfx = base64::engine::general_purpose::STANDARD
        .decode(v["files"][0]["base64"].as_str().unwrap())
        .unwrap();
    std::fs::write(path.join("support.pfx"), pfx).unwrap();
    let pem = |extra: &[&str]| {
        let out = Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(path.join("support.pfx"))
            .args(["-passin", "pass:Bundle-Pass-1", "-nodes"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let support_cert = Cert::from_pem(&pem(&["-clcerts", "-nokeys"])).unwrap();
    let support_key = pem(&["-nocerts"]);
    let support = pem_files(path, "support", &support_cert, &support_key);
    let (answered, out) = s_client(path, &ip, Some(&support));
    assert!(answered, "before the revocation:\n{out}");

    // A pass now: the device gets the serials relevant to it, which do not include a live
    // console certificate.
    let (status, report) = serve.call(
        "POST",
        "/api/v1/maintenance/run",
        r#"{"tasks":["push-crl"]}"#,
    );
    assert_eq!(status, 200, "{report}");
    assert!(!device_crl(path, &ip, &password)
        .unwrap()
        .contains(&support_cert.serial()));

    // Revoke through the CLI: the server publishes the CRL and pushes it on its own.
    let serial = support_cert.serial().to_hex();
    let out = amtd(
        path,
        &[
            "maintenance",
            "revoke",
            &serial,
            "--reason",
            "key-compromise",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let held = wait_for(
        "the device to hold the revoked serial",
        Duration::from_secs(60),
        || {
            let held = device_crl(path, &ip, &password)?;
            held.contains(&support_cert.serial()).then_some(held)
        },
    );
    // The device refuses the revoked certificate; the server's own still works.
    let (answered, out) = s_client(path, &ip, Some(&support));
    assert!(!answered, "a revoked certificate was admitted:\n{out}");
    let server_id = console(path);
    let server_files = pem_files(
        path,
        "server",
        server_id.cert(),
        &server_id.key().to_pkcs8_pem().unwrap(),
    );
    assert!(s_client(path, &ip, Some(&server_files)).0);
    assert!(!held.contains(&server_id.cert().serial()));

    // The published CRL lists it, with reason keyCompromise.
    let crl = pki(path).crl(amt_pki::CaRole::Issuing).unwrap();
    let entry = crl
        .entries()
        .into_iter()
        .find(|e| e.serial == support_cert.serial())
        .unwrap();
    assert_eq!(entry.reason_code, Some(1));

    // Now the server's own certificate: revoked, the next pass replaces it, pushes the CRL
    // over a session with the new one, and the device refuses the old one.
    let old = server_id;
    let (status, v) = serve.call(
        "POST",
        &format!(
            "/api/v1/certificates/{}/revoke",
            old.cert().serial().to_hex()
        ),
        r#"{"reason":"key-compromise"}"#,
    );
    assert_eq!(status, 200, "{v}");
    wait_for(
        "the old console serial on the device",
        Duration::from_secs(60),
        || {
            device_crl(path, &ip, &password)?
                .contains(&old.cert().serial())
                .then_some(())
        },
    );
    let new = console(path);
    assert_ne!(new.cert().serial(), old.cert().serial());
    let with_old = ConsoleTls::new(&root_der(path), Some(client_identity(&old).unwrap()));
    assert_refused_at_tls(
        get_settings(&ip, with_old.options(FQDN), &password),
        "the revoked console certificate",
    );
    let with_new = ConsoleTls::new(&root_der(path), Some(client_identity(&new).unwrap()));
    get_settings(&ip, with_new.options(FQDN), &password).unwrap();

    // The pushes are recorded.
    let (status, ops) = serve.call(
        "GET",
        &format!("/api/v1/maintenance?device={FIRST_UUID}&task=push-crl"),
        "",
    );
    assert_eq!(status, 200);
    assert!(
        ops.as_array()
            .unwrap()
            .iter()
            .filter(|o| o["outcome"] == "pushed")
            .count()
            >= 2,
        "{ops}"
    );
}

/// `amtd sol <uuid>` against a device in mutual TLS: the CLI, on the server's machine, offers
/// the server's console certificate from the data directory, so the session opens over
/// 16995 and the emulated console answers.
#[test]
fn sol_by_uuid_presents_the_console_certificate_to_a_mutual_tls_device() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = serve_mutual(
        path,
        "[profile.redirection]\nsol = true\nider = false\nkvm = false\n",
    );
    let (_sim, _ip) = serve.start_device();
    provisioned(&serve);
    let mut child = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(path)
        .env("RUST_BACKTRACE", "0")
        .args(["sol", FIRST_UUID])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"operator\r")
        .unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}\n{}", serve.log());
    assert!(stdout.contains("login: "), "{stdout}{stderr}");
    assert!(stderr.contains("Connected to"), "{stderr}");
}
