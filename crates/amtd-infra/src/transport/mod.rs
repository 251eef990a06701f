//! The async WS-Management transport: carries SOAP envelopes to an AMT device and back.
//!
//! One [`WsmanConnection`] talks to one device as one user: `POST /wsman` over HTTP/1.1 on
//! 16992 (plain) or 16993 (TLS), HTTP Digest authentication (answered with
//! [`amt_wsman::digest::DigestClient`], preemptively once a nonce is known), keep-alive with
//! transparent reconnects, one request in flight at a time. Envelopes are opaque bytes here;
//! building and parsing them is `amt-wsman`'s job.
//!
//! The HTTP framing is sans-IO (the private `http` module: request bytes out, response bytes
//! in, size limits enforced while decoding); the async part only moves bytes, applies
//! timeouts and follows the Digest client's retry decisions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), amtd_infra::transport::TransportError> {
//! use amtd_infra::transport::{DeviceEndpoint, TransportConfig, WsmanConnection};
//! let endpoint = DeviceEndpoint::http("192.0.2.10");
//! let conn = WsmanConnection::new(endpoint, "admin", "P@ssw0rd".into(), TransportConfig::default())?;
//! let response = conn.post(b"<Envelope/>").await?;
//! println!("HTTP {}: {} bytes", response.status, response.body.len());
//! # Ok(()) }
//! ```

mod connection;
mod error;
mod http;
mod tls;

use std::fmt;
use std::time::Duration;

pub use connection::WsmanConnection;
pub use error::{Blame, Malformed, TransportError};
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer};
/// The rustls client configuration and server name for [`TlsOptions`] (also used by the
/// redirection client on 16995).
pub(crate) use tls::client_config as tls_client_config;
pub use tls::{CertFingerprint, ClientIdentity, ServerVerification, TlsOptions};

/// Where a device's WS-Man service listens.
#[derive(Debug, Clone)]
pub struct DeviceEndpoint {
    /// DNS name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port: [`DeviceEndpoint::HTTP_PORT`] or [`DeviceEndpoint::HTTPS_PORT`] on real devices.
    pub port: u16,
    /// Plain HTTP or TLS.
    pub scheme: Scheme,
}

/// Plain HTTP or HTTPS with its TLS options.
#[derive(Debug, Clone)]
pub enum Scheme {
    /// Plain HTTP (AMT port 16992). Digest protects the password, not the content.
    Http,
    /// HTTP over TLS (AMT port 16993).
    Https(TlsOptions),
}

impl DeviceEndpoint {
    /// AMT's plain WS-Man port.
    pub const HTTP_PORT: u16 = 16992;
    /// AMT's TLS WS-Man port.
    pub const HTTPS_PORT: u16 = 16993;

    /// Plain HTTP on 16992.
    pub fn http(host: impl Into<String>) -> Self {
        DeviceEndpoint {
            host: host.into(),
            port: Self::HTTP_PORT,
            scheme: Scheme::Http,
        }
    }

    /// HTTPS on 16993.
    pub fn https(host: impl Into<String>, tls: TlsOptions) -> Self {
        DeviceEndpoint {
            host: host.into(),
            port: Self::HTTPS_PORT,
            scheme: Scheme::Https(tls),
        }
    }

    /// The same endpoint on another port (tests, emulators, port forwards).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

impl fmt::Display for DeviceEndpoint {
    /// `http://host:port` or `https://host:port` (IPv6 in brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https(_) => "https",
        };
        write!(f, "{scheme}://{}", http::host_header(&self.host, self.port))
    }
}

/// Timeouts and limits of a [`WsmanConnection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportConfig {
    /// Longest time to open a connection: name resolution, TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// Longest time for one HTTP exchange: writing the request and reading the whole response
    /// (an authentication retry is a second exchange with its own timeout). AMT can take more
    /// than 30 s for a TLS `Put` or `CommitChanges`; pass a longer timeout to
    /// [`WsmanConnection::post_with_timeout`] for those.
    pub request_timeout: Duration,
    /// Largest response body accepted, in bytes (after removing chunked framing). Larger
    /// responses fail with [`TransportError::ResponseTooLarge`]; nothing beyond the limit is
    /// buffered. Response heads are limited to 64 KiB separately.
    pub max_response_bytes: usize,
    /// An idle keep-alive connection older than this is closed instead of reused, so we do not
    /// race the device closing it. MeshCentral uses 6 s against AMT.
    pub idle_timeout: Duration,
}

impl Default for TransportConfig {
    /// 10 s to connect, 60 s per exchange, 4 MiB responses, 5 s idle.
    fn default() -> Self {
        TransportConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 4 * 1024 * 1024,
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// A device's HTTP answer to a WS-Man request.
///
/// Any status the device sends after authentication succeeded comes back here, not as an
/// error: `200` with the response envelope, and `400`/`500` with a SOAP fault envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body (a SOAP envelope, usually), chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
