//! The hello listener over real sockets on 127.0.0.0/8 (SPEC P1).
//!
//! The recorded hellos are read in place from ../shared/fixtures/hello (captured from real AMT
//! devices, published by MeshCentral); tests that need them skip with a message when the folder
//! is absent (`AMTD_FIXTURES` points elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amt_wire::hello::{
    Hello, HelloError, RootHash, RootHashList, Uuid16, DIAGNOSTIC_PAGE_TEXT, MAX_HELLO_LEN,
};
use amtd_infra::hello_listener::{
    HelloEvent, HelloListener, HelloListenerConfig, HelloListenerHandle, HelloOutcome, RateLimit,
    RejectKind, RejectReason, TrailingPolicy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> Option<Vec<u8>> {
    let base = std::env::var_os("AMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let path = base.join("hello").join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(hex::decode(text.trim()).expect("fixture is one line of hex")),
        Err(_) => {
            eprintln!(
                "SKIPPED: recorded hello {} is absent (set AMTD_FIXTURES)",
                path.display()
            );
            None
        }
    }
}

/// The two recorded real hellos with their UUID and hash count.
fn recorded() -> Vec<(&'static str, Vec<u8>, usize)> {
    [("pki-v3-23-hashes.hex", 23), ("pki-v3-24-hashes.hex", 24)]
        .into_iter()
        .filter_map(|(name, n)| fixture(name).map(|b| (name, b, n)))
        .collect()
}

fn synthetic_hello(n: u8) -> Vec<u8> {
    let mut uuid = [0x11; 16];
    uuid[0] = n;
    let roots = RootHashList::try_from(vec![RootHash::Sha256([0xAB; 32])]).unwrap();
    Hello::pki(false, 0, Uuid16::from_wire_bytes(uuid), roots).encode()
}

fn test_config() -> HelloListenerConfig {
    HelloListenerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        read_timeout: Duration::from_secs(5),
        ..HelloListenerConfig::default()
    }
}

async fn start(config: HelloListenerConfig) -> (HelloListenerHandle, mpsc::Receiver<HelloEvent>) {
    let (tx, rx) = mpsc::channel(1024);
    let listener = HelloListener::bind(config, tx).await.unwrap();
    (listener.spawn().unwrap(), rx)
}

