#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use amt_wsman::classes::amt::{AmtIpHeadersFilter, AmtNetworkPortSystemDefensePolicy};
use amt_wsman::classes::Typed;
use amt_wsman::Instance;
use proptest::prelude::*;

use super::*;

fn ssh_drop() -> Filter {
    Filter {
        name: "no-ssh".into(),
        direction: Direction::Receive,
        action: Action::Drop,
        rate: None,
        event_on_match: true,
        negate: false,
        matcher: Match::Ip(IpMatch {
            src: Some("192.168.0.0/16".parse().unwrap()),
            protocol: Some(IpProtocol::TCP),
            dst_ports: Some(PortRange::single(22)),
            ..Default::default()
        }),
    }
}

fn arp_limit() -> Filter {
    Filter {
        name: "arp-limit".into(),
        direction: Direction::Transmit,
        action: Action::RateLimit,
        rate: Some(100),
        event_on_match: false,
        negate: false,
        matcher: Match::Ethernet(EthernetMatch {
            ether_type: Some(0x0806),
            ..Default::default()
        }),
    }
}

fn lockdown() -> DefensePolicy {
    DefensePolicy {
        precedence: 10,
        filters: vec![ssh_drop(), arp_limit()],
        ..DefensePolicy::new("lockdown")
    }
    .validated()
    .unwrap()
}

/// The instances a device holding `policies` would answer: filters numbered from `first`,
/// each policy enabled and active on its ports.
fn device_holding(policies: &[&DefensePolicy], first: u32) -> DeviceDefense {
    let mut next = first;
    let (mut eth, mut ip, mut pol, mut bind) = (vec![], vec![], vec![], vec![]);
    for p in policies {
        let mut handles = vec![];
        for f in &p.filters {
            let id = Some(next.to_string());
            match f.to_amt() {
                FilterInstance::Ethernet(mut e) => {
                    e.instance_id = id;
                    eth.push(e.to_instance());
                }
                FilterInstance::Ip(mut i) => {
                    i.instance_id = id;
                    ip.push(i.to_instance());
                }
            }
            handles.push(next);
            next += 1;
        }
        let policy_id = format!("{next}");
        next += 1;
        pol.push(p.to_amt(&handles, Some(policy_id.clone())).to_instance());
        for port in &p.ports {
            let mut b = binding_to_amt(
                *port,
                amt_wsman::EndpointReference::to_class(
                    "AMT_SystemDefensePolicy",
                    amt_wsman::SelectorSet::one("InstanceID", &policy_id),
                ),
            );
            b.active = Some(true);
            bind.push(b.to_instance());
        }
    }
    DeviceDefense::from_amt(&pol, &eth, &ip, &bind)
}

#[test]
fn a_valid_policy_is_completed_with_the_ip_version() {
    let p = lockdown();
    let Match::Ip(ip) = &p.filters[0].matcher else {
        panic!()
    };
    assert_eq!(ip.ip_version, Some(IpFamily::V4));
    assert_eq!(p.ports, vec![Port::Wired]);
}

