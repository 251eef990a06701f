//! The Management Engine's DHCP client (SPEC D2, RFC 2131 §4.4), as a sans-IO state machine.
//!
//! ```text
//!   start ─▶ SELECTING ──OFFER──▶ REQUESTING ──ACK──▶ BOUND ──T1──▶ RENEWING ──T2──▶ REBINDING
//!               ▲                    │ NAK / 4 retransmissions │          │ ACK          │ ACK
//!               └────────────────────┘                         ◀──────────┴──────────────┘
//!               ▲ expiry: Event::Lost, then a new DISCOVER at once
//!               ▲ NAK: Event::Lost, then a new DISCOVER after 1–2 s (doubling while NAKs repeat)
//! ```
//!
//! Drive it like this: call [`Client::start`]; feed every datagram received on UDP port 68 to
//! [`Client::handle`]; call [`Client::poll`] until it returns `None` after every `start`,
//! `handle`, and whenever [`Client::next_deadline`] passes; send each [`Event::Transmit`] to
//! UDP port 67 of its [`Destination`]. Time is a [`Duration`] since any epoch (it must not go
//! backwards); randomness (transaction ids, retransmission jitter) comes from the seed.
//!
//! ```
//! use std::time::Duration;
//! use amt_dhcp::client::{Client, ClientConfig, Destination, Event, ME_PARAMETER_REQUEST_LIST};
//!
//! let mac = [0x00, 0x16, 0x3e, 0x11, 0x22, 0x33];
//! let mut client = Client::new(ClientConfig::me(mac, Some("amtdev01".into()), None), 0x5eed);
//! let now = Duration::ZERO; // the caller's clock; here a virtual one
//! client.start(now);
//! while let Some(event) = client.poll(now) {
//!     match event {
//!         Event::Transmit(t) => {
//!             // Send t.bytes to UDP port 67 of t.to here.
//!             assert_eq!(t.to, Destination::Broadcast);
//!             assert_eq!(t.message.parameter_request_list(), Some(&ME_PARAMETER_REQUEST_LIST[..]));
//!         }
//!         Event::Bound(lease) | Event::Renewed(lease) => { /* use lease.address */ }
//!         Event::Lost(_) => { /* stop using the address */ }
//!     }
//! }
//! // Then: client.handle(now, &datagram) for each reply, and poll again at next_deadline().
//! let first_retransmission = client.next_deadline().unwrap();
//! assert!(first_retransmission >= Duration::from_secs(3));
//! assert!(first_retransmission <= Duration::from_secs(5));
//! ```
//!
//! Messages have the ME's shape: DISCOVER carries 53, (61), (12), 55 with
//! [`ME_PARAMETER_REQUEST_LIST`]; REQUEST adds 50/54 (SELECTING) and option 81 (client FQDN,
//! S=1 E=1: the DHCP server registers the name in DNS). Retransmission follows RFC 2131 §4.1
//! (4, 8, 16, 32, 64 s, each ±1 s) in SELECTING and REQUESTING, and §4.4.5 (half the remaining
//! time, at least [`ClientConfig::min_retransmit`]) in RENEWING and REBINDING.
//!
//! Simplifications, documented: the first OFFER wins (no collecting window); the offered address
//! is not probed with ARP, so DHCPDECLINE is never sent. RFC 2131 §3.1 step 5 says a client
//! that receives a DHCPNAK "restarts the configuration process"; this one waits a random 1–2 s
//! first, doubling (up to [`MAX_BACKOFF`]) while NAKs follow one another, so that a server that
//! NAKs everything cannot make it spin. After an expiry or a REQUESTING give-up it restarts at
//! once (those are already paced by the lease and the back-off). The RFC 2131 §4.4.1 initial
//! 1–10 s wait before the first DISCOVER is the caller's choice of when to call `start`.

mod build;
mod event;
mod lease;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

pub use self::event::{Destination, Event, Ignored, LostReason, StateKind, Transmit};
pub use self::lease::{lease_timers, Lease, INFINITE_LEASE};
use crate::message::{code, validate_name, Message, MessageType, Op};
use crate::rng::SplitMix64;
use crate::DhcpError;

