//! FQDN discovery as the server wires it (SPEC P2), deciding with amtd-core's
//! [`FqdnDiscovery`]: strategies in the configured order, the first name wins, every other name
//! is a conflict that is recorded (in the hello's outcome and the log).
//!
//! Wired strategies: the operator mapping by UUID (optionally pinned to the device's address,
//! as the lab does), and reverse DNS of the hello's source through the system resolver with
//! forward confirmation. `device-settings` cannot name a device before the connect-back: the
//! provisioning machine reads `AMT_GeneralSettings` when it connects and records a conflict
//! with the chosen name in the device's timeline.

use std::collections::HashMap;
use std::net::IpAddr;

use amtd_core::fqdn::{FqdnDiscovery, Strategy};

/// A device's FQDN as the operator mapping gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedDevice {
    /// The FQDN the device certificate is issued for.
    pub fqdn: String,
    /// When set, hellos for this UUID are only acted on from this address.
    pub address: Option<IpAddr>,
}

/// The FQDN discovery policy: strategy order and the operator mapping.
#[derive(Debug, Clone)]
pub struct FqdnPolicy {
    /// Strategies in order (`DeviceSettings` is checked by the machine at connect-back).
    pub order: Vec<Strategy>,
    /// Lowercase UUID → mapped device.
    pub mapping: HashMap<String, MappedDevice>,
}

/// A discovered name and the conflicts met on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The chosen FQDN.
    pub fqdn: String,
    /// Disagreements and notes, in words (empty when every strategy agreed).
    pub notes: Vec<String>,
}

impl FqdnPolicy {
    /// Only the operator mapping.
    pub fn mapping_only(mapping: HashMap<String, MappedDevice>) -> Self {
        Self {
            order: vec![Strategy::OperatorMapping],
            mapping,
        }
    }

    /// The FQDN for a device whose hello came from `source`, or why there is none.
    pub async fn resolve(&self, uuid: &str, source: IpAddr) -> Result<Resolved, String> {
        let mut d = FqdnDiscovery::new(&self.order);
        for s in &self.order {
            match s {
                Strategy::OperatorMapping => {
                    let m = self.mapping.get(uuid);
                    if let Some(MappedDevice {
                        address: Some(a), ..
                    }) = m
                    {
                        if *a != source {
                            return Err(format!(
                                "hello from {source}, but the mapping expects the device at {a}"
                            ));
                        }
                    }
                    d.record_operator_mapping(m.map(|m| m.fqdn.as_str()));
                }
                Strategy::ReverseDns => {
                    let (ptr, confirmed) = reverse_dns(source).await;
                    d.record_reverse_dns(ptr.as_deref(), confirmed);
                }
                Strategy::DeviceSettings | Strategy::DhcpLease => {}
            }
        }
        let decision = d.decide();
        let Some((_, fqdn)) = &decision.chosen else {
            return Err(decision
                .failure_reason()
                .unwrap_or_else(|| "no strategy found an FQDN".into()));
        };
        let mut notes: Vec<String> = decision
            .conflicts
            .iter()
            .map(|c| format!("FQDN conflict: {c}"))
            .collect();
        notes.extend(decision.notes.iter().cloned());
        Ok(Resolved {
            fqdn: fqdn.as_str().to_owned(),
            notes,
        })
    }
}

/// PTR of `ip` through the system resolver, and whether the name resolves back to `ip`.
async fn reverse_dns(ip: IpAddr) -> (Option<String>, bool) {
    let ptr = tokio::task::spawn_blocking(move || dns_lookup::lookup_addr(&ip))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|n| n.trim_end_matches('.').to_owned())
        .filter(|n| n.parse::<IpAddr>().is_err() && !n.is_empty());
    let Some(name) = ptr else {
        return (None, false);
    };
    let confirmed = match tokio::net::lookup_host((name.as_str(), 0)).await {
        Ok(addrs) => addrs.into_iter().any(|a| a.ip() == ip),
        Err(_) => false,
    };
    (Some(name), confirmed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(address: Option<IpAddr>) -> FqdnPolicy {
        let mut mapping = HashMap::new();
        mapping.insert(
            "8086e000-0000-4000-8000-000000000001".to_owned(),
            MappedDevice {
                fqdn: "amt1.lab.example".into(),
                address,
            },
        );
        FqdnPolicy::mapping_only(mapping)
    }

    #[tokio::test]
    async fn operator_mapping_names_a_mapped_device() {
        let r = policy(None)
            .resolve("8086e000-0000-4000-8000-000000000001", [10, 0, 0, 9].into())
            .await
            .unwrap();
        assert_eq!(r.fqdn, "amt1.lab.example");
        assert!(r.notes.is_empty());
    }

    #[tokio::test]
    async fn unmapped_device_gets_no_fqdn_with_a_reason() {
        let e = policy(None)
            .resolve("8086e000-0000-4000-8000-000000000002", [10, 0, 0, 9].into())
            .await
            .unwrap_err();
        assert!(e.contains("no strategy found an FQDN"), "{e}");
    }

    #[tokio::test]
    async fn pinned_mapping_refuses_a_hello_from_another_address() {
        let e = policy(Some([10, 0, 0, 1].into()))
            .resolve("8086e000-0000-4000-8000-000000000001", [10, 0, 0, 9].into())
            .await
            .unwrap_err();
        assert!(e.contains("expects the device at 10.0.0.1"), "{e}");
    }
}
