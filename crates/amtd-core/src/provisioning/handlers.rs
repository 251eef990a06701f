//! Per-phase requests, replies and polls.

use amt_pki::{Cert, Serial, VerifiedCsr};
use amt_wsman::classes::amt::{
    key_pair_reference, AddCertificateInput, AddCertificateOutput, AddCrlInput, AddCrlOutput,
    AddTrustedRootCertificateInput, AddTrustedRootCertificateOutput, AddUserAclEntryExInput,
    AddUserAclEntryExOutput, AmtCrl, AmtGeneralSettings, AmtPublicKeyCertificate,
    AmtPublicPrivateKeyPair, AmtSetupAndConfigurationService, AmtTlsCredentialContext,
    AmtTlsSettingData, CommitChangesInput, CommitChangesOutput, CsrSigningAlgorithm,
    GenerateKeyPairInput, GenerateKeyPairOutput, GeneratePkcs10RequestExInput,
    GeneratePkcs10RequestExOutput, GetLowAccuracyTimeSynchInput, GetLowAccuracyTimeSynchOutput,
    ProvisioningState, PtStatus, RedirectionRequestStateChangeInput,
    RedirectionRequestStateChangeOutput, RedirectionRequestedState, SetAdminAclEntryExInput,
    SetAdminAclEntryExOutput, SetHighAccuracyTimeSynchInput, SetHighAccuracyTimeSynchOutput,
    SetMebxPasswordInput, SetMebxPasswordOutput, TLS_REMOTE_INSTANCE_ID,
};
use amt_wsman::classes::cim::StateChangeReturn;
use amt_wsman::classes::ips::IpsOptInService;
use amt_wsman::classes::{MethodInput, Typed, WsmanClass};
use amt_wsman::{Instance, SelectorSet};
use base64::Engine as _;

use super::steps::{Run, Step};
use super::{
    csr, Action, ClockStep, FailureKind, Phase, ReadStep, Reply, MAX_ATTEMPTS,
    REQUEST_TIMEOUT_SECS, SLOW_REQUEST_TIMEOUT_SECS,
};
use crate::domain::{Fqdn, TlsMode};

const T: u64 = REQUEST_TIMEOUT_SECS;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn typed<X: Typed>(i: &Instance) -> Result<X, String> {
    X::from_instance(i).map_err(|e| format!("unreadable {}: {e}", X::ELEMENT))
}

fn status(rv: Option<PtStatus>, what: &str) -> Result<(), String> {
    match rv {
        Some(PtStatus::Success) => Ok(()),
        Some(other) => Err(format!("{what} returned {other}")),
        None => Err(format!("{what} returned no ReturnValue")),
    }
}

fn instance_id(epr: Option<&amt_wsman::EndpointReference>) -> Option<String> {
    epr.and_then(|e| e.selectors.get("InstanceID"))
        .map(str::to_owned)
}

impl Run {
    /// The phase after `p` in the flow, before skipping phases the profile does not need.
    fn successor(&self, p: Phase) -> Phase {
        match p {
            Phase::Discovered => Phase::CheckingFit,
            Phase::CheckingFit => Phase::Connecting,
            Phase::Connecting => Phase::ReadingDevice(ReadStep::SetupService),
            Phase::ReadingDevice(ReadStep::SetupService) => {
                Phase::ReadingDevice(ReadStep::SoftwareIdentity)
            }
            Phase::ReadingDevice(ReadStep::SoftwareIdentity) => {
                Phase::ReadingDevice(ReadStep::Keys)
            }
            Phase::ReadingDevice(ReadStep::Keys) => Phase::SettingMebxPassword,
            Phase::SettingMebxPassword => Phase::SettingAdminAcl,
            Phase::SettingAdminAcl => Phase::SyncingClock(ClockStep::Reading),
            Phase::SyncingClock(ClockStep::Reading) => Phase::SyncingClock(ClockStep::Setting),
            Phase::SyncingClock(ClockStep::Setting) => Phase::AddingTrustedRoots { index: 0 },
            Phase::AddingTrustedRoots { index } => Phase::AddingTrustedRoots { index: index + 1 },
            Phase::GeneratingKey => Phase::ReadingKey,
            Phase::ReadingKey => Phase::RequestingCsr,
            Phase::RequestingCsr => Phase::IssuingCertificate,
            Phase::IssuingCertificate => Phase::AddingCertificate { index: 0 },
            Phase::AddingCertificate { index } => Phase::AddingCertificate { index: index + 1 },
            Phase::CreatingCredentialContext => Phase::PuttingTlsSettings,
            Phase::PuttingTlsSettings => Phase::AddingUsers { index: 0 },
            Phase::AddingUsers { index } => Phase::AddingUsers { index: index + 1 },
            Phase::AddingCrl => Phase::Committing,
            Phase::Committing => Phase::Verifying,
            Phase::Verifying => Phase::ApplyingUserConsent,
            Phase::ApplyingUserConsent => Phase::ApplyingRedirection,
            Phase::ApplyingRedirection | Phase::Done => Phase::Done,
            Phase::Failed => Phase::Failed,
        }
    }

