//! System Defense (M3, D8 "filters that really drop emulated traffic"): `AMT_Hdr8021Filter`,
//! `AMT_IPHeadersFilter`, `AMT_SystemDefensePolicy` and `AMT_NetworkPortSystemDefensePolicy`
//! (Create, Get, Enumerate, Put, Delete), and the sans-IO drop decision
//! [`Firmware::system_defense_drops`].
//!
//! Model (Intel AMT SDK "Create an IP Filter" / "Create a System Defense Policy"; the field
//! semantics of `AMT_FilterEntryBase`, `AMT_SystemDefensePolicy`, `AMT_InterfacePolicy`):
//! - A filter's `InstanceID` is its numeric handle in decimal; a policy lists its filters by
//!   handle in `FilterCreationHandles` (at most 62) and cannot name a filter that does not
//!   exist. A filter a policy uses cannot be deleted; deleting a policy removes its bindings.
//! - A policy applies to a port through an `AMT_NetworkPortSystemDefensePolicy` whose
//!   `Antecedent` is the port (`CIM_EthernetPort`, `DeviceID` `Intel(r) AMT Ethernet Port 0`
//!   wired, `… 1` wireless) and `Dependent` the policy. Of the enabled bindings of a port, the
//!   policy with the highest `PolicyPrecedence` is the active one (`Active` true).
//! - A packet is checked against the active policy's filters in order; the first filter whose
//!   direction (0 transmit, 1 receive, 2 as recorded in `amt/hdr8021filter/get.xml`: both) and
//!   headers match (inverted by `IsNegated`; absent properties match anything) decides: profile
//!   1 (count and drop) and 4 (drop) drop, 0, 3 and 2 (rate limit, not modelled) pass. A packet
//!   no filter matches follows the policy's `RxDefaultDrop` / `TxDefaultDrop`.
//! - System Defense is an admin-control-mode feature (AMT-PROTOCOLS.md §5.1): writes in any other
//!   mode are refused with `wsman:AccessDenied`. Malformed instances are refused with
//!   `wxf:InvalidRepresentation`.

use std::net::IpAddr;

use amt_wsman::classes::amt::{
    hex_to_ip, AmtHdr8021Filter, AmtIpHeadersFilter, AmtNetworkPortSystemDefensePolicy,
    AmtSystemDefensePolicy, AntiSpoofingSupport, FilterDirection, FilterProfile, IpVersion,
};
use amt_wsman::classes::Typed;
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::value::{Selector, SelectorValue};
use amt_wsman::{EndpointReference, Fault, Instance, ResponseBody, SelectorSet};
use base64::Engine as _;

use super::logs::{self, audit_events};
use super::store::{FilterMatch, PortBinding, StoredFilter, StoredPolicy};
use crate::firmware::{Caller, Env, Firmware};

mod packet;
pub use packet::{IpHeaders, PacketDirection, PacketHeaders};

/// Most filters one policy may hold.
pub const MAX_FILTERS_PER_POLICY: usize = 62;
/// `DeviceID` of the wired port.
pub const WIRED_PORT: &str = "Intel(r) AMT Ethernet Port 0";
/// `DeviceID` of the wireless port.
pub const WIRELESS_PORT: &str = "Intel(r) AMT Ethernet Port 1";

fn bad(reason: impl Into<String>) -> ResponseBody {
    ResponseBody::Fault(Fault::new(
        FaultCode::Sender,
        Subcode::InvalidRepresentation,
        reason,
    ))
}

fn not_found() -> ResponseBody {
    ResponseBody::Fault(Fault::invalid_selectors())
}

fn acm_only(fw: &Firmware) -> Option<ResponseBody> {
    (fw.state.control_mode != 2).then(|| ResponseBody::Fault(Fault::access_denied()))
}

fn alloc(fw: &mut Firmware) -> u32 {
    let d = &mut fw.state.manage.defense;
    d.next_handle = d.next_handle.max(1);
    let h = d.next_handle;
    d.next_handle = d.next_handle.wrapping_add(1);
    h
}

fn epr_for(class: &str, handle: u32) -> EndpointReference {
    EndpointReference::to_class(class, SelectorSet::one("InstanceID", &handle.to_string()))
}

