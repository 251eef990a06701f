//! The one error type of this crate.
//!
//! Every variant describes something a peer sent (or a caller asked for) that the codecs refuse,
//! with the offending values as structured fields. None of them is ever a panic. All of them are
//! caused by the peer or the caller, never by us: retrying the same bytes cannot help.

use crate::hello::{HashAlgorithm, Uuid16};
use crate::redirection::AuthType;

/// Everything the codecs of this crate can reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection closed (or the caller finished) before a single byte arrived.
    #[error("no data: the peer closed without sending a hello")]
    Empty,
    /// The data ends before the hello does.
    #[error("truncated hello: need at least {needed} bytes, got {got}")]
    Truncated {
        /// How many bytes the hello needs at least, judging by what has arrived.
        needed: usize,
        /// How many bytes arrived.
        got: usize,
    },
    /// More bytes than any valid hello (plus tolerated trailing data) can have.
    #[error("hello too long: {len} bytes, the limit is {max}")]
    TooLong {
        /// How many bytes arrived (at least).
        len: usize,
        /// The limit ([`crate::hello::MAX_HELLO_LEN`]).
        max: usize,
    },
    /// Bytes follow a complete hello and the caller asked for strict parsing.
    #[error("{extra} trailing bytes after a complete {hello_len}-byte hello")]
    TrailingBytes {
        /// Length of the complete hello.
        hello_len: usize,
        /// How many bytes followed it.
        extra: usize,
    },
    /// The "admin credentials set" field (u16) is neither 0 nor 1.
    #[error("admin-credentials-set flag is {0}, expected 0 or 1")]
    InvalidAdminFlag(u16),
    /// The hello version is neither 2 (PSK) nor 3 (PKI).
    #[error("unknown hello version {0} (2 = PSK, 3 = PKI)")]
    UnknownVersion(u16),
    /// The device UUID is all zeros or all 0xFF: a device with an unprogrammed identity, or
    /// garbage.
    #[error("bogus device UUID {0}")]
    BogusUuid(Uuid16),
    /// Text that is not a UUID in the canonical 8-4-4-4-12 hexadecimal form.
    #[error("not a UUID: problem at character {at}")]
    InvalidUuidText {
        /// Character offset of the first problem (the length when the text is too short).
        at: usize,
    },
    /// A root-hash entry names a hash type other than 1 (SHA-1), 2 (SHA-256), 3 (SHA-384).
    #[error("root hash #{index}: unknown hash type {value}")]
    UnknownHashAlgorithm {
        /// Zero-based position of the entry in the hash list.
        index: usize,
        /// The type byte found.
        value: u8,
    },
    /// A root-hash entry's size byte does not match its hash type.
    #[error("root hash #{index}: {algorithm:?} hashes are {expected} bytes, the entry says {got}")]
    HashLengthMismatch {
        /// Zero-based position of the entry in the hash list.
        index: usize,
        /// The entry's hash type.
        algorithm: HashAlgorithm,
        /// The size that hash type has.
        expected: usize,
        /// The size the entry declares (or the caller supplied).
        got: usize,
    },
    /// More root hashes than the one-byte count field can carry (255).
    #[error("{count} root hashes, a hello carries at most 255")]
    TooManyHashes {
        /// How many were supplied.
        count: usize,
    },
    /// The peer sent an HTTP request to the hello port instead of a hello.
    #[error("the peer sent an HTTP request, not a hello (head complete: {head_complete})")]
    HttpRequest {
        /// Whether the whole request head (up to the blank line) had arrived.
        head_complete: bool,
    },
    /// An HTTP request head larger than the assembler accepts.
    #[error("HTTP request head longer than {max} bytes")]
    HttpHeadTooLong {
        /// The limit ([`crate::hello::MAX_HTTP_HEAD_LEN`]).
        max: usize,
    },
    /// A redirection message starts with a command byte this crate does not know.
    #[error("unknown redirection command 0x{0:02x}")]
    UnknownRedirectionCommand(u8),
    /// A redirection field holds a value its wire enum does not define.
    #[error("unknown {field} value {value}")]
    UnknownRedirectionValue {
        /// Which field (`session status`, `authentication type`, `authentication status`).
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// StartRedirectionSession names a session type other than `SOL `, `IDER`, `KVMR`.
    #[error("unknown redirection session type {0:02x?}")]
    UnknownSessionType([u8; 4]),
    /// A redirection field is longer than its length prefix (or the decoder's bound) allows.
    #[error("{field} is {len} bytes, the limit is {max}")]
    RedirectionFieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Authentication data that does not have the layout of its method.
    #[error("malformed {auth_type:?} authentication data: {reason}")]
    MalformedAuthData {
        /// The method.
        auth_type: AuthType,
        /// What is wrong.
        reason: &'static str,
    },
    /// A redirection string (user, realm, …) that is not UTF-8.
    #[error("redirection field {field} is not UTF-8")]
    RedirectionText {
        /// Which field.
        field: &'static str,
    },
    /// The data ends inside a redirection message.
    #[error("truncated redirection message: need {needed} bytes, got {got}")]
    RedirectionTruncated {
        /// Bytes needed at least, judging by what arrived.
        needed: usize,
        /// Bytes that arrived.
        got: usize,
    },
    /// Bytes follow a whole redirection message where exactly one was expected.
    #[error("{extra} bytes after a complete {len}-byte redirection message")]
    RedirectionTrailingBytes {
        /// Length of the message.
        len: usize,
        /// Bytes after it.
        extra: usize,
    },
    /// A peer sent more undecoded bytes than a redirection decoder holds.
    #[error("redirection decoder holds {len} bytes, the limit is {max}")]
    RedirectionBufferFull {
        /// Bytes that would be buffered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A boot medium read over IDE-R is not bootable the way the BIOS expects
    /// ([`crate::redirection::boot_image`]).
    #[error("not bootable: {structure}: {reason}")]
    NotBootable {
        /// The structure being read (boot record, boot catalog, …).
        structure: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A platform event log record that is not exactly 21 bytes ([`crate::logs::event`]).
    #[error("an event log record is 21 bytes, this one has {len}")]
    EventRecordLength {
        /// Its length.
        len: usize,
    },
    /// An audit log record ends inside a field ([`crate::logs::audit`]).
    #[error("truncated audit record: {field} needs {needed} bytes, the record has {got}")]
    LogRecordTruncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the record needs at least, judging by what was read.
        needed: usize,
        /// Bytes the record has.
        got: usize,
    },
    /// A length-prefixed log record field longer than its one-byte prefix allows (encoding).
    #[error("audit record field {field} is {len} bytes, at most 255 fit")]
    LogFieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}
