//! DHCP options (RFC 2132): the codes this crate names, one option, and the ordered option list.
//!
//! An option is kept as its code and raw data so that codes this crate does not know survive a
//! decode/encode round trip unchanged; the typed views live on [`super::Message`].

use std::net::Ipv4Addr;

use super::MessageType;

/// The option codes this crate uses (RFC 2132 unless noted). Every wire value lives here.
pub mod code {
    /// Padding inside the options area (no length byte).
    pub const PAD: u8 = 0;
    /// Subnet mask (4 bytes).
    pub const SUBNET_MASK: u8 = 1;
    /// Routers (n × 4 bytes).
    pub const ROUTER: u8 = 3;
    /// DNS servers (n × 4 bytes).
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    /// Client host name (text).
    pub const HOST_NAME: u8 = 12;
    /// Boot file size in 512-byte blocks (2 bytes).
    pub const BOOT_FILE_SIZE: u8 = 13;
    /// Domain name (text), the DNS suffix AMT provisioning relies on.
    pub const DOMAIN_NAME: u8 = 15;
    /// NetBIOS over TCP/IP name servers (n × 4 bytes).
    pub const NETBIOS_NAME_SERVER: u8 = 44;
    /// Requested IP address (4 bytes).
    pub const REQUESTED_ADDRESS: u8 = 50;
    /// Lease time in seconds (4 bytes, 0xffffffff = infinite).
    pub const LEASE_TIME: u8 = 51;
    /// Option overload: options continue in `file` (1), `sname` (2) or both (3).
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type (1 byte, see [`crate::message::MessageType`]).
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier (4 bytes).
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list (one code per byte).
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Message text (a NAK's reason, for instance).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP message size the sender accepts (2 bytes).
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal time T1 in seconds (4 bytes).
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding time T2 in seconds (4 bytes).
    pub const REBINDING_TIME: u8 = 59;
    /// Client identifier (type byte + identifier).
    pub const CLIENT_ID: u8 = 61;
    /// TFTP server name (text).
    pub const TFTP_SERVER_NAME: u8 = 66;
    /// Boot file name (text).
    pub const BOOT_FILE_NAME: u8 = 67;
    /// Client FQDN (RFC 4702, see [`crate::message::ClientFqdn`]).
    pub const CLIENT_FQDN: u8 = 81;
    /// End of the options (no length byte).
    pub const END: u8 = 255;

    /// The name of a code this crate knows, for logs; `None` for the others.
    pub fn name(code: u8) -> Option<&'static str> {
        Some(match code {
            PAD => "pad",
            SUBNET_MASK => "subnet-mask",
            ROUTER => "router",
            DOMAIN_NAME_SERVER => "domain-name-server",
            HOST_NAME => "host-name",
            BOOT_FILE_SIZE => "boot-file-size",
            DOMAIN_NAME => "domain-name",
            NETBIOS_NAME_SERVER => "netbios-name-server",
            REQUESTED_ADDRESS => "requested-address",
            LEASE_TIME => "lease-time",
            OVERLOAD => "overload",
            MESSAGE_TYPE => "message-type",
            SERVER_ID => "server-id",
            PARAMETER_REQUEST_LIST => "parameter-request-list",
            MESSAGE => "message",
            MAX_MESSAGE_SIZE => "max-message-size",
            RENEWAL_TIME => "renewal-time",
            REBINDING_TIME => "rebinding-time",
            CLIENT_ID => "client-id",
            TFTP_SERVER_NAME => "tftp-server-name",
            BOOT_FILE_NAME => "boot-file-name",
            CLIENT_FQDN => "client-fqdn",
            END => "end",
            _ => return None,
        })
    }
}

/// One option: its code and its data (of any length; the encoder splits data longer than 255
/// bytes into consecutive instances, RFC 3396).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    /// The option code (see [`code`]).
    pub code: u8,
    /// The option data, without code and length bytes.
    pub data: Vec<u8>,
}

impl DhcpOption {
    /// An option with raw data.
    pub fn new(code: u8, data: impl Into<Vec<u8>>) -> Self {
        Self {
            code,
            data: data.into(),
        }
    }

    /// Option 53 carrying `t`.
    pub fn message_type(t: MessageType) -> Self {
        Self::new(code::MESSAGE_TYPE, vec![t as u8])
    }

    /// An option holding one IPv4 address (server id, requested address, subnet mask…).
    pub fn address(code: u8, address: Ipv4Addr) -> Self {
        Self::new(code, address.octets())
    }

    /// An option holding a list of IPv4 addresses (routers, DNS servers…).
    pub fn addresses(code: u8, addresses: &[Ipv4Addr]) -> Self {
        Self::new(
            code,
            addresses
                .iter()
                .flat_map(|a| a.octets())
                .collect::<Vec<u8>>(),
        )
    }

    /// An option holding a big-endian `u32` (lease, renewal and rebinding times).
    pub fn u32(code: u8, value: u32) -> Self {
        Self::new(code, value.to_be_bytes())
    }

    /// An option holding a big-endian `u16` (maximum message size, boot file size).
    pub fn u16(code: u8, value: u16) -> Self {
        Self::new(code, value.to_be_bytes())
    }
}

/// The options of a message, in order. Decoding merges repeated instances of one code into one
/// entry (at the position of the first instance), so after a decode every code appears once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(Vec<DhcpOption>);

impl Options {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The data of the first option with this code.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|o| o.code == code)
            .map(|o| o.data.as_slice())
    }

    /// Whether an option with this code is present.
    pub fn contains(&self, code: u8) -> bool {
        self.0.iter().any(|o| o.code == code)
    }

    /// Appends an option (after the existing ones, even when its code is already present).
    pub fn push(&mut self, option: DhcpOption) {
        self.0.push(option);
    }

    /// Replaces the data of the first option with this code, or appends the option.
    pub fn set(&mut self, option: DhcpOption) {
        match self.0.iter_mut().find(|o| o.code == option.code) {
            Some(existing) => existing.data = option.data,
            None => self.0.push(option),
        }
    }

    /// Removes every option with this code; returns the data of the first one removed.
    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        let first = self.0.iter().position(|o| o.code == code)?;
        let removed = self.0.remove(first);
        self.0.retain(|o| o.code != code);
        Some(removed.data)
    }

    /// The options in order.
    pub fn iter(&self) -> std::slice::Iter<'_, DhcpOption> {
        self.0.iter()
    }

    /// The codes in order (handy in tests: "which options, in which order").
    pub fn codes(&self) -> Vec<u8> {
        self.0.iter().map(|o| o.code).collect()
    }

    /// Number of options.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends `data` to the option with this code, or appends a new option (RFC 3396
    /// concatenation while decoding).
    pub(crate) fn append(&mut self, code: u8, data: &[u8]) {
        match self.0.iter_mut().find(|o| o.code == code) {
            Some(existing) => existing.data.extend_from_slice(data),
            None => self.0.push(DhcpOption::new(code, data)),
        }
    }
}

impl From<Vec<DhcpOption>> for Options {
    fn from(options: Vec<DhcpOption>) -> Self {
        Self(options)
    }
}

impl FromIterator<DhcpOption> for Options {
    fn from_iter<I: IntoIterator<Item = DhcpOption>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Options {
    type Item = DhcpOption;
    type IntoIter = std::vec::IntoIter<DhcpOption>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Options {
    type Item = &'a DhcpOption;
    type IntoIter = std::slice::Iter<'a, DhcpOption>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<DhcpOption> for Options {
    fn extend<I: IntoIterator<Item = DhcpOption>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}
