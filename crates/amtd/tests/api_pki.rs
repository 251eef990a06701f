//! The PKI and readiness API (issue 8) against a running `amtd lab`, with openssl as the peer
//! that judges what the API says: the certificate ledger lists the lab devices' certificates
//! (a search by FQDN finds exactly one), a revocation shows as `revoked` and as one more entry
//! on the issuing CA's CRL, the CRL status matches `openssl crl`, the chain file is in issuer
//! order with a self-signed root last (`openssl verify`), CA fingerprints match `openssl x509
//! -fingerprint -sha256`, bad query parameters get 400, and the readiness check runs for an
//! administrator only, grouped per team and recorded in the audit log (its outcome too when
//! the client leaves mid-run).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::{pem_blocks, spawn_env, wait_for, Running};

/// One HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: Value,
    raw: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        let name = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&name))
            .map(|l| l[name.len()..].trim().to_owned())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// A raw HTTP/1.1 request with a bearer token (when given) and a JSON body.
fn http(api: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let host = api.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(200))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}{ctype}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer to {method} {path}"));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let raw = raw[end + 4..].to_vec();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        head,
        body,
        raw,
    }
}

/// A running `amtd lab` with its API.
struct Lab {
    _process: Running,
    api: String,
    token: String,
}

impl Lab {
    fn get(&self, path: &str) -> Answer {
        http(&self.api, "GET", path, Some(&self.token), "")
    }

    fn post(&self, path: &str, body: Value) -> Answer {
        http(
            &self.api,
            "POST",
            path,
            Some(&self.token),
            &body.to_string(),
        )
    }
}

/// Starts `amtd lab` with `count` devices on a random loopback /24 and waits until every
/// device is provisioned.
fn start_lab(dir: &Path, count: usize) -> Lab {
    let (a, b, _) = support::random_octets();
    let server = format!("127.{a}.{b}.200");
    let process = spawn_env(
        dir,
        &[
            "lab",
            "--count",
            &count.to_string(),
            "--data-dir",
            "lab-data",
            "--first-ip",
            &format!("127.{a}.{b}.1"),
            "--hello-bind",
            &format!("{server}:0"),
            "--api-bind",
            &format!("{server}:0"),
            "--dns-bind",
            &format!("{server}:0"),
            "--concurrency",
            "2",
        ],
        &[],
        "lab.log",
    );
    let data = dir.join("lab-data");
    let log = || std::fs::read_to_string(dir.join("lab.log")).unwrap_or_default();
    let api = wait_for("the lab's API", Duration::from_secs(120), || {
        let d: Value =
            serde_json::from_slice(&std::fs::read(data.join("server.json")).ok()?).ok()?;
        d["api"].as_str().map(str::to_owned)
    });
    let token = std::fs::read_to_string(data.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();
    let lab = Lab {
        _process: process,
        api,
        token,
    };
    wait_for(
        "every lab device to be provisioned",
        Duration::from_secs(300),
        || {
            let a = lab.get("/api/v1/devices");
            let devices = a.body.as_array()?;
            let done = devices
                .iter()
                .filter(|d| d["state"] == "provisioned")
                .count();
            assert!(
                devices.iter().all(|d| d["state"] != "failed"),
                "a lab device failed: {devices:?}\n{}",
                log()
            );
            (done == count).then_some(())
        },
    );
    lab
}

/// Runs openssl; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `field=value` from `openssl x509 -noout -<field>` output.
fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        .trim()
        .to_owned()
}

