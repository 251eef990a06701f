//! Maintenance policies end to end (M10, M11), through `amtd serve` and `amtd sim`, with the
//! policies' clock moved by `amtd maintenance run --as-of` (the system clock is left alone):
//!
//! - renewal: 31 days before the device certificate expires nothing happens; 29 days before,
//!   the device serves a new certificate (seen by openssl), the old one is superseded and
//!   revoked ("superseded" on the published CRL, pushed to the device) and removed from the
//!   device;
//! - rotation: on schedule the new admin password works on the device and the old one does not;
//!   the store keeps every version;
//! - a server killed (SIGKILL) in the middle of a rotation — before the new password was sent,
//!   and after the device took it but before it was marked verified — settles at restart: the
//!   stored password in force authenticates on the device, and no version is lost;
//! - clock re-sync moves a skewed device clock back to the real time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amt_pki::{Cert, CertState, RevocationReason, Serial};
use amt_wsman::classes::amt::{
    AmtGeneralSettings, AmtPublicKeyCertificate, GetLowAccuracyTimeSynchInput,
    GetLowAccuracyTimeSynchOutput, SetHighAccuracyTimeSynchInput, SetHighAccuracyTimeSynchOutput,
};
use amt_wsman::secret::SecretString;
use amt_wsman::SelectorSet;
use amtd_infra::client::{WsmanClient, WsmanError};
use amtd_infra::device_tls::ConsoleTls;
use amtd_infra::pki_store::PkiStore;
use amtd_infra::transport::{DeviceEndpoint, TransportConfig, TransportError, WsmanConnection};
use serde_json::Value;
use support::{amtd, spawn_env, text, wait_for, Serve, FIRST_UUID};

const FQDN: &str = "amtdev00001.amt.test";
const DAY: u64 = 86_400;
/// The scheduled job stays off: every pass in these tests is asked for.
const CONFIG: &str = "[maintenance]\nenabled = false\n";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn pki(dir: &Path) -> PkiStore {
    PkiStore::open(&dir.join("amtd-data/ca"), &dir.join("amtd-data/ca.kek")).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client to the device: its certificate checked against the CA root and the FQDN.
fn client(dir: &Path, ip: &str, password: &SecretString) -> WsmanClient {
    let tls = ConsoleTls::new(pki(dir).ca().root().cert().der(), None).options(FQDN);
    let config = TransportConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        ..TransportConfig::default()
    };
    let endpoint = DeviceEndpoint::https(ip.to_owned(), tls);
    WsmanClient::new(WsmanConnection::new(endpoint, "admin", password.clone(), config).unwrap())
}

fn authenticates(dir: &Path, ip: &str, password: &SecretString) -> Result<(), WsmanError> {
    runtime().block_on(async {
        let c = client(dir, ip, password);
        let r = c.get::<AmtGeneralSettings>(SelectorSet::new()).await;
        c.connection().close().await;
        r.map(|_| ())
    })
}

fn assert_refused(dir: &Path, ip: &str, password: &SecretString, what: &str) {
    match authenticates(dir, ip, password) {
        Err(WsmanError::Transport(TransportError::AuthFailed { .. })) => {}
        other => panic!("{what}: expected the device to refuse the password, got {other:?}"),
    }
}

fn admin_password(serve: &Serve) -> SecretString {
    let (status, v) = serve.call(
        "POST",
        &format!("/api/v1/devices/{FIRST_UUID}/reveal-password"),
        "",
    );
    assert_eq!(status, 200, "{v}");
    SecretString::from(v["admin_password"].as_str().unwrap().to_owned())
}

fn provisioned(serve: &Serve) {
    let v = serve.wait_device_done(FIRST_UUID);
    assert_eq!(
        v["state"],
        "provisioned",
        "{v}\nserver log:\n{}",
        serve.log()
    );
}

/// `amtd maintenance run --json` with these arguments: the pass's report.
fn pass(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["maintenance", "--json", "run"];
    all.extend_from_slice(args);
    let out = amtd(dir, &all);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The one report line of `task` in a pass.
fn line<'a>(report: &'a Value, task: &str) -> &'a Value {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task"] == task && t["device"] == FIRST_UUID)
        .unwrap_or_else(|| panic!("no {task} line in {report}"))
}

