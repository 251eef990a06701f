//! The ledger of every certificate the embedded CA issued, and the revocation rules of P7/M11.
//!
//! Pure state: the caller loads and saves it (the key store in `amtd-infra` keeps it in a file).
//! Every state change takes `now`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ca::{CaRole, IssuedCert};
use crate::crl::RevokedSerial;
use crate::error::{PkiError, Result};
use crate::profile::Purpose;
use crate::serial::Serial;

/// Why a certificate was revoked. Each maps to an RFC 5280 CRL reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// Maintenance installed a renewed certificate (M11); CRL reason `superseded`.
    ReplacedByMaintenance,
    /// The device was provisioned again and got a new certificate (P7); CRL reason
    /// `superseded`.
    Reprovisioned,
    /// The certificate was issued but provisioning then failed, so it was never put to use
    /// (P7); CRL reason `cessationOfOperation`.
    ProvisioningFailed,
    /// The private key is known or suspected to be compromised; CRL reason `keyCompromise`.
    KeyCompromise,
    /// The device left management (deactivated, retired); CRL reason `cessationOfOperation`.
    Decommissioned,
    /// Any other reason; CRL reason `unspecified`.
    Unspecified,
}

impl RevocationReason {
    /// RFC 5280 CRLReason code.
    pub fn crl_code(self) -> u32 {
        match self {
            RevocationReason::ReplacedByMaintenance | RevocationReason::Reprovisioned => 4,
            RevocationReason::ProvisioningFailed | RevocationReason::Decommissioned => 5,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::Unspecified => 0,
        }
    }

    /// Kebab-case name, as the CLI and ledger print it.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::ReplacedByMaintenance => "replaced-by-maintenance",
            RevocationReason::Reprovisioned => "reprovisioned",
            RevocationReason::ProvisioningFailed => "provisioning-failed",
            RevocationReason::KeyCompromise => "key-compromise",
            RevocationReason::Decommissioned => "decommissioned",
            RevocationReason::Unspecified => "unspecified",
        }
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RevocationReason {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self> {
        [
            RevocationReason::ReplacedByMaintenance,
            RevocationReason::Reprovisioned,
            RevocationReason::ProvisioningFailed,
            RevocationReason::KeyCompromise,
            RevocationReason::Decommissioned,
            RevocationReason::Unspecified,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| PkiError::InvalidInput {
            field: "revocation reason",
            value: s.to_string(),
            reason: "must be replaced-by-maintenance, reprovisioned, provisioning-failed, \
                     key-compromise, decommissioned or unspecified",
        })
    }
}

/// Where a certificate is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CertState {
    /// Signed, not (yet) confirmed on the device.
    Issued,
    /// Confirmed installed on the device.
    Installed {
        /// When, seconds since the Unix epoch.
        at: u64,
    },
    /// A newer certificate took over; not (yet) revoked.
    Superseded {
        /// When, seconds since the Unix epoch.
        at: u64,
        /// Serial of the successor.
        by: Serial,
    },
    /// Revoked: listed on its CA's CRL.
    Revoked {
        /// When, seconds since the Unix epoch.
        at: u64,
        /// Why.
        reason: RevocationReason,
    },
}

impl CertState {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            CertState::Issued => "issued",
            CertState::Installed { .. } => "installed",
            CertState::Superseded { .. } => "superseded",
            CertState::Revoked { .. } => "revoked",
        }
    }
}

