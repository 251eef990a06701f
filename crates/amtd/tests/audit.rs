//! The audit log through `amtd serve` (issue 8): a scripted session against an emulated device
//! leaves exactly the expected records (who, what, which device, result) and a chain that
//! verifies; an unwritable audit log refuses privileged actions (503, device untouched);
//! `amtd audit verify` names the record that was edited, deleted or moved.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::{amtd, text, Serve, FIRST_UUID};

/// `amtd audit list --json` from the server's config, as (actor, action, device, result) with
/// a failure's reason cut to `failed`.
fn audit_list(dir: &Path) -> (Vec<(String, String, String, String)>, Value) {
    let out = amtd(dir, &["audit", "list", "--json", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let result = r["result"].as_str().unwrap();
            let result = if result.starts_with("failed: ") {
                "failed"
            } else {
                result
            };
            (
                r["actor"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["device"].as_str().unwrap_or("-").to_owned(),
                result.to_owned(),
            )
        })
        .collect();
    (rows, v)
}

fn verify(dir: &Path) -> (Option<i32>, String) {
    let out = amtd(dir, &["audit", "verify", "--config", "amtd.toml"]);
    (out.status.code(), text(&out))
}

/// Runs SQL on the server's SQLite database with the sqlite3 CLI.
fn sql(dir: &Path, statement: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(dir.join("amtd-data/amtd.sqlite"))
        .arg(statement)
        .output()
        .expect("the sqlite3 CLI (Debian package sqlite3) edits the database in this test");
    assert!(out.status.success(), "{statement}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn rows(list: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    list.iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect()
}

#[test]
fn scripted_session_is_audited_exactly_and_an_unwritable_log_refuses_actions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "", &[]);
    let (_sim, _ip) = serve.start_device();
    let shown = serve.wait_device_done(FIRST_UUID);
    assert_eq!(shown["state"], "provisioned", "{shown}\n{}", serve.log());
    let u = FIRST_UUID;

    // The session: every privileged kind the API offers on this server.
    let (status, v) = serve.call("POST", &format!("/api/v1/devices/{u}/reveal-password"), "");
    assert_eq!(status, 200, "{v}");
    let password = v["admin_password"].as_str().unwrap().to_owned();
    let (status, v) = serve.call(
        "PUT",
        "/api/v1/profiles/audited",
        &json!({ "clock_sync": false }).to_string(),
    );
    assert_eq!(status, 201, "{v}");
    let (status, v) = serve.call("DELETE", "/api/v1/profiles/audited", "");
    assert_eq!(status, 200, "{v}");
    let targets = json!({ "devices": [u] });
    let (status, v) = serve.call(
        "POST",
        "/api/v1/boot",
        &json!({ "targets": targets, "next_boot": "pxe" }).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["succeeded"], 1, "{v}");
    let (status, v) = serve.call(
        "POST",
        "/api/v1/power",
        &json!({ "targets": targets, "action": "off" }).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["succeeded"], 1, "{v}");
    // A revocation the CA refuses (no such certificate) is recorded as failed.
    let (status, v) = serve.call(
        "POST",
        "/api/v1/certificates/7e000000000000000001/revoke",
        &json!({ "reason": "key-compromise" }).to_string(),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = serve.call(
        "POST",
        "/api/v1/maintenance/run",
        &json!({ "tasks": ["sync-clock"] }).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    // Reads are not audited.
    let (status, _) = serve.call("GET", &format!("/api/v1/devices/{u}/power"), "");
    assert_eq!(status, 200);

    let expected = rows(&[
        ("amtd", "provision", u, "ok"),
        ("admin", "reveal-password", u, "started"),
        ("admin", "reveal-password", u, "ok"),
        ("admin", "profile-put", "-", "started"),
        ("admin", "profile-put", "-", "ok"),
        ("admin", "profile-delete", "-", "started"),
        ("admin", "profile-delete", "-", "ok"),
        ("admin", "boot-pxe", u, "started"),
        ("admin", "boot-pxe", u, "ok"),
        ("admin", "power-off", u, "started"),
        ("admin", "power-off", u, "ok"),
        ("admin", "revoke-certificate", "-", "started"),
        ("admin", "revoke-certificate", "-", "failed"),
        ("admin", "maintenance-run", "-", "started"),
        ("admin", "maintenance-run", "-", "ok"),
    ]);
    let (got, raw) = audit_list(d);
    assert_eq!(got, expected, "{raw:#}");
    let raw_text = raw.to_string();
    assert!(
        !raw_text.contains(&password),
        "no password in the audit log"
    );
    let records = raw.as_array().unwrap();
    assert!(records[1]["peer"].as_str().unwrap().starts_with("127."));
    assert_eq!(records[3]["detail"]["profile"], "audited");
    assert_eq!(records[0]["detail"]["profile"], "default");
    let (code, out) = verify(d);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 15 records"), "{out}");
    // --device keeps that device's records only.
    let out = amtd(
        d,
        &[
            "audit",
            "list",
            "--json",
            "--config",
            "amtd.toml",
            "--device",
            u,
        ],
    );
    let only: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(only.len(), 7, "{}", text(&out));

    // The audit log becomes unwritable: privileged actions are refused, nothing changes.
    sql(
        d,
        "CREATE TRIGGER audit_read_only BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit log is read-only'); END;",
    );
    let (status, v) = serve.call(
        "POST",
        "/api/v1/power",
        &json!({ "targets": targets, "action": "on" }).to_string(),
    );
    assert_eq!(status, 503, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("audit log cannot be written"),
        "{v}"
    );
    let (status, v) = serve.call("GET", &format!("/api/v1/devices/{u}/power"), "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["power_state"], "off",
        "the device was not powered on: {v}"
    );
    let (status, v) = serve.call("POST", &format!("/api/v1/devices/{u}/reveal-password"), "");
    assert_eq!(status, 503, "{v}");
    assert!(!v.to_string().contains(&password));
    let (status, v) = serve.call(
        "PUT",
        "/api/v1/profiles/refused",
        &json!({ "clock_sync": false }).to_string(),
    );
    assert_eq!(status, 503, "{v}");
    let (status, _) = serve.call("GET", "/api/v1/profiles/refused", "");
    assert_eq!(status, 404, "the refused profile was not stored");
    let (got, raw) = audit_list(d);
    assert_eq!(got, expected, "nothing was recorded: {raw:#}");
}

#[test]
fn verify_names_the_record_that_was_edited_deleted_or_moved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "", &[]);
    for name in ["a", "b"] {
        let path = format!("/api/v1/profiles/{name}");
        let (status, v) = serve.call("PUT", &path, &json!({ "clock_sync": false }).to_string());
        assert_eq!(status, 201, "{v}");
        let (status, v) = serve.call("DELETE", &path, "");
        assert_eq!(status, 200, "{v}");
    }
    drop(serve);
    let (code, out) = verify(d);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 8 records"), "{out}");

    // Edit one record's detail.
    let original = sql(d, "SELECT detail FROM audit_log WHERE seq = 3");
    sql(
        d,
        "UPDATE audit_log SET detail = '{\"profile\":\"innocent\"}' WHERE seq = 3",
    );
    let (code, out) = verify(d);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("BROKEN at seq 3") && out.contains("altered"),
        "{out}"
    );
    sql(
        d,
        &format!(
            "UPDATE audit_log SET detail = '{}' WHERE seq = 3",
            original.replace('\'', "''")
        ),
    );
    assert_eq!(verify(d).0, Some(0));

    // Reorder: records 5 and 6 swap places.
    let swap = "UPDATE audit_log SET seq = 1000 WHERE seq = 5; \
                UPDATE audit_log SET seq = 5 WHERE seq = 6; \
                UPDATE audit_log SET seq = 6 WHERE seq = 1000;";
    sql(d, swap);
    let (code, out) = verify(d);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("BROKEN at seq 5"), "{out}");
    sql(d, swap);
    assert_eq!(verify(d).0, Some(0));

    // Delete one.
    sql(d, "DELETE FROM audit_log WHERE seq = 4");
    let (code, out) = verify(d);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("BROKEN at seq 5") && out.contains("record 4 is missing"),
        "{out}"
    );
}
