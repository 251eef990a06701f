//! A stub resolver client for one configured DNS server (never the system resolver).
//!
//! Each question goes out over UDP from an ephemeral port with a random ID, recursion desired
//! and an EDNS payload of 1232; it is sent again once halfway through the time budget. A
//! datagram counts as the answer only if it is a response with the query's ID and exactly the
//! query's question (name, type, class); anything else is ignored. A truncated answer is asked
//! again over TCP within the same budget. CNAME chains inside an answer are followed.
//!
//! [`Resolver::reverse_confirmed`] is reverse DNS with forward confirmation (SPEC P2): PTR of
//! the address, then A (IPv4) or AAAA (IPv6) of each PTR name; a name counts only if its
//! forward lookup returns the address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::zone::MAX_UDP_PAYLOAD;
use super::{absolute_name, name_text, DnsError};

/// Time budget of one question (UDP tries and a TCP retry together).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// PTR names checked per address (a reverse name with more is unusual).
const MAX_PTR_NAMES: usize = 8;

/// CNAME links followed inside one answer.
const MAX_CNAME_LINKS: usize = 8;

/// Why a question got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name could not be put into a query.
    #[error(transparent)]
    BadName(#[from] DnsError),
    /// A socket error (for example, nothing listens at the server's address).
    #[error("DNS server {server}: {reason}")]
    Io {
        /// The server asked.
        server: SocketAddr,
        /// The OS error, in words.
        reason: String,
    },
    /// No matching response in time.
    #[error("DNS server {server} did not answer {name} {rtype} within {timeout:?}")]
    Timeout {
        /// The server asked.
        server: SocketAddr,
        /// The question's name.
        name: String,
        /// The question's type.
        rtype: String,
        /// The budget.
        timeout: Duration,
    },
    /// The server answered with an error code other than NXDOMAIN.
    #[error("DNS server {server} answered {name} {rtype} with {rcode}")]
    Rcode {
        /// The server asked.
        server: SocketAddr,
        /// The question's name.
        name: String,
        /// The question's type.
        rtype: String,
        /// The response code (e.g. `Refused`, `Server Failure`).
        rcode: String,
    },
    /// A TCP response that does not belong to the query (wrong ID or question) or does not
    /// decode.
    #[error("DNS server {server} sent a bad response over TCP: {reason}")]
    BadResponse {
        /// The server asked.
        server: SocketAddr,
        /// What was wrong.
        reason: String,
    },
}

/// What reverse DNS found for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseLookup {
    /// No PTR record (NXDOMAIN or no data).
    NoPtr,
    /// A PTR name whose forward lookup returns the address.
    Confirmed {
        /// The name, without the trailing dot.
        name: String,
    },
    /// PTR names exist but none resolves back to the address.
    Unconfirmed {
        /// The first PTR name, without the trailing dot.
        ptr: String,
        /// What its forward lookup returned.
        forward: Vec<IpAddr>,
    },
}

/// Asks one DNS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    server: SocketAddr,
    timeout: Duration,
}

