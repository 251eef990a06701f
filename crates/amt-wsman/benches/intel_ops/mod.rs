//! Intel's WS-Management message library as a peer: running the scripts in tests/node, reading
//! what they print, and building the same requests with our console-side builders.
//!
//! Shared by tests/conformance_node.rs (`#[path]`-included) and benches/throughput.rs. The
//! operations and their argument values are defined once, in tests/node/ops.js; [`our_builder`]
//! maps each operation name to the typed struct and builder call that produces the same request.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use amt_wsman::classes::amt::{FirmwareVerbosity, IderBootDevice, Realm};
use amt_wsman::classes::cim::{self, PowerState};
use amt_wsman::classes::ips::{self, AdminPassEncryptionType, SigningAlgorithm};
use amt_wsman::classes::{amt, MethodInput, WsmanClass};
use amt_wsman::value::{EndpointReference, SelectorSet};
use amt_wsman::Request;
use serde_json::Value as Json;

/// One request Intel's library built, as tests/node/gen-requests.js prints it.
#[derive(Debug, Clone)]
pub struct NodeOp {
    /// `Class.Method` as named in the library (`HostBasedSetupService.AdminSetup`).
    pub name: String,
    /// The wire class name (`IPS_HostBasedSetupService`).
    pub class: String,
    /// The `wsa:Action` the library wrote.
    pub action: String,
    /// The `wsa:MessageID` the library wrote.
    pub message_id: u64,
    /// The request XML, exactly as the library returned it.
    pub xml: String,
    /// The argument values passed to the library, by the names ops.js gives them.
    pub args: Json,
}

impl NodeOp {
    fn arg(&self, key: &str) -> Result<&Json, String> {
        self.args
            .get(key)
            .ok_or_else(|| format!("{}: no argument {key:?} in ops.js", self.name))
    }

    /// A string argument.
    pub fn str(&self, key: &str) -> Result<String, String> {
        self.arg(key)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: argument {key:?} is not a string", self.name))
    }

    /// An unsigned integer argument.
    pub fn uint(&self, key: &str) -> Result<u64, String> {
        self.arg(key)?
            .as_u64()
            .ok_or_else(|| format!("{}: argument {key:?} is not an unsigned integer", self.name))
    }

    /// A boolean argument.
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        self.arg(key)?
            .as_bool()
            .ok_or_else(|| format!("{}: argument {key:?} is not a boolean", self.name))
    }

    /// An array of unsigned integers.
    pub fn uints(&self, key: &str) -> Result<Vec<u64>, String> {
        self.arg(key)?
            .as_array()
            .and_then(|a| a.iter().map(Json::as_u64).collect())
            .ok_or_else(|| {
                format!(
                    "{}: argument {key:?} is not an array of integers",
                    self.name
                )
            })
    }

    /// A narrower unsigned integer argument.
    pub fn int<T: TryFrom<u64>>(&self, key: &str) -> Result<T, String> {
        let v = self.uint(key)?;
        T::try_from(v).map_err(|_| format!("{}: argument {key:?} = {v} is out of range", self.name))
    }
}

/// Reads the JSON array gen-requests.js prints.
pub fn parse_ops(json: &str) -> Result<Vec<NodeOp>, String> {
    let v: Json = serde_json::from_str(json).map_err(|e| format!("gen-requests.js output: {e}"))?;
    let arr = v
        .as_array()
        .ok_or("gen-requests.js output is not an array")?;
    arr.iter()
        .map(|o| {
            let s = |k: &str| {
                o.get(k)
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("gen-requests.js entry without string {k:?}: {o}"))
            };
            let name = s("name")?;
            Ok(NodeOp {
                class: s("class")?,
                action: s("action")?,
                message_id: s("message_id")?
                    .parse()
                    .map_err(|_| format!("{name}: message_id is not a decimal counter"))?,
                xml: s("xml")?,
                args: o.get("args").cloned().unwrap_or(Json::Null),
                name,
            })
        })
        .collect()
}

/// Where the Node peer lives and whether it must be there.
#[derive(Debug, Clone)]
pub struct NodePeer {
    /// The npm project (tests/node).
    pub dir: PathBuf,
    /// True when `AMTD_NODE_DIR` named it: then a missing peer is an error, not a skip.
    pub required: bool,
}

impl NodePeer {
    /// `AMTD_NODE_DIR` (set by ./scripts/test), else `<workspace>/tests/node`.
    pub fn locate() -> Self {
        match std::env::var_os("AMTD_NODE_DIR") {
            Some(d) => NodePeer {
                dir: PathBuf::from(d),
                required: true,
            },
            None => NodePeer {
                dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node"),
                required: false,
            },
        }
    }