fn handle_of(selectors: &SelectorSet) -> Option<u32> {
    selectors.get("InstanceID")?.trim().parse().ok()
}

fn mac_b64(m: &[u8; 6]) -> String {
    base64::engine::general_purpose::STANDARD.encode(m)
}

fn mac_from(s: &Option<String>) -> Result<Option<[u8; 6]>, String> {
    let Some(s) = s else { return Ok(None) };
    let b = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| format!("MAC address {s:?} is not base64"))?;
    <[u8; 6]>::try_from(b)
        .map(Some)
        .map_err(|_| "a MAC address is 6 bytes".to_owned())
}

fn check_name(name: &Option<String>, what: &str) -> Result<String, String> {
    match name {
        Some(n) if !n.is_empty() && n.chars().count() <= 16 => Ok(n.clone()),
        _ => Err(format!("{what} needs a name of 1 to 16 characters")),
    }
}

fn hdr_to_stored(f: &AmtHdr8021Filter, handle: u32) -> Result<StoredFilter, String> {
    let recorded = f.vlan_id.is_some() || f.vlan_priority.is_some();
    Ok(StoredFilter {
        handle,
        name: check_name(&f.name, "a filter")?,
        element_name: f.element_name.clone().unwrap_or_default(),
        direction: f.filter_direction.map_or(1, |d| d.value()),
        profile: f
            .filter_profile
            .map_or(FilterProfile::Drop.value(), |p| p.value()),
        profile_data: f.filter_profile_data,
        event_on_match: f.action_event_on_match.unwrap_or(false),
        negated: f.is_negated.unwrap_or(false),
        enabled: f.filter_enabled,
        recorded_names: recorded,
        matcher: FilterMatch::Ethernet {
            protocol: f.hdr_protocol_id,
            src_mac: mac_from(&f.hdr_src_mac_addr)?,
            dst_mac: mac_from(&f.hdr_dest_mac_addr)?,
            vlan: f.hdr_vlan_id.or(f.vlan_id),
            priority: f.hdr_priority_value.map(u32::from).or(f.vlan_priority),
        },
    })
}

fn ip_to_stored(f: &AmtIpHeadersFilter, handle: u32) -> Result<StoredFilter, String> {
    let version = f.hdr_ip_version.map(|v| v.value());
    let addr = |a: &Option<String>| -> Result<Option<String>, String> {
        let Some(a) = a else { return Ok(None) };
        let ip = hex_to_ip(a).map_err(|e| e.to_string())?;
        match (version, ip) {
            (Some(4), IpAddr::V4(_)) | (Some(6), IpAddr::V6(_)) => Ok(Some(a.to_lowercase())),
            _ => Err("an address does not fit HdrIPVersion".into()),
        }
    };
    let ports = |a: Option<u16>, b: Option<u16>| match (a, b) {
        (Some(a), Some(b)) if a <= b => Ok(Some((a, b))),
        (Some(a), None) => Ok(Some((a, a))),
        (None, None) => Ok(None),
        _ => Err("a port range is inverted or has no start".to_owned()),
    };
    Ok(StoredFilter {
        handle,
        name: check_name(&f.name, "a filter")?,
        element_name: f.element_name.clone().unwrap_or_default(),
        direction: f.filter_direction.map_or(1, |d| d.value()),
        profile: f
            .filter_profile
            .map_or(FilterProfile::Drop.value(), |p| p.value()),
        profile_data: f.filter_profile_data,
        event_on_match: f.action_event_on_match.unwrap_or(false),
        negated: f.is_negated.unwrap_or(false),
        enabled: None,
        recorded_names: false,
        matcher: FilterMatch::Ip {
            version,
            src: addr(&f.hdr_src_address)?,
            src_mask: addr(&f.hdr_src_mask)?,
            src_end: addr(&f.hdr_src_address_end_of_range)?,
            dst: addr(&f.hdr_dest_address)?,
            dst_mask: addr(&f.hdr_dest_mask)?,
            dst_end: addr(&f.hdr_dest_address_end_of_range)?,
            protocol: f.hdr_protocol_id,
            src_ports: ports(f.hdr_src_port_start, f.hdr_src_port_end)?,
            dst_ports: ports(f.hdr_dest_port_start, f.hdr_dest_port_end)?,
        },
    })
}

