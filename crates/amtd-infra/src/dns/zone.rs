//! The authoritative zone (sans-IO): records in, `query bytes → response bytes` out.
//!
//! A [`Zone`] is one forward domain plus the reverse zones (`*.in-addr.arpa.`,
//! `*.ip6.arpa.`) that hold its PTR records. [`Zone::respond`] answers:
//!
//! - A/AAAA for names with addresses, PTR for reverse names with pointers, SOA and NS at each
//!   apex (with the name server's address as glue), ANY with everything at the name;
//! - NOERROR with no answer (and the SOA) for a name that exists without that type, including
//!   empty non-terminals such as `0.77.127.in-addr.arpa.`;
//! - NXDOMAIN (and the SOA) for other names inside its zones;
//! - the bare single label `ProvisionServer` as `ProvisionServer.<domain>`, because a device
//!   asks that first (SPEC D3) and this server plays the device's DHCP-supplied DNS server;
//! - REFUSED for any other name outside its zones, zone transfers and classes other than IN;
//! - NOTIMP for opcodes other than QUERY, FORMERR for a query that does not decode or does not
//!   hold exactly one question, BADVERS for EDNS versions above 0; nothing at all for messages
//!   that are responses or shorter than a header.
//!
//! UDP responses fit the client's EDNS payload size (512 without EDNS, at most 1232); a
//! larger answer is sent truncated (TC) so the client retries over TCP.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, PTR, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::{absolute_name, DnsError};

/// The name a device looks up to find its provisioning server (SPEC D3), bare or under its
/// domain.
pub const PROVISION_SERVER: &str = "ProvisionServer";

/// TTL of every record, and the SOA minimum (negative-caching TTL): short, since the lab's
/// records change while it runs.
const TTL: u32 = 60;

/// Largest UDP response this server sends, whatever the client offers (the DNS flag day 2020
/// figure, which avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Plain DNS UDP payload limit (RFC 1035) for clients without EDNS.
const PLAIN_UDP_PAYLOAD: usize = 512;

/// How a query arrived (decides the response size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: the response must fit the client's payload size or is truncated.
    Udp,
    /// TCP: up to 65535 bytes.
    Tcp,
}

/// A response and what it said, for the server's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The encoded response.
    pub bytes: Vec<u8>,
    /// Its response code.
    pub rcode: ResponseCode,
    /// Number of answer records (before any truncation).
    pub answers: usize,
    /// The question was for `ProvisionServer` (bare or in the domain) and got an address.
    pub provision_server: bool,
    /// The question was a PTR question that got a name.
    pub ptr: bool,
}

/// One forward domain, its reverse zones and their records.
#[derive(Debug, Clone)]
pub struct Zone {
    domain: Name,
    reverse: Vec<Name>,
    ns: Name,
    hostmaster: Name,
    serial: u32,
    addresses: BTreeMap<Name, Vec<IpAddr>>,
    pointers: BTreeMap<Name, Vec<Name>>,
}

impl Zone {
    /// An empty zone for `domain` (e.g. `amt.test`), with `ns.<domain>` as its name server and
    /// no reverse zone yet.
    ///
    /// # Errors
    /// [`DnsError::BadName`] when `domain` is not a domain name (or is the root).
    pub fn new(domain: &str) -> Result<Self, DnsError> {
        let domain = absolute_name(domain)?;
        let under = |label: &str| {
            Name::from_ascii(label)
                .and_then(|l| l.append_domain(&domain))
                .map_err(|e| DnsError::BadName {
                    name: format!("{label}.{domain}"),
                    why: e.to_string(),
                })
        };
        Ok(Zone {
            ns: under("ns")?,
            hostmaster: under("hostmaster")?,
            domain,
            reverse: Vec::new(),
            serial: 1,
            addresses: BTreeMap::new(),
            pointers: BTreeMap::new(),
        })
    }

    /// Also answer for the reverse zone `apex` (e.g. `127.in-addr.arpa`), where PTR records
    /// of [`Zone::add_ptr`] go.
    ///
    /// # Errors
    /// [`DnsError::BadName`] when `apex` is not under `in-addr.arpa.` or `ip6.arpa.`.
    pub fn add_reverse_zone(&mut self, apex: &str) -> Result<(), DnsError> {
        let name = absolute_name(apex)?;
        let arpa = ["in-addr.arpa.", "ip6.arpa."]
            .iter()
            .filter_map(|a| Name::from_ascii(a).ok())
            .any(|a| a.zone_of(&name));
        if !arpa {
            return Err(DnsError::BadName {
                name: apex.to_owned(),
                why: "a reverse zone is under in-addr.arpa or ip6.arpa".into(),
            });
        }
        if !self.reverse.contains(&name) {
            self.reverse.push(name);
            self.bump();
        }
        Ok(())
    }

