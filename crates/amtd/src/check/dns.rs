//! DNS checks (SPEC D3, N1): a device without a configured server address resolves
//! `ProvisionServer`, then `ProvisionServer.<domain>` (domain from DHCP option 15), and sends
//! its hello to the first answer. The check asks the same DNS server the device would (the
//! lease's option 6, or `--dns-server`, or `[dns] resolver`), follows the same order, and
//! compares the address with this server's; then checks that forward and reverse DNS agree for
//! the server's addresses (a disagreement is only a warning: devices never look it up).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use amtd_infra::dns::{ResolveError, Resolver, ReverseLookup};

use super::report::{Check, Team};

/// Time budget of one DNS question.
pub const QUESTION_TIMEOUT: Duration = Duration::from_secs(2);

/// The DNS server the checks ask and why that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServer {
    /// Its address.
    pub addr: SocketAddr,
    /// Where it came from, in words ("named by the DHCP lease (option 6)").
    pub source: String,
}

/// What the DNS checks compare with.
#[derive(Debug, Clone)]
pub struct DnsInputs<'a> {
    /// The server to ask; `None` when none is known.
    pub server: Option<&'a DnsServer>,
    /// The device's domain for `ProvisionServer.<domain>` (option 15, else the expected one).
    pub domain: Option<&'a str>,
    /// This server's addresses.
    pub server_addresses: &'a [IpAddr],
    /// Where those came from, in words.
    pub addresses_from: &'a str,
}

/// What one name lookup gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Addresses.
    Found(Vec<IpAddr>),
    /// NXDOMAIN or no data.
    NotFound,
    /// A refusal, an error code, or no answer.
    Failed(ResolveError),
}

impl Lookup {
    fn words(&self) -> String {
        match self {
            Lookup::Found(a) => join(a),
            Lookup::NotFound => "no record".into(),
            Lookup::Failed(ResolveError::Rcode { rcode, .. }) => format!("answered {rcode}"),
            Lookup::Failed(ResolveError::Timeout { .. }) => "no answer".into(),
            Lookup::Failed(ResolveError::Io { reason, .. }) => reason.clone(),
            Lookup::Failed(e) => e.to_string(),
        }
    }

    fn unreachable(&self) -> bool {
        matches!(
            self,
            Lookup::Failed(ResolveError::Timeout { .. } | ResolveError::Io { .. })
        )
    }
}

