//! System Defense (network filters, ACM only): `AMT_SystemDefensePolicy`, the filters
//! `AMT_Hdr8021Filter` (Ethernet level) and `AMT_IPHeadersFilter` (IP/TCP/UDP level), and the
//! association `AMT_NetworkPortSystemDefensePolicy` that applies a policy to a port
//! (AMT-PROTOCOLS.md §5.1).
//!
//! Sources: Intel's generated classes (intel/lms `CIM_Framework`: `AMT_SystemDefensePolicy.cpp`,
//! `AMT_Hdr8021Filter.cpp`, `AMT_IPHeadersFilter.cpp`, `AMT_NetworkPortSystemDefensePolicy.cpp`
//! and their bases `AMT_FilterEntryBase`, `AMT_InterfacePolicy`) for names and types; the Intel
//! AMT SDK use cases "Create an IP Filter" / "Create a System Defense Policy" for the
//! `FilterProfile`, `FilterDirection` and `HdrIPVersion` values; npm `wsman-messages`
//! `types.d.ts` for `AntiSpoofingSupport`; recorded fixture `amt/hdr8021filter/*.xml`.

use crate::value::EndpointReference;
use std::net::IpAddr;

wire_enum! {
    /// `AntiSpoofingSupport` of a policy.
    pub enum AntiSpoofingSupport: u32 {
        /// 0: Off.
        Off = 0,
        /// 1: Event on match.
        EventOnMatch = 1,
        /// 2: Count.
        Count = 2,
        /// 3: Count and event on match.
        CountAndEventOnMatch = 3,
        /// 4: On, without counting or events.
        On = 4,
    }
}

wire_enum! {
    /// `FilterDirection`: the traffic a filter governs.
    pub enum FilterDirection: u16 {
        /// 0: Outgoing (transmit).
        Transmit = 0,
        /// 1: Incoming (receive).
        Receive = 1,
        /// 2: Not documented by Intel's SDK; carried by the recorded fixture
        /// `amt/hdr8021filter/get.xml` (go-wsman-messages test data).
        Undocumented2 = 2,
    }
}

wire_enum! {
    /// `FilterProfile`: what a filter does on match.
    pub enum FilterProfile: u16 {
        /// 0: Count and pass.
        StatisticsPass = 0,
        /// 1: Count and drop.
        StatisticsDrop = 1,
        /// 2: Rate limit (`FilterProfileData` packets per second).
        RateLimit = 2,
        /// 3: Pass.
        Pass = 3,
        /// 4: Drop.
        Drop = 4,
    }
}

wire_enum! {
    /// `HdrIPVersion`: the size of the address properties of an IP filter.
    pub enum IpVersion: u8 {
        /// 4: IPv4 (4-byte addresses).
        V4 = 4,
        /// 6: IPv6 (16-byte addresses).
        V6 = 6,
    }
}

/// The hex form IP filters use for addresses and masks (`HdrSrcAddress`, …).
pub fn ip_to_hex(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => hex::encode(a.octets()),
        IpAddr::V6(a) => hex::encode(a.octets()),
    }
}

/// Reads a hex address of an IP filter (4 bytes for IPv4, 16 for IPv6).
pub fn hex_to_ip(s: &str) -> Result<IpAddr, crate::Error> {
    let bad = || crate::Error::InvalidValue {
        class: "AMT_IPHeadersFilter".into(),
        property: "address".into(),
        value: s.chars().take(40).collect(),
        expected: "hex of 4 or 16 bytes",
    };
    let bytes = hex::decode(s.trim()).map_err(|_| bad())?;
    match bytes.len() {
        4 => Ok(IpAddr::from(<[u8; 4]>::try_from(bytes).map_err(|_| bad())?)),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(bytes).map_err(|_| bad())?,
        )),
        _ => Err(bad()),
    }
}

