//! The audit log through `amtd serve` (issue 8): a scripted session against an emulated device
//! — device actions, profiles, user and token management, logins and logouts — leaves exactly
//! the expected records (who, what, which device, result) and a chain that verifies; an
//! unwritable audit log refuses privileged actions (503, device untouched, no user created, no
//! session granted) but a wrong password still gets 401; the server's log shows the failed
//! login without its password; `amtd audit verify` names the record that was edited, deleted or
//! moved, a user-management record among them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::{amtd, http, login, text, Serve, FIRST_UUID};

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

    // User and token management, logins and logouts.
    let api = serve.api.clone();
    let (status, v) = serve.call(
        "POST",
        "/api/v1/users",
        &json!({ "name": "auditor", "role": "viewer", "password": USER_PASSWORD }).to_string(),
    );
    assert_eq!(status, 201, "{v}");
    let (status, v) = serve.call(
        "PUT",
        "/api/v1/users/auditor/role",
        &json!({ "role": "operator" }).to_string(),
    );
    assert_eq!((status, v["role"].as_str()), (200, Some("operator")), "{v}");
    let (status, v) = serve.call(
        "PUT",
        "/api/v1/users/auditor/password",
        &json!({ "password": NEW_PASSWORD }).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = serve.call("POST", "/api/v1/users/auditor/disable", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = serve.call("POST", "/api/v1/users/auditor/enable", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = serve.call(
        "POST",
        "/api/v1/tokens",
        &json!({ "name": "ci", "user": "auditor" }).to_string(),
    );
    assert_eq!(status, 201, "{v}");
    let token_id = v["id"].as_str().unwrap().to_owned();
    let token_value = v["token"].as_str().unwrap().to_owned();
    let (status, v) = serve.call("DELETE", &format!("/api/v1/tokens/{token_id}"), "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(login(&api, "auditor", WRONG_PASSWORD).0, 401);
    let (status, cookie, csrf) = login(&api, "auditor", NEW_PASSWORD);
    assert_eq!(status, 200);
    let (status, _, v) = http(
        &api,
        "POST",
        "/api/v1/logout",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!((status, &v["logged_out"]), (200, &json!(true)), "{v}");
    let (status, v) = serve.call("DELETE", "/api/v1/users/auditor", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = serve.call("DELETE", "/api/v1/users/nobody", "");
    assert_eq!(status, 404, "{v}");

    let expected = rows(&[
        ("amtd", "user-create", "-", "started"),
        ("amtd", "user-create", "-", "ok"),
        ("amtd", "token-create", "-", "started"),
        ("amtd", "token-create", "-", "ok"),
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
        ("admin", "user-create", "-", "started"),
        ("admin", "user-create", "-", "ok"),
        ("admin", "user-role", "-", "started"),
        ("admin", "user-role", "-", "ok"),
        ("admin", "user-password", "-", "started"),
        ("admin", "user-password", "-", "ok"),
        ("admin", "user-disable", "-", "started"),
        ("admin", "user-disable", "-", "ok"),
        ("admin", "user-enable", "-", "started"),
        ("admin", "user-enable", "-", "ok"),
        ("admin", "token-create", "-", "started"),
        ("admin", "token-create", "-", "ok"),
        ("admin", "token-revoke", "-", "started"),
        ("admin", "token-revoke", "-", "ok"),
        ("auditor", "login", "-", "failed"),
        ("auditor", "login", "-", "ok"),
        ("auditor", "logout", "-", "ended"),
        ("admin", "user-delete", "-", "started"),
        ("admin", "user-delete", "-", "ok"),
        ("admin", "user-delete", "-", "started"),
        ("admin", "user-delete", "-", "failed"),
    ]);
    let (got, raw) = audit_list(d);
    assert_eq!(got, expected, "{raw:#}");
    let raw_text = raw.to_string();
    for secret in [
        password.as_str(),
        USER_PASSWORD,
        NEW_PASSWORD,
        WRONG_PASSWORD,
        &token_value,
        &serve.token,
    ] {
        assert!(
            !raw_text.contains(secret),
            "no secret in the audit log: {secret}"
        );
    }
    let records = raw.as_array().unwrap();
    // The last record of an action with a result.
    let at = |action: &str, result: &str| {
        records
            .iter()
            .rev()
            .find(|r| r["action"] == action && r["result"].as_str().unwrap().starts_with(result))
            .unwrap_or_else(|| panic!("{action} {result}: {raw:#}"))
    };
    assert!(at("reveal-password", "started")["peer"]
        .as_str()
        .unwrap()
        .starts_with("127."));
    assert_eq!(at("profile-put", "started")["detail"]["profile"], "audited");
    assert_eq!(at("provision", "ok")["detail"]["profile"], "default");
    assert_eq!(at("user-role", "started")["detail"]["role"], "operator");
    assert_eq!(at("token-create", "ok")["detail"]["name"], "ci");
    assert_eq!(records[3]["detail"]["name"], "bootstrap");
    let failed = at("login", "failed");
    assert_eq!(failed["result"], "failed: wrong password", "{failed}");
    assert!(
        failed["peer"].as_str().unwrap().starts_with("127."),
        "{failed}"
    );
    let deleted = records.last().unwrap();
    assert_eq!(deleted["result"], "failed: no user \"nobody\"", "{deleted}");
    let (code, out) = verify(d);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("intact: {} records", expected.len())),
        "{out}"
    );
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
    // No user is created, no session granted; a wrong password is still answered 401.
    let (status, v) = serve.call(
        "POST",
        "/api/v1/users",
        &json!({ "name": "refused", "role": "viewer", "password": USER_PASSWORD }).to_string(),
    );
    assert_eq!(status, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("audit log"), "{v}");
    let (status, v) = serve.call("GET", "/api/v1/users", "");
    assert_eq!(status, 200, "{v}");
    assert!(
        v.as_array().unwrap().iter().all(|u| u["name"] != "refused"),
        "the refused user does not exist: {v}"
    );
    let (status, v) = serve.call(
        "POST",
        "/api/v1/tokens",
        &json!({ "name": "x" }).to_string(),
    );
    assert_eq!(status, 503, "{v}");
    assert_eq!(login(&api, "admin", WRONG_PASSWORD).0, 401);
    let admin_pw = std::fs::read_to_string(d.join("amtd-data/initial-admin-password")).unwrap();
    let (status, cookie, _) = login(&api, "admin", admin_pw.trim());
    assert_eq!(status, 503, "no session without its audit record");
    assert!(cookie.is_empty(), "{cookie}");
    let (got, raw) = audit_list(d);
    assert_eq!(got, expected, "nothing was recorded: {raw:#}");

    // The server's log (stderr) shows logins and refusals, never a password.
    let log = serve.log();
    assert!(
        log.lines().any(|l| l.contains("login failed")
            && l.contains("auditor")
            && l.contains("wrong password")),
        "{log}"
    );
    assert!(log.contains("logged in"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(" provisioned") && l.contains(u)),
        "the provisioning outcome is logged: {log}"
    );
    assert!(log.contains("the audit log cannot be written"), "{log}");
    for secret in [
        password.as_str(),
        USER_PASSWORD,
        NEW_PASSWORD,
        WRONG_PASSWORD,
        admin_pw.trim(),
        &token_value,
    ] {
        assert!(
            !log.contains(secret),
            "no secret in the server's log: {secret}\n{log}"
        );
    }
}

const USER_PASSWORD: &str = "auditor's first password";
const NEW_PASSWORD: &str = "auditor's second password";
const WRONG_PASSWORD: &str = "not the password at all";

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
    let (status, v) = serve.call(
        "POST",
        "/api/v1/users",
        &json!({ "name": "ops", "role": "operator", "password": USER_PASSWORD }).to_string(),
    );
    assert_eq!(status, 201, "{v}");
    drop(serve);
    let (code, out) = verify(d);
    assert_eq!(code, Some(0), "{out}");
    // 4 of the bootstrap, 8 of the profiles, 2 of the user.
    assert!(out.contains("intact: 14 records"), "{out}");

    // Edit a user-management record: the user's role, as if it had been created a viewer.
    let seq = sql(
        d,
        "SELECT seq FROM audit_log WHERE action = 'user-create' AND actor = 'admin' \
         AND result = 'ok'",
    );
    let original = sql(
        d,
        &format!("SELECT detail FROM audit_log WHERE seq = {seq}"),
    );
    sql(
        d,
        &format!(
            "UPDATE audit_log SET detail = '{}' WHERE seq = {seq}",
            original.replace("operator", "viewer")
        ),
    );
    let (code, out) = verify(d);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("BROKEN at seq {seq}")) && out.contains("altered"),
        "{out}"
    );
    sql(
        d,
        &format!(
            "UPDATE audit_log SET detail = '{}' WHERE seq = {seq}",
            original.replace('\'', "''")
        ),
    );
    assert_eq!(verify(d).0, Some(0));

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
