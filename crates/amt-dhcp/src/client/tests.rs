//! Message-shape tests (what the ME puts on the wire). The state machine is driven end to end
//! against a test server in `tests/client.rs`.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::message::{ClientFqdn, DhcpOption, FqdnFlags};

const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const T0: Duration = Duration::from_secs(100);

fn transmit(client: &mut Client, now: Duration) -> Transmit {
    match client.poll(now) {
        Some(Event::Transmit(t)) => t,
        other => panic!("expected a transmit, got {other:?}"),
    }
}

fn offer(xid: u32, domain: Option<&str>) -> Message {
    let mut m = Message::new(Op::BootReply, xid, MAC);
    m.yiaddr = Ipv4Addr::new(10, 0, 0, 50);
    m.options.push(DhcpOption::message_type(MessageType::Offer));
    m.options.push(DhcpOption::address(code::SERVER_ID, SERVER));
    m.options.push(DhcpOption::u32(code::LEASE_TIME, 3600));
    if let Some(d) = domain {
        m.options.push(DhcpOption::new(code::DOMAIN_NAME, d));
    }
    m
}

/// Runs DISCOVER → OFFER and returns the REQUEST.
fn request_after_offer(config: ClientConfig, domain: Option<&str>) -> Message {
    let mut client = Client::new(config, 1);
    client.start(T0);
    let discover = transmit(&mut client, T0);
    client
        .handle(T0, &offer(discover.message.xid, domain).encode())
        .unwrap();
    let request = transmit(&mut client, T0);
    assert_eq!(request.to, Destination::Broadcast);
    Message::decode(&request.bytes).unwrap()
}