    /// The forward domain, without the trailing dot.
    pub fn domain(&self) -> String {
        super::name_text(&self.domain)
    }

    /// `ProvisionServer.<domain>`, without the trailing dot.
    pub fn provision_server_name(&self) -> String {
        format!("{PROVISION_SERVER}.{}", self.domain())
    }

    /// The zone's SOA serial (incremented by every change).
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Publishes the name server's address (`ns.<domain>`, glue for NS answers).
    ///
    /// # Errors
    /// Never in practice (the name is in the zone by construction).
    pub fn set_name_server_address(&mut self, ip: IpAddr) -> Result<(), DnsError> {
        let ns = super::name_text(&self.ns);
        self.remove_addresses(&ns)?;
        self.add_address(&ns, ip)
    }

    /// Adds an A (IPv4) or AAAA (IPv6) record for `name` (an FQDN in the domain).
    ///
    /// # Errors
    /// [`DnsError`] when `name` is not a name or not in the forward domain.
    pub fn add_address(&mut self, name: &str, ip: IpAddr) -> Result<(), DnsError> {
        let owner = self.forward_name(name)?;
        let ip = ip.to_canonical();
        let list = self.addresses.entry(owner).or_default();
        if !list.contains(&ip) {
            list.push(ip);
            self.bump();
        }
        Ok(())
    }

    /// Adds a PTR record: `ip`'s reverse name points at `target` (any name, in the zone or not).
    ///
    /// # Errors
    /// [`DnsError`] when `target` is not a name or no reverse zone covers `ip`.
    pub fn add_ptr(&mut self, ip: IpAddr, target: &str) -> Result<(), DnsError> {
        let owner = self.reverse_name(ip)?;
        let target = absolute_name(target)?;
        let list = self.pointers.entry(owner).or_default();
        if !list.contains(&target) {
            list.push(target);
            self.bump();
        }
        Ok(())
    }

    /// A host: A/AAAA for `name` and PTR for `ip` back to it.
    ///
    /// # Errors
    /// As [`Zone::add_address`] and [`Zone::add_ptr`]; on error nothing is added.
    pub fn add_host(&mut self, name: &str, ip: IpAddr) -> Result<(), DnsError> {
        self.forward_name(name)?;
        self.reverse_name(ip)?;
        self.add_address(name, ip)?;
        self.add_ptr(ip, name)
    }

    /// Removes `name`'s addresses and every PTR record pointing at it.
    ///
    /// # Errors
    /// [`DnsError::BadName`] when `name` is not a name.
    pub fn remove_host(&mut self, name: &str) -> Result<(), DnsError> {
        let target = absolute_name(name)?;
        self.remove_addresses(name)?;
        let before = self.pointers.len();
        self.pointers.retain(|_, targets| {
            targets.retain(|t| *t != target);
            !targets.is_empty()
        });
        if self.pointers.len() != before {
            self.bump();
        }
        Ok(())
    }

    /// Removes `name`'s A/AAAA records (its PTR records stay).
    ///
    /// # Errors
    /// [`DnsError::BadName`] when `name` is not a name.
    pub fn remove_addresses(&mut self, name: &str) -> Result<(), DnsError> {
        if self.addresses.remove(&absolute_name(name)?).is_some() {
            self.bump();
        }
        Ok(())
    }

    /// Removes the PTR records of `ip`.
    pub fn remove_ptr(&mut self, ip: IpAddr) {
        let owner = reverse_owner(ip);
        if self.pointers.remove(&owner).is_some() {
            self.bump();
        }
    }

    /// The addresses published for `name`.
    pub fn addresses(&self, name: &str) -> Vec<IpAddr> {
        absolute_name(name)
            .ok()
            .and_then(|n| self.addresses.get(&n).cloned())
            .unwrap_or_default()
    }