/// The certificate the device presents on 16993, as openssl sees it (verified against the CA).
fn served_certificate(dir: &Path, ip: &str) -> Cert {
    served_certificate_to(dir, ip, None)
}

/// [`served_certificate`], presenting a client certificate (cert and key PEM files).
fn served_certificate_to(dir: &Path, ip: &str, client: Option<(&Path, &Path)>) -> Cert {
    let mut cmd = Command::new("timeout");
    cmd.args(["20", "openssl", "s_client", "-connect"])
        .arg(format!("{ip}:16993"))
        .args(["-servername", FQDN, "-verify_return_error", "-CAfile"])
        .arg(dir.join("trust.pem"));
    if let Some((c, k)) = client {
        cmd.arg("-cert").arg(c).arg("-key").arg(k);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let all = text(&out);
    assert!(all.contains("Verify return code: 0 (ok)"), "{all}");
    Cert::from_pem(&String::from_utf8_lossy(&out.stdout)).unwrap_or_else(|e| panic!("{e}: {all}"))
}

fn held_serials(dir: &Path, ip: &str, password: &SecretString) -> Vec<Serial> {
    use base64::Engine as _;
    let lists: Vec<amt_wsman::classes::amt::AmtCrl> = runtime().block_on(async {
        let c = client(dir, ip, password);
        c.enumerate().await.unwrap()
    });
    let b64 = base64::engine::general_purpose::STANDARD;
    lists
        .iter()
        .flat_map(|l| l.serial_numbers.iter())
        .map(|s| Serial::from_bytes(&b64.decode(s).unwrap()))
        .collect()
}

#[test]
fn renewal_with_the_clock_moved_serves_a_new_certificate_and_revokes_the_old_as_superseded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = Serve::start(path, CONFIG, &[]);
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);
    let password = admin_password(&serve);
    let old = served_certificate(path, &ip);
    let expiry = old
        .not_after()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // 31 days before expiry: not due (renewed 30 days before).
    let at = (expiry - 31 * DAY).to_string();
    let report = pass(path, &["--task", "renew-certificate", "--as-of", &at]);
    let l = line(&report, "renew-certificate");
    assert_eq!(l["outcome"], "unchanged", "{report}");
    assert!(l["detail"].as_str().unwrap().contains("not due"), "{l}");
    assert_eq!(served_certificate(path, &ip).der(), old.der());

    // 29 days before: renewed.
    let at = (expiry - 29 * DAY).to_string();
    let report = pass(path, &["--task", "renew-certificate", "--as-of", &at]);
    let l = line(&report, "renew-certificate");
    assert_eq!(l["outcome"], "done", "{report}\n{}", serve.log());
    let new = served_certificate(path, &ip);
    assert_ne!(
        new.serial(),
        old.serial(),
        "the device still serves the old one"
    );
    assert!(new.common_names().iter().any(|c| c == FQDN));
    // Issued after the old one (notAfter has one-second resolution: the same second is fine
    // when the renewal comes right after provisioning).
    assert!(new.not_after() >= old.not_after());

    // The ledger: the old one superseded by the new one and revoked as replaced by
    // maintenance; the new one installed. The published CRL says "superseded" (4).
    let ca = pki(path);
    let old_entry = ca.ledger().get(&old.serial()).unwrap();
    assert!(
        matches!(
            old_entry.state,
            CertState::Revoked {
                reason: RevocationReason::ReplacedByMaintenance,
                ..
            }
        ),
        "{old_entry:?}"
    );
    assert_eq!(old_entry.superseded_by.as_ref(), Some(&new.serial()));
    let new_entry = ca.ledger().get(&new.serial()).unwrap();
    assert_eq!(new_entry.state.name(), "installed");
    let on_crl = ca
        .crl(amt_pki::CaRole::Issuing)
        .unwrap()
        .entries()
        .into_iter()
        .find(|e| e.serial == old.serial())
        .expect("the old certificate is on the CRL");
    assert_eq!(on_crl.reason_code, Some(4));

    // The old certificate (and its key) left the device's store; the new one is there.
    let certs: Vec<AmtPublicKeyCertificate> =
        runtime().block_on(async { client(path, &ip, &password).enumerate().await.unwrap() });
    let serials: Vec<Serial> = certs
        .iter()
        .filter_map(|c| c.certificate_der().ok().flatten())
        .filter_map(|d| Cert::from_der(&d).ok())
        .map(|c| c.serial())
        .collect();
    assert!(serials.contains(&new.serial()) && !serials.contains(&old.serial()));

    // The next CRL push gives the device the old serial.
    let report = pass(path, &["--task", "push-crl"]);
    assert_eq!(line(&report, "push-crl")["outcome"], "done", "{report}");
    assert!(held_serials(path, &ip, &password).contains(&old.serial()));
    // And a pass right after has nothing to do.
    let report = pass(path, &["--task", "push-crl", "--task", "renew-certificate"]);
    assert_eq!(
        line(&report, "push-crl")["outcome"],
        "unchanged",
        "{report}"
    );
    assert_eq!(
        line(&report, "renew-certificate")["outcome"],
        "unchanged",
        "{report}"
    );
}