fn local(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects from `from`, writes `bytes` in `chunk`-sized segments with `delay` between them,
/// and closes. Write errors (the listener may reset a rejected connection) are ignored.
async fn send(from: IpAddr, to: SocketAddr, bytes: &[u8], chunk: usize, delay: Duration) {
    let Ok(mut stream) = connect_from(from, to).await else {
        return;
    };
    for part in bytes.chunks(chunk.max(1)) {
        if stream.write_all(part).await.is_err() {
            return;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    let _ = stream.shutdown().await;
}

async fn next_event(rx: &mut mpsc::Receiver<HelloEvent>) -> HelloEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event within the wait")
        .expect("channel open")
}

async fn rejection_of(bytes: &[u8], config: HelloListenerConfig) -> RejectReason {
    let (handle, mut rx) = start(config).await;
    send(local(1), handle.local_addr(), bytes, 4096, Duration::ZERO).await;
    let event = next_event(&mut rx).await;
    handle.shutdown().await;
    match event.outcome {
        HelloOutcome::Rejected(reason) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn recorded_hellos_sent_whole_are_accepted() {
    let (handle, mut rx) = start(test_config()).await;
    for (name, bytes, hashes) in recorded() {
        send(
            local(1),
            handle.local_addr(),
            &bytes,
            bytes.len(),
            Duration::ZERO,
        )
        .await;
        let event = next_event(&mut rx).await;
        let hello = event
            .outcome
            .hello()
            .unwrap_or_else(|| panic!("{name}: {event:?}"));
        assert_eq!(
            hello.uuid.to_string(),
            "939b524b-13d4-1d18-e487-1c697a6b7a2b",
            "{name}"
        );
        assert_eq!(hello.hashes().len(), hashes, "{name}");
        assert_eq!(event.source.ip(), local(1));
    }
    let m = handle.metrics().snapshot();
    assert_eq!(m.accepted, recorded().len() as u64);
    assert_eq!(m.rejected_total(), 0);
    handle.shutdown().await;
}

#[tokio::test]
async fn hello_split_into_one_byte_segments_is_accepted() {
    let (handle, mut rx) = start(test_config()).await;
    for (name, bytes, hashes) in recorded() {
        send(
            local(1),
            handle.local_addr(),
            &bytes,
            1,
            Duration::from_millis(1),
        )
        .await;
        let event = next_event(&mut rx).await;
        let hello = event
            .outcome
            .hello()
            .unwrap_or_else(|| panic!("{name}: {event:?}"));
        assert_eq!(
            hello.uuid.to_string(),
            "939b524b-13d4-1d18-e487-1c697a6b7a2b",
            "{name}"
        );
        assert_eq!(hello.hashes().len(), hashes, "{name}");
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn truncated_hello_is_rejected_as_truncated() {
    let bytes = synthetic_hello(1);
    let reason = rejection_of(&bytes[..bytes.len() - 5], test_config()).await;
    assert_eq!(reason.kind(), RejectKind::Truncated, "{reason}");
}

#[tokio::test]
async fn empty_connection_is_rejected_as_empty() {
    let reason = rejection_of(&[], test_config()).await;
    assert_eq!(reason, RejectReason::Malformed(HelloError::Empty));
}

#[tokio::test]
async fn bytes_after_a_hello_are_rejected_as_trailing_bytes() {
    let mut bytes = synthetic_hello(1);
    bytes.extend_from_slice(&[0; 100_000]);
    let reason = rejection_of(&bytes, test_config()).await;
    assert_eq!(reason.kind(), RejectKind::TrailingBytes, "{reason}");
}

#[tokio::test]
async fn oversize_input_is_rejected_as_too_long_when_trailing_bytes_are_tolerated() {
    let mut bytes = synthetic_hello(1);
    bytes.extend_from_slice(&vec![0; MAX_HELLO_LEN * 4]);
    let config = HelloListenerConfig {
        trailing: TrailingPolicy::Tolerate,
        ..test_config()
    };
    let reason = rejection_of(&bytes, config).await;
    assert_eq!(reason.kind(), RejectKind::TooLong, "{reason}");
}

#[tokio::test]
async fn zero_and_all_ones_uuids_are_rejected_as_bogus() {
    for fill in [0x00, 0xFF] {
        let roots = RootHashList::try_from(vec![RootHash::Sha256([0xAB; 32])]).unwrap();
        let bytes = Hello::pki(false, 0, Uuid16::from_wire_bytes([fill; 16]), roots).encode();
        let reason = rejection_of(&bytes, test_config()).await;
        assert_eq!(reason.kind(), RejectKind::BogusUuid, "{reason}");
    }
}

#[tokio::test]
async fn garbage_is_rejected_with_the_named_reason() {
    let cases: [(&[u8], RejectKind); 4] = [
        (
            b"\x07\x00\x03\x00garbage garbage garbage",
            RejectKind::InvalidAdminFlag,
        ),
        (
            b"\x01\x00\x09\x00garbage garbage garbage",
            RejectKind::UnknownVersion,
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n", RejectKind::InvalidAdminFlag),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            RejectKind::InvalidAdminFlag,
        ),
    ];
    for (bytes, kind) in cases {
        let reason = rejection_of(bytes, test_config()).await;
        assert_eq!(reason.kind(), kind, "{bytes:?}: {reason}");
    }
    // A bad hash entry in an otherwise good hello.
    let mut bytes = synthetic_hello(1);
    bytes[25] = 9;
    let reason = rejection_of(&bytes, test_config()).await;
    assert_eq!(reason.kind(), RejectKind::UnknownHashAlgorithm, "{reason}");
}

#[tokio::test]
async fn http_get_is_answered_with_the_diagnostic_page() {
    let (handle, mut rx) = start(test_config()).await;
    let mut stream = connect_from(local(1), handle.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: amtd\r\nUser-Agent: curl\r\n\r\n")
        .await
        .unwrap();
    let mut page = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut page))
        .await
        .unwrap()
        .unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.ends_with(DIAGNOSTIC_PAGE_TEXT), "{page}");
    let event = next_event(&mut rx).await;
    assert_eq!(
        event.outcome,
        HelloOutcome::Rejected(RejectReason::HttpRequest {
            request_line: "GET /status HTTP/1.1".into()
        })
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn idle_connection_times_out() {
    let config = HelloListenerConfig {
        read_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let mut stream = connect_from(local(1), handle.local_addr()).await.unwrap();
    stream.write_all(&synthetic_hello(1)[..10]).await.unwrap();
    let started = Instant::now();
    let event = next_event(&mut rx).await;
    assert_eq!(
        event.outcome,
        HelloOutcome::Rejected(RejectReason::Timeout { received: 10 })
    );
    // The listener closed its side.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(started.elapsed() < WAIT);
    handle.shutdown().await;
}

#[tokio::test]
async fn slow_drip_is_cut_at_the_read_deadline() {
    // One byte every 50 ms would take 3 s for a 61-byte hello; the deadline is for the whole
    // hello, not per read.
    let config = HelloListenerConfig {
        read_timeout: Duration::from_millis(400),
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let to = handle.local_addr();
    let sender = tokio::spawn(async move {
        send(
            local(1),
            to,
            &synthetic_hello(1),
            1,
            Duration::from_millis(50),
        )
        .await;
    });
    let event = next_event(&mut rx).await;
    assert_eq!(
        event.outcome.reject_reason().map(RejectReason::kind),
        Some(RejectKind::Timeout)
    );
    sender.abort();
    handle.shutdown().await;
}

#[tokio::test]
async fn complete_hello_from_a_peer_that_keeps_the_socket_open_is_accepted_after_the_grace() {
    let config = HelloListenerConfig {
        complete_grace: Duration::from_millis(200),
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let mut stream = connect_from(local(1), handle.local_addr()).await.unwrap();
    stream.write_all(&synthetic_hello(7)).await.unwrap();
    let event = next_event(&mut rx).await;
    assert!(event.outcome.hello().is_some(), "{event:?}");
    drop(stream);
    handle.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_rejected_as_overloaded() {
    let config = HelloListenerConfig {
        max_connections: 2,
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let a = connect_from(local(1), handle.local_addr()).await.unwrap();
    let b = connect_from(local(1), handle.local_addr()).await.unwrap();
    // Let the accept loop take both before the third arrives.
    while handle.metrics().snapshot().open_connections < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    send(
        local(1),
        handle.local_addr(),
        &synthetic_hello(1),
        64,
        Duration::ZERO,
    )
    .await;
    let event = next_event(&mut rx).await;
    assert_eq!(
        event.outcome,
        HelloOutcome::Rejected(RejectReason::Overloaded)
    );
    drop((a, b));
    handle.shutdown().await;
}

#[tokio::test]
async fn source_over_its_rate_limit_is_rate_limited_and_others_are_not() {
    let config = HelloListenerConfig {
        rate_limit: RateLimit {
            per_second: 0.01,
            burst: 3,
        },
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let to = handle.local_addr();
    for n in 0..5 {
        send(local(1), to, &synthetic_hello(n), 64, Duration::ZERO).await;
    }
    send(local(2), to, &synthetic_hello(9), 64, Duration::ZERO).await;
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let e = next_event(&mut rx).await;
        outcomes.push((
            e.source.ip(),
            matches!(e.outcome, HelloOutcome::Accepted(_)),
        ));
    }
    let accepted_from = |ip| outcomes.iter().filter(|(s, ok)| *s == ip && *ok).count();
    assert_eq!(accepted_from(local(1)), 3, "{outcomes:?}");
    assert_eq!(accepted_from(local(2)), 1, "{outcomes:?}");
    assert_eq!(handle.metrics().snapshot().rate_limited, 2);
    handle.shutdown().await;
}

#[tokio::test]
async fn rate_limiter_table_stays_bounded_with_many_sources() {
    let config = HelloListenerConfig {
        max_sources: 16,
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let to = handle.local_addr();
    for n in 0..100u8 {
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n));
        send(from, to, &synthetic_hello(n), 64, Duration::ZERO).await;
        assert!(next_event(&mut rx).await.outcome.hello().is_some());
        let m = handle.metrics().snapshot();
        assert!(m.rate_limiter_sources <= 16, "{m:?}");
    }
    assert!(handle.metrics().snapshot().rate_limiter_evictions >= 84);
    handle.shutdown().await;
}

#[tokio::test]
async fn hello_flood_from_one_source_does_not_starve_others() {
    let config = HelloListenerConfig {
        rate_limit: RateLimit {
            per_second: 5.0,
            burst: 10,
        },
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let to = handle.local_addr();
    let device = recorded()
        .into_iter()
        .next()
        .map(|(_, b, _)| b)
        .unwrap_or_else(|| synthetic_hello(42));
    let device_uuid = Hello::decode(&device).unwrap().uuid;

    // Collect every event; remember when the device's hello was accepted.
    let accepted_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = Arc::clone(&accepted_at);
    let collector = tokio::spawn(async move {
        let mut flood_accepted = 0u64;
        while let Some(e) = rx.recv().await {
            match &e.outcome {
                HelloOutcome::Accepted(h) if h.uuid == device_uuid => {
                    *seen.lock().unwrap() = Some(Instant::now());
                }
                HelloOutcome::Accepted(_) => flood_accepted += 1,
                _ => {}
            }
        }
        flood_accepted
    });

    // The flood: 8 workers on 127.0.0.3 connecting and sending as fast as they can for 2 s.
    let flood_for = Duration::from_secs(2);
    let mut workers = Vec::new();
    for w in 0..8u8 {
        workers.push(tokio::spawn(async move {
            let until = Instant::now() + flood_for;
            let mut sent = 0u64;
            while Instant::now() < until {
                send(local(3), to, &synthetic_hello(w), 4096, Duration::ZERO).await;
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The real device on another address, in the middle of the flood.
    let sent_at = Instant::now();
    send(local(2), to, &device, device.len(), Duration::ZERO).await;
    let mut flood_sent = 0;
    for w in workers {
        flood_sent += w.await.unwrap();
    }
    let deadline = Instant::now() + WAIT;
    let latency = loop {
        if let Some(at) = *accepted_at.lock().unwrap() {
            break at - sent_at;
        }
        assert!(
            Instant::now() < deadline,
            "the device's hello was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let m = handle.metrics().snapshot();
    handle.shutdown().await;
    let flood_accepted = collector.await.unwrap();
    eprintln!(
        "flood: {flood_sent} connections in {flood_for:?}, {flood_accepted} accepted, \
         {} rate-limited; device accepted after {latency:?}",
        m.rate_limited
    );
    assert!(flood_sent > 100, "the flood was not a flood: {flood_sent}");
    // Burst plus what 2.x seconds at 5/s refill; everything else was rate-limited.
    assert!(flood_accepted <= 10 + 20, "{flood_accepted}");
    assert!(m.rate_limited >= flood_sent.saturating_sub(30));
    assert!(m.rate_limiter_sources <= 2, "{m:?}");
    assert!(latency < Duration::from_secs(5), "{latency:?}");
}

#[tokio::test]
async fn random_input_never_stops_the_listener() {
    let (handle, mut rx) = start(test_config()).await;
    let to = handle.local_addr();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..150 {
        let len = (next() % 400) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half of the cases start like a hello, so that the parser gets deeper.
        if i % 2 == 0 && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&[1, 0, 3, 0]);
        }
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 2, (i % 250) as u8));
        send(from, to, &bytes, 1 + (next() % 64) as usize, Duration::ZERO).await;
        let _ = next_event(&mut rx).await;
    }
    // Still serving.
    send(local(1), to, &synthetic_hello(1), 64, Duration::ZERO).await;
    assert!(next_event(&mut rx).await.outcome.hello().is_some());
    handle.shutdown().await;
}

#[tokio::test]
async fn every_rejected_connection_is_counted_in_a_bounded_number_of_events() {
    let interval = Duration::from_millis(200);
    let config = HelloListenerConfig {
        rate_limit: RateLimit {
            per_second: 1.0,
            burst: 2,
        },
        summary_interval: interval,
        ..test_config()
    };
    let (handle, mut rx) = start(config).await;
    let to = handle.local_addr();
    // 400 connections of junk from one source, as fast as they go, plus one truncated hello
    // from a quiet source.
    let started = Instant::now();
    let mut flood = Vec::new();
    for w in 0..4u8 {
        flood.push(tokio::spawn(async move {
            for i in 0..100u8 {
                let junk = [w, i, 0xFF, 0x00, 0x13];
                send(local(5), to, &junk, 64, Duration::ZERO).await;
            }
        }));
    }
    for f in flood {
        f.await.unwrap();
    }
    send(local(6), to, &synthetic_hello(1)[..10], 64, Duration::ZERO).await;
    let elapsed = started.elapsed();
    // Collect until the listener has reported every connection it accepted.
    let mut events = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let total: u64 = events.iter().map(|e: &HelloEvent| u64::from(e.count)).sum();
        let m = handle.metrics().snapshot();
        if m.open_connections == 0 && total == m.connections {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{total} of {} connections reported: {m:?}",
            m.connections
        );
        if let Ok(Some(e)) = tokio::time::timeout(interval, rx.recv()).await {
            events.push(e);
        }
    }
    let m = handle.metrics().snapshot();
    handle.shutdown().await;
    assert_eq!(m.connections, 401, "{m:?}");
    // The quiet source's rejection came as its own event, at once.
    let quiet: Vec<_> = events
        .iter()
        .filter(|e| e.source.ip() == local(6))
        .collect();
    assert_eq!(quiet.len(), 1, "{quiet:?}");
    assert_eq!(quiet[0].count, 1);
    assert_eq!(
        quiet[0].outcome.reject_reason().map(RejectReason::kind),
        Some(RejectKind::Truncated)
    );
    // The flood: at most an immediate event and a summary per kind per interval.
    let intervals = (elapsed.as_millis() / interval.as_millis()) as usize + 2;
    let kinds: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| match &e.outcome {
            HelloOutcome::Rejected(r) => r.kind().to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    eprintln!(
        "{} connections in {elapsed:?} reported in {} events ({} folded); kinds {kinds:?}",
        m.connections,
        events.len(),
        m.rejections_folded
    );
    assert!(
        events.len() <= 2 * kinds.len() * intervals + 1,
        "{} events for {} kinds over {intervals} intervals",
        events.len(),
        kinds.len()
    );
    assert!(events.iter().any(|e| e.count > 1), "nothing was folded");
    assert!(m.rejections_folded >= 300, "{m:?}");
}
