//! `amtd serve` with `[fqdn] strategies = ["reverse-dns"]` and `[dns] resolver` pointing at a
//! DNS server this test runs (amtd-infra's lab zone server on loopback): an emulated device
//! (`amtd sim --resolver`) finds the server through `ProvisionServer.amt.test`, and the server
//! names it by the PTR record of its address, confirmed by the forward lookup — a name that is
//! not the device's own host name, so only reverse DNS can have given it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::net::IpAddr;
use std::time::Duration;

use amtd_infra::dns::{DnsServer, Zone};
use support::{amtd_env, random_octets, root_hash_hex, spawn_env, text, wait_for};

#[test]
fn serve_names_a_device_by_reverse_dns_through_the_configured_resolver() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let (a, b, port) = random_octets();
    let server_ip = format!("127.{a}.{b}.200");
    let device_ip = format!("127.{a}.{b}.101");
    let uuid = "8086e000-0000-4000-8000-000000000001";
    let env = [("AMTD_TEST_PFX_PASSWORD", "pfx-test-password")];

    // The DNS server: ProvisionServer → the hello listener; the device's address ↔ a name
    // that differs from its host name (amtdev00001).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dns = rt.block_on(async {
        let mut z = Zone::new("amt.test").unwrap();
        z.add_reverse_zone("127.in-addr.arpa").unwrap();
        z.add_address("ProvisionServer.amt.test", server_ip.parse().unwrap())
            .unwrap();
        let ip: IpAddr = device_ip.parse().unwrap();
        z.add_host("named-by-ptr.amt.test", ip).unwrap();
        DnsServer::start(format!("127.{a}.{b}.53:0").parse().unwrap(), z)
            .await
            .unwrap()
    });
    let resolver = dns.local_addr().to_string();

    let ca = |args: &[&str]| {
        let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
        all.extend_from_slice(args);
        let out = amtd_env(path, &all, &[("AMTD_PFX_PASSWORD", "pfx-test-password")]);
        assert!(out.status.success(), "{}", text(&out));
    };
    std::fs::create_dir(path.join("amtd-data")).unwrap();
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
             [fqdn]\nstrategies = [\"reverse-dns\"]\n\
             [dns]\nresolver = \"{resolver}\"\n"
        ),
    )
    .unwrap();
    let _serve = spawn_env(path, &["serve", "--config", "amtd.toml"], &env, "serve.log");
    wait_for("amtd serve's API", Duration::from_secs(60), || {
        amtd_env(path, &["devices", "--json"], &[])
            .status
            .success()
            .then(String::new)
    });

    // The device has no server address: it asks the DNS server for ProvisionServer.
    std::fs::write(
        path.join("fleet.toml"),
        format!("[defaults]\nextra_root_hashes = [\"{root}\"]\n"),
    )
    .unwrap();
    let port_text = port.to_string();
    let _sim = spawn_env(
        path,
        &[
            "sim",
            "--count",
            "1",
            "--first-ip",
            &device_ip,
            "--fleet",
            "fleet.toml",
            "--resolver",
            &resolver,
            "--hello-port",
            &port_text,
            "--state-dir",
            "sim-state",
        ],
        &[],
        "sim.log",
    );
    let shown = wait_for("the device provisioned", Duration::from_secs(120), || {
        let out = amtd_env(path, &["device", uuid, "--json"], &[]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["state"] == "provisioned").then(|| v.to_string())
    });
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["fqdn"], "named-by-ptr.amt.test", "{v}");
    assert_eq!(v["address"], device_ip.as_str(), "{v}");
    let st = dns.stats();
    assert!(st.provision_server >= 1 && st.ptr >= 1, "{st:?}");
    let serve_log = std::fs::read_to_string(path.join("serve.log")).unwrap();
    assert!(
        !serve_log.contains("[dns] resolver is not set"),
        "{serve_log}"
    );
    rt.block_on(dns.shutdown());
}
