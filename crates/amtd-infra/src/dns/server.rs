//! The zone's network front: UDP and TCP on one address and port.
//!
//! UDP: one task receives a datagram, answers it from the shared [`Zone`] and sends the reply
//! (truncated to the client's payload size). TCP: two-byte length-prefixed messages (RFC 1035
//! §4.2.2, RFC 7766), several per connection, at most [`MAX_TCP_CONNECTIONS`] connections, each
//! closed after [`TCP_IDLE_TIMEOUT`] without a complete query. The zone sits behind a lock that
//! is held only while one answer is computed; the owner edits it through
//! [`DnsServerHandle::update`] while the server runs.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::zone::{Reply, Transport, Zone};

/// Most TCP connections served at once; more are closed at once.
pub const MAX_TCP_CONNECTIONS: usize = 64;

/// A TCP connection that sends no complete query for this long is closed.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Queries answered per TCP connection before it is closed.
const MAX_QUERIES_PER_CONNECTION: usize = 1000;

/// Tries at finding a port free for both UDP and TCP when binding port 0.
const BIND_TRIES: usize = 16;

/// Counters of a running server.
#[derive(Debug, Default)]
struct Counters {
    queries: AtomicU64,
    answered: AtomicU64,
    nxdomain: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    provision_server: AtomicU64,
    ptr: AtomicU64,
}

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsStats {
    /// Messages that got a response.
    pub queries: u64,
    /// Responses with at least one answer record.
    pub answered: u64,
    /// NXDOMAIN responses.
    pub nxdomain: u64,
    /// REFUSED responses (names outside the zones, transfers).
    pub refused: u64,
    /// FORMERR/NOTIMP/BADVERS/SERVFAIL responses.
    pub errors: u64,
    /// `ProvisionServer` address lookups answered (devices finding the server, SPEC D3).
    pub provision_server: u64,
    /// PTR lookups answered (reverse DNS, SPEC P2).
    pub ptr: u64,
}

impl Counters {
    fn count(&self, r: &Reply) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let c = match r.rcode {
            ResponseCode::NoError if r.answers > 0 => &self.answered,
            ResponseCode::NoError => return,
            ResponseCode::NXDomain => &self.nxdomain,
            ResponseCode::Refused => &self.refused,
            _ => &self.errors,
        };
        c.fetch_add(1, Ordering::Relaxed);
        if r.provision_server {
            self.provision_server.fetch_add(1, Ordering::Relaxed);
        }
        if r.ptr {
            self.ptr.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> DnsStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DnsStats {
            queries: g(&self.queries),
            answered: g(&self.answered),
            nxdomain: g(&self.nxdomain),
            refused: g(&self.refused),
            errors: g(&self.errors),
            provision_server: g(&self.provision_server),
            ptr: g(&self.ptr),
        }
    }
}

struct Shared {
    zone: RwLock<Zone>,
    counters: Counters,
}

impl Shared {
    fn respond(&self, query: &[u8], transport: Transport) -> Option<Reply> {
        let reply = self
            .zone
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .respond(query, transport)?;
        self.counters.count(&reply);
        Some(reply)
    }
}

/// The authoritative DNS server for a [`Zone`].
#[derive(Debug)]
pub struct DnsServer;

impl DnsServer {
    /// Binds UDP and TCP on `addr` (port 0: a port free for both) and starts serving `zone`.
    ///
    /// # Errors
    /// The bind errors (for example `AddrInUse`).
    pub async fn start(addr: SocketAddr, zone: Zone) -> io::Result<DnsServerHandle> {
        let (udp, tcp) = bind_pair(addr).await?;
        let local = udp.local_addr()?;
        let shared = Arc::new(Shared {
            zone: RwLock::new(zone),
            counters: Counters::default(),
        });
        let udp_task = tokio::spawn(serve_udp(udp, shared.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, shared.clone()));
        tracing::debug!(%local, "DNS server started");
        Ok(DnsServerHandle {
            local,
            shared,
            tasks: vec![udp_task, tcp_task],
        })
    }
}

async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        let udp = UdpSocket::bind(addr).await?;
        let tcp = TcpListener::bind(addr).await?;
        return Ok((udp, tcp));
    }
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no port free for UDP and TCP");
    for _ in 0..BIND_TRIES {
        let udp = UdpSocket::bind(addr).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A running [`DnsServer`]: its address, its zone and its counters. Dropping the handle does
/// not stop the server; [`DnsServerHandle::shutdown`] does.
pub struct DnsServerHandle {
    local: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for DnsServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServerHandle")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl DnsServerHandle {
    /// The address (UDP and TCP) the server answers on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Edits the zone; queries see the change as soon as `f` returns.
    pub fn update<T>(&self, f: impl FnOnce(&mut Zone) -> T) -> T {
        let mut zone = self.shared.zone.write().unwrap_or_else(|p| p.into_inner());
        f(&mut zone)
    }

    /// Reads the zone.
    pub fn read<T>(&self, f: impl FnOnce(&Zone) -> T) -> T {
        let zone = self.shared.zone.read().unwrap_or_else(|p| p.into_inner());
        f(&zone)
    }

    /// The counters so far.
    pub fn stats(&self) -> DnsStats {
        self.shared.counters.snapshot()
    }

    /// Stops serving (the sockets close).
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn serve_udp(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors from an earlier send surface here on some systems; keep serving.
                tracing::debug!(error = %e, "DNS UDP receive");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let Some(reply) = buf.get(..n).and_then(|q| shared.respond(q, Transport::Udp)) else {
            continue;
        };
        if let Err(e) = sock.send_to(&reply.bytes, peer).await {
            tracing::debug!(error = %e, %peer, "DNS UDP send");
        }
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    // Connections live in this set, so stopping the server (aborting this task) ends them.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "DNS TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "DNS TCP connection cap reached; closing");
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let _permit = permit;
            serve_connection(stream, &shared).await;
        });
    }
}

async fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 65535];
    for _ in 0..MAX_QUERIES_PER_CONNECTION {
        let read = async {
            let len = usize::from(stream.read_u16().await?);
            let query = buf
                .get_mut(..len)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
            stream.read_exact(query).await?;
            Ok::<usize, io::Error>(len)
        };
        let len = match tokio::time::timeout(TCP_IDLE_TIMEOUT, read).await {
            Ok(Ok(len)) => len,
            _ => return,
        };
        let Some(reply) = buf
            .get(..len)
            .and_then(|q| shared.respond(q, Transport::Tcp))
        else {
            // Nothing to say to a message that is not a query: close, as servers do.
            return;
        };
        let Ok(prefix) = u16::try_from(reply.bytes.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(2 + reply.bytes.len());
        out.extend_from_slice(&prefix.to_be_bytes());
        out.extend_from_slice(&reply.bytes);
        match tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.write_all(&out)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}
