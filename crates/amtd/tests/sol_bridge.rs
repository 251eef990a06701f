//! SOL through the server (issue 8): `GET /api/v1/devices/{uuid}/sol` against `amtd serve`
//! and an emulated device it provisioned (`amtd sim`, TLS on 16995 verified against the CA).
//! A WebSocket client logged in as an operator (the browser's cookie and Origin) reads the
//! host's login prompt and the echo of what it typed; a second session on the device is refused
//! with a status; a viewer and a cross-origin page get 403; the audit log has the session's
//! start and end with the operator's name, byte counts and duration, and still verifies; an
//! unwritable audit log refuses the session before the device is contacted; an open session
//! is closed once its user is disabled; `amtd sol <uuid>` goes through the bridge. The ignored
//! `bench_sol_bridge` measures throughput and set-up time
//! (BENCHMARKS.md, "SOL bridge").
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use support::{amtd, text, Serve, FIRST_UUID};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream2>>;
type TcpStream2 = tokio::net::TcpStream;

/// `amtd serve` with one device it provisioned.
fn provisioned(dir: &Path) -> (Serve, support::Running) {
    let serve = Serve::start(dir, "", &[]);
    let (sim, _ip) = serve.start_device();
    let shown = serve.wait_device_done(FIRST_UUID);
    assert_eq!(shown["state"], "provisioned", "{shown}\n{}", serve.log());
    (serve, sim)
}

fn host(serve: &Serve) -> String {
    serve.api.strip_prefix("http://").unwrap().to_owned()
}

/// Creates a user with `role` through the API; returns (password, a token of theirs).
fn user(serve: &Serve, name: &str, role: &str) -> (String, String) {
    let password = format!("{name}-password-123");
    let (status, v) = serve.call(
        "POST",
        "/api/v1/users",
        &json!({ "name": name, "role": role, "password": password }).to_string(),
    );
    assert_eq!(status, 201, "{v}");
    let (status, v) = serve.call(
        "POST",
        "/api/v1/tokens",
        &json!({ "name": format!("{name} token"), "user": name }).to_string(),
    );
    assert_eq!(status, 201, "{v}");
    (password, v["token"].as_str().unwrap().to_owned())
}

/// Logs in; returns the `amtd_session=…` cookie pair.
fn login_cookie(serve: &Serve, name: &str, password: &str) -> String {
    let h = host(serve);
    let body = json!({ "user": name, "password": password }).to_string();
    let mut s = TcpStream::connect(&h).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /api/v1/login HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let line = raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    line["set-cookie:".len()..]
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Opens the SOL WebSocket with these headers: the socket, or the HTTP status of a refusal.
async fn open(serve: &Serve, uuid: &str, headers: &[(&str, String)]) -> Result<Ws, u16> {
    let url = format!("ws://{}/api/v1/devices/{uuid}/sol", host(serve));
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("WebSocket failed: {e}"),
    }
}

/// What arrived: status frames in order, and all serial output.
#[derive(Debug, Default)]
struct Seen {
    states: Vec<Value>,
    output: String,
    closed: bool,
}

/// Reads until `done(seen)` holds; panics after 30 s.
async fn read_until(ws: &mut Ws, seen: &mut Seen, what: &str, done: impl Fn(&Seen) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(seen) {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}: {seen:?}"));
        match frame {
            Some(Ok(Message::Text(t))) => {
                seen.states.push(serde_json::from_str(t.as_str()).unwrap())
            }
            Some(Ok(Message::Binary(b))) => seen.output.push_str(&String::from_utf8_lossy(&b)),
            Some(Ok(Message::Close(_))) | None => {
                seen.closed = true;
                assert!(done(seen), "closed before {what}: {seen:?}");
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("WebSocket error waiting for {what}: {e} ({seen:?})"),
        }
    }
}

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap_or("")
}

fn closed_reason(seen: &Seen) -> Option<String> {
    seen.states
        .iter()
        .find(|s| state(s) == "closed")
        .map(|s| s["reason"].as_str().unwrap_or("").to_owned())
}

