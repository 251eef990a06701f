//! `IPS_OptInService`: user consent for redirection and remote control in Client Control Mode.
//! The console starts opt-in, the user reads a 6-digit code off the host screen, the console
//! sends it back.
//!
//! Sources: recorded fixtures `ips/optin/*.xml`; Intel's generated class
//! `IPS_OptInService.cpp` (intel/lms `CIM_Framework`: `SendOptInCode(OptInCode uint32)`);
//! go-wsman-messages `pkg/wsman/ips/optin/decoder.go` (value maps).

use crate::classes::cim::{EnabledState, RequestedState};

wire_enum! {
    /// `OptInRequired`: which operations need user consent.
    pub enum OptInRequired: u32 {
        /// 0: None.
        None = 0,
        /// 1: KVM only.
        Kvm = 1,
        /// 4294967295: All redirection and remote control.
        All = 4294967295,
    }
}

wire_enum! {
    /// `OptInState`.
    pub enum OptInState: u8 {
        /// 0: Not started.
        NotStarted = 0,
        /// 1: Requested (code generated).
        Requested = 1,
        /// 2: Displayed on the host screen.
        Displayed = 2,
        /// 3: Received (consent given).
        Received = 3,
        /// 4: In session.
        InSession = 4,
    }
}

wire_enum! {
    /// Return values of `StartOptIn`, `CancelOptIn` and `SendOptInCode`.
    pub enum OptInReturn: u32 {
        /// 0: Success.
        Success = 0,
        /// 1: Internal error.
        InternalError = 1,
        /// 2: Invalid state (or wrong code, for `SendOptInCode`).
        InvalidState = 2,
        /// 3: Blocked.
        Blocked = 3,
        /// 4: Failed (FFS).
        FailedFfs = 4,
    }
}

wsman_struct! {
    /// `IPS_OptInService`. Source: fixture `ips/optin/get.xml`.
    class IpsOptInService = "IPS_OptInService" {
        /// 1: the opt-in policy may be changed (ACM).
        "CanModifyOptInPolicy" => can_modify_opt_in_policy: Option<u8>,
        /// `IPS_OptInService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT OptIn Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// `Intel(r) AMT OptIn Service`.
        "Name" => name: Option<String>,
        /// Seconds the code stays valid.
        "OptInCodeTimeout" => opt_in_code_timeout: Option<u32>,
        /// Seconds the code stays on screen.
        "OptInDisplayTimeout" => opt_in_display_timeout: Option<u16>,
        /// Consent policy.
        "OptInRequired" => opt_in_required: Option<OptInRequired>,
        /// Consent state.
        "OptInState" => opt_in_state: Option<OptInState>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `StartOptIn_INPUT` (no arguments): show a code on the host screen.
    input StartOptInInput = "IPS_OptInService" . "StartOptIn" {}
}

wsman_struct! {
    /// `StartOptIn_OUTPUT`.
    output StartOptInOutput = "IPS_OptInService" . "StartOptIn" {
        /// Return value.
        "ReturnValue" => return_value: Option<OptInReturn>,
    }
}

wsman_struct! {
    /// `CancelOptIn_INPUT` (no arguments).
    input CancelOptInInput = "IPS_OptInService" . "CancelOptIn" {}
}

wsman_struct! {
    /// `CancelOptIn_OUTPUT`.
    output CancelOptInOutput = "IPS_OptInService" . "CancelOptIn" {
        /// Return value.
        "ReturnValue" => return_value: Option<OptInReturn>,
    }
}

wsman_struct! {
    /// `SendOptInCode_INPUT`.
    input SendOptInCodeInput = "IPS_OptInService" . "SendOptInCode" {
        /// The code the user read off the screen.
        "OptInCode" => opt_in_code: Option<u32>,
    }
}

wsman_struct! {
    /// `SendOptInCode_OUTPUT`.
    output SendOptInCodeOutput = "IPS_OptInService" . "SendOptInCode" {
        /// Return value.
        "ReturnValue" => return_value: Option<OptInReturn>,
    }
}
