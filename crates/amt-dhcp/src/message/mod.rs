//! The DHCPv4 message codec (RFC 2131 §2, RFC 2132 options, RFC 3396 long options).
//!
//! Wire layout (offsets in bytes):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | op (1 BOOTREQUEST, 2 BOOTREPLY) |
//! | 1 | 1 | htype (1 Ethernet) |
//! | 2 | 1 | hlen (6) |
//! | 3 | 1 | hops |
//! | 4 | 4 | xid |
//! | 8 | 2 | secs |
//! | 10 | 2 | flags (0x8000 BROADCAST) |
//! | 12 | 4 × 4 | ciaddr, yiaddr, siaddr, giaddr |
//! | 28 | 16 | chaddr (6 used) |
//! | 44 | 64 | sname |
//! | 108 | 128 | file |
//! | 236 | 4 | magic cookie 99.130.83.99 |
//! | 240 | … | options, ended by 255 |
//!
//! [`Message::decode`] accepts 240 to 4096 bytes and never panics. Repeated instances of one
//! option are concatenated (RFC 3396), and option 52 (overload) makes it read more options from
//! `file` and then `sname` (RFC 2131 §4.1 order); the overloaded fields then come out empty and
//! option 52 itself is consumed. [`Message::encode`] writes every option in the options field
//! (never overloading), splits data longer than 255 bytes into consecutive instances, ends with
//! option 255 and pads the datagram to the BOOTP minimum of 300 bytes.

mod fqdn;
mod options;

use std::net::Ipv4Addr;

pub use self::fqdn::{validate_name, ClientFqdn, FqdnFlags, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use self::options::{code, DhcpOption, Options};
use crate::DhcpError;

/// Shortest message accepted: the 236-byte BOOTP header and the 4-byte magic cookie.
pub const MIN_MESSAGE_LEN: usize = 240;
/// Longest message accepted by [`Message::decode`].
pub const MAX_MESSAGE_LEN: usize = 4096;
/// [`Message::encode`] pads every message to at least this length (RFC 1542 §2.1 BOOTP minimum).
pub const BOOTP_MIN_LEN: usize = 300;
/// The DHCP magic cookie, 99.130.83.99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// `htype` of Ethernet, the only hardware type a client of this crate uses.
pub const HTYPE_ETHERNET: u8 = 1;
/// The BROADCAST bit of the `flags` field.
pub const FLAG_BROADCAST: u16 = 0x8000;

const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;
const COOKIE: std::ops::Range<usize> = 236..240;
const HLEN: u8 = 6;

/// The BOOTP `op` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Client to server.
    BootRequest = 1,
    /// Server to client.
    BootReply = 2,
}

impl TryFrom<u8> for Op {
    type Error = DhcpError;

    fn try_from(value: u8) -> Result<Self, DhcpError> {
        match value {
            1 => Ok(Self::BootRequest),
            2 => Ok(Self::BootReply),
            other => Err(DhcpError::UnknownOp(other)),
        }
    }
}

/// The DHCP message type (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Client broadcast to locate servers.
    Discover = 1,
    /// Server offer of an address.
    Offer = 2,
    /// Client request of the offered address (or renewal).
    Request = 3,
    /// Client saying the address is already in use.
    Decline = 4,
    /// Server confirming a lease.
    Ack = 5,
    /// Server refusing the request.
    Nak = 6,
    /// Client giving the lease back.
    Release = 7,
    /// Client asking for parameters only.
    Inform = 8,
}

impl TryFrom<u8> for MessageType {
    type Error = DhcpError;

    fn try_from(value: u8) -> Result<Self, DhcpError> {
        Ok(match value {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            other => return Err(DhcpError::UnknownMessageType(other)),
        })
    }
}

/// One DHCP message, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or reply.
    pub op: Op,
    /// Hardware type (1: Ethernet). The hardware address length is always 6.
    pub htype: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id chosen by the client.
    pub xid: u32,
    /// Seconds since the client began the exchange.
    pub secs: u16,
    /// The BROADCAST flag (0x8000): the client cannot receive unicast before it is configured.
    /// The other flag bits are reserved; they are sent as zero and ignored on receipt.
    pub broadcast: bool,
    /// The client's address, when it has one (RENEWING, REBINDING, RELEASE…).
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the address the server offers or confirms.
    pub yiaddr: Ipv4Addr,
    /// Next server (TFTP) address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// The client's MAC address.
    pub chaddr: [u8; 6],
    /// Server host name field, trailing zeros removed (at most 64 bytes are encoded; empty when
    /// it carried overloaded options).
    pub sname: Vec<u8>,
    /// Boot file name field, trailing zeros removed (at most 128 bytes are encoded; empty when
    /// it carried overloaded options).
    pub file: Vec<u8>,
    /// The options, in order.
    pub options: Options,
}

