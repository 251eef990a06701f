//! Host power (D8, M1): `CIM_PowerManagementService.RequestPowerStateChange`,
//! `CIM_AssociatedPowerManagementService` and `IPS_PowerManagementService`.
//!
//! **Which states can be asked for** depends on the host's state, as real firmware reports in
//! `AvailableRequestedPowerStates`:
//! - host on (2): the persona's list (`Persona::power_states`; the AMT 16 persona carries the
//!   recorded `cim/associatedpower/managementservice/get.xml` list 10, 8, 5, 11, 4, 7, 14, 12);
//! - host asleep or hibernating (3, 4, 7): 8, 2, 5 (a recorded response with `PowerState` 4 in
//!   public console test data);
//! - host off (8): 2 only (MAAS's recorded AMT answer for an off host).
//!
//! **Return values.** A state not available from the current one (reset or power-off while off,
//! power-on while on, a graceful state the persona does not list) returns **2**, which consoles
//! show as `PT_STATUS_NOT_READY`: an AMT power-control write-up built on `amtctrl` documents
//! exactly this ("when this happens, the return value is 2 (not ready)"), sdague/amt issues #16
//! and #28 show 2 for reset-while-off and power-off requests the host could not take, and
//! MeshCentral PR #2426 fixed a "NOT READY" answer caused by asking for an unsupported off state.
//! A missing `PowerState`, or a `ManagedElement` naming another system, returns 5 (invalid
//! parameter). Success is 0 (Completed), as in `requestpowerstatechange.xml`.
//!
//! **Transitions.** 2 powers up; 5, 6, 15, 16 power-cycle; 10 and 14 reset; these boot the host,
//! which applies an armed boot configuration once (see `boot`). 8, 9, 12, 13 leave the host off
//! (reported as 8, the state AMT reports for a powered-off host); 3 and 4 put it to sleep, 7
//! hibernates; 11 (NMI) leaves it on. Each success but the NMI emits
//! [`FirmwareEvent::PowerChanged`] (a reset reports 2 again: the host rebooted); each success is
//! audited (1700–1709).

use amt_wsman::classes::cim::{
    managed_system, CimAssociatedPowerManagementService, CimPowerManagementService, EnabledState,
    PowerActionReturn, PowerState, RequestPowerStateChangeInput, RequestPowerStateChangeOutput,
    RequestedState,
};
use amt_wsman::classes::ips::{
    OsPowerSavingState, RequestOsPowerSavingStateChangeInput, RequestOsPowerSavingStateChangeOutput,
};
use amt_wsman::classes::Typed;
use amt_wsman::{EndpointReference, Instance, ResponseBody, SelectorSet};

use super::boot::{self, BootCause};
use super::logs::{self, audit_events, AuditEvent};
use super::reply;
use crate::firmware::{Caller, Env, Firmware, FirmwareEvent};

const SERVICE_NAME: &str = "Intel(r) AMT Power Management Service";

/// The power states `RequestPowerStateChange` accepts from the host's current state.
pub fn available_states(fw: &Firmware) -> Vec<PowerState> {
    let raw: &[u16] = match fw.state.power_state {
        2 => fw.persona.power_states,
        3 | 4 | 7 => &[8, 2, 5],
        _ => &[2],
    };
    raw.iter()
        .filter_map(|v| PowerState::try_from(*v).ok())
        .collect()
}