#[test]
fn rotation_on_schedule_replaces_the_password_and_keeps_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = Serve::start(path, CONFIG, &[]);
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);
    let first = admin_password(&serve);

    let report = pass(
        path,
        &["--task", "rotate-admin-password", "--as-of", "+10d"],
    );
    let l = line(&report, "rotate-admin-password");
    assert_eq!(l["outcome"], "unchanged", "{report}");
    assert!(l["detail"].as_str().unwrap().contains("not due"), "{l}");

    let report = pass(
        path,
        &["--task", "rotate-admin-password", "--as-of", "+91d"],
    );
    assert_eq!(
        line(&report, "rotate-admin-password")["outcome"],
        "done",
        "{report}\n{}",
        serve.log()
    );
    let second = admin_password(&serve);
    assert_ne!(second.expose(), first.expose());
    authenticates(path, &ip, &second).unwrap();
    assert_refused(path, &ip, &first, "the old password");

    let (status, v) = serve.call(
        "GET",
        &format!("/api/v1/maintenance/devices/{FIRST_UUID}"),
        "",
    );
    assert_eq!(status, 200, "{v}");
    let versions: Vec<u64> = v["admin_password_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2], "{v}");
    assert_eq!(v["admin_password_in_force"], 2);
    assert_eq!(v["operations"][0]["outcome"], "rotated", "{v}");
    assert!(
        !v.to_string().contains(second.expose()),
        "the API shows no password"
    );
}

/// Stops `old` (SIGKILL, if it still runs) and starts `amtd serve` again in its directory
/// (the CA and the store are kept), optionally with a kill point; waits for its API.
fn restart(mut old: Serve, crash_at: Option<&str>) -> Serve {
    let _ = old.process.0.kill();
    let _ = old.process.0.wait();
    let dir = &old.dir;
    let _ = std::fs::remove_file(dir.join("amtd-data/server.json"));
    let mut env = vec![("AMTD_TEST_PFX_PASSWORD", "pfx-test-password")];
    if let Some(p) = crash_at {
        env.push(("AMTD_TEST_CRASH_AT", p));
    }
    let log = format!("serve-{}.log", now());
    let mut process = spawn_env(dir, &["serve", "--config", "amtd.toml"], &env, &log);
    let api = wait_for("amtd serve's API", Duration::from_secs(60), || {
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!(
                "amtd serve exited ({status}):\n{}",
                std::fs::read_to_string(dir.join(&log)).unwrap_or_default()
            );
        }
        let d: Value =
            serde_json::from_slice(&std::fs::read(dir.join("amtd-data/server.json")).ok()?).ok()?;
        let out = amtd(dir, &["devices", "--json"]);
        out.status
            .success()
            .then(|| d["api"].as_str().unwrap().to_owned())
    });
    let token = std::fs::read_to_string(dir.join("amtd-data/api-token"))
        .unwrap()
        .trim()
        .to_owned();
    Serve {
        dir: dir.clone(),
        server_ip: old.server_ip.clone(),
        hello_port: old.hello_port,
        root_hash: old.root_hash.clone(),
        api,
        token,
        process,
    }
}

/// Asks for a rotation pass on a server that kills itself at its kill point; returns once it
/// is dead (by SIGKILL).
fn rotate_until_killed(serve: &mut Serve, as_of: &str) {
    let out = amtd(
        &serve.dir,
        &[
            "maintenance",
            "run",
            "--task",
            "rotate-admin-password",
            "--as-of",
            as_of,
        ],
    );
    assert!(!out.status.success(), "the server survived: {}", text(&out));
    let status = wait_for("the server to die", Duration::from_secs(30), || {
        serve.process.0.try_wait().ok().flatten()
    });
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
}

