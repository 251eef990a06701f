//! The provisioning workflow (P3–P7) as a typed, persistent, sans-IO state machine.
//!
//! A run is a [`Provisioning`]: either running in a [`Phase`], or finished ([`Completed`] /
//! [`Failure`]). [`Provisioning::step`] consumes the machine and one [`Input`] (a device
//! response, a transport failure, a signed certificate, the time) and returns the next machine
//! and the [`Action`]s the driver must perform **in order**. Every phase change emits
//! [`Action::Persist`] *before* the next [`Action::Send`], so a server killed at any point
//! resumes from a stored step and never loses a password (the passwords are persisted with the
//! transition that creates them, before the device ever sees them).
//!
//! The flow is the remote-configuration flow of AMT-PROTOCOLS §1.3 and §2.5: fit check →
//! connect back with the provisioning certificate → read realm, setup state, firmware version,
//! existing keys → MEBx password → admin ACL → clock → trusted roots → device key, CSR,
//! CA signature, certificate → TLS credential context and settings → users → CRL → commit →
//! verify over TLS with the new certificate and password → user consent, redirection.
//!
//! # Retries (P6)
//! Each request is classified when it is built:
//! - **idempotent** (Get, Enumerate/Pull, Put, GeneratePKCS10RequestEx, the clock calls, and
//!   — a deliberate decision — SetMEBxPassword and SetAdminAclEntryEx: they *set* a value the
//!   machine persisted before sending, so sending the same value again leaves the device in
//!   the same state): retried after a failure, at most [`MAX_ATTEMPTS`] times per request;
//! - **non-idempotent** (GenerateKeyPair, AddTrustedRootCertificate, AddCertificate, Create
//!   of the credential context, AddUserAclEntryEx, AddCRL, CommitChanges): never re-sent
//!   blindly. A failure *after* the request was sent (EOF, timeout) leads to a poll of the
//!   device state — enumerate keys / certificates / contexts / CRLs, or read
//!   `AMT_SetupAndConfigurationService` over the provisioned channel for CommitChanges — and
//!   only when the poll shows the call did not take effect is it sent again. A failure before
//!   sending (connect refused) is always safe to retry.
//!
//! A failure the transport marks as not retryable (TLS admission refused, certificate
//! mismatch) ends the run at once. Every run has a deadline ([`Input::Now`] past it ends the
//! run as `Failed { retryable: true }`).
//!
//! # Revocation (P7)
//! Once the CA signed the device certificate, any failure emits
//! [`Action::RevokeCertificate`] with [`amt_pki::RevocationReason::ProvisioningFailed`].

pub(crate) mod csr;
mod fit;
mod handlers;
mod rehello;
mod resume;
mod steps;

pub use fit::{choose_provisioning_cert, hello_hashes, CertChoice};
pub use rehello::{decide_rehello, KnownDevice, ReHelloDecision};
pub use resume::Resume;
pub use steps::Run;

use std::fmt;

use amt_pki::{RevocationReason, Serial};
use amt_wsman::secret::SecretString;
use amt_wsman::{Instance, Request, Response};

use crate::domain::{DeviceId, DeviceRecord, Fqdn, ProvisioningProfile};

/// Most attempts for one request (the first send included) before the run fails retryably.
pub const MAX_ATTEMPTS: u32 = 3;
/// Timeout for an ordinary request, seconds.
pub const REQUEST_TIMEOUT_SECS: u64 = 30;
/// Timeout for the TLS settings Put and CommitChanges (AMT may take 30 s and more, §2.5).
pub const SLOW_REQUEST_TIMEOUT_SECS: u64 = 90;

/// Where a reading of the device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadStep {
    /// `AMT_SetupAndConfigurationService` (provisioning state).
    SetupService,
    /// `CIM_SoftwareIdentity` (firmware version, `InstanceID=AMT`).
    SoftwareIdentity,
    /// `AMT_PublicPrivateKeyPair` (keys already on the device).
    Keys,
}

