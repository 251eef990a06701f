//! Redirection: `AMT_RedirectionService` (which of SOL / IDE-R may run, and whether the
//! redirection port listens), `CIM_KVMRedirectionSAP` and `IPS_KVMRedirectionSettingData`
//! (personas with the `kvm` quirk only; others answer `DestinationUnreachable`).
//!
//! `RequestStateChange` takes Intel's vendor states: 32768 none, 32769 IDE-R, 32770 SOL,
//! 32771 both (npm `wsman-messages` types; fixture `amt/redirectionservice/get.xml` shows 32771).
//! `ListenerEnabled` is set with Put. KVM is enabled with `CIM_KVMRedirectionSAP`
//! `RequestStateChange(2)` and disabled with 3; while enabled it reports `EnabledState` 6
//! ("enabled but offline", fixture `cim/kvm/get.xml`) until a session is open (2).
//! `IPS_KVMRedirectionSettingData` reports `OptInPolicyTimeout` only while `OptInPolicy` is
//! true: the recorded get (policy on) has it, the recorded put answer (policy off) does not.
//! Newer firmware (persona quirk `kvm_extended_settings`) adds the double-buffer, grayscale,
//! decimation and zlib properties of the recorded put answer.

use amt_wsman::classes::amt::{
    AmtRedirectionService, RedirectionEnabledState, RedirectionRequestStateChangeInput,
    RedirectionRequestStateChangeOutput,
};
use amt_wsman::classes::cim::{
    CimKvmRedirectionSap, EnabledState, KvmProtocol, KvmRequestStateChangeInput,
    KvmRequestStateChangeOutput, RequestedState, StateChangeReturn,
};
use amt_wsman::classes::ips::IpsKvmRedirectionSettingData;
use amt_wsman::classes::Typed;
use amt_wsman::{Instance, ResponseBody};

use super::logs::{self, audit_events};
use super::reply;
use super::store::Secret;
use crate::firmware::{Caller, Env, Firmware};

/// `AMT_RedirectionService` (fixture `amt/redirectionservice/get.xml`).
pub(super) fn service_instances(fw: &Firmware) -> Vec<Instance> {
    let s = AmtRedirectionService {
        creation_class_name: Some("AMT_RedirectionService".into()),
        element_name: Some("Intel(r) AMT Redirection Service".into()),
        enabled_state: u16::try_from(fw.state.redirection_state)
            .ok()
            .and_then(|v| RedirectionEnabledState::try_from(v).ok()),
        listener_enabled: Some(fw.state.manage.redirection.listener_enabled),
        name: Some("Intel(r) AMT Redirection Service".into()),
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("Intel(r) AMT".into()),
        ..Default::default()
    };
    vec![s.to_instance()]
}

/// Put `AMT_RedirectionService`: only `ListenerEnabled` is writable.
pub(super) fn put_service(fw: &mut Firmware, s: &AmtRedirectionService) -> ResponseBody {
    if let Some(l) = s.listener_enabled {
        fw.state.manage.redirection.listener_enabled = l;
        fw.changed();
    }
    ResponseBody::Put(service_instances(fw).into_iter().next())
}