wsman_struct! {
    /// `AMT_SystemDefensePolicy`: a set of filters and default actions.
    /// Source: Intel `AMT_SystemDefensePolicy.cpp` and SDK class reference.
    class AmtSystemDefensePolicy = "AMT_SystemDefensePolicy" {
        /// Anti-spoofing behaviour.
        "AntiSpoofingSupport" => anti_spoofing_support: Option<AntiSpoofingSupport>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// `InstanceID`s of the filters in the policy (at most 62).
        "FilterCreationHandles" => filter_creation_handles: Vec<u32>,
        /// Policy handle.
        "InstanceID" => instance_id: Option<String>,
        /// Policy name (at most 16 characters).
        "PolicyName" => policy_name: Option<String>,
        /// The enabled policy with the highest precedence is active.
        "PolicyPrecedence" => policy_precedence: Option<u32>,
        /// Count unmatched received packets.
        "RxDefaultCount" => rx_default_count: Option<bool>,
        /// Drop unmatched received packets.
        "RxDefaultDrop" => rx_default_drop: Option<bool>,
        /// Event on unmatched received packets.
        "RxDefaultMatchEvent" => rx_default_match_event: Option<bool>,
        /// Count unmatched transmitted packets.
        "TxDefaultCount" => tx_default_count: Option<bool>,
        /// Drop unmatched transmitted packets.
        "TxDefaultDrop" => tx_default_drop: Option<bool>,
        /// Event on unmatched transmitted packets.
        "TxDefaultMatchEvent" => tx_default_match_event: Option<bool>,
    }
}

wsman_struct! {
    /// `AMT_Hdr8021Filter`: an Ethernet-level filter (EtherType, MAC, VLAN, priority).
    /// Source: Intel `AMT_Hdr8021Filter.cpp`; fixture `amt/hdr8021filter/get.xml`, whose
    /// `FilterEnabled`, `VLANID` and `VLANPriority` are not in Intel's class but are kept
    /// as recorded.
    class AmtHdr8021Filter = "AMT_Hdr8021Filter" {
        /// Create an event on match.
        "ActionEventOnMatch" => action_event_on_match: Option<bool>,
        /// `AMT_Hdr8021Filter`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Direction.
        "FilterDirection" => filter_direction: Option<FilterDirection>,
        /// As recorded in the fixture (not in Intel's class).
        "FilterEnabled" => filter_enabled: Option<bool>,
        /// Action on match.
        "FilterProfile" => filter_profile: Option<FilterProfile>,
        /// Rate limit for [`FilterProfile::RateLimit`].
        "FilterProfileData" => filter_profile_data: Option<u32>,
        /// Destination MAC (base64).
        "HdrDestMACAddr8021" => hdr_dest_mac_addr: Option<String>,
        /// Destination MAC mask (base64).
        "HdrDestMACMask8021" => hdr_dest_mac_mask: Option<String>,
        /// 802.1p priority.
        "HdrPriorityValue8021" => hdr_priority_value: Option<u8>,
        /// EtherType (2048 IPv4, 2054 ARP).
        "HdrProtocolID8021" => hdr_protocol_id: Option<u16>,
        /// Source MAC (base64).
        "HdrSrcMACAddr8021" => hdr_src_mac_addr: Option<String>,
        /// Source MAC mask (base64).
        "HdrSrcMACMask8021" => hdr_src_mac_mask: Option<String>,
        /// VLAN ID.
        "HdrVLANID8021" => hdr_vlan_id: Option<u32>,
        /// Filter handle.
        "InstanceID" => instance_id: Option<String>,
        /// Match the complement.
        "IsNegated" => is_negated: Option<bool>,
        /// Filter name (at most 16 characters).
        "Name" => name: Option<String>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
        /// As recorded in the fixture (Intel: `HdrVLANID8021`).
        "VLANID" => vlan_id: Option<u32>,
        /// As recorded in the fixture (Intel: `HdrPriorityValue8021`).
        "VLANPriority" => vlan_priority: Option<u32>,
    }
}

