//! The console side of AMT redirection (16994 plain, 16995 TLS): Serial-over-LAN terminals
//! and IDE-R image serving (M4, M5), on the sans-IO [`amt_wire::redirection`] codec.
//!
//! - [`RedirectionTarget`]: where the device listens and how its TLS certificate is checked
//!   (the same [`TlsOptions`] as WS-Man on 16993: the CA root with the FQDN as name, a pinned
//!   certificate, the console's client certificate for mutual TLS), the digest user and password.
//! - [`Connection::open`]: TCP (and TLS), StartRedirectionSession, then authentication: a
//!   query, then digest RFC 2617 (type 4) when offered, else RFC 2069 (3), else user/password
//!   in clear (1) only over TLS unless the caller allows it ([`RedirectionTarget::allow_plain_auth`]).
//! - [`sol`]: a SOL session run by a task, driven through channels (data both ways, the
//!   device's heartbeats echoed, controls and end reported).
//! - [`cdrom`]: a sans-IO ATAPI CD-ROM answering the device's packets from a disk image
//!   (2048-byte sectors, out-of-range reads refused with sense 05/21/00).
//! - [`ider`]: an IDE-R session serving an image file through [`cdrom`], reading only the
//!   sectors asked for, in chunks of the device's read buffer.
//!
//! Every read from the device has a timeout and goes through the bounded decoder; nothing the
//! device sends can make the console buffer more than one frame (about 64 KiB) per session.
//! Passwords stay in [`SecretString`] and are never logged.

pub mod cdrom;
pub mod ider;
pub mod sol;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use amt_wire::redirection::{
    AuthReplyData, AuthRequest, AuthStatus, AuthType, AuthenticateSession, Command, DigestFields,
    Message, RedirectionDecoder, SessionStatus, SessionType, StartSession, DIGEST_METHOD,
    DIGEST_NC, DIGEST_URI,
};
use amt_wsman::secret::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::transport::{TlsOptions, TransportError};

/// AMT's plain redirection port.
pub const REDIRECTION_PORT: u16 = 16994;
/// AMT's TLS redirection port.
pub const REDIRECTION_TLS_PORT: u16 = 16995;

