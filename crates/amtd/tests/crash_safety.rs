//! Crash safety (issue 5, P6): `amtd serve` is killed with SIGKILL at every provisioning step
//! in turn — right after the transition into the step is stored, and, for the calls that
//! change the device, right after the device answered (before the answer is recorded) — then
//! started again on the same data directory. An emulated device (`amtd sim`, a separate
//! process that survives the server) is provisioned in each round.
//!
//! After every round: the device is provisioned, by exactly one run that ended
//! `provisioned`; the restarted server resumed the stopped run (its timeline says so) or, when
//! the run had not reached the device, started a new one on the device's next hello; the admin
//! password the server stored authenticates on the device over TLS; and every certificate the
//! CA issued for the device is either installed (exactly one) or revoked.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{amtd_env, random_octets, root_hash_hex, text, wait_for, Running};

const PFX_PASSWORD: &str = "pfx-test-password";

/// `amtd args…` in `dir`, with the password of the provisioning certificate's PKCS#12.
fn amtd(dir: &Path, args: &[&str]) -> Output {
    amtd_env(dir, args, &[("AMTD_PFX_PASSWORD", PFX_PASSWORD)])
}

/// Starts `amtd serve` on `dir/amtd.toml`, set to kill itself at `crash_at` (see the server's
/// recovery module), its log in `dir/log`.
fn serve(dir: &Path, crash_at: Option<&str>, log: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amtd"));
    cmd.current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LOG", "info")
        .env("AMTD_TEST_PFX_PASSWORD", PFX_PASSWORD)
        .env_remove("AMTD_TEST_CRASH_AT")
        .args(["serve", "--config", "amtd.toml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap());
    if let Some(p) = crash_at {
        cmd.env("AMTD_TEST_CRASH_AT", p);
    }
    cmd.spawn().expect("start amtd serve")
}

/// The kill points, in flow order, for the server's default profile. `+reply`: after the
/// device answered the step's call (the calls that change the device); for
/// `issuing-certificate`, after the CA signed (the certificate is then the restarted server's
/// to revoke, and a new one is issued).
const CRASH_POINTS: &[&str] = &[
    "discovered",
    "checking-fit",
    "connecting",
    "reading-setup-state",
    "reading-firmware-version",
    "reading-keys",
    "setting-mebx-password",
    "setting-mebx-password+reply",
    "setting-admin-acl",
    "setting-admin-acl+reply",
    "reading-clock",
    "setting-clock",
    "adding-trusted-roots",
    "adding-trusted-roots+reply",
    "generating-key",
    "generating-key+reply",
    "reading-key",
    "requesting-csr",
    "issuing-certificate",
    "issuing-certificate+reply",
    "adding-certificate",
    "adding-certificate+reply",
    "creating-credential-context",
    "creating-credential-context+reply",
    "putting-tls-settings",
    "putting-tls-settings+reply",
    "committing",
    "committing+reply",
    "verifying",
    "verifying+reply",
    "applying-user-consent",
    "applying-user-consent+reply",
    "applying-redirection",
    "applying-redirection+reply",
    "done",
];

#[test]
fn server_killed_at_every_step_resumes_and_provisions_exactly_once() {
    let dir = tempfile::Builder::new()
        .prefix("amtd-crash-")
        .tempdir()
        .unwrap();
    // AMTD_KEEP_TEST_DIR=1 keeps the data directory and the logs for a post-mortem.
    let kept;
    let path = if std::env::var_os("AMTD_KEEP_TEST_DIR").is_some() {
        kept = dir.keep();
        eprintln!("test directory: {}", kept.display());
        kept.as_path()
    } else {
        dir.path()
    };
    let (a, b, port) = random_octets();
    let server_ip = format!("127.{a}.{b}.200");

    std::fs::create_dir(path.join("amtd-data")).unwrap();
    let ca = |args: &[&str]| {
        let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
        all.extend_from_slice(args);
        let out = amtd(path, &all);
        assert!(out.status.success(), "{}", text(&out));
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

    let uuid_of = |i: usize| format!("8086e000-0000-4000-8000-{:012x}", 0xc0_0000 + i);
    let mut mapping = String::new();
    for i in 0..CRASH_POINTS.len() {
        mapping.push_str(&format!("\"{}\" = \"crash{i:02}.amt.test\"\n", uuid_of(i)));
    }
    std::fs::write(
        path.join("amtd.toml"),
        format!(
            "[server]\napi_bind = \"{server_ip}:0\"\nhello_bind = \"{server_ip}\"\n\
             hello_port = {port}\n\
             [[provisioning_certificate]]\nname = \"test\"\npkcs12 = \"prov.pfx\"\n\
             pkcs12_password_env = \"AMTD_TEST_PFX_PASSWORD\"\n\
             [fqdn]\nstrategies = [\"operator-mapping\"]\n\
             [fqdn.mapping]\n{mapping}"
        ),
    )
    .unwrap();
    let port_text = port.to_string();

    let mut report = Vec::new();
    for (i, point) in CRASH_POINTS.iter().enumerate() {
        let uuid = uuid_of(i);
        let ip = format!("127.{a}.{b}.{}", 10 + i);
        let started = Instant::now();

        // The server that will die at `point`, then the device.
        let mut doomed = Running(serve(path, Some(point), &format!("serve-{i}-crash.log")));
        wait_for("amtd serve's API", Duration::from_secs(60), || {
            amtd(path, &["devices", "--json"])
                .status
                .success()
                .then_some(())
        });
        let fleet = format!("fleet-{i}.toml");
        std::fs::write(
            path.join(&fleet),
            format!(
                "[defaults]\nextra_root_hashes = [\"{root}\"]\n\
                 [[device]]\nip = \"{ip}\"\nuuid = \"{uuid}\"\nhostname = \"crash{i:02}\"\n"
            ),
        )
        .unwrap();
        let _sim = Running(
            Command::new(env!("CARGO_BIN_EXE_amtd"))
                .current_dir(path)
                .env("RUST_BACKTRACE", "0")
                .args([
                    "sim",
                    "--fleet",
                    &fleet,
                    "--provisioning-server",
                    &server_ip,
                    "--hello-port",
                    &port_text,
                    "--time-scale",
                    "60",
                    "--state-dir",
                    &format!("sim-state-{i}"),
                    "--status-interval",
                    "0",
                ])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(path.join(format!("sim-{i}.log"))).unwrap())
                .spawn()
                .unwrap(),
        );

        // The server kills itself at the point with SIGKILL.
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = doomed.0.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(path.join(format!("serve-{i}-crash.log")))
                    .unwrap_or_default();
                let sim =
                    std::fs::read_to_string(path.join(format!("sim-{i}.log"))).unwrap_or_default();
                panic!("round {i}: the server was not killed at {point}\n{log}\n--- sim\n{sim}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let log =
            std::fs::read_to_string(path.join(format!("serve-{i}-crash.log"))).unwrap_or_default();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {i} ({point}): the server should have died of SIGKILL, got {status:?}\n{log}"
        );
        drop(doomed);
        // It left its discovery file behind, as a killed process does.
        let _ = std::fs::remove_file(path.join("amtd-data/server.json"));

        // Started again on the same data directory, it finishes the job.
        let _server = Running(serve(path, None, &format!("serve-{i}-after.log")));
        let shown = wait_for(
            &format!("round {i} ({point}): the device provisioned after the restart"),
            Duration::from_secs(90),
            || {
                let out = amtd(path, &["device", &uuid, "--json"]);
                let v: Value = serde_json::from_slice(&out.stdout).ok()?;
                // The device's state is stored before its run is closed.
                let closed = v["runs"]
                    .as_array()?
                    .iter()
                    .all(|r| !r["finished_at"].is_null());
                (v["state"] == "provisioned" && closed).then_some(v)
            },
        );
        let runs = shown["runs"].as_array().unwrap();
        let provisioned = runs
            .iter()
            .filter(|r| r["outcome"] == "provisioned")
            .count();
        assert_eq!(provisioned, 1, "round {i} ({point}): runs {runs:#?}");
        assert!(
            runs.iter().all(|r| !r["finished_at"].is_null()),
            "round {i} ({point}): every run is closed: {runs:#?}"
        );
        let resumed = shown["timeline"].as_array().unwrap().iter().any(|t| {
            t["reason"]
                .as_str()
                .is_some_and(|r| r.contains("resumed after a server restart"))
        });
        let before_contact = matches!(*point, "discovered" | "checking-fit");
        assert!(
            resumed || before_contact,
            "round {i} ({point}): the timeline should show the resumed run: {shown:#}"
        );

        // The stored admin password authenticates on the device, over TLS.
        let out = amtd(path, &["device", &uuid, "reveal-password"]);
        assert!(out.status.success(), "{}", text(&out));
        let password = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
        let out = Command::new(env!("CARGO_BIN_EXE_amtd"))
            .current_dir(path)
            .env("AMT_PASSWORD", &password)
            .args([
                "wsman",
                "get",
                "--host",
                &ip,
                "--tls",
                "--insecure",
                "--timeout",
                "20",
                "AMT_SetupAndConfigurationService",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success() && text(&out).contains("ProvisioningState"),
            "round {i} ({point}): the stored password does not authenticate: {}",
            text(&out)
        );

        // Every certificate issued for the device is installed (exactly one) or revoked.
        let ledger: Value =
            serde_json::from_slice(&std::fs::read(path.join("amtd-data/ca/ledger.json")).unwrap())
                .unwrap();
        let mine: Vec<&Value> = ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["device"] == uuid.as_str())
            .collect();
        let state = |e: &Value| {
            e["state"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| e["state"].as_object()?.keys().next().cloned())
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        let installed = mine.iter().filter(|e| state(e) == "installed").count();
        assert_eq!(installed, 1, "round {i} ({point}): ledger {mine:#?}");
        assert!(
            mine.iter()
                .all(|e| matches!(state(e).as_str(), "installed" | "revoked")),
            "round {i} ({point}): a certificate is neither installed nor revoked: {mine:#?}"
        );
        if *point == "issuing-certificate+reply" {
            assert_eq!(
                mine.len(),
                2,
                "round {i} ({point}): the certificate signed before the kill is revoked and a \
                 new one issued: {mine:#?}"
            );
        }
        report.push(format!(
            "{point}: {} run(s), {} certificate(s), {:.1} s",
            runs.len(),
            mine.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    eprintln!("crash safety rounds:\n  {}", report.join("\n  "));
}