/// The ME's parameter-request list (option 55), exactly in this order (SPEC D2): DNS servers,
/// router, subnet mask, domain name, TFTP server, boot file name, boot file size, NetBIOS name
/// servers.
pub const ME_PARAMETER_REQUEST_LIST: [u8; 8] = [
    code::DOMAIN_NAME_SERVER,
    code::ROUTER,
    code::SUBNET_MASK,
    code::DOMAIN_NAME,
    code::TFTP_SERVER_NAME,
    code::BOOT_FILE_NAME,
    code::BOOT_FILE_SIZE,
    code::NETBIOS_NAME_SERVER,
];

/// RFC 2131 §4.4.5's lower bound on the RENEWING/REBINDING retransmission interval.
pub const DEFAULT_MIN_RETRANSMIT: Duration = Duration::from_secs(60);
/// How many times a REQUEST is retransmitted in REQUESTING before the client starts over.
pub const REQUEST_RETRANSMISSIONS: u32 = 4;
/// First SELECTING/REQUESTING retransmission delay (RFC 2131 §4.1), before jitter.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(4);
/// Longest SELECTING/REQUESTING retransmission delay (RFC 2131 §4.1), before jitter.
pub const MAX_BACKOFF: Duration = Duration::from_secs(64);

/// How the client presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The MAC address (`chaddr`), shared by the ME and the host OS.
    pub mac: [u8; 6],
    /// Host name sent in option 12 (and used for option 81); none: neither is derived from it.
    pub host_name: Option<String>,
    /// FQDN configured into the ME; when set it is sent verbatim in option 81, even outside the
    /// DHCP domain. A trailing dot is optional.
    pub configured_fqdn: Option<String>,
    /// Option 55, in order ([`ME_PARAMETER_REQUEST_LIST`] for the ME); empty: omitted.
    pub parameter_request_list: Vec<u8>,
    /// Set the BROADCAST flag in DISCOVER and SELECTING REQUEST (the client has no address yet
    /// and the IO layer receives replies on a broadcast socket). RENEWING, REBINDING and
    /// RELEASE never set it: the client then has an address.
    pub broadcast: bool,
    /// Option 61, sent in every message when set.
    pub client_id: Option<Vec<u8>>,
    /// Lower bound of the RENEWING/REBINDING retransmission interval (RFC 2131 §4.4.5: 60 s);
    /// lower it for tests with short leases.
    pub min_retransmit: Duration,
}

impl ClientConfig {
    /// The ME's configuration: the ME parameter-request list, BROADCAST set, no client id.
    pub fn me(mac: [u8; 6], host_name: Option<String>, configured_fqdn: Option<String>) -> Self {
        Self {
            mac,
            host_name,
            configured_fqdn,
            parameter_request_list: ME_PARAMETER_REQUEST_LIST.to_vec(),
            broadcast: true,
            client_id: None,
            min_retransmit: DEFAULT_MIN_RETRANSMIT,
        }
    }

    /// Checks the host name and configured FQDN are names option 81 can carry. A client built
    /// from an invalid configuration still runs, but omits option 81.
    pub fn validate(&self) -> Result<(), DhcpError> {
        for name in [&self.host_name, &self.configured_fqdn]
            .into_iter()
            .flatten()
        {
            validate_name(name)?;
        }
        Ok(())
    }

    /// The name for option 81 given the DHCP domain (option 15), in the presentation form of
    /// [`crate::message::ClientFqdn`]: the configured FQDN (fully qualified), else
    /// `host.domain.` (fully qualified), else the bare host name (partial); `None` without a
    /// host name or FQDN.
    pub fn fqdn_for(&self, domain: Option<&str>) -> Option<String> {
        if let Some(fqdn) = &self.configured_fqdn {
            return Some(format!("{}.", fqdn.trim_end_matches('.')));
        }
        let host = self.host_name.as_deref()?;
        Some(match domain {
            Some(domain) => format!("{host}.{}.", domain.trim_end_matches('.')),
            None => host.to_owned(),
        })
    }
}

/// One exchange (one xid): its timers and retransmission count.
#[derive(Debug, Clone)]
struct Exchange {
    xid: u32,
    /// When the exchange began (the `secs` field counts from here).
    started: Duration,
    /// When the current REQUEST was first sent (the lease counts from here).
    first_sent: Duration,
    retransmissions: u32,
    next_retransmit: Duration,
    /// Option 81 name of the last REQUEST sent.
    fqdn_sent: Option<String>,
}

