//! Intent against device: [`compare`] lists, in words, how a device's System Defense state
//! differs from a policy that was applied to it.

use std::fmt;

use serde::Serialize;

use super::wire::{DeviceDefense, DevicePolicy};
use super::{DefensePolicy, Filter, Match, Port};

/// One way the device differs from the intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Difference {
    /// No policy of that name is on the device.
    PolicyMissing {
        /// The policy's name.
        policy: String,
    },
    /// Several policies of that name are on the device (the first is compared).
    DuplicatePolicies {
        /// The policy's name.
        policy: String,
        /// How many.
        count: usize,
    },
    /// A policy property differs.
    PolicyChanged {
        /// The property (`precedence`, `rx_default`, `tx_default`, `anti_spoofing`).
        field: &'static str,
        /// The intended value.
        intent: String,
        /// The device's value.
        device: String,
    },
    /// A filter of the intent is not in the device's policy.
    FilterMissing {
        /// The filter's name.
        filter: String,
    },
    /// The device's policy holds a filter the intent does not have.
    FilterExtra {
        /// The filter's name.
        filter: String,
    },
    /// A filter property differs.
    FilterChanged {
        /// The filter's name.
        filter: String,
        /// The property.
        field: &'static str,
        /// The intended value.
        intent: String,
        /// The device's value.
        device: String,
    },
    /// The filters are the same but in another order (the first match decides).
    FilterOrder {
        /// The intended order.
        intent: Vec<String>,
        /// The device's order.
        device: Vec<String>,
    },
    /// The device's policy names a filter that cannot be read.
    FilterUnreadable {
        /// Its handle.
        handle: u32,
        /// Why.
        reason: String,
    },
    /// The device's policy names a filter handle that does not exist.
    DanglingHandle {
        /// The handle.
        handle: u32,
    },
    /// The policy is not enabled on a port it should be.
    NotEnabled {
        /// The port.
        port: Port,
    },
    /// The policy is enabled on a port it should not be.
    ExtraPort {
        /// The port (`DeviceID` for ports amtd does not know).
        port: String,
    },
    /// The policy is enabled on a port, but another one with a higher precedence is active.
    Overridden {
        /// The port.
        port: Port,
        /// The active policy's name, if known.
        by: Option<String>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::PolicyMissing { policy } => {
                write!(f, "policy {policy} is not on the device")
            }
            Difference::DuplicatePolicies { policy, count } => {
                write!(f, "the device holds {count} policies named {policy}")
            }
            Difference::PolicyChanged {
                field,
                intent,
                device,
            } => write!(
                f,
                "policy {field} is {device} on the device, {intent} in the intent"
            ),
            Difference::FilterMissing { filter } => {
                write!(f, "filter {filter} is missing on the device")
            }
            Difference::FilterExtra { filter } => {
                write!(f, "filter {filter} is on the device but not in the intent")
            }
            Difference::FilterChanged {
                filter,
                field,
                intent,
                device,
            } => write!(
                f,
                "filter {filter}: {field} is {device} on the device, {intent} in the intent"
            ),
            Difference::FilterOrder { intent, device } => write!(
                f,
                "filters are in the order {} on the device, {} in the intent",
                device.join(", "),
                intent.join(", ")
            ),
            Difference::FilterUnreadable { handle, reason } => {
                write!(f, "filter handle {handle} cannot be read: {reason}")
            }
            Difference::DanglingHandle { handle } => write!(
                f,
                "the policy names filter handle {handle}, which does not exist"
            ),
            Difference::NotEnabled { port } => {
                write!(f, "the policy is not enabled on the {port} port")
            }
            Difference::ExtraPort { port } => {
                write!(f, "the policy is also enabled on the {port} port")
            }
            Difference::Overridden { port, by } => match by {
                Some(by) => write!(
                    f,
                    "the policy is enabled on the {port} port but {by} (higher precedence) \
                     is active there"
                ),
                None => write!(
                    f,
                    "the policy is enabled on the {port} port but is not the active one there"
                ),
            },
        }
    }
}

fn any<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "any".to_owned(), ToString::to_string)
}

/// A filter's properties as (name, value in words), for comparison and display.
pub(super) fn fields(f: &Filter) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("direction", f.direction.to_string()),
        ("action", f.action.to_string()),
        ("rate", any(&f.rate)),
        ("event_on_match", f.event_on_match.to_string()),
        ("negate", f.negate.to_string()),
    ];
    match &f.matcher {
        Match::Ethernet(e) => out.extend([
            ("level", "ethernet".to_owned()),
            (
                "ether_type",
                e.ether_type
                    .map_or_else(|| "any".to_owned(), |t| format!("{t:#06x}")),
            ),
            ("src_mac", any(&e.src_mac)),
            ("dst_mac", any(&e.dst_mac)),
            ("vlan", any(&e.vlan)),
            ("priority", any(&e.priority)),
        ]),
        Match::Ip(ip) => out.extend([
            ("level", "ip".to_owned()),
            ("ip_version", any(&ip.ip_version)),
            ("src", any(&ip.src)),
            ("dst", any(&ip.dst)),
            ("protocol", any(&ip.protocol)),
            ("src_ports", any(&ip.src_ports)),
            ("dst_ports", any(&ip.dst_ports)),
        ]),
    }
    out
}

