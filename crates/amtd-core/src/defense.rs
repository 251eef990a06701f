//! System Defense (M3): named policies of network filters, as an operator writes them, checked,
//! mapped to the AMT classes and compared with what a device holds. Sans-IO: the caller reads
//! the device ([`DeviceDefense::from_amt`]) and performs the steps of an [`ApplyPlan`] or
//! [`RemovePlan`]; this module decides what they are.
//!
//! A [`DefensePolicy`] is a named `AMT_SystemDefensePolicy` (precedence, default actions for
//! unmatched received and transmitted packets, anti-spoofing) with an ordered list of
//! [`Filter`]s, each either an Ethernet-level `AMT_Hdr8021Filter` or an IP-level
//! `AMT_IPHeadersFilter`, and the ports it is enabled on (`AMT_NetworkPortSystemDefensePolicy`).
//!
//! On the device (Intel AMT SDK "Create an IP Filter" / "Create a System Defense Policy";
//! Intel's generated classes in intel/lms `CIM_Framework`, AMT-PROTOCOLS.md §5.1):
//! 1. each filter is created (`Create AMT_Hdr8021Filter` / `AMT_IPHeadersFilter`); its handle is
//!    the trailing number of the `InstanceID` the device answers;
//! 2. the policy is created with those handles in `FilterCreationHandles`, in order (a packet is
//!    decided by the first filter that matches);
//! 3. the policy is enabled on a port by creating the association
//!    `AMT_NetworkPortSystemDefensePolicy` (`Antecedent` the `CIM_EthernetPort`, `Dependent`
//!    the policy, `Enabled` true); of a port's enabled policies the one with the highest
//!    `PolicyPrecedence` is active.
//!
//! Removal runs the other way: disable (delete the associations), delete the policy, then
//! delete its filters (a filter a policy uses cannot be deleted).
//!
//! Limits taken from the classes: policy and filter names at most 16 characters, at most 62
//! filters in one policy.

use std::fmt;

use serde::{Deserialize, Serialize};

mod compare;
mod plan;
mod values;
mod wire;

pub use compare::{compare, Difference};
pub use plan::{ApplyPlan, BindingStep, FilterSource, PolicyStep, RemovePlan};
pub use values::{network_of, prefix_mask, AddrMatch, IpFamily, IpProtocol, MacAddr, PortRange};
pub use wire::{
    binding_to_amt, handle_of, port_reference, DeviceBinding, DeviceDefense, DeviceFilter,
    DevicePolicy, FilterClass, FilterInstance, FilterView, PolicyView, ReadError,
};

/// Most characters of a policy or filter name (`PolicyName`, `Name`).
pub const MAX_NAME_CHARS: usize = 16;
/// Most filters one policy may hold (`FilterCreationHandles`).
pub const MAX_FILTERS: usize = 62;

/// A named System Defense policy: what an operator wants a device to enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefensePolicy {
    /// The policy's name (the device's `PolicyName`): 1 to 16 letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// `PolicyPrecedence`: of the policies enabled on a port, the highest is active.
    #[serde(default)]
    pub precedence: u32,
    /// The ports the policy is enabled on (at least one; wired by default).
    #[serde(default = "default_ports")]
    pub ports: Vec<Port>,
    /// What happens to received packets no filter matches.
    #[serde(default)]
    pub rx_default: DefaultAction,
    /// What happens to transmitted packets no filter matches.
    #[serde(default)]
    pub tx_default: DefaultAction,
    /// `AntiSpoofingSupport`.
    #[serde(default)]
    pub anti_spoofing: AntiSpoofing,
    /// The filters, in the order the device tries them.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

fn default_ports() -> Vec<Port> {
    vec![Port::Wired]
}

/// A network port of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Port {
    /// The wired port (`Intel(r) AMT Ethernet Port 0`).
    Wired,
    /// The wireless port (`Intel(r) AMT Ethernet Port 1`).
    Wireless,
}

impl Port {
    /// The port's `CIM_EthernetPort` `DeviceID`.
    pub fn device_id(self) -> &'static str {
        match self {
            Port::Wired => "Intel(r) AMT Ethernet Port 0",
            Port::Wireless => "Intel(r) AMT Ethernet Port 1",
        }
    }

    /// The port with this `DeviceID`.
    pub fn from_device_id(id: &str) -> Option<Port> {
        [Port::Wired, Port::Wireless]
            .into_iter()
            .find(|p| p.device_id() == id.trim())
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Port::Wired => "wired",
            Port::Wireless => "wireless",
        })
    }
}

/// Pass or drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let the packet through.
    #[default]
    Pass,
    /// Drop the packet.
    Drop,
}