/// `amtd audit list --json` records of the SOL bridge.
fn sol_records(dir: &Path) -> Vec<Value> {
    let out = amtd(dir, &["audit", "list", "--json", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "sol-session")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_terminal_sees_the_prompt_and_echo_and_the_session_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let (serve, _sim) = tokio::task::spawn_blocking(move || provisioned(&d))
        .await
        .unwrap();
    let (otto_pw, otto_token) = user(&serve, "otto", "operator");
    let (_, vera_token) = user(&serve, "vera", "viewer");
    let cookie = login_cookie(&serve, "otto", &otto_pw);
    let origin = format!("http://{}", host(&serve));

    // The browser: session cookie and its page's Origin.
    let mut ws = open(
        &serve,
        FIRST_UUID,
        &[("cookie", cookie.clone()), ("origin", origin.clone())],
    )
    .await
    .expect("the operator's WebSocket");
    let mut seen = Seen::default();
    read_until(&mut ws, &mut seen, "the login prompt", |s| {
        s.output.contains("login: ")
    })
    .await;
    let states: Vec<&str> = seen.states.iter().map(state).collect();
    assert_eq!(states, ["connecting", "connected"], "{seen:?}");
    assert!(
        seen.output.contains("Booting from Hard Disk..."),
        "{seen:?}"
    );

    ws.send(Message::Binary(b"operator\r".to_vec().into()))
        .await
        .unwrap();
    let prompt_at = seen.output.rfind("login: ").unwrap();
    read_until(
        &mut ws,
        &mut seen,
        "the echo and the password prompt",
        |s| {
            s.output[prompt_at..].contains("operator")
                && s.output[prompt_at..].contains("Password: ")
        },
    )
    .await;
    // Text frames are keystrokes too.
    ws.send(Message::Text("secret\r".into())).await.unwrap();
    read_until(&mut ws, &mut seen, "the refusal", |s| {
        s.output.contains("Login incorrect")
    })
    .await;
    assert!(!seen.output.contains("secret"), "passwords are not echoed");

    // A second session on the device (the operator's token) is refused with a status.
    let mut second = open(
        &serve,
        FIRST_UUID,
        &[("authorization", format!("Bearer {otto_token}"))],
    )
    .await
    .expect("the upgrade itself is accepted");
    let mut refused = Seen::default();
    read_until(&mut second, &mut refused, "the refusal", |s| {
        closed_reason(s).is_some()
    })
    .await;
    let why = closed_reason(&refused).unwrap();
    assert!(why.contains("another SOL session is open"), "{why}");
    assert!(
        refused.states.iter().all(|s| state(s) != "connected"),
        "{refused:?}"
    );

    // A viewer may not; another site's page may not use the operator's cookie.
    assert_eq!(
        open(
            &serve,
            FIRST_UUID,
            &[("authorization", format!("Bearer {vera_token}"))]
        )
        .await
        .err(),
        Some(403)
    );
    assert_eq!(
        open(
            &serve,
            FIRST_UUID,
            &[
                ("cookie", cookie.clone()),
                ("origin", "http://evil.example".to_owned())
            ]
        )
        .await
        .err(),
        Some(403)
    );
    // No credentials at all: 401. An unknown device: 404.
    assert_eq!(open(&serve, FIRST_UUID, &[]).await.err(), Some(401));
    assert_eq!(
        open(
            &serve,
            "8086e000-0000-4000-8000-0000000000ff",
            &[("cookie", cookie.clone())]
        )
        .await
        .err(),
        Some(404)
    );
    // A plain GET is not an upgrade: 426.
    let (status, body) = support::request(
        &serve.api,
        "GET",
        &format!("/api/v1/devices/{FIRST_UUID}/sol"),
        Some(&otto_token),
        b"",
    );
    assert_eq!(status, 426, "{}", String::from_utf8_lossy(&body));

    // The user closes the terminal: the server answers the close frame.
    ws.send(Message::Close(None)).await.unwrap();
    read_until(&mut ws, &mut seen, "the closing handshake", |s| s.closed).await;

    // Audited: started, then ended with the counts, by the operator; the refused second
    // session left no record (nothing was done).
    let records = tokio::task::spawn_blocking({
        let d = dir.path().to_owned();
        move || {
            support::wait_for("the end record", Duration::from_secs(10), || {
                let r = sol_records(&d);
                (r.len() >= 2).then_some(r)
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(records.len(), 2, "{records:#?}");
    let (start, end) = (&records[0], &records[1]);
    for r in [start, end] {
        assert_eq!(r["actor"], "otto", "{r}");
        assert_eq!(r["device"], FIRST_UUID, "{r}");
        assert_eq!(r["detail"]["port"], 16995, "over TLS: {r}");
        assert!(r["peer"].as_str().unwrap().starts_with("127."), "{r}");
    }
    assert_eq!(start["result"], "started");
    assert_eq!(end["result"], "ended", "{end}");
    assert_eq!(end["detail"]["reason"], "closed by user");
    assert_eq!(end["detail"]["bytes_to_device"], 16, "{end}");
    assert!(
        end["detail"]["bytes_from_device"].as_u64().unwrap() >= seen.output.len() as u64,
        "{end}"
    );
    assert!(end["detail"]["duration_ms"].as_u64().unwrap() > 0, "{end}");
    // The chain still verifies.
    let out = amtd(dir.path(), &["audit", "verify", "--config", "amtd.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!serve.log().contains(&otto_pw));

    // Once closed, the device is free again.
    let mut again = open(
        &serve,
        FIRST_UUID,
        &[("authorization", format!("Bearer {otto_token}"))],
    )
    .await
    .unwrap();
    let mut seen = Seen::default();
    read_until(&mut again, &mut seen, "connected", |s| {
        s.states.iter().any(|v| state(v) == "connected")
    })
    .await;

    // An administrator disables the operator: the open socket does not outlive it (the
    // credentials are checked again every 10 s; `read_until` waits at most 30 s).
    let (status, v) = serve.call("POST", "/api/v1/users/otto/disable", "");
    assert_eq!(status, 200, "{v}");
    read_until(&mut again, &mut seen, "the session's end", |s| {
        closed_reason(s).is_some()
    })
    .await;
    let why = closed_reason(&seen).unwrap();
    assert!(why.starts_with("your session ended"), "{why}");
    assert!(why.contains("disabled"), "{why}");
}

/// Runs `amtd sol args…` with `input` on stdin (then closed).
fn amtd_sol(dir: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .arg("sol")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    drop(watchdog);
    out
}

#[test]
fn cli_sol_goes_through_the_bridge_and_an_unwritable_audit_log_refuses_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (serve, _sim) = provisioned(d);

    let out = amtd_sol(d, &[FIRST_UUID, "--linger-ms", "5000"], b"root\r");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.contains("login: "), "{stdout}");
    assert!(stdout.contains("root"), "{stdout}");
    assert!(stdout.contains("Password: "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("through the server"), "{stderr}");
    assert!(stderr.contains("input ended; disconnected"), "{stderr}");
    // Audited as the token's user; the CLI never asked for the password.
    let records = support::wait_for("the end record", Duration::from_secs(10), || {
        let r = sol_records(d);
        (r.len() >= 2).then_some(r)
    });
    assert_eq!(records[0]["actor"], "admin");
    assert_eq!(records[0]["result"], "started");
    assert_eq!(records[1]["result"], "ended");
    assert_eq!(records[1]["detail"]["bytes_to_device"], 5);
    let out = amtd(d, &["audit", "list", "--json", "--config", "amtd.toml"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("reveal-password"),
        "{}",
        text(&out)
    );
    // An unknown device: the server's answer in words.
    let out = amtd_sol(d, &["8086e000-0000-4000-8000-0000000000ff"], b"");
    assert!(!out.status.success());
    assert!(text(&out).contains("404"), "{}", text(&out));

    // The device's own audit log counts its SOL sessions (read through the API).
    let sol_opened = || {
        let (status, v) = serve.call(
            "GET",
            &format!("/api/v1/devices/{FIRST_UUID}/audit-log?limit=1000"),
            "",
        );
        assert_eq!(status, 200, "{v}");
        v.to_string().matches("SoL Session Opened").count()
    };
    let opened = sol_opened();
    assert!(opened >= 1, "the device records SOL sessions");

    // The audit log becomes unwritable: the session is refused, the device not contacted.
    let out = Command::new("sqlite3")
        .arg(d.join("amtd-data/amtd.sqlite"))
        .arg(
            "CREATE TRIGGER audit_read_only BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit log is read-only'); END;",
        )
        .output()
        .expect("the sqlite3 CLI (Debian package sqlite3)");
    assert!(out.status.success(), "{}", text(&out));
    let out = amtd_sol(d, &[FIRST_UUID], b"root\r");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("audit log cannot be written"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("login: "), "{}", text(&out));
    assert_eq!(sol_opened(), opened, "the device saw no new SOL session");
    assert_eq!(sol_records(d).len(), 2, "nothing was recorded");
}

/// `amtd lab --tls`: the API speaks TLS, and `amtd sol <uuid>` opens its WebSocket over it
/// (wss), checking the server's certificate against the CA file server.json names.
#[test]
fn cli_sol_through_the_bridge_over_an_https_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b, _) = support::random_octets();
    let first_ip = format!("127.{a}.{b}.1");
    let hello = format!("127.{a}.{b}.250:9971");
    let api_bind = format!("127.{a}.{b}.251:0");
    let _lab = support::spawn_env(
        d,
        &[
            "lab",
            "--tls",
            "--count",
            "1",
            "--first-ip",
            &first_ip,
            "--hello-bind",
            &hello,
            "--api-bind",
            &api_bind,
        ],
        &[],
        "lab.log",
    );
    let uuid = support::wait_for("a provisioned device", Duration::from_secs(120), || {
        let out = amtd(d, &["devices", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let dev = v.as_array()?.first()?.clone();
        (dev["state"] == "provisioned").then(|| dev["uuid"].as_str().unwrap().to_owned())
    });
    let discovery = std::fs::read_to_string(d.join("amtd-lab/server.json")).unwrap();
    assert!(discovery.contains("https://"), "{discovery}");
    let out = amtd_sol(d, &[&uuid, "--linger-ms", "5000"], b"root\r");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.contains("login: "), "{stdout}");
    assert!(stdout.contains("Password: "), "{stdout}");
    assert!(text(&out).contains("through the server"), "{}", text(&out));
}

/// Throughput (bytes/s from the device to the WebSocket client) and set-up time through the
/// bridge, and the same workload over a direct SOL session for comparison. Not a test: run
/// with `cargo test --release -p amtd --test sol_bridge bench_sol_bridge -- --ignored
/// --nocapture` (env `AMTD_BENCH_ROUNDS`, default 200, and `AMTD_BENCH_SESSIONS`, default 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_sol_bridge() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rounds = env("AMTD_BENCH_ROUNDS", 200);
    let sessions = env("AMTD_BENCH_SESSIONS", 20);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let (serve, _sim) = tokio::task::spawn_blocking(move || provisioned(&d))
        .await
        .unwrap();
    let auth = [("authorization", format!("Bearer {}", serve.token))];

    // Set-up: upgrade → "connected" (audit record, TLS to the device, digest, SOL start).
    let mut setup = Vec::new();
    for _ in 0..sessions {
        let t0 = Instant::now();
        let mut ws = open(&serve, FIRST_UUID, &auth).await.unwrap();
        let mut seen = Seen::default();
        read_until(&mut ws, &mut seen, "connected", |s| {
            s.states.iter().any(|v| state(v) == "connected")
        })
        .await;
        setup.push(t0.elapsed().as_secs_f64() * 1000.0);
        ws.send(Message::Close(None)).await.unwrap();
        read_until(&mut ws, &mut seen, "closed", |s| s.closed).await;
        // The end record is written after the device session is closed.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    setup.sort_by(f64::total_cmp);

    // Throughput: a user name of 200 characters and two Enters per round; the host echoes the
    // name and answers each round with the password prompt, "Login incorrect" and a new
    // prompt. Everything is sent at once; output is counted until the last prompt arrives.
    let name = "x".repeat(200);
    let round = format!("{name}\r\r");
    let mut ws = open(&serve, FIRST_UUID, &auth).await.unwrap();
    let mut seen = Seen::default();
    read_until(&mut ws, &mut seen, "the prompt", |s| {
        s.output.contains("login: ")
    })
    .await;
    let t0 = Instant::now();
    let mut bytes = 0usize;
    let mut incorrect = 0usize;
    let input = round.repeat(rounds);
    let (mut tx, mut rx) = ws.split();
    let writer = tokio::spawn(async move {
        for chunk in input.as_bytes().chunks(4096) {
            tx.send(Message::Binary(chunk.to_vec().into()))
                .await
                .unwrap();
        }
        tx
    });
    let mut tail = String::new();
    while incorrect < rounds {
        match tokio::time::timeout(Duration::from_secs(60), rx.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => {
                bytes += b.len();
                tail.push_str(&String::from_utf8_lossy(&b));
                incorrect += tail.matches("Login incorrect").count();
                if let Some(i) = tail.rfind("Login incorrect") {
                    tail.drain(..i + "Login incorrect".len());
                }
                if tail.len() > 64 {
                    tail.drain(..tail.len() - 64);
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("after {incorrect} rounds: {other:?}"),
        }
    }
    let bridge_secs = t0.elapsed().as_secs_f64();
    let mut tx = writer.await.unwrap();
    let _ = tx.send(Message::Close(None)).await;
    drop(rx);

    // The same workload directly (no server in between), as `amtd sol --direct` would.
    let (status, v) = serve.call(
        "POST",
        &format!("/api/v1/devices/{FIRST_UUID}/reveal-password"),
        "",
    );
    assert_eq!(status, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let direct = direct_rounds(
        &serve,
        v["admin_password"].as_str().unwrap(),
        &round,
        rounds,
    )
    .await;

    let mb = bytes as f64 / 1e6;
    println!(
        "SOL bridge set-up (upgrade → connected, {sessions} sessions): median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        setup[setup.len() / 2],
        setup[setup.len() * 9 / 10],
        setup[setup.len() - 1]
    );
    println!(
        "SOL bridge throughput: {bytes} bytes device → WebSocket in {bridge_secs:.3} s = {:.2} MB/s ({rounds} rounds of {} input bytes)",
        mb / bridge_secs,
        round.len()
    );
    println!(
        "direct SOL (same workload, SolSession): {} bytes in {:.3} s = {:.2} MB/s; bridge/direct = {:.2}",
        direct.0,
        direct.1,
        direct.0 as f64 / 1e6 / direct.1,
        (mb / bridge_secs) / (direct.0 as f64 / 1e6 / direct.1)
    );
}

/// The bench's workload over a direct SOL session: (bytes, seconds).
async fn direct_rounds(serve: &Serve, password: &str, round: &str, rounds: usize) -> (usize, f64) {
    use amtd_infra::redirection::sol::{SolEvent, SolSession};
    use amtd_infra::redirection::RedirectionTarget;
    use amtd_infra::transport::{CertificateDer, ServerVerification, TlsOptions};
    let pem = std::fs::read_to_string(serve.dir.join("trust.pem")).unwrap();
    let roots: Vec<CertificateDer<'static>> = amt_pki::pem::certificates(&pem)
        .unwrap()
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let prefix = serve.server_ip.rsplit_once('.').unwrap().0;
    let tls = TlsOptions::new(ServerVerification::RootCerts(roots))
        .with_server_name("amtdev00001.amt.test");
    let target = RedirectionTarget::tls(
        format!("{prefix}.101"),
        tls,
        "admin",
        amt_wsman::secret::SecretString::new(password.to_owned()),
    );
    let mut s = SolSession::start(&target).await.unwrap();
    let mut out = String::new();
    while !out.contains("login: ") {
        if let Some(SolEvent::Data(d)) = s.recv().await {
            out.push_str(&String::from_utf8_lossy(&d));
        }
    }
    let input = s.input();
    let all = round.repeat(rounds);
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        input.send(all.as_bytes()).await.unwrap();
    });
    let (mut bytes, mut incorrect) = (0usize, 0usize);
    let mut tail = String::new();
    while incorrect < rounds {
        match tokio::time::timeout(Duration::from_secs(60), s.recv()).await {
            Ok(Some(SolEvent::Data(d))) => {
                bytes += d.len();
                tail.push_str(&String::from_utf8_lossy(&d));
                incorrect += tail.matches("Login incorrect").count();
                if let Some(i) = tail.rfind("Login incorrect") {
                    tail.drain(..i + "Login incorrect".len());
                }
                if tail.len() > 64 {
                    tail.drain(..tail.len() - 64);
                }
            }
            Ok(Some(_)) => {}
            other => panic!("direct: after {incorrect} rounds: {other:?}"),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    writer.await.unwrap();
    let _ = s.close().await;
    (bytes, secs)
}
