//! Drives amtd-core's provisioning state machine over the network.
//!
//! The machine decides; this runner only performs its actions: WS-Man requests over the setup
//! TLS channel (the provisioning certificate as TLS client certificate, Digest `admin` with an
//! empty password, AMT-PROTOCOLS.md §1.3) or the provisioned channel (the issued certificate
//! pinned, the new admin password, and — for a mutual-TLS profile — the console's client
//! certificate, [`Target::console_identity`], M9), CSR signing, persistence and revocation through
//! [`ProvisioningHooks`], and the final verification over a fresh TLS connection. Transport
//! failures are fed back with whether the request may have reached the device, so the machine
//! can poll instead of re-sending non-idempotent calls (P6).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amt_pki::{ProvisioningCert, RevocationReason, Serial};
use amt_wsman::secret::SecretString;
use amtd_core::provisioning::{Channel, Failure, FailureKind, Outcome, Transition};
use amtd_core::{Action, DeviceId, Fqdn, Input, Provisioning};

use crate::transport::{
    CertFingerprint, CertificateDer, ClientIdentity, DeviceEndpoint, PrivateKeyDer,
    ServerVerification, TlsOptions, TransportConfig, TransportError, WsmanConnection,
};

/// What the runner needs from the rest of the server (store, CA). Called in the machine's
/// order: a [`ProvisioningHooks::persist`] always returns before the next network call.
pub trait ProvisioningHooks {
    /// Stores a transition durably (the store encrypts any secrets it carries).
    fn persist(&mut self, transition: &Transition) -> Result<(), String>;
    /// Signs the device's PKCS#10 with the device TLS profile; returns the certificate (DER)
    /// and its serial.
    fn sign(
        &mut self,
        csr_der: &[u8],
        fqdn: &Fqdn,
        uuid: &DeviceId,
    ) -> Result<(Vec<u8>, Serial), String>;
    /// Revokes a certificate issued for this run.
    fn revoke(&mut self, serial: &Serial, reason: RevocationReason);
    /// The device answered the request of `phase` (called before the machine sees the
    /// answer; the server's crash-safety tests stop the process here).
    fn on_reply(&mut self, phase: amtd_core::Phase) {
        let _ = phase;
    }
}

/// How to reach the device.
#[derive(Debug, Clone)]
pub struct Target {
    /// Device address (IP or name) to connect to.
    pub address: String,
    /// The TLS port (16993).
    pub tls_port: u16,
    /// Timeouts and limits.
    pub transport: TransportConfig,
    /// The console's client certificate, presented on the provisioned channel (after
    /// CommitChanges) when the device asks for one: required by a mutual-TLS profile, whose
    /// device refuses any session without it (M9). Never presented on the setup channel,
    /// where the provisioning certificate is the client certificate.
    pub console_identity: Option<ClientIdentity>,
}

impl Target {
    /// The device at `address` on 16993 with default transport settings and no console
    /// certificate.
    pub fn new(address: impl Into<String>) -> Self {
        Target {
            address: address.into(),
            tls_port: DeviceEndpoint::HTTPS_PORT,
            transport: TransportConfig::default(),
            console_identity: None,
        }
    }

    /// The same target presenting `identity` on the provisioned channel.
    pub fn with_console_identity(mut self, identity: ClientIdentity) -> Self {
        self.console_identity = Some(identity);
        self
    }
}

/// Most machine steps one run may take (a guard against a machine that never converges).
const MAX_STEPS: usize = 10_000;

