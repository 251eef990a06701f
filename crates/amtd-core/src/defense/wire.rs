//! The model on the wire: [`Filter`] ⇄ `AMT_Hdr8021Filter` / `AMT_IPHeadersFilter`,
//! [`DefensePolicy`] → `AMT_SystemDefensePolicy` and `AMT_NetworkPortSystemDefensePolicy`, and
//! [`DeviceDefense`], a device's System Defense state as read back.
//!
//! Reading is strict where it matters for comparison: a device filter that uses a property this
//! model does not hold (DSCP, TCP flags, flow label, MAC masks) or a value it cannot express
//! (a non-contiguous mask, direction 2) is reported as unreadable rather than read as something
//! it is not, so a comparison never calls two different filters equal.

use std::net::IpAddr;

use amt_wsman::classes::amt::{
    hex_to_ip, ip_to_hex, AmtHdr8021Filter, AmtIpHeadersFilter, AmtNetworkPortSystemDefensePolicy,
    AmtSystemDefensePolicy, AntiSpoofingSupport, FilterDirection, FilterProfile, IpVersion,
};
use amt_wsman::classes::Typed;
use amt_wsman::value::{Selector, SelectorValue};
use amt_wsman::{EndpointReference, Instance, SelectorSet};
use base64::Engine as _;
use serde::Serialize;

use super::{
    prefix_mask, Action, AddrMatch, AntiSpoofing, DefaultAction, DefensePolicy, Direction,
    EthernetMatch, Filter, IpFamily, IpMatch, IpProtocol, MacAddr, Match, Port, PortRange, Verdict,
};

/// Which class a filter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterClass {
    /// `AMT_Hdr8021Filter`.
    Ethernet,
    /// `AMT_IPHeadersFilter`.
    Ip,
}

impl FilterClass {
    /// The class name.
    pub fn class_name(self) -> &'static str {
        match self {
            FilterClass::Ethernet => "AMT_Hdr8021Filter",
            FilterClass::Ip => "AMT_IPHeadersFilter",
        }
    }
}

/// A filter as an AMT instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterInstance {
    /// `AMT_Hdr8021Filter`.
    Ethernet(AmtHdr8021Filter),
    /// `AMT_IPHeadersFilter`.
    Ip(AmtIpHeadersFilter),
}

impl FilterInstance {
    /// Its class.
    pub fn class(&self) -> FilterClass {
        match self {
            FilterInstance::Ethernet(_) => FilterClass::Ethernet,
            FilterInstance::Ip(_) => FilterClass::Ip,
        }
    }

    /// The generic instance.
    pub fn to_instance(&self) -> Instance {
        match self {
            FilterInstance::Ethernet(f) => f.to_instance(),
            FilterInstance::Ip(f) => f.to_instance(),
        }
    }
}

/// Why a device's filter or policy cannot be read into the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The instance does not convert to its class (an unknown enumeration value, a malformed
    /// number).
    #[error("{0}")]
    Class(String),
    /// A property the model needs is absent.
    #[error("{property} is missing")]
    Missing {
        /// The property.
        property: &'static str,
    },
    /// A value the model cannot express.
    #[error("{property} = {value} cannot be expressed ({why})")]
    Unsupported {
        /// The property.
        property: &'static str,
        /// The value (shortened).
        value: String,
        /// Why.
        why: &'static str,
    },
    /// The filter uses a property the model does not hold; comparing it would hide a
    /// difference.
    #[error("uses {property}, which amtd policies do not set")]
    Unmodelled {
        /// The property.
        property: &'static str,
    },
}

fn unsupported(property: &'static str, value: impl ToString, why: &'static str) -> ReadError {
    ReadError::Unsupported {
        property,
        value: value.to_string().chars().take(48).collect(),
        why,
    }
}

const SYSTEM_CREATION_CLASS: &str = "CIM_ComputerSystem";
const SYSTEM_NAME: &str = "Intel(r) AMT";

