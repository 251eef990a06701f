//! The packet side of System Defense: the headers of an emulated host packet and the decision
//! whether the active policy drops it (rules in the parent module's docs).

use std::net::IpAddr;

use super::{active_policy, WIRED_PORT, WIRELESS_PORT};
use crate::firmware::manage::store::FilterMatch;
use crate::firmware::Firmware;

/// Which way a packet travels, seen from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketDirection {
    /// Arriving from the network.
    Receive,
    /// Leaving the host.
    Transmit,
}

/// The IP and transport headers of an emulated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeaders {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol (6 TCP, 17 UDP, 1 ICMP).
    pub protocol: u8,
    /// Source port (TCP/UDP).
    pub src_port: Option<u16>,
    /// Destination port (TCP/UDP).
    pub dst_port: Option<u16>,
}

/// The headers of an emulated host packet, for [`Firmware::system_defense_drops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeaders {
    /// Direction.
    pub direction: PacketDirection,
    /// `true` for the wireless port, `false` for the wired one.
    pub wireless: bool,
    /// EtherType (0x0800 IPv4, 0x86DD IPv6, 0x0806 ARP).
    pub ether_type: u16,
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// 802.1Q VLAN ID, when tagged.
    pub vlan: Option<u16>,
    /// 802.1p priority, when tagged.
    pub priority: Option<u8>,
    /// IP headers, for IP packets.
    pub ip: Option<IpHeaders>,
}

impl PacketHeaders {
    /// A received (or, with `outgoing`, transmitted) IPv4/IPv6 TCP or UDP packet on the wired
    /// port, with zero MACs and no VLAN tag.
    pub fn ip(
        outgoing: bool,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        ports: Option<(u16, u16)>,
    ) -> Self {
        PacketHeaders {
            direction: if outgoing {
                PacketDirection::Transmit
            } else {
                PacketDirection::Receive
            },
            wireless: false,
            ether_type: if src.is_ipv4() { 0x0800 } else { 0x86DD },
            src_mac: [0; 6],
            dst_mac: [0; 6],
            vlan: None,
            priority: None,
            ip: Some(IpHeaders {
                src,
                dst,
                protocol,
                src_port: ports.map(|p| p.0),
                dst_port: ports.map(|p| p.1),
            }),
        }
    }
}

fn in_range(a: &[u8], lo: &[u8], hi: &[u8]) -> bool {
    a.len() == lo.len() && a.len() == hi.len() && a >= lo && a <= hi
}

fn addr_matches(
    addr: IpAddr,
    base: &Option<String>,
    mask: &Option<String>,
    end: &Option<String>,
) -> bool {
    let octets = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let Some(base) = base else { return true };
    let (Ok(b), a) = (hex::decode(base), octets(addr)) else {
        return false;
    };
    if let Some(e) = end.as_deref().and_then(|e| hex::decode(e).ok()) {
        return in_range(&a, &b, &e);
    }
    match mask.as_deref().and_then(|m| hex::decode(m).ok()) {
        Some(m) if m.len() == a.len() && b.len() == a.len() => {
            a.iter().zip(&b).zip(&m).all(|((x, y), k)| x & k == y & k)
        }
        _ => a == b,
    }
}

fn port_matches(p: Option<u16>, range: &Option<(u16, u16)>) -> bool {
    match (range, p) {
        (None, _) => true,
        (Some((lo, hi)), Some(p)) => (*lo..=*hi).contains(&p),
        (Some(_), None) => false,
    }
}

fn headers_match(m: &FilterMatch, pkt: &PacketHeaders) -> bool {
    match m {
        FilterMatch::Ethernet {
            protocol,
            src_mac,
            dst_mac,
            vlan,
            priority,
        } => {
            protocol.is_none_or(|p| p == pkt.ether_type)
                && src_mac.is_none_or(|m| m == pkt.src_mac)
                && dst_mac.is_none_or(|m| m == pkt.dst_mac)
                && vlan.is_none_or(|v| pkt.vlan.map(u32::from) == Some(v))
                && priority.is_none_or(|v| pkt.priority.map(u32::from) == Some(v))
        }
        FilterMatch::Ip {
            version,
            src,
            src_mask,
            src_end,
            dst,
            dst_mask,
            dst_end,
            protocol,
            src_ports,
            dst_ports,
        } => {
            let Some(ip) = pkt.ip else { return false };
            let v = if ip.src.is_ipv4() { 4 } else { 6 };
            version.is_none_or(|x| x == v)
                && protocol.is_none_or(|p| p == ip.protocol)
                && addr_matches(ip.src, src, src_mask, src_end)
                && addr_matches(ip.dst, dst, dst_mask, dst_end)
                && port_matches(ip.src_port, src_ports)
                && port_matches(ip.dst_port, dst_ports)
        }
    }
}

impl Firmware {
    /// Whether the active System Defense policy of the packet's port drops this emulated host
    /// packet (see the `defense` module docs for the rules). No active policy: never.
    pub fn system_defense_drops(&self, packet: &PacketHeaders) -> bool {
        let port = if packet.wireless {
            WIRELESS_PORT
        } else {
            WIRED_PORT
        };
        let Some(handle) = active_policy(self, port) else {
            return false;
        };
        let d = &self.state.manage.defense;
        let Some(policy) = d.policies.iter().find(|p| p.handle == handle) else {
            return false;
        };
        let dir = match packet.direction {
            PacketDirection::Transmit => 0,
            PacketDirection::Receive => 1,
        };
        for h in &policy.filters {
            let Some(f) = d.filters.iter().find(|f| f.handle == *h) else {
                continue;
            };
            if f.enabled == Some(false) || (f.direction != dir && f.direction != 2) {
                continue;
            }
            if headers_match(&f.matcher, packet) != f.negated {
                return matches!(f.profile, 1 | 4);
            }
        }
        match packet.direction {
            PacketDirection::Receive => policy.rx_default_drop,
            PacketDirection::Transmit => policy.tx_default_drop,
        }
    }

    /// The `InstanceID` handle of the System Defense policy active on the wired (`false`) or
    /// wireless (`true`) port.
    pub fn active_system_defense_policy(&self, wireless: bool) -> Option<u32> {
        active_policy(self, if wireless { WIRELESS_PORT } else { WIRED_PORT })
    }
}
