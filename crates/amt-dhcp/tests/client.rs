//! The ME's DHCP client driven end to end against an in-memory server on a virtual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use amt_dhcp::client::{
    Client, ClientConfig, Destination, Event, Ignored, LostReason, StateKind, Transmit,
    ME_PARAMETER_REQUEST_LIST,
};
use amt_dhcp::message::{code, DhcpOption, Message, MessageType, Op};
use common::{secs, Sim, TestServer, MAC, SERVER_ID, T0};

const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

fn me_config() -> ClientConfig {
    ClientConfig::me(MAC, Some("amtdev01".into()), None)
}

fn started(server: TestServer, seed: u64) -> Sim<Client> {
    let mut sim = Sim::new(Client::new(me_config(), seed), server);
    sim.client.start(T0);
    sim
}

/// A simulation that went through DORA at T0.
fn bound(server: TestServer) -> Sim<Client> {
    let mut sim = started(server, 42);
    let events = sim.settle();
    assert!(matches!(events.last(), Some(Event::Bound(_))), "{events:?}");
    sim
}

fn transmits(events: &[(Duration, Event)]) -> Vec<(Duration, Transmit)> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Transmit(tr) => Some((*t, tr.clone())),
            _ => None,
        })
        .collect()
}

fn assert_within(actual: Duration, expected: Duration, tolerance: Duration) {
    assert!(
        actual + tolerance >= expected && actual <= expected + tolerance,
        "{actual:?} not within {tolerance:?} of {expected:?}"
    );
}

#[test]
fn dora_reaches_bound_with_the_acked_parameters() {
    let mut sim = started(TestServer::default(), 1);
    let events = sim.settle();
    assert_eq!(events.len(), 3, "{events:?}");
    let Event::Transmit(discover) = &events[0] else {
        panic!("{events:?}")
    };
    let Event::Transmit(request) = &events[1] else {
        panic!("{events:?}")
    };
    let Event::Bound(lease) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!(discover.message.message_type(), Some(MessageType::Discover));
    assert_eq!(request.message.message_type(), Some(MessageType::Request));
    assert_eq!(request.message.xid, discover.message.xid);
    assert_eq!(sim.client.state(), StateKind::Bound);

    assert_eq!(lease.address, ADDRESS);
    assert_eq!(lease.server_id, SERVER_ID);
    assert_eq!(lease.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(lease.routers, vec![SERVER_ID]);
    assert_eq!(
        lease.dns_servers,
        vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]
    );
    assert_eq!(lease.domain.as_deref(), Some("amt.test"));
    assert_eq!(lease.lease_time, secs(3600));
    assert_eq!((lease.t1, lease.t2), (secs(1800), secs(3150)));
    assert_eq!(lease.acquired_at, T0);
    assert_eq!(lease.fqdn_sent.as_deref(), Some("amtdev01.amt.test."));
    assert_eq!(lease.ack.message_type(), Some(MessageType::Ack));
    let offer = lease.offer.as_ref().unwrap();
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(sim.client.offer(), Some(offer));
    assert_eq!(sim.client.lease(), Some(lease));
    assert_eq!(lease.renew_at(), Some(T0 + secs(1800)));
    assert_eq!(lease.rebind_at(), Some(T0 + secs(3150)));
    assert_eq!(lease.expires_at(), Some(T0 + secs(3600)));
    assert_eq!(sim.client.next_deadline(), Some(T0 + secs(1800)));
}

