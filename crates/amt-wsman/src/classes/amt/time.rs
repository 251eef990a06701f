//! `AMT_TimeSynchronizationService`: reading and setting the ME clock (AMT-PROTOCOLS.md §2.6).
//!
//! The console reads `Ta0` with `GetLowAccuracyTimeSynch`, then calls
//! `SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)` with its own clock (seconds since the Unix epoch)
//! taken after the first answer and just before the second call.
//!
//! Sources: recorded fixtures `amt/timesynchronization/*.xml`; Intel's generated class
//! `AMT_TimeSynchronizationService.cpp` (intel/lms `CIM_Framework`: `Ta0`, `Tm1`, `Tm2` are
//! uint32); go-wsman-messages `pkg/wsman/amt/timesynchronization` (value maps).

use super::PtStatus;
use crate::classes::cim::{EnabledState, RequestedState};

wire_enum! {
    /// `LocalTimeSyncEnabled`: whether the local (OS) agent may set the clock.
    pub enum LocalTimeSyncEnabled: u32 {
        /// 0: Default true.
        DefaultTrue = 0,
        /// 1: Configured true.
        ConfiguredTrue = 1,
        /// 2: False.
        False = 2,
    }
}

wire_enum! {
    /// `TimeSource`: where the ME clock currently comes from.
    pub enum TimeSource: u32 {
        /// 0: The BIOS RTC (not yet synchronised).
        BiosRtc = 0,
        /// 1: Configured by a console.
        Configured = 1,
    }
}

wsman_struct! {
    /// `AMT_TimeSynchronizationService`. Source: fixture `amt/timesynchronization/get.xml`.
    class AmtTimeSynchronizationService = "AMT_TimeSynchronizationService" {
        /// `AMT_TimeSynchronizationService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Time Synchronization Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// Local time sync policy.
        "LocalTimeSyncEnabled" => local_time_sync_enabled: Option<LocalTimeSyncEnabled>,
        /// `Intel(r) AMT Time Synchronization Service`.
        "Name" => name: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
        /// Clock source.
        "TimeSource" => time_source: Option<TimeSource>,
    }
}

wsman_struct! {
    /// `GetLowAccuracyTimeSynch_INPUT` (no arguments).
    input GetLowAccuracyTimeSynchInput = "AMT_TimeSynchronizationService" . "GetLowAccuracyTimeSynch" {}
}

wsman_struct! {
    /// `GetLowAccuracyTimeSynch_OUTPUT`.
    output GetLowAccuracyTimeSynchOutput = "AMT_TimeSynchronizationService" . "GetLowAccuracyTimeSynch" {
        /// The ME clock, seconds since the Unix epoch.
        "Ta0" => ta0: Option<u32>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `SetHighAccuracyTimeSynch_INPUT`.
    input SetHighAccuracyTimeSynchInput = "AMT_TimeSynchronizationService" . "SetHighAccuracyTimeSynch" {
        /// `Ta0` from `GetLowAccuracyTimeSynch`.
        "Ta0" => ta0: Option<u32>,
        /// Console clock when the `GetLowAccuracyTimeSynch` answer arrived.
        "Tm1" => tm1: Option<u32>,
        /// Console clock just before this call.
        "Tm2" => tm2: Option<u32>,
    }
}

impl SetHighAccuracyTimeSynchInput {
    /// The input for the three timestamps (seconds since the Unix epoch).
    pub fn new(ta0: u32, tm1: u32, tm2: u32) -> Self {
        SetHighAccuracyTimeSynchInput {
            ta0: Some(ta0),
            tm1: Some(tm1),
            tm2: Some(tm2),
            extra: Vec::new(),
        }
    }
}

wsman_struct! {
    /// `SetHighAccuracyTimeSynch_OUTPUT`: 0, 1, 36 InvalidParameter, 38 FlashWriteLimit.
    output SetHighAccuracyTimeSynchOutput = "AMT_TimeSynchronizationService" . "SetHighAccuracyTimeSynch" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::Typed;

    #[test]
    fn set_high_accuracy_arguments_are_in_schema_order() {
        let i =
            SetHighAccuracyTimeSynchInput::new(1704586865, 1704586866, 1704586867).to_instance();
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Ta0", "Tm1", "Tm2"]);
        assert_eq!(i.get_text("Tm2"), Some("1704586867"));
    }
}