/// `AMT_RedirectionService.RequestStateChange(32768–32771)`.
pub(super) fn request_state_change(
    fw: &mut Firmware,
    input: &RedirectionRequestStateChangeInput,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let rv = match input.requested_state {
        Some(r) => {
            let new = u32::from(r.value());
            let old = fw.state.redirection_state;
            let ider = |s: u32| matches!(s, 32769 | 32771);
            let sol = |s: u32| matches!(s, 32770 | 32771);
            fw.state.redirection_state = new;
            if ider(old) != ider(new) {
                let e = if ider(new) {
                    audit_events::IDER_ENABLED
                } else {
                    audit_events::IDER_DISABLED
                };
                logs::audit(fw, Some(caller), env, e, &[]);
            }
            if sol(old) != sol(new) {
                let e = if sol(new) {
                    audit_events::SOL_ENABLED
                } else {
                    audit_events::SOL_DISABLED
                };
                logs::audit(fw, Some(caller), env, e, &[]);
            }
            fw.changed();
            StateChangeReturn::Completed
        }
        None => StateChangeReturn::InvalidParameter,
    };
    reply(RedirectionRequestStateChangeOutput {
        job: None,
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// `CIM_KVMRedirectionSAP` (fixture `cim/kvm/get.xml`).
pub(super) fn kvm_sap_instances(fw: &Firmware) -> Vec<Instance> {
    let r = &fw.state.manage.redirection;
    let (enabled, requested) = match (r.kvm_enabled, r.kvm_session_active) {
        (false, _) => (EnabledState::Disabled, RequestedState::Disabled),
        (true, true) => (EnabledState::Enabled, RequestedState::Enabled),
        (true, false) => (EnabledState::EnabledButOffline, RequestedState::Enabled),
    };
    let s = CimKvmRedirectionSap {
        creation_class_name: Some("CIM_KVMRedirectionSAP".into()),
        element_name: Some("KVM Redirection Service Access Point".into()),
        enabled_state: Some(enabled),
        kvm_protocol: Some(KvmProtocol::VncRfb),
        name: Some("KVM Redirection Service Access Point".into()),
        requested_state: Some(requested),
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("ManagedSystem".into()),
        ..Default::default()
    };
    vec![s.to_instance()]
}

/// `CIM_KVMRedirectionSAP.RequestStateChange`: 2 enables KVM, 3 disables it.
pub(super) fn kvm_request_state_change(
    fw: &mut Firmware,
    input: &KvmRequestStateChangeInput,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let rv = match input.requested_state {
        Some(s @ (RequestedState::Enabled | RequestedState::Disabled)) => {
            let on = s == RequestedState::Enabled;
            if fw.state.manage.redirection.kvm_enabled != on {
                fw.state.manage.redirection.kvm_enabled = on;
                if !on {
                    fw.state.manage.redirection.kvm_session_active = false;
                }
                let e = if on {
                    audit_events::KVM_ENABLED
                } else {
                    audit_events::KVM_DISABLED
                };
                logs::audit(fw, Some(caller), env, e, &[]);
            }
            StateChangeReturn::Completed
        }
        _ => StateChangeReturn::InvalidParameter,
    };
    fw.changed();
    reply(KvmRequestStateChangeOutput {
        job: None,
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// `IPS_KVMRedirectionSettingData` (fixtures `ips/kvmredirection/settings/{get,put}.xml`).
pub(super) fn kvm_settings_instances(fw: &Firmware) -> Vec<Instance> {
    let r = &fw.state.manage.redirection;
    let ext = fw.persona.quirks.kvm_extended_settings;
    let s = IpsKvmRedirectionSettingData {
        back_to_back_fb_mode: Some(false),
        default_screen: Some(r.kvm_default_screen),
        double_buffer_active: ext.then_some(false),
        double_buffer_enabled: ext.then_some(true),
        element_name: Some("Intel(r) KVM Redirection Settings".into()),
        enabled_by_mebx: Some(true),
        grayscale_pixel_format_supported: ext.then_some(true),
        initial_decimation_mode_for_low_res: ext.then_some(2),
        instance_id: Some("Intel(r) KVM Redirection Settings".into()),
        is_5900_port_enabled: Some(r.port_5900_enabled),
        opt_in_policy: Some(kvm_opt_in_policy(fw)),
        opt_in_policy_timeout: kvm_opt_in_policy(fw).then_some(r.kvm_opt_in_timeout),
        rfb_password: Some(String::new()),
        session_timeout: Some(r.kvm_session_timeout),
        zlib_control_supported: ext.then_some(true),
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

/// KVM needs user consent: always in client control mode, by policy in admin control mode.
pub(super) fn kvm_opt_in_policy(fw: &Firmware) -> bool {
    fw.state.control_mode != 2 || fw.state.manage.redirection.kvm_opt_in_policy
}

/// Put `IPS_KVMRedirectionSettingData`: port 5900, consent policy (admin control mode only),
/// timeouts, default screen and the RFB password (write-only; an empty one keeps the old).
pub(super) fn put_kvm_settings(
    fw: &mut Firmware,
    s: &IpsKvmRedirectionSettingData,
) -> ResponseBody {
    let acm = fw.state.control_mode == 2;
    let r = &mut fw.state.manage.redirection;
    if let Some(v) = s.is_5900_port_enabled {
        r.port_5900_enabled = v;
    }
    if let (Some(v), true) = (s.opt_in_policy, acm) {
        r.kvm_opt_in_policy = v;
    }
    if let Some(v) = s.opt_in_policy_timeout {
        r.kvm_opt_in_timeout = v;
    }
    if let Some(v) = s.session_timeout {
        r.kvm_session_timeout = v;
    }
    if let Some(v) = s.default_screen {
        r.kvm_default_screen = v;
    }
    if let Some(p) = s.rfb_password.as_deref().filter(|p| !p.is_empty()) {
        r.rfb_password = Secret(p.to_owned());
    }
    fw.changed();
    ResponseBody::Put(kvm_settings_instances(fw).into_iter().next())
}
