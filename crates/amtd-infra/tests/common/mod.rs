//! A minimal AMT-like WS-Man server for the transport tests, on 127.0.0.1 only.
//!
//! It accepts plain or TLS connections, parses `POST /wsman` requests, checks HTTP Digest with
//! `amt_wsman::digest::DigestVerifier` the way AMT does (401 + challenge, `stale=true` when only
//! the nonce was wrong), records every request, and then does whatever the test's handler says:
//! answer, answer with raw bytes, close, or hang.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod pki;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amt_wsman::digest::{ha1, DigestVerifier, VerifierConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub const REALM: &str = "Digest:0123456789ABCDEF0123456789ABCDEF";
pub const USER: &str = "admin";
pub const PASSWORD: &str = "P@ssw0rd-1";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// 1-based request number across all connections.
    pub number: usize,
    /// 1-based connection number.
    pub connection: usize,
    pub method: String,
    pub path: String,
    pub host: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub transfer_encoding: Option<String>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The `nc` parameter of the Authorization header.
    pub fn nc(&self) -> Option<String> {
        let header = self.authorization.as_deref()?;
        amt_wsman::digest::Authorization::parse(header).ok()?.nc
    }
}

/// What the server does with an (authenticated) request.
pub enum Action {
    /// `HTTP/1.1 <status>` with a Content-Length body. `close`: send `Connection: close` and
    /// close afterwards.
    Reply {
        status: u16,
        body: Vec<u8>,
        close: bool,
    },
    /// Write these bytes as they are; then close if `close`.
    Raw { bytes: Vec<u8>, close: bool },
    /// Close the connection without answering.
    Close,
    /// Never answer (until the test ends).
    Hang,
}

impl Action {
    pub fn ok(body: impl Into<Vec<u8>>) -> Action {
        Action::Reply {
            status: 200,
            body: body.into(),
            close: false,
        }
    }
}

type Handler = Box<dyn Fn(&Seen) -> Action + Send + Sync>;

pub struct Options {
    /// Digest credentials the server accepts; `None` turns authentication off.
    pub auth: Option<(String, String)>,
    /// Answer every response (401s too) with `Connection: close` and close.
    pub close_after_each: bool,
    /// TLS server configuration; `None` for plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Nonce lifetime of the verifier.
    pub nonce_lifetime_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auth: Some((USER.to_owned(), PASSWORD.to_owned())),
            close_after_each: false,
            tls: None,
            nonce_lifetime_secs: 300,
        }
    }
}

struct Shared {
    options: Options,
    handler: Handler,
    verifier: Mutex<DigestVerifier>,
    start: Instant,
    requests: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
    tls_failures: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Request numbers before which all nonces are forgotten (a device reboot).
    forget_nonces_before: Mutex<HashSet<usize>>,
}

pub struct Server {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

impl Server {
    pub async fn start(
        options: Options,
        handler: impl Fn(&Seen) -> Action + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let verifier = DigestVerifier::new(
            REALM.to_owned(),
            VerifierConfig {
                nonce_lifetime_secs: options.nonce_lifetime_secs,
                ..VerifierConfig::default()
            },
        );
        let shared = Arc::new(Shared {
            options,
            handler: Box::new(handler),
            verifier: Mutex::new(verifier),
            start: Instant::now(),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            tls_failures: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            forget_nonces_before: Mutex::new(HashSet::new()),
        });
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let shared = accept_shared.clone();
                let number = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                connections.spawn(async move {
                    match shared.options.tls.clone() {
                        None => serve(tcp, shared, number).await,
                        Some(config) => {
                            match tokio_rustls::TlsAcceptor::from(config).accept(tcp).await {
                                Ok(tls) => serve(tls, shared, number).await,
                                Err(_) => {
                                    shared.tls_failures.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        }
                    }
                });
            }
        });
        Server { addr, shared, task }
    }

    /// A plain server with the default options that echoes the body in a 200.
    pub async fn echo() -> Server {
        Server::start(Options::default(), |seen| Action::ok(echo_body(&seen.body))).await
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn tls_failures(&self) -> usize {
        self.shared.tls_failures.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Forget every nonce just before request `number` is checked, as a rebooted device would.
    pub fn forget_nonces_before_request(&self, number: usize) {
        self.shared
            .forget_nonces_before
            .lock()
            .unwrap()
            .insert(number);
    }
}

pub fn echo_body(body: &[u8]) -> Vec<u8> {
    let mut out = b"echo:".to_vec();
    out.extend_from_slice(body);
    out
}

/// Reads one request (head + Content-Length body). `None` at EOF or on garbage.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Option<(Seen, usize)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = request.parse(buf) {
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let length: usize = header("content-length")?.parse().ok()?;
            let seen = Seen {
                number: 0,
                connection: 0,
                method: request.method?.to_owned(),
                path: request.path?.to_owned(),
                host: header("host"),
                content_type: header("content-type"),
                authorization: header("authorization"),
                transfer_encoding: header("transfer-encoding"),
                body: Vec::new(),
            };
            while buf.len() < head_len + length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut seen = seen;
            seen.body = buf[head_len..head_len + length].to_vec();
            buf.drain(..head_len + length);
            return Some((seen, length));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn reply_bytes(status: u16, extra_headers: &str, body: &[u8], close: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let connection = if close { "Connection: close\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra_headers}{connection}Content-Type: application/soap+xml; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    shared: Arc<Shared>,
    connection: usize,
) {
    let mut buf = Vec::new();
    loop {
        let Some((mut seen, _)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let now_in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared
            .max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        seen.connection = connection;
        {
            let mut requests = shared.requests.lock().unwrap();
            seen.number = requests.len() + 1;
            requests.push(seen.clone());
        }

        let action = match authenticate(&shared, &seen) {
            Some(challenge) => Action::Raw {
                bytes: reply_bytes(
                    401,
                    &format!("WWW-Authenticate: {challenge}\r\n"),
                    b"<html><body>Unauthorized</body></html>",
                    shared.options.close_after_each,
                ),
                close: shared.options.close_after_each,
            },
            None => {
                // Simulate a little work so that concurrent clients would overlap.
                tokio::time::sleep(Duration::from_millis(2)).await;
                (shared.handler)(&seen)
            }
        };
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);

        let close = match action {
            Action::Reply {
                status,
                body,
                close,
            } => {
                let close = close || shared.options.close_after_each;
                if stream
                    .write_all(&reply_bytes(status, "", &body, close))
                    .await
                    .is_err()
                {
                    return;
                }
                close
            }
            Action::Raw { bytes, close } => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                close
            }
            Action::Close => true,
            Action::Hang => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                true
            }
        };
        let _ = stream.flush().await;
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// `None` when the request may pass, else the challenge for a 401.
fn authenticate(shared: &Shared, seen: &Seen) -> Option<String> {
    let (user, password) = shared.options.auth.as_ref()?;
    let now = shared.start.elapsed().as_secs();
    let mut verifier = shared.verifier.lock().unwrap();
    if shared
        .forget_nonces_before
        .lock()
        .unwrap()
        .remove(&seen.number)
    {
        *verifier = DigestVerifier::new(REALM.to_owned(), VerifierConfig::default());
    }
    let stale = match seen.authorization.as_deref() {
        None => false,
        Some(header) => {
            let expected = ha1(user, REALM, password);
            match verifier.verify_for_uri(header, &seen.method, "/wsman", now, |name| {
                (name == user).then_some(expected)
            }) {
                Ok(_) => return None,
                Err(rejection) => rejection.is_stale_nonce(),
            }
        }
    };
    Some(verifier.challenge(now, rand::random(), stale))
}
