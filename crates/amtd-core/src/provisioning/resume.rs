//! Resuming a run a stopped (crashed, killed, restarted) server left unfinished (P6).
//!
//! The store holds every transition with its [`Checkpoint`] and the device's secrets, written
//! before the next network call. A resumed run rebuilds the machine at the last stored phase
//! and treats the request of that phase as *sent with an unknown outcome*, which is exactly
//! what a server killed mid-call knows about it. The ordinary P6 rules then apply: idempotent
//! calls are sent again, non-idempotent ones are polled first (enumerate keys, certificates,
//! contexts, CRLs; for `CommitChanges` read the setup state over the provisioned channel and
//! then the setup channel) and only re-sent when the poll shows they did not take effect.
//!
//! Some phases depend on values that are only in memory and are not worth storing; the run
//! restarts at the phase that recomputes them:
//! - `setting-clock` → `reading-clock` (Ta0 is read again);
//! - `requesting-csr` and `issuing-certificate` without a signed certificate → `reading-key`
//!   (the null-signed request is rebuilt; a certificate the CA signed but the run never
//!   recorded is the server's to revoke, see the server's recovery);
//! - `done` → `verifying` (a run that completed but whose end was not recorded is verified
//!   again with the stored password and certificate, then finished).
//!
//! A run stored before it ever contacted the device (`discovered`, `checking-fit`) or that
//! had already `failed` is not resumed: it ends as failed (retryable, [`FailureKind::Interrupted`]),
//! with its certificate revoked if one was issued. (The server starts a run that never reached
//! the device again from the device's stored hello; see its recovery module.)

use amt_pki::{ProvisioningCert, RevocationReason};

use super::steps::{Run, Step};
use super::{
    Action, Checkpoint, ClockStep, DeviceSecrets, Failure, FailureKind, Outcome, Phase,
    Provisioning,
};
use crate::domain::{DeviceRecord, ProvisioningProfile};

/// What a resumed run starts from: the last stored transition of an unfinished run.
#[derive(Debug, Clone)]
pub struct Resume<'a> {
    /// The device (id, FQDN and address as stored; root hashes are not needed any more).
    pub device: DeviceRecord,
    /// The profile the run was started with.
    pub profile: ProvisioningProfile,
    /// The phase of the last stored transition.
    pub phase: Phase,
    /// Its checkpoint.
    pub checkpoint: Checkpoint,
    /// The device's stored secrets (None when the run never stored them).
    pub secrets: Option<DeviceSecrets>,
    /// The configured provisioning certificates (the checkpoint refers to one by index).
    pub candidates: &'a [ProvisioningCert],
    /// The time now, seconds since the Unix epoch.
    pub now: u64,
    /// Sequence number of the last stored transition (the resumed run numbers on from it).
    pub seq: u64,
}

/// Where a run stored at `stored` continues.
fn restart_phase(stored: Phase, signed: bool) -> Phase {
    match stored {
        Phase::SyncingClock(ClockStep::Setting) => Phase::SyncingClock(ClockStep::Reading),
        Phase::RequestingCsr => Phase::ReadingKey,
        Phase::IssuingCertificate if !signed => Phase::ReadingKey,
        Phase::Done => Phase::Verifying,
        p => p,
    }
}