fn versions(serve: &Serve) -> Value {
    let (status, v) = serve.call(
        "GET",
        &format!("/api/v1/maintenance/devices/{FIRST_UUID}"),
        "",
    );
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn a_server_killed_in_the_middle_of_a_rotation_settles_on_the_password_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = Serve::start(path, CONFIG, &[]);
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);
    let first = admin_password(&serve);

    // Killed after the new password was stored, before it was sent: the device never saw it.
    // At restart the old one is found to work and is stored again as the newest version.
    let mut serve = restart(
        serve,
        Some("maintenance:rotate-admin-password:sending-new-password"),
    );
    rotate_until_killed(&mut serve, "+91d");
    let serve = restart(serve, None);
    let v = versions(&serve);
    assert_eq!(v["admin_password_in_force"], 3, "{v}");
    assert_eq!(v["operations"][0]["outcome"], "reverted", "{v}");
    let in_force = admin_password(&serve);
    assert_eq!(in_force.expose(), first.expose());
    authenticates(path, &ip, &in_force).unwrap();

    // Killed after the device accepted the new password, before it was marked verified. At
    // restart the new one is found to work: the rotation is complete.
    let mut serve = restart(
        serve,
        Some("maintenance:rotate-admin-password:sending-new-password+reply"),
    );
    rotate_until_killed(&mut serve, "+200d");
    let serve = restart(serve, None);
    let v = versions(&serve);
    assert_eq!(v["admin_password_in_force"], 4, "{v}");
    assert_eq!(v["operations"][0]["outcome"], "rotated", "{v}");
    let newest = admin_password(&serve);
    assert_ne!(newest.expose(), first.expose());
    authenticates(path, &ip, &newest).unwrap();
    assert_refused(path, &ip, &first, "the password before the rotation");
    let all: Vec<u64> = v["admin_password_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_u64().unwrap())
        .collect();
    assert_eq!(all, [1, 2, 3, 4], "every version is kept: {v}");
}

