//! Hello listener throughput and flood behaviour (issue 5, SPEC P1), over real sockets on
//! 127.0.0.0/8. Client and listener run in this one process and share the machine's cores.
//!
//! ```text
//! cargo bench -p amtd-infra --bench hello_flood
//! AMTD_BENCH_SECS=5 AMTD_FLOOD_SECS=10 AMTD_FLOOD_RATE=10000 cargo bench -p amtd-infra --bench hello_flood
//! ```
//!
//! 1. **many sources**: `CONCURRENCY` clients send valid hellos as fast as they can, each from
//!    the next of 20,000 addresses in 127.1.0.0/16 (so the rate limit never binds); figure:
//!    hellos accepted per second.
//! 2. **flood from one source**: 127.0.0.3 opens connections at `AMTD_FLOOD_RATE` per second
//!    (open loop, paced every millisecond) for `AMTD_FLOOD_SECS`, each sending a hello; a
//!    device on 127.0.0.2 sends a hello every 250 ms during the flood. Figures: the rate the
//!    listener sustained (connections handled per second), how they ended, the device's hello
//!    latency (connect to the accepted event), and RSS growth.
//! 3. **flood from many sources**: as 2, but every connection from a new address (65,536 of
//!    them) with the source table capped at 4,096: the table stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amt_wire::hello::{Hello, RootHash, RootHashList, Uuid16};
use amtd_infra::hello_listener::{
    HelloEvent, HelloListener, HelloListenerConfig, HelloListenerHandle, HelloOutcome, RateLimit,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, Semaphore};

const CONCURRENCY: usize = 64;
const DEVICE_UUID_BYTE: u8 = 0xD0;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hello(n: u32) -> Vec<u8> {
    let mut uuid = [0x5A; 16];
    uuid[..4].copy_from_slice(&n.to_le_bytes());
    let roots = RootHashList::try_from(vec![RootHash::Sha256([0xAB; 32]); 23]).unwrap();
    Hello::pki(false, 0, Uuid16::from_wire_bytes(uuid), roots).encode()
}

fn device_hello() -> Vec<u8> {
    let roots = RootHashList::try_from(vec![RootHash::Sha256([0xCD; 32]); 23]).unwrap();
    Hello::pki(
        false,
        0,
        Uuid16::from_wire_bytes([DEVICE_UUID_BYTE; 16]),
        roots,
    )
    .encode()
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Connects from `from`, writes `bytes`, closes. Errors (a reset from the listener) are fine.
async fn send(from: IpAddr, to: SocketAddr, bytes: &[u8]) -> bool {
    let Ok(socket) = TcpSocket::new_v4() else {
        return false;
    };
    if socket.bind(SocketAddr::new(from, 0)).is_err() {
        return false;
    }
    // No TIME_WAIT on the client: the flood reuses one address's ports for a long time.
    let _ = socket.set_zero_linger();
    let Ok(mut stream) = socket.connect(to).await else {
        return false;
    };
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    true
}

struct Run {
    handle: HelloListenerHandle,
    accepted_device: Arc<Mutex<Vec<Instant>>>,
    events: Arc<AtomicU64>,
    collector: tokio::task::JoinHandle<()>,
}

async fn start(config: HelloListenerConfig) -> Run {
    let (tx, mut rx) = mpsc::channel::<HelloEvent>(4096);
    let handle = HelloListener::bind(config, tx)
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let accepted_device: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let events = Arc::new(AtomicU64::new(0));
    let (seen, count) = (Arc::clone(&accepted_device), Arc::clone(&events));
    let collector = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            count.fetch_add(1, Ordering::Relaxed);
            if let HelloOutcome::Accepted(h) = &e.outcome {
                if h.uuid.as_wire_bytes()[0] == DEVICE_UUID_BYTE {
                    seen.lock().unwrap().push(Instant::now());
                }
            }
        }
    });
    Run {
        handle,
        accepted_device,
        events,
        collector,
    }
}

fn base_config() -> HelloListenerConfig {
    HelloListenerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..HelloListenerConfig::default()
    }
}