pub(super) fn resume(r: Resume<'_>) -> (Provisioning, Vec<Action>) {
    let Resume {
        device,
        profile,
        phase,
        checkpoint,
        secrets,
        candidates,
        now,
        seq,
    } = r;
    let abandon = |reason: String, step: Phase, kind: FailureKind| {
        let mut out = Vec::new();
        if let Some(serial) = checkpoint.cert_serial.clone() {
            out.push(Action::RevokeCertificate {
                serial,
                reason: RevocationReason::ProvisioningFailed,
            });
        }
        let failure = Failure {
            reason,
            step,
            retryable: true,
            kind,
        };
        out.push(Action::Finish(Box::new(Outcome::Failed(failure.clone()))));
        (Provisioning::Failed(Box::new(failure)), out)
    };
    let signed = checkpoint.cert_serial.is_some() && checkpoint.cert_der.is_some();
    let secrets = match (phase, secrets) {
        (Phase::Discovered | Phase::CheckingFit, _) => {
            let reason = format!(
                "the server stopped during {phase}, before contacting the device; the next \
                 hello starts a new run"
            );
            return abandon(reason, phase, FailureKind::Interrupted);
        }
        (Phase::Failed, _) => {
            let reason = "the run had failed when the server stopped".to_owned();
            return abandon(reason, phase, FailureKind::Interrupted);
        }
        (_, None) => {
            let reason = format!(
                "the server stopped during {phase} and the device's stored secrets are missing"
            );
            return abandon(reason, phase, FailureKind::Store);
        }
        (_, Some(s)) => s,
    };
    if checkpoint
        .provisioning_cert
        .is_none_or(|i| i >= candidates.len())
    {
        let reason = format!(
            "the server stopped during {phase} and the provisioning certificate the run used \
             is no longer configured"
        );
        return abandon(reason, phase, FailureKind::Refused);
    }
    let needs_cert = matches!(
        phase,
        Phase::AddingCertificate { .. }
            | Phase::CreatingCredentialContext
            | Phase::PuttingTlsSettings
            | Phase::AddingUsers { .. }
            | Phase::AddingCrl
            | Phase::Committing
            | Phase::Verifying
            | Phase::ApplyingUserConsent
            | Phase::ApplyingRedirection
            | Phase::Done
    );
    if needs_cert && !signed {
        let reason = format!(
            "the server stopped during {phase} and the issued certificate is not in the \
             stored checkpoint"
        );
        return abandon(reason, phase, FailureKind::Store);
    }
    let to = restart_phase(phase, signed);
    let run = Run::resumed(device, profile, &checkpoint, secrets, phase, now, seq);
    run.continue_at(to)
}

impl Run {
    /// Continues at `to`: records the resumption, then handles the phase's request as sent
    /// with an unknown outcome (resend if idempotent, poll first if not).
    fn continue_at(mut self: Box<Self>, to: Phase) -> Step {
        let note = if to == self.phase {
            format!("resumed after a server restart during {}", self.phase)
        } else {
            format!(
                "resumed after a server restart during {}; continuing at {to}",
                self.phase
            )
        };
        self.transition(to, Some(note), None);
        if to == Phase::IssuingCertificate {
            // Signed but the next transition was not stored: the certificate is installed next.
            return self.proceed(None);
        }
        self.enter();
        // Drop the fresh send: the call counts as sent once already, outcome unknown.
        self.out
            .retain(|a| !matches!(a, Action::Send { .. } | Action::Verify { .. }));
        self.on_transport_failure(true, true, "the server restarted")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_stored_names() {
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.name(), p.index()), Some(p));
        }
        let users = Phase::AddingUsers { index: 3 };
        assert_eq!(Phase::from_name(users.name(), users.index()), Some(users));
        assert_eq!(Phase::from_name("no-such-phase", None), None);
    }

    #[test]
    fn restart_phases_recompute_what_was_only_in_memory() {
        use super::super::ReadStep;
        assert_eq!(
            restart_phase(Phase::SyncingClock(ClockStep::Setting), false),
            Phase::SyncingClock(ClockStep::Reading)
        );
        assert_eq!(
            restart_phase(Phase::RequestingCsr, false),
            Phase::ReadingKey
        );
        assert_eq!(
            restart_phase(Phase::IssuingCertificate, false),
            Phase::ReadingKey
        );
        assert_eq!(
            restart_phase(Phase::IssuingCertificate, true),
            Phase::IssuingCertificate
        );
        assert_eq!(restart_phase(Phase::Done, true), Phase::Verifying);
        assert_eq!(
            restart_phase(Phase::ReadingDevice(ReadStep::Keys), false),
            Phase::ReadingDevice(ReadStep::Keys)
        );
    }
}
