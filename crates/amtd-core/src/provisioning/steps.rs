//! The running machine: shared state, transitions, the generic input handling (responses,
//! enumerations, retries, polls, deadline). Phase-specific requests and replies are in
//! `handlers.rs`.

use amt_pki::{RevocationReason, Serial};
use amt_wsman::secret::SecretString;
use amt_wsman::{Item, Request, ResponseBody};

use super::{
    Action, Channel, Checkpoint, Completed, DeviceSecrets, Failure, FailureKind, Input, Outcome,
    Phase, Provisioning, Reply, Start, Transition, MAX_ATTEMPTS, REQUEST_TIMEOUT_SECS,
};
use crate::domain::{DeviceRecord, MebxPasswordPolicy, ProvisioningProfile};

/// A request in flight and what to do with its answer.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) request: Request,
    pub(crate) channel: Channel,
    pub(crate) idempotent: bool,
    pub(crate) timeout_secs: u64,
    /// Sends of this request so far (the first included).
    pub(crate) attempts: u32,
    /// Some(stage) while polling the device after an uncertain non-idempotent call.
    pub(crate) poll: Option<u8>,
    /// Items collected so far while enumerating.
    pub(crate) items: Option<Vec<amt_wsman::Instance>>,
    /// Sent with [`Action::Verify`] rather than [`Action::Send`].
    pub(crate) verify: bool,
}

/// A running provisioning: the phase and everything learned so far.
#[derive(Debug)]
pub struct Run {
    pub(crate) phase: Phase,
    pub(crate) device: DeviceRecord,
    pub(crate) profile: ProvisioningProfile,
    pub(crate) cert_index: Option<usize>,
    pub(crate) started_at: u64,
    pub(crate) deadline: u64,
    pub(crate) now: u64,
    pub(crate) seq: u64,
    pub(crate) message_id: u64,
    pub(crate) admin_password: SecretString,
    pub(crate) mebx_password: Option<SecretString>,
    pub(crate) realm: Option<String>,
    pub(crate) firmware_version: Option<String>,
    pub(crate) known_keys: Vec<String>,
    pub(crate) ta0: Option<u32>,
    pub(crate) key_id: Option<String>,
    pub(crate) csr_der: Option<Vec<u8>>,
    pub(crate) issued: Option<(Vec<u8>, Serial)>,
    pub(crate) cert_id: Option<String>,
    /// Attempts of the non-idempotent call of the current phase, across polls.
    pub(crate) phase_attempts: u32,
    pub(crate) pending: Option<Pending>,
    pub(crate) out: Vec<Action>,
}

pub(crate) type Step = (Provisioning, Vec<Action>);

impl Run {
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Discovered → CheckingFit → Connecting (or Failed).
    pub(crate) fn begin(start: Start<'_>) -> Step {
        let Start {
            device,
            profile,
            candidates,
            now,
            random,
        } = start;
        let deadline = now.saturating_add(profile.deadline_secs);
        let mut run = Box::new(Run {
            phase: Phase::Discovered,
            device,
            profile,
            cert_index: None,
            started_at: now,
            deadline,
            now,
            seq: 0,
            message_id: 0,
            admin_password: SecretString::new(String::new()),
            mebx_password: None,
            realm: None,
            firmware_version: None,
            known_keys: Vec::new(),
            ta0: None,
            key_id: None,
            csr_der: None,
            issued: None,
            cert_id: None,
            phase_attempts: 0,
            pending: None,
            out: Vec::new(),
        });
        run.record(Phase::Discovered, Some("hello accepted".into()), None);
        run.goto(Phase::CheckingFit, None);
        if let Err(e) = run.profile.validate() {
            return run.fail(FailureKind::Refused, false, e.to_string());
        }
        let choice = match super::choose_provisioning_cert(
            candidates,
            &run.device.root_hashes,
            &run.device.fqdn,
        ) {
            Ok(c) => c,
            Err(reason) => return run.fail(FailureKind::Refused, false, reason),
        };
        run.cert_index = Some(choice.index);
        let secrets = match generate_secrets(&run.profile, random) {
            Ok(s) => s,
            Err(reason) => return run.fail(FailureKind::Refused, false, reason),
        };
        run.admin_password = secrets.admin_password.clone();
        run.mebx_password = secrets.mebx_password.clone();
        run.transition(
            Phase::Connecting,
            Some(format!(
                "using provisioning certificate {} (suffix {})",
                choice.subject, choice.suffix
            )),
            Some(secrets),
        );
        run.enter();
        run.finish_step()
    }