    /// Why the peer cannot run (`node` missing, `npm ci` not run), or `None` when it can.
    pub fn missing(&self) -> Option<String> {
        let node = Command::new("node").arg("--version").output();
        if !matches!(&node, Ok(o) if o.status.success()) {
            return Some("`node` is not on PATH".into());
        }
        let lib = self
            .dir
            .join("node_modules/@device-management-toolkit/wsman-messages");
        if !lib.is_dir() || !self.dir.join("node_modules/xml2js").is_dir() {
            return Some(format!(
                "{} has no node_modules (npm ci not run)",
                self.dir.display()
            ));
        }
        None
    }

    /// Runs `node <script> <args…>` in the npm project and returns its stdout.
    pub fn run(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("cannot start node: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "node {script} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).map_err(|_| format!("node {script}: stdout is not UTF-8"))
    }
}

/// Our console-side builder for one operation: message ID in, request out. The typed input is
/// made once, from the argument values Node used; calling the builder only does what a console
/// does per request (typed value → envelope).
pub struct Builder {
    req: Box<dyn Fn(u64) -> Request>,
    xml: Box<WriteFn>,
}

/// Appends one request's XML to a buffer.
type WriteFn = dyn Fn(u64, &mut String);

impl Builder {
    /// The request as a value (then `Request::to_xml`).
    pub fn request(&self, id: u64) -> Request {
        (self.req)(id)
    }

    /// The request XML from the typed builders' direct writers (no intermediate value); must
    /// be byte-identical to `request(id).to_xml()`.
    pub fn xml(&self, id: u64) -> String {
        let mut out = String::new();
        (self.xml)(id, &mut out);
        out
    }

    /// Appends the direct writers' XML to `out` (a console reuses one buffer per connection).
    pub fn write_xml(&self, id: u64, out: &mut String) {
        (self.xml)(id, out)
    }
}

fn both(
    req: impl Fn(u64) -> Request + 'static,
    xml: impl Fn(u64, &mut String) + 'static,
) -> Result<Builder, String> {
    Ok(Builder {
        req: Box::new(req),
        xml: Box::new(xml),
    })
}

/// The `ManagedElement` Intel's libraries send with power requests: the host computer system.
/// Note its `Address` is the WS-Addressing namespace URI, not the anonymous role (the same in
/// go-wsman-messages; AMT-PROTOCOLS.md §3.4(c)).
pub fn intel_managed_system() -> EndpointReference {
    EndpointReference {
        address: "http://schemas.xmlsoap.org/ws/2004/08/addressing".into(),
        ..cim::managed_system()
    }
}

