//! What the listener reports about every connection: [`HelloEvent`].

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use amt_wire::hello::{Hello, HelloError};

/// One connection to the hello port and what became of it — or, for repeated rejections from
/// one source, a summary of several ([`HelloEvent::count`]). The server records these in its
/// store (SPEC P1: "records every hello with its source and time").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloEvent {
    /// The peer's address and port (for a summary: the last connection's; `0.0.0.0:0` for the
    /// sources beyond the summary table's bound).
    pub source: SocketAddr,
    /// When the verdict was reached (wall clock, for the record; for a summary: the first
    /// connection's).
    pub time: SystemTime,
    /// The verdict (for a summary: the last connection's).
    pub outcome: HelloOutcome,
    /// How many connections this event stands for: 1 for every accepted hello and for the
    /// first rejection of a kind from a source in each summary interval; more for a summary of
    /// the further ones, which the listener folds into one event per source, kind and interval
    /// so that a flood yields a bounded number of events while every connection is counted.
    pub count: u32,
}

/// The verdict on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloOutcome {
    /// A well-formed hello with a real UUID.
    Accepted(Hello),
    /// No hello: the reason says why.
    Rejected(RejectReason),
    /// The source address had used up its rate-limit budget; the connection was closed at once,
    /// unread.
    RateLimited,
}

impl HelloOutcome {
    /// The hello, for [`HelloOutcome::Accepted`].
    pub fn hello(&self) -> Option<&Hello> {
        match self {
            Self::Accepted(h) => Some(h),
            _ => None,
        }
    }

    /// The reason, for [`HelloOutcome::Rejected`].
    pub fn reject_reason(&self) -> Option<&RejectReason> {
        match self {
            Self::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

/// Why a connection produced no hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The bytes are not a valid hello: the codec's verdict (truncated, trailing bytes, bogus
    /// UUID, unknown version, …), or the peer closed without sending anything.
    Malformed(HelloError),
    /// The peer was an HTTP client (`GET …`); it was answered with the diagnostic page.
    HttpRequest {
        /// The request line, with unprintable bytes replaced (safe to log).
        request_line: String,
    },
    /// The connection's read timeout ran out before the hello was complete.
    Timeout {
        /// Bytes received by then.
        received: usize,
    },
    /// The connection failed (for example reset by the peer) before the hello was complete.
    Io(std::io::ErrorKind),
    /// The listener already had its maximum number of open connections; this one was closed
    /// at once, unread.
    Overloaded,
}

impl RejectReason {
    /// The reason's category, for counters and for the store.
    pub fn kind(&self) -> RejectKind {
        match self {
            Self::Malformed(e) => match e {
                HelloError::Empty => RejectKind::Empty,
                HelloError::Truncated { .. } => RejectKind::Truncated,
                HelloError::TooLong { .. } => RejectKind::TooLong,
                HelloError::TrailingBytes { .. } => RejectKind::TrailingBytes,
                HelloError::InvalidAdminFlag(_) => RejectKind::InvalidAdminFlag,
                HelloError::UnknownVersion(_) => RejectKind::UnknownVersion,
                HelloError::BogusUuid(_) => RejectKind::BogusUuid,
                HelloError::UnknownHashAlgorithm { .. } => RejectKind::UnknownHashAlgorithm,
                HelloError::HashLengthMismatch { .. } => RejectKind::HashLengthMismatch,
                HelloError::HttpRequest { .. } => RejectKind::HttpRequest,
                HelloError::HttpHeadTooLong { .. } => RejectKind::HttpHeadTooLong,
                _ => RejectKind::OtherMalformed,
            },
            Self::HttpRequest { .. } => RejectKind::HttpRequest,
            Self::Timeout { .. } => RejectKind::Timeout,
            Self::Io(_) => RejectKind::Io,
            Self::Overloaded => RejectKind::Overloaded,
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed hello: {e}"),
            Self::HttpRequest { request_line } => {
                write!(
                    f,
                    "HTTP request ({request_line}), answered with the diagnostic page"
                )
            }
            Self::Timeout { received } => {
                write!(
                    f,
                    "read timeout with an incomplete hello ({received} bytes)"
                )
            }
            Self::Io(kind) => write!(f, "connection failed: {kind}"),
            Self::Overloaded => f.write_str("too many open connections; closed unread"),
        }
    }
}

/// The category of a [`RejectReason`]: a fixed set, so that counters stay bounded and the
/// store can keep a stable code ([`RejectKind::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RejectKind {
    /// Closed without sending a byte.
    Empty,
    /// Closed before the hello was complete.
    Truncated,
    /// More bytes than any hello has.
    TooLong,
    /// Bytes after a complete hello (strict trailing policy).
    TrailingBytes,
    /// Admin-set flag other than 0 or 1.
    InvalidAdminFlag,
    /// Version other than 2 or 3.
    UnknownVersion,
    /// All-zero or all-0xFF UUID.
    BogusUuid,
    /// Root-hash entry of an unknown type.
    UnknownHashAlgorithm,
    /// Root-hash entry whose size does not fit its type.
    HashLengthMismatch,
    /// An HTTP request (answered with the diagnostic page).
    HttpRequest,
    /// An HTTP request head beyond the size bound.
    HttpHeadTooLong,
    /// A codec error this version of the listener does not know by name.
    OtherMalformed,
    /// Read timeout.
    Timeout,
    /// Connection error.
    Io,
    /// Connection cap reached.
    Overloaded,
}

impl RejectKind {
    /// Every kind, in declaration order (the order of [`RejectKind::index`]).
    pub const ALL: [RejectKind; 15] = [
        Self::Empty,
        Self::Truncated,
        Self::TooLong,
        Self::TrailingBytes,
        Self::InvalidAdminFlag,
        Self::UnknownVersion,
        Self::BogusUuid,
        Self::UnknownHashAlgorithm,
        Self::HashLengthMismatch,
        Self::HttpRequest,
        Self::HttpHeadTooLong,
        Self::OtherMalformed,
        Self::Timeout,
        Self::Io,
        Self::Overloaded,
    ];

    /// Position in [`RejectKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case code (metric label, store column).
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Truncated => "truncated",
            Self::TooLong => "too_long",
            Self::TrailingBytes => "trailing_bytes",
            Self::InvalidAdminFlag => "invalid_admin_flag",
            Self::UnknownVersion => "unknown_version",
            Self::BogusUuid => "bogus_uuid",
            Self::UnknownHashAlgorithm => "unknown_hash_algorithm",
            Self::HashLengthMismatch => "hash_length_mismatch",
            Self::HttpRequest => "http_request",
            Self::HttpHeadTooLong => "http_head_too_long",
            Self::OtherMalformed => "other_malformed",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::Overloaded => "overloaded",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_kind_index_matches_all_order() {
        for (i, k) in RejectKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i, "{k}");
        }
    }
}
