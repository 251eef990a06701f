//! Shared by the `amtd` binary's end-to-end tests: run the `amtd` binary, start
//! `amtd serve` on a fresh CA with a provisioning certificate, start one emulated device, and
//! talk to the REST API with raw HTTP (a token or a login session). Everything binds to a random 127.x.y.0/24 on loopback.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
pub mod netns;

/// The UUID `amtd sim` gives its first device.
pub const FIRST_UUID: &str = "8086e000-0000-4000-8000-000000000001";

/// Two random octets and a port, so parallel tests do not meet on loopback.
pub fn random_octets() -> (u8, u8, u16) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761);
    (
        100 + (n % 100) as u8,
        1 + ((n >> 8) % 250) as u8,
        20_000 + ((n >> 3) % 30_000) as u16,
    )
}

/// Kills a background process when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `amtd args…` in `dir` with extra environment variables.
pub fn amtd_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run amtd")
}

/// Runs `amtd args…` in `dir`.
pub fn amtd(dir: &Path, args: &[&str]) -> Output {
    amtd_env(dir, args, &[])
}

/// stdout and stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts `amtd args…` in the background; its output goes to `log` in `dir`.
pub fn spawn_env(dir: &Path, args: &[&str], env: &[(&str, &str)], log: &str) -> Running {
    let out = std::fs::File::create(dir.join(log)).unwrap();
    let err = out.try_clone().unwrap();
    Running(
        Command::new(env!("CARGO_BIN_EXE_amtd"))
            .current_dir(dir)
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start amtd"),
    )
}

/// Polls `f` every 200 ms until it gives a value; panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A raw HTTP request, with a bearer token when given: (status, body).
pub fn request(
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let host = api.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A server may answer (413) before reading a large body; a failed write is fine then.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

/// A raw HTTP/1.1 request with extra headers (a session cookie, a CSRF token): (status, head,
/// JSON body or Null).
pub fn http(
    api: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, serde_json::Value) {
    let host = api.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer to {method} {path}"));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_slice(&raw[end + 4..]).unwrap_or(serde_json::Value::Null);
    (status, head, body)
}

/// `POST /api/v1/login`: (status, session cookie, CSRF token); empty strings when refused.
pub fn login(api: &str, user: &str, password: &str) -> (u16, String, String) {
    let body = serde_json::json!({ "user": user, "password": password }).to_string();
    let (status, head, v) = http(api, "POST", "/api/v1/login", &[], &body);
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        cookie,
        v["csrf_token"].as_str().unwrap_or("").to_owned(),
    )
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// The certificates in PEM text, each as its own PEM block, in order.
pub fn pem_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    text.split(BEGIN)
        .skip(1)
        .map(|rest| format!("{BEGIN}{}{END}\n", rest.split(END).next().unwrap()))
        .collect()
}

/// SHA-256 of the last certificate in a PEM file (the root in `amtd ca trust-pem`'s order).
pub fn root_hash_hex(pem: &str) -> String {
    use base64::Engine as _;
    let last = pem
        .split("-----BEGIN CERTIFICATE-----")
        .filter(|b| b.contains("-----END CERTIFICATE-----"))
        .last()
        .unwrap();
    let b64: String = last
        .split("-----END CERTIFICATE-----")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    amt_pki::CertHash::of_der(amt_pki::HashAlgorithm::Sha256, &der).to_hex()
}

/// A running `amtd serve` on a fresh embedded CA.
pub struct Serve {
    /// The test's directory (holds amtd.toml, amtd-data, …).
    pub dir: PathBuf,
    /// The address the server's listeners bind to.
    pub server_ip: String,
    /// The hello port.
    pub hello_port: u16,
    /// The CA root's SHA-256 (what emulated devices must trust).
    pub root_hash: String,
    /// The API base URL.
    pub api: String,
    /// The API token.
    pub token: String,
    /// The server process.
    pub process: Running,
}

const PFX_PASSWORD: &str = "pfx-test-password";

