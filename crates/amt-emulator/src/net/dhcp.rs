//! The ME's DHCP client on a real network interface (D2): the sans-IO [`amt_dhcp`] state
//! machines driven over one UDP socket per interface.
//!
//! - [`InterfaceSocket`] binds UDP `0.0.0.0:68` to one interface (`SO_BINDTODEVICE`) with
//!   `SO_BROADCAST`, so a client without an address can broadcast its DISCOVER (source
//!   0.0.0.0) and hear the server's broadcast replies (the clients set the BROADCAST flag). A
//!   receive task hands each datagram to the client whose MAC is in `chaddr`; many emulated
//!   devices share one interface, each with its own MAC and lease.
//! - [`DhcpDevice`] runs one device's ME/OS pair ([`SharedLease`]): timers, retransmissions,
//!   renewal and rebinding, and on a lease it does what `dhclient-script` does — adds the
//!   address to the interface (`ip addr replace`) — and removes it when the lease is lost. The
//!   current lease is published on a watch channel.
//! - [`probe`] is one DISCOVER→OFFER→REQUEST→ACK exchange for `amtd check`, keeping the OFFER
//!   and ACK for inspection, with [`DhcpProbe::release`] to give the address back.
//!
//! Traffic goes only out of the named interface; callers run inside a network namespace.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amt_dhcp::client::{ClientConfig, Destination, Event, Lease, LostReason, Transmit};
use amt_dhcp::message::Message;
use amt_dhcp::shared::{LeaseHolder, SharedLease};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// UDP port of DHCP servers.
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients.
pub const CLIENT_PORT: u16 = 68;

/// Largest datagram read (a DHCP message fits in 1500 bytes; bigger ones are not ours).
const MAX_DATAGRAM: usize = 4096;

/// Datagrams queued per client before new ones are dropped.
const QUEUE: usize = 64;

/// Why DHCP could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpIoError {
    /// The interface name is not usable.
    #[error("interface {0:?}: not a network interface name")]
    BadInterface(String),
    /// A socket error.
    #[error("DHCP socket on {interface}: {reason}")]
    Io {
        /// The interface.
        interface: String,
        /// The OS error in words.
        reason: String,
    },
    /// Another client with the same MAC is already running on this socket.
    #[error("MAC address {0} is already used by another DHCP client on this interface")]
    DuplicateMac(String),
    /// The address could not be configured on the interface.
    #[error("could not configure {address} on {interface}: {reason}")]
    Configure {
        /// The address.
        address: String,
        /// The interface.
        interface: String,
        /// What `ip` said.
        reason: String,
    },
    /// No lease in time.
    #[error("no DHCP lease on {interface} within {timeout:?}{detail}")]
    Timeout {
        /// The interface.
        interface: String,
        /// The budget.
        timeout: Duration,
        /// What was seen (", offered but never acknowledged", …).
        detail: String,
    },
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// The UDP client socket of one interface, shared by every client on it.
#[derive(Debug)]
pub struct InterfaceSocket {
    interface: String,
    socket: Arc<UdpSocket>,
    clients: Arc<Mutex<Clients>>,
    receiver: tokio::task::JoinHandle<()>,
}

/// Each client's queue, by MAC address.
type Clients = HashMap<[u8; 6], mpsc::Sender<Vec<u8>>>;

