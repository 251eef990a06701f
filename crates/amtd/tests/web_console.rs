//! The web console in a real browser: headless Debian Chromium driven by npm `playwright-core`
//! (`tests/node/web-console.js`, installed by `./scripts/install-peers`) against a running
//! `amtd lab` whose hellos are held for a few seconds, so the browser sees the fleet go from
//! waiting to provisioned.
//!
//! The browser logs in (a wrong password first), watches the live table reach every device
//! provisioned without a reload, filters it, opens a device, powers it off (after cancelling one
//! confirmation), sees the state change on the device page and in the table, powers it on and
//! cycles it, opens SOL and reads the emulated host's `login:` prompt, types a user name and sees
//! `Password:`, downloads the PEM trust chain, opens the hellos and readiness pages, and logs
//! out. This test then checks the findings, the chain's order with openssl, and that the power
//! actions and the SOL session are in the audit log under the browser's user.
//!
//! Screenshots of every step are kept in `target/tmp/web-console/` (the test prints the path).
//! A missing Chromium, Node or playwright-core skips the test with a message, or fails it when
//! `AMTD_REQUIRE_PEERS=1` / `AMTD_NODE_DIR` is set (as `./scripts/test` does).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{pem_blocks, random_octets, request, spawn_env, text, wait_for, Running};

const DEVICES: usize = 3;

fn node_dir() -> PathBuf {
    std::env::var_os("AMTD_NODE_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node"),
        PathBuf::from,
    )
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Whether the browser peers are here; panics when they are required.
fn browser_available() -> Option<PathBuf> {
    let required = support::netns::peers_required();
    let missing = if chromium().is_none() {
        Some("Debian's chromium (/usr/bin/chromium)")
    } else if Command::new("node").arg("--version").output().is_err() {
        Some("node")
    } else if !node_dir().join("node_modules/playwright-core").exists() {
        Some("npm playwright-core in tests/node (./scripts/install-peers)")
    } else {
        None
    };
    match missing {
        None => chromium(),
        Some(what) => {
            assert!(
                !required,
                "{what} is missing (AMTD_REQUIRE_PEERS/AMTD_NODE_DIR is set)"
            );
            eprintln!("SKIPPED: web console browser test: {what} is missing");
            None
        }
    }
}

/// The base64 SHA-256 of the listener certificate's SubjectPublicKeyInfo (what Chromium's
/// `--ignore-certificate-errors-spki-list` takes), fetched and computed with openssl.
fn listener_spki(host: &str, dir: &Path) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            host,
            "-servername",
            "localhost",
            "-showcerts",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let pem = String::from_utf8_lossy(&out.stdout);
    let leaf = pem_blocks(&pem)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no certificate from {host}: {}", text(&out)));
    let file = dir.join("listener.pem");
    std::fs::write(&file, leaf).unwrap();
    let script = format!(
        "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | \
         openssl dgst -sha256 -binary | base64",
        file.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// (subject, issuer) of a PEM certificate, as openssl prints them.
fn subject_issuer(dir: &Path, pem: &str, i: usize) -> (String, String) {
    let file = dir.join(format!("cert{i}.pem"));
    std::fs::write(&file, pem).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509", "-noout", "-nameopt", "RFC2253", "-subject", "-issuer", "-in",
        ])
        .arg(&file)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl x509: {}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    (field("subject="), field("issuer="))
}

/// Starts `amtd lab` (hellos held `hold` seconds) in `dir`: (process, API URL, data dir).
fn start_lab(dir: &Path, count: usize, hold: u64, tls: bool) -> (Running, String, PathBuf) {
    let (a, b, _) = random_octets();
    let first_ip = format!("127.{a}.{b}.1");
    let hello = format!("127.{a}.{b}.250:0");
    let api_bind = format!("127.{a}.{b}.251:0");
    let dns_bind = format!("127.{a}.{b}.252:0");
    let data = dir.join("amtd-lab");
    let (count, hold) = (count.to_string(), hold.to_string());
    let mut args = vec![
        "lab",
        "--count",
        &count,
        "--hold-hellos",
        &hold,
        "--first-ip",
        &first_ip,
        "--hello-bind",
        &hello,
        "--api-bind",
        &api_bind,
        "--dns-bind",
        &dns_bind,
    ];
    if tls {
        args.push("--tls");
    }
    let lab = spawn_env(dir, &args, &[], "lab.log");
    let api = wait_for("the lab's server.json", Duration::from_secs(120), || {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(data.join("server.json")).ok()?).ok()?;
        Some(v["api"].as_str()?.to_owned())
    });
    (lab, api, data)
}

