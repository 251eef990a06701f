//! One running device: its firmware and digest verifier behind a lock, its TLS
//! configurations, its listeners and hello sender, and what it does with [`FirmwareEvent`]s.
//!
//! The lock is a plain `std::sync::Mutex` held only while a request is authenticated and
//! handled (microseconds, never across an `.await`), so thousands of devices cost little.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use amt_pki::{CertHash, Serial};
use amt_wsman::digest::{DigestRejection, DigestVerifier};
use amt_wsman::{Fault, Operation, Request, Response, ResponseBody};
use rustls::ServerConfig;
use tokio::task::AbortHandle;

use super::admission::{ConsolePolicy, DeviceClientVerifier, ProvisioningPolicy, VerifierRules};
use super::faults::{corrupt_xml, FaultSet};
use super::http::{HttpResponse, RequestHead};
use super::tls::{self, Identity, TlsError};
use super::{random_fill, unix_now, FleetContext};
use crate::firmware::{Caller, Channel, Env, Firmware, FirmwareEvent};
use crate::persona::{Persona, FACTORY_ROOT_HASHES_SHA256};
use crate::state::Phase;

/// `Content-Type` of WS-Management responses, as AMT sends it.
pub const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// Where a device's hello sender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HelloState {
    /// Not sending (provisioned, or hellos switched off).
    Idle = 0,
    /// Between attempts, or sending.
    Sending = 1,
    /// A hello reached the provisioning server.
    Delivered = 2,
    /// Every attempt failed; the device gave up.
    GaveUp = 3,
}

impl HelloState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => HelloState::Sending,
            2 => HelloState::Delivered,
            3 => HelloState::GaveUp,
            _ => HelloState::Idle,
        }
    }
}

/// Counters of one device.
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// WS-Man requests answered (after authentication).
    pub requests: AtomicU64,
    /// Requests refused by digest authentication (401 after credentials were sent).
    pub auth_failures: AtomicU64,
    /// Connections open now.
    pub open_connections: AtomicU32,
    /// Connections refused because the device had too many open.
    pub refused_connections: AtomicU64,
    /// Hellos handed to the network (connected and written).
    pub hellos_sent: AtomicU32,
    /// Hello attempts made (sent, lost or failed).
    pub hello_attempts: AtomicU32,
    /// [`HelloState`] as a number.
    pub hello_state: AtomicU8,
    /// Failed state-file writes.
    pub persist_errors: AtomicU32,
}

struct Core {
    fw: Firmware,
    verifier: DigestVerifier,
}

#[derive(Default)]
struct TlsSlots {
    setup_identity: Option<Identity>,
    setup: Option<(Arc<ServerConfig>, Arc<DeviceClientVerifier>)>,
    provisioned: Option<(Arc<ServerConfig>, Option<Arc<DeviceClientVerifier>>)>,
}

#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) plain: Option<AbortHandle>,
    pub(crate) tls: Option<AbortHandle>,
    pub(crate) hello: Option<AbortHandle>,
    pub(crate) redirection: Option<AbortHandle>,
    pub(crate) redirection_tls: Option<AbortHandle>,
}

/// The outcome of one WS-Man exchange.
#[derive(Debug)]
pub struct Exchange {
    /// What to answer.
    pub response: HttpResponse,
    /// Close the session without answering (apply-then-drop).
    pub drop_without_reply: bool,
}

