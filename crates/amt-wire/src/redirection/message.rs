//! Typed redirection messages: one [`Message`] enum for both directions, its encoder and its
//! one-shot decoder ([`Message::decode_prefix`]).

use std::fmt;

use amt_wsman::secret::SecretString;

use super::{
    AuthStatus, AuthType, Command, IderMessage, SessionStatus, SessionType, MAX_AUTH_DATA_LEN,
    MAX_SOL_DATA_LEN,
};
use crate::Error;

/// 0x10 StartRedirectionSession.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartSession {
    /// Byte 1: 0 from amtterm, 1 from MeshCentral's KVM start (meaning not public).
    pub flags: u8,
    /// The four session-type bytes as sent; see [`StartSession::session_type`].
    pub tag: [u8; 4],
}

impl StartSession {
    /// A start request for `kind` with flags 0 (KVM: 1, as MeshCentral sends it).
    pub fn new(kind: SessionType) -> Self {
        StartSession {
            flags: u8::from(kind == SessionType::Kvm),
            tag: kind.tag(),
        }
    }

    /// The session type.
    ///
    /// # Errors
    /// [`Error::UnknownSessionType`]: the device answers [`SessionStatus::TypeUnknown`].
    pub fn session_type(&self) -> Result<SessionType, Error> {
        SessionType::try_from(self.tag)
    }
}

/// 0x11 StartRedirectionSessionReply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSessionReply {
    /// Byte 1.
    pub status: SessionStatus,
    /// Bytes 4..12 (their meaning is not public; the emulator sends zeros).
    pub info: [u8; 8],
    /// OEM data (length in byte 12, at most 255 bytes).
    pub oem: Vec<u8>,
}

impl StartSessionReply {
    /// A reply with `status`, zero info bytes and no OEM data (13 bytes: what amtterm expects).
    pub fn new(status: SessionStatus) -> Self {
        StartSessionReply {
            status,
            info: [0; 8],
            oem: Vec::new(),
        }
    }
}

/// The password of [`AuthRequest::UserPassword`]: redacted in `Debug`, zeroized on drop,
/// compared in constant time.
#[derive(Clone, Default)]
pub struct PlainPassword(pub SecretString);

impl PlainPassword {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        PlainPassword(SecretString::new(password.into()))
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for PlainPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainPassword([REDACTED])")
    }
}

impl PartialEq for PlainPassword {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0)
    }
}

impl Eq for PlainPassword {}

/// The length-prefixed strings of a digest step (auth types 3 and 4), in wire order.
///
/// * Step 1 (console → device): user and uri set, every other field empty. amtterm sends
///   `qop` as an empty string for type 4 and leaves it out (`None`) for type 3.
/// * Step 3 (console → device): every field set; `qop` is `Some("auth")` for type 4 and `None`
///   for type 3 (RFC 2069: `response = MD5(HA1:nonce:MD5(POST:uri))`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestFields {
    /// User name.
    pub user: String,
    /// The device's digest realm (empty in step 1).
    pub realm: String,
    /// The nonce from the challenge (empty in step 1).
    pub nonce: String,
    /// Always [`super::DIGEST_URI`] in practice.
    pub uri: String,
    /// Client nonce.
    pub cnonce: String,
    /// Nonce count (amtterm: `00000002`).
    pub nc: String,
    /// 32 lowercase hex digits.
    pub response: String,
    /// The eighth string, absent for RFC 2069.
    pub qop: Option<String>,
}

impl DigestFields {
    /// The first digest step: only the user and uri (type 4: `qop` empty; type 3: absent).
    pub fn step1(user: impl Into<String>, kind: AuthType) -> Self {
        DigestFields {
            user: user.into(),
            uri: super::DIGEST_URI.to_owned(),
            qop: (kind == AuthType::Digest).then(String::new),
            ..Default::default()
        }
    }

    /// Whether this is a first step (no realm and no nonce yet).
    pub fn is_step1(&self) -> bool {
        self.realm.is_empty() && self.nonce.is_empty()
    }
}

