//! `amtd ider --image … [--reboot]` through the binary against an emulated device started in
//! this process: the emulated BIOS boots from the served image, and the device's event log
//! shows the image's label and the SHA-256 of the boot image it loaded (computed here from the
//! image independently). Images: one `xorriso` made (a real tool; scripts/install-peers), one
//! built in Rust, and broken ones.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::device::Device;
use amt_emulator::net::{Fleet, NetOptions};
use amt_wire::redirection::boot_image::minimal_el_torito_iso;
use amt_wsman::secret::SecretString;
use support::{random_octets, text};

const PASSWORD: &str = "Ider-Cli-Test-1!";

async fn device_fleet() -> Fleet {
    for _ in 0..8 {
        let (a, b, _) = random_octets();
        let spec = FleetSpec::from_flags(&FleetFlags {
            count: 1,
            first_ip: format!("127.{a}.{b}.1").parse().unwrap(),
            ..FleetFlags::default()
        })
        .unwrap();
        let mut o = NetOptions {
            provisioned_admin_password: Some(SecretString::new(PASSWORD.to_owned())),
            ..NetOptions::default()
        };
        o.hello.enabled = false;
        o.key_pool.enabled = false;
        let fleet = Fleet::start(spec, o, |_, _| {}).await.unwrap();
        if fleet.failures().is_empty() {
            return fleet;
        }
        fleet.shutdown();
    }
    panic!("could not start an emulated device");
}

async fn amtd_ider(host: &str, extra: &[&str]) -> Output {
    let mut args = vec!["ider", "--host", host];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_amtd"))
            .env("RUST_BACKTRACE", "0")
            .env("AMT_PASSWORD", PASSWORD)
            .args(&args)
            .output()
            .expect("run amtd")
    })
    .await
    .unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn events(dev: &Device) -> Vec<String> {
    dev.with_firmware(|fw| fw.state.event_log.iter().map(|e| e.text.clone()).collect())
}

/// The event-log line of the last IDE-R boot, waiting briefly for it.
async fn ider_boot_line(dev: &Device) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(l) = events(dev)
            .into_iter()
            .rev()
            .find(|t| t.starts_with("IDE-R boot"))
        {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "no IDE-R boot in {:#?}",
            events(dev)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn xorriso_iso(dir: &Path, label: &str, boot: &[u8]) -> Option<PathBuf> {
    let xorriso = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("xorriso"))
            .find(|p| p.is_file())
    });
    let Some(xorriso) = xorriso else {
        assert!(
            std::env::var_os("AMTD_NODE_DIR").is_none(),
            "xorriso is missing; run ./scripts/install-peers"
        );
        eprintln!("SKIPPED: xorriso is missing; run ./scripts/install-peers");
        return None;
    };
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join("boot/boot.img"), boot).unwrap();
    std::fs::write(root.join("README.TXT"), b"amtd IDE-R test image\n").unwrap();
    let iso = dir.join("xorriso.iso");
    let out = Command::new(xorriso)
        .args(["-as", "mkisofs", "-V", label, "-b", "boot/boot.img"])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-o"])
        .arg(&iso)
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(iso)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ider_reboot_boots_the_device_from_an_xorriso_iso() {
    let dir = tempfile::tempdir().unwrap();
    let mut boot: Vec<u8> = (0..2048u32).map(|i| (i * 13 % 251) as u8).collect();
    boot[..2].copy_from_slice(&[0xEB, 0xFE]); // jmp $
    let Some(iso) = xorriso_iso(dir.path(), "AMTD_XORRISO", &boot) else {
        return;
    };
    let fleet = device_fleet().await;
    let dev = fleet.device(0).unwrap().clone();
    let out = amtd_ider(
        &dev.ip.to_string(),
        &[
            "--image",
            iso.to_str().unwrap(),
            "--reboot",
            "--timeout",
            "30",
        ],
    )
    .await;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("label AMTD_XORRISO"), "{shown}");
    assert!(
        shown.contains("next boot: IDE-R CD; power cycle sent"),
        "{shown}"
    );
    assert!(shown.contains("host reset"), "{shown}");
    assert!(
        shown.contains("the device read the boot image (LBA"),
        "{shown}"
    );
    let line = ider_boot_line(&dev).await;
    assert!(
        line.starts_with("IDE-R boot from CD \"AMTD_XORRISO\""),
        "{line}"
    );
    assert!(
        line.contains(&sha256_hex(&boot)),
        "{line} / {}",
        sha256_hex(&boot)
    );
    // The options applied once; the session was closed.
    assert!(dev.with_firmware(|fw| !fw.state.manage.boot.role_armed));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dev.redirection.ider_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ider_without_reboot_serves_until_the_host_boots_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let boot = vec![0x5A; 4096];
    let iso = dir.path().join("rust.iso");
    std::fs::write(&iso, minimal_el_torito_iso("AMTD_RUST_ISO", &boot)).unwrap();
    let fleet = device_fleet().await;
    let dev = fleet.device(0).unwrap().clone();
    let host = dev.ip.to_string();
    let iso_arg = iso.to_str().unwrap().to_owned();
    let serving =
        tokio::spawn(
            async move { amtd_ider(&host, &["--image", &iso_arg, "--timeout", "30"]).await },
        );
    // Someone else reboots the host to IDE-R CD, once the session is up.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !dev.redirection.ider_enabled() {
        assert!(
            Instant::now() < deadline,
            "amtd ider never enabled the drives"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wsman = amtd_infra::console::DeviceSession::plain(
        &dev.uuid,
        dev.ip.to_string(),
        SecretString::new(PASSWORD.to_owned()),
    )
    .connect()
    .unwrap();
    amtd_infra::console::set_next_boot(
        &wsman,
        amtd_infra::console::NextBoot::IderCd,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    amtd_infra::console::change_power(
        &wsman,
        amtd_infra::console::PowerAction::Reset,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let out = serving.await.unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("waiting for the host to boot"), "{shown}");
    assert!(shown.contains("served LBA 17+1"), "{shown}");
    assert!(
        shown.contains("IDE-R session closed: 5 blocks (10240 bytes)"),
        "PVD, boot record, catalog, 2 image blocks, and nothing else … {shown}"
    );
    let line = ider_boot_line(&dev).await;
    assert!(
        line.starts_with("IDE-R boot from CD \"AMTD_RUST_ISO\""),
        "{line}"
    );
    assert!(line.contains(&sha256_hex(&boot)), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_images_and_missing_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = device_fleet().await;
    let dev = fleet.device(0).unwrap().clone();
    let host = dev.ip.to_string();
    // No such file: refused before anything is sent.
    let out = amtd_ider(&host, &["--image", "/nonexistent/boot.iso"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("/nonexistent/boot.iso"),
        "{}",
        text(&out)
    );
    assert!(!dev.redirection.ider_open());

    // An image nobody can boot: warned about, served, and the device's BIOS reports it.
    let junk = dir.path().join("junk.img");
    std::fs::write(&junk, vec![0u8; 64 * 2048]).unwrap();
    let out = amtd_ider(
        &host,
        &[
            "--image",
            junk.to_str().unwrap(),
            "--reboot",
            "--timeout",
            "5",
        ],
    )
    .await;
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("warning: the image is not bootable"),
        "{shown}"
    );
    assert!(
        shown.contains("did not read the boot image within 5 s"),
        "{shown}"
    );
    let line = ider_boot_line(&dev).await;
    assert!(
        line.starts_with("IDE-R boot failed: no bootable media"),
        "{line}"
    );
}