/// The device's clock (`Ta0`), seconds since the epoch.
fn device_clock(dir: &Path, ip: &str, password: &SecretString) -> u64 {
    runtime().block_on(async {
        let c = client(dir, ip, password);
        let out: GetLowAccuracyTimeSynchOutput = c
            .invoke(
                &GetLowAccuracyTimeSynchInput::default(),
                SelectorSet::new(),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        u64::from(out.ta0.unwrap())
    })
}

#[test]
fn clock_resync_moves_a_skewed_device_clock_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = Serve::start(path, CONFIG, &[]);
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);
    let password = admin_password(&serve);

    // Put the device clock two hours ahead, the way a console sets it.
    runtime().block_on(async {
        let c = client(path, &ip, &password);
        let out: GetLowAccuracyTimeSynchOutput = c
            .invoke(
                &GetLowAccuracyTimeSynchInput::default(),
                SelectorSet::new(),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        let ahead = u32::try_from(now() + 7200).unwrap();
        let set: SetHighAccuracyTimeSynchOutput = c
            .invoke(
                &SetHighAccuracyTimeSynchInput::new(out.ta0.unwrap(), ahead, ahead),
                SelectorSet::new(),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        assert_eq!(
            set.return_value,
            Some(amt_wsman::classes::amt::PtStatus::Success)
        );
    });
    let skew = device_clock(path, &ip, &password) as i64 - now() as i64;
    assert!((7190..=7210).contains(&skew), "skew {skew}");

    let report = pass(path, &["--task", "sync-clock"]);
    let l = line(&report, "sync-clock");
    assert_eq!(l["outcome"], "done", "{report}");
    assert!(l["detail"].as_str().unwrap().contains("off by"), "{l}");
    let skew = device_clock(path, &ip, &password) as i64 - now() as i64;
    assert!(skew.abs() <= 5, "still off by {skew} s");

    // In sync now; a pass "as of" next year changes nothing about the clock.
    let report = pass(path, &["--task", "sync-clock", "--as-of", "+365d"]);
    assert_eq!(
        line(&report, "sync-clock")["outcome"],
        "unchanged",
        "{report}"
    );
    let skew = device_clock(path, &ip, &password) as i64 - now() as i64;
    assert!(
        skew.abs() <= 5,
        "the moved clock reached the device: off by {skew} s"
    );
}

/// The device certificates the ledger holds for the device: (serial, state, reason).
fn ledger_states(dir: &Path) -> Vec<(Serial, String, Option<RevocationReason>)> {
    pki(dir)
        .ledger()
        .for_device(FIRST_UUID)
        .map(|e| {
            let reason = match e.state {
                CertState::Revoked { reason, .. } => Some(reason),
                _ => None,
            };
            (e.serial.clone(), e.state.name().to_owned(), reason)
        })
        .collect()
}

#[test]
fn a_server_killed_in_the_middle_of_a_renewal_of_a_mutual_tls_device_settles_by_what_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = Serve::start(
        path,
        &format!("[[profile]]\nname = \"default\"\ntls = \"mutual\"\n{CONFIG}"),
        &[],
    );
    let (_sim, ip) = serve.start_device();
    provisioned(&serve);
    // openssl presents the server's console certificate (the device demands one).
    let id = pki(path).load_console_identity().unwrap().unwrap();
    let (cert_file, key_file) = (path.join("console.crt"), path.join("console.key"));
    std::fs::write(&cert_file, id.cert().to_pem()).unwrap();
    std::fs::write(&key_file, id.key().to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let served = || served_certificate_to(path, &ip, Some((&cert_file, &key_file)));
    let old = served();
    let at = (old
        .not_after()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 29 * DAY)
        .to_string();
    let renew_until_killed = |serve: &mut Serve| {
        let out = amtd(
            &serve.dir,
            &[
                "maintenance",
                "run",
                "--task",
                "renew-certificate",
                "--as-of",
                &at,
            ],
        );
        assert!(!out.status.success(), "the server survived: {}", text(&out));
        let status = wait_for("the server to die", Duration::from_secs(60), || {
            serve.process.0.try_wait().ok().flatten()
        });
        assert_eq!(status.signal(), Some(9), "{status:?}");
    };

    // Killed right after the CA signed, before the operation recorded the certificate: at
    // restart nothing the device serves changed, and the unrecorded certificate is revoked.
    let mut serve = restart(
        serve,
        Some("maintenance:renew-certificate:issuing-certificate+reply"),
    );
    renew_until_killed(&mut serve);
    let serve = restart(serve, None);
    assert_eq!(
        served().der(),
        old.der(),
        "the device still serves the old one"
    );
    let states = ledger_states(path);
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(
        states.contains(&(old.serial(), "installed".into(), None)),
        "{states:?}"
    );
    assert!(
        states.iter().any(|(s, state, reason)| *s != old.serial()
            && state == "revoked"
            && *reason == Some(RevocationReason::ProvisioningFailed)),
        "{states:?}"
    );
    let (_, ops) = serve.call(
        "GET",
        &format!("/api/v1/maintenance?device={FIRST_UUID}&task=renew-certificate"),
        "",
    );
    assert_eq!(ops[0]["outcome"], "abandoned", "{ops}");

    // Killed right after the device switched to the new certificate, before that was recorded:
    // at restart the device is found serving it, so the renewal is completed.
    let mut serve = restart(
        serve,
        Some("maintenance:renew-certificate:switching-tls-certificate+reply"),
    );
    renew_until_killed(&mut serve);
    let serve = restart(serve, None);
    let new = served();
    assert_ne!(new.serial(), old.serial());
    let states = ledger_states(path);
    assert!(
        states.contains(&(
            old.serial(),
            "revoked".into(),
            Some(RevocationReason::ReplacedByMaintenance)
        )),
        "{states:?}"
    );
    assert!(
        states.contains(&(new.serial(), "installed".into(), None)),
        "{states:?}"
    );
    assert_eq!(
        pki(path).ledger().get(&old.serial()).unwrap().superseded_by,
        Some(new.serial())
    );
    let (_, ops) = serve.call(
        "GET",
        &format!("/api/v1/maintenance?device={FIRST_UUID}&task=renew-certificate"),
        "",
    );
    assert_eq!(ops[0]["outcome"], "renewed", "{ops}");
    assert_eq!(ops.as_array().unwrap().len(), 2, "{ops}");
}