#[derive(Debug, Clone)]
enum State {
    Init,
    /// INIT after a NAK: DISCOVER at `at`.
    Restarting {
        at: Duration,
    },
    Selecting(Exchange),
    Requesting {
        exchange: Exchange,
        offer: Message,
    },
    Bound(Lease),
    Renewing {
        lease: Lease,
        exchange: Exchange,
    },
    Rebinding {
        lease: Lease,
        exchange: Exchange,
    },
    Stopped,
}

impl State {
    fn kind(&self) -> StateKind {
        match self {
            Self::Init | Self::Restarting { .. } => StateKind::Init,
            Self::Selecting(_) => StateKind::Selecting,
            Self::Requesting { .. } => StateKind::Requesting,
            Self::Bound(_) => StateKind::Bound,
            Self::Renewing { .. } => StateKind::Renewing,
            Self::Rebinding { .. } => StateKind::Rebinding,
            Self::Stopped => StateKind::Stopped,
        }
    }

    fn exchange(&self) -> Option<&Exchange> {
        match self {
            Self::Selecting(exchange)
            | Self::Requesting { exchange, .. }
            | Self::Renewing { exchange, .. }
            | Self::Rebinding { exchange, .. } => Some(exchange),
            Self::Init | Self::Restarting { .. } | Self::Bound(_) | Self::Stopped => None,
        }
    }

    fn lease(&self) -> Option<&Lease> {
        match self {
            Self::Bound(lease) | Self::Renewing { lease, .. } | Self::Rebinding { lease, .. } => {
                Some(lease)
            }
            Self::Init
            | Self::Restarting { .. }
            | Self::Selecting(_)
            | Self::Requesting { .. }
            | Self::Stopped => None,
        }
    }
}

/// Bound on state changes per [`Client::poll`] (BOUND → REBINDING → expiry → SELECTING is the
/// longest chain); a guard against a timer that would not move forward.
const MAX_TIMER_STEPS: usize = 8;

/// The DHCP client of one MAC address. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    rng: SplitMix64,
    state: State,
    events: VecDeque<Event>,
    offer: Option<Message>,
    /// NAKs received since the last ACK (sets the restart delay).
    consecutive_naks: u32,
}

impl Client {
    /// A client in INIT; nothing happens before [`Client::start`].
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        Self {
            config,
            rng: SplitMix64::new(seed),
            state: State::Init,
            events: VecDeque::new(),
            offer: None,
            consecutive_naks: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> StateKind {
        self.state.kind()
    }

    /// The lease held (BOUND, RENEWING, REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        self.state.lease()
    }

    /// The OFFER most recently selected (kept until another one is selected).
    pub fn offer(&self) -> Option<&Message> {
        self.offer.as_ref()
    }

    /// The transaction id of the exchange in progress.
    pub fn xid(&self) -> Option<u32> {
        self.state.exchange().map(|e| e.xid)
    }

    /// Starts (INIT or STOPPED → SELECTING) and queues a DISCOVER; does nothing in other states.
    /// A restart pending after a NAK happens at once.
    pub fn start(&mut self, now: Duration) {
        if matches!(
            self.state,
            State::Init | State::Restarting { .. } | State::Stopped
        ) {
            self.state = self.begin_discovery(now);
        }
    }

    /// Feeds a datagram received on the client port. `Err` says why it was not for us (or not
    /// useful now); the state is then unchanged.
    pub fn handle(&mut self, now: Duration, datagram: &[u8]) -> Result<(), Ignored> {
        let message = Message::decode(datagram).map_err(Ignored::Undecodable)?;
        if message.op != Op::BootReply {
            return Err(Ignored::NotReply);
        }
        let state = self.state.kind();
        let exchange = self.state.exchange().ok_or(Ignored::NotWaiting { state })?;
        if message.xid != exchange.xid {
            return Err(Ignored::WrongXid {
                expected: exchange.xid,
                got: message.xid,
            });
        }
        if message.chaddr != self.config.mac {
            return Err(Ignored::WrongChaddr {
                got: message.chaddr,
            });
        }
        let message_type = message.message_type().ok_or(Ignored::NoMessageType)?;
        match (state, message_type) {
            (StateKind::Selecting, MessageType::Offer) => self.on_offer(now, message),
            (
                StateKind::Requesting | StateKind::Renewing | StateKind::Rebinding,
                MessageType::Ack | MessageType::Nak,
            ) => self.on_reply(now, message_type, message),
            _ => Err(Ignored::UnexpectedType {
                state,
                message_type,
            }),
        }
    }

