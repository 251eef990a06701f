//! The AMT redirection protocol (TCP 16994, TLS 16995): session manager, authentication,
//! Serial-over-LAN and IDE redirection (AMT-PROTOCOLS.md §4.1–4.3). Both sides: the console
//! encodes what it sends and decodes what the device answers, the device (emulator) the other
//! way round, with the same [`Message`] type. IDE-R messages are [`Message::Ider`] (see
//! [`ider`] for their layouts and sources, [`atapi`] for the command packets they carry).
//!
//! ```
//! use amt_wire::redirection::{Message, RedirectionDecoder, SessionType, StartSession};
//!
//! // Console side: amtterm's first eight bytes.
//! let start = Message::StartSession(StartSession::new(SessionType::Sol));
//! let bytes = start.encode()?;
//! assert_eq!(bytes, b"\x10\x00\x00\x00SOL ");
//!
//! // Device side: bytes arrive in any segment sizes.
//! let mut decoder = RedirectionDecoder::new();
//! decoder.push(&bytes[..3])?;
//! assert_eq!(decoder.next_message()?, None);
//! decoder.push(&bytes[3..])?;
//! assert_eq!(decoder.next_message()?, Some(start));
//! # Ok::<(), amt_wire::Error>(())
//! ```
//!
//! # Framing
//!
//! Every message starts with a command byte ([`Command`]) and three bytes whose meaning depends
//! on the command (a status for replies, otherwise reserved and written as zero; decoding
//! ignores reserved bytes). Lengths, all little-endian:
//!
//! | command | length |
//! |---|---|
//! | 0x10 StartRedirectionSession | 8: `10 flags 00 00` + 4-byte session type |
//! | 0x11 reply | 13 + OEM length (byte 12) |
//! | 0x12 EndRedirectionSession | 4 |
//! | 0x13 AuthenticateSession, 0x14 reply | 9 + u32 data length (bytes 5..9) |
//! | 0x20 StartSOLRedirection | 24 |
//! | 0x21 reply | 23 (amtterm and MeshCentral assume no OEM data) |
//! | 0x22/0x23 EndSOL + reply, 0x24/0x25 keep-alive, 0x2B heartbeat | 8: header + u32 sequence |
//! | 0x27 SOL settings (MeshCentral, after 0x21) | 14 |
//! | 0x28 data to host, 0x2A data from host | 10 + u16 data length (bytes 8..10) |
//! | 0x29 controls from host | 10 |
//! | 0x40–0x54 IDE-R | see [`ider`] |
//!
//! Anything else is [`crate::Error::UnknownRedirectionCommand`]. KVM is not decoded: after a
//! `KVMR` session starts, MeshCentral sends an 8-byte 0x40 and the stream turns into RFB, which
//! a context-free decoder cannot tell from IDE-R's 18-byte 0x40. Authentication data is
//! bounded by [`MAX_AUTH_DATA_LEN`] and data lengths are u16 fields, so a peer can never make
//! a decoder buffer more than [`MAX_FRAME_LEN`] bytes for one message.
//!
//! # Sources
//!
//! Constants: amtterm `RedirectionConstants.h`; authentication layouts: amtterm `auth.c` (1.5+)
//! and `redir.c` (1.4, plain authentication); statuses and auth types 2 (Kerberos) and the
//! status names: Intel's open-amt-cloud-toolkit redirection interceptor
//! (`StartRedirectionSessionReplyStatus`, `AuthenticationStatus`, `AuthenticationType`).

mod decoder;
mod message;

pub use decoder::RedirectionDecoder;
pub use ider::{
    AtaRegisters, CommandEnd, CommandWritten, DataFromHost, DataToHost, DisableEnableFeatures,
    DisableEnableFeaturesReply, ErrorOccurred, FeatureRequest, FeatureType, IderMessage,
    IderSettings, IderStartMode, ResetOccurred, StartIder, StartIderReply,
};
pub use message::{
    AuthMethods, AuthReplyData, AuthRequest, AuthenticateSession, AuthenticateSessionReply,
    ControlsFromHost, DigestFields, Message, PlainPassword, SolData, SolSettings,
    SolSettingsMessage, StartSession, StartSessionReply, StartSol, StartSolReply,
};

use crate::Error;

/// The URI every redirection digest hashes (`MD5("POST:/RedirectionService")`).
pub const DIGEST_URI: &str = "/RedirectionService";
/// The method every redirection digest hashes.
pub const DIGEST_METHOD: &str = "POST";
/// The nonce count amtterm sends (a constant, one authentication per nonce).
pub const DIGEST_NC: &str = "00000002";
/// Longest authentication data (bytes after the 9-byte header) a decoder accepts. amtterm's
/// whole buffer is 512 bytes; eight 255-byte strings would be 2,048.
pub const MAX_AUTH_DATA_LEN: usize = 2048;
/// Longest SOL data in one message (the length field is a u16).
pub const MAX_SOL_DATA_LEN: usize = u16::MAX as usize;
/// Longest IDE-R data in one DataToHost/DataFromHost (the length field is a u16).
pub const MAX_IDER_DATA_LEN: usize = u16::MAX as usize;
/// Longest message a decoder ever buffers: IDE-R DataToHost with its 34-byte header.
pub const MAX_FRAME_LEN: usize = 34 + MAX_IDER_DATA_LEN;