fn join(a: &[IpAddr]) -> String {
    a.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A (and AAAA when `v6`) records of `name`.
pub async fn lookup(resolver: &Resolver, name: &str, v6: bool) -> Lookup {
    let mut found = Vec::new();
    let kinds: &[bool] = if v6 { &[false, true] } else { &[false] };
    let mut first_err = None;
    for &kind in kinds {
        match resolver.addresses(name, kind).await {
            Ok(a) => found.extend(a),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match (found.is_empty(), first_err) {
        (false, _) => Lookup::Found(found),
        (true, Some(e)) => Lookup::Failed(e),
        (true, None) => Lookup::NotFound,
    }
}

/// Runs the DNS checks.
pub async fn checks(inputs: &DnsInputs<'_>) -> Vec<Check> {
    let Some(server) = inputs.server else {
        let why = "no DNS server known";
        return vec![
            Check::fail(
                Team::Dns,
                "dns.server",
                "DNS server to ask",
                "no DNS server known: no DHCP lease named one (option 6), no --dns-server, no \
                 [dns] resolver",
                "operator: give --interface (the lease names the DNS server devices use), \
                 --dns-server, or set [dns] resolver",
            ),
            Check::skipped(
                Team::Dns,
                "dns.provision_server",
                "ProvisionServer resolves",
                why,
            ),
            Check::skipped(
                Team::Dns,
                "dns.server_reverse",
                "reverse DNS of this server",
                why,
            ),
        ];
    };
    let resolver = Resolver::new(server.addr).with_timeout(QUESTION_TIMEOUT);
    let mut out = vec![Check::pass(
        Team::Dns,
        "dns.server",
        "DNS server to ask",
        format!("{} ({})", server.addr, server.source),
    )];
    let (check, unreachable) = provision_server(&resolver, inputs).await;
    out.push(check);
    out.push(if unreachable {
        Check::skipped(
            Team::Dns,
            "dns.server_reverse",
            "forward and reverse DNS agree",
            "the DNS server did not answer",
        )
    } else {
        reverse(&resolver, inputs).await
    });
    out
}

/// Asks for both names as a device would; the check, and whether the DNS server never
/// answered.
async fn provision_server(resolver: &Resolver, inputs: &DnsInputs<'_>) -> (Check, bool) {
    let v6 = inputs.server_addresses.iter().any(IpAddr::is_ipv6);
    let bare = lookup(resolver, "ProvisionServer", v6).await;
    let qualified = match inputs.domain {
        Some(d) => {
            let name = format!("ProvisionServer.{d}");
            let l = lookup(resolver, &name, v6).await;
            Some((name, l))
        }
        None => None,
    };
    let unreachable = bare.unreachable() && qualified.as_ref().is_none_or(|(_, l)| l.unreachable());
    let check = judge_provision_server(inputs, resolver.server(), &bare, qualified.as_ref());
    (check, unreachable)
}

/// What a device makes of the two answers (D3): the first name that resolves wins.
pub fn judge_provision_server(
    inputs: &DnsInputs<'_>,
    server: SocketAddr,
    bare: &Lookup,
    qualified: Option<&(String, Lookup)>,
) -> Check {
    const ID: &str = "dns.provision_server";
    const TITLE: &str = "ProvisionServer resolves to this server";
    let qualified_name = qualified.map(|(n, _)| n.clone());
    let qualified = qualified.map(|(_, l)| l);
    let mut detail = format!("ProvisionServer → {}", bare.words());
    match (&qualified_name, &qualified) {
        (Some(n), Some(l)) => detail.push_str(&format!("; {n} → {}", l.words())),
        _ => detail.push_str("; ProvisionServer.<domain> not asked (no domain known)"),
    }
    let ours = |a: &[IpAddr]| {
        a.iter().any(|x| {
            inputs
                .server_addresses
                .iter()
                .any(|s| s.to_canonical() == x.to_canonical())
        })
    };
    // What a device does (D3): the first name that resolves wins.
    let used = match (&bare, &qualified) {
        (Lookup::Found(a), _) => Some(("ProvisionServer", a)),
        (_, Some(Lookup::Found(a))) => Some((qualified_name.as_deref().unwrap_or_default(), a)),
        _ => None,
    };
    let record_name = qualified_name
        .clone()
        .unwrap_or_else(|| "ProvisionServer.<device domain>".into());
    let target = inputs
        .server_addresses
        .first()
        .map_or_else(|| "this server's address".into(), ToString::to_string);
    let Some((name, addrs)) = used else {
        if bare.unreachable() && qualified.is_none_or(Lookup::unreachable) {
            return Check::fail(
                Team::Dns,
                ID,
                TITLE,
                format!("the DNS server {server} did not answer: {detail}"),
                format!(
                    "DNS team: make {server} answer queries from the devices' network (or give \
                     the right --dns-server)"
                ),
            );
        }
        let zone = inputs.domain.unwrap_or("the devices' domain");
        let mut fix = format!(
            "DNS team: add an A record {record_name} → {target} in zone {zone} (devices ask \
             ProvisionServer, then ProvisionServer.<DHCP domain>)"
        );
        if inputs.domain.is_none() {
            fix.push_str("; operator: give --domain so the full name can be checked");
        }
        return Check::fail(
            Team::Dns,
            ID,
            TITLE,
            format!("devices cannot find this server: {detail}"),
            fix,
        );
    };
    if inputs.server_addresses.is_empty() {
        return Check::warn(
            Team::Dns,
            ID,
            TITLE,
            format!(
                "{detail}; devices use {name} but this server's address is unknown (the hello \
                 listener binds a wildcard)"
            ),
            "operator: list this server's addresses in [check] server_addresses",
        );
    }
    if !ours(addrs) {
        return Check::fail(
            Team::Dns,
            ID,
            TITLE,
            format!(
                "{detail}: devices would send their hello to {}, not to this server ({}, from \
                 {})",
                join(addrs),
                join(inputs.server_addresses),
                inputs.addresses_from
            ),
            format!(
                "DNS team: point {name} at {target} (it points at {})",
                join(addrs)
            ),
        );
    }
    // The name devices use is right; a wrong answer for the other one is worth a warning.
    let other = if name == "ProvisionServer" {
        qualified_name.as_deref().zip(qualified.as_ref())
    } else {
        Some(("ProvisionServer", &bare))
    };
    if let Some((other_name, Lookup::Found(a))) = other {
        if !ours(a) {
            return Check::warn(
                Team::Dns,
                ID,
                TITLE,
                format!(
                    "{detail}: devices use {name} (this server), but {other_name} points \
                     elsewhere"
                ),
                format!("DNS team: point {other_name} at {target} as well (or remove it)"),
            );
        }
    }
    if addrs.len() > 1 && !addrs.iter().all(|a| ours(std::slice::from_ref(a))) {
        return Check::warn(
            Team::Dns,
            ID,
            TITLE,
            format!("{detail}: {name} also names addresses that are not this server"),
            format!("DNS team: leave only {target} in {name}"),
        );
    }
    Check::pass(
        Team::Dns,
        ID,
        TITLE,
        format!("{detail}; devices use {name}"),
    )
}

async fn reverse(resolver: &Resolver, inputs: &DnsInputs<'_>) -> Check {
    const ID: &str = "dns.server_reverse";
    const TITLE: &str = "forward and reverse DNS agree";
    if inputs.server_addresses.is_empty() {
        return Check::skipped(Team::Dns, ID, TITLE, "this server's address is unknown");
    }
    let mut good = Vec::new();
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for &ip in inputs.server_addresses {
        match resolver.reverse_confirmed(ip).await {
            Ok(ReverseLookup::Confirmed { name }) => good.push(format!("{ip} ⇄ {name}")),
            Ok(ReverseLookup::NoPtr) => {
                problems.push(format!("{ip} has no PTR record"));
                fixes.push(format!(
                    "add a PTR record for {ip} naming this server (a name whose A record is {ip})"
                ));
            }
            Ok(ReverseLookup::Unconfirmed { ptr, forward }) => {
                let fwd = if forward.is_empty() {
                    "no address".to_owned()
                } else {
                    join(&forward)
                };
                problems.push(format!("{ip} → PTR {ptr}, but {ptr} → {fwd}"));
                fixes.push(format!(
                    "make {ptr} resolve to {ip}, or the PTR of {ip} name a host that does"
                ));
            }
            Err(e) => {
                problems.push(format!("reverse lookup of {ip} failed: {e}"));
                fixes.push(format!("answer reverse lookups for {ip}"));
            }
        }
    }
    let mut detail = good.join("; ");
    if problems.is_empty() {
        return Check::pass(Team::Dns, ID, TITLE, detail);
    }
    if !detail.is_empty() {
        detail.push_str("; ");
    }
    detail.push_str(&problems.join("; "));
    Check::warn(
        Team::Dns,
        ID,
        TITLE,
        detail,
        format!("DNS team: {}", fixes.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::Status;

    const US: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9));

    fn judge(bare: Lookup, qualified: Option<Lookup>) -> Check {
        let addrs = [US];
        let inputs = DnsInputs {
            server: None,
            domain: Some("amt.test"),
            server_addresses: &addrs,
            addresses_from: "[check] server_addresses",
        };
        let q = qualified.map(|l| ("ProvisionServer.amt.test".to_owned(), l));
        judge_provision_server(&inputs, "10.0.0.1:53".parse().unwrap(), &bare, q.as_ref())
    }

    #[test]
    fn bare_name_missing_and_qualified_name_right_passes() {
        let c = judge(Lookup::NotFound, Some(Lookup::Found(vec![US])));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(c.detail.contains("devices use ProvisionServer.amt.test"));
    }

    #[test]
    fn bare_name_elsewhere_fails_even_when_the_qualified_name_is_right() {
        let c = judge(Lookup::Found(vec![OTHER]), Some(Lookup::Found(vec![US])));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert_eq!(
            c.fix.as_deref(),
            Some("DNS team: point ProvisionServer at 10.0.0.5 (it points at 10.0.0.9)")
        );
    }

    #[test]
    fn unused_name_pointing_elsewhere_is_a_warning() {
        let c = judge(Lookup::Found(vec![US]), Some(Lookup::Found(vec![OTHER])));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.fix.unwrap().contains("ProvisionServer.amt.test"));
    }

    #[test]
    fn neither_name_resolving_names_the_record_to_add() {
        let c = judge(Lookup::NotFound, Some(Lookup::NotFound));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.fix.unwrap().starts_with(
            "DNS team: add an A record ProvisionServer.amt.test → 10.0.0.5 in zone amt.test"
        ));
    }
}