impl Message {
    /// An Ethernet message with every field zero and no options.
    pub fn new(op: Op, xid: u32, chaddr: [u8; 6]) -> Self {
        Self {
            op,
            htype: HTYPE_ETHERNET,
            hops: 0,
            xid,
            secs: 0,
            broadcast: false,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options: Options::new(),
        }
    }

    /// Parses a datagram. Never panics; see the [module documentation](self) for what it
    /// accepts.
    pub fn decode(bytes: &[u8]) -> Result<Self, DhcpError> {
        if bytes.len() < MIN_MESSAGE_LEN {
            return Err(DhcpError::TooShort {
                len: bytes.len(),
                min: MIN_MESSAGE_LEN,
            });
        }
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DhcpError::TooLong {
                len: bytes.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let mut r = Reader { bytes, at: 0 };
        let op = Op::try_from(r.u8())?;
        let htype = r.u8();
        let hlen = r.u8();
        if hlen != HLEN {
            return Err(DhcpError::UnsupportedHardwareLength { htype, hlen });
        }
        let hops = r.u8();
        let xid = u32::from_be_bytes(r.array());
        let secs = u16::from_be_bytes(r.array());
        let flags = u16::from_be_bytes(r.array());
        let ciaddr = Ipv4Addr::from(r.array::<4>());
        let yiaddr = Ipv4Addr::from(r.array::<4>());
        let siaddr = Ipv4Addr::from(r.array::<4>());
        let giaddr = Ipv4Addr::from(r.array::<4>());
        let chaddr = r.array::<6>();
        let cookie = bytes.get(COOKIE).unwrap_or_default();
        if cookie != MAGIC_COOKIE {
            let mut found = [0; 4];
            found.copy_from_slice(cookie);
            return Err(DhcpError::BadMagicCookie { found });
        }

        let mut options = Options::new();
        let area = bytes.get(MIN_MESSAGE_LEN..).unwrap_or_default();
        parse_options(area, MIN_MESSAGE_LEN, &mut options)?;
        let overload = match options.remove(code::OVERLOAD) {
            None => 0,
            Some(data) => match data.as_slice() {
                [v @ 1..=3] => *v,
                [v] => return Err(DhcpError::InvalidOverload(*v)),
                _ => {
                    return Err(DhcpError::BadOptionLength {
                        code: code::OVERLOAD,
                        len: data.len(),
                        expected: 1,
                    })
                }
            },
        };
        let sname_bytes = bytes.get(SNAME).unwrap_or_default();
        let file_bytes = bytes.get(FILE).unwrap_or_default();
        let (mut sname, mut file) = (trim_zeros(sname_bytes), trim_zeros(file_bytes));
        // RFC 2131 §4.1: options, then file, then sname.
        if overload & 1 != 0 {
            parse_options(file_bytes, FILE.start, &mut options)?;
            file = Vec::new();
        }
        if overload & 2 != 0 {
            parse_options(sname_bytes, SNAME.start, &mut options)?;
            sname = Vec::new();
        }
        // An overload option inside file/sname means nothing; drop it.
        options.remove(code::OVERLOAD);

        Ok(Self {
            op,
            htype,
            hops,
            xid,
            secs,
            broadcast: flags & FLAG_BROADCAST != 0,
            ciaddr,
            yiaddr,
            siaddr,
            giaddr,
            chaddr,
            sname,
            file,
            options,
        })
    }

    /// The datagram. Options with codes 0 (pad), 52 (overload) and 255 (end) are not written:
    /// the encoder does the framing itself. Longer `sname`/`file` values are cut to 64/128 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let options_len: usize = self
            .options
            .iter()
            .map(|o| o.data.len() + 2 * (o.data.len() / 255 + 1))
            .sum();
        let mut out = Vec::with_capacity((MIN_MESSAGE_LEN + options_len + 1).max(BOOTP_MIN_LEN));
        out.extend_from_slice(&[self.op as u8, self.htype, HLEN, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        let flags = if self.broadcast { FLAG_BROADCAST } else { 0 };
        out.extend_from_slice(&flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        out.resize(SNAME.start, 0);
        push_field(&mut out, &self.sname, SNAME.len());
        push_field(&mut out, &self.file, FILE.len());
        out.extend_from_slice(&MAGIC_COOKIE);
        for option in &self.options {
            if matches!(option.code, code::PAD | code::OVERLOAD | code::END) {
                continue;
            }
            if option.data.is_empty() {
                out.extend_from_slice(&[option.code, 0]);
            }
            for chunk in option.data.chunks(255) {
                out.push(option.code);
                out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(chunk);
            }
        }
        out.push(code::END);
        if out.len() < BOOTP_MIN_LEN {
            out.resize(BOOTP_MIN_LEN, 0);
        }
        out
    }

    /// Option 53, when present, one byte long and a known type.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.options.get(code::MESSAGE_TYPE)? {
            [t] => MessageType::try_from(*t).ok(),
            _ => None,
        }
    }

    /// Option 1.
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.address(code::SUBNET_MASK)
    }

