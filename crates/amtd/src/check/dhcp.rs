//! DHCP checks (SPEC D2, H1): a probe as the ME makes it, from a random locally administered
//! MAC with host name `amtcheck-<6 hex>` and the ME's parameter-request list: a lease is
//! offered; option 15 is there and is the expected domain; options 6, 3 and 1 are there; the
//! ACK arrives; the DHCP server registers the option-81 name in DNS (A and PTR, asked of the
//! lease's DNS server or `--dns-server`, polled until `ddns_timeout`); then the lease is
//! released — always once it was acknowledged, whatever failed after.
//!
//! The probe is `amt_emulator::net::dhcp::probe` (the emulator's ME client on a real interface;
//! needs root). What the answers mean is decided by pure functions ([`judge_offer`],
//! [`judge_ack`]) that the unit tests feed with built messages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use amt_dhcp::client::{ClientConfig, Lease};
use amt_dhcp::message::Message;
use amtd_infra::dns::Resolver;

use super::report::{Check, Team};

/// How long the probe waits for the ACK (DISCOVER is retransmitted after about 4 s).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time between two DDNS lookups.
const DDNS_POLL: Duration = Duration::from_millis(500);

/// Time budget of one DDNS lookup.
const DDNS_QUESTION: Duration = Duration::from_secs(2);

/// What the DHCP checks need.
#[derive(Debug, Clone)]
pub struct DhcpInputs<'a> {
    /// The interface; `None`: skipped.
    pub interface: Option<&'a str>,
    /// The domain option 15 must carry.
    pub expected_domain: Option<&'a str>,
    /// `--dns-server`: DDNS results are asked of it instead of the lease's DNS server.
    pub dns_override: Option<SocketAddr>,
    /// This server's addresses (a missing router matters only when one is off-link).
    pub server_addresses: &'a [IpAddr],
    /// How long DDNS may take.
    pub ddns_timeout: Duration,
}

/// What the probe learnt that the other checks use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpFacts {
    /// Option 15 of the OFFER.
    pub domain: Option<String>,
    /// Option 6 of the ACK (or OFFER).
    pub dns_servers: Vec<Ipv4Addr>,
    /// The leased address.
    pub address: Option<Ipv4Addr>,
}

/// The checks and the facts.
#[derive(Debug, Clone, Default)]
pub struct DhcpOutcome {
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// What the other checks use.
    pub facts: DhcpFacts,
}

/// Every DHCP check id with its title, in report order.
pub const CHECKS: [(&str, &str); 9] = [
    ("dhcp.offer", "a lease is offered"),
    ("dhcp.option15", "option 15 (domain name)"),
    ("dhcp.option6", "option 6 (DNS servers)"),
    ("dhcp.option3", "option 3 (router)"),
    ("dhcp.option1", "option 1 (subnet mask)"),
    ("dhcp.ack", "the lease is acknowledged"),
    ("dhcp.ddns_a", "DDNS: A record of the option-81 name"),
    ("dhcp.ddns_ptr", "DDNS: PTR record of the address"),
    ("dhcp.release", "the lease is released"),
];

fn title(id: &str) -> &'static str {
    CHECKS.iter().find(|(i, _)| *i == id).map_or("", |(_, t)| t)
}

fn skipped_from(first: &str, why: &str) -> Vec<Check> {
    CHECKS
        .iter()
        .skip_while(|(id, _)| *id != first)
        .map(|(id, title)| Check::skipped(Team::Dhcp, id, title, why))
        .collect()
}

