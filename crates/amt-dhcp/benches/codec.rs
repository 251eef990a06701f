//! DHCP codec and client throughput (a bench binary, no criterion):
//! `cargo bench -p amt-dhcp --bench codec`.
//!
//! Prints messages per second for encoding and decoding a REQUEST (the ME's, with option 81)
//! and an ACK (with the usual parameters), and complete DISCOVER/OFFER/REQUEST/ACK exchanges
//! per second with the client state machine against an in-memory responder (bytes encoded and
//! decoded on both sides). Numbers only; nothing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use amt_dhcp::client::{Client, ClientConfig, Event};
use amt_dhcp::message::{code, DhcpOption, Message, MessageType, Op};

const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x11, 0x22, 0x33];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn rate(name: &str, mut op: impl FnMut()) {
    // Warm up, then run for about half a second.
    for _ in 0..100 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..100 {
            op();
        }
        n += 100;
    }
    let elapsed = start.elapsed();
    let per = elapsed / u32::try_from(n).unwrap_or(u32::MAX);
    let per_sec = n as f64 / elapsed.as_secs_f64();
    println!("{name:<44} {per:>10.2?}/op {per_sec:>12.0} /s");
}

/// The server side of the in-memory exchange: OFFER for DISCOVER, ACK for REQUEST.
fn answer(request: &Message) -> Option<Vec<u8>> {
    let t = match request.message_type()? {
        MessageType::Discover => MessageType::Offer,
        MessageType::Request => MessageType::Ack,
        _ => return None,
    };
    Some(reply(request.xid, t).encode())
}

fn reply(xid: u32, t: MessageType) -> Message {
    let mut m = Message::new(Op::BootReply, xid, MAC);
    m.yiaddr = Ipv4Addr::new(10, 0, 0, 50);
    m.broadcast = true;
    m.options.push(DhcpOption::message_type(t));
    m.options.push(DhcpOption::address(code::SERVER_ID, SERVER));
    m.options.push(DhcpOption::u32(code::LEASE_TIME, 86_400));
    m.options.push(DhcpOption::address(
        code::SUBNET_MASK,
        Ipv4Addr::new(255, 255, 255, 0),
    ));
    m.options
        .push(DhcpOption::addresses(code::ROUTER, &[SERVER]));
    m.options.push(DhcpOption::addresses(
        code::DOMAIN_NAME_SERVER,
        &[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
    ));
    m.options
        .push(DhcpOption::new(code::DOMAIN_NAME, "amt.test"));
    m
}

fn config() -> ClientConfig {
    ClientConfig::me(MAC, Some("amtdev01".into()), None)
}

/// One DORA; returns the number of events seen.
fn dora(seed: u64) -> usize {
    let now = Duration::from_secs(1);
    let mut client = Client::new(config(), seed);
    client.start(now);
    let mut events = 0;
    while let Some(event) = client.poll(now) {
        events += 1;
        match event {
            Event::Transmit(t) => {
                let request = Message::decode(&t.bytes).unwrap();
                if let Some(reply) = answer(&request) {
                    client.handle(now, &reply).unwrap();
                }
            }
            Event::Bound(_) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    events
}

fn main() {
    // The ME's REQUEST, taken from a real exchange with the state machine.
    let now = Duration::from_secs(1);
    let mut client = Client::new(config(), 1);
    client.start(now);
    let Some(Event::Transmit(discover)) = client.poll(now) else {
        unreachable!()
    };
    client
        .handle(now, &answer(&discover.message).unwrap())
        .unwrap();
    let Some(Event::Transmit(request)) = client.poll(now) else {
        unreachable!()
    };
    let ack = reply(request.message.xid, MessageType::Ack);
    let ack_bytes = ack.encode();
    println!(
        "REQUEST: {} bytes ({} options); ACK: {} bytes ({} options)",
        request.bytes.len(),
        request.message.options.len(),
        ack_bytes.len(),
        ack.options.len()
    );

    rate("Message::encode REQUEST", || {
        black_box(black_box(&request.message).encode());
    });
    rate("Message::decode REQUEST", || {
        black_box(Message::decode(black_box(&request.bytes)).unwrap());
    });
    rate("Message::encode ACK", || {
        black_box(black_box(&ack).encode());
    });
    rate("Message::decode ACK", || {
        black_box(Message::decode(black_box(&ack_bytes)).unwrap());
    });
    let mut seed = 0;
    rate("client DORA in memory (4 messages)", || {
        seed += 1;
        assert_eq!(black_box(dora(seed)), 3);
    });
}