/// What an AuthenticateSession (0x13) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    /// Type 0: which methods are supported? (no data)
    Query,
    /// Type 1: `[len]user [len]password`.
    UserPassword {
        /// User name.
        user: String,
        /// Password in clear.
        password: PlainPassword,
    },
    /// Type 2: an opaque Kerberos token (kept as bytes).
    Kerberos(Vec<u8>),
    /// Types 3 and 4.
    Digest {
        /// [`AuthType::DigestRfc2069`] or [`AuthType::Digest`].
        kind: AuthType,
        /// The strings.
        fields: DigestFields,
    },
}

impl AuthRequest {
    /// The auth type byte.
    pub fn auth_type(&self) -> AuthType {
        match self {
            AuthRequest::Query => AuthType::Query,
            AuthRequest::UserPassword { .. } => AuthType::UserPassword,
            AuthRequest::Kerberos(_) => AuthType::Kerberos,
            AuthRequest::Digest { kind, .. } => *kind,
        }
    }
}

/// 0x13 AuthenticateSession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateSession {
    /// The method and its data.
    pub request: AuthRequest,
}

/// The method ids of a query answer, as sent (unknown ids are kept; see
/// [`AuthMethods::known`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthMethods(pub Vec<u8>);

impl AuthMethods {
    /// The methods this crate knows, in the order sent.
    pub fn known(&self) -> impl Iterator<Item = AuthType> + '_ {
        self.0.iter().filter_map(|b| AuthType::try_from(*b).ok())
    }

    /// Whether `t` is offered.
    pub fn offers(&self, t: AuthType) -> bool {
        self.0.contains(&t.value())
    }
}

impl From<&[AuthType]> for AuthMethods {
    fn from(v: &[AuthType]) -> Self {
        AuthMethods(v.iter().map(|t| t.value()).collect())
    }
}

/// What an AuthenticateSessionReply (0x14) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReplyData {
    /// No data (the final answer of any method).
    None,
    /// Answer to [`AuthRequest::Query`]: one byte per method.
    Methods(AuthMethods),
    /// Digest step 2 (status [`AuthStatus::Failure`]): `[len]realm [len]nonce [len]qop`, the
    /// qop only for type 4.
    Challenge {
        /// The device's digest realm.
        realm: String,
        /// A fresh nonce (amtterm accepts at most 32 characters).
        nonce: String,
        /// `Some("auth")` for type 4, `None` for type 3.
        qop: Option<String>,
    },
    /// Any other data, kept as bytes.
    Other(Vec<u8>),
}

/// 0x14 AuthenticateSessionReply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateSessionReply {
    /// Byte 1.
    pub status: AuthStatus,
    /// Byte 4: the method this answers.
    pub auth_type: AuthType,
    /// The data.
    pub data: AuthReplyData,
}

/// The six u16 settings of StartSOLRedirection (0x20), in wire order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolSettings {
    /// Bytes the device may buffer before sending (amtterm 1000, MeshCentral 10000).
    pub max_tx_buffer: u16,
    /// Milliseconds the device waits before sending a partial buffer (100).
    pub tx_timeout: u16,
    /// Milliseconds (0).
    pub tx_overflow_timeout: u16,
    /// Milliseconds of console silence after which the device may end the session (10000).
    pub host_session_rx_timeout: u16,
    /// Milliseconds (amtterm 0, MeshCentral 100).
    pub host_fifo_rx_flush_timeout: u16,
    /// Milliseconds between device heartbeats, 0 for none (amtterm 5000, MeshCentral 0).
    pub heartbeat_interval: u16,
}

impl SolSettings {
    /// The values amtterm sends.
    pub const AMTTERM: SolSettings = SolSettings {
        max_tx_buffer: 1000,
        tx_timeout: 100,
        tx_overflow_timeout: 0,
        host_session_rx_timeout: 10000,
        host_fifo_rx_flush_timeout: 0,
        heartbeat_interval: 5000,
    };

