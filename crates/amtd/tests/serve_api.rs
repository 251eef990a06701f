//! The REST API and the CLI over it, through the binary over real loopback sockets: a running
//! `amtd lab` is found by `amtd devices` without flags, reveals passwords only with the token,
//! and serves its CRL; `amtd serve` starts on a minimal config and refuses to run without a CA.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{amtd, random_octets, spawn_env, text, wait_for, Running, Serve, FIRST_UUID};

/// Starts `amtd args…` in the background, its output in `dir/amtd.log`.
fn spawn(dir: &Path, args: &[&str]) -> Running {
    spawn_env(dir, args, &[], "amtd.log")
}

/// A raw HTTP GET without credentials: (status, body).
fn get(api: &str, path: &str) -> (u16, Vec<u8>) {
    let host = api.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    assert!(
        !head.to_ascii_lowercase().contains("chunked"),
        "unexpected chunked answer: {head}"
    );
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw[end + 4..].to_vec())
}

fn api_of(data_dir: &Path) -> String {
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("server.json")).unwrap()).unwrap();
    d["api"].as_str().unwrap().to_owned()
}

#[test]
fn lab_api_lists_provisioned_devices_reveals_passwords_and_serves_the_crl() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = random_octets();
    let first_ip = format!("127.{a}.{b}.1");
    let hello = format!("127.{a}.{b}.250:9971");
    let api_bind = format!("127.{a}.{b}.251:0");
    let _lab = spawn(
        dir.path(),
        &[
            "lab",
            "--count",
            "3",
            "--first-ip",
            &first_ip,
            "--hello-bind",
            &hello,
            "--api-bind",
            &api_bind,
        ],
    );
    // The CLI finds the lab through ./amtd-lab/server.json, without flags.
    let devices = wait_for("3 provisioned devices", Duration::from_secs(120), || {
        let out = amtd(dir.path(), &["devices", "--json"]);
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let list = v.as_array()?;
        let done = list.iter().filter(|d| d["state"] == "provisioned").count();
        (list.len() == 3 && done == 3).then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    let list: serde_json::Value = serde_json::from_str(&devices).unwrap();
    for d in list.as_array().unwrap() {
        assert!(d["fqdn"].as_str().unwrap().ends_with(".amt.test"), "{d}");
        assert!(d["address"]
            .as_str()
            .unwrap()
            .starts_with(&format!("127.{a}.{b}.")));
    }
    let uuid = list[0]["uuid"].as_str().unwrap().to_owned();

    // The table form and the device's timeline.
    let out = amtd(dir.path(), &["devices"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&uuid), "{}", text(&out));
    let out = amtd(dir.path(), &["device", &uuid, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let phases: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases.last(), Some(&"done"), "{shown}");

    // reveal-password prints a password that meets AMT's rules, and the call is audited.
    let out = amtd(dir.path(), &["device", &uuid, "reveal-password"]);
    assert!(out.status.success(), "{}", text(&out));
    let password = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    amt_wsman::password::validate_admin_password(&password)
        .unwrap_or_else(|e| panic!("{password:?} breaks the AMT rules: {e}"));
    let audit = {
        let data = dir.path().join("amtd-lab");
        let out = support::amtd(
            dir.path(),
            &[
                "audit",
                "list",
                "--json",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        audit.contains(&uuid) && audit.contains("reveal-password"),
        "{audit}"
    );
    assert!(
        !audit.contains(&password),
        "the audit log must not hold the password"
    );

    // Without the token, or with a wrong one, the API answers 401.
    let api = api_of(&dir.path().join("amtd-lab"));
    let (status, _) = get(&api, "/api/v1/devices");
    assert_eq!(status, 401);
    let (status, _) = get(&api, &format!("/api/v1/devices/{uuid}/reveal-password"));
    assert!(status == 401 || status == 405, "{status}");
    let out = amtd(
        dir.path(),
        &["device", &uuid, "reveal-password", "--token", "wrong"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("401"), "{}", text(&out));

    // The CRL distribution point needs no token and serves a DER CRL openssl accepts.
    let (status, der) = get(&api, "/crl/issuing.crl");
    assert_eq!(status, 200);
    let crl = dir.path().join("issuing.crl");
    std::fs::write(&crl, der).unwrap();
    let out = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-issuer", "-in"])
        .arg(&crl)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Issuing CA"), "{}", text(&out));
    let (status, _) = get(&api, "/crl/root.crl");
    assert_eq!(status, 200);

    // Trust files through the API (M8): the redirection PEM lists the issuing CA, then the
    // root; the mutual-TLS bundle is the client PKCS#12, then the issuing CA, then the root.
    let token = std::fs::read_to_string(dir.path().join("amtd-lab/api-token"))
        .unwrap()
        .trim()
        .to_owned();
    let (status, _) = get(&api, "/api/v1/trust/redirection.pem");
    assert_eq!(status, 401, "trust files need the token");
    let (status, pem) = request(&api, "GET", "/api/v1/trust/redirection.pem", &token, None);
    assert_eq!(status, 200);
    let pem = String::from_utf8(pem).unwrap();
    let blocks: Vec<&str> = pem
        .split("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .collect();
    assert_eq!(blocks.len(), 2, "{pem}");
    let subject = |i: usize| {
        let f = dir.path().join(format!("trust{i}.pem"));
        std::fs::write(&f, format!("{}-----END CERTIFICATE-----\n", blocks[i])).unwrap();
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&f)
            .output()
            .expect("openssl");
        text(&out)
    };
    assert!(subject(0).contains("Issuing CA"), "{}", subject(0));
    assert!(subject(1).contains("Root CA"), "{}", subject(1));

    let body = r#"{"common_name":"support-console","password":"Bundle-Pass-1"}"#;
    let (status, json) = request(
        &api,
        "POST",
        "/api/v1/console-certificates",
        &token,
        Some(body),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&json));
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let files = v["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["1-client.pfx", "2-issuing-ca.pem", "3-root-ca.pem"]);
    use base64::Engine as _;
    let pfx = base64::engine::general_purpose::STANDARD
        .decode(files[0]["base64"].as_str().unwrap())
        .unwrap();
    let pfx_path = dir.path().join("client.pfx");
    std::fs::write(&pfx_path, pfx).unwrap();
    let out = Command::new("openssl")
        .args([
            "pkcs12",
            "-nokeys",
            "-clcerts",
            "-passin",
            "pass:Bundle-Pass-1",
            "-in",
        ])
        .arg(&pfx_path)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("support-console"), "{}", text(&out));
    let audit = {
        let data = dir.path().join("amtd-lab");
        let out = support::amtd(
            dir.path(),
            &[
                "audit",
                "list",
                "--json",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(audit.contains("issue-console-certificate"), "{audit}");
    assert!(
        !audit.contains("Bundle-Pass-1"),
        "the audit log must not hold the password"
    );
}

/// A raw HTTP request with a bearer token: (status, body).
fn request(api: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, Vec<u8>) {
    support::request(
        api,
        method,
        path,
        Some(token),
        body.unwrap_or_default().as_bytes(),
    )
}

#[test]
fn serve_refuses_without_a_ca_then_answers_an_empty_device_list() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, port) = random_octets();
    let ip = format!("127.{a}.{b}.9");
    std::fs::write(
        dir.path().join("amtd.toml"),
        format!(
            "[server]\napi_bind = \"{ip}:0\"\nhello_bind = \"{ip}\"\nhello_port = {port}\n\
             [fqdn]\nstrategies = [\"operator-mapping\"]\n"
        ),
    )
    .unwrap();

    // No CA: a clear refusal that names the command to run, and nothing listening.
    let out = amtd(dir.path(), &["serve", "--config", "amtd.toml"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("no CA store") && msg.contains("amtd ca init"),
        "{msg}"
    );
    assert!(!dir.path().join("amtd-data/server.json").exists());

    let out = amtd(
        dir.path(),
        &[
            "ca",
            "--store",
            "amtd-data/ca",
            "--kek",
            "amtd-data/ca.kek",
            "init",
            "--create-kek",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let _serve = spawn(dir.path(), &["serve", "--config", "amtd.toml"]);
    // The CLI finds it through ./amtd.toml's data_dir.
    let out = wait_for("amtd serve's API", Duration::from_secs(60), || {
        let out = amtd(dir.path(), &["devices", "--json"]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, serde_json::json!([]));
    let data = dir.path().join("amtd-data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (status, _) = get(&api_of(&data), "/api/v1/devices");
    assert_eq!(status, 401);
    // --server and --token take the place of the discovery file.
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let out = amtd(
        dir.path(),
        &[
            "devices",
            "--server",
            &api_of(&data),
            "--token",
            token.trim(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn serve_provisions_an_emulated_device_named_by_the_operator_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    // The provisioning certificate comes from the config (PKCS#12, password from the env); the
    // device is configured with the server's address and trusts the CA's root.
    let serve = Serve::start(path, "", &[]);
    let (_sim, first_ip) = serve.start_device();
    let v = wait_for("the device provisioned", Duration::from_secs(120), || {
        let out = amtd(path, &["device", FIRST_UUID, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["state"] == "provisioned").then_some(v)
    });
    assert_eq!(v["fqdn"], "amtdev00001.amt.test", "{v}");
    assert_eq!(v["address"], first_ip.as_str(), "{v}");
    let out = amtd(path, &["device", FIRST_UUID, "reveal-password"]);
    assert!(out.status.success(), "{}", text(&out));
    let password = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    amt_wsman::password::validate_admin_password(&password).unwrap();
}
