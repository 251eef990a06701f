//! Fuzz target for the DHCPv4 decoder in `amt_dhcp::message` (and the client that reads it).
//!
//! Feeds arbitrary bytes to `Message::decode`: nothing may panic, and whatever decodes
//! re-encodes to a datagram that decodes to the same message (the encoding is not byte-exact:
//! padding, option splitting and overload are normalised). Every typed accessor is read, and
//! the datagram is also fed to a client waiting for an OFFER and to one waiting for an ACK.
#![no_main]

use std::time::Duration;

use amt_dhcp::client::{Client, ClientConfig, Event};
use amt_dhcp::message::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("a decoded message re-encodes");
        assert_eq!(again, m, "decode/encode/decode round trip");
        let _ = (
            m.message_type(),
            m.subnet_mask(),
            m.routers(),
            m.dns_servers(),
            m.domain_name(),
            m.host_name(),
            m.lease_time(),
            m.renewal_time(),
            m.rebinding_time(),
            m.server_id(),
            m.requested_address(),
            m.parameter_request_list(),
            m.client_fqdn(),
            m.max_message_size(),
            m.server_message(),
        );
        if let Some(fqdn) = m.client_fqdn() {
            let bytes = fqdn.encode().expect("a decoded FQDN re-encodes");
            assert_eq!(
                amt_dhcp::message::ClientFqdn::decode(&bytes).ok(),
                Some(fqdn)
            );
        }
    }

    // A client in SELECTING, and one in REQUESTING, take the datagram without panicking.
    let now = Duration::from_secs(10);
    let mut client = Client::new(ClientConfig::me([0; 6], Some("h".into()), None), 1);
    client.start(now);
    while client.poll(now).is_some() {}
    let _ = client.handle(now, data);
    while let Some(event) = client.poll(now) {
        if let Event::Transmit(t) = event {
            let _ = client.handle(now, &t.bytes);
        }
    }
    let _ = client.next_deadline();
});
