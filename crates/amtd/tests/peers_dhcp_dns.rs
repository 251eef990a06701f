//! Smoke tests of the DHCP/DNS peer harness (tests/support/netns.rs) against the real peers,
//! with no amtd code involved: BIND 9 with TSIG-only dynamic updates, Kea (dhcp4 + D2)
//! registering a client's option-81 name in BIND, dnsmasq with and without option 15, a
//! tcpdump capture decoded byte for byte, and an independent DHCP client (scapy). Each test runs
//! in its own pair of network namespaces. Needs root and the peers that ./scripts/install-peers
//! installs; without them each test prints `SKIPPED: …` and passes, unless
//! AMTD_REQUIRE_PEERS=1 (or ./scripts/test's AMTD_NODE_DIR) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};
use support::netns::{
    peers_available, wait_until, Bind, BindOptions, Dnsmasq, DnsmasqOptions, Kea, KeaOptions,
    NetnsPair, ScapyClient, Sniffer,
};

/// The parameter-request list an AMT device sends (SPEC D2).
const AMT_PARAMS: [u8; 8] = [6, 3, 1, 15, 66, 67, 13, 44];

#[test]
fn kea_and_d2_register_the_clients_fqdn_in_bind_and_the_capture_shows_its_option_55() {
    if !peers_available(
        "kea_and_d2_register_the_clients_fqdn_in_bind",
        &[
            "named",
            "tsig-keygen",
            "dig",
            "kea-dhcp4",
            "kea-dhcp-ddns",
            "tcpdump",
            "scapy",
        ],
    ) {
        return;
    }
    let t0 = Instant::now();
    let net = NetnsPair::new();
    let bind = Bind::start(&net, &BindOptions::default());
    let kea = Kea::start(
        &net,
        &KeaOptions {
            ddns: Some(bind.ddns_target()),
            valid_lifetime: 60,
            renew_timer: Some(20),
            rebind_timer: Some(40),
            routers: vec![net.server_ip()],
            ..KeaOptions::default()
        },
    );
    let mut sniffer = Sniffer::on_device(&net);
    let mac = "02:00:5e:10:00:01";
    let client = ScapyClient {
        mac: Some(mac.to_owned()),
        hostname: Some("amtdev01".to_owned()),
        fqdn: Some("amtdev01.amt.test".to_owned()),
        params: AMT_PARAMS.to_vec(),
        ..ScapyClient::new(net.device_if())
    };
    let lease = client
        .run(net.device_ns())
        .unwrap_or_else(|e| panic!("{e}\nkea log:\n{}", kea.log()));
    let (lo, hi) = (net.host(100), net.host(150));
    assert!(
        (lo..=hi).contains(&lease.yiaddr),
        "{} not in the pool",
        lease.yiaddr
    );
    assert_eq!(lease.server_id, Some(net.server_ip()));
    assert_eq!(lease.ack_option(15).unwrap(), b"amt.test");
    assert_eq!(lease.ack_option(51).unwrap(), 60u32.to_be_bytes());
    assert_eq!(lease.ack_option(58).unwrap(), 20u32.to_be_bytes());
    assert_eq!(lease.ack_option(59).unwrap(), 40u32.to_be_bytes());
    assert_eq!(lease.ack_option(3).unwrap(), net.server_ip().octets());
    assert_eq!(
        lease.ack_option(6).unwrap(),
        net.server_ip().octets().to_vec()
    );

    // D2 → BIND: forward A and reverse PTR, TSIG-signed.
    let logs = || format!("D2:\n{}\nnamed:\n{}", kea.d2_log(), bind.log());
    let a = wait_until(
        "the A record of amtdev01.amt.test",
        Duration::from_secs(20),
        logs,
        || {
            let a = bind.dig("amtdev01.amt.test", "A").answers("A");
            (!a.is_empty()).then_some(a)
        },
    );
    assert_eq!(a, vec![lease.yiaddr.to_string()]);
    let ptr = wait_until(
        "the PTR record of the lease",
        Duration::from_secs(20),
        logs,
        || {
            let p = bind.dig(&lease.yiaddr.to_string(), "PTR").answers("PTR");
            (!p.is_empty()).then_some(p)
        },
    );
    assert_eq!(ptr, vec!["amtdev01.amt.test.".to_owned()]);

    // The memfile lease CSV and the control socket.
    let rows = kea.lease_rows();
    let header = &rows[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = rows
        .iter()
        .find(|r| r[col("address")] == lease.yiaddr.to_string())
        .unwrap_or_else(|| panic!("no lease row: {rows:?}"));
    assert_eq!(row[col("hwaddr")], mac);
    assert_eq!(row[col("hostname")], "amtdev01.amt.test.");
    let got = kea
        .lease4_get(lease.yiaddr)
        .unwrap_or_else(|| panic!("lease4-get found nothing\n{}", kea.log()));
    assert_eq!(got["hostname"], "amtdev01.amt.test.", "{got}");
    assert_eq!(got["hw-address"], mac, "{got}");
    assert_eq!(got["ip-address"], lease.yiaddr.to_string(), "{got}");

    // The capture: option 55 exactly as sent, in DISCOVER and REQUEST.
    let packets = sniffer.packets();
    let from_client: Vec<_> = packets
        .iter()
        .filter(|p| p.direction == "client" && p.xid == client.xid)
        .collect();
    let types: Vec<_> = packets.iter().map(|p| p.message_type).collect();
    assert_eq!(
        types,
        vec![Some(1), Some(2), Some(3), Some(5)],
        "{packets:#?}"
    );
    for p in &from_client {
        assert_eq!(p.chaddr, mac);
        assert_eq!(p.option(55).unwrap(), AMT_PARAMS, "{p:?}");
        assert_eq!(p.option(12).unwrap(), b"amtdev01");
        assert_eq!(
            p.option(81).unwrap(),
            b"\x05\x00\x00\x08amtdev01\x03amt\x04test\x00"
        );
    }
    assert_eq!(from_client[0].option_codes(), vec![53, 12, 81, 55]);
    assert_eq!(from_client[1].option_codes(), vec![53, 50, 54, 12, 81, 55]);

    // The device side, with the leased address: ProvisionServer.<domain> resolves.
    net.add_device_addr(lease.yiaddr);
    let ps = support::netns::dig(
        net.device_ns(),
        bind.addr(),
        53,
        "ProvisionServer.amt.test",
        "A",
    );
    assert_eq!(ps.answers("A"), vec![net.server_ip().to_string()], "{ps:?}");
    eprintln!("kea + D2 + BIND smoke test: {:?}", t0.elapsed());
}

fn dnsmasq_case(test: &str, domain_name: Option<&str>) {
    if !peers_available(test, &["dnsmasq", "dig", "scapy"]) {
        return;
    }
    let t0 = Instant::now();
    let net = NetnsPair::new();
    let dm = Dnsmasq::start(
        &net,
        &DnsmasqOptions {
            domain_name: domain_name.map(str::to_owned),
            // Without option 15, also without a router (option 3), to prove suppression.
            routers: domain_name.is_none().then(Vec::new),
            host_records: vec![("ProvisionServer.amt.test".to_owned(), net.server_ip())],
            ..DnsmasqOptions::default()
        },
    );
    let client = ScapyClient {
        mac: Some("02:00:5e:10:00:02".to_owned()),
        hostname: Some("amtdev01".to_owned()),
        params: AMT_PARAMS.to_vec(),
        xid: 0x0bad_cafe,
        ..ScapyClient::new(net.device_if())
    };
    let lease = client
        .run(net.device_ns())
        .unwrap_or_else(|e| panic!("{e}\ndnsmasq log:\n{}", dm.log()));
    assert!((net.host(100)..=net.host(150)).contains(&lease.yiaddr));
    assert_eq!(
        lease.ack_option(15).as_deref(),
        domain_name.map(str::as_bytes),
        "option 15"
    );
    assert_eq!(
        lease.ack_option(6).unwrap(),
        net.server_ip().octets().to_vec()
    );
    let router = domain_name.map(|_| net.server_ip().octets().to_vec());
    assert_eq!(lease.ack_option(3), router, "option 3");
    // --log-dhcp: the option-55 list of DISCOVER and of REQUEST, in the client's order.
    let requested = dm.requested_options(client.xid);
    assert_eq!(
        requested,
        vec![AMT_PARAMS.to_vec(), AMT_PARAMS.to_vec()],
        "{}",
        dm.log()
    );
    let leases = std::fs::read_to_string(dm.lease_file()).unwrap_or_default();
    assert!(
        leases.contains(&format!("02:00:5e:10:00:02 {} amtdev01", lease.yiaddr)),
        "{leases}"
    );
    // dnsmasq's DNS: the host record and the DHCP-registered name.
    let ps = dm.dig("ProvisionServer.amt.test", "A");
    assert_eq!(ps.answers("A"), vec![net.server_ip().to_string()], "{ps:?}");
    let dev = dm.dig("amtdev01.amt.test", "A");
    assert_eq!(dev.answers("A"), vec![lease.yiaddr.to_string()], "{dev:?}");
    eprintln!("{test}: {:?}", t0.elapsed());
}

#[test]
fn dnsmasq_leases_to_the_scapy_client_and_logs_its_option_55_with_option_15() {
    dnsmasq_case("dnsmasq_with_option_15", Some("amt.test"));
}

#[test]
fn dnsmasq_leases_to_the_scapy_client_and_logs_its_option_55_without_option_15() {
    dnsmasq_case("dnsmasq_without_option_15", None);
}

#[test]
fn bind_refuses_an_unsigned_update_and_accepts_a_tsig_signed_one() {
    if !peers_available(
        "bind_refuses_an_unsigned_update",
        &["named", "tsig-keygen", "dig", "nsupdate"],
    ) {
        return;
    }
    let t0 = Instant::now();
    let net = NetnsPair::new();
    let extra = net.host(9);
    let bind = Bind::start(
        &net,
        &BindOptions {
            provision_server: false,
            records: vec![format!("static.amt.test. IN A {extra}")],
            ..BindOptions::default()
        },
    );
    assert!(bind.dig("ProvisionServer.amt.test", "A").records.is_empty());
    assert_eq!(
        bind.dig("static.amt.test", "A").answers("A"),
        vec![extra.to_string()]
    );
    let target = net.host(42);
    let rev = format!("{}.{}.", target.octets()[3], bind.reverse_zone());
    let update = format!(
        "update add amtdev42.amt.test. 60 A {target}\nsend\n\
         update add {rev} 60 PTR amtdev42.amt.test."
    );

    let out = bind.nsupdate(net.server_ns(), &update, false);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("REFUSED"), "{text}");
    assert!(bind.dig("amtdev42.amt.test", "A").records.is_empty());

    let out = bind.nsupdate(net.server_ns(), &update, true);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        bind.log()
    );
    assert_eq!(
        bind.dig("amtdev42.amt.test", "A").answers("A"),
        vec![target.to_string()]
    );
    assert_eq!(
        bind.dig(&target.to_string(), "PTR").answers("PTR"),
        vec!["amtdev42.amt.test.".to_owned()]
    );
    eprintln!("BIND TSIG smoke test: {:?}", t0.elapsed());
}
