//! `amtd check` (SPEC C1): plays the device's part against the real infrastructure and reports,
//! per team, what works and what must change.
//!
//! The run follows a device's path: a DHCP probe on `--interface` (lease, options 15/6/3/1,
//! DDNS of the option-81 name, then RELEASE), `ProvisionServer[.<domain>]` through the DNS
//! server the lease names, the provisioning certificates against the domain the lease gave and
//! the devices' trusted roots, the clocks (DNS server over TSIG, NTP servers over SNTP), and AD
//! (not integrated yet, listed so the team is visible). Each step has its own module and every
//! network step is bounded by a timeout; an answer that cannot be used is reported as a problem,
//! never a panic or a hang.
//!
//! [`CheckInputs`] is everything a run needs, built from the configuration and the command line
//! in one place ([`crate::check_cmd`]); [`run`] returns a [`report::Report`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use amt_pki::{CertHash, ProvisioningCert};

use crate::config::{ProvisioningCertificate, TsigKeyConfig};

pub mod dhcp;
pub mod dns;
pub mod pki;
pub mod report;
pub mod time;

use report::{Check, Report, Team};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct CheckInputs {
    /// Interface for the DHCP probe; `None`: the DHCP section is skipped.
    pub interface: Option<String>,
    /// The domain devices must get (option 15) and the provisioning certificates must fit.
    pub expected_domain: Option<String>,
    /// `--dns-server`: asked instead of the lease's DNS server.
    pub dns_override: Option<SocketAddr>,
    /// `[dns] resolver`: asked when neither an override nor a lease names a server.
    pub resolver: Option<SocketAddr>,
    /// This server's addresses (what `ProvisionServer` must resolve to).
    pub server_addresses: Vec<IpAddr>,
    /// Where `server_addresses` came from, in words.
    pub addresses_from: String,
    /// NTP servers to compare clocks with.
    pub time_servers: Vec<SocketAddr>,
    /// Largest clock skew that does not block.
    pub max_clock_skew: Duration,
    /// How long DDNS may take to register the probe's name.
    pub ddns_timeout: Duration,
    /// Root hashes devices trust besides the factory defaults.
    pub extra_root_hashes: Vec<CertHash>,
    /// The configured provisioning certificates.
    pub provisioning_certificates: Vec<ProvisioningCertificate>,
    /// Provisioning certificates already loaded, by name (`amtd lab`'s, from its CA store).
    pub held_certificates: Vec<(String, ProvisioningCert)>,
    /// The TSIG key and the server it is shared with, for the DNS server's clock.
    pub tsig: Option<TsigInputs>,
}

/// The DNS server's clock is read through a TSIG-signed query.
#[derive(Debug, Clone)]
pub struct TsigInputs {
    /// `[dns.tsig]`.
    pub key: TsigKeyConfig,
    /// `[dns.update] server`, when set (else the DNS server the other checks ask).
    pub server: Option<SocketAddr>,
}

/// Runs every check.
pub async fn run(inputs: &CheckInputs) -> Report {
    let mut report = Report::default();
    report.context.push(format!(
        "amtd check: expected domain {}; this server {} ({})",
        inputs.expected_domain.as_deref().unwrap_or("not set"),
        if inputs.server_addresses.is_empty() {
            "unknown".to_owned()
        } else {
            inputs
                .server_addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
        inputs.addresses_from
    ));

    let probe = dhcp::run(&dhcp::DhcpInputs {
        interface: inputs.interface.as_deref(),
        expected_domain: inputs.expected_domain.as_deref(),
        dns_override: inputs.dns_override,
        server_addresses: &inputs.server_addresses,
        ddns_timeout: inputs.ddns_timeout,
    })
    .await;
    report.checks.extend(probe.checks);
    let facts = probe.facts;

    let dns_server = dns_server(inputs, &facts);
    let domain = facts
        .domain
        .clone()
        .or_else(|| inputs.expected_domain.clone());
    report.checks.extend(
        dns::checks(&dns::DnsInputs {
            server: dns_server.as_ref(),
            domain: domain.as_deref(),
            server_addresses: &inputs.server_addresses,
            addresses_from: &inputs.addresses_from,
        })
        .await,
    );

    let mut trusted = amt_emulator::net::device::factory_hashes();
    trusted.extend(inputs.extra_root_hashes.iter().cloned());
    report.checks.extend(pki::checks(&pki::PkiInputs {
        certificates: &inputs.provisioning_certificates,
        held: &inputs.held_certificates,
        dhcp_domain: facts.domain.as_deref(),
        expected_domain: inputs.expected_domain.as_deref(),
        trusted_roots: &trusted,
        extra_roots: inputs.extra_root_hashes.len(),
        now: SystemTime::now(),
    }));

    report
        .checks
        .extend(time_checks(inputs, dns_server.as_ref(), domain.as_deref()).await);

    report.push(Check::skipped(
        Team::Ad,
        "ad.integration",
        "AD service account and OU",
        "AD integration not configured",
    ));
    report
}

/// The DNS server devices ask: `--dns-server`, else the lease's first option-6 server (port
/// 53), else `[dns] resolver`.
fn dns_server(inputs: &CheckInputs, facts: &dhcp::DhcpFacts) -> Option<dns::DnsServer> {
    if let Some(addr) = inputs.dns_override {
        return Some(dns::DnsServer {
            addr,
            source: "--dns-server".into(),
        });
    }
    if let Some(ip) = facts.dns_servers.first() {
        return Some(dns::DnsServer {
            addr: SocketAddr::new(IpAddr::V4(*ip), 53),
            source: "named by the DHCP lease (option 6)".into(),
        });
    }
    inputs.resolver.map(|addr| dns::DnsServer {
        addr,
        source: "[dns] resolver".into(),
    })
}

async fn time_checks(
    inputs: &CheckInputs,
    dns_server: Option<&dns::DnsServer>,
    domain: Option<&str>,
) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(tsig) = &inputs.tsig {
        out.push(time::dns_server_clock(tsig, dns_server, domain, inputs.max_clock_skew).await);
    }
    for &server in &inputs.time_servers {
        let offset = time::sntp_offset(server, time::SNTP_TIMEOUT).await;
        out.push(time::skew_check(
            &format!("time.ntp.{server}"),
            "NTP server clock",
            &format!("NTP server {server}"),
            offset,
            inputs.max_clock_skew,
            "Time team",
            &format!(
                "Time team: make the NTP server {server} answer SNTP, or remove it from [check] \
                 time_servers"
            ),
        ));
    }
    if out.is_empty() {
        out.push(Check::skipped(
            Team::Time,
            "time.clock",
            "clock skew",
            "no time source configured ([dns.tsig] for the DNS server's clock, [check] \
             time_servers for NTP)",
        ));
    }
    out
}