/// Where the clock synchronisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockStep {
    /// `GetLowAccuracyTimeSynch` (Ta0).
    Reading,
    /// `SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)`.
    Setting,
}

/// The phases of a provisioning run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The hello was accepted; nothing done yet.
    Discovered,
    /// Picking a provisioning certificate that fits the device (P3).
    CheckingFit,
    /// Connecting back over TLS with the provisioning certificate (reads `AMT_GeneralSettings`:
    /// digest realm, host and domain).
    Connecting,
    /// Reading the device.
    ReadingDevice(ReadStep),
    /// `SetMEBxPassword`.
    SettingMebxPassword,
    /// `SetAdminAclEntryEx` with the generated admin password.
    SettingAdminAcl,
    /// Clock synchronisation.
    SyncingClock(ClockStep),
    /// `AddTrustedRootCertificate` for the profile's root `index`.
    AddingTrustedRoots {
        /// Which root.
        index: usize,
    },
    /// `GenerateKeyPair` on the device.
    GeneratingKey,
    /// Reading the new key's public part.
    ReadingKey,
    /// `GeneratePKCS10RequestEx`: the device signs our null-signed request.
    RequestingCsr,
    /// Waiting for the CA to sign.
    IssuingCertificate,
    /// `AddCertificate`: index 0 is the device certificate, then the intermediates.
    AddingCertificate {
        /// Which certificate.
        index: usize,
    },
    /// Create `AMT_TLSCredentialContext`.
    CreatingCredentialContext,
    /// Put the remote `AMT_TLSSettingData`.
    PuttingTlsSettings,
    /// `AddUserAclEntryEx` for the profile's user `index`.
    AddingUsers {
        /// Which user.
        index: usize,
    },
    /// `AddCRL`.
    AddingCrl,
    /// `CommitChanges`.
    Committing,
    /// Reconnecting over TLS with the new certificate and admin password.
    Verifying,
    /// Put `IPS_OptInService` (needs Admin Control Mode, so after commit).
    ApplyingUserConsent,
    /// `AMT_RedirectionService.RequestStateChange`.
    ApplyingRedirection,
    /// Provisioned and verified.
    Done,
    /// Stopped; see [`Failure`].
    Failed,
}

impl Phase {
    /// A stable name for storage and display (`adding-users`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Discovered => "discovered",
            Phase::CheckingFit => "checking-fit",
            Phase::Connecting => "connecting",
            Phase::ReadingDevice(ReadStep::SetupService) => "reading-setup-state",
            Phase::ReadingDevice(ReadStep::SoftwareIdentity) => "reading-firmware-version",
            Phase::ReadingDevice(ReadStep::Keys) => "reading-keys",
            Phase::SettingMebxPassword => "setting-mebx-password",
            Phase::SettingAdminAcl => "setting-admin-acl",
            Phase::SyncingClock(ClockStep::Reading) => "reading-clock",
            Phase::SyncingClock(ClockStep::Setting) => "setting-clock",
            Phase::AddingTrustedRoots { .. } => "adding-trusted-roots",
            Phase::GeneratingKey => "generating-key",
            Phase::ReadingKey => "reading-key",
            Phase::RequestingCsr => "requesting-csr",
            Phase::IssuingCertificate => "issuing-certificate",
            Phase::AddingCertificate { .. } => "adding-certificate",
            Phase::CreatingCredentialContext => "creating-credential-context",
            Phase::PuttingTlsSettings => "putting-tls-settings",
            Phase::AddingUsers { .. } => "adding-users",
            Phase::AddingCrl => "adding-crl",
            Phase::Committing => "committing",
            Phase::Verifying => "verifying",
            Phase::ApplyingUserConsent => "applying-user-consent",
            Phase::ApplyingRedirection => "applying-redirection",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }
}

