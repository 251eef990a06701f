//! What to do when a device says hello again (P6): a device already provisioned whose
//! credentials the server cannot confirm is an alert for an operator, never an automatic
//! reset.

use crate::domain::DeviceId;

/// What the server knows about the device saying hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownDevice {
    /// Never seen.
    Unknown,
    /// A run is in progress (possibly on another instance).
    InProgress,
    /// Provisioned by this server; the stored admin password is known.
    Provisioned,
    /// A previous run failed.
    Failed {
        /// Whether that failure was retryable.
        retryable: bool,
    },
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReHelloDecision {
    /// Start a provisioning run.
    Provision,
    /// Ignore: a run for it is already going.
    Ignore {
        /// Why, in words.
        reason: String,
    },
    /// Start a run that re-provisions: the device went back to setup mode (it sends hellos
    /// only in setup mode), so its old certificate is revoked as `Reprovisioned` (P7).
    Reprovision,
    /// Raise an alert for an operator; change nothing on the device.
    Alert {
        /// Why, in words.
        reason: String,
    },
}

/// Decides on a hello. `admin_credentials_set` is the hello's flag: a device in setup mode
/// that says its admin credentials are set was configured by someone (MEBx, another server)
/// with credentials this server does not hold.
pub fn decide_rehello(
    device: DeviceId,
    known: KnownDevice,
    admin_credentials_set: bool,
) -> ReHelloDecision {
    match (known, admin_credentials_set) {
        (KnownDevice::InProgress, _) => ReHelloDecision::Ignore {
            reason: format!("a provisioning run for {device} is in progress"),
        },
        (KnownDevice::Provisioned, false) => ReHelloDecision::Reprovision,
        (KnownDevice::Provisioned, true) => ReHelloDecision::Alert {
            reason: format!(
                "{device} was provisioned by this server but says hello again with admin \
                 credentials set that this server may not hold; an operator must check it"
            ),
        },
        (KnownDevice::Unknown, true) => ReHelloDecision::Alert {
            reason: format!(
                "{device} has admin credentials set by someone else; it will not be reset \
                 automatically"
            ),
        },
        (KnownDevice::Failed { retryable: false }, _) => ReHelloDecision::Alert {
            reason: format!(
                "the last run for {device} failed for a reason a retry cannot fix; an \
                 operator must clear it"
            ),
        },
        (KnownDevice::Unknown, false) | (KnownDevice::Failed { retryable: true }, false) => {
            ReHelloDecision::Provision
        }
        (KnownDevice::Failed { retryable: true }, true) => ReHelloDecision::Alert {
            reason: format!(
                "{device} now reports admin credentials set after a failed run; an operator \
                 must check it"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> DeviceId {
        "4c4c4544-0033-3110-8052-b3c04f4b4d32"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn provisioned_device_with_unknown_credentials_is_an_alert_not_a_reset() {
        let d = decide_rehello(id(), KnownDevice::Provisioned, true);
        assert!(matches!(d, ReHelloDecision::Alert { .. }));
        let d = decide_rehello(id(), KnownDevice::Unknown, true);
        assert!(matches!(d, ReHelloDecision::Alert { .. }));
    }

    #[test]
    fn fresh_and_retryable_devices_are_provisioned() {
        assert_eq!(
            decide_rehello(id(), KnownDevice::Unknown, false),
            ReHelloDecision::Provision
        );
        assert_eq!(
            decide_rehello(id(), KnownDevice::Failed { retryable: true }, false),
            ReHelloDecision::Provision
        );
        assert_eq!(
            decide_rehello(id(), KnownDevice::Provisioned, false),
            ReHelloDecision::Reprovision
        );
        assert!(matches!(
            decide_rehello(id(), KnownDevice::InProgress, false),
            ReHelloDecision::Ignore { .. }
        ));
    }
}
