//! DNS for the provisioning server: the lab's authoritative zone and the resolver client that
//! reverse-DNS FQDN discovery (SPEC P2) asks.
//!
//! - [`Zone`] (sans-IO): one forward domain (`amt.test.`) and its reverse zones
//!   (`127.in-addr.arpa.`), A/AAAA and PTR records added and removed at run time, and
//!   [`Zone::respond`], which turns a query's bytes into a response's bytes. It answers with
//!   authority (SOA/NS at the apexes, NXDOMAIN with the SOA for unknown names in its zones) and
//!   refuses everything else: it is not a recursive resolver.
//! - [`DnsServer`]: UDP and TCP on one address (the lab binds loopback only), serving a shared
//!   [`Zone`] that the caller keeps editing through the [`DnsServerHandle`].
//! - [`Resolver`]: asks one configured DNS server (never the system resolver): PTR of an
//!   address, then A/AAAA of each PTR name to confirm it ([`Resolver::reverse_confirmed`]).
//!   Random IDs, responses matched by ID and question, bounded time, TCP after a truncated UDP
//!   answer.
//!
//! - [`Updater`]: RFC 2136 updates signed with TSIG (RFC 8945) that register a device's A and
//!   PTR records where the DHCP server does not (SPEC N1), and [`tsig_server_time`], the DNS
//!   server's clock from a signed answer (for `amtd check`).
//!
//! Messages are encoded and decoded by `hickory-proto`; every decoded field is checked before
//! use and nothing a peer sends can panic this module.

mod resolver;
mod server;
mod update;
mod zone;

pub use resolver::{ResolveError, Resolver, ReverseLookup, DEFAULT_TIMEOUT};
pub use server::{DnsServer, DnsServerHandle, DnsStats};
pub use update::{tsig_server_time, Registered, TsigKey, UpdateError, Updater, UPDATE_TIMEOUT};
pub use zone::{Reply, Transport, Zone, PROVISION_SERVER};

use hickory_proto::rr::Name;

/// Why a zone edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The text is not a domain name.
    #[error("{name:?} is not a DNS name: {why}")]
    BadName {
        /// The text given.
        name: String,
        /// The parser's reason.
        why: String,
    },
    /// The name is outside every zone this server is authoritative for.
    #[error("{name} is outside the zones {zones}")]
    OutOfZone {
        /// The name.
        name: String,
        /// The zones, comma-separated.
        zones: String,
    },
}

/// `s` as an absolute, lowercase name (a trailing dot is optional).
pub(crate) fn absolute_name(s: &str) -> Result<Name, DnsError> {
    let bad = |why: String| DnsError::BadName {
        name: s.to_owned(),
        why,
    };
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    if trimmed.is_empty() {
        return Err(bad("empty".into()));
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| bad(e.to_string()))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// A name as text without the trailing dot (the way FQDNs are written elsewhere in amtd).
pub(crate) fn name_text(name: &Name) -> String {
    let s = name.to_ascii();
    s.strip_suffix('.').unwrap_or(&s).to_owned()
}