/// Unix seconds as openssl prints times (`Dec  5 08:53:19 2026 GMT`), through date(1).
fn openssl_time(unix: u64) -> String {
    let out = Command::new("date")
        .env("LC_ALL", "C")
        .args(["-u", "-d", &format!("@{unix}"), "+%b %e %H:%M:%S %Y GMT"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The issuing CA's entry of `GET /api/v1/pki/crls`.
fn issuing_crl(lab: &Lab) -> Value {
    let a = lab.get("/api/v1/pki/crls");
    assert_eq!(a.status, 200, "{}", a.text());
    let crls = a.body.as_array().unwrap();
    assert_eq!(
        crls.iter().map(|c| c["role"].clone()).collect::<Vec<_>>(),
        [json!("issuing"), json!("root")]
    );
    crls[0].clone()
}

/// The CRL as `openssl crl -inform DER -text` reads it from the public distribution point:
/// (CRL number, Next Update, number of revoked entries).
fn openssl_crl(lab: &Lab, dir: &Path, path: &str) -> (u64, String, usize) {
    let a = http(&lab.api, "GET", path, None, "");
    assert_eq!(a.status, 200);
    std::fs::write(dir.join("issuing.crl"), &a.raw).unwrap();
    let text = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "issuing.crl",
            "-noout",
            "-text",
        ],
    );
    let mut lines = text.lines();
    let mut number = None;
    let mut next = None;
    while let Some(l) = lines.next() {
        let l = l.trim();
        if l.starts_with("X509v3 CRL Number") {
            number = lines.next().map(|n| n.trim().parse::<u64>().unwrap());
        } else if let Some(n) = l.strip_prefix("Next Update:") {
            next = Some(n.trim().to_owned());
        }
    }
    let entries = text.matches("Serial Number:").count();
    (number.unwrap(), next.unwrap(), entries)
}

#[test]
fn lab_certificates_revocation_crls_and_trust_files_agree_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), 2);

    // The device certificates are in the ledger; a search by FQDN finds exactly one.
    let devices = lab.get("/api/v1/devices").body;
    let dev = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["fqdn"]
                .as_str()
                .is_some_and(|f| f.starts_with("amtdev00001."))
        })
        .unwrap()
        .clone();
    let fqdn = dev["fqdn"].as_str().unwrap().to_owned();
    let uuid = dev["uuid"].as_str().unwrap().to_owned();
    let all = lab.get("/api/v1/pki/certificates?status=&limit=500");
    assert_eq!(all.status, 200, "{}", all.text());
    let device_certs: Vec<&Value> = all.body["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["purpose"] == "device-tls")
        .collect();
    assert_eq!(device_certs.len(), 2, "{:?}", all.body);
    let found = lab.get(&format!(
        "/api/v1/pki/certificates?q={}",
        fqdn.to_uppercase()
    ));
    assert_eq!(found.status, 200);
    assert_eq!(found.body["total"], 1, "{:?}", found.body);
    let cert = found.body["certificates"][0].clone();
    assert_eq!(cert["device"], uuid.as_str());
    assert_eq!(cert["status"], "valid", "installed and in force: {cert:?}");
    assert_eq!(cert["issuer"], "issuing");
    assert!(cert["sans"].as_array().unwrap().contains(&json!(fqdn)));
    assert!(cert["subject"].as_str().unwrap().contains(&fqdn));
    assert!(cert["not_before"].as_u64().unwrap() < cert["not_after"].as_u64().unwrap());
    assert_eq!(cert["revoked_at"], Value::Null);
    let serial = cert["serial"].as_str().unwrap().to_owned();
    // By serial and by device UUID too.
    for q in [serial.to_lowercase(), uuid.clone()] {
        let a = lab.get(&format!("/api/v1/pki/certificates?q={q}"));
        assert_eq!(a.body["certificates"][0]["serial"], serial.as_str(), "{q}");
    }

    // Paging: one per page, following `next`, visits every certificate once.
    let total = all.body["total"].as_u64().unwrap();
    let mut seen = Vec::new();
    let mut path = "/api/v1/pki/certificates?limit=1".to_owned();
    loop {
        let page = lab.get(&path);
        assert_eq!(page.status, 200, "{}", page.text());
        assert_eq!(page.body["total"], total);
        seen.push(page.body["certificates"][0]["serial"].clone());
        match page.body["next"].as_str() {
            Some(n) => path = format!("/api/v1/pki/certificates?limit=1&after={n}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);

    // The CRL before: the API and openssl agree.
    let before = issuing_crl(&lab);
    let (number, next, entries) = openssl_crl(&lab, dir.path(), "/crl/issuing.crl");
    assert_eq!(before["crl_number"], number);
    assert_eq!(before["entries"], entries);
    assert_eq!(openssl_time(before["next_update"].as_u64().unwrap()), next);
    assert_eq!(before["overdue"], false);
    assert_eq!(before["path"], "/crl/issuing.crl");

    // Revoke through the existing route: status revoked, one more CRL entry.
    let r = lab.post(
        &format!("/api/v1/certificates/{serial}/revoke"),
        json!({ "reason": "key-compromise" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let after = lab.get(&format!("/api/v1/pki/certificates?q={fqdn}"));
    let cert = &after.body["certificates"][0];
    assert_eq!(cert["status"], "revoked");
    assert_eq!(cert["revocation_reason"], "key-compromise");
    assert_eq!(cert["crl_reason_code"], 1);
    assert!(cert["revoked_at"].as_u64().is_some());
    let revoked = lab.get("/api/v1/pki/certificates?status=revoked");
    assert!(revoked.body["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["serial"] == serial.as_str()));
    let valid = lab.get("/api/v1/pki/certificates?status=valid&q=device");
    assert_eq!(valid.status, 200);
    assert!(valid.body["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "valid"));
    let now_crl = issuing_crl(&lab);
    assert_eq!(
        now_crl["entries"].as_u64().unwrap(),
        before["entries"].as_u64().unwrap() + 1
    );
    assert!(now_crl["crl_number"].as_u64().unwrap() > number);
    let (number2, next2, entries2) = openssl_crl(&lab, dir.path(), "/crl/issuing.crl");
    assert_eq!(now_crl["crl_number"], number2);
    assert_eq!(now_crl["entries"], entries2);
    assert_eq!(
        openssl_time(now_crl["next_update"].as_u64().unwrap()),
        next2
    );

    // chain.pem: an attachment, issuing CA first, self-signed root last, verified by openssl.
    let chain = lab.get("/api/v1/trust/chain.pem");
    assert_eq!(chain.status, 200);
    assert_eq!(
        chain.header("content-type").as_deref(),
        Some("application/x-pem-file")
    );
    assert_eq!(
        chain.header("content-disposition").as_deref(),
        Some("attachment; filename=\"amtd-ca-chain.pem\"")
    );
    let blocks = pem_blocks(&chain.text());
    assert_eq!(blocks.len(), 2, "{}", chain.text());
    let mut names = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let file = format!("chain-{i}.pem");
        std::fs::write(dir.path().join(&file), b).unwrap();
        let out = openssl(
            dir.path(),
            &[
                "x509", "-in", &file, "-noout", "-subject", "-issuer", "-serial",
            ],
        );
        names.push((
            field(&out, "subject"),
            field(&out, "issuer"),
            field(&out, "serial"),
        ));
    }
    assert_eq!(
        names[0].1, names[1].0,
        "the issuing CA is signed by the next"
    );
    assert_eq!(names[1].0, names[1].1, "the last is self-signed: {names:?}");
    assert_ne!(names[0].0, names[0].1, "the first is not the root");
    let verified = openssl(
        dir.path(),
        &["verify", "-CAfile", "chain-1.pem", "chain-0.pem"],
    );
    assert!(verified.contains("chain-0.pem: OK"), "{verified}");

    // The device's own TLS certificate verifies against the chain: root trusted, issuing CA
    // untrusted, as a console checks it.
    let device_ip = format!(
        "{}.1",
        lab.api
            .strip_prefix("http://")
            .unwrap()
            .rsplit_once('.')
            .unwrap()
            .0
    );
    let served = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("{device_ip}:16993"),
            "-servername",
            &fqdn,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let served = String::from_utf8_lossy(&served.stdout).into_owned();
    let leaf = pem_blocks(&served)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the device served no certificate: {served}"));
    std::fs::write(dir.path().join("device.pem"), leaf).unwrap();
    let verified = openssl(
        dir.path(),
        &[
            "verify",
            "-CAfile",
            "chain-1.pem",
            "-untrusted",
            "chain-0.pem",
            "device.pem",
        ],
    );
    assert!(verified.contains("device.pem: OK"), "{verified}");

    // CAs: same subjects, serials and SHA-256 fingerprints as openssl reads in chain.pem.
    let cas = lab.get("/api/v1/pki/cas");
    assert_eq!(cas.status, 200);
    let cas = cas.body.as_array().unwrap().clone();
    assert_eq!(cas.len(), 2);
    for (i, ca) in cas.iter().enumerate() {
        let file = format!("chain-{i}.pem");
        let fp = openssl(
            dir.path(),
            &["x509", "-in", &file, "-noout", "-fingerprint", "-sha256"],
        );
        let fp = fp.trim().rsplit('=').next().unwrap().to_owned();
        assert_eq!(ca["fingerprint_sha256"], fp.as_str(), "{ca:?}");
        assert_eq!(ca["sha256"], fp.replace(':', "").to_lowercase().as_str());
        assert_eq!(ca["serial"], names[i].2.as_str());
        assert_eq!(ca["key_type"], "RSA");
        assert!(ca["key_bits"].as_u64().unwrap() >= 2048);
        assert!(ca["not_before"].as_u64().unwrap() < ca["not_after"].as_u64().unwrap());
        assert!(ca["crl_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/crl/{}.crl", ca["role"].as_str().unwrap())));
    }
    assert_eq!(cas[0]["role"], "issuing");
    assert_eq!(cas[0]["self_signed"], false);
    assert_eq!(cas[1]["role"], "root");
    assert_eq!(cas[1]["self_signed"], true);
    assert_eq!(cas[0]["issuer"], cas[1]["subject"]);

    // The mutual-TLS trust bundle: public material only, CRL URLs, the same chain.
    let bundle = lab.get("/api/v1/trust/mtls-bundle.pem");
    assert_eq!(bundle.status, 200);
    assert_eq!(
        bundle.header("content-disposition").as_deref(),
        Some("attachment; filename=\"amtd-mtls-trust.pem\"")
    );
    let text = bundle.text();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(text.contains(cas[0]["crl_url"].as_str().unwrap()), "{text}");
    assert_eq!(pem_blocks(&text), blocks);
    std::fs::write(dir.path().join("bundle.pem"), &text).unwrap();
    let first = openssl(
        dir.path(),
        &["x509", "-in", "bundle.pem", "-noout", "-subject"],
    );
    assert_eq!(field(&first, "subject"), names[0].0);

    // Bad parameters: 400 with a JSON error.
    let long = "x".repeat(300);
    for q in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "limit=-1",
        "status=bogus",
        "after=not-hex",
        "after=0BADC0DE",
        "colour=blue",
        "limit=5&limit=6",
        &format!("q={long}"),
    ] {
        let a = lab.get(&format!("/api/v1/pki/certificates?{q}"));
        assert_eq!(a.status, 400, "{q}: {}", a.text());
        assert!(
            a.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{q}"
        );
    }
    // Bytes that are no UTF-8 are read lossily: nothing matches, nothing breaks.
    let odd = lab.get("/api/v1/pki/certificates?q=%FF%FE%00");
    assert_eq!(odd.status, 200, "{}", odd.text());
    assert_eq!(odd.body["total"], 0);
    let max = lab.get("/api/v1/pki/certificates?limit=500");
    assert_eq!(max.status, 200);
    assert_eq!(max.body["limit"], 500);
}

#[test]
fn readiness_check_runs_for_administrators_grouped_per_team_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), 1);

    let none = lab.get("/api/v1/check");
    assert_eq!(none.status, 404, "{}", none.text());

    // A viewer may read the report, not run the check.
    let made = lab.post(
        "/api/v1/users",
        json!({ "name": "vera", "role": "viewer", "password": "vera-password-123" }),
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let tok = lab.post(
        "/api/v1/tokens",
        json!({ "name": "vera token", "user": "vera" }),
    );
    assert_eq!(tok.status, 201, "{}", tok.text());
    let viewer = tok.body["token"].as_str().unwrap().to_owned();
    let refused = http(&lab.api, "POST", "/api/v1/check", Some(&viewer), "");
    assert_eq!(refused.status, 403);

    let ran = http(&lab.api, "POST", "/api/v1/check", Some(&lab.token), "");
    assert_eq!(ran.status, 200, "{}", ran.text());
    let report = ran.body.clone();
    assert_eq!(report["ran_by"], "admin");
    let teams: Vec<&str> = report["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["dhcp", "dns", "pki", "time", "ad"]);
    for team in report["teams"].as_array().unwrap() {
        for c in team["checks"].as_array().unwrap() {
            assert_eq!(c["team"], team["team"]);
            for key in ["id", "title", "status", "detail", "fix"] {
                assert!(c.get(key).is_some(), "{key} missing in {c:?}");
            }
            assert!(["pass", "warn", "fail", "skipped"].contains(&c["status"].as_str().unwrap()));
        }
    }
    let team = |id: &str| {
        report["teams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["team"] == id)
            .unwrap()
            .clone()
    };
    // No interface: the DHCP probe is not configured.
    assert_eq!(team("dhcp")["status"], "skipped");
    assert!(team("dhcp")["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("not configured"));
    // The lab's own DNS server answers ProvisionServer in the lab domain.
    let dns = team("dns");
    let ps = dns["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "dns.provision_server")
        .unwrap_or_else(|| panic!("{dns:?}"));
    assert_eq!(ps["status"], "pass", "{ps:?}");
    // The lab's provisioning certificate fits the lab domain and the trusted lab root.
    let pki = team("pki");
    for id in ["pki.suffix.lab", "pki.root.lab", "pki.chain.lab"] {
        let c = pki["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {pki:?}"));
        assert_eq!(c["status"], "pass", "{c:?}");
    }
    assert_eq!(
        report["report"]["checks"].as_array().unwrap().len() as u64,
        {
            let c = &report["counts"];
            c["pass"].as_u64().unwrap()
                + c["warn"].as_u64().unwrap()
                + c["fail"].as_u64().unwrap()
                + c["skipped"].as_u64().unwrap()
        }
    );

    // The viewer now reads the same report.
    let read = http(&lab.api, "GET", "/api/v1/check", Some(&viewer), "");
    assert_eq!(read.status, 200);
    assert_eq!(read.body, report);

    // Audited: started, then the outcome, as the administrator.
    let out = support::amtd(
        dir.path(),
        &["audit", "list", "--data-dir", "lab-data", "--json"],
    );
    assert!(out.status.success(), "{}", support::text(&out));
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks: Vec<&Value> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "readiness-check")
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks.iter().all(|r| r["actor"] == "admin"));
    assert_eq!(checks[1]["detail"]["ok"], report["ok"]);

    // A client that leaves once its run has started does not cut the run short: the run
    // finishes in its own task and its outcome is recorded after its `started` record. (The
    // lab's check often ends before the `started` record is seen; the pairing is checked
    // either way.)
    let checks_recorded = || {
        let out = support::amtd(
            dir.path(),
            &["audit", "list", "--data-dir", "lab-data", "--json"],
        );
        let records: Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            records
                .as_array()?
                .iter()
                .filter(|r| r["action"] == "readiness-check")
                .cloned()
                .collect::<Vec<Value>>(),
        )
    };
    let host = lab.api.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST /api/v1/check HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        lab.token
    )
    .unwrap();
    wait_for("the second run to start", Duration::from_secs(60), || {
        checks_recorded().filter(|c| c.len() >= 3).map(drop)
    });
    drop(s);
    let checks = wait_for(
        "the abandoned run's outcome",
        Duration::from_secs(200),
        || checks_recorded().filter(|c| c.len() >= 4),
    );
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert_eq!(checks[2]["result"], "started", "{checks:?}");
    assert_eq!(checks[3]["result"], "ok", "{checks:?}");
    assert_eq!(checks[3]["actor"], "admin", "{checks:?}");
}