/// The page and its assets are served (public), with no inline script; unknown assets 404.
/// The event stream needs credentials, opens with a snapshot of the held fleet (every device
/// `waiting`), then sends each device's row again as it is provisioned.
#[test]
fn page_assets_and_the_live_event_stream() {
    use std::io::{BufRead, BufReader, Write};

    let dir = tempfile::tempdir().unwrap();
    let (_lab, api, data) = start_lab(dir.path(), 2, 6, false);
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let token = token.trim();

    let (status, page) = request(&api, "GET", "/", None, b"");
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("/assets/app.js") && page.contains("/assets/xterm.js"));
    for asset in [
        "app.js",
        "app.css",
        "xterm.js",
        "xterm.css",
        "addon-canvas.js",
    ] {
        let (status, body) = request(&api, "GET", &format!("/assets/{asset}"), None, b"");
        assert_eq!(status, 200, "{asset}");
        assert!(body.len() > 100, "{asset} is {} bytes", body.len());
    }
    // The bundled xterm.js is the npm package (not the build's stand-in).
    let (_, xterm) = request(&api, "GET", "/assets/xterm.js", None, b"");
    assert!(
        !String::from_utf8_lossy(&xterm).contains("AMTD_NO_TERMINAL"),
        "this build has no xterm.js"
    );
    assert_eq!(request(&api, "GET", "/assets/nope.js", None, b"").0, 404);
    assert_eq!(request(&api, "GET", "/api/v1/events", None, b"").0, 401);

    let host = api.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    // Events (chunked framing: lines that are not `event:`/`data:` are chunk sizes).
    let mut event = String::new();
    let mut snapshot: Option<serde_json::Value> = None;
    let mut provisioned = std::collections::BTreeSet::new();
    while provisioned.len() < 2 {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "the stream ended");
        let line = line.trim_end();
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_owned();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(d).unwrap();
            match event.as_str() {
                "snapshot" => snapshot = Some(v),
                "device" => {
                    assert!(snapshot.is_some(), "a device event before the snapshot");
                    if v["status"] == "provisioned" {
                        provisioned.insert(v["uuid"].as_str().unwrap().to_owned());
                        assert!(v["fqdn"].as_str().unwrap().ends_with(".amt.test"), "{v}");
                    }
                }
                other => panic!("unexpected event {other}: {v}"),
            }
        }
    }
    let snapshot = snapshot.unwrap();
    let rows = snapshot.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{snapshot}");
    assert!(
        rows.iter().all(|r| r["status"] == "waiting"),
        "the held fleet is waiting in the snapshot: {snapshot}"
    );
}

