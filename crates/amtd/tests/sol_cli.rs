//! `amtd sol` through the binary in pipe mode (stdin not a TTY): against an emulated device
//! started in this process (`--host`, plain 16994, digest), and against a device `amtd lab`
//! provisioned (by UUID: address, FQDN and password from the API, TLS on 16995 verified
//! against the server's trust chain).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::{Fleet, NetOptions};
use amt_wsman::secret::SecretString;
use support::{random_octets, spawn_env, text, wait_for};

pub const PASSWORD: &str = "Sol-Cli-Test-1!";

/// One provisioned emulated device (SOL and IDE-R on) on a random loopback address.
pub async fn device_fleet() -> Fleet {
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

/// Runs `amtd args…` with `input` on stdin (then closed), off the async executor.
async fn amtd_piped(args: Vec<String>, env: Vec<(&'static str, String)>, input: &[u8]) -> Output {
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_amtd"))
            .current_dir(dir.path())
            .env("RUST_BACKTRACE", "0")
            .envs(env)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start amtd");
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let pid = child.id();
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(60));
            // Still running after a minute: end it so the test fails instead of hanging.
            let _ = Command::new("kill").arg(pid.to_string()).status();
        });
        let out = child.wait_with_output().unwrap();
        drop(watchdog);
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_in_pipe_mode_shows_the_boot_log_and_the_echo_of_what_was_typed() {
    let fleet = device_fleet().await;
    let dev = fleet.device(0).unwrap().clone();
    let out = amtd_piped(
        vec![
            "sol".into(),
            "--host".into(),
            dev.ip.to_string(),
            "--password-env".into(),
            "DEVICE_PW".into(),
        ],
        vec![("DEVICE_PW", PASSWORD.to_owned())],
        b"operator\r",
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout.contains(dev.persona.platform.bios_version),
        "boot log with the BIOS version: {stdout}"
    );
    assert!(stdout.contains("Booting from Hard Disk..."), "{stdout}");
    let prompt = stdout.find("login: ").expect("a login prompt");
    let echo = stdout[prompt..]
        .find("operator")
        .expect("the typed name echoed");
    assert!(
        stdout[prompt + echo..].contains("Password: "),
        "the host moved on to the password prompt: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Connected to"), "{stderr}");
    assert!(stderr.contains("input ended; disconnected"), "{stderr}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!dev.redirection.sol_open(), "the session was ended");
    // The device audited the session.
    let audit: Vec<String> =
        dev.with_firmware(|fw| fw.state.audit_log.iter().map(|r| r.text.clone()).collect());
    assert!(audit.iter().any(|t| t == "SoL Session Closed"), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_escape_quits_and_bad_credentials_fail_clearly() {
    let fleet = device_fleet().await;
    let dev = fleet.device(0).unwrap().clone();
    let host = dev.ip.to_string();
    // Ctrl-] q quits at once, even with stdin still open in a pipe.
    let out = amtd_piped(
        vec!["sol".into(), "--host".into(), host.clone()],
        vec![("AMT_PASSWORD", PASSWORD.to_owned())],
        b"\x1dq",
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("quit; disconnected"), "{}", text(&out));

    let out = amtd_piped(
        vec!["sol".into(), "--host".into(), host.clone()],
        vec![("AMT_PASSWORD", "Wr0ng-Password!".to_owned())],
        b"",
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("refused the credentials of \"admin\""),
        "{}",
        text(&out)
    );
    // No password at all: the CLI says where it looks.
    let out = amtd_piped(vec!["sol".into(), "--host".into(), host], vec![], b"").await;
    assert!(!out.status.success());
    assert!(text(&out).contains("$AMT_PASSWORD"), "{}", text(&out));
}

#[test]
fn sol_by_uuid_uses_the_servers_password_and_trust_chain_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = random_octets();
    let first_ip = format!("127.{a}.{b}.1");
    let hello = format!("127.{a}.{b}.250:9971");
    let api_bind = format!("127.{a}.{b}.251:0");
    let _lab = spawn_env(
        dir.path(),
        &[
            "lab",
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
    let uuid = wait_for("a provisioned device", Duration::from_secs(120), || {
        let out = support::amtd(dir.path(), &["devices", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let d = v.as_array()?.first()?.clone();
        (d["state"] == "provisioned").then(|| d["uuid"].as_str().unwrap().to_owned())
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir.path())
        .args(["sol", &uuid, "--direct", "--linger-ms", "1500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"root\r").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.contains("login: "), "{stdout}");
    assert!(stdout.contains("Password: "), "{stdout}");
    assert!(text(&out).contains(":16995"), "over TLS: {}", text(&out));
    let audit = {
        let data = dir.path().join("amtd-lab");
        let out = support::amtd(
            dir.path(),
            &[
                "audit",
                "list",
                "--json",
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        audit.contains(&uuid) && audit.contains("reveal-password"),
        "the password reveal is audited: {audit}"
    );
}

/// Interactive: `amtd sol` on a terminal (a pty made by `script`, bsdutils) switches it to raw
/// mode (keys reach the host as typed), quits on Ctrl-] q, and leaves the terminal as it found
/// it (`stty -a` afterwards shows canonical mode and echo again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_on_a_terminal_uses_raw_mode_and_restores_it() {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let script = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("script"))
            .find(|p| p.is_file())
    });
    let Some(script) = script else {
        assert!(
            std::env::var_os("AMTD_NODE_DIR").is_none(),
            "script (bsdutils) is missing; run ./scripts/install-peers"
        );
        eprintln!("SKIPPED: script (bsdutils) is missing");
        return;
    };
    let fleet = device_fleet().await;
    let dev = fleet.device(0).unwrap().clone();
    let cmd = format!(
        "stty -a; {} sol --host {}; echo; echo AFTER; stty -a",
        env!("CARGO_BIN_EXE_amtd"),
        dev.ip
    );
    let shown = tokio::task::spawn_blocking(move || {
        let mut child = support::Running(
            Command::new(script)
                .args(["-qfec", &cmd, "/dev/null"])
                .env("AMT_PASSWORD", PASSWORD)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let out = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.0.stdout.take().unwrap();
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let wait_for = |want: &str| {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let s = out.lock().unwrap().clone();
                if s.contains(want) {
                    return s;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "never saw {want:?}:\n{s}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let mut stdin = child.0.stdin.take().unwrap();
        wait_for("login: ");
        // Raw mode: no line buffering, so each key goes out at once; ^C is data, not SIGINT.
        stdin.write_all(b"operator\r").unwrap();
        stdin.flush().unwrap();
        wait_for("Password: ");
        // The host does not echo passwords; in raw mode the terminal does not either (a cooked
        // terminal would show what was typed).
        stdin.write_all(b"s3cr3t\r").unwrap();
        stdin.flush().unwrap();
        wait_for("Login incorrect");
        stdin.write_all(&[0x1d, b'q']).unwrap();
        stdin.flush().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while child.0.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "amtd sol did not quit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        let s = out.lock().unwrap().clone();
        s
    })
    .await
    .unwrap();
    assert!(shown.contains("Ctrl-] q quits"), "{shown}");
    assert!(
        !shown.contains("s3cr3t"),
        "keys were echoed locally: {shown}"
    );
    assert!(shown.contains("quit; disconnected"), "{shown}");
    let (before, after) = shown
        .split_once("AFTER")
        .expect("the shell went on after amtd");
    let modes = |s: &str| {
        let words: Vec<&str> = s.split_whitespace().collect();
        (
            words.contains(&"icanon"),
            words.contains(&"echo"),
            words.contains(&"isig"),
        )
    };
    assert_eq!(
        modes(before),
        (true, true, true),
        "the pty starts cooked: {before}"
    );
    assert_eq!(
        modes(after),
        (true, true, true),
        "and is cooked again: {after}"
    );
}
