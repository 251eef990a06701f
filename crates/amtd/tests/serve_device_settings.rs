//! `amtd serve` with `[fqdn] strategies = ["device-settings"]` (P2): the server reads each
//! device's own host and domain (`AMT_GeneralSettings`) over setup-mode TLS before any run and
//! provisions it under that name. A device whose domain the provisioning certificate does not
//! fit refuses the setup TLS session, so no name is found and the hello is recorded with the
//! reason; nothing is issued for it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use support::*;

const PFX_PASSWORD: &str = "pfx-test-password";

#[test]
fn device_settings_name_the_device_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let (a, b, port) = random_octets();
    let server_ip = format!("127.{a}.{b}.200");
    let ca = |args: &[&str]| {
        let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
        all.extend_from_slice(args);
        let out = amtd_env(path, &all, &[("AMTD_PFX_PASSWORD", PFX_PASSWORD)]);
        assert!(out.status.success(), "{}", text(&out));
    };
    std::fs::create_dir_all(path.join("amtd-data")).unwrap();
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
    std::fs::write(
        path.join("amtd.toml"),
        format!(
            "[server]\napi_bind = \"{server_ip}:0\"\nhello_bind = \"{server_ip}\"\n\
             hello_port = {port}\n\
             [[provisioning_certificate]]\nname = \"test\"\npkcs12 = \"prov.pfx\"\n\
             pkcs12_password_env = \"AMTD_TEST_PFX_PASSWORD\"\n\
             [fqdn]\nstrategies = [\"device-settings\"]\n"
        ),
    )
    .unwrap();
    let _serve = spawn_env(
        path,
        &["serve", "--config", "amtd.toml"],
        &[("AMTD_TEST_PFX_PASSWORD", PFX_PASSWORD)],
        "serve.log",
    );
    wait_for("amtd serve's API", Duration::from_secs(60), || {
        amtd(path, &["devices", "--json"])
            .status
            .success()
            .then_some(())
    });

    // Two devices: one in the certificate's domain, one in another.
    let good = "8086e000-0000-4000-8000-00000000d501";
    let other = "8086e000-0000-4000-8000-00000000d502";
    std::fs::write(
        path.join("fleet.toml"),
        format!(
            "[defaults]\nextra_root_hashes = [\"{root}\"]\n\
             [[device]]\nip = \"127.{a}.{b}.101\"\nuuid = \"{good}\"\nhostname = \"ws-0042\"\n\
             domain = \"amt.test\"\n\
             [[device]]\nip = \"127.{a}.{b}.102\"\nuuid = \"{other}\"\nhostname = \"ws-0043\"\n\
             domain = \"corp.example\"\n"
        ),
    )
    .unwrap();
    let port_text = port.to_string();
    let _sim = spawn_env(
        path,
        &[
            "sim",
            "--fleet",
            "fleet.toml",
            "--provisioning-server",
            &server_ip,
            "--hello-port",
            &port_text,
            "--state-dir",
            "sim-state",
            "--status-interval",
            "0",
        ],
        &[],
        "sim.log",
    );

    let shown = wait_for("the device provisioned", Duration::from_secs(120), || {
        let out = amtd(path, &["device", good, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["state"] == "provisioned").then_some(v)
    });
    assert_eq!(shown["fqdn"], "ws-0042.amt.test", "{shown:#}");

    // The device in corp.example: refused at setup TLS, so no FQDN, no run, and the hello
    // says why.
    let hellos = wait_for("the other device's hello", Duration::from_secs(60), || {
        let api: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("amtd-data/server.json")).unwrap())
                .unwrap();
        let token = std::fs::read_to_string(path.join("amtd-data/api-token")).unwrap();
        let (status, body) = request(
            api["api"].as_str().unwrap(),
            "GET",
            &format!("/api/v1/hellos?device={other}"),
            Some(token.trim()),
            b"",
        );
        let body = String::from_utf8_lossy(&body).into_owned();
        (status == 200 && body.contains(other)).then_some(body)
    });
    assert!(
        hellos.contains("device settings") || hellos.contains("device's settings"),
        "{hellos}"
    );
    let out = amtd(path, &["device", other, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_ne!(v["state"], "provisioned", "{v:#}");
}