impl Resolver {
    /// A resolver asking `server` with [`DEFAULT_TIMEOUT`] per question.
    pub fn new(server: SocketAddr) -> Self {
        Resolver {
            server,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same, with another time budget per question.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The PTR names of `ip` (empty when there are none), without trailing dots.
    ///
    /// # Errors
    /// [`ResolveError`].
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, ResolveError> {
        let mut name = Name::from(ip.to_canonical());
        name.set_fqdn(true);
        let data = self.query(&name, RecordType::PTR).await?;
        Ok(data
            .into_iter()
            .filter_map(|d| match d {
                RData::PTR(p) if !p.0.is_root() => Some(name_text(&p.0)),
                _ => None,
            })
            .collect())
    }

    /// The IPv4 (`v6 == false`, type A) or IPv6 (type AAAA) addresses of `name`.
    ///
    /// # Errors
    /// [`ResolveError`].
    pub async fn addresses(&self, name: &str, v6: bool) -> Result<Vec<IpAddr>, ResolveError> {
        let qname = absolute_name(name)?;
        let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
        let data = self.query(&qname, rtype).await?;
        Ok(data
            .into_iter()
            .filter_map(|d| match d {
                RData::A(a) if !v6 => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) if v6 => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect())
    }

    /// Reverse DNS with forward confirmation (see the module documentation). A forward lookup
    /// that the server refuses or fails counts as not confirming; a timeout or socket error is
    /// an error.
    ///
    /// # Errors
    /// [`ResolveError`] from the PTR question, or a timeout/socket error on a forward one.
    pub async fn reverse_confirmed(&self, ip: IpAddr) -> Result<ReverseLookup, ResolveError> {
        let ip = ip.to_canonical();
        let names = self.ptr(ip).await?;
        let mut first: Option<(String, Vec<IpAddr>)> = None;
        for name in names.into_iter().take(MAX_PTR_NAMES) {
            let forward = match self.addresses(&name, ip.is_ipv6()).await {
                Ok(f) => f,
                Err(e @ (ResolveError::Io { .. } | ResolveError::Timeout { .. })) => return Err(e),
                Err(_) => Vec::new(),
            };
            if forward.iter().any(|a| a.to_canonical() == ip) {
                return Ok(ReverseLookup::Confirmed { name });
            }
            first.get_or_insert((name, forward));
        }
        Ok(match first {
            None => ReverseLookup::NoPtr,
            Some((ptr, forward)) => ReverseLookup::Unconfirmed { ptr, forward },
        })
    }

    /// One question; the answer's records of type `rtype` for `name` (following CNAMEs in the
    /// answer). NXDOMAIN and no data are an empty list.
    async fn query(&self, name: &Name, rtype: RecordType) -> Result<Vec<RData>, ResolveError> {
        let deadline = Instant::now() + self.timeout;
        let id: u16 = rand::random();
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        msg.set_edns(edns);
        let bytes = msg.to_vec().map_err(|e| {
            ResolveError::BadName(DnsError::BadName {
                name: name.to_ascii(),
                why: e.to_string(),
            })
        })?;
        let response = match self.udp(&bytes, id, name, rtype, deadline).await? {
            Some(r) if r.metadata.truncation => self.tcp(&bytes, id, name, rtype, deadline).await?,
            Some(r) => r,
            None => return Err(self.timeout_error(name, rtype)),
        };
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(records_for(&response, name, rtype)),
            ResponseCode::NXDomain => Ok(Vec::new()),
            other => Err(ResolveError::Rcode {
                server: self.server,
                name: name_text(name),
                rtype: rtype.to_string(),
                rcode: other.to_string(),
            }),
        }
    }

    async fn udp(
        &self,
        query: &[u8],
        id: u16,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Option<Message>, ResolveError> {
        let local: SocketAddr = match self.server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(local).await.map_err(|e| self.io(&e))?;
        sock.connect(self.server).await.map_err(|e| self.io(&e))?;
        let resend_at = Instant::now() + self.timeout / 2;
        let mut buf = vec![0u8; 65535];
        for until in [resend_at.min(deadline), deadline] {
            sock.send(query).await.map_err(|e| self.io(&e))?;
            loop {
                let n = match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(e)) => return Err(self.io(&e)),
                    Ok(Ok(n)) => n,
                };
                if let Some(m) = buf.get(..n).and_then(|b| matching(b, id, name, rtype)) {
                    return Ok(Some(m));
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        Ok(None)
    }

    async fn tcp(
        &self,
        query: &[u8],
        id: u16,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Message, ResolveError> {
        let exchange = async {
            let mut stream = TcpStream::connect(self.server).await?;
            let len = u16::try_from(query.len())
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
            let mut out = Vec::with_capacity(query.len() + 2);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(query);
            stream.write_all(&out).await?;
            let n = usize::from(stream.read_u16().await?);
            let mut buf = vec![0u8; n];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => return Err(self.timeout_error(name, rtype)),
            Ok(Err(e)) => return Err(self.io(&e)),
            Ok(Ok(b)) => b,
        };
        matching(&buf, id, name, rtype).ok_or_else(|| ResolveError::BadResponse {
            server: self.server,
            reason: format!("no response to {} {rtype} with ID {id}", name_text(name)),
        })
    }

    fn io(&self, e: &std::io::Error) -> ResolveError {
        ResolveError::Io {
            server: self.server,
            reason: e.to_string(),
        }
    }

    fn timeout_error(&self, name: &Name, rtype: RecordType) -> ResolveError {
        ResolveError::Timeout {
            server: self.server,
            name: name_text(name),
            rtype: rtype.to_string(),
            timeout: self.timeout,
        }
    }
}

/// `bytes` decoded, if it is the response to exactly our question with our ID.
fn matching(bytes: &[u8], id: u16, name: &Name, rtype: RecordType) -> Option<Message> {
    let m = Message::from_vec(bytes).ok()?;
    let ours = m.metadata.id == id
        && m.metadata.message_type == MessageType::Response
        && m.metadata.op_code == OpCode::Query
        && m.queries.len() == 1
        && m.queries.first().is_some_and(|q| {
            q.name() == name && q.query_type() == rtype && q.query_class() == DNSClass::IN
        });
    ours.then_some(m)
}

/// The answer records of type `rtype` owned by `name` or by a CNAME target reached from it.
fn records_for(m: &Message, name: &Name, rtype: RecordType) -> Vec<RData> {
    let mut owners = vec![name.clone()];
    for _ in 0..MAX_CNAME_LINKS {
        let next = m.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if owners.contains(&r.name) && !owners.contains(&c.0) => {
                Some(c.0.clone())
            }
            _ => None,
        });
        match next {
            Some(n) => owners.push(n),
            None => break,
        }
    }
    m.answers
        .iter()
        .filter(|r| r.record_type() == rtype && owners.contains(&r.name))
        .map(|r| r.data.clone())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::Record;

    use super::*;

    fn n(s: &str) -> Name {
        absolute_name(s).unwrap()
    }

    fn response(id: u16, q: &str, rtype: RecordType) -> Message {
        let mut m = Message::response(id, OpCode::Query);
        m.add_query(Query::query(n(q), rtype));
        m
    }

    #[test]
    fn only_a_response_with_our_id_and_question_matches() {
        let good = response(7, "pc.amt.test", RecordType::A).to_vec().unwrap();
        assert!(matching(&good, 7, &n("PC.amt.test"), RecordType::A).is_some());
        assert!(matching(&good, 8, &n("pc.amt.test"), RecordType::A).is_none());
        assert!(matching(&good, 7, &n("other.amt.test"), RecordType::A).is_none());
        assert!(matching(&good, 7, &n("pc.amt.test"), RecordType::AAAA).is_none());
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(n("pc.amt.test"), RecordType::A));
        assert!(matching(&q.to_vec().unwrap(), 7, &n("pc.amt.test"), RecordType::A).is_none());
        for cut in 0..good.len() {
            let _ = matching(&good[..cut], 7, &n("pc.amt.test"), RecordType::A);
        }
    }

    #[test]
    fn cname_chains_in_the_answer_are_followed_and_strangers_ignored() {
        let mut m = response(1, "alias.amt.test", RecordType::A);
        m.add_answer(Record::from_rdata(
            n("alias.amt.test"),
            60,
            RData::CNAME(CNAME(n("pc.amt.test"))),
        ));
        m.add_answer(Record::from_rdata(
            n("pc.amt.test"),
            60,
            RData::A(A::new(127, 0, 0, 5)),
        ));
        m.add_answer(Record::from_rdata(
            n("stranger.example"),
            60,
            RData::A(A::new(127, 0, 0, 6)),
        ));
        let got = records_for(&m, &n("alias.amt.test"), RecordType::A);
        assert_eq!(got, vec![RData::A(A::new(127, 0, 0, 5))]);
    }
}