fn filter_instance(f: &StoredFilter) -> Instance {
    let direction = FilterDirection::try_from(f.direction).ok();
    let profile = FilterProfile::try_from(f.profile).ok();
    match &f.matcher {
        FilterMatch::Ethernet {
            protocol,
            src_mac,
            dst_mac,
            vlan,
            priority,
        } => {
            let (hdr_vlan, hdr_prio, vlan_id, vlan_prio) = if f.recorded_names {
                (None, None, *vlan, *priority)
            } else {
                (
                    *vlan,
                    priority.and_then(|p| u8::try_from(p).ok()),
                    None,
                    None,
                )
            };
            AmtHdr8021Filter {
                action_event_on_match: Some(f.event_on_match),
                creation_class_name: Some("AMT_Hdr8021Filter".into()),
                element_name: Some(f.element_name.clone()),
                filter_direction: direction,
                filter_enabled: f.enabled,
                filter_profile: profile,
                filter_profile_data: f.profile_data,
                hdr_dest_mac_addr: dst_mac.as_ref().map(mac_b64),
                hdr_priority_value: hdr_prio,
                hdr_protocol_id: *protocol,
                hdr_src_mac_addr: src_mac.as_ref().map(mac_b64),
                hdr_vlan_id: hdr_vlan,
                instance_id: Some(f.handle.to_string()),
                is_negated: Some(f.negated),
                name: Some(f.name.clone()),
                system_creation_class_name: Some("CIM_ComputerSystem".into()),
                system_name: Some("Intel(r) AMT".into()),
                vlan_id,
                vlan_priority: vlan_prio,
                ..Default::default()
            }
            .to_instance()
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
        } => AmtIpHeadersFilter {
            action_event_on_match: Some(f.event_on_match),
            creation_class_name: Some("AMT_IPHeadersFilter".into()),
            element_name: Some(f.element_name.clone()),
            filter_direction: direction,
            filter_profile: profile,
            filter_profile_data: f.profile_data,
            hdr_dest_address: dst.clone(),
            hdr_dest_address_end_of_range: dst_end.clone(),
            hdr_dest_mask: dst_mask.clone(),
            hdr_dest_port_end: dst_ports.map(|p| p.1),
            hdr_dest_port_start: dst_ports.map(|p| p.0),
            hdr_ip_version: version.and_then(|v| IpVersion::try_from(v).ok()),
            hdr_protocol_id: *protocol,
            hdr_src_address: src.clone(),
            hdr_src_address_end_of_range: src_end.clone(),
            hdr_src_mask: src_mask.clone(),
            hdr_src_port_end: src_ports.map(|p| p.1),
            hdr_src_port_start: src_ports.map(|p| p.0),
            instance_id: Some(f.handle.to_string()),
            is_negated: Some(f.negated),
            name: Some(f.name.clone()),
            system_creation_class_name: Some("CIM_ComputerSystem".into()),
            system_name: Some("Intel(r) AMT".into()),
            ..Default::default()
        }
        .to_instance(),
    }
}

/// `AMT_Hdr8021Filter` (`ethernet`) or `AMT_IPHeadersFilter` instances.
pub(super) fn filter_instances(fw: &Firmware, ethernet: bool) -> Vec<Instance> {
    fw.state
        .manage
        .defense
        .filters
        .iter()
        .filter(|f| matches!(f.matcher, FilterMatch::Ethernet { .. }) == ethernet)
        .map(filter_instance)
        .collect()
}

fn policy_instance(p: &StoredPolicy) -> Instance {
    AmtSystemDefensePolicy {
        anti_spoofing_support: AntiSpoofingSupport::try_from(p.anti_spoofing).ok(),
        element_name: Some(p.name.clone()),
        filter_creation_handles: p.filters.clone(),
        instance_id: Some(p.handle.to_string()),
        policy_name: Some(p.name.clone()),
        policy_precedence: Some(p.precedence),
        rx_default_count: Some(p.rx_default_count),
        rx_default_drop: Some(p.rx_default_drop),
        rx_default_match_event: Some(p.rx_default_match_event),
        tx_default_count: Some(p.tx_default_count),
        tx_default_drop: Some(p.tx_default_drop),
        tx_default_match_event: Some(p.tx_default_match_event),
        extra: Vec::new(),
    }
    .to_instance()
}