/// What a policy does with packets none of its filters match (`RxDefault*` / `TxDefault*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultAction {
    /// Pass or drop (`*DefaultDrop`).
    #[serde(default)]
    pub action: Verdict,
    /// Count them (`*DefaultCount`).
    #[serde(default)]
    pub count: bool,
    /// Raise an event (`*DefaultMatchEvent`).
    #[serde(default)]
    pub event: bool,
}

impl fmt::Display for DefaultAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.action {
            Verdict::Pass => "pass",
            Verdict::Drop => "drop",
        })?;
        if self.count {
            f.write_str(" +count")?;
        }
        if self.event {
            f.write_str(" +event")?;
        }
        Ok(())
    }
}

/// `AntiSpoofingSupport` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AntiSpoofing {
    /// Off.
    #[default]
    Off,
    /// Raise an event on a spoofed packet.
    EventOnMatch,
    /// Count spoofed packets.
    Count,
    /// Count and raise an event.
    CountAndEventOnMatch,
    /// On, without counting or events.
    On,
}

impl fmt::Display for AntiSpoofing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AntiSpoofing::Off => "off",
            AntiSpoofing::EventOnMatch => "event-on-match",
            AntiSpoofing::Count => "count",
            AntiSpoofing::CountAndEventOnMatch => "count-and-event-on-match",
            AntiSpoofing::On => "on",
        })
    }
}

/// The traffic a filter governs (`FilterDirection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Incoming packets.
    #[serde(alias = "in", alias = "rx")]
    Receive,
    /// Outgoing packets.
    #[serde(alias = "out", alias = "tx")]
    Transmit,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Receive => "receive",
            Direction::Transmit => "transmit",
        })
    }
}

/// What a filter does with a packet it matches (`FilterProfile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Pass (3).
    Pass,
    /// Drop (4).
    Drop,
    /// Count and pass (0).
    CountPass,
    /// Count and drop (1).
    CountDrop,
    /// Let at most [`Filter::rate`] packets per second through (2).
    RateLimit,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Pass => "pass",
            Action::Drop => "drop",
            Action::CountPass => "count-pass",
            Action::CountDrop => "count-drop",
            Action::RateLimit => "rate-limit",
        })
    }
}

/// One filter of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The filter's name (`Name`): 1 to 16 letters, digits, `-`, `_`, `.`; unique in its
    /// policy.
    pub name: String,
    /// The traffic it governs.
    pub direction: Direction,
    /// What it does on match.
    pub action: Action,
    /// Packets per second for [`Action::RateLimit`] (`FilterProfileData`); only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// Raise an event on match (`ActionEventOnMatch`).
    #[serde(default)]
    pub event_on_match: bool,
    /// Match every packet the headers do not match (`IsNegated`).
    #[serde(default)]
    pub negate: bool,
    /// The headers it matches.
    #[serde(rename = "match")]
    pub matcher: Match,
}

/// The headers a filter matches; absent fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    /// Ethernet level (`AMT_Hdr8021Filter`).
    Ethernet(EthernetMatch),
    /// IP level (`AMT_IPHeadersFilter`).
    Ip(IpMatch),
}

/// Ethernet-level headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthernetMatch {
    /// EtherType (`HdrProtocolID8021`; 0x0800 IPv4, 0x0806 ARP, 0x86DD IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ether_type: Option<u16>,
    /// Source MAC (`HdrSrcMACAddr8021`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<MacAddr>,
    /// Destination MAC (`HdrDestMACAddr8021`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    /// 802.1Q VLAN ID (`HdrVLANID8021`, 0 to 4094).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// 802.1p priority (`HdrPriorityValue8021`, 0 to 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

/// IP-level headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpMatch {
    /// IP version (`HdrIPVersion`); filled in from the addresses when they are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<IpFamily>,
    /// Source addresses (`HdrSrcAddress` with `HdrSrcMask` or `HdrSrcAddressEndOfRange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<AddrMatch>,
    /// Destination addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<AddrMatch>,
    /// IP protocol (`HdrProtocolID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<IpProtocol>,
    /// Source ports (`HdrSrcPortStart`/`End`), TCP and UDP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ports: Option<PortRange>,
    /// Destination ports (`HdrDestPortStart`/`End`), TCP and UDP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ports: Option<PortRange>,
}

/// Where in a policy a [`Problem`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The policy itself.
    Policy,
    /// The filter at this index (0-based), with its name.
    Filter {
        /// Index in [`DefensePolicy::filters`].
        index: usize,
        /// Its name as given.
        name: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Policy => f.write_str("policy"),
            Location::Filter { index, name } => write!(f, "filter #{} ({name:?})", index + 1),
        }
    }
}