    /// The next phase the profile needs; index-carrying phases past their list fall through
    /// to the phase after the list.
    fn next_phase(&self, from: Phase) -> Phase {
        let mut p = self.successor(from);
        loop {
            let skip_to = match p {
                Phase::SettingMebxPassword if self.mebx_password.is_none() => {
                    Some(Phase::SettingAdminAcl)
                }
                Phase::SyncingClock(ClockStep::Reading) if !self.profile.clock_sync => {
                    Some(Phase::AddingTrustedRoots { index: 0 })
                }
                Phase::AddingTrustedRoots { index }
                    if index >= self.profile.trusted_roots.len() =>
                {
                    Some(Phase::GeneratingKey)
                }
                Phase::AddingCertificate { index } if index > self.profile.intermediates.len() => {
                    Some(Phase::CreatingCredentialContext)
                }
                Phase::AddingUsers { index } if index >= self.profile.digest_users.len() => {
                    Some(Phase::AddingCrl)
                }
                Phase::AddingCrl if self.profile.crl_serials.is_empty() => Some(Phase::Committing),
                Phase::ApplyingUserConsent if self.profile.user_consent.is_none() => {
                    Some(Phase::ApplyingRedirection)
                }
                Phase::ApplyingRedirection if self.profile.redirection.is_none() => {
                    Some(Phase::Done)
                }
                _ => None,
            };
            match skip_to {
                Some(n) => p = n,
                None => return p,
            }
        }
    }

    /// Moves on to the next phase the profile needs.
    pub(crate) fn proceed(mut self: Box<Self>, note: Option<String>) -> Step {
        let next = self.next_phase(self.phase);
        if next == Phase::Done {
            return self.complete();
        }
        self.goto(next, note);
        self.enter();
        self.finish_step()
    }

    fn realm(&self) -> &str {
        self.realm.as_deref().unwrap_or_default()
    }

