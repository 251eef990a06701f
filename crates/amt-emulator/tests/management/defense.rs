//! System Defense: filters, policies, port bindings and the drop decision.
use super::*;
use std::net::IpAddr;

use amt_emulator::firmware::manage::PacketHeaders;

pub fn ssh_drop_filter() -> AmtIpHeadersFilter {
    AmtIpHeadersFilter {
        element_name: Some("block ssh".into()),
        name: Some("nossh".into()),
        filter_direction: Some(FilterDirection::Receive),
        filter_profile: Some(FilterProfile::Drop),
        hdr_ip_version: Some(IpVersion::V4),
        hdr_protocol_id: Some(6),
        hdr_dest_port_start: Some(22),
        hdr_dest_port_end: Some(22),
        hdr_src_address: Some("c0a80000".into()),
        hdr_src_mask: Some("ffff0000".into()),
        ..Default::default()
    }
}

fn tcp_in(src: &str, port: u16) -> PacketHeaders {
    let src: IpAddr = src.parse().unwrap();
    PacketHeaders::ip(
        false,
        src,
        "192.168.1.10".parse().unwrap(),
        6,
        Some((40000, port)),
    )
}

#[test]
fn system_defense_policy_drops_matching_emulated_traffic() {
    let mut d = Dev::new("amt16");
    let f = d.create(&ssh_drop_filter());
    let fh: u32 = f.selectors.get("InstanceID").unwrap().parse().unwrap();
    let policy = AmtSystemDefensePolicy {
        policy_name: Some("lockdown".into()),
        policy_precedence: Some(10),
        filter_creation_handles: vec![fh],
        rx_default_drop: Some(false),
        tx_default_drop: Some(false),
        ..Default::default()
    };
    let p = d.create(&policy);
    assert!(
        !d.fw.system_defense_drops(&tcp_in("192.168.7.7", 22)),
        "not yet applied"
    );
    let port = EndpointReference::to_class(
        "CIM_EthernetPort",
        SelectorSet::new()
            .with("CreationClassName", "CIM_EthernetPort")
            .with("DeviceID", "Intel(r) AMT Ethernet Port 0"),
    );
    let binding = AmtNetworkPortSystemDefensePolicy {
        antecedent: Some(port),
        dependent: Some(p.clone()),
        enabled: Some(true),
        ..Default::default()
    };
    let b = d.create(&binding);
    assert!(d.fw.system_defense_drops(&tcp_in("192.168.7.7", 22)));
    assert!(
        !d.fw.system_defense_drops(&tcp_in("192.168.7.7", 80)),
        "other port passes"
    );
    assert!(
        !d.fw.system_defense_drops(&tcp_in("10.0.0.7", 22)),
        "other source passes"
    );
    let mut wireless = tcp_in("192.168.7.7", 22);
    wireless.wireless = true;
    assert!(
        !d.fw.system_defense_drops(&wireless),
        "the policy is on the wired port"
    );
    let bound = AmtNetworkPortSystemDefensePolicy::from_instance(
        &d.all("AMT_NetworkPortSystemDefensePolicy")[0],
    )
    .unwrap();
    assert_eq!(bound.active, Some(true));

    // A stricter policy with higher precedence: default drop, pass only HTTP.
    let http = AmtIpHeadersFilter {
        name: Some("http".into()),
        filter_direction: Some(FilterDirection::Receive),
        filter_profile: Some(FilterProfile::Pass),
        hdr_ip_version: Some(IpVersion::V4),
        hdr_protocol_id: Some(6),
        hdr_dest_port_start: Some(80),
        hdr_dest_port_end: Some(80),
        ..Default::default()
    };
    let hh: u32 = d
        .create(&http)
        .selectors
        .get("InstanceID")
        .unwrap()
        .parse()
        .unwrap();
    let strict = d.create(&AmtSystemDefensePolicy {
        policy_name: Some("strict".into()),
        policy_precedence: Some(20),
        filter_creation_handles: vec![hh],
        rx_default_drop: Some(true),
        ..Default::default()
    });
    d.create(&AmtNetworkPortSystemDefensePolicy {
        dependent: Some(strict),
        enabled: Some(true),
        ..binding.clone()
    });
    assert!(!d.fw.system_defense_drops(&tcp_in("10.0.0.7", 80)));
    assert!(
        d.fw.system_defense_drops(&tcp_in("10.0.0.7", 443)),
        "default drop"
    );

    // Disable the strict binding: the first policy is active again.
    let disable = AmtNetworkPortSystemDefensePolicy {
        enabled: Some(false),
        dependent: d.all("AMT_NetworkPortSystemDefensePolicy")[1]
            .get("Dependent")
            .and_then(|v| match v {
                amt_wsman::Value::Epr(e) => Some(e.clone()),
                _ => None,
            }),
        ..binding.clone()
    };
    assert!(matches!(
        d.put(&disable, SelectorSet::new()),
        ResponseBody::Put(Some(_))
    ));
    assert!(!d.fw.system_defense_drops(&tcp_in("10.0.0.7", 443)));
    assert!(d.fw.system_defense_drops(&tcp_in("192.168.7.7", 22)));

    // A filter a policy uses cannot go; deleting the policy removes its binding.
    let id = d.id();
    let del = d.send(AmtIpHeadersFilter::delete(
        id,
        SelectorSet::one("InstanceID", &fh.to_string()),
    ));
    assert_eq!(fault_subcode(&del), Subcode::InvalidParameter);
    let id = d.id();
    let del = d.send(AmtSystemDefensePolicy::delete(id, p.selectors.clone()));
    assert!(matches!(del, ResponseBody::Delete(_)), "{del:?}");
    assert!(!d.fw.system_defense_drops(&tcp_in("192.168.7.7", 22)));
    assert_eq!(d.all("AMT_NetworkPortSystemDefensePolicy").len(), 1);
    let _ = b;
    let audit = audit_records(&mut d);
    for ev in [(25, 0), (25, 2), (25, 3), (25, 4)] {
        assert!(
            audit.iter().any(|r| (r.0, r.1) == ev),
            "{ev:?} in {audit:?}"
        );
    }
}