macro_rules! wire_u8_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($(#[$vm:meta])* $v:ident = $n:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vm])* $v = $n,)*
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            /// The wire value.
            pub fn value(self) -> u8 {
                self as u8
            }
        }

        impl TryFrom<u8> for $name {
            type Error = Error;
            fn try_from(v: u8) -> Result<Self, Error> {
                match v {
                    $($n => Ok($name::$v),)*
                    other => Err(Error::UnknownRedirectionValue { field: $field, value: other }),
                }
            }
        }
    };
}

/// Message types (the first byte of every message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// 0x10 console → device: open a session of a [`SessionType`].
    StartRedirectionSession = 0x10,
    /// 0x11 device → console: [`SessionStatus`].
    StartRedirectionSessionReply = 0x11,
    /// 0x12 console → device: close the session.
    EndRedirectionSession = 0x12,
    /// 0x13 console → device: authentication step.
    AuthenticateSession = 0x13,
    /// 0x14 device → console: authentication answer.
    AuthenticateSessionReply = 0x14,
    /// 0x20 console → device: start SOL with these settings.
    StartSolRedirection = 0x20,
    /// 0x21 device → console.
    StartSolRedirectionReply = 0x21,
    /// 0x22 console → device: stop SOL.
    EndSolRedirection = 0x22,
    /// 0x23 device → console.
    EndSolRedirectionReply = 0x23,
    /// 0x24 console → device.
    SolKeepAlivePing = 0x24,
    /// 0x25 device → console.
    SolKeepAlivePong = 0x25,
    /// 0x27 console → device: serial settings (MeshCentral sends it after 0x21).
    SolSettings = 0x27,
    /// 0x28 console → device: keystrokes for the host's serial port.
    SolDataToHost = 0x28,
    /// 0x29 device → console: the host's modem control lines and status.
    SolControlsFromHost = 0x29,
    /// 0x2A device → console: what the host wrote to its serial port.
    SolDataFromHost = 0x2A,
    /// 0x2B either way: heartbeat (amtterm echoes it).
    SolHeartbeat = 0x2B,
    /// 0x40 console → device: start IDE-R.
    StartIderRedirection = 0x40,
    /// 0x41 device → console.
    StartIderRedirectionReply = 0x41,
    /// 0x42 console → device: stop IDE-R.
    EndIderRedirection = 0x42,
    /// 0x43 device → console.
    EndIderRedirectionReply = 0x43,
    /// 0x44 either way.
    IderKeepAlivePing = 0x44,
    /// 0x45 either way.
    IderKeepAlivePong = 0x45,
    /// 0x46 device → console: the host reset the IDE bus.
    IderResetOccurred = 0x46,
    /// 0x47 console → device.
    IderResetOccurredResponse = 0x47,
    /// 0x48 console → device: enable/disable the drives, query their state.
    IderDisableEnableFeatures = 0x48,
    /// 0x49 device → console.
    IderDisableEnableFeaturesReply = 0x49,
    /// 0x4A device → console.
    IderErrorOccurred = 0x4A,
    /// 0x4B either way.
    IderHeartbeat = 0x4B,
    /// 0x50 device → console: an ATA command for a redirected drive.
    IderCommandWritten = 0x50,
    /// 0x51 console → device: the command's end status.
    IderCommandEndResponse = 0x51,
    /// 0x52 console → device: send the data of a write.
    IderGetDataFromHost = 0x52,
    /// 0x53 device → console: data the host wrote.
    IderDataFromHost = 0x53,
    /// 0x54 console → device: data for the host's read.
    IderDataToHost = 0x54,
}

impl Command {
    /// The wire value.
    pub fn value(self) -> u8 {
        self as u8
    }

    /// Whether this is an IDE-R command (0x40–0x54).
    pub fn is_ider(self) -> bool {
        (0x40..=0x54).contains(&self.value())
    }
}

