//! [`WsmanConnection`]: the thin async shell around the sans-IO HTTP code and Digest client.

use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use amt_wsman::digest::{DigestClient, RetryDecision};
use amt_wsman::secret::SecretString;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tracing::{debug, warn, Instrument};

use super::error::{Malformed, TransportError};
use super::http::{
    encode_request, host_header, is_safe_header_value, DecodeError, DecodedResponse, Eof,
    ResponseDecoder, WSMAN_PATH,
};
use super::{tls, DeviceEndpoint, Response, Scheme, TransportConfig};

/// Bytes asked from the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// Most requests sent for one call: bare, with credentials, once more after a stale nonce.
/// The Digest client enforces the same bound; this is a backstop.
const MAX_SENDS: u32 = 3;

/// A WS-Man session with one device as one user.
///
/// Opens its TCP/TLS connection lazily on the first [`post`](Self::post), keeps it alive
/// between requests and reopens it transparently when the device closed it (`Connection:
/// close`, idle close, a response delimited by closing). Requests are serialized: concurrent
/// callers wait their turn, because AMT handles one request per connection at a time.
///
/// Dropping a `post` future midway closes the connection (its state would be unknown); the
/// next call reconnects.
pub struct WsmanConnection {
    endpoint: DeviceEndpoint,
    peer: String,
    host_header: String,
    config: TransportConfig,
    tls: Option<TlsSetup>,
    state: Mutex<State>,
}

struct TlsSetup {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

struct State {
    digest: DigestClient,
    idle: Option<IdleConnection>,
}

struct IdleConnection {
    stream: Stream,
    since: Instant,
}

impl WsmanConnection {
    /// Prepares a session with `endpoint` as `username`. Checks the endpoint and builds the
    /// TLS configuration; opens no connection yet.
    ///
    /// # Errors
    /// [`TransportError::InvalidEndpoint`] for an unusable host or port 0,
    /// [`TransportError::TlsConfig`] when the TLS options cannot be turned into a client
    /// configuration (for example a client key rustls cannot use).
    pub fn new(
        endpoint: DeviceEndpoint,
        username: impl Into<String>,
        password: SecretString,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        let mut endpoint = endpoint;
        endpoint.host = validate_host(&endpoint.host)?;
        if endpoint.port == 0 {
            return Err(TransportError::InvalidEndpoint {
                host: endpoint.host,
                reason: "port 0",
            });
        }
        let tls = match &endpoint.scheme {
            Scheme::Http => None,
            Scheme::Https(options) => {
                let (config, server_name) = tls::client_config(options, &endpoint.host)?;
                Some(TlsSetup {
                    connector: TlsConnector::from(config),
                    server_name,
                })
            }
        };
        Ok(WsmanConnection {
            peer: endpoint.to_string(),
            host_header: host_header(&endpoint.host, endpoint.port),
            endpoint,
            config,
            tls,
            state: Mutex::new(State {
                digest: DigestClient::new(username, password),
                idle: None,
            }),
        })
    }

    /// The device endpoint.
    pub fn endpoint(&self) -> &DeviceEndpoint {
        &self.endpoint
    }

    /// The timeouts and limits in use.
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// Sends one WS-Man envelope and returns the device's response, with the configured
    /// request timeout. See [`post_with_timeout`](Self::post_with_timeout).
    ///
    /// # Errors
    /// See [`post_with_timeout`](Self::post_with_timeout).
    pub async fn post(&self, body: &[u8]) -> Result<Response, TransportError> {
        self.post_with_timeout(body, self.config.request_timeout)
            .await
    }

    /// Sends one WS-Man envelope (`POST /wsman`) and returns the device's response, allowing
    /// `request_timeout` for each HTTP exchange (use a long one for TLS `Put` and
    /// `CommitChanges`, which AMT can take more than 30 s to answer).
    ///
    /// Authentication is handled here: the first request goes out bare, a `401` challenge is
    /// answered once, later requests carry credentials up front, and a `stale` nonce costs one
    /// more round trip. Every non-`401` status, including SOAP faults with `400`/`500`, is
    /// returned as a [`Response`].
    ///
    /// # Errors
    /// A [`TransportError`]; check [`TransportError::request_may_have_been_processed`] before
    /// resending a non-idempotent request.
    pub async fn post_with_timeout(
        &self,
        body: &[u8],
        request_timeout: Duration,
    ) -> Result<Response, TransportError> {
        let span =
            tracing::debug_span!("wsman_post", peer = %self.peer, request_bytes = body.len());
        self.post_inner(body, request_timeout)
            .instrument(span)
            .await
    }

