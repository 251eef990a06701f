//! Provisioning (AMT-PROTOCOLS §1.3, §2.2–§2.7): `AMT_GeneralSettings` (identity, digest realm),
//! `AMT_SetupAndConfigurationService` (remote-configuration commit, unprovision, MEBx password,
//! platform UUID) and, in [`hostbased`], `IPS_HostBasedSetupService` (CCM `Setup`, ACM
//! `AdminSetup` checked against the provisioning certificate chain).
//!
//! Method results are the typed return values of `amt-wsman`; malformed arguments become a
//! return code, never a panic.

use std::str::FromStr;

use amt_wsman::classes::amt::{
    AmtGeneralSettings, AmtSetupAndConfigurationService, CommitChangesOutput, GetUuidOutput,
    PartialUnprovisionOutput, PasswordModel, ProvisioningMode, ProvisioningState, PtStatus,
    SetMebxPasswordInput, SetMebxPasswordOutput, UnprovisionOutput,
};
use amt_wsman::classes::cim::{EnabledState, RequestedState};
use amt_wsman::classes::{KnownClass, MethodCall, MethodOutput, Typed, TypedInstance};
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::{Fault, Instance, ResponseBody, SelectorSet};
use base64::Engine as _;

use super::{Caller, Env, Firmware, FirmwareEvent, Routed};
use crate::persona::FACTORY_ROOT_HASHES_SHA256;
use crate::state::{GeneralSettingsState, Phase, TlsSetting};

pub mod hostbased;

/// `InstanceID` (and `ElementName`) of the one `AMT_GeneralSettings` instance.
pub const GENERAL_SETTINGS_ID: &str = "Intel(r) AMT: General Settings";
/// Name of the setup and configuration service.
const SETUP_SERVICE_NAME: &str = "Intel(r) AMT Setup and Configuration Service";
/// Longest host name label AMT accepts.
const MAX_HOST_NAME_LEN: usize = 63;
/// Longest domain name AMT accepts.
const MAX_DOMAIN_NAME_LEN: usize = 191;

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Decodes base64, ignoring whitespace (consoles wrap long values).
pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    b64().decode(compact).ok()
}

/// A method's `_OUTPUT` as a response body.
pub(crate) fn output<T: MethodOutput>(o: T) -> ResponseBody {
    ResponseBody::Invoke {
        method: T::METHOD.to_owned(),
        output: o.to_instance(),
    }
}

/// Runs before every request: makes sure the host-based setup nonce exists (a fresh device
/// has none until the first request brings randomness).
pub(crate) fn prepare(fw: &mut Firmware, env: &mut Env<'_>) {
    if fw.state.configuration_nonce_b64.is_empty() {
        fw.state.configuration_nonce_b64 = hostbased::new_nonce(env);
        fw.changed();
    }
}

/// Instances of the classes this module owns.
pub(crate) fn instances(
    fw: &Firmware,
    class: KnownClass,
    _env: &mut Env<'_>,
) -> Routed<KnownClass, Vec<Instance>> {
    match class {
        KnownClass::AmtGeneralSettings => Routed::Done(vec![general_settings(fw).to_instance()]),
        KnownClass::AmtSetupAndConfigurationService => {
            Routed::Done(vec![setup_service(fw).to_instance()])
        }
        KnownClass::IpsHostBasedSetupService => {
            Routed::Done(vec![hostbased::service(fw).to_instance()])
        }
        other => Routed::Pass(other),
    }
}