/// Runs the probe and the checks.
pub async fn run(inputs: &DhcpInputs<'_>) -> DhcpOutcome {
    let Some(interface) = inputs.interface else {
        return DhcpOutcome {
            checks: skipped_from(
                "dhcp.offer",
                "no --interface given and no [check] interface: DHCP probe not configured",
            ),
            facts: DhcpFacts::default(),
        };
    };
    let mut random = [0u8; 14];
    if let Err(e) = getrandom::fill(&mut random) {
        let mut checks = vec![Check::fail(
            Team::Dhcp,
            "dhcp.offer",
            title("dhcp.offer"),
            format!("no randomness for the probe's MAC address: {e}"),
            "operator: run amtd check on a system with a working random source",
        )];
        checks.extend(skipped_from("dhcp.option15", "the probe could not run"));
        return DhcpOutcome {
            checks,
            facts: DhcpFacts::default(),
        };
    }
    // Locally administered, unicast: bit 1 of the first octet set, bit 0 clear.
    let mac = [
        (random[0] & 0xFC) | 0x02,
        random[1],
        random[2],
        random[3],
        random[4],
        random[5],
    ];
    let host = format!("amtcheck-{:02x}{:02x}{:02x}", mac[3], mac[4], mac[5]);
    let seed = u64::from_le_bytes([
        random[6], random[7], random[8], random[9], random[10], random[11], random[12], random[13],
    ]);
    let config = ClientConfig::me(mac, Some(host.clone()), None);
    let probe = match amt_emulator::net::dhcp::probe(interface, config, seed, PROBE_TIMEOUT).await {
        Ok(p) => p,
        Err(e) => {
            let mut checks = vec![Check::fail(
                Team::Dhcp,
                "dhcp.offer",
                title("dhcp.offer"),
                format!("the DHCP probe could not run on {interface}: {e}"),
                "operator: run amtd check as root, with --interface naming an interface \
                     on the devices' network",
            )];
            checks.extend(skipped_from("dhcp.option15", "the probe could not run"));
            return DhcpOutcome {
                checks,
                facts: DhcpFacts::default(),
            };
        }
    };
    let mac_text = amt_emulator::net::dhcp::mac_text(&mac);
    let probe_words = format!("probe from MAC {mac_text}, host name {host}, on {interface}");
    let mut checks = judge_offer(
        probe.offer.as_ref(),
        probe.lease.as_ref().map(|l| &l.ack),
        inputs,
        &probe_words,
    );
    let facts = DhcpFacts {
        domain: probe.offer.as_ref().and_then(Message::domain_name),
        dns_servers: probe
            .lease
            .as_ref()
            .map(|l| l.dns_servers.clone())
            .filter(|d| !d.is_empty())
            .or_else(|| probe.offer.as_ref().map(Message::dns_servers))
            .unwrap_or_default(),
        address: probe.lease.as_ref().map(|l| l.address),
    };
    if probe.offer.is_none() {
        return DhcpOutcome { checks, facts };
    }
    checks.push(judge_ack(
        probe.lease.as_ref(),
        probe.nak.as_deref(),
        probe.offer.as_ref(),
    ));
    let Some(lease) = probe.lease.clone() else {
        checks.extend(skipped_from("dhcp.ddns_a", "no lease was acknowledged"));
        return DhcpOutcome { checks, facts };
    };
    checks.extend(ddns_checks(&lease, &host, inputs).await);
    probe.release().await;
    checks.push(Check::pass(
        Team::Dhcp,
        "dhcp.release",
        title("dhcp.release"),
        format!("DHCPRELEASE sent for {}", lease.address),
    ));
    DhcpOutcome { checks, facts }
}

/// `10.99.7.0/24` for an address and its mask.
fn subnet_text(address: Ipv4Addr, mask: Option<Ipv4Addr>) -> String {
    match mask {
        Some(m) => {
            let net = Ipv4Addr::from(u32::from(address) & u32::from(m));
            format!("{net}/{}", u32::from(m).leading_ones())
        }
        None => format!("the subnet of {address}"),
    }
}

fn in_subnet(ip: &IpAddr, address: Ipv4Addr, mask: Ipv4Addr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u32::from(v4) & u32::from(mask) == u32::from(address) & u32::from(mask),
        IpAddr::V6(_) => false,
    }
}

