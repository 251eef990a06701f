//! The one error type of this crate.
//!
//! Every variant describes bytes a peer sent (or a name a caller asked to encode) that the codec
//! refuses, with the offending values as structured fields. None of them is ever a panic, and
//! all are caused by the peer or the caller: decoding the same bytes again cannot help.

/// Everything the DHCP codec of this crate can reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhcpError {
    /// The datagram is shorter than the fixed BOOTP header plus the magic cookie.
    #[error("DHCP message too short: {len} bytes, at least {min} needed")]
    TooShort {
        /// Length of the datagram.
        len: usize,
        /// The minimum ([`crate::message::MIN_MESSAGE_LEN`]).
        min: usize,
    },
    /// The datagram is longer than this decoder accepts.
    #[error("DHCP message too long: {len} bytes, the limit is {max}")]
    TooLong {
        /// Length of the datagram.
        len: usize,
        /// The limit ([`crate::message::MAX_MESSAGE_LEN`]).
        max: usize,
    },
    /// The `op` field is neither 1 (BOOTREQUEST) nor 2 (BOOTREPLY).
    #[error("unknown BOOTP op {0} (1 = request, 2 = reply)")]
    UnknownOp(u8),
    /// The hardware address length is not 6 (the only length this crate supports: Ethernet).
    #[error("unsupported hardware address: htype {htype}, hlen {hlen} (only 6-byte addresses)")]
    UnsupportedHardwareLength {
        /// The `htype` field.
        htype: u8,
        /// The `hlen` field.
        hlen: u8,
    },
    /// The four bytes after the BOOTP header are not the DHCP magic cookie 99.130.83.99.
    #[error("bad magic cookie {found:02x?} (expected 63 82 53 63)")]
    BadMagicCookie {
        /// The four bytes found instead.
        found: [u8; 4],
    },
    /// An option's length byte runs past the end of the area it is in (options, file or sname).
    #[error("option {code} at offset {offset} runs past the end of its area")]
    TruncatedOption {
        /// The option code.
        code: u8,
        /// Offset of the option's code byte from the start of the message.
        offset: usize,
    },
    /// A value received for a fixed-size option the decoder interprets has the wrong length.
    #[error("option {code} has length {len}, expected {expected}")]
    BadOptionLength {
        /// The option code.
        code: u8,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// Option 52 (overload) names neither the file field (1), sname (2) nor both (3).
    #[error("option overload value {0} (expected 1, 2 or 3)")]
    InvalidOverload(u8),
    /// A DHCP message type (option 53) outside 1–8.
    #[error("unknown DHCP message type {0}")]
    UnknownMessageType(u8),
    /// A client FQDN option (81) shorter than its three fixed bytes (flags, RCODE1, RCODE2).
    #[error("client FQDN option too short: {len} bytes, at least 3 needed")]
    FqdnTooShort {
        /// Length of the option data.
        len: usize,
    },
    /// A domain name label longer than 63 bytes (in wire format this includes the compression
    /// pointers 0xC0–0xFF, which RFC 4702 §2.3.1 forbids in this option).
    #[error("domain name label of {len} bytes at offset {at} (at most 63)")]
    FqdnLabelTooLong {
        /// The label length (or the length byte, for wire format).
        len: usize,
        /// Offset of the label within the name.
        at: usize,
    },
    /// An empty label in the middle of a name (two dots in a row, or a leading dot).
    #[error("empty domain name label at offset {at}")]
    FqdnEmptyLabel {
        /// Offset within the name.
        at: usize,
    },
    /// A name longer than the 255 bytes DNS allows in wire format.
    #[error("domain name of {len} bytes in wire format (at most 255)")]
    FqdnNameTooLong {
        /// Its length in wire format.
        len: usize,
    },
    /// A byte that is not allowed in a host name label (letters, digits, `-` and `_`).
    #[error("byte {byte:#04x} at offset {at} is not allowed in a domain name")]
    FqdnBadByte {
        /// The byte.
        byte: u8,
        /// Its offset within the name.
        at: usize,
    },
    /// Bytes follow the terminating zero of a wire-format name.
    #[error("{extra} bytes after the end of the domain name")]
    FqdnTrailingData {
        /// How many bytes follow.
        extra: usize,
    },
}
