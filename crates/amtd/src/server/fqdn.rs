//! FQDN discovery as the server wires it (SPEC P2), deciding with amtd-core's
//! [`FqdnDiscovery`]: strategies in the configured order, the first name wins, every other name
//! is a conflict that is recorded (in the hello's outcome and the log).
//!
//! Wired strategies: the operator mapping by UUID (optionally pinned to the device's address,
//! as the lab does), and reverse DNS of the hello's source with forward confirmation, asked of
//! the configured DNS server (`[dns] resolver`; the lab's own DNS server in `amtd lab`) through
//! amtd-infra's [`Resolver`] — never the system resolver. Without a configured server the
//! reverse-DNS strategy finds nothing and says so ("no DNS resolver configured"). A PTR name
//! whose forward lookup does not return the source address is recorded as unconfirmed and
//! never chosen. `device-settings` reads the device's `AMT_GeneralSettings` (host and domain)
//! over setup-mode TLS before any run, presenting a provisioning certificate whose root the
//! hello lists — only when no earlier strategy named the device; otherwise the provisioning
//! machine reads the settings at connect-back and records a disagreement in the timeline.

use std::collections::HashMap;
use std::net::IpAddr;

use amtd_core::fqdn::{Finding, FqdnDiscovery, Strategy};
use amtd_infra::dhcp_leases::KeaLeases;
use amtd_infra::dns::{Resolver, ReverseLookup};
use amtd_infra::provision_runner::{read_device_settings, Target};

/// The reverse-DNS finding when no DNS server is configured.
pub const NO_RESOLVER: &str = "no DNS resolver configured ([dns] resolver)";

/// A device's FQDN as the operator mapping gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedDevice {
    /// The FQDN the device certificate is issued for.
    pub fqdn: String,
    /// When set, hellos for this UUID are only acted on from this address.
    pub address: Option<IpAddr>,
}

/// The FQDN discovery policy: strategy order, the operator mapping and the DNS server asked
/// for reverse DNS.
#[derive(Debug, Clone)]
pub struct FqdnPolicy {
    /// Strategies in order (`DeviceSettings` is checked by the machine at connect-back).
    pub order: Vec<Strategy>,
    /// Lowercase UUID → mapped device.
    pub mapping: HashMap<String, MappedDevice>,
    /// The DNS server reverse DNS asks (`None`: the strategy reports [`NO_RESOLVER`]).
    pub resolver: Option<Resolver>,
    /// Where the DHCP server's leases are read (`None`: the `dhcp-lease` strategy reports
    /// [`NO_LEASES`]).
    pub leases: Option<KeaLeases>,
}

/// The DHCP-lease finding when no lease source is configured.
pub const NO_LEASES: &str =
    "no DHCP lease source configured ([dhcp] kea_lease_file or kea_control_socket)";

