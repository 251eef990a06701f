//! The provisioning hello listener (SPEC P1): TCP 9971, one hello per connection.
//!
//! Every connection ends in one [`HelloEvent`] — the [`Hello`](amt_wire::hello::Hello), a
//! typed [`RejectReason`], or [`HelloOutcome::RateLimited`] — sent to a bounded channel that
//! the server drains into its store. Parsing is `amt_wire`'s sans-IO
//! [`HelloAssembler`](amt_wire::hello::HelloAssembler): segments are pushed as they arrive, so a
//! hello split across TCP segments is assembled, fields are checked as soon as they arrive, at
//! most one hello's worth of bytes is buffered, and the verdict comes at EOF (or a short grace
//! after the hello is complete). A browser that opens the port gets a tiny diagnostic page, as
//! MeshCentral's listener does.
//!
//! Defences, in the order a connection meets them:
//!
//! 1. **Per-source rate limit** ([`SourceRateLimiter`]): a token bucket per source address
//!    (IPv6: per /64), checked right after `accept`. Over budget, the connection is reset
//!    unread. The table of sources is bounded ([`HelloListenerConfig::max_sources`]) and evicts
//!    refilled, then least recently seen, buckets, so a flood from many addresses cannot grow it.
//! 2. **Connection cap** ([`HelloListenerConfig::max_connections`]): beyond it, new connections
//!    are reset unread ([`RejectReason::Overloaded`]).
//! 3. **Read timeout** ([`HelloListenerConfig::read_timeout`]): a deadline for the whole hello
//!    from `accept`, not per read, so a peer dripping one byte at a time cannot hold a slot.
//!
//! Rejected and rate-limited connections are closed with `SO_LINGER` 0 (a reset), so a flood
//! leaves no `TIME_WAIT` sockets behind on the server.
//!
//! Event delivery: accepted hellos wait (up to [`ACCEPTED_EVENT_SEND_TIMEOUT`]) for room in the
//! channel. Rejections and rate-limit verdicts are accounted for without letting a flood
//! through: within each [`HelloListenerConfig::summary_interval`], the first of each kind from
//! each source is reported at once and the further ones are folded into one summary event with
//! a count ([`HelloEvent::count`]) at the end of the interval. They are sent only while more
//! than a quarter of the channel is free; one that does not fit is folded into the next
//! summary rather than lost. So every connection is counted in some event, a flood from one
//! source yields a couple of events per kind per interval, and junk can never crowd out a real
//! device's hello.
//!
//! Nothing here panics on input; `accept` errors (such as running out of file descriptors) are
//! counted and retried after a short pause.

mod connection;
mod event;
mod metrics;
mod rate_limit;
mod tally;

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

pub use amt_wire::hello::{TrailingPolicy, HELLO_PORT};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

pub use event::{HelloEvent, HelloOutcome, RejectKind, RejectReason};
pub use metrics::{HelloMetrics, MetricsSnapshot};
pub use rate_limit::{source_key, RateLimit, SourceRateLimiter};

use connection::{serve, ConnSettings};
use tally::Tally;

/// How long the handler of an accepted hello waits for room in a full event channel before
/// giving up (and counting the event as dropped).
pub const ACCEPTED_EVENT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after an `accept` error other than a connection-level one (for example `EMFILE`),
/// so that the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Most (source, kind) pairs one summary interval tracks; beyond them, rejections are counted
/// under `0.0.0.0` ([`HelloEvent::source`]).
const SUMMARY_KEYS: usize = 256;

/// Most rejections reported at once (as their own event) per summary interval; the others wait
/// for the interval's summaries. With [`SUMMARY_KEYS`], this bounds the events — and so the
/// store writes of the server — a flood from any number of addresses causes per interval.
const IMMEDIATE_REPORTS: usize = 64;

/// Listen backlog: large enough that a burst of devices (or a flood) waits in the kernel
/// rather than being refused while the accept loop catches up.
const BACKLOG: u32 = 1024;