/// `AMT_SystemDefensePolicy` instances.
pub(super) fn policy_instances(fw: &Firmware) -> Vec<Instance> {
    fw.state
        .manage
        .defense
        .policies
        .iter()
        .map(policy_instance)
        .collect()
}

fn port_reference(port: &str) -> EndpointReference {
    EndpointReference::to_class(
        "CIM_EthernetPort",
        SelectorSet::new()
            .with("CreationClassName", "CIM_EthernetPort")
            .with("DeviceID", port)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "Intel(r) AMT"),
    )
}

/// The handle of the policy active on `port`, if any.
fn active_policy(fw: &Firmware, port: &str) -> Option<u32> {
    let d = &fw.state.manage.defense;
    d.bindings
        .iter()
        .filter(|b| b.port == port && b.enabled)
        .filter_map(|b| d.policies.iter().find(|p| p.handle == b.policy))
        .max_by(|a, b| {
            a.precedence
                .cmp(&b.precedence)
                .then(b.handle.cmp(&a.handle))
        })
        .map(|p| p.handle)
}

/// `AMT_NetworkPortSystemDefensePolicy` instances.
pub(super) fn binding_instances(fw: &Firmware) -> Vec<Instance> {
    fw.state
        .manage
        .defense
        .bindings
        .iter()
        .map(|b| {
            AmtNetworkPortSystemDefensePolicy {
                active: Some(active_policy(fw, &b.port) == Some(b.policy)),
                antecedent: Some(port_reference(&b.port)),
                dependent: Some(epr_for("AMT_SystemDefensePolicy", b.policy)),
                enabled: Some(b.enabled),
                extra: Vec::new(),
            }
            .to_instance()
        })
        .collect()
}

fn policy_from(
    fw: &Firmware,
    p: &AmtSystemDefensePolicy,
    handle: u32,
) -> Result<StoredPolicy, String> {
    let name = check_name(
        &p.policy_name.clone().or(p.element_name.clone()),
        "a policy",
    )?;
    if p.filter_creation_handles.len() > MAX_FILTERS_PER_POLICY {
        return Err(format!(
            "a policy holds at most {MAX_FILTERS_PER_POLICY} filters"
        ));
    }
    let filters = &fw.state.manage.defense.filters;
    if let Some(h) = p
        .filter_creation_handles
        .iter()
        .find(|h| !filters.iter().any(|f| f.handle == **h))
    {
        return Err(format!("filter handle {h} does not exist"));
    }
    let f = |v: Option<bool>| v.unwrap_or(false);
    Ok(StoredPolicy {
        handle,
        name,
        precedence: p.policy_precedence.unwrap_or(0),
        anti_spoofing: p.anti_spoofing_support.map_or(0, |a| a.value()),
        filters: p.filter_creation_handles.clone(),
        rx_default_drop: f(p.rx_default_drop),
        rx_default_count: f(p.rx_default_count),
        rx_default_match_event: f(p.rx_default_match_event),
        tx_default_drop: f(p.tx_default_drop),
        tx_default_count: f(p.tx_default_count),
        tx_default_match_event: f(p.tx_default_match_event),
    })
}

fn binding_keys(
    antecedent: Option<&EndpointReference>,
    dependent: Option<&EndpointReference>,
) -> Option<(String, u32)> {
    let port = antecedent
        .and_then(|a| a.selectors.get("DeviceID").map(str::to_owned))
        .unwrap_or_else(|| WIRED_PORT.to_owned());
    let policy = dependent?
        .selectors
        .get("InstanceID")?
        .trim()
        .parse()
        .ok()?;
    Some((port, policy))
}

fn epr_selector<'a>(s: &'a SelectorSet, name: &str) -> Option<&'a EndpointReference> {
    s.0.iter()
        .find(|x| x.name == name)
        .and_then(|x| match &x.value {
            SelectorValue::Epr(e) => Some(&**e),
            SelectorValue::Text(_) => None,
        })
}

