//! One lease shared by the ME and the host OS (SPEC D2: "with the OS running the OS and ME share
//! the lease; with no OS the ME holds the lease alone").
//!
//! The ME and the host OS sit behind the same MAC address, so the DHCP server sees one client
//! and grants one lease. [`SharedLease`] models that with a single [`Client`] (hence a single
//! chaddr, a single xid sequence and at most one lease) whose *identity* changes hands:
//!
//! * With the OS running, the OS's DHCP client does the exchanges, with the OS host name and
//!   [`HOST_OS_PARAMETER_REQUEST_LIST`]; the ME sends nothing of its own and uses the OS's
//!   address ([`SharedLease::address`]).
//! * When the OS stops, the ME takes the current lease over as it is (same address, same lease
//!   times) and renews it itself at T1, with the ME list and the ME host name.
//! * When the OS starts again it takes the lease back the same way.
//!
//! Every event says which side produced it ([`SharedEvent::holder`]), so an emulator can show
//! "the OS renewed" versus "the ME renewed".

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::client::{Client, ClientConfig, Event, Ignored, Lease, StateKind, Transmit};

/// The parameter-request list of the modelled host OS: a Windows-like list (subnet mask,
/// router, DNS, domain name, router discovery, static routes, vendor specific, NetBIOS name
/// servers, node type and scope, domain search, classless routes, Microsoft classless routes,
/// WPAD). This is a model of a typical host OS, not a fact about AMT.
pub const HOST_OS_PARAMETER_REQUEST_LIST: [u8; 14] =
    [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];

/// Who currently runs DHCP for the shared MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseHolder {
    /// The Management Engine (no OS running).
    Me,
    /// The host operating system.
    HostOs,
}

/// An [`Event`] with the side that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEvent {
    /// Who sent the datagram, got the lease or lost it.
    pub holder: LeaseHolder,
    /// What happened.
    pub event: Event,
}

/// The host OS's client configuration in this model: the ME's MAC and client identifier (one
/// client identity, or the server would grant two leases), the OS's host name, the
/// [`HOST_OS_PARAMETER_REQUEST_LIST`], no configured FQDN (option 81 is derived from the host
/// name and the DHCP domain).
pub fn host_os_config(me: &ClientConfig, os_host_name: Option<String>) -> ClientConfig {
    ClientConfig {
        host_name: os_host_name,
        configured_fqdn: None,
        parameter_request_list: HOST_OS_PARAMETER_REQUEST_LIST.to_vec(),
        ..me.clone()
    }
}

/// The lease of one ME/OS pair. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct SharedLease {
    client: Client,
    me: ClientConfig,
    holder: LeaseHolder,
    pending: VecDeque<SharedEvent>,
}

impl SharedLease {
    /// No OS running, DHCP not started; the ME holds (will hold) the lease.
    pub fn new(me: ClientConfig, seed: u64) -> Self {
        Self {
            client: Client::new(me.clone(), seed),
            me,
            holder: LeaseHolder::Me,
            pending: VecDeque::new(),
        }
    }

    /// Who runs DHCP now.
    pub fn holder(&self) -> LeaseHolder {
        self.holder
    }

    /// The one client behind the pair (its configuration is the holder's).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The ME's own configuration.
    pub fn me_config(&self) -> &ClientConfig {
        &self.me
    }

    /// The client's state.
    pub fn state(&self) -> StateKind {
        self.client.state()
    }

    /// The shared lease, whoever holds it.
    pub fn lease(&self) -> Option<&Lease> {
        self.client.lease()
    }

    /// The address the ME uses: the shared lease's.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.lease().map(|l| l.address)
    }

    /// Starts DHCP for whoever holds the pair now (the ME at power-on with no OS).
    pub fn start(&mut self, now: Duration) {
        self.client.start(now);
    }

    /// The host OS booted: it takes the exchange or lease over, with its host name and list.
    /// If no DHCP was running it starts a DISCOVER.
    pub fn os_started(&mut self, now: Duration, os_host_name: Option<String>) {
        let config = host_os_config(&self.me, os_host_name);
        self.hand_over(now, LeaseHolder::HostOs, config);
    }

    /// The host OS stopped: the ME takes the current lease (or exchange) over and renews it
    /// itself from now on, with the ME list and host name. If no DHCP was running it starts a
    /// DISCOVER.
    pub fn os_stopped(&mut self, now: Duration) {
        let config = self.me.clone();
        self.hand_over(now, LeaseHolder::Me, config);
    }

    /// Feeds a datagram received on the client port (see [`Client::handle`]).
    pub fn handle(&mut self, now: Duration, datagram: &[u8]) -> Result<(), Ignored> {
        self.client.handle(now, datagram)
    }

    /// The next event, tagged with its holder (see [`Client::poll`]).
    pub fn poll(&mut self, now: Duration) -> Option<SharedEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let event = self.client.poll(now)?;
        Some(SharedEvent {
            holder: self.holder,
            event,
        })
    }

    /// When to poll next (see [`Client::next_deadline`]).
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.pending.is_empty() {
            self.client.next_deadline()
        } else {
            Some(Duration::ZERO)
        }
    }

    /// The holder releases the lease (see [`Client::release`]).
    pub fn release(&mut self, now: Duration) -> Option<Transmit> {
        self.client.release(now)
    }

    fn hand_over(&mut self, now: Duration, to: LeaseHolder, config: ClientConfig) {
        // Whatever the previous holder queued is still the previous holder's.
        let from = self.holder;
        self.pending.extend(
            self.client
                .take_events()
                .into_iter()
                .map(|event| SharedEvent {
                    holder: from,
                    event,
                }),
        );
        self.client.set_config(config);
        self.holder = to;
        self.client.start(now);
    }
}