/// Settings of a [`HelloListener`].
#[derive(Debug, Clone, PartialEq)]
pub struct HelloListenerConfig {
    /// Address and port to listen on. Default: `127.0.0.1:9971` (loopback: a server meant for
    /// real devices sets its LAN address or `0.0.0.0`).
    pub bind: SocketAddr,
    /// Deadline for the whole hello, counted from `accept`. Default 10 s.
    pub read_timeout: Duration,
    /// After a complete hello, how long to wait for the device to close (to see whether
    /// trailing bytes follow) before accepting it anyway. Default 1 s.
    pub complete_grace: Duration,
    /// Most connections open at once. Default 1024.
    pub max_connections: usize,
    /// Per-source token bucket.
    pub rate_limit: RateLimit,
    /// Most sources the rate limiter tracks. Default 65,536 (a few MiB).
    pub max_sources: usize,
    /// Bytes after a complete hello: rejected (default) or tolerated.
    pub trailing: TrailingPolicy,
    /// How often repeated rejections from one source are reported as one summary event.
    /// Default 1 s.
    pub summary_interval: Duration,
}

impl Default for HelloListenerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), HELLO_PORT),
            read_timeout: Duration::from_secs(10),
            complete_grace: Duration::from_secs(1),
            max_connections: 1024,
            rate_limit: RateLimit::default(),
            max_sources: 65_536,
            trailing: TrailingPolicy::Reject,
            summary_interval: Duration::from_secs(1),
        }
    }
}

/// A bound hello listener; [`HelloListener::run_until`] or [`HelloListener::spawn`] serves it.
#[derive(Debug)]
pub struct HelloListener {
    socket: TcpListener,
    config: HelloListenerConfig,
    metrics: Arc<HelloMetrics>,
    events: mpsc::Sender<HelloEvent>,
}