#[test]
fn validation_lists_every_problem_at_once() {
    let mut p = DefensePolicy::new("a name that is far too long");
    p.ports = vec![];
    let mut bad_ip = ssh_drop();
    bad_ip.rate = Some(5);
    bad_ip.matcher = Match::Ip(IpMatch {
        ip_version: Some(IpFamily::V6),
        src: Some("10.1.2.3/8".parse().unwrap()),
        dst: Some("10.0.0.9-10.0.0.1".parse().unwrap()),
        protocol: Some(IpProtocol::ICMP),
        dst_ports: Some("90-80".parse().unwrap()),
        ..Default::default()
    });
    let mut bad_eth = arp_limit();
    bad_eth.name = "no-ssh".into();
    bad_eth.rate = None;
    bad_eth.matcher = Match::Ethernet(EthernetMatch {
        ether_type: Some(0x0012),
        vlan: Some(5000),
        priority: Some(9),
        ..Default::default()
    });
    p.filters = vec![bad_ip, bad_eth];
    let e = p.validated().unwrap_err();
    let kinds: Vec<&Problem> = e.problems.iter().map(|(_, p)| p).collect();
    assert!(kinds.iter().any(|p| matches!(p, Problem::BadName { .. })));
    assert!(kinds.contains(&&Problem::NoPorts));
    assert!(kinds
        .iter()
        .any(|p| matches!(p, Problem::RateWithoutRateLimit { .. })));
    assert!(kinds.iter().any(|p| matches!(
        p,
        Problem::FamilyMismatch {
            which: "src",
            family: IpFamily::V6,
            ..
        }
    )));
    assert!(kinds
        .iter()
        .any(|p| matches!(p, Problem::PortsNeedTcpOrUdp { which: "dst_ports" })));
    assert!(kinds
        .iter()
        .any(|p| matches!(p, Problem::InvertedPortRange { .. })));
    assert!(kinds
        .iter()
        .any(|p| matches!(p, Problem::DuplicateFilterName { name } if name == "no-ssh")));
    assert!(kinds.contains(&&Problem::MissingRate));
    assert!(kinds.contains(&&Problem::NotAnEtherType { value: 0x12 }));
    assert!(kinds.contains(&&Problem::BadVlan { value: 5000 }));
    assert!(kinds.contains(&&Problem::BadPriority { value: 9 }));
    let text = e.to_string();
    assert!(
        text.contains("filter #2 (\"no-ssh\"): another filter is already named \"no-ssh\""),
        "{text}"
    );
    assert!(
        text.contains("ether_type 0x0012 is a frame length"),
        "{text}"
    );
}

#[test]
fn host_bits_and_inverted_ranges_are_refused_with_the_likely_meaning() {
    let mut f = ssh_drop();
    f.matcher = Match::Ip(IpMatch {
        src: Some("192.168.1.5/16".parse().unwrap()),
        dst: Some("10.0.0.9-10.0.0.1".parse().unwrap()),
        ..Default::default()
    });
    let p = DefensePolicy {
        filters: vec![f],
        ..DefensePolicy::new("x")
    };
    let text = p.validated().unwrap_err().to_string();
    assert!(
        text.contains("src 192.168.1.5/16 has host bits set; the network is 192.168.0.0/16"),
        "{text}"
    );
    assert!(
        text.contains("dst 10.0.0.9-10.0.0.1 ends before it starts"),
        "{text}"
    );
}

#[test]
fn text_forms_parse_and_print_back() {
    for s in [
        "10.0.0.0/8",
        "10.0.0.1",
        "fe80::/10",
        "10.0.0.1-10.0.0.9",
        "::1",
    ] {
        assert_eq!(s.parse::<AddrMatch>().unwrap().to_string(), s);
    }
    assert!("10.0.0.1/x".parse::<AddrMatch>().is_err());
    assert!("host".parse::<AddrMatch>().is_err());
    assert_eq!(
        "1000-2000".parse::<PortRange>().unwrap(),
        PortRange {
            start: 1000,
            end: 2000
        }
    );
    assert!("70000".parse::<PortRange>().is_err());
    assert_eq!("TCP".parse::<IpProtocol>().unwrap(), IpProtocol::TCP);
    assert_eq!("47".parse::<IpProtocol>().unwrap().to_string(), "47");
    assert!("sctp".parse::<IpProtocol>().is_err());
    let m: MacAddr = "00:1B:21:0a:0B:ff".parse().unwrap();
    assert_eq!(m.to_string(), "00:1b:21:0a:0b:ff");
    assert!("00:1b:21".parse::<MacAddr>().is_err());
}

#[test]
fn json_documents_use_words_and_refuse_unknown_fields() {
    let p = lockdown();
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["filters"][0]["match"]["ip"]["dst_ports"], "22");
    assert_eq!(v["filters"][0]["match"]["ip"]["protocol"], "tcp");
    assert_eq!(v["filters"][0]["match"]["ip"]["src"], "192.168.0.0/16");
    assert_eq!(v["filters"][1]["action"], "rate-limit");
    let back: DefensePolicy = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, p);
    let mut typo = v;
    typo["filters"][0]["match"]["ip"]["dst_port"] = 22.into();
    let e = serde_json::from_value::<DefensePolicy>(typo)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `dst_port`"), "{e}");
    let numeric: DefensePolicy = serde_json::from_str(
        r#"{"name":"n","filters":[{"name":"f","direction":"in","action":"drop",
            "match":{"ip":{"protocol":6,"dst_ports":443}}}]}"#,
    )
    .unwrap();
    let Match::Ip(ip) = &numeric.filters[0].matcher else {
        panic!()
    };
    assert_eq!(ip.protocol, Some(IpProtocol::TCP));
    assert_eq!(ip.dst_ports, Some(PortRange::single(443)));
}

