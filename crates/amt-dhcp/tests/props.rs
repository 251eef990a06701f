//! Property tests: the decoder never panics, and encode/decode round-trip.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use amt_dhcp::message::{
    code, ClientFqdn, DhcpOption, FqdnFlags, Message, Op, Options, MAGIC_COOKIE,
};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

/// A byte field as decode returns it: no trailing zeros.
fn field(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(|mut v| {
        while v.last() == Some(&0) {
            v.pop();
        }
        v
    })
}

/// Options as decode returns them: one entry per code, no framing codes.
fn options() -> impl Strategy<Value = Options> {
    prop::collection::btree_map(
        (1u8..=254).prop_filter("framing code", |c| *c != code::OVERLOAD),
        prop::collection::vec(any::<u8>(), 0..400),
        0..8,
    )
    .prop_flat_map(|map: BTreeMap<u8, Vec<u8>>| {
        let entries: Vec<(u8, Vec<u8>)> = map.into_iter().collect();
        Just(entries).prop_shuffle()
    })
    .prop_map(|entries| {
        entries
            .into_iter()
            .map(|(code, data)| DhcpOption::new(code, data))
            .collect()
    })
}

prop_compose! {
    fn message()(
        op in prop_oneof![Just(Op::BootRequest), Just(Op::BootReply)],
        htype in any::<u8>(),
        hops in any::<u8>(),
        xid in any::<u32>(),
        secs in any::<u16>(),
        broadcast in any::<bool>(),
        addrs in [addr(), addr(), addr(), addr()],
        chaddr in any::<[u8; 6]>(),
        sname in field(64),
        file in field(128),
        options in options(),
    ) -> Message {
        let [ciaddr, yiaddr, siaddr, giaddr] = addrs;
        Message { op, htype, hops, xid, secs, broadcast, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file, options }
    }
}

/// A plausible header followed by arbitrary option bytes, to get past the cookie check.
fn with_valid_header() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec(any::<u8>(), 192),
        any::<bool>(),
    )
        .prop_map(|(tail, sname_file, overload)| {
            let mut bytes = Message::new(Op::BootReply, 1, [1, 2, 3, 4, 5, 6]).encode();
            bytes.truncate(236);
            bytes[44..236].copy_from_slice(&sname_file);
            bytes.extend_from_slice(&MAGIC_COOKIE);
            if overload {
                bytes.extend_from_slice(&[code::OVERLOAD, 1, 3]);
            }
            bytes.extend_from_slice(&tail);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..5000)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_past_a_valid_header(bytes in with_valid_header()) {
        if let Ok(m) = Message::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same message.
            prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m.clone());
            let _ = (m.message_type(), m.domain_name(), m.host_name(), m.client_fqdn(),
                     m.routers(), m.lease_time(), m.server_message(), m.max_message_size());
        }
    }

    #[test]
    fn decode_of_encode_is_identity(m in message()) {
        let bytes = m.encode();
        prop_assert!(bytes.len() >= 300);
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn fqdn_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(f) = ClientFqdn::decode(&bytes) {
            // Reserved flag bits and ASCII trailing NULs are not kept; the rest is.
            prop_assert_eq!(ClientFqdn::decode(&f.encode().unwrap()).unwrap(), f);
        }
    }

    #[test]
    fn fqdn_round_trips(
        labels in prop::collection::vec("[a-zA-Z0-9_-]{1,63}", 0..4),
        fully in any::<bool>(),
        flags in 0u8..16,
        rcode1 in any::<u8>(),
        rcode2 in any::<u8>(),
    ) {
        let mut name = labels.join(".");
        if fully {
            name.push('.');
        }
        let f = ClientFqdn { flags: FqdnFlags::from_byte(flags), rcode1, rcode2, name };
        let bytes = f.encode().unwrap();
        prop_assert_eq!(ClientFqdn::decode(&bytes).unwrap(), f);
    }
}
