#![allow(clippy::unwrap_used)]

use super::*;

const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x11, 0x22, 0x33];

fn zeros(n: usize) -> String {
    "00".repeat(n)
}

/// A DHCPDISCOVER written out field by field from the RFC 2131 §2 layout.
fn discover_hex() -> String {
    [
        "01 01 06 00".to_string(), // op BOOTREQUEST, htype Ethernet, hlen 6, hops 0
        "39 03 f3 26".into(),      // xid
        "00 00 80 00".into(),      // secs 0, flags BROADCAST
        zeros(16),                 // ciaddr, yiaddr, siaddr, giaddr
        "00 16 3e 11 22 33".into(), // chaddr
        zeros(10),                 // chaddr padding to 16 bytes
        zeros(64),                 // sname
        zeros(128),                // file
        "63 82 53 63".into(),      // magic cookie
        "35 01 01".into(),         // 53 DHCPDISCOVER
        "0c 08 61 6d 74 64 65 76 30 31".into(), // 12 "amtdev01"
        "37 08 06 03 01 0f 42 43 0d 2c".into(), // 55 ME list
        "ff".into(),               // end
        zeros(36),                 // pad to 300 bytes
    ]
    .join("")
    .replace(' ', "")
}

fn discover() -> Message {
    let mut m = Message::new(Op::BootRequest, 0x3903_f326, MAC);
    m.broadcast = true;
    m.options
        .push(DhcpOption::message_type(MessageType::Discover));
    m.options.push(DhcpOption::new(code::HOST_NAME, "amtdev01"));
    m.options.push(DhcpOption::new(
        code::PARAMETER_REQUEST_LIST,
        [6, 3, 1, 15, 66, 67, 13, 44],
    ));
    m
}

/// Header + cookie for hand-built datagrams, with `file` and `sname` supplied.
fn datagram(sname: &[u8], file: &[u8], options: &[u8]) -> Vec<u8> {
    let mut m = Message::new(Op::BootReply, 7, MAC);
    m.yiaddr = Ipv4Addr::new(10, 0, 0, 50);
    let mut bytes = m.encode();
    bytes.truncate(MIN_MESSAGE_LEN);
    bytes[SNAME][..sname.len()].copy_from_slice(sname);
    bytes[FILE][..file.len()].copy_from_slice(file);
    bytes.extend_from_slice(options);
    bytes
}

#[test]
fn discover_encodes_to_hand_written_bytes() {
    let bytes = discover().encode();
    assert_eq!(hex::encode(&bytes), discover_hex());
    assert_eq!(bytes.len(), BOOTP_MIN_LEN);
}

#[test]
fn hand_written_discover_decodes() {
    let bytes = hex::decode(discover_hex()).unwrap();
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m, discover());
    assert_eq!(m.message_type(), Some(MessageType::Discover));
    assert_eq!(m.host_name().as_deref(), Some("amtdev01"));
    assert_eq!(
        m.parameter_request_list(),
        Some(&[6, 3, 1, 15, 66, 67, 13, 44][..])
    );
}

#[test]
fn ack_encodes_to_hand_written_bytes() {
    let mut m = Message::new(Op::BootReply, 0x0102_0304, MAC);
    m.yiaddr = Ipv4Addr::new(10, 0, 0, 50);
    m.siaddr = Ipv4Addr::new(10, 0, 0, 1);
    m.sname = b"dhcp1".to_vec();
    m.options.push(DhcpOption::message_type(MessageType::Ack));
    m.options.push(DhcpOption::address(
        code::SERVER_ID,
        Ipv4Addr::new(10, 0, 0, 1),
    ));
    m.options.push(DhcpOption::u32(code::LEASE_TIME, 3600));
    m.options
        .push(DhcpOption::new(code::DOMAIN_NAME, "amt.test"));
    let expected = [
        "02 01 06 00 01 02 03 04 00 00 00 00".to_string(),
        "00 00 00 00 0a 00 00 32 0a 00 00 01 00 00 00 00".into(),
        "00 16 3e 11 22 33".into(),
        zeros(10),
        "64 68 63 70 31".into(), // sname "dhcp1"
        zeros(59),
        zeros(128),
        "63 82 53 63".into(),
        "35 01 05".into(),
        "36 04 0a 00 00 01".into(),
        "33 04 00 00 0e 10".into(),
        "0f 08 61 6d 74 2e 74 65 73 74".into(),
        "ff".into(),
        zeros(300 - 240 - 26),
    ]
    .join("")
    .replace(' ', "");
    assert_eq!(hex::encode(m.encode()), expected);
    let back = Message::decode(&m.encode()).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.lease_time(), Some(3600));
    assert_eq!(back.domain_name().as_deref(), Some("amt.test"));
}