wsman_struct! {
    /// `AMT_IPHeadersFilter`: an IP/TCP/UDP-level filter. Absent properties match anything.
    /// Addresses and masks are hex ([`ip_to_hex`]). Source: Intel `AMT_IPHeadersFilter.cpp`.
    class AmtIpHeadersFilter = "AMT_IPHeadersFilter" {
        /// Create an event on match.
        "ActionEventOnMatch" => action_event_on_match: Option<bool>,
        /// `AMT_IPHeadersFilter`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Direction.
        "FilterDirection" => filter_direction: Option<FilterDirection>,
        /// Action on match.
        "FilterProfile" => filter_profile: Option<FilterProfile>,
        /// Rate limit for [`FilterProfile::RateLimit`].
        "FilterProfileData" => filter_profile_data: Option<u32>,
        /// DSCP values.
        "HdrDSCP" => hdr_dscp: Vec<u8>,
        /// Destination address (hex).
        "HdrDestAddress" => hdr_dest_address: Option<String>,
        /// End of a destination address range (hex).
        "HdrDestAddressEndOfRange" => hdr_dest_address_end_of_range: Option<String>,
        /// Destination mask (hex).
        "HdrDestMask" => hdr_dest_mask: Option<String>,
        /// Last destination port.
        "HdrDestPortEnd" => hdr_dest_port_end: Option<u16>,
        /// First destination port.
        "HdrDestPortStart" => hdr_dest_port_start: Option<u16>,
        /// IPv6 flow label (hex).
        "HdrFlowLabel" => hdr_flow_label: Option<String>,
        /// IP version of the address properties.
        "HdrIPVersion" => hdr_ip_version: Option<IpVersion>,
        /// IP protocol number (6 TCP, 17 UDP).
        "HdrProtocolID" => hdr_protocol_id: Option<u8>,
        /// Source address (hex).
        "HdrSrcAddress" => hdr_src_address: Option<String>,
        /// End of a source address range (hex).
        "HdrSrcAddressEndOfRange" => hdr_src_address_end_of_range: Option<String>,
        /// Source mask (hex).
        "HdrSrcMask" => hdr_src_mask: Option<String>,
        /// Last source port.
        "HdrSrcPortEnd" => hdr_src_port_end: Option<u16>,
        /// First source port.
        "HdrSrcPortStart" => hdr_src_port_start: Option<u16>,
        /// Filter handle.
        "InstanceID" => instance_id: Option<String>,
        /// Match the complement.
        "IsNegated" => is_negated: Option<bool>,
        /// Filter name (at most 16 characters).
        "Name" => name: Option<String>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
        /// TCP flags that must be clear.
        "TCPFlagsOff" => tcp_flags_off: Vec<u16>,
        /// TCP flags that must be set.
        "TCPFlagsOn" => tcp_flags_on: Vec<u16>,
    }
}

wsman_struct! {
    /// `AMT_NetworkPortSystemDefensePolicy`: applies a policy to a network port.
    /// Source: Intel `AMT_NetworkPortSystemDefensePolicy.cpp` (base `AMT_InterfacePolicy`).
    class AmtNetworkPortSystemDefensePolicy = "AMT_NetworkPortSystemDefensePolicy" {
        /// The policy is the active one on this port.
        "Active" => active: Option<bool>,
        /// The `CIM_EthernetPort` (or `CIM_WiFiPort`).
        "Antecedent" => antecedent: Option<EndpointReference>,
        /// The `AMT_SystemDefensePolicy`.
        "Dependent" => dependent: Option<EndpointReference>,
        /// The policy is enabled on this port.
        "Enabled" => enabled: Option<bool>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_addresses_are_hex() {
        let ip: IpAddr = "192.168.0.24".parse().unwrap();
        assert_eq!(ip_to_hex(ip), "c0a80018");
        assert_eq!(hex_to_ip("C0A80018").unwrap(), ip);
        assert!(hex_to_ip("c0a800").is_err());
    }
}