#[test]
fn an_ip_filter_maps_to_the_amt_properties() {
    let FilterInstance::Ip(f) = ssh_drop().to_amt() else {
        panic!()
    };
    use amt_wsman::classes::amt::{FilterDirection, FilterProfile, IpVersion};
    assert_eq!(f.name.as_deref(), Some("no-ssh"));
    assert_eq!(f.filter_direction, Some(FilterDirection::Receive));
    assert_eq!(f.filter_profile, Some(FilterProfile::Drop));
    assert_eq!(f.hdr_ip_version, Some(IpVersion::V4));
    assert_eq!(f.hdr_protocol_id, Some(6));
    assert_eq!(f.hdr_src_address.as_deref(), Some("c0a80000"));
    assert_eq!(f.hdr_src_mask.as_deref(), Some("ffff0000"));
    assert_eq!(
        (f.hdr_dest_port_start, f.hdr_dest_port_end),
        (Some(22), Some(22))
    );
    assert_eq!(f.action_event_on_match, Some(true));
    assert_eq!(f.filter_profile_data, None);
    let FilterInstance::Ethernet(e) = arp_limit().to_amt() else {
        panic!()
    };
    assert_eq!(e.hdr_protocol_id, Some(0x0806));
    assert_eq!(e.filter_profile_data, Some(100));
}

#[test]
fn device_filters_the_model_cannot_express_are_unreadable_not_misread() {
    let FilterInstance::Ip(base) = ssh_drop().to_amt() else {
        panic!()
    };
    let cases: Vec<(AmtIpHeadersFilter, &str)> = vec![
        (
            AmtIpHeadersFilter {
                hdr_dscp: vec![46],
                ..base.clone()
            },
            "HdrDSCP",
        ),
        (
            AmtIpHeadersFilter {
                hdr_src_mask: Some("ff00ff00".into()),
                ..base.clone()
            },
            "not a contiguous mask",
        ),
        (
            AmtIpHeadersFilter {
                filter_direction: Some(amt_wsman::classes::amt::FilterDirection::Undocumented2),
                ..base.clone()
            },
            "not a documented direction",
        ),
        (
            AmtIpHeadersFilter {
                hdr_dest_port_start: None,
                ..base.clone()
            },
            "given without a start",
        ),
    ];
    for (f, why) in cases {
        let e = Filter::from_amt(&FilterInstance::Ip(f)).unwrap_err();
        assert!(e.to_string().contains(why), "{e} should say {why}");
    }
    // An unknown FilterProfile fails the typed conversion: kept as unreadable.
    let mut i = FilterInstance::Ip(base).to_instance();
    for p in &mut i.properties {
        if p.name == "FilterProfile" {
            p.value = amt_wsman::Value::Text("9".into());
        }
        if p.name == "InstanceID" {
            p.value = amt_wsman::Value::Text("7".into());
        }
    }
    i.properties
        .push(amt_wsman::value::Property::text("InstanceID", "7"));
    let d = DeviceDefense::from_amt(&[], &[], &[i], &[]);
    assert!(matches!(d.filters[0].filter, Err(ReadError::Class(_))));
}

#[test]
fn handles_are_the_trailing_number_of_the_instance_id() {
    assert_eq!(handle_of("5"), Some(5));
    assert_eq!(handle_of("Intel(r) AMT:Filter 17"), Some(17));
    assert_eq!(handle_of("none"), None);
}

#[test]
fn a_device_holding_the_policy_shows_no_difference() {
    let p = lockdown();
    let d = device_holding(&[&p], 1);
    assert_eq!(compare(&p, &d), vec![]);
    assert!(ApplyPlan::new(&p, &d).is_empty());
}

