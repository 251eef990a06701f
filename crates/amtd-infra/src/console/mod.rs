//! The management console's device operations (M1, M2, M6, M7) and the fleet executor (M12).
//!
//! - [`session`]: how to reach one device — address, TLS verified against the embedded CA's root
//!   (the FQDN as name) or a pinned certificate, or plain 16992 for lab devices; digest user and
//!   password — and [`DeviceSession::connect`] for a [`WsmanClient`](crate::client::WsmanClient).
//! - [`power`]: power state and the states the device offers; power changes, refused before
//!   anything is sent when the device does not list the state as available.
//! - [`boot`]: the next boot (PXE, BIOS setup, IDE-R CD or floppy) in AMT's sequence: Put
//!   `AMT_BootSettingData`, `ChangeBootOrder`, `SetBootConfigRole`.
//! - [`inventory`]: hardware and firmware inventory read down the wire into a typed
//!   [`Inventory`], and a deterministic [`InventoryDiff`] between two reads.
//! - [`logs`]: the event log (`PositionToFirstRecord` + `GetRecords`) and the audit log
//!   (`ReadRecords`), decoded with `amt_wire::logs` into readable entries.
//! - [`fleet`]: runs one operation over many devices with bounded concurrency, one operation
//!   (so one request) at a time per device, a per-device timeout and a result per device.
//!
//! Every operation is a plain `async fn` over one client: the workflows here are short,
//! idempotent reads or single writes whose outcome the device reports at once, so no state
//! machine is needed; the protocol knowledge (classes, record layouts) lives in `amt-wsman` and
//! `amt-wire`.

pub mod boot;
pub mod fleet;
pub mod inventory;
pub mod logs;
pub mod power;
pub mod session;

pub use boot::{set_next_boot, BootArmed, BootSettings, NextBoot};
pub use fleet::{
    run_fleet, run_fleet_items, DeviceGate, DeviceOutcome, FleetOptions, FleetProgress,
};
pub use inventory::{read_inventory, Inventory, InventoryDiff};
pub use logs::{read_audit_log, read_event_log, AuditEntry, EventEntry};
pub use power::{change_power, power_status, PowerAction, PowerChange, PowerStatus};
pub use session::DeviceSession;

use amt_wsman::classes::cim::PowerState;

use crate::client::WsmanError;
use crate::transport::{Blame, TransportError};

/// Why a console operation on one device failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The WS-Management exchange failed: transport, authentication, a SOAP fault or an
    /// unreadable answer (see [`WsmanError`] for who failed).
    #[error(transparent)]
    Wsman(#[from] WsmanError),
    /// Refused before sending: the device does not list the power state as available now.
    #[error(
        "{} is not available on this device now (it is {}; it offers {})",
        power::state_name(*requested),
        current.map_or("in an unknown state", power::state_name),
        power::list_states(available)
    )]
    PowerStateUnavailable {
        /// The state asked for.
        requested: PowerState,
        /// The device's power state.
        current: Option<PowerState>,
        /// What it offers (`AvailableRequestedPowerStates`).
        available: Vec<PowerState>,
    },
    /// Refused before sending: the platform's boot capabilities lack what was asked.
    #[error("the device cannot {what} (AMT_BootCapabilities {capability} is false)")]
    BootUnsupported {
        /// What was asked, in words.
        what: &'static str,
        /// The capability property.
        capability: &'static str,
    },
    /// A method answered with a non-zero return value.
    #[error("{method} failed on the device: return value {code} ({meaning})")]
    DeviceReturned {
        /// The method.
        method: &'static str,
        /// Its `ReturnValue`.
        code: u32,
        /// The value's name.
        meaning: String,
    },
    /// An answer lacks a property the operation needs.
    #[error("the device's {what} answer has no {field}")]
    MissingField {
        /// The class or method.
        what: &'static str,
        /// The property.
        field: &'static str,
    },
    /// A log record the decoders refuse.
    #[error("the device's {log} holds an unreadable record")]
    Record {
        /// `event log` or `audit log`.
        log: &'static str,
        /// What the decoder said.
        #[source]
        source: amt_wire::Error,
    },
    /// A log that does not end within the bounds we read.
    #[error("the device's {log} did not end after {pages} pages")]
    EndlessLog {
        /// `event log` or `audit log`.
        log: &'static str,
        /// Pages read.
        pages: usize,
    },
    /// No session could be made for the device (nothing was sent): the store lacks its
    /// address or password, it is not provisioned, … The reason in words.
    #[error("{reason}")]
    Setup {
        /// Why.
        reason: String,
    },
    /// Our side failed while handling the device's answer (storing it, for example).
    #[error("{what} failed on the server: {detail}")]
    Local {
        /// What we were doing.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// The device did not finish the operation within the per-device time.
    #[error("no answer within {} s", after.as_secs_f64())]
    Timeout {
        /// The limit.
        after: std::time::Duration,
    },
}

impl From<TransportError> for ConsoleError {
    fn from(e: TransportError) -> Self {
        ConsoleError::Wsman(WsmanError::Transport(e))
    }
}

impl ConsoleError {
    /// Who most likely failed: the caller (a refused request), the device, or the network.
    pub fn blame(&self) -> Blame {
        match self {
            ConsoleError::Wsman(WsmanError::Transport(t)) => t.blame(),
            ConsoleError::Wsman(_)
            | ConsoleError::DeviceReturned { .. }
            | ConsoleError::MissingField { .. }
            | ConsoleError::Record { .. }
            | ConsoleError::EndlessLog { .. } => Blame::Device,
            ConsoleError::PowerStateUnavailable { .. }
            | ConsoleError::BootUnsupported { .. }
            | ConsoleError::Setup { .. }
            | ConsoleError::Local { .. } => Blame::Caller,
            ConsoleError::Timeout { .. } => Blame::Network,
        }
    }

    /// The device refused the digest credentials.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            ConsoleError::Wsman(WsmanError::Transport(TransportError::AuthFailed { .. }))
        )
    }

    /// Whether trying again later can help (the device was unreachable or slow).
    pub fn is_retryable(&self) -> bool {
        match self {
            ConsoleError::Wsman(WsmanError::Transport(t)) => {
                t.is_retryable() || t.request_may_have_been_processed()
            }
            ConsoleError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// The error and its causes in one line (`TLS handshake with … failed: invalid peer
    /// certificate: …`), as shown per device.
    pub fn in_words(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        out
    }
}