#[test]
fn ethernet_filters_match_ether_type_and_negation() {
    let mut d = Dev::new("amt11");
    let arp_only = AmtHdr8021Filter {
        name: Some("not-arp".into()),
        filter_direction: Some(FilterDirection::Transmit),
        filter_profile: Some(FilterProfile::Drop),
        hdr_protocol_id: Some(0x0806),
        is_negated: Some(true),
        ..Default::default()
    };
    let f = d.create(&arp_only);
    let p = d.create(&AmtSystemDefensePolicy {
        policy_name: Some("arp".into()),
        policy_precedence: Some(1),
        filter_creation_handles: vec![f.selectors.get("InstanceID").unwrap().parse().unwrap()],
        ..Default::default()
    });
    d.create(&AmtNetworkPortSystemDefensePolicy {
        dependent: Some(p),
        enabled: Some(true),
        ..Default::default()
    });
    let mut pkt = PacketHeaders::ip(
        true,
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        17,
        Some((5, 53)),
    );
    assert!(
        d.fw.system_defense_drops(&pkt),
        "outgoing IPv4 is not ARP: dropped"
    );
    pkt.ether_type = 0x0806;
    pkt.ip = None;
    assert!(!d.fw.system_defense_drops(&pkt), "ARP passes");
    pkt.direction = amt_emulator::firmware::manage::PacketDirection::Receive;
    pkt.ether_type = 0x0800;
    assert!(
        !d.fw.system_defense_drops(&pkt),
        "the filter governs transmit only"
    );
}

#[test]
fn system_defense_needs_admin_control_mode_and_valid_instances() {
    let mut d = Dev::new("amt16");
    let id = d.id();
    let bad = AmtSystemDefensePolicy {
        policy_name: Some("p".into()),
        filter_creation_handles: vec![999],
        ..Default::default()
    };
    assert_eq!(
        fault_subcode(&d.send(bad.create(id))),
        Subcode::InvalidRepresentation
    );
    let id = d.id();
    let long = AmtIpHeadersFilter {
        name: Some("a name longer than sixteen".into()),
        ..Default::default()
    };
    assert_eq!(
        fault_subcode(&d.send(long.create(id))),
        Subcode::InvalidRepresentation
    );
    d.fw.state.control_mode = 1;
    let id = d.id();
    assert_eq!(
        fault_subcode(&d.send(ssh_drop_filter().create(id))),
        Subcode::AccessDenied
    );
}
