//! IDE-R on the redirection port (16994): a console built on the `amt-wire` codec serves a CD
//! image; a power action armed to boot from IDE-R CD makes the emulated BIOS read it, and the
//! event log records what it booted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_support;

use std::time::{Duration, Instant};

use amt_emulator::fleet::FleetFlags;
use amt_emulator::ider::{BootKind, BootOutcome};
use amt_emulator::net::device::Device;
use amt_emulator::net::REDIRECTION_PORT;
use amt_wire::redirection::atapi::{Cdb, Sense};
use amt_wire::redirection::boot_image::{minimal_el_torito_iso, CD_SECTOR};
use amt_wire::redirection::ider::device;
use amt_wire::redirection::*;
use amt_wsman::classes::cim::{managed_system, PowerState, RequestPowerStateChangeInput};
use amt_wsman::classes::MethodInput;
use amt_wsman::SelectorSet;
use net_support::*;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A console on the codec that serves `image` as the IDE-R CD.
struct CdConsole {
    stream: TcpStream,
    decoder: RedirectionDecoder,
    image: Vec<u8>,
    seq: u32,
    ready: bool,
    /// Sequence numbers of every IDE-R message the device sent.
    device_seqs: Vec<u32>,
    commands: Vec<Cdb>,
}

impl CdConsole {
    async fn open(dev: &Device, image: Vec<u8>) -> CdConsole {
        let stream = TcpStream::connect(dev.addr(REDIRECTION_PORT))
            .await
            .unwrap();
        let mut c = CdConsole {
            stream,
            decoder: RedirectionDecoder::new(),
            image,
            seq: 0,
            ready: false,
            device_seqs: Vec::new(),
            commands: Vec::new(),
        };
        c.send(Message::StartSession(StartSession::new(SessionType::Ider)))
            .await;
        let Some(Message::StartSessionReply(r)) = c.recv().await else {
            panic!()
        };
        assert_eq!(r.status, SessionStatus::Success);
        c.send(Message::Authenticate(AuthenticateSession {
            request: AuthRequest::UserPassword {
                user: "admin".into(),
                password: PlainPassword::new(PASSWORD),
            },
        }))
        .await;
        let Some(Message::AuthenticateReply(r)) = c.recv().await else {
            panic!()
        };
        assert_eq!(r.status, AuthStatus::Success);
        c.ider(IderMessage::Start(StartIder {
            seq: 0,
            settings: IderSettings::MESHCENTRAL,
            version: 1,
        }))
        .await;
        let Some(IderMessage::StartReply(r)) = c.recv_ider().await else {
            panic!()
        };
        assert_eq!(r.status, SessionStatus::Success);
        assert_eq!((r.read_buffer, r.protocol), (8192, 0));
        c.ider(IderMessage::DisableEnableFeatures(DisableEnableFeatures {
            seq: 0,
            request: FeatureRequest::SetRegisterState(IderStartMode::OnReboot.enable_value()),
        }))
        .await;
        let Some(IderMessage::DisableEnableFeaturesReply(r)) = c.recv_ider().await else {
            panic!()
        };
        assert_eq!((r.kind, r.value), (FeatureType::SetRegisterState, 1));
        c
    }

    async fn send(&mut self, m: Message) {
        self.stream.write_all(&m.encode().unwrap()).await.unwrap();
    }

    async fn ider(&mut self, mut m: IderMessage) {
        m.set_seq(self.seq);
        self.seq += 1;
        self.send(Message::Ider(m)).await;
    }

    async fn recv(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.decoder.next_message().unwrap() {
                return Some(m);
            }
            let n = tokio::time::timeout(Duration::from_secs(15), self.stream.read(&mut buf))
                .await
                .expect("device answered in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.push(&buf[..n]).unwrap();
        }
    }

    async fn recv_ider(&mut self) -> Option<IderMessage> {
        match self.recv().await? {
            Message::Ider(m) => {
                self.device_seqs.push(m.seq());
                Some(m)
            }
            other => panic!("not IDE-R: {other:?}"),
        }
    }