impl Phase {
    /// The index of an indexed phase (`AddingUsers { index }`), for storage.
    pub fn index(self) -> Option<usize> {
        match self {
            Phase::AddingTrustedRoots { index }
            | Phase::AddingCertificate { index }
            | Phase::AddingUsers { index } => Some(index),
            _ => None,
        }
    }

    /// Every phase name, in flow order (indexed phases with index 0).
    pub const ALL: [Phase; 26] = [
        Phase::Discovered,
        Phase::CheckingFit,
        Phase::Connecting,
        Phase::ReadingDevice(ReadStep::SetupService),
        Phase::ReadingDevice(ReadStep::SoftwareIdentity),
        Phase::ReadingDevice(ReadStep::Keys),
        Phase::SettingMebxPassword,
        Phase::SettingAdminAcl,
        Phase::SyncingClock(ClockStep::Reading),
        Phase::SyncingClock(ClockStep::Setting),
        Phase::AddingTrustedRoots { index: 0 },
        Phase::GeneratingKey,
        Phase::ReadingKey,
        Phase::RequestingCsr,
        Phase::IssuingCertificate,
        Phase::AddingCertificate { index: 0 },
        Phase::CreatingCredentialContext,
        Phase::PuttingTlsSettings,
        Phase::AddingUsers { index: 0 },
        Phase::AddingCrl,
        Phase::Committing,
        Phase::Verifying,
        Phase::ApplyingUserConsent,
        Phase::ApplyingRedirection,
        Phase::Done,
        Phase::Failed,
    ];

    /// The phase stored as [`Phase::name`] and [`Phase::index`].
    pub fn from_name(name: &str, index: Option<usize>) -> Option<Phase> {
        let p = Phase::ALL.into_iter().find(|p| p.name() == name)?;
        Some(match (p, index) {
            (Phase::AddingTrustedRoots { .. }, Some(index)) => Phase::AddingTrustedRoots { index },
            (Phase::AddingCertificate { .. }, Some(index)) => Phase::AddingCertificate { index },
            (Phase::AddingUsers { .. }, Some(index)) => Phase::AddingUsers { index },
            (p, _) => p,
        })
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::AddingTrustedRoots { index }
            | Phase::AddingCertificate { index }
            | Phase::AddingUsers { index } => write!(f, "{} #{}", self.name(), index + 1),
            _ => f.write_str(self.name()),
        }
    }
}

/// How a request reaches the device.
#[derive(Debug, Clone)]
pub enum Channel {
    /// TLS to 16993 in setup mode, presenting the provisioning certificate `cert` (its index
    /// in the candidates given to [`Provisioning::begin`]) as the client certificate.
    ProvisioningTls {
        /// Index of the provisioning certificate.
        cert: usize,
    },
    /// TLS to 16993 after commit: the device must present `server_cert_der` and accept
    /// Digest `username`/`password`. Anything else is a transport failure that is not
    /// retryable.
    ProvisionedTls {
        /// Digest user.
        username: String,
        /// Its password.
        password: SecretString,
        /// The certificate the device must present (the one the CA issued).
        server_cert_der: Vec<u8>,
    },
}

/// Why a run failed, in a form an operator and a scheduler can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Refused before connecting (no fitting provisioning certificate, bad input).
    Refused,
    /// The device answered with a fault or an error status.
    Device,
    /// The network failed and retries ran out (or the failure is not retryable).
    Transport,
    /// The CA did not sign.
    Ca,
    /// The run's deadline passed.
    Deadline,
    /// The device is in a state the workflow does not handle (already provisioned).
    State,
    /// A transition could not be stored, so the run stopped before its next network call.
    Store,
    /// The server stopped before the run reached the device (or after it had failed); the
    /// device's next hello starts a new run.
    Interrupted,
}

/// A failed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, in plain words.
    pub reason: String,
    /// The phase it went wrong in.
    pub step: Phase,
    /// Whether starting a new run later can help.
    pub retryable: bool,
    /// Classification.
    pub kind: FailureKind,
}

