//! Family module `manage`: everything a management console does with a provisioned device
//! (see the parent module for the routing contract).
//!
//! - [`power`] holds `CIM_PowerManagementService`, `CIM_AssociatedPowerManagementService`,
//!   `IPS_PowerManagementService` (D8, M1).
//! - [`inventory`] holds platform GUID, firmware versions, chassis, baseboard, BIOS, processors,
//!   memory, chips, disks (M2).
//! - [`time`] holds `AMT_TimeSynchronizationService` and CIM date/time text.
//! - [`logs`] holds `AMT_AuditLog`, `AMT_MessageLog`, `AMT_EventLogEntry` and their binary records (M6).
//! - [`boot`] holds boot settings, capabilities, boot service, boot order (M7).
//! - [`redirection`] holds `AMT_RedirectionService`, KVM.
//! - [`optin`] holds user consent (`IPS_OptInService`).
//! - [`defense`] holds System Defense filters and policies, and the packet drop decision (M3).
//! - [`kerberos`] holds `AMT_KerberosSettingData`.
//! - [`network`] holds `AMT_EthernetPortSettings`.
//! - [`alarm`] holds `AMT_AlarmClockService`, `IPS_AlarmClockOccurrence`.
//! - [`store`] holds what all of this keeps in the device's state file.
//!
//! Realms are enforced before a request gets here (`auth::required_realm`); this module decides
//! what the firmware does and answers.

use amt_wsman::classes::amt::MessageLogRequestStateChangeOutput;
use amt_wsman::classes::cim::StateChangeReturn;
use amt_wsman::classes::{KnownClass, MethodCall, MethodOutput, TypedInstance};
use amt_wsman::{Fault, Instance, ResponseBody, SelectorSet};

use super::{Caller, Env, Firmware, Routed};

pub mod alarm;
pub mod boot;
pub mod defense;
pub mod inventory;
pub mod kerberos;
pub mod logs;
pub mod network;
pub mod optin;
pub mod power;
pub mod redirection;
pub mod store;
pub mod time;

pub use defense::{IpHeaders, PacketDirection, PacketHeaders};
pub use logs::{audit_events, AuditEvent};
pub use store::{HostBoot, IpConfig, KerberosStore, ManageState};

/// A method's answer.
pub(crate) fn reply<T: MethodOutput>(o: T) -> ResponseBody {
    ResponseBody::Invoke {
        method: T::METHOD.to_owned(),
        output: o.to_instance(),
    }
}

fn kvm(fw: &Firmware) -> bool {
    fw.persona.quirks.kvm
}

/// Instances of the classes this module owns.
pub(crate) fn instances(
    fw: &Firmware,
    class: KnownClass,
    env: &mut Env<'_>,
) -> Routed<KnownClass, Vec<Instance>> {
    use KnownClass as K;
    let v = match class {
        K::CimPowerManagementService => power::service_instances(),
        K::CimAssociatedPowerManagementService => power::associated_instances(fw),
        K::IpsPowerManagementService => power::ips_instances(fw),
        K::CimComputerSystemPackage => inventory::system_package(fw),
        K::CimSoftwareIdentity => inventory::software_identity(fw),
        K::CimChassis => inventory::chassis(fw),
        K::CimCard => inventory::card(fw),
        K::CimBiosElement => inventory::bios(fw),
        K::CimProcessor => inventory::processors(fw),
        K::CimPhysicalMemory => inventory::memory(fw),
        K::CimChip => inventory::chips(fw),
        K::CimMediaAccessDevice => inventory::media(fw),
        K::AmtTimeSynchronizationService => time::instances(fw),
        K::AmtAuditLog => logs::audit_log_instances(fw),
        K::AmtMessageLog => logs::message_log_instances(fw),
        K::AmtEventLogEntry => logs::event_log_entries(fw),
        K::AmtBootSettingData => boot::setting_data_instances(fw),
        K::AmtBootCapabilities => boot::capabilities_instances(),
        K::CimBootService => boot::service_instances(fw),
        K::CimBootConfigSetting => boot::config_setting_instances(),
        K::CimBootSourceSetting => boot::source_setting_instances(),
        K::AmtRedirectionService => redirection::service_instances(fw),
        K::CimKvmRedirectionSap if kvm(fw) => redirection::kvm_sap_instances(fw),
        K::IpsKvmRedirectionSettingData if kvm(fw) => redirection::kvm_settings_instances(fw),
        K::IpsOptInService => optin::instances(fw, env),
        K::AmtSystemDefensePolicy => defense::policy_instances(fw),
        K::AmtHdr8021Filter => defense::filter_instances(fw, true),
        K::AmtIpHeadersFilter => defense::filter_instances(fw, false),
        K::AmtNetworkPortSystemDefensePolicy => defense::binding_instances(fw),
        K::AmtKerberosSettingData => kerberos::instances(fw),
        K::AmtEthernetPortSettings => network::instances(fw),
        K::AmtAlarmClockService => alarm::service_instances(fw),
        K::IpsAlarmClockOccurrence => alarm::occurrence_instances(fw),
        _ => return Routed::Pass(class),
    };
    Routed::Done(v)
}