#[test]
fn compare_names_what_differs_in_words() {
    let p = lockdown();
    let mut changed = p.clone();
    changed.precedence = 3;
    changed.rx_default.action = Verdict::Drop;
    if let Match::Ip(ip) = &mut changed.filters[0].matcher {
        ip.dst_ports = Some(PortRange::single(23));
    }
    changed.filters.swap(0, 1);
    let extra = Filter {
        name: "extra".into(),
        ..arp_limit()
    };
    changed.filters.push(extra);
    changed.ports = vec![Port::Wired, Port::Wireless];
    let d = device_holding(&[&changed], 1);
    let diffs = compare(&p, &d);
    let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    assert!(text.contains(&"policy precedence is 3 on the device, 10 in the intent".into()));
    assert!(text.contains(&"policy rx_default is drop on the device, pass in the intent".into()));
    assert!(
        text.contains(&"filter no-ssh: dst_ports is 23 on the device, 22 in the intent".to_owned())
    );
    assert!(text.contains(&"filter extra is on the device but not in the intent".to_owned()));
    assert!(text.contains(
        &"filters are in the order arp-limit, no-ssh on the device, no-ssh, arp-limit in the \
          intent"
            .to_owned()
    ));
    assert!(text.contains(&"the policy is also enabled on the wireless port".to_owned()));
    assert_eq!(diffs.len(), 6, "{text:#?}");

    let empty = DeviceDefense::default();
    assert_eq!(
        compare(&p, &empty),
        vec![Difference::PolicyMissing {
            policy: "lockdown".into()
        }]
    );
}

#[test]
fn a_filter_deleted_on_the_device_is_reported_missing() {
    let p = lockdown();
    let mut on_device = p.clone();
    on_device.filters.remove(0);
    let d = device_holding(&[&on_device], 1);
    assert_eq!(
        compare(&p, &d),
        vec![Difference::FilterMissing {
            filter: "no-ssh".into()
        }]
    );
    let plan = ApplyPlan::new(&p, &d);
    assert_eq!(
        plan.filters,
        vec![FilterSource::Create, FilterSource::Reuse { handle: 1 }]
    );
    assert!(matches!(plan.policy, PolicyStep::Update { .. }));
    assert!(plan.delete_filters.is_empty() && plan.bind.is_empty());
}

#[test]
fn an_overridden_or_disabled_policy_is_reported() {
    let p = lockdown();
    let mut strict = DefensePolicy::new("strict");
    strict.precedence = 50;
    let mut d = device_holding(&[&p, &strict], 1);
    // Both enabled on the wired port: the higher precedence is active.
    for b in &mut d.bindings {
        b.active = b.policy_instance_id.as_deref() == Some(d.policies[1].instance_id.as_str());
    }
    assert_eq!(
        compare(&p, &d),
        vec![Difference::Overridden {
            port: Port::Wired,
            by: Some("strict".into())
        }]
    );
    d.bindings[0].enabled = false;
    assert_eq!(
        compare(&p, &d),
        vec![Difference::NotEnabled { port: Port::Wired }]
    );
    let plan = ApplyPlan::new(&p, &d);
    assert!(matches!(&plan.bind[..], [BindingStep::Enable { .. }]));
}

#[test]
fn apply_on_an_empty_device_creates_everything_in_order() {
    let p = lockdown();
    let plan = ApplyPlan::new(&p, &DeviceDefense::default());
    assert_eq!(
        plan.filters,
        vec![FilterSource::Create, FilterSource::Create]
    );
    assert_eq!(plan.policy, PolicyStep::Create);
    assert_eq!(plan.bind, vec![BindingStep::Create { port: Port::Wired }]);
    assert_eq!(plan.creates(), 2);
}

#[test]
fn a_changed_filter_is_recreated_and_the_old_one_deleted() {
    let p = lockdown();
    let mut old = p.clone();
    old.filters[1].rate = Some(5);
    let d = device_holding(&[&old], 1);
    let plan = ApplyPlan::new(&p, &d);
    assert_eq!(
        plan.filters,
        vec![FilterSource::Reuse { handle: 1 }, FilterSource::Create]
    );
    assert!(matches!(plan.policy, PolicyStep::Update { .. }));
    assert_eq!(
        plan.delete_filters,
        vec![(FilterClass::Ethernet, "2".to_owned())]
    );
}

#[test]
fn leftover_unused_filters_from_an_interrupted_apply_are_reused() {
    let p = lockdown();
    // Filters created, the policy never was: the device holds only the filters.
    let full = device_holding(&[&p], 1);
    let d = DeviceDefense {
        filters: full.filters.clone(),
        ..DeviceDefense::default()
    };
    let plan = ApplyPlan::new(&p, &d);
    assert_eq!(
        plan.filters,
        vec![
            FilterSource::Reuse { handle: 1 },
            FilterSource::Reuse { handle: 2 }
        ]
    );
    assert_eq!(plan.policy, PolicyStep::Create);
}

