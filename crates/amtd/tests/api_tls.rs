//! The API listener over TLS (`[server.api_tls] mode = "embedded-ca"`, `amtd lab --tls`), with
//! real peers: `openssl s_client` checks the chain and the names, `curl` logs in and reads
//! answers and headers, `openssl crl` parses the CRL fetched over plain HTTP on the same port,
//! and the CLI finds the CA through server.json.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Serve;

const EMBEDDED_CA: &str =
    "[server.api_tls]\nmode = \"embedded-ca\"\nnames = [\"amtd.example.test\"]\n";

/// One curl answer: status, headers (lower-case names; repeated headers joined by "\n"), body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// `curl -sS -i args…`, parsed.
fn curl(args: &[&str]) -> Answer {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = out.stdout;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head}"));
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers
                .entry(k.trim().to_ascii_lowercase())
                .and_modify(|e| {
                    e.push('\n');
                    e.push_str(v.trim());
                })
                .or_insert_with(|| v.trim().to_owned());
        }
    }
    Answer {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// The headers every answer must carry.
fn assert_security_headers(a: &Answer, what: &str) {
    let csp = a.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp:?} lacks {directive}"
        );
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(a.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(a.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(a.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(
        a.header("cross-origin-opener-policy"),
        "same-origin",
        "{what}"
    );
    assert_eq!(
        a.header("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
        "{what}"
    );
}

fn ca_file(s: &Serve) -> String {
    let d: Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("amtd-data/server.json")).unwrap())
            .unwrap();
    let ca = d["ca_file"].as_str().expect("server.json names a ca_file");
    assert!(Path::new(ca).is_absolute(), "{ca}");
    ca.to_owned()
}

/// `host:port` of an `https://` URL.
fn authority(api: &str) -> &str {
    api.strip_prefix("https://")
        .unwrap_or_else(|| panic!("the API URL is not https: {api}"))
}

/// `openssl s_client` against the listener with `extra` verification options: (ok, output).
fn s_client(addr: &str, ca: &str, extra: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            "-verify_return_error",
            "-CAfile",
            ca,
            "-servername",
            "localhost",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    // Closing stdin ends the session once the handshake is done.
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn openssl_verifies_the_listener_chain_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), EMBEDDED_CA, &[]);
    let ca = ca_file(&s);
    let addr = authority(&s.api);
    let ip = addr.rsplit_once(':').unwrap().0;

    for extra in [
        &["-verify_hostname", "localhost"][..],
        &["-verify_hostname", "amtd.example.test"][..],
        &["-verify_ip", ip][..],
    ] {
        let (ok, out) = s_client(addr, &ca, extra);
        assert!(ok, "{extra:?}:\n{out}");
        assert!(
            out.contains("Verify return code: 0 (ok)"),
            "{extra:?}:\n{out}"
        );
    }
    // A name the certificate does not carry fails the check.
    let (ok, out) = s_client(addr, &ca, &["-verify_hostname", "other.example.test"]);
    assert!(!ok, "a foreign name verified:\n{out}");
    // Another CA does not verify the chain.
    let wrong = dir.path().join("wrong-ca.pem");
    make_other_ca(dir.path(), &wrong);
    let (ok, out) = s_client(addr, wrong.to_str().unwrap(), &[]);
    assert!(!ok, "a foreign CA verified the chain:\n{out}");
}

/// A self-signed CA certificate that has nothing to do with the server.
fn make_other_ca(dir: &Path, out: &Path) {
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=Not the amtd CA", "-keyout"])
        .arg(dir.join("wrong-ca.key"))
        .arg("-out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl req");
    assert!(st.success());
}

#[test]
fn tls_answers_carry_security_headers_hsts_and_a_secure_session_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), EMBEDDED_CA, &[]);
    let ca = ca_file(&s);
    let bearer = format!("Authorization: Bearer {}", s.token);

    let devices = curl(&[
        "--cacert",
        &ca,
        "-H",
        &bearer,
        &format!("{}/api/v1/devices", s.api),
    ]);
    assert_eq!(devices.status, 200);
    assert!(devices.json().is_array());
    assert_security_headers(&devices, "GET /api/v1/devices");
    assert_eq!(devices.header("cache-control"), "no-store");
    assert_eq!(
        devices.header("strict-transport-security"),
        "max-age=31536000"
    );

    let missing = curl(&[
        "--cacert",
        &ca,
        "-H",
        &bearer,
        &format!("{}/no/such/page", s.api),
    ]);
    assert_eq!(missing.status, 404);
    assert_security_headers(&missing, "404");
    assert_eq!(
        missing.header("strict-transport-security"),
        "max-age=31536000"
    );

    let login = |password: &str| {
        curl(&[
            "--cacert",
            &ca,
            "-H",
            "Content-Type: application/json",
            "--data",
            &serde_json::json!({ "user": "admin", "password": password }).to_string(),
            &format!("{}/api/v1/login", s.api),
        ])
    };
    let refused = login("not the password");
    assert_eq!(refused.status, 401);
    assert_security_headers(&refused, "failed login");
    assert_eq!(refused.header("cache-control"), "no-store");

    let password = std::fs::read_to_string(s.dir.join("amtd-data/initial-admin-password")).unwrap();
    let ok = login(password.trim());
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_security_headers(&ok, "login");
    let cookie = ok.header("set-cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "the session cookie lacks {attribute}: {cookie}"
        );
    }
}