impl InterfaceSocket {
    /// Binds `0.0.0.0:68` on `interface` and starts the receive task. Must run inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`DhcpIoError`].
    pub fn open(interface: &str) -> Result<Arc<Self>, DhcpIoError> {
        let ok = !interface.is_empty()
            && interface.len() <= 15
            && interface
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !ok {
            return Err(DhcpIoError::BadInterface(interface.to_owned()));
        }
        let io = |e: std::io::Error| DhcpIoError::Io {
            interface: interface.to_owned(),
            reason: e.to_string(),
        };
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(io)?;
        s.set_reuse_address(true).map_err(io)?;
        s.set_broadcast(true).map_err(io)?;
        s.bind_device(Some(interface.as_bytes())).map_err(io)?;
        s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).into())
            .map_err(io)?;
        s.set_nonblocking(true).map_err(io)?;
        let socket = Arc::new(UdpSocket::from_std(s.into()).map_err(io)?);
        let clients: Arc<Mutex<Clients>> = Arc::default();
        // The receive task holds the socket and the client table, never the InterfaceSocket,
        // so dropping the last handle stops it.
        let (rx_socket, rx_clients) = (Arc::clone(&socket), Arc::clone(&clients));
        let name = interface.to_owned();
        let receiver = tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let n = match rx_socket.recv_from(&mut buf).await {
                    Ok((n, _)) => n,
                    Err(e) => {
                        tracing::debug!(interface = %name, error = %e, "DHCP receive");
                        // An interface that went away must not make this loop spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // chaddr: bytes 28..34 of a BOOTP message. Anything shorter is nobody's.
                let Some(chaddr) = buf.get(28..34).and_then(|c| <[u8; 6]>::try_from(c).ok()) else {
                    continue;
                };
                let tx = rx_clients
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&chaddr)
                    .cloned();
                if let (Some(tx), Some(d)) = (tx, buf.get(..n)) {
                    let _ = tx.try_send(d.to_vec());
                }
            }
        });
        Ok(Arc::new(InterfaceSocket {
            interface: interface.to_owned(),
            socket,
            clients,
            receiver,
        }))
    }

    /// The interface.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, mac: [u8; 6]) -> Result<mpsc::Receiver<Vec<u8>>, DhcpIoError> {
        let mut clients = self.lock_clients();
        if clients.get(&mac).is_some_and(|tx| !tx.is_closed()) {
            return Err(DhcpIoError::DuplicateMac(mac_text(&mac)));
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        clients.insert(mac, tx);
        Ok(rx)
    }

    fn unregister(&self, mac: &[u8; 6]) {
        self.lock_clients().remove(mac);
    }

    async fn send(&self, t: &Transmit) {
        let to = match t.to {
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            Destination::Unicast(ip) => SocketAddrV4::new(ip, SERVER_PORT),
        };
        if let Err(e) = self.socket.send_to(&t.bytes, to).await {
            tracing::debug!(interface = %self.interface, %to, error = %e, "DHCP send");
        }
    }
}

impl Drop for InterfaceSocket {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

/// Prefix length of a subnet mask (24 when absent or not contiguous).
pub fn prefix_len(mask: Option<Ipv4Addr>) -> u8 {
    let Some(mask) = mask else { return 24 };
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        u8::try_from(ones).unwrap_or(24)
    } else {
        24
    }
}

