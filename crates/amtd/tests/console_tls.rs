//! The console on a device the server provisioned itself (hello, TLS, CA-issued certificate,
//! stored admin password): `amtd serve` and `amtd sim` as processes. The console reaches it over
//! TLS on 16993 with the certificate verified against the CA root and the FQDN, powers it off
//! (the emulated host goes off), reads its inventory, and its audit log shows the provisioning;
//! a wrong FQDN is refused by the TLS check.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{amtd, amtd_env, text, Serve, FIRST_UUID};

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let out = amtd(dir, args);
    assert!(out.status.success(), "amtd {args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_server_provisioned_device_is_managed_over_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = Serve::start(d, "", &[]);
    let (_sim, ip) = serve.start_device();
    let shown = serve.wait_device_done(FIRST_UUID);
    assert_eq!(shown["state"], "provisioned", "{shown}\n{}", serve.log());
    let state = |d: &Path| -> Value {
        let p = d.join("sim-state").join(format!("{FIRST_UUID}.json"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    assert_eq!(state(d)["tls_remote"]["enabled"], true);

    // Status and a change, addressed by FQDN, over TLS.
    let v = ok_json(d, &["power", "status", "amtdev00001.amt.test", "--json"]);
    assert_eq!(v["results"][0]["result"]["power_state"], "on", "{v}");
    assert_eq!(v["results"][0]["uuid"], FIRST_UUID);
    let v = ok_json(d, &["power", "off", FIRST_UUID, "--json"]);
    assert_eq!(v["results"][0]["result"]["power_state"], "off", "{v}");
    assert_eq!(state(d)["power_state"], 8);

    // The audit log shows the provisioning and the admin's power-off.
    let au = ok_json(d, &["audit-log", FIRST_UUID, "--json"]);
    let entries = au["entries"].as_array().unwrap();
    assert_eq!(entries[0]["event"], "Performed Power Down", "{au}");
    assert_eq!(entries[0]["initiator"], "admin");
    assert!(
        entries.iter().any(|e| e["details"]
            .as_str()
            .is_some_and(|t| t.starts_with("Provisioning Completed"))),
        "{au}"
    );

    // Inventory over TLS.
    let out = amtd(d, &["inventory", FIRST_UUID, "--refresh"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("vPro Notebook 12"), "{}", text(&out));

    // The TLS check names the device: adopting it under another FQDN is refused by the
    // handshake, and nothing is stored.
    let password = String::from_utf8(amtd(d, &["device", FIRST_UUID, "reveal-password"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let out = amtd_env(
        d,
        &[
            "adopt",
            FIRST_UUID,
            "--address",
            &ip,
            "--fqdn",
            "someone-else.amt.test",
            "--admin-password-env",
            "AMTD_TEST_ADMIN",
        ],
        &[("AMTD_TEST_ADMIN", &password)],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("invalid peer certificate"),
        "{}",
        text(&out)
    );
    let v = ok_json(d, &["power", "status", FIRST_UUID, "--json"]);
    assert_eq!(v["results"][0]["fqdn"], "amtdev00001.amt.test");
    assert_eq!(v["results"][0]["result"]["power_state"], "off");
    drop(serve);
}
