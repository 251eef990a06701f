//! Device faults through the real server: `amtd serve` on a config in a temporary directory and
//! `amtd sim` running six emulated devices, each with one injected fault, over loopback. Each
//! fault must end in the outcome ARCHITECTURE.md's "Fault outcomes" table documents:
//!
//! - `drop-after-apply`: the machine polls after the unanswered CommitChanges, sees it took
//!   effect and provisions the device; the poll is in the timeline;
//! - `slow:MS`: provisioned, just slower;
//! - `bad-xml`: the first call's answers are unreadable; after three attempts the run fails
//!   and nothing was issued;
//! - `cert-swap`: the verification over the provisioned TLS channel fails, the run fails and
//!   the certificate issued for the device is revoked (it is on the published CRL);
//! - `connection-close`: provisioned (a new session per request);
//! - `lost-hellos:N`: the device backs off and the hello that gets through is provisioned.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{amtd_env, random_octets, request, root_hash_hex, text, wait_for, Running};

const PFX_PASSWORD: &str = "pfx-test-password";

/// `amtd args…` in `dir`, with the password of the provisioning certificate's PKCS#12.
fn amtd(dir: &Path, args: &[&str]) -> Output {
    amtd_env(dir, args, &[("AMTD_PFX_PASSWORD", PFX_PASSWORD)])
}

/// A raw HTTP GET, with a bearer token when given: (status, body).
fn http_get_with(api: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    request(api, "GET", path, token, b"")
}

/// A raw HTTP GET without credentials: (status, body).
fn http_get(api: &str, path: &str) -> (u16, Vec<u8>) {
    http_get_with(api, path, None)
}

/// The serials (see [`canonical_serial`]) `openssl crl` lists in a DER CRL.
fn crl_serials(dir: &Path, der: &[u8]) -> Vec<String> {
    let f = dir.join("issuing.crl");
    std::fs::write(&f, der).unwrap();
    let out = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&f)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number:"))
        .map(|s| canonical_serial(&s.replace(':', "")))
        .collect()
}

/// Upper-case hex without leading zeros, so that both tools' spellings compare equal.
fn canonical_serial(hex: &str) -> String {
    hex.trim().trim_start_matches('0').to_ascii_uppercase()
}

/// The device's UUID as `amtd sim` derives it from the fleet index.
fn uuid_of(index: usize) -> String {
    format!("8086e000-0000-4000-8000-{:012x}", index + 1)
}

/// The faults, by device index.
const FAULTS: [&str; 6] = [
    "drop-after-apply",
    "slow:300",
    "bad-xml",
    "cert-swap",
    "connection-close",
    "lost-hellos:2",
];

