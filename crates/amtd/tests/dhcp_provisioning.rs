//! Issue 7 end to end: emulated devices on a real network. Each test makes its own pair of
//! network namespaces (tests/support/netns.rs): the server side runs real peers (Kea dhcp4 +
//! kea-dhcp-ddns sending TSIG-signed updates to BIND 9, or dnsmasq) and `amtd serve`; the
//! device side runs `amtd sim --dhcp-interface`, whose ME DHCP client (D2) leases an address,
//! resolves `ProvisionServer.<domain>` from the DNS server its lease names (D3), sends its hello
//! across the namespace boundary and is provisioned. A tcpdump capture decoded with scapy shows
//! the device's DHCP option lists byte for byte.
//!
//! Needs root and the peers ./scripts/install-peers installs; otherwise each test prints
//! `SKIPPED: …` and passes, unless AMTD_REQUIRE_PEERS=1 (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::netns::{
    cmd_in, peers_available, wait_until, Bind, BindOptions, CapturedDhcp, Dnsmasq, DnsmasqOptions,
    Kea, KeaOptions, NetnsPair, PeerProcess, Sniffer,
};
use support::{root_hash_hex, text, FIRST_UUID};

/// The parameter-request list of an AMT ME (SPEC D2), in order.
const ME_PARAMS: [u8; 8] = [6, 3, 1, 15, 66, 67, 13, 44];

const PFX_PASSWORD: &str = "Prov1sioning!";

/// Admin password of `--provisioned` emulated devices (AMT password rules).
const ADMIN_PASSWORD: &str = "Adm1n!Passw0rd";

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn amtd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_amtd")
}

/// `amtd args…` in `dir`, inside namespace `ns`.
fn amtd_in(ns: &str, dir: &Path, args: &[&str]) -> Output {
    cmd_in(ns, amtd_bin())
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .args(args)
        .output()
        .unwrap()
}

/// `amtd args…` in `dir` (host namespace, file work only).
fn amtd_here(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(amtd_bin())
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

/// The embedded CA, a provisioning certificate for `*.amt.test` and the trust file in `dir`;
/// returns the root's SHA-256 hash (hex) for the devices' trusted list.
fn make_ca(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("amtd-data")).unwrap();
    for args in [
        vec!["init", "--create-kek"],
        vec![
            "issue-provisioning",
            "--fqdn",
            "provisioning.amt.test",
            "--out",
            "prov.pfx",
        ],
        vec!["trust-pem", "--out", "trust.pem"],
    ] {
        let mut all = vec!["ca", "--store", "amtd-data/ca", "--kek", "amtd-data/ca.kek"];
        all.extend(args);
        let out = amtd_here(dir, &all, &[("AMTD_PFX_PASSWORD", PFX_PASSWORD)]);
        assert!(out.status.success(), "{}", text(&out));
    }
    root_hash_hex(&std::fs::read_to_string(dir.join("trust.pem")).unwrap())
}

/// Starts `amtd serve` in the server namespace with `config` and waits until its API answers.
fn start_serve(net: &NetnsPair, dir: &Path, config: &str, env: &[(&str, &str)]) -> PeerProcess {
    std::fs::write(dir.join("amtd.toml"), config).unwrap();
    let mut cmd = cmd_in(net.server_ns(), amtd_bin());
    cmd.current_dir(dir)
        .env("AMTD_TEST_PFX_PASSWORD", PFX_PASSWORD)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .args(["serve", "--config", "amtd.toml"]);
    let mut serve = PeerProcess::spawn("amtd serve", cmd, &dir.join("serve.log"));
    wait_until(
        "amtd serve's API",
        Duration::from_secs(60),
        || std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default(),
        || {
            serve.assert_running();
            amtd_in(net.server_ns(), dir, &["devices", "--json"])
                .status
                .success()
                .then_some(())
        },
    );
    serve
}

