//! `AMT_EthernetPortSettings` (Get/Put, `SetLinkPreference`): the wired interface (instance 0)
//! and, on personas with Wi-Fi, the wireless one (instance 1), as the recorded
//! `amt/ethernetport/pull.xml` shows them.
//!
//! The MAC is the device's configured MAC in AMT's `aa-bb-cc-dd-ee-ff` form (the wireless MAC is
//! the wired one with the locally-administered bit set). With DHCP the wired instance shows the
//! lease the network front reported ([`Firmware::set_dhcp_lease`]) without `IPAddress`, as
//! recorded in `get.xml`; with a static or shared static address it shows `IPAddress` too
//! (`put.xml`). Put on the wired instance switches DHCP/static: static needs a valid IPv4
//! `IPAddress` and `SubnetMask` (else `wsman:InvalidParameter`); it is audited as 2200. The
//! wireless instance only takes `LinkPreference` (Put or `SetLinkPreference`).

use std::net::Ipv4Addr;

use amt_wsman::classes::amt::{
    AmtEthernetPortSettings, LinkOwner, LinkPolicy, PhysicalConnectionType, PtStatus,
    SetLinkPreferenceInput, SetLinkPreferenceOutput, WlanLinkProtectionLevel,
};
use amt_wsman::classes::Typed;
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::{Fault, Instance, ResponseBody, SelectorSet};

use super::logs::{self, audit_events};
use super::reply;
use super::store::IpConfig;
use crate::firmware::{Caller, Env, Firmware};

const WIRED_ID: &str = "Intel(r) AMT Ethernet Port Settings 0";
const WIRELESS_ID: &str = "Intel(r) AMT Ethernet Port Settings 1";