    /// Answers one query (see the module documentation). `None` when nothing should be sent
    /// back: fewer bytes than a header, or a message that is itself a response.
    pub fn respond(&self, query: &[u8], transport: Transport) -> Option<Reply> {
        let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
        let flags = *query.get(2)?;
        query.get(11)?;
        if flags & 0x80 != 0 {
            return None;
        }
        let op_code = OpCode::from_u8((flags >> 3) & 0x0F);
        let Ok(request) = Message::from_vec(query) else {
            let mut m = Message::error_msg(id, op_code, ResponseCode::FormErr);
            m.metadata.recursion_desired = flags & 0x01 != 0;
            return finish(m, ResponseCode::FormErr, 0, transport, None);
        };
        let mut response = Message::response(id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.checking_disabled = request.metadata.checking_disabled;
        let client_payload = request.edns.as_ref().map(|e| e.max_payload());
        if let Some(client) = &request.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(MAX_UDP_PAYLOAD);
            response.set_edns(edns);
            if client.version() > 0 {
                return reply(response, ResponseCode::BADVERS, transport, client_payload);
            }
        }
        if request.metadata.op_code != OpCode::Query {
            return reply(response, ResponseCode::NotImp, transport, client_payload);
        }
        if request.metadata.message_type != MessageType::Query || request.queries.len() != 1 {
            return reply(response, ResponseCode::FormErr, transport, client_payload);
        }
        let Some(question) = request.queries.first() else {
            return reply(response, ResponseCode::FormErr, transport, client_payload);
        };
        response.add_query(question.clone());
        self.answer(response, question, transport, client_payload)
    }

    fn answer(
        &self,
        mut response: Message,
        question: &Query,
        transport: Transport,
        client_payload: Option<u16>,
    ) -> Option<Reply> {
        let qtype = question.query_type();
        let asked = question.name().to_lowercase();
        let bare_provision_server = asked.num_labels() == 1
            && asked
                .iter()
                .next()
                .is_some_and(|l| l.eq_ignore_ascii_case(PROVISION_SERVER.as_bytes()));
        let lookup = if bare_provision_server {
            Name::from_ascii(PROVISION_SERVER)
                .and_then(|n| n.append_domain(&self.domain))
                .ok()?
                .to_lowercase()
        } else {
            asked
        };
        let Some(apex) = self.apex_of(&lookup) else {
            return reply(response, ResponseCode::Refused, transport, client_payload);
        };
        if question.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return reply(response, ResponseCode::Refused, transport, client_payload);
        }
        response.metadata.authoritative = true;
        let owner = question.name().clone();
        let mut answers = Vec::new();
        let want = |t: RecordType| qtype == t || qtype == RecordType::ANY;
        if let Some(ips) = self.addresses.get(&lookup) {
            for ip in ips {
                match ip {
                    IpAddr::V4(v4) if want(RecordType::A) => {
                        answers.push(record(&owner, RData::A(A(*v4))));
                    }
                    IpAddr::V6(v6) if want(RecordType::AAAA) => {
                        answers.push(record(&owner, RData::AAAA(AAAA(*v6))));
                    }
                    _ => {}
                }
            }
        }
        if want(RecordType::PTR) {
            for target in self.pointers.get(&lookup).into_iter().flatten() {
                answers.push(record(&owner, RData::PTR(PTR(target.clone()))));
            }
        }
        if lookup == *apex {
            if want(RecordType::SOA) {
                answers.push(self.soa(apex));
            }
            if want(RecordType::NS) {
                answers.push(record(&owner, RData::NS(NS(self.ns.clone()))));
                for ip in self.addresses.get(&self.ns).into_iter().flatten() {
                    let data = match ip {
                        IpAddr::V4(v4) => RData::A(A(*v4)),
                        IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                    };
                    response.add_additional(record(&self.ns, data));
                }
            }
        }
        let count = answers.len();
        let rcode = if count > 0 || self.exists(&lookup, apex) {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        if count == 0 {
            response.add_authority(self.soa(apex));
        }
        let provision_server = count > 0
            && matches!(qtype, RecordType::A | RecordType::AAAA)
            && lookup
                .iter()
                .next()
                .is_some_and(|l| l.eq_ignore_ascii_case(PROVISION_SERVER.as_bytes()));
        let ptr = count > 0 && qtype == RecordType::PTR;
        response.add_answers(answers);
        let mut r = reply(response, rcode, transport, client_payload)?;
        r.answers = count;
        r.provision_server = provision_server;
        r.ptr = ptr;
        Some(r)
    }

