//! DMTF boot control: `CIM_BootService` (`SetBootConfigRole`, `RequestStateChange`),
//! `CIM_BootConfigSetting` (`ChangeBootOrder`) and `CIM_BootSourceSetting` (the boot sources:
//! hard drive, PXE, CD/DVD).
//!
//! The usual sequence: Put `AMT_BootSettingData`, `ChangeBootOrder(Source)` (or none),
//! `SetBootConfigRole(BootConfigSetting, Role = 1)`, then a power action.
//!
//! Sources: recorded fixtures `cim/boot/**`; Intel's generated classes (intel/lms
//! `CIM_Framework`: `CIM_BootService.cpp`, `CIM_BootConfigSetting.cpp`,
//! `CIM_BootSourceSetting.cpp`); DMTF value maps as in go-wsman-messages
//! `pkg/wsman/cim/boot/decoder.go` (including the vendor states 32768–32771 for One Click
//! Recovery / remote platform erase).

use super::{OperationalStatus, RequestedState, StateChangeReturn};
use crate::classes::CimDateTime;
use crate::value::{EndpointReference, SelectorSet};

/// `InstanceID` of AMT's one `CIM_BootConfigSetting`.
pub const BOOT_CONFIG_SETTING_ID: &str = "Intel(r) AMT: Boot Configuration 0";
/// `InstanceID` of the hard-drive boot source.
pub const BOOT_SOURCE_HARD_DRIVE: &str = "Intel(r) AMT: Force Hard-drive Boot";
/// `InstanceID` of the PXE boot source.
pub const BOOT_SOURCE_PXE: &str = "Intel(r) AMT: Force PXE Boot";
/// `InstanceID` of the CD/DVD boot source.
pub const BOOT_SOURCE_CD_DVD: &str = "Intel(r) AMT: Force CD/DVD Boot";

/// A reference to the `CIM_BootConfigSetting` with this `InstanceID`.
pub fn boot_config_setting_reference(instance_id: &str) -> EndpointReference {
    EndpointReference::to_class(
        "CIM_BootConfigSetting",
        SelectorSet::one("InstanceID", instance_id),
    )
}

/// A reference to the `CIM_BootSourceSetting` with this `InstanceID`.
pub fn boot_source_reference(instance_id: &str) -> EndpointReference {
    EndpointReference::to_class(
        "CIM_BootSourceSetting",
        SelectorSet::one("InstanceID", instance_id),
    )
}

wire_enum! {
    /// `CIM_BootService.EnabledState`: DMTF states plus Intel's OCR / RPE states.
    pub enum BootServiceEnabledState: u16 {
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
        /// 32768: One Click Recovery and RPE disabled, other boot options enabled.
        OcrAndRpeDisabled = 32768,
        /// 32769: OCR enabled, RPE disabled.
        OcrEnabledRpeDisabled = 32769,
        /// 32770: RPE enabled, OCR disabled.
        RpeEnabledOcrDisabled = 32770,
        /// 32771: OCR and RPE enabled.
        OcrAndRpeEnabled = 32771,
    }
}

wire_enum! {
    /// `CIM_BootService.RequestStateChange(RequestedState)`: DMTF requests plus Intel's
    /// OCR / RPE states.
    pub enum BootServiceRequestedState: u16 {
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
        /// 32768: Disable OCR and RPE.
        OcrAndRpeDisabled = 32768,
        /// 32769: Enable OCR, disable RPE.
        OcrEnabledRpeDisabled = 32769,
        /// 32770: Enable RPE, disable OCR.
        RpeEnabledOcrDisabled = 32770,
        /// 32771: Enable OCR and RPE.
        OcrAndRpeEnabled = 32771,
    }
}

wire_enum! {
    /// `SetBootConfigRole(Role)`.
    pub enum BootConfigRole: u16 {
        /// 0: Is Default.
        IsDefault = 0,
        /// 1: Is Next (what consoles send for a one-time boot).
        IsNext = 1,
        /// 2: Is Next for Single Use.
        IsNextSingleUse = 2,
    }
}

wire_enum! {
    /// Return values of `SetBootConfigRole` and `ChangeBootOrder`.
    pub enum BootReturn: u32 {
        /// 0: Completed with no error.
        Completed = 0,
        /// 1: Not supported.
        NotSupported = 1,
        /// 2: Unknown or unspecified error.
        UnknownError = 2,
        /// 3: Busy.
        Busy = 3,
        /// 4: Invalid reference.
        InvalidReference = 4,
        /// 5: Invalid parameter.
        InvalidParameter = 5,
        /// 6: Access denied.
        AccessDenied = 6,
        /// 4096: Method parameters checked, job started.
        JobStarted = 4096,
    }
}

wire_enum! {
    /// `CIM_BootSourceSetting.FailThroughSupported`.
    pub enum FailThroughSupported: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Is supported.
        Supported = 1,
        /// 2: Not supported.
        NotSupported = 2,
    }
}