fn profile_of(a: Action) -> FilterProfile {
    match a {
        Action::Pass => FilterProfile::Pass,
        Action::Drop => FilterProfile::Drop,
        Action::CountPass => FilterProfile::StatisticsPass,
        Action::CountDrop => FilterProfile::StatisticsDrop,
        Action::RateLimit => FilterProfile::RateLimit,
    }
}

fn action_of(p: FilterProfile) -> Action {
    match p {
        FilterProfile::Pass => Action::Pass,
        FilterProfile::Drop => Action::Drop,
        FilterProfile::StatisticsPass => Action::CountPass,
        FilterProfile::StatisticsDrop => Action::CountDrop,
        FilterProfile::RateLimit => Action::RateLimit,
    }
}

fn direction_of(d: Direction) -> FilterDirection {
    match d {
        Direction::Receive => FilterDirection::Receive,
        Direction::Transmit => FilterDirection::Transmit,
    }
}

fn read_direction(d: Option<FilterDirection>) -> Result<Direction, ReadError> {
    match d {
        Some(FilterDirection::Receive) => Ok(Direction::Receive),
        Some(FilterDirection::Transmit) => Ok(Direction::Transmit),
        Some(FilterDirection::Undocumented2) => Err(unsupported(
            "FilterDirection",
            2,
            "not a documented direction",
        )),
        None => Err(ReadError::Missing {
            property: "FilterDirection",
        }),
    }
}

fn mac_b64(m: &MacAddr) -> String {
    base64::engine::general_purpose::STANDARD.encode(m.0)
}

fn read_mac(property: &'static str, v: &Option<String>) -> Result<Option<MacAddr>, ReadError> {
    let Some(s) = v else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| unsupported(property, s, "not base64"))?;
    <[u8; 6]>::try_from(bytes)
        .map(|b| Some(MacAddr(b)))
        .map_err(|_| unsupported(property, s, "not 6 bytes"))
}

/// Writes an address match as (address, mask, end of range) hex properties.
fn addr_props(a: &Option<AddrMatch>) -> (Option<String>, Option<String>, Option<String>) {
    match a {
        None => (None, None, None),
        Some(AddrMatch::Prefix { addr, len }) => (
            Some(ip_to_hex(*addr)),
            Some(ip_to_hex(prefix_mask(IpFamily::of(*addr), *len))),
            None,
        ),
        Some(AddrMatch::Range { start, end }) => {
            (Some(ip_to_hex(*start)), None, Some(ip_to_hex(*end)))
        }
    }
}

fn read_ip(property: &'static str, hex: &str) -> Result<IpAddr, ReadError> {
    hex_to_ip(hex).map_err(|_| unsupported(property, hex, "not hex of 4 or 16 bytes"))
}

/// The length of a contiguous mask (leading ones, then only zeros).
fn mask_len(mask: IpAddr) -> Option<u8> {
    let (ones, zeros, bits) = match mask {
        IpAddr::V4(m) => {
            let v = u32::from(m);
            (v.leading_ones(), v.trailing_zeros(), 32)
        }
        IpAddr::V6(m) => {
            let v = u128::from(m);
            (v.leading_ones(), v.trailing_zeros(), 128)
        }
    };
    (ones + zeros == bits)
        .then(|| u8::try_from(ones).ok())
        .flatten()
}

