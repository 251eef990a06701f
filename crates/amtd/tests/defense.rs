//! System Defense end to end (M3): `amtd serve` provisions two emulated devices (`amtd sim`,
//! real sockets, TLS), then `amtd defense` stores a policy, applies it to both, compares,
//! notices a device tampered with, repairs it and removes the policy again. Every step is
//! checked on the device itself: its filters as `amtd wsman enumerate` reads them over TLS, and
//! the emulated firmware's packet drop decision evaluated on the state the device persisted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use amt_emulator::firmware::manage::PacketHeaders;
use amt_emulator::firmware::Firmware;
use amt_emulator::net::store::StateStore;
use amt_wsman::classes::amt::{AmtIpHeadersFilter, AmtSystemDefensePolicy};
use amt_wsman::SelectorSet;
use amtd_infra::client::WsmanClient;
use amtd_infra::transport::{
    CertificateDer, DeviceEndpoint, ServerVerification, TlsOptions, TransportConfig,
    WsmanConnection,
};
use support::*;

const SECOND_UUID: &str = "8086e000-0000-4000-8000-000000000002";

const POLICY: &str = r#"
precedence = 10
rx_default = { action = "pass" }

[[filters]]
name = "no-ssh"
direction = "receive"
action = "drop"
match.ip = { src = "192.168.0.0/16", protocol = "tcp", dst_ports = 22 }

[[filters]]
name = "arp-limit"
direction = "transmit"
action = "rate-limit"
rate = 100
match.ethernet = { ether_type = 0x0806 }
"#;

