//! The hello port under a flood, through the real server (issue 5, SPEC P1): `amtd serve` on a
//! config in a temporary directory, a flood of hellos from one loopback address made by this
//! test process, and a real emulated device (`amtd sim`) on another address that must still be
//! provisioned while the server's memory stays bounded. Also: rejected hellos are recorded with
//! their reasons, and the flood leaves a bounded number of rows.
//!
//! The figures it prints (`-- --nocapture`) are in BENCHMARKS.md; the assertions are sanity
//! floors and generous bounds, never a measure of our speed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amt_wire::hello::{Hello, RootHash, RootHashList, Uuid16};
use serde_json::Value;
use support::{amtd_env, random_octets, root_hash_hex, text, wait_for, Running};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;

/// The two tests start servers and the flood wants the machine's cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The flood: connections per second from one source, and for how long (issue 5: 10,000/s for
/// 10 s). For measurements, `AMTD_FLOOD_RATE` and `AMTD_FLOOD_SECS` override them
/// (`AMTD_FLOOD_RATE=0`: no flood, the baseline), and `AMTD_FLOOD_SOURCES=many` sends junk
/// from a new address for every connection instead (62,750 addresses in 127.A.0.0/16).
fn flood_settings() -> (u64, u64, bool) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let many = std::env::var("AMTD_FLOOD_SOURCES").is_ok_and(|v| v == "many");
    (
        env("AMTD_FLOOD_RATE", 10_000),
        env("AMTD_FLOOD_SECS", 10),
        many,
    )
}

const PFX_PASSWORD: &str = "pfx-test-password";

/// `amtd args…` in `dir`, with the password of the provisioning certificate's PKCS#12.
fn amtd(dir: &Path, args: &[&str]) -> Output {
    amtd_env(dir, args, &[("AMTD_PFX_PASSWORD", PFX_PASSWORD)])
}

/// A running `amtd serve` with a CA, a provisioning certificate and an operator mapping.
struct Server {
    dir: tempfile::TempDir,
    process: Running,
    ip: String,
    hello: SocketAddr,
    api: String,
    token: String,
    root_hash: String,
}