#[test]
fn renewal_at_t1_is_unicast_and_renews_the_lease() {
    let mut sim = bound(TestServer::default());
    assert!(sim.run_until(T0 + secs(1799)).is_empty());
    let events = sim.run_until(T0 + secs(1800));
    assert_eq!(events.len(), 2, "{events:?}");
    let (at, Event::Transmit(request)) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(*at, T0 + secs(1800));
    assert_eq!(request.to, Destination::Unicast(SERVER_ID));
    let m = &request.message;
    assert_eq!(m.message_type(), Some(MessageType::Request));
    assert_eq!(m.ciaddr, ADDRESS);
    assert!(!m.broadcast);
    assert_eq!(m.options.codes(), vec![53, 12, 81, 55]);
    assert_eq!(m.requested_address(), None);
    assert_eq!(m.server_id(), None);
    assert_eq!(m.client_fqdn().unwrap().name, "amtdev01.amt.test.");
    assert_eq!(
        m.parameter_request_list(),
        Some(&ME_PARAMETER_REQUEST_LIST[..])
    );

    let (_, Event::Renewed(lease)) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(lease.address, ADDRESS);
    assert_eq!(lease.acquired_at, T0 + secs(1800));
    assert_eq!(lease.offer, None);
    assert_eq!(sim.client.state(), StateKind::Bound);
    assert_eq!(sim.client.next_deadline(), Some(T0 + secs(3600)));
}

#[test]
fn unanswered_renewal_retransmits_at_half_the_time_to_t2_then_rebinds() {
    let mut sim = bound(TestServer {
        answer_unicast: false,
        ..TestServer::default()
    });
    let events = sim.run_until(T0 + secs(3150));
    let sent = transmits(&events);
    // RENEWING from T1 = 1800 s: wait half the time left until T2 = 3150 s, at least 60 s
    // (the last wait would be 42 s: 60 s it is).
    let expected_ms = [
        1_800_000, 2_475_000, 2_812_500, 2_981_250, 3_065_625, 3_125_625,
    ];
    assert_eq!(sent.len(), expected_ms.len() + 1, "{sent:?}");
    for ((at, t), ms) in sent.iter().zip(expected_ms) {
        assert_within(
            *at,
            T0 + Duration::from_millis(ms),
            Duration::from_millis(1),
        );
        assert_eq!(t.to, Destination::Unicast(SERVER_ID));
        assert_eq!(t.message.xid, sent[0].1.message.xid);
    }
    // T2: one broadcast REQUEST, fresh xid, ciaddr set, no 50/54; the server answers it.
    let (at, rebind) = sent.last().unwrap();
    assert_eq!(*at, T0 + secs(3150));
    assert_eq!(rebind.to, Destination::Broadcast);
    assert_ne!(rebind.message.xid, sent[0].1.message.xid);
    assert_eq!(rebind.message.ciaddr, ADDRESS);
    assert!(!rebind.message.broadcast);
    assert_eq!(rebind.message.options.codes(), vec![53, 12, 81, 55]);
    let (_, Event::Renewed(lease)) = events.last().unwrap() else {
        panic!("{events:?}")
    };
    assert_eq!(lease.acquired_at, T0 + secs(3150));
    assert_eq!(lease.address, ADDRESS);
}

#[test]
fn unanswered_lease_expires_then_the_client_rediscovers() {
    let mut sim = bound(TestServer::default());
    sim.server.answer_unicast = false;
    sim.server.answer_broadcast = false;
    let events = sim.run_until(T0 + secs(3599));
    assert!(events.iter().all(|(_, e)| matches!(e, Event::Transmit(_))));
    let rebinding: Vec<_> = transmits(&events)
        .into_iter()
        .filter(|(_, t)| t.to == Destination::Broadcast)
        .map(|(at, _)| at)
        .collect();
    // REBINDING from T2 = 3150 s: half the time left until expiry (3600 s), at least 60 s.
    assert_eq!(
        rebinding,
        [3_150_000, 3_375_000, 3_487_500, 3_547_500]
            .map(|ms| T0 + Duration::from_millis(ms))
            .to_vec()
    );
    assert_eq!(sim.client.state(), StateKind::Rebinding);
    assert_eq!(sim.client.next_deadline(), Some(T0 + secs(3600)));

    let events = sim.run_until(T0 + secs(3600));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0],
        (T0 + secs(3600), Event::Lost(LostReason::Expired))
    );
    let (_, Event::Transmit(discover)) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(discover.message.message_type(), Some(MessageType::Discover));
    assert_eq!(discover.to, Destination::Broadcast);
    assert_eq!(sim.client.state(), StateKind::Selecting);
    assert_eq!(sim.client.lease(), None);
}

