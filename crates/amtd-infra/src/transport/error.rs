//! The one error type of the WS-Man transport.

use std::io;
use std::time::Duration;

use amt_wsman::digest::DigestError;

/// Everything that can go wrong carrying one WS-Man request to a device and its response back.
///
/// HTTP error statuses are **not** errors: AMT reports SOAP faults with HTTP 400 and 500, so
/// those arrive as a [`Response`](crate::transport::Response). Only transport and
/// authentication problems end up here.
///
/// Two questions matter to a caller, and each has a method:
/// - [`is_retryable`](Self::is_retryable): may the same request simply be sent again?
/// - [`request_may_have_been_processed`](Self::request_may_have_been_processed): did the
///   request possibly reach the device and run? After such an error a non-idempotent call
///   (`CommitChanges`, `Setup`, a TLS `Put`) must not be repeated blindly: poll the device's
///   state instead.
///
/// [`blame`](Self::blame) says who most likely failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The endpoint given by the caller cannot be used (empty host, a host with spaces or a
    /// path in it, port 0). The caller's fault; retrying does not help.
    #[error("invalid device endpoint {host:?}: {reason}")]
    InvalidEndpoint {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The TLS client configuration could not be built: the client key does not match a
    /// supported algorithm, a root certificate was unusable, or the TLS server name is not a
    /// DNS name or IP address. The caller's fault; retrying does not help.
    #[error("cannot build the TLS client configuration")]
    TlsConfig {
        /// What rustls refused.
        #[source]
        source: rustls::Error,
    },

    /// The device's host name could not be resolved. DNS may recover: retryable.
    #[error("cannot resolve {host}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },

    /// No TCP connection could be opened to any address of the device (refused,
    /// unreachable, reset). The device may be off, rebooting or unplugged: retryable.
    #[error("cannot connect to {peer}")]
    Connect {
        /// `scheme://host:port` of the device.
        peer: String,
        /// The error of the last address tried.
        #[source]
        source: io::Error,
    },

    /// The TLS handshake failed: the device's certificate was rejected by the configured
    /// [`ServerVerification`](crate::transport::ServerVerification), there is no common
    /// protocol version or cipher suite (old AMT firmware offers only TLS 1.0/1.1 or static-RSA
    /// suites, which rustls does not implement), or the device refused our client certificate.
    /// Not retryable without changing the TLS options or the device's configuration.
    #[error("TLS handshake with {peer} failed")]
    Tls {
        /// `scheme://host:port` of the device.
        peer: String,
        /// The handshake error; [`TransportError::rustls_error`] digs out rustls's own error.
        #[source]
        source: io::Error,
    },

    /// Opening the connection (TCP connect plus TLS handshake) took longer than
    /// [`TransportConfig::connect_timeout`](crate::transport::TransportConfig). Nothing was
    /// sent: retryable.
    #[error("connecting to {peer} timed out after {after:?}")]
    ConnectTimeout {
        /// `scheme://host:port` of the device.
        peer: String,
        /// The timeout that elapsed.
        after: Duration,
    },

    /// No complete response arrived within the request timeout. With `after_send` the
    /// request was fully written and the device may be executing it (a TLS `Put` can take more
    /// than 30 s: use a longer timeout for those).
    #[error("request timed out after {after:?} (request {})", sent_text(*after_send))]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
        /// Whether the whole request had been written before the timeout.
        after_send: bool,
    },

    /// The device closed (or reset) the connection before a response arrived.
    ///
    /// `after_send: true` means the whole request had been written: the device may have
    /// processed it. AMT does this for example when `CommitChanges` restarts its network
    /// stack, so callers of non-idempotent methods should poll the device state rather than
    /// resend. `after_send: false` means the request never fully left us: retryable.
    #[error("connection closed by the device (request {})", sent_text(*after_send))]
    ConnectionClosed {
        /// Whether the whole request had been written before the connection closed.
        after_send: bool,
    },

    /// Reading or writing the connection failed for another reason.
    #[error("I/O error talking to the device (request {})", sent_text(*after_send))]
    Io {
        /// Whether the whole request had been written before the error.
        after_send: bool,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// The device rejected our credentials: it answered `401` again after we answered its
    /// challenge. Wrong user name or password (or the account is locked out, which AMT does
    /// after repeated failures, so do not hammer). Not retryable.
    #[error("the device rejected the credentials ({attempts} requests sent)")]
    AuthFailed {
        /// How many requests were sent for this call, all answered with `401`.
        attempts: u32,
    },

    /// The device answered `401` with a challenge we cannot answer: none at all, a scheme
    /// other than Digest (for example Kerberos-only `Negotiate`), a malformed `Digest`
    /// header, or an algorithm/qop other than MD5/`auth`. The device's configuration (or
    /// firmware) is the problem; not retryable.
    #[error("cannot answer the device's authentication challenge")]
    AuthChallenge {
        /// Why the Digest challenge was refused; `None` when there was no Digest challenge.
        #[source]
        source: Option<DigestError>,
    },

    /// The response (or its head) is larger than allowed
    /// ([`TransportConfig::max_response_bytes`](crate::transport::TransportConfig) for the body).
    /// The device answered, so it did process the request. Not retryable.
    #[error("response exceeds the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit that would have been exceeded, in bytes.
        limit: usize,
    },

    /// The device's response is not acceptable HTTP/1.x. The device may have processed the
    /// request. Not retryable.
    #[error("malformed HTTP response: {problem}")]
    MalformedResponse {
        /// What is wrong with it.
        problem: Malformed,
    },
}

