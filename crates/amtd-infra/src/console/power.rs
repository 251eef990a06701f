//! Power (M1): the host's power state and the changes the device offers.
//!
//! The state and the offer come from `CIM_AssociatedPowerManagementService` (`PowerState`,
//! `AvailableRequestedPowerStates`); a change is `CIM_PowerManagementService.
//! RequestPowerStateChange(PowerState, ManagedElement = the managed system)` (AMT-PROTOCOLS.md
//! §3.4 (c), (d)). A state the device does not list is refused here, before anything is sent:
//! AMT answers such requests with 2 ("not ready") and does nothing. Asking for the state the
//! host is already in (on while on, off while off) is not sent either and reported as such.
//! After a change the state is read back, so the result says what the device now reports.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use amt_wsman::classes::cim::{
    managed_system, CimAssociatedPowerManagementService, PowerActionReturn, PowerState,
    RequestPowerStateChangeInput, RequestPowerStateChangeOutput,
};
use amt_wsman::SelectorSet;
use serde::{Deserialize, Serialize};

use super::ConsoleError;
use crate::client::WsmanClient;

/// What the console asks a device's power to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerAction {
    /// Power up (state 2).
    On,
    /// Hard power off (8).
    Off,
    /// Power cycle: off, then on (5).
    Cycle,
    /// Hard reset (master bus reset, 10).
    Reset,
    /// Orderly shutdown through the OS (12); needs an in-OS agent on real hosts.
    GracefulOff,
    /// Orderly restart through the OS (14).
    GracefulReset,
    /// Sleep (deep, 4).
    Sleep,
    /// Hibernate (7).
    Hibernate,
    /// Diagnostic interrupt (NMI, 11).
    Nmi,
}

impl PowerAction {
    /// Every action, in the order the CLI lists them.
    pub const ALL: [PowerAction; 9] = [
        PowerAction::On,
        PowerAction::Off,
        PowerAction::Cycle,
        PowerAction::Reset,
        PowerAction::GracefulOff,
        PowerAction::GracefulReset,
        PowerAction::Sleep,
        PowerAction::Hibernate,
        PowerAction::Nmi,
    ];

    /// The CIM power state requested.
    pub fn state(self) -> PowerState {
        match self {
            PowerAction::On => PowerState::On,
            PowerAction::Off => PowerState::OffHard,
            PowerAction::Cycle => PowerState::PowerCycleOffHard,
            PowerAction::Reset => PowerState::MasterBusReset,
            PowerAction::GracefulOff => PowerState::OffSoftGraceful,
            PowerAction::GracefulReset => PowerState::MasterBusResetGraceful,
            PowerAction::Sleep => PowerState::SleepDeep,
            PowerAction::Hibernate => PowerState::Hibernate,
            PowerAction::Nmi => PowerState::DiagnosticInterrupt,
        }
    }

    /// The name used by the API and CLI (`graceful-off`).
    pub fn name(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
            PowerAction::Reset => "reset",
            PowerAction::GracefulOff => "graceful-off",
            PowerAction::GracefulReset => "graceful-reset",
            PowerAction::Sleep => "sleep",
            PowerAction::Hibernate => "hibernate",
            PowerAction::Nmi => "nmi",
        }
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PowerAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PowerAction::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown power action {s:?} (one of {})",
                    PowerAction::ALL.map(PowerAction::name).join(", ")
                )
            })
    }
}

/// A power state in words.
pub fn state_name(s: PowerState) -> &'static str {
    match s {
        PowerState::Other => "other",
        PowerState::On => "on",
        PowerState::SleepLight => "sleep (light)",
        PowerState::SleepDeep => "sleep (deep)",
        PowerState::PowerCycleOffHard => "power cycle (hard)",
        PowerState::PowerCycleOffSoft => "power cycle (soft)",
        PowerState::Hibernate => "hibernate",
        PowerState::OffHard => "off",
        PowerState::OffSoft => "off (soft)",
        PowerState::MasterBusReset => "reset",
        PowerState::DiagnosticInterrupt => "diagnostic interrupt (NMI)",
        PowerState::OffSoftGraceful => "graceful off",
        PowerState::OffHardGraceful => "graceful hard off",
        PowerState::MasterBusResetGraceful => "graceful reset",
        PowerState::PowerCycleOffSoftGraceful => "graceful power cycle (soft)",
        PowerState::PowerCycleOffHardGraceful => "graceful power cycle (hard)",
    }
}

