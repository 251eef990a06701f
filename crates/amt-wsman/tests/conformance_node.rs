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
//! No normalisation is applied beyond the canonical form: where Intel's callers pass a value we
//! would write differently, our side is given the same value, as an argument. Two such values are
//! endpoint-reference addresses: the `KeyPair` of GeneratePKCS10RequestEx (RPS sends `/wsman`,
//! our `key_pair_reference` the anonymous role) and the `ManagedElement` of power requests (Intel
//! sends the WS-Addressing namespace URI, our `managed_system` the anonymous role); see
//! benches/intel_ops/mod.rs.
//!
//! The peer is found through `AMTD_NODE_DIR` (./scripts/test sets it; then a missing peer fails
//! the test), else `<workspace>/tests/node`; without `node` or its `node_modules` the tests print
//! `SKIPPED` and pass. Install with ./scripts/install-peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../benches/intel_ops/mod.rs"]
mod intel_ops;

use std::sync::OnceLock;

use amt_wsman::classes::amt::{
    AccessPermission, CsrSigningAlgorithm, FirmwareVerbosity, IderBootDevice, KeyAlgorithm, Realm,
    RedirectionRequestedState, UnprovisionMode,
};
use amt_wsman::classes::cim::{PowerState, RequestedState};
use amt_wsman::classes::ips::{AdminPassEncryptionType, OsPowerSavingState, SigningAlgorithm};
use amt_wsman::classes::{Call, KnownClass, MethodCall, Typed, TypedInstance};
use amt_wsman::envelope::Pull;
use amt_wsman::Request;
use intel_ops::{NodeOp, NodePeer};

/// Operations Node must build (provisioning and maintenance flows amtd relies on); it builds 30 or
/// more in all.
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

/// What Node built (run once, shared by the tests), or `None` when the peer is absent and not
/// required.
fn node_requests() -> Option<&'static [NodeOp]> {
    static OPS: OnceLock<Option<Vec<NodeOp>>> = OnceLock::new();
    OPS.get_or_init(run_node).as_deref()
}