fn read_addr(
    which: [&'static str; 3],
    addr: &Option<String>,
    mask: &Option<String>,
    end: &Option<String>,
) -> Result<Option<AddrMatch>, ReadError> {
    let [p_addr, p_mask, p_end] = which;
    let Some(addr) = addr else {
        if let Some(m) = mask.as_ref().or(end.as_ref()) {
            return Err(unsupported(
                if mask.is_some() { p_mask } else { p_end },
                m,
                "given without an address",
            ));
        }
        return Ok(None);
    };
    let a = read_ip(p_addr, addr)?;
    if let Some(end) = end {
        let e = read_ip(p_end, end)?;
        return Ok(Some(AddrMatch::Range { start: a, end: e }));
    }
    let len = match mask {
        None => IpFamily::of(a).bits(),
        Some(m) => {
            let mask = read_ip(p_mask, m)?;
            if IpFamily::of(mask) != IpFamily::of(a) {
                return Err(unsupported(p_mask, m, "not the address's family"));
            }
            mask_len(mask).ok_or_else(|| unsupported(p_mask, m, "not a contiguous mask"))?
        }
    };
    Ok(Some(AddrMatch::Prefix { addr: a, len }))
}

fn read_ports(
    which: [&'static str; 2],
    start: Option<u16>,
    end: Option<u16>,
) -> Result<Option<PortRange>, ReadError> {
    match (start, end) {
        (None, None) => Ok(None),
        (Some(s), None) => Ok(Some(PortRange::single(s))),
        (Some(start), Some(end)) => Ok(Some(PortRange { start, end })),
        (None, Some(e)) => Err(unsupported(which[1], e, "given without a start")),
    }
}

impl Filter {
    /// The AMT instance that creates this filter (no `InstanceID`: the device assigns it).
    pub fn to_amt(&self) -> FilterInstance {
        let rate = match self.action {
            Action::RateLimit => self.rate,
            _ => None,
        };
        match &self.matcher {
            Match::Ethernet(e) => FilterInstance::Ethernet(AmtHdr8021Filter {
                action_event_on_match: Some(self.event_on_match),
                creation_class_name: Some("AMT_Hdr8021Filter".into()),
                element_name: Some(self.name.clone()),
                filter_direction: Some(direction_of(self.direction)),
                filter_profile: Some(profile_of(self.action)),
                filter_profile_data: rate,
                hdr_dest_mac_addr: e.dst_mac.as_ref().map(mac_b64),
                hdr_priority_value: e.priority,
                hdr_protocol_id: e.ether_type,
                hdr_src_mac_addr: e.src_mac.as_ref().map(mac_b64),
                hdr_vlan_id: e.vlan.map(u32::from),
                is_negated: Some(self.negate),
                name: Some(self.name.clone()),
                system_creation_class_name: Some(SYSTEM_CREATION_CLASS.into()),
                system_name: Some(SYSTEM_NAME.into()),
                ..Default::default()
            }),
            Match::Ip(ip) => {
                let (src, src_mask, src_end) = addr_props(&ip.src);
                let (dst, dst_mask, dst_end) = addr_props(&ip.dst);
                FilterInstance::Ip(AmtIpHeadersFilter {
                    action_event_on_match: Some(self.event_on_match),
                    creation_class_name: Some("AMT_IPHeadersFilter".into()),
                    element_name: Some(self.name.clone()),
                    filter_direction: Some(direction_of(self.direction)),
                    filter_profile: Some(profile_of(self.action)),
                    filter_profile_data: rate,
                    hdr_dest_address: dst,
                    hdr_dest_address_end_of_range: dst_end,
                    hdr_dest_mask: dst_mask,
                    hdr_dest_port_end: ip.dst_ports.map(|p| p.end),
                    hdr_dest_port_start: ip.dst_ports.map(|p| p.start),
                    hdr_ip_version: ip
                        .ip_version
                        .or(ip.src.map(|a| a.family()))
                        .or(ip.dst.map(|a| a.family()))
                        .map(|v| match v {
                            IpFamily::V4 => IpVersion::V4,
                            IpFamily::V6 => IpVersion::V6,
                        }),
                    hdr_protocol_id: ip.protocol.map(|p| p.0),
                    hdr_src_address: src,
                    hdr_src_address_end_of_range: src_end,
                    hdr_src_mask: src_mask,
                    hdr_src_port_end: ip.src_ports.map(|p| p.end),
                    hdr_src_port_start: ip.src_ports.map(|p| p.start),
                    is_negated: Some(self.negate),
                    name: Some(self.name.clone()),
                    system_creation_class_name: Some(SYSTEM_CREATION_CLASS.into()),
                    system_name: Some(SYSTEM_NAME.into()),
                    ..Default::default()
                })
            }
        }
    }

    /// Reads a device's filter into the model.
    pub fn from_amt(i: &FilterInstance) -> Result<Filter, ReadError> {
        match i {
            FilterInstance::Ethernet(f) => {
                for (property, used) in [
                    ("HdrSrcMACMask8021", f.hdr_src_mac_mask.is_some()),
                    ("HdrDestMACMask8021", f.hdr_dest_mac_mask.is_some()),
                    ("FilterEnabled = false", f.filter_enabled == Some(false)),
                ] {
                    if used {
                        return Err(ReadError::Unmodelled { property });
                    }
                }
                let vlan = match f.hdr_vlan_id.or(f.vlan_id) {
                    None => None,
                    Some(v) => Some(
                        u16::try_from(v)
                            .ok()
                            .filter(|v| *v <= 4094)
                            .ok_or_else(|| unsupported("HdrVLANID8021", v, "above 4094"))?,
                    ),
                };
                let priority = match f.hdr_priority_value.map(u32::from).or(f.vlan_priority) {
                    None => None,
                    Some(p) => Some(
                        u8::try_from(p)
                            .ok()
                            .filter(|p| *p <= 7)
                            .ok_or_else(|| unsupported("HdrPriorityValue8021", p, "above 7"))?,
                    ),
                };
                let matcher = Match::Ethernet(EthernetMatch {
                    ether_type: f.hdr_protocol_id,
                    src_mac: read_mac("HdrSrcMACAddr8021", &f.hdr_src_mac_addr)?,
                    dst_mac: read_mac("HdrDestMACAddr8021", &f.hdr_dest_mac_addr)?,
                    vlan,
                    priority,
                });
                common(
                    &f.name,
                    f.filter_direction,
                    f.filter_profile,
                    f.filter_profile_data,
                    f.action_event_on_match,
                    f.is_negated,
                    matcher,
                )
            }
            FilterInstance::Ip(f) => {
                for (property, used) in [
                    ("HdrDSCP", !f.hdr_dscp.is_empty()),
                    ("TCPFlagsOn", !f.tcp_flags_on.is_empty()),
                    ("TCPFlagsOff", !f.tcp_flags_off.is_empty()),
                    ("HdrFlowLabel", f.hdr_flow_label.is_some()),
                ] {
                    if used {
                        return Err(ReadError::Unmodelled { property });
                    }
                }
                let ip_version = f.hdr_ip_version.map(|v| match v {
                    IpVersion::V4 => IpFamily::V4,
                    IpVersion::V6 => IpFamily::V6,
                });
                let matcher = Match::Ip(IpMatch {
                    ip_version,
                    src: read_addr(
                        ["HdrSrcAddress", "HdrSrcMask", "HdrSrcAddressEndOfRange"],
                        &f.hdr_src_address,
                        &f.hdr_src_mask,
                        &f.hdr_src_address_end_of_range,
                    )?,
                    dst: read_addr(
                        ["HdrDestAddress", "HdrDestMask", "HdrDestAddressEndOfRange"],
                        &f.hdr_dest_address,
                        &f.hdr_dest_mask,
                        &f.hdr_dest_address_end_of_range,
                    )?,
                    protocol: f.hdr_protocol_id.map(IpProtocol),
                    src_ports: read_ports(
                        ["HdrSrcPortStart", "HdrSrcPortEnd"],
                        f.hdr_src_port_start,
                        f.hdr_src_port_end,
                    )?,
                    dst_ports: read_ports(
                        ["HdrDestPortStart", "HdrDestPortEnd"],
                        f.hdr_dest_port_start,
                        f.hdr_dest_port_end,
                    )?,
                });
                common(
                    &f.name,
                    f.filter_direction,
                    f.filter_profile,
                    f.filter_profile_data,
                    f.action_event_on_match,
                    f.is_negated,
                    matcher,
                )
            }
        }
    }
}

fn common(
    name: &Option<String>,
    direction: Option<FilterDirection>,
    profile: Option<FilterProfile>,
    data: Option<u32>,
    event: Option<bool>,
    negated: Option<bool>,
    matcher: Match,
) -> Result<Filter, ReadError> {
    let name = name
        .clone()
        .ok_or(ReadError::Missing { property: "Name" })?;
    let action = action_of(profile.ok_or(ReadError::Missing {
        property: "FilterProfile",
    })?);
    Ok(Filter {
        name,
        direction: read_direction(direction)?,
        action,
        rate: if action == Action::RateLimit {
            data
        } else {
            None
        },
        event_on_match: event.unwrap_or(false),
        negate: negated.unwrap_or(false),
        matcher,
    })
}

fn spoofing_of(a: AntiSpoofing) -> AntiSpoofingSupport {
    match a {
        AntiSpoofing::Off => AntiSpoofingSupport::Off,
        AntiSpoofing::EventOnMatch => AntiSpoofingSupport::EventOnMatch,
        AntiSpoofing::Count => AntiSpoofingSupport::Count,
        AntiSpoofing::CountAndEventOnMatch => AntiSpoofingSupport::CountAndEventOnMatch,
        AntiSpoofing::On => AntiSpoofingSupport::On,
    }
}

fn read_spoofing(a: AntiSpoofingSupport) -> AntiSpoofing {
    match a {
        AntiSpoofingSupport::Off => AntiSpoofing::Off,
        AntiSpoofingSupport::EventOnMatch => AntiSpoofing::EventOnMatch,
        AntiSpoofingSupport::Count => AntiSpoofing::Count,
        AntiSpoofingSupport::CountAndEventOnMatch => AntiSpoofing::CountAndEventOnMatch,
        AntiSpoofingSupport::On => AntiSpoofing::On,
    }
}

impl DefensePolicy {
    /// The `AMT_SystemDefensePolicy` for this policy over the device's filter `handles` (in
    /// filter order); `instance_id` for a Put, `None` for a Create.
    pub fn to_amt(&self, handles: &[u32], instance_id: Option<String>) -> AmtSystemDefensePolicy {
        AmtSystemDefensePolicy {
            anti_spoofing_support: Some(spoofing_of(self.anti_spoofing)),
            element_name: Some(self.name.clone()),
            filter_creation_handles: handles.to_vec(),
            instance_id,
            policy_name: Some(self.name.clone()),
            policy_precedence: Some(self.precedence),
            rx_default_count: Some(self.rx_default.count),
            rx_default_drop: Some(self.rx_default.action == Verdict::Drop),
            rx_default_match_event: Some(self.rx_default.event),
            tx_default_count: Some(self.tx_default.count),
            tx_default_drop: Some(self.tx_default.action == Verdict::Drop),
            tx_default_match_event: Some(self.tx_default.event),
            extra: Vec::new(),
        }
    }
}

/// The `CIM_EthernetPort` reference of a port (the `Antecedent` of the association).
pub fn port_reference(port: Port) -> EndpointReference {
    EndpointReference::to_class(
        "CIM_EthernetPort",
        SelectorSet::new()
            .with("CreationClassName", "CIM_EthernetPort")
            .with("DeviceID", port.device_id())
            .with("SystemCreationClassName", SYSTEM_CREATION_CLASS)
            .with("SystemName", SYSTEM_NAME),
    )
}

/// The association that enables the policy `policy` on `port`.
pub fn binding_to_amt(port: Port, policy: EndpointReference) -> AmtNetworkPortSystemDefensePolicy {
    AmtNetworkPortSystemDefensePolicy {
        active: None,
        antecedent: Some(port_reference(port)),
        dependent: Some(policy),
        enabled: Some(true),
        extra: Vec::new(),
    }
}

/// The numeric handle in an `InstanceID`: its trailing decimal digits (the emulator answers
/// `"5"`; firmware answers may carry a text prefix).
pub fn handle_of(instance_id: &str) -> Option<u32> {
    let t = instance_id.trim();
    let digits = t.len() - t.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    t[t.len() - digits..].parse().ok()
}

/// A policy on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePolicy {
    /// Its `InstanceID`.
    pub instance_id: String,
    /// `PolicyName` (or `ElementName`).
    pub name: String,
    /// `PolicyPrecedence`.
    pub precedence: u32,
    /// Unmatched received packets.
    pub rx_default: DefaultAction,
    /// Unmatched transmitted packets.
    pub tx_default: DefaultAction,
    /// `AntiSpoofingSupport` (absent reads as off).
    pub anti_spoofing: AntiSpoofing,
    /// `FilterCreationHandles`, in order.
    pub filter_handles: Vec<u32>,
}

impl DevicePolicy {
    fn from_amt(p: &AmtSystemDefensePolicy) -> Result<DevicePolicy, ReadError> {
        let d = |drop: Option<bool>, count: Option<bool>, event: Option<bool>| DefaultAction {
            action: if drop == Some(true) {
                Verdict::Drop
            } else {
                Verdict::Pass
            },
            count: count.unwrap_or(false),
            event: event.unwrap_or(false),
        };
        Ok(DevicePolicy {
            instance_id: p.instance_id.clone().ok_or(ReadError::Missing {
                property: "InstanceID",
            })?,
            name: p
                .policy_name
                .clone()
                .or(p.element_name.clone())
                .unwrap_or_default(),
            precedence: p.policy_precedence.unwrap_or(0),
            rx_default: d(
                p.rx_default_drop,
                p.rx_default_count,
                p.rx_default_match_event,
            ),
            tx_default: d(
                p.tx_default_drop,
                p.tx_default_count,
                p.tx_default_match_event,
            ),
            anti_spoofing: p
                .anti_spoofing_support
                .map_or(AntiSpoofing::Off, read_spoofing),
            filter_handles: p.filter_creation_handles.clone(),
        })
    }

    /// The reference to this policy (the `Dependent` of its associations).
    pub fn reference(&self) -> EndpointReference {
        EndpointReference::to_class(
            "AMT_SystemDefensePolicy",
            SelectorSet::one("InstanceID", &self.instance_id),
        )
    }
}

/// A filter on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Its class.
    pub class: FilterClass,
    /// Its `InstanceID`.
    pub instance_id: String,
    /// The handle policies name it by.
    pub handle: Option<u32>,
    /// The filter, or why it cannot be read.
    pub filter: Result<Filter, ReadError>,
}