impl Server {
    fn start(ip: &str, port: u16, mapping: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        std::fs::create_dir(path.join("amtd-data")).unwrap();
        let ca = |args: &[&str]| {
            let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
            all.extend_from_slice(args);
            let out = amtd(&path, &all);
            assert!(out.status.success(), "{}", text(&out));
        };
        ca(&["init", "--create-kek"]);
        ca(&[
            "issue-provisioning",
            "--fqdn",
            "provisioning.amt.test",
            "--out",
            "prov.pfx",
        ]);
        ca(&["trust-pem", "--out", "trust.pem"]);
        let root_hash = root_hash_hex(&std::fs::read_to_string(path.join("trust.pem")).unwrap());
        let mapping: String = mapping
            .iter()
            .map(|(uuid, fqdn)| format!("\"{uuid}\" = \"{fqdn}\"\n"))
            .collect();
        std::fs::write(
            path.join("amtd.toml"),
            format!(
                "[server]\napi_bind = \"{ip}:0\"\nhello_bind = \"{ip}\"\nhello_port = {port}\n\
                 [[provisioning_certificate]]\nname = \"test\"\npkcs12 = \"prov.pfx\"\n\
                 pkcs12_password_env = \"AMTD_PFX_PASSWORD\"\n\
                 [fqdn]\nstrategies = [\"operator-mapping\"]\n[fqdn.mapping]\n{mapping}"
            ),
        )
        .unwrap();
        let process = Running(
            Command::new(env!("CARGO_BIN_EXE_amtd"))
                .current_dir(&path)
                .env("RUST_BACKTRACE", "0")
                .env("AMTD_PFX_PASSWORD", PFX_PASSWORD)
                .args(["serve", "--config", "amtd.toml"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let discovery: PathBuf = path.join("amtd-data/server.json");
        let api = wait_for("amtd serve's API", Duration::from_secs(60), || {
            let d: Value = serde_json::from_slice(&std::fs::read(&discovery).ok()?).ok()?;
            d["api"].as_str().map(str::to_owned)
        });
        let token = std::fs::read_to_string(path.join("amtd-data/api-token"))
            .unwrap()
            .trim()
            .to_owned();
        Server {
            dir,
            process,
            ip: ip.to_owned(),
            hello: SocketAddr::new(ip.parse().unwrap(), port),
            api,
            token,
            root_hash,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// GET with the token: (status, JSON).
    fn get(&self, path: &str) -> (u16, Value) {
        use std::io::{Read, Write};
        let host = self.api.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            self.token
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..end]).to_string();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = &raw[end + 4..];
        (status, serde_json::from_slice(body).unwrap_or(Value::Null))
    }

    /// Every recorded hello row, newest first.
    fn hellos(&self) -> Vec<Value> {
        let (status, v) = self.get("/api/v1/hellos?limit=10000");
        assert_eq!(status, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    fn rss_kib(&self) -> Option<u64> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.process.0.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    fn alive(&mut self) -> bool {
        matches!(self.process.0.try_wait(), Ok(None))
    }
}

fn hello_with_uuid(uuid: [u8; 16]) -> Vec<u8> {
    let roots = RootHashList::try_from(vec![RootHash::Sha256([0xAB; 32]); 4]).unwrap();
    Hello::pki(false, 0, Uuid16::from_wire_bytes(uuid), roots).encode()
}

/// Connects from `from`, writes `bytes`, closes with a reset (as a flood tool would: no
/// `TIME_WAIT` left to exhaust the source's ports). Returns whether the server certainly saw
/// the connection: the connect completed, or was reset by the server (which resets
/// rate-limited connections right after `accept`, often before the connect's result is read).
async fn send(from: IpAddr, to: SocketAddr, bytes: &[u8]) -> bool {
    let Ok(socket) = TcpSocket::new_v4() else {
        return false;
    };
    if socket.bind(SocketAddr::new(from, 0)).is_err() {
        return false;
    }
    match socket.connect(to).await {
        Ok(mut stream) => {
            let _ = stream.write_all(bytes).await;
            let _ = stream.set_zero_linger();
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Connects from `from`, writes `bytes`, closes its side and waits for the server to close
/// (a well-behaved sender).
fn send_politely(from: &str, to: SocketAddr, bytes: &[u8]) {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut s = rt.block_on(async {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(from.parse().unwrap(), 0))
            .unwrap();
        socket.connect(to).await.unwrap().into_std().unwrap()
    });
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = s.read_to_end(&mut Vec::new());
}

/// Rows recorded from the sources `flooder` picks, and the connections they stand for (a
/// summary row says how many).
fn connections_recorded(rows: &[Value], flooder: impl Fn(IpAddr) -> bool) -> (usize, u64) {
    let mine: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["source"]
                .as_str()
                .and_then(|s| s.parse::<SocketAddr>().ok())
                .is_some_and(|s| flooder(s.ip()))
        })
        .collect();
    let total = mine
        .iter()
        .map(|r| {
            let outcome = r["outcome"].as_str().unwrap_or_default();
            outcome
                .split(" connections from this source")
                .next()
                .filter(|head| head.len() < outcome.len())
                .and_then(|head| head.rsplit('(').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum();
    (mine.len(), total)
}

#[test]
fn rejected_hellos_are_recorded_with_their_source_and_reason() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (a, b, port) = random_octets();
    let server = Server::start(&format!("127.{a}.{b}.200"), port, &[]);
    let from = format!("127.{a}.{b}.7");
    send_politely(&from, server.hello, b"hello, is anybody there?");
    send_politely(&from, server.hello, &hello_with_uuid([0; 16]));
    let unknown = [0x42; 16];
    send_politely(&from, server.hello, &hello_with_uuid(unknown));
    let rows = wait_for("three hello rows", Duration::from_secs(20), || {
        let rows = server.hellos();
        (rows.len() >= 3).then_some(rows)
    });
    for r in &rows {
        eprintln!("{r}");
        assert!(
            r["source"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{from}:")),
            "{r}"
        );
        assert!(r["received_at"].as_u64().unwrap() > 0, "{r}");
    }
    let outcome = |r: &Value| r["outcome"].as_str().unwrap_or_default().to_owned();
    let malformed = rows
        .iter()
        .find(|r| outcome(r).starts_with("rejected (") && !outcome(r).contains("bogus_uuid"))
        .unwrap_or_else(|| panic!("no malformed row in {rows:?}"));
    assert!(
        outcome(malformed).contains("malformed hello: "),
        "{malformed}"
    );
    assert_eq!(malformed["uuid"], Value::Null, "{malformed}");
    let zero = rows
        .iter()
        .find(|r| r["uuid"] == "00000000-0000-0000-0000-000000000000")
        .unwrap_or_else(|| panic!("no zero-UUID row in {rows:?}"));
    assert!(
        outcome(zero).starts_with("rejected (bogus_uuid): ") && outcome(zero).contains("bogus"),
        "{zero}"
    );
    // A well-formed hello from a device nobody mapped: recorded with what the server did.
    let unknown = Uuid16::from_wire_bytes(unknown)
        .to_string()
        .to_ascii_lowercase();
    let known = rows
        .iter()
        .find(|r| r["uuid"] == unknown.as_str())
        .unwrap_or_else(|| panic!("no row for {unknown} in {rows:?}"));
    assert!(outcome(known).starts_with("ignored: "), "{known}");
}

#[test]
fn device_is_provisioned_during_a_hello_flood_and_memory_stays_bounded() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (a, b, port) = random_octets();
    let device_uuid = "8086e000-0000-4000-8000-000000000001";
    let mut server = Server::start(
        &format!("127.{a}.{b}.200"),
        port,
        &[(device_uuid, "amtdev00001.amt.test")],
    );
    let (flood_rate, flood_secs, many_sources) = flood_settings();
    let flood_ip = format!("127.{a}.{b}.9");
    // Which addresses the flood comes from (many: 127.a.t.f, t ≠ b, and the listener's
    // overflow address for sources beyond its summary table).
    let flood_ip_addr: IpAddr = flood_ip.parse().unwrap();
    let flooder = move |ip: IpAddr| match ip {
        IpAddr::V4(v4) if many_sources => {
            let o = v4.octets();
            v4.is_unspecified() || (o[0] == 127 && o[1] == a && o[2] != b)
        }
        _ => ip == flood_ip_addr,
    };
    let flood_from = move |n: u64| -> IpAddr {
        if !many_sources {
            return flood_ip_addr;
        }
        let mut third = 1 + ((n / 250) % 251) as u8;
        if third == b {
            third = 252;
        }
        IpAddr::V4(std::net::Ipv4Addr::new(127, a, third, 1 + (n % 250) as u8))
    };
    let device_ip = format!("127.{a}.{b}.101");
    let rss_start = server.rss_kib().unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let attempted = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let flood_started = Instant::now();
    let flood = {
        let attempted = Arc::clone(&attempted);
        let connected = Arc::clone(&connected);
        let skipped = Arc::clone(&skipped);
        let to = server.hello;
        rt.spawn(async move {
            // Open loop: `flood_rate / 1000` connections started every millisecond, at most
            // 512 in flight. Half valid hellos with random UUIDs, half junk.
            let until = Instant::now() + Duration::from_secs(flood_secs);
            let in_flight = Arc::new(Semaphore::new(512));
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(port);
            let mut n: u64 = 0;
            while Instant::now() < until {
                tick.tick().await;
                for _ in 0..flood_rate / 1000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    n += 1;
                    let from = flood_from(n);
                    let bytes: Vec<u8> = if x.is_multiple_of(2) && !many_sources {
                        let mut uuid = [0u8; 16];
                        uuid[..8].copy_from_slice(&x.to_le_bytes());
                        uuid[8..].copy_from_slice(&x.rotate_left(29).to_le_bytes());
                        hello_with_uuid(uuid)
                    } else {
                        x.to_le_bytes().repeat((x % 40) as usize + 1)
                    };
                    let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                        skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    attempted.fetch_add(1, Ordering::Relaxed);
                    let connected = Arc::clone(&connected);
                    tokio::spawn(async move {
                        if send(from, to, &bytes).await {
                            connected.fetch_add(1, Ordering::Relaxed);
                        }
                        drop(permit);
                    });
                }
            }
            // Let the last connections finish.
            let _ = in_flight.acquire_many(512).await;
        })
    };

    // Two seconds into the flood, the real device starts and says hello.
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(
        server.path().join("fleet.toml"),
        format!(
            "[defaults]\nextra_root_hashes = [\"{}\"]\n",
            server.root_hash
        ),
    )
    .unwrap();
    let port_text = port.to_string();
    let device_started = Instant::now();
    let _sim = Running(
        Command::new(env!("CARGO_BIN_EXE_amtd"))
            .current_dir(server.path())
            .env("RUST_BACKTRACE", "0")
            .args([
                "sim",
                "--count",
                "1",
                "--first-ip",
                &device_ip,
                "--fleet",
                "fleet.toml",
                "--provisioning-server",
                &server.ip,
                "--hello-port",
                &port_text,
                "--state-dir",
                "sim-state",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Until the flood ends and the device is provisioned: sample the server's memory.
    let mut peak_rss = rss_start;
    let mut provisioned_after: Option<Duration> = None;
    let mut provisioned_during_flood = false;
    let give_up = device_started + Duration::from_secs(90);
    while !(flood.is_finished() && provisioned_after.is_some()) {
        assert!(
            Instant::now() < give_up,
            "the device was not provisioned within 90 s of its start (flood finished: {})",
            flood.is_finished()
        );
        assert!(server.alive(), "the server died during the flood");
        if let Some(kib) = server.rss_kib() {
            peak_rss = peak_rss.max(kib);
        }
        if provisioned_after.is_none() {
            let (status, v) = server.get(&format!("/api/v1/devices/{device_uuid}"));
            if status == 200 && v["state"] == "provisioned" {
                provisioned_after = Some(device_started.elapsed());
                provisioned_during_flood = !flood.is_finished();
            }
            if status == 200 && v["state"] == "failed" {
                panic!("the device's run failed during the flood: {v}");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    rt.block_on(flood).unwrap();
    let flood_time = flood_started.elapsed();
    let provisioned_after = provisioned_after.unwrap();
    assert!(server.alive(), "the server died");
    let attempted = attempted.load(Ordering::Relaxed);
    let connected = connected.load(Ordering::Relaxed);
    let skipped = skipped.load(Ordering::Relaxed);

    // Every connection of the flood the server saw is recorded, in a bounded number of rows.
    let (rows, recorded) = wait_for(
        "the flood's last summaries",
        Duration::from_secs(20),
        || {
            let all = server.hellos();
            let (rows, recorded) = connections_recorded(&all, flooder);
            (recorded >= connected).then_some((rows, recorded))
        },
    );
    // Nothing more arrives: the count is final.
    std::thread::sleep(Duration::from_millis(1500));
    let (rows_then, recorded_then) = connections_recorded(&server.hellos(), flooder);
    assert_eq!((rows, recorded), (rows_then, recorded_then));
    if let Some(kib) = server.rss_kib() {
        peak_rss = peak_rss.max(kib);
    }
    let rate = attempted as f64 / flood_time.as_secs_f64().max(1e-9);
    let flood_from_text = if many_sources {
        format!("many addresses in 127.{a}.0.0/16 (junk only)")
    } else {
        flood_ip.clone()
    };
    println!(
        "hello flood through amtd serve: {attempted} connections attempted from \
         {flood_from_text} in {:.1} s ({rate:.0}/s, target {flood_rate}/s; {skipped} starts \
         skipped with the client at 512 in flight), {connected} \
         certainly reached the server; recorded as {recorded} connections in {rows} rows; \
         device on {device_ip} provisioned {:.2} s after `amtd sim` started ({} the flood); \
         server RSS {} KiB at start, peak {} KiB",
        flood_time.as_secs_f64(),
        provisioned_after.as_secs_f64(),
        if provisioned_during_flood {
            "during"
        } else {
            "after"
        },
        rss_start,
        peak_rss,
    );
    // Sanity floors, not performance claims.
    assert!(
        attempted >= flood_rate * flood_secs / 10,
        "the flood was not a flood: {attempted} connections"
    );
    assert!(connected >= attempted / 2, "{connected} of {attempted}");
    assert!(
        recorded <= attempted,
        "{recorded} recorded, {attempted} attempted"
    );
    assert!(peak_rss < 300 * 1024, "server RSS peaked at {peak_rss} KiB");
    assert!(
        rows <= 5_000,
        "{rows} rows for {connected} flood connections: not bounded"
    );
    assert!(
        recorded >= connected,
        "{recorded} recorded, {connected} certainly reached the server"
    );
}