fn run_node() -> Option<Vec<NodeOp>> {
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
    let s = |k: &str| op.str(k).map(Some);
    let b = |k: &str| op.bool(k).map(Some);
    match op.name.as_str() {
        // ---- AMT: Get / Enumerate / Pull ------------------------------------------------
        "GeneralSettings.Get" => is_get(call, K::AmtGeneralSettings),
        "SetupAndConfigurationService.Get" => is_get(call, K::AmtSetupAndConfigurationService),
        "RedirectionService.Get" => is_get(call, K::AmtRedirectionService),
        "BootSettingData.Get" => is_get(call, K::AmtBootSettingData),
        "PublicKeyCertificate.Enumerate" => is_enumerate(call, K::AmtPublicKeyCertificate),
        "PublicKeyCertificate.Pull" => is_pull(call, K::AmtPublicKeyCertificate, op),
        "TLSSettingData.Enumerate" => is_enumerate(call, K::AmtTlsSettingData),
        "TLSSettingData.Pull" => is_pull(call, K::AmtTlsSettingData, op),
        "EthernetPortSettings.Enumerate" => is_enumerate(call, K::AmtEthernetPortSettings),
        "EthernetPortSettings.Pull" => is_pull(call, K::AmtEthernetPortSettings, op),

        // ---- AMT: methods ---------------------------------------------------------------
        "SetupAndConfigurationService.CommitChanges" => match method(call)? {
            MethodCall::CommitChanges(i) => expect("extra properties", i.extra.len(), 0),
            other => wrong(other),
        },
        "SetupAndConfigurationService.SetMEBxPassword" => match method(call)? {
            MethodCall::SetMebxPassword(i) => {
                expect("Password", i.password.clone(), s("password")?)?;
                expect("Password", i.password.as_deref(), Some("Mebx-Pa55word!"))
            }
            other => wrong(other),
        },
        "SetupAndConfigurationService.Unprovision" => match method(call)? {
            MethodCall::Unprovision(i) => {
                expect(
                    "ProvisioningMode",
                    i.provisioning_mode,
                    Some(UnprovisionMode::Enterprise),
                )?;
                expect(
                    "ProvisioningMode (Node arg)",
                    i.provisioning_mode.map(|m| u64::from(m.value())),
                    Some(op.uint("provisioningMode")?),
                )
            }
            other => wrong(other),
        },
        "SetupAndConfigurationService.GetUuid" => match method(call)? {
            MethodCall::GetUuid(i) => expect("extra properties", i.extra.len(), 0),
            other => wrong(other),
        },
        "PublicKeyManagementService.AddTrustedRootCertificate" => match method(call)? {
            MethodCall::AddTrustedRootCertificate(i) => expect(
                "CertificateBlob",
                i.certificate_blob.clone(),
                s("certificateBlob")?,
            ),
            other => wrong(other),
        },
        "PublicKeyManagementService.AddCertificate" => match method(call)? {
            MethodCall::AddCertificate(i) => expect(
                "CertificateBlob",
                i.certificate_blob.clone(),
                s("certificateBlob")?,
            ),
            other => wrong(other),
        },
        "PublicKeyManagementService.GenerateKeyPair" => match method(call)? {
            MethodCall::GenerateKeyPair(i) => {
                expect("KeyAlgorithm", i.key_algorithm, Some(KeyAlgorithm::Rsa))?;
                expect("KeyLength", i.key_length, Some(2048))?;
                expect(
                    "KeyLength (Node arg)",
                    i.key_length.map(u64::from),
                    Some(op.uint("keyLength")?),
                )
            }
            other => wrong(other),
        },
        "PublicKeyManagementService.GeneratePKCS10RequestEx" => match method(call)? {
            MethodCall::GeneratePkcs10RequestEx(i) => {
                let kp = i.key_pair.as_ref().ok_or("no KeyPair reference")?;
                expect(
                    "KeyPair resource",
                    kp.resource_uri.as_deref(),
                    Some("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair"),
                )?;
                expect(
                    "KeyPair InstanceID",
                    kp.selectors.get("InstanceID").map(str::to_owned),
                    s("keyHandle")?,
                )?;
                expect(
                    "SigningAlgorithm",
                    i.signing_algorithm,
                    Some(CsrSigningAlgorithm::Sha256Rsa),
                )?;
                expect(
                    "NullSignedCertificateRequest",
                    i.null_signed_certificate_request.clone(),
                    s("nullSignedCertificateRequest")?,
                )
            }
            other => wrong(other),
        },
        "AuthorizationService.SetAdminAclEntryEx" => match method(call)? {
            MethodCall::SetAdminAclEntryEx(i) => {
                expect("Username", i.username.clone(), s("username")?)?;
                expect(
                    "DigestPassword",
                    i.digest_password.clone(),
                    s("digestPassword")?,
                )
            }
            other => wrong(other),
        },
        "AuthorizationService.AddUserAclEntryEx" => match method(call)? {
            MethodCall::AddUserAclEntryEx(i) => {
                expect(
                    "DigestUsername",
                    i.digest_username.clone(),
                    s("digestUsername")?,
                )?;
                expect(
                    "DigestPassword",
                    i.digest_password.clone(),
                    s("digestPassword")?,
                )?;
                expect("KerberosUserSid", i.kerberos_user_sid.as_deref(), None)?;
                expect(
                    "AccessPermission",
                    i.access_permission,
                    Some(AccessPermission::LocalAndNetwork),
                )?;
                expect(
                    "Realms",
                    i.realms.as_slice(),
                    &[
                        Realm::PtAdministration,
                        Realm::RemoteControl,
                        Realm::EventManager,
                        Realm::GeneralInfo,
                    ],
                )?;
                expect(
                    "Realms (Node arg)",
                    i.realms.iter().map(|r| u64::from(r.value())).collect(),
                    op.uints("realms")?,
                )
            }
            other => wrong(other),
        },
        "TimeSynchronizationService.GetLowAccuracyTimeSynch" => match method(call)? {
            MethodCall::GetLowAccuracyTimeSynch(i) => expect("extra properties", i.extra.len(), 0),
            other => wrong(other),
        },
        "TimeSynchronizationService.SetHighAccuracyTimeSynch" => match method(call)? {
            MethodCall::SetHighAccuracyTimeSynch(i) => {
                let n = |k: &str| op.uint(k).map(Some);
                expect("Ta0", i.ta0.map(u64::from), n("ta0")?)?;
                expect("Tm1", i.tm1.map(u64::from), n("tm1")?)?;
                expect("Tm2", i.tm2.map(u64::from), n("tm2")?)
            }
            other => wrong(other),
        },
        "RedirectionService.RequestStateChange" => match method(call)? {
            MethodCall::RedirectionRequestStateChange(i) => expect(
                "RequestedState",
                i.requested_state,
                Some(RedirectionRequestedState::EnableIderAndSol),
            ),
            other => wrong(other),
        },
        "KerberosSettingData.GetCredentialCacheState" => match method(call)? {
            MethodCall::GetCredentialCacheState(i) => expect("extra properties", i.extra.len(), 0),
            other => wrong(other),
        },

        // ---- AMT: Put / Create / Delete -------------------------------------------------
        "TLSSettingData.Put" => match call {
            Call::Put {
                instance: TypedInstance::AmtTlsSettingData(t),
                selectors,
            } => {
                expect(
                    "selector InstanceID",
                    selectors.get("InstanceID").map(str::to_owned),
                    s("InstanceID")?,
                )?;
                expect("InstanceID", t.instance_id.clone(), s("InstanceID")?)?;
                expect("ElementName", t.element_name.clone(), s("ElementName")?)?;
                expect("Enabled", t.enabled, b("Enabled")?)?;
                expect("Enabled", t.enabled, Some(true))?;
                expect(
                    "MutualAuthentication",
                    t.mutual_authentication,
                    b("MutualAuthentication")?,
                )?;
                expect(
                    "AcceptNonSecureConnections",
                    t.accept_non_secure_connections,
                    b("AcceptNonSecureConnections")?,
                )?;
                expect(
                    "NonSecureConnectionsSupported",
                    t.non_secure_connections_supported,
                    b("NonSecureConnectionsSupported")?,
                )?;
                expect("extra properties", t.extra.len(), 0)
            }
            other => Err(format!("not a Put of AMT_TLSSettingData: {other:?}")),
        },
        "BootSettingData.Put" => match call {
            Call::Put {
                instance: TypedInstance::AmtBootSettingData(d),
                selectors,
            } => {
                no_selectors(selectors)?;
                expect("InstanceID", d.instance_id.clone(), s("InstanceID")?)?;
                expect("UseSOL", d.use_sol, Some(true))?;
                expect("UseIDER", d.use_ider, b("UseIDER")?)?;
                expect("BIOSSetup", d.bios_setup, b("BIOSSetup")?)?;
                expect("LockKeyboard", d.lock_keyboard, b("LockKeyboard")?)?;
                expect("BootMediaIndex", d.boot_media_index, Some(0))?;
                expect(
                    "FirmwareVerbosity",
                    d.firmware_verbosity,
                    Some(FirmwareVerbosity::SystemDefault),
                )?;
                expect(
                    "IDERBootDevice",
                    d.ider_boot_device,
                    Some(IderBootDevice::Floppy),
                )?;
                // Every property Node sent is a modelled field.
                expect("extra properties", d.extra.len(), 0)?;
                let sent = op.args.as_object().map_or(0, |o| o.len());
                expect("properties", d.to_instance().properties.len(), sent)
            }
            other => Err(format!("not a Put of AMT_BootSettingData: {other:?}")),
        },
        "TLSCredentialContext.Create" => match call {
            Call::Create(TypedInstance::AmtTlsCredentialContext(c)) => {
                expect(
                    "certificate InstanceID",
                    c.certificate_instance_id().map(str::to_owned),
                    s("certHandle")?,
                )?;
                expect("provides TLS endpoints", c.provides_tls_endpoints(), true)?;
                let e = c.element_in_context.as_ref().ok_or("no ElementInContext")?;
                expect(
                    "ElementInContext resource",
                    e.resource_uri.as_deref(),
                    Some("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate"),
                )
            }
            other => Err(format!(
                "not a Create of AMT_TLSCredentialContext: {other:?}"
            )),
        },
        "PublicKeyCertificate.Delete" => match call {
            Call::Delete { class, selectors } => {
                expect("class", *class, K::AmtPublicKeyCertificate)?;
                expect("selectors", selectors.0.len(), 1)?;
                expect(
                    "selector",
                    selectors.get(&op.str("selectorName")?).map(str::to_owned),
                    s("selectorValue")?,
                )
            }
            other => Err(format!("not a Delete: {other:?}")),
        },

        // ---- CIM ------------------------------------------------------------------------
        "PowerManagementService.RequestPowerStateChange" => match method(call)? {
            MethodCall::RequestPowerStateChange(i) => {
                expect("PowerState", i.power_state, Some(PowerState::OffHard))?;
                expect(
                    "PowerState (Node arg)",
                    i.power_state.map(|p| u64::from(p.value())),
                    Some(op.uint("powerState")?),
                )?;
                managed_system(i.managed_element.as_ref())
            }
            other => wrong(other),
        },
        "SoftwareIdentity.Enumerate" => is_enumerate(call, K::CimSoftwareIdentity),
        "SoftwareIdentity.Pull" => is_pull(call, K::CimSoftwareIdentity, op),
        "SoftwareIdentity.Get" => is_get(call, K::CimSoftwareIdentity),
        "PowerManagementService.Get" => is_get(call, K::CimPowerManagementService),
        "KVMRedirectionSAP.RequestStateChange" => match method(call)? {
            MethodCall::KvmRequestStateChange(i) => expect(
                "RequestedState",
                i.requested_state,
                Some(RequestedState::Enabled),
            ),
            other => wrong(other),
        },

        // ---- IPS ------------------------------------------------------------------------
        "HostBasedSetupService.Get" => is_get(call, K::IpsHostBasedSetupService),
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
                    s("adminPassword")?,
                )?;
                expect("McNonce", i.mc_nonce.as_deref(), None)
            }
            other => wrong(other),
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
                    s("adminPassword")?,
                )?;
                expect("McNonce", i.mc_nonce.clone(), s("mcNonce")?)?;
                expect(
                    "SigningAlgorithm",
                    i.signing_algorithm,
                    Some(SigningAlgorithm::RsaSha256),
                )?;
                expect(
                    "DigitalSignature",
                    i.digital_signature.clone(),
                    s("digitalSignature")?,
                )
            }
            other => wrong(other),
        },
        "HostBasedSetupService.UpgradeClientToAdmin" => match method(call)? {
            MethodCall::UpgradeClientToAdmin(i) => {
                expect("McNonce", i.mc_nonce.clone(), s("mcNonce")?)?;
                expect(
                    "SigningAlgorithm",
                    i.signing_algorithm,
                    Some(SigningAlgorithm::RsaSha256),
                )?;
                expect(
                    "DigitalSignature",
                    i.digital_signature.clone(),
                    s("digitalSignature")?,
                )
            }
            other => wrong(other),
        },
        "HostBasedSetupService.AddNextCertInChain" => match method(call)? {
            MethodCall::AddNextCertInChain(i) => {
                expect("NextCertificate", i.next_certificate.clone(), s("cert")?)?;
                expect("IsLeafCertificate", i.is_leaf_certificate, Some(true))?;
                expect("IsRootCertificate", i.is_root_certificate, Some(false))?;
                expect(
                    "IsLeafCertificate (Node arg)",
                    i.is_leaf_certificate,
                    b("isLeaf")?,
                )?;
                expect(
                    "IsRootCertificate (Node arg)",
                    i.is_root_certificate,
                    b("isRoot")?,
                )
            }
            other => wrong(other),
        },
        "OptInService.Get" => is_get(call, K::IpsOptInService),
        "OptInService.StartOptIn" => match method(call)? {
            MethodCall::StartOptIn(i) => expect("extra properties", i.extra.len(), 0),
            other => wrong(other),
        },
        "OptInService.SendOptInCode" => match method(call)? {
            MethodCall::SendOptInCode(i) => {
                expect("OptInCode", i.opt_in_code, Some(482913))?;
                expect(
                    "OptInCode (Node arg)",
                    i.opt_in_code.map(u64::from),
                    Some(op.uint("optInCode")?),
                )
            }
            other => wrong(other),
        },
        "OptInService.CancelOptIn" => match method(call)? {
            MethodCall::CancelOptIn(i) => expect("extra properties", i.extra.len(), 0),
            other => wrong(other),
        },
        "PowerManagementService.RequestOSPowerSavingStateChange" => match method(call)? {
            MethodCall::RequestOsPowerSavingStateChange(i) => {
                expect(
                    "OSPowerSavingState",
                    i.os_power_saving_state,
                    Some(OsPowerSavingState::FullPower),
                )?;
                managed_system(i.managed_element.as_ref())
            }
            other => wrong(other),
        },
        other => Err(format!("no typed check for {other}")),
    }
}

