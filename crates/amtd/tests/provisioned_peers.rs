//! Issue 5's end-to-end proof through the real server, with peers nobody here wrote: an
//! emulated device is provisioned by `amtd serve` (hello, FQDN, CA-signed certificate, profile
//! push), then
//! - `openssl s_client` sees the CA-issued certificate with the exact subject (both CNs — the
//!   FQDN and `Device (UUID: …)` — and the Intel® organisation) and verifies its chain against
//!   the trust file `amtd ca trust-pem` exports;
//! - the PyPI `amt` package's `amtctrl` reaches the device with the admin password the server
//!   stored (revealed through the audited API call) and reads and changes its power state.
//!
//! Missing peers skip the test with a message, except under ./scripts/test (AMTD_NODE_DIR
//! set), where they fail it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `amtctrl` from the venv scripts/install-peers makes.
fn amtctrl() -> Option<PathBuf> {
    let bin = workspace().join("tests/python/.venv/bin/amtctrl");
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("AMTD_NODE_DIR").is_none(),
        "amtctrl is missing: run scripts/install-peers"
    );
    eprintln!("SKIPPED: amtctrl not installed (scripts/install-peers)");
    None
}

fn amtctrl_run(bin: &PathBuf, home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env("HOME", home)
        .output()
        .expect("run amtctrl");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !stdout.contains("Error"),
        "amtctrl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn served_device_shows_the_issued_certificate_to_openssl_and_obeys_amtctrl() {
    let Some(amtctrl) = amtctrl() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Plain 16992 stays open after provisioning so that amtctrl (HTTP only) can reach it.
    let serve = Serve::start(
        dir.path(),
        "[[profile]]\nname = \"default\"\naccept_non_secure = true\n",
        &[],
    );
    let (_sim, ip) = serve.start_device();
    let shown = serve.wait_device_done(FIRST_UUID);
    assert_eq!(shown["state"], "provisioned", "{shown:#}\n{}", serve.log());
    let fqdn = shown["fqdn"].as_str().unwrap().to_owned();

    // openssl: the exact subject, and a chain that verifies against the exported trust file.
    let script = format!(
        "openssl s_client -connect {ip}:16993 -servername {fqdn} -CAfile trust.pem \
         -verify_return_error </dev/null 2>/dev/null | tee s_client.txt | \
         openssl x509 -noout -subject -nameopt utf8,sep_comma_plus_space,space_eq"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    let subject = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(subject.contains(&format!("CN = {fqdn}")), "{subject}");
    assert!(
        subject.contains(&format!("CN = Device (UUID: {FIRST_UUID})")),
        "{subject}"
    );
    assert!(
        subject.contains("O = Intel® Active Management Technology"),
        "{subject}"
    );
    let s_client = std::fs::read_to_string(dir.path().join("s_client.txt")).unwrap();
    assert!(
        s_client.contains("Verify return code: 0 (ok)"),
        "the chain does not verify against trust.pem:\n{s_client}"
    );

    // amtctrl with the stored admin password.
    let out = amtd(dir.path(), &["device", FIRST_UUID, "reveal-password"]);
    assert!(out.status.success(), "{}", text(&out));
    let password = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    let home = tempfile::tempdir().unwrap();
    amtctrl_run(&amtctrl, home.path(), &["add", "dev", &ip, &password]);
    assert_eq!(amtctrl_run(&amtctrl, home.path(), &["dev", "status"]), "on");
    amtctrl_run(&amtctrl, home.path(), &["dev", "off"]);
    assert_eq!(
        amtctrl_run(&amtctrl, home.path(), &["dev", "status"]),
        "off"
    );

    // A wrong password gets nowhere.
    let home = tempfile::tempdir().unwrap();
    amtctrl_run(
        &amtctrl,
        home.path(),
        &["add", "bad", &ip, "Wr0ng!Passw0rd"],
    );
    let out = Command::new(&amtctrl)
        .args(["bad", "status"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() || said.contains("Error") || said.contains("401"),
        "a wrong password must be refused: {said}"
    );
}