#[test]
fn browser_logs_in_watches_the_fleet_powers_a_device_opens_sol_and_downloads_the_chain() {
    let Some(chromium) = browser_available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Over TLS, as an enterprise runs it: the lab CA's certificate on the listener, the session
    // cookie Secure, SOL over wss://. Chromium accepts exactly the listener's key (its SPKI
    // hash, as openssl computes it), nothing else.
    let (lab, api, data) = start_lab(dir.path(), DEVICES, 30, true);
    assert!(api.starts_with("https://"), "{api}");
    let count = DEVICES.to_string();
    let spki = listener_spki(api.strip_prefix("https://").unwrap(), dir.path());
    let password = std::fs::read_to_string(data.join("initial-admin-password"))
        .unwrap()
        .trim()
        .to_owned();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-console");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    eprintln!("web console screenshots: {}", artifacts.display());

    let out = Command::new("node")
        .arg(node_dir().join("web-console.js"))
        .current_dir(node_dir())
        .env("AMTD_URL", format!("{api}/"))
        .env("AMTD_USER", "admin")
        .env("AMTD_PASSWORD", &password)
        .env("AMTD_DEVICES", &count)
        .env("AMTD_ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .env("AMTD_SPKI", &spki)
        .output()
        .expect("run node");
    let log = std::fs::read_to_string(dir.path().join("lab.log")).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let f: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("browser findings: {e}: {}\nlab:\n{log}", text(&out)));
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}): {}\n{}\nlab:\n{log}",
        artifacts.display(),
        f["error"],
        String::from_utf8_lossy(&out.stderr)
    );

    // Login: a wrong password is refused in words; the right one shows who is signed in.
    assert_eq!(f["wrong_password_message"], "Wrong user name or password.");
    assert_eq!(f["who"], "admin (administrator)");
    // The fleet was watched live: none provisioned at login (hellos held), all at the end, in
    // the same document (no reload), and the rows went through earlier states.
    assert_eq!(f["provisioned_at_login"], 0, "{f}");
    assert_eq!(f["same_document"], "yes");
    let seen: Vec<&str> = f["statuses_seen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        seen.contains(&"provisioned") && seen.contains(&"waiting"),
        "statuses seen in the live table: {seen:?}"
    );
    assert_eq!(f["rows_after_search"], 1, "search narrows the table");
    // Power: the cancelled confirmation did nothing; off showed on the device page and in the
    // live table; on and cycle came back on.
    assert_eq!(f["after_cancel"], "on");
    assert_eq!(f["table_power_after_off"], "off");
    assert!(f["confirm_off"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Power off — amtdev"));
    assert!(f["timeline_steps"].as_u64().unwrap_or(0) >= 3, "{f}");
    // SOL: the emulated host's prompt, then its answer to a typed user name.
    let sol = f["sol_text"].as_str().unwrap_or_default();
    assert!(
        sol.contains("login: ") && sol.contains("Password:"),
        "{sol:?}"
    );
    // Hellos page lists the fleet's hellos; logout ends the session.
    assert!(
        f["hello_rows"].as_u64().unwrap_or(0) >= DEVICES as u64,
        "{f}"
    );
    assert_eq!(f["after_logout"], 401);
    // The readiness report per team, and a revocation made from the PKI page.
    let teams = f["check_teams"].as_array().cloned().unwrap_or_default();
    assert!(
        teams.iter().any(|t| t == "dns") && teams.iter().any(|t| t == "pki"),
        "{f}"
    );
    assert_eq!(f["revoked_on_page"], true);
    // The session cookie the browser held: Secure (TLS), HttpOnly, SameSite=Strict.
    assert_eq!(
        f["session_cookie"],
        serde_json::json!({ "secure": true, "httpOnly": true, "sameSite": "Strict" }),
        "{f}"
    );
    // No Content-Security-Policy violation on any page (no inline script or style).
    assert_eq!(f["csp_violations"], serde_json::json!([]), "{f}");

    // The downloaded chain: issuer order, each certificate issued by the next, root last and
    // self-signed, and openssl verifies the first against the rest.
    let pem = std::fs::read_to_string(artifacts.join("chain.pem")).unwrap();
    let certs = pem_blocks(&pem);
    assert!(
        certs.len() >= 2,
        "the chain has the issuing CA and the root: {pem}"
    );
    let names: Vec<(String, String)> = certs
        .iter()
        .enumerate()
        .map(|(i, c)| subject_issuer(&artifacts, c, i))
        .collect();
    for pair in names.windows(2) {
        assert_eq!(
            pair[0].1, pair[1].0,
            "each certificate's issuer is the next one"
        );
    }
    let (root_subject, root_issuer) = names.last().unwrap();
    assert_eq!(
        root_subject, root_issuer,
        "the root comes last, self-signed"
    );
    let last = artifacts.join(format!("cert{}.pem", certs.len() - 1));
    let mut verify = Command::new("openssl");
    verify.arg("verify").arg("-CAfile").arg(&last);
    if certs.len() > 2 {
        let middle: String = certs[1..certs.len() - 1].concat();
        let untrusted = artifacts.join("untrusted.pem");
        std::fs::write(&untrusted, middle).unwrap();
        verify.arg("-untrusted").arg(untrusted);
    }
    let v = verify.arg(artifacts.join("cert0.pem")).output().unwrap();
    assert!(v.status.success(), "openssl verify: {}", text(&v));

    // The browser's actions are in the audit log under its user.
    let device = f["device"].as_str().unwrap().to_owned();
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
    let audit = String::from_utf8_lossy(&out.stdout).into_owned();
    let records: Vec<serde_json::Value> = serde_json::from_str(&audit).unwrap();
    let by_admin = |action: &str| {
        records.iter().any(|r| {
            r["actor"] == "admin"
                && r["device"].as_str().or(r["device_uuid"].as_str()) == Some(device.as_str())
                && r["action"].as_str().is_some_and(|a| a.contains(action))
        })
    };
    for action in ["power-off", "power-on", "power-cycle", "sol"] {
        assert!(
            by_admin(action),
            "no audit record of {action} by admin: {audit}"
        );
    }
    drop(lab);
}