/// `amtd sim` in the device namespace, DHCP on the device's veth.
fn start_sim(net: &NetnsPair, dir: &Path, count: usize, extra: &[&str]) -> PeerProcess {
    let mut cmd = cmd_in(net.device_ns(), amtd_bin());
    cmd.current_dir(dir)
        .env("RUST_LOG", "info")
        .args([
            "sim",
            "--netns",
            net.device_ns(),
            "--dhcp-interface",
            net.device_if(),
            "--count",
            &count.to_string(),
            "--fleet",
            "fleet.toml",
            "--state-dir",
            "sim-state",
            "--time-scale",
            "60",
            "--status-interval",
            "0",
        ])
        .args(extra)
        .stdin(Stdio::null());
    PeerProcess::spawn("amtd sim", cmd, &dir.join("sim.log"))
}

/// The UUID `amtd sim` gives device `i` (0-based).
fn uuid(i: usize) -> String {
    let mut u = FIRST_UUID.to_owned();
    u.truncate(FIRST_UUID.len() - 12);
    format!("{u}{:012x}", i + 1)
}

/// `option 81` as the ME sends it: flags S|E, RCODEs 0, the name in DNS wire format.
fn fqdn_option(name: &str) -> Vec<u8> {
    let mut v = vec![0x05, 0, 0];
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

/// The device's certificate subject as `openssl s_client` sees it from the server side.
fn served_subject(ns: &str, ip: &str) -> String {
    let out = cmd_in(ns, "sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {ip}:16993 </dev/null 2>/dev/null | openssl x509 -noout -subject -nameopt RFC2253"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn client_packets<'a>(packets: &'a [CapturedDhcp], mac: &str) -> Vec<&'a CapturedDhcp> {
    packets
        .iter()
        .filter(|p| p.direction == "client" && p.chaddr == mac)
        .collect()
}

#[test]
fn devices_lease_from_kea_register_through_ddns_find_the_server_in_bind_and_are_provisioned() {
    if !peers_available(
        "devices_lease_from_kea_…_are_provisioned",
        &[
            "named",
            "tsig-keygen",
            "dig",
            "kea-dhcp4",
            "kea-dhcp-ddns",
            "tcpdump",
            "scapy",
            "openssl",
        ],
    ) {
        return;
    }
    let net = NetnsPair::new();
    let bind = Bind::start(&net, &BindOptions::default());
    let kea = Kea::start(
        &net,
        &KeaOptions {
            ddns: Some(bind.ddns_target()),
            routers: vec![net.server_ip()],
            ..KeaOptions::default()
        },
    );
    let mut sniffer = Sniffer::on_device(&net);
    let dir = tempfile::tempdir().unwrap();
    let root_hash = make_ca(dir.path());
    let server = net.server_ip();
    let _serve = start_serve(
        &net,
        dir.path(),
        &format!(
            "[server]\napi_bind = \"{server}:9972\"\nhello_bind = \"{server}\"\n\
             [server.api_tls]\nallow_plain_http = true\n\
             [[provisioning_certificate]]\nname = \"acm\"\npkcs12 = \"prov.pfx\"\n\
             pkcs12_password_env = \"AMTD_TEST_PFX_PASSWORD\"\n\
             [fqdn]\nstrategies = [\"dhcp-lease\", \"reverse-dns\", \"device-settings\"]\n\
             [dns]\nresolver = \"{server}:53\"\n\
             [dhcp]\nkea_control_socket = \"{}\"\nkea_lease_file = \"{}\"\n",
            kea.control_socket().display(),
            kea.lease_file().display()
        ),
        &[],
    );
    std::fs::write(
        dir.path().join("fleet.toml"),
        format!("[defaults]\nextra_root_hashes = [\"{root_hash}\"]\n"),
    )
    .unwrap();
    let mut sim = start_sim(&net, dir.path(), 2, &[]);
    let sim_log = || std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default();
    let all_logs = || {
        format!(
            "sim:\n{}\nserve:\n{}\nkea:\n{}\nd2:\n{}\nnamed:\n{}",
            sim_log(),
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default(),
            kea.log(),
            kea.d2_log(),
            bind.log()
        )
    };
    let mut devices = Vec::new();
    for i in 0..2 {
        let id = uuid(i);
        let dev = wait_until(
            &format!("device {id} provisioned"),
            Duration::from_secs(120),
            all_logs,
            || {
                sim.assert_running();
                let out = amtd_in(net.server_ns(), dir.path(), &["device", &id, "--json"]);
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                match v["state"].as_str() {
                    Some("provisioned") => Some(v),
                    Some("failed") => panic!("{id} failed: {v:#}\n{}", all_logs()),
                    _ => None,
                }
            },
        );
        devices.push(dev);
    }

    for (i, dev) in devices.iter().enumerate() {
        let host = format!("amtdev{:05}", i + 1);
        let fqdn = format!("{host}.amt.test");
        // The FQDN is the option-81 name Kea leased the address to (P2, dhcp-lease first).
        assert_eq!(dev["fqdn"], fqdn.as_str(), "{dev:#}");
        let ip = dev["address"].as_str().unwrap().to_owned();
        let addr: Ipv4Addr = ip.parse().unwrap();
        assert!((net.host(100)..=net.host(150)).contains(&addr), "{ip}");
        // Kea's D2 registered the name in BIND with TSIG: A and PTR agree.
        assert_eq!(bind.dig(&fqdn, "A").answers("A"), vec![ip.clone()]);
        assert_eq!(
            bind.dig(&ip, "PTR").answers("PTR"),
            vec![format!("{fqdn}.")]
        );
        // The certificate the device now serves carries the option-81 name (P4).
        let subject = served_subject(net.server_ns(), &ip);
        assert!(subject.contains(&format!("CN={fqdn}")), "{subject}");
        assert!(
            subject.contains(&format!("CN=Device (UUID: {})", uuid(i))),
            "{subject}"
        );
    }

    // The capture: the ME's option lists byte for byte (D2).
    let packets = sniffer.packets();
    for i in 0..2 {
        let mac = format!("02:80:86:00:00:{:02x}", i + 1);
        let host = format!("amtdev{:05}", i + 1);
        let sent = client_packets(&packets, &mac);
        let discover = sent
            .iter()
            .find(|p| p.message_type == Some(1))
            .unwrap_or_else(|| panic!("no DISCOVER from {mac}: {packets:#?}"));
        assert_eq!(discover.option(55).unwrap(), ME_PARAMS, "{discover:?}");
        assert_eq!(discover.option(12).unwrap(), host.as_bytes());
        assert_eq!(discover.option_codes(), vec![53, 12, 55], "{discover:?}");
        assert_eq!(discover.flags, 0x8000, "BROADCAST flag");
        let request = sent
            .iter()
            .find(|p| p.message_type == Some(3))
            .unwrap_or_else(|| panic!("no REQUEST from {mac}: {packets:#?}"));
        assert_eq!(request.option(55).unwrap(), ME_PARAMS, "{request:?}");
        assert_eq!(request.option(12).unwrap(), host.as_bytes());
        assert_eq!(
            request.option(81).unwrap(),
            fqdn_option(&format!("{host}.amt.test")),
            "{request:?}"
        );
        let acked = packets
            .iter()
            .any(|p| p.direction == "server" && p.chaddr == mac && p.message_type == Some(5));
        assert!(acked, "no ACK for {mac}");
    }
    // The hellos went to ProvisionServer.amt.test as BIND answers it.
    let log = sim_log();
    assert!(log.contains("hello sent"), "{log}");
}

#[test]
fn the_me_renews_its_lease_and_shares_it_with_the_host_os() {
    if !peers_available(
        "the_me_renews_its_lease_and_shares_it_with_the_host_os",
        &["kea-dhcp4", "tcpdump", "scapy", "amtctrl"],
    ) {
        return;
    }
    let net = NetnsPair::new();
    let kea = Kea::start(
        &net,
        &KeaOptions {
            valid_lifetime: 8,
            renew_timer: Some(2),
            rebind_timer: Some(6),
            routers: vec![net.server_ip()],
            ..KeaOptions::default()
        },
    );
    let mut sniffer = Sniffer::on_device(&net);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), "").unwrap();
    let log_of = |d: &Path| std::fs::read_to_string(d.join("sim.log")).unwrap_or_default();
    // One emulator process per interface at a time: two processes' client sockets share UDP
    // port 68 and the kernel hands a unicast reply (a renewal's ACK) to only one of them.
    // So: first a device with no OS (the ME holds the lease), then one whose host OS is up.
    let dir2 = tempfile::tempdir().unwrap();
    std::fs::write(
        dir2.path().join("fleet.toml"),
        "[[device]]\nmac = \"02:80:86:00:00:77\"\nuuid = \"8086e000-0000-4000-8000-000000000077\"\nhostname = \"amtdev77\"\n",
    )
    .unwrap();
    let mut on_interface = Vec::new();
    let mut phase_marks: Vec<f64> = Vec::new();
    for (d, extra) in [
        (
            dir.path(),
            &["--no-hello", "--dhcp-min-retransmit", "1"][..],
        ),
        (
            dir2.path(),
            &[
                "--no-hello",
                "--dhcp-min-retransmit",
                "1",
                "--host-os",
                "--provisioned",
                "--admin-password",
                ADMIN_PASSWORD,
            ][..],
        ),
    ] {
        let mut sim = start_sim(&net, d, 1, extra);
        wait_until(
            "the lease",
            Duration::from_secs(40),
            || format!("kea:\n{}\nsim:\n{}", kea.log(), log_of(d)),
            || {
                sim.assert_running();
                log_of(d).contains("DHCP lease").then_some(())
            },
        );
        // A few renewal periods (T1 = 2 s, lease 8 s) under capture.
        std::thread::sleep(Duration::from_secs(9));
        sim.assert_running();
        assert!(!log_of(d).contains("lease lost"), "{}", log_of(d));
        // The device really uses the leased address: it is on the device's interface.
        let out = cmd_in(net.device_ns(), "ip")
            .args(["-4", "-o", "addr", "show", "dev", net.device_if()])
            .output()
            .unwrap();
        on_interface.push(String::from_utf8_lossy(&out.stdout).to_string());
        if d == dir2.path() {
            // A real console (amtctrl) powers the host off and on again: the OS stops (the ME
            // takes the lease over and renews it itself), then boots (it takes it back).
            let log = log_of(d);
            let ip = log
                .split("devices listen on ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_else(|| panic!("no address in the log:\n{log}"))
                .to_owned();
            let home = tempfile::tempdir().unwrap();
            let amtctrl = support::netns::workspace().join("tests/python/.venv/bin/amtctrl");
            let ctl = |args: &[&str]| {
                let out = cmd_in(net.device_ns(), amtctrl.to_str().unwrap())
                    .env("HOME", home.path())
                    .args(args)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "amtctrl {args:?}: {}", text(&out));
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            };
            ctl(&["add", "dev", &ip, ADMIN_PASSWORD]);
            phase_marks.push(now_secs());
            ctl(&["dev", "off"]);
            std::thread::sleep(Duration::from_secs(5));
            phase_marks.push(now_secs());
            ctl(&["dev", "on"]);
            std::thread::sleep(Duration::from_secs(5));
            sim.assert_running();
            assert!(log_of(d).contains("host OS stopped"), "{}", log_of(d));
        }
        sim.stop();
    }
    let packets = sniffer.packets();
    // The ME's own exchanges use the ME list; the host OS's use the OS's list (a model of a
    // host OS), with the same MAC: one lease per ME/OS pair.
    let me = client_packets(&packets, "02:80:86:00:00:01");
    assert!(
        me.iter().all(|p| p.option(55).unwrap() == ME_PARAMS),
        "{me:#?}"
    );
    let os = client_packets(&packets, "02:80:86:00:00:77");
    for (mac, sent) in [("02:80:86:00:00:01", &me), ("02:80:86:00:00:77", &os)] {
        let renewals = sent
            .iter()
            .filter(|p| p.message_type == Some(3) && p.ciaddr != "0.0.0.0")
            .count();
        assert!(renewals >= 2, "{mac}: {renewals} renewals in {sent:#?}");
    }
    // Host on: the OS's list and name; host off: the ME's list and name; on again: the OS's.
    let os_list = vec![1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252];
    let (off_at, on_at) = (phase_marks[0], phase_marks[1]);
    let mut seen = [0usize; 3];
    for p in &os {
        let (list, name, phase) = if p.time < off_at {
            (os_list.clone(), &b"amtdev77-os"[..], 0)
        } else if p.time > on_at + 0.5 {
            (os_list.clone(), &b"amtdev77-os"[..], 2)
        } else if p.time > off_at + 0.5 && p.time < on_at {
            (ME_PARAMS.to_vec(), &b"amtdev77"[..], 1)
        } else {
            continue; // in flight while the power changed
        };
        assert_eq!(p.option(55).unwrap(), list, "phase {phase}: {p:?}");
        assert_eq!(p.option(12).unwrap(), name, "phase {phase}: {p:?}");
        seen[phase] += 1;
    }
    assert!(
        seen.iter().all(|n| *n >= 1),
        "renewals per phase {seen:?}: {os:#?}"
    );
    // Renewals are unicast to the server and keep the address; Kea holds one lease per MAC.
    for mac in ["02:80:86:00:00:01", "02:80:86:00:00:77"] {
        let sent = client_packets(&packets, mac);
        let addrs: std::collections::BTreeSet<_> = sent
            .iter()
            .filter(|p| p.ciaddr != "0.0.0.0")
            .map(|p| p.ciaddr.clone())
            .collect();
        assert_eq!(addrs.len(), 1, "{mac} changed address: {addrs:?}");
        let renew = sent
            .iter()
            .find(|p| p.message_type == Some(3) && p.ciaddr != "0.0.0.0")
            .unwrap();
        assert_eq!(renew.dst, format!("{}:67", net.server_ip()), "{renew:?}");
        assert!(renew.option(50).is_none() && renew.option(54).is_none());
        let rows = kea.lease_rows();
        let col = rows[0].iter().position(|h| h == "hwaddr").unwrap();
        let addr_col = rows[0].iter().position(|h| h == "address").unwrap();
        let leased: std::collections::BTreeSet<_> = rows[1..]
            .iter()
            .filter(|r| r[col] == mac)
            .map(|r| r[addr_col].clone())
            .collect();
        assert_eq!(leased, addrs, "{rows:?}");
    }
    for (p, shown) in [&me, &os].iter().zip(&on_interface) {
        let addr = &p.iter().find(|p| p.ciaddr != "0.0.0.0").unwrap().ciaddr;
        assert!(shown.contains(&format!("{addr}/24")), "{shown}");
    }
}

