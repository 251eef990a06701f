//! The console's redirection client against emulated devices over real sockets: SOL on 16994
//! (digest) and 16995 (TLS verified against the CA root), and IDE-R serving an image file that
//! the emulated BIOS boots from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use std::time::{Duration, Instant};

use amt_emulator::firmware::FirmwareEvent;
use amt_emulator::ider::BootOutcome;
use amt_emulator::net::device::Device;
use amt_wire::redirection::boot_image::{minimal_el_torito_iso, CD_SECTOR};
use amt_wire::redirection::{AuthType, IderStartMode, SessionStatus};
use amt_wsman::secret::SecretString;
use amtd_infra::console::{change_power, set_next_boot, DeviceSession, NextBoot, PowerAction};
use amtd_infra::redirection::ider::{IderEvent, IderServer, ImageInfo};
use amtd_infra::redirection::sol::{SolEvent, SolSession};
use amtd_infra::redirection::{RedirectionError, RedirectionTarget};
use amtd_infra::transport::{CertificateDer, ServerVerification, TlsOptions};
use console_support::{TestPki, PASSWORD};

fn pw(p: &str) -> SecretString {
    SecretString::new(p.to_owned())
}

fn plain_target(dev: &Device, password: &str) -> RedirectionTarget {
    RedirectionTarget::plain(dev.ip.to_string(), "admin", pw(password))
}

/// SOL output until it contains `want`.
async fn read_until(s: &mut SolSession, out: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !out.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.recv()).await {
            Ok(Some(SolEvent::Data(d))) => out.push_str(&String::from_utf8_lossy(&d)),
            Ok(Some(SolEvent::Controls { .. })) => {}
            Ok(None) => panic!("session ended; output so far {out:?}"),
            Err(_) => panic!("no {want:?} in {out:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_over_plain_digest_shows_the_console_and_echoes() {
    let fleet = console_support::plain_fleet(1, "amt16", Vec::new()).await;
    let dev = fleet.device(0).unwrap().clone();
    let mut s = SolSession::start(&plain_target(&dev, PASSWORD))
        .await
        .unwrap();
    assert!(dev.redirection.sol_open());
    let mut out = String::new();
    read_until(&mut s, &mut out, "login: ").await;
    assert!(out.contains("Booting from Hard Disk..."), "{out}");
    s.send(b"operator\r").await.unwrap();
    let mut typed = String::new();
    read_until(&mut s, &mut typed, "Password: ").await;
    assert!(typed.starts_with("operator"), "{typed:?}");
    s.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dev.redirection.sol_open(), "0x22/0x12 released the device");
}