/// A provisioned device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The device.
    pub device: DeviceId,
    /// Its FQDN (the certificate's CN and SAN).
    pub fqdn: Fqdn,
    /// Serial of the installed certificate (mark it installed in the ledger).
    pub cert_serial: Serial,
    /// The firmware version read from the device.
    pub firmware_version: Option<String>,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Provisioned and verified.
    Provisioned(Completed),
    /// Failed.
    Failed(Failure),
}

/// The per-device secrets, persisted (encrypted by the store) with the transition that
/// creates them, before the device sees them.
#[derive(Debug, Clone)]
pub struct DeviceSecrets {
    /// The admin password.
    pub admin_password: SecretString,
    /// The MEBx password, unless the profile keeps the device's.
    pub mebx_password: Option<SecretString>,
}

/// What the store needs to show a run and to resume it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The device.
    pub device: DeviceId,
    /// Its FQDN.
    pub fqdn: Fqdn,
    /// The profile's name.
    pub profile: String,
    /// Index of the provisioning certificate in use.
    pub provisioning_cert: Option<usize>,
    /// The device's digest realm, once read.
    pub realm: Option<String>,
    /// The firmware version, once read.
    pub firmware_version: Option<String>,
    /// The device key's `InstanceID`, once generated.
    pub key_instance_id: Option<String>,
    /// Serial of the issued certificate, once signed.
    pub cert_serial: Option<Serial>,
    /// The installed certificate's `InstanceID`, once added.
    pub cert_instance_id: Option<String>,
    /// The issued certificate (DER), once signed: a resumed run installs or pins it.
    pub cert_der: Option<Vec<u8>>,
    /// `InstanceID`s of the key pairs on the device before `GenerateKeyPair` (so a resumed
    /// run can tell which key is ours).
    pub known_keys: Vec<String>,
    /// When the run started and when it must end, seconds since the Unix epoch.
    pub started_at: u64,
    /// Deadline, seconds since the Unix epoch.
    pub deadline: u64,
}

/// One recorded step.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Sequence number within the run, from 1.
    pub seq: u64,
    /// When, seconds since the Unix epoch (the machine's latest [`Input::Now`]).
    pub at: u64,
    /// Phase before.
    pub from: Phase,
    /// Phase after (equal to `from` for a recorded retry or poll).
    pub to: Phase,
    /// What happened, in words (retry, poll, conflict noticed, failure reason).
    pub note: Option<String>,
    /// Everything known so far.
    pub checkpoint: Checkpoint,
    /// Secrets created by this transition (only in the transition that creates them).
    pub secrets: Option<DeviceSecrets>,
}

/// What the driver must do, in order.
#[derive(Debug, Clone)]
pub enum Action {
    /// Store this transition durably before doing anything that follows it.
    Persist(Box<Transition>),
    /// Send a WS-Management request and feed back the response or the failure.
    Send {
        /// The request.
        request: Request,
        /// The channel to use.
        channel: Channel,
        /// Whether re-sending it is harmless (documentation for the driver and logs; the
        /// machine decides retries itself).
        idempotent: bool,
        /// Give up after this many seconds and feed [`Input::Timeout`].
        timeout_secs: u64,
    },
    /// Ask the CA to sign the device's PKCS#10 request for `fqdn` / `uuid` (device TLS
    /// profile, P4), then feed [`Input::Signed`] or [`Input::SignFailed`].
    SignCsr {
        /// The device-signed PKCS#10, DER.
        csr_der: Vec<u8>,
        /// The FQDN (subject CN and SAN).
        fqdn: Fqdn,
        /// The device.
        uuid: DeviceId,
    },
    /// Reconnect over TLS to `address`, require `server_cert_der`, authenticate with Digest
    /// and send `request`; feed the response back, or [`Input::VerifyFailed`].
    Verify {
        /// The request (a Get of `AMT_SetupAndConfigurationService`).
        request: Request,
        /// The device's FQDN.
        fqdn: Fqdn,
        /// The address to connect to.
        address: String,
        /// The certificate the device must present.
        server_cert_der: Vec<u8>,
        /// Digest user.
        username: String,
        /// Its password.
        password: SecretString,
        /// Timeout in seconds.
        timeout_secs: u64,
    },
    /// Revoke a certificate that was issued for this run (P7).
    RevokeCertificate {
        /// Its serial.
        serial: Serial,
        /// Why.
        reason: RevocationReason,
    },
    /// The run is over.
    Finish(Box<Outcome>),
}