/// Runs `machine` (fresh from [`Provisioning::begin`], with its first `actions`) to the end.
/// `candidates` are the provisioning certificates given to `begin` (the machine refers to them
/// by index).
pub async fn run_provisioning(
    mut machine: Provisioning,
    mut actions: Vec<Action>,
    candidates: &[ProvisioningCert],
    target: &Target,
    hooks: &mut impl ProvisioningHooks,
) -> Outcome {
    let mut conns: HashMap<ConnKey, WsmanConnection> = HashMap::new();
    let mut outcome = None;
    let mut store_error: Option<(String, amtd_core::Phase)> = None;
    // Words for the latest transport failure, added to a transport failure's reason.
    let mut last_error: Option<String> = None;
    for _ in 0..MAX_STEPS {
        let mut input = None;
        for action in actions {
            match action {
                Action::Persist(t) => {
                    if store_error.is_some() {
                        // Already failing because the store is down; let the machine finish
                        // its failure path (revocations) without further writes.
                        continue;
                    }
                    if let Err(why) = hooks.persist(&t) {
                        // Nothing may happen after a transition that was not stored: no network
                        // call follows; the machine ends the run through its failure path, so a
                        // certificate already issued is still revoked (P7).
                        tracing::error!(%why, "could not persist a provisioning transition");
                        store_error = Some((
                            format!(
                                "could not store the transition {} -> {}: {why}",
                                t.from, t.to
                            ),
                            t.from,
                        ));
                        input = Some(Input::TransportFailed {
                            after_send: false,
                            retryable: false,
                        });
                        break;
                    }
                }
                Action::Send {
                    request,
                    channel,
                    timeout_secs,
                    ..
                } => {
                    let key = ConnKey::of(&channel);
                    let conn = match conns.get(&key) {
                        Some(c) => Ok(c),
                        None => match connect(&channel, candidates, target) {
                            Ok(c) => Ok(&*conns.entry(key.clone()).or_insert(c)),
                            Err(e) => Err(e),
                        },
                    };
                    input = Some(match conn {
                        Ok(conn) => {
                            let (input, words) = exchange(conn, &request, timeout_secs).await;
                            last_error = words;
                            input
                        }
                        Err(e) => {
                            last_error = Some(error_words(&e));
                            transport_input(&e)
                        }
                    });
                    if matches!(input, Some(Input::Response(_))) {
                        hooks.on_reply(machine.phase());
                    }
                    if matches!(input, Some(Input::TransportFailed { .. } | Input::Timeout)) {
                        // A broken session is not reused.
                        if let Some(c) = conns.remove(&key) {
                            c.close().await;
                        }
                    }
                }
                Action::Verify {
                    request,
                    username,
                    password,
                    server_cert_der,
                    timeout_secs,
                    ..
                } => {
                    let channel = Channel::ProvisionedTls {
                        username,
                        password,
                        server_cert_der,
                    };
                    // A fresh connection: the point is to prove a new session works.
                    input = Some(match connect(&channel, candidates, target) {
                        Ok(conn) => match exchange(&conn, &request, timeout_secs).await {
                            (Input::Response(r), _) => {
                                hooks.on_reply(machine.phase());
                                Input::Response(r)
                            }
                            (other, words) => Input::VerifyFailed {
                                reason: words.unwrap_or_else(|| format!("{other:?}")),
                            },
                        },
                        Err(e) => Input::VerifyFailed {
                            reason: error_words(&e),
                        },
                    });
                }
                Action::SignCsr {
                    csr_der,
                    fqdn,
                    uuid,
                } => {
                    input = Some(match hooks.sign(&csr_der, &fqdn, &uuid) {
                        Ok((cert_der, serial)) => Input::Signed { cert_der, serial },
                        Err(reason) => Input::SignFailed { reason },
                    });
                }
                Action::RevokeCertificate { serial, reason } => hooks.revoke(&serial, reason),
                Action::Finish(o) => {
                    outcome = Some(match *o {
                        // The machine knows what failed; the transport knows why.
                        Outcome::Failed(mut f)
                            if f.kind == FailureKind::Transport && last_error.is_some() =>
                        {
                            if let Some(words) = last_error.take() {
                                f.reason = format!("{} (last error: {words})", f.reason);
                            }
                            Outcome::Failed(f)
                        }
                        other => other,
                    })
                }
            }
        }
        if machine.is_finished() {
            break;
        }
        let Some(input) = input else {
            break;
        };
        let (m, a) = machine.step(Input::Now(unix_now()));
        machine = m;
        if machine.is_finished() {
            actions = a;
            continue;
        }
        let (m, a) = machine.step(input);
        machine = m;
        actions = a;
    }
    for (_, c) in conns {
        c.close().await;
    }
    if let Some((reason, step)) = store_error {
        // The run failed because of our store, not the device or the network: say so.
        return Outcome::Failed(Failure {
            reason,
            step,
            retryable: true,
            kind: FailureKind::Store,
        });
    }
    outcome.unwrap_or_else(|| {
        Outcome::Failed(Failure {
            reason: format!(
                "provisioning stopped in {} without an outcome (the run did not converge)",
                machine.phase()
            ),
            step: machine.phase(),
            retryable: true,
            kind: FailureKind::Transport,
        })
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ConnKey {
    Setup(usize),
    Provisioned { user: String, cert: [u8; 32] },
}

impl ConnKey {
    fn of(c: &Channel) -> Self {
        match c {
            Channel::ProvisioningTls { cert } => ConnKey::Setup(*cert),
            Channel::ProvisionedTls {
                username,
                server_cert_der,
                ..
            } => ConnKey::Provisioned {
                user: username.clone(),
                cert: *CertFingerprint::of_der(server_cert_der).as_bytes(),
            },
        }
    }
}

fn connect(
    channel: &Channel,
    candidates: &[ProvisioningCert],
    target: &Target,
) -> Result<WsmanConnection, TransportError> {
    let (tls, user, password) = match channel {
        Channel::ProvisioningTls { cert } => {
            let identity = candidates.get(*cert).and_then(client_identity);
            let mut tls = TlsOptions::new(ServerVerification::InsecureAcceptAny);
            if let Some(id) = identity {
                tls = tls.with_client_identity(id);
            }
            // Setup mode: the device's certificate is self-signed and the provisioning
            // certificate is the credential; Digest admin with an empty password.
            (tls, "admin".to_owned(), SecretString::new(String::new()))
        }
        Channel::ProvisionedTls {
            username,
            password,
            server_cert_der,
        } => {
            let mut tls = TlsOptions::new(ServerVerification::PinnedSha256(
                CertFingerprint::of_der(server_cert_der),
            ));
            if let Some(id) = &target.console_identity {
                // Offered only when the device sends a CertificateRequest (mutual TLS).
                tls = tls.with_client_identity(id.clone());
            }
            (tls, username.clone(), password.clone())
        }
    };
    let endpoint = DeviceEndpoint::https(target.address.clone(), tls).with_port(target.tls_port);
    WsmanConnection::new(endpoint, user, password, target.transport)
}

fn client_identity(cert: &ProvisioningCert) -> Option<ClientIdentity> {
    let chain = cert
        .chain()
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    let key = cert.key().to_pkcs8_der().ok()?;
    Some(ClientIdentity::new(
        chain,
        PrivateKeyDer::Pkcs8(key.to_vec().into()),
    ))
}

/// Sends one request; returns the machine's input and, for a failure, what went wrong in
/// words (the machine's inputs carry no text; the runner adds it to the failure reason).
async fn exchange(
    conn: &WsmanConnection,
    request: &amt_wsman::Request,
    timeout_secs: u64,
) -> (Input, Option<String>) {
    let xml = request.to_xml();
    match conn
        .post_with_timeout(xml.as_bytes(), Duration::from_secs(timeout_secs.max(1)))
        .await
    {
        Ok(resp) => match amt_wsman::Response::parse(&resp.body) {
            Ok(r) => (Input::Response(Box::new(r)), None),
            Err(e) => {
                tracing::warn!(status = resp.status, error = %e, "device sent an unreadable response");
                // The device got the request; what it did is unknown: the machine polls.
                let input = Input::TransportFailed {
                    after_send: true,
                    retryable: true,
                };
                let words = format!(
                    "the device's answer (HTTP {}) is not a readable WS-Management response: {e}",
                    resp.status
                );
                (input, Some(words))
            }
        },
        Err(e) => (transport_input(&e), Some(error_words(&e))),
    }
}

/// A transport error and its causes, in words.
fn error_words(e: &TransportError) -> String {
    let mut words = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !words.contains(&more) {
            words.push_str(": ");
            words.push_str(&more);
        }
        source = s.source();
    }
    words
}

fn transport_input(e: &TransportError) -> Input {
    if matches!(e, TransportError::Timeout { .. }) {
        return Input::Timeout;
    }
    let after_send = e.request_may_have_been_processed();
    Input::TransportFailed {
        after_send,
        // The transport's `is_retryable` means "safe to send the same bytes again blindly",
        // which a request that may have reached the device never is. The machine asks whether
        // trying again can help at all, and after such a failure it decides itself (resend an
        // idempotent call, poll the device after a non-idempotent one); only failures no retry
        // mends (TLS, authentication, configuration) end the run at once.
        retryable: e.is_retryable() || after_send,
    }
}

/// Reads the device's own host and domain (`AMT_GeneralSettings`) before any run, for the
/// `device-settings` FQDN strategy (P2): over setup-mode TLS, presenting each provisioning
/// certificate whose root is among the hello's `trusted` hashes in turn (the device admits only
/// one whose suffix fits its domain). Nothing is changed on the device. Returns
/// `(host, domain)`, or why they could not be read.
pub async fn read_device_settings(
    candidates: &[ProvisioningCert],
    trusted: &[amt_pki::CertHash],
    target: &Target,
) -> Result<(String, String), String> {
    use amt_wsman::classes::amt::AmtGeneralSettings;
    use amt_wsman::classes::Typed as _;

    let mut reasons = Vec::new();
    for (index, cert) in candidates.iter().enumerate() {
        if cert.fits_hashes(trusted).is_err() {
            continue;
        }
        let channel = Channel::ProvisioningTls { cert: index };
        let conn = match connect(&channel, candidates, target) {
            Ok(c) => c,
            Err(e) => {
                reasons.push(e.to_string());
                continue;
            }
        };
        let client = crate::client::WsmanClient::new(conn);
        let got = client
            .get::<AmtGeneralSettings>(amt_wsman::SelectorSet::new())
            .await;
        client.connection().close().await;
        match got {
            Ok(gs) => {
                let host = gs.host_name.unwrap_or_default().trim().to_owned();
                let domain = gs.domain_name.unwrap_or_default().trim().to_owned();
                return Ok((host, domain));
            }
            Err(e) => reasons.push(format!(
                "{} with {}: {e}",
                AmtGeneralSettings::CLASS,
                cert.leaf().subject()
            )),
        }
    }
    Err(if reasons.is_empty() {
        "no provisioning certificate's root is trusted by the device".into()
    } else {
        format!(
            "could not read the device's settings: {}",
            reasons.join("; ")
        )
    })
}
