//! RFC 2136 dynamic updates signed with TSIG (RFC 8945), and the DNS server's clock read from a
//! TSIG-signed answer.
//!
//! - [`Updater::register`] makes a device's A and PTR records what amtd says they are, for
//!   networks whose DHCP server does not register names (SPEC N1, optional): for each of the
//!   forward and the reverse name it finds the enclosing zone (the SOA owner the server names
//!   in its answer to an SOA question), then sends one signed UPDATE to that zone which deletes
//!   the name's RRset of that type and adds the new record. [`Updater::unregister`] deletes both.
//! - [`tsig_server_time`] sends a TSIG-signed SOA question and returns the "time signed" of the
//!   server's signed answer (or the server's time from the "other data" of a BADTIME answer),
//!   which `amtd check` compares with the local clock (Kerberos allows 5 minutes).
//!
//! Every response must carry a valid TSIG made with the same key over the request's MAC
//! (RFC 8945 §5.3); an unsigned or badly signed answer is an error, never trusted. The key is
//! kept in a zeroizing buffer and never printed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::{absolute_name, name_text};

/// Time budget of one exchange.
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(3);

/// Fudge (seconds) of signed updates: what RFC 8945 recommends.
const UPDATE_FUDGE: u16 = 300;

/// Fudge of the clock question: the widest there is, so that a skewed server still answers
/// with its own time instead of refusing (the skew is what is being measured).
const TIME_FUDGE: u16 = u16::MAX;

/// Largest response read.
const MAX_RESPONSE: usize = 65_535;

/// Why an update or a signed question failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The key cannot be used (bad name, unsupported algorithm, secret not base64).
    #[error("TSIG key {name:?}: {why}")]
    BadKey {
        /// The key's name.
        name: String,
        /// What is wrong (never the secret).
        why: String,
    },
    /// A name or address that cannot go into an update.
    #[error("{0}")]
    BadName(String),
    /// A socket error.
    #[error("DNS server {server}: {reason}")]
    Io {
        /// The server.
        server: SocketAddr,
        /// The OS error in words.
        reason: String,
    },
    /// No answer in time.
    #[error("DNS server {server} did not answer within {timeout:?}")]
    Timeout {
        /// The server.
        server: SocketAddr,
        /// The budget.
        timeout: Duration,
    },
    /// The answer is not signed with our key, or its MAC is wrong.
    #[error("DNS server {server} sent an answer without a valid TSIG signature: {reason}")]
    BadSignature {
        /// The server.
        server: SocketAddr,
        /// What was wrong.
        reason: String,
    },
    /// The server refused the update (or the question) with a response code.
    #[error("DNS server {server} answered the update of {zone} with {rcode}")]
    Refused {
        /// The server.
        server: SocketAddr,
        /// The zone.
        zone: String,
        /// Its response code (`REFUSED`, `NOTAUTH`, ...), with the TSIG error if any.
        rcode: String,
    },
    /// No zone encloses the name on this server.
    #[error("DNS server {server} is not authoritative for any zone enclosing {name}")]
    NoZone {
        /// The server.
        server: SocketAddr,
        /// The name.
        name: String,
    },
}

