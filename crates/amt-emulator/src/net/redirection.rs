//! The redirection port (16994 plain, 16995 TLS): session start, authentication,
//! Serial-over-LAN to the emulated host's [`SerialConsole`] (AMT-PROTOCOLS.md §4.1–4.2) and
//! IDE-R with the emulated BIOS booting from the console's CD (§4.3, see [`ider`]), on the
//! [`amt_wire::redirection`] codec.
//!
//! Decisions, with the reason:
//! * The listener is open while the device is provisioned, `AMT_RedirectionService`
//!   `ListenerEnabled` is true and SOL or IDE-R is enabled (`EnabledState` 32769–32771): with
//!   nothing to redirect the port has nothing to serve, and idle fleets keep two sockets per
//!   device. 16995 uses the device's provisioned TLS identity (the same configuration as 16993,
//!   mutual TLS included) and is open whenever 16993 is; 16994 is open whenever 16992 is (so a
//!   TLS-only device, `AcceptNonSecureConnections` false, redirects over TLS only).
//! * `SOL ` sessions are refused at StartRedirectionSession with status 3 (unsupported) when SOL
//!   is disabled, and with 2 (busy) while another SOL session is open (one per device).
//!   `IDER` sessions likewise with IDE-R (one per device, see [`ider`]). `KVMR` gets 3;
//!   unknown types 1. A session redirects what it started as: StartSOLRedirection on an
//!   `IDER` session (or 0x40 on a `SOL ` one) closes it.
//! * Authentication methods offered: 1 (user/password in clear), 3 and 4 (digest). Type 1 is
//!   offered because the Debian `amtterm` 1.4 speaks nothing else (it sends type 1 without a
//!   query); amtterm ≥ 1.5 and MeshCentral query and pick 4. Digest uses the device's realm,
//!   a random 32-hex-digit nonce per session (amtterm accepts at most 32 characters), uri
//!   `/RedirectionService` and method `POST`, checked with `amt_wsman::digest`. Users: admin,
//!   and ACL users holding the Redirection realm (2) or PT Administration. Three failures
//!   close the session.
//! * After the 0x21 reply the first console data waits [`FIRST_DATA_DELAY`]: amtterm treats
//!   everything in the read that holds 0x21 (and 0x14) as part of it and would drop data
//!   arriving in the same segment.
//! * Any undecodable message, a message out of order, or one only a device sends closes the
//!   session. Memory per session is bounded by the decoder's limit and the console history.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use amt_wire::redirection::{
    AuthMethods, AuthReplyData, AuthRequest, AuthStatus, AuthType, AuthenticateSessionReply,
    DigestFields, IderMessage, Message, RedirectionDecoder, SessionStatus, SessionType, SolData,
    SolSettings, StartSessionReply, StartSolReply, DIGEST_METHOD, DIGEST_URI,
};
use amt_wsman::digest::DigestVerifier;
use amt_wsman::secret::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;
use tracing::Instrument;

use super::device::Device;
use super::{random_fill, unix_now, REDIRECTION_PORT, REDIRECTION_TLS_PORT};
use crate::firmware::manage::{audit_events, AuditEvent};
use crate::firmware::{Caller, Channel, Env};
use crate::ider::BootOutcome;
use crate::serial::SerialConsole;
use crate::state::Phase;

/// Pause between the StartSOLRedirection reply and the first console data (see the module
/// docs).
pub const FIRST_DATA_DELAY: Duration = Duration::from_millis(300);
/// How long a session may wait for the console's next message before SOL is running.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often console output is forwarded.
const PUMP_INTERVAL: Duration = Duration::from_millis(50);
/// Console silence after which a running IDE-R session is closed.
const IDER_IDLE_LIMIT: Duration = Duration::from_secs(600);
/// Authentication failures before the session is closed.
const MAX_AUTH_FAILURES: u32 = 3;
/// The Redirection realm of `AMT_AuthorizationService`.
const REDIRECTION_REALM: u32 = 2;
/// Host power state "on" (CIM 2).
const POWER_ON: u16 = 2;

mod ider;

pub use ider::{HostEvent, BOOT_WAIT, BUFFER_SIZE};