/// A policy's association with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceBinding {
    /// The port, when it is one of the two AMT ports.
    pub port: Option<Port>,
    /// The port's `DeviceID` as answered.
    pub port_id: String,
    /// The policy's `InstanceID`.
    pub policy_instance_id: Option<String>,
    /// `Enabled`.
    pub enabled: bool,
    /// `Active`: the enabled policy with the highest precedence on the port.
    pub active: bool,
    /// `Antecedent` as answered.
    pub antecedent: Option<EndpointReference>,
    /// `Dependent` as answered.
    pub dependent: Option<EndpointReference>,
}

impl DeviceBinding {
    fn from_amt(b: &AmtNetworkPortSystemDefensePolicy) -> DeviceBinding {
        let port_id = b
            .antecedent
            .as_ref()
            .and_then(|a| a.selectors.get("DeviceID"))
            .unwrap_or_default()
            .to_owned();
        DeviceBinding {
            port: Port::from_device_id(&port_id),
            port_id,
            policy_instance_id: b
                .dependent
                .as_ref()
                .and_then(|d| d.selectors.get("InstanceID"))
                .map(str::to_owned),
            enabled: b.enabled.unwrap_or(false),
            active: b.active.unwrap_or(false),
            antecedent: b.antecedent.clone(),
            dependent: b.dependent.clone(),
        }
    }