/// A TSIG key: name, algorithm and secret.
#[derive(Clone)]
pub struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithm,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &name_text(&self.name))
            .field("algorithm", &self.algorithm.to_name().to_ascii())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    /// A key from its name, algorithm (`hmac-sha256`, `hmac-sha384`, `hmac-sha512`) and the
    /// base64 secret as `tsig-keygen` prints it.
    ///
    /// # Errors
    /// [`UpdateError::BadKey`].
    pub fn new(name: &str, algorithm: &str, secret_base64: &str) -> Result<Self, UpdateError> {
        let bad = |why: &str| UpdateError::BadKey {
            name: name.to_owned(),
            why: why.to_owned(),
        };
        let key_name = absolute_name(name).map_err(|e| bad(&e.to_string()))?;
        let algorithm = match algorithm.to_ascii_lowercase().as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            _ => {
                return Err(bad(
                    "unsupported algorithm (hmac-sha256, -sha384 or -sha512)",
                ))
            }
        };
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_base64.trim())
            .map_err(|_| bad("the secret is not base64"))?;
        if secret.is_empty() {
            return Err(bad("the secret is empty"));
        }
        Ok(TsigKey {
            name: key_name,
            algorithm,
            secret: Zeroizing::new(secret),
        })
    }

    /// The key's name (without the trailing dot).
    pub fn name(&self) -> String {
        name_text(&self.name)
    }

    fn signer(&self, fudge: u16) -> Result<TSigner, UpdateError> {
        TSigner::new(
            self.secret.to_vec(),
            self.algorithm.clone(),
            self.name.clone(),
            fudge,
        )
        .map_err(|e| UpdateError::BadKey {
            name: self.name(),
            why: e.to_string(),
        })
    }
}

/// The zones an update touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The forward zone (holding the A/AAAA record).
    pub forward_zone: String,
    /// The reverse zone (holding the PTR record).
    pub reverse_zone: String,
}

/// Sends signed RFC 2136 updates to one primary server.
#[derive(Debug, Clone)]
pub struct Updater {
    server: SocketAddr,
    key: TsigKey,
    ttl: u32,
    timeout: Duration,
}

impl Updater {
    /// Updates to `server`, signed with `key`, records with `ttl`.
    pub fn new(server: SocketAddr, key: TsigKey, ttl: u32) -> Self {
        Updater {
            server,
            key,
            ttl,
            timeout: UPDATE_TIMEOUT,
        }
    }

    /// The same with another budget per exchange.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes `fqdn` → `ip` (A or AAAA) and `ip` → `fqdn` (PTR) the only records of their
    /// names and types.
    ///
    /// # Errors
    /// [`UpdateError`]; the forward record may be in place when the reverse update fails.
    pub async fn register(&self, fqdn: &str, ip: IpAddr) -> Result<Registered, UpdateError> {
        let ip = ip.to_canonical();
        let name = absolute_name(fqdn).map_err(|e| UpdateError::BadName(e.to_string()))?;
        let forward = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        let forward_zone = self.replace(&name, forward).await?;
        let reverse_zone = self
            .replace(&reverse_name(ip), RData::PTR(PTR(name)))
            .await?;
        Ok(Registered {
            forward_zone,
            reverse_zone,
        })
    }

    /// Deletes the A/AAAA records of `fqdn` and the PTR records of `ip`.
    ///
    /// # Errors
    /// [`UpdateError`].
    pub async fn unregister(&self, fqdn: &str, ip: IpAddr) -> Result<(), UpdateError> {
        let ip = ip.to_canonical();
        let name = absolute_name(fqdn).map_err(|e| UpdateError::BadName(e.to_string()))?;
        let rtype = if ip.is_ipv6() {
            RecordType::AAAA
        } else {
            RecordType::A
        };
        self.delete(&name, rtype).await?;
        self.delete(&reverse_name(ip), RecordType::PTR).await?;
        Ok(())
    }

    /// Deletes `name`'s RRset of `data`'s type and adds `data`, in one update.
    async fn replace(&self, name: &Name, data: RData) -> Result<String, UpdateError> {
        let zone = self.zone_of(name).await?;
        let mut msg = update_message(&zone);
        msg.add_authority(delete_rrset(name, data.record_type()));
        msg.add_authority(Record::from_rdata(name.clone(), self.ttl, data));
        self.send_update(msg, &zone).await?;
        Ok(name_text(&zone))
    }

    async fn delete(&self, name: &Name, rtype: RecordType) -> Result<(), UpdateError> {
        let zone = self.zone_of(name).await?;
        let mut msg = update_message(&zone);
        msg.add_authority(delete_rrset(name, rtype));
        self.send_update(msg, &zone).await
    }

