//! `amtd check [--config amtd.toml] [--interface IF] [--domain D] [--dns-server IP[:PORT]]
//! [--json]`: the readiness report (SPEC C1; see [`crate::check`]).
//!
//! Exit code 0 when nothing blocks provisioning (warnings allowed), 1 when a check failed, 2 for
//! usage and configuration errors. Without `--config` the embedded defaults are used (relative
//! to the current directory), as for an empty file.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use amt_pki::CertHash;
use anyhow::Result;
use clap::Args;

use crate::check::{self, CheckInputs, TsigInputs};
use crate::config::Config;

/// `amtd check` options.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The configuration file (TOML; see examples/amtd.toml). Default: the embedded defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run the DHCP probe on this interface (overrides `[check] interface`; needs root).
    #[arg(long)]
    interface: Option<String>,
    /// The domain devices must get from DHCP (overrides `[check] domain`).
    #[arg(long)]
    domain: Option<String>,
    /// Ask this DNS server instead of the one the DHCP lease names (port 53 unless given).
    #[arg(long, value_name = "IP[:PORT]")]
    dns_server: Option<String>,
    /// Print the report as one JSON document.
    #[arg(long)]
    json: bool,
}

/// Runs the checks, prints the report and exits with its code.
pub fn run(args: CheckArgs) -> Result<()> {
    let inputs = match inputs(&args) {
        Ok(i) => i,
        Err(problems) => {
            for p in problems {
                eprintln!("amtd check: {p}");
            }
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(check::run(&inputs));
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&report.to_json())?;
        t.push('\n');
        t
    } else {
        report.render()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    drop(out);
    let code = report.exit_code();
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// The run's inputs from the configuration and the flags; every problem at once.
fn inputs(args: &CheckArgs) -> Result<CheckInputs, Vec<String>> {
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Config::from_toml_str("", Path::new(".")),
    }
    .map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let dns_override = match &args.dns_server {
        None => None,
        Some(s) => match parse_server(s, 53) {
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    let expected_domain = match &args.domain {
        None => config.check.domain.clone(),
        Some(d) => match domain_name(d) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    let interface = args
        .interface
        .clone()
        .or_else(|| config.check.interface.clone());
    match config_inputs(&config, interface, expected_domain) {
        Ok(inputs) if problems.is_empty() => Ok(CheckInputs {
            dns_override,
            ..inputs
        }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// What `POST /api/v1/check` runs with in `amtd serve`: the configuration's `[check]`, `[dns]`
/// and `[[provisioning_certificate]]` settings, as `amtd check --config` without flags.
pub(crate) fn server_inputs(config: &Config) -> Result<CheckInputs, Vec<String>> {
    config_inputs(
        config,
        config.check.interface.clone(),
        config.check.domain.clone(),
    )
}

/// What `POST /api/v1/check` runs with in `amtd lab`: the lab's own DNS server and domain, the
/// hello listener's address as `ProvisionServer`'s answer, the lab's provisioning certificate
/// and the lab root the emulated devices trust; no DHCP probe (no interface).
pub(crate) fn lab_inputs(
    domain: &str,
    dns_server: SocketAddr,
    hello_ip: IpAddr,
    lab_root: CertHash,
    held_certificates: Vec<(String, amt_pki::ProvisioningCert)>,
) -> CheckInputs {
    let defaults = crate::config::CheckConfig::default();
    CheckInputs {
        interface: None,
        expected_domain: Some(domain.to_owned()),
        dns_override: Some(dns_server),
        resolver: None,
        server_addresses: vec![hello_ip],
        addresses_from: "the lab's hello listener".to_owned(),
        time_servers: Vec::new(),
        max_clock_skew: defaults.max_clock_skew,
        ddns_timeout: defaults.ddns_timeout,
        extra_root_hashes: vec![lab_root],
        provisioning_certificates: Vec::new(),
        held_certificates,
        tsig: None,
    }
}

/// The inputs from a loaded configuration, with the interface and expected domain decided by
/// the caller; every problem at once.
fn config_inputs(
    config: &Config,
    interface: Option<String>,
    expected_domain: Option<String>,
) -> Result<CheckInputs, Vec<String>> {
    let mut problems = Vec::new();
    if let Some(i) = &interface {
        if i.is_empty() || i.len() > 15 || i.contains('/') {
            problems.push(format!("--interface {i:?} is not a network interface name"));
        }
    }
    let mut extra_root_hashes = Vec::new();
    for h in &config.check.device_root_hashes {
        match CertHash::from_hex(h) {
            Ok(h) => extra_root_hashes.push(h),
            Err(e) => problems.push(format!("[check] device_root_hashes: {h:?}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (server_addresses, addresses_from) = if config.check.server_addresses.is_empty() {
        let ip = config.server.hello.bind.ip();
        if ip.is_unspecified() {
            (Vec::new(), "[server] hello_bind is a wildcard".to_owned())
        } else {
            (vec![ip], "[server] hello_bind".to_owned())
        }
    } else {
        (
            config.check.server_addresses.clone(),
            "[check] server_addresses".to_owned(),
        )
    };
    Ok(CheckInputs {
        interface,
        expected_domain,
        dns_override: None,
        resolver: config.dns.resolver,
        server_addresses,
        addresses_from,
        time_servers: config.check.time_servers.clone(),
        max_clock_skew: config.check.max_clock_skew,
        ddns_timeout: config.check.ddns_timeout,
        extra_root_hashes,
        provisioning_certificates: config.provisioning_certificates.clone(),
        held_certificates: Vec::new(),
        tsig: config.dns.tsig.clone().map(|key| TsigInputs {
            key,
            server: config.dns.update.server,
        }),
    })
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`.
fn parse_server(s: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| format!("--dns-server {s:?} is not IP[:PORT]"))
}

/// A DNS domain name: dot-separated labels of letters, digits, `-` and `_`, lower-cased.
fn domain_name(d: &str) -> Result<String, String> {
    let name = d.trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(name)
    } else {
        Err(format!("--domain {d:?} is not a DNS domain name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_server_takes_an_address_with_or_without_port() {
        assert_eq!(
            parse_server("10.0.0.1", 53).unwrap(),
            "10.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_server("10.0.0.1:5353", 53).unwrap(),
            "10.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_server("::1", 53).unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert!(parse_server("dns.example", 53).is_err());
    }

    #[test]
    fn domain_is_checked_and_lowercased() {
        assert_eq!(domain_name("AMT.test.").unwrap(), "amt.test");
        assert!(domain_name("").is_err());
        assert!(domain_name("a..b").is_err());
        assert!(domain_name("a b").is_err());
    }
}