/// One reason a policy is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A name is empty, too long or has characters AMT names cannot hold.
    #[error("name {name:?} must be 1 to 16 letters, digits, '-', '_' or '.'")]
    BadName {
        /// The name given.
        name: String,
    },
    /// Two filters share a name.
    #[error("another filter is already named {name:?}")]
    DuplicateFilterName {
        /// The name.
        name: String,
    },
    /// More filters than a policy can hold.
    #[error("has {count} filters; a policy holds at most 62")]
    TooManyFilters {
        /// How many were given.
        count: usize,
    },
    /// The policy is enabled on no port.
    #[error("ports must name at least one port (wired, wireless)")]
    NoPorts,
    /// A port is listed twice.
    #[error("port {port} is listed twice")]
    DuplicatePort {
        /// The port.
        port: Port,
    },
    /// `rate-limit` without a rate, or a zero rate.
    #[error("action rate-limit needs a rate of at least 1 packet per second")]
    MissingRate,
    /// A rate with an action other than `rate-limit`.
    #[error("rate only goes with action rate-limit (the action is {action})")]
    RateWithoutRateLimit {
        /// The action given.
        action: Action,
    },
    /// An EtherType below 0x0600 (such values are frame lengths).
    #[error("ether_type {value:#06x} is a frame length, not an EtherType (at least 0x0600)")]
    NotAnEtherType {
        /// The value.
        value: u16,
    },
    /// A VLAN ID above 4094.
    #[error("vlan {value} is not a VLAN ID (0 to 4094)")]
    BadVlan {
        /// The value.
        value: u16,
    },
    /// A priority above 7.
    #[error("priority {value} is not an 802.1p priority (0 to 7)")]
    BadPriority {
        /// The value.
        value: u8,
    },
    /// Ports on a protocol other than TCP or UDP (or on no protocol).
    #[error("{which} need protocol tcp or udp")]
    PortsNeedTcpOrUdp {
        /// `src_ports` or `dst_ports`.
        which: &'static str,
    },
    /// A port range whose end is below its start.
    #[error("{which} {range} ends before it starts")]
    InvertedPortRange {
        /// `src_ports` or `dst_ports`.
        which: &'static str,
        /// The range.
        range: String,
    },
    /// An address of the other family than the filter's `ip_version` (or than the other
    /// address).
    #[error("{which} {addr} is not {family}")]
    FamilyMismatch {
        /// `src` or `dst`.
        which: &'static str,
        /// The address given.
        addr: String,
        /// The family expected.
        family: IpFamily,
    },
    /// A prefix longer than the address.
    #[error("{which} {addr}: an {family} prefix is at most {max} bits")]
    PrefixTooLong {
        /// `src` or `dst`.
        which: &'static str,
        /// The address given.
        addr: String,
        /// Its family.
        family: IpFamily,
        /// The longest prefix.
        max: u8,
    },
    /// A prefix whose address has bits set beyond the prefix.
    #[error("{which} {given} has host bits set; the network is {network}")]
    HostBitsSet {
        /// `src` or `dst`.
        which: &'static str,
        /// As given.
        given: String,
        /// The network it probably means.
        network: String,
    },
    /// An address range whose end is below its start.
    #[error("{which} {range} ends before it starts")]
    InvertedAddressRange {
        /// `src` or `dst`.
        which: &'static str,
        /// The range.
        range: String,
    },
}

/// A policy that cannot be applied, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPolicy {
    /// The policy's name as given.
    pub policy: String,
    /// Each problem and where it is.
    pub problems: Vec<(Location, Problem)>,
}

