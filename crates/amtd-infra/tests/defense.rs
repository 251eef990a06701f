//! System Defense over real sockets: apply, read back, tamper, re-apply and remove a policy on
//! an emulated provisioned device (admin control mode, digest admin, plain 16992), and check
//! the effect with the emulated firmware's own packet drop decision.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use amt_emulator::firmware::manage::PacketHeaders;
use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::device::Device;
use amt_emulator::net::{Fleet, NetOptions};
use amt_wsman::classes::amt::{AmtIpHeadersFilter, AmtSystemDefensePolicy};
use amt_wsman::secret::SecretString;
use amt_wsman::SelectorSet;
use amtd_core::defense::{
    compare, Action, DefensePolicy, Difference, Direction, EthernetMatch, Filter, IpMatch,
    IpProtocol, Match, PortRange, Problem,
};
use amtd_infra::client::WsmanClient;
use amtd_infra::defense::{self, DefenseError};
use amtd_infra::transport::{DeviceEndpoint, TransportConfig, WsmanConnection};

const PASSWORD: &str = "Def3nse!pw";

async fn start_device() -> (Fleet, Ipv4Addr) {
    for attempt in 0..8u8 {
        let mut b = [0u8; 2];
        amt_emulator::net::random_fill(&mut b);
        let ip = Ipv4Addr::new(127, 100 + b[0] % 100, b[1].max(1), 30 + attempt);
        let flags = FleetFlags {
            count: 1,
            first_ip: ip,
            ..FleetFlags::default()
        };
        let spec = FleetSpec::from_flags(&flags).unwrap();
        let mut options = NetOptions::default();
        options.hello.enabled = false;
        options.provisioned_admin_password = Some(SecretString::from(PASSWORD));
        let fleet = Fleet::start(spec, options, |_, _| {}).await.unwrap();
        if fleet.failures().is_empty() {
            return (fleet, ip);
        }
        fleet.shutdown();
    }
    panic!("could not bind the emulated device");
}

fn client(ip: Ipv4Addr, password: &str) -> WsmanClient {
    let endpoint = DeviceEndpoint::http(ip.to_string()).with_port(16992);
    let config = TransportConfig {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    };
    WsmanClient::new(WsmanConnection::new(endpoint, "admin", password.into(), config).unwrap())
}

fn lockdown() -> DefensePolicy {
    DefensePolicy {
        precedence: 10,
        filters: vec![
            Filter {
                name: "no-ssh".into(),
                direction: Direction::Receive,
                action: Action::Drop,
                rate: None,
                event_on_match: false,
                negate: false,
                matcher: Match::Ip(IpMatch {
                    protocol: Some(IpProtocol::TCP),
                    dst_ports: Some(PortRange::single(22)),
                    ..Default::default()
                }),
            },
            Filter {
                name: "no-ipv6-out".into(),
                direction: Direction::Transmit,
                action: Action::Drop,
                rate: None,
                event_on_match: true,
                negate: false,
                matcher: Match::Ethernet(EthernetMatch {
                    ether_type: Some(0x86DD),
                    ..Default::default()
                }),
            },
        ],
        ..DefensePolicy::new("lockdown")
    }
}

fn ssh_in() -> PacketHeaders {
    PacketHeaders::ip(
        false,
        "192.168.7.7".parse().unwrap(),
        "192.168.1.10".parse().unwrap(),
        6,
        Some((40000, 22)),
    )
}

fn http_in() -> PacketHeaders {
    PacketHeaders::ip(
        false,
        "192.168.7.7".parse().unwrap(),
        "192.168.1.10".parse().unwrap(),
        6,
        Some((40000, 80)),
    )
}

fn ipv6_out() -> PacketHeaders {
    let a: IpAddr = "fe80::1".parse().unwrap();
    PacketHeaders::ip(true, a, "fe80::2".parse().unwrap(), 17, Some((5353, 5353)))
}