/// `CIM_PowerManagementService` (fixture `cim/power/managementservice/get.xml`).
pub(super) fn service_instances() -> Vec<Instance> {
    let s = CimPowerManagementService {
        creation_class_name: Some("CIM_PowerManagementService".into()),
        element_name: Some(SERVICE_NAME.into()),
        enabled_state: Some(EnabledState::NotApplicable),
        name: Some(SERVICE_NAME.into()),
        requested_state: Some(RequestedState::NotApplicable),
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("Intel(r) AMT".into()),
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

/// The reference to the power management service, as `ServiceProvided` carries it.
fn service_reference() -> EndpointReference {
    EndpointReference::to_class(
        "CIM_PowerManagementService",
        SelectorSet::new()
            .with("CreationClassName", "CIM_PowerManagementService")
            .with("Name", SERVICE_NAME)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", "Intel(r) AMT"),
    )
}

/// `CIM_AssociatedPowerManagementService` (fixture
/// `cim/associatedpower/managementservice/get.xml`).
pub(super) fn associated_instances(fw: &Firmware) -> Vec<Instance> {
    let a = CimAssociatedPowerManagementService {
        available_requested_power_states: available_states(fw),
        power_state: PowerState::try_from(fw.state.power_state).ok(),
        requested_power_state: None,
        service_provided: Some(service_reference()),
        user_of_service: Some(managed_system()),
        extra: Vec::new(),
    };
    vec![a.to_instance()]
}

/// `IPS_PowerManagementService` (fixture `ips/power/managementservice/get.xml`: the
/// properties in that order, `OSPowerSavingState` last). The firmware omits
/// `OSPowerSavingState` while the host is off (device-management-toolkit/mps issue #2278,
/// observed on AMT 15 and 18).
pub(super) fn ips_instances(fw: &Firmware) -> Vec<Instance> {
    let mut i = Instance::of_class("IPS_PowerManagementService")
        .with_text("CreationClassName", "IPS_PowerManagementService")
        .with_text("ElementName", SERVICE_NAME)
        .with_text("EnabledState", "5")
        .with_text("Name", SERVICE_NAME)
        .with_text("RequestedState", "12")
        .with_text("SystemCreationClassName", "CIM_ComputerSystem")
        .with_text("SystemName", "Intel(r) AMT");
    if fw.state.power_state == 2 {
        i = i.with_text(
            "OSPowerSavingState",
            fw.state.manage.power.os_power_saving_state.to_string(),
        );
    }
    vec![i]
}

/// `RequestPowerStateChange`.
pub(super) fn request_power_state_change(
    fw: &mut Firmware,
    input: &RequestPowerStateChangeInput,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let result = change(fw, input, caller, env);
    reply(RequestPowerStateChangeOutput {
        job: None,
        return_value: Some(result),
        extra: Vec::new(),
    })
}

fn change(
    fw: &mut Firmware,
    input: &RequestPowerStateChangeInput,
    caller: &Caller,
    env: &Env<'_>,
) -> PowerActionReturn {
    let Some(requested) = input.power_state else {
        return PowerActionReturn::InvalidParameter;
    };
    if let Some(e) = &input.managed_element {
        if e.selectors
            .get("Name")
            .is_some_and(|n| n != "ManagedSystem")
        {
            return PowerActionReturn::InvalidParameter;
        }
    }
    if !available_states(fw).contains(&requested) {
        return PowerActionReturn::Unknown;
    }
    use PowerState as P;
    let (audit, boot, after): (AuditEvent, Option<BootCause>, u16) = match requested {
        P::On => (audit_events::POWER_UP, Some(BootCause::PowerUp), 2),
        P::PowerCycleOffHard | P::PowerCycleOffSoft => {
            (audit_events::POWER_CYCLE, Some(BootCause::PowerUp), 2)
        }
        P::PowerCycleOffSoftGraceful | P::PowerCycleOffHardGraceful => {
            (audit_events::GRACEFUL_RESET, Some(BootCause::Restart), 2)
        }
        P::MasterBusReset => (audit_events::RESET, Some(BootCause::HardReset), 2),
        P::MasterBusResetGraceful => (audit_events::GRACEFUL_RESET, Some(BootCause::Restart), 2),
        P::OffHard | P::OffSoft => (audit_events::POWER_DOWN, None, 8),
        P::OffSoftGraceful | P::OffHardGraceful => (audit_events::GRACEFUL_POWER_DOWN, None, 8),
        P::SleepLight | P::SleepDeep => (audit_events::STANDBY, None, requested.value()),
        P::Hibernate => (audit_events::HIBERNATE, None, 7),
        P::DiagnosticInterrupt => (audit_events::NMI, None, fw.state.power_state),
        P::Other => return PowerActionReturn::NotSupported,
    };
    logs::audit(fw, Some(caller), env, audit, &[]);
    fw.state.power_state = after;
    if let Some(cause) = boot {
        fw.state.manage.power.os_power_saving_state = 2;
        boot::host_boots(fw, env, cause);
    }
    if requested != P::DiagnosticInterrupt {
        fw.emit(FirmwareEvent::PowerChanged(after));
    }
    fw.changed();
    PowerActionReturn::Completed
}

/// `IPS_PowerManagementService.RequestOSPowerSavingStateChange`: 2 (full power) or 3 (OS power
/// saving) while the host is on; 2 ("not ready") otherwise, 5 for other values.
pub(super) fn request_os_power_saving(
    fw: &mut Firmware,
    input: &RequestOsPowerSavingStateChangeInput,
) -> ResponseBody {
    let rv = match input.os_power_saving_state {
        Some(s @ (OsPowerSavingState::FullPower | OsPowerSavingState::PowerSaving)) => {
            if fw.state.power_state == 2 {
                fw.state.manage.power.os_power_saving_state = s.value();
                fw.changed();
                PowerActionReturn::Completed
            } else {
                PowerActionReturn::Unknown
            }
        }
        _ => PowerActionReturn::InvalidParameter,
    };
    reply(RequestOsPowerSavingStateChangeOutput {
        job: None,
        return_value: Some(rv),
        extra: Vec::new(),
    })
}