    /// Answers the device until `done` says stop (or the device closes).
    async fn serve_until(&mut self, dev: &Device, done: impl Fn(&Device) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(dev) {
            assert!(
                Instant::now() < deadline,
                "no boot; commands {:?}",
                self.commands
            );
            let recv = tokio::time::timeout(Duration::from_millis(200), self.recv_ider()).await;
            let Ok(m) = recv else { continue };
            match m {
                None => return,
                Some(IderMessage::ResetOccurred(_)) => {
                    self.ider(IderMessage::ResetOccurredResponse(0)).await
                }
                Some(IderMessage::CommandWritten(w)) => self.answer(&w).await,
                Some(IderMessage::Heartbeat(_)) => {}
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn answer(&mut self, w: &CommandWritten) {
        assert_eq!(w.device(), device::CDROM);
        assert_eq!(w.command, ider::ATA_PACKET);
        let cdb = Cdb::parse(&w.packet);
        self.commands.push(cdb);
        let blocks = (self.image.len() / CD_SECTOR) as u32;
        let end = |s: Sense| {
            IderMessage::CommandEnd(CommandEnd::new(0, device::CDROM, s.key, s.asc, s.ascq))
        };
        match cdb {
            Cdb::TestUnitReady if !self.ready => {
                self.ready = true;
                self.ider(end(Sense::MEDIUM_CHANGED)).await;
            }
            Cdb::TestUnitReady => self.ider(end(Sense::NONE)).await,
            Cdb::ReadCapacity => {
                let mut d = (blocks - 1).to_be_bytes().to_vec();
                d.extend_from_slice(&2048u32.to_be_bytes());
                self.ider(IderMessage::DataToHost(DataToHost::new(
                    0,
                    device::CDROM,
                    d,
                    true,
                    false,
                )))
                .await;
            }
            Cdb::Read10 { lba, blocks: n } => {
                if lba as u64 + n as u64 > blocks as u64 {
                    self.ider(end(Sense::LBA_OUT_OF_RANGE)).await;
                    return;
                }
                let data = self.image
                    [lba as usize * CD_SECTOR..(lba as usize + n as usize) * CD_SECTOR]
                    .to_vec();
                let chunks: Vec<Vec<u8>> = data.chunks(8192).map(<[u8]>::to_vec).collect();
                let last = chunks.len() - 1;
                for (i, c) in chunks.into_iter().enumerate() {
                    self.ider(IderMessage::DataToHost(DataToHost::new(
                        0,
                        device::CDROM,
                        c,
                        i == last,
                        false,
                    )))
                    .await;
                }
            }
            _ => self.ider(end(Sense::INVALID_OPCODE)).await,
        }
    }
}

fn arm_ider_cd_boot(dev: &Device) {
    dev.with_firmware(|fw| {
        let b = &mut fw.state.manage.boot;
        b.options.use_ider = true;
        b.options.ider_boot_device = 1;
        b.role_armed = true;
        b.options_cleared = false;
    });
}

/// Resets the host over WS-Man, as a console would (firmware events reach the listeners).
async fn reset_host(fleet: &amt_emulator::net::Fleet) {
    let mut s = plain_session(fleet, 0, PASSWORD).await;
    let req = RequestPowerStateChangeInput {
        power_state: Some(PowerState::MasterBusReset),
        managed_element: Some(managed_system()),
        ..Default::default()
    }
    .request(1, SelectorSet::new());
    let r = s.post(req.to_xml().as_bytes()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("ReturnValue>0<"), "{}", r.text());
}

fn event_texts(dev: &Device) -> Vec<String> {
    dev.with_firmware(|fw| fw.state.event_log.iter().map(|e| e.text.clone()).collect())
}

async fn ider_fleet() -> amt_emulator::net::Fleet {
    let fleet = start(1, FleetFlags::default(), provisioned_options()).await;
    let dev = dev(&fleet, 0);
    assert!(
        dev.with_firmware(|fw| fw.ider_enabled()),
        "provisioned devices have IDE-R on"
    );
    fleet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_armed_for_ider_boots_the_host_from_the_served_cd() {
    let fleet = ider_fleet().await;
    let dev = dev(&fleet, 0);
    let boot_image: Vec<u8> = (0..2048u32).map(|i| (i % 253) as u8).collect();
    let iso = minimal_el_torito_iso("AMTD_NET_TEST", &boot_image);
    let mut c = CdConsole::open(&dev, iso).await;
    assert!(dev.redirection.ider_open() && dev.redirection.ider_enabled());

    arm_ider_cd_boot(&dev);
    reset_host(&fleet).await;
    c.serve_until(&dev, |d| d.redirection.last_ider_boot().is_some())
        .await;

    let outcome = dev.redirection.last_ider_boot().unwrap();
    let BootOutcome::Booted {
        label,
        kind: BootKind::ElTorito(entry),
        sha256,
        ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(label.as_deref(), Some("AMTD_NET_TEST"));
    assert_eq!(entry.load_rba, 20);
    let want = sha2::Sha256::digest(&boot_image);
    assert_eq!(&sha256[..], &want[..]);
    let events = event_texts(&dev);
    let line = events
        .iter()
        .find(|t| t.starts_with("IDE-R boot from CD \"AMTD_NET_TEST\""))
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert!(line.contains(&hex::encode(want)), "{line}");
    // The BIOS asked exactly what an El Torito boot needs, after one UNIT ATTENTION.
    assert_eq!(
        c.commands,
        [
            Cdb::TestUnitReady,
            Cdb::TestUnitReady,
            Cdb::ReadCapacity,
            Cdb::Read10 { lba: 16, blocks: 1 },
            Cdb::Read10 { lba: 17, blocks: 1 },
            Cdb::Read10 { lba: 19, blocks: 1 },
            Cdb::Read10 { lba: 20, blocks: 1 },
        ]
    );
    // The device numbered its IDE-R messages 0, 1, 2, … (MeshCentral checks).
    let expected: Vec<u32> = (0..c.device_seqs.len() as u32).collect();
    assert_eq!(c.device_seqs, expected);
    // The options were used once.
    assert!(dev.with_firmware(|fw| !fw.state.manage.boot.role_armed));
    // Close: 0x42 → 0x43, the claim is released and the session audited.
    c.ider(IderMessage::End(0)).await;
    assert!(matches!(
        c.recv_ider().await,
        Some(IderMessage::EndReply(_))
    ));
    c.send(Message::EndSession).await;
    assert_eq!(c.recv().await, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!dev.redirection.ider_open());
    let audit: Vec<String> =
        dev.with_firmware(|fw| fw.state.audit_log.iter().map(|r| r.text.clone()).collect());
    assert!(
        audit.iter().any(|t| t == "IDER Session Opened"),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|t| t == "IDER Session Closed"),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_rebooted_before_the_console_connects_waits_for_it() {
    let fleet = ider_fleet().await;
    let dev = dev(&fleet, 0);
    let mut img = vec![0u8; 8 * CD_SECTOR];
    img[..4].copy_from_slice(b"BOOT");
    img[510] = 0x55;
    img[511] = 0xAA;
    arm_ider_cd_boot(&dev);
    reset_host(&fleet).await;
    assert!(dev.redirection.last_ider_boot().is_none(), "the BIOS waits");
    let mut c = CdConsole::open(&dev, img.clone()).await;
    c.serve_until(&dev, |d| d.redirection.last_ider_boot().is_some())
        .await;
    let outcome = dev.redirection.last_ider_boot().unwrap();
    let BootOutcome::Booted {
        kind: BootKind::BootSector,
        sha256,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(&sha256[..], &sha2::Sha256::digest(&img[..512])[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_nobody_serves_fails_with_no_bootable_media() {
    let fleet = ider_fleet().await;
    let dev = dev(&fleet, 0);
    arm_ider_cd_boot(&dev);
    reset_host(&fleet).await;
    let deadline =
        Instant::now() + amt_emulator::net::redirection::BOOT_WAIT + Duration::from_secs(5);
    while dev.redirection.last_ider_boot().is_none() {
        assert!(Instant::now() < deadline, "no outcome recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = event_texts(&dev);
    assert!(
        events
            .iter()
            .any(|t| t.starts_with("IDE-R boot failed: no bootable media")),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_fail_the_boot_or_close_the_session() {
    let fleet = ider_fleet().await;
    let dev = dev(&fleet, 0);
    // An answer nobody asked for closes the session.
    let mut c = CdConsole::open(&dev, vec![0; CD_SECTOR]).await;
    c.ider(IderMessage::CommandEnd(CommandEnd::new(
        0,
        device::CDROM,
        0,
        0,
        0,
    )))
    .await;
    assert_eq!(c.recv().await, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!dev.redirection.ider_open(), "the claim is released");

    // More data than READ CAPACITY asks for: the boot fails, the session stays.
    let mut c = CdConsole::open(&dev, vec![0; CD_SECTOR]).await;
    arm_ider_cd_boot(&dev);
    reset_host(&fleet).await;
    let Some(IderMessage::ResetOccurred(_)) = c.recv_ider().await else {
        panic!()
    };
    c.ider(IderMessage::ResetOccurredResponse(0)).await;
    let Some(IderMessage::CommandWritten(w)) = c.recv_ider().await else {
        panic!()
    };
    assert_eq!(Cdb::parse(&w.packet), Cdb::TestUnitReady);
    c.ider(IderMessage::CommandEnd(CommandEnd::new(
        0,
        device::CDROM,
        0,
        0,
        0,
    )))
    .await;
    let Some(IderMessage::CommandWritten(w)) = c.recv_ider().await else {
        panic!()
    };
    assert_eq!(Cdb::parse(&w.packet), Cdb::ReadCapacity);
    c.ider(IderMessage::DataToHost(DataToHost::new(
        0,
        device::CDROM,
        vec![0; 4096],
        true,
        false,
    )))
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while dev.redirection.last_ider_boot().is_none() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = dev.redirection.last_ider_boot().unwrap().describe();
    assert!(o.contains("more data than the 8 bytes"), "{o}");
    c.ider(IderMessage::Ping(0)).await;
    assert!(matches!(c.recv_ider().await, Some(IderMessage::Pong(_))));
}

#[tokio::test]
async fn ider_sessions_follow_the_redirection_service_and_are_one_per_device() {
    let fleet = ider_fleet().await;
    let dev = dev(&fleet, 0);
    let _first = CdConsole::open(&dev, vec![0; CD_SECTOR]).await;
    let mut s = TcpStream::connect(dev.addr(REDIRECTION_PORT))
        .await
        .unwrap();
    s.write_all(
        &Message::StartSession(StartSession::new(SessionType::Ider))
            .encode()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut b = [0u8; 13];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b[1], SessionStatus::Busy.value());
    // SOL only: IDE-R sessions are refused.
    dev.with_firmware(|fw| fw.state.redirection_state = 32770);
    let mut s = TcpStream::connect(dev.addr(REDIRECTION_PORT))
        .await
        .unwrap();
    s.write_all(
        &Message::StartSession(StartSession::new(SessionType::Ider))
            .encode()
            .unwrap(),
    )
    .await
    .unwrap();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(b[1], SessionStatus::Unsupported.value());
}