/// One issued certificate. (No `deny_unknown_fields` here: serde does not support it together
/// with the flattened state.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Serial number.
    pub serial: Serial,
    /// Subject as openssl prints it.
    pub subject: String,
    /// Purpose.
    pub purpose: Purpose,
    /// Signing CA.
    pub issuer: CaRole,
    /// Device UUID for device certificates.
    pub device: Option<String>,
    /// Issue time, seconds since the Unix epoch.
    pub issued_at: u64,
    /// Start of validity, seconds since the Unix epoch (`None` in entries recorded before the
    /// ledger kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: u64,
    /// The DNS names of the subject alternative name extension (empty in entries recorded
    /// before the ledger kept them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
    /// Current state.
    #[serde(flatten)]
    pub state: CertState,
    /// Successor certificate, once one exists (kept when the entry is later revoked).
    pub superseded_by: Option<Serial>,
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The time `secs` after the Unix epoch.
pub fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Every certificate issued, in issue order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// Entries in issue order.
    pub entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// Record a freshly issued certificate (state `issued`).
    pub fn record(&mut self, issued: &IssuedCert, now: SystemTime) -> &LedgerEntry {
        let idx = self.entries.len();
        self.entries.push(LedgerEntry {
            serial: issued.cert.serial(),
            subject: issued.cert.subject(),
            purpose: issued.purpose,
            issuer: issued.issuer,
            device: issued.device.clone(),
            issued_at: unix(now),
            not_before: Some(unix(issued.cert.not_before())),
            not_after: unix(issued.cert.not_after()),
            sans: issued.cert.dns_names(),
            state: CertState::Issued,
            superseded_by: None,
        });
        &self.entries[idx]
    }

    /// The entry for a serial.
    pub fn get(&self, serial: &Serial) -> Option<&LedgerEntry> {
        self.entries.iter().find(|e| &e.serial == serial)
    }

    fn get_mut(&mut self, serial: &Serial) -> Result<&mut LedgerEntry> {
        self.entries
            .iter_mut()
            .find(|e| &e.serial == serial)
            .ok_or_else(|| PkiError::UnknownSerial {
                serial: serial.to_hex(),
            })
    }

    /// Every entry for one device, in issue order.
    pub fn for_device<'a>(&'a self, uuid: &'a str) -> impl Iterator<Item = &'a LedgerEntry> + 'a {
        self.entries.iter().filter(move |e| {
            e.device
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(uuid))
        })
    }

    /// The device confirmed the certificate is installed.
    pub fn mark_installed(&mut self, serial: &Serial, now: SystemTime) -> Result<()> {
        let e = self.get_mut(serial)?;
        match e.state {
            CertState::Issued | CertState::Installed { .. } => {
                e.state = CertState::Installed { at: unix(now) };
                Ok(())
            }
            _ => Err(PkiError::InvalidTransition {
                serial: serial.to_hex(),
                state: e.state.name(),
                action: "mark it installed",
            }),
        }
    }

    /// Revoke one certificate. Revoking an already revoked certificate is an error (the first
    /// reason stands).
    pub fn revoke(
        &mut self,
        serial: &Serial,
        reason: RevocationReason,
        now: SystemTime,
    ) -> Result<()> {
        let e = self.get_mut(serial)?;
        if let CertState::Revoked { .. } = e.state {
            return Err(PkiError::InvalidTransition {
                serial: serial.to_hex(),
                state: e.state.name(),
                action: "revoke it again",
            });
        }
        e.state = CertState::Revoked {
            at: unix(now),
            reason,
        };
        Ok(())
    }

    /// Maintenance (M11): `new` is installed and takes over from `old`; `old` is marked
    /// superseded and revoked with reason [`RevocationReason::ReplacedByMaintenance`].
    pub fn replace_by_maintenance(
        &mut self,
        old: &Serial,
        new: &Serial,
        now: SystemTime,
    ) -> Result<()> {
        if self.get(new).is_none() {
            return Err(PkiError::UnknownSerial {
                serial: new.to_hex(),
            });
        }
        let e = self.get_mut(old)?;
        e.superseded_by = Some(new.clone());
        if !matches!(e.state, CertState::Revoked { .. }) {
            e.state = CertState::Superseded {
                at: unix(now),
                by: new.clone(),
            };
        }
        self.mark_installed(new, now)?;
        self.revoke(old, RevocationReason::ReplacedByMaintenance, now)
            .or_else(|err| match err {
                PkiError::InvalidTransition { .. } => Ok(()),
                other => Err(other),
            })
    }

    /// Re-provisioning (P7): revoke every live device certificate of `uuid` except `keep`
    /// (the new one, if already issued). Returns the serials revoked.
    pub fn revoke_for_reprovision(
        &mut self,
        uuid: &str,
        keep: Option<&Serial>,
        now: SystemTime,
    ) -> Vec<Serial> {
        let mut revoked = Vec::new();
        for e in self.entries.iter_mut() {
            let mine = e
                .device
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(uuid));
            if !mine || e.purpose != Purpose::DeviceTls || Some(&e.serial) == keep {
                continue;
            }
            if matches!(e.state, CertState::Revoked { .. }) {
                continue;
            }
            if let Some(k) = keep {
                e.superseded_by = Some(k.clone());
            }
            e.state = CertState::Revoked {
                at: unix(now),
                reason: RevocationReason::Reprovisioned,
            };
            revoked.push(e.serial.clone());
        }
        revoked
    }

    /// Provisioning failed after `serial` was issued (P7): revoke it with reason
    /// [`RevocationReason::ProvisioningFailed`]. Installed certificates are refused: a failed
    /// run must not revoke a certificate the device actually uses.
    pub fn revoke_failed_provisioning(&mut self, serial: &Serial, now: SystemTime) -> Result<()> {
        let e = self.get_mut(serial)?;
        if !matches!(e.state, CertState::Issued) {
            return Err(PkiError::InvalidTransition {
                serial: serial.to_hex(),
                state: e.state.name(),
                action: "revoke it as issued-but-provisioning-failed",
            });
        }
        self.revoke(serial, RevocationReason::ProvisioningFailed, now)
    }

    /// Revoked certificates signed by `ca`, for its CRL, in revocation order.
    pub fn revoked_by(&self, ca: CaRole) -> Vec<RevokedSerial> {
        let mut v: Vec<RevokedSerial> = self
            .entries
            .iter()
            .filter(|e| e.issuer == ca)
            .filter_map(|e| match e.state {
                CertState::Revoked { at, reason } => Some(RevokedSerial {
                    serial: e.serial.clone(),
                    revoked_at: from_unix(at),
                    reason: Some(reason),
                }),
                _ => None,
            })
            .collect();
        v.sort_by_key(|r| r.revoked_at);
        v
    }

    /// Certificates that should be renewed: installed device certificates that expire within
    /// `window` of `now` (M11 uses 30 days) and have no successor yet.
    pub fn due_for_renewal(&self, now: SystemTime, window: Duration) -> Vec<&LedgerEntry> {
        let limit = unix(now + window);
        self.entries
            .iter()
            .filter(|e| e.purpose == Purpose::DeviceTls)
            .filter(|e| matches!(e.state, CertState::Installed { .. }))
            .filter(|e| e.superseded_by.is_none() && e.not_after <= limit)
            .collect()
    }
}