    /// Sends the request of the current phase.
    pub(crate) fn enter(&mut self) {
        let prov = self.provisioning_channel();
        let id = self.next_id();
        let none = SelectorSet::new;
        match self.phase {
            Phase::Connecting => self.send(AmtGeneralSettings::get(id, none()), prov, true, T),
            Phase::ReadingDevice(ReadStep::SetupService) => self.send(
                AmtSetupAndConfigurationService::get(id, none()),
                prov,
                true,
                T,
            ),
            Phase::ReadingDevice(ReadStep::SoftwareIdentity) => {
                self.enumerate("CIM_SoftwareIdentity", prov, None)
            }
            Phase::ReadingDevice(ReadStep::Keys) => {
                self.enumerate("AMT_PublicPrivateKeyPair", prov, None)
            }
            Phase::SettingMebxPassword => {
                let input = SetMebxPasswordInput {
                    password: self.mebx_password.as_ref().map(|p| p.expose().to_owned()),
                    ..Default::default()
                };
                self.send(input.request(id, none()), prov, true, T);
            }
            Phase::SettingAdminAcl => {
                let user = amt_wsman::password::ADMIN_USERNAME;
                let ha1 = amt_wsman::digest::ha1(user, self.realm(), self.admin_password.expose());
                let input = SetAdminAclEntryExInput::new(user, &ha1);
                self.send(input.request(id, none()), prov, true, T);
            }
            Phase::SyncingClock(ClockStep::Reading) => {
                let input = GetLowAccuracyTimeSynchInput::default();
                self.send(input.request(id, none()), prov, true, T);
            }
            Phase::SyncingClock(ClockStep::Setting) => {
                let now = u32::try_from(self.now).unwrap_or(u32::MAX);
                let input = SetHighAccuracyTimeSynchInput::new(self.ta0.unwrap_or(now), now, now);
                self.send(input.request(id, none()), prov, true, T);
            }
            Phase::AddingTrustedRoots { index } => {
                let der = self
                    .profile
                    .trusted_roots
                    .get(index)
                    .cloned()
                    .unwrap_or_default();
                let input = AddTrustedRootCertificateInput::from_der(&der);
                self.send(input.request(id, none()), prov, false, T);
            }
            Phase::GeneratingKey => {
                let input = GenerateKeyPairInput::rsa_2048();
                self.send(
                    input.request(id, none()),
                    prov,
                    false,
                    SLOW_REQUEST_TIMEOUT_SECS,
                );
            }
            Phase::ReadingKey => {
                let sel =
                    SelectorSet::one("InstanceID", self.key_id.as_deref().unwrap_or_default());
                self.send(AmtPublicPrivateKeyPair::get(id, sel), prov, true, T);
            }
            Phase::RequestingCsr => {
                let input = GeneratePkcs10RequestExInput {
                    key_pair: Some(key_pair_reference(
                        self.key_id.as_deref().unwrap_or_default(),
                    )),
                    signing_algorithm: Some(CsrSigningAlgorithm::Sha256Rsa),
                    null_signed_certificate_request: self.csr_der.as_deref().map(b64),
                    ..Default::default()
                };
                self.send(
                    input.request(id, none()),
                    prov,
                    true,
                    SLOW_REQUEST_TIMEOUT_SECS,
                );
            }
            Phase::IssuingCertificate => {
                let csr_der = self.csr_der.clone().unwrap_or_default();
                self.out.push(Action::SignCsr {
                    csr_der,
                    fqdn: self.device.fqdn.clone(),
                    uuid: self.device.id,
                });
            }
            Phase::AddingCertificate { index } => {
                let der = if index == 0 {
                    self.issued.as_ref().map(|(d, _)| d.clone())
                } else {
                    self.profile.intermediates.get(index - 1).cloned()
                };
                let input = AddCertificateInput::from_der(&der.unwrap_or_default());
                self.send(input.request(id, none()), prov, false, T);
            }
            Phase::CreatingCredentialContext => {
                let ctx = AmtTlsCredentialContext::for_certificate(
                    self.cert_id.as_deref().unwrap_or_default(),
                );
                self.send(ctx.create(id), prov, false, T);
            }
            Phase::PuttingTlsSettings => {
                let s = AmtTlsSettingData {
                    instance_id: Some(TLS_REMOTE_INSTANCE_ID.into()),
                    element_name: Some(TLS_REMOTE_INSTANCE_ID.into()),
                    enabled: Some(true),
                    mutual_authentication: Some(self.profile.tls_mode == TlsMode::Mutual),
                    accept_non_secure_connections: Some(self.profile.accept_non_secure),
                    trusted_cn: self.profile.trusted_cns.clone(),
                    ..Default::default()
                };
                let sel = SelectorSet::one("InstanceID", TLS_REMOTE_INSTANCE_ID);
                self.send(s.put(id, sel), prov, true, SLOW_REQUEST_TIMEOUT_SECS);
            }
            Phase::AddingUsers { index } => {
                let input = match self.profile.digest_users.get(index) {
                    Some(u) => AddUserAclEntryExInput::digest(
                        &u.name,
                        &amt_wsman::digest::ha1(&u.name, self.realm(), u.password.expose()),
                        u.access,
                        u.realms.iter().copied(),
                    ),
                    None => AddUserAclEntryExInput::default(),
                };
                self.send(input.request(id, none()), prov, false, T);
            }
            Phase::AddingCrl => {
                let input = AddCrlInput {
                    url: self.profile.crl_url.clone(),
                    serial_numbers: self.crl_serials_b64(),
                    ..Default::default()
                };
                self.send(input.request(id, none()), prov, false, T);
            }
            Phase::Committing => {
                let input = CommitChangesInput::default();
                self.send(
                    input.request(id, none()),
                    prov,
                    false,
                    SLOW_REQUEST_TIMEOUT_SECS,
                );
            }
            Phase::Verifying => {
                let req = AmtSetupAndConfigurationService::get(id, none());
                let ch = self.provisioned_channel();
                self.send_with(req, ch, true, T, None, true);
            }
            Phase::ApplyingUserConsent => {
                let s = IpsOptInService {
                    opt_in_required: self.profile.user_consent,
                    ..Default::default()
                };
                let ch = self.provisioned_channel();
                self.send(s.put(id, none()), ch, true, T);
            }
            Phase::ApplyingRedirection => {
                let state = match self.profile.redirection {
                    Some(r) if r.sol && r.ider => RedirectionRequestedState::EnableIderAndSol,
                    Some(r) if r.sol => RedirectionRequestedState::EnableSolDisableIder,
                    Some(r) if r.ider => RedirectionRequestedState::EnableIderDisableSol,
                    _ => RedirectionRequestedState::DisableIderAndSol,
                };
                let input = RedirectionRequestStateChangeInput {
                    requested_state: Some(state),
                    ..Default::default()
                };
                let ch = self.provisioned_channel();
                self.send(input.request(id, none()), ch, true, T);
            }
            Phase::Discovered | Phase::CheckingFit | Phase::Done | Phase::Failed => {}
        }
    }