fn sent_text(after_send: bool) -> &'static str {
    if after_send {
        "was sent"
    } else {
        "was not fully sent"
    }
}

/// What was wrong with a malformed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The status line or headers are not HTTP/1.x.
    #[error("invalid status line or header")]
    InvalidHead,
    /// More headers than we accept.
    #[error("too many headers")]
    TooManyHeaders,
    /// `Content-Length` is not a number, or there are several different ones.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// The chunked body framing is broken.
    #[error("invalid chunked encoding")]
    InvalidChunk,
    /// A status a WS-Man exchange cannot have (`101 Switching Protocols`).
    #[error("unexpected status")]
    UnexpectedStatus,
    /// The connection ended in the middle of the response head.
    #[error("connection ended inside the response head")]
    TruncatedHead,
    /// The connection ended before the declared body was complete.
    #[error("connection ended inside the response body")]
    TruncatedBody,
    /// Bytes arrived after a complete response although no request was outstanding.
    #[error("unexpected bytes after the response")]
    TrailingData,
    /// A header value derived from the device's challenge is not safe to send back.
    #[error("device challenge contains bytes not allowed in a header")]
    UnsafeChallenge,
}

/// Who most likely caused a [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blame {
    /// Whoever configured the endpoint or TLS options (our caller).
    Caller,
    /// The device: it refused us, or answered with something unusable.
    Device,
    /// The path to the device: resolution, connect, timeouts, dropped connections. The
    /// device may be off or busy, which looks the same from here.
    Network,
}

impl TransportError {
    /// True when sending the same request again (possibly after a pause) may succeed and
    /// cannot run it twice: the request never completely left us, or no connection existed.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Resolve { .. }
            | TransportError::Connect { .. }
            | TransportError::ConnectTimeout { .. } => true,
            TransportError::Timeout { after_send, .. }
            | TransportError::ConnectionClosed { after_send }
            | TransportError::Io { after_send, .. } => !after_send,
            TransportError::InvalidEndpoint { .. }
            | TransportError::TlsConfig { .. }
            | TransportError::Tls { .. }
            | TransportError::AuthFailed { .. }
            | TransportError::AuthChallenge { .. }
            | TransportError::ResponseTooLarge { .. }
            | TransportError::MalformedResponse { .. } => false,
        }
    }

    /// True when the device may have received and executed the request although we got no
    /// usable response. For non-idempotent calls, check the device's state before retrying.
    pub fn request_may_have_been_processed(&self) -> bool {
        match self {
            TransportError::Timeout { after_send, .. }
            | TransportError::ConnectionClosed { after_send }
            | TransportError::Io { after_send, .. } => *after_send,
            TransportError::ResponseTooLarge { .. } | TransportError::MalformedResponse { .. } => {
                true
            }
            TransportError::InvalidEndpoint { .. }
            | TransportError::TlsConfig { .. }
            | TransportError::Resolve { .. }
            | TransportError::Connect { .. }
            | TransportError::Tls { .. }
            | TransportError::ConnectTimeout { .. }
            | TransportError::AuthFailed { .. }
            | TransportError::AuthChallenge { .. } => false,
        }
    }

    /// Who most likely failed.
    pub fn blame(&self) -> Blame {
        match self {
            TransportError::InvalidEndpoint { .. } | TransportError::TlsConfig { .. } => {
                Blame::Caller
            }
            TransportError::Tls { .. }
            | TransportError::AuthFailed { .. }
            | TransportError::AuthChallenge { .. }
            | TransportError::ResponseTooLarge { .. }
            | TransportError::MalformedResponse { .. } => Blame::Device,
            TransportError::Resolve { .. }
            | TransportError::Connect { .. }
            | TransportError::ConnectTimeout { .. }
            | TransportError::Timeout { .. }
            | TransportError::ConnectionClosed { .. }
            | TransportError::Io { .. } => Blame::Network,
        }
    }

    /// The rustls error behind a [`TransportError::Tls`] or [`TransportError::TlsConfig`],
    /// for example `InvalidCertificate(..)` when the device's certificate was refused.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            TransportError::TlsConfig { source } => Some(source),
            TransportError::Tls { source, .. } => source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eof_after_send_is_not_retryable_but_may_have_run() {
        let after = TransportError::ConnectionClosed { after_send: true };
        assert!(!after.is_retryable());
        assert!(after.request_may_have_been_processed());
        let before = TransportError::ConnectionClosed { after_send: false };
        assert!(before.is_retryable());
        assert!(!before.request_may_have_been_processed());
        assert_eq!(before.blame(), Blame::Network);
    }

    #[test]
    fn auth_failure_blames_device_and_is_final() {
        let error = TransportError::AuthFailed { attempts: 2 };
        assert!(!error.is_retryable());
        assert!(!error.request_may_have_been_processed());
        assert_eq!(error.blame(), Blame::Device);
    }
}