/// Our builder for `op`, with the argument values Node used; `Err` names what is missing.
pub fn our_builder(op: &NodeOp) -> Result<Builder, String> {
    let none = SelectorSet::new;
    match op.name.as_str() {
        // ---- AMT: Get / Enumerate / Pull ------------------------------------------------
        "GeneralSettings.Get" => both(
            move |id| amt::AmtGeneralSettings::get(id, none()),
            move |id, out| amt::AmtGeneralSettings::write_get_xml(id, &none(), out),
        ),
        "SetupAndConfigurationService.Get" => both(
            move |id| amt::AmtSetupAndConfigurationService::get(id, none()),
            move |id, out| amt::AmtSetupAndConfigurationService::write_get_xml(id, &none(), out),
        ),
        "RedirectionService.Get" => both(
            move |id| amt::AmtRedirectionService::get(id, none()),
            move |id, out| amt::AmtRedirectionService::write_get_xml(id, &none(), out),
        ),
        "BootSettingData.Get" => both(
            move |id| amt::AmtBootSettingData::get(id, none()),
            move |id, out| amt::AmtBootSettingData::write_get_xml(id, &none(), out),
        ),
        "PublicKeyCertificate.Enumerate" => both(
            amt::AmtPublicKeyCertificate::enumerate,
            amt::AmtPublicKeyCertificate::write_enumerate_xml,
        ),
        "PublicKeyCertificate.Pull" => {
            let ctx = op.str("context")?;
            let ctx2 = ctx.clone();
            both(
                move |id| amt::AmtPublicKeyCertificate::pull(id, &ctx),
                move |id, out| amt::AmtPublicKeyCertificate::write_pull_xml(id, &ctx2, out),
            )
        }
        "TLSSettingData.Enumerate" => both(
            amt::AmtTlsSettingData::enumerate,
            amt::AmtTlsSettingData::write_enumerate_xml,
        ),
        "TLSSettingData.Pull" => {
            let ctx = op.str("context")?;
            let ctx2 = ctx.clone();
            both(
                move |id| amt::AmtTlsSettingData::pull(id, &ctx),
                move |id, out| amt::AmtTlsSettingData::write_pull_xml(id, &ctx2, out),
            )
        }
        "EthernetPortSettings.Enumerate" => both(
            amt::AmtEthernetPortSettings::enumerate,
            amt::AmtEthernetPortSettings::write_enumerate_xml,
        ),
        "EthernetPortSettings.Pull" => {
            let ctx = op.str("context")?;
            let ctx2 = ctx.clone();
            both(
                move |id| amt::AmtEthernetPortSettings::pull(id, &ctx),
                move |id, out| amt::AmtEthernetPortSettings::write_pull_xml(id, &ctx2, out),
            )
        }

        // ---- AMT: methods ---------------------------------------------------------------
        "SetupAndConfigurationService.CommitChanges" => invoke(amt::CommitChangesInput::default()),
        "SetupAndConfigurationService.SetMEBxPassword" => invoke(amt::SetMebxPasswordInput {
            password: Some(op.str("password")?),
            ..Default::default()
        }),
        "SetupAndConfigurationService.Unprovision" => invoke(amt::UnprovisionInput {
            provisioning_mode: Some(wire::<u32, _>(op, "provisioningMode")?),
            ..Default::default()
        }),
        "SetupAndConfigurationService.GetUuid" => invoke(amt::GetUuidInput::default()),
        "PublicKeyManagementService.AddTrustedRootCertificate" => {
            invoke(amt::AddTrustedRootCertificateInput {
                certificate_blob: Some(op.str("certificateBlob")?),
                ..Default::default()
            })
        }
        "PublicKeyManagementService.AddCertificate" => invoke(amt::AddCertificateInput {
            certificate_blob: Some(op.str("certificateBlob")?),
            ..Default::default()
        }),
        "PublicKeyManagementService.GenerateKeyPair" => invoke(amt::GenerateKeyPairInput {
            key_algorithm: Some(wire::<u32, _>(op, "keyAlgorithm")?),
            key_length: Some(op.int("keyLength")?),
            ..Default::default()
        }),
        "PublicKeyManagementService.GeneratePKCS10RequestEx" => {
            invoke(amt::GeneratePkcs10RequestExInput {
                key_pair: Some(intel_key_pair(&op.str("keyHandle")?)),
                signing_algorithm: Some(wire::<u32, _>(op, "signingAlgorithm")?),
                null_signed_certificate_request: Some(op.str("nullSignedCertificateRequest")?),
                ..Default::default()
            })
        }
        "AuthorizationService.SetAdminAclEntryEx" => invoke(amt::SetAdminAclEntryExInput {
            username: Some(op.str("username")?),
            digest_password: Some(op.str("digestPassword")?),
            ..Default::default()
        }),
        "AuthorizationService.AddUserAclEntryEx" => invoke(amt::AddUserAclEntryExInput {
            digest_username: Some(op.str("digestUsername")?),
            digest_password: Some(op.str("digestPassword")?),
            access_permission: Some(wire::<u32, _>(op, "accessPermission")?),
            realms: realms(op)?,
            ..Default::default()
        }),
        "TimeSynchronizationService.GetLowAccuracyTimeSynch" => {
            invoke(amt::GetLowAccuracyTimeSynchInput::default())
        }
        "TimeSynchronizationService.SetHighAccuracyTimeSynch" => invoke(
            amt::SetHighAccuracyTimeSynchInput::new(op.int("ta0")?, op.int("tm1")?, op.int("tm2")?),
        ),
        "RedirectionService.RequestStateChange" => {
            invoke(amt::RedirectionRequestStateChangeInput {
                requested_state: Some(wire::<u16, _>(op, "requestedState")?),
                ..Default::default()
            })
        }
        "KerberosSettingData.GetCredentialCacheState" => {
            invoke(amt::GetCredentialCacheStateInput::default())
        }

        // ---- AMT: Put / Create / Delete -------------------------------------------------
        "TLSSettingData.Put" => {
            let tls = amt::AmtTlsSettingData {
                element_name: Some(op.str("ElementName")?),
                instance_id: Some(op.str("InstanceID")?),
                mutual_authentication: Some(op.bool("MutualAuthentication")?),
                enabled: Some(op.bool("Enabled")?),
                accept_non_secure_connections: Some(op.bool("AcceptNonSecureConnections")?),
                non_secure_connections_supported: Some(op.bool("NonSecureConnectionsSupported")?),
                ..Default::default()
            };
            // Intel's library selects the instance by its InstanceID in the header.
            let key = SelectorSet::one("InstanceID", &op.str("InstanceID")?);
            let (tls2, key2) = (tls.clone(), key.clone());
            both(
                move |id| tls.put(id, key.clone()),
                move |id, out| tls2.write_put_xml(id, &key2, out),
            )
        }
        "BootSettingData.Put" => {
            let boot = intel_boot_setting_data(op)?;
            let boot2 = boot.clone();
            both(
                move |id| boot.put(id, none()),
                move |id, out| boot2.write_put_xml(id, &none(), out),
            )
        }
        "TLSCredentialContext.Create" => {
            let ctx = amt::AmtTlsCredentialContext::for_certificate(&op.str("certHandle")?);
            let ctx2 = ctx.clone();
            both(
                move |id| ctx.create(id),
                move |id, out| ctx2.write_create_xml(id, out),
            )
        }
        "PublicKeyCertificate.Delete" => {
            let key = SelectorSet::one(&op.str("selectorName")?, &op.str("selectorValue")?);
            let key2 = key.clone();
            both(
                move |id| amt::AmtPublicKeyCertificate::delete(id, key.clone()),
                move |id, out| amt::AmtPublicKeyCertificate::write_delete_xml(id, &key2, out),
            )
        }

        // ---- CIM ------------------------------------------------------------------------
        "PowerManagementService.RequestPowerStateChange" => {
            invoke(cim::RequestPowerStateChangeInput {
                power_state: Some(power_state(op)?),
                managed_element: Some(intel_managed_system()),
                ..Default::default()
            })
        }
        "SoftwareIdentity.Enumerate" => both(
            cim::CimSoftwareIdentity::enumerate,
            cim::CimSoftwareIdentity::write_enumerate_xml,
        ),
        "SoftwareIdentity.Pull" => {
            let ctx = op.str("context")?;
            let ctx2 = ctx.clone();
            both(
                move |id| cim::CimSoftwareIdentity::pull(id, &ctx),
                move |id, out| cim::CimSoftwareIdentity::write_pull_xml(id, &ctx2, out),
            )
        }
        "SoftwareIdentity.Get" => both(
            move |id| cim::CimSoftwareIdentity::get(id, none()),
            move |id, out| cim::CimSoftwareIdentity::write_get_xml(id, &none(), out),
        ),
        "PowerManagementService.Get" => both(
            move |id| cim::CimPowerManagementService::get(id, none()),
            move |id, out| cim::CimPowerManagementService::write_get_xml(id, &none(), out),
        ),
        "KVMRedirectionSAP.RequestStateChange" => invoke(cim::KvmRequestStateChangeInput {
            requested_state: Some(wire::<u16, _>(op, "requestedState")?),
            ..Default::default()
        }),

        // ---- IPS ------------------------------------------------------------------------
        "HostBasedSetupService.Get" => both(
            move |id| ips::IpsHostBasedSetupService::get(id, none()),
            move |id, out| ips::IpsHostBasedSetupService::write_get_xml(id, &none(), out),
        ),
        "HostBasedSetupService.Setup" => invoke(ips::SetupInput {
            net_admin_pass_encryption_type: Some(pass_encryption(op)?),
            network_admin_password: Some(op.str("adminPassword")?),
            ..Default::default()
        }),
        "HostBasedSetupService.AdminSetup" => invoke(ips::AdminSetupInput {
            net_admin_pass_encryption_type: Some(pass_encryption(op)?),
            network_admin_password: Some(op.str("adminPassword")?),
            mc_nonce: Some(op.str("mcNonce")?),
            signing_algorithm: Some(signing_algorithm(op)?),
            digital_signature: Some(op.str("digitalSignature")?),
            ..Default::default()
        }),
        "HostBasedSetupService.UpgradeClientToAdmin" => invoke(ips::UpgradeClientToAdminInput {
            mc_nonce: Some(op.str("mcNonce")?),
            signing_algorithm: Some(signing_algorithm(op)?),
            digital_signature: Some(op.str("digitalSignature")?),
            ..Default::default()
        }),
        "HostBasedSetupService.AddNextCertInChain" => invoke(ips::AddNextCertInChainInput {
            next_certificate: Some(op.str("cert")?),
            is_leaf_certificate: Some(op.bool("isLeaf")?),
            is_root_certificate: Some(op.bool("isRoot")?),
            ..Default::default()
        }),
        "OptInService.Get" => both(
            move |id| ips::IpsOptInService::get(id, none()),
            move |id, out| ips::IpsOptInService::write_get_xml(id, &none(), out),
        ),
        "OptInService.StartOptIn" => invoke(ips::StartOptInInput::default()),
        "OptInService.SendOptInCode" => invoke(ips::SendOptInCodeInput {
            opt_in_code: Some(op.int("optInCode")?),
            ..Default::default()
        }),
        "OptInService.CancelOptIn" => invoke(ips::CancelOptInInput::default()),
        "PowerManagementService.RequestOSPowerSavingStateChange" => {
            invoke(ips::RequestOsPowerSavingStateChangeInput {
                os_power_saving_state: Some(wire::<u16, _>(op, "osPowerSavingState")?),
                managed_element: Some(intel_managed_system()),
                ..Default::default()
            })
        }
        other => Err(format!("no typed builder for {other}")),
    }
}

