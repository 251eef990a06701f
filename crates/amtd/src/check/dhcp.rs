//! DHCP checks (SPEC D2, H1): a probe from a random locally administered MAC with host name
//! `amtcheck-<6 hex>`, as the ME asks: a lease is offered; option 15 is there and is the
//! expected domain; options 6, 3 and 1 are there; the ACK arrives; the DHCP server registers
//! the option-81 name in DNS (A and PTR, polled until `ddns_timeout`); the lease is released.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::report::{Check, Team};

/// What the DHCP checks need.
#[derive(Debug, Clone)]
pub struct DhcpInputs<'a> {
    /// The interface; `None`: skipped.
    pub interface: Option<&'a str>,
    /// The domain option 15 must carry.
    pub expected_domain: Option<&'a str>,
    /// `--dns-server`: DDNS results are asked of it instead of the lease's DNS server.
    pub dns_override: Option<SocketAddr>,
    /// How long DDNS may take.
    pub ddns_timeout: Duration,
}

/// What the probe learnt that the other checks use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpFacts {
    /// Option 15 of the OFFER.
    pub domain: Option<String>,
    /// Option 6 of the OFFER (or ACK).
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

fn all_skipped(why: &str) -> Vec<Check> {
    CHECKS
        .iter()
        .map(|(id, title)| Check::skipped(Team::Dhcp, id, title, why))
        .collect()
}

/// Runs the probe and the checks.
pub async fn run(inputs: &DhcpInputs<'_>) -> DhcpOutcome {
    let Some(_interface) = inputs.interface else {
        return DhcpOutcome {
            checks: all_skipped("no --interface given"),
            facts: DhcpFacts::default(),
        };
    };
    DhcpOutcome {
        checks: all_skipped("the DHCP probe is not built yet"),
        facts: DhcpFacts::default(),
    }
}
