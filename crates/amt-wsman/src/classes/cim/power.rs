//! `CIM_PowerManagementService`, `CIM_AssociatedPowerManagementService` and power states.

use crate::value::{EndpointReference, SelectorSet};

wire_enum! {
    /// CIM power states (`PowerState`, `RequestPowerStateChange`). Source: AMT-PROTOCOLS.md §3.4(c)
    /// (go-wsman-messages `cim/power/decoder.go`; 2, 5, 8, 10 verified on hardware there).
    pub enum PowerState: u16 {
        /// 1: Other.
        Other = 1,
        /// 2: On.
        On = 2,
        /// 3: Sleep - Light.
        SleepLight = 3,
        /// 4: Sleep - Deep.
        SleepDeep = 4,
        /// 5: Power Cycle (Off - Hard, then on).
        PowerCycleOffHard = 5,
        /// 6: Power Cycle (Off - Soft).
        PowerCycleOffSoft = 6,
        /// 7: Hibernate (Off - Soft).
        Hibernate = 7,
        /// 8: Off - Hard.
        OffHard = 8,
        /// 9: Off - Soft.
        OffSoft = 9,
        /// 10: Master Bus Reset.
        MasterBusReset = 10,
        /// 11: Diagnostic Interrupt (NMI).
        DiagnosticInterrupt = 11,
        /// 12: Off - Soft Graceful.
        OffSoftGraceful = 12,
        /// 13: Off - Hard Graceful.
        OffHardGraceful = 13,
        /// 14: Master Bus Reset Graceful.
        MasterBusResetGraceful = 14,
        /// 15: Power Cycle (Off - Soft Graceful).
        PowerCycleOffSoftGraceful = 15,
        /// 16: Power Cycle (Off - Hard Graceful).
        PowerCycleOffHardGraceful = 16,
    }
}

wire_enum! {
    /// `RequestPowerStateChange` return values (CIM_PowerManagementService MOF; 4097–4099 as
    /// in go-wsman-messages `pkg/wsman/cim/power/decoder.go`).
    pub enum PowerActionReturn: u32 {
        /// 0: Completed with no error.
        Completed = 0,
        /// 1: Not supported.
        NotSupported = 1,
        /// 2: Unknown or unspecified error.
        Unknown = 2,
        /// 3: Cannot complete within timeout.
        Timeout = 3,
        /// 4: Failed.
        Failed = 4,
        /// 5: Invalid parameter.
        InvalidParameter = 5,
        /// 6: In use.
        InUse = 6,
        /// 4096: Method parameters checked, job started.
        JobStarted = 4096,
        /// 4097: Invalid state transition.
        InvalidStateTransition = 4097,
        /// 4098: Use of timeout parameter not supported.
        TimeoutParameterNotSupported = 4098,
        /// 4099: Busy.
        Busy = 4099,
    }
}

/// The `ManagedElement` every AMT power request names: the host computer system.
pub fn managed_system() -> EndpointReference {
    EndpointReference::to_class(
        "CIM_ComputerSystem",
        SelectorSet::new()
            .with("CreationClassName", "CIM_ComputerSystem")
            .with("Name", "ManagedSystem"),
    )
}

wsman_struct! {
    /// `CIM_PowerManagementService`.
    class CimPowerManagementService = "CIM_PowerManagementService" {
        /// Service name.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<super::EnabledState>,
        /// Service name (`Intel(r) AMT Power Management Service`).
        "Name" => name: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<super::RequestedState>,
        /// System class name.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// System name.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `RequestPowerStateChange_INPUT`.
    input RequestPowerStateChangeInput = "CIM_PowerManagementService" . "RequestPowerStateChange" {
        /// The state asked for.
        "PowerState" => power_state: Option<PowerState>,
        /// The system (see [`managed_system`]).
        "ManagedElement" => managed_element: Option<EndpointReference>,
        /// Optional time.
        "Time" => time: Option<crate::classes::CimDateTime>,
        /// Optional timeout.
        "TimeoutPeriod" => timeout_period: Option<crate::classes::CimDateTime>,
    }
}

wsman_struct! {
    /// `RequestPowerStateChange_OUTPUT`.
    output RequestPowerStateChangeOutput = "CIM_PowerManagementService" . "RequestPowerStateChange" {
        /// Job reference, when a job was started.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PowerActionReturn>,
    }
}

wsman_struct! {
    /// `CIM_AssociatedPowerManagementService`: current power state and what can be asked for.
    class CimAssociatedPowerManagementService = "CIM_AssociatedPowerManagementService" {
        /// States `RequestPowerStateChange` accepts on this device.
        "AvailableRequestedPowerStates" => available_requested_power_states: Vec<PowerState>,
        /// Current power state.
        "PowerState" => power_state: Option<PowerState>,
        /// Requested power state.
        "RequestedPowerState" => requested_power_state: Option<PowerState>,
        /// The power management service.
        "ServiceProvided" => service_provided: Option<EndpointReference>,
        /// The computer system.
        "UserOfService" => user_of_service: Option<EndpointReference>,
    }
}