    async fn send_update(&self, msg: Message, zone: &Name) -> Result<(), UpdateError> {
        let signer = self.key.signer(UPDATE_FUDGE)?;
        let (response, _) = signed_exchange(self.server, &signer, msg, self.timeout).await?;
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            other => Err(UpdateError::Refused {
                server: self.server,
                zone: name_text(zone),
                rcode: rcode_text(other, &response),
            }),
        }
    }

    /// The zone enclosing `name` on this server: the owner of the SOA in the answer (the name
    /// is an apex) or in the authority section (NXDOMAIN/NODATA answers carry it).
    async fn zone_of(&self, name: &Name) -> Result<Name, UpdateError> {
        let id: u16 = rand::random();
        let mut q = Message::new(id, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name.clone(), RecordType::SOA));
        let bytes = q
            .to_vec()
            .map_err(|e| UpdateError::BadName(e.to_string()))?;
        let (raw, _) = udp_exchange(self.server, &bytes, id, self.timeout).await?;
        let r = Message::from_vec(&raw).map_err(|e| UpdateError::BadSignature {
            server: self.server,
            reason: format!("undecodable answer: {e}"),
        })?;
        let soa_owner = r
            .answers
            .iter()
            .chain(r.authorities.iter())
            .find(|rec| rec.record_type() == RecordType::SOA && rec.name.zone_of(name))
            .map(|rec| rec.name.clone());
        soa_owner.ok_or_else(|| UpdateError::NoZone {
            server: self.server,
            name: name_text(name),
        })
    }
}

/// The server's clock (Unix seconds) as it signs a TSIG answer to an SOA question for `zone`.
///
/// # Errors
/// [`UpdateError`]: no answer, an unsigned or badly signed answer (a wrong key is reported as
/// the server's TSIG error, e.g. BADKEY or BADSIG).
pub async fn tsig_server_time(
    server: SocketAddr,
    key: &TsigKey,
    zone: &str,
    timeout: Duration,
) -> Result<u64, UpdateError> {
    let zone = absolute_name(zone).map_err(|e| UpdateError::BadName(e.to_string()))?;
    let signer = key.signer(TIME_FUDGE)?;
    let mut q = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    q.add_query(Query::query(zone.clone(), RecordType::SOA));
    let (response, time) = signed_exchange(server, &signer, q, timeout).await?;
    match response.metadata.response_code {
        // A refused question (not authoritative) is still signed with the server's time.
        ResponseCode::NoError | ResponseCode::NXDomain | ResponseCode::Refused => Ok(time),
        other => Err(UpdateError::Refused {
            server,
            zone: name_text(&zone),
            rcode: rcode_text(other, &response),
        }),
    }
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn update_message(zone: &Name) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Update);
    let mut z = Query::new();
    z.set_name(zone.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    msg.add_query(z);
    msg
}

/// RFC 2136 §2.5.2: delete an RRset (class ANY, TTL 0, no RDATA).
fn delete_rrset(name: &Name, rtype: RecordType) -> Record {
    let mut r = Record::update0(name.clone(), 0, rtype);
    r.dns_class = DNSClass::ANY;
    r
}

fn reverse_name(ip: IpAddr) -> Name {
    let mut n = Name::from(ip);
    n.set_fqdn(true);
    n
}

fn rcode_text(rcode: ResponseCode, response: &Message) -> String {
    match response.signature().and_then(|s| s.data.error.as_ref()) {
        Some(e) => format!("{rcode} (TSIG error {e:?})"),
        None => rcode.to_string(),
    }
}