    fn write(&self, out: &mut Vec<u8>) {
        for v in [
            self.max_tx_buffer,
            self.tx_timeout,
            self.tx_overflow_timeout,
            self.host_session_rx_timeout,
            self.host_fifo_rx_flush_timeout,
            self.heartbeat_interval,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn read(b: &[u8; 12]) -> Self {
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        SolSettings {
            max_tx_buffer: u(0),
            tx_timeout: u(2),
            tx_overflow_timeout: u(4),
            host_session_rx_timeout: u(6),
            host_fifo_rx_flush_timeout: u(8),
            heartbeat_interval: u(10),
        }
    }
}

/// 0x20 StartSOLRedirection (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartSol {
    /// Sequence number.
    pub seq: u32,
    /// The settings.
    pub settings: SolSettings,
    /// The trailing u32 (amtterm: 0).
    pub reserved: u32,
}

/// 0x21 StartSOLRedirectionReply (23 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartSolReply {
    /// Byte 1.
    pub status: SessionStatus,
    /// Sequence number.
    pub seq: u32,
    /// Bytes 8..23. Their layout is not public; neither amtterm nor MeshCentral reads them.
    /// The emulator echoes the console's [`SolSettings`] in the first 12 and zeros after.
    pub payload: [u8; 15],
}

impl StartSolReply {
    /// A reply echoing `settings` (the emulator's choice, see [`StartSolReply::payload`]).
    pub fn new(status: SessionStatus, seq: u32, settings: &SolSettings) -> Self {
        let mut v = Vec::with_capacity(15);
        settings.write(&mut v);
        let mut payload = [0u8; 15];
        payload[..12].copy_from_slice(&v);
        StartSolReply {
            status,
            seq,
            payload,
        }
    }
}

/// 0x27: serial settings MeshCentral sends after 0x21 (`27 00 00 00 <seq> 00 00 1B 00 00 00`).
/// Its meaning is not public; the emulator accepts and ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SolSettingsMessage {
    /// Sequence number.
    pub seq: u32,
    /// The six bytes after the sequence number.
    pub data: [u8; 6],
}

/// 0x28 (console → device) and 0x2A (device → console): serial data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SolData {
    /// Sequence number (amtterm sends 0; MeshCentral counts).
    pub seq: u32,
    /// The bytes (at most [`MAX_SOL_DATA_LEN`]).
    pub data: Vec<u8>,
}

/// 0x29 SOL controls from host (10 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlsFromHost {
    /// Sequence number.
    pub seq: u32,
    /// [`super::control_bits`].
    pub control: u8,
    /// [`super::status_bits`].
    pub status: u8,
}

/// Every redirection message this crate decodes, both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 0x10.
    StartSession(StartSession),
    /// 0x11.
    StartSessionReply(StartSessionReply),
    /// 0x12.
    EndSession,
    /// 0x13.
    Authenticate(AuthenticateSession),
    /// 0x14.
    AuthenticateReply(AuthenticateSessionReply),
    /// 0x20.
    StartSol(StartSol),
    /// 0x21.
    StartSolReply(StartSolReply),
    /// 0x22, with its sequence number.
    EndSol(u32),
    /// 0x23, with its sequence number.
    EndSolReply(u32),
    /// 0x24, with its sequence number.
    KeepAlivePing(u32),
    /// 0x25, with its sequence number.
    KeepAlivePong(u32),
    /// 0x27.
    SolSettings(SolSettingsMessage),
    /// 0x28.
    DataToHost(SolData),
    /// 0x29.
    ControlsFromHost(ControlsFromHost),
    /// 0x2A.
    DataFromHost(SolData),
    /// 0x2B, with its sequence number.
    Heartbeat(u32),
    /// 0x40–0x54: IDE redirection.
    Ider(IderMessage),
}

fn header(out: &mut Vec<u8>, cmd: Command, byte1: u8) {
    out.extend_from_slice(&[cmd.value(), byte1, 0, 0]);
}