/// Why a redirection session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectionError {
    /// No TCP connection to the device (off, unreachable, port closed because redirection is
    /// disabled). Retryable.
    #[error("cannot connect to {peer}")]
    Connect {
        /// `host:port`.
        peer: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration could not be built (ours) or the handshake failed (the device's
    /// certificate did not verify, or it demanded a client certificate we lack).
    #[error(transparent)]
    Tls(#[from] TransportError),
    /// Reading or writing the connection failed.
    #[error("redirection connection to {peer} failed")]
    Io {
        /// `host:port`.
        peer: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The device closed the connection.
    #[error("the device closed the redirection connection {during}")]
    Closed {
        /// What we were doing.
        during: &'static str,
    },
    /// The device did not answer in time.
    #[error("the device did not answer within {after:?} {during}")]
    Timeout {
        /// What we were waiting for.
        during: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The device sent something the codec refuses (the device's fault).
    #[error("the device sent an undecodable redirection message")]
    Protocol(#[from] amt_wire::Error),
    /// The device sent a well-formed message at the wrong time.
    #[error("expected {expected} from the device, got {got:?}")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// The command that came.
        got: Command,
    },
    /// The device skipped or repeated an IDE-R sequence number.
    #[error("IDE-R message out of sequence: expected {expected}, got {got}")]
    OutOfSequence {
        /// The number expected.
        expected: u32,
        /// The number received.
        got: u32,
    },
    /// The device refused the session or the redirection (status byte).
    #[error("the device refused {what}: {status:?}")]
    Refused {
        /// What was refused (session, SOL, IDE-R).
        what: &'static str,
        /// Its status.
        status: SessionStatus,
    },
    /// The user name or password is wrong, or the user may not redirect.
    #[error("the device refused the credentials of {user:?} ({method:?})")]
    AuthenticationFailed {
        /// The user.
        user: String,
        /// The method tried.
        method: AuthType,
    },
    /// The device offers no method this console uses (or only clear-text passwords on a
    /// plain connection, which the caller did not allow).
    #[error("no usable authentication method (device offers {offered:?})")]
    NoAuthMethod {
        /// The method ids the device listed.
        offered: Vec<u8>,
    },
    /// A user name or password longer than the protocol carries (255 bytes; AMT: 32).
    #[error("{what} is longer than 255 bytes")]
    TooLong {
        /// User or password.
        what: &'static str,
    },
    /// Reading the disk image failed (ours).
    #[error("reading the image {path}")]
    Image {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Where a device's redirection service listens and how to authenticate to it.
#[derive(Clone)]
pub struct RedirectionTarget {
    /// DNS name or address.
    pub host: String,
    /// 16994 or 16995 on real devices.
    pub port: u16,
    /// `Some`: TLS with these options (16995).
    pub tls: Option<TlsOptions>,
    /// Digest user (`admin`).
    pub user: String,
    password: SecretString,
    /// Allow user/password in clear (auth type 1) on a plain connection when the device
    /// offers nothing better.
    pub allow_plain_auth: bool,
    /// How long to wait for each answer during the handshake.
    pub timeout: Duration,
}

impl fmt::Debug for RedirectionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectionTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RedirectionTarget {
    /// Plain TCP on 16994 (digest protects the password, nothing protects the data).
    pub fn plain(host: impl Into<String>, user: impl Into<String>, password: SecretString) -> Self {
        RedirectionTarget {
            host: host.into(),
            port: REDIRECTION_PORT,
            tls: None,
            user: user.into(),
            password,
            allow_plain_auth: false,
            timeout: Duration::from_secs(30),
        }
    }

    /// TLS on 16995 with these options.
    pub fn tls(
        host: impl Into<String>,
        tls: TlsOptions,
        user: impl Into<String>,
        password: SecretString,
    ) -> Self {
        RedirectionTarget {
            port: REDIRECTION_TLS_PORT,
            tls: Some(tls),
            ..Self::plain(host, user, password)
        }
    }

    /// The same target on another port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    fn peer(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A connection's byte stream (TCP or TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An authenticated redirection session: StartRedirectionSession and authentication done,
/// ready for StartSOLRedirection or StartIDERRedirection.
pub struct Connection {
    stream: Box<dyn Io>,
    decoder: RedirectionDecoder,
    peer: String,
    buf: Vec<u8>,
    /// The method authentication used.
    pub auth_method: AuthType,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, starts a session of `kind` and authenticates.
    ///
    /// # Errors
    /// Connection, TLS, refusal, authentication and protocol failures.
    pub async fn open(
        target: &RedirectionTarget,
        kind: SessionType,
    ) -> Result<Connection, RedirectionError> {
        let peer = target.peer();
        let stream = connect(target, &peer).await?;
        let mut c = Connection {
            stream,
            decoder: RedirectionDecoder::new(),
            peer,
            buf: vec![0u8; 16 * 1024],
            auth_method: AuthType::Query,
        };
        c.send(&Message::StartSession(StartSession::new(kind)))
            .await?;
        match c
            .recv_timeout(target.timeout, "starting the session")
            .await?
        {
            Message::StartSessionReply(r) if r.status == SessionStatus::Success => {}
            Message::StartSessionReply(r) => {
                return Err(RedirectionError::Refused {
                    what: "the redirection session",
                    status: r.status,
                })
            }
            other => return Err(unexpected("StartRedirectionSessionReply", &other)),
        }
        c.authenticate(target).await?;
        Ok(c)
    }

    async fn authenticate(&mut self, t: &RedirectionTarget) -> Result<(), RedirectionError> {
        if t.user.len() > 255 {
            return Err(RedirectionError::TooLong {
                what: "the user name",
            });
        }
        if t.password.expose().len() > 255 {
            return Err(RedirectionError::TooLong {
                what: "the password",
            });
        }
        self.send(&auth(AuthRequest::Query)).await?;
        let offered = match self.recv_timeout(t.timeout, "authenticating").await? {
            Message::AuthenticateReply(r) => match r.data {
                AuthReplyData::Methods(m) => m,
                _ => {
                    return Err(RedirectionError::NoAuthMethod {
                        offered: Vec::new(),
                    })
                }
            },
            other => return Err(unexpected("AuthenticateSessionReply", &other)),
        };
        let method = if offered.offers(AuthType::Digest) {
            AuthType::Digest
        } else if offered.offers(AuthType::DigestRfc2069) {
            AuthType::DigestRfc2069
        } else if offered.offers(AuthType::UserPassword) && (t.tls.is_some() || t.allow_plain_auth)
        {
            AuthType::UserPassword
        } else {
            return Err(RedirectionError::NoAuthMethod {
                offered: offered.0.clone(),
            });
        };
        self.auth_method = method;
        let ok = if method == AuthType::UserPassword {
            self.send(&auth(AuthRequest::UserPassword {
                user: t.user.clone(),
                password: amt_wire::redirection::PlainPassword(t.password.clone()),
            }))
            .await?;
            self.auth_status(t).await? == AuthStatus::Success
        } else {
            self.digest(t, method).await?
        };
        if ok {
            tracing::debug!(peer = %self.peer, ?method, "redirection session authenticated");
            Ok(())
        } else {
            Err(RedirectionError::AuthenticationFailed {
                user: t.user.clone(),
                method,
            })
        }
    }

    async fn auth_status(&mut self, t: &RedirectionTarget) -> Result<AuthStatus, RedirectionError> {
        match self.recv_timeout(t.timeout, "authenticating").await? {
            Message::AuthenticateReply(r) => Ok(r.status),
            other => Err(unexpected("AuthenticateSessionReply", &other)),
        }
    }

    /// The digest exchange (AMT-PROTOCOLS.md §4.1): step 1 names the user, the device
    /// challenges with realm, nonce (and qop), step 3 answers.
    async fn digest(
        &mut self,
        t: &RedirectionTarget,
        kind: AuthType,
    ) -> Result<bool, RedirectionError> {
        self.send(&auth(AuthRequest::Digest {
            kind,
            fields: DigestFields::step1(&t.user, kind),
        }))
        .await?;
        let (realm, nonce, qop) = match self.recv_timeout(t.timeout, "authenticating").await? {
            Message::AuthenticateReply(r) => match r.data {
                AuthReplyData::Challenge { realm, nonce, qop } => (realm, nonce, qop),
                _ if r.status == AuthStatus::Failure => return Ok(false),
                _ => return Err(RedirectionError::NoAuthMethod { offered: vec![] }),
            },
            other => return Err(unexpected("a digest challenge", &other)),
        };
        let ha1 = amt_wsman::digest::ha1_hex(&t.user, &realm, t.password.expose());
        let mut c = [0u8; 8];
        rand::fill(&mut c);
        let cnonce = hex::encode(c);
        let response = if kind == AuthType::Digest {
            amt_wsman::digest::redirection_response_hex(
                &ha1,
                &nonce,
                DIGEST_NC,
                &cnonce,
                qop.as_deref().unwrap_or("auth"),
            )
        } else {
            amt_wsman::digest::response_hex_rfc2069(&ha1, &nonce, DIGEST_METHOD, DIGEST_URI)
        };
        let qop = (kind == AuthType::Digest).then(|| qop.unwrap_or_else(|| "auth".into()));
        self.send(&auth(AuthRequest::Digest {
            kind,
            fields: DigestFields {
                user: t.user.clone(),
                realm,
                nonce,
                uri: DIGEST_URI.into(),
                cnonce,
                nc: DIGEST_NC.into(),
                response,
                qop,
            },
        }))
        .await?;
        Ok(self.auth_status(t).await? == AuthStatus::Success)
    }

    /// `host:port` of the device.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Sends one message.
    ///
    /// # Errors
    /// [`RedirectionError::Io`], or a codec error for a message that cannot be encoded.
    pub async fn send(&mut self, m: &Message) -> Result<(), RedirectionError> {
        let bytes = m.encode()?;
        self.write_all(&bytes).await
    }

    /// Writes bytes (several encoded messages at once).
    ///
    /// # Errors
    /// [`RedirectionError::Io`] (including a write that took over 30 s).
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), RedirectionError> {
        let w = tokio::time::timeout(Duration::from_secs(30), async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await;
        match w {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(RedirectionError::Io {
                peer: self.peer.clone(),
                source,
            }),
            Err(_) => Err(RedirectionError::Timeout {
                during: "writing to the device",
                after: Duration::from_secs(30),
            }),
        }
    }

    /// The next message (cancel-safe: a message is only taken from the decoder whole, and
    /// bytes read are kept).
    ///
    /// # Errors
    /// [`RedirectionError::Closed`] at EOF, I/O and decoding errors.
    pub async fn recv(&mut self) -> Result<Message, RedirectionError> {
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(m);
            }
            let n =
                self.stream
                    .read(&mut self.buf)
                    .await
                    .map_err(|source| RedirectionError::Io {
                        peer: self.peer.clone(),
                        source,
                    })?;
            if n == 0 {
                return Err(RedirectionError::Closed { during: "reading" });
            }
            self.decoder.push(&self.buf[..n])?;
        }
    }

    /// [`Connection::recv`] with a time limit.
    ///
    /// # Errors
    /// As [`Connection::recv`], plus [`RedirectionError::Timeout`].
    pub async fn recv_timeout(
        &mut self,
        limit: Duration,
        during: &'static str,
    ) -> Result<Message, RedirectionError> {
        match tokio::time::timeout(limit, self.recv()).await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(RedirectionError::Closed { .. })) => Err(RedirectionError::Closed { during }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RedirectionError::Timeout {
                during,
                after: limit,
            }),
        }
    }

    /// Ends the session (0x12) and closes the connection.
    pub async fn close(mut self) {
        let _ = self.send(&Message::EndSession).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.shutdown()).await;
    }
}

fn auth(request: AuthRequest) -> Message {
    Message::Authenticate(AuthenticateSession { request })
}

fn unexpected(expected: &'static str, got: &Message) -> RedirectionError {
    RedirectionError::Unexpected {
        expected,
        got: got.command(),
    }
}

async fn connect(t: &RedirectionTarget, peer: &str) -> Result<Box<dyn Io>, RedirectionError> {
    let tcp = tokio::time::timeout(t.timeout, async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((t.host.as_str(), t.port))
            .await?
            .collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host")
        }))
    })
    .await
    .map_err(|_| RedirectionError::Timeout {
        during: "connecting",
        after: t.timeout,
    })?
    .map_err(|source| RedirectionError::Connect {
        peer: peer.to_owned(),
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    let Some(options) = &t.tls else {
        return Ok(Box::new(tcp));
    };
    let (config, name) = crate::transport::tls_client_config(options, &t.host)?;
    let tls = tokio::time::timeout(t.timeout, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| RedirectionError::Timeout {
            during: "the TLS handshake",
            after: t.timeout,
        })?
        .map_err(|source| {
            RedirectionError::Tls(TransportError::Tls {
                peer: peer.to_owned(),
                source,
            })
        })?;
    Ok(Box::new(tls))
}