#[test]
fn each_device_fault_ends_in_its_documented_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let (a, b, port) = random_octets();
    let server_ip = format!("127.{a}.{b}.200");
    let first_ip = format!("127.{a}.{b}.101");
    std::fs::create_dir(path.join("amtd-data")).unwrap();
    let ca = |args: &[&str]| {
        let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
        all.extend_from_slice(args);
        let out = amtd(path, &all);
        assert!(out.status.success(), "{}", text(&out));
        out
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
    let root = root_hash_hex(&std::fs::read_to_string(path.join("trust.pem")).unwrap());

    let mapping: String = (0..FAULTS.len())
        .map(|i| format!("\"{}\" = \"amtdev{:05}.amt.test\"\n", uuid_of(i), i + 1))
        .collect();
    std::fs::write(
        path.join("amtd.toml"),
        format!(
            "[server]\napi_bind = \"{server_ip}:0\"\nhello_bind = \"{server_ip}\"\n\
             hello_port = {port}\n\
             [[provisioning_certificate]]\nname = \"test\"\npkcs12 = \"prov.pfx\"\n\
             pkcs12_password_env = \"AMTD_PFX_PASSWORD\"\n\
             [fqdn]\nstrategies = [\"operator-mapping\"]\n[fqdn.mapping]\n{mapping}"
        ),
    )
    .unwrap();
    let _serve = Running(
        Command::new(env!("CARGO_BIN_EXE_amtd"))
            .current_dir(path)
            .env("RUST_BACKTRACE", "0")
            .env("AMTD_PFX_PASSWORD", PFX_PASSWORD)
            .args(["serve", "--config", "amtd.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("amtd serve's API", Duration::from_secs(60), || {
        amtd(path, &["devices", "--json"])
            .status
            .success()
            .then_some(())
    });
    let api = {
        let d: Value =
            serde_json::from_slice(&std::fs::read(path.join("amtd-data/server.json")).unwrap())
                .unwrap();
        d["api"].as_str().unwrap().to_owned()
    };
    // Nothing revoked yet.
    let (status, der) = http_get(&api, "/crl/issuing.crl");
    assert_eq!(status, 200);
    assert!(crl_serials(path, &der).is_empty());

    // Four emulated devices, each with its own fault.
    std::fs::write(
        path.join("fleet.toml"),
        format!("[defaults]\nextra_root_hashes = [\"{root}\"]\n"),
    )
    .unwrap();
    let port_text = port.to_string();
    let count = FAULTS.len().to_string();
    let mut args = vec![
        "sim".to_owned(),
        "--count".into(),
        count,
        "--first-ip".into(),
        first_ip.clone(),
        "--fleet".into(),
        "fleet.toml".into(),
        "--provisioning-server".into(),
        server_ip.clone(),
        "--hello-port".into(),
        port_text,
        "--state-dir".into(),
        "sim-state".into(),
        // A minute of hello back-off becomes a second (lost-hellos).
        "--time-scale".into(),
        "60".into(),
    ];
    for (i, f) in FAULTS.iter().enumerate() {
        args.push("--fault".into());
        args.push(format!("{i}={f}"));
    }
    let _sim = Running(
        Command::new(env!("CARGO_BIN_EXE_amtd"))
            .current_dir(path)
            .env("RUST_BACKTRACE", "0")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Every run ends (provisioned or failed): none hangs.
    let shown: Vec<Value> = wait_for(
        "every faulty device's run to end",
        Duration::from_secs(240),
        || {
            let mut all = Vec::new();
            for i in 0..FAULTS.len() {
                let out = amtd(path, &["device", &uuid_of(i), "--json"]);
                let v: Value = serde_json::from_slice(&out.stdout).ok()?;
                let ended = v["runs"].as_array().is_some_and(|r| {
                    !r.is_empty() && r.iter().all(|r| r["finished_at"] != Value::Null)
                });
                if !ended || (v["state"] != "provisioned" && v["state"] != "failed") {
                    return None;
                }
                all.push(v);
            }
            Some(all)
        },
    );
    let reasons = |v: &Value| -> Vec<String> {
        v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["reason"].as_str().map(str::to_owned))
            .collect()
    };
    let run = |v: &Value| v["runs"].as_array().unwrap().last().unwrap().clone();
    for (v, f) in shown.iter().zip(FAULTS) {
        eprintln!(
            "{f}: state {}, run {}, notes {:?}",
            v["state"],
            run(v),
            reasons(v)
        );
    }

    // drop-after-apply: CommitChanges applied, the session dropped; the machine polls over the
    // provisioned channel, finds it took effect and carries on to a verified device.
    let drop = &shown[0];
    assert_eq!(drop["state"], "provisioned", "{drop}");
    let notes = reasons(drop).join("\n");
    assert!(
        notes.contains("after sending; polling the device state"),
        "{notes}"
    );
    assert!(notes.contains("CommitChanges had taken effect"), "{notes}");
    assert_eq!(run(drop)["outcome"], "provisioned");

    // slow:300: provisioned, every answer 300 ms late, so the run takes seconds.
    let slow = &shown[1];
    assert_eq!(slow["state"], "provisioned", "{slow}");
    let r = run(slow);
    let took = r["finished_at"].as_u64().unwrap() - r["started_at"].as_u64().unwrap();
    assert!(took >= 3, "a run against 300 ms replies took {took} s");

    // bad-xml: the first call's answers are unreadable; retried, then the run fails with the
    // reason in words, and no certificate was ever issued.
    let bad = &shown[2];
    assert_eq!(bad["state"], "failed", "{bad}");
    let r = run(bad);
    assert_eq!(r["outcome"], "failed");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    // ... and says why: the transport's words are kept.
    assert!(
        reason.contains("not a readable WS-Management response"),
        "{reason}"
    );
    let last = bad["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["phase"], "failed", "{bad}");

    // cert-swap: the device serves another certificate after CommitChanges; the pinned
    // verification fails, the run fails and the issued certificate is revoked.
    let swap = &shown[3];
    assert_eq!(swap["state"], "failed", "{swap}");
    let r = run(swap);
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("verification"), "{reason}");
    assert!(
        reason.contains("certificate") && !reason.contains("TransportFailed"),
        "the reason should name the certificate problem in words: {reason}"
    );
    let last = swap["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["phase"], "failed", "{swap}");

    // connection-close: every answer ends its session; the runner reconnects for each request.
    let close = &shown[4];
    assert_eq!(close["state"], "provisioned", "{close}");

    // lost-hellos:2: the first two hellos never arrive; the device backs off and its third
    // (retry count 2) is accepted and provisioned.
    let lost = &shown[5];
    assert_eq!(lost["state"], "provisioned", "{lost}");
    let token = std::fs::read_to_string(path.join("amtd-data/api-token")).unwrap();
    let (status, body) = http_get_with(
        &api,
        &format!("/api/v1/hellos?device={}", uuid_of(5)),
        Some(token.trim()),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let hellos: Value = serde_json::from_slice(&body).unwrap();
    let retries: Vec<u64> = hellos
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["retry_count"].as_u64())
        .collect();
    assert_eq!(retries, [2], "{hellos}");

    // The ledger: a certificate for each device that got as far as the CSR; only cert-swap's
    // is revoked (provisioning failed after issuance, P7) and the published CRL lists exactly
    // it. bad-xml never got a certificate.
    let ledger = text(&ca(&["ledger"]));
    let line_of = |host: &str| -> Option<String> {
        ledger
            .lines()
            .find(|l| l.contains(&format!("CN = {host}")))
            .map(str::to_owned)
    };
    for host in ["amtdev00001.amt.test", "amtdev00002.amt.test"] {
        let line = line_of(host).unwrap_or_else(|| panic!("no certificate for {host}:\n{ledger}"));
        assert!(!line.contains("revoked"), "{line}");
    }
    assert_eq!(line_of("amtdev00003.amt.test"), None, "{ledger}");
    let swapped = line_of("amtdev00004.amt.test").expect("cert-swap's certificate");
    assert!(
        swapped.contains("revoked (provisioning-failed)"),
        "{swapped}"
    );
    let serial = canonical_serial(swapped.split_whitespace().next().unwrap());
    let (status, der) = http_get(&api, "/crl/issuing.crl");
    assert_eq!(status, 200);
    assert_eq!(crl_serials(path, &der), [serial], "{ledger}");
}