    fn crl_serials_b64(&self) -> Vec<String> {
        self.profile
            .crl_serials
            .iter()
            .map(|s| Serial::from_bytes(s).to_base64())
            .collect()
    }

    /// Handles the reply to the current phase's request.
    pub(crate) fn on_reply(self: Box<Self>, reply: Reply, attempts: u32) -> Step {
        match self.handle_reply(reply, attempts) {
            Ok(next) => next,
            Err((run, kind, retryable, reason)) => run.fail(kind, retryable, reason),
        }
    }

    #[allow(clippy::type_complexity)]
    fn handle_reply(
        mut self: Box<Self>,
        reply: Reply,
        _attempts: u32,
    ) -> Result<Step, (Box<Self>, FailureKind, bool, String)> {
        macro_rules! check {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(reason) => return Err((self, FailureKind::Device, false, reason)),
                }
            };
        }
        let output = |r: &Reply| match r {
            Reply::Output(i) => Ok(i.clone()),
            other => Err(format!("expected a method output, got {other:?}")),
        };
        let instance = |r: &Reply| match r {
            Reply::Instance(Some(i)) => Ok(i.clone()),
            other => Err(format!("expected an instance, got {other:?}")),
        };
        let items = |r: Reply| match r {
            Reply::Items(v) => Ok(v),
            other => Err(format!("expected enumeration items, got {other:?}")),
        };
        match self.phase {
            Phase::Connecting => {
                let gs: AmtGeneralSettings = check!(instance(&reply).and_then(|i| typed(&i)));
                let realm = gs.digest_realm.clone().unwrap_or_default();
                check!(valid_realm(&realm));
                self.realm = Some(realm);
                let note = settings_conflict(&gs, &self.device.fqdn);
                Ok(self.proceed(note))
            }
            Phase::ReadingDevice(ReadStep::SetupService) => {
                let s: AmtSetupAndConfigurationService =
                    check!(instance(&reply).and_then(|i| typed(&i)));
                if s.provisioning_state == Some(ProvisioningState::Post) {
                    let reason = "the device is already provisioned; it must be unprovisioned \
                                  before it can be provisioned again"
                        .to_owned();
                    return Err((self, FailureKind::State, false, reason));
                }
                Ok(self.proceed(None))
            }
            Phase::ReadingDevice(ReadStep::SoftwareIdentity) => {
                let all = check!(items(reply));
                self.firmware_version = all
                    .iter()
                    .find(|i| i.get_text("InstanceID") == Some("AMT"))
                    .and_then(|i| i.get_text("VersionString"))
                    .map(str::to_owned);
                let note = self.firmware_version.as_ref().map(|v| format!("AMT {v}"));
                Ok(self.proceed(note))
            }
            Phase::ReadingDevice(ReadStep::Keys) => {
                let all = check!(items(reply));
                self.known_keys = all
                    .iter()
                    .filter_map(|i| i.get_text("InstanceID").map(str::to_owned))
                    .collect();
                Ok(self.proceed(None))
            }
            Phase::SettingMebxPassword => {
                let o: SetMebxPasswordOutput = check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "SetMEBxPassword"));
                Ok(self.proceed(None))
            }
            Phase::SettingAdminAcl => {
                let o: SetAdminAclEntryExOutput = check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "SetAdminAclEntryEx"));
                Ok(self.proceed(None))
            }
            Phase::SyncingClock(ClockStep::Reading) => {
                let o: GetLowAccuracyTimeSynchOutput =
                    check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "GetLowAccuracyTimeSynch"));
                self.ta0 = o.ta0;
                Ok(self.proceed(None))
            }
            Phase::SyncingClock(ClockStep::Setting) => {
                let o: SetHighAccuracyTimeSynchOutput =
                    check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "SetHighAccuracyTimeSynch"));
                Ok(self.proceed(None))
            }
            Phase::AddingTrustedRoots { .. } => {
                let o: AddTrustedRootCertificateOutput =
                    check!(output(&reply).and_then(|i| typed(&i)));
                // The store keeps certificates "as long as they are binary different": a root
                // already there (an earlier run, the factory) is what this step wants.
                if o.return_value == Some(PtStatus::Duplicate) {
                    return Ok(self.proceed(Some("the root was already on the device".into())));
                }
                check!(status(o.return_value, "AddTrustedRootCertificate"));
                Ok(self.proceed(None))
            }
            Phase::GeneratingKey => {
                let o: GenerateKeyPairOutput = check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "GenerateKeyPair"));
                let id = check!(instance_id(o.key_pair.as_ref())
                    .ok_or_else(|| "GenerateKeyPair returned no key reference".to_owned()));
                self.key_id = Some(id);
                Ok(self.proceed(None))
            }
            Phase::ReadingKey => {
                let k: AmtPublicPrivateKeyPair = check!(instance(&reply).and_then(|i| typed(&i)));
                let der = check!(k
                    .public_key_der()
                    .map_err(|e| e.to_string())
                    .and_then(|d| d.ok_or_else(|| "the key has no DERKey".to_owned())));
                let csr = check!(csr::null_signed_csr(&der, self.device.fqdn.as_str()));
                self.csr_der = Some(csr);
                Ok(self.proceed(None))
            }
            Phase::RequestingCsr => {
                let o: GeneratePkcs10RequestExOutput =
                    check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "GeneratePKCS10RequestEx"));
                let der = check!(o
                    .request_der()
                    .map_err(|e| e.to_string())
                    .and_then(|d| d.ok_or_else(|| "no signed request".to_owned())));
                let verified = check!(VerifiedCsr::from_der(&der)
                    .map_err(|e| format!("the device's PKCS#10 request does not verify: {e}")));
                let sent = self.csr_der.clone().unwrap_or_default();
                if !same_key(&sent, &verified) {
                    let reason = "the device signed a request for a different key".to_owned();
                    return Err((self, FailureKind::Device, false, reason));
                }
                self.csr_der = Some(der);
                Ok(self.proceed(None))
            }
            Phase::AddingCertificate { index } => {
                let o: AddCertificateOutput = check!(output(&reply).and_then(|i| typed(&i)));
                if index > 0 && o.return_value == Some(PtStatus::Duplicate) {
                    return Ok(self.proceed(Some(
                        "the intermediate certificate was already on the device".into(),
                    )));
                }
                check!(status(o.return_value, "AddCertificate"));
                if index == 0 {
                    let id = check!(instance_id(o.created_certificate.as_ref())
                        .ok_or_else(|| "AddCertificate returned no reference".to_owned()));
                    self.cert_id = Some(id);
                }
                Ok(self.proceed(None))
            }
            Phase::CreatingCredentialContext => match reply {
                // Created, or the Put that rebinds a context left by an earlier run.
                Reply::Created | Reply::Instance(_) => Ok(self.proceed(None)),
                other => Err((
                    self,
                    FailureKind::Device,
                    false,
                    format!("expected a reference, got {other:?}"),
                )),
            },
            Phase::PuttingTlsSettings | Phase::ApplyingUserConsent => Ok(self.proceed(None)),
            Phase::AddingUsers { .. } => {
                let o: AddUserAclEntryExOutput = check!(output(&reply).and_then(|i| typed(&i)));
                // After an uncertain first attempt, Duplicate means the first one took effect
                // (the device held no users in setup mode; the name and password are ours).
                if o.return_value == Some(PtStatus::Duplicate) && self.phase_attempts > 1 {
                    return Ok(
                        self.proceed(Some("user already added by the earlier attempt".into()))
                    );
                }
                check!(status(o.return_value, "AddUserAclEntryEx"));
                Ok(self.proceed(None))
            }
            Phase::AddingCrl => {
                let o: AddCrlOutput = check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "AddCRL"));
                Ok(self.proceed(None))
            }
            Phase::Committing => {
                let o: CommitChangesOutput = check!(output(&reply).and_then(|i| typed(&i)));
                check!(status(o.return_value, "CommitChanges"));
                Ok(self.proceed(None))
            }
            Phase::Verifying => {
                let s: AmtSetupAndConfigurationService =
                    check!(instance(&reply).and_then(|i| typed(&i)));
                if s.provisioning_state != Some(ProvisioningState::Post) {
                    let reason = format!(
                        "after CommitChanges the device reports provisioning state {:?}",
                        s.provisioning_state
                    );
                    return Err((self, FailureKind::Device, true, reason));
                }
                Ok(self.proceed(Some(
                    "verified over TLS with the new certificate and password".into(),
                )))
            }
            Phase::ApplyingRedirection => {
                let o: RedirectionRequestStateChangeOutput =
                    check!(output(&reply).and_then(|i| typed(&i)));
                if o.return_value != Some(StateChangeReturn::Completed) {
                    let reason = format!("RequestStateChange returned {:?}", o.return_value);
                    return Err((self, FailureKind::Device, false, reason));
                }
                Ok(self.proceed(None))
            }
            Phase::Discovered
            | Phase::CheckingFit
            | Phase::IssuingCertificate
            | Phase::Done
            | Phase::Failed => {
                let reason = format!("a device answer arrived during {}", self.phase);
                Err((self, FailureKind::Device, false, reason))
            }
        }
    }

    /// The CA signed: check the certificate is for the device's key and name, then install it.
    pub(crate) fn on_signed(mut self: Box<Self>, cert_der: Vec<u8>, serial: Serial) -> Step {
        // From here on a failure revokes the certificate (P7).
        self.issued = Some((cert_der.clone(), serial));
        let csr = self
            .csr_der
            .as_deref()
            .and_then(|d| VerifiedCsr::from_der(d).ok());
        let ok = match (Cert::from_der(&cert_der), csr) {
            (Ok(cert), Some(csr)) => {
                cert.public_key_info() == csr.public_key()
                    && cert
                        .common_names()
                        .iter()
                        .any(|cn| cn == self.device.fqdn.as_str())
            }
            _ => false,
        };
        if !ok {
            let reason = "the CA returned a certificate that is not for the device's key and FQDN"
                .to_owned();
            return self.fail(FailureKind::Ca, true, reason);
        }
        self.proceed(None)
    }

    /// After an uncertain non-idempotent call: look at the device before deciding.
    pub(crate) fn poll(&mut self) {
        let prov = self.provisioning_channel();
        match self.phase {
            Phase::AddingTrustedRoots { .. } | Phase::AddingCertificate { .. } => {
                self.enumerate("AMT_PublicKeyCertificate", prov, Some(1))
            }
            Phase::GeneratingKey => self.enumerate("AMT_PublicPrivateKeyPair", prov, Some(1)),
            Phase::CreatingCredentialContext => {
                self.enumerate("AMT_TLSCredentialContext", prov, Some(1))
            }
            Phase::AddingCrl => self.enumerate("AMT_CRL", prov, Some(1)),
            Phase::Committing => {
                // Committed devices serve the new certificate and want the new password.
                let id = self.next_id();
                let req = AmtSetupAndConfigurationService::get(id, SelectorSet::new());
                let ch = self.provisioned_channel();
                self.send_with(req, ch, true, T, Some(1), true);
            }
            // AddUserAclEntryEx: sent again; Duplicate on the retry means the first one worked.
            _ => self.enter(),
        }
    }

    /// `Create` of the credential context met one left by an earlier run: `Put` it instead,
    /// bound to this run's certificate (idempotent).
    pub(crate) fn put_credential_context(mut self: Box<Self>) -> Step {
        let note = "a TLS credential context already exists; rebinding it with Put".into();
        self.record(self.phase, Some(note), None);
        let id = self.next_id();
        let ctx =
            AmtTlsCredentialContext::for_certificate(self.cert_id.as_deref().unwrap_or_default());
        let prov = self.provisioning_channel();
        self.send(ctx.put(id, SelectorSet::new()), prov, true, T);
        self.finish_step()
    }

    /// Commit poll, stage 2: the provisioned channel did not answer; ask over the setup one.
    pub(crate) fn commit_poll_over_provisioning(mut self: Box<Self>) -> Step {
        let note = "the device does not answer as provisioned; reading its setup state".into();
        self.record(self.phase, Some(note), None);
        let id = self.next_id();
        let req = AmtSetupAndConfigurationService::get(id, SelectorSet::new());
        let ch = self.provisioning_channel();
        self.send_with(req, ch, true, T, Some(2), false);
        self.finish_step()
    }

    /// Re-sends the current phase's call after a poll showed it did not take effect.
    fn again(mut self: Box<Self>, what: &str) -> Step {
        if self.phase_attempts >= MAX_ATTEMPTS {
            let reason = format!(
                "{what} did not take effect after {} attempts",
                self.phase_attempts
            );
            return self.fail(FailureKind::Transport, true, reason);
        }
        self.record(
            self.phase,
            Some(format!("{what} did not take effect; sending it again")),
            None,
        );
        self.enter();
        self.finish_step()
    }

    /// Decides on the answer to a poll.
    pub(crate) fn on_poll_reply(mut self: Box<Self>, stage: u8, reply: Reply) -> Step {
        let all = match reply {
            Reply::Items(v) => v,
            Reply::Instance(Some(i)) if self.phase == Phase::Committing => {
                let state = typed::<AmtSetupAndConfigurationService>(&i)
                    .ok()
                    .and_then(|s| s.provisioning_state);
                return match (stage, state) {
                    (_, Some(ProvisioningState::Post)) => {
                        self.proceed(Some("CommitChanges had taken effect".into()))
                    }
                    _ => self.again("CommitChanges"),
                };
            }
            other => {
                let reason = format!("unexpected answer to a state poll: {other:?}");
                return self.fail(FailureKind::Device, false, reason);
            }
        };
        match self.phase {
            Phase::AddingTrustedRoots { index } => {
                let der = self
                    .profile
                    .trusted_roots
                    .get(index)
                    .cloned()
                    .unwrap_or_default();
                let present = all.iter().any(|i| {
                    typed::<AmtPublicKeyCertificate>(i).is_ok_and(|c| {
                        c.trusted_root_certificate == Some(true)
                            && c.certificate_der().ok().flatten().as_deref() == Some(der.as_slice())
                    })
                });
                if present {
                    self.proceed(Some("the root had been added".into()))
                } else {
                    self.again("AddTrustedRootCertificate")
                }
            }
            Phase::AddingCertificate { index } => {
                let der = if index == 0 {
                    self.issued.as_ref().map(|(d, _)| d.clone())
                } else {
                    self.profile.intermediates.get(index - 1).cloned()
                }
                .unwrap_or_default();
                let found = all.iter().find_map(|i| {
                    let c = typed::<AmtPublicKeyCertificate>(i).ok()?;
                    (c.certificate_der().ok().flatten()? == der).then_some(c.instance_id)
                });
                match found {
                    Some(id) => {
                        if index == 0 {
                            self.cert_id = id;
                        }
                        self.proceed(Some("the certificate had been added".into()))
                    }
                    None => self.again("AddCertificate"),
                }
            }
            Phase::GeneratingKey => {
                let new: Vec<String> = all
                    .iter()
                    .filter_map(|i| i.get_text("InstanceID").map(str::to_owned))
                    .filter(|id| !self.known_keys.contains(id))
                    .collect();
                match new.as_slice() {
                    [] => self.again("GenerateKeyPair"),
                    [one] => {
                        self.key_id = Some(one.clone());
                        self.proceed(Some("the key pair had been generated".into()))
                    }
                    _ => {
                        let reason = format!(
                            "{} new key pairs appeared on the device; cannot tell which is ours",
                            new.len()
                        );
                        self.fail(FailureKind::Device, true, reason)
                    }
                }
            }
            Phase::CreatingCredentialContext => {
                let ours = self.cert_id.clone();
                let present = all.iter().any(|i| {
                    typed::<AmtTlsCredentialContext>(i)
                        .is_ok_and(|c| c.certificate_instance_id() == ours.as_deref())
                });
                if present {
                    self.proceed(Some("the credential context had been created".into()))
                } else {
                    self.again("Create AMT_TLSCredentialContext")
                }
            }
            Phase::AddingCrl => {
                let want = self.crl_serials_b64();
                let present = all
                    .iter()
                    .any(|i| typed::<AmtCrl>(i).is_ok_and(|c| c.serial_numbers == want));
                if present {
                    self.proceed(Some("the CRL had been added".into()))
                } else {
                    self.again("AddCRL")
                }
            }
            _ => {
                let reason = format!("a state poll answered during {}", self.phase);
                self.fail(FailureKind::Device, false, reason)
            }
        }
    }
}