    /// Replaces the password used from the next request on (after the console changed it on
    /// the device). The current nonce is kept.
    pub async fn set_password(&self, password: SecretString) {
        self.state.lock().await.digest.set_password(password);
    }

    /// Closes the idle connection, if any, politely (TLS `close_notify`, TCP FIN). Waits at
    /// most the connect timeout. The next request reconnects.
    pub async fn close(&self) {
        let idle = self.state.lock().await.idle.take();
        if let Some(mut idle) = idle {
            let shutdown = idle.stream.shutdown();
            if tokio::time::timeout(self.config.connect_timeout, shutdown)
                .await
                .is_err()
            {
                debug!(peer = %self.peer, "shutdown timed out; dropping the connection");
            }
        }
    }

    async fn post_inner(
        &self,
        body: &[u8],
        request_timeout: Duration,
    ) -> Result<Response, TransportError> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        // An earlier call may have ended between a 401 and its retry (transport error,
        // cancellation); its 401 must not count against this call.
        begin_digest_request(&mut state.digest);
        let mut sends: u32 = 0;
        loop {
            let cnonce = hex::encode(rand::random::<[u8; 16]>());
            let authorization = state.digest.authorization("POST", WSMAN_PATH, &cnonce);
            if authorization
                .as_deref()
                .is_some_and(|value| !is_safe_header_value(value))
            {
                state.digest.forget_challenge();
                return Err(TransportError::MalformedResponse {
                    problem: Malformed::UnsafeChallenge,
                });
            }
            let request = encode_request(&self.host_header, authorization.as_deref(), body);
            sends += 1;
            let response = self
                .exchange(&mut state.idle, &request, request_timeout)
                .await?;

            if response.status != 401 {
                state.digest.on_success();
                debug!(
                    status = response.status,
                    response_bytes = response.body.len(),
                    requests = sends,
                    "response"
                );
                return Ok(Response {
                    status: response.status,
                    body: response.body,
                });
            }

            let Some(challenge) = response
                .www_authenticate
                .iter()
                .find(|value| is_digest_challenge(value))
            else {
                warn!(
                    schemes = ?response.www_authenticate.iter().map(|v| scheme_of(v)).collect::<Vec<_>>(),
                    "401 without a Digest challenge"
                );
                return Err(TransportError::AuthChallenge { source: None });
            };
            let decision = state.digest.on_unauthorized(challenge).map_err(|source| {
                warn!(error = %source, "unusable Digest challenge");
                TransportError::AuthChallenge {
                    source: Some(source),
                }
            })?;
            match decision {
                RetryDecision::Retry if sends < MAX_SENDS => {
                    debug!(
                        requests = sends,
                        "Digest challenge received; sending credentials"
                    );
                }
                RetryDecision::Retry | RetryDecision::GiveUp => {
                    begin_digest_request(&mut state.digest);
                    warn!(
                        user = state.digest.username(),
                        requests = sends,
                        "the device rejected the credentials"
                    );
                    return Err(TransportError::AuthFailed { attempts: sends });
                }
            }
        }
    }

    /// One HTTP exchange on the idle connection or a new one. A reused connection whose write
    /// fails (the device closed it while idle) is replaced once; the device cannot have seen a
    /// complete request then.
    async fn exchange(
        &self,
        idle: &mut Option<IdleConnection>,
        request: &[u8],
        request_timeout: Duration,
    ) -> Result<DecodedResponse, TransportError> {
        let (mut stream, reused) = match take_reusable(idle, self.config.idle_timeout) {
            Some(stream) => (stream, true),
            None => (self.connect().await?, false),
        };
        let mut outcome = self
            .send_and_receive(&mut stream, request, request_timeout)
            .await;
        if reused && matches!(outcome, Err(Attempt::WriteFailed(_))) {
            debug!("write on the kept-alive connection failed; reconnecting");
            stream = self.connect().await?;
            outcome = self
                .send_and_receive(&mut stream, request, request_timeout)
                .await;
        }
        let response = outcome.map_err(|attempt| attempt.into_error(&self.peer))?;
        if response.reusable {
            *idle = Some(IdleConnection {
                stream,
                since: Instant::now(),
            });
        } else {
            debug!("device does not keep the connection; it will be reopened");
        }
        Ok(response)
    }