    /// A machine rebuilt from a stored checkpoint at `phase` (see `resume.rs`).
    pub(crate) fn resumed(
        device: DeviceRecord,
        profile: ProvisioningProfile,
        cp: &Checkpoint,
        secrets: DeviceSecrets,
        phase: Phase,
        now: u64,
        seq: u64,
    ) -> Box<Run> {
        let issued = match (&cp.cert_der, &cp.cert_serial) {
            (Some(d), Some(s)) => Some((d.clone(), s.clone())),
            _ => None,
        };
        Box::new(Run {
            phase,
            device,
            profile,
            cert_index: cp.provisioning_cert,
            started_at: cp.started_at,
            deadline: cp.deadline,
            now,
            seq,
            message_id: 0,
            admin_password: secrets.admin_password,
            mebx_password: secrets.mebx_password,
            realm: cp.realm.clone(),
            firmware_version: cp.firmware_version.clone(),
            known_keys: cp.known_keys.clone(),
            ta0: None,
            key_id: cp.key_instance_id.clone(),
            csr_der: None,
            issued,
            cert_id: cp.cert_instance_id.clone(),
            phase_attempts: 0,
            pending: None,
            out: Vec::new(),
        })
    }

    /// Generic input handling.
    pub(crate) fn on_input(mut self: Box<Self>, input: Input) -> Step {
        match input {
            Input::Now(t) => {
                self.now = self.now.max(t);
                if self.now >= self.deadline {
                    let reason = format!(
                        "the run's deadline of {} s passed during {}",
                        self.profile.deadline_secs, self.phase
                    );
                    return self.fail(FailureKind::Deadline, true, reason);
                }
                self.finish_step()
            }
            Input::Timeout => self.on_transport_failure(true, true, "timed out"),
            Input::TransportFailed {
                after_send,
                retryable,
            } => self.on_transport_failure(after_send, retryable, "connection failed"),
            Input::Response(resp) => self.on_response(resp.body),
            Input::Signed { cert_der, serial } => {
                if self.phase != Phase::IssuingCertificate || self.issued.is_some() {
                    return self.finish_step();
                }
                self.on_signed(cert_der, serial)
            }
            Input::SignFailed { reason } => {
                if self.phase != Phase::IssuingCertificate {
                    return self.finish_step();
                }
                self.fail(
                    FailureKind::Ca,
                    true,
                    format!("the CA did not sign: {reason}"),
                )
            }
            Input::VerifyFailed { reason } => {
                if !self.pending.as_ref().is_some_and(|p| p.verify) {
                    return self.finish_step();
                }
                self.pending = None;
                if self.phase == Phase::Committing {
                    return self.commit_poll_over_provisioning();
                }
                self.fail(
                    FailureKind::Device,
                    true,
                    format!("verification over TLS failed: {reason}"),
                )
            }
        }
    }

    pub(crate) fn on_transport_failure(
        mut self: Box<Self>,
        after_send: bool,
        retryable: bool,
        what: &str,
    ) -> Step {
        let Some(p) = self.pending.take() else {
            return self.finish_step();
        };
        if self.phase == Phase::Committing && p.poll == Some(1) {
            // The provisioned channel is not up: look at the device over the setup channel.
            return self.commit_poll_over_provisioning();
        }
        if !retryable {
            let reason = format!(
                "{what} during {} and the failure is not retryable",
                self.phase
            );
            return self.fail(FailureKind::Transport, false, reason);
        }
        if p.attempts >= MAX_ATTEMPTS {
            let reason = format!(
                "{what} during {}; gave up after {} attempts",
                self.phase, p.attempts
            );
            return self.fail(FailureKind::Transport, true, reason);
        }
        if !after_send || p.idempotent {
            let note = format!("{what}; sending again (attempt {})", p.attempts + 1);
            self.record(self.phase, Some(note), None);
            self.resend(p);
            return self.finish_step();
        }
        // A non-idempotent call may or may not have taken effect: look before acting.
        self.record(
            self.phase,
            Some(format!("{what} after sending; polling the device state")),
            None,
        );
        self.poll();
        self.finish_step()
    }

