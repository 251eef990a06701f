//! Serial-over-LAN on the redirection port (16994): a console built on the `amt-wire` codec,
//! and the real Debian `amtterm` driven through a pty (`script`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use amt_emulator::fleet::FleetFlags;
use amt_emulator::net::REDIRECTION_PORT;
use amt_wire::redirection::*;
use net_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A minimal SOL console on the codec.
struct Console {
    stream: TcpStream,
    decoder: RedirectionDecoder,
}

impl Console {
    async fn connect(addr: std::net::SocketAddr) -> Console {
        Console {
            stream: TcpStream::connect(addr).await.expect("connect 16994"),
            decoder: RedirectionDecoder::new(),
        }
    }

    async fn send(&mut self, m: Message) {
        self.stream.write_all(&m.encode().unwrap()).await.unwrap();
    }

    /// The next message, or `None` when the device closed the connection.
    async fn recv(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.decoder.next_message().unwrap() {
                return Some(m);
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut buf))
                .await
                .expect("device answered in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.push(&buf[..n]).unwrap();
        }
    }

    async fn start(&mut self) -> SessionStatus {
        self.send(Message::StartSession(StartSession::new(SessionType::Sol)))
            .await;
        match self.recv().await {
            Some(Message::StartSessionReply(r)) => r.status,
            other => panic!("expected 0x11, got {other:?}"),
        }
    }

    async fn auth_reply(&mut self) -> AuthenticateSessionReply {
        match self.recv().await {
            Some(Message::AuthenticateReply(r)) => r,
            other => panic!("expected 0x14, got {other:?}"),
        }
    }

    /// Query, then the digest exchange of `kind` as amtterm ≥ 1.5 does it. Returns the final
    /// status.
    async fn digest_login(&mut self, kind: AuthType, user: &str, password: &str) -> AuthStatus {
        self.send(auth(AuthRequest::Query)).await;
        let r = self.auth_reply().await;
        let AuthReplyData::Methods(m) = r.data else {
            panic!("{r:?}")
        };
        assert!(m.offers(AuthType::Digest) && m.offers(AuthType::DigestRfc2069));
        self.send(auth(AuthRequest::Digest {
            kind,
            fields: DigestFields::step1(user, kind),
        }))
        .await;
        let r = self.auth_reply().await;
        assert_eq!(r.status, AuthStatus::Failure, "step 2 is a challenge");
        let AuthReplyData::Challenge { realm, nonce, qop } = r.data else {
            panic!("{r:?}")
        };
        assert!(
            nonce.len() <= 32,
            "amtterm accepts nonces up to 32 characters"
        );
        let ha1 = amt_wsman::digest::ha1_hex(user, &realm, password);
        let cnonce = "0a4f113b".to_owned();
        let response = match kind {
            AuthType::Digest => {
                assert_eq!(qop.as_deref(), Some("auth"));
                amt_wsman::digest::redirection_response_hex(
                    &ha1, &nonce, DIGEST_NC, &cnonce, "auth",
                )
            }
            _ => {
                assert_eq!(qop, None);
                amt_wsman::digest::response_hex_rfc2069(&ha1, &nonce, DIGEST_METHOD, DIGEST_URI)
            }
        };
        self.send(auth(AuthRequest::Digest {
            kind,
            fields: DigestFields {
                user: user.into(),
                realm,
                nonce,
                uri: DIGEST_URI.into(),
                cnonce,
                nc: DIGEST_NC.into(),
                response,
                qop,
            },
        }))
        .await;
        self.auth_reply().await.status
    }

    async fn start_sol(&mut self) -> SessionStatus {
        self.send(Message::StartSol(StartSol {
            seq: 0,
            settings: SolSettings::AMTTERM,
            reserved: 0,
        }))
        .await;
        match self.recv().await {
            Some(Message::StartSolReply(r)) => r.status,
            other => panic!("expected 0x21, got {other:?}"),
        }
    }

    /// Console output until it contains `want` (answering nothing; heartbeats are skipped).
    async fn read_until(&mut self, out: &mut String, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.contains(want) {
            assert!(Instant::now() < deadline, "no {want:?} in {out:?}");
            match self.recv().await {
                Some(Message::DataFromHost(d)) => out.push_str(&String::from_utf8_lossy(&d.data)),
                Some(Message::Heartbeat(_) | Message::ControlsFromHost(_)) => {}
                other => panic!("unexpected {other:?} while reading console output"),
            }
        }
    }
}

fn auth(request: AuthRequest) -> Message {
    Message::Authenticate(AuthenticateSession { request })
}

async fn provisioned_fleet(count: usize) -> amt_emulator::net::Fleet {
    start(count, FleetFlags::default(), provisioned_options()).await
}