#[test]
fn plain_http_on_the_tls_port_serves_only_crls() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), EMBEDDED_CA, &[]);
    let addr = authority(&s.api).to_owned();
    let plain = format!("http://{addr}");

    // Devices fetch CRLs over HTTP at the URL in their certificates.
    for file in ["issuing.crl", "root.crl"] {
        let crl = curl(&[&format!("{plain}/crl/{file}")]);
        assert_eq!(crl.status, 200, "{file}");
        assert!(!crl.headers.contains_key("strict-transport-security"));
        assert_security_headers(&crl, file);
        let path = dir.path().join(file);
        std::fs::write(&path, &crl.body).unwrap();
        let out = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-issuer", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl crl cannot parse {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("issuer="));
    }

    let bearer = format!("Authorization: Bearer {}", s.token);
    let get = curl(&["-H", &bearer, &format!("{plain}/api/v1/devices?x=1")]);
    assert_eq!(get.status, 308);
    assert_eq!(
        get.header("location"),
        format!("https://{addr}/api/v1/devices?x=1")
    );
    assert_security_headers(&get, "308");
    let head = curl(&["-I", &format!("{plain}/")]);
    assert_eq!(head.status, 308);

    let post = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "--data",
        "{}",
        &format!("{plain}/api/v1/devices/8086e000-0000-4000-8000-000000000001/reveal-password"),
    ]);
    assert_eq!(post.status, 400);
    let msg = post.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("this API requires https"), "{msg}");
    assert_security_headers(&post, "400");
}

#[test]
fn a_silent_client_blocks_no_one_and_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), EMBEDDED_CA, &[]);
    let ca = ca_file(&s);
    let addr = authority(&s.api).to_owned();
    // Connections that never send a byte: the listener keeps answering others.
    let mut silent: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let a = curl(&[
        "--cacert",
        &ca,
        "-H",
        &format!("Authorization: Bearer {}", s.token),
        &format!("{}/api/v1/devices", s.api),
    ]);
    assert_eq!(a.status, 200);
    // … while every silent connection is still pending (neither answered nor dropped by the
    // handshake timeout): the answer did not wait for them.
    for (i, c) in silent.iter_mut().enumerate() {
        c.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let pending = c.read(&mut byte);
        assert!(
            matches!(&pending, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "silent connection {i} was no longer pending when another client was answered: \
             {pending:?}"
        );
        c.set_nonblocking(false).unwrap();
    }

    // The server gives up on them after its handshake timeout (10 s), not never.
    let s0 = &mut silent[0];
    s0.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 16];
    let waited = Instant::now();
    let n = s0.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server sent bytes to a silent client");
    assert!(
        waited.elapsed() < Duration::from_secs(25),
        "a silent connection was held {:?}",
        waited.elapsed()
    );
    // A client that sends half a handshake and stalls is dropped too.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x40, 0x01])
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let waited = Instant::now();
    let _ = stalled.read(&mut buf);
    assert!(waited.elapsed() < Duration::from_secs(25));
}

#[test]
fn the_cli_speaks_tls_with_the_ca_of_server_json_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), EMBEDDED_CA, &[]);
    let run = |args: &[&str]| support::amtd(dir.path(), args);

    let out = run(&["devices", "--json"]);
    assert!(out.status.success(), "{}", support::text(&out));
    assert!(serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .is_array());
    let out = run(&["user", "--json", "list"]);
    assert!(out.status.success(), "{}", support::text(&out));
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(users[0]["name"], "admin");

    // A CA that did not issue the server's certificate: refused, and the message says why.
    let wrong = dir.path().join("wrong-ca.pem");
    make_other_ca(dir.path(), &wrong);
    let out = run(&["devices", "--cacert", wrong.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = support::text(&out);
    assert!(text.contains("TLS handshake with the API"), "{text}");
    assert!(text.contains("wrong-ca.pem"), "{text}");
    assert!(text.to_ascii_lowercase().contains("certificate"), "{text}");

    // An https URL and no CA at all: refused before connecting.
    let out = run(&["devices", "--server", &s.api, "--token", &s.token]);
    assert!(!out.status.success());
    let text = support::text(&out);
    assert!(text.contains("no CA certificate is known"), "{text}");
    assert!(text.contains("--cacert"), "{text}");
    // The same with --cacert: works.
    let ca = ca_file(&s);
    let out = run(&[
        "devices", "--server", &s.api, "--token", &s.token, "--cacert", &ca,
    ]);
    assert!(out.status.success(), "{}", support::text(&out));
}

#[test]
fn serve_refuses_plain_http_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    // 192.0.2.1 (TEST-NET-1) is never bound: the refusal comes before any socket.
    std::fs::write(
        dir.path().join("amtd.toml"),
        "[server]\napi_bind = \"192.0.2.1:9972\"\nhello_bind = \"127.0.0.1\"\n",
    )
    .unwrap();
    let out = support::amtd(dir.path(), &["serve", "--config", "amtd.toml"]);
    assert!(!out.status.success());
    let text = support::text(&out);
    assert!(
        text.contains("refusing to serve the API in plain HTTP"),
        "{text}"
    );
    assert!(text.contains("mode = \"embedded-ca\""), "{text}");
    assert!(text.contains("allow_plain_http = true"), "{text}");
    assert!(!dir.path().join("amtd-data/server.json").exists());
}