#[test]
fn late_poll_goes_straight_to_rebinding() {
    let mut sim = bound(TestServer::default());
    sim.server.answer_broadcast = false;
    sim.now = T0 + secs(3200);
    let events = sim.settle();
    assert_eq!(events.len(), 1, "{events:?}");
    let Event::Transmit(t) = &events[0] else {
        panic!()
    };
    assert_eq!(t.to, Destination::Broadcast);
    assert_eq!(sim.client.state(), StateKind::Rebinding);
}

#[test]
fn nak_in_requesting_loses_and_restarts_with_a_new_discover() {
    let mut sim = started(
        TestServer {
            nak: true,
            ..TestServer::default()
        },
        7,
    );
    let events = sim.settle();
    assert_eq!(events.len(), 3, "{events:?}");
    let Event::Transmit(first) = &events[0] else {
        panic!()
    };
    assert_eq!(
        events[2],
        Event::Lost(LostReason::Nak {
            message: Some("address not available".into())
        })
    );
    assert_eq!(sim.client.state(), StateKind::Init);
    let restart = sim.client.next_deadline().unwrap();
    assert_within(
        restart,
        T0 + Duration::from_millis(1500),
        Duration::from_millis(500),
    );

    sim.server.nak = false;
    let events = sim.run_until(T0 + secs(2));
    let (at, Event::Transmit(again)) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(*at, restart);
    assert_eq!(again.message.message_type(), Some(MessageType::Discover));
    assert_ne!(again.message.xid, first.message.xid);
    assert!(matches!(events.last(), Some((_, Event::Bound(_)))));
}

#[test]
fn repeated_naks_double_the_restart_delay() {
    let mut sim = started(
        TestServer {
            nak: true,
            ..TestServer::default()
        },
        8,
    );
    let events = sim.run_until(T0 + secs(200));
    let discovers: Vec<Duration> = transmits(&events)
        .into_iter()
        .filter(|(_, t)| t.message.message_type() == Some(MessageType::Discover))
        .map(|(at, _)| at)
        .collect();
    // 1–2, 2–3, 4–5, 8–9, 16–17, 32–33, 64–65, 64–65 s between attempts.
    for (pair, base) in discovers.windows(2).zip([1, 2, 4, 8, 16, 32, 64, 64]) {
        assert_within(
            pair[1] - pair[0],
            Duration::from_millis(base * 1000 + 500),
            Duration::from_millis(500),
        );
    }
    assert!(discovers.len() >= 8, "{discovers:?}");
}

#[test]
fn nak_in_renewing_drops_the_lease() {
    let mut sim = bound(TestServer::default());
    sim.server.nak = true;
    let events = sim.run_until(T0 + secs(1800));
    assert!(
        matches!(events[1].1, Event::Lost(LostReason::Nak { .. })),
        "{events:?}"
    );
    assert_eq!(sim.client.lease(), None);
    assert_eq!(sim.client.state(), StateKind::Init);
}

#[test]
fn discover_retransmissions_back_off_4_8_16_32_64_then_stay_at_64() {
    for seed in [1, 2, 3, 99] {
        let mut sim = started(
            TestServer {
                answer_broadcast: false,
                ..TestServer::default()
            },
            seed,
        );
        let sent = transmits(&sim.run_until(T0 + secs(300)));
        let times: Vec<Duration> = sent.iter().map(|(t, _)| *t).collect();
        assert_eq!(times[0], T0);
        for (i, base) in [4, 8, 16, 32, 64, 64].into_iter().enumerate() {
            assert_within(times[i + 1] - times[i], secs(base), secs(1));
        }
        let xid = sent[0].1.message.xid;
        assert!(sent.iter().all(|(_, t)| t.message.xid == xid));
        // secs counts from the first DISCOVER.
        let last = &sent[6];
        assert_eq!(u64::from(last.1.message.secs), (last.0 - T0).as_secs());
    }
}

#[test]
fn jitter_differs_between_seeds() {
    let times = |seed| {
        let mut sim = started(
            TestServer {
                answer_broadcast: false,
                ..TestServer::default()
            },
            seed,
        );
        transmits(&sim.run_until(T0 + secs(100)))
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>()
    };
    assert_ne!(times(1), times(2));
    assert_eq!(times(5), times(5));
}

