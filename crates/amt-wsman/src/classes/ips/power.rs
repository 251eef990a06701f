//! `IPS_PowerManagementService`: OS power-saving state (AMT-PROTOCOLS.md §3.4(c)).
//!
//! Sources: recorded fixtures `ips/power/managementservice/*.xml`; Intel's generated class
//! `IPS_PowerManagementService.cpp` (intel/lms `CIM_Framework`: argument order
//! `OSPowerSavingState, ManagedElement, Time, TimeoutPeriod`); go-wsman-messages
//! `pkg/wsman/ips/power/decoder.go` (value maps).

use crate::classes::cim::{EnabledState, PowerActionReturn, RequestedState};
use crate::classes::CimDateTime;
use crate::value::EndpointReference;

wire_enum! {
    /// `OSPowerSavingState`.
    pub enum OsPowerSavingState: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Unsupported.
        Unsupported = 1,
        /// 2: Full power.
        FullPower = 2,
        /// 3: OS power saving.
        PowerSaving = 3,
    }
}

wsman_struct! {
    /// `IPS_PowerManagementService`. Source: fixture `ips/power/managementservice/get.xml`.
    class IpsPowerManagementService = "IPS_PowerManagementService" {
        /// `IPS_PowerManagementService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Power Management Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// `Intel(r) AMT Power Management Service`.
        "Name" => name: Option<String>,
        /// Current OS power-saving state.
        "OSPowerSavingState" => os_power_saving_state: Option<OsPowerSavingState>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `RequestOSPowerSavingStateChange_INPUT`.
    input RequestOsPowerSavingStateChangeInput = "IPS_PowerManagementService" . "RequestOSPowerSavingStateChange" {
        /// The state asked for.
        "OSPowerSavingState" => os_power_saving_state: Option<OsPowerSavingState>,
        /// The host system (see [`crate::classes::cim::managed_system`]).
        "ManagedElement" => managed_element: Option<EndpointReference>,
        /// Optional time.
        "Time" => time: Option<CimDateTime>,
        /// Optional timeout.
        "TimeoutPeriod" => timeout_period: Option<CimDateTime>,
    }
}

wsman_struct! {
    /// `RequestOSPowerSavingStateChange_OUTPUT`.
    output RequestOsPowerSavingStateChangeOutput = "IPS_PowerManagementService" . "RequestOSPowerSavingStateChange" {
        /// Job reference.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PowerActionReturn>,
    }
}