#[test]
fn lab_with_tls_announces_the_https_url_and_its_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, port) = support::random_octets();
    let ip = format!("127.{a}.{b}.200");
    let lab = support::spawn_env(
        dir.path(),
        &[
            "lab",
            "--tls",
            "--count",
            "1",
            "--data-dir",
            "lab-data",
            "--first-ip",
            &format!("127.{a}.{b}.1"),
            "--hello-bind",
            &format!("{ip}:{port}"),
            "--api-bind",
            &format!("{ip}:0"),
            "--dns-bind",
            &format!("{ip}:0"),
        ],
        &[],
        "lab.log",
    );
    let log = || std::fs::read_to_string(dir.path().join("lab.log")).unwrap_or_default();
    let devices = support::wait_for("the lab's API", Duration::from_secs(90), || {
        let out = support::amtd(dir.path(), &["devices", "--json", "--data-dir", "lab-data"]);
        out.status.success().then_some(out.stdout)
    });
    assert!(serde_json::from_slice::<Value>(&devices)
        .unwrap()
        .is_array());
    let text = log();
    assert!(text.contains(&format!("API on https://{ip}:")), "{text}");
    let ca = dir.path().join("lab-data/api-ca.pem");
    assert!(
        text.contains(&format!("CA file {}", ca.display())),
        "{text}"
    );
    let d: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("lab-data/server.json")).unwrap())
            .unwrap();
    let api = d["api"].as_str().unwrap();
    let (ok, out) = s_client(
        authority(api),
        d["ca_file"].as_str().unwrap(),
        &["-verify_ip", &ip],
    );
    assert!(ok, "{out}");
    drop(lab);
}

#[test]
fn files_mode_serves_the_operators_certificate_and_announces_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, port) = support::random_octets();
    let ip = format!("127.{a}.{b}.201");
    std::fs::create_dir_all(dir.path().join("amtd-data")).unwrap();
    let out = support::amtd(
        dir.path(),
        &[
            "ca",
            "init",
            "--store",
            "amtd-data/ca",
            "--kek",
            "amtd-data/ca.kek",
            "--create-kek",
        ],
    );
    assert!(out.status.success(), "{}", support::text(&out));
    // An operator's CA and a server certificate from it (ECDSA P-256).
    let openssl = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=operator CA"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-subj", "/CN=amtd operator cert"],
            &["-keyout", "api.key", "-out", "api.csr"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.path().join("ext.cnf"),
        format!(
            "subjectAltName=DNS:localhost,IP:{ip}\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "api.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "api.pem",
    ]);
    std::fs::write(
        dir.path().join("amtd.toml"),
        format!(
            "[server]\napi_bind = \"{ip}:0\"\nhello_bind = \"{ip}\"\nhello_port = {port}\n\
             [server.api_tls]\nmode = \"files\"\ncert_file = \"api.pem\"\nkey_file = \"api.key\"\n\
             ca_file = \"ca.pem\"\n"
        ),
    )
    .unwrap();
    let _serve = support::spawn_env(
        dir.path(),
        &["serve", "--config", "amtd.toml"],
        &[],
        "serve.log",
    );
    let devices = support::wait_for("amtd serve's API", Duration::from_secs(60), || {
        let out = support::amtd(dir.path(), &["devices", "--json"]);
        out.status.success().then_some(out.stdout)
    });
    assert!(serde_json::from_slice::<Value>(&devices)
        .unwrap()
        .is_array());
    let d: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("amtd-data/server.json")).unwrap())
            .unwrap();
    let api = d["api"].as_str().unwrap();
    assert!(api.starts_with(&format!("https://{ip}:")), "{api}");
    assert_eq!(
        Path::new(d["ca_file"].as_str().unwrap()),
        dir.path().join("ca.pem")
    );
    let (ok, out) = s_client(
        authority(api),
        d["ca_file"].as_str().unwrap(),
        &["-verify_ip", &ip],
    );
    assert!(ok, "{out}");
    assert!(out.contains("amtd operator cert"), "{out}");
}
