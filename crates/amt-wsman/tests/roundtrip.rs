//! Round-trip property tests: build → parse gives back the same value, for requests (console
//! builds, device parses) and responses (device builds, console parses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_wsman::envelope::{Enumerate, EnumerationMode, Pull};
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::value::{Selector, SelectorValue};
use amt_wsman::{
    EndpointReference, Fault, Instance, Item, Operation, Property, Request, Response, ResponseBody,
    SelectorSet, Value,
};
use proptest::prelude::*;

/// Text that is legal XML 1.0 character data (no control characters), including characters
/// that need escaping.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 <>&\"'=:/._\\-éü€$@!]{0,24}").expect("regex")
}

/// Text without surrounding whitespace (header and selector values are compared trimmed).
fn token() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9<>&\"'=:/._\\-€$@!]{1,24}").expect("regex")
}

fn ident() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Z][A-Za-z0-9_]{0,15}").expect("regex")
}

fn class() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("AMT_"), Just("CIM_"), Just("IPS_")],
        ident(),
    )
        .prop_map(|(p, n)| format!("{p}{n}"))
}

fn selectors(depth: u32) -> BoxedStrategy<SelectorSet> {
    let leaf = (ident(), token()).prop_map(|(n, v)| Selector {
        name: n,
        value: SelectorValue::Text(v),
    });
    if depth == 0 {
        proptest::collection::vec(leaf, 0..3)
            .prop_map(SelectorSet)
            .boxed()
    } else {
        let nested = (ident(), epr(depth - 1)).prop_map(|(n, e)| Selector {
            name: n,
            value: SelectorValue::Epr(Box::new(e)),
        });
        proptest::collection::vec(prop_oneof![3 => leaf, 1 => nested], 0..3)
            .prop_map(SelectorSet)
            .boxed()
    }
}

fn epr(depth: u32) -> BoxedStrategy<EndpointReference> {
    (class(), selectors(depth))
        .prop_map(|(c, s)| EndpointReference::to_class(&c, s))
        .boxed()
}