/// A builder invoking the method `input` belongs to, on the service's only instance (Intel's
/// library sends method calls without selectors).
fn invoke<T: MethodInput + Clone + 'static>(input: T) -> Result<Builder, String> {
    let input2 = input.clone();
    let none = SelectorSet::new();
    both(
        move |id| input.request(id, SelectorSet::new()),
        move |id, out| input2.write_request_xml(id, &none, out),
    )
}

/// A wire enum with representation `R` from an integer argument.
pub fn wire<R, T>(op: &NodeOp, key: &str) -> Result<T, String>
where
    R: TryFrom<u64>,
    T: TryFrom<R, Error = amt_wsman::Error>,
{
    T::try_from(op.int::<R>(key)?).map_err(|e| format!("{}: {key}: {e}", op.name))
}

/// The `KeyPair` reference RPS passes to GeneratePKCS10RequestEx: address `/wsman` (ours,
/// [`amt::key_pair_reference`], uses the anonymous role; both name the same key).
pub fn intel_key_pair(handle: &str) -> EndpointReference {
    EndpointReference {
        address: "/wsman".into(),
        ..amt::key_pair_reference(handle)
    }
}

/// `realms` as [`Realm`]s.
pub fn realms(op: &NodeOp) -> Result<Vec<Realm>, String> {
    op.uints("realms")?
        .into_iter()
        .map(|r| {
            u32::try_from(r)
                .map_err(|_| format!("realm {r} out of range"))
                .and_then(|r| Realm::try_from(r).map_err(|e| e.to_string()))
        })
        .collect()
}