fn drops(dev: &Arc<Device>, p: &PacketHeaders) -> bool {
    dev.with_firmware(|fw| fw.system_defense_drops(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_applied_enforced_compared_repaired_and_removed_over_real_sockets() {
    let (fleet, ip) = start_device().await;
    let dev = fleet.devices()[0].clone();
    let c = client(ip, PASSWORD);
    let policy = lockdown();

    assert!(!drops(&dev, &ssh_in()), "nothing applied yet");

    // Apply: filters, policy, binding created; the device drops SSH in and IPv6 out only.
    let out = defense::apply(&c, &policy).await.unwrap();
    assert!(out.changed);
    assert_eq!((out.filters_created, out.policy), (2, "created"));
    assert!(drops(&dev, &ssh_in()), "inbound TCP 22 is dropped");
    assert!(!drops(&dev, &http_in()), "inbound TCP 80 passes");
    assert!(drops(&dev, &ipv6_out()), "outbound IPv6 frames are dropped");
    assert!(dev
        .with_firmware(|fw| fw.active_system_defense_policy(false))
        .is_some());

    // Read back as raw instances too: the IP filter is there with port 22.
    let ip_filters: Vec<AmtIpHeadersFilter> = c.enumerate().await.unwrap();
    assert_eq!(ip_filters.len(), 1);
    assert_eq!(ip_filters[0].hdr_dest_port_start, Some(22));
    let (_, diffs) = defense::check(&c, &policy).await.unwrap();
    assert_eq!(diffs, vec![]);

    // Apply again: nothing is sent.
    let again = defense::apply(&c, &policy).await.unwrap();
    assert!(!again.changed, "{again:?}");
    assert_eq!(c.enumerate::<AmtIpHeadersFilter>().await.unwrap().len(), 1);

    // Tamper: someone takes the SSH filter out of the policy and deletes it.
    let p: Vec<AmtSystemDefensePolicy> = c.enumerate().await.unwrap();
    let mut tampered = p[0].clone();
    let ssh_handle: u32 = ip_filters[0]
        .instance_id
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    tampered
        .filter_creation_handles
        .retain(|h| *h != ssh_handle);
    let id = tampered.instance_id.clone().unwrap();
    c.put(
        &tampered,
        SelectorSet::one("InstanceID", &id),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    c.delete::<AmtIpHeadersFilter>(SelectorSet::one("InstanceID", &ssh_handle.to_string()))
        .await
        .unwrap();
    assert!(!drops(&dev, &ssh_in()), "the tampered device lets SSH in");
    let (_, diffs) = defense::check(&c, &policy).await.unwrap();
    assert_eq!(
        diffs,
        vec![Difference::FilterMissing {
            filter: "no-ssh".into()
        }]
    );
    assert_eq!(
        diffs[0].to_string(),
        "filter no-ssh is missing on the device"
    );

    // Re-apply repairs it: one filter created, the policy updated, the other filter kept.
    let fixed = defense::apply(&c, &policy).await.unwrap();
    assert_eq!((fixed.filters_created, fixed.policy), (1, "updated"));
    assert!(drops(&dev, &ssh_in()));

    // A changed intent (port 2222 instead of 22) replaces the filter and deletes the old one.
    let mut changed = policy.clone();
    if let Match::Ip(m) = &mut changed.filters[0].matcher {
        m.dst_ports = Some(PortRange::single(2222));
    }
    let out = defense::apply(&c, &changed).await.unwrap();
    assert_eq!((out.filters_created, out.filters_deleted), (1, 1));
    assert!(!drops(&dev, &ssh_in()));
    let mut alt = ssh_in();
    alt.ip.as_mut().unwrap().dst_port = Some(2222);
    assert!(drops(&dev, &alt));
    assert_eq!(c.enumerate::<AmtIpHeadersFilter>().await.unwrap().len(), 1);
    let (device, _) = defense::check(&c, &changed).await.unwrap();
    assert_eq!(compare(&changed, &device), vec![]);

    // Remove: association, policy and filters gone; traffic passes again.
    let removed = defense::remove(&c, "lockdown").await.unwrap();
    assert!(removed.found);
    assert_eq!(
        (
            removed.policies_deleted,
            removed.filters_deleted,
            removed.ports_disabled
        ),
        (1, 2, 1)
    );
    assert!(!drops(&dev, &alt) && !drops(&dev, &ipv6_out()));
    let after = defense::read_back(&c).await.unwrap();
    assert!(after.policies.is_empty() && after.filters.is_empty() && after.bindings.is_empty());
    assert!(!defense::remove(&c, "lockdown").await.unwrap().found);
    fleet.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_is_refused_before_anything_is_sent() {
    let (fleet, ip) = start_device().await;
    // A wrong password proves nothing reaches the device: validation fails first.
    let c = client(ip, "Wr0ng!password");
    let mut bad = lockdown();
    bad.filters[0].rate = Some(10);
    let e = defense::apply(&c, &bad).await.unwrap_err();
    let DefenseError::Invalid(inv) = &e else {
        panic!("{e}")
    };
    assert!(matches!(
        inv.problems[0].1,
        Problem::RateWithoutRateLimit { .. }
    ));
    assert!(
        e.to_string()
            .contains("rate only goes with action rate-limit"),
        "{e}"
    );
    assert!(fleet.devices()[0].with_firmware(|fw| fw.state.manage.defense.filters.is_empty()));
    fleet.shutdown();
}