#[test]
fn requesting_gives_up_after_four_retransmissions() {
    let mut sim = started(
        TestServer {
            offer_only: true,
            ..TestServer::default()
        },
        11,
    );
    let sent = transmits(&sim.run_until(T0 + secs(200)));
    let types: Vec<_> = sent
        .iter()
        .map(|(_, t)| t.message.message_type().unwrap())
        .collect();
    use MessageType::{Discover, Request};
    assert_eq!(
        &types[..7],
        &[Discover, Request, Request, Request, Request, Request, Discover]
    );
    for (i, base) in [4, 8, 16, 32, 64].into_iter().enumerate() {
        assert_within(sent[i + 2].0 - sent[i + 1].0, secs(base), secs(1));
    }
    assert_ne!(sent[6].1.message.xid, sent[0].1.message.xid);
}

#[test]
fn replies_for_others_are_ignored() {
    let mut client = Client::new(me_config(), 5);
    client.start(T0);
    let Some(Event::Transmit(discover)) = client.poll(T0) else {
        panic!()
    };
    let xid = discover.message.xid;
    let offer = |xid: u32, chaddr: [u8; 6], op: Op, t: MessageType| {
        let mut m = Message::new(op, xid, chaddr);
        m.yiaddr = ADDRESS;
        m.options.push(DhcpOption::message_type(t));
        m.options
            .push(DhcpOption::address(code::SERVER_ID, SERVER_ID));
        m.options.push(DhcpOption::u32(code::LEASE_TIME, 60));
        m.encode()
    };
    let other_mac = [0x00, 0x16, 0x3e, 0x5a, 0x01, 0x03];
    assert_eq!(
        client.handle(T0, &offer(xid ^ 1, MAC, Op::BootReply, MessageType::Offer)),
        Err(Ignored::WrongXid {
            expected: xid,
            got: xid ^ 1
        })
    );
    assert_eq!(
        client.handle(
            T0,
            &offer(xid, other_mac, Op::BootReply, MessageType::Offer)
        ),
        Err(Ignored::WrongChaddr { got: other_mac })
    );
    assert_eq!(
        client.handle(T0, &offer(xid, MAC, Op::BootRequest, MessageType::Offer)),
        Err(Ignored::NotReply)
    );
    assert_eq!(
        client.handle(T0, &offer(xid, MAC, Op::BootReply, MessageType::Ack)),
        Err(Ignored::UnexpectedType {
            state: StateKind::Selecting,
            message_type: MessageType::Ack
        })
    );
    assert!(matches!(
        client.handle(T0, &[0u8; 100]),
        Err(Ignored::Undecodable(_))
    ));
    assert_eq!(client.state(), StateKind::Selecting);
    assert!(client.poll(T0).is_none());

    // The right one moves on; a second OFFER is then unexpected.
    client
        .handle(T0, &offer(xid, MAC, Op::BootReply, MessageType::Offer))
        .unwrap();
    assert_eq!(client.state(), StateKind::Requesting);
    assert_eq!(
        client.handle(T0, &offer(xid, MAC, Op::BootReply, MessageType::Offer)),
        Err(Ignored::UnexpectedType {
            state: StateKind::Requesting,
            message_type: MessageType::Offer
        })
    );
    // An ACK from a server the client did not select.
    let mut foreign = Message::decode(&offer(xid, MAC, Op::BootReply, MessageType::Ack)).unwrap();
    foreign.options.set(DhcpOption::address(
        code::SERVER_ID,
        Ipv4Addr::new(10, 9, 9, 9),
    ));
    assert_eq!(
        client.handle(T0, &foreign.encode()),
        Err(Ignored::WrongServer {
            expected: SERVER_ID,
            got: Ipv4Addr::new(10, 9, 9, 9)
        })
    );
    let mut no_lease_time =
        Message::decode(&offer(xid, MAC, Op::BootReply, MessageType::Ack)).unwrap();
    no_lease_time.options.remove(code::LEASE_TIME);
    assert_eq!(
        client.handle(T0, &no_lease_time.encode()),
        Err(Ignored::MissingLeaseTime)
    );
    let mut zero_lease =
        Message::decode(&offer(xid, MAC, Op::BootReply, MessageType::Ack)).unwrap();
    zero_lease.options.set(DhcpOption::u32(code::LEASE_TIME, 0));
    assert_eq!(
        client.handle(T0, &zero_lease.encode()),
        Err(Ignored::MissingLeaseTime)
    );
    assert_eq!(client.state(), StateKind::Requesting);
    client
        .handle(T0, &offer(xid, MAC, Op::BootReply, MessageType::Ack))
        .unwrap();
    assert_eq!(client.state(), StateKind::Bound);
    assert_eq!(
        client.handle(T0, &offer(xid, MAC, Op::BootReply, MessageType::Ack)),
        Err(Ignored::NotWaiting {
            state: StateKind::Bound
        })
    );
}