#[test]
fn filters_of_other_policies_are_neither_reused_nor_deleted() {
    let p = lockdown();
    let mut other = p.clone();
    other.name = "other".into();
    let d = device_holding(&[&other], 1);
    let plan = ApplyPlan::new(&p, &d);
    assert_eq!(plan.creates(), 2);
    assert!(plan.delete_filters.is_empty());
    let r = RemovePlan::new("lockdown", &d);
    assert!(r.is_empty());
}

#[test]
fn duplicates_and_extra_ports_are_cleaned_up() {
    let p = lockdown();
    let mut wide = p.clone();
    wide.ports = vec![Port::Wired, Port::Wireless];
    let d = device_holding(&[&wide, &p], 1);
    let plan = ApplyPlan::new(&p, &d);
    assert_eq!(
        plan.delete_policies,
        vec![d.policies[1].instance_id.clone()]
    );
    // The kept policy's wireless association and the duplicate's wired one.
    assert_eq!(plan.unbind.len(), 2);
    // The duplicate's filters go; the kept policy's are reused.
    assert_eq!(plan.delete_filters.len(), 2);
    assert_eq!(plan.creates(), 0);
}

#[test]
fn remove_unbinds_then_deletes_the_policy_and_its_filters() {
    let p = lockdown();
    let keep = DefensePolicy::new("keep");
    let d = device_holding(&[&p, &keep], 1);
    let r = RemovePlan::new("lockdown", &d);
    assert_eq!(r.unbind.len(), 1);
    assert_eq!(r.delete_policies, vec![d.policies[0].instance_id.clone()]);
    assert_eq!(
        r.delete_filters,
        vec![
            (FilterClass::Ip, "1".to_owned()),
            (FilterClass::Ethernet, "2".to_owned())
        ]
    );
}

#[test]
fn views_show_ports_and_filters() {
    let p = lockdown();
    let d = device_holding(&[&p], 1);
    let v = d.views();
    assert_eq!(v[0].enabled_on, vec!["wired".to_owned()]);
    assert_eq!(v[0].active_on, vec!["wired".to_owned()]);
    assert_eq!(v[0].filters[0].filter.as_ref(), Some(&p.filters[0]));
    let b = AmtNetworkPortSystemDefensePolicy::from_instance(
        &binding_to_amt(Port::Wireless, d.policies[0].reference()).to_instance(),
    )
    .unwrap();
    assert_eq!(b.enabled, Some(true));
}

// ---- property tests: model → AMT instance → model ----------------------------------------

fn arb_ip(family: IpFamily) -> impl Strategy<Value = IpAddr> {
    match family {
        IpFamily::V4 => any::<[u8; 4]>().prop_map(IpAddr::from).boxed(),
        IpFamily::V6 => any::<[u8; 16]>().prop_map(IpAddr::from).boxed(),
    }
}

fn arb_addr(family: IpFamily) -> impl Strategy<Value = AddrMatch> {
    prop_oneof![
        (arb_ip(family), 0..=family.bits()).prop_map(|(a, len)| AddrMatch::Prefix {
            addr: network_of(a, len),
            len
        }),
        (arb_ip(family), arb_ip(family)).prop_map(|(a, b)| AddrMatch::Range {
            start: a.min(b),
            end: a.max(b)
        }),
    ]
}

fn arb_ports() -> impl Strategy<Value = PortRange> {
    (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange {
        start: a.min(b),
        end: a.max(b),
    })
}

