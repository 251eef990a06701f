//! The records the store keeps, as plain structs. They carry no behaviour: the provisioning
//! workflow (amtd-core) maps its typed phases and profiles onto them.

use std::fmt;
use std::time::SystemTime;

/// A device as the server knows it (one row of `devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The AMT UUID, in its canonical text form.
    pub uuid: String,
    /// The FQDN found for it (P2), once known.
    pub fqdn: Option<String>,
    /// The address its last hello came from.
    pub address: Option<String>,
    /// Where it is in its life (`discovered`, `provisioning`, `provisioned`, `failed`, …).
    pub state: String,
    /// The name of the profile it is (to be) provisioned with.
    pub profile: Option<String>,
    /// Its firmware version, once read.
    pub firmware_version: Option<String>,
    /// When the store first saw it.
    pub created_at: SystemTime,
    /// When the row last changed.
    pub updated_at: SystemTime,
}

/// What [`Store::upsert_device`](super::Store::upsert_device) writes. A `None` field keeps the
/// value already stored (or, for a new device, stores nothing; a new device without a state
/// gets [`DeviceUpsert::DEFAULT_STATE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceUpsert {
    /// The AMT UUID (the key).
    pub uuid: String,
    /// New FQDN, or keep.
    pub fqdn: Option<String>,
    /// New address, or keep.
    pub address: Option<String>,
    /// New state, or keep.
    pub state: Option<String>,
    /// New profile name, or keep.
    pub profile: Option<String>,
    /// New firmware version, or keep.
    pub firmware_version: Option<String>,
}

impl DeviceUpsert {
    /// The state a device gets when it is first stored without one.
    pub const DEFAULT_STATE: &'static str = "discovered";

    /// An upsert that only makes sure the device exists (and bumps `updated_at`).
    #[must_use]
    pub fn new(uuid: impl Into<String>) -> Self {
        DeviceUpsert {
            uuid: uuid.into(),
            ..DeviceUpsert::default()
        }
    }
}

/// Which devices [`Store::list_devices`](super::Store::list_devices) returns: ordered by UUID,
/// one page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Only devices in this state.
    pub state: Option<String>,
    /// Only devices whose UUID sorts after this one (the last UUID of the previous page).
    pub after: Option<String>,
    /// At most this many (capped at [`DeviceFilter::MAX_LIMIT`]).
    pub limit: u32,
}

impl DeviceFilter {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 10_000;
}

impl Default for DeviceFilter {
    fn default() -> Self {
        DeviceFilter {
            state: None,
            after: None,
            limit: 1_000,
        }
    }
}

/// A hello to record (P1: every hello with its source and time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHello {
    /// The UUID the hello carried.
    pub device_uuid: String,
    /// The source address and port, as text.
    pub source: String,
    /// When it arrived.
    pub received_at: SystemTime,
    /// The retry counter the device sent.
    pub retry_count: u32,
    /// A summary of the trusted-root hash list (for example the first hex digits of each hash).
    pub hashes: String,
    /// What the server did with it, if already decided (`accepted`, `rate-limited`, …).
    pub outcome: Option<String>,
}

/// A connection to the hello port that produced no hello, to record (P1: every hello, the
/// rejected ones too). One row may stand for several connections from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedHello {
    /// The UUID the bytes carried, when one could be read (for example a bogus all-zero one).
    pub device_uuid: Option<String>,
    /// The source address (and port), as text.
    pub source: String,
    /// When it arrived (for several: when the first of them arrived).
    pub received_at: SystemTime,
    /// Why it was refused, in words.
    pub outcome: String,
    /// How many connections the row stands for (at least 1).
    pub count: u32,
}

/// A recorded hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Its id (increasing in arrival order).
    pub id: i64,
    /// The UUID the hello carried (none for a rejected connection whose bytes had none).
    pub device_uuid: Option<String>,
    /// The source address and port.
    pub source: String,
    /// When it arrived.
    pub received_at: SystemTime,
    /// The retry counter the device sent.
    pub retry_count: u32,
    /// The hash list summary.
    pub hashes: String,
    /// What the server did with it.
    pub outcome: Option<String>,
    /// How many connections the row stands for: 1, or more for a summary of repeated
    /// rejections from one source ([`RejectedHello::count`]).
    pub count: u32,
}

/// Which hellos [`Store::hellos`](super::Store::hellos) returns: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloFilter {
    /// Only hellos from this device.
    pub device_uuid: Option<String>,
    /// At most this many (capped at [`DeviceFilter::MAX_LIMIT`]).
    pub limit: u32,
}

impl Default for HelloFilter {
    fn default() -> Self {
        HelloFilter {
            device_uuid: None,
            limit: 100,
        }
    }
}

/// The id of one provisioning run of one device (32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub String);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One provisioning run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Its id.
    pub run_id: RunId,
    /// The device.
    pub device_uuid: String,
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended, if it did.
    pub finished_at: Option<SystemTime>,
    /// How it ended (`provisioned`, `failed`, …).
    pub outcome: Option<String>,
    /// Why, in plain words (always set on failure).
    pub reason: Option<String>,
}

/// A step of a run to append to the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransition {
    /// The run it belongs to.
    pub run_id: RunId,
    /// The phase entered (the workflow's phase name).
    pub phase: String,
    /// Why, in plain words, when there is something to say (always on failure).
    pub reason: Option<String>,
    /// What the workflow needs to resume from this phase. Never put a secret here: secrets
    /// go through [`Store::put_secret`](super::Store::put_secret).
    pub payload: serde_json::Value,
    /// When it happened.
    pub at: SystemTime,
}

/// A recorded step of a provisioning run.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Global insertion order.
    pub id: i64,
    /// The run.
    pub run_id: RunId,
    /// The device.
    pub device_uuid: String,
    /// Position in the run, from 1.
    pub seq: u32,
    /// The phase entered.
    pub phase: String,
    /// Why.
    pub reason: Option<String>,
    /// The phase payload.
    pub payload: serde_json::Value,
    /// When it happened.
    pub at: SystemTime,
}

/// Which secret of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// The AMT admin password (P5, recoverable by an authorised operator).
    Admin,
    /// The MEBx password.
    Mebx,
    /// The password of the device's Active Directory computer object.
    AdComputer,
}

impl SecretKind {
    /// Every kind.
    pub const ALL: [SecretKind; 3] = [SecretKind::Admin, SecretKind::Mebx, SecretKind::AdComputer];

    /// The name stored in the `kind` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Admin => "admin",
            SecretKind::Mebx => "mebx",
            SecretKind::AdComputer => "ad-computer",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored version of a secret (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// The version, from 1, increasing.
    pub version: u32,
    /// When it was stored.
    pub created_at: SystemTime,
}

/// A certificate issued for a device, and where it stands (P7 bookkeeping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateLink {
    /// The serial number, hex.
    pub serial: String,
    /// The device it was issued for.
    pub device_uuid: Option<String>,
    /// `issued`, `installed`, `revoked`, `superseded`, …
    pub state: String,
    /// Its expiry.
    pub not_after: Option<SystemTime>,
    /// When the row last changed.
    pub updated_at: SystemTime,
}

/// A held provisioning lease: proof that this owner is the one provisioner of the device
/// until `expires_at` (P6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The device.
    pub device_uuid: String,
    /// The holder (an amtd instance id).
    pub owner: String,
    /// Until when it holds unless renewed.
    pub expires_at: SystemTime,
    /// When this owner took it.
    pub acquired_at: SystemTime,
    /// A fencing token: grows each time the lease changes hands.
    pub generation: u64,
}