    /// The apex of the zone (forward or reverse) that holds `name`, if any.
    fn apex_of(&self, name: &Name) -> Option<&Name> {
        std::iter::once(&self.domain)
            .chain(self.reverse.iter())
            .filter(|apex| apex.zone_of(name))
            .max_by_key(|apex| apex.num_labels())
    }

    /// Whether `name` exists: the apex, an owner of records, or an ancestor of one.
    fn exists(&self, name: &Name, apex: &Name) -> bool {
        name == apex
            || self.addresses.keys().any(|k| name.zone_of(k))
            || self.pointers.keys().any(|k| name.zone_of(k))
    }

    fn soa(&self, apex: &Name) -> Record {
        let soa = SOA::new(
            self.ns.clone(),
            self.hostmaster.clone(),
            self.serial,
            3600,
            600,
            86400,
            TTL,
        );
        record(apex, RData::SOA(soa))
    }

    fn forward_name(&self, name: &str) -> Result<Name, DnsError> {
        let n = absolute_name(name)?;
        if self.domain.zone_of(&n) {
            Ok(n)
        } else {
            Err(self.out_of_zone(&n))
        }
    }

    fn reverse_name(&self, ip: IpAddr) -> Result<Name, DnsError> {
        let n = reverse_owner(ip);
        if self.reverse.iter().any(|apex| apex.zone_of(&n)) {
            Ok(n)
        } else {
            Err(self.out_of_zone(&n))
        }
    }