async fn many_sources(secs: u64) {
    let run = start(base_config()).await;
    let to = run.handle.local_addr();
    let until = Instant::now() + Duration::from_secs(secs);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CONCURRENCY {
        let next = Arc::clone(&next);
        clients.push(tokio::spawn(async move {
            let bytes = hello(1);
            while Instant::now() < until {
                let n = next.fetch_add(1, Ordering::Relaxed) % 20_000;
                let from = IpAddr::V4(Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250) as u8 + 1));
                send(from, to, &bytes).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = started.elapsed();
    // Let the last connections finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = run.handle.metrics().snapshot();
    println!(
        "many sources: {} hellos accepted in {:.1} s = {:.0} hellos/s accepted \
         ({} connections, {} rejected, {} rate-limited; {} clients; hello {} bytes)",
        m.accepted,
        elapsed.as_secs_f64(),
        m.accepted as f64 / elapsed.as_secs_f64(),
        m.connections,
        m.rejected_total(),
        m.rate_limited,
        CONCURRENCY,
        hello(1).len(),
    );
    run.handle.shutdown().await;
    let _ = run.collector.await;
}

async fn flood(label: &str, secs: u64, rate: u64, many_sources: bool) {
    let config = HelloListenerConfig {
        max_sources: if many_sources { 4096 } else { 65_536 },
        rate_limit: RateLimit::default(),
        ..base_config()
    };
    let run = start(config).await;
    let to = run.handle.local_addr();
    let (rss_before, _) = rss_kib();
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let attempted = Arc::new(AtomicU64::new(0));
    // The device: one hello every 250 ms from 127.0.0.2.
    let device = {
        let bytes = device_hello();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            tokio::time::sleep(Duration::from_millis(500)).await;
            while Instant::now() + Duration::from_millis(250) < until {
                sent.push(Instant::now());
                send(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), to, &bytes).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            sent
        })
    };
    // The flood: open loop, `rate / 1000` connections started every millisecond, at most
    // 512 in flight (beyond that the client itself is the bottleneck and says so).
    let in_flight = Arc::new(Semaphore::new(512));
    let per_tick = (rate / 1000).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let bytes: Arc<[u8]> = hello(7).into();
    let mut n: u32 = 0;
    let mut client_saturated = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        for _ in 0..per_tick {
            n = n.wrapping_add(1);
            let from = if many_sources {
                IpAddr::V4(Ipv4Addr::new(127, 2, (n >> 8) as u8, n as u8))
            } else {
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))
            };
            let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                client_saturated += 1;
                continue;
            };
            attempted.fetch_add(1, Ordering::Relaxed);
            let bytes = Arc::clone(&bytes);
            tokio::spawn(async move {
                // The listener may reset a rate-limited connection before the client's connect
                // even completes; what counts is what the listener saw.
                let _ = send(from, to, &bytes).await;
                drop(permit);
            });
        }
    }
    let elapsed = started.elapsed();
    let sent = device.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = run.handle.metrics().snapshot();
    let (rss_after, hwm) = rss_kib();
    let accepted = run.accepted_device.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|s| accepted.iter().find(|a| *a >= s).map(|a| *a - *s))
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .map_or("-".to_owned(), |d| {
                format!("{:.2} ms", d.as_secs_f64() * 1e3)
            })
    };
    let secs_f = elapsed.as_secs_f64();
    println!(
        "{label}: target {rate}/s for {secs} s; client started {} ({:.0}/s; {} skipped, client at 512 in flight), \
         listener handled {} connections = {:.0}/s: {} accepted, {} rate-limited, {} rejected {:?}; \
         events delivered {}, dropped {}; rate-limiter table {} sources, {} evictions",
        attempted.load(Ordering::Relaxed),
        attempted.load(Ordering::Relaxed) as f64 / secs_f,
        client_saturated,
        m.connections,
        m.connections as f64 / secs_f,
        m.accepted,
        m.rate_limited,
        m.rejected_total(),
        m.rejected_by_kind(),
        run.events.load(Ordering::Relaxed),
        m.events_dropped,
        m.rate_limiter_sources,
        m.rate_limiter_evictions,
    );
    println!(
        "{label}: device on 127.0.0.2: {}/{} hellos accepted; latency p50 {}, p95 {}, max {}",
        latencies.len(),
        sent.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0),
    );
    println!(
        "{label}: RSS {} KiB before, {} KiB after (+{} KiB), peak {} KiB (whole process, client included)",
        rss_before,
        rss_after,
        rss_after.saturating_sub(rss_before),
        hwm
    );
    run.handle.shutdown().await;
    let _ = run.collector.await;
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let secs = env_u64("AMTD_BENCH_SECS", 5);
    let flood_secs = env_u64("AMTD_FLOOD_SECS", 10);
    let rate = env_u64("AMTD_FLOOD_RATE", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        many_sources(secs).await;
        flood("flood, one source", flood_secs, rate, false).await;
        flood("flood, 65,536 sources", flood_secs, rate, true).await;
    });
}