#[tokio::test]
async fn wrong_password_and_a_busy_device_are_reported() {
    let fleet = console_support::plain_fleet(1, "amt16", Vec::new()).await;
    let dev = fleet.device(0).unwrap().clone();
    let e = SolSession::start(&plain_target(&dev, "Wr0ng-Passw0rd!"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            RedirectionError::AuthenticationFailed {
                method: AuthType::Digest,
                ..
            }
        ),
        "{e:?}"
    );
    let _first = SolSession::start(&plain_target(&dev, PASSWORD))
        .await
        .unwrap();
    let e = SolSession::start(&plain_target(&dev, PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            RedirectionError::Refused {
                status: SessionStatus::Busy,
                ..
            }
        ),
        "{e:?}"
    );
    // Nothing listening: a connect error naming the peer.
    let mut nowhere = plain_target(&dev, PASSWORD);
    nowhere.port = 1;
    let e = SolSession::start(&nowhere).await.unwrap_err();
    assert!(e.to_string().contains(":1"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_over_tls_is_verified_against_the_ca_root_and_the_fqdn() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let spec = console_support::spec(1, console_support::random_first_ip(), "amt16", Vec::new());
    let devices = console_support::write_tls_states(&spec, dir.path(), &pki, PASSWORD);
    let fleet = amt_emulator::net::Fleet::start(
        spec,
        console_support::options(Some(dir.path()), None),
        |_, _| {},
    )
    .await
    .unwrap();
    let dev = fleet.device(0).unwrap().clone();
    dev.with_firmware(|fw| fw.state.redirection_state = 32771);
    dev.apply_events(&[FirmwareEvent::StateChanged]);
    let d = &devices[0];
    let root = vec![CertificateDer::from(pki.root_der())];
    let tls = TlsOptions::new(ServerVerification::RootCerts(root)).with_server_name(&d.fqdn);
    let target = RedirectionTarget::tls(d.ip.to_string(), tls.clone(), "admin", pw(PASSWORD));
    let mut s = SolSession::start(&target).await.unwrap();
    let mut out = String::new();
    read_until(&mut s, &mut out, "login: ").await;
    s.close().await.unwrap();

    // Another root: the handshake fails before any credential is sent.
    let other = TestPki::new();
    let bad = TlsOptions::new(ServerVerification::RootCerts(vec![CertificateDer::from(
        other.root_der(),
    )]))
    .with_server_name(&d.fqdn);
    let e = SolSession::start(&RedirectionTarget::tls(
        d.ip.to_string(),
        bad,
        "admin",
        pw(PASSWORD),
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, RedirectionError::Tls(_)), "{e:?}");
    // The device accepts no non-TLS connections: 16994 is closed, like 16992.
    let plain = RedirectionTarget::plain(d.ip.to_string(), "admin", pw(PASSWORD));
    let e = SolSession::start(&plain).await.unwrap_err();
    assert!(matches!(e, RedirectionError::Connect { .. }), "{e:?}");
}

fn write_image(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ider_serves_an_iso_the_emulated_bios_boots_from() {
    let fleet = console_support::plain_fleet(1, "amt16", Vec::new()).await;
    let dev = fleet.device(0).unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let boot_image: Vec<u8> = (0..4096u32).map(|i| (i % 241) as u8).collect();
    let iso = minimal_el_torito_iso("AMTD_INFRA_IDER", &boot_image);
    let path = write_image(dir.path(), "boot.iso", &iso);
    let info = ImageInfo::inspect(&path).await.unwrap();
    assert_eq!(info.label.as_deref(), Some("AMTD_INFRA_IDER"));
    assert_eq!(info.boot_lba, Some(20));
    assert_eq!(info.blocks, (iso.len() / CD_SECTOR) as u64);

    let mut server = IderServer::start(
        &plain_target(&dev, PASSWORD),
        &path,
        IderStartMode::OnReboot,
    )
    .await
    .unwrap();
    assert!(dev.redirection.ider_enabled());
    // Boot from IDE-R CD and reset, as `amtd ider --reboot` does.
    let wsman = DeviceSession::plain(&dev.uuid, dev.ip.to_string(), pw(PASSWORD))
        .connect()
        .unwrap();
    set_next_boot(&wsman, NextBoot::IderCd, Duration::from_secs(30))
        .await
        .unwrap();
    change_power(&wsman, PowerAction::Reset, Duration::from_secs(30))
        .await
        .unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, server.next_event())
            .await
            .expect("the device read the boot image in time")
            .unwrap();
        let done =
            matches!(ev, IderEvent::Served { lba, blocks } if lba <= 20 && 20 < lba + blocks);
        events.push(ev);
        if done {
            break;
        }
    }
    assert_eq!(events[0], IderEvent::Reset);
    assert!(events.contains(&IderEvent::Served { lba: 17, blocks: 1 }));
    assert_eq!(
        server.stats.blocks_served, 5,
        "PVD, boot record, catalog, two image blocks"
    );
    // The BIOS records what it booted.
    let deadline = Instant::now() + Duration::from_secs(5);
    let outcome = loop {
        if let Some(o) = dev.redirection.last_ider_boot() {
            break o;
        }
        assert!(Instant::now() < deadline, "no boot recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let BootOutcome::Booted { label, sha256, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(label.as_deref(), Some("AMTD_INFRA_IDER"));
    assert_eq!(
        &sha256[..],
        ring::digest::digest(&ring::digest::SHA256, &boot_image).as_ref()
    );
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dev.redirection.ider_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbootable_image_is_reported_by_the_bios() {
    let fleet = console_support::plain_fleet(1, "amt16", Vec::new()).await;
    let dev = fleet.device(0).unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let mut iso = minimal_el_torito_iso("SHORT", &[7; 2048]);
    // Point the catalog's boot image far beyond the end.
    let c = 19 * CD_SECTOR;
    iso[c + 40..c + 44].copy_from_slice(&500u32.to_le_bytes());
    let path = write_image(dir.path(), "short.iso", &iso);
    let info = ImageInfo::inspect(&path).await.unwrap();
    assert_eq!(info.boot_lba, Some(500));
    let mut server = IderServer::start(&plain_target(&dev, PASSWORD), &path, IderStartMode::Now)
        .await
        .unwrap();
    let (stats_tx, stats_rx) = tokio::sync::watch::channel(server.stats);
    let serving = tokio::spawn(async move {
        while let Ok(ev) = server.next_event().await {
            let _ = stats_tx.send(server.stats);
            if ev == IderEvent::Ended {
                break;
            }
        }
    });
    let wsman = DeviceSession::plain(&dev.uuid, dev.ip.to_string(), pw(PASSWORD))
        .connect()
        .unwrap();
    set_next_boot(&wsman, NextBoot::IderCd, Duration::from_secs(30))
        .await
        .unwrap();
    change_power(&wsman, PowerAction::Reset, Duration::from_secs(30))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while dev.redirection.last_ider_boot().is_none() {
        assert!(Instant::now() < deadline, "no boot outcome");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let o = dev.redirection.last_ider_boot().unwrap().describe();
    assert!(o.starts_with("IDE-R boot failed"), "{o}");
    assert!(o.contains("beyond the medium"), "{o}");
    assert_eq!(
        stats_rx.borrow().blocks_served,
        3,
        "PVD, boot record, catalog"
    );
    serving.abort();
}