fn arb_match() -> impl Strategy<Value = Match> {
    let eth = (
        proptest::option::of(0x0600u16..),
        proptest::option::of(any::<[u8; 6]>().prop_map(MacAddr)),
        proptest::option::of(any::<[u8; 6]>().prop_map(MacAddr)),
        proptest::option::of(0u16..=4094),
        proptest::option::of(0u8..=7),
    )
        .prop_map(|(ether_type, src_mac, dst_mac, vlan, priority)| {
            Match::Ethernet(EthernetMatch {
                ether_type,
                src_mac,
                dst_mac,
                vlan,
                priority,
            })
        });
    let ip = prop_oneof![Just(IpFamily::V4), Just(IpFamily::V6)].prop_flat_map(|family| {
        (
            any::<bool>(),
            proptest::option::of(arb_addr(family)),
            proptest::option::of(arb_addr(family)),
            proptest::option::of(prop_oneof![
                Just(IpProtocol::TCP),
                Just(IpProtocol::UDP),
                any::<u8>().prop_map(IpProtocol)
            ]),
            proptest::option::of(arb_ports()),
            proptest::option::of(arb_ports()),
        )
            .prop_map(move |(versioned, src, dst, protocol, sp, dp)| {
                let ports = protocol.is_some_and(IpProtocol::has_ports);
                Match::Ip(IpMatch {
                    ip_version: (versioned || src.is_some() || dst.is_some()).then_some(family),
                    src,
                    dst,
                    protocol,
                    src_ports: sp.filter(|_| ports),
                    dst_ports: dp.filter(|_| ports),
                })
            })
    });
    prop_oneof![eth, ip]
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    (
        "[a-z0-9._-]{1,16}",
        prop_oneof![Just(Direction::Receive), Just(Direction::Transmit)],
        prop_oneof![
            Just(Action::Pass),
            Just(Action::Drop),
            Just(Action::CountPass),
            Just(Action::CountDrop),
            Just(Action::RateLimit)
        ],
        1u32..,
        any::<bool>(),
        any::<bool>(),
        arb_match(),
    )
        .prop_map(
            |(name, direction, action, rate, event_on_match, negate, matcher)| Filter {
                name,
                direction,
                action,
                rate: (action == Action::RateLimit).then_some(rate),
                event_on_match,
                negate,
                matcher,
            },
        )
}

fn arb_default() -> impl Strategy<Value = DefaultAction> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(drop, count, event)| DefaultAction {
        action: if drop { Verdict::Drop } else { Verdict::Pass },
        count,
        event,
    })
}

fn arb_policy() -> impl Strategy<Value = DefensePolicy> {
    (
        "[A-Za-z0-9._-]{1,16}",
        any::<u32>(),
        prop_oneof![
            Just(vec![Port::Wired]),
            Just(vec![Port::Wireless]),
            Just(vec![Port::Wired, Port::Wireless])
        ],
        arb_default(),
        arb_default(),
        proptest::collection::vec(arb_filter(), 0..6),
    )
        .prop_map(|(name, precedence, ports, rx, tx, filters)| {
            let mut seen = std::collections::HashSet::new();
            DefensePolicy {
                name,
                precedence,
                ports,
                rx_default: rx,
                tx_default: tx,
                anti_spoofing: AntiSpoofing::Off,
                filters: filters
                    .into_iter()
                    .filter(|f| seen.insert(f.name.clone()))
                    .collect(),
            }
        })
}

fn through_instance(f: &FilterInstance) -> FilterInstance {
    let i: Instance = f.to_instance();
    match f {
        FilterInstance::Ethernet(_) => FilterInstance::Ethernet(
            amt_wsman::classes::amt::AmtHdr8021Filter::from_instance(&i).unwrap(),
        ),
        FilterInstance::Ip(_) => FilterInstance::Ip(AmtIpHeadersFilter::from_instance(&i).unwrap()),
    }
}

proptest! {
    #[test]
    fn filters_survive_the_trip_to_amt_and_back(f in arb_filter()) {
        let wire = through_instance(&f.to_amt());
        prop_assert_eq!(Filter::from_amt(&wire).unwrap(), f);
    }

    #[test]
    fn valid_policies_survive_validation_json_and_a_device_unchanged(p in arb_policy()) {
        let v = p.clone().validated();
        prop_assert!(v.is_ok(), "{}", v.unwrap_err());
        let v = v.unwrap();
        prop_assert_eq!(&v, &p);
        let json = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(&serde_json::from_str::<DefensePolicy>(&json).unwrap(), &v);
        let d = device_holding(&[&v], 100);
        prop_assert_eq!(compare(&v, &d), vec![]);
        prop_assert!(ApplyPlan::new(&v, &d).is_empty());
        let r = RemovePlan::new(&v.name, &d);
        prop_assert_eq!(r.delete_filters.len(), v.filters.len());
        prop_assert_eq!(r.unbind.len(), v.ports.len());
    }
}