fn filter_differences(intent: &Filter, device: &Filter, out: &mut Vec<Difference>) {
    let a = fields(intent);
    let b = fields(device);
    let level = |v: &[(&str, String)]| {
        v.iter()
            .find(|(k, _)| *k == "level")
            .map(|(_, x)| x.clone())
    };
    if level(&a) != level(&b) {
        out.push(Difference::FilterChanged {
            filter: intent.name.clone(),
            field: "level",
            intent: level(&a).unwrap_or_default(),
            device: level(&b).unwrap_or_default(),
        });
        return;
    }
    for ((field, x), (_, y)) in a.into_iter().zip(b) {
        if x != y {
            out.push(Difference::FilterChanged {
                filter: intent.name.clone(),
                field,
                intent: x,
                device: y,
            });
        }
    }
}

fn policy_differences(intent: &DefensePolicy, p: &DevicePolicy, out: &mut Vec<Difference>) {
    for (field, want, have) in [
        (
            "precedence",
            intent.precedence.to_string(),
            p.precedence.to_string(),
        ),
        (
            "rx_default",
            intent.rx_default.to_string(),
            p.rx_default.to_string(),
        ),
        (
            "tx_default",
            intent.tx_default.to_string(),
            p.tx_default.to_string(),
        ),
        (
            "anti_spoofing",
            intent.anti_spoofing.to_string(),
            p.anti_spoofing.to_string(),
        ),
    ] {
        if want != have {
            out.push(Difference::PolicyChanged {
                field,
                intent: want,
                device: have,
            });
        }
    }
}

/// How the device differs from `intent` (empty: it holds exactly that policy, enabled and
/// active on exactly the intended ports).
pub fn compare(intent: &DefensePolicy, device: &DeviceDefense) -> Vec<Difference> {
    let mut out = Vec::new();
    let named: Vec<&DevicePolicy> = device.policies_named(&intent.name).collect();
    let Some(p) = named.first().copied() else {
        out.push(Difference::PolicyMissing {
            policy: intent.name.clone(),
        });
        return out;
    };
    if named.len() > 1 {
        out.push(Difference::DuplicatePolicies {
            policy: intent.name.clone(),
            count: named.len(),
        });
    }
    policy_differences(intent, p, &mut out);

    // Filters, by name.
    let mut on_device: Vec<&Filter> = Vec::new();
    for h in &p.filter_handles {
        match device.filter(*h) {
            None => out.push(Difference::DanglingHandle { handle: *h }),
            Some(f) => match &f.filter {
                Ok(f) => on_device.push(f),
                Err(e) => out.push(Difference::FilterUnreadable {
                    handle: *h,
                    reason: e.to_string(),
                }),
            },
        }
    }
    for want in &intent.filters {
        match on_device.iter().find(|f| f.name == want.name) {
            None => out.push(Difference::FilterMissing {
                filter: want.name.clone(),
            }),
            Some(have) => filter_differences(want, have, &mut out),
        }
    }
    for have in &on_device {
        if intent.filter(&have.name).is_none() {
            out.push(Difference::FilterExtra {
                filter: have.name.clone(),
            });
        }
    }
    let intent_order: Vec<String> = intent
        .filters
        .iter()
        .filter(|f| on_device.iter().any(|d| d.name == f.name))
        .map(|f| f.name.clone())
        .collect();
    let device_order: Vec<String> = on_device
        .iter()
        .filter(|d| intent.filter(&d.name).is_some())
        .map(|d| d.name.clone())
        .collect();
    if intent_order != device_order {
        out.push(Difference::FilterOrder {
            intent: intent_order,
            device: device_order,
        });
    }

    // Ports.
    let bindings: Vec<_> = device.bindings_of(&p.instance_id).collect();
    for port in &intent.ports {
        match bindings.iter().find(|b| b.port == Some(*port) && b.enabled) {
            None => out.push(Difference::NotEnabled { port: *port }),
            Some(b) if !b.active => out.push(Difference::Overridden {
                port: *port,
                by: device.active_on(*port).map(|a| a.name.clone()),
            }),
            Some(_) => {}
        }
    }
    for b in bindings.iter().filter(|b| b.enabled) {
        if !b.port.is_some_and(|port| intent.ports.contains(&port)) {
            out.push(Difference::ExtraPort {
                port: b.port.map_or_else(|| b.port_id.clone(), |p| p.to_string()),
            });
        }
    }
    out
}