/// Signs `msg`, sends it, and verifies the answer's TSIG against the request's MAC. Returns the
/// answer and the server's time (the answer's "time signed", or on BADTIME the server time
/// in "other data").
async fn signed_exchange(
    server: SocketAddr,
    signer: &TSigner,
    mut msg: Message,
    timeout: Duration,
) -> Result<(Message, u64), UpdateError> {
    let id = msg.metadata.id;
    let request_mac = {
        let (sig, _) = signer
            .sign_message(&msg, unix_now())
            .map_err(|e| UpdateError::BadName(e.to_string()))?;
        let mac = sig.data.mac.clone();
        msg.set_signature(sig);
        mac
    };
    let bytes = msg
        .to_vec()
        .map_err(|e| UpdateError::BadName(e.to_string()))?;
    let (raw, _) = udp_exchange(server, &bytes, id, timeout).await?;
    let response = Message::from_vec(&raw).map_err(|e| UpdateError::BadSignature {
        server,
        reason: format!("undecodable answer: {e}"),
    })?;
    let Some(tsig) = response.signature() else {
        return Err(UpdateError::BadSignature {
            server,
            reason: format!(
                "the answer ({}) is not signed",
                response.metadata.response_code
            ),
        });
    };
    // BADKEY/BADSIG answers are unsigned (empty MAC) by the RFC: report the server's verdict.
    if tsig.data.mac.is_empty() {
        return Err(UpdateError::Refused {
            server,
            zone: msg
                .queries
                .first()
                .map(|q| name_text(q.name()))
                .unwrap_or_default(),
            rcode: rcode_text(response.metadata.response_code, &response),
        });
    }
    let (_, time_signed, _) = signer
        .verify_message_byte(&raw, Some(&request_mac), true)
        .map_err(|e| UpdateError::BadSignature {
            server,
            reason: e.to_string(),
        })?;
    // RFC 8945 §5.2.3: a BADTIME answer carries the server's time in 6 bytes of other data.
    let time = match tsig.data.other.as_slice() {
        [a, b, c, d, e, f] => u64::from_be_bytes([0, 0, *a, *b, *c, *d, *e, *f]),
        _ => time_signed,
    };
    Ok((response, time))
}

/// One UDP exchange: sends `query`, returns the first datagram whose ID matches (sent again
/// halfway through the budget). The second value is when the answer arrived.
async fn udp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<(Vec<u8>, Instant), UpdateError> {
    let io = |e: std::io::Error| UpdateError::Io {
        server,
        reason: e.to_string(),
    };
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await.map_err(io)?;
    sock.connect(server).await.map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; MAX_RESPONSE];
    for until in [Instant::now() + timeout / 2, deadline] {
        sock.send(query).await.map_err(io)?;
        loop {
            let n = match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(io(e)),
                Ok(Ok(n)) => n,
            };
            let Some(answer) = buf.get(..n) else { continue };
            let is_response = answer.get(2).is_some_and(|b| b & 0x80 != 0);
            if n >= 12 && answer[..2] == id.to_be_bytes() && is_response {
                return Ok((answer.to_vec(), Instant::now()));
            }
        }
    }
    Err(UpdateError::Timeout { server, timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_never_printed() {
        let k = TsigKey::new("ddns-key", "hmac-sha256", "c2VjcmV0LXNlY3JldA==");
        let k = match k {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        let shown = format!("{k:?}");
        assert!(shown.contains("ddns-key") && shown.contains("redacted"));
        assert!(!shown.contains("c2VjcmV0") && !shown.contains("secret-secret"));
        assert!(matches!(
            TsigKey::new("k", "hmac-md5", "c2VjcmV0"),
            Err(UpdateError::BadKey { .. })
        ));
        assert!(matches!(
            TsigKey::new("k", "hmac-sha256", "not base64!"),
            Err(UpdateError::BadKey { .. })
        ));
        assert!(matches!(
            TsigKey::new("k", "hmac-sha256", ""),
            Err(UpdateError::BadKey { .. })
        ));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name(
                "10.99.3.120"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
            )
            .to_ascii(),
            "120.3.99.10.in-addr.arpa."
        );
    }
}