#[tokio::test]
async fn digest_sol_session_shows_boot_log_and_echoes_typing() {
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    let mut c = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    assert_eq!(c.start().await, SessionStatus::Success);
    assert_eq!(
        c.digest_login(AuthType::Digest, "admin", PASSWORD).await,
        AuthStatus::Success
    );
    assert_eq!(c.start_sol().await, SessionStatus::Success);
    assert!(dev.redirection.sol_open());
    let mut out = String::new();
    c.read_until(&mut out, "login: ").await;
    assert!(out.contains(dev.persona.platform.bios_version), "{out}");
    assert!(out.contains("Booting from Hard Disk..."), "{out}");

    c.send(Message::DataToHost(SolData {
        seq: 0,
        data: b"root\r".to_vec(),
    }))
    .await;
    let mut typed = String::new();
    c.read_until(&mut typed, "Password: ").await;
    assert!(typed.starts_with("root"), "{typed:?}");

    c.send(Message::KeepAlivePing(9)).await;
    loop {
        match c.recv().await {
            Some(Message::KeepAlivePong(9)) => break,
            Some(Message::DataFromHost(_) | Message::Heartbeat(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    c.send(Message::EndSol(1)).await;
    loop {
        match c.recv().await {
            Some(Message::EndSolReply(1)) => break,
            Some(Message::DataFromHost(_) | Message::Heartbeat(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    c.send(Message::EndSession).await;
    assert_eq!(c.recv().await, None, "the device closes after 0x12");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!dev.redirection.sol_open(), "the SOL claim is released");
}

#[tokio::test]
async fn rfc2069_digest_is_accepted() {
    let fleet = provisioned_fleet(1).await;
    let mut c = Console::connect(dev(&fleet, 0).addr(REDIRECTION_PORT)).await;
    assert_eq!(c.start().await, SessionStatus::Success);
    assert_eq!(
        c.digest_login(AuthType::DigestRfc2069, "admin", PASSWORD)
            .await,
        AuthStatus::Success
    );
    assert_eq!(c.start_sol().await, SessionStatus::Success);
}

#[tokio::test]
async fn wrong_password_is_refused_and_sol_cannot_start() {
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    let mut c = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    assert_eq!(c.start().await, SessionStatus::Success);
    assert_eq!(
        c.digest_login(AuthType::Digest, "admin", "Wr0ng-P@ssword")
            .await,
        AuthStatus::Failure
    );
    // Plain authentication with the wrong password is refused too.
    c.send(auth(AuthRequest::UserPassword {
        user: "admin".into(),
        password: PlainPassword::new("nope"),
    }))
    .await;
    assert_eq!(c.auth_reply().await.status, AuthStatus::Failure);
    // Not authenticated: StartSOLRedirection closes the session.
    c.send(Message::StartSol(StartSol {
        seq: 0,
        settings: SolSettings::AMTTERM,
        reserved: 0,
    }))
    .await;
    assert_eq!(c.recv().await, None);
    assert!(!dev.redirection.sol_open());
}

#[tokio::test]
async fn plain_user_password_authentication_works() {
    let fleet = provisioned_fleet(1).await;
    let mut c = Console::connect(dev(&fleet, 0).addr(REDIRECTION_PORT)).await;
    assert_eq!(c.start().await, SessionStatus::Success);
    c.send(auth(AuthRequest::UserPassword {
        user: "admin".into(),
        password: PlainPassword::new(PASSWORD),
    }))
    .await;
    assert_eq!(c.auth_reply().await.status, AuthStatus::Success);
    assert_eq!(c.start_sol().await, SessionStatus::Success);
}

#[tokio::test]
async fn sol_disabled_in_redirection_service_is_refused() {
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    // IDE-R only: the port stays open, SOL sessions are refused.
    dev.with_firmware(|fw| fw.state.redirection_state = 32769);
    let mut c = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    assert_eq!(c.start().await, SessionStatus::Unsupported);
    assert_eq!(c.recv().await, None);

    // Nothing enabled: the listener closes.
    dev.with_firmware(|fw| fw.state.redirection_state = 32768);
    dev.apply_events(&[amt_emulator::firmware::FirmwareEvent::StateChanged]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(dev.addr(REDIRECTION_PORT))
        .await
        .is_err());
}

#[tokio::test]
async fn kvm_sessions_get_a_failure_status_and_sessions_redirect_what_they_started() {
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    let mut c = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    c.send(Message::StartSession(StartSession::new(SessionType::Kvm)))
        .await;
    let Some(Message::StartSessionReply(r)) = c.recv().await else {
        panic!()
    };
    assert_eq!(r.status, SessionStatus::Unsupported);
    // An IDER session cannot start SOL.
    let mut c = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    c.send(Message::StartSession(StartSession::new(SessionType::Ider)))
        .await;
    let Some(Message::StartSessionReply(r)) = c.recv().await else {
        panic!()
    };
    assert_eq!(r.status, SessionStatus::Success);
    assert_eq!(
        c.digest_login(AuthType::Digest, "admin", PASSWORD).await,
        AuthStatus::Success
    );
    c.send(Message::StartSol(StartSol {
        seq: 0,
        settings: SolSettings::AMTTERM,
        reserved: 0,
    }))
    .await;
    assert_eq!(c.recv().await, None, "closed");
    assert!(!dev.redirection.sol_open());
}

#[tokio::test]
async fn second_sol_session_is_busy() {
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    let mut a = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    assert_eq!(a.start().await, SessionStatus::Success);
    assert_eq!(
        a.digest_login(AuthType::Digest, "admin", PASSWORD).await,
        AuthStatus::Success
    );
    assert_eq!(a.start_sol().await, SessionStatus::Success);
    let mut b = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    assert_eq!(b.start().await, SessionStatus::Busy);
}

#[tokio::test]
async fn garbage_closes_the_session_and_other_devices_keep_working() {
    let fleet = provisioned_fleet(2).await;
    let bad = dev(&fleet, 0);
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x13, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0x7f][..],
        &[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, b'x'][..], // SOL data before any session
        &[0xff; 64][..],
    ] {
        let mut s = TcpStream::connect(bad.addr(REDIRECTION_PORT))
            .await
            .unwrap();
        s.write_all(junk).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("closed promptly")
            .unwrap_or(0);
        assert_eq!(n, 0, "no answer to garbage, just a close");
    }
    // The same device and its neighbour still serve SOL.
    for i in [0, 1] {
        let mut c = Console::connect(dev(&fleet, i).addr(REDIRECTION_PORT)).await;
        assert_eq!(c.start().await, SessionStatus::Success);
        assert_eq!(
            c.digest_login(AuthType::Digest, "admin", PASSWORD).await,
            AuthStatus::Success
        );
    }
}

#[tokio::test]
async fn power_off_stops_the_console_and_power_on_reboots_it() {
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    let mut c = Console::connect(dev.addr(REDIRECTION_PORT)).await;
    assert_eq!(c.start().await, SessionStatus::Success);
    assert_eq!(
        c.digest_login(AuthType::Digest, "admin", PASSWORD).await,
        AuthStatus::Success
    );
    assert_eq!(c.start_sol().await, SessionStatus::Success);
    let mut out = String::new();
    c.read_until(&mut out, "login: ").await;
    dev.apply_events(&[amt_emulator::firmware::FirmwareEvent::PowerChanged(8)]);
    c.send(Message::DataToHost(SolData {
        seq: 0,
        data: b"ignored".to_vec(),
    }))
    .await;
    // Let the device consume the keystrokes while the host is off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    dev.apply_events(&[amt_emulator::firmware::FirmwareEvent::PowerChanged(2)]);
    let mut after = String::new();
    c.read_until(&mut after, "login: ").await;
    assert!(!after.contains("ignored"), "{after:?}");
    assert!(after.contains("Booting from Hard Disk..."));
}

/// Runs `amtterm` inside `script` (it needs a terminal), collecting what it shows.
struct Amtterm {
    child: std::process::Child,
    out: Arc<Mutex<String>>,
}

impl Amtterm {
    fn spawn(ip: std::net::Ipv4Addr) -> Amtterm {
        Self::spawn_with(ip, PASSWORD)
    }

    fn spawn_with(ip: std::net::Ipv4Addr, password: &str) -> Amtterm {
        let cmd = format!("amtterm -u admin -p '{password}' {ip} {REDIRECTION_PORT}");
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn script");
        let out = Arc::new(Mutex::new(String::new()));
        for mut pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Amtterm { child, out }
    }

    fn wait_for(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.out.lock().unwrap().clone();
            if s.contains(want) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "amtterm never showed {want:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_bytes(&mut self, b: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b).unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Amtterm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtterm_shows_the_emulated_console_and_echoes_a_line() {
    let (Some(_), Some(_)) = (on_path("amtterm"), on_path("script")) else {
        return;
    };
    let fleet = provisioned_fleet(1).await;
    let dev = dev(&fleet, 0);
    let ip = dev.ip;
    let bios = dev.persona.platform.bios_version;
    let result = tokio::task::spawn_blocking(move || {
        let mut t = Amtterm::spawn(ip);
        let shown = t.wait_for("login: ");
        assert!(shown.contains("serial-over-lan redirection ok"), "{shown}");
        assert!(
            shown.contains(bios),
            "boot log with the BIOS version: {shown}"
        );
        assert!(shown.contains("Booting from Hard Disk..."), "{shown}");
        t.type_bytes(b"operator\r");
        let shown = t.wait_for("Password: ");
        assert!(shown.contains("login: operator"), "{shown}");
        // ^] ends the session (0x22, then 0x12 after the device's 0x23).
        t.type_bytes(&[0x1d]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = t.child.try_wait().unwrap() {
                break (status, t.out.lock().unwrap().clone());
            }
            assert!(Instant::now() < deadline, "amtterm did not exit after ^]");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let (status, shown) = result;
    assert!(!shown.contains("ERROR"), "{shown}");
    eprintln!("amtterm exited with {status}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!dev.redirection.sol_open(), "the session ended cleanly");

    // The device really checks what amtterm sends: a wrong password is refused, and amtterm
    // says so. (Debian's amtterm 1.4 authenticates with type 1, user and password; digest
    // types 3/4 came with amtterm 1.5 and are covered by the codec console above.)
    let shown = tokio::task::spawn_blocking(move || {
        let t = Amtterm::spawn_with(ip, "Wr0ng-P@ssword");
        t.wait_for("authentication failed")
    })
    .await
    .unwrap();
    assert!(!shown.contains("login: "), "{shown}");
}
