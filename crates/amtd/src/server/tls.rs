//! TLS on the API listener (`[server.api_tls]`, `amtd lab --tls`): one port, both protocols.
//!
//! Each accepted connection is told apart by its first byte: `0x16` (a TLS handshake record)
//! goes through the rustls acceptor to the whole router, with `Strict-Transport-Security` on
//! every answer; anything else is plain HTTP, which only serves the CRL distribution point
//! (`GET|HEAD /crl/{file}`: devices and consoles fetch CRLs over HTTP, at the
//! `http://<api_bind>/crl/…` URLs written into certificates). Any other plain request is
//! answered `308` to the same path on `https://` (GET and HEAD) or `400` with a JSON error
//! (other methods: a body sent in the clear is not replayed elsewhere).
//!
//! A client that connects and sends nothing, or stalls in the handshake, is dropped after
//! [`HANDSHAKE_TIMEOUT`]; every connection runs in its own task, so it never holds up others.
//! Connections are served by hyper (HTTP/1.1, upgrades allowed for WebSockets) with the
//! client's address in the request extensions as axum's `ConnectInfo<SocketAddr>`, like
//! `axum::serve` does.
//!
//! The certificate comes from the embedded CA ([`ApiTls::embedded`]: `PkiStore`'s API server
//! identity, sealed in the CA store and re-issued when fewer than [`RENEW_BEFORE`] are left or
//! the names change) or from PEM files ([`ApiTls::from_files`]).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use amtd_infra::pki_store::PkiStore;
use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::headers;

/// Longest wait for a client's first byte and for its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a request's header once a connection is open.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The embedded CA's listener certificate is re-issued at start when it expires within this.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

/// The CA certificate(s) for clients, in the data directory (embedded-ca mode).
pub const CA_FILE: &str = "api-ca.pem";

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The listener's TLS configuration and the CA file announced to the CLI.
pub struct ApiTls {
    acceptor: TlsAcceptor,
    /// The PEM file of the CA certificate(s) that verify the listener (for server.json).
    pub ca_file: Option<PathBuf>,
    /// What the certificate is valid for, for the start-up line.
    pub names: Vec<String>,
}

impl std::fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTls")
            .field("ca_file", &self.ca_file)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// The DNS names and addresses a listener bound to `bind` is reached at: `extra` (the first is
