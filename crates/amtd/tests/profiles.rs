//! Management profiles (P5) through the binary: the REST API stores, shows, validates and
//! deletes them (passwords write-only, every write audited), the CLI sets one from a TOML file
//! in the config's shape, and a provisioning run pushes what the stored profile says — checked
//! on the emulated device afterwards with `amtd wsman`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::{json, Value};
use support::{amtd, amtd_env, request, text, Serve, FIRST_UUID};

const OPS_PASSWORD: &str = "Ops-Passw0rd!";
const MEBX_PASSWORD: &str = "Mebx-Passw0rd!";

fn assert_no_secret(what: &str, body: &str) {
    for secret in [OPS_PASSWORD, MEBX_PASSWORD, SUPPORT_PASSWORD] {
        assert!(!body.contains(secret), "{what} holds a password: {body}");
    }
}

#[test]
fn profile_api_round_trips_refuses_bad_documents_audits_and_never_returns_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "", &[]);
    let mut answers = Vec::new();
    let mut call = |method: &str, path: &str, body: &str| {
        let (status, v) = serve.call(method, path, body);
        answers.push(v.to_string());
        (status, v)
    };

    // The config's (built-in) profile is stored at start-up and is the active one.
    let (status, list) = call("GET", "/api/v1/profiles", "");
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "default", "{list}");
    assert_eq!(list[0]["active"], true, "{list}");
    assert_eq!(list[0]["profile"]["source"], "config", "{list}");
    assert_eq!(list[0]["profile"]["version"], 1, "{list}");

    // Create: every field an operator sets.
    let doc = json!({
        "tls": "mutual",
        "accept_non_secure": true,
        "trusted_cns": ["console.amt.test"],
        "digest_users": [{
            "name": "ops",
            "realms": ["redirection", "general-info"],
            "access": "local-and-network",
            "password": OPS_PASSWORD,
        }],
        "user_consent": "all",
        "redirection": {"sol": true, "ider": false, "kvm": false},
        "clock_sync": false,
        "mebx_password": {"policy": "fixed", "password": MEBX_PASSWORD},
        "admin_password_length": 20,
        "deadline_secs": 300,
    });
    let (status, stored) = call("PUT", "/api/v1/profiles/ops-1", &doc.to_string());
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["source"], "api");
    assert_eq!(stored["digest_users"][0]["password_version"], 1, "{stored}");
    let (status, shown) = call("GET", "/api/v1/profiles/ops-1", "");
    assert_eq!(status, 200);
    assert_eq!(shown, stored);
    for (k, v) in doc.as_object().unwrap() {
        match k.as_str() {
            "digest_users" => {
                let u = &shown[k][0];
                assert_eq!(u["name"], "ops");
                assert_eq!(u["realms"], json!(["redirection", "general-info"]));
                assert_eq!(u["access"], "local-and-network");
                assert!(u.get("password").is_none(), "{u}");
            }
            "mebx_password" => {
                assert_eq!(shown[k]["policy"], "fixed");
                assert!(shown[k].get("password").is_none());
                assert_eq!(shown[k]["password_version"], 1);
            }
            _ => assert_eq!(&shown[k], v, "{k}"),
        }
    }

    // GET → edit → PUT without the passwords keeps the stored ones.
    let mut edited = shown.clone();
    edited["deadline_secs"] = json!(900);
    let (status, replaced) = call("PUT", "/api/v1/profiles/ops-1", &edited.to_string());
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["deadline_secs"], 900);
    assert_eq!(replaced["digest_users"][0]["password_version"], 1);
    assert_eq!(replaced["mebx_password"]["password_version"], 1);

    // Invalid documents are refused with every problem named.
    let bad = json!({
        "admin_password_length": 4,
        "deadline_secs": 0,
        "digest_users": [
            {"name": "admin", "realms": ["teleport"], "password": "short"},
            {"name": "newuser", "realms": ["redirection"]},
        ],
        "mebx_password": {"policy": "fixed"},
    });
    let (status, err) = call("PUT", "/api/v1/profiles/ops-1", &bad.to_string());
    assert_eq!(status, 400, "{err}");
    let msg = err["error"].as_str().unwrap();
    for needle in [
        "admin_password_length: 4 is outside 8..=32",
        "deadline_secs",
        "\"admin\" is the device's admin account",
        "unknown realm \"teleport\"",
        "the password breaks AMT's rules",
        "digest user \"newuser\": a password is required",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from {msg}");
    }
    let (status, err) = call("PUT", "/api/v1/profiles/ops-1", r#"{"tlss":"mutual"}"#);
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `tlss`"),
        "{err}"
    );
    let (status, err) = call("PUT", "/api/v1/profiles/ops-1", r#"{"tls":"mtls"}"#);
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("at tls"), "{err}");
    let (status, err) = call("PUT", "/api/v1/profiles/ops-1", r#"{"name":"other"}"#);
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().contains("\"other\""),
        "{err}"
    );
    let (status, _) = call("PUT", "/api/v1/profiles/bad%20name", "{}");
    assert_eq!(status, 400);
    let (status, err) = call("PUT", "/api/v1/profiles/x", "not json");
    assert_eq!(status, 400, "{err}");
    // The refused writes changed nothing.
    let (_, still) = call("GET", "/api/v1/profiles/ops-1", "");
    assert_eq!(still, replaced);
    // Bounded body.
    let huge = format!(r#"{{"trusted_cns":["{}"]}}"#, "a".repeat(70_000));
    let (status, _) = call("PUT", "/api/v1/profiles/ops-1", &huge);
    assert_eq!(status, 413);
    // The token is required.
    let (status, _) = request(&serve.api, "PUT", "/api/v1/profiles/ops-2", None, b"{}");
    assert_eq!(status, 401);
    let (status, _) = request(&serve.api, "GET", "/api/v1/profiles/ops-1", None, b"");
    assert_eq!(status, 401);

    // The list shows both, with the documents (no passwords).
    let (_, list) = call("GET", "/api/v1/profiles", "");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "ops-1"]);
    assert_eq!(list[1]["active"], false);
    assert_eq!(list[1]["profile"], replaced);

    // Delete: the active profile is refused (409), others go (404 afterwards).
    let (status, err) = call("DELETE", "/api/v1/profiles/default", "");
    assert_eq!(status, 409, "{err}");
    let (status, _) = call("DELETE", "/api/v1/profiles/ops-1", "");
    assert_eq!(status, 200);
    let (status, _) = call("GET", "/api/v1/profiles/ops-1", "");
    assert_eq!(status, 404);
    let (status, _) = call("DELETE", "/api/v1/profiles/ops-1", "");
    assert_eq!(status, 404);
    // Re-created without passwords: the deleted profile's stored ones are not reused.
    let (status, err) = call("PUT", "/api/v1/profiles/ops-1", &edited.to_string());
    assert_eq!(status, 400, "{err}");
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("digest user \"ops\": a password is required"),
        "{msg}"
    );
    assert!(msg.contains("policy \"fixed\" needs a password"), "{msg}");

    for a in &answers {
        assert_no_secret("an API answer", a);
    }
    // Audited: who wrote and deleted which profile; no password in the log.
    let out = amtd(
        dir.path(),
        &["audit", "list", "--json", "--config", "amtd.toml"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let audit = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<Value> = serde_json::from_str(&audit).unwrap();
    let actions: Vec<(&str, &str, &str)> = lines
        .iter()
        .filter(|l| l["actor"] == "admin")
        .map(|l| {
            (
                l["action"].as_str().unwrap(),
                l["detail"]["profile"].as_str().unwrap(),
                l["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("profile-put", "ops-1", "started"),
            ("profile-put", "ops-1", "ok"),
            ("profile-put", "ops-1", "started"),
            ("profile-put", "ops-1", "ok"),
            ("profile-delete", "ops-1", "started"),
            ("profile-delete", "ops-1", "ok"),
        ],
        "{audit}"
    );
    assert_no_secret("the audit log", &audit);
    // Passwords are sealed in the database, never stored in plain text.
    for f in ["amtd.sqlite", "amtd.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join("amtd-data").join(f)) {
            assert_no_secret(f, &String::from_utf8_lossy(&bytes));
        }
    }
    assert_no_secret("the server log", &serve.log());
}

const SUPPORT_PASSWORD: &str = "Supp0rt-Pass!";

/// Runs `amtd wsman get` against the device as `user` (password in an environment variable).
fn wsman_get(
    serve: &Serve,
    ip: &str,
    user: &str,
    password: &str,
    tls: bool,
    class: &[&str],
) -> std::process::Output {
    let mut args = vec!["wsman", "get", "--host", ip, "--user", user];
    args.extend_from_slice(&["--password-env", "DEVICE_PW", "--timeout", "20"]);
    if tls {
        args.extend_from_slice(&["--tls", "--insecure"]);
    }
    args.extend_from_slice(class);
    amtd_env(&serve.dir, &args, &[("DEVICE_PW", password)])
}

#[test]
fn profile_set_through_the_cli_is_listed_and_pushed_to_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "", &[]);
    let path = dir.path();

    // The active profile, edited through the CLI from a TOML file in the config's shape; the
    // CLI reads the digest user's password from its own environment.
    std::fs::write(
        path.join("pushed.toml"),
        "[[profile]]\nname = \"default\"\ntls = \"server-auth\"\naccept_non_secure = true\n\
         user_consent = \"none\"\nclock_sync = true\nadmin_password_length = 24\n\
         [profile.redirection]\nsol = true\nider = false\nkvm = false\n\
         [[profile.digest_user]]\nname = \"support\"\npassword_env = \"SUPPORT_PW\"\n\
         realms = [\"redirection\"]\n",
    )
    .unwrap();
    let out = amtd(
        path,
        &["profile", "default", "set", "--file", "pushed.toml"],
    );
    assert!(!out.status.success(), "the password variable is not set");
    assert!(text(&out).contains("SUPPORT_PW"), "{}", text(&out));
    let out = amtd_env(
        path,
        &["profile", "default", "set", "--file", "pushed.toml"],
        &[("SUPPORT_PW", SUPPORT_PASSWORD)],
    );
    assert!(out.status.success(), "{}", text(&out));
    // A file with mistakes is refused by the CLI's own check (the config's), naming every key.
    std::fs::write(
        path.join("bad.toml"),
        "tls = \"mtls\"\nmebx_password = \"sometimes\"\nadmin_password_length = 40\n\
         deadline = \"0s\"\n[[digest_user]]\nname = \"ops\"\npassword_env = \"X\"\n\
         realms = [\"redirection\"]\naccess = \"anywhere\"\n",
    )
    .unwrap();
    let out = amtd(path, &["profile", "x", "set", "--file", "bad.toml"]);
    assert!(!out.status.success());
    for needle in [
        "profile[0].tls: unknown mode \"mtls\"",
        "profile[0].mebx_password: unknown policy \"sometimes\"",
        "profile[0].admin_password_length: 40 is outside 8..=32",
        "profile[0].deadline:",
        "profile[0].digest_user[0].access: unknown access \"anywhere\"",
    ] {
        assert!(text(&out).contains(needle), "{needle}: {}", text(&out));
    }
    std::fs::write(path.join("typo.toml"), "tlss = \"mutual\"\n").unwrap();
    let out = amtd(path, &["profile", "x", "set", "--file", "typo.toml"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown field `tlss`"),
        "{}",
        text(&out)
    );

    let out = amtd(path, &["profiles", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secret("amtd profiles", &text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &list[0]["profile"];
    assert_eq!(list[0]["name"], "default");
    assert_eq!(p["source"], "api", "{p}");
    assert_eq!(p["user_consent"], "none");
    assert_eq!(p["accept_non_secure"], true);
    assert_eq!(p["admin_password_length"], 24);
    assert_eq!(
        p["redirection"],
        json!({"sol": true, "ider": false, "kvm": false})
    );
    assert_eq!(p["digest_users"][0]["name"], "support");
    let out = amtd(path, &["profiles"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("support"), "{}", text(&out));
    let out = amtd(path, &["profile", "default"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("support"), "{}", text(&out));

    // One device provisions with it.
    let (_sim, ip) = serve.start_device();
    let v = serve.wait_device_done(FIRST_UUID);
    assert_eq!(v["state"], "provisioned", "{v}\n{}", serve.log());
    assert_eq!(v["profile"], "default");
    let out = amtd(path, &["device", FIRST_UUID, "reveal-password"]);
    assert!(out.status.success(), "{}", text(&out));
    let admin = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    assert_eq!(admin.len(), 24, "admin_password_length was pushed");

    // The digest user exists with its password and only its realm.
    let out = wsman_get(
        &serve,
        &ip,
        "support",
        SUPPORT_PASSWORD,
        true,
        &["AMT_RedirectionService"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Redirection: SOL on, IDE-R off (32770).
    assert!(text(&out).contains("EnabledState: 32770"), "{}", text(&out));
    let out = wsman_get(
        &serve,
        &ip,
        "support",
        SUPPORT_PASSWORD,
        true,
        &["AMT_GeneralSettings"],
    );
    assert!(
        !out.status.success(),
        "support has no general-info realm: {}",
        text(&out)
    );
    let out = wsman_get(
        &serve,
        &ip,
        "support",
        "Wr0ng-Pass!",
        true,
        &["AMT_RedirectionService"],
    );
    assert!(!out.status.success(), "a wrong password is refused");
    // accept_non_secure: plain 16992 answers too.
    let out = wsman_get(
        &serve,
        &ip,
        "support",
        SUPPORT_PASSWORD,
        false,
        &["AMT_RedirectionService"],
    );
    assert!(out.status.success(), "{}", text(&out));

    // User consent: none (0).
    let out = wsman_get(&serve, &ip, "admin", &admin, true, &["IPS_OptInService"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("OptInRequired: 0"), "{}", text(&out));
    // TLS settings: server-auth, plain port accepted.
    let out = wsman_get(
        &serve,
        &ip,
        "admin",
        &admin,
        true,
        &[
            "AMT_TLSSettingData",
            "--selector",
            "InstanceID=Intel(r) AMT 802.3 TLS Settings",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("MutualAuthentication: false"), "{t}");
    assert!(t.contains("AcceptNonSecureConnections: true"), "{t}");
    // The server added the CA's root as a trusted root.
    let pem = std::fs::read_to_string(path.join("trust.pem")).unwrap();
    let root_b64: String = pem
        .rsplit("-----BEGIN CERTIFICATE-----")
        .next()
        .unwrap()
        .split("-----END CERTIFICATE-----")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let mut args = vec!["wsman", "enumerate", "--host", &ip, "--user", "admin"];
    args.extend_from_slice(&[
        "--password-env",
        "DEVICE_PW",
        "--tls",
        "--insecure",
        "AMT_PublicKeyCertificate",
    ]);
    let out = amtd_env(path, &args, &[("DEVICE_PW", &admin)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&root_b64),
        "the CA root is not on the device"
    );
    assert_no_secret("the server log", &serve.log());
}

#[test]
fn run_without_a_usable_profile_fails_with_the_reason_before_touching_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), "", &[]);
    // Mutual TLS whose trusted CNs leave out the server's console certificate is stored, but a
    // run refuses it: after CommitChanges the device would refuse the server.
    let (status, v) = serve.call(
        "PUT",
        "/api/v1/profiles/default",
        r#"{"tls":"mutual","trusted_cns":["someone-else"]}"#,
    );
    assert_eq!(status, 200, "{v}");
    let (_sim, _ip) = serve.start_device();
    let v = serve.wait_device_done(FIRST_UUID);
    assert_eq!(v["state"], "failed", "{v}");
    let reason = v["runs"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("management profile \"default\"")
            && reason.contains("mutual TLS")
            && reason.contains("trusted_cns"),
        "{reason}"
    );
    assert_eq!(
        v["timeline"],
        json!([]),
        "no step was taken towards the device"
    );
}