#[test]
fn long_option_is_split_and_concatenated() {
    let data: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
    let mut m = Message::new(Op::BootReply, 1, MAC);
    m.options.push(DhcpOption::new(200, data.clone()));
    m.options.push(DhcpOption::new(code::HOST_NAME, "x"));
    let bytes = m.encode();
    let opts = &bytes[MIN_MESSAGE_LEN..];
    assert_eq!(&opts[..2], &[200, 255]);
    assert_eq!(&opts[257..259], &[200, 255]);
    assert_eq!(&opts[514..516], &[200, 90]);
    assert_eq!(&opts[606..609], &[12, 1, b'x']);
    let back = Message::decode(&bytes).unwrap();
    assert_eq!(back.options.get(200), Some(&data[..]));
    assert_eq!(back.options.codes(), vec![200, 12]);
}

#[test]
fn repeated_instances_are_concatenated_at_the_first_position() {
    let bytes = datagram(
        &[],
        &[],
        &[
            6, 4, 10, 0, 0, 1, // DNS (first part)
            0, 0, // pads
            12, 1, b'a', // host name
            6, 4, 10, 0, 0, 2, // DNS (second part)
            255,
        ],
    );
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.options.codes(), vec![6, 12]);
    assert_eq!(
        m.dns_servers(),
        vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
    );
}

#[test]
fn overload_reads_file_then_sname() {
    let mut file = vec![1, 4, 255, 255, 255, 0]; // subnet mask
    file.extend_from_slice(&[6, 4, 10, 0, 0, 3]); // DNS, second part
    file.extend_from_slice(&[15, 8]);
    file.extend_from_slice(b"amt.test");
    file.push(255);
    let sname = [6, 4, 10, 0, 0, 4, 3, 4, 10, 0, 0, 1, 52, 1, 1, 255];
    let bytes = datagram(&sname, &file, &[53, 1, 5, 6, 4, 10, 0, 0, 2, 52, 1, 3, 255]);
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(m.domain_name().as_deref(), Some("amt.test"));
    assert_eq!(m.routers(), vec![Ipv4Addr::new(10, 0, 0, 1)]);
    // options area, then file, then sname.
    assert_eq!(
        m.dns_servers(),
        [2, 3, 4].map(|d| Ipv4Addr::new(10, 0, 0, d)).to_vec()
    );
    assert!(m.sname.is_empty() && m.file.is_empty());
    assert!(!m.options.contains(code::OVERLOAD));
    assert_eq!(m.options.codes(), vec![53, 6, 1, 15, 3]);
    // Re-encoding puts everything in the options field.
    assert_eq!(Message::decode(&m.encode()).unwrap(), m);
}

#[test]
fn without_overload_file_and_sname_stay_text() {
    let bytes = datagram(b"server", b"pxelinux.0", &[53, 1, 2, 255]);
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.sname, b"server");
    assert_eq!(m.file, b"pxelinux.0");
    assert_eq!(m.options.codes(), vec![53]);
}

#[test]
fn overload_of_file_only_keeps_sname() {
    let bytes = datagram(b"server", &[12, 2, b'h', b'1', 255], &[52, 1, 1, 255]);
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m.sname, b"server");
    assert!(m.file.is_empty());
    assert_eq!(m.host_name().as_deref(), Some("h1"));
}

#[test]
fn malformed_datagrams_are_typed_errors() {
    let good = discover().encode();
    assert_eq!(
        Message::decode(&good[..239]),
        Err(DhcpError::TooShort { len: 239, min: 240 })
    );
    assert_eq!(
        Message::decode(&vec![0; 4097]),
        Err(DhcpError::TooLong {
            len: 4097,
            max: 4096
        })
    );
    let mut bad = good.clone();
    bad[0] = 3;
    assert_eq!(Message::decode(&bad), Err(DhcpError::UnknownOp(3)));
    let mut bad = good.clone();
    bad[2] = 16;
    assert_eq!(
        Message::decode(&bad),
        Err(DhcpError::UnsupportedHardwareLength { htype: 1, hlen: 16 })
    );
    let mut bad = good.clone();
    bad[239] = 0x64;
    assert_eq!(
        Message::decode(&bad),
        Err(DhcpError::BadMagicCookie {
            found: [0x63, 0x82, 0x53, 0x64]
        })
    );
    let truncated = datagram(&[], &[], &[53, 1, 1, 12, 5, b'a']);
    assert_eq!(
        Message::decode(&truncated),
        Err(DhcpError::TruncatedOption {
            code: 12,
            offset: 243
        })
    );
    let no_length = datagram(&[], &[], &[53]);
    assert_eq!(
        Message::decode(&no_length),
        Err(DhcpError::TruncatedOption {
            code: 53,
            offset: 240
        })
    );
    assert_eq!(
        Message::decode(&datagram(&[], &[], &[52, 1, 4, 255])),
        Err(DhcpError::InvalidOverload(4))
    );
    assert_eq!(
        Message::decode(&datagram(&[], &[], &[52, 2, 1, 1, 255])),
        Err(DhcpError::BadOptionLength {
            code: 52,
            len: 2,
            expected: 1
        })
    );
    // A truncated option inside an overloaded field reports its offset in the message.
    assert_eq!(
        Message::decode(&datagram(&[], &[0, 12, 200], &[52, 1, 1, 255])),
        Err(DhcpError::TruncatedOption {
            code: 12,
            offset: 109
        })
    );
}