    fn on_response(mut self: Box<Self>, body: ResponseBody) -> Step {
        let Some(mut p) = self.pending.take() else {
            return self.finish_step();
        };
        let reply = match body {
            ResponseBody::Fault(f) => {
                if self.phase == Phase::CreatingCredentialContext
                    && p.poll.is_none()
                    && f.subcode == Some(amt_wsman::fault::Subcode::AlreadyExists)
                {
                    // A context left by an earlier, unfinished run: point it at our certificate.
                    return self.put_credential_context();
                }
                let reason = format!("the device answered {} with a fault: {f}", self.phase);
                return self.fail(FailureKind::Device, false, reason);
            }
            ResponseBody::Get(i) => Reply::Instance(Some(i)),
            ResponseBody::Put(i) => Reply::Instance(i),
            ResponseBody::Create(_) => Reply::Created,
            ResponseBody::Invoke { output, .. } => Reply::Output(output),
            ResponseBody::Enumerate {
                context,
                items,
                end_of_sequence,
            }
            | ResponseBody::Pull {
                context,
                items,
                end_of_sequence,
            } => {
                let Some(mut got) = p.items.take() else {
                    return self.unexpected("an enumeration");
                };
                got.extend(items.into_iter().filter_map(|it| match it {
                    Item::Instance(i) | Item::Both(i, _) => Some(i),
                    Item::Epr(_) => None,
                }));
                match context {
                    Some(ctx) if !end_of_sequence => {
                        let class = p.request.class().to_owned();
                        let id = self.next_id();
                        let pull = Request::new(
                            &class,
                            id,
                            amt_wsman::Operation::Pull(amt_wsman::envelope::Pull {
                                context: ctx,
                                max_elements: Some(999),
                                max_characters: Some(99999),
                            }),
                        );
                        p.request = pull;
                        p.items = Some(got);
                        p.attempts = 1;
                        self.emit_send(&p);
                        self.pending = Some(p);
                        return self.finish_step();
                    }
                    _ => Reply::Items(got),
                }
            }
            ResponseBody::Delete(_) | ResponseBody::Release => {
                return self.unexpected("a Delete or Release answer")
            }
        };
        let attempts = p.attempts;
        match p.poll {
            Some(stage) => self.on_poll_reply(stage, reply),
            None => self.on_reply(reply, attempts),
        }
    }

    fn unexpected(self: Box<Self>, what: &str) -> Step {
        let reason = format!(
            "the device sent {what} the workflow did not ask for during {}",
            self.phase
        );
        self.fail(FailureKind::Device, false, reason)
    }

    // --- transitions and actions ----------------------------------------------------------