/// A device's redirection side: its serial console (made on first use), the SOL and IDE-R
/// claims, and the IDE-R boot state.
#[derive(Debug, Default)]
pub struct DeviceRedirection {
    console: Mutex<Option<SerialConsole>>,
    sol_open: AtomicBool,
    ider_open: AtomicBool,
    /// Host events for the IDE-R session whose drives are enabled.
    ider_events: Mutex<Option<tokio::sync::mpsc::UnboundedSender<HostEvent>>>,
    /// A host waiting (generation number) for an IDE-R session to boot from.
    pending_boot: Mutex<Option<u64>>,
    last_ider_boot: Mutex<Option<BootOutcome>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DeviceRedirection {
    /// Runs `f` on the device's serial console, making it (booted when the host is on) first.
    pub fn with_console<R>(dev: &Device, f: impl FnOnce(&mut SerialConsole) -> R) -> R {
        let mut slot = lock(&dev.redirection.console);
        let console = slot.get_or_insert_with(|| {
            let (host, on) = dev.with_firmware(|fw| {
                (
                    fw.state.config.hostname.clone(),
                    fw.state.power_state == POWER_ON,
                )
            });
            let p = &dev.persona.platform;
            let mut c = SerialConsole::new(&host, p.bios_vendor, p.bios_version);
            if on {
                c.power_on();
            }
            c
        });
        f(console)
    }

    /// Whether a SOL session is open on the device now.
    pub fn sol_open(&self) -> bool {
        self.sol_open.load(Ordering::Relaxed)
    }

    /// Whether an IDE-R session holds the device's drives now.
    pub fn ider_open(&self) -> bool {
        self.ider_open.load(Ordering::Relaxed)
    }

    /// Whether an IDE-R session has the drives enabled (host resets reach it).
    pub fn ider_enabled(&self) -> bool {
        lock(&self.ider_events).is_some()
    }

    /// What the BIOS made of the last IDE-R boot (also in the event log).
    pub fn last_ider_boot(&self) -> Option<BootOutcome> {
        lock(&self.last_ider_boot).clone()
    }
}

/// Tells the console the host power state changed (CIM value): 2 boots it, anything else
/// stops it. A console nobody attached to yet is left to be made on first use.
pub(crate) fn power_changed(dev: &Arc<Device>, state: u16) {
    if let Some(c) = lock(&dev.redirection.console).as_mut() {
        if state == POWER_ON {
            c.power_on();
        } else {
            c.power_off();
        }
    }
    if state == POWER_ON {
        ider::host_booted(dev);
    }
}

/// Whether the redirection listeners should be open (see the module docs).
pub fn listener_wanted(dev: &Device) -> bool {
    dev.with_firmware(|fw| {
        fw.state.phase == Phase::Provisioned
            && fw.redirection_listener_enabled()
            && (fw.sol_enabled() || fw.ider_enabled())
    })
}

/// Opens or closes 16994 and 16995 to match the state.
pub(crate) fn reconcile(
    dev: &Arc<Device>,
    plain: &mut Option<AbortHandle>,
    tls: &mut Option<AbortHandle>,
) -> std::io::Result<()> {
    let want = listener_wanted(dev);
    let want_tls = want && dev.tls_open();
    let want_plain = want && dev.plain_open();
    reconcile_one(dev, plain, want_plain, false)?;
    reconcile_one(dev, tls, want_tls, true)
}

fn reconcile_one(
    dev: &Arc<Device>,
    slot: &mut Option<AbortHandle>,
    want: bool,
    tls: bool,
) -> std::io::Result<()> {
    let running = slot.as_ref().is_some_and(|h| !h.is_finished());
    if want && !running {
        let port = if tls {
            REDIRECTION_TLS_PORT
        } else {
            REDIRECTION_PORT
        };
        let listener = super::session::bind(dev.addr(port), dev.ctx.options.listen_backlog)?;
        *slot = Some(tokio::spawn(accept_loop(Arc::clone(dev), listener, tls)).abort_handle());
    } else if !want {
        if let Some(h) = slot.take() {
            h.abort();
        }
    }
    Ok(())
}

/// Decrements the open-connection count when a session ends.
struct Open(Arc<Device>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0
            .stats
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(dev: Arc<Device>, listener: TcpListener, tls: bool) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(device.uuid = %dev.uuid, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let open = dev.stats.open_connections.fetch_add(1, Ordering::Relaxed);
        let guard = Open(Arc::clone(&dev));
        if open >= dev.ctx.options.max_connections_per_device {
            dev.stats
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let span = tracing::info_span!("redirection", device.uuid = %dev.uuid, device.ip = %dev.ip, %peer, tls);
        let dev = Arc::clone(&dev);
        tokio::spawn(
            async move {
                let _guard = guard;
                if tls {
                    let config = match dev.tls_config().await {
                        Ok((c, _)) => c,
                        Err(e) => {
                            tracing::error!(error = %e, "no TLS configuration; closing");
                            return;
                        }
                    };
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let timeout = dev.ctx.options.handshake_timeout;
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve(dev, s, peer, Channel::Tls).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                } else {
                    serve(dev, stream, peer, Channel::Plain).await;
                }
            }
            .instrument(span),
        );
    }
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase2 {
    /// Waiting for StartRedirectionSession.
    Start,
    /// Session accepted; waiting for authentication.
    Auth,
    /// Authenticated; waiting for StartSOLRedirection or StartIDERRedirection.
    Ready,
    /// SOL running.
    Sol,
    /// IDE-R running (0x41 sent).
    Ider,
}

/// Releases the device's SOL claim and records the session end.
struct SolClaim {
    dev: Arc<Device>,
    caller: Caller,
}

impl Drop for SolClaim {
    fn drop(&mut self) {
        self.dev
            .redirection
            .sol_open
            .store(false, Ordering::Relaxed);
        audit(&self.dev, &self.caller, audit_events::SOL_SESSION_CLOSED);
    }
}

fn audit(dev: &Device, caller: &Caller, event: AuditEvent) {
    let mut rnd = |b: &mut [u8]| random_fill(b);
    let env = Env {
        now: unix_now(),
        random: &mut rnd,
    };
    dev.with_firmware(|fw| fw.record_audit(event, Some(caller), &env, &[]));
}

struct Session {
    dev: Arc<Device>,
    channel: Channel,
    phase: Phase2,
    verifier: DigestVerifier,
    issued_nonce: Option<String>,
    failures: u32,
    user: Option<String>,
    settings: SolSettings,
    claim: Option<SolClaim>,
    out_pos: u64,
    seq: u32,
    kind: Option<SessionType>,
    ider: Option<ider::IderSession>,
}

/// What the loop does after a message.
enum Next {
    Continue,
    Close,
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, m: &Message) -> bool {
    let Ok(bytes) = m.encode() else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.write_all(&bytes)).await,
        Ok(Ok(()))
    )
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    dev: Arc<Device>,
    mut stream: S,
    peer: SocketAddr,
    channel: Channel,
) {
    let realm = dev.realm();
    let mut s = Session {
        verifier: DigestVerifier::new(realm, dev.ctx.options.digest),
        dev,
        channel,
        phase: Phase2::Start,
        issued_nonce: None,
        failures: 0,
        user: None,
        settings: SolSettings::default(),
        claim: None,
        out_pos: 0,
        seq: 0,
        kind: None,
        ider: None,
    };
    let mut decoder = RedirectionDecoder::new();
    let mut buf = vec![0u8; 4096];
    let mut pump = tokio::time::interval(PUMP_INTERVAL);
    pump.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut heartbeat: Option<tokio::time::Interval> = None;
    let mut host_events: Option<tokio::sync::mpsc::UnboundedReceiver<HostEvent>> = None;
    let mut data_after: Option<tokio::time::Instant> = None;
    let mut last_rx = tokio::time::Instant::now();
    tracing::debug!(%peer, "redirection session opened");
    loop {
        let idle_limit = match s.phase {
            Phase2::Sol => idle_limit(&s.settings),
            // MeshCentral neither pings nor echoes heartbeats on IDE-R: be lenient.
            Phase2::Ider => IDER_IDLE_LIMIT,
            _ => HANDSHAKE_TIMEOUT,
        };
        let deadline = last_rx + idle_limit;
        tokio::select! {
            r = stream.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                last_rx = tokio::time::Instant::now();
                if decoder.push(&buf[..n]).is_err() {
                    break;
                }
                let mut close = false;
                loop {
                    let m = match decoder.next_message() {
                        Ok(Some(m)) => m,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "bad redirection message; closing");
                            close = true;
                            break;
                        }
                    };
                    let (replies, next) = s.handle(m);
                    for r in &replies {
                        if !send(&mut stream, r).await {
                            close = true;
                        }
                        let heartbeat_ms = match r {
                            Message::StartSolReply(x) if x.status == SessionStatus::Success => {
                                data_after = Some(tokio::time::Instant::now() + FIRST_DATA_DELAY);
                                Some(s.settings.heartbeat_interval)
                            }
                            Message::Ider(IderMessage::StartReply(x)) if x.status == SessionStatus::Success => {
                                s.ider.as_ref().map(|i| i.settings.heartbeat_interval)
                            }
                            _ => None,
                        };
                        if let Some(ms) = heartbeat_ms {
                            heartbeat = (ms > 0).then(|| {
                                let period = Duration::from_millis(u64::from(ms.max(1000)));
                                tokio::time::interval_at(tokio::time::Instant::now() + period, period)
                            });
                        }
                    }
                    if let Some(rx) = s.ider.as_mut().and_then(|i| i.take_events()) {
                        host_events = Some(rx);
                    }
                    if close || matches!(next, Next::Close) {
                        close = true;
                        break;
                    }
                }
                if close {
                    break;
                }
                if s.phase == Phase2::Sol && data_after.is_none() && !s.flush(&mut stream).await {
                    break;
                }
            }
            _ = pump.tick() => {
                if s.phase != Phase2::Sol {
                    continue;
                }
                if let Some(t) = data_after {
                    if tokio::time::Instant::now() < t {
                        continue;
                    }
                    data_after = None;
                }
                if !s.flush(&mut stream).await {
                    break;
                }
            }
            _ = async {
                match heartbeat.as_mut() {
                    Some(h) => { h.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                let beat = match s.ider.as_mut() {
                    Some(i) => i.heartbeat(),
                    None => {
                        s.seq = s.seq.wrapping_add(1);
                        Message::Heartbeat(s.seq)
                    }
                };
                if !send(&mut stream, &beat).await {
                    break;
                }
            }
            ev = async {
                match host_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(ev) = ev else {
                    host_events = None;
                    continue;
                };
                let Some(i) = s.ider.as_mut() else {
                    continue;
                };
                let mut ok = true;
                for m in i.host_event(ev) {
                    ok &= send(&mut stream, &m).await;
                }
                if !ok {
                    break;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                tracing::debug!("redirection session idle; closing");
                break;
            }
        }
    }
    let _ = stream.shutdown().await;
    tracing::debug!("redirection session closed");
}

/// Console silence after which a running SOL session is closed: three times the longer of
/// the heartbeat interval and the host session receive timeout, between 30 s and 10 min.
fn idle_limit(s: &SolSettings) -> Duration {
    let ms = u64::from(s.heartbeat_interval.max(s.host_session_rx_timeout)) * 3;
    Duration::from_millis(ms).clamp(Duration::from_secs(30), Duration::from_secs(600))
}

impl Session {
    /// Sends console output the session has not seen yet (in chunks of the console's
    /// MaxTxBuffer, 64..=8192 bytes).
    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> bool {
        let max = usize::from(self.settings.max_tx_buffer).clamp(64, 8192);
        loop {
            let (data, next) =
                DeviceRedirection::with_console(&self.dev, |c| c.read_from(self.out_pos, max));
            self.out_pos = next;
            if data.is_empty() {
                return true;
            }
            self.seq = self.seq.wrapping_add(1);
            let m = Message::DataFromHost(SolData {
                seq: self.seq,
                data,
            });
            if !send(stream, &m).await {
                return false;
            }
        }
    }

