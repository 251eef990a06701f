//! The console through the binary: `amtd serve` and `amtd sim --provisioned` run as processes,
//! devices are adopted with `amtd adopt`, and every command's effect is checked on the emulated
//! device (its state file, its logs), not only in what the CLI prints:
//! power off/on of a list and of a tag query, an unavailable state refused before sending,
//! boot to PXE taken on the next reset, event and audit logs decoded, tags, the audit trail,
//! and an inventory that changes when the device's hardware does (the emulated platform is
//! swapped between two reads).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{amtd_env, spawn_env, text, wait_for, Running, Serve};

const PASSWORD: &str = "Console-Lab-1!";

fn uuid(n: usize) -> String {
    format!("8086e000-0000-4000-8000-{n:012x}")
}

/// `amtd sim --provisioned` with `count` devices from `first_ip`, state in `sim-state`.
fn start_sim(dir: &Path, first_ip: &str, count: usize) -> Running {
    let count = count.to_string();
    spawn_env(
        dir,
        &[
            "sim",
            "--count",
            &count,
            "--first-ip",
            first_ip,
            "--provisioned",
            "--admin-password-env",
            "AMTD_TEST_ADMIN",
            "--no-hello",
            "--state-dir",
            "sim-state",
        ],
        &[("AMTD_TEST_ADMIN", PASSWORD)],
        "sim.log",
    )
}

fn run(dir: &Path, args: &[&str]) -> Output {
    amtd_env(dir, args, &[("AMTD_TEST_ADMIN", PASSWORD)])
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, args);
    assert!(out.status.success(), "amtd {args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("amtd {args:?}: {e}: {}", text(&out)))
}