/// A running emulated device.
pub struct Device {
    /// Position in the fleet.
    pub index: usize,
    /// Listen address.
    pub ip: Ipv4Addr,
    /// SMBIOS UUID (text form).
    pub uuid: String,
    /// Firmware generation.
    pub persona: &'static Persona,
    /// Injected faults.
    pub faults: FaultSet,
    /// Counters.
    pub stats: DeviceStats,
    /// The redirection side: serial console and SOL session claim.
    pub redirection: super::redirection::DeviceRedirection,
    /// DNS server from the device's DHCP lease (`None`: the fleet's `--resolver`).
    pub resolver: Option<std::net::SocketAddr>,
    /// The host power state (CIM number), published on every change: the DHCP layer follows
    /// it (the host OS runs only while the host is on).
    pub power: tokio::sync::watch::Sender<u16>,
    core: Mutex<Core>,
    tls: Mutex<TlsSlots>,
    pub(crate) tasks: Mutex<Tasks>,
    pub(crate) ctx: Arc<FleetContext>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("index", &self.index)
            .field("ip", &self.ip)
            .field("uuid", &self.uuid)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Device {
    pub(crate) fn new(
        index: usize,
        ip: Ipv4Addr,
        fw: Firmware,
        faults: FaultSet,
        ctx: Arc<FleetContext>,
    ) -> Self {
        let verifier = DigestVerifier::new(fw.state.digest_realm.clone(), ctx.options.digest);
        Device {
            index,
            ip,
            uuid: fw.state.config.uuid.clone(),
            persona: fw.persona,
            faults,
            stats: DeviceStats::default(),
            redirection: Default::default(),
            resolver: None,
            power: tokio::sync::watch::Sender::new(fw.state.power_state),
            core: Mutex::new(Core { fw, verifier }),
            tls: Mutex::new(TlsSlots::default()),
            tasks: Mutex::new(Tasks::default()),
            ctx,
        }
    }

    /// Runs `f` on the firmware (tests and tools: inspect or change the state directly).
    /// Call [`Device::apply_events`] afterwards when `f` changed something the network front
    /// must act on.
    pub fn with_firmware<R>(&self, f: impl FnOnce(&mut Firmware) -> R) -> R {
        f(&mut lock(&self.core).fw)
    }

    /// The digest realm.
    pub fn realm(&self) -> String {
        lock(&self.core).fw.state.digest_realm.clone()
    }

    /// The life-cycle phase.
    pub fn phase(&self) -> Phase {
        lock(&self.core).fw.state.phase
    }

    /// The hello sender's state.
    pub fn hello_state(&self) -> HelloState {
        HelloState::from_u8(self.stats.hello_state.load(Ordering::Relaxed))
    }

    pub(crate) fn set_hello_state(&self, s: HelloState) {
        self.stats.hello_state.store(s as u8, Ordering::Relaxed);
    }

    /// Whether plain HTTP (16992) is served now: in setup mode, and when provisioned unless
    /// TLS is on without `AcceptNonSecureConnections`.
    pub fn plain_open(&self) -> bool {
        let core = lock(&self.core);
        match core.fw.state.phase {
            Phase::Setup => true,
            Phase::Provisioned => core.fw.tls_policy().accept_non_secure,
        }
    }

    /// Whether TLS (16993) is served now: in setup mode (self-signed), and when provisioned
    /// with TLS enabled and a certificate bound.
    pub fn tls_open(&self) -> bool {
        let core = lock(&self.core);
        let s = &core.fw.state;
        match s.phase {
            Phase::Setup => true,
            Phase::Provisioned => s.tls_remote.enabled && s.tls_cert_handle.is_some(),
        }
    }

    /// The socket address of a port of this device.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    /// Writes the current state to the state directory (if the fleet has one).
    pub fn persist(&self) {
        let Some(store) = &self.ctx.store else {
            return;
        };
        let json = lock(&self.core).fw.state.to_json();
        self.persist_bytes(store, &json);
    }

    fn persist_bytes(&self, store: &super::store::StateStore, json: &[u8]) {
        if let Err(e) = store.save_bytes(&self.uuid, json) {
            self.stats.persist_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(device.uuid = %self.uuid, error = %e, "could not persist device state");
        }
    }

    /// Authenticates and answers one `POST /wsman`, then acts on the firmware's events.
    pub fn exchange(
        self: &Arc<Self>,
        head: &RequestHead,
        body: &[u8],
        channel: &Channel,
    ) -> Exchange {
        let now = unix_now();
        let mut core = lock(&self.core);
        let Core { fw, verifier } = &mut *core;
        let Some(authz) = head.authorization.as_deref() else {
            return self.challenge(verifier, now, false);
        };
        let provisioning = matches!(channel, Channel::TlsProvisioning { .. }) && fw.in_setup();
        let empty_admin = amt_wsman::digest::ha1("admin", verifier.realm(), "");
        let result = verifier.verify(authz, "POST", now, |u| {
            fw.ha1_for(u)
                .or_else(|| (provisioning && u == "admin").then_some(empty_admin))
        });
        // On an admitted provisioning session the console keeps authenticating as admin with
        // an empty password even after it set the admin password (MeshCentral does).
        let result = match result {
            Err(DigestRejection::WrongResponse) if provisioning => {
                verifier.verify(authz, "POST", now, |u| {
                    (u == "admin").then_some(empty_admin)
                })
            }
            other => other,
        };
        let user = match result {
            Ok(u) => u,
            Err(rejection) => {
                self.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%rejection, "digest authentication refused");
                return self.challenge(verifier, now, rejection.is_stale_nonce());
            }
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let (response, apply_method) = match Request::parse(body) {
            Ok(req) => {
                let caller = Caller {
                    user,
                    channel: channel.clone(),
                };
                let mut rnd = |b: &mut [u8]| random_fill(b);
                let mut env = Env {
                    now,
                    random: &mut rnd,
                };
                let apply = matches!(&req.op, Operation::Invoke { method, .. }
                    if method == "AdminSetup" || method == "CommitChanges");
                (fw.handle(&req, &caller, &mut env), apply)
            }
            Err(e) => {
                tracing::debug!(error = %e, "unparsable WS-Man request");
                let r = Response::for_body("", "", ResponseBody::Fault(Fault::from(&e)), 0);
                (r, false)
            }
        };
        let events = fw.take_events();
        let json = events
            .contains(&FirmwareEvent::StateChanged)
            .then(|| fw.state.to_json());
        drop(core);

        if let (Some(store), Some(json)) = (&self.ctx.store, json) {
            self.persist_bytes(store, &json);
        }
        let drop_session = self.apply_events(&events);
        let status = response.http_status();
        let mut xml = response.to_xml().into_bytes();
        if self.faults.malformed_xml {
            xml = corrupt_xml(&xml);
        }
        let mut http = HttpResponse::empty(status);
        http.content_type = Some(SOAP_CONTENT_TYPE);
        http.body = xml;
        http.close = drop_session || self.faults.connection_close || !head.keep_alive;
        Exchange {
            response: http,
            drop_without_reply: apply_method && self.faults.drop_after_apply,
        }
    }

    fn challenge(&self, verifier: &mut DigestVerifier, now: u64, stale: bool) -> Exchange {
        let mut nonce = [0u8; 16];
        random_fill(&mut nonce);
        let value = verifier.challenge(now, nonce, stale);
        let mut http = HttpResponse::empty(401);
        http.headers.push(("WWW-Authenticate", value));
        http.close = self.faults.connection_close;
        Exchange {
            response: http,
            drop_without_reply: false,
        }
    }

    /// Acts on firmware events: persists nothing (the caller does), reconfigures listeners
    /// and TLS after `Committed`/`Unprovisioned`, starts or stops the hello sender. Returns
    /// true when the session must be closed after the response.
    pub fn apply_events(self: &Arc<Self>, events: &[FirmwareEvent]) -> bool {
        let mut drop_session = false;
        let mut reconfigure = false;
        for e in events {
            match e {
                FirmwareEvent::StateChanged => {
                    lock(&self.tls).provisioned = None;
                }
                FirmwareEvent::Committed => {
                    tracing::info!(device.uuid = %self.uuid, "CommitChanges: restarting listeners in the provisioned configuration");
                    reconfigure = true;
                }
                FirmwareEvent::Unprovisioned => {
                    tracing::info!(device.uuid = %self.uuid, "unprovisioned: back to setup mode");
                    reconfigure = true;
                }
                FirmwareEvent::DropSession => drop_session = true,
                FirmwareEvent::PowerChanged(s) => {
                    tracing::info!(device.uuid = %self.uuid, power_state = s, "host power state changed");
                    super::redirection::power_changed(self, *s);
                    self.power.send_replace(*s);
                }
            }
        }
        if reconfigure {
            {
                let mut slots = lock(&self.tls);
                slots.provisioned = None;
                slots.setup = None;
            }
            if let Err(e) = self.reconcile() {
                tracing::error!(device.uuid = %self.uuid, error = %e, "could not reconfigure listeners");
            }
        } else if events.contains(&FirmwareEvent::StateChanged) {
            // AMT_RedirectionService changes open or close 16994/16995.
            let mut tasks = lock(&self.tasks);
            let Tasks {
                redirection,
                redirection_tls,
                ..
            } = &mut *tasks;
            if let Err(e) = super::redirection::reconcile(self, redirection, redirection_tls) {
                tracing::error!(device.uuid = %self.uuid, error = %e, "could not reconfigure the redirection listener");
            }
        }
        drop_session
    }

    /// Opens or closes the listeners and starts or stops the hello sender to match the
    /// current state. Must run inside the tokio runtime.
    ///
    /// # Errors
    /// The bind error when a listener could not be opened.
    pub fn reconcile(self: &Arc<Self>) -> std::io::Result<()> {
        let (want_plain, want_tls) = (self.plain_open(), self.tls_open());
        let in_setup = self.phase() == Phase::Setup;
        let mut tasks = lock(&self.tasks);
        super::session::reconcile_listener(self, &mut tasks.plain, want_plain, false)?;
        super::session::reconcile_listener(self, &mut tasks.tls, want_tls, true)?;
        let Tasks {
            redirection,
            redirection_tls,
            ..
        } = &mut *tasks;
        super::redirection::reconcile(self, redirection, redirection_tls)?;
        let hello_running = tasks.hello.as_ref().is_some_and(|h| !h.is_finished());
        if in_setup && self.ctx.options.hello.enabled && !hello_running {
            self.set_hello_state(HelloState::Sending);
            let dev = Arc::clone(self);
            tasks.hello = Some(tokio::spawn(super::hello::run(dev)).abort_handle());
        } else if !in_setup {
            if let Some(h) = tasks.hello.take() {
                h.abort();
            }
            self.set_hello_state(HelloState::Idle);
        }
        Ok(())
    }

    /// Stops the listeners and the hello sender.
    pub fn stop(&self) {
        let mut tasks = lock(&self.tasks);
        for h in [
            tasks.plain.take(),
            tasks.tls.take(),
            tasks.hello.take(),
            tasks.redirection.take(),
            tasks.redirection_tls.take(),
        ]
        .into_iter()
        .flatten()
        {
            h.abort();
        }
    }

    /// The trusted root hashes the device sends in its hello and admits provisioning
    /// certificates with: the persona's factory list, then the configured extra hashes.
    pub fn trusted_root_hashes(&self) -> Vec<CertHash> {
        let core = lock(&self.core);
        FACTORY_ROOT_HASHES_SHA256
            .iter()
            .map(|h| h.to_string())
            .chain(core.fw.state.config.extra_root_hashes.iter().cloned())
            .filter_map(|h| CertHash::from_hex(&h).ok())
            .collect()
    }

    /// A copy of the pre-configuration.
    pub fn config(&self) -> crate::state::DeviceConfig {
        lock(&self.core).fw.state.config.clone()
    }

    /// The TLS configuration to serve a new connection with, and the verifier it uses.
    /// Makes the setup-mode identity on first use (slow; off the executor).
    ///
    /// # Errors
    /// [`TlsError`].
    pub async fn tls_config(
        self: &Arc<Self>,
    ) -> Result<(Arc<ServerConfig>, Option<Arc<DeviceClientVerifier>>), TlsError> {
        if self.phase() == Phase::Setup {
            if let Some((c, v)) = lock(&self.tls).setup.clone() {
                return Ok((c, Some(v)));
            }
            let identity = self.setup_identity().await?;
            let policy = ProvisioningPolicy {
                trusted: self.trusted_root_hashes(),
                domain: self.config().domain,
            };
            let verifier = Arc::new(self.verifier(VerifierRules::Provisioning(policy)));
            let config = tls::server_config(&identity, Some(verifier.clone()), self.persona)?;
            lock(&self.tls).setup = Some((config.clone(), verifier.clone()));
            return Ok((config, Some(verifier)));
        }
        if let Some(p) = lock(&self.tls).provisioned.clone() {
            return Ok(p);
        }
        let (installed, console) = {
            let core = lock(&self.core);
            let fw = &core.fw;
            let policy = fw.tls_policy();
            let console = policy.mutual_authentication.then(|| ConsolePolicy {
                roots: fw.trusted_root_certs(),
                revoked: fw
                    .revoked_serials()
                    .iter()
                    .map(|b| Serial::from_bytes(b))
                    .collect(),
                trusted_cn: policy.trusted_cn.clone(),
            });
            let installed = fw
                .tls_identity()
                .map(|(chain, key_pkcs8)| Identity { chain, key_pkcs8 })
                .ok_or(TlsError::NoCertificate);
            (installed, console)
        };
        let identity = if self.faults.cert_swap {
            self.setup_identity().await?
        } else {
            installed?
        };
        let verifier = console.map(|p| Arc::new(self.verifier(VerifierRules::Console(p))));
        let dyn_verifier = verifier
            .clone()
            .map(|v| v as Arc<dyn rustls::server::danger::ClientCertVerifier>);
        let config = tls::server_config(&identity, dyn_verifier, self.persona)?;
        lock(&self.tls).provisioned = Some((config.clone(), verifier.clone()));
        Ok((config, verifier))
    }

    fn verifier(&self, rules: VerifierRules) -> DeviceClientVerifier {
        DeviceClientVerifier::new(
            rules,
            tls::provider(),
            self.ctx.admission.clone(),
            format!("{} ({})", self.uuid, self.ip),
        )
    }

    /// The setup-mode identity: from memory, the state directory, or freshly made.
    ///
    /// # Errors
    /// [`TlsError`].
    pub async fn setup_identity(&self) -> Result<Identity, TlsError> {
        if let Some(i) = lock(&self.tls).setup_identity.clone() {
            return Ok(i);
        }
        // One identity made at a time across the fleet (so a device never makes two, and
        // inline key generation does not stampede); re-check after waiting.
        let _permit = self.ctx.keygen.lock().await;
        if let Some(i) = lock(&self.tls).setup_identity.clone() {
            return Ok(i);
        }
        let stored = match &self.ctx.store {
            Some(store) => store
                .load_identity(&self.uuid)
                .map_err(|e| TlsError::Unreadable(e.to_string()))?,
            None => None,
        };
        let identity = match stored {
            Some((cert, key)) => Identity {
                chain: vec![cert],
                key_pkcs8: key,
            },
            None => {
                let config = self.config();
                // A ready-made key from the fleet's pool (used for this identity only), else
                // an inline one; either way the certificate is signed here.
                let pooled = self.ctx.key_pool.as_ref().and_then(|p| p.take());
                tracing::info!(device.uuid = %self.uuid, pooled_key = pooled.is_some(), "making the setup-mode RSA-2048 TLS certificate");
                let identity = tokio::task::spawn_blocking(move || {
                    tls::generate_setup_identity_with_key(&config, pooled)
                })
                .await
                .map_err(|e| TlsError::Generate(e.to_string()))??;
                if let (Some(store), Some(cert)) = (&self.ctx.store, identity.chain.first()) {
                    if let Err(e) = store.save_identity(&self.uuid, cert, &identity.key_pkcs8) {
                        tracing::error!(device.uuid = %self.uuid, error = %e, "could not store the setup TLS identity");
                    }
                }
                identity
            }
        };
        lock(&self.tls).setup_identity = Some(identity.clone());
        Ok(identity)
    }
}

/// The SHA-256 factory hashes as typed values (for callers building hellos or policies).
pub fn factory_hashes() -> Vec<CertHash> {
    FACTORY_ROOT_HASHES_SHA256
        .iter()
        .filter_map(|h| CertHash::from_hex(h).ok())
        .collect()
}