impl TryFrom<u8> for Command {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self, Error> {
        use Command as C;
        Ok(match v {
            0x10 => C::StartRedirectionSession,
            0x11 => C::StartRedirectionSessionReply,
            0x12 => C::EndRedirectionSession,
            0x13 => C::AuthenticateSession,
            0x14 => C::AuthenticateSessionReply,
            0x20 => C::StartSolRedirection,
            0x21 => C::StartSolRedirectionReply,
            0x22 => C::EndSolRedirection,
            0x23 => C::EndSolRedirectionReply,
            0x24 => C::SolKeepAlivePing,
            0x25 => C::SolKeepAlivePong,
            0x27 => C::SolSettings,
            0x28 => C::SolDataToHost,
            0x29 => C::SolControlsFromHost,
            0x2A => C::SolDataFromHost,
            0x2B => C::SolHeartbeat,
            0x40 => C::StartIderRedirection,
            0x41 => C::StartIderRedirectionReply,
            0x42 => C::EndIderRedirection,
            0x43 => C::EndIderRedirectionReply,
            0x44 => C::IderKeepAlivePing,
            0x45 => C::IderKeepAlivePong,
            0x46 => C::IderResetOccurred,
            0x47 => C::IderResetOccurredResponse,
            0x48 => C::IderDisableEnableFeatures,
            0x49 => C::IderDisableEnableFeaturesReply,
            0x4A => C::IderErrorOccurred,
            0x4B => C::IderHeartbeat,
            0x50 => C::IderCommandWritten,
            0x51 => C::IderCommandEndResponse,
            0x52 => C::IderGetDataFromHost,
            0x53 => C::IderDataFromHost,
            0x54 => C::IderDataToHost,
            other => return Err(Error::UnknownRedirectionCommand(other)),
        })
    }
}

/// What a redirection session redirects (the four ASCII bytes of 0x10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionType {
    /// `"SOL "`: Serial-over-LAN.
    Sol,
    /// `"IDER"`: IDE redirection.
    Ider,
    /// `"KVMR"`: KVM (MeshCentral sends it with flags byte 1).
    Kvm,
}

impl SessionType {
    /// Every value.
    pub const ALL: &'static [SessionType] =
        &[SessionType::Sol, SessionType::Ider, SessionType::Kvm];

    /// The four bytes on the wire.
    pub fn tag(self) -> [u8; 4] {
        match self {
            SessionType::Sol => *b"SOL ",
            SessionType::Ider => *b"IDER",
            SessionType::Kvm => *b"KVMR",
        }
    }
}

impl TryFrom<[u8; 4]> for SessionType {
    type Error = Error;
    fn try_from(tag: [u8; 4]) -> Result<Self, Error> {
        match &tag {
            b"SOL " => Ok(SessionType::Sol),
            b"IDER" => Ok(SessionType::Ider),
            b"KVMR" => Ok(SessionType::Kvm),
            _ => Err(Error::UnknownSessionType(tag)),
        }
    }
}

wire_u8_enum! {
    /// Byte 1 of 0x11 (and of 0x21): whether the device accepted.
    SessionStatus, "session status" {
        /// 0: accepted.
        Success = 0,
        /// 1: the session type is not known.
        TypeUnknown = 1,
        /// 2: a session of this type is already open.
        Busy = 2,
        /// 3: the session type is known but not enabled or not supported.
        Unsupported = 3,
        /// 0xFF: any other failure.
        Error = 0xFF,
    }
}

wire_u8_enum! {
    /// Byte 4 of 0x13/0x14: the authentication method.
    AuthType, "authentication type" {
        /// 0: ask which methods the device supports.
        Query = 0,
        /// 1: user name and password in clear (amtterm 1.4).
        UserPassword = 1,
        /// 2: Kerberos (data is an opaque ticket; not implemented by the emulator).
        Kerberos = 2,
        /// 3: digest per RFC 2069 (no qop, so no cnonce/nc in the hash).
        DigestRfc2069 = 3,
        /// 4: digest per RFC 2617 with qop=auth.
        Digest = 4,
    }
}

wire_u8_enum! {
    /// Byte 1 of 0x14.
    AuthStatus, "authentication status" {
        /// 0: authenticated (or, for a query, the method list follows).
        Success = 0,
        /// 1: refused — or, after digest step 1, "here is the challenge".
        Failure = 1,
        /// 2: the method is not supported.
        NotSupported = 2,
    }
}

/// Bits of [`ControlsFromHost::control`] (amtterm `RedirectionConstants.h`).
pub mod control_bits {
    /// RTS asserted.
    pub const RTS: u8 = 1;
    /// DTR asserted.
    pub const DTR: u8 = 2;
    /// BREAK asserted.
    pub const BREAK: u8 = 4;
}

/// Bits of [`ControlsFromHost::status`] (amtterm `RedirectionConstants.h`).
pub mod status_bits {
    /// The device's transmit buffer overflowed.
    pub const TX_OVERFLOW: u8 = 1;
    /// The serial port is in loopback mode.
    pub const LOOPBACK_ACTIVE: u8 = 2;
    /// Set while the host is powered on.
    pub const SYSTEM_POWER_STATE: u8 = 4;
    /// The receive FIFO flush timed out.
    pub const RX_FLUSH_TIMEOUT: u8 = 8;
    /// Test mode.
    pub const TESTMODE_ACTIVE: u8 = 16;
}

pub mod atapi;
pub mod boot_image;
pub mod ider;
