//! Conformance with Intel's own WS-Management message library, a peer nobody here wrote.
//!
//! tests/node/gen-requests.js builds requests with `@device-management-toolkit/wsman-messages`
//! (the library Intel's RPS and MPS use; version pinned in tests/node/package-lock.json) for the
//! operations listed in tests/node/ops.js, and prints them with the argument values it passed.
//! Then:
//!
//! - device side: every request parses ([`Request::parse`]) and decodes
//!   ([`Call::from_request`]) into the right typed call, with the field values Node was given;
//! - console side: our typed builders, given the same message ID and argument values, write a
//!   request that is the same document as Node's under canonical comparison
//!   (tests/common/mod.rs: namespaces resolved, prefixes and property order ignored).
//!
//! The peer is found through `AMTD_NODE_DIR` (./scripts/test sets it; then a missing peer fails
//! the test), else `<workspace>/tests/node`; without `node` or its `node_modules` the tests print
//! `SKIPPED` and pass. Install with ./scripts/install-peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../benches/intel_ops/mod.rs"]
mod intel_ops;

use amt_wsman::classes::cim::PowerState;
use amt_wsman::classes::ips::{AdminPassEncryptionType, SigningAlgorithm};
use amt_wsman::classes::{Call, KnownClass, MethodCall};
use amt_wsman::envelope::Pull;
use amt_wsman::Request;
use intel_ops::{NodeOp, NodePeer};

/// The operations the brief requires among what Node builds (at least these; 30 or more in all).
const REQUIRED: &[&str] = &[
    "PublicKeyManagementService.AddTrustedRootCertificate",
    "PublicKeyManagementService.GenerateKeyPair",
    "PublicKeyManagementService.GeneratePKCS10RequestEx",
    "PublicKeyManagementService.AddCertificate",
    "TLSSettingData.Put",
    "HostBasedSetupService.AdminSetup",
    "HostBasedSetupService.Setup",
    "AuthorizationService.SetAdminAclEntryEx",
    "AuthorizationService.AddUserAclEntryEx",
    "PowerManagementService.RequestPowerStateChange",
    "GeneralSettings.Get",
    "SetupAndConfigurationService.Get",
    "SoftwareIdentity.Enumerate",
    "SoftwareIdentity.Pull",
    "SetupAndConfigurationService.CommitChanges",
    "SetupAndConfigurationService.SetMEBxPassword",
    "SetupAndConfigurationService.Unprovision",
    "HostBasedSetupService.AddNextCertInChain",
    "HostBasedSetupService.UpgradeClientToAdmin",
    "TimeSynchronizationService.GetLowAccuracyTimeSynch",
    "TimeSynchronizationService.SetHighAccuracyTimeSynch",
    "RedirectionService.RequestStateChange",
    "BootSettingData.Put",
    "TLSCredentialContext.Create",
    "PublicKeyCertificate.Delete",
    "OptInService.StartOptIn",
    "OptInService.SendOptInCode",
    "KerberosSettingData.GetCredentialCacheState",
];