/// The `AMT_BootSettingData` that ops.js puts, from its arguments.
pub fn intel_boot_setting_data(op: &NodeOp) -> Result<amt::AmtBootSettingData, String> {
    let b = |k| op.bool(k).map(Some);
    Ok(amt::AmtBootSettingData {
        element_name: Some(op.str("ElementName")?),
        instance_id: Some(op.str("InstanceID")?),
        bios_pause: b("BIOSPause")?,
        bios_setup: b("BIOSSetup")?,
        boot_media_index: Some(op.int("BootMediaIndex")?),
        configuration_data_reset: b("ConfigurationDataReset")?,
        firmware_verbosity: Some(wire::<u8, FirmwareVerbosity>(op, "FirmwareVerbosity")?),
        forced_progress_events: b("ForcedProgressEvents")?,
        ider_boot_device: Some(wire::<u8, IderBootDevice>(op, "IDERBootDevice")?),
        lock_keyboard: b("LockKeyboard")?,
        lock_power_button: b("LockPowerButton")?,
        lock_reset_button: b("LockResetButton")?,
        lock_sleep_button: b("LockSleepButton")?,
        reflash_bios: b("ReflashBIOS")?,
        secure_erase: b("SecureErase")?,
        use_ider: b("UseIDER")?,
        use_sol: b("UseSOL")?,
        use_safe_mode: b("UseSafeMode")?,
        user_password_bypass: b("UserPasswordBypass")?,
        ..Default::default()
    })
}

/// `powerState` as a [`PowerState`].
pub fn power_state(op: &NodeOp) -> Result<PowerState, String> {
    wire::<u16, _>(op, "powerState")
}

/// `adminPassEncryptionType` as an [`AdminPassEncryptionType`].
pub fn pass_encryption(op: &NodeOp) -> Result<AdminPassEncryptionType, String> {
    wire::<u32, _>(op, "adminPassEncryptionType")
}

/// `signingAlgorithm` as a [`SigningAlgorithm`].
pub fn signing_algorithm(op: &NodeOp) -> Result<SigningAlgorithm, String> {
    wire::<u32, _>(op, "signingAlgorithm")
}