    /// Option 3 (empty when absent or malformed).
    pub fn routers(&self) -> Vec<Ipv4Addr> {
        self.addresses(code::ROUTER)
    }

    /// Option 6 (empty when absent or malformed).
    pub fn dns_servers(&self) -> Vec<Ipv4Addr> {
        self.addresses(code::DOMAIN_NAME_SERVER)
    }

    /// Option 44 (empty when absent or malformed).
    pub fn netbios_name_servers(&self) -> Vec<Ipv4Addr> {
        self.addresses(code::NETBIOS_NAME_SERVER)
    }

    /// Option 15 with trailing NULs and dots trimmed; `None` when absent, empty or not a valid
    /// domain name (letters, digits, `-`, `_`, labels of 1–63 bytes).
    pub fn domain_name(&self) -> Option<String> {
        fqdn::text_as_host_name(self.options.get(code::DOMAIN_NAME)?)
    }

    /// Option 12, checked like [`Message::domain_name`].
    pub fn host_name(&self) -> Option<String> {
        fqdn::text_as_host_name(self.options.get(code::HOST_NAME)?)
    }

    /// Option 51 in seconds (0xffffffff: infinite).
    pub fn lease_time(&self) -> Option<u32> {
        self.u32(code::LEASE_TIME)
    }

    /// Option 58 (T1) in seconds.
    pub fn renewal_time(&self) -> Option<u32> {
        self.u32(code::RENEWAL_TIME)
    }

    /// Option 59 (T2) in seconds.
    pub fn rebinding_time(&self) -> Option<u32> {
        self.u32(code::REBINDING_TIME)
    }

    /// Option 54.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.address(code::SERVER_ID)
    }

    /// Option 50.
    pub fn requested_address(&self) -> Option<Ipv4Addr> {
        self.address(code::REQUESTED_ADDRESS)
    }

    /// Option 55, one code per byte.
    pub fn parameter_request_list(&self) -> Option<&[u8]> {
        self.options.get(code::PARAMETER_REQUEST_LIST)
    }

    /// Option 61.
    pub fn client_id(&self) -> Option<&[u8]> {
        self.options.get(code::CLIENT_ID)
    }

    /// Option 81, when present and well formed.
    pub fn client_fqdn(&self) -> Option<ClientFqdn> {
        ClientFqdn::decode(self.options.get(code::CLIENT_FQDN)?).ok()
    }

    /// Option 57.
    pub fn max_message_size(&self) -> Option<u16> {
        match self.options.get(code::MAX_MESSAGE_SIZE)? {
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// Option 56 (a server's explanation, e.g. in a NAK) as text: trailing NULs removed,
    /// invalid UTF-8 replaced.
    pub fn server_message(&self) -> Option<String> {
        let data = self.options.get(code::MESSAGE)?;
        Some(String::from_utf8_lossy(&trim_zeros(data)).into_owned())
    }

    fn address(&self, code: u8) -> Option<Ipv4Addr> {
        let data: [u8; 4] = self.options.get(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(data))
    }

    fn addresses(&self, code: u8) -> Vec<Ipv4Addr> {
        match self.options.get(code) {
            Some(data) if !data.is_empty() && data.len() % 4 == 0 => data
                .chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn u32(&self, code: u8) -> Option<u32> {
        let data: [u8; 4] = self.options.get(code)?.try_into().ok()?;
        Some(u32::from_be_bytes(data))
    }
}

/// A cursor over the fixed header; callers have checked the length (≥ 240 bytes), and reads
/// past the end yield zeros rather than panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let [b] = self.array::<1>();
        b
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        if let Some(src) = self.bytes.get(self.at..self.at + N) {
            out.copy_from_slice(src);
        }
        self.at += N;
        out
    }
}

/// Parses one options area into `options`, concatenating repeated codes. `base` is the area's
/// offset in the message (for error reports).
fn parse_options(area: &[u8], base: usize, options: &mut Options) -> Result<(), DhcpError> {
    let mut i = 0;
    while let Some(&code) = area.get(i) {
        match code {
            code::PAD => i += 1,
            code::END => break,
            _ => {
                let truncated = || DhcpError::TruncatedOption {
                    code,
                    offset: base + i,
                };
                let len = usize::from(*area.get(i + 1).ok_or_else(truncated)?);
                let data = area.get(i + 2..i + 2 + len).ok_or_else(truncated)?;
                options.append(code, data);
                i += 2 + len;
            }
        }
    }
    Ok(())
}

fn trim_zeros(field: &[u8]) -> Vec<u8> {
    let end = field.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    field.get(..end).unwrap_or_default().to_vec()
}

fn push_field(out: &mut Vec<u8>, value: &[u8], size: usize) {
    let value = value.get(..size).unwrap_or(value);
    out.extend_from_slice(value);
    out.resize(out.len() + size - value.len(), 0);
}

#[cfg(test)]
mod tests;
