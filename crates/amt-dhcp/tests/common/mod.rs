//! A tiny in-memory DHCP server and a virtual-clock driver for the client state machine.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use amt_dhcp::client::{Client, Destination, Event, Ignored, Transmit};
use amt_dhcp::message::{code, DhcpOption, Message, MessageType, Op};
use amt_dhcp::shared::{SharedEvent, SharedLease};

pub const SERVER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x5a, 0x01, 0x02];
pub const T0: Duration = Duration::from_secs(1000);

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Answers DISCOVER with OFFER and REQUEST with ACK (or NAK), one address per chaddr.
pub struct TestServer {
    pub id: Ipv4Addr,
    pub domain: Option<String>,
    pub lease_secs: u32,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
    /// Answer datagrams sent to the broadcast address.
    pub answer_broadcast: bool,
    /// Answer datagrams sent to this server by unicast.
    pub answer_unicast: bool,
    /// Answer DISCOVER only (REQUESTs go unanswered).
    pub offer_only: bool,
    /// Answer REQUESTs with NAK.
    pub nak: bool,
    /// Every datagram the server saw: when, and the decoded message with its destination.
    pub received: Vec<(Duration, Transmit)>,
    pub leases: HashMap<[u8; 6], Ipv4Addr>,
    pub next_host: u8,
}

impl Default for TestServer {
    fn default() -> Self {
        Self {
            id: SERVER_ID,
            domain: Some("amt.test".into()),
            lease_secs: 3600,
            t1: None,
            t2: None,
            answer_broadcast: true,
            answer_unicast: true,
            offer_only: false,
            nak: false,
            received: Vec::new(),
            leases: HashMap::new(),
            next_host: 50,
        }
    }
}