    fn handle(&mut self, m: Message) -> (Vec<Message>, Next) {
        use Phase2 as P;
        match (self.phase, m) {
            (_, Message::EndSession) => (vec![], Next::Close),
            (P::Start, Message::StartSession(start)) => {
                let status = match start.session_type() {
                    Err(_) => SessionStatus::TypeUnknown,
                    Ok(SessionType::Sol) => {
                        if !self.dev.with_firmware(|fw| fw.sol_enabled()) {
                            SessionStatus::Unsupported
                        } else if self.dev.redirection.sol_open() {
                            SessionStatus::Busy
                        } else {
                            SessionStatus::Success
                        }
                    }
                    Ok(SessionType::Ider) => {
                        if !self.dev.with_firmware(|fw| fw.ider_enabled()) {
                            SessionStatus::Unsupported
                        } else if self.dev.redirection.ider_open() {
                            SessionStatus::Busy
                        } else {
                            SessionStatus::Success
                        }
                    }
                    Ok(SessionType::Kvm) => SessionStatus::Unsupported,
                };
                let reply = Message::StartSessionReply(StartSessionReply::new(status));
                if status == SessionStatus::Success {
                    self.kind = start.session_type().ok();
                    self.phase = P::Auth;
                    (vec![reply], Next::Continue)
                } else {
                    tracing::info!(?status, tag = ?start.tag, "redirection session refused");
                    (vec![reply], Next::Close)
                }
            }
            (P::Auth, Message::Authenticate(a)) => self.authenticate(a.request),
            (P::Ready, Message::Ider(IderMessage::Start(start)))
                if self.kind == Some(SessionType::Ider) =>
            {
                let caller = Caller {
                    user: self.user.clone().unwrap_or_default(),
                    channel: self.channel.clone(),
                };
                let session = self
                    .dev
                    .with_firmware(|fw| fw.ider_enabled())
                    .then(|| ider::IderSession::open(&self.dev, start.settings, caller))
                    .flatten();
                let Some(mut session) = session else {
                    return (vec![ider::busy_reply()], Next::Close);
                };
                let reply = session.start_reply();
                self.ider = Some(session);
                self.phase = P::Ider;
                tracing::info!(
                    user = self.user.as_deref().unwrap_or(""),
                    "IDE-R session started"
                );
                (vec![reply], Next::Continue)
            }
            (P::Ider, Message::Ider(m)) => {
                let Some(i) = self.ider.as_mut() else {
                    return (vec![], Next::Close);
                };
                match i.handle(m) {
                    Ok(out) => (out, Next::Continue),
                    Err(why) => {
                        tracing::debug!(why, "IDE-R protocol error; closing");
                        (vec![], Next::Close)
                    }
                }
            }
            (P::Ready, Message::StartSol(start)) if self.kind == Some(SessionType::Sol) => {
                let ok = self.dev.with_firmware(|fw| fw.sol_enabled())
                    && !self.dev.redirection.sol_open.swap(true, Ordering::Relaxed);
                let status = if ok {
                    SessionStatus::Success
                } else {
                    SessionStatus::Busy
                };
                let reply =
                    Message::StartSolReply(StartSolReply::new(status, start.seq, &start.settings));
                if !ok {
                    return (vec![reply], Next::Close);
                }
                self.settings = start.settings;
                let caller = Caller {
                    user: self.user.clone().unwrap_or_default(),
                    channel: self.channel.clone(),
                };
                audit(&self.dev, &caller, audit_events::SOL_SESSION_OPENED);
                self.claim = Some(SolClaim {
                    dev: Arc::clone(&self.dev),
                    caller,
                });
                // Attach at the oldest kept output: the console shows what it printed before.
                self.out_pos = DeviceRedirection::with_console(&self.dev, |c| c.oldest_position());
                self.phase = P::Sol;
                tracing::info!(
                    user = self.user.as_deref().unwrap_or(""),
                    "SOL session started"
                );
                (vec![reply], Next::Continue)
            }
            (P::Sol, Message::DataToHost(d)) => {
                DeviceRedirection::with_console(&self.dev, |c| c.input(&d.data));
                (vec![], Next::Continue)
            }
            (P::Sol, Message::KeepAlivePing(seq)) => {
                (vec![Message::KeepAlivePong(seq)], Next::Continue)
            }
            // amtterm echoes our heartbeats; MeshCentral sends its own. Nothing to answer.
            (P::Sol, Message::Heartbeat(_) | Message::SolSettings(_)) => (vec![], Next::Continue),
            (P::Sol, Message::EndSol(seq)) => {
                self.claim = None;
                self.phase = P::Ready;
                (vec![Message::EndSolReply(seq)], Next::Continue)
            }
            (phase, other) => {
                tracing::debug!(?phase, command = ?other.command(), "unexpected redirection message; closing");
                (vec![], Next::Close)
            }
        }
    }

