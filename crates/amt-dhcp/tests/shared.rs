//! One lease shared by the ME and the host OS (SPEC D2), on a virtual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;

use amt_dhcp::client::{ClientConfig, Destination, Event, StateKind, ME_PARAMETER_REQUEST_LIST};
use amt_dhcp::message::MessageType;
use amt_dhcp::shared::{LeaseHolder, SharedEvent, SharedLease, HOST_OS_PARAMETER_REQUEST_LIST};
use common::{secs, Sim, TestServer, MAC, SERVER_ID, T0};

const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

fn pair() -> Sim<SharedLease> {
    let me = ClientConfig::me(MAC, Some("amtdev01".into()), None);
    Sim::new(SharedLease::new(me, 77), TestServer::default())
}

fn transmits(events: &[(std::time::Duration, SharedEvent)]) -> Vec<SharedEvent> {
    events
        .iter()
        .filter(|(_, e)| matches!(e.event, Event::Transmit(_)))
        .map(|(_, e)| e.clone())
        .collect()
}

fn message(e: &SharedEvent) -> &amt_dhcp::message::Message {
    match &e.event {
        Event::Transmit(t) => &t.message,
        other => panic!("not a transmit: {other:?}"),
    }
}

#[test]
fn with_the_os_running_the_os_does_dhcp_and_the_me_uses_its_address() {
    let mut sim = pair();
    sim.client.os_started(T0, Some("DESKTOP-7".into()));
    assert_eq!(sim.client.holder(), LeaseHolder::HostOs);
    let events = sim.settle();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| e.holder == LeaseHolder::HostOs));
    for e in &events[..2] {
        let m = message(e);
        assert_eq!(
            m.parameter_request_list(),
            Some(&HOST_OS_PARAMETER_REQUEST_LIST[..])
        );
        assert_eq!(m.host_name().as_deref(), Some("DESKTOP-7"));
        assert_eq!(m.chaddr, MAC);
    }
    assert_eq!(
        message(&events[1]).client_fqdn().unwrap().name,
        "DESKTOP-7.amt.test."
    );
    assert!(matches!(events[2].event, Event::Bound(_)));
    assert_eq!(sim.client.address(), Some(ADDRESS));
    // The ME itself sends nothing while the OS holds the lease.
    assert!(sim.run_until(T0 + secs(1799)).is_empty());
}

#[test]
fn when_the_os_stops_the_me_renews_the_same_lease_with_its_own_list() {
    let mut sim = pair();
    sim.client.os_started(T0, Some("DESKTOP-7".into()));
    sim.settle();
    let lease = sim.client.lease().unwrap().clone();

    // The OS shuts down: no traffic, the ME keeps the lease as it is.
    sim.now = T0 + secs(600);
    sim.client.os_stopped(sim.now);
    assert_eq!(sim.client.holder(), LeaseHolder::Me);
    assert_eq!(sim.client.state(), StateKind::Bound);
    assert!(sim.settle().is_empty());
    assert_eq!(sim.client.lease(), Some(&lease));
    assert_eq!(sim.client.next_deadline(), lease.renew_at());

    // At T1 the ME renews it itself.
    let events = sim.run_until(T0 + secs(1800));
    assert_eq!(events.len(), 2, "{events:?}");
    let request = &events[0].1;
    assert_eq!(request.holder, LeaseHolder::Me);
    let Event::Transmit(t) = &request.event else {
        panic!()
    };
    assert_eq!(t.to, Destination::Unicast(SERVER_ID));
    assert_eq!(t.message.message_type(), Some(MessageType::Request));
    assert_eq!(t.message.ciaddr, ADDRESS);
    assert_eq!(t.message.chaddr, MAC);
    assert_eq!(
        t.message.parameter_request_list(),
        Some(&ME_PARAMETER_REQUEST_LIST[..])
    );
    assert_eq!(t.message.host_name().as_deref(), Some("amtdev01"));
    assert_eq!(t.message.client_fqdn().unwrap().name, "amtdev01.amt.test.");
    let Event::Renewed(renewed) = &events[1].1.event else {
        panic!()
    };
    assert_eq!(events[1].1.holder, LeaseHolder::Me);
    assert_eq!(renewed.address, ADDRESS);

    // The OS comes back and takes the lease back: its list from the next renewal on.
    sim.client.os_started(sim.now, Some("DESKTOP-7".into()));
    assert_eq!(sim.client.holder(), LeaseHolder::HostOs);
    let events = sim.run_until(T0 + secs(1800 + 1800));
    let sent = transmits(&events);
    assert_eq!(sent.len(), 1, "{events:?}");
    assert_eq!(sent[0].holder, LeaseHolder::HostOs);
    assert_eq!(
        message(&sent[0]).parameter_request_list(),
        Some(&HOST_OS_PARAMETER_REQUEST_LIST[..])
    );

    // One client on the wire throughout: one chaddr, one lease at the server.
    assert!(sim
        .server
        .received
        .iter()
        .all(|(_, t)| t.message.chaddr == MAC));
    assert_eq!(sim.server.leases.len(), 1);
    assert_eq!(sim.client.address(), Some(ADDRESS));
}