fn mac_bytes(fw: &Firmware) -> [u8; 6] {
    let digits: String = fw
        .state
        .config
        .mac
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    hex::decode(digits)
        .ok()
        .and_then(|b| <[u8; 6]>::try_from(b).ok())
        .unwrap_or([0; 6])
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join("-")
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The `AMT_EthernetPortSettings` instances.
pub(super) fn instances(fw: &Firmware) -> Vec<Instance> {
    let n = &fw.state.manage.network;
    let ip = if n.dhcp_enabled {
        n.lease.clone().unwrap_or_default()
    } else {
        n.static_ip.clone()
    };
    let show_address = !n.dhcp_enabled || n.shared_static_ip;
    let address = if show_address {
        non_empty(&n.static_ip.address).or_else(|| non_empty(&ip.address))
    } else {
        None
    };
    let mut link_policy = vec![LinkPolicy::S0Ac, LinkPolicy::SxAc];
    if fw.persona.platform.chassis_type == 10 {
        link_policy.push(LinkPolicy::S0Dc);
    }
    let wired = AmtEthernetPortSettings {
        dhcp_enabled: Some(n.dhcp_enabled),
        default_gateway: non_empty(&ip.gateway),
        element_name: Some("Intel(r) AMT Ethernet Port Settings".into()),
        ip_address: address,
        instance_id: Some(WIRED_ID.into()),
        ip_sync_enabled: Some(n.ip_sync_enabled),
        link_is_up: Some(true),
        link_policy,
        mac_address: Some(mac_text(mac_bytes(fw))),
        physical_connection_type: Some(PhysicalConnectionType::IntegratedLan),
        primary_dns: non_empty(&ip.primary_dns),
        secondary_dns: non_empty(&ip.secondary_dns),
        shared_dynamic_ip: Some(n.dhcp_enabled),
        shared_mac: Some(true),
        shared_static_ip: Some(n.shared_static_ip),
        subnet_mask: non_empty(&ip.subnet_mask),
        vlan_tag: (n.vlan_tag != 0).then_some(n.vlan_tag),
        ..Default::default()
    };
    let mut out = vec![wired.to_instance()];
    if fw.persona.platform.wifi {
        let mut m = mac_bytes(fw);
        m[0] |= 0x02;
        let link = LinkOwner::try_from(n.wireless_link_preference).unwrap_or(LinkOwner::Host);
        let wireless = AmtEthernetPortSettings {
            console_tcp_max_retransmissions: Some(5),
            dhcp_enabled: Some(true),
            element_name: Some("Intel(r) AMT Ethernet Port Settings".into()),
            instance_id: Some(WIRELESS_ID.into()),
            link_control: Some(link),
            link_is_up: Some(false),
            link_preference: Some(link),
            mac_address: Some(mac_text(m)),
            physical_connection_type: Some(PhysicalConnectionType::WirelessLan),
            shared_mac: Some(true),
            wlan_link_protection_level: Some(WlanLinkProtectionLevel::None),
            ..Default::default()
        };
        out.push(wireless.to_instance());
    }
    out
}

fn invalid(reason: &str) -> ResponseBody {
    ResponseBody::Fault(Fault::new(
        FaultCode::Sender,
        Subcode::InvalidParameter,
        reason,
    ))
}

fn ipv4(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
        .map(|a| a.to_string())
}

/// Put `AMT_EthernetPortSettings`.
pub(super) fn put(
    fw: &mut Firmware,
    s: &AmtEthernetPortSettings,
    selectors: &SelectorSet,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let id = selectors
        .get("InstanceID")
        .or(s.instance_id.as_deref())
        .unwrap_or(WIRED_ID);
    let wireless = id == WIRELESS_ID;
    if wireless {
        if !fw.persona.platform.wifi {
            return ResponseBody::Fault(Fault::invalid_selectors());
        }
        if s.dhcp_enabled == Some(false) {
            return invalid("the wireless interface only supports DHCP");
        }
        if let Some(p) = s.link_preference {
            fw.state.manage.network.wireless_link_preference = p.value();
        }
    } else if id == WIRED_ID {
        let dhcp = s
            .dhcp_enabled
            .unwrap_or(fw.state.manage.network.dhcp_enabled);
        let statics = IpConfig {
            address: ipv4(&s.ip_address).unwrap_or_default(),
            subnet_mask: ipv4(&s.subnet_mask).unwrap_or_default(),
            gateway: ipv4(&s.default_gateway).unwrap_or_default(),
            primary_dns: ipv4(&s.primary_dns).unwrap_or_default(),
            secondary_dns: ipv4(&s.secondary_dns).unwrap_or_default(),
        };
        if !dhcp && (statics.address.is_empty() || statics.subnet_mask.is_empty()) {
            return invalid("a static configuration needs a valid IPAddress and SubnetMask");
        }
        let n = &mut fw.state.manage.network;
        n.dhcp_enabled = dhcp;
        if !statics.address.is_empty() {
            n.static_ip = statics;
        }
        if let Some(v) = s.shared_static_ip {
            n.shared_static_ip = v;
        }
        if let Some(v) = s.ip_sync_enabled {
            n.ip_sync_enabled = v;
        }
        if let Some(v) = s.vlan_tag {
            n.vlan_tag = v;
        }
        logs::audit(
            fw,
            Some(caller),
            env,
            audit_events::TCPIP_PARAMETERS_SET,
            &[],
        );
    } else {
        return ResponseBody::Fault(Fault::invalid_selectors());
    }
    fw.changed();
    let i = usize::from(wireless);
    ResponseBody::Put(instances(fw).into_iter().nth(i))
}

/// `SetLinkPreference` (wireless instance).
pub(super) fn set_link_preference(
    fw: &mut Firmware,
    input: &SetLinkPreferenceInput,
) -> ResponseBody {
    let rv = match (fw.persona.platform.wifi, input.link_preference) {
        (true, Some(p)) => {
            fw.state.manage.network.wireless_link_preference = p.value();
            fw.changed();
            PtStatus::Success
        }
        (false, _) => PtStatus::NotPermitted,
        (true, None) => PtStatus::InvalidParameter,
    };
    reply(SetLinkPreferenceOutput {
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

impl Firmware {
    /// Records the DHCP lease the network front obtained for the shared NIC (`None` when it
    /// was lost); `AMT_EthernetPortSettings` reports it while DHCP is enabled.
    pub fn set_dhcp_lease(&mut self, lease: Option<IpConfig>) {
        if self.state.manage.network.lease != lease {
            self.state.manage.network.lease = lease;
            self.changed();
        }
    }
}