fn put_string(out: &mut Vec<u8>, field: &'static str, s: &str) -> Result<(), Error> {
    let len = u8::try_from(s.len()).map_err(|_| Error::RedirectionFieldTooLong {
        field,
        len: s.len(),
        max: 255,
    })?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Length-prefixed strings of authentication data.
struct Strings<'a> {
    rest: &'a [u8],
    auth_type: AuthType,
}

impl<'a> Strings<'a> {
    fn next_bytes(&mut self) -> Result<Option<&'a [u8]>, Error> {
        let Some((&len, tail)) = self.rest.split_first() else {
            return Ok(None);
        };
        let len = usize::from(len);
        if tail.len() < len {
            return Err(Error::MalformedAuthData {
                auth_type: self.auth_type,
                reason: "a string runs past the end of the data",
            });
        }
        let (s, tail) = tail.split_at(len);
        self.rest = tail;
        Ok(Some(s))
    }

    fn next(&mut self, field: &'static str) -> Result<Option<String>, Error> {
        match self.next_bytes()? {
            None => Ok(None),
            Some(b) => String::from_utf8(b.to_vec())
                .map(Some)
                .map_err(|_| Error::RedirectionText { field }),
        }
    }

    fn required(&mut self, field: &'static str) -> Result<String, Error> {
        self.next(field)?.ok_or(Error::MalformedAuthData {
            auth_type: self.auth_type,
            reason: "a required string is missing",
        })
    }

    fn finish(&self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::MalformedAuthData {
                auth_type: self.auth_type,
                reason: "bytes after the last string",
            })
        }
    }
}

impl Message {
    /// The command byte.
    pub fn command(&self) -> Command {
        use Command as C;
        match self {
            Message::StartSession(_) => C::StartRedirectionSession,
            Message::StartSessionReply(_) => C::StartRedirectionSessionReply,
            Message::EndSession => C::EndRedirectionSession,
            Message::Authenticate(_) => C::AuthenticateSession,
            Message::AuthenticateReply(_) => C::AuthenticateSessionReply,
            Message::StartSol(_) => C::StartSolRedirection,
            Message::StartSolReply(_) => C::StartSolRedirectionReply,
            Message::EndSol(_) => C::EndSolRedirection,
            Message::EndSolReply(_) => C::EndSolRedirectionReply,
            Message::KeepAlivePing(_) => C::SolKeepAlivePing,
            Message::KeepAlivePong(_) => C::SolKeepAlivePong,
            Message::SolSettings(_) => C::SolSettings,
            Message::DataToHost(_) => C::SolDataToHost,
            Message::ControlsFromHost(_) => C::SolControlsFromHost,
            Message::DataFromHost(_) => C::SolDataFromHost,
            Message::Heartbeat(_) => C::SolHeartbeat,
            Message::Ider(m) => m.command(),
        }
    }