    fn authenticate(&mut self, req: AuthRequest) -> (Vec<Message>, Next) {
        let auth_type = req.auth_type();
        let reply = |status, data| {
            Message::AuthenticateReply(AuthenticateSessionReply {
                status,
                auth_type,
                data,
            })
        };
        let user = match req {
            AuthRequest::Query => {
                let methods: &[AuthType] = &[
                    AuthType::UserPassword,
                    AuthType::DigestRfc2069,
                    AuthType::Digest,
                ];
                return (
                    vec![reply(
                        AuthStatus::Success,
                        AuthReplyData::Methods(AuthMethods::from(methods)),
                    )],
                    Next::Continue,
                );
            }
            AuthRequest::Kerberos(_) => {
                return (
                    vec![reply(AuthStatus::NotSupported, AuthReplyData::None)],
                    Next::Continue,
                )
            }
            AuthRequest::UserPassword { user, password } => {
                let realm = self.verifier.realm().to_owned();
                let given =
                    SecretString::new(amt_wsman::digest::ha1_hex(&user, &realm, password.expose()));
                let ok = self
                    .dev
                    .with_firmware(|fw| fw.ha1_for(&user))
                    .is_some_and(|h| SecretString::new(hex::encode(h)).ct_eq(&given));
                ok.then_some(user)
            }
            AuthRequest::Digest { kind, fields } if fields.is_step1() => {
                let mut random = [0u8; 16];
                random_fill(&mut random);
                let _ = self.verifier.challenge(unix_now(), random, false);
                let nonce = hex::encode(random);
                self.issued_nonce = Some(nonce.clone());
                let data = AuthReplyData::Challenge {
                    realm: self.verifier.realm().to_owned(),
                    nonce,
                    qop: (kind == AuthType::Digest).then(|| "auth".to_owned()),
                };
                return (vec![reply(AuthStatus::Failure, data)], Next::Continue);
            }
            AuthRequest::Digest { kind, fields } => self.verify_digest(kind, &fields),
        };
        let allowed = user.filter(|u| {
            u == "admin"
                || self.dev.with_firmware(|fw| {
                    crate::firmware::auth::user_may(&fw.state, u, REDIRECTION_REALM)
                })
        });
        match allowed {
            Some(u) => {
                tracing::info!(user = %u, ?auth_type, "redirection session authenticated");
                self.user = Some(u);
                self.phase = Phase2::Ready;
                (
                    vec![reply(AuthStatus::Success, AuthReplyData::None)],
                    Next::Continue,
                )
            }
            None => {
                self.failures += 1;
                self.dev.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    ?auth_type,
                    failures = self.failures,
                    "redirection authentication refused"
                );
                let next = if self.failures >= MAX_AUTH_FAILURES {
                    Next::Close
                } else {
                    Next::Continue
                };
                (vec![reply(AuthStatus::Failure, AuthReplyData::None)], next)
            }
        }
    }

