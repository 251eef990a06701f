//! Bad input gets a typed error naming what is wrong, and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_wsman::classes::Call;
use amt_wsman::fault::Subcode;
use amt_wsman::xml::{Limits, XmlError};
use amt_wsman::{Error, Fault, Request, Response};

const GET_GENERAL: &str = r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body></Body></Envelope>"#;

#[test]
fn the_reference_request_parses() {
    let r = Request::parse(GET_GENERAL.as_bytes()).expect("valid");
    assert!(matches!(Call::from_request(&r), Ok(Call::Get { .. })));
}

#[test]
fn malformed_xml_is_a_typed_error() {
    let cut = &GET_GENERAL[..GET_GENERAL.len() - 20];
    assert!(matches!(
        Request::parse(cut.as_bytes()),
        Err(Error::Xml(XmlError::Malformed { .. }))
    ));
    assert!(matches!(
        Request::parse(b"\xff\xfe<a/>"),
        Err(Error::Xml(XmlError::NotUtf8))
    ));
    assert!(matches!(
        Request::parse(b"not xml at all"),
        Err(Error::Xml(_))
    ));
}

#[test]
fn soap_1_1_envelope_is_wrong_namespace() {
    let s = GET_GENERAL.replace(
        "http://www.w3.org/2003/05/soap-envelope",
        "http://schemas.xmlsoap.org/soap/envelope/",
    );
    match Request::parse(s.as_bytes()) {
        Err(e @ Error::WrongNamespace { .. }) => {
            assert!(e.to_string().contains("Envelope"), "{e}");
            let f = Fault::from(&e);
            assert_eq!(f.subcode, Some(Subcode::InvalidMessageInformationHeader));
        }
        other => panic!("expected WrongNamespace, got {other:?}"),
    }
}

#[test]
fn header_in_wrong_namespace_is_reported_missing() {
    // ResourceURI in a made-up namespace is not the WS-Management ResourceURI.
    let s = GET_GENERAL.replace(
        "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"",
        "xmlns:w=\"urn:not-wsman\"",
    );
    let e = Request::parse(s.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("wsman:ResourceURI"), "{e}");
}

#[test]
fn unknown_action_names_the_action() {
    let s = GET_GENERAL.replace(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
        "http://example.com/Frobnicate",
    );
    match Request::parse(s.as_bytes()) {
        Err(e @ Error::UnknownAction(_)) => {
            assert!(e.to_string().contains("http://example.com/Frobnicate"));
            assert_eq!(Fault::from(&e).subcode, Some(Subcode::ActionNotSupported));
        }
        other => panic!("expected UnknownAction, got {other:?}"),
    }
}

#[test]
fn unknown_method_is_unknown_action_at_dispatch() {
    let s = GET_GENERAL
        .replace(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
            "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings/SelfDestruct",
        )
        .replace(
            "<Body></Body>",
            r#"<Body><h:SelfDestruct_INPUT xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"/></Body>"#,
        );
    let req = Request::parse(s.as_bytes()).expect("well-formed method call");
    let e = Call::from_request(&req).unwrap_err();
    assert!(
        matches!(e, Error::UnknownAction(ref a) if a.contains("SelfDestruct")),
        "{e}"
    );
}

#[test]
fn unknown_class_is_destination_unreachable() {
    let s = GET_GENERAL.replace("AMT_GeneralSettings", "AMT_DoesNotExist");
    let req = Request::parse(s.as_bytes()).expect("well-formed");
    let e = Call::from_request(&req).unwrap_err();
    assert!(matches!(e, Error::UnknownClass(ref c) if c.contains("AMT_DoesNotExist")));
    assert_eq!(
        Fault::from(&e).subcode,
        Some(Subcode::DestinationUnreachable)
    );
}

#[test]
fn method_body_must_match_action() {
    let s = GET_GENERAL
        .replace(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
            "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService/AdminSetup",
        )
        .replace(
            "<Body></Body>",
            r#"<Body><h:Setup_INPUT xmlns:h="http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"/></Body>"#,
        );
    assert!(matches!(
        Request::parse(s.as_bytes()),
        Err(Error::BodyMismatch { ref method, ref body }) if method == "AdminSetup" && body == "Setup_INPUT"
    ));
}

#[test]
fn missing_selector_is_named() {
    let req = Request::parse(GET_GENERAL.as_bytes()).expect("valid");
    let e = req
        .header
        .selectors
        .require(&req.header.resource_uri, "InstanceID")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "AMT_GeneralSettings: missing selector InstanceID"
    );
    assert_eq!(Fault::from(&e).subcode, Some(Subcode::InvalidSelectors));
}

#[test]
fn missing_headers_are_named() {
    for (tag, what) in [
        ("a:Action", "wsa:Action"),
        ("w:ResourceURI", "wsman:ResourceURI"),
        ("a:MessageID", "wsa:MessageID"),
    ] {
        let start = GET_GENERAL.find(&format!("<{tag}>")).expect("tag");
        let end = GET_GENERAL.find(&format!("</{tag}>")).expect("tag") + tag.len() + 3;
        let s = format!("{}{}", &GET_GENERAL[..start], &GET_GENERAL[end..]);
        let e = Request::parse(s.as_bytes()).unwrap_err();
        assert!(e.to_string().contains(what), "{tag}: {e}");
    }
}

