//! The value types of policies and their text forms: IP family and protocol, MAC addresses,
//! address prefixes and ranges, port ranges.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> IpFamily {
        if ip.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }

    /// Address length in bits.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }
}

impl TryFrom<u8> for IpFamily {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            4 => Ok(IpFamily::V4),
            6 => Ok(IpFamily::V6),
            other => Err(format!("ip_version must be 4 or 6, not {other}")),
        }
    }
}

impl From<IpFamily> for u8 {
    fn from(f: IpFamily) -> u8 {
        match f {
            IpFamily::V4 => 4,
            IpFamily::V6 => 6,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// An IP protocol number; written as `tcp`, `udp`, `icmp`, `icmpv6` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// ICMP (1).
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// TCP (6).
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP (17).
    pub const UDP: IpProtocol = IpProtocol(17);
    /// ICMPv6 (58).
    pub const ICMPV6: IpProtocol = IpProtocol(58);

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "icmp",
            6 => "tcp",
            17 => "udp",
            58 => "icmpv6",
            _ => return None,
        })
    }

    /// TCP or UDP (the protocols with ports).
    pub fn has_ports(self) -> bool {
        self == IpProtocol::TCP || self == IpProtocol::UDP
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for IpProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "icmp" => Ok(IpProtocol::ICMP),
            "tcp" => Ok(IpProtocol::TCP),
            "udp" => Ok(IpProtocol::UDP),
            "icmpv6" => Ok(IpProtocol::ICMPV6),
            other => other.parse().map(IpProtocol).map_err(|_| {
                format!("protocol {s:?} is not tcp, udp, icmp, icmpv6 or a number from 0 to 255")
            }),
        }
    }
}

impl Serialize for IpProtocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_u8(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for IpProtocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(u64),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(n) => u8::try_from(n)
                .map(IpProtocol)
                .map_err(|_| serde::de::Error::custom(format!("protocol {n} is above 255"))),
            Repr::Name(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A MAC address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a MAC address like aa:bb:cc:dd:ee:ff");
        let parts: Vec<&str> = s.trim().split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(MacAddr(out))
    }
}

impl TryFrom<String> for MacAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

/// Addresses an IP filter matches: a prefix (`10.0.0.0/8`, a single address is a full-length
/// prefix) or an inclusive range (`10.0.0.5-10.0.0.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AddrMatch {
    /// `addr/len`: the address and a mask of `len` leading ones.
    Prefix {
        /// The network address.
        addr: IpAddr,
        /// The prefix length.
        len: u8,
    },
    /// `start-end`, inclusive.
    Range {
        /// First address.
        start: IpAddr,
        /// Last address.
        end: IpAddr,
    },
}

impl AddrMatch {
    /// The family of the addresses (a range of mixed families is refused by validation).
    pub fn family(&self) -> IpFamily {
        match self {
            AddrMatch::Prefix { addr, .. } => IpFamily::of(*addr),
            AddrMatch::Range { start, .. } => IpFamily::of(*start),
        }
    }
}

impl fmt::Display for AddrMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrMatch::Prefix { addr, len } if *len == IpFamily::of(*addr).bits() => {
                write!(f, "{addr}")
            }
            AddrMatch::Prefix { addr, len } => write!(f, "{addr}/{len}"),
            AddrMatch::Range { start, end } => write!(f, "{start}-{end}"),
        }
    }
}

impl FromStr for AddrMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let ip = |x: &str| -> Result<IpAddr, String> {
            x.trim()
                .parse()
                .map_err(|_| format!("{x:?} is not an IP address (in {s:?})"))
        };
        if let Some((a, len)) = t.split_once('/') {
            let addr = ip(a)?;
            let len: u8 = len
                .trim()
                .parse()
                .map_err(|_| format!("{len:?} is not a prefix length (in {s:?})"))?;
            return Ok(AddrMatch::Prefix { addr, len });
        }
        // IPv6 addresses hold no '-', so a '-' separates a range.
        if let Some((a, b)) = t.split_once('-') {
            return Ok(AddrMatch::Range {
                start: ip(a)?,
                end: ip(b)?,
            });
        }
        let addr = ip(t)?;
        Ok(AddrMatch::Prefix {
            addr,
            len: IpFamily::of(addr).bits(),
        })
    }
}

impl TryFrom<String> for AddrMatch {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<AddrMatch> for String {
    fn from(a: AddrMatch) -> String {
        a.to_string()
    }
}

/// An inclusive port range, written `22` or `1000-2000` (or a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

impl PortRange {
    /// One port.
    pub fn single(port: u16) -> Self {
        PortRange {
            start: port,
            end: port,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let port = |x: &str| -> Result<u16, String> {
            x.trim()
                .parse()
                .map_err(|_| format!("{x:?} is not a port number from 0 to 65535 (in {s:?})"))
        };
        match s.split_once('-') {
            Some((a, b)) => Ok(PortRange {
                start: port(a)?,
                end: port(b)?,
            }),
            None => Ok(PortRange::single(port(s)?)),
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(u64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(n) => u16::try_from(n)
                .map(PortRange::single)
                .map_err(|_| serde::de::Error::custom(format!("port {n} is above 65535"))),
            Repr::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The mask of `len` leading ones for `family`, as an address.
pub fn prefix_mask(family: IpFamily, len: u8) -> IpAddr {
    let len = u32::from(len.min(family.bits()));
    match family {
        IpFamily::V4 => {
            let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            IpAddr::from(m.to_be_bytes())
        }
        IpFamily::V6 => {
            let m = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            IpAddr::from(m.to_be_bytes())
        }
    }
}

/// `addr` with the bits beyond `len` cleared.
pub fn network_of(addr: IpAddr, len: u8) -> IpAddr {
    let mask = prefix_mask(IpFamily::of(addr), len);
    match (addr, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => IpAddr::from((u32::from(a) & u32::from(m)).to_be_bytes()),
        (IpAddr::V6(a), IpAddr::V6(m)) => {
            IpAddr::from((u128::from(a) & u128::from(m)).to_be_bytes())
        }
        _ => addr,
    }
}