    /// Digest step 3: the user name when the response is right for the nonce we issued.
    fn verify_digest(&mut self, kind: AuthType, f: &DigestFields) -> Option<String> {
        let issued = self.issued_nonce.take()?;
        let unsafe_char = |s: &str| s.contains(['"', '\\']);
        if f.nonce != issued
            || f.uri != DIGEST_URI
            || [&f.user, &f.realm, &f.cnonce, &f.nc, &f.response]
                .iter()
                .any(|s| unsafe_char(s))
        {
            return None;
        }
        let dev = Arc::clone(&self.dev);
        let ha1_for = |u: &str| dev.with_firmware(|fw| fw.ha1_for(u));
        if kind == AuthType::Digest {
            let header = format!(
                "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", cnonce=\"{}\", nc={}, response=\"{}\", qop={}",
                f.user,
                f.realm,
                f.nonce,
                f.uri,
                f.cnonce,
                f.nc,
                f.response,
                f.qop.as_deref().unwrap_or("")
            );
            self.verifier
                .verify_for_uri(&header, DIGEST_METHOD, DIGEST_URI, unix_now(), ha1_for)
                .ok()
        } else {
            // RFC 2069: MD5(HA1:nonce:MD5(POST:uri)).
            if f.realm != self.verifier.realm() {
                return None;
            }
            let ha1 = ha1_for(&f.user)?;
            let expected = SecretString::new(amt_wsman::digest::response_hex_rfc2069(
                &hex::encode(ha1),
                &f.nonce,
                DIGEST_METHOD,
                DIGEST_URI,
            ));
            let given = SecretString::new(f.response.to_ascii_lowercase());
            expected.ct_eq(&given).then(|| f.user.clone())
        }
    }
}