/// `ip -4 addr replace|del ADDRESS/PREFIX dev IF`.
async fn ip_addr(op: &str, interface: &str, lease: &Lease) -> Result<(), DhcpIoError> {
    let cidr = format!("{}/{}", lease.address, prefix_len(lease.subnet_mask));
    let out = tokio::process::Command::new("ip")
        .args(["-4", "addr", op, &cidr, "dev", interface])
        .output()
        .await
        .map_err(|e| DhcpIoError::Configure {
            address: cidr.clone(),
            interface: interface.to_owned(),
            reason: e.to_string(),
        })?;
    // Deleting an address that is already gone is fine.
    if out.status.success() || op == "del" {
        Ok(())
    } else {
        Err(DhcpIoError::Configure {
            address: cidr,
            interface: interface.to_owned(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The host OS's life as the DHCP layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostOs {
    /// The OS booted, with this host name: it takes the lease over.
    Started(Option<String>),
    /// The OS stopped: the ME takes the lease over.
    Stopped,
}

/// A handle that tells a running [`DhcpDevice`] about the host OS.
#[derive(Debug, Clone)]
pub struct HostOsCommands(mpsc::Sender<Command>);

impl HostOsCommands {
    /// Sends `event`; an error when the device's DHCP has stopped.
    pub async fn send(&self, event: HostOs) -> Result<(), ()> {
        let c = match event {
            HostOs::Started(name) => Command::OsStarted(name),
            HostOs::Stopped => Command::OsStopped,
        };
        self.0.send(c).await.map_err(|_| ())
    }
}

/// Commands to a running [`DhcpDevice`].
#[derive(Debug)]
enum Command {
    OsStarted(Option<String>),
    OsStopped,
    Release(tokio::sync::oneshot::Sender<()>),
}

/// One emulated device's DHCP (its ME/OS pair), running in a task.
#[derive(Debug)]
pub struct DhcpDevice {
    mac: [u8; 6],
    lease: watch::Receiver<Option<Lease>>,
    holder: watch::Receiver<LeaseHolder>,
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

/// How a [`DhcpDevice`] behaves.
#[derive(Debug, Clone)]
pub struct DhcpDeviceOptions {
    /// Add the leased address to the interface (and remove it when lost).
    pub configure_address: bool,
    /// The host OS is running at power-up (it holds the lease; the ME shares it).
    pub host_os: Option<String>,
    /// RNG seed of the client (xids, jitter).
    pub seed: u64,
}

impl DhcpDevice {
    /// Starts DHCP for `config` on `socket`.
    ///
    /// # Errors
    /// [`DhcpIoError::DuplicateMac`].
    pub fn start(
        socket: &Arc<InterfaceSocket>,
        config: ClientConfig,
        options: DhcpDeviceOptions,
    ) -> Result<DhcpDevice, DhcpIoError> {
        let mac = config.mac;
        let mut rx = socket.register(mac)?;
        let (lease_tx, lease) = watch::channel(None);
        let (holder_tx, holder) = watch::channel(LeaseHolder::Me);
        let (commands, mut cmd_rx) = mpsc::channel(8);
        let socket = Arc::clone(socket);
        let task = tokio::spawn(async move {
            let epoch = Instant::now();
            let mut pair = SharedLease::new(config, options.seed);
            if let Some(os) = options.host_os.clone() {
                pair.os_started(epoch.elapsed(), Some(os));
                let _ = holder_tx.send(LeaseHolder::HostOs);
            } else {
                pair.start(epoch.elapsed());
            }
            let mut configured: Option<Lease> = None;
            loop {
                // Act on everything due.
                while let Some(ev) = pair.poll(epoch.elapsed()) {
                    match ev.event {
                        Event::Transmit(t) => socket.send(&t).await,
                        Event::Bound(l) | Event::Renewed(l) => {
                            if options.configure_address {
                                if let Some(old) =
                                    configured.as_ref().filter(|o| o.address != l.address)
                                {
                                    let _ = ip_addr("del", &socket.interface, old).await;
                                }
                                if let Err(e) = ip_addr("replace", &socket.interface, &l).await {
                                    tracing::error!(error = %e, "DHCP lease not applied");
                                }
                            }
                            tracing::info!(
                                mac = %mac_text(&mac), address = %l.address, holder = ?ev.holder,
                                domain = ?l.domain, "DHCP lease"
                            );
                            configured = Some(l.clone());
                            let _ = lease_tx.send(Some(l));
                        }
                        Event::Lost(why) => {
                            tracing::warn!(mac = %mac_text(&mac), reason = ?why, "DHCP lease lost");
                            if let (true, Some(old)) =
                                (options.configure_address, configured.take())
                            {
                                let _ = ip_addr("del", &socket.interface, &old).await;
                            }
                            let _ = lease_tx.send(None);
                        }
                    }
                }
                let sleep = match pair.next_deadline() {
                    Some(at) => tokio::time::sleep_until(epoch + at),
                    None => tokio::time::sleep(Duration::from_secs(3600)),
                };
                tokio::select! {
                    () = sleep => {}
                    d = rx.recv() => match d {
                        Some(d) => { let _ = pair.handle(epoch.elapsed(), &d); }
                        None => return,
                    },
                    c = cmd_rx.recv() => match c {
                        Some(Command::OsStarted(name)) => {
                            tracing::info!(mac = %mac_text(&mac), "host OS started: it holds the DHCP lease");
                            pair.os_started(epoch.elapsed(), name);
                            let _ = holder_tx.send(LeaseHolder::HostOs);
                        }
                        Some(Command::OsStopped) => {
                            tracing::info!(mac = %mac_text(&mac), "host OS stopped: the ME holds the DHCP lease");
                            pair.os_stopped(epoch.elapsed());
                            let _ = holder_tx.send(LeaseHolder::Me);
                        }
                        Some(Command::Release(done)) => {
                            if let Some(t) = pair.release(epoch.elapsed()) {
                                socket.send(&t).await;
                            }
                            if let (true, Some(old)) = (options.configure_address, configured.take()) {
                                let _ = ip_addr("del", &socket.interface, &old).await;
                            }
                            let _ = lease_tx.send(None);
                            socket.unregister(&mac);
                            let _ = done.send(());
                            return;
                        }
                        None => return,
                    },
                }
            }
        });
        Ok(DhcpDevice {
            mac,
            lease,
            holder,
            commands,
            task,
        })
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The current lease, if any.
    pub fn lease(&self) -> Option<Lease> {
        self.lease.borrow().clone()
    }

    /// Who holds the lease now.
    pub fn holder(&self) -> LeaseHolder {
        *self.holder.borrow()
    }

    /// Waits until a lease exists (or `timeout`).
    pub async fn wait_bound(&self, timeout: Duration) -> Option<Lease> {
        let mut rx = self.lease.clone();
        let got = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        match got {
            Ok(Ok(l)) => l.clone(),
            _ => None,
        }
    }

    /// A watch on the lease (for callers that follow renewals and losses).
    pub fn watch(&self) -> watch::Receiver<Option<Lease>> {
        self.lease.clone()
    }

    /// A handle for host-OS events (for a task following the host's power).
    pub fn commands(&self) -> HostOsCommands {
        HostOsCommands(self.commands.clone())
    }

    /// The host OS booted (it takes the lease over).
    pub async fn os_started(&self, host_name: Option<String>) {
        let _ = self.commands.send(Command::OsStarted(host_name)).await;
    }

    /// The host OS stopped (the ME takes the lease over).
    pub async fn os_stopped(&self) {
        let _ = self.commands.send(Command::OsStopped).await;
    }

    /// Sends a RELEASE (when bound), removes the address and stops.
    pub async fn release(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Release(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
    }
}

impl Drop for DhcpDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One DHCP exchange for `amtd check`: what the server offered and acknowledged.
#[derive(Debug)]
pub struct DhcpProbe {
    /// The OFFER the client took (None: no server answered).
    pub offer: Option<Message>,
    /// The lease (None: no ACK).
    pub lease: Option<Lease>,
    /// A DHCPNAK's text, if the server refused the REQUEST.
    pub nak: Option<String>,
    client: Option<(amt_dhcp::client::Client, Instant)>,
    socket: Arc<InterfaceSocket>,
}

impl DhcpProbe {
    /// Gives the address back (RELEASE, when a lease was acknowledged).
    pub async fn release(self) {
        if let Some((mut client, epoch)) = self.client {
            if let Some(t) = client.release(epoch.elapsed()) {
                self.socket.send(&t).await;
            }
        }
    }
}

/// Runs DISCOVER→OFFER→REQUEST→ACK on `interface` for `config`, without configuring the
/// address, and waits at most `timeout` for the ACK.
///
/// # Errors
/// [`DhcpIoError`] for socket problems; no answer is not an error (see the fields).
pub async fn probe(
    interface: &str,
    config: ClientConfig,
    seed: u64,
    timeout: Duration,
) -> Result<DhcpProbe, DhcpIoError> {
    let socket = InterfaceSocket::open(interface)?;
    let mac = config.mac;
    let mut rx = socket.register(mac)?;
    let deadline = Instant::now() + timeout;
    let epoch = Instant::now();
    let mut client = amt_dhcp::client::Client::new(config.clone(), seed);
    client.start(epoch.elapsed());
    let mut offer: Option<Message> = None;
    let mut nak = None;
    let lease = loop {
        let mut bound = None;
        while let Some(ev) = client.poll(epoch.elapsed()) {
            match ev {
                Event::Transmit(t) => socket.send(&t).await,
                Event::Bound(l) | Event::Renewed(l) => bound = Some(l),
                Event::Lost(LostReason::Nak { message }) => {
                    nak = Some(message.unwrap_or_else(|| "DHCPNAK".into()));
                }
                Event::Lost(LostReason::Expired) => {}
            }
        }
        if offer.is_none() {
            offer = client.offer().cloned();
        }
        if bound.is_some() {
            break bound;
        }
        let wake = client
            .next_deadline()
            .map_or(deadline, |at| (epoch + at).min(deadline));
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    break None;
                }
            }
            d = rx.recv() => {
                if let Some(d) = d {
                    let _ = client.handle(epoch.elapsed(), &d);
                    if offer.is_none() {
                        offer = client.offer().cloned();
                    }
                }
            }
        }
    };
    socket.unregister(&mac);
    Ok(DhcpProbe {
        offer,
        nak,
        client: lease.is_some().then_some((client, epoch)),
        lease,
        socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_macs() {
        assert_eq!(prefix_len(Some(Ipv4Addr::new(255, 255, 255, 0))), 24);
        assert_eq!(prefix_len(Some(Ipv4Addr::new(255, 255, 0, 0))), 16);
        assert_eq!(prefix_len(Some(Ipv4Addr::new(255, 0, 255, 0))), 24);
        assert_eq!(prefix_len(Some(Ipv4Addr::new(255, 255, 255, 255))), 32);
        assert_eq!(prefix_len(None), 24);
        assert_eq!(
            parse_mac("02:80:86:00:00:0a"),
            Some([2, 0x80, 0x86, 0, 0, 10])
        );
        assert_eq!(
            parse_mac("02-80-86-00-00-0A"),
            Some([2, 0x80, 0x86, 0, 0, 10])
        );
        assert_eq!(parse_mac("02:80:86:00:00"), None);
        assert_eq!(parse_mac("02:80:86:00:00:0g"), None);
        assert_eq!(mac_text(&[2, 0x80, 0x86, 0, 0, 10]), "02:80:86:00:00:0a");
    }

    #[test]
    fn bad_interface_names_are_refused_before_any_socket() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { return };
        rt.block_on(async {
            assert!(matches!(
                InterfaceSocket::open("a name with spaces"),
                Err(DhcpIoError::BadInterface(_))
            ));
            assert!(matches!(
                InterfaceSocket::open(""),
                Err(DhcpIoError::BadInterface(_))
            ));
        });
    }
}