#[test]
fn oversize_body_is_rejected_before_parsing() {
    let big = GET_GENERAL.replace(
        "<Body></Body>",
        &format!("<Body><!--{}--></Body>", "x".repeat(5 * 1024 * 1024)),
    );
    match Request::parse(big.as_bytes()) {
        Err(e @ Error::Xml(XmlError::TooLarge { .. })) => {
            assert_eq!(Fault::from(&e).subcode, Some(Subcode::EncodingLimit));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let tight = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        Request::parse_with(GET_GENERAL.as_bytes(), &tight),
        Err(Error::Xml(XmlError::TooLarge { .. }))
    ));
}

#[test]
fn doctype_and_entities_are_rejected_in_envelopes() {
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE Envelope [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}",
        &GET_GENERAL[GET_GENERAL.find("<Envelope").expect("root")..]
    );
    assert!(matches!(
        Request::parse(bomb.as_bytes()),
        Err(Error::Xml(XmlError::DoctypeRejected))
    ));
    assert!(matches!(
        Response::parse(bomb.as_bytes()),
        Err(Error::Xml(XmlError::DoctypeRejected))
    ));
}

#[test]
fn deep_nesting_is_rejected() {
    let deep = GET_GENERAL.replace(
        "<Body></Body>",
        &format!("<Body>{}{}</Body>", "<x>".repeat(200), "</x>".repeat(200)),
    );
    assert!(matches!(
        Request::parse(deep.as_bytes()),
        Err(Error::Xml(XmlError::TooDeep { .. }))
    ));
}

#[test]
fn bad_property_values_name_class_and_property() {
    use amt_wsman::classes::TypedInstance;
    let mut i = amt_wsman::Instance::of_class("AMT_GeneralSettings");
    i = i.with_text("DDNSTTL", "nine hundred");
    let e = TypedInstance::from_instance(&i).unwrap_err();
    assert_eq!(
        e.to_string(),
        "AMT_GeneralSettings.DDNSTTL: \"nine hundred\" is not a valid uint32"
    );
    let i = amt_wsman::Instance::of_class("AMT_GeneralSettings")
        .with_text("DigestRealm", "a")
        .with_text("DigestRealm", "b");
    let e = TypedInstance::from_instance(&i).unwrap_err();
    assert!(e.to_string().contains("repeated"), "{e}");
}

#[test]
fn unknown_enum_value_is_typed() {
    use amt_wsman::classes::cim::PowerState;
    assert!(matches!(
        PowerState::try_from(99u16),
        Err(Error::UnknownEnumValue {
            type_name: "PowerState",
            value: 99
        })
    ));
}

#[test]
fn faults_round_trip_with_their_subcode() {
    let f = Fault::access_denied().with_fault_detail("InvalidValue");
    let req = Request::parse(GET_GENERAL.as_bytes()).expect("valid");
    let resp = Response::to_request(&req, amt_wsman::ResponseBody::Fault(f.clone()), 7);
    assert_eq!(resp.http_status(), 400);
    let back = Response::parse(resp.to_xml().as_bytes()).expect("parses");
    assert_eq!(back.body, amt_wsman::ResponseBody::Fault(f));
}

#[test]
fn recorded_amt_fault_parses() {
    // AMT's DestinationUnreachable fault as recorded (AMT-PROTOCOLS.md §3.3, go-wsman-messages
    // pkg/amterror test fixture).
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><a:Header><b:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:To><b:RelatesTo>0</b:RelatesTo><b:Action a:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action><b:MessageID>uuid:00000000-8086-8086-8086-000000003B3F</b:MessageID></a:Header><a:Body><a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">No route can be determined to reach the destination role defined by the WSAddressing To.</a:Text></a:Reason><a:Detail></a:Detail></a:Fault></a:Body></a:Envelope>"#;
    let r = Response::parse(xml.as_bytes()).expect("fault parses");
    let amt_wsman::ResponseBody::Fault(f) = r.body else {
        panic!("not a fault")
    };
    assert_eq!(f.subcode, Some(Subcode::DestinationUnreachable));
    assert_eq!(f, Fault::destination_unreachable());
}

#[test]
fn selector_name_qualified_with_wsman_namespace_is_accepted() {
    // amtctrl (PyPI `amt`) writes `<wsman:Selector wsman:Name="Name">`.
    let s = GET_GENERAL.replace(
        "<w:OperationTimeout>PT60S</w:OperationTimeout>",
        r#"<w:OperationTimeout>PT60S</w:OperationTimeout><w:SelectorSet><w:Selector w:Name="Name">ManagedSystem</w:Selector></w:SelectorSet>"#,
    );
    let req = Request::parse(s.as_bytes()).expect("parses");
    assert_eq!(req.header.selectors.get("Name"), Some("ManagedSystem"));
}