impl Serve {
    /// Creates the CA and a provisioning certificate in `dir`, writes `amtd.toml` (listeners on
    /// a random loopback address, the device named by the operator mapping, then `extra`
    /// config text) and starts `amtd serve` with `env`.
    pub fn start(dir: &Path, extra: &str, env: &[(&str, &str)]) -> Serve {
        let (a, b, port) = random_octets();
        let server_ip = format!("127.{a}.{b}.200");
        let ca = |args: &[&str]| {
            let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
            all.extend_from_slice(args);
            let out = amtd_env(dir, &all, &[("AMTD_PFX_PASSWORD", PFX_PASSWORD)]);
            assert!(out.status.success(), "{}", text(&out));
        };
        std::fs::create_dir_all(dir.join("amtd-data")).unwrap();
        ca(&["init", "--create-kek"]);
        ca(&[
            "issue-provisioning",
            "--fqdn",
            "provisioning.amt.test",
            "--out",
            "prov.pfx",
        ]);
        ca(&["trust-pem", "--out", "trust.pem"]);
        let root_hash = root_hash_hex(&std::fs::read_to_string(dir.join("trust.pem")).unwrap());
        std::fs::write(
            dir.join("amtd.toml"),
            format!(
                "[server]\napi_bind = \"{server_ip}:0\"\nhello_bind = \"{server_ip}\"\n\
                 hello_port = {port}\n\
                 [[provisioning_certificate]]\nname = \"test\"\npkcs12 = \"prov.pfx\"\n\
                 pkcs12_password_env = \"AMTD_TEST_PFX_PASSWORD\"\n\
                 [fqdn]\nstrategies = [\"operator-mapping\"]\n\
                 [fqdn.mapping]\n\"{FIRST_UUID}\" = \"amtdev00001.amt.test\"\n{extra}"
            ),
        )
        .unwrap();
        let mut all_env = vec![("AMTD_TEST_PFX_PASSWORD", PFX_PASSWORD)];
        all_env.extend_from_slice(env);
        let process = spawn_env(
            dir,
            &["serve", "--config", "amtd.toml"],
            &all_env,
            "serve.log",
        );
        let data = dir.join("amtd-data");
        let mut process = Some(process);
        let api = wait_for("amtd serve's API", Duration::from_secs(60), || {
            if let Some(p) = process.as_mut() {
                if let Ok(Some(status)) = p.0.try_wait() {
                    panic!(
                        "amtd serve exited ({status}):\n{}",
                        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
                    );
                }
            }
            let out = amtd(dir, &["devices", "--json"]);
            out.status.success().then(|| {
                let d: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(data.join("server.json")).unwrap())
                        .unwrap();
                d["api"].as_str().unwrap().to_owned()
            })
        });
        let token = std::fs::read_to_string(data.join("api-token"))
            .unwrap()
            .trim()
            .to_owned();
        Serve {
            dir: dir.to_owned(),
            server_ip,
            hello_port: port,
            root_hash,
            api,
            token,
            process: process.take().unwrap(),
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    /// An authenticated API request: (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, raw) = request(&self.api, method, path, Some(&self.token), body.as_bytes());
        (
            status,
            serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Starts one emulated device (UUID [`FIRST_UUID`]) on `127.a.b.101` that trusts the CA's
    /// root and sends its hello to this server. Returns it and its address.
    pub fn start_device(&self) -> (Running, String) {
        let prefix = self.server_ip.rsplit_once('.').unwrap().0;
        let ip = format!("{prefix}.101");
        std::fs::write(
            self.dir.join("fleet.toml"),
            format!("[defaults]\nextra_root_hashes = [\"{}\"]\n", self.root_hash),
        )
        .unwrap();
        let port = self.hello_port.to_string();
        let sim = spawn_env(
            &self.dir,
            &[
                "sim",
                "--count",
                "1",
                "--first-ip",
                &ip,
                "--fleet",
                "fleet.toml",
                "--provisioning-server",
                &self.server_ip,
                "--hello-port",
                &port,
                "--state-dir",
                "sim-state",
            ],
            &[],
            "sim.log",
        );
        (sim, ip)
    }

    /// Waits until the device has a finished run; returns `amtd device --json`.
    pub fn wait_device_done(&self, uuid: &str) -> serde_json::Value {
        wait_for("the device's run to end", Duration::from_secs(180), || {
            let out = amtd(&self.dir, &["device", uuid, "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (v["state"] == "provisioned" || v["state"] == "failed").then_some(v)
        })
    }
}