    /// Runs the timers due at `now`, then returns the next queued event. Call it until it
    /// returns `None`.
    pub fn poll(&mut self, now: Duration) -> Option<Event> {
        for _ in 0..MAX_TIMER_STEPS {
            let state = std::mem::replace(&mut self.state, State::Init);
            let (state, changed) = self.on_timer(now, state);
            self.state = state;
            if !changed {
                break;
            }
        }
        self.events.pop_front()
    }

    /// When [`Client::poll`] must be called next: [`Duration::ZERO`] (at once) when events are
    /// waiting, else the next timer; `None` when no timer runs (INIT, STOPPED, an infinite
    /// lease).
    pub fn next_deadline(&self) -> Option<Duration> {
        if !self.events.is_empty() {
            return Some(Duration::ZERO);
        }
        match &self.state {
            State::Init | State::Stopped => None,
            State::Restarting { at } => Some(*at),
            State::Selecting(exchange) | State::Requesting { exchange, .. } => {
                Some(exchange.next_retransmit)
            }
            State::Bound(lease) => lease.renew_at(),
            State::Renewing { lease, exchange } => [lease.rebind_at(), lease.expires_at()]
                .into_iter()
                .flatten()
                .chain([exchange.next_retransmit])
                .min(),
            State::Rebinding { lease, exchange } => lease
                .expires_at()
                .into_iter()
                .chain([exchange.next_retransmit])
                .min(),
        }
    }

    /// Gives the lease back: returns the DHCPRELEASE to send (unicast to the server, ciaddr
    /// set) and stops. `None` (and no change) when no lease is held. Transmissions still queued
    /// are dropped.
    pub fn release(&mut self, _now: Duration) -> Option<Transmit> {
        let lease = self.state.lease()?;
        let xid = self.rng.next_u32();
        let message = self.config.release(xid, lease.address, lease.server_id);
        let to = Destination::Unicast(lease.server_id);
        self.state = State::Stopped;
        self.events.retain(|e| !matches!(e, Event::Transmit(_)));
        Some(Transmit::new(message, to))
    }

    /// Replaces the configuration (host name, lists…) for the messages sent from now on, keeping
    /// the state, the lease and the timers. The MAC must stay the same.
    pub(crate) fn set_config(&mut self, config: ClientConfig) {
        self.config = config;
    }

    /// Takes the queued events without running timers.
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    // --- transitions -----------------------------------------------------------------------

    fn begin_discovery(&mut self, now: Duration) -> State {
        let exchange = Exchange {
            xid: self.rng.next_u32(),
            started: now,
            first_sent: now,
            retransmissions: 0,
            next_retransmit: now.saturating_add(self.backoff(0)),
            fqdn_sent: None,
        };
        self.send_discover(&exchange, now);
        State::Selecting(exchange)
    }

    fn on_offer(&mut self, now: Duration, offer: Message) -> Result<(), Ignored> {
        if offer.yiaddr.is_unspecified() {
            return Err(Ignored::NoAddress);
        }
        if offer.server_id().is_none() {
            return Err(Ignored::MissingServerId);
        }
        let Some(selecting) = self.state.exchange().cloned() else {
            return Err(Ignored::NotWaiting {
                state: self.state.kind(),
            });
        };
        let next_retransmit = now.saturating_add(self.backoff(0));
        let mut exchange = Exchange {
            first_sent: now,
            retransmissions: 0,
            next_retransmit,
            fqdn_sent: None,
            ..selecting
        };
        self.send_selecting_request(&mut exchange, &offer, now);
        self.offer = Some(offer.clone());
        self.state = State::Requesting { exchange, offer };
        Ok(())
    }