/// What the driver feeds the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The device's response to the last [`Action::Send`] or [`Action::Verify`].
    Response(Box<Response>),
    /// The last request failed in transport. `after_send`: the request may have reached the
    /// device (EOF or reset after writing it); `retryable`: the failure is transient.
    TransportFailed {
        /// The request may have been delivered.
        after_send: bool,
        /// A retry may help.
        retryable: bool,
    },
    /// The CA signed: the certificate and its serial.
    Signed {
        /// DER.
        cert_der: Vec<u8>,
        /// Serial.
        serial: Serial,
    },
    /// The CA refused or failed.
    SignFailed {
        /// Why.
        reason: String,
    },
    /// The verification connection failed (wrong certificate, authentication refused).
    VerifyFailed {
        /// Why.
        reason: String,
    },
    /// The last request timed out (treated as a failure after sending).
    Timeout,
    /// The time now, seconds since the Unix epoch.
    Now(u64),
}

/// What a run starts from.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    /// The device.
    pub device: DeviceRecord,
    /// The profile.
    pub profile: ProvisioningProfile,
    /// The configured provisioning certificates (the fit check picks one).
    pub candidates: &'a [amt_pki::ProvisioningCert],
    /// The time now, seconds since the Unix epoch.
    pub now: u64,
    /// Random bytes for the passwords: at least [`random_bytes_needed`] of them.
    pub random: &'a [u8],
}

/// Random bytes [`Provisioning::begin`] needs (two passwords of up to 32 characters).
pub const fn random_bytes_needed() -> usize {
    2 * amt_wsman::password::random_bytes_needed(amt_wsman::password::ADMIN_PASSWORD_MAX_LEN)
}

/// A provisioning run.
#[derive(Debug)]
pub enum Provisioning {
    /// In progress.
    Running(Box<steps::Run>),
    /// Provisioned and verified.
    Done(Box<Completed>),
    /// Stopped.
    Failed(Box<Failure>),
}

impl Provisioning {
    /// Starts a run: records the hello, checks the fit (P3), generates the passwords and
    /// connects back. A device no provisioning certificate fits ends here, `Failed` with
    /// the reason, and no request is ever sent.
    pub fn begin(start: Start<'_>) -> (Provisioning, Vec<Action>) {
        steps::Run::begin(start)
    }

    /// Feeds one input; returns the next machine and the actions to perform in order.
    pub fn step(self, input: Input) -> (Provisioning, Vec<Action>) {
        match self {
            Provisioning::Running(run) => run.on_input(input),
            done => (done, Vec::new()),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self {
            Provisioning::Running(r) => r.phase(),
            Provisioning::Done(_) => Phase::Done,
            Provisioning::Failed(_) => Phase::Failed,
        }
    }

    /// Continues a run a stopped server left unfinished, from its last stored checkpoint
    /// (see [`Resume`]).
    pub fn resume(resume: Resume<'_>) -> (Provisioning, Vec<Action>) {
        resume::resume(resume)
    }

    /// True once the run has ended.
    pub fn is_finished(&self) -> bool {
        !matches!(self, Provisioning::Running(_))
    }
}

/// A reply the generic layer decoded for a phase handler.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A Get response or a Put echo (None for an empty Put body).
    Instance(Option<Instance>),
    /// A method output.
    Output(Instance),
    /// A Create succeeded (the reference it returned is not needed).
    Created,
    /// All items of an Enumerate + Pull.
    Items(Vec<Instance>),
}