#[test]
fn with_no_os_the_me_holds_the_lease_alone() {
    let mut sim = pair();
    sim.client.start(T0);
    let events = sim.settle();
    assert!(events.iter().all(|e| e.holder == LeaseHolder::Me));
    assert_eq!(
        message(&events[0]).parameter_request_list(),
        Some(&ME_PARAMETER_REQUEST_LIST[..])
    );
    assert_eq!(sim.client.address(), Some(ADDRESS));
    // The OS boots later and uses the same lease without a new exchange.
    sim.now = T0 + secs(10);
    sim.client.os_started(sim.now, None);
    assert!(sim.settle().is_empty());
    assert_eq!(sim.client.address(), Some(ADDRESS));
}

#[test]
fn events_queued_before_a_handover_keep_their_sender() {
    let mut sim = pair();
    sim.client.os_started(T0, Some("DESKTOP-7".into()));
    // The OS queued its DISCOVER; the OS stops before it went out.
    sim.client.os_stopped(T0);
    let events = sim.settle();
    assert_eq!(events[0].holder, LeaseHolder::HostOs);
    assert_eq!(
        message(&events[0]).parameter_request_list(),
        Some(&HOST_OS_PARAMETER_REQUEST_LIST[..])
    );
    // The exchange goes on with the ME's identity.
    assert_eq!(events[1].holder, LeaseHolder::Me);
    assert_eq!(
        message(&events[1]).parameter_request_list(),
        Some(&ME_PARAMETER_REQUEST_LIST[..])
    );
    assert!(matches!(events[2].event, Event::Bound(_)));
    assert_eq!(
        sim.client.me_config().host_name.as_deref(),
        Some("amtdev01")
    );
    assert_eq!(
        sim.client.client().config().host_name.as_deref(),
        Some("amtdev01")
    );
}

#[test]
fn release_by_the_holder_stops_the_shared_client() {
    let mut sim = pair();
    sim.client.start(T0);
    sim.settle();
    let t = sim.client.release(T0 + secs(5)).unwrap();
    assert_eq!(t.message.message_type(), Some(MessageType::Release));
    assert_eq!(sim.client.state(), StateKind::Stopped);
    assert_eq!(sim.client.address(), None);
    // The OS boots and starts from scratch.
    sim.now = T0 + secs(6);
    sim.client.os_started(sim.now, Some("DESKTOP-7".into()));
    let events = sim.settle();
    assert_eq!(
        message(&events[0]).message_type(),
        Some(MessageType::Discover)
    );
    assert_eq!(events[0].holder, LeaseHolder::HostOs);
}