fn fqdn_wire(name: &str) -> Vec<u8> {
    let mut v = vec![FqdnFlags::S | FqdnFlags::E, 0, 0];
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

#[test]
fn discover_carries_exactly_the_me_list_and_host_name() {
    let mut client = Client::new(ClientConfig::me(MAC, Some("amtdev01".into()), None), 9);
    client.start(T0);
    assert_eq!(client.state(), StateKind::Selecting);
    let t = transmit(&mut client, T0);
    assert_eq!(t.to, Destination::Broadcast);
    let m = Message::decode(&t.bytes).unwrap();
    assert_eq!(m, t.message);
    assert_eq!(m.op, Op::BootRequest);
    assert!(m.broadcast);
    assert_eq!(m.chaddr, MAC);
    assert_eq!(m.message_type(), Some(MessageType::Discover));
    assert_eq!(
        m.parameter_request_list(),
        Some(&[6, 3, 1, 15, 66, 67, 13, 44][..])
    );
    assert_eq!(m.host_name().as_deref(), Some("amtdev01"));
    assert_eq!(m.options.codes(), vec![53, 12, 55]);
    assert!(client.poll(T0).is_none());
}

#[test]
fn discover_without_host_name_has_no_option_12() {
    let mut client = Client::new(ClientConfig::me(MAC, None, None), 9);
    client.start(T0);
    let m = transmit(&mut client, T0).message;
    assert_eq!(m.options.codes(), vec![53, 55]);
}

#[test]
fn client_id_follows_message_type_when_configured() {
    let mut config = ClientConfig::me(MAC, Some("h".into()), None);
    config.client_id = Some(vec![1, 0, 0x16, 0x3e, 0xaa, 0xbb, 0xcc]);
    let mut client = Client::new(config.clone(), 9);
    client.start(T0);
    assert_eq!(
        transmit(&mut client, T0).message.options.codes(),
        vec![53, 61, 12, 55]
    );
    let request = request_after_offer(config, Some("amt.test"));
    assert_eq!(request.options.codes(), vec![53, 61, 50, 54, 12, 81, 55]);
}

#[test]
fn request_has_50_54_and_fqdn_built_from_offer_domain() {
    let m = request_after_offer(
        ClientConfig::me(MAC, Some("amtdev01".into()), None),
        Some("amt.test"),
    );
    assert_eq!(m.message_type(), Some(MessageType::Request));
    assert_eq!(m.options.codes(), vec![53, 50, 54, 12, 81, 55]);
    assert_eq!(m.requested_address(), Some(Ipv4Addr::new(10, 0, 0, 50)));
    assert_eq!(m.server_id(), Some(SERVER));
    assert!(m.ciaddr.is_unspecified());
    assert!(m.broadcast);
    assert_eq!(
        m.options.get(code::CLIENT_FQDN),
        Some(&fqdn_wire("amtdev01.amt.test")[..])
    );
    let fqdn = m.client_fqdn().unwrap();
    assert!(fqdn.flags.e && fqdn.flags.s && !fqdn.flags.o && !fqdn.flags.n);
    assert_eq!(fqdn.name, "amtdev01.amt.test.");
    assert_eq!(
        m.parameter_request_list(),
        Some(&ME_PARAMETER_REQUEST_LIST[..])
    );
}

#[test]
fn configured_fqdn_outside_the_dhcp_domain_is_sent_verbatim() {
    let m = request_after_offer(
        ClientConfig::me(
            MAC,
            Some("amtdev01".into()),
            Some("vpro-7.corp.example".into()),
        ),
        Some("amt.test"),
    );
    assert_eq!(
        m.options.get(code::CLIENT_FQDN),
        Some(&fqdn_wire("vpro-7.corp.example")[..])
    );
    // Option 12 still carries the host name.
    assert_eq!(m.host_name().as_deref(), Some("amtdev01"));
}

#[test]
fn host_name_without_offered_domain_is_sent_as_partial_name() {
    let m = request_after_offer(ClientConfig::me(MAC, Some("amtdev01".into()), None), None);
    assert_eq!(
        m.options.get(code::CLIENT_FQDN),
        Some(&b"\x05\x00\x00\x08amtdev01"[..])
    );
    assert_eq!(
        m.client_fqdn(),
        Some(ClientFqdn::server_updates("amtdev01"))
    );
}

#[test]
fn no_host_name_and_no_fqdn_means_no_option_81() {
    let m = request_after_offer(ClientConfig::me(MAC, None, None), Some("amt.test"));
    assert_eq!(m.options.codes(), vec![53, 50, 54, 55]);
}

#[test]
fn invalid_configured_name_is_reported_and_omitted() {
    let config = ClientConfig::me(MAC, Some("bad name".into()), None);
    assert!(config.validate().is_err());
    assert!(
        ClientConfig::me(MAC, Some("ok".into()), Some("a.b.".into()))
            .validate()
            .is_ok()
    );
    let m = request_after_offer(config, Some("amt.test"));
    assert!(!m.options.contains(code::CLIENT_FQDN));
}

#[test]
fn fqdn_for_follows_the_spec_rules() {
    let c = ClientConfig::me(MAC, Some("h".into()), None);
    assert_eq!(c.fqdn_for(Some("d.test.")).as_deref(), Some("h.d.test."));
    assert_eq!(c.fqdn_for(None).as_deref(), Some("h"));
    let c = ClientConfig::me(MAC, Some("h".into()), Some("x.y".into()));
    assert_eq!(c.fqdn_for(Some("d.test")).as_deref(), Some("x.y."));
    assert_eq!(ClientConfig::me(MAC, None, None).fqdn_for(Some("d")), None);
}

#[test]
fn offers_without_address_or_server_id_are_ignored() {
    let mut client = Client::new(ClientConfig::me(MAC, None, None), 3);
    client.start(T0);
    let xid = transmit(&mut client, T0).message.xid;
    let mut o = offer(xid, None);
    o.yiaddr = Ipv4Addr::UNSPECIFIED;
    assert_eq!(client.handle(T0, &o.encode()), Err(Ignored::NoAddress));
    let mut o = offer(xid, None);
    o.options.remove(code::SERVER_ID);
    assert_eq!(
        client.handle(T0, &o.encode()),
        Err(Ignored::MissingServerId)
    );
    assert_eq!(client.state(), StateKind::Selecting);
    assert_eq!(
        client
            .handle(T0, b"junk")
            .map_err(|e| matches!(e, Ignored::Undecodable(_))),
        Err(true)
    );
}

#[test]
fn ignored_reasons_display() {
    assert_eq!(
        Ignored::WrongXid {
            expected: 1,
            got: 2
        }
        .to_string(),
        "xid 0x00000002, expected 0x00000001"
    );
}