    /// The selectors that name this association (for Put and Delete): `Antecedent` and
    /// `Dependent` as references.
    pub fn selectors(&self) -> SelectorSet {
        let mut s = SelectorSet::new();
        for (name, epr) in [
            ("Antecedent", &self.antecedent),
            ("Dependent", &self.dependent),
        ] {
            if let Some(e) = epr {
                s.0.push(Selector {
                    name: name.into(),
                    value: SelectorValue::Epr(Box::new(e.clone())),
                });
            }
        }
        s
    }

    /// The association with `Enabled` set to `enabled`, for a Put.
    pub fn with_enabled(&self, enabled: bool) -> AmtNetworkPortSystemDefensePolicy {
        AmtNetworkPortSystemDefensePolicy {
            active: None,
            antecedent: self.antecedent.clone(),
            dependent: self.dependent.clone(),
            enabled: Some(enabled),
            extra: Vec::new(),
        }
    }

    fn port_name(&self) -> String {
        self.port
            .map_or_else(|| format!("{:?}", self.port_id), |p| p.to_string())
    }
}

/// A device's System Defense state, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceDefense {
    /// Policies, in the device's order.
    pub policies: Vec<DevicePolicy>,
    /// Filters of both classes.
    pub filters: Vec<DeviceFilter>,
    /// Policy-to-port associations.
    pub bindings: Vec<DeviceBinding>,
    /// Policies that could not be read, with the reason (in words).
    pub unreadable_policies: Vec<String>,
}

