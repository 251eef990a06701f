//! The typed WS-Man client end to end over HTTP + Digest, against an in-test device that
//! decodes requests with amt-wsman's device side and answers in AMT's layout.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use amt_wsman::classes::amt::AmtGeneralSettings;
use amt_wsman::classes::cim::{
    managed_system, PowerActionReturn, PowerState, RequestPowerStateChangeInput,
    RequestPowerStateChangeOutput,
};
use amt_wsman::classes::{Call, MethodCall, Typed};
use amt_wsman::fault::Subcode;
use amt_wsman::{Fault, Instance, Item, Request, Response, ResponseBody, SelectorSet};
use amtd_infra::client::{WsmanClient, WsmanError};
use amtd_infra::transport::{DeviceEndpoint, TransportConfig, WsmanConnection};
use common::{Action, Options, Server, PASSWORD, USER};

fn software(n: usize) -> Vec<Instance> {
    (0..n)
        .map(|i| {
            Instance::of_class("CIM_SoftwareIdentity")
                .with_text("InstanceID", format!("Component{i}"))
                .with_text("IsEntity", "true")
                .with_text("VersionString", format!("16.1.{i}"))
        })
        .collect()
}

fn general() -> AmtGeneralSettings {
    AmtGeneralSettings {
        digest_realm: Some(common::REALM.to_owned()),
        host_name: Some("amtdev01".into()),
        domain_name: Some("amt.test".into()),
        ..Default::default()
    }
}

/// A device: Get AMT_GeneralSettings, Enumerate/Pull CIM_SoftwareIdentity in two pages,
/// RequestPowerStateChange, and faults for anything else.
fn device(seen: &common::Seen) -> Action {
    let req = match Request::parse(&seen.body) {
        Ok(r) => r,
        Err(e) => return reply_fault(None, Fault::from(&e)),
    };
    let body = match Call::from_request(&req) {
        Ok(Call::Get { class, .. }) if class.name() == "AMT_GeneralSettings" => {
            ResponseBody::Get(general().to_instance())
        }
        Ok(Call::Enumerate { .. }) => ResponseBody::Enumerate {
            context: Some("E2020000-0000-0000-0000-000000000001".into()),
            items: vec![],
            end_of_sequence: false,
        },
        Ok(Call::Pull { pull, .. }) => {
            let all = software(5);
            if pull.context == "E2020000-0000-0000-0000-000000000001" {
                ResponseBody::Pull {
                    items: all[..3].iter().cloned().map(Item::Instance).collect(),
                    context: Some("E2020000-0000-0000-0000-000000000002".into()),
                    end_of_sequence: false,
                }
            } else if pull.context == "E2020000-0000-0000-0000-000000000002" {
                ResponseBody::Pull {
                    items: all[3..].iter().cloned().map(Item::Instance).collect(),
                    context: None,
                    end_of_sequence: true,
                }
            } else {
                ResponseBody::Fault(Fault::invalid_enumeration_context())
            }
        }
        Ok(Call::Invoke {
            method: MethodCall::RequestPowerStateChange(input),
            ..
        }) => {
            let code = if input.power_state == Some(PowerState::OffHard) {
                PowerActionReturn::Completed
            } else {
                PowerActionReturn::NotSupported
            };
            let out = RequestPowerStateChangeOutput {
                return_value: Some(code),
                ..Default::default()
            };
            ResponseBody::Invoke {
                method: "RequestPowerStateChange".into(),
                output: out.to_instance(),
            }
        }
        Ok(_) => ResponseBody::Fault(Fault::action_not_supported(&req.action())),
        Err(e) => ResponseBody::Fault(Fault::from(&e)),
    };
    let resp = Response::to_request(&req, body, 0x2E4);
    Action::Reply {
        status: resp.http_status(),
        body: resp.to_xml().into_bytes(),
        close: false,
    }
}

fn reply_fault(req: Option<&Request>, f: Fault) -> Action {
    let resp = match req {
        Some(r) => Response::to_request(r, ResponseBody::Fault(f), 1),
        None => Response::for_body("", "", ResponseBody::Fault(f), 1),
    };
    Action::Reply {
        status: resp.http_status(),
        body: resp.to_xml().into_bytes(),
        close: false,
    }
}

async fn client_for(server: &Server) -> WsmanClient {
    let endpoint = DeviceEndpoint::http("127.0.0.1").with_port(server.port());
    let config = TransportConfig {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    };
    WsmanClient::new(WsmanConnection::new(endpoint, USER, PASSWORD.into(), config).unwrap())
}

#[tokio::test]
async fn typed_get_returns_the_device_instance() {
    let server = Server::start(Options::default(), device).await;
    let client = client_for(&server).await;
    let gs: AmtGeneralSettings = client.get(SelectorSet::new()).await.unwrap();
    assert_eq!(gs, general());
}

#[tokio::test]
async fn enumerate_pulls_every_page_until_end_of_sequence() {
    let server = Server::start(Options::default(), device).await;
    let client = client_for(&server).await;
    let all = client
        .enumerate_instances("CIM_SoftwareIdentity")
        .await
        .unwrap();
    assert_eq!(all, software(5));
    // Enumerate + two Pulls, plus the one 401 of the first exchange.
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn invoke_returns_the_typed_output() {
    let server = Server::start(Options::default(), device).await;
    let client = client_for(&server).await;
    let input = RequestPowerStateChangeInput {
        power_state: Some(PowerState::OffHard),
        managed_element: Some(managed_system()),
        ..Default::default()
    };
    let out: RequestPowerStateChangeOutput = client
        .invoke(&input, SelectorSet::new(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(out.return_value, Some(PowerActionReturn::Completed));
}

#[tokio::test]
async fn device_fault_is_a_typed_error() {
    let server = Server::start(Options::default(), device).await;
    let client = client_for(&server).await;
    let err = client
        .get_instance("AMT_NoSuchClass", SelectorSet::new())
        .await
        .unwrap_err();
    match err {
        WsmanError::Fault(f) => assert_eq!(f.subcode, Some(Subcode::DestinationUnreachable)),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[tokio::test]
async fn response_to_another_message_is_rejected() {
    let server = Server::start(Options::default(), |seen| {
        let req = Request::parse(&seen.body).unwrap();
        let mut resp = Response::to_request(&req, ResponseBody::Get(general().to_instance()), 1);
        resp.header.relates_to = Some("999".into());
        Action::ok(resp.to_xml())
    })
    .await;
    let client = client_for(&server).await;
    let err = client
        .get::<AmtGeneralSettings>(SelectorSet::new())
        .await
        .unwrap_err();
    assert!(matches!(err, WsmanError::WrongRelatesTo { .. }), "{err:?}");
}

#[tokio::test]
async fn garbage_from_the_device_is_a_decode_error() {
    let server = Server::start(Options::default(), |_| Action::ok("<html>not wsman</html>")).await;
    let client = client_for(&server).await;
    let err = client
        .get::<AmtGeneralSettings>(SelectorSet::new())
        .await
        .unwrap_err();
    assert!(matches!(err, WsmanError::Decode(_)), "{err:?}");
}
