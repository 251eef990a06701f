//! Wire constants the DMTF CIM schema shares between many classes: enabled/requested states,
//! health, operational status, and the return values of `RequestStateChange`.
//!
//! Sources: DMTF CIM schema 2.x (`CIM_EnabledLogicalElement`, `CIM_ManagedSystemElement`), the
//! same value maps as written out in go-wsman-messages `pkg/wsman/*/decoder.go`, and the recorded
//! fixtures under `fixtures/wsman-responses/**` (every value they carry is defined here).

wire_enum! {
    /// `CIM_EnabledLogicalElement.EnabledState` (DMTF values only; AMT classes with vendor
    /// values 32768.. have their own enums, e.g. the redirection service).
    pub enum EnabledState: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: Enabled.
        Enabled = 2,
        /// 3: Disabled.
        Disabled = 3,
        /// 4: Shutting Down.
        ShuttingDown = 4,
        /// 5: Not Applicable.
        NotApplicable = 5,
        /// 6: Enabled but Offline.
        EnabledButOffline = 6,
        /// 7: In Test.
        InTest = 7,
        /// 8: Deferred.
        Deferred = 8,
        /// 9: Quiesce.
        Quiesce = 9,
        /// 10: Starting.
        Starting = 10,
    }
}

wire_enum! {
    /// `CIM_EnabledLogicalElement.RequestedState`, and the `RequestedState` argument of
    /// `RequestStateChange` on classes without vendor states.
    pub enum RequestedState: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 2: Enabled.
        Enabled = 2,
        /// 3: Disabled.
        Disabled = 3,
        /// 4: Shut Down.
        ShutDown = 4,
        /// 5: No Change.
        NoChange = 5,
        /// 6: Offline.
        Offline = 6,
        /// 7: Test.
        Test = 7,
        /// 8: Deferred.
        Deferred = 8,
        /// 9: Quiesce.
        Quiesce = 9,
        /// 10: Reboot.
        Reboot = 10,
        /// 11: Reset.
        Reset = 11,
        /// 12: Not Applicable.
        NotApplicable = 12,
    }
}

wire_enum! {
    /// `CIM_EnabledLogicalElement.EnabledDefault`.
    pub enum EnabledDefault: u16 {
        /// 2: Enabled.
        Enabled = 2,
        /// 3: Disabled.
        Disabled = 3,
        /// 5: Not Applicable.
        NotApplicable = 5,
        /// 6: Enabled but Offline.
        EnabledButOffline = 6,
        /// 7: No Default.
        NoDefault = 7,
        /// 9: Quiesce.
        Quiesce = 9,
    }
}

wire_enum! {
    /// `CIM_ManagedSystemElement.HealthState`.
    pub enum HealthState: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 5: OK.
        Ok = 5,
        /// 10: Degraded/Warning.
        Degraded = 10,
        /// 15: Minor failure.
        MinorFailure = 15,
        /// 20: Major failure.
        MajorFailure = 20,
        /// 25: Critical failure.
        CriticalFailure = 25,
        /// 30: Non-recoverable error.
        NonRecoverableError = 30,
    }
}

wire_enum! {
    /// `CIM_ManagedSystemElement.OperationalStatus` (an array property).
    pub enum OperationalStatus: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: OK.
        Ok = 2,
        /// 3: Degraded.
        Degraded = 3,
        /// 4: Stressed.
        Stressed = 4,
        /// 5: Predictive Failure.
        PredictiveFailure = 5,
        /// 6: Error.
        Error = 6,
        /// 7: Non-Recoverable Error.
        NonRecoverableError = 7,
        /// 8: Starting.
        Starting = 8,
        /// 9: Stopping.
        Stopping = 9,
        /// 10: Stopped.
        Stopped = 10,
        /// 11: In Service.
        InService = 11,
        /// 12: No Contact.
        NoContact = 12,
        /// 13: Lost Communication.
        LostCommunication = 13,
        /// 14: Aborted.
        Aborted = 14,
        /// 15: Dormant.
        Dormant = 15,
        /// 16: Supporting Entity in Error.
        SupportingEntityInError = 16,
        /// 17: Completed.
        Completed = 17,
        /// 18: Power Mode.
        PowerMode = 18,
        /// 19: Relocating.
        Relocating = 19,
    }
}

wire_enum! {
    /// Return values of `CIM_EnabledLogicalElement.RequestStateChange` (and of AMT's overrides
    /// of it, e.g. `AMT_RedirectionService`, `CIM_KVMRedirectionSAP`, `CIM_BootService`).
    pub enum StateChangeReturn: u32 {
        /// 0: Completed with no error.
        Completed = 0,
        /// 1: Not supported.
        NotSupported = 1,
        /// 2: Unknown or unspecified error.
        UnknownError = 2,
        /// 3: Cannot complete within timeout period.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::FieldType;
    use crate::value::Value;

    #[test]
    fn enabled_state_rejects_vendor_value() {
        let e = EnabledState::from_value(&Value::Text("32771".into())).unwrap_err();
        assert_eq!(
            e,
            crate::classes::FieldError::UnknownEnum {
                type_name: "EnabledState",
                value: 32771
            }
        );
    }

    #[test]
    fn every_state_change_return_round_trips() {
        for v in StateChangeReturn::ALL {
            assert_eq!(StateChangeReturn::from_value(&v.to_value()), Ok(*v));
            assert_eq!(StateChangeReturn::try_from(v.value()).ok(), Some(*v));
        }
    }
}
