//! The API over TLS against plain HTTP (issue 8): authenticated `GET /api/v1/devices` per
//! second, each on a new connection (TCP, then for TLS a full handshake: ECDHE + the server's
//! RSA-2048 signature, chain verified against the lab CA's root), then over one kept-alive
//! connection, then TLS on new connections with session resumption (TLS 1.3 tickets).
//!
//! ```text
//! cargo bench -p amtd --bench api_tls
//! AMTD_BENCH_REQUESTS=2000 cargo bench -p amtd --bench api_tls
//! ```
//!
//! Two `amtd lab --count 1` processes serve the API, one plain (`http://`) and one with `--tls`
//! (embedded-CA certificate, the same listener that serves CRLs in plain HTTP); the bench is
//! the client, in this process, one request at a time (latency-bound, as the CLI is). Both
//! labs and the client share the machine's cores.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

struct Lab {
    child: Child,
    api: String,
    token: String,
    ca_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_lab(octet: u8, tls: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let ip = format!("127.83.{octet}.200");
    let mut args = vec![
        "lab".to_owned(),
        "--count".into(),
        "1".into(),
        "--data-dir".into(),
        "lab".into(),
        "--first-ip".into(),
        format!("127.83.{octet}.1"),
        "--hello-bind".into(),
        format!("{ip}:9971"),
        "--api-bind".into(),
        format!("{ip}:0"),
        "--dns-bind".into(),
        format!("{ip}:0"),
    ];
    if tls {
        args.push("--tls".into());
    }
    let child = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir.path())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start amtd lab");
    let json = dir.path().join("lab/server.json");
    let start = Instant::now();
    let d: serde_json::Value = loop {
        if let Ok(raw) = std::fs::read(&json) {
            if let Ok(v) = serde_json::from_slice(&raw) {
                break v;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the lab did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let token = std::fs::read_to_string(dir.path().join("lab/api-token"))
        .unwrap()
        .trim()
        .to_owned();
    Lab {
        child,
        api: d["api"].as_str().unwrap().to_owned(),
        token,
        ca_file: d["ca_file"].as_str().map(PathBuf::from),
        _dir: dir,
    }
}

fn client_config(ca: &Path, resumption: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    if !resumption {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(config)
}

/// Sends the request and reads one answer (Content-Length framed); panics unless 200.
fn exchange(s: &mut impl Read, w: &mut dyn FnMut(&[u8]), host: &str, token: &str, close: bool) {
    let req = format!(
        "GET /api/v1/devices HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Connection: {}\r\n\r\n",
        if close { "close" } else { "keep-alive" }
    );
    w(req.as_bytes());
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut length = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).unwrap();
}

fn per_second(n: usize, t: Duration) -> String {
    format!(
        "{:>8.0} req/s  {:>8.0} µs/req",
        n as f64 / t.as_secs_f64(),
        t.as_secs_f64() * 1e6 / n as f64
    )
}

fn main() {
    let n: usize = std::env::var("AMTD_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let plain = start_lab(1, false);
    let tls = start_lab(2, true);
    let plain_host = plain.api.strip_prefix("http://").unwrap().to_owned();
    let tls_host = tls.api.strip_prefix("https://").unwrap().to_owned();
    let ca = tls.ca_file.clone().expect("server.json names the CA file");
    let ip = tls_host.rsplit_once(':').unwrap().0.to_owned();
    let name = ServerName::try_from(ip).unwrap();

    // Warm-up: both servers answer, the database pages are cached.
    for _ in 0..20 {
        let mut s = TcpStream::connect(&plain_host).unwrap();
        let mut w = s.try_clone().unwrap();
        exchange(
            &mut s,
            &mut |b| w.write_all(b).unwrap(),
            &plain_host,
            &plain.token,
            true,
        );
    }

    println!("authenticated GET /api/v1/devices, {n} requests, one at a time");
    let t = Instant::now();
    for _ in 0..n {
        let mut s = TcpStream::connect(&plain_host).unwrap();
        let mut w = s.try_clone().unwrap();
        exchange(
            &mut s,
            &mut |b| w.write_all(b).unwrap(),
            &plain_host,
            &plain.token,
            true,
        );
    }
    let plain_new = t.elapsed();
    println!(
        "plain HTTP, new connection each:      {}",
        per_second(n, plain_new)
    );

    let full = client_config(&ca, false);
    let tls_request = |config: &Arc<rustls::ClientConfig>| {
        let tcp = TcpStream::connect(&tls_host).unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), name.clone()).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let req = format!(
            "GET /api/v1/devices HTTP/1.1\r\nHost: {tls_host}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            tls.token
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        assert!(
            raw.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&raw)
        );
    };
    for _ in 0..20 {
        tls_request(&full);
    }
    let t = Instant::now();
    for _ in 0..n {
        tls_request(&full);
    }
    let tls_new = t.elapsed();
    println!(
        "TLS, full handshake each:             {}",
        per_second(n, tls_new)
    );

    let resumed = client_config(&ca, true);
    tls_request(&resumed);
    let t = Instant::now();
    for _ in 0..n {
        tls_request(&resumed);
    }
    let tls_resumed = t.elapsed();
    println!(
        "TLS, resumed session each:            {}",
        per_second(n, tls_resumed)
    );

    let t = Instant::now();
    {
        let mut s = TcpStream::connect(&plain_host).unwrap();
        let mut w = s.try_clone().unwrap();
        for _ in 0..n {
            exchange(
                &mut s,
                &mut |b| w.write_all(b).unwrap(),
                &plain_host,
                &plain.token,
                false,
            );
        }
    }
    let plain_keep = t.elapsed();
    println!(
        "plain HTTP, one kept-alive connection: {}",
        per_second(n, plain_keep)
    );

    let t = Instant::now();
    {
        let tcp = TcpStream::connect(&tls_host).unwrap();
        let conn = rustls::ClientConnection::new(full.clone(), name.clone()).unwrap();
        let s = std::cell::RefCell::new(rustls::StreamOwned::new(conn, tcp));
        for _ in 0..n {
            let req = format!(
                "GET /api/v1/devices HTTP/1.1\r\nHost: {tls_host}\r\nAuthorization: Bearer {}\r\n\
                 Connection: keep-alive\r\n\r\n",
                tls.token
            );
            s.borrow_mut().write_all(req.as_bytes()).unwrap();
            let mut reader = ReadRef(&s);
            exchange(&mut reader, &mut |_| {}, &tls_host, &tls.token, false);
        }
    }
    let tls_keep = t.elapsed();
    println!(
        "TLS, one kept-alive connection:       {}",
        per_second(n, tls_keep)
    );
    println!(
        "ratios: new connection TLS/plain {:.2}x (resumed {:.2}x), kept-alive {:.2}x",
        tls_new.as_secs_f64() / plain_new.as_secs_f64(),
        tls_resumed.as_secs_f64() / plain_new.as_secs_f64(),
        tls_keep.as_secs_f64() / plain_keep.as_secs_f64()
    );
}

/// Reads through a shared TLS stream (the request was written already).
struct ReadRef<'a>(
    &'a std::cell::RefCell<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
);

impl Read for ReadRef<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}
