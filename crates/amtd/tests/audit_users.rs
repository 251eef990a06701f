//! Issue 8, the audit log beyond device actions, against a running `amtd serve`: a session
//! ends after `[server.auth] session_lifetime` (401) and after `idle_timeout` without a
//! request, but not while requests keep coming (even with a timeout of seconds); refused logins are recorded once per
//! rate-limit window, not per attempt; scheduled maintenance passes are recorded by `amtd`
//! and a pass asked for through the API records each device it changed with the caller as
//! actor; offline `amtd ca` changes are recorded as `cli:<user>` and refused (nothing done)
//! when the audit log cannot be written.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::{amtd, amtd_env, http, login, text, wait_for, Serve, FIRST_UUID};

/// `amtd audit list --json` of the server's store.
fn records(dir: &Path) -> Vec<Value> {
    let out = amtd(dir, &["audit", "list", "--json", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(records: &[Value], actor: &str, action: &str, result: &str) -> usize {
    records
        .iter()
        .filter(|r| r["actor"] == actor && r["action"] == action && r["result"] == result)
        .count()
}

#[test]
fn sessions_expire_refused_logins_are_recorded_once_per_window_and_maintenance_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(
        d,
        "[server.auth]\nsession_lifetime = \"5s\"\n\
         [maintenance]\ncrl_interval = \"2s\"\n",
        &[],
    );
    let api = serve.api.clone();

    // A session lasts session_lifetime.
    let admin_pw = std::fs::read_to_string(d.join("amtd-data/initial-admin-password")).unwrap();
    let (status, cookie, _) = login(&api, "admin", admin_pw.trim());
    assert_eq!(status, 200);
    let (status, _, v) = http(&api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!((status, &v["user"]), (200, &json!("admin")), "{v}");
    std::thread::sleep(Duration::from_secs(6));
    let (status, _, v) = http(&api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401, "the session expired: {v}");

    // Five wrong passwords are five records; the refusals after them one more.
    for _ in 0..5 {
        assert_eq!(login(&api, "mallory", "guessing a password").0, 401);
    }
    for _ in 0..4 {
        assert_eq!(login(&api, "mallory", "guessing a password").0, 429);
    }
    let all = records(d);
    assert_eq!(
        count(&all, "mallory", "login", "failed: no such user"),
        5,
        "{all:#?}"
    );
    assert_eq!(
        count(&all, "mallory", "login", "failed: rate-limited"),
        1,
        "{all:#?}"
    );
    assert_eq!(count(&all, "admin", "login", "ok"), 1, "{all:#?}");
    assert!(!serde_json::to_string(&all).unwrap().contains("guessing"));

    // Scheduled passes over a provisioned device are recorded by amtd.
    let (_sim, _ip) = serve.start_device();
    let shown = serve.wait_device_done(FIRST_UUID);
    assert_eq!(shown["state"], "provisioned", "{shown}\n{}", serve.log());
    let all = wait_for(
        "a scheduled pass's records",
        Duration::from_secs(60),
        || {
            let all = records(d);
            (count(&all, "amtd", "maintenance-pass", "ok") > 0).then_some(all)
        },
    );
    let started = all
        .iter()
        .find(|r| r["action"] == "maintenance-pass" && r["result"] == "started")
        .unwrap();
    assert_eq!(started["detail"]["tasks"], json!(["push-crl"]), "{started}");
    assert_eq!(started["detail"]["devices"], 1, "{started}");

    // A pass through the API records what it changed on each device, by the caller.
    let in_a_year = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 365 * 86_400;
    let (status, v) = serve.call(
        "POST",
        "/api/v1/maintenance/run",
        &json!({ "tasks": ["rotate-admin-password"], "as_of": in_a_year }).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tasks"][0]["outcome"], "done", "{v}");
    let all = records(d);
    let rotated: Vec<&Value> = all
        .iter()
        .filter(|r| r["action"] == "rotate-admin-password")
        .collect();
    assert_eq!(rotated.len(), 1, "{all:#?}");
    assert_eq!(rotated[0]["actor"], "admin");
    assert_eq!(rotated[0]["device"], FIRST_UUID);
    assert_eq!(rotated[0]["result"], "ok");

    // `amtd user role` changes a role through the API, audited with the caller.
    let (status, v) = serve.call(
        "POST",
        "/api/v1/users",
        &json!({ "name": "cliuser", "role": "viewer", "password": "cliuser's long password" })
            .to_string(),
    );
    assert_eq!(status, 201, "{v}");
    let out = amtd(d, &["user", "role", "cliuser", "operator"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("cliuser is now operator"),
        "{}",
        text(&out)
    );
    let all = records(d);
    let role = all
        .iter()
        .rev()
        .find(|r| r["action"] == "user-role")
        .unwrap();
    assert_eq!(
        (&role["actor"], &role["result"], &role["detail"]["role"]),
        (&json!("admin"), &json!("ok"), &json!("operator")),
        "{role}"
    );

    let out = amtd(d, &["audit", "verify", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `amtd ca …` on the server's CA, as Unix user `ops-cli`.
fn ca(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
    all.extend_from_slice(args);
    amtd_env(dir, &all, &[("USER", "ops-cli")])
}

/// Issues a device certificate offline; returns its serial (hex).
fn issue(dir: &Path, n: u32) -> String {
    let out = ca(
        dir,
        &[
            "issue-device",
            "--fqdn",
            &format!("dev{n}.amt.test"),
            "--uuid",
            &format!("8086e000-0000-4000-8000-00000000010{n}"),
            "--out",
            &format!("dev{n}.pem"),
            "--key-out",
            &format!("dev{n}.key"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned()
}

#[test]
fn offline_ca_changes_are_audited_as_the_cli_user_and_refused_when_the_log_is_unwritable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    drop(Serve::start(d, "", &[]));

    let first = issue(d, 1);
    let second = issue(d, 2);
    let out = ca(
        d,
        &["revoke", "--serial", &first, "--reason", "key-compromise"],
    );
    assert!(out.status.success(), "{}", text(&out));

    let out = amtd(d, &["audit", "list", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().any(|l| l.contains("cli:ops-cli")
            && l.contains("revoke-certificate")
            && l.ends_with("ok")),
        "{table}"
    );
    let all = records(d);
    let revoke: Vec<&Value> = all
        .iter()
        .filter(|r| r["action"] == "revoke-certificate")
        .collect();
    assert_eq!(revoke.len(), 2, "{all:#?}");
    assert_eq!(revoke[0]["result"], "started");
    assert_eq!(revoke[1]["result"], "ok");
    for r in &revoke {
        assert_eq!(r["actor"], "cli:ops-cli");
        assert_eq!(r["detail"]["serial"], first.to_ascii_lowercase());
        assert_eq!(r["detail"]["reason"], "key-compromise");
    }
    assert_eq!(
        count(&all, "cli:ops-cli", "issue-device-certificate", "ok"),
        2
    );
    let out = amtd(d, &["audit", "verify", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));

    // An unwritable audit log refuses the revocation; the certificate stays valid.
    let db = d.join("amtd-data/amtd.sqlite");
    let trigger = Command::new("sqlite3")
        .arg(&db)
        .arg(
            "CREATE TRIGGER audit_read_only BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit log is read-only'); END;",
        )
        .output()
        .expect("the sqlite3 CLI (Debian package sqlite3) edits the database in this test");
    assert!(trigger.status.success(), "{}", text(&trigger));
    let before = records(d).len();
    let out = ca(
        d,
        &["revoke", "--serial", &second, "--reason", "key-compromise"],
    );
    assert!(!out.status.success(), "refused: {}", text(&out));
    assert!(
        text(&out).contains(
            "the audit log cannot be written, so nothing was done; try again when the store is \
             writable"
        ),
        "{}",
        text(&out)
    );
    let ledger = ca(d, &["ledger"]);
    let ledger = String::from_utf8_lossy(&ledger.stdout);
    let line = |serial: &str| {
        ledger
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&serial.to_ascii_lowercase())
            })
            .unwrap_or_else(|| panic!("{serial} in {ledger}"))
            .to_owned()
    };
    assert!(line(&first).contains("revoked"), "{ledger}");
    assert!(!line(&second).contains("revoked"), "{ledger}");
    assert_eq!(records(d).len(), before, "nothing was recorded");
}

#[test]
fn an_idle_session_ends_after_idle_timeout_with_its_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "[server.auth]\nidle_timeout = \"1s\"\n", &[]);
    let admin_pw = std::fs::read_to_string(d.join("amtd-data/initial-admin-password")).unwrap();
    let (status, cookie, _) = login(&serve.api, "admin", admin_pw.trim());
    assert_eq!(status, 200);
    let (status, _, v) = http(&serve.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{v}");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _, v) = http(&serve.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401, "{v}");
    assert!(v["error"].as_str().unwrap().contains("idle"), "{v}");
    // The idle session is gone, not merely refused.
    let (status, _, v) = http(&serve.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401);
    assert!(v["error"].as_str().unwrap().contains("expired"), "{v}");
}

#[test]
fn a_session_in_use_outlives_an_idle_timeout_shorter_than_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "[server.auth]\nidle_timeout = \"2s\"\n", &[]);
    let admin_pw = std::fs::read_to_string(d.join("amtd-data/initial-admin-password")).unwrap();
    let (status, cookie, _) = login(&serve.api, "admin", admin_pw.trim());
    assert_eq!(status, 200);
    // A request every half second for four seconds: twice the idle timeout, never idle.
    for i in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        let (status, _, v) = http(&serve.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
        assert_eq!(status, 200, "request {i}: {v}");
    }
    std::thread::sleep(Duration::from_secs(3));
    let (status, _, v) = http(&serve.api, "GET", "/api/v1/me", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401, "{v}");
    assert!(v["error"].as_str().unwrap().contains("idle"), "{v}");
}