    fn out_of_zone(&self, n: &Name) -> DnsError {
        DnsError::OutOfZone {
            name: n.to_ascii(),
            zones: std::iter::once(&self.domain)
                .chain(self.reverse.iter())
                .map(Name::to_ascii)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn bump(&mut self) {
        self.serial = self.serial.wrapping_add(1).max(1);
    }
}

/// The reverse (`in-addr.arpa.`/`ip6.arpa.`) name of `ip`.
fn reverse_owner(ip: IpAddr) -> Name {
    let mut n = Name::from(ip.to_canonical());
    n.set_fqdn(true);
    n.to_lowercase()
}

fn record(owner: &Name, data: RData) -> Record {
    Record::from_rdata(owner.clone(), TTL, data)
}

fn reply(
    mut response: Message,
    rcode: ResponseCode,
    transport: Transport,
    client_payload: Option<u16>,
) -> Option<Reply> {
    response.metadata.response_code = rcode;
    finish(response, rcode, 0, transport, client_payload)
}

/// Encodes `response` within the transport's size limit (truncating over UDP).
fn finish(
    response: Message,
    rcode: ResponseCode,
    answers: usize,
    transport: Transport,
    client_payload: Option<u16>,
) -> Option<Reply> {
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => client_payload.map_or(PLAIN_UDP_PAYLOAD, |p| {
            usize::from(p.clamp(PLAIN_UDP_PAYLOAD as u16, MAX_UDP_PAYLOAD))
        }),
    };
    let mut bytes = response.to_vec().ok()?;
    if bytes.len() > limit {
        bytes = response.truncate().to_vec().ok()?;
        if bytes.len() > limit {
            return None;
        }
    }
    Some(Reply {
        bytes,
        rcode,
        answers,
        provision_server: false,
        ptr: false,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    fn lab_zone() -> Zone {
        let mut z = Zone::new("amt.test").unwrap();
        z.add_reverse_zone("127.in-addr.arpa").unwrap();
        z.set_name_server_address([127, 0, 0, 1].into()).unwrap();
        z.add_address("ProvisionServer.amt.test", [127, 0, 0, 9].into())
            .unwrap();
        z.add_host("amt-dev00001.amt.test", [127, 77, 0, 1].into())
            .unwrap();
        z
    }

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    fn ask(z: &Zone, name: &str, qtype: RecordType) -> Message {
        let q = query(name, qtype);
        let r = z.respond(&q, Transport::Udp).unwrap();
        let m = Message::from_vec(&r.bytes).unwrap();
        assert_eq!(m.metadata.id, u16::from_be_bytes([q[0], q[1]]));
        assert_eq!(m.metadata.response_code, r.rcode);
        m
    }

    fn a_records(m: &Message) -> Vec<Ipv4Addr> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn provision_server_a_is_answered_with_authority() {
        let z = lab_zone();
        let m = ask(&z, "ProvisionServer.amt.test.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert!(!m.metadata.recursion_available);
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 0, 0, 9)]);
        // Names are case-insensitive; the question's spelling is kept in the answer.
        let m = ask(&z, "PROVISIONSERVER.Amt.Test.", RecordType::A);
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 0, 0, 9)]);
        assert_eq!(m.answers[0].name.to_ascii(), "PROVISIONSERVER.Amt.Test.");
    }

    #[test]
    fn bare_provision_server_is_answered_as_the_domain_name() {
        let z = lab_zone();
        let q = query("ProvisionServer.", RecordType::A);
        let r = z.respond(&q, Transport::Udp).unwrap();
        assert!(r.provision_server);
        let m = Message::from_vec(&r.bytes).unwrap();
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 0, 0, 9)]);
        assert_eq!(m.answers[0].name.to_ascii(), "ProvisionServer.");
    }

    #[test]
    fn device_a_and_ptr_are_answered() {
        let z = lab_zone();
        let m = ask(&z, "amt-dev00001.amt.test.", RecordType::A);
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(127, 77, 0, 1)]);
        let q = query("1.0.77.127.in-addr.arpa.", RecordType::PTR);
        let r = z.respond(&q, Transport::Udp).unwrap();
        assert!(r.ptr);
        let m = Message::from_vec(&r.bytes).unwrap();
        assert!(m.metadata.authoritative);
        let names: Vec<String> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["amt-dev00001.amt.test."]);
    }

    #[test]
    fn unknown_name_in_the_zone_is_nxdomain_with_the_soa() {
        let z = lab_zone();
        for (name, apex) in [
            ("nope.amt.test.", "amt.test."),
            ("2.0.77.127.in-addr.arpa.", "127.in-addr.arpa."),
        ] {
            let m = ask(&z, name, RecordType::A);
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
            assert!(m.metadata.authoritative);
            assert!(m.answers.is_empty());
            assert_eq!(m.authorities.len(), 1);
            assert_eq!(m.authorities[0].name.to_ascii(), apex);
            assert!(matches!(m.authorities[0].data, RData::SOA(_)));
        }
    }

    #[test]
    fn existing_name_without_the_type_and_empty_non_terminals_are_nodata() {
        let z = lab_zone();
        for (name, t) in [
            ("amt-dev00001.amt.test.", RecordType::AAAA),
            ("amt-dev00001.amt.test.", RecordType::PTR),
            ("0.77.127.in-addr.arpa.", RecordType::PTR),
        ] {
            let m = ask(&z, name, t);
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
            assert!(m.answers.is_empty());
            assert!(matches!(m.authorities[0].data, RData::SOA(_)));
        }
    }

    #[test]
    fn names_outside_the_zones_are_refused() {
        let z = lab_zone();
        for name in [
            "example.com.",
            "amt.test.example.",
            "1.0.0.10.in-addr.arpa.",
            ".",
        ] {
            let m = ask(&z, name, RecordType::A);
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name}");
            assert!(!m.metadata.authoritative);
            assert!(m.answers.is_empty() && m.authorities.is_empty());
        }
        let m = ask(&z, "amt.test.", RecordType::AXFR);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn apex_has_soa_and_ns_with_glue() {
        let z = lab_zone();
        let m = ask(&z, "amt.test.", RecordType::SOA);
        let RData::SOA(soa) = &m.answers[0].data else {
            panic!("{m:?}")
        };
        assert_eq!(soa.mname.to_ascii(), "ns.amt.test.");
        assert_eq!(soa.serial, z.serial());
        let m = ask(&z, "127.in-addr.arpa.", RecordType::NS);
        assert!(matches!(&m.answers[0].data, RData::NS(ns) if ns.0.to_ascii() == "ns.amt.test."));
        assert!(
            matches!(&m.additionals[0].data, RData::A(a) if a.0 == Ipv4Addr::new(127, 0, 0, 1))
        );
    }

    #[test]
    fn removed_host_is_gone_both_ways() {
        let mut z = lab_zone();
        let serial = z.serial();
        z.remove_host("amt-dev00001.amt.test").unwrap();
        assert!(z.serial() > serial);
        let m = ask(&z, "amt-dev00001.amt.test.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        let m = ask(&z, "1.0.77.127.in-addr.arpa.", RecordType::PTR);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn edits_outside_the_zones_are_refused() {
        let mut z = lab_zone();
        assert!(matches!(
            z.add_host("pc.example.com", [127, 0, 0, 5].into()),
            Err(DnsError::OutOfZone { .. })
        ));
        assert!(matches!(
            z.add_host("pc.amt.test", [10, 0, 0, 5].into()),
            Err(DnsError::OutOfZone { .. })
        ));
        assert!(z.addresses("pc.amt.test").is_empty(), "nothing half-added");
        assert!(z.add_reverse_zone("example.com").is_err());
        assert!(Zone::new(".").is_err());
        assert!(z
            .add_address("bad name!.amt.test", [127, 0, 0, 5].into())
            .is_err());
    }

    #[test]
    fn malformed_queries_get_formerr_and_responses_get_nothing() {
        let z = lab_zone();
        let good = query("amt-dev00001.amt.test.", RecordType::A);
        // Truncated in the question: FORMERR with the query's ID.
        let r = z.respond(&good[..good.len() - 3], Transport::Udp).unwrap();
        assert_eq!(r.rcode, ResponseCode::FormErr);
        let m = Message::from_vec(&r.bytes).unwrap();
        assert_eq!(m.metadata.id, u16::from_be_bytes([good[0], good[1]]));
        assert_eq!(m.metadata.message_type, MessageType::Response);
        // Two questions: FORMERR.
        let mut two = Message::query();
        for n in ["a.amt.test.", "b.amt.test."] {
            two.add_query(Query::query(Name::from_ascii(n).unwrap(), RecordType::A));
        }
        let r = z.respond(&two.to_vec().unwrap(), Transport::Udp).unwrap();
        assert_eq!(r.rcode, ResponseCode::FormErr);
        // A response is never answered (no loops); short junk gets nothing.
        let mut resp = good.clone();
        resp[2] |= 0x80;
        assert!(z.respond(&resp, Transport::Udp).is_none());
        assert!(z.respond(&good[..11], Transport::Udp).is_none());
        // Another opcode: NOTIMP.
        let mut notify = good.clone();
        notify[2] = (notify[2] & 0x87) | (4 << 3);
        let r = z.respond(&notify, Transport::Udp).unwrap();
        assert_eq!(r.rcode, ResponseCode::NotImp);
        // A compression loop in the question name.
        let mut looped = good[..12].to_vec();
        looped.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        let r = z.respond(&looped, Transport::Udp).unwrap();
        assert_eq!(r.rcode, ResponseCode::FormErr);
    }

    #[test]
    fn edns_version_above_zero_is_badvers() {
        let z = lab_zone();
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("amt.test.").unwrap(),
            RecordType::SOA,
        ));
        let mut edns = Edns::new();
        edns.set_version(1);
        m.set_edns(edns);
        let r = z.respond(&m.to_vec().unwrap(), Transport::Udp).unwrap();
        assert_eq!(r.rcode, ResponseCode::BADVERS);
        // BADVERS is 16 carried in the OPT record (hickory decodes 16 as its twin, BADSIG).
        let back = Message::from_vec(&r.bytes).unwrap();
        assert_eq!(u16::from(back.metadata.response_code), 16);
        assert!(back.edns.is_some());
    }

    #[test]
    fn large_udp_answers_are_truncated_and_tcp_carries_them() {
        let mut z = lab_zone();
        for i in 1..=60u8 {
            z.add_address("many.amt.test", [127, 1, 0, i].into())
                .unwrap();
        }
        let q = query("many.amt.test.", RecordType::A);
        let udp = z.respond(&q, Transport::Udp).unwrap();
        assert!(udp.bytes.len() <= 512);
        let m = Message::from_vec(&udp.bytes).unwrap();
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        let tcp = z.respond(&q, Transport::Tcp).unwrap();
        let m = Message::from_vec(&tcp.bytes).unwrap();
        assert!(!m.metadata.truncation);
        assert_eq!(a_records(&m).len(), 60);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let z = lab_zone();
            if let Some(r) = z.respond(&bytes, Transport::Udp) {
                prop_assert!(r.bytes.len() <= 512);
            }
            let _ = z.respond(&bytes, Transport::Tcp);
        }

        #[test]
        fn mutated_queries_never_panic(pos in 0usize..40, byte in any::<u8>(), cut in 12usize..45) {
            let z = lab_zone();
            let mut q = query("amt-dev00001.amt.test.", RecordType::A);
            if let Some(b) = q.get_mut(pos) { *b = byte; }
            q.truncate(cut);
            let _ = z.respond(&q, Transport::Udp);
        }
    }
}
