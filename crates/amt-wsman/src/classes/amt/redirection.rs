//! `AMT_RedirectionService`: enables the SOL / IDE-R listener on 16994/16995.
//!
//! Sources: recorded fixtures `amt/redirectionservice/*.xml` (`EnabledState` 32771); Intel's
//! generated class `AMT_RedirectionService.cpp` (intel/lms `CIM_Framework`);
//! go-wsman-messages `pkg/wsman/amt/redirection` and npm `wsman-messages` `types.d.ts` (the
//! vendor states 32768–32771).

use crate::classes::cim::StateChangeReturn;
use crate::classes::CimDateTime;
use crate::value::EndpointReference;

wire_enum! {
    /// `AMT_RedirectionService.EnabledState`: the DMTF states plus Intel's SOL/IDE-R states.
    pub enum RedirectionEnabledState: u16 {
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
        /// 32768: IDE-R and SOL disabled.
        IderAndSolDisabled = 32768,
        /// 32769: IDE-R enabled, SOL disabled.
        IderEnabledSolDisabled = 32769,
        /// 32770: SOL enabled, IDE-R disabled.
        SolEnabledIderDisabled = 32770,
        /// 32771: IDE-R and SOL enabled.
        IderAndSolEnabled = 32771,
    }
}

wire_enum! {
    /// `RequestStateChange(RequestedState)` of `AMT_RedirectionService`.
    pub enum RedirectionRequestedState: u16 {
        /// 32768: Disable IDE-R and SOL.
        DisableIderAndSol = 32768,
        /// 32769: Enable IDE-R, disable SOL.
        EnableIderDisableSol = 32769,
        /// 32770: Enable SOL, disable IDE-R.
        EnableSolDisableIder = 32770,
        /// 32771: Enable IDE-R and SOL.
        EnableIderAndSol = 32771,
    }
}

impl RedirectionEnabledState {
    /// Whether SOL is enabled, for the vendor states; `None` for the DMTF ones.
    pub fn sol_enabled(self) -> Option<bool> {
        match self {
            Self::SolEnabledIderDisabled | Self::IderAndSolEnabled => Some(true),
            Self::IderAndSolDisabled | Self::IderEnabledSolDisabled => Some(false),
            _ => None,
        }
    }

    /// Whether IDE-R is enabled, for the vendor states; `None` for the DMTF ones.
    pub fn ider_enabled(self) -> Option<bool> {
        match self {
            Self::IderEnabledSolDisabled | Self::IderAndSolEnabled => Some(true),
            Self::IderAndSolDisabled | Self::SolEnabledIderDisabled => Some(false),
            _ => None,
        }
    }
}

wsman_struct! {
    /// `AMT_RedirectionService`. Source: fixture `amt/redirectionservice/get.xml`.
    class AmtRedirectionService = "AMT_RedirectionService" {
        /// Recent session log entries.
        "AccessLog" => access_log: Vec<String>,
        /// `AMT_RedirectionService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Redirection Service`.
        "ElementName" => element_name: Option<String>,
        /// SOL / IDE-R state.
        "EnabledState" => enabled_state: Option<RedirectionEnabledState>,
        /// The redirection port listens (set with Put).
        "ListenerEnabled" => listener_enabled: Option<bool>,
        /// `Intel(r) AMT Redirection Service`.
        "Name" => name: Option<String>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `RequestStateChange_INPUT` of `AMT_RedirectionService`.
    input RedirectionRequestStateChangeInput = "AMT_RedirectionService" . "RequestStateChange" {
        /// The SOL / IDE-R state asked for.
        "RequestedState" => requested_state: Option<RedirectionRequestedState>,
        /// Optional timeout.
        "TimeoutPeriod" => timeout_period: Option<CimDateTime>,
    }
}

wsman_struct! {
    /// `RequestStateChange_OUTPUT` of `AMT_RedirectionService`.
    output RedirectionRequestStateChangeOutput = "AMT_RedirectionService" . "RequestStateChange" {
        /// Job reference, when a job was started.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<StateChangeReturn>,
    }
}