/// the common name), `localhost`, and the bind address (both loopback addresses when it is the
/// unspecified address).
pub fn subject_names(bind: IpAddr, extra: &[String]) -> (Vec<String>, Vec<IpAddr>) {
    let mut names: Vec<String> = Vec::new();
    for n in extra.iter().map(String::as_str).chain(["localhost"]) {
        let n = n.to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let ips = if bind.is_unspecified() {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        vec![bind]
    };
    (names, ips)
}

/// The API's base URL for clients of a listener bound to `addr` (the unspecified address is
/// reached at loopback).
pub fn api_url(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the API certificate and key do not make a usable TLS identity")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl ApiTls {
    /// A certificate from the embedded CA for a listener bound to `bind` (see
    /// [`subject_names`]), kept sealed in the CA store; the CA's root is written to
    /// `<data_dir>/api-ca.pem` for clients.
    pub fn embedded(
        pki: &mut PkiStore,
        data_dir: &Path,
        extra_names: &[String],
        bind: IpAddr,
    ) -> Result<Self> {
        let (names, ips) = subject_names(bind, extra_names);
        let (id, change) = pki
            .api_server_identity(&names, &ips, SystemTime::now(), RENEW_BEFORE)
            .context("issuing the API listener's certificate from the embedded CA")?;
        tracing::info!(?change, serial = %id.cert().serial().to_hex(), "API TLS certificate");
        let chain = id
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect();
        let key_der = id.key().to_pkcs8_der()?;
        let key = PrivateKeyDer::Pkcs8(key_der.as_slice().to_vec().into());
        let ca_file = data_dir.join(CA_FILE);
        let root = pki.ca().root().cert().to_pem();
        let tmp = data_dir.join(format!("{CA_FILE}.tmp"));
        std::fs::write(&tmp, root).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &ca_file)
            .with_context(|| format!("writing {}", ca_file.display()))?;
        let mut shown = names;
        shown.extend(ips.iter().map(IpAddr::to_string));
        Ok(ApiTls {
            acceptor: acceptor(chain, key)?,
            ca_file: Some(std::path::absolute(ca_file)?),
            names: shown,
        })
    }

    /// A certificate chain (leaf first) and key from PEM files; `ca_file` is only announced.
    pub fn from_files(cert_file: &Path, key_file: &Path, ca_file: Option<&Path>) -> Result<Self> {
        let chain = CertificateDer::pem_file_iter(cert_file)
            .with_context(|| format!("reading the API certificate {}", cert_file.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing the API certificate {}", cert_file.display()))?;
        if chain.is_empty() {
            bail!("{} holds no PEM certificate", cert_file.display());
        }
        let key = PrivateKeyDer::from_pem_file(key_file)
            .with_context(|| format!("reading the API key {}", key_file.display()))?;
        let names = amt_pki::Cert::from_der(&chain[0])
            .map(|c| {
                let mut n = c.dns_names();
                n.extend(c.ip_addresses().iter().map(IpAddr::to_string));
                n
            })
            .unwrap_or_default();
        if let Some(ca) = ca_file {
            let n = CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading the API CA file {}", ca.display()))?
                .count();
            if n == 0 {
                bail!("{} holds no PEM certificate", ca.display());
            }
        }
        Ok(ApiTls {
            acceptor: acceptor(chain, key)?,
            ca_file: ca_file.map(std::path::absolute).transpose()?,
            names,
        })
    }
}

/// Serves `router` on `listener`, TLS and plain HTTP on the same port (see the module doc),
/// until the task is dropped.
pub async fn serve(listener: TcpListener, router: Router, tls: ApiTls) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let tls = Arc::new(tls);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "API listener: accept failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, peer, local, tls.clone(), router.clone()));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    tls: Arc<ApiTls>,
    router: Router,
) {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) | Ok(Err(_)) => return,
        Err(_) => {
            tracing::debug!(%peer, "API: no byte within the handshake timeout, dropped");
            return;
        }
    }
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    if first[0] == TLS_HANDSHAKE {
        let stream =
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "API: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "API: TLS handshake timed out");
                    return;
                }
            };
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            async move {
                let mut res = call(router, req, peer).await;
                headers::add_hsts(res.headers_mut());
                Ok::<_, Infallible>(res)
            }
        });
        let _ = http
            .serve_connection(TokioIo::new(stream), svc)
            .with_upgrades()
            .await;
    } else {
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            async move {
                Ok::<_, Infallible>(match plain_refusal(&req, local) {
                    Some(res) => res,
                    None => call(router, req, peer).await,
                })
            }
        });
        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
    }
}

/// One request through the router, with the client's address where axum's `ConnectInfo`
/// extractor looks for it.
async fn call(router: Router, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(ConnectInfo(peer));
    match router.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// A plain-HTTP request the listener does not serve: `None` for the CRL distribution point,
/// else the 308 to https (GET, HEAD) or the 400.
fn plain_refusal(req: &Request<Incoming>, local: SocketAddr) -> Option<Response<Body>> {
    let path = req.uri().path();
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    if read && path.starts_with("/crl/") {
        return None;
    }
    let mut res = if read {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| is_host(h))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                api_url(local, true)
                    .trim_start_matches("https://")
                    .to_owned()
            });
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let location = format!("https://{host}{target}");
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::PERMANENT_REDIRECT;
        match HeaderValue::from_str(&location) {
            Ok(v) => {
                res.headers_mut().insert(header::LOCATION, v);
                res
            }
            Err(_) => refusal(),
        }
    } else {
        refusal()
    };
    headers::apply_to(res.headers_mut(), path);
    Some(res)
}

fn refusal() -> Response<Body> {
    let body = serde_json::json!({
        "error": "this API requires https: send the request to https:// on the same port \
                  (plain HTTP serves only the CRLs under /crl/)"
    });
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Whether a Host header is a plain `host[:port]` (DNS name, IPv4 or bracketed IPv6), safe to
/// put in a Location.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 262
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_binds_are_named_by_their_loopback_addresses() {
        let (names, ips) = subject_names(
            "0.0.0.0"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            &["amtd.example.test".into(), "LOCALHOST".into()],
        );
        assert_eq!(names, ["amtd.example.test", "localhost"]);
        assert_eq!(ips.len(), 2);
        assert_eq!(
            api_url(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9972),
                true
            ),
            "https://127.0.0.1:9972"
        );
    }

    #[test]
    fn hosts_with_odd_bytes_are_not_put_in_a_location() {
        assert!(is_host("amtd.example.test:9972"));
        assert!(is_host("[::1]:9972"));
        assert!(!is_host("evil.test/\r\nSet-Cookie: x"));
        assert!(!is_host("a b"));
        assert!(!is_host(""));
    }
}