/// The emulated device's persisted state.
fn device_state(dir: &Path, uuid: &str) -> Value {
    let path = dir.join("sim-state").join(format!("{uuid}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn ip(prefix: &str, n: usize) -> String {
    format!("{prefix}.{}", 110 + n)
}

/// Adopts devices 1..=count (plain 16992), waiting until the sim answers.
fn adopt_all(dir: &Path, prefix: &str, count: usize) {
    for n in 1..=count {
        let (u, address, fqdn) = (uuid(n), ip(prefix, n), format!("amtdev{n:05}.amt.test"));
        wait_for(
            "the device to answer the adoption",
            Duration::from_secs(60),
            || {
                run(
                    dir,
                    &[
                        "adopt",
                        &u,
                        "--address",
                        &address,
                        "--fqdn",
                        &fqdn,
                        "--plain",
                        "--admin-password-env",
                        "AMTD_TEST_ADMIN",
                    ],
                )
                .status
                .success()
                .then_some(())
            },
        );
    }
}

fn results(v: &Value) -> Vec<(String, Value)> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["uuid"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

#[test]
fn power_boot_logs_and_tags_act_on_the_emulated_devices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "", &[]);
    let prefix = serve.server_ip.rsplit_once('.').unwrap().0.to_owned();
    let _sim = start_sim(d, &ip(&prefix, 1), 3);
    adopt_all(d, &prefix, 3);
    let (u1, u2, u3) = (uuid(1), uuid(2), uuid(3));

    // Tags select devices.
    let t = ok_json(d, &["tag", &u1, "lab", "floor-2", "--json"]);
    assert_eq!(t["tags"], serde_json::json!(["floor-2", "lab"]));
    ok_json(d, &["tag", &u2, "lab", "--json"]);
    let out = run(d, &["tag", &u3]);
    assert!(text(&out).contains("no tags"), "{}", text(&out));

    // Power status of all three, read from the devices.
    let v = ok_json(d, &["power", "status", "--all", "--json"]);
    assert_eq!(v["total"], 3);
    for (_, r) in results(&v) {
        assert_eq!(r["result"]["power_state"], "on", "{r}");
    }

    // Off for a list of three: every emulated host is off.
    let v = ok_json(
        d,
        &["power", "off", &u1, &u2, "amtdev00003.amt.test", "--json"],
    );
    assert_eq!(v["succeeded"], 3, "{v}");
    for u in [&u1, &u2, &u3] {
        assert_eq!(device_state(d, u)["power_state"], 8, "{u} is off");
    }
    let v = ok_json(d, &["power", "status", &u1, "--json"]);
    assert_eq!(v["results"][0]["result"]["power_state"], "off");

    // On by tag: the two "lab" devices come up, the third stays off.
    let v = ok_json(d, &["power", "on", "--tag", "lab", "--json"]);
    let got: Vec<String> = results(&v).into_iter().map(|(u, _)| u).collect();
    assert_eq!(got, [u1.clone(), u2.clone()]);
    assert_eq!(device_state(d, &u1)["power_state"], 2);
    assert_eq!(device_state(d, &u2)["power_state"], 2);
    assert_eq!(device_state(d, &u3)["power_state"], 8);

    // A state the device does not offer now is refused before anything is sent.
    let out = run(d, &["power", "reset", &u3]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(
        shown.contains("reset is not available on this device now (it is off; it offers on (2))"),
        "{shown}"
    );
    assert_eq!(device_state(d, &u3)["power_state"], 8);
    let audit3 = ok_json(d, &["audit-log", &u3, "--json"]);
    assert!(
        !audit3["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "Performed Reset"),
        "{audit3}"
    );

    // Boot to PXE: armed on the device, then taken by the next reset.
    let v = ok_json(d, &["boot", "pxe", &u1, "--json"]);
    assert_eq!(v["results"][0]["result"]["options_cleared"], false, "{v}");
    assert_eq!(v["results"][0]["result"]["next_boot"], "pxe", "{v}");
    let boot = &device_state(d, &u1)["manage"]["boot"];
    assert_eq!(boot["role_armed"], true, "{boot}");
    assert_eq!(boot["forced_source"], "Intel(r) AMT: Force PXE Boot");
    ok_json(d, &["power", "reset", &u1, "--json"]);
    assert_eq!(device_state(d, &u1)["manage"]["boot"]["role_armed"], false);

    // The event log holds the boots the test caused, decoded, newest first.
    let ev = ok_json(d, &["events", &u1, "--json"]);
    let words: Vec<&str> = ev["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["description"].as_str().unwrap())
        .collect();
    assert_eq!(words[0], "Boot completed: PXE", "{words:?}");
    assert!(words.contains(&"User requested PXE boot"), "{words:?}");
    assert!(
        words.contains(&"System boot initiated by power up"),
        "{words:?}"
    );
    let table = text(&run(d, &["events", &u1]));
    assert!(table.contains("System firmware (BIOS)"), "{table}");

    // The audit log names who did what.
    let au = ok_json(d, &["audit-log", &u1, "--json"]);
    let entries = au["entries"].as_array().unwrap();
    let events: Vec<&str> = entries
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events[..4],
        [
            "Performed Reset",
            "Set Boot Options",
            "Performed Power Up",
            "Performed Power Down"
        ],
        "{events:?}"
    );
    assert!(entries[..4].iter().all(|e| e["initiator"] == "admin"));
    assert!(entries
        .iter()
        .any(|e| e["details"] == "Provisioned by the emulator (--provisioned)"));

    // Every change is in the server's audit trail, before it was made.
    let out = amtd_env(
        d,
        &["audit", "list", "--json", "--config", "amtd.toml"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let trail = String::from_utf8_lossy(&out.stdout).replace("\": \"", "\":\"");
    for action in [
        "device-adopt",
        "tags-set",
        "power-off",
        "power-on",
        "boot-pxe",
        "power-reset",
    ] {
        assert!(
            trail.contains(&format!("\"action\":\"{action}\"")),
            "{action}: {trail}"
        );
    }
    assert!(!trail.contains(PASSWORD), "no password in the audit trail");

    // The API directly: one device's power, a whole-answer fleet run, and refusals.
    let (status, v) = serve.call("GET", &format!("/api/v1/devices/{u2}/power"), "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["power_state"], "on");
    assert!(
        v["actions"].as_array().unwrap().contains(&"off".into()),
        "{v}"
    );
    let (status, v) = serve.call(
        "POST",
        "/api/v1/power",
        r#"{"targets": {"tags": ["lab", "floor-2"]}, "action": "status"}"#,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], 1, "both tags: only device 1 {v}");
    assert_eq!(v["results"][0]["uuid"], u1.as_str());
    for (body, want) in [
        (
            r#"{"targets": {"devices": ["nobody.amt.test"]}, "action": "off"}"#,
            404,
        ),
        (r#"{"targets": {}, "action": "off"}"#, 400),
        (r#"{"targets": {"all": true}, "action": "warp"}"#, 400),
        (
            r#"{"targets": {"all": true}, "action": "off", "concurrency": 0}"#,
            400,
        ),
        (
            r#"{"targets": {"tag": "no-such-tag"}, "action": "off"}"#,
            400,
        ),
        (
            r#"{"targets": {"all": true}, "action": "off", "extra": 1}"#,
            400,
        ),
    ] {
        let (status, v) = serve.call("POST", "/api/v1/power", body);
        assert_eq!(status, want, "{body}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    let (status, _) = serve.call(
        "PUT",
        &format!("/api/v1/devices/{u3}/tags"),
        r#"{"tags": ["no spaces"]}"#,
    );
    assert_eq!(status, 400);
    let (status, _) = support::request(
        &serve.api,
        "POST",
        "/api/v1/power",
        None,
        br#"{"targets": {"all": true}, "action": "off"}"#,
    );
    assert_eq!(status, 401);
    assert_eq!(
        device_state(d, &u2)["power_state"],
        2,
        "refused requests changed nothing"
    );

    // The table form.
    let table = text(&run(d, &["power", "status", "--tag", "lab"]));
    assert!(
        table.contains("amtdev00001.amt.test") && table.contains("on (offers:"),
        "{table}"
    );
    assert!(table.contains("2 of 2 devices succeeded"), "{table}");
    drop(serve);
}

#[test]
fn an_unreachable_device_fails_alone_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "", &[]);
    let prefix = serve.server_ip.rsplit_once('.').unwrap().0.to_owned();
    let sim = start_sim(d, &ip(&prefix, 1), 2);
    adopt_all(d, &prefix, 2);
    drop(sim);
    // The sim is gone: both fail with the reason, in a table and with a failing exit status.
    let out = run(d, &["power", "status", "--all", "--timeout", "5"]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(
        shown.contains("FAILED: cannot connect to http://"),
        "{shown}"
    );
    assert!(shown.contains("2 of 2 devices failed"), "{shown}");
    drop(serve);
}

#[test]
fn inventory_changes_are_marked_after_the_hardware_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "", &[]);
    let prefix = serve.server_ip.rsplit_once('.').unwrap().0.to_owned();
    let sim = start_sim(d, &ip(&prefix, 1), 1);
    adopt_all(d, &prefix, 1);
    let u = uuid(1);

    let report = text(&run(d, &["inventory", &u, "--refresh"]));
    assert!(report.contains("First read"), "{report}");
    assert!(report.contains("vPro Notebook 12"), "{report}");
    let again = text(&run(d, &["inventory", &u, "--refresh"]));
    assert!(
        again.contains("No changes since the previous read"),
        "{again}"
    );

    // New hardware: the device comes back as the other platform (persona) it keeps in flash.
    drop(sim);
    let path = d.join("sim-state").join(format!("{u}.json"));
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["config"]["persona"] = "amt11".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let _sim = start_sim(d, &ip(&prefix, 1), 1);
    let report = wait_for(
        "the new platform's inventory",
        Duration::from_secs(60),
        || {
            let out = run(d, &["inventory", &u, "--refresh"]);
            out.status.success().then(|| text(&out))
        },
    );
    assert!(
        report.contains("Changes since the previous read"),
        "{report}"
    );
    assert!(report.contains("* chassis"), "{report}");
    assert!(
        report.contains("model              vPro Desktop 6   (was: vPro Notebook 12)"),
        "{report}"
    );
    assert!(
        report.contains("* AMT                11.8.50   (was: 16.1.27)"),
        "{report}"
    );

    // The JSON form: the stored read, its items and the diff.
    let v = ok_json(d, &["inventory", &u, "--json"]);
    assert!(v["read_at"].as_u64().unwrap() >= v["previous_read_at"].as_u64().unwrap());
    assert_eq!(v["inventory"]["firmware"]["AMT"], "11.8.50");
    assert!(!v["diff"]["changed"].as_array().unwrap().is_empty());
    // The device row carries the firmware version read.
    let dev = ok_json(d, &["device", &u, "--json"]);
    assert_eq!(dev["firmware_version"], "11.8.50");
    drop(serve);
}