    fn on_reply(
        &mut self,
        now: Duration,
        message_type: MessageType,
        reply: Message,
    ) -> Result<(), Ignored> {
        let expected_server = match &self.state {
            State::Requesting { offer, .. } => offer.server_id(),
            State::Renewing { lease, .. } => Some(lease.server_id),
            _ => None,
        };
        if let (Some(expected), Some(got)) = (expected_server, reply.server_id()) {
            if expected != got {
                return Err(Ignored::WrongServer { expected, got });
            }
        }
        if message_type == MessageType::Nak {
            let message = reply.server_message();
            self.events
                .push_back(Event::Lost(LostReason::Nak { message }));
            self.consecutive_naks = self.consecutive_naks.saturating_add(1);
            let at = now.saturating_add(self.restart_delay());
            self.state = State::Restarting { at };
            return Ok(());
        }
        if reply.yiaddr.is_unspecified() {
            return Err(Ignored::NoAddress);
        }
        let state = std::mem::replace(&mut self.state, State::Init);
        let (exchange, offer, previous_server) = match &state {
            State::Requesting { exchange, offer } => (
                exchange,
                Some(offer.clone()),
                offer.server_id().unwrap_or(Ipv4Addr::UNSPECIFIED),
            ),
            State::Renewing { lease, exchange } | State::Rebinding { lease, exchange } => {
                (exchange, None, lease.server_id)
            }
            _ => {
                let state_kind = state.kind();
                self.state = state;
                return Err(Ignored::NotWaiting { state: state_kind });
            }
        };
        let renewal = offer.is_none();
        let Some(lease) = Lease::from_ack(
            reply,
            previous_server,
            exchange.first_sent,
            exchange.fqdn_sent.clone(),
            offer,
        ) else {
            self.state = state;
            return Err(Ignored::MissingLeaseTime);
        };
        self.consecutive_naks = 0;
        self.events.push_back(if renewal {
            Event::Renewed(lease.clone())
        } else {
            Event::Bound(lease.clone())
        });
        self.state = State::Bound(lease);
        Ok(())
    }

    /// One timer step: returns the new state and whether anything happened.
    fn on_timer(&mut self, now: Duration, state: State) -> (State, bool) {
        let past = |t: Option<Duration>| t.is_some_and(|t| now >= t);
        match state {
            State::Init | State::Stopped => (state, false),
            State::Restarting { at } if now < at => (state, false),
            State::Restarting { .. } => (self.begin_discovery(now), true),
            State::Selecting(mut exchange) => {
                if now < exchange.next_retransmit {
                    return (State::Selecting(exchange), false);
                }
                exchange.retransmissions += 1;
                exchange.next_retransmit =
                    now.saturating_add(self.backoff(exchange.retransmissions));
                self.send_discover(&exchange, now);
                (State::Selecting(exchange), true)
            }
            State::Requesting {
                mut exchange,
                offer,
            } => {
                if now < exchange.next_retransmit {
                    return (State::Requesting { exchange, offer }, false);
                }
                if exchange.retransmissions >= REQUEST_RETRANSMISSIONS {
                    return (self.begin_discovery(now), true);
                }
                exchange.retransmissions += 1;
                exchange.next_retransmit =
                    now.saturating_add(self.backoff(exchange.retransmissions));
                self.send_selecting_request(&mut exchange, &offer, now);
                (State::Requesting { exchange, offer }, true)
            }
            State::Bound(lease) => {
                if past(lease.expires_at()) {
                    (self.expire(now), true)
                } else if past(lease.rebind_at()) {
                    (self.begin_extending(now, lease, true), true)
                } else if past(lease.renew_at()) {
                    (self.begin_extending(now, lease, false), true)
                } else {
                    (State::Bound(lease), false)
                }
            }
            State::Renewing {
                lease,
                mut exchange,
            } => {
                if past(lease.expires_at()) {
                    (self.expire(now), true)
                } else if past(lease.rebind_at()) {
                    (self.begin_extending(now, lease, true), true)
                } else if now >= exchange.next_retransmit {
                    exchange.retransmissions += 1;
                    exchange.next_retransmit =
                        now.saturating_add(self.extend_wait(now, lease.rebind_at()));
                    self.send_extending_request(&mut exchange, &lease, false, now);
                    (State::Renewing { lease, exchange }, true)
                } else {
                    (State::Renewing { lease, exchange }, false)
                }
            }
            State::Rebinding {
                lease,
                mut exchange,
            } => {
                if past(lease.expires_at()) {
                    (self.expire(now), true)
                } else if now >= exchange.next_retransmit {
                    exchange.retransmissions += 1;
                    exchange.next_retransmit =
                        now.saturating_add(self.extend_wait(now, lease.expires_at()));
                    self.send_extending_request(&mut exchange, &lease, true, now);
                    (State::Rebinding { lease, exchange }, true)
                } else {
                    (State::Rebinding { lease, exchange }, false)
                }
            }
        }
    }