wsman_struct! {
    /// `CIM_BootService`. Source: fixture `cim/boot/service/get.xml`.
    class CimBootService = "CIM_BootService" {
        /// `CIM_BootService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Boot Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state (OCR / RPE).
        "EnabledState" => enabled_state: Option<BootServiceEnabledState>,
        /// `Intel(r) AMT Boot Service`.
        "Name" => name: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `SetBootConfigRole_INPUT`.
    input SetBootConfigRoleInput = "CIM_BootService" . "SetBootConfigRole" {
        /// The configuration (see [`boot_config_setting_reference`]).
        "BootConfigSetting" => boot_config_setting: Option<EndpointReference>,
        /// Role to give it.
        "Role" => role: Option<BootConfigRole>,
    }
}

impl SetBootConfigRoleInput {
    /// Makes AMT's boot configuration the one used on the next boot.
    pub fn next_boot() -> Self {
        SetBootConfigRoleInput {
            boot_config_setting: Some(boot_config_setting_reference(BOOT_CONFIG_SETTING_ID)),
            role: Some(BootConfigRole::IsNext),
            extra: Vec::new(),
        }
    }
}

wsman_struct! {
    /// `SetBootConfigRole_OUTPUT`.
    output SetBootConfigRoleOutput = "CIM_BootService" . "SetBootConfigRole" {
        /// Job reference.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<BootReturn>,
    }
}

wsman_struct! {
    /// `RequestStateChange_INPUT` of `CIM_BootService` (OCR / RPE enablement).
    input BootServiceRequestStateChangeInput = "CIM_BootService" . "RequestStateChange" {
        /// State asked for.
        "RequestedState" => requested_state: Option<BootServiceRequestedState>,
        /// Optional timeout.
        "TimeoutPeriod" => timeout_period: Option<CimDateTime>,
    }
}

wsman_struct! {
    /// `RequestStateChange_OUTPUT` of `CIM_BootService`.
    output BootServiceRequestStateChangeOutput = "CIM_BootService" . "RequestStateChange" {
        /// Job reference.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<StateChangeReturn>,
    }
}

wsman_struct! {
    /// `CIM_BootConfigSetting`. Source: fixture `cim/boot/configsetting/get.xml`.
    class CimBootConfigSetting = "CIM_BootConfigSetting" {
        /// `Intel(r) AMT: Boot Configuration`.
        "ElementName" => element_name: Option<String>,
        /// [`BOOT_CONFIG_SETTING_ID`].
        "InstanceID" => instance_id: Option<String>,
    }
}

wsman_struct! {
    /// `ChangeBootOrder_INPUT`: the boot sources in order; none clears the order.
    input ChangeBootOrderInput = "CIM_BootConfigSetting" . "ChangeBootOrder" {
        /// References to `CIM_BootSourceSetting` instances (see [`boot_source_reference`]).
        "Source" => source: Vec<EndpointReference>,
    }
}

wsman_struct! {
    /// `ChangeBootOrder_OUTPUT`.
    output ChangeBootOrderOutput = "CIM_BootConfigSetting" . "ChangeBootOrder" {
        /// Job reference.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<BootReturn>,
    }
}

wsman_struct! {
    /// `CIM_BootSourceSetting`: one boot source. Source: fixture `cim/boot/sourcesetting/pull.xml`.
    class CimBootSourceSetting = "CIM_BootSourceSetting" {
        /// BIOS boot string.
        "BIOSBootString" => bios_boot_string: Option<String>,
        /// Boot string.
        "BootString" => boot_string: Option<String>,
        /// `Intel(r) AMT: Boot Source`.
        "ElementName" => element_name: Option<String>,
        /// Fail-through supported.
        "FailThroughSupported" => fail_through_supported: Option<FailThroughSupported>,
        /// [`BOOT_SOURCE_HARD_DRIVE`], [`BOOT_SOURCE_PXE`], [`BOOT_SOURCE_CD_DVD`], …
        "InstanceID" => instance_id: Option<String>,
        /// `CIM:Hard-Disk:1`, `CIM:Network:1`, `CIM:CD/DVD:1`, …
        "StructuredBootString" => structured_boot_string: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::Typed;
    use crate::value::Value;

    #[test]
    fn set_boot_config_role_names_the_amt_configuration() {
        let i = SetBootConfigRoleInput::next_boot().to_instance();
        let Some(Value::Epr(epr)) = i.get("BootConfigSetting") else {
            panic!("BootConfigSetting is not an EPR");
        };
        assert_eq!(
            epr.selectors.get("InstanceID"),
            Some(BOOT_CONFIG_SETTING_ID)
        );
        assert_eq!(i.get_text("Role"), Some("1"));
    }

    #[test]
    fn change_boot_order_takes_a_pxe_source() {
        let input = ChangeBootOrderInput {
            source: vec![boot_source_reference(BOOT_SOURCE_PXE)],
            ..Default::default()
        };
        let back = ChangeBootOrderInput::from_instance(&input.to_instance()).unwrap();
        assert_eq!(back, input);
    }
}