fn wrong(m: &MethodCall) -> Result<(), String> {
    Err(format!("wrong method: {:?}", m.names()))
}

/// The `ManagedElement` of power requests: CIM_ComputerSystem `ManagedSystem`.
fn managed_system(me: Option<&amt_wsman::EndpointReference>) -> Result<(), String> {
    let me = me.ok_or("no ManagedElement")?;
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

#[test]
fn intel_library_requests_decode_into_typed_calls() {
    let Some(ops) = node_requests() else {
        return;
    };
    let mut failures = Vec::new();
    for op in ops {
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
    for op in ops {
        let build = match intel_ops::our_builder(op) {
            Ok(b) => b,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let ours = build.request(op.message_id).to_xml();
        assert_eq!(
            build.xml(op.message_id),
            ours,
            "{}: the direct writer differs from Request::to_xml",
            op.name
        );
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

/// The typed checks above are specific: the call Node built for one operation never passes the
/// check of another (so a decoder that confused two methods or classes would be caught).
#[test]
fn typed_checks_tell_intel_operations_apart() {
    let Some(ops) = node_requests() else {
        return;
    };
    let calls: Vec<Call> = ops
        .iter()
        .map(|op| Call::from_request(&Request::parse(op.xml.as_bytes()).unwrap()).unwrap())
        .collect();
    let mut confused = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        for (j, call) in calls.iter().enumerate() {
            if i != j && check_call(op, call).is_ok() {
                confused.push(format!("{} accepts the call of {}", op.name, ops[j].name));
            }
        }
    }
    assert!(confused.is_empty(), "{}", confused.join("\n"));
}

/// The canonical comparison is not blind: one changed argument value, or a different message
/// ID, makes our request differ from Node's.
#[test]
fn canonical_comparison_notices_a_changed_argument() {
    let Some(ops) = node_requests() else {
        return;
    };
    let admin = ops
        .iter()
        .find(|o| o.name == "HostBasedSetupService.AdminSetup")
        .unwrap();
    let theirs = common::canonical_doc(admin.xml.as_bytes());
    let build = intel_ops::our_builder(admin).unwrap();
    assert_eq!(
        common::canonical_doc(build.request(admin.message_id).to_xml().as_bytes()),
        theirs
    );
    assert_ne!(
        common::canonical_doc(build.request(admin.message_id + 1).to_xml().as_bytes()),
        theirs
    );
    let mut changed = admin.clone();
    changed.args["mcNonce"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let build = intel_ops::our_builder(&changed).unwrap();
    assert_ne!(
        common::canonical_doc(build.request(admin.message_id).to_xml().as_bytes()),
        theirs
    );
}