/// Put on the classes this module owns (`AMT_GeneralSettings`).
pub(crate) fn put(
    fw: &mut Firmware,
    instance: TypedInstance,
    selectors: &SelectorSet,
    _caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<TypedInstance, ResponseBody> {
    match instance {
        TypedInstance::AmtGeneralSettings(g) => Routed::Done(put_general(fw, g, selectors, env)),
        other => Routed::Pass(other),
    }
}

/// Methods of `AMT_SetupAndConfigurationService` and `IPS_HostBasedSetupService`.
pub(crate) fn invoke(
    fw: &mut Firmware,
    method: MethodCall,
    _selectors: &SelectorSet,
    caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<MethodCall, ResponseBody> {
    Routed::Done(match method {
        MethodCall::CommitChanges(_) => commit_changes(fw, caller, env),
        MethodCall::Unprovision(_) => {
            unprovision(fw, env, false);
            output(UnprovisionOutput {
                return_value: Some(PtStatus::Success),
                ..Default::default()
            })
        }
        MethodCall::PartialUnprovision(_) => {
            unprovision(fw, env, true);
            output(PartialUnprovisionOutput {
                return_value: Some(PtStatus::Success),
                ..Default::default()
            })
        }
        MethodCall::SetMebxPassword(i) => set_mebx_password(fw, &i, env),
        MethodCall::GetUuid(_) => get_uuid(fw),
        MethodCall::Setup(i) => hostbased::setup(fw, &i, env),
        MethodCall::AdminSetup(i) => hostbased::admin_setup(fw, &i, env),
        MethodCall::AddNextCertInChain(i) => hostbased::add_next_cert_in_chain(fw, &i, env),
        MethodCall::UpgradeClientToAdmin(i) => hostbased::upgrade_client_to_admin(fw, &i, env),
        other => return Routed::Pass(other),
    })
}

/// The `AMT_GeneralSettings` instance, fields as the recorded device reports them.
pub fn general_settings(fw: &Firmware) -> AmtGeneralSettings {
    let g = &fw.state.general;
    AmtGeneralSettings {
        amt_network_enabled: Some(g.amt_network_enabled),
        ddns_periodic_update_interval: Some(g.ddns_periodic_update_interval),
        ddns_ttl: Some(g.ddns_ttl),
        ddns_update_by_dhcp_server_enabled: Some(g.ddns_update_by_dhcp_server_enabled),
        ddns_update_enabled: Some(g.ddns_update_enabled),
        dhcp_sync_requires_hostname: Some(1),
        dhcpv6_configuration_timeout: Some(0),
        digest_realm: Some(fw.state.digest_realm.clone()),
        domain_name: Some(fw.state.config.domain.clone()),
        element_name: Some(GENERAL_SETTINGS_ID.to_owned()),
        host_name: Some(fw.state.config.hostname.clone()),
        host_os_fqdn: Some(g.host_os_fqdn.clone()),
        idle_wake_timeout: Some(g.idle_wake_timeout),
        instance_id: Some(GENERAL_SETTINGS_ID.to_owned()),
        network_interface_enabled: Some(true),
        ping_response_enabled: Some(g.ping_response_enabled),
        power_source: Some(0),
        preferred_address_family: Some(g.preferred_address_family),
        presence_notification_interval: Some(0),
        privacy_level: Some(g.privacy_level),
        rmcp_ping_response_enabled: Some(g.rmcp_ping_response_enabled),
        shared_fqdn: Some(g.shared_fqdn),
        thunderbolt_dock_enabled: Some(0),
        wsman_only_mode: Some(g.wsman_only_mode),
        extra: Vec::new(),
    }
}

fn invalid(reason: &str) -> ResponseBody {
    ResponseBody::Fault(Fault::new(
        FaultCode::Sender,
        Subcode::InvalidRepresentation,
        reason.to_owned(),
    ))
}

/// A DNS label (host name): letters, digits and inner hyphens, at most 63 characters.
fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_HOST_NAME_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn valid_domain(s: &str) -> bool {
    s.len() <= MAX_DOMAIN_NAME_LEN && s.split('.').all(valid_label)
}

fn put_general(
    fw: &mut Firmware,
    g: AmtGeneralSettings,
    selectors: &SelectorSet,
    env: &mut Env<'_>,
) -> ResponseBody {
    if selectors
        .get("InstanceID")
        .is_some_and(|id| id != GENERAL_SETTINGS_ID)
    {
        return ResponseBody::Fault(Fault::invalid_selectors());
    }
    if let Some(h) = &g.host_name {
        if !h.is_empty() && !valid_label(h) {
            return invalid("HostName is not a valid host name.");
        }
    }
    if let Some(d) = &g.domain_name {
        if !d.is_empty() && !valid_domain(d) {
            return invalid("DomainName is not a valid domain name.");
        }
    }
    if let Some(f) = &g.host_os_fqdn {
        if !f.is_empty() && !valid_domain(f) {
            return invalid("HostOSFQDN is not a valid name.");
        }
    }
    if g.amt_network_enabled.is_some_and(|v| v > 1)
        || g.preferred_address_family.is_some_and(|v| v > 1)
    {
        return invalid("A value is out of range.");
    }
    // Read-only properties (DigestRealm, InstanceID, …) are ignored as AMT does.
    let s = &mut fw.state;
    if let Some(h) = g.host_name {
        s.config.hostname = h;
    }
    if let Some(d) = g.domain_name {
        s.config.domain = d;
    }
    let gs: &mut GeneralSettingsState = &mut s.general;
    macro_rules! apply {
        ($($field:ident),*) => { $( if let Some(v) = g.$field { gs.$field = v; } )* };
    }
    apply!(
        amt_network_enabled,
        ddns_update_enabled,
        ddns_update_by_dhcp_server_enabled,
        ddns_ttl,
        ddns_periodic_update_interval,
        host_os_fqdn,
        idle_wake_timeout,
        ping_response_enabled,
        rmcp_ping_response_enabled,
        shared_fqdn,
        wsman_only_mode,
        preferred_address_family,
        privacy_level
    );
    let now = fw.device_time(env);
    fw.state.audit(now, "General settings modified");
    fw.changed();
    ResponseBody::Put(Some(general_settings(fw).to_instance()))
}

/// The `AMT_SetupAndConfigurationService` instance.
pub fn setup_service(fw: &Firmware) -> AmtSetupAndConfigurationService {
    let s = &fw.state;
    let provisioning_state = match s.phase {
        Phase::Provisioned => ProvisioningState::Post,
        Phase::Setup if setup_started(fw) => ProvisioningState::In,
        Phase::Setup => ProvisioningState::Pre,
    };
    AmtSetupAndConfigurationService {
        creation_class_name: Some("AMT_SetupAndConfigurationService".to_owned()),
        element_name: Some(SETUP_SERVICE_NAME.to_owned()),
        enabled_state: Some(EnabledState::NotApplicable),
        name: Some(SETUP_SERVICE_NAME.to_owned()),
        password_model: Some(PasswordModel::Separate),
        provisioning_mode: Some(if s.control_mode == 1 {
            ProvisioningMode::ClientControl
        } else {
            ProvisioningMode::AdminControl
        }),
        provisioning_server_otp: Some(b64().encode([0u8; 32])),
        provisioning_state: Some(provisioning_state),
        requested_state: Some(RequestedState::NotApplicable),
        system_creation_class_name: Some("CIM_ComputerSystem".to_owned()),
        system_name: Some("Intel(r) AMT".to_owned()),
        zero_touch_configuration_enabled: Some(true),
        ..Default::default()
    }
}

/// True once a configuration server has written anything in setup mode ("in provisioning").
fn setup_started(fw: &Firmware) -> bool {
    let s = &fw.state;
    s.admin_ha1_hex.is_some()
        || s.mebx_password_set
        || !s.users.is_empty()
        || !s.certs.is_empty()
        || !s.keys.is_empty()
}

fn commit_changes(fw: &mut Firmware, caller: &Caller, env: &mut Env<'_>) -> ResponseBody {
    let now = fw.device_time(env);
    if fw.in_setup() {
        // Remote configuration: the admin password must have been set (SetAdminAclEntryEx).
        if fw.state.admin_ha1_hex.is_none() {
            return output(CommitChangesOutput {
                return_value: Some(PtStatus::DataMissing),
                ..Default::default()
            });
        }
        fw.state.phase = Phase::Provisioned;
        if fw.state.control_mode == 0 {
            // Remote configuration with a provisioning certificate is Admin Control Mode.
            fw.state.control_mode = 2;
        }
        let how = match &caller.channel {
            super::Channel::TlsProvisioning { cn } => format!(" by {cn}"),
            _ => String::new(),
        };
        fw.state.audit(
            now,
            format!("Provisioning Completed (Admin Control Mode){how}"),
        );
    } else {
        fw.state.audit(now, "Configuration changes committed");
    }
    fw.emit(FirmwareEvent::Committed);
    fw.changed();
    if fw.persona.quirks.drop_after_admin_setup {
        fw.emit(FirmwareEvent::DropSession);
    }
    output(CommitChangesOutput {
        return_value: Some(PtStatus::Success),
        ..Default::default()
    })
}

/// Back to setup mode: the admin account, ACL users, certificates, keys, TLS settings, CRLs and
/// general settings return to factory values. A full unprovision also deletes the custom
/// trusted root hashes (as Intel documents: "unprovisioning will delete custom hashes"); a
/// partial one keeps them. Host name, domain and the digest realm stay.
fn unprovision(fw: &mut Firmware, env: &mut Env<'_>, partial: bool) {
    let now = fw.device_time(env);
    let nonce = hostbased::new_nonce(env);
    let s = &mut fw.state;
    s.phase = Phase::Setup;
    s.control_mode = 0;
    s.admin_ha1_hex = None;
    s.mebx_password_set = false;
    s.users.clear();
    s.acl_disabled.clear();
    s.next_user_handle = 1;
    s.certs.clear();
    s.keys.clear();
    s.next_handle = 0;
    s.tls_cert_handle = None;
    s.tls_remote = TlsSetting::default();
    s.tls_local = TlsSetting::default();
    s.crls.clear();
    s.hbs_chain.clear();
    s.hbs_chain_complete = false;
    s.general = GeneralSettingsState::default();
    s.configuration_nonce_b64 = nonce;
    if !partial {
        s.config.extra_root_hashes.clear();
    }
    s.audit(
        now,
        if partial {
            "Partial unprovisioning"
        } else {
            "Unprovisioning Started"
        },
    );
    fw.emit(FirmwareEvent::Unprovisioned);
    fw.changed();
}

fn set_mebx_password(
    fw: &mut Firmware,
    input: &SetMebxPasswordInput,
    env: &mut Env<'_>,
) -> ResponseBody {
    let status = if fw.state.control_mode == 1 {
        // Client Control Mode may not touch the MEBx password.
        PtStatus::NotPermitted
    } else {
        match input.password.as_deref() {
            None => PtStatus::InvalidParameter,
            Some(pw) if amt_wsman::password::validate_admin_password(pw).is_err() => {
                PtStatus::InvalidPassword
            }
            Some(_) => {
                fw.state.mebx_password_set = true;
                let now = fw.device_time(env);
                fw.state.audit(now, "MEBx password changed");
                fw.changed();
                PtStatus::Success
            }
        }
    };
    output(SetMebxPasswordOutput {
        return_value: Some(status),
        ..Default::default()
    })
}

fn get_uuid(fw: &Firmware) -> ResponseBody {
    match amt_wire::hello::Uuid16::from_str(&fw.state.config.uuid) {
        Ok(u) => output(GetUuidOutput {
            uuid: Some(b64().encode(u.as_wire_bytes())),
            return_value: Some(PtStatus::Success),
            ..Default::default()
        }),
        Err(_) => output(GetUuidOutput {
            return_value: Some(PtStatus::InternalError),
            ..Default::default()
        }),
    }
}

impl Firmware {
    /// The SHA-256 hashes (lower-case hex) of the root certificates this device trusts for
    /// provisioning: the persona's factory list, then the custom hashes of the device
    /// configuration. The hello sender reports them; setup-mode TLS admits only chains ending
    /// in one of them.
    pub fn provisioning_root_hashes(&self) -> Vec<String> {
        let mut out: Vec<String> = FACTORY_ROOT_HASHES_SHA256
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        for h in &self.state.config.extra_root_hashes {
            let h = h.trim().to_ascii_lowercase();
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }

    /// Whether the root hash (SHA-256 of the root certificate's DER) is trusted for
    /// provisioning.
    pub fn trusts_provisioning_root(&self, sha256: &[u8; 32]) -> bool {
        let hex = hex::encode(sha256);
        self.provisioning_root_hashes().contains(&hex)
    }
}