/// `Digest:` followed by 32 hex digits.
fn valid_realm(realm: &str) -> Result<(), String> {
    match realm.strip_prefix("Digest:") {
        Some(h) if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(format!(
            "the device's digest realm {:?} is not Digest: followed by 32 hex digits",
            realm.chars().take(60).collect::<String>()
        )),
    }
}

/// A note when the device's own host and domain name a different FQDN (P2 conflict).
fn settings_conflict(gs: &AmtGeneralSettings, chosen: &Fqdn) -> Option<String> {
    let host = gs.host_name.as_deref().unwrap_or_default().trim();
    let domain = gs.domain_name.as_deref().unwrap_or_default().trim();
    if host.is_empty() || domain.is_empty() {
        return None;
    }
    match Fqdn::from_parts(host, domain) {
        Ok(f) if &f == chosen => None,
        Ok(f) => Some(format!(
            "FQDN conflict: the device's settings say {f}, discovery chose {chosen}"
        )),
        Err(e) => Some(format!(
            "the device's host and domain are not a valid FQDN: {e}"
        )),
    }
}

/// Whether the device signed a request for the key we put in the null-signed one.
fn same_key(sent_null_signed: &[u8], verified: &VerifiedCsr) -> bool {
    use der::Decode;
    x509_cert::request::CertReq::from_der(sent_null_signed)
        .is_ok_and(|r| &r.info.public_key == verified.public_key())
}