#[test]
fn devices_lease_from_dnsmasq_and_garbage_on_the_client_port_changes_nothing() {
    if !peers_available(
        "devices_lease_from_dnsmasq_…",
        &["dnsmasq", "tcpdump", "scapy"],
    ) {
        return;
    }
    let net = NetnsPair::new();
    // Garbage datagrams to the client port from the server side while the devices lease:
    // short, non-DHCP, a BOOTREPLY with a wrong magic cookie, an OFFER for another MAC.
    let garbage = cmd_in(net.server_ns(), "python3")
        .arg("-c")
        .arg(format!(
            r#"
import socket, time, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"{iface}")
bad = [b"", b"x", os.urandom(300), bytes([2,1,6,0]) + os.urandom(232) + b"\x00\x00\x00\x00",
       bytes([2,1,6,0]) + b"\x00"*24 + bytes([2,0x80,0x86,0,0,1]) + b"\x00"*202 + b"\x63\x82\x53\x63" + b"\x35\x01\x02\xff"]
end = time.time() + 8
while time.time() < end:
    for b in bad:
        try: s.sendto(b, ("255.255.255.255", 68))
        except OSError: pass
    time.sleep(0.05)
"#,
            iface = net.server_if()
        ))
        .spawn()
        .unwrap();
    let dnsmasq = Dnsmasq::start(
        &net,
        &DnsmasqOptions {
            dns_port: 0,
            ..DnsmasqOptions::default()
        },
    );
    let mut sniffer = Sniffer::on_device(&net);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), "").unwrap();
    let mut sim = start_sim(&net, dir.path(), 3, &["--no-hello"]);
    let sim_log = || std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default();
    wait_until(
        "three leases",
        Duration::from_secs(40),
        || format!("sim:\n{}\ndnsmasq:\n{}", sim_log(), dnsmasq.log()),
        || {
            sim.assert_running();
            (sim_log().matches("DHCP lease").count() >= 3).then_some(())
        },
    );
    let mut garbage = garbage;
    let _ = garbage.kill();
    let _ = garbage.wait();
    let log = dnsmasq.log();
    assert_eq!(log.matches("DHCPACK").count(), 3, "{log}");
    assert!(
        log.contains("requested options: 6:dns-server, 3:router, 1:netmask, 15:domain-name,"),
        "{log}"
    );
    let packets = sniffer.packets();
    for i in 1..=3 {
        let mac = format!("02:80:86:00:00:{i:02x}");
        let sent = client_packets(&packets, &mac);
        let request = sent.iter().find(|p| p.message_type == Some(3)).unwrap();
        assert_eq!(request.option(55).unwrap(), ME_PARAMS);
        assert_eq!(
            request.option(81).unwrap(),
            fqdn_option(&format!("amtdev{i:05}.amt.test"))
        );
        // dnsmasq wrote the lease with the host name.
        let leases = std::fs::read_to_string(dnsmasq.lease_file()).unwrap();
        assert!(
            leases.contains(&mac) && leases.contains(&format!("amtdev{i:05}")),
            "{leases}"
        );
    }
    assert!(!sim_log().contains("panicked"), "{}", sim_log());
}