impl DeviceDefense {
    /// Builds the state from the enumerated instances of `AMT_SystemDefensePolicy`,
    /// `AMT_Hdr8021Filter`, `AMT_IPHeadersFilter` and `AMT_NetworkPortSystemDefensePolicy`.
    /// An instance that does not convert is kept as unreadable, never dropped.
    pub fn from_amt(
        policies: &[Instance],
        ethernet: &[Instance],
        ip: &[Instance],
        bindings: &[Instance],
    ) -> DeviceDefense {
        let mut out = DeviceDefense::default();
        for i in policies {
            match AmtSystemDefensePolicy::from_instance(i)
                .map_err(|e| ReadError::Class(e.to_string()))
                .and_then(|p| DevicePolicy::from_amt(&p))
            {
                Ok(p) => out.policies.push(p),
                Err(e) => out.unreadable_policies.push(format!(
                    "policy {}: {e}",
                    i.get_text("InstanceID").unwrap_or("(no InstanceID)")
                )),
            }
        }
        let mut add = |class: FilterClass, i: &Instance| {
            let instance_id = i.get_text("InstanceID").unwrap_or_default().to_owned();
            let typed = match class {
                FilterClass::Ethernet => {
                    AmtHdr8021Filter::from_instance(i).map(FilterInstance::Ethernet)
                }
                FilterClass::Ip => AmtIpHeadersFilter::from_instance(i).map(FilterInstance::Ip),
            };
            out.filters.push(DeviceFilter {
                class,
                handle: handle_of(&instance_id),
                instance_id,
                filter: typed
                    .map_err(|e| ReadError::Class(e.to_string()))
                    .and_then(|f| Filter::from_amt(&f)),
            });
        };
        for i in ethernet {
            add(FilterClass::Ethernet, i);
        }
        for i in ip {
            add(FilterClass::Ip, i);
        }
        for i in bindings {
            if let Ok(b) = AmtNetworkPortSystemDefensePolicy::from_instance(i) {
                out.bindings.push(DeviceBinding::from_amt(&b));
            }
        }
        out
    }