    async fn send_and_receive(
        &self,
        stream: &mut Stream,
        request: &[u8],
        request_timeout: Duration,
    ) -> Result<DecodedResponse, Attempt> {
        let mut sent = false;
        let result = tokio::time::timeout(
            request_timeout,
            write_and_read(
                stream,
                request,
                self.config.max_response_bytes,
                &self.peer,
                &mut sent,
            ),
        )
        .await;
        match result {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(Attempt::Failed(TransportError::Timeout {
                after: request_timeout,
                after_send: sent,
            })),
        }
    }

    async fn connect(&self) -> Result<Stream, TransportError> {
        let limit = self.config.connect_timeout;
        match tokio::time::timeout(limit, self.open()).await {
            Ok(result) => result,
            Err(_elapsed) => Err(TransportError::ConnectTimeout {
                peer: self.peer.clone(),
                after: limit,
            }),
        }
    }

    async fn open(&self) -> Result<Stream, TransportError> {
        let host = self.endpoint.host.as_str();
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, self.endpoint.port))
            .await
            .map_err(|source| TransportError::Resolve {
                host: host.to_owned(),
                source,
            })?
            .collect();
        let mut last_error = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(tcp) => {
                    // Best effort: the whole request is written at once anyway.
                    let _ = tcp.set_nodelay(true);
                    return self.secure(tcp, address).await;
                }
                Err(error) => {
                    debug!(%address, %error, "TCP connect failed");
                    last_error = Some(error);
                }
            }
        }
        Err(TransportError::Connect {
            peer: self.peer.clone(),
            source: last_error.unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address")
            }),
        })
    }

    async fn secure(&self, tcp: TcpStream, address: SocketAddr) -> Result<Stream, TransportError> {
        let Some(tls) = &self.tls else {
            debug!(%address, "connected");
            return Ok(Stream::Plain(tcp));
        };
        let stream = tls
            .connector
            .connect(tls.server_name.clone(), tcp)
            .await
            .map_err(|source| {
                warn!(%address, error = %source, "TLS handshake failed");
                TransportError::Tls {
                    peer: self.peer.clone(),
                    source,
                }
            })?;
        debug!(
            %address,
            version = ?stream.get_ref().1.protocol_version(),
            suite = ?stream.get_ref().1.negotiated_cipher_suite().map(|s| s.suite()),
            "connected with TLS"
        );
        Ok(Stream::Tls(Box::new(stream)))
    }
}

impl fmt::Debug for WsmanConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsmanConnection")
            .field("peer", &self.peer)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How one attempt failed: writing (safe to retry on a fresh connection) or anything else.
enum Attempt {
    WriteFailed(io::Error),
    Failed(TransportError),
}

impl Attempt {
    fn into_error(self, peer: &str) -> TransportError {
        match self {
            Attempt::WriteFailed(source) => io_error(source, false, peer),
            Attempt::Failed(error) => error,
        }
    }
}

/// Maps an I/O error: TLS failures (an alert, for example the device refusing our client
/// certificate after a TLS 1.3 handshake) to [`TransportError::Tls`], the peer going away to
/// [`TransportError::ConnectionClosed`], the rest to [`TransportError::Io`].
fn io_error(source: io::Error, after_send: bool, peer: &str) -> TransportError {
    let is_tls = source
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
    if is_tls {
        return TransportError::Tls {
            peer: peer.to_owned(),
            source,
        };
    }
    match source.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => TransportError::ConnectionClosed { after_send },
        _ => TransportError::Io { after_send, source },
    }
}

async fn write_and_read(
    stream: &mut Stream,
    request: &[u8],
    max_body: usize,
    peer: &str,
    sent: &mut bool,
) -> Result<DecodedResponse, Attempt> {
    if let Err(error) = write_all_and_flush(stream, request).await {
        return Err(Attempt::WriteFailed(error));
    }
    *sent = true;
    let mut decoder = ResponseDecoder::new(max_body);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            // A TLS peer that closes TCP without close_notify: AMT may do that, and a
            // read-to-close body ends there too.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(error) => return Err(Attempt::Failed(io_error(error, true, peer))),
        };
        if n == 0 {
            return match decoder.finish() {
                Eof::Complete(response) => Ok(response),
                Eof::NothingReceived => Err(Attempt::Failed(TransportError::ConnectionClosed {
                    after_send: true,
                })),
                Eof::Truncated(problem) => {
                    Err(Attempt::Failed(TransportError::MalformedResponse {
                        problem,
                    }))
                }
            };
        }
        match decoder.push(&buf[..n]) {
            Ok(Some(response)) => return Ok(response),
            Ok(None) => {}
            Err(DecodeError::TooLarge { limit }) => {
                return Err(Attempt::Failed(TransportError::ResponseTooLarge { limit }));
            }
            Err(DecodeError::Malformed(problem)) => {
                return Err(Attempt::Failed(TransportError::MalformedResponse {
                    problem,
                }));
            }
        }
    }
}