    /// BOUND/RENEWING → RENEWING (`rebinding` false) or REBINDING, with a fresh xid.
    fn begin_extending(&mut self, now: Duration, lease: Lease, rebinding: bool) -> State {
        let until = if rebinding {
            lease.expires_at()
        } else {
            lease.rebind_at()
        };
        let mut exchange = Exchange {
            xid: self.rng.next_u32(),
            started: now,
            first_sent: now,
            retransmissions: 0,
            next_retransmit: now.saturating_add(self.extend_wait(now, until)),
            fqdn_sent: None,
        };
        self.send_extending_request(&mut exchange, &lease, rebinding, now);
        if rebinding {
            State::Rebinding { lease, exchange }
        } else {
            State::Renewing { lease, exchange }
        }
    }

    fn expire(&mut self, now: Duration) -> State {
        self.events.push_back(Event::Lost(LostReason::Expired));
        self.begin_discovery(now)
    }

    // --- timers ----------------------------------------------------------------------------

    /// RFC 2131 §4.1: 4 s before the first retransmission, doubling up to 64 s, each randomized
    /// by a uniform −1…+1 s.
    fn backoff(&mut self, retransmissions: u32) -> Duration {
        let base = INITIAL_BACKOFF
            .checked_mul(1 << retransmissions.min(4))
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF);
        let jitter_ms = self.rng.below_or_eq(2000);
        base - Duration::from_secs(1) + Duration::from_millis(jitter_ms)
    }

    /// After the n-th NAK in a row: 2^(n−1) s (at most [`MAX_BACKOFF`]) plus 0–1 s at random.
    fn restart_delay(&mut self) -> Duration {
        let base = Duration::from_secs(1)
            .checked_mul(1 << self.consecutive_naks.saturating_sub(1).min(6))
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF);
        base + Duration::from_millis(self.rng.below_or_eq(1000))
    }

    /// RFC 2131 §4.4.5: half the time remaining until `until`, at least `min_retransmit`.
    fn extend_wait(&self, now: Duration, until: Option<Duration>) -> Duration {
        let half = until.map_or(Duration::ZERO, |u| u.saturating_sub(now) / 2);
        half.max(self.config.min_retransmit)
    }

    // --- sending ---------------------------------------------------------------------------

    fn send_discover(&mut self, exchange: &Exchange, now: Duration) {
        let secs = build::secs_since(exchange.started, now);
        let message = self.config.discover(exchange.xid, secs);
        self.queue(message, Destination::Broadcast);
    }

    fn send_selecting_request(&mut self, exchange: &mut Exchange, offer: &Message, now: Duration) {
        let secs = build::secs_since(exchange.started, now);
        let (message, fqdn) = self.config.request_selecting(exchange.xid, secs, offer);
        exchange.fqdn_sent = fqdn;
        self.queue(message, Destination::Broadcast);
    }

    fn send_extending_request(
        &mut self,
        exchange: &mut Exchange,
        lease: &Lease,
        rebinding: bool,
        now: Duration,
    ) {
        let secs = build::secs_since(exchange.started, now);
        let (message, fqdn) = self.config.request_extending(exchange.xid, secs, lease);
        exchange.fqdn_sent = fqdn;
        let to = if rebinding {
            Destination::Broadcast
        } else {
            Destination::Unicast(lease.server_id)
        };
        self.queue(message, to);
    }

    fn queue(&mut self, message: Message, to: Destination) {
        self.events
            .push_back(Event::Transmit(Transmit::new(message, to)));
    }
}