fn instance(name: Option<String>) -> BoxedStrategy<Instance> {
    let value = prop_oneof![
        4 => text().prop_map(Value::Text),
        1 => Just(Value::Nil),
        1 => epr(1).prop_map(Value::Epr),
    ];
    let props = proptest::collection::vec(
        (ident(), value).prop_map(|(name, value)| Property { name, value }),
        0..6,
    );
    (class(), props)
        .prop_map(move |(c, properties)| {
            let mut i = Instance::of_class(&c);
            if let Some(n) = &name {
                i.name = n.clone();
            }
            i.properties = properties;
            i
        })
        .boxed()
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::Get),
        Just(Operation::Delete),
        instance(None).prop_map(Operation::Put),
        instance(None).prop_map(Operation::Create),
        (
            any::<bool>(),
            proptest::option::of(1u32..1000),
            proptest::option::of(prop_oneof![
                Just(EnumerationMode::EnumerateEpr),
                Just(EnumerationMode::EnumerateObjectAndEpr)
            ])
        )
            .prop_map(
                |(optimize, max_elements, mode)| Operation::Enumerate(Enumerate {
                    mode,
                    optimize,
                    max_elements,
                    filter: None,
                })
            ),
        (
            token(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>())
        )
            .prop_map(
                |(context, max_elements, max_characters)| Operation::Pull(Pull {
                    context,
                    max_elements,
                    max_characters,
                })
            ),
        token().prop_map(|context| Operation::Release { context }),
        (ident(), instance(None)).prop_map(|(m, mut input)| {
            input.name = format!("{m}_INPUT");
            Operation::Invoke { method: m, input }
        }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (class(), any::<u64>(), operation(), selectors(1)).prop_map(|(c, id, op, s)| {
        // Put/Create/Invoke bodies live in the request's class namespace.
        let op = match op {
            Operation::Put(mut i) => {
                i.namespace = amt_wsman::ns::resource_uri(&c);
                i.name = c.clone();
                Operation::Put(i)
            }
            Operation::Create(mut i) => {
                i.namespace = amt_wsman::ns::resource_uri(&c);
                i.name = c.clone();
                Operation::Create(i)
            }
            Operation::Invoke { method, mut input } => {
                input.namespace = amt_wsman::ns::resource_uri(&c);
                Operation::Invoke { method, input }
            }
            other => other,
        };
        Request::new(&c, id, op).with_selectors(s)
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    let code = prop_oneof![Just(FaultCode::Sender), Just(FaultCode::Receiver)];
    let sub = prop_oneof![
        Just(Subcode::AccessDenied),
        Just(Subcode::DestinationUnreachable),
        Just(Subcode::InvalidEnumerationContext),
        Just(Subcode::InvalidRepresentation),
        ident().prop_map(|l| Subcode::Other {
            ns: "urn:vendor:faults".into(),
            local: l
        }),
    ];
    (code, sub, text(), any::<bool>()).prop_map(|(c, s, r, d)| {
        let f = Fault::new(c, s, r.trim().to_owned());
        if d {
            f.with_fault_detail("InvalidValue")
        } else {
            f
        }
    })
}

fn response_body(class_ns: String) -> impl Strategy<Value = ResponseBody> {
    let inst = instance(None)
        .prop_map(move |mut i| {
            i.namespace = class_ns.clone();
            i
        })
        .boxed();
    prop_oneof![
        inst.clone().prop_map(ResponseBody::Get),
        inst.clone().prop_map(|i| ResponseBody::Put(Some(i))),
        epr(1).prop_map(ResponseBody::Create),
        Just(ResponseBody::Delete(None)),
        token().prop_map(|c| ResponseBody::Enumerate {
            context: Some(c),
            items: vec![],
            end_of_sequence: false
        }),
        (
            proptest::collection::vec(
                prop_oneof![
                    inst.clone().prop_map(Item::Instance),
                    epr(1).prop_map(Item::Epr),
                    (inst.clone(), epr(0)).prop_map(|(i, e)| Item::Both(i, e)),
                ],
                0..4
            ),
            proptest::option::of(token()),
            any::<bool>()
        )
            .prop_map(|(items, context, end_of_sequence)| ResponseBody::Pull {
                items,
                context,
                end_of_sequence
            }),
        (ident(), inst).prop_map(|(m, mut output)| {
            output.name = format!("{m}_OUTPUT");
            ResponseBody::Invoke { method: m, output }
        }),
        fault().prop_map(ResponseBody::Fault),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn request_build_then_parse_is_identity(req in request()) {
        let xml = req.to_xml();
        let parsed = Request::parse(xml.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(parsed, req);
    }

    #[test]
    fn response_build_then_parse_is_identity(
        (req, body) in request().prop_flat_map(|r| {
            let ns = r.header.resource_uri.clone();
            (Just(r), response_body(ns))
        }),
        counter in any::<u64>(),
    ) {
        let resp = Response::for_body(&req.header.resource_uri, &req.header.message_id, body, counter);
        let xml = resp.to_xml();
        let parsed = Response::parse(xml.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(parsed, resp);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::parse(&bytes);
        let _ = Response::parse(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_mutated_envelopes(req in request(), cut in any::<usize>(), byte in any::<u8>()) {
        let mut xml = req.to_xml().into_bytes();
        let i = cut % xml.len();
        xml[i] = byte;
        let _ = Request::parse(&xml);
        let _ = Response::parse(&xml);
        xml.truncate(i);
        let _ = Request::parse(&xml);
    }
}

#[test]
fn direct_writers_equal_request_to_xml() {
    use amt_wsman::classes::amt::{AmtTlsSettingData, SetAdminAclEntryExInput};
    use amt_wsman::classes::cim::{managed_system, PowerState, RequestPowerStateChangeInput};
    use amt_wsman::classes::{MethodInput, WsmanClass};
    let sel = SelectorSet::one("Name", "Intel(r) AMT Power Management Service")
        .with("SystemName", "Intel(r) AMT & <friends>");
    let power = RequestPowerStateChangeInput {
        power_state: Some(PowerState::MasterBusReset),
        managed_element: Some(managed_system()),
        ..Default::default()
    };
    assert_eq!(
        power.request_xml(7, &sel),
        power.request(7, sel.clone()).to_xml()
    );
    let acl = SetAdminAclEntryExInput {
        username: Some("admin".into()),
        digest_password: Some("a<b>&c".into()),
        ..Default::default()
    };
    assert_eq!(
        acl.request_xml(u64::MAX, &SelectorSet::new()),
        acl.request(u64::MAX, SelectorSet::new()).to_xml()
    );
    let tls = AmtTlsSettingData {
        enabled: Some(true),
        trusted_cn: vec!["a.example".into(), "b.example".into()],
        ..Default::default()
    };
    assert_eq!(tls.put_xml(3, &sel), tls.put(3, sel.clone()).to_xml());
    assert_eq!(tls.create_xml(4), tls.create(4).to_xml());
    assert_eq!(
        AmtTlsSettingData::get_xml(5, &sel),
        AmtTlsSettingData::get(5, sel.clone()).to_xml()
    );
    assert_eq!(
        AmtTlsSettingData::pull_xml(6, "ctx&1"),
        AmtTlsSettingData::pull(6, "ctx&1").to_xml()
    );
    assert_eq!(
        AmtTlsSettingData::enumerate_xml(8),
        AmtTlsSettingData::enumerate(8).to_xml()
    );
    assert_eq!(
        AmtTlsSettingData::delete_xml(9, &sel),
        AmtTlsSettingData::delete(9, sel.clone()).to_xml()
    );
}