impl TestServer {
    fn reply_to(&self, request: &Message, t: MessageType, yiaddr: Ipv4Addr) -> Message {
        let mut m = Message::new(Op::BootReply, request.xid, request.chaddr);
        m.yiaddr = yiaddr;
        m.broadcast = request.broadcast;
        m.options.push(DhcpOption::message_type(t));
        m.options
            .push(DhcpOption::address(code::SERVER_ID, self.id));
        if t == MessageType::Nak {
            m.options
                .push(DhcpOption::new(code::MESSAGE, "address not available"));
            return m;
        }
        m.options
            .push(DhcpOption::u32(code::LEASE_TIME, self.lease_secs));
        if let Some(t1) = self.t1 {
            m.options.push(DhcpOption::u32(code::RENEWAL_TIME, t1));
        }
        if let Some(t2) = self.t2 {
            m.options.push(DhcpOption::u32(code::REBINDING_TIME, t2));
        }
        m.options.push(DhcpOption::address(
            code::SUBNET_MASK,
            Ipv4Addr::new(255, 255, 255, 0),
        ));
        m.options
            .push(DhcpOption::addresses(code::ROUTER, &[self.id]));
        m.options.push(DhcpOption::addresses(
            code::DOMAIN_NAME_SERVER,
            &[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
        ));
        if let Some(d) = &self.domain {
            m.options
                .push(DhcpOption::new(code::DOMAIN_NAME, d.as_bytes()));
        }
        m
    }

    /// The server's answer to a datagram, if any.
    pub fn reply(&mut self, now: Duration, t: &Transmit) -> Option<Vec<u8>> {
        // The server sees the bytes, not the client's struct.
        let request = Message::decode(&t.bytes).expect("client sent a decodable message");
        assert_eq!(request, t.message, "bytes and message agree");
        self.received.push((now, t.clone()));
        let answering = match t.to {
            Destination::Broadcast => self.answer_broadcast,
            Destination::Unicast(a) => a == self.id && self.answer_unicast,
        };
        if !answering || request.op != Op::BootRequest {
            return None;
        }
        let reply = match request.message_type()? {
            MessageType::Discover => {
                let addr = match self.leases.get(&request.chaddr) {
                    Some(a) => *a,
                    None => {
                        let a = Ipv4Addr::new(10, 0, 0, self.next_host);
                        self.next_host += 1;
                        self.leases.insert(request.chaddr, a);
                        a
                    }
                };
                self.reply_to(&request, MessageType::Offer, addr)
            }
            MessageType::Request => {
                if self.offer_only {
                    return None;
                }
                if request.server_id().is_some_and(|s| s != self.id) {
                    return None;
                }
                if self.nak {
                    return Some(
                        self.reply_to(&request, MessageType::Nak, Ipv4Addr::UNSPECIFIED)
                            .encode(),
                    );
                }
                let wanted = request.requested_address().unwrap_or(request.ciaddr);
                match self.leases.get(&request.chaddr) {
                    Some(a) if *a == wanted => self.reply_to(&request, MessageType::Ack, *a),
                    _ => self.reply_to(&request, MessageType::Nak, Ipv4Addr::UNSPECIFIED),
                }
            }
            MessageType::Release => {
                self.leases.remove(&request.chaddr);
                return None;
            }
            _ => return None,
        };
        Some(reply.encode())
    }

    /// The messages received of one type, with their times.
    pub fn received_of(&self, t: MessageType) -> Vec<(Duration, Transmit)> {
        self.received
            .iter()
            .filter(|(_, tr)| tr.message.message_type() == Some(t))
            .cloned()
            .collect()
    }
}

/// What the simulation drives: a bare client or a shared lease.
pub trait Endpoint {
    type Event: Clone + std::fmt::Debug;
    fn poll(&mut self, now: Duration) -> Option<Self::Event>;
    fn handle(&mut self, now: Duration, datagram: &[u8]) -> Result<(), Ignored>;
    fn next_deadline(&self) -> Option<Duration>;
    fn transmit(event: &Self::Event) -> Option<&Transmit>;
}

impl Endpoint for Client {
    type Event = Event;
    fn poll(&mut self, now: Duration) -> Option<Event> {
        Client::poll(self, now)
    }
    fn handle(&mut self, now: Duration, datagram: &[u8]) -> Result<(), Ignored> {
        Client::handle(self, now, datagram)
    }
    fn next_deadline(&self) -> Option<Duration> {
        Client::next_deadline(self)
    }
    fn transmit(event: &Event) -> Option<&Transmit> {
        match event {
            Event::Transmit(t) => Some(t),
            _ => None,
        }
    }
}

impl Endpoint for SharedLease {
    type Event = SharedEvent;
    fn poll(&mut self, now: Duration) -> Option<SharedEvent> {
        SharedLease::poll(self, now)
    }
    fn handle(&mut self, now: Duration, datagram: &[u8]) -> Result<(), Ignored> {
        SharedLease::handle(self, now, datagram)
    }
    fn next_deadline(&self) -> Option<Duration> {
        SharedLease::next_deadline(self)
    }
    fn transmit(event: &SharedEvent) -> Option<&Transmit> {
        match &event.event {
            Event::Transmit(t) => Some(t),
            _ => None,
        }
    }
}

/// A client (or shared lease) and a server on one virtual wire, with a virtual clock.
pub struct Sim<E: Endpoint> {
    pub now: Duration,
    pub client: E,
    pub server: TestServer,
    /// Every event the client produced, with its time.
    pub log: Vec<(Duration, E::Event)>,
}

impl<E: Endpoint> Sim<E> {
    pub fn new(client: E, server: TestServer) -> Self {
        Self {
            now: T0,
            client,
            server,
            log: Vec::new(),
        }
    }

    /// Polls at `now` until idle, delivering transmits to the server and its replies back.
    /// Returns the events of this round.
    pub fn settle(&mut self) -> Vec<E::Event> {
        let mut out = Vec::new();
        while let Some(event) = self.client.poll(self.now) {
            self.log.push((self.now, event.clone()));
            out.push(event.clone());
            if let Some(t) = E::transmit(&event) {
                if let Some(reply) = self.server.reply(self.now, t) {
                    self.client
                        .handle(self.now, &reply)
                        .expect("the client takes the server's reply");
                }
            }
        }
        out
    }

    /// Runs timers and exchanges up to `until` (inclusive); returns the events of that span.
    pub fn run_until(&mut self, until: Duration) -> Vec<(Duration, E::Event)> {
        let start = self.log.len();
        loop {
            self.settle();
            match self.client.next_deadline() {
                Some(d) if d <= until => self.now = self.now.max(d),
                _ => break,
            }
        }
        self.now = self.now.max(until);
        self.log[start..].to_vec()
    }
}