/// What the `device-settings` strategy needs to read a device before any run: the
/// provisioning certificates and the hello's trusted root hashes.
#[derive(Debug, Clone, Copy)]
pub struct SettingsProbe<'a> {
    /// The configured provisioning certificates.
    pub candidates: &'a [amt_pki::ProvisioningCert],
    /// The root hashes the device's hello listed.
    pub trusted: &'a [amt_pki::CertHash],
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
    /// The FQDN for a device whose hello came from `source`, or why there is none (without
    /// reading the device's settings).
    #[cfg(test)]
    pub async fn resolve(&self, uuid: &str, source: IpAddr) -> Result<Resolved, String> {
        self.resolve_with(uuid, source, None).await
    }

    /// As [`FqdnPolicy::resolve`]; `probe` lets the `device-settings` strategy read the
    /// device's `AMT_GeneralSettings` before any run. It is only read when no strategy before
    /// it named the device (otherwise the run reads it at connect-back and records a
    /// disagreement there), so a device is not contacted twice for nothing.
    pub async fn resolve_with(
        &self,
        uuid: &str,
        source: IpAddr,
        probe: Option<SettingsProbe<'_>>,
    ) -> Result<Resolved, String> {
        let source = source.to_canonical();
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
                Strategy::ReverseDns => match self.reverse_dns(source).await {
                    Ok(ReverseLookup::NoPtr) => d.record_reverse_dns(None, false),
                    Ok(ReverseLookup::Confirmed { name }) => {
                        d.record_reverse_dns(Some(&name), true);
                    }
                    Ok(ReverseLookup::Unconfirmed { ptr, .. }) => {
                        d.record_reverse_dns(Some(&ptr), false);
                    }
                    Err(why) => d.record(Strategy::ReverseDns, Finding::Failed(why)),
                },
                Strategy::DeviceSettings => {
                    if d.decide().chosen.is_some() {
                        continue;
                    }
                    let Some(p) = &probe else {
                        continue;
                    };
                    let target = Target::new(source.to_string());
                    match read_device_settings(p.candidates, p.trusted, &target).await {
                        Ok((host, domain)) => d.record_device_settings(&host, &domain),
                        Err(why) => d.record(Strategy::DeviceSettings, Finding::Failed(why)),
                    }
                }
                Strategy::DhcpLease => {
                    let finding = self.dhcp_lease(source).await;
                    d.record(Strategy::DhcpLease, finding);
                }
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

    /// The name the DHCP server leased `ip` to (its client FQDN, option 81).
    async fn dhcp_lease(&self, ip: IpAddr) -> Finding {
        let Some(leases) = &self.leases else {
            return Finding::Failed(NO_LEASES.into());
        };
        let IpAddr::V4(v4) = ip else {
            return Finding::Nothing;
        };
        match leases.lookup(v4).await {
            Ok(None) => Finding::Nothing,
            Ok(Some(lease)) => match lease.fqdn() {
                Some(fqdn) => match amtd_core::domain::Fqdn::new(fqdn) {
                    Ok(f) => Finding::Name(f),
                    Err(e) => Finding::Failed(format!("the lease of {ip} names {fqdn:?}: {e}")),
                },
                None => Finding::Failed(format!(
                    "the DHCP lease of {ip} ({}) has no fully qualified name{}",
                    lease.hw_address,
                    lease
                        .hostname
                        .as_deref()
                        .map(|h| format!(
                            " (only host name {h:?}: the DHCP server has no domain to qualify it)"
                        ))
                        .unwrap_or_default()
                )),
            },
            Err(e) => Finding::Failed(e.to_string()),
        }
    }

    /// PTR of `ip` and its forward confirmation, from the configured DNS server.
    async fn reverse_dns(&self, ip: IpAddr) -> Result<ReverseLookup, String> {
        let Some(resolver) = &self.resolver else {
            return Err(NO_RESOLVER.into());
        };
        resolver.reverse_confirmed(ip).await.map_err(|e| {
            tracing::debug!(peer = %ip, error = %e, "reverse DNS");
            e.to_string()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use amtd_infra::dns::{DnsServer, DnsServerHandle, Zone};

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
        FqdnPolicy {
            order: vec![Strategy::OperatorMapping],
            mapping,
            resolver: None,
            leases: None,
        }
    }

    const UUID: &str = "8086e000-0000-4000-8000-000000000001";

    /// Our DNS server on loopback with the lab's zones and `records`.
    async fn dns(records: impl FnOnce(&mut Zone)) -> DnsServerHandle {
        let mut z = Zone::new("amt.test").unwrap();
        z.add_reverse_zone("127.in-addr.arpa").unwrap();
        records(&mut z);
        DnsServer::start("127.0.0.1:0".parse().unwrap(), z)
            .await
            .unwrap()
    }

    fn dns_policy(
        order: &[Strategy],
        mapped: Option<&str>,
        dns: Option<&DnsServerHandle>,
    ) -> FqdnPolicy {
        let mut mapping = HashMap::new();
        if let Some(m) = mapped {
            mapping.insert(
                UUID.to_owned(),
                MappedDevice {
                    fqdn: m.into(),
                    address: None,
                },
            );
        }
        FqdnPolicy {
            order: order.to_vec(),
            mapping,
            resolver: dns.map(|d| Resolver::new(d.local_addr())),
            leases: None,
        }
    }

    const BOTH: [Strategy; 2] = [Strategy::ReverseDns, Strategy::OperatorMapping];

    #[tokio::test]
    async fn reverse_dns_names_a_device_whose_ptr_is_confirmed() {
        let dns = dns(|z| z.add_host("pc1.amt.test", [127, 88, 0, 1].into()).unwrap()).await;
        let r = dns_policy(&BOTH, None, Some(&dns))
            .resolve(UUID, [127, 88, 0, 1].into())
            .await
            .unwrap();
        assert_eq!(r.fqdn, "pc1.amt.test");
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert!(dns.stats().ptr >= 1);
    }

    #[tokio::test]
    async fn unconfirmed_ptr_is_recorded_and_never_chosen() {
        // The PTR says pc2, but pc2's A record is another address.
        let dns = dns(|z| {
            z.add_ptr([127, 88, 0, 2].into(), "pc2.amt.test").unwrap();
            z.add_address("pc2.amt.test", [127, 88, 0, 99].into())
                .unwrap();
        })
        .await;
        let e = dns_policy(&[Strategy::ReverseDns], None, Some(&dns))
            .resolve(UUID, [127, 88, 0, 2].into())
            .await
            .unwrap_err();
        assert!(
            e.contains("reverse DNS: pc2.amt.test is not confirmed by its forward lookup"),
            "{e}"
        );
        let r = dns_policy(&BOTH, Some("mapped.amt.test"), Some(&dns))
            .resolve(UUID, [127, 88, 0, 2].into())
            .await
            .unwrap();
        assert_eq!(r.fqdn, "mapped.amt.test");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("pc2.amt.test is not confirmed")),
            "{:?}",
            r.notes
        );
    }

    #[tokio::test]
    async fn conflict_between_reverse_dns_and_the_mapping_is_recorded() {
        let dns = dns(|z| z.add_host("pc3.amt.test", [127, 88, 0, 3].into()).unwrap()).await;
        let r = dns_policy(&BOTH, Some("other.amt.test"), Some(&dns))
            .resolve(UUID, [127, 88, 0, 3].into())
            .await
            .unwrap();
        assert_eq!(r.fqdn, "pc3.amt.test");
        assert_eq!(
            r.notes,
            [
                "FQDN conflict: reverse DNS says pc3.amt.test but operator mapping says \
              other.amt.test"
            ]
        );
        // In the other order the mapping wins and the conflict is the same fact, reversed.
        let mapping_first = [Strategy::OperatorMapping, Strategy::ReverseDns];
        let r = dns_policy(&mapping_first, Some("other.amt.test"), Some(&dns))
            .resolve(UUID, [127, 88, 0, 3].into())
            .await
            .unwrap();
        assert_eq!(r.fqdn, "other.amt.test");
        assert_eq!(r.notes.len(), 1);
    }

    #[tokio::test]
    async fn address_without_ptr_finds_nothing_by_reverse_dns() {
        let dns = dns(|_| {}).await;
        let e = dns_policy(&[Strategy::ReverseDns], None, Some(&dns))
            .resolve(UUID, [127, 88, 0, 4].into())
            .await
            .unwrap_err();
        assert_eq!(e, "no strategy found an FQDN");
    }

    #[tokio::test]
    async fn without_a_resolver_reverse_dns_says_so_and_asks_no_one() {
        let e = dns_policy(&[Strategy::ReverseDns], None, None)
            .resolve(UUID, [127, 88, 0, 5].into())
            .await
            .unwrap_err();
        assert!(e.contains(NO_RESOLVER), "{e}");
        let r = dns_policy(&BOTH, Some("mapped.amt.test"), None)
            .resolve(UUID, [127, 88, 0, 5].into())
            .await
            .unwrap();
        assert_eq!(r.fqdn, "mapped.amt.test");
        assert_eq!(r.notes, [format!("reverse DNS: {NO_RESOLVER}")]);
    }

    #[tokio::test]
    async fn unreachable_resolver_is_a_failure_in_words() {
        // A port nobody listens on: the kernel refuses the datagram, or the query times out.
        let free = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut p = dns_policy(&[Strategy::ReverseDns], None, None);
        p.resolver = Some(Resolver::new(free).with_timeout(Duration::from_millis(300)));
        let e = p.resolve(UUID, [127, 88, 0, 6].into()).await.unwrap_err();
        assert!(e.contains(&format!("DNS server {free}")), "{e}");
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