/// Put on the classes this module owns.
pub(crate) fn put(
    fw: &mut Firmware,
    instance: TypedInstance,
    selectors: &SelectorSet,
    caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<TypedInstance, ResponseBody> {
    use defense::Written as W;
    use TypedInstance as T;
    let body = match &instance {
        T::AmtBootSettingData(d) => boot::put_setting_data(fw, d),
        T::AmtRedirectionService(s) => redirection::put_service(fw, s),
        T::IpsKvmRedirectionSettingData(s) if kvm(fw) => redirection::put_kvm_settings(fw, s),
        T::IpsOptInService(s) => optin::put(fw, s, caller, env),
        T::AmtKerberosSettingData(s) => kerberos::put(fw, s, caller, env),
        T::AmtEthernetPortSettings(s) => network::put(fw, s, selectors, caller, env),
        T::AmtHdr8021Filter(f) => defense::put(fw, W::Hdr8021(f), selectors, caller, env),
        T::AmtIpHeadersFilter(f) => defense::put(fw, W::IpHeaders(f), selectors, caller, env),
        T::AmtSystemDefensePolicy(p) => defense::put(fw, W::Policy(p), selectors, caller, env),
        T::AmtNetworkPortSystemDefensePolicy(b) => {
            defense::put(fw, W::Binding(b), selectors, caller, env)
        }
        _ => return Routed::Pass(instance),
    };
    Routed::Done(body)
}

/// Create on the classes this module owns.
pub(crate) fn create(
    fw: &mut Firmware,
    instance: TypedInstance,
    caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<TypedInstance, ResponseBody> {
    use defense::Written as W;
    use TypedInstance as T;
    let body = match &instance {
        T::AmtHdr8021Filter(f) => defense::create(fw, W::Hdr8021(f), caller, env),
        T::AmtIpHeadersFilter(f) => defense::create(fw, W::IpHeaders(f), caller, env),
        T::AmtSystemDefensePolicy(p) => defense::create(fw, W::Policy(p), caller, env),
        T::AmtNetworkPortSystemDefensePolicy(b) => defense::create(fw, W::Binding(b), caller, env),
        _ => return Routed::Pass(instance),
    };
    Routed::Done(body)
}

/// Delete on the classes this module owns.
pub(crate) fn delete(
    fw: &mut Firmware,
    class: KnownClass,
    selectors: &SelectorSet,
    caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<KnownClass, ResponseBody> {
    use defense::Deleted as D;
    use KnownClass as K;
    let body = match class {
        K::AmtHdr8021Filter | K::AmtIpHeadersFilter => {
            defense::delete(fw, D::Filter, selectors, caller, env)
        }
        K::AmtSystemDefensePolicy => defense::delete(fw, D::Policy, selectors, caller, env),
        K::AmtNetworkPortSystemDefensePolicy => {
            defense::delete(fw, D::Binding, selectors, caller, env)
        }
        K::IpsAlarmClockOccurrence => alarm::delete(fw, selectors),
        _ => return Routed::Pass(class),
    };
    Routed::Done(body)
}

/// Methods of the classes this module owns.
pub(crate) fn invoke(
    fw: &mut Firmware,
    method: MethodCall,
    _selectors: &SelectorSet,
    caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<MethodCall, ResponseBody> {
    use MethodCall as M;
    let body = match &method {
        M::RequestPowerStateChange(i) => power::request_power_state_change(fw, i, caller, env),
        M::RequestOsPowerSavingStateChange(i) => power::request_os_power_saving(fw, i),
        M::GetLowAccuracyTimeSynch(_) => time::get_low_accuracy(fw, env),
        M::SetHighAccuracyTimeSynch(i) => time::set_high_accuracy(fw, i, caller, env),
        M::ReadRecords(i) => logs::read_records(fw, i),
        M::PositionToFirstRecord(_) => logs::position_to_first(fw),
        M::GetRecords(i) => logs::get_records(fw, i),
        M::MessageLogRequestStateChange(_) => reply(MessageLogRequestStateChangeOutput {
            job: None,
            return_value: Some(StateChangeReturn::NotSupported),
            extra: Vec::new(),
        }),
        M::SetBootConfigRole(i) => boot::set_boot_config_role(fw, i, caller, env),
        M::BootServiceRequestStateChange(i) => boot::service_request_state_change(fw, i),
        M::ChangeBootOrder(i) => boot::change_boot_order(fw, i),
        M::RedirectionRequestStateChange(i) => {
            redirection::request_state_change(fw, i, caller, env)
        }
        M::KvmRequestStateChange(i) if kvm(fw) => {
            redirection::kvm_request_state_change(fw, i, caller, env)
        }
        M::KvmRequestStateChange(_) => ResponseBody::Fault(Fault::destination_unreachable()),
        M::StartOptIn(_) => optin::start(fw, caller, env),
        M::SendOptInCode(i) => optin::send_code(fw, i, caller, env),
        M::CancelOptIn(_) => optin::cancel(fw, env),
        M::GetCredentialCacheState(_) => kerberos::get_cache_state(fw),
        M::SetCredentialCacheState(i) => kerberos::set_cache_state(fw, i),
        M::SetLinkPreference(i) => network::set_link_preference(fw, i),
        M::AddAlarm(i) => alarm::add_alarm(fw, i),
        _ => return Routed::Pass(method),
    };
    Routed::Done(body)
}

impl Firmware {
    /// The consent code shown on the host screen while an opt-in is waiting for it (for tests
    /// and the simulator's command line: "the user reads the screen").
    pub fn current_opt_in_code(&self) -> Option<u32> {
        let o = &self.state.manage.opt_in;
        (o.state == amt_wsman::classes::ips::OptInState::Displayed.value())
            .then_some(o.code)
            .flatten()
    }

    /// Whether a redirection session (`kvm`: a KVM session) needs user consent first.
    pub fn consent_required(&self, kvm: bool) -> bool {
        use amt_wsman::classes::ips::OptInRequired;
        match optin::effective_required(self) {
            OptInRequired::All => true,
            OptInRequired::Kvm => kvm,
            OptInRequired::None => kvm && redirection::kvm_opt_in_policy(self),
        }
    }

    /// Whether the user gave consent (the right code was sent and not cancelled).
    pub fn consent_given(&self) -> bool {
        self.state.manage.opt_in.state >= amt_wsman::classes::ips::OptInState::Received.value()
    }

    /// Whether the redirection port (16994/16995) accepts sessions.
    pub fn redirection_listener_enabled(&self) -> bool {
        self.state.manage.redirection.listener_enabled
    }

    /// Whether SOL sessions are enabled (`AMT_RedirectionService` 32770 or 32771).
    pub fn sol_enabled(&self) -> bool {
        matches!(self.state.redirection_state, 32770 | 32771)
    }

    /// Whether IDE-R sessions are enabled (`AMT_RedirectionService` 32769 or 32771).
    pub fn ider_enabled(&self) -> bool {
        matches!(self.state.redirection_state, 32769 | 32771)
    }

    /// Whether KVM is enabled (persona with KVM, `CIM_KVMRedirectionSAP` enabled).
    pub fn kvm_enabled(&self) -> bool {
        self.persona.quirks.kvm && self.state.manage.redirection.kvm_enabled
    }

    /// Tells the firmware a KVM session opened or closed (`EnabledState` 2 or 6).
    pub fn set_kvm_session_active(&mut self, active: bool) {
        let active = active && self.kvm_enabled();
        if self.state.manage.redirection.kvm_session_active != active {
            self.state.manage.redirection.kvm_session_active = active;
            self.changed();
        }
    }

    /// The Kerberos settings a console pushed (realm, SPNs, key) for the Negotiate acceptor.
    pub fn kerberos_settings(&self) -> &KerberosStore {
        &self.state.manage.kerberos
    }

    /// What the host booted last (after a power action or an alarm).
    pub fn last_host_boot(&self) -> Option<HostBoot> {
        self.state.manage.boot.last_boot
    }

    /// The CIM power states `RequestPowerStateChange` accepts now.
    pub fn available_power_states(&self) -> Vec<u16> {
        power::available_states(self)
            .into_iter()
            .map(|s| s.value())
            .collect()
    }

    /// Appends a security audit record (for the other firmware families and the network
    /// front: logins, provisioning steps, redirection sessions). `caller` `None` means the
    /// platform itself; `extended` is the event's extended data (at most 255 bytes kept).
    pub fn record_audit(
        &mut self,
        event: AuditEvent,
        caller: Option<&Caller>,
        env: &Env<'_>,
        extended: &[u8],
    ) {
        logs::audit(self, caller, env, event, extended);
    }
}