/// What Node built, or `None` when the peer is absent and not required.
fn node_requests() -> Option<Vec<NodeOp>> {
    let peer = NodePeer::locate();
    if let Some(why) = peer.missing() {
        if peer.required {
            panic!(
                "AMTD_NODE_DIR={} is set but the Node peer cannot run: {why}",
                peer.dir.display()
            );
        }
        eprintln!(
            "SKIPPED: Intel's Node library is not installed ({why}); run ./scripts/install-peers"
        );
        return None;
    }
    let out = peer
        .run("gen-requests.js", &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let ops = intel_ops::parse_ops(&out).unwrap_or_else(|e| panic!("{e}"));
    for r in REQUIRED {
        assert!(
            ops.iter().any(|o| o.name == *r),
            "gen-requests.js does not build {r}"
        );
    }
    assert!(ops.len() >= 30, "only {} operations from Node", ops.len());
    Some(ops)
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn no_selectors(s: &amt_wsman::SelectorSet) -> Result<(), String> {
    expect("selectors", s.0.len(), 0)
}

/// `Call::Get` of `class` without selectors.
fn is_get(call: &Call, class: KnownClass) -> Result<(), String> {
    match call {
        Call::Get {
            class: c,
            selectors,
        } => {
            expect("class", *c, class)?;
            no_selectors(selectors)
        }
        other => Err(format!("not a Get: {other:?}")),
    }
}

/// `Call::Enumerate` of `class` with default options.
fn is_enumerate(call: &Call, class: KnownClass) -> Result<(), String> {
    match call {
        Call::Enumerate { class: c, options } => {
            expect("class", *c, class)?;
            expect("options", options, &Default::default())
        }
        other => Err(format!("not an Enumerate: {other:?}")),
    }
}

/// `Call::Pull` of `class` with Node's context and Intel's page sizes (999 / 99999).
fn is_pull(call: &Call, class: KnownClass, op: &NodeOp) -> Result<(), String> {
    match call {
        Call::Pull { class: c, pull } => {
            expect("class", *c, class)?;
            expect(
                "pull",
                pull,
                &Pull {
                    context: op.str("context")?,
                    max_elements: Some(999),
                    max_characters: Some(99999),
                },
            )
        }
        other => Err(format!("not a Pull: {other:?}")),
    }
}

/// The typed method call, checking there are no selectors.
fn method(call: &Call) -> Result<&MethodCall, String> {
    match call {
        Call::Invoke { method, selectors } => {
            no_selectors(selectors)?;
            Ok(method)
        }
        other => Err(format!("not a method call: {other:?}")),
    }
}

/// Checks that `call` is the typed call `op` asked for, with Node's argument values.
fn check_call(op: &NodeOp, call: &Call) -> Result<(), String> {
    use KnownClass as K;
    match op.name.as_str() {
        "GeneralSettings.Get" => is_get(call, K::AmtGeneralSettings),
        "PowerManagementService.Get" => is_get(call, K::CimPowerManagementService),
        "HostBasedSetupService.Get" => is_get(call, K::IpsHostBasedSetupService),

        "PowerManagementService.RequestPowerStateChange" => match method(call)? {
            MethodCall::RequestPowerStateChange(i) => {
                expect("PowerState", i.power_state, Some(PowerState::OffHard))?;
                expect(
                    "PowerState (Node arg)",
                    i.power_state,
                    Some(intel_ops::power_state(op)?),
                )?;
                let me = i.managed_element.as_ref().ok_or("no ManagedElement")?;
                expect(
                    "ManagedElement resource",
                    me.resource_uri.as_deref(),
                    Some("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem"),
                )?;
                expect(
                    "ManagedElement Name",
                    me.selectors.get("Name"),
                    Some("ManagedSystem"),
                )?;
                expect(
                    "ManagedElement CreationClassName",
                    me.selectors.get("CreationClassName"),
                    Some("CIM_ComputerSystem"),
                )
            }
            other => Err(format!("wrong method: {other:?}")),
        },
        "HostBasedSetupService.Setup" => match method(call)? {
            MethodCall::Setup(i) => {
                expect(
                    "NetAdminPassEncryptionType",
                    i.net_admin_pass_encryption_type,
                    Some(AdminPassEncryptionType::HttpDigestMd5A1),
                )?;
                expect(
                    "NetworkAdminPassword",
                    i.network_admin_password.clone(),
                    Some(op.str("adminPassword")?),
                )
            }
            other => Err(format!("wrong method: {other:?}")),
        },
        "HostBasedSetupService.AdminSetup" => match method(call)? {
            MethodCall::AdminSetup(i) => {
                expect(
                    "NetAdminPassEncryptionType",
                    i.net_admin_pass_encryption_type,
                    Some(AdminPassEncryptionType::HttpDigestMd5A1),
                )?;
                expect(
                    "NetworkAdminPassword",
                    i.network_admin_password.clone(),
                    Some(op.str("adminPassword")?),
                )?;
                expect("McNonce", i.mc_nonce.clone(), Some(op.str("mcNonce")?))?;
                expect(
                    "SigningAlgorithm",
                    i.signing_algorithm,
                    Some(SigningAlgorithm::RsaSha256),
                )?;
                expect(
                    "DigitalSignature",
                    i.digital_signature.clone(),
                    Some(op.str("digitalSignature")?),
                )
            }
            other => Err(format!("wrong method: {other:?}")),
        },
        other => Err(format!("no typed check for {other}")),
    }
}

#[test]
fn intel_library_requests_decode_into_typed_calls() {
    let Some(ops) = node_requests() else {
        return;
    };
    let mut failures = Vec::new();
    for op in &ops {
        let req = match Request::parse(op.xml.as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: Request::parse: {e}", op.name));
                continue;
            }
        };
        // The header as Intel writes it.
        let header = (|| {
            expect("action", req.action().into_owned(), op.action.clone())?;
            expect(
                "MessageID",
                req.header.message_id.clone(),
                op.message_id.to_string(),
            )?;
            expect("class", req.class().to_owned(), op.class.clone())?;
            expect("To", req.header.to.as_str(), "/wsman")?;
            expect(
                "OperationTimeout",
                req.header.operation_timeout.as_deref(),
                Some("PT60S"),
            )
        })();
        if let Err(e) = header {
            failures.push(format!("{}: {e}", op.name));
        }
        match Call::from_request(&req) {
            Ok(call) => {
                if let Err(e) = check_call(op, &call) {
                    failures.push(format!("{}: {e}", op.name));
                }
            }
            Err(e) => failures.push(format!("{}: Call::from_request: {e}", op.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} operations fail:\n{}",
        failures.len(),
        ops.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} Intel-built requests decode into the right typed calls",
        ops.len()
    );
}

#[test]
fn our_requests_match_intel_library_canonically() {
    let Some(ops) = node_requests() else {
        return;
    };
    let mut failures = Vec::new();
    for op in &ops {
        let build = match intel_ops::our_builder(op) {
            Ok(b) => b,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let ours = build(op.message_id).to_xml();
        let (theirs_c, ours_c) = (
            common::canonical_doc(op.xml.as_bytes()),
            common::canonical_doc(ours.as_bytes()),
        );
        if theirs_c != ours_c {
            failures.push(format!(
                "{}: documents differ\n  Node: {}\n  ours: {}",
                op.name, op.xml, ours
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} operations differ:\n{}",
        failures.len(),
        ops.len(),
        failures.join("\n")
    );
    eprintln!("{} requests match Intel's library canonically", ops.len());
}