#[test]
fn the_lease_name_wins_over_a_stale_ptr_the_conflict_is_recorded_and_amtd_registers_dns() {
    if !peers_available(
        "the_lease_name_wins_over_a_stale_ptr_…",
        &["named", "tsig-keygen", "dig", "kea-dhcp4", "curl"],
    ) {
        return;
    }
    let net = NetnsPair::new();
    let device_ip = net.host(100);
    let [a, b, c, d] = device_ip.octets();
    // A stale, forward-confirmed PTR for the one address Kea will lease: reverse DNS says
    // "stale.amt.test" while the lease carries the device's option-81 name.
    let bind = Bind::start(
        &net,
        &BindOptions {
            records: vec![
                format!("{d}.{c}.{b}.{a}.in-addr.arpa. PTR stale.amt.test."),
                format!("stale.amt.test. A {device_ip}"),
            ],
            ..BindOptions::default()
        },
    );
    // Kea without DDNS: amtd registers the records itself (RFC 2136 + TSIG, [dns.update]).
    // amtd reads the lease from Kea's memfile CSV here (the control socket in the first test).
    let kea = Kea::start(
        &net,
        &KeaOptions {
            pool: Some((device_ip, device_ip)),
            routers: vec![net.server_ip()],
            ddns: None,
            ddns_qualifying_suffix: Some("amt.test.".into()),
            ..KeaOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let root_hash = make_ca(dir.path());
    let server = net.server_ip();
    std::fs::write(
        dir.path().join("fleet.toml"),
        format!("[defaults]\nextra_root_hashes = [\"{root_hash}\"]\n"),
    )
    .unwrap();
    let config = format!(
        "[server]\napi_bind = \"{server}:9972\"\nhello_bind = \"{server}\"\n\
         [server.api_tls]\nallow_plain_http = true\n\
         [[provisioning_certificate]]\nname = \"acm\"\npkcs12 = \"prov.pfx\"\n\
         pkcs12_password_env = \"AMTD_TEST_PFX_PASSWORD\"\n\
         [fqdn]\nstrategies = [\"dhcp-lease\", \"reverse-dns\"]\n\
         [dns]\nresolver = \"{server}:53\"\n\
         [dns.tsig]\nkey_name = \"{}\"\nalgorithm = \"{}\"\nsecret_env = \"AMTD_TEST_TSIG\"\n\
         [dns.update]\nenabled = true\n\
         [dhcp]\nkea_lease_file = \"{}\"\n",
        bind.key_name(),
        bind.algorithm(),
        kea.lease_file().display(),
    );
    let _serve = start_serve(
        &net,
        dir.path(),
        &config,
        &[("AMTD_TEST_TSIG", bind.secret())],
    );
    let serve_log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    let mut sim = start_sim(&net, dir.path(), 1, &[]);
    let logs = || {
        format!(
            "serve:\n{}\nsim:\n{}\nkea:\n{}\nnamed:\n{}",
            serve_log(),
            std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default(),
            kea.log(),
            bind.log()
        )
    };
    let id = uuid(0);
    let dev = wait_until(
        "the device provisioned",
        Duration::from_secs(120),
        logs,
        || {
            sim.assert_running();
            let out = amtd_in(net.server_ns(), dir.path(), &["device", &id, "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            match v["state"].as_str() {
                Some("provisioned") => Some(v),
                Some("failed") => panic!("failed: {v:#}\n{}", logs()),
                _ => None,
            }
        },
    );
    // The certificate's name is the lease's (option 81), not the stale PTR's.
    assert_eq!(dev["fqdn"], "amtdev00001.amt.test", "{dev:#}");
    assert_eq!(dev["address"], device_ip.to_string());
    let subject = served_subject(net.server_ns(), &device_ip.to_string());
    assert!(subject.contains("CN=amtdev00001.amt.test"), "{subject}");
    // The disagreement is recorded on the hello, in words, naming both sources and names.
    let token = std::fs::read_to_string(dir.path().join("amtd-data/api-token")).unwrap();
    let out = cmd_in(net.server_ns(), "curl")
        .args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
            &format!("http://{server}:9972/api/v1/hellos?device={id}"),
        ])
        .output()
        .unwrap();
    let hellos = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        hellos.contains(
            "FQDN conflict: DHCP lease says amtdev00001.amt.test but reverse DNS says stale.amt.test"
        ),
        "{hellos}\n{}",
        logs()
    );
    // amtd registered A and PTR with a TSIG-signed RFC 2136 update once it was provisioned.
    let a = bind.wait_record("amtdev00001.amt.test", "A", Duration::from_secs(20));
    assert_eq!(a, vec![device_ip.to_string()], "{}", logs());
    let ptr = bind.wait_record(&device_ip.to_string(), "PTR", Duration::from_secs(20));
    // Kea sends no updates here, so only amtd can have written them.
    assert_eq!(ptr, vec!["amtdev00001.amt.test.".to_owned()], "{}", logs());
}