/// A System Defense instance a console asks to create or replace.
pub(super) enum Written<'a> {
    /// `AMT_Hdr8021Filter`.
    Hdr8021(&'a AmtHdr8021Filter),
    /// `AMT_IPHeadersFilter`.
    IpHeaders(&'a AmtIpHeadersFilter),
    /// `AMT_SystemDefensePolicy`.
    Policy(&'a AmtSystemDefensePolicy),
    /// `AMT_NetworkPortSystemDefensePolicy`.
    Binding(&'a AmtNetworkPortSystemDefensePolicy),
}

fn stored_filter(w: &Written<'_>, handle: u32) -> Option<Result<StoredFilter, String>> {
    match w {
        Written::Hdr8021(f) => Some(hdr_to_stored(f, handle)),
        Written::IpHeaders(f) => Some(ip_to_stored(f, handle)),
        _ => None,
    }
}

fn bind(
    fw: &mut Firmware,
    b: &AmtNetworkPortSystemDefensePolicy,
    caller: &Caller,
    env: &Env<'_>,
) -> Result<(String, u32), String> {
    let (port, policy) = binding_keys(b.antecedent.as_ref(), b.dependent.as_ref())
        .ok_or("Dependent must reference an AMT_SystemDefensePolicy")?;
    if port != WIRED_PORT && port != WIRELESS_PORT {
        return Err(format!("unknown port {port:?}"));
    }
    let d = &mut fw.state.manage.defense;
    if !d.policies.iter().any(|p| p.handle == policy) {
        return Err(format!("policy {policy} does not exist"));
    }
    let enabled = b.enabled.unwrap_or(true);
    match d
        .bindings
        .iter_mut()
        .find(|x| x.port == port && x.policy == policy)
    {
        Some(x) => x.enabled = enabled,
        None => d.bindings.push(PortBinding {
            port: port.clone(),
            policy,
            enabled,
        }),
    }
    logs::audit(
        fw,
        Some(caller),
        env,
        audit_events::CB_DEFAULT_POLICY_SET,
        &[],
    );
    Ok((port, policy))
}

fn binding_reference(port: &str, policy: u32) -> EndpointReference {
    let mut key = SelectorSet::new();
    key.0.push(Selector {
        name: "Antecedent".into(),
        value: SelectorValue::Epr(Box::new(port_reference(port))),
    });
    key.0.push(Selector {
        name: "Dependent".into(),
        value: SelectorValue::Epr(Box::new(epr_for("AMT_SystemDefensePolicy", policy))),
    });
    EndpointReference::to_class("AMT_NetworkPortSystemDefensePolicy", key)
}

/// Create a filter, a policy or a port binding.
pub(super) fn create(
    fw: &mut Firmware,
    w: Written<'_>,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    if let Some(f) = acm_only(fw) {
        return f;
    }
    let body = match &w {
        Written::Hdr8021(_) | Written::IpHeaders(_) => {
            let h = alloc(fw);
            match stored_filter(&w, h) {
                Some(Ok(f)) => {
                    let class = match f.matcher {
                        FilterMatch::Ethernet { .. } => "AMT_Hdr8021Filter",
                        FilterMatch::Ip { .. } => "AMT_IPHeadersFilter",
                    };
                    fw.state.manage.defense.filters.push(f);
                    logs::audit(fw, Some(caller), env, audit_events::CB_FILTER_ADDED, &[]);
                    ResponseBody::Create(epr_for(class, h))
                }
                Some(Err(e)) => bad(e),
                None => bad("not a filter"),
            }
        }
        Written::Policy(p) => {
            let h = alloc(fw);
            match policy_from(fw, p, h) {
                Ok(s) => {
                    fw.state.manage.defense.policies.push(s);
                    logs::audit(fw, Some(caller), env, audit_events::CB_POLICY_ADDED, &[]);
                    ResponseBody::Create(epr_for("AMT_SystemDefensePolicy", h))
                }
                Err(e) => bad(e),
            }
        }
        Written::Binding(b) => match bind(fw, b, caller, env) {
            Ok((port, policy)) => ResponseBody::Create(binding_reference(&port, policy)),
            Err(e) => bad(e),
        },
    };
    fw.changed();
    body
}

/// Put (replace) a filter, a policy or a port binding named by `selectors`.
pub(super) fn put(
    fw: &mut Firmware,
    w: Written<'_>,
    selectors: &SelectorSet,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    if let Some(f) = acm_only(fw) {
        return f;
    }
    let body = match &w {
        Written::Hdr8021(_) | Written::IpHeaders(_) => {
            let Some(h) = handle_of(selectors) else {
                return not_found();
            };
            let Some(idx) = fw
                .state
                .manage
                .defense
                .filters
                .iter()
                .position(|f| f.handle == h)
            else {
                return not_found();
            };
            match stored_filter(&w, h) {
                Some(Ok(f)) => {
                    let inst = filter_instance(&f);
                    fw.state.manage.defense.filters[idx] = f;
                    ResponseBody::Put(Some(inst))
                }
                Some(Err(e)) => bad(e),
                None => bad("not a filter"),
            }
        }
        Written::Policy(p) => {
            let Some(h) = handle_of(selectors) else {
                return not_found();
            };
            let Some(idx) = fw
                .state
                .manage
                .defense
                .policies
                .iter()
                .position(|x| x.handle == h)
            else {
                return not_found();
            };
            match policy_from(fw, p, h) {
                Ok(s) => {
                    let inst = policy_instance(&s);
                    fw.state.manage.defense.policies[idx] = s;
                    ResponseBody::Put(Some(inst))
                }
                Err(e) => bad(e),
            }
        }
        Written::Binding(b) => {
            let mut b = (*b).clone();
            if b.antecedent.is_none() {
                b.antecedent = epr_selector(selectors, "Antecedent").cloned();
            }
            if b.dependent.is_none() {
                b.dependent = epr_selector(selectors, "Dependent").cloned();
            }
            match bind(fw, &b, caller, env) {
                Ok((port, policy)) => ResponseBody::Put(
                    binding_instances(fw)
                        .into_iter()
                        .zip(fw.state.manage.defense.bindings.iter())
                        .find(|(_, x)| x.port == port && x.policy == policy)
                        .map(|(i, _)| i),
                ),
                Err(e) => bad(e),
            }
        }
    };
    fw.changed();
    body
}

/// Which System Defense class a Delete names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deleted {
    /// A filter (either class).
    Filter,
    /// A policy.
    Policy,
    /// A port binding.
    Binding,
}

/// Delete a filter (unless a policy uses it), a policy (with its bindings) or a binding.
pub(super) fn delete(
    fw: &mut Firmware,
    what: Deleted,
    selectors: &SelectorSet,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    if let Some(f) = acm_only(fw) {
        return f;
    }
    let d = &mut fw.state.manage.defense;
    match what {
        Deleted::Filter => {
            let Some(h) = handle_of(selectors) else {
                return not_found();
            };
            if d.policies.iter().any(|p| p.filters.contains(&h)) {
                return ResponseBody::Fault(Fault::new(
                    FaultCode::Sender,
                    Subcode::InvalidParameter,
                    format!("filter {h} is used by a System Defense policy"),
                ));
            }
            let before = d.filters.len();
            d.filters.retain(|f| f.handle != h);
            if d.filters.len() == before {
                return not_found();
            }
            logs::audit(fw, Some(caller), env, audit_events::CB_FILTER_REMOVED, &[]);
        }
        Deleted::Policy => {
            let Some(h) = handle_of(selectors) else {
                return not_found();
            };
            let before = d.policies.len();
            d.policies.retain(|p| p.handle != h);
            if d.policies.len() == before {
                return not_found();
            }
            d.bindings.retain(|b| b.policy != h);
            logs::audit(fw, Some(caller), env, audit_events::CB_POLICY_REMOVED, &[]);
        }
        Deleted::Binding => {
            let Some((port, policy)) = binding_keys(
                epr_selector(selectors, "Antecedent"),
                epr_selector(selectors, "Dependent"),
            ) else {
                return not_found();
            };
            let before = d.bindings.len();
            d.bindings
                .retain(|b| !(b.port == port && b.policy == policy));
            if d.bindings.len() == before {
                return not_found();
            }
        }
    }
    fw.changed();
    ResponseBody::Delete(None)
}