fn join(a: &[Ipv4Addr]) -> String {
    a.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The OFFER checks: offered at all, then options 15, 6, 3, 1 (from the OFFER, or the ACK
/// when the OFFER lacks them).
pub fn judge_offer(
    offer: Option<&Message>,
    ack: Option<&Message>,
    inputs: &DhcpInputs<'_>,
    probe_words: &str,
) -> Vec<Check> {
    let Some(offer) = offer else {
        let mut checks = vec![Check::fail(
            Team::Dhcp,
            "dhcp.offer",
            title("dhcp.offer"),
            format!(
                "no DHCP server answered the DISCOVER within {}s ({probe_words})",
                PROBE_TIMEOUT.as_secs()
            ),
            format!(
                "DHCP team: serve the network of {} (a scope for its subnet, or a relay \
                 pointing at the DHCP server)",
                inputs.interface.unwrap_or("the interface")
            ),
        )];
        checks.extend(skipped_from("dhcp.option15", "no OFFER"));
        return checks;
    };
    let address = offer.yiaddr;
    let mask = offer
        .subnet_mask()
        .or_else(|| ack.and_then(Message::subnet_mask));
    let scope = subnet_text(address, mask);
    let server = offer
        .server_id()
        .map_or_else(|| "an unnamed server".to_owned(), |s| s.to_string());
    let mut out = vec![Check::pass(
        Team::Dhcp,
        "dhcp.offer",
        title("dhcp.offer"),
        format!("{address} offered by {server} ({probe_words})"),
    )];

    // Option 15: the devices' domain (ProvisionServer.<domain>, the certificate suffix check).
    let domain = offer.domain_name();
    let expected = inputs
        .expected_domain
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let want = expected.as_deref().unwrap_or("<the devices' DNS domain>");
    out.push(match (&domain, &expected) {
        (None, _) => Check::fail(
            Team::Dhcp,
            "dhcp.option15",
            title("dhcp.option15"),
            format!(
                "option 15 is missing from the OFFER: devices get no domain, so they cannot \
                 look up ProvisionServer.<domain> and accept no provisioning certificate \
                 suffix (expected {want})"
            ),
            format!("DHCP team: add option 15 (domain-name) = {want} to the scope serving {scope}"),
        ),
        (Some(d), Some(e)) if d.trim_end_matches('.').to_ascii_lowercase() != *e => Check::fail(
            Team::Dhcp,
            "dhcp.option15",
            title("dhcp.option15"),
            format!("option 15 = {d}, but devices must be in {e}"),
            format!(
                "DHCP team: set option 15 (domain-name) to {e} (not {d}) in the scope \
                     serving {scope}"
            ),
        ),
        (Some(d), Some(_)) => Check::pass(
            Team::Dhcp,
            "dhcp.option15",
            title("dhcp.option15"),
            format!("{d}, as expected"),
        ),
        (Some(d), None) => Check::pass(
            Team::Dhcp,
            "dhcp.option15",
            title("dhcp.option15"),
            format!("{d} (no expected domain configured to compare with)"),
        ),
    });

    let either = |f: fn(&Message) -> Vec<Ipv4Addr>| {
        let v = f(offer);
        if v.is_empty() {
            ack.map(f).unwrap_or_default()
        } else {
            v
        }
    };
    let dns = either(Message::dns_servers);
    out.push(if dns.is_empty() {
        Check::fail(
            Team::Dhcp,
            "dhcp.option6",
            title("dhcp.option6"),
            "option 6 is missing: devices have no DNS server to find ProvisionServer",
            format!(
                "DHCP team: add option 6 (domain-name-servers) with the DNS servers devices \
                 should use to the scope serving {scope}"
            ),
        )
    } else {
        Check::pass(
            Team::Dhcp,
            "dhcp.option6",
            title("dhcp.option6"),
            join(&dns),
        )
    });

    let routers = either(Message::routers);
    out.push(if !routers.is_empty() {
        Check::pass(
            Team::Dhcp,
            "dhcp.option3",
            title("dhcp.option3"),
            join(&routers),
        )
    } else {
        let fix = format!("DHCP team: add option 3 (routers) to the scope serving {scope}");
        let on_link = mask.is_some_and(|m| {
            !inputs.server_addresses.is_empty()
                && inputs
                    .server_addresses
                    .iter()
                    .all(|s| in_subnet(s, address, m))
        });
        if on_link {
            Check::warn(
                Team::Dhcp,
                "dhcp.option3",
                title("dhcp.option3"),
                format!(
                    "option 3 is missing: devices reach this server on {scope}, but nothing \
                     beyond it"
                ),
                fix,
            )
        } else {
            Check::fail(
                Team::Dhcp,
                "dhcp.option3",
                title("dhcp.option3"),
                "option 3 is missing: devices cannot reach this server outside their subnet",
                fix,
            )
        }
    });

    out.push(match mask {
        Some(m) => Check::pass(
            Team::Dhcp,
            "dhcp.option1",
            title("dhcp.option1"),
            format!("{m} ({scope})"),
        ),
        None => Check::fail(
            Team::Dhcp,
            "dhcp.option1",
            title("dhcp.option1"),
            "option 1 is missing: devices cannot tell which addresses are on-link",
            format!("DHCP team: add option 1 (subnet-mask) to the scope serving {address}"),
        ),
    });
    out
}

/// The ACK check.
pub fn judge_ack(lease: Option<&Lease>, nak: Option<&str>, offer: Option<&Message>) -> Check {
    let id = "dhcp.ack";
    match (lease, nak) {
        (Some(l), _) => Check::pass(
            Team::Dhcp,
            id,
            title(id),
            format!(
                "{} for {} s from {}",
                l.address,
                l.lease_time.as_secs(),
                l.server_id
            ),
        ),
        (None, Some(text)) => Check::fail(
            Team::Dhcp,
            id,
            title(id),
            format!("the server answered the REQUEST with DHCPNAK ({text})"),
            "DHCP team: let the server acknowledge the address it offers (look for the NAK's \
             reason in its log: another server authoritative for the subnet, a full pool, a \
             reservation conflict)",
        ),
        (None, None) => Check::fail(
            Team::Dhcp,
            id,
            title(id),
            format!(
                "{} was offered but the REQUEST was never acknowledged within {}s",
                offer.map_or_else(|| "an address".into(), |o| o.yiaddr.to_string()),
                PROBE_TIMEOUT.as_secs()
            ),
            "DHCP team: make the server answer REQUESTs for the addresses it offers (check \
             its log and any relay between)",
        ),
    }
}

/// The name the DHCP server should register: the name in the ACK's option 81 (the server's
/// decision), else what was sent, qualified with the expected domain when it was partial.
fn ddns_name(lease: &Lease, host: &str, expected: Option<&str>) -> Option<String> {
    let from_ack = lease
        .ack
        .client_fqdn()
        .filter(|f| f.is_fully_qualified())
        .map(|f| f.name);
    let sent = lease.fqdn_sent.clone().filter(|n| n.ends_with('.'));
    from_ack
        .or(sent)
        .or_else(|| expected.map(|d| format!("{host}.{}", d.trim_end_matches('.'))))
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
}

async fn ddns_checks(lease: &Lease, host: &str, inputs: &DhcpInputs<'_>) -> Vec<Check> {
    let a_id = "dhcp.ddns_a";
    let ptr_id = "dhcp.ddns_ptr";
    let Some(name) = ddns_name(lease, host, inputs.expected_domain) else {
        return skipped_from(
            a_id,
            "the option-81 name has no domain (no option 15) and no expected domain is set",
        )
        .into_iter()
        .take(2)
        .collect();
    };
    let server = inputs.dns_override.or_else(|| {
        lease
            .dns_servers
            .first()
            .map(|ip| SocketAddr::new(IpAddr::V4(*ip), 53))
    });
    let Some(server) = server else {
        return vec![
            Check::skipped(Team::Dhcp, a_id, title(a_id), "no DNS server to ask"),
            Check::skipped(Team::Dhcp, ptr_id, title(ptr_id), "no DNS server to ask"),
        ];
    };
    let resolver = Resolver::new(server).with_timeout(DDNS_QUESTION);
    let ip = IpAddr::V4(lease.address);
    let started = Instant::now();
    let deadline = started + inputs.ddns_timeout;
    let mut a_seen: Result<Vec<IpAddr>, String> = Ok(Vec::new());
    let mut ptr_seen: Result<Vec<String>, String> = Ok(Vec::new());
    let mut a_ok_at = None;
    let mut ptr_ok_at = None;
    loop {
        if a_ok_at.is_none() {
            a_seen = resolver
                .addresses(&name, false)
                .await
                .map_err(|e| e.to_string());
            if a_seen.as_ref().is_ok_and(|a| a.contains(&ip)) {
                a_ok_at = Some(started.elapsed());
            }
        }
        if ptr_ok_at.is_none() {
            ptr_seen = resolver.ptr(ip).await.map_err(|e| e.to_string());
            if ptr_seen
                .as_ref()
                .is_ok_and(|p| p.iter().any(|n| n.eq_ignore_ascii_case(&name)))
            {
                ptr_ok_at = Some(started.elapsed());
            }
        }
        let now = Instant::now();
        if (a_ok_at.is_some() && ptr_ok_at.is_some()) || now >= deadline {
            break;
        }
        tokio::time::sleep(DDNS_POLL.min(deadline - now)).await;
    }
    let secs = inputs.ddns_timeout.as_secs_f32();
    let scope = subnet_text(lease.address, lease.subnet_mask);
    let zone = name
        .split_once('.')
        .map_or(name.as_str(), |(_, z)| z)
        .to_owned();
    let no_update = if lease.ack.client_fqdn().is_some_and(|f| f.flags.n) {
        " (the ACK's option 81 says the server will not update DNS)"
    } else {
        ""
    };
    let a = match (a_ok_at, &a_seen) {
        (Some(t), _) => Check::pass(
            Team::Dhcp,
            a_id,
            title(a_id),
            format!(
                "{name} → {ip} after {:.1} s (asked {server})",
                t.as_secs_f32()
            ),
        ),
        (None, Ok(found)) if !found.is_empty() => Check::fail(
            Team::Dhcp,
            a_id,
            title(a_id),
            format!(
                "{name} → {}, not the leased {ip} (asked {server} for {secs:.0} s)",
                found
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "DHCP team: let DDNS replace stale records for the client FQDN (option 81) in \
                 zone {zone}; DNS team: remove the stale A record of {name}"
            ),
        ),
        (None, seen) => Check::fail(
            Team::Dhcp,
            a_id,
            title(a_id),
            format!(
                "no A record for {name} appeared at {server} within {secs:.0} s{}{no_update}",
                seen.as_ref()
                    .err()
                    .map(|e| format!(" (last answer: {e})"))
                    .unwrap_or_default()
            ),
            format!(
                "DHCP team: turn on DDNS for the scope serving {scope}, so the DHCP server \
                 registers the client FQDN (option 81) in zone {zone}; DNS team: accept the DHCP \
                 server's updates to {zone}"
            ),
        ),
    };
    let rev_zone = reverse_zone_words(lease.address, lease.subnet_mask);
    let ptr = match (ptr_ok_at, &ptr_seen) {
        (Some(t), _) => Check::pass(
            Team::Dhcp,
            ptr_id,
            title(ptr_id),
            format!("{ip} → {name} after {:.1} s", t.as_secs_f32()),
        ),
        (None, Ok(names)) if !names.is_empty() => Check::fail(
            Team::Dhcp,
            ptr_id,
            title(ptr_id),
            format!("{ip} → {}, not {name}", names.join(", ")),
            format!(
                "DHCP team: let DDNS replace the PTR record of {ip} in {rev_zone}; DNS team: \
                 remove the stale one"
            ),
        ),
        (None, seen) => Check::fail(
            Team::Dhcp,
            ptr_id,
            title(ptr_id),
            format!(
                "no PTR record for {ip} appeared at {server} within {secs:.0} s{}{no_update}",
                seen.as_ref()
                    .err()
                    .map(|e| format!(" (last answer: {e})"))
                    .unwrap_or_default()
            ),
            format!(
                "DHCP team: turn on reverse DDNS for the scope serving {scope} ({rev_zone}); \
                 DNS team: accept the DHCP server's updates to {rev_zone}"
            ),
        ),
    };
    vec![a, ptr]
}

/// `the reverse zone 7.99.10.in-addr.arpa` for a /24 (or wider, on octet boundaries).
fn reverse_zone_words(address: Ipv4Addr, mask: Option<Ipv4Addr>) -> String {
    let o = address.octets();
    let prefix = mask.map_or(24, |m| u32::from(m).leading_ones());
    let zone = match prefix {
        p if p >= 24 => format!("{}.{}.{}.in-addr.arpa", o[2], o[1], o[0]),
        p if p >= 16 => format!("{}.{}.in-addr.arpa", o[1], o[0]),
        _ => format!("{}.in-addr.arpa", o[0]),
    };
    format!("the reverse zone {zone}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::Status;
    use amt_dhcp::message::{code, DhcpOption, MessageType, Op};

    fn offer(options: &[DhcpOption]) -> Message {
        let mut m = Message::new(Op::BootReply, 7, [2, 0, 0, 0, 0, 1]);
        m.yiaddr = Ipv4Addr::new(10, 99, 7, 120);
        m.options.push(DhcpOption::message_type(MessageType::Offer));
        m.options.push(DhcpOption::address(
            code::SERVER_ID,
            Ipv4Addr::new(10, 99, 7, 1),
        ));
        for o in options {
            m.options.push(o.clone());
        }
        m
    }

    fn inputs<'a>(expected: Option<&'a str>, servers: &'a [IpAddr]) -> DhcpInputs<'a> {
        DhcpInputs {
            interface: Some("veth0"),
            expected_domain: expected,
            dns_override: None,
            server_addresses: servers,
            ddns_timeout: Duration::from_secs(1),
        }
    }

    fn full() -> Vec<DhcpOption> {
        vec![
            DhcpOption::address(code::SUBNET_MASK, Ipv4Addr::new(255, 255, 255, 0)),
            DhcpOption::addresses(code::ROUTER, &[Ipv4Addr::new(10, 99, 7, 1)]),
            DhcpOption::addresses(code::DOMAIN_NAME_SERVER, &[Ipv4Addr::new(10, 99, 7, 1)]),
            DhcpOption::new(code::DOMAIN_NAME, b"amt.test".to_vec()),
        ]
    }

    fn status(checks: &[Check], id: &str) -> Status {
        checks.iter().find(|c| c.id == id).unwrap().status
    }

    #[test]
    fn complete_offer_passes_every_option() {
        let c = judge_offer(
            Some(&offer(&full())),
            None,
            &inputs(Some("AMT.test."), &[]),
            "p",
        );
        for id in [
            "dhcp.offer",
            "dhcp.option15",
            "dhcp.option6",
            "dhcp.option3",
            "dhcp.option1",
        ] {
            assert_eq!(status(&c, id), Status::Pass, "{id}: {c:?}");
        }
    }

    #[test]
    fn missing_option_15_names_the_domain_and_the_scope() {
        let opts: Vec<_> = full()
            .into_iter()
            .filter(|o| o.code != code::DOMAIN_NAME)
            .collect();
        let c = judge_offer(
            Some(&offer(&opts)),
            None,
            &inputs(Some("amt.test"), &[]),
            "p",
        );
        let o15 = c.iter().find(|c| c.id == "dhcp.option15").unwrap();
        assert_eq!(o15.status, Status::Fail);
        assert_eq!(
            o15.fix.as_deref(),
            Some(
                "DHCP team: add option 15 (domain-name) = amt.test to the scope serving \
                 10.99.7.0/24"
            )
        );
    }

    #[test]
    fn wrong_domain_names_both() {
        let mut opts = full();
        opts.retain(|o| o.code != code::DOMAIN_NAME);
        opts.push(DhcpOption::new(code::DOMAIN_NAME, b"corp.example".to_vec()));
        let c = judge_offer(
            Some(&offer(&opts)),
            None,
            &inputs(Some("amt.test"), &[]),
            "p",
        );
        let o15 = c.iter().find(|c| c.id == "dhcp.option15").unwrap();
        assert_eq!(o15.status, Status::Fail);
        assert!(o15.detail.contains("corp.example") && o15.detail.contains("amt.test"));
    }

    #[test]
    fn missing_router_is_only_a_warning_when_this_server_is_on_link() {
        let opts: Vec<_> = full()
            .into_iter()
            .filter(|o| o.code != code::ROUTER)
            .collect();
        let on_link = [IpAddr::V4(Ipv4Addr::new(10, 99, 7, 1))];
        let c = judge_offer(Some(&offer(&opts)), None, &inputs(None, &on_link), "p");
        assert_eq!(status(&c, "dhcp.option3"), Status::Warn);
        let off_link = [IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5))];
        let c = judge_offer(Some(&offer(&opts)), None, &inputs(None, &off_link), "p");
        assert_eq!(status(&c, "dhcp.option3"), Status::Fail);
    }

    #[test]
    fn no_offer_fails_and_skips_the_rest() {
        let c = judge_offer(None, None, &inputs(Some("amt.test"), &[]), "p");
        assert_eq!(status(&c, "dhcp.offer"), Status::Fail);
        assert_eq!(status(&c, "dhcp.option15"), Status::Skipped);
        assert_eq!(c.len(), CHECKS.len());
    }

    #[test]
    fn nak_is_reported_with_its_text() {
        let c = judge_ack(None, Some("address not available"), None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("address not available"));
    }

    #[test]
    fn subnets_and_reverse_zones_in_words() {
        let a = Ipv4Addr::new(10, 99, 7, 120);
        assert_eq!(
            subnet_text(a, Some(Ipv4Addr::new(255, 255, 255, 0))),
            "10.99.7.0/24"
        );
        assert_eq!(
            subnet_text(a, Some(Ipv4Addr::new(255, 255, 0, 0))),
            "10.99.0.0/16"
        );
        assert_eq!(
            reverse_zone_words(a, Some(Ipv4Addr::new(255, 255, 255, 0))),
            "the reverse zone 7.99.10.in-addr.arpa"
        );
    }
}