#[test]
fn a_device_without_a_dhcp_server_keeps_its_retry_schedule_and_starts_when_one_appears() {
    if !peers_available(
        "a_device_without_a_dhcp_server_keeps_its_retry_schedule…",
        &["dnsmasq", "tcpdump", "scapy"],
    ) {
        return;
    }
    let net = NetnsPair::new();
    let mut sniffer = Sniffer::on_device(&net);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), "").unwrap();
    let mut sim = start_sim(&net, dir.path(), 1, &["--no-hello", "--dhcp-timeout", "1"]);
    let sim_log = || std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default();
    wait_until(
        "the emulator to say it keeps trying",
        Duration::from_secs(20),
        sim_log,
        || {
            sim.assert_running();
            sim_log().contains("no DHCP lease yet").then_some(())
        },
    );
    // No server for a while: DISCOVERs go out on the RFC 2131 back-off (4 s, then 8 s, ± 1 s).
    std::thread::sleep(Duration::from_secs(6));
    let dnsmasq = Dnsmasq::start(
        &net,
        &DnsmasqOptions {
            dns_port: 0,
            ..DnsmasqOptions::default()
        },
    );
    wait_until(
        "the device to start after its lease",
        Duration::from_secs(30),
        || format!("sim:\n{}\ndnsmasq:\n{}", sim_log(), dnsmasq.log()),
        || {
            sim.assert_running();
            sim_log()
                .contains("device started after its DHCP lease")
                .then_some(())
        },
    );
    let packets = sniffer.packets();
    let discovers: Vec<f64> = client_packets(&packets, "02:80:86:00:00:01")
        .iter()
        .filter(|p| p.message_type == Some(1))
        .map(|p| p.time)
        .collect();
    assert!(discovers.len() >= 3, "{packets:#?}");
    let gaps: Vec<f64> = discovers.windows(2).map(|w| w[1] - w[0]).collect();
    assert!((3.0..=5.1).contains(&gaps[0]), "{gaps:?}");
    assert!((7.0..=9.1).contains(&gaps[1]), "{gaps:?}");
    // The device now serves on its leased address.
    let leased = packets
        .iter()
        .find(|p| p.direction == "server" && p.message_type == Some(5))
        .map(|p| p.yiaddr.clone())
        .unwrap();
    let out = cmd_in(net.device_ns(), "ip")
        .args(["-4", "-o", "addr", "show", "dev", net.device_if()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{leased}/24")));
    let probe = cmd_in(net.device_ns(), "bash")
        .arg("-c")
        .arg(format!("exec 3<>/dev/tcp/{leased}/16992 && echo open"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&probe.stdout).contains("open"),
        "16992 on {leased} is not listening\n{}",
        sim_log()
    );
}