impl HelloListener {
    /// Binds `config.bind`; every connection's verdict will be sent to `events`.
    pub async fn bind(
        config: HelloListenerConfig,
        events: mpsc::Sender<HelloEvent>,
    ) -> io::Result<Self> {
        let socket = match config.bind {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(config.bind)?;
        let socket = socket.listen(BACKLOG)?;
        Ok(Self {
            socket,
            config,
            metrics: Arc::default(),
            events,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The listener's live counters.
    pub fn metrics(&self) -> Arc<HelloMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Serves connections until `shutdown` completes. Connections still in progress then are
    /// dropped without an event (their devices will say hello again).
    pub async fn run_until<F: Future<Output = ()>>(self, shutdown: F) {
        let Self {
            socket,
            config,
            metrics,
            events,
        } = self;
        let settings = ConnSettings {
            read_timeout: config.read_timeout,
            complete_grace: config.complete_grace,
            trailing: config.trailing,
        };
        let slots = Arc::new(Semaphore::new(
            config.max_connections.clamp(1, Semaphore::MAX_PERMITS),
        ));
        let mut limiter = SourceRateLimiter::new(config.rate_limit, config.max_sources);
        let tally = Arc::new(Mutex::new(Tally::new(SUMMARY_KEYS, IMMEDIATE_REPORTS)));
        let mut summaries = tokio::time::interval_at(
            tokio::time::Instant::now() + config.summary_interval,
            config.summary_interval.max(Duration::from_millis(10)),
        );
        summaries.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                _ = summaries.tick() => {
                    send_summaries(&events, &metrics, &tally);
                    continue;
                }
                accepted = socket.accept() => accepted,
            };
            while tasks.try_join_next().is_some() {}
            let (stream, source) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    metrics.accept_error();
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "hello listener: accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            };
            metrics.connection();
            let allowed = limiter.check(source.ip(), std::time::Instant::now());
            metrics.rate_limiter(limiter.sources(), limiter.evicted());
            if !allowed {
                shed(stream);
                report(&events, &metrics, &tally, source, HelloOutcome::RateLimited);
                continue;
            }
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                shed(stream);
                let outcome = HelloOutcome::Rejected(RejectReason::Overloaded);
                report(&events, &metrics, &tally, source, outcome);
                continue;
            };
            let metrics = Arc::clone(&metrics);
            let events = events.clone();
            let tally = Arc::clone(&tally);
            tasks.spawn(async move {
                let _permit = permit;
                let outcome = {
                    let _open = metrics.open();
                    serve(stream, settings).await
                };
                match &outcome {
                    HelloOutcome::Accepted(hello) => {
                        // Debug, not info: a flood from many addresses can be all valid hellos; the
                        // server logs what it records.
                        tracing::debug!(%source, uuid = %hello.uuid, hashes = hello.hashes().len(),
                            retry = hello.retry_count, "hello accepted");
                        metrics.outcome(&outcome);
                        let event = event(source, outcome);
                        if events
                            .send_timeout(event, ACCEPTED_EVENT_SEND_TIMEOUT)
                            .await
                            .is_err()
                        {
                            metrics.event_dropped();
                            tracing::warn!(%source, "hello accepted but the event channel is full or closed");
                        }
                    }
                    _ => report(&events, &metrics, &tally, source, outcome),
                }
            });
        }
        tasks.shutdown().await;
        // What was folded since the last summary, as far as the channel takes it.
        send_summaries(&events, &metrics, &tally);
    }

    /// Serves on a task of its own until [`HelloListenerHandle::shutdown`].
    pub fn spawn(self) -> io::Result<HelloListenerHandle> {
        let local_addr = self.local_addr()?;
        let metrics = self.metrics();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(HelloListenerHandle {
            local_addr,
            metrics,
            stop,
            task,
        })
    }
}

/// A listener running on its own task ([`HelloListener::spawn`]).
#[derive(Debug)]
pub struct HelloListenerHandle {
    local_addr: SocketAddr,
    metrics: Arc<HelloMetrics>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl HelloListenerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The listener's live counters.
    pub fn metrics(&self) -> Arc<HelloMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Stops accepting, drops connections in progress and waits for the task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn event(source: SocketAddr, outcome: HelloOutcome) -> HelloEvent {
    HelloEvent {
        source,
        time: SystemTime::now(),
        outcome,
        count: 1,
    }
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a rejection or rate-limit verdict; reports it at once when it is the first of its
/// kind from its source in this interval and the channel has room, else folds it into the
/// interval's summary.
fn report(
    events: &mpsc::Sender<HelloEvent>,
    metrics: &HelloMetrics,
    tally: &Mutex<Tally>,
    source: SocketAddr,
    outcome: HelloOutcome,
) {
    metrics.outcome(&outcome);
    if let HelloOutcome::Rejected(reason) = &outcome {
        tracing::debug!(%source, kind = %reason.kind(), %reason, "hello rejected");
    }
    let mut tally = lock(tally);
    if let Some(event) = tally.note(source, outcome, SystemTime::now()) {
        if let Err(event) = try_send_reserved(events, event) {
            tally.defer(event);
        }
    }
    metrics.folded(tally.folded());
}

/// Ends a summary interval: sends one event per (source, kind) with folded rejections; those
/// the channel cannot take now are kept for the next interval.
fn send_summaries(events: &mpsc::Sender<HelloEvent>, metrics: &HelloMetrics, tally: &Mutex<Tally>) {
    let mut tally = lock(tally);
    for event in tally.drain() {
        if let Err(event) = try_send_reserved(events, event) {
            tally.defer(event);
        }
    }
    metrics.folded(tally.folded());
}

/// Sends `event` if the channel keeps more than a quarter free afterwards (the rest is for
/// accepted hellos); gives it back otherwise.
fn try_send_reserved(
    events: &mpsc::Sender<HelloEvent>,
    event: HelloEvent,
) -> Result<(), HelloEvent> {
    let reserve = events.max_capacity() / 4;
    if events.capacity() <= reserve {
        return Err(event);
    }
    events.try_send(event).map_err(|e| match e {
        mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
    })
}

/// Closes a connection with a reset (no `TIME_WAIT` left on our side).
fn shed(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// `accept` errors that concern one connection (retry at once) rather than the process.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