async fn write_all_and_flush(stream: &mut Stream, request: &[u8]) -> io::Result<()> {
    stream.write_all(request).await?;
    stream.flush().await
}

/// Takes the idle connection if it is young enough and the device has not closed it.
fn take_reusable(idle: &mut Option<IdleConnection>, idle_timeout: Duration) -> Option<Stream> {
    let IdleConnection { mut stream, since } = idle.take()?;
    if since.elapsed() >= idle_timeout {
        debug!("kept-alive connection idle too long; reconnecting");
        return None;
    }
    if peer_has_closed(&mut stream) {
        debug!("device closed the kept-alive connection; reconnecting");
        return None;
    }
    Some(stream)
}

/// Polls the idle connection once without waiting: end of stream, an error or unexpected
/// bytes all mean it must not carry another request.
fn peer_has_closed(stream: &mut Stream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    Pin::new(stream).poll_read(&mut cx, &mut buf).is_ready()
}

/// Clears the Digest client's per-request retry bookkeeping (how many 401s this request has
/// seen) while keeping the nonce. `DigestClient` has no method named for this; `on_success`
/// does exactly this reset.
fn begin_digest_request(digest: &mut DigestClient) {
    digest.on_success();
}

/// True for a `WWW-Authenticate` value of the Digest scheme.
fn is_digest_challenge(value: &str) -> bool {
    scheme_of(value).eq_ignore_ascii_case("digest")
}

/// The auth-scheme token of a `WWW-Authenticate` value (safe to log: no parameters).
fn scheme_of(value: &str) -> &str {
    value.split([' ', '\t', ',']).next().unwrap_or_default()
}

/// Checks a host for use in `Host:` and name resolution; strips brackets from IPv6 literals.
fn validate_host(host: &str) -> Result<String, TransportError> {
    let invalid = |reason| TransportError::InvalidEndpoint {
        host: host.to_owned(),
        reason,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        return Err(invalid("empty host"));
    }
    if bare
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "/?#@[]\\\"".contains(c))
    {
        return Err(invalid("host must be a bare DNS name or IP address"));
    }
    if bare.contains(':') && bare.parse::<Ipv6Addr>().is_err() {
        return Err(invalid(
            "host contains ':' but is not an IPv6 address (give the port separately)",
        ));
    }
    if !is_safe_header_value(bare) {
        return Err(invalid("host must be ASCII"));
    }
    Ok(bare.to_owned())
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_validated_and_ipv6_brackets_stripped() {
        assert_eq!(
            validate_host("amt01.example.com").ok().as_deref(),
            Some("amt01.example.com")
        );
        assert_eq!(validate_host("[::1]").ok().as_deref(), Some("::1"));
        assert_eq!(validate_host("::1").ok().as_deref(), Some("::1"));
        for bad in [
            "",
            "host:16992",
            "a b",
            "a\r\nb",
            "http://x",
            "user@host",
            "caf\u{e9}",
        ] {
            assert!(
                matches!(
                    validate_host(bad),
                    Err(TransportError::InvalidEndpoint { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn digest_challenge_is_found_by_scheme() {
        assert!(is_digest_challenge("Digest realm=\"x\""));
        assert!(is_digest_challenge("digest realm=\"x\""));
        assert!(!is_digest_challenge("Negotiate"));
        assert!(!is_digest_challenge("DigestX realm"));
        assert_eq!(scheme_of("Negotiate abc"), "Negotiate");
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let conn = WsmanConnection::new(
            DeviceEndpoint::http("127.0.0.1"),
            "admin",
            SecretString::from("Sup3r$ecret"),
            TransportConfig::default(),
        );
        let text = format!("{conn:?}");
        assert!(!text.contains("Sup3r$ecret"), "{text}");
    }

    #[test]
    fn connection_and_post_future_can_move_between_tasks() {
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        fn assert_send<T: Send>(_: &T) {}
        let conn = WsmanConnection::new(
            DeviceEndpoint::http("127.0.0.1"),
            "admin",
            SecretString::from("x"),
            TransportConfig::default(),
        );
        if let Ok(conn) = conn {
            assert_send_sync(&conn);
            let future = conn.post(b"");
            assert_send(&future);
        }
    }
}