    /// The wire bytes.
    ///
    /// # Errors
    /// [`Error::RedirectionFieldTooLong`] for a string over 255 bytes, OEM data over 255
    /// bytes, SOL data over [`MAX_SOL_DATA_LEN`] or authentication data over
    /// [`MAX_AUTH_DATA_LEN`].
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the wire bytes to `out` (on error `out` may hold a partial message).
    ///
    /// # Errors
    /// As [`Message::encode`].
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let cmd = self.command();
        match self {
            Message::StartSession(s) => {
                header(out, cmd, s.flags);
                out.extend_from_slice(&s.tag);
            }
            Message::StartSessionReply(r) => {
                let oem =
                    u8::try_from(r.oem.len()).map_err(|_| Error::RedirectionFieldTooLong {
                        field: "OEM data",
                        len: r.oem.len(),
                        max: 255,
                    })?;
                header(out, cmd, r.status.value());
                out.extend_from_slice(&r.info);
                out.push(oem);
                out.extend_from_slice(&r.oem);
            }
            Message::EndSession => header(out, cmd, 0),
            Message::Authenticate(a) => {
                let mut data = Vec::new();
                match &a.request {
                    AuthRequest::Query => {}
                    AuthRequest::UserPassword { user, password } => {
                        put_string(&mut data, "user", user)?;
                        put_string(&mut data, "password", password.expose())?;
                    }
                    AuthRequest::Kerberos(token) => data.extend_from_slice(token),
                    AuthRequest::Digest { fields: f, .. } => {
                        put_string(&mut data, "user", &f.user)?;
                        put_string(&mut data, "realm", &f.realm)?;
                        put_string(&mut data, "nonce", &f.nonce)?;
                        put_string(&mut data, "uri", &f.uri)?;
                        put_string(&mut data, "cnonce", &f.cnonce)?;
                        put_string(&mut data, "nc", &f.nc)?;
                        put_string(&mut data, "response", &f.response)?;
                        if let Some(q) = &f.qop {
                            put_string(&mut data, "qop", q)?;
                        }
                    }
                }
                auth_frame(out, cmd, 0, a.request.auth_type(), &data)?;
            }
            Message::AuthenticateReply(r) => {
                let mut data = Vec::new();
                match &r.data {
                    AuthReplyData::None => {}
                    AuthReplyData::Methods(m) => data.extend_from_slice(&m.0),
                    AuthReplyData::Challenge { realm, nonce, qop } => {
                        put_string(&mut data, "realm", realm)?;
                        put_string(&mut data, "nonce", nonce)?;
                        if let Some(q) = qop {
                            put_string(&mut data, "qop", q)?;
                        }
                    }
                    AuthReplyData::Other(b) => data.extend_from_slice(b),
                }
                auth_frame(out, cmd, r.status.value(), r.auth_type, &data)?;
            }
            Message::StartSol(s) => {
                header(out, cmd, 0);
                out.extend_from_slice(&s.seq.to_le_bytes());
                s.settings.write(out);
                out.extend_from_slice(&s.reserved.to_le_bytes());
            }
            Message::StartSolReply(r) => {
                header(out, cmd, r.status.value());
                out.extend_from_slice(&r.seq.to_le_bytes());
                out.extend_from_slice(&r.payload);
            }
            Message::EndSol(seq)
            | Message::EndSolReply(seq)
            | Message::KeepAlivePing(seq)
            | Message::KeepAlivePong(seq)
            | Message::Heartbeat(seq) => {
                header(out, cmd, 0);
                out.extend_from_slice(&seq.to_le_bytes());
            }
            Message::SolSettings(s) => {
                header(out, cmd, 0);
                out.extend_from_slice(&s.seq.to_le_bytes());
                out.extend_from_slice(&s.data);
            }
            Message::DataToHost(d) | Message::DataFromHost(d) => {
                let len =
                    u16::try_from(d.data.len()).map_err(|_| Error::RedirectionFieldTooLong {
                        field: "SOL data",
                        len: d.data.len(),
                        max: MAX_SOL_DATA_LEN,
                    })?;
                header(out, cmd, 0);
                out.extend_from_slice(&d.seq.to_le_bytes());
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&d.data);
            }
            Message::ControlsFromHost(c) => {
                header(out, cmd, 0);
                out.extend_from_slice(&c.seq.to_le_bytes());
                out.push(c.control);
                out.push(c.status);
            }
            Message::Ider(m) => m.encode_into(out)?,
        }
        Ok(())
    }

    /// The length of the message at the start of `buf`, once enough of it has arrived to
    /// tell (`Ok(None)`: need more bytes).
    ///
    /// # Errors
    /// [`Error::UnknownRedirectionCommand`], [`Error::RedirectionFieldTooLong`] when the
    /// authentication data length exceeds [`MAX_AUTH_DATA_LEN`], or
    /// [`Error::UnknownRedirectionValue`] for an IDE-R feature request of unknown type.
    pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, Error> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        use Command as C;
        let command = Command::try_from(first)?;
        if command.is_ider() {
            return IderMessage::frame_len(buf);
        }
        let len = match command {
            C::EndRedirectionSession => 4,
            C::StartRedirectionSession => 8,
            C::StartRedirectionSessionReply => match buf.get(12) {
                None => return Ok(None),
                Some(&oem) => 13 + usize::from(oem),
            },
            C::AuthenticateSession | C::AuthenticateSessionReply => {
                if buf.len() < 9 {
                    return Ok(None);
                }
                let data = u32_at(buf, 5) as usize;
                if data > MAX_AUTH_DATA_LEN {
                    return Err(Error::RedirectionFieldTooLong {
                        field: "authentication data",
                        len: data,
                        max: MAX_AUTH_DATA_LEN,
                    });
                }
                9 + data
            }
            C::StartSolRedirection => 24,
            C::StartSolRedirectionReply => 23,
            C::EndSolRedirection
            | C::EndSolRedirectionReply
            | C::SolKeepAlivePing
            | C::SolKeepAlivePong
            | C::SolHeartbeat => 8,
            C::SolSettings => 14,
            C::SolControlsFromHost => 10,
            C::SolDataToHost | C::SolDataFromHost => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                10 + usize::from(u16::from_le_bytes([buf[8], buf[9]]))
            }
            _ => return IderMessage::frame_len(buf),
        };
        Ok(Some(len))
    }

    /// Decodes the message at the start of `buf`: `Ok(Some((message, length)))`, or
    /// `Ok(None)` while the message is incomplete. Bytes after it are left alone.
    ///
    /// # Errors
    /// An unknown command, session status, auth type or status, authentication data that is
    /// malformed or too long, or text that is not UTF-8.
    pub fn decode_prefix(buf: &[u8]) -> Result<Option<(Message, usize)>, Error> {
        let Some(len) = Self::frame_len(buf)? else {
            return Ok(None);
        };
        let Some(b) = buf.get(..len) else {
            return Ok(None);
        };
        Ok(Some((Self::decode_frame(b)?, len)))
    }

    /// Decodes exactly one whole message.
    ///
    /// # Errors
    /// As [`Message::decode_prefix`], plus [`Error::RedirectionTruncated`] for an incomplete
    /// message and [`Error::RedirectionTrailingBytes`] for bytes after it.
    pub fn decode(buf: &[u8]) -> Result<Message, Error> {
        match Self::decode_prefix(buf)? {
            None => Err(Error::RedirectionTruncated {
                needed: Self::frame_len(buf)?.unwrap_or(buf.len() + 1),
                got: buf.len(),
            }),
            Some((m, len)) if len == buf.len() => Ok(m),
            Some((_, len)) => Err(Error::RedirectionTrailingBytes {
                len,
                extra: buf.len() - len,
            }),
        }
    }

    /// `b` is one whole frame (its length checked by [`Message::frame_len`]).
    fn decode_frame(b: &[u8]) -> Result<Message, Error> {
        use Command as C;
        let seq = || u32_at(b, 4);
        let command = Command::try_from(b[0])?;
        if command.is_ider() {
            return Ok(Message::Ider(IderMessage::decode_frame(b)?));
        }
        Ok(match command {
            C::StartRedirectionSession => Message::StartSession(StartSession {
                flags: b[1],
                tag: [b[4], b[5], b[6], b[7]],
            }),
            C::StartRedirectionSessionReply => {
                let mut info = [0u8; 8];
                info.copy_from_slice(&b[4..12]);
                Message::StartSessionReply(StartSessionReply {
                    status: SessionStatus::try_from(b[1])?,
                    info,
                    oem: b[13..].to_vec(),
                })
            }
            C::EndRedirectionSession => Message::EndSession,
            C::AuthenticateSession => {
                let auth_type = AuthType::try_from(b[4])?;
                let data = &b[9..];
                let mut s = Strings {
                    rest: data,
                    auth_type,
                };
                let request = match auth_type {
                    AuthType::Query => {
                        s.finish()?;
                        AuthRequest::Query
                    }
                    AuthType::UserPassword => {
                        let user = s.required("user")?;
                        let password = s.required("password")?;
                        s.finish()?;
                        AuthRequest::UserPassword {
                            user,
                            password: PlainPassword::new(password),
                        }
                    }
                    AuthType::Kerberos => AuthRequest::Kerberos(data.to_vec()),
                    kind @ (AuthType::DigestRfc2069 | AuthType::Digest) => {
                        let fields = DigestFields {
                            user: s.required("user")?,
                            realm: s.required("realm")?,
                            nonce: s.required("nonce")?,
                            uri: s.required("uri")?,
                            cnonce: s.required("cnonce")?,
                            nc: s.required("nc")?,
                            response: s.required("response")?,
                            qop: s.next("qop")?,
                        };
                        s.finish()?;
                        AuthRequest::Digest { kind, fields }
                    }
                };
                Message::Authenticate(AuthenticateSession { request })
            }
            C::AuthenticateSessionReply => {
                let status = AuthStatus::try_from(b[1])?;
                let auth_type = AuthType::try_from(b[4])?;
                let raw = &b[9..];
                let data = if auth_type == AuthType::Query && status == AuthStatus::Success {
                    AuthReplyData::Methods(AuthMethods(raw.to_vec()))
                } else if raw.is_empty() {
                    AuthReplyData::None
                } else if matches!(auth_type, AuthType::Digest | AuthType::DigestRfc2069)
                    && status == AuthStatus::Failure
                {
                    let mut s = Strings {
                        rest: raw,
                        auth_type,
                    };
                    let realm = s.required("realm")?;
                    let nonce = s.required("nonce")?;
                    let qop = s.next("qop")?;
                    s.finish()?;
                    AuthReplyData::Challenge { realm, nonce, qop }
                } else {
                    AuthReplyData::Other(raw.to_vec())
                };
                Message::AuthenticateReply(AuthenticateSessionReply {
                    status,
                    auth_type,
                    data,
                })
            }
            C::StartSolRedirection => {
                let mut s = [0u8; 12];
                s.copy_from_slice(&b[8..20]);
                Message::StartSol(StartSol {
                    seq: seq(),
                    settings: SolSettings::read(&s),
                    reserved: u32_at(b, 20),
                })
            }
            C::StartSolRedirectionReply => {
                let mut payload = [0u8; 15];
                payload.copy_from_slice(&b[8..23]);
                Message::StartSolReply(StartSolReply {
                    status: SessionStatus::try_from(b[1])?,
                    seq: seq(),
                    payload,
                })
            }
            C::EndSolRedirection => Message::EndSol(seq()),
            C::EndSolRedirectionReply => Message::EndSolReply(seq()),
            C::SolKeepAlivePing => Message::KeepAlivePing(seq()),
            C::SolKeepAlivePong => Message::KeepAlivePong(seq()),
            C::SolHeartbeat => Message::Heartbeat(seq()),
            C::SolSettings => {
                let mut data = [0u8; 6];
                data.copy_from_slice(&b[8..14]);
                Message::SolSettings(SolSettingsMessage { seq: seq(), data })
            }
            C::SolDataToHost => Message::DataToHost(SolData {
                seq: seq(),
                data: b[10..].to_vec(),
            }),
            C::SolDataFromHost => Message::DataFromHost(SolData {
                seq: seq(),
                data: b[10..].to_vec(),
            }),
            C::SolControlsFromHost => Message::ControlsFromHost(ControlsFromHost {
                seq: seq(),
                control: b[8],
                status: b[9],
            }),
            _ => Message::Ider(IderMessage::decode_frame(b)?),
        })
    }
}

fn auth_frame(
    out: &mut Vec<u8>,
    cmd: Command,
    status: u8,
    auth_type: AuthType,
    data: &[u8],
) -> Result<(), Error> {
    if data.len() > MAX_AUTH_DATA_LEN {
        return Err(Error::RedirectionFieldTooLong {
            field: "authentication data",
            len: data.len(),
            max: MAX_AUTH_DATA_LEN,
        });
    }
    header(out, cmd, status);
    out.push(auth_type.value());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    Ok(())
}