#[test]
fn missing_end_and_trailing_garbage_after_end_are_tolerated() {
    let m = Message::decode(&datagram(&[], &[], &[53, 1, 2])).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Offer));
    let m = Message::decode(&datagram(&[], &[], &[53, 1, 2, 255, 12, 99])).unwrap();
    assert_eq!(m.options.codes(), vec![53]);
}

#[test]
fn typed_accessors_reject_malformed_values() {
    let mut m = Message::new(Op::BootReply, 1, MAC);
    m.options
        .push(DhcpOption::new(code::ROUTER, [10, 0, 0, 1, 10]));
    m.options
        .push(DhcpOption::new(code::SUBNET_MASK, [255, 255, 0]));
    m.options.push(DhcpOption::new(code::MESSAGE_TYPE, [9]));
    m.options
        .push(DhcpOption::new(code::DOMAIN_NAME, "amt test"));
    m.options.push(DhcpOption::new(code::LEASE_TIME, [0, 1]));
    m.options.push(DhcpOption::new(code::CLIENT_FQDN, [5, 0]));
    assert!(m.routers().is_empty());
    assert_eq!(m.subnet_mask(), None);
    assert_eq!(m.message_type(), None);
    assert_eq!(m.domain_name(), None);
    assert_eq!(m.lease_time(), None);
    assert_eq!(m.client_fqdn(), None);
    assert_eq!(m.max_message_size(), None);
}

#[test]
fn typed_accessors_read_well_formed_values() {
    let mut m = Message::new(Op::BootReply, 1, MAC);
    m.options
        .push(DhcpOption::new(code::DOMAIN_NAME, "amt.test.\0"));
    m.options
        .push(DhcpOption::u16(code::MAX_MESSAGE_SIZE, 1500));
    m.options.push(DhcpOption::u32(code::RENEWAL_TIME, 100));
    m.options.push(DhcpOption::u32(code::REBINDING_TIME, 175));
    m.options
        .push(DhcpOption::new(code::MESSAGE, "no such address\0"));
    m.options.push(DhcpOption::addresses(
        code::NETBIOS_NAME_SERVER,
        &[Ipv4Addr::new(10, 0, 0, 9)],
    ));
    m.options.push(DhcpOption::new(
        code::CLIENT_FQDN,
        ClientFqdn::server_updates("a.b.").encode().unwrap(),
    ));
    assert_eq!(m.domain_name().as_deref(), Some("amt.test"));
    assert_eq!(m.max_message_size(), Some(1500));
    assert_eq!(m.renewal_time(), Some(100));
    assert_eq!(m.rebinding_time(), Some(175));
    assert_eq!(m.server_message().as_deref(), Some("no such address"));
    assert_eq!(m.netbios_name_servers(), vec![Ipv4Addr::new(10, 0, 0, 9)]);
    assert_eq!(m.client_fqdn().unwrap().name, "a.b.");
}

#[test]
fn encoder_skips_framing_codes_and_cuts_long_fields() {
    let mut m = Message::new(Op::BootRequest, 1, MAC);
    m.options.push(DhcpOption::new(code::PAD, []));
    m.options.push(DhcpOption::new(code::OVERLOAD, [3]));
    m.options.push(DhcpOption::new(code::END, []));
    m.options.push(DhcpOption::new(80, [])); // rapid commit: empty data
    m.sname = vec![b's'; 70];
    let bytes = m.encode();
    assert_eq!(&bytes[MIN_MESSAGE_LEN..MIN_MESSAGE_LEN + 3], &[80, 0, 255]);
    let back = Message::decode(&bytes).unwrap();
    assert_eq!(back.sname, vec![b's'; 64]);
    assert_eq!(back.options.codes(), vec![80]);
}

#[test]
fn message_type_and_op_conversions() {
    for t in 1..=8u8 {
        assert_eq!(MessageType::try_from(t).unwrap() as u8, t);
    }
    assert_eq!(
        MessageType::try_from(0),
        Err(DhcpError::UnknownMessageType(0))
    );
    assert_eq!(Op::try_from(2), Ok(Op::BootReply));
    assert_eq!(code::name(code::CLIENT_FQDN), Some("client-fqdn"));
    assert_eq!(code::name(200), None);
}