impl fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "System Defense policy {:?} is invalid: ", self.policy)?;
        for (i, (at, p)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{at}: {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidPolicy {}

/// Checks a policy or filter name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_addr(which: &'static str, a: &AddrMatch, family: IpFamily, out: &mut Vec<Problem>) {
    match *a {
        AddrMatch::Prefix { addr, len } => {
            if IpFamily::of(addr) != family {
                out.push(Problem::FamilyMismatch {
                    which,
                    addr: a.to_string(),
                    family,
                });
            } else if len > family.bits() {
                out.push(Problem::PrefixTooLong {
                    which,
                    addr: a.to_string(),
                    family,
                    max: family.bits(),
                });
            } else if network_of(addr, len) != addr {
                out.push(Problem::HostBitsSet {
                    which,
                    given: a.to_string(),
                    network: AddrMatch::Prefix {
                        addr: network_of(addr, len),
                        len,
                    }
                    .to_string(),
                });
            }
        }
        AddrMatch::Range { start, end } => {
            for x in [start, end] {
                if IpFamily::of(x) != family {
                    out.push(Problem::FamilyMismatch {
                        which,
                        addr: x.to_string(),
                        family,
                    });
                    return;
                }
            }
            if end < start {
                out.push(Problem::InvertedAddressRange {
                    which,
                    range: a.to_string(),
                });
            }
        }
    }
}

impl Filter {
    /// The problems of this filter alone (names are checked by the policy).
    fn problems(&mut self) -> Vec<Problem> {
        let mut out = Vec::new();
        match (self.action, self.rate) {
            (Action::RateLimit, None | Some(0)) => out.push(Problem::MissingRate),
            (Action::RateLimit, Some(_)) | (_, None) => {}
            (action, Some(_)) => out.push(Problem::RateWithoutRateLimit { action }),
        }
        match &mut self.matcher {
            Match::Ethernet(e) => {
                if let Some(t) = e.ether_type.filter(|t| *t < 0x0600) {
                    out.push(Problem::NotAnEtherType { value: t });
                }
                if let Some(v) = e.vlan.filter(|v| *v > 4094) {
                    out.push(Problem::BadVlan { value: v });
                }
                if let Some(p) = e.priority.filter(|p| *p > 7) {
                    out.push(Problem::BadPriority { value: p });
                }
            }
            Match::Ip(ip) => {
                let family = ip
                    .ip_version
                    .or(ip.src.map(|a| a.family()))
                    .or(ip.dst.map(|a| a.family()));
                if let Some(family) = family {
                    ip.ip_version = Some(family);
                    if let Some(a) = &ip.src {
                        check_addr("src", a, family, &mut out);
                    }
                    if let Some(a) = &ip.dst {
                        check_addr("dst", a, family, &mut out);
                    }
                }
                for (which, r) in [("src_ports", ip.src_ports), ("dst_ports", ip.dst_ports)] {
                    let Some(r) = r else { continue };
                    if !ip.protocol.is_some_and(IpProtocol::has_ports) {
                        out.push(Problem::PortsNeedTcpOrUdp { which });
                    }
                    if r.end < r.start {
                        out.push(Problem::InvertedPortRange {
                            which,
                            range: r.to_string(),
                        });
                    }
                }
            }
        }
        out
    }
}

impl DefensePolicy {
    /// A policy with no filters that passes everything, enabled on the wired port.
    pub fn new(name: impl Into<String>) -> Self {
        DefensePolicy {
            name: name.into(),
            precedence: 0,
            ports: default_ports(),
            rx_default: DefaultAction::default(),
            tx_default: DefaultAction::default(),
            anti_spoofing: AntiSpoofing::Off,
            filters: Vec::new(),
        }
    }

    /// Checks the policy and completes it (an IP filter's `ip_version` is filled in from its
    /// addresses). Every problem is reported at once.
    pub fn validated(mut self) -> Result<Self, InvalidPolicy> {
        let mut problems = Vec::new();
        if !valid_name(&self.name) {
            problems.push((
                Location::Policy,
                Problem::BadName {
                    name: self.name.clone(),
                },
            ));
        }
        if self.filters.len() > MAX_FILTERS {
            problems.push((
                Location::Policy,
                Problem::TooManyFilters {
                    count: self.filters.len(),
                },
            ));
        }
        if self.ports.is_empty() {
            problems.push((Location::Policy, Problem::NoPorts));
        }
        for (i, p) in self.ports.iter().enumerate() {
            if self.ports[..i].contains(p) {
                problems.push((Location::Policy, Problem::DuplicatePort { port: *p }));
            }
        }
        let mut seen: Vec<String> = Vec::new();
        for (index, f) in self.filters.iter_mut().enumerate() {
            let at = || Location::Filter {
                index,
                name: f.name.clone(),
            };
            if !valid_name(&f.name) {
                problems.push((
                    at(),
                    Problem::BadName {
                        name: f.name.clone(),
                    },
                ));
            } else if seen.contains(&f.name) {
                problems.push((
                    at(),
                    Problem::DuplicateFilterName {
                        name: f.name.clone(),
                    },
                ));
            }
            seen.push(f.name.clone());
            let at = at();
            problems.extend(f.problems().into_iter().map(|p| (at.clone(), p)));
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(InvalidPolicy {
                policy: self.name,
                problems,
            })
        }
    }

    /// The filter named `name`.
    pub fn filter(&self, name: &str) -> Option<&Filter> {
        self.filters.iter().find(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests;