    pub(crate) fn next_id(&mut self) -> u64 {
        self.message_id += 1;
        self.message_id
    }

    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            device: self.device.id,
            fqdn: self.device.fqdn.clone(),
            profile: self.profile.name.clone(),
            provisioning_cert: self.cert_index,
            realm: self.realm.clone(),
            firmware_version: self.firmware_version.clone(),
            key_instance_id: self.key_id.clone(),
            cert_serial: self.issued.as_ref().map(|(_, s)| s.clone()),
            cert_instance_id: self.cert_id.clone(),
            cert_der: self.issued.as_ref().map(|(d, _)| d.clone()),
            known_keys: self.known_keys.clone(),
            started_at: self.started_at,
            deadline: self.deadline,
        }
    }

    /// Records a transition (or a retry/poll note when `to == phase`).
    pub(crate) fn record(
        &mut self,
        to: Phase,
        note: Option<String>,
        secrets: Option<DeviceSecrets>,
    ) {
        self.seq += 1;
        let t = Transition {
            seq: self.seq,
            at: self.now,
            from: self.phase,
            to,
            note,
            checkpoint: self.checkpoint(),
            secrets,
        };
        self.phase = to;
        self.out.push(Action::Persist(Box::new(t)));
    }

    pub(crate) fn transition(
        &mut self,
        to: Phase,
        note: Option<String>,
        secrets: Option<DeviceSecrets>,
    ) {
        self.phase_attempts = 0;
        self.record(to, note, secrets);
    }

    /// Moves to `to` (persisted) without sending anything.
    pub(crate) fn goto(&mut self, to: Phase, note: Option<String>) {
        self.transition(to, note, None);
    }

    pub(crate) fn provisioning_channel(&self) -> Channel {
        Channel::ProvisioningTls {
            cert: self.cert_index.unwrap_or_default(),
        }
    }

    pub(crate) fn provisioned_channel(&self) -> Channel {
        Channel::ProvisionedTls {
            username: amt_wsman::password::ADMIN_USERNAME.to_owned(),
            password: self.admin_password.clone(),
            server_cert_der: self
                .issued
                .as_ref()
                .map(|(d, _)| d.clone())
                .unwrap_or_default(),
        }
    }

    /// Sends a request of the current phase.
    pub(crate) fn send(
        &mut self,
        request: Request,
        channel: Channel,
        idempotent: bool,
        timeout_secs: u64,
    ) {
        self.send_with(request, channel, idempotent, timeout_secs, None, false);
    }

    /// Starts an Enumerate + Pull of `class` (idempotent).
    pub(crate) fn enumerate(&mut self, class: &str, channel: Channel, poll: Option<u8>) {
        let id = self.next_id();
        let req = Request::new(
            class,
            id,
            amt_wsman::Operation::Enumerate(Default::default()),
        );
        let p = Pending {
            request: req,
            channel,
            idempotent: true,
            timeout_secs: REQUEST_TIMEOUT_SECS,
            attempts: 1,
            poll,
            items: Some(Vec::new()),
            verify: false,
        };
        self.emit_send(&p);
        self.pending = Some(p);
    }

    pub(crate) fn send_with(
        &mut self,
        request: Request,
        channel: Channel,
        idempotent: bool,
        timeout_secs: u64,
        poll: Option<u8>,
        verify: bool,
    ) {
        if poll.is_none() && !idempotent {
            self.phase_attempts += 1;
        }
        let p = Pending {
            request,
            channel,
            idempotent,
            timeout_secs,
            attempts: 1,
            poll,
            items: None,
            verify,
        };
        self.emit_send(&p);
        self.pending = Some(p);
    }

    pub(crate) fn resend(&mut self, mut p: Pending) {
        p.attempts += 1;
        if p.items.is_some() {
            // An enumeration starts over: contexts do not survive a lost connection.
            p.items = Some(Vec::new());
            if !matches!(p.request.op, amt_wsman::Operation::Enumerate(_)) {
                let class = p.request.class().to_owned();
                let id = self.next_id();
                p.request = Request::new(
                    &class,
                    id,
                    amt_wsman::Operation::Enumerate(Default::default()),
                );
            }
        }
        self.emit_send(&p);
        self.pending = Some(p);
    }

    fn emit_send(&mut self, p: &Pending) {
        if p.verify {
            let (username, password, server_cert_der) = match &p.channel {
                Channel::ProvisionedTls {
                    username,
                    password,
                    server_cert_der,
                } => (username.clone(), password.clone(), server_cert_der.clone()),
                Channel::ProvisioningTls { .. } => Default::default(),
            };
            self.out.push(Action::Verify {
                request: p.request.clone(),
                fqdn: self.device.fqdn.clone(),
                address: self.device.address.clone(),
                server_cert_der,
                username,
                password,
                timeout_secs: p.timeout_secs,
            });
        } else {
            self.out.push(Action::Send {
                request: p.request.clone(),
                channel: p.channel.clone(),
                idempotent: p.idempotent,
                timeout_secs: p.timeout_secs,
            });
        }
    }

    pub(crate) fn finish_step(self: Box<Self>) -> Step {
        let mut run = self;
        let actions = std::mem::take(&mut run.out);
        (Provisioning::Running(run), actions)
    }

    /// Ends the run as failed: persisted, the issued certificate revoked (P7), finished.
    pub(crate) fn fail(
        mut self: Box<Self>,
        kind: FailureKind,
        retryable: bool,
        reason: String,
    ) -> Step {
        let failure = Failure {
            reason: reason.clone(),
            step: self.phase,
            retryable,
            kind,
        };
        self.pending = None;
        self.goto(Phase::Failed, Some(reason));
        if let Some((_, serial)) = self.issued.take() {
            self.out.push(Action::RevokeCertificate {
                serial,
                reason: RevocationReason::ProvisioningFailed,
            });
        }
        self.out
            .push(Action::Finish(Box::new(Outcome::Failed(failure.clone()))));
        let actions = std::mem::take(&mut self.out);
        (Provisioning::Failed(Box::new(failure)), actions)
    }

    /// Ends the run as provisioned.
    pub(crate) fn complete(mut self: Box<Self>) -> Step {
        let Some((_, serial)) = self.issued.clone() else {
            return self.fail(
                FailureKind::State,
                false,
                "completed without an issued certificate".into(),
            );
        };
        self.goto(Phase::Done, None);
        let done = Completed {
            device: self.device.id,
            fqdn: self.device.fqdn.clone(),
            cert_serial: serial,
            firmware_version: self.firmware_version.clone(),
        };
        self.out
            .push(Action::Finish(Box::new(Outcome::Provisioned(done.clone()))));
        let actions = std::mem::take(&mut self.out);
        (Provisioning::Done(Box::new(done)), actions)
    }
}

fn generate_secrets(profile: &ProvisioningProfile, random: &[u8]) -> Result<DeviceSecrets, String> {
    let half =
        amt_wsman::password::random_bytes_needed(amt_wsman::password::ADMIN_PASSWORD_MAX_LEN);
    if random.len() < 2 * half {
        return Err(crate::error::CoreError::NotEnoughRandom {
            needed: 2 * half,
            got: random.len(),
        }
        .to_string());
    }
    let admin =
        amt_wsman::password::generate_admin_password(&random[..half], profile.admin_password_len)
            .map_err(|e| format!("admin password: {e}"))?;
    let mebx = match &profile.mebx_password {
        MebxPasswordPolicy::Keep => None,
        MebxPasswordPolicy::Fixed(p) => Some(p.clone()),
        MebxPasswordPolicy::RandomPerDevice => Some(
            amt_wsman::password::generate_admin_password(
                &random[half..2 * half],
                profile.admin_password_len,
            )
            .map_err(|e| format!("MEBx password: {e}"))?,
        ),
    };
    Ok(DeviceSecrets {
        admin_password: admin,
        mebx_password: mebx,
    })
}