/// Starts two emulated devices (`.101` and `.102` of the server's /24) that trust the CA and
/// send their hellos to the server.
fn start_two(serve: &Serve) -> (Running, [String; 2]) {
    let prefix = serve.server_ip.rsplit_once('.').unwrap().0.to_owned();
    std::fs::write(
        serve.dir.join("fleet.toml"),
        format!(
            "[defaults]\nextra_root_hashes = [\"{}\"]\n",
            serve.root_hash
        ),
    )
    .unwrap();
    let first = format!("{prefix}.101");
    let port = serve.hello_port.to_string();
    let sim = spawn_env(
        &serve.dir,
        &[
            "sim",
            "--count",
            "2",
            "--first-ip",
            &first,
            "--fleet",
            "fleet.toml",
            "--provisioning-server",
            &serve.server_ip,
            "--hello-port",
            &port,
            "--state-dir",
            "sim-state",
        ],
        &[],
        "sim.log",
    );
    (sim, [first, format!("{prefix}.102")])
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the device's firmware, loaded from the state it persisted, drops this packet.
fn drops(dir: &Path, uuid: &str, packet: &PacketHeaders) -> bool {
    let state = StateStore::open(dir.join("sim-state"))
        .unwrap()
        .load(uuid)
        .unwrap()
        .unwrap();
    let persona = amt_emulator::persona::by_name(&state.config.persona).unwrap();
    Firmware::new(state, persona).system_defense_drops(packet)
}

fn ssh_from_office() -> PacketHeaders {
    let src: IpAddr = "192.168.7.7".parse().unwrap();
    PacketHeaders::ip(
        false,
        src,
        "10.0.0.5".parse().unwrap(),
        6,
        Some((40000, 22)),
    )
}

fn ssh_from_elsewhere() -> PacketHeaders {
    let src: IpAddr = "172.16.0.9".parse().unwrap();
    PacketHeaders::ip(
        false,
        src,
        "10.0.0.5".parse().unwrap(),
        6,
        Some((40000, 22)),
    )
}

fn admin_password(dir: &Path, uuid: &str) -> String {
    ok(&amtd(dir, &["device", uuid, "reveal-password"]))
        .trim()
        .to_owned()
}

/// `amtd wsman enumerate CLASS` against the device over TLS.
fn wsman_enumerate(dir: &Path, ip: &str, password: &str, class: &str) -> String {
    ok(&amtd_env(
        dir,
        &[
            "wsman",
            "enumerate",
            "--host",
            ip,
            "--user",
            "admin",
            "--password-env",
            "DEVICE_PW",
            "--tls",
            "--insecure",
            class,
        ],
        &[("DEVICE_PW", password)],
    ))
}

/// A WS-Man client to the device over TLS verified against the CA root and its FQDN.
fn device_client(dir: &Path, ip: &str, fqdn: &str, password: &str) -> WsmanClient {
    use base64::Engine as _;
    let pem = std::fs::read_to_string(dir.join("trust.pem")).unwrap();
    let root_b64: String = pem
        .rsplit("-----BEGIN CERTIFICATE-----")
        .next()
        .unwrap()
        .split("-----END CERTIFICATE-----")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let root = base64::engine::general_purpose::STANDARD
        .decode(root_b64)
        .unwrap();
    let tls = TlsOptions::new(ServerVerification::RootCerts(vec![CertificateDer::from(
        root,
    )]))
    .with_server_name(fqdn);
    let conn = WsmanConnection::new(
        DeviceEndpoint::https(ip, tls),
        "admin",
        password.into(),
        TransportConfig {
            request_timeout: Duration::from_secs(20),
            ..TransportConfig::default()
        },
    )
    .unwrap();
    WsmanClient::new(conn)
}

#[test]
fn a_policy_is_applied_to_two_devices_compared_repaired_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let serve = Serve::start(
        path,
        &format!("\"{SECOND_UUID}\" = \"amtdev00002.amt.test\"\n"),
        &[],
    );
    let (sim, ips) = start_two(&serve);
    for uuid in [FIRST_UUID, SECOND_UUID] {
        let v = serve.wait_device_done(uuid);
        assert_eq!(v["state"], "provisioned", "{v}\n{}", serve.log());
    }

    // An invalid policy is refused with every problem, by the CLI and by the API.
    std::fs::write(
        path.join("bad.toml"),
        "[[filters]]\nname = \"x\"\ndirection = \"receive\"\naction = \"rate-limit\"\n\
         match.ip = { protocol = \"icmp\", dst_ports = 22 }\n",
    )
    .unwrap();
    let out = amtd(path, &["defense", "set", "bad", "--file", "bad.toml"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("action rate-limit needs a rate"), "{t}");
    assert!(t.contains("dst_ports need protocol tcp or udp"), "{t}");
    let (status, v) = serve.call(
        "PUT",
        "/api/v1/defense-policies/bad",
        r#"{"filters":[{"name":"x","direction":"receive","action":"drop","rate":5,
            "match":{"ip":{"src":"10.1.2.3/8"}}}]}"#,
    );
    assert_eq!(status, 400, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("rate only goes with action rate-limit"), "{e}");
    assert!(
        e.contains("src 10.1.2.3/8 has host bits set; the network is 10.0.0.0/8"),
        "{e}"
    );
    let (status, _) = serve.call("GET", "/api/v1/defense-policies/bad", "");
    assert_eq!(status, 404, "an invalid policy is not stored");

    // Store the policy.
    std::fs::write(path.join("lockdown.toml"), POLICY).unwrap();
    let out = ok(&amtd(
        path,
        &["defense", "set", "lockdown", "--file", "lockdown.toml"],
    ));
    assert!(
        out.contains("policy lockdown stored (revision 1, 2 filter(s))"),
        "{out}"
    );
    let out = ok(&amtd(path, &["defense", "policies"]));
    assert!(
        out.contains("lockdown") && out.contains("1 policy(ies)"),
        "{out}"
    );

    // Apply to both: a per-device table, progress on stderr.
    let out = amtd(
        path,
        &["defense", "apply", "lockdown", FIRST_UUID, SECOND_UUID],
    );
    let table = ok(&out);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("apply lockdown: 2 device(s)"),
        "{progress}"
    );
    assert!(progress.contains("[2/2]"), "{progress}");
    for uuid in [FIRST_UUID, SECOND_UUID] {
        let row = table.lines().find(|l| l.starts_with(uuid)).unwrap();
        assert!(
            row.contains(" ok ") && row.contains("policy created, 2 filter(s) created"),
            "{table}"
        );
    }
    assert!(table.contains("2 device(s): 2 ok, 0 failed"), "{table}");

    // The effect on each device: the filters are there and the firmware drops SSH.
    let passwords: Vec<String> = [FIRST_UUID, SECOND_UUID]
        .iter()
        .map(|u| admin_password(path, u))
        .collect();
    for (i, uuid) in [FIRST_UUID, SECOND_UUID].iter().enumerate() {
        let filters = wsman_enumerate(path, &ips[i], &passwords[i], "AMT_IPHeadersFilter");
        assert!(
            filters.contains("Name: no-ssh") && filters.contains("HdrDestPortStart: 22"),
            "{filters}"
        );
        let eth = wsman_enumerate(path, &ips[i], &passwords[i], "AMT_Hdr8021Filter");
        assert!(eth.contains("HdrProtocolID8021: 2054"), "{eth}");
        let bound = wsman_enumerate(
            path,
            &ips[i],
            &passwords[i],
            "AMT_NetworkPortSystemDefensePolicy",
        );
        assert!(bound.contains("Active: true"), "{bound}");
        assert!(
            drops(path, uuid, &ssh_from_office()),
            "device {uuid} drops SSH"
        );
        assert!(!drops(path, uuid, &ssh_from_elsewhere()));
    }

    // Compare: in sync. Re-apply: nothing sent.
    let show = ok(&amtd(path, &["defense", "show", FIRST_UUID]));
    assert!(
        show.contains("intent lockdown (revision 1): in sync"),
        "{show}"
    );
    assert!(
        show.contains("no-ssh") && show.contains("dst_ports 22"),
        "{show}"
    );
    let again = ok(&amtd(path, &["defense", "apply", "lockdown", FIRST_UUID]));
    assert!(
        again.contains("already as intended, nothing sent"),
        "{again}"
    );

    // Tamper with the first device: the SSH filter taken out of the policy and deleted.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = device_client(path, &ips[0], "amtdev00001.amt.test", &passwords[0]);
        let ip_filters: Vec<AmtIpHeadersFilter> = c.enumerate().await.unwrap();
        let ssh = ip_filters[0].instance_id.clone().unwrap();
        let mut p: AmtSystemDefensePolicy = c.enumerate().await.unwrap().remove(0);
        p.filter_creation_handles.retain(|h| h.to_string() != ssh);
        let id = p.instance_id.clone().unwrap();
        c.put(
            &p,
            SelectorSet::one("InstanceID", &id),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        c.delete::<AmtIpHeadersFilter>(SelectorSet::one("InstanceID", &ssh))
            .await
            .unwrap();
    });
    assert!(!drops(path, FIRST_UUID, &ssh_from_office()), "tampered");
    let show = ok(&amtd(path, &["defense", "show", FIRST_UUID]));
    assert!(
        show.contains("intent lockdown (revision 1): DIFFERS"),
        "{show}"
    );
    assert!(
        show.contains("! filter no-ssh is missing on the device"),
        "{show}"
    );
    let (status, v) = serve.call("GET", &format!("/api/v1/devices/{FIRST_UUID}/defense"), "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["applied"][0]["in_sync"], false);
    assert_eq!(v["applied"][0]["differences"][0]["kind"], "filter-missing");
    let show2 = ok(&amtd(path, &["defense", "show", SECOND_UUID]));
    assert!(
        show2.contains("in sync"),
        "the other device is untouched: {show2}"
    );

    // Re-apply repairs only what is missing.
    let fixed = ok(&amtd(path, &["defense", "apply", "lockdown", "--all"]));
    let row = fixed.lines().find(|l| l.starts_with(FIRST_UUID)).unwrap();
    assert!(
        row.contains("policy updated, 1 filter(s) created, 0 deleted"),
        "{fixed}"
    );
    let row = fixed.lines().find(|l| l.starts_with(SECOND_UUID)).unwrap();
    assert!(row.contains("already as intended"), "{fixed}");
    assert!(drops(path, FIRST_UUID, &ssh_from_office()));

    // A policy applied to devices cannot be deleted.
    let out = amtd(path, &["defense", "delete", "lockdown"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("applied to 2 device(s)"),
        "{}",
        text(&out)
    );

    // Remove from both: policy, filters and association gone, SSH passes again.
    let out = ok(&amtd(
        path,
        &["defense", "remove", "lockdown", FIRST_UUID, SECOND_UUID],
    ));
    assert!(
        out.contains("removed: 1 polic(ies), 2 filter(s), disabled on 1 port(s)"),
        "{out}"
    );
    for (i, uuid) in [FIRST_UUID, SECOND_UUID].iter().enumerate() {
        assert!(!drops(path, uuid, &ssh_from_office()));
        for class in [
            "AMT_SystemDefensePolicy",
            "AMT_IPHeadersFilter",
            "AMT_Hdr8021Filter",
            "AMT_NetworkPortSystemDefensePolicy",
        ] {
            let listed = wsman_enumerate(path, &ips[i], &passwords[i], class);
            assert!(
                !listed.contains("InstanceID") && !listed.contains("Antecedent"),
                "{class}: {listed}"
            );
        }
    }
    let show = ok(&amtd(path, &["defense", "show", FIRST_UUID]));
    assert!(
        show.contains("no System Defense policy on the device"),
        "{show}"
    );
    assert!(show.contains("no policy was applied"), "{show}");
    let out = ok(&amtd(path, &["defense", "delete", "lockdown"]));
    assert!(out.contains("policy lockdown deleted"), "{out}");

    // A device that does not answer: its row says why, the exit status is 1.
    ok(&amtd(
        path,
        &["defense", "set", "lockdown", "--file", "lockdown.toml"],
    ));
    drop(sim);
    let out = amtd(path, &["defense", "apply", "lockdown", FIRST_UUID]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table.lines().find(|l| l.starts_with(FIRST_UUID)).unwrap();
    assert!(row.contains("FAILED") && row.contains(&ips[0]), "{table}");
    assert!(table.contains("1 device(s): 0 ok, 1 failed"), "{table}");

    // Every write was audited.
    let out = amtd(path, &["audit", "list", "--json", "--config", "amtd.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let audit = String::from_utf8_lossy(&out.stdout).into_owned();
    let records: Vec<serde_json::Value> = serde_json::from_str(&audit).unwrap();
    let count = |action: &str, started: bool| {
        records
            .iter()
            .filter(|r| {
                r["action"] == action
                    && r["detail"]["policy"] == "lockdown"
                    && (r["result"] == "started") == started
            })
            .count()
    };
    assert!(count("defense-policy-put", true) > 0, "{audit}");
    // Each device: a record before anything is sent to it, and its result.
    assert_eq!(count("defense-apply", true), 6, "{audit}");
    assert_eq!(count("defense-apply", false), 6, "{audit}");
    assert_eq!(count("defense-remove", true), 2, "{audit}");
    assert_eq!(count("defense-remove", false), 2, "{audit}");
    assert!(count("defense-policy-delete", false) > 0, "{audit}");
}
