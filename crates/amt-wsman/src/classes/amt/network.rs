//! `AMT_EthernetPortSettings`: the ME's wired (instance 0) and wireless (instance 1) interface
//! settings (AMT-PROTOCOLS.md §2.6).
//!
//! Sources: recorded fixtures `amt/ethernetport/*.xml`; Intel's generated class
//! `AMT_EthernetPortSettings.cpp` (intel/lms `CIM_Framework`) for types; go-wsman-messages
//! `pkg/wsman/amt/ethernetport` and the npm `wsman-messages` `types.d.ts` for value maps.

use super::PtStatus;

wire_enum! {
    /// `LinkPolicy[]`: power states in which the ME keeps the link up.
    pub enum LinkPolicy: u8 {
        /// 1: S0 on AC.
        S0Ac = 1,
        /// 14: Sx on AC.
        SxAc = 14,
        /// 16: S0 on DC.
        S0Dc = 16,
        /// 224: Sx on DC.
        SxDc = 224,
    }
}

wire_enum! {
    /// `LinkPreference` / `LinkControl` (wireless instance): who owns the link.
    pub enum LinkOwner: u32 {
        /// 1: The ME.
        Me = 1,
        /// 2: The host.
        Host = 2,
    }
}

wire_enum! {
    /// `WLANLinkProtectionLevel`.
    pub enum WlanLinkProtectionLevel: u32 {
        /// 0: Override.
        Override = 0,
        /// 1: None.
        None = 1,
        /// 2: Passive.
        Passive = 2,
        /// 3: High.
        High = 3,
    }
}

wire_enum! {
    /// `PhysicalConnectionType`.
    pub enum PhysicalConnectionType: u32 {
        /// 0: Integrated LAN NIC.
        IntegratedLan = 0,
        /// 1: Discrete LAN NIC.
        DiscreteLan = 1,
        /// 2: LAN via a Thunderbolt dock.
        ThunderboltDock = 2,
        /// 3: Wireless LAN.
        WirelessLan = 3,
    }
}

wire_enum! {
    /// `PhysicalNicMedium`.
    pub enum PhysicalNicMedium: u32 {
        /// 0: SMBus.
        Smbus = 0,
        /// 1: PCIe.
        Pcie = 1,
    }
}

wsman_struct! {
    /// `AMT_EthernetPortSettings`. Put it to switch DHCP/static addressing.
    /// Source: fixture `amt/ethernetport/pull.xml`; Intel `AMT_EthernetPortSettings.cpp`.
    class AmtEthernetPortSettings = "AMT_EthernetPortSettings" {
        /// Retransmissions the host TCP stack tries before giving up (5–7).
        "ConsoleTcpMaxRetransmissions" => console_tcp_max_retransmissions: Option<u32>,
        /// DHCP enabled.
        "DHCPEnabled" => dhcp_enabled: Option<bool>,
        /// Default gateway (static addressing).
        "DefaultGateway" => default_gateway: Option<String>,
        /// `Intel(r) AMT Ethernet Port Settings`.
        "ElementName" => element_name: Option<String>,
        /// IPv4 address (static addressing).
        "IPAddress" => ip_address: Option<String>,
        /// `Intel(r) AMT Ethernet Port Settings N` (0 wired, 1 wireless).
        "InstanceID" => instance_id: Option<String>,
        /// Follow the host's static IP.
        "IpSyncEnabled" => ip_sync_enabled: Option<bool>,
        /// Wireless link control owner.
        "LinkControl" => link_control: Option<LinkOwner>,
        /// Link is up.
        "LinkIsUp" => link_is_up: Option<bool>,
        /// Power states with link.
        "LinkPolicy" => link_policy: Vec<LinkPolicy>,
        /// Wireless link preference.
        "LinkPreference" => link_preference: Option<LinkOwner>,
        /// MAC address (`aa-bb-cc-dd-ee-ff`).
        "MACAddress" => mac_address: Option<String>,
        /// Physical connection type.
        "PhysicalConnectionType" => physical_connection_type: Option<PhysicalConnectionType>,
        /// Physical NIC medium.
        "PhysicalNicMedium" => physical_nic_medium: Option<PhysicalNicMedium>,
        /// Primary DNS server.
        "PrimaryDNS" => primary_dns: Option<String>,
        /// Secondary DNS server.
        "SecondaryDNS" => secondary_dns: Option<String>,
        /// ME shares the host's dynamic IP.
        "SharedDynamicIP" => shared_dynamic_ip: Option<bool>,
        /// ME shares the host's MAC.
        "SharedMAC" => shared_mac: Option<bool>,
        /// ME shares the host's static IP.
        "SharedStaticIp" => shared_static_ip: Option<bool>,
        /// Subnet mask (static addressing).
        "SubnetMask" => subnet_mask: Option<String>,
        /// VLAN tag (0 = none).
        "VLANTag" => vlan_tag: Option<u16>,
        /// Wireless link protection.
        "WLANLinkProtectionLevel" => wlan_link_protection_level: Option<WlanLinkProtectionLevel>,
    }
}

wsman_struct! {
    /// `SetLinkPreference_INPUT` (wireless instance).
    input SetLinkPreferenceInput = "AMT_EthernetPortSettings" . "SetLinkPreference" {
        /// The new owner.
        "LinkPreference" => link_preference: Option<LinkOwner>,
        /// Seconds before the preference reverts.
        "Timeout" => timeout: Option<u32>,
    }
}

wsman_struct! {
    /// `SetLinkPreference_OUTPUT`.
    output SetLinkPreferenceOutput = "AMT_EthernetPortSettings" . "SetLinkPreference" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}