#[test]
fn release_sends_the_rfc_shape_and_stops() {
    let mut sim = bound(TestServer::default());
    let t = sim.client.release(T0 + secs(10)).unwrap();
    assert_eq!(t.to, Destination::Unicast(SERVER_ID));
    let xid = t.message.xid.to_be_bytes();
    let expected = [
        format!("01010600{}", hex::encode(xid)),
        "0000 0000".into(), // secs, flags (no BROADCAST)
        "0a000032".into(),  // ciaddr = the leased address
        "00".repeat(12),    // yiaddr, siaddr, giaddr
        hex::encode(MAC),
        "00".repeat(10 + 64 + 128),
        "63825363".into(),
        "350107".into(),        // 53 DHCPRELEASE
        "3604 0a000001".into(), // 54 server id
        "ff".into(),
        "00".repeat(300 - 240 - 10),
    ]
    .join("")
    .replace(' ', "");
    assert_eq!(hex::encode(&t.bytes), expected);
    assert_eq!(sim.client.state(), StateKind::Stopped);
    assert_eq!(sim.client.next_deadline(), None);
    assert!(sim.client.poll(T0 + secs(10_000)).is_none());
    assert!(sim.client.release(T0 + secs(11)).is_none());
    // The server frees the address when it gets the RELEASE.
    sim.server.reply(sim.now, &t);
    assert!(sim.server.leases.is_empty());
    // Started again, the client runs a fresh DORA.
    sim.client.start(T0 + secs(20));
    sim.now = T0 + secs(20);
    assert!(matches!(sim.settle().last(), Some(Event::Bound(_))));
}

#[test]
fn infinite_lease_never_renews() {
    let mut sim = bound(TestServer {
        lease_secs: 0xffff_ffff,
        ..TestServer::default()
    });
    let lease = sim.client.lease().unwrap().clone();
    assert!(lease.is_infinite());
    assert_eq!((lease.renew_at(), lease.expires_at()), (None, None));
    assert_eq!(sim.client.next_deadline(), None);
    sim.now = Duration::from_secs(u64::from(u32::MAX) * 10);
    assert!(sim.settle().is_empty());
    assert_eq!(sim.client.state(), StateKind::Bound);
}

#[test]
fn server_t1_and_t2_are_honoured() {
    let mut sim = bound(TestServer {
        t1: Some(600),
        t2: Some(1200),
        ..TestServer::default()
    });
    assert_eq!(sim.client.next_deadline(), Some(T0 + secs(600)));
    let events = sim.run_until(T0 + secs(600));
    assert!(matches!(events.last(), Some((_, Event::Renewed(_)))));
}

#[test]
fn short_lease_with_low_minimum_retransmit_cycles_many_times() {
    let mut config = me_config();
    config.min_retransmit = Duration::from_millis(500);
    let mut sim = Sim::new(
        Client::new(config, 3),
        TestServer {
            lease_secs: 10,
            ..TestServer::default()
        },
    );
    sim.client.start(T0);
    let events = sim.run_until(T0 + secs(100));
    let renewed = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Renewed(_)))
        .count();
    // Renewed at T1 (5 s) of every 10 s lease, counted from the previous renewal.
    assert_eq!(renewed, 20, "{events:?}");
    assert_eq!(sim.client.lease().unwrap().address, ADDRESS);
}