    /// The policies named `name`.
    pub fn policies_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a DevicePolicy> {
        self.policies.iter().filter(move |p| p.name == name)
    }

    /// The filter with handle `handle`.
    pub fn filter(&self, handle: u32) -> Option<&DeviceFilter> {
        self.filters.iter().find(|f| f.handle == Some(handle))
    }

    /// The associations of the policy with `InstanceID` `instance_id`.
    pub fn bindings_of<'a>(
        &'a self,
        instance_id: &'a str,
    ) -> impl Iterator<Item = &'a DeviceBinding> {
        self.bindings
            .iter()
            .filter(move |b| b.policy_instance_id.as_deref() == Some(instance_id))
    }

    /// Whether any policy other than `except` (an `InstanceID`) names filter `handle`.
    pub fn used_by_other(&self, handle: u32, except: &[&str]) -> bool {
        self.policies
            .iter()
            .filter(|p| !except.contains(&p.instance_id.as_str()))
            .any(|p| p.filter_handles.contains(&handle))
    }

    /// The name of the policy active on `port`, if any.
    pub fn active_on(&self, port: Port) -> Option<&DevicePolicy> {
        let b = self
            .bindings
            .iter()
            .find(|b| b.port == Some(port) && b.active && b.enabled)?;
        let id = b.policy_instance_id.as_deref()?;
        self.policies.iter().find(|p| p.instance_id == id)
    }

    /// A readable summary of every policy on the device (for `amtd defense show` and the API).
    pub fn views(&self) -> Vec<PolicyView> {
        self.policies
            .iter()
            .map(|p| {
                let bindings: Vec<&DeviceBinding> = self.bindings_of(&p.instance_id).collect();
                PolicyView {
                    name: p.name.clone(),
                    instance_id: p.instance_id.clone(),
                    precedence: p.precedence,
                    rx_default: p.rx_default,
                    tx_default: p.tx_default,
                    anti_spoofing: p.anti_spoofing,
                    enabled_on: bindings
                        .iter()
                        .filter(|b| b.enabled)
                        .map(|b| b.port_name())
                        .collect(),
                    active_on: bindings
                        .iter()
                        .filter(|b| b.enabled && b.active)
                        .map(|b| b.port_name())
                        .collect(),
                    filters: p
                        .filter_handles
                        .iter()
                        .map(|h| match self.filter(*h) {
                            Some(f) => FilterView {
                                handle: *h,
                                class: Some(f.class),
                                filter: f.filter.as_ref().ok().cloned(),
                                error: f.filter.as_ref().err().map(ToString::to_string),
                            },
                            None => FilterView {
                                handle: *h,
                                class: None,
                                filter: None,
                                error: Some("no filter has this handle".into()),
                            },
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// One policy on a device, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    /// `PolicyName`.
    pub name: String,
    /// `InstanceID`.
    pub instance_id: String,
    /// `PolicyPrecedence`.
    pub precedence: u32,
    /// Unmatched received packets.
    pub rx_default: DefaultAction,
    /// Unmatched transmitted packets.
    pub tx_default: DefaultAction,
    /// `AntiSpoofingSupport`.
    pub anti_spoofing: AntiSpoofing,
    /// Ports it is enabled on.
    pub enabled_on: Vec<String>,
    /// Ports it is active on.
    pub active_on: Vec<String>,
    /// Its filters, in order.
    pub filters: Vec<FilterView>,
}

/// One filter of a policy on a device, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterView {
    /// The handle the policy names.
    pub handle: u32,
    /// Its class, when the filter exists.
    pub class: Option<FilterClass>,
    /// The filter, when readable.
    pub filter: Option<Filter>,
    /// Why it cannot be shown.
    pub error: Option<String>,
}
