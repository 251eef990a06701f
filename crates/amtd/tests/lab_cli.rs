//! `amtd lab` end to end through the binary: server, embedded CA, SQLite and an emulated fleet
//! going through the whole flow over real loopback sockets; then a restart resumes from the
//! data directory without provisioning anything twice. The devices have no server address:
//! they find the server through the lab's DNS zone (`ProvisionServer`), and the server names
//! them by reverse DNS through the same zone.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn random_octets() -> (u8, u8) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761);
    (100 + (n % 100) as u8, 1 + ((n >> 8) % 250) as u8)
}

/// The number before `what` in the lab's closing "lab DNS:" line.
fn dns_count(text: &str, what: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("lab DNS:"))
        .unwrap_or_else(|| panic!("no `lab DNS:` line in:\n{text}"));
    let before = line
        .split(what)
        .next()
        .filter(|b| b.len() < line.len())
        .unwrap_or_else(|| panic!("no `{what}` in {line:?}"));
    before
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before `{what}` in {line:?}"))
}

fn lab(dir: &std::path::Path, first_ip: &str, hello: &str, count: usize) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir)
        .args([
            "lab",
            "--count",
            &count.to_string(),
            "--exit-when-done",
            "--timeout",
            "120",
            "--data-dir",
            "lab-data",
            "--first-ip",
            first_ip,
            "--hello-bind",
            hello,
        ])
        .output()
        .expect("run amtd lab");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn lab_provisions_every_emulated_device_and_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = random_octets();
    let first_ip = format!("127.{a}.{b}.1");
    let hello = format!("127.{a}.{b}.250:9971");
    let (ok, text) = lab(dir.path(), &first_ip, &hello, 4);
    assert!(ok, "amtd lab failed:\n{text}");
    assert!(text.contains("4 of 4 devices provisioned"), "{text}");
    // Every device found the server by DNS and was named by reverse DNS.
    assert!(dns_count(&text, "times, ") >= 4, "{text}");
    assert!(dns_count(&text, "PTR answers") >= 4, "{text}");
    assert!(
        !text.contains("FQDN conflict") && !text.contains("not confirmed"),
        "{text}"
    );
    // The CA, the database and the devices' state are in the data directory.
    for f in [
        "lab-data/amtd.db",
        "lab-data/ca.kek",
        "lab-data/ca",
        "lab-data/devices",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    // A restart finds every device provisioned and provisions nothing again.
    let (ok, text) = lab(dir.path(), &first_ip, &hello, 4);
    assert!(ok, "second run failed:\n{text}");
    assert!(text.contains("4 of 4 devices provisioned"), "{text}");
    assert!(!text.contains("failed: "), "{text}");
}