/// `name (n), name (n)`.
pub fn list_states(states: &[PowerState]) -> String {
    if states.is_empty() {
        return "nothing".into();
    }
    states
        .iter()
        .map(|s| format!("{} ({})", state_name(*s), s.value()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A device's power state and what it offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerStatus {
    /// `PowerState` (absent on some firmware while the host is in transition).
    pub state: Option<PowerState>,
    /// `AvailableRequestedPowerStates`.
    pub available: Vec<PowerState>,
}

impl PowerStatus {
    /// The actions the device offers now (and `on`/`off` when already in that state, which
    /// are no-ops).
    pub fn actions(&self) -> Vec<PowerAction> {
        PowerAction::ALL
            .into_iter()
            .filter(|a| self.available.contains(&a.state()))
            .collect()
    }
}

/// What a power change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerChange {
    /// The action asked for.
    pub action: PowerAction,
    /// The state before.
    pub before: Option<PowerState>,
    /// The state the device reports after.
    pub after: Option<PowerState>,
    /// False when nothing was sent because the host already was in that state.
    pub sent: bool,
}

/// Reads the power state and the states the device offers.
///
/// # Errors
/// The exchange failed or the device answered something else.
pub async fn power_status(client: &WsmanClient) -> Result<PowerStatus, ConsoleError> {
    let a: CimAssociatedPowerManagementService = client.get(SelectorSet::new()).await?;
    Ok(PowerStatus {
        state: a.power_state,
        available: a.available_requested_power_states,
    })
}

/// Changes the power state, if the device offers the state; reads the state back.
///
/// # Errors
/// [`ConsoleError::PowerStateUnavailable`] (nothing sent) when the device does not offer the
/// state; [`ConsoleError::DeviceReturned`] when the device refused it; exchange failures.
pub async fn change_power(
    client: &WsmanClient,
    action: PowerAction,
    timeout: Duration,
) -> Result<PowerChange, ConsoleError> {
    let status = power_status(client).await?;
    let requested = action.state();
    let already = match action {
        PowerAction::On => status.state == Some(PowerState::On),
        PowerAction::Off => matches!(
            status.state,
            Some(PowerState::OffHard | PowerState::OffSoft)
        ),
        _ => false,
    };
    if already {
        return Ok(PowerChange {
            action,
            before: status.state,
            after: status.state,
            sent: false,
        });
    }
    if !status.available.contains(&requested) {
        return Err(ConsoleError::PowerStateUnavailable {
            requested,
            current: status.state,
            available: status.available,
        });
    }
    let input = RequestPowerStateChangeInput {
        power_state: Some(requested),
        managed_element: Some(managed_system()),
        time: None,
        timeout_period: None,
        extra: Vec::new(),
    };
    let out: RequestPowerStateChangeOutput =
        client.invoke(&input, SelectorSet::new(), timeout).await?;
    match out.return_value {
        Some(PowerActionReturn::Completed) => {}
        Some(other) => {
            return Err(ConsoleError::DeviceReturned {
                method: "RequestPowerStateChange",
                code: other.value(),
                meaning: return_meaning(other).to_owned(),
            })
        }
        None => {
            return Err(ConsoleError::MissingField {
                what: "RequestPowerStateChange",
                field: "ReturnValue",
            })
        }
    }
    let after = power_status(client).await?.state;
    Ok(PowerChange {
        action,
        before: status.state,
        after,
        sent: true,
    })
}

fn return_meaning(r: PowerActionReturn) -> &'static str {
    match r {
        PowerActionReturn::Completed => "completed",
        PowerActionReturn::NotSupported => "not supported",
        // AMT's "PT_STATUS_NOT_READY": the host cannot take the state now.
        PowerActionReturn::Unknown => "not ready: the host cannot take this state now",
        PowerActionReturn::Timeout => "timeout",
        PowerActionReturn::Failed => "failed",
        PowerActionReturn::InvalidParameter => "invalid parameter",
        PowerActionReturn::InUse => "in use",
        PowerActionReturn::JobStarted => "job started",
        PowerActionReturn::InvalidStateTransition => "invalid state transition",
        PowerActionReturn::TimeoutParameterNotSupported => "timeout parameter not supported",
        PowerActionReturn::Busy => "busy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_by_name_and_map_to_cim_states() {
        for a in PowerAction::ALL {
            assert_eq!(a.name().parse::<PowerAction>(), Ok(a));
        }
        assert_eq!(PowerAction::Off.state().value(), 8);
        assert_eq!(PowerAction::Cycle.state().value(), 5);
        assert_eq!(PowerAction::Reset.state().value(), 10);
        assert_eq!(PowerAction::GracefulOff.state().value(), 12);
        assert_eq!(PowerAction::GracefulReset.state().value(), 14);
        assert!("warp".parse::<PowerAction>().is_err());
    }

    #[test]
    fn offered_actions_follow_the_device_list() {
        // The recorded list of an AMT 16 device that is on.
        let s = PowerStatus {
            state: Some(PowerState::On),
            available: [10u16, 8, 5, 11, 4, 7, 14, 12]
                .iter()
                .map(|v| PowerState::try_from(*v).unwrap())
                .collect(),
        };
        let a = s.actions();
        assert!(a.contains(&PowerAction::Off) && a.contains(&PowerAction::GracefulOff));
        assert!(!a.contains(&PowerAction::On));
        assert_eq!(list_states(&s.available[..2]), "reset (10), off (8)");
    }
}
