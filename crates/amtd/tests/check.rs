//! `amtd check` (SPEC C1) as a real process against deliberately misconfigured setups: each
//! test breaks one thing and asserts that the report names it (check id, status, and the
//! specific domain, record, hash or clock in the detail or fix), and that the exit code says
//! whether provisioning is blocked.
//!
//! The first group needs nothing but loopback: provisioning certificates made here (amt-pki,
//! issued "in the past" for expired ones), a DNS zone served on 127.x.y.z by amtd-infra's DNS
//! server, and an SNTP server answering from this process. The second group runs `amtd check`
//! inside the device namespace of a [`NetnsPair`] against real Kea (+ D2), BIND 9 and dnsmasq;
//! without root or the peers it prints `SKIPPED: …` (a failure under AMTD_REQUIRE_PEERS=1).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amt_pki::{CaSettings, EmbeddedCa, HashAlgorithm, LeafRequest, SetupMarker};
use serde_json::Value;
use support::{amtd, random_octets, text};

const DAY: u64 = 86_400;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A provisioning certificate written as PEM files.
struct ProvCert {
    chain: PathBuf,
    key: PathBuf,
    /// SHA-256 of its root, hex.
    root_hash: String,
}

/// Issues a provisioning certificate for `fqdn` from a fresh CA as if it were `issued_ago`
/// seconds ago (leaves live 365 days), and writes `<name>-chain.pem` (leaf, issuing CA, and
/// the root unless `without_root`) and `<name>-key.pem` into `dir`.
fn prov_cert(dir: &Path, name: &str, fqdn: &str, issued_ago: u64, without_root: bool) -> ProvCert {
    let mut rng = rand::rng();
    let at = SystemTime::now() - Duration::from_secs(issued_ago);
    let settings = CaSettings {
        organization: "check test".into(),
        root_common_name: format!("{name} Root CA"),
        issuing_common_name: format!("{name} Issuing CA"),
        ..CaSettings::default()
    };
    let (ca, _) = EmbeddedCa::create(settings, &mut rng, at).unwrap();
    let (issued, key) = ca
        .issue_with_new_key(
            &LeafRequest::Provisioning {
                fqdn,
                marker: SetupMarker::Oid,
            },
            &mut rng,
            at,
        )
        .unwrap();
    let mut pem = issued.cert.to_pem();
    pem.push_str(&ca.issuing().cert().to_pem());
    if !without_root {
        pem.push_str(&ca.root().cert().to_pem());
    }
    let chain = dir.join(format!("{name}-chain.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    std::fs::write(&chain, pem).unwrap();
    std::fs::write(&key_path, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    ProvCert {
        chain,
        key: key_path,
        root_hash: ca
            .root()
            .cert()
            .hashes()
            .get(HashAlgorithm::Sha256)
            .to_hex(),
    }
}

/// `[[provisioning_certificate]]` for `cert` called `name`, with its root trusted by the
/// devices when `trusted`.
fn cert_config(name: &str, cert: &ProvCert, trusted: bool) -> String {
    let roots = if trusted {
        format!("[check]\ndevice_root_hashes = [\"{}\"]\n", cert.root_hash)
    } else {
        String::new()
    };
    format!(
        "[[provisioning_certificate]]\nname = \"{name}\"\nchain = \"{}\"\nkey = \"{}\"\n{roots}",
        cert.chain.display(),
        cert.key.display()
    )
}

/// Writes `amtd.toml` into `dir`: `[server] hello_bind = server`, `[dns] resolver` when
/// given, then `extra` (which may open `[check]`; `check_keys` go into `[check]`).
fn write_config(dir: &Path, server: IpAddr, resolver: Option<SocketAddr>, extra: &str) -> PathBuf {
    let mut text = format!("[server]\nhello_bind = \"{server}\"\n");
    if let Some(r) = resolver {
        text.push_str(&format!("[dns]\nresolver = \"{r}\"\n"));
    }
    text.push_str(extra);
    let path = dir.join("amtd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `amtd check --config <dir>/amtd.toml --json <args…>`: (exit code, report).
fn check_json(dir: &Path, args: &[&str]) -> (i32, Value, Output) {
    let mut all = vec!["check", "--config", "amtd.toml", "--json"];
    all.extend_from_slice(args);
    let out = amtd(dir, &all);
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("amtd check --json printed no JSON ({e}):\n{}", text(&out)));
    (code, v, out)
}

/// The check with this id.
fn find<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// Asserts the check's status and that detail+fix mention every word in `mentions`.
fn assert_check(report: &Value, id: &str, status: &str, mentions: &[&str]) {
    let c = find(report, id);
    assert_eq!(c["status"], status, "{id}: {c:#}");
    let words = format!(
        "{} {}",
        c["detail"].as_str().unwrap_or_default(),
        c["fix"].as_str().unwrap_or_default()
    );
    for m in mentions {
        assert!(words.contains(m), "{id} does not mention {m:?}: {c:#}");
    }
    if status == "fail" || status == "warn" {
        assert!(c["fix"].is_string(), "{id} has no fix: {c:#}");
    }
}

/// amtd-infra's DNS server on a random loopback address, in a runtime of its own.
struct LoopbackDns {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
    _handle: amtd_infra::dns::DnsServerHandle,
}

impl LoopbackDns {
    /// Zone `amt.test` with the reverse zone `127.in-addr.arpa`; `provision_server` is where
    /// `ProvisionServer.amt.test` points (none: no record); `server` gets A and PTR as
    /// `amtd.amt.test`.
    fn start(ip: Ipv4Addr, provision_server: Option<Ipv4Addr>, server: Ipv4Addr) -> LoopbackDns {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut zone = amtd_infra::dns::Zone::new("amt.test").unwrap();
        zone.add_reverse_zone("127.in-addr.arpa").unwrap();
        zone.set_name_server_address(IpAddr::V4(ip)).unwrap();
        zone.add_host("amtd.amt.test", IpAddr::V4(server)).unwrap();
        if let Some(p) = provision_server {
            zone.add_address("ProvisionServer.amt.test", IpAddr::V4(p))
                .unwrap();
        }
        let handle = rt
            .block_on(amtd_infra::dns::DnsServer::start(
                SocketAddr::new(IpAddr::V4(ip), 0),
                zone,
            ))
            .unwrap();
        LoopbackDns {
            addr: handle.local_addr(),
            _rt: rt,
            _handle: handle,
        }
    }
}

/// A random 127.a.b.0/24 for one test: (this server's address, the DNS server's address).
fn loopback_pair() -> (Ipv4Addr, Ipv4Addr) {
    let (a, b, _) = random_octets();
    (Ipv4Addr::new(127, a, b, 200), Ipv4Addr::new(127, a, b, 53))
}

// ---------------------------------------------------------------------------------------------
// Loopback: PKI, DNS answers, NTP, usage
// ---------------------------------------------------------------------------------------------

#[test]
fn good_certificate_and_dns_pass_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let (server, dns_ip) = loopback_pair();
    let dns = LoopbackDns::start(dns_ip, Some(server), server);
    let cert = prov_cert(dir.path(), "prov", "provisioning.amt.test", 3600, false);
    write_config(
        dir.path(),
        IpAddr::V4(server),
        Some(dns.addr),
        &format!(
            "{}domain = \"amt.test\"\n",
            cert_config("prov", &cert, true)
        ),
    );
    let (code, v, out) = check_json(dir.path(), &[]);
    assert_eq!(code, 0, "{}", text(&out));
    assert_eq!(v["ok"], true);
    assert_check(
        &v,
        "dns.server",
        "pass",
        &[&dns.addr.to_string(), "[dns] resolver"],
    );
    assert_check(
        &v,
        "dns.provision_server",
        "pass",
        &["ProvisionServer.amt.test", &server.to_string()],
    );
    assert_check(&v, "dns.server_reverse", "pass", &["amtd.amt.test"]);
    assert_check(
        &v,
        "pki.suffix.prov",
        "pass",
        &[
            "DHCP domain unknown",
            "expected domain amt.test",
            "certificate CN provisioning.amt.test (suffix amt.test)",
        ],
    );
    assert_check(&v, "pki.chain.prov", "pass", &["Root CA"]);
    assert_check(&v, "pki.root.prov", "pass", &[&cert.root_hash]);
    assert_check(
        &v,
        "pki.setup_oid.prov",
        "pass",
        &["2.16.840.1.113741.1.2.3"],
    );
    assert_check(&v, "pki.expiry.prov", "pass", &["expires on"]);
    assert_check(&v, "dhcp.offer", "skipped", &["no --interface given"]);
    assert_check(&v, "time.clock", "skipped", &["no time source configured"]);
    assert_check(
        &v,
        "ad.integration",
        "skipped",
        &["AD integration not configured"],
    );

    // The same run for people: one table per team, marks, the summary.
    let out = amtd(dir.path(), &["check", "--config", "amtd.toml"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for heading in [
        "\nDHCP\n",
        "\nDNS\n",
        "\nPKI\n",
        "\nTime\n",
        "\nActive Directory\n",
    ] {
        assert!(report.contains(heading), "{heading:?} missing:\n{report}");
    }
    assert!(
        report.contains("  – skipped: no --interface given"),
        "{report}"
    );
    assert!(report.contains("✓ pki.suffix.prov"), "{report}");
    assert!(
        report.trim_end().ends_with("Nothing blocks provisioning."),
        "{report}"
    );
}

#[test]
fn certificate_for_another_domain_fails_the_suffix_check_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let cert = prov_cert(dir.path(), "corp", "provisioning.corp.example", 3600, false);
    write_config(
        dir.path(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        None,
        &format!(
            "{}domain = \"amt.test\"\n",
            cert_config("corp", &cert, true)
        ),
    );
    let (code, v, out) = check_json(dir.path(), &[]);
    assert_eq!(code, 1, "{}", text(&out));
    assert_eq!(v["ok"], false);
    assert_check(
        &v,
        "pki.suffix.corp",
        "fail",
        &[
            "DHCP domain unknown | expected domain amt.test | certificate CN \
             provisioning.corp.example (suffix corp.example)",
            "PKI team",
            "CN=provisioning.amt.test",
        ],
    );
    // Everything else about the certificate is fine and said so.
    assert_check(&v, "pki.root.corp", "pass", &[]);
    assert_check(&v, "pki.expiry.corp", "pass", &[]);

    // --domain overrides [check] domain: the same certificate then fits.
    let (_, v, _) = check_json(dir.path(), &["--domain", "corp.example"]);
    assert_check(
        &v,
        "pki.suffix.corp",
        "pass",
        &["expected domain corp.example"],
    );
}

#[test]
fn expired_certificate_fails_and_one_expiring_within_30_days_only_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (server, dns_ip) = loopback_pair();
    let dns = LoopbackDns::start(dns_ip, Some(server), server);
    let old = prov_cert(dir.path(), "old", "provisioning.amt.test", 400 * DAY, false);
    write_config(
        dir.path(),
        IpAddr::V4(server),
        Some(dns.addr),
        &format!("{}domain = \"amt.test\"\n", cert_config("old", &old, true)),
    );
    let (code, v, out) = check_json(dir.path(), &[]);
    assert_eq!(code, 1, "{}", text(&out));
    assert_check(
        &v,
        "pki.expiry.old",
        "fail",
        &["CN=provisioning.amt.test expired on", "renew"],
    );
    // The suffix is still judged (an expired certificate is not an unreadable one).
    assert_check(&v, "pki.suffix.old", "pass", &["suffix amt.test"]);

    let soon = prov_cert(
        dir.path(),
        "soon",
        "provisioning.amt.test",
        340 * DAY,
        false,
    );
    write_config(
        dir.path(),
        IpAddr::V4(server),
        Some(dns.addr),
        &format!(
            "{}domain = \"amt.test\"\n",
            cert_config("soon", &soon, true)
        ),
    );
    let (code, v, out) = check_json(dir.path(), &[]);
    assert_check(&v, "pki.expiry.soon", "warn", &["(in 2", "renew"]);
    assert_eq!(code, 0, "a warning must not fail the check: {}", text(&out));
    assert_eq!(v["ok"], true);
}

#[test]
fn root_the_devices_do_not_trust_names_the_hash_to_add_in_mebx() {
    let dir = tempfile::tempdir().unwrap();
    let cert = prov_cert(dir.path(), "own", "provisioning.amt.test", 3600, false);
    write_config(
        dir.path(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        None,
        &format!(
            "{}[check]\ndomain = \"amt.test\"\n",
            cert_config("own", &cert, false)
        ),
    );
    let (code, v, _) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_check(
        &v,
        "pki.root.own",
        "fail",
        &[
            "not among the firmware's factory root hashes",
            &format!(
                "add the root hash {} to the devices' trusted roots in MEBx",
                cert.root_hash
            ),
            "vendor provisioning certificate",
        ],
    );
}

#[test]
fn chain_without_its_root_fails_the_chain_check() {
    let dir = tempfile::tempdir().unwrap();
    let cert = prov_cert(dir.path(), "noroot", "provisioning.amt.test", 3600, true);
    write_config(
        dir.path(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        None,
        &format!(
            "{}domain = \"amt.test\"\n",
            cert_config("noroot", &cert, true)
        ),
    );
    let (code, v, _) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_check(
        &v,
        "pki.chain.noroot",
        "fail",
        &["noroot Root CA", "put the whole chain"],
    );
    assert_check(&v, "pki.root.noroot", "skipped", &["does not reach a root"]);
    assert_check(&v, "pki.suffix.noroot", "pass", &["suffix amt.test"]);
}

#[test]
fn no_provisioning_certificate_fails_for_admin_control_mode() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST), None, "");
    let (code, v, _) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_check(
        &v,
        "pki.certificates",
        "fail",
        &["no [[provisioning_certificate]]", "admin control mode"],
    );
    // Without any DNS server the DNS team's checks say so instead of guessing.
    assert_check(
        &v,
        "dns.server",
        "fail",
        &["no DNS server known", "--dns-server"],
    );
    assert_check(&v, "dns.provision_server", "skipped", &[]);
}

#[test]
fn provision_server_pointing_at_another_address_fails_and_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let (server, dns_ip) = loopback_pair();
    let elsewhere = Ipv4Addr::new(127, 0, 0, 99);
    let dns = LoopbackDns::start(dns_ip, Some(elsewhere), server);
    let cert = prov_cert(dir.path(), "prov", "provisioning.amt.test", 3600, false);
    write_config(
        dir.path(),
        IpAddr::V4(server),
        None,
        &format!(
            "{}domain = \"amt.test\"\n",
            cert_config("prov", &cert, true)
        ),
    );
    let (code, v, out) = check_json(dir.path(), &["--dns-server", &dns.addr.to_string()]);
    assert_eq!(code, 1, "{}", text(&out));
    assert_check(&v, "dns.server", "pass", &["--dns-server"]);
    assert_check(
        &v,
        "dns.provision_server",
        "fail",
        &[
            "ProvisionServer.amt.test → 127.0.0.99",
            "would send their hello to 127.0.0.99",
            // amtd-infra's zone answers the bare name too, and devices ask that first.
            &format!("DNS team: point ProvisionServer at {server} (it points at 127.0.0.99)"),
        ],
    );

    // And with no record at all: the fix is the record to add.
    let dns = LoopbackDns::start(dns_ip, None, server);
    let (code, v, _) = check_json(dir.path(), &["--dns-server", &dns.addr.to_string()]);
    assert_eq!(code, 1);
    assert_check(
        &v,
        "dns.provision_server",
        "fail",
        &[
            "devices cannot find this server",
            "ProvisionServer.amt.test → no record",
            &format!("add an A record ProvisionServer.amt.test → {server} in zone amt.test"),
        ],
    );
}

#[test]
fn dns_server_that_never_answers_is_reported_within_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let (server, dns_ip) = loopback_pair();
    let silent = UdpSocket::bind((dns_ip, 0)).unwrap();
    write_config(
        dir.path(),
        IpAddr::V4(server),
        Some(silent.local_addr().unwrap()),
        "[check]\ndomain = \"amt.test\"\n",
    );
    let started = Instant::now();
    let (code, v, _) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_check(
        &v,
        "dns.provision_server",
        "fail",
        &["did not answer", "DNS team"],
    );
    assert_check(&v, "dns.server_reverse", "skipped", &["did not answer"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// An SNTP server on loopback whose clock is `ahead` seconds ahead; answers `count` requests.
fn fake_sntp(ip: Ipv4Addr, ahead: i64, count: usize) -> SocketAddr {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..count {
            let mut buf = [0u8; 128];
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                return;
            };
            if n < 48 {
                continue;
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            let secs = (now.as_secs() as i64 + ahead + 2_208_988_800) as u64;
            let frac = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
            let ts = ((secs & 0xFFFF_FFFF) << 32) | frac;
            let mut reply = [0u8; 48];
            reply[0] = 0x24; // LI 0, version 4, mode 4 (server)
            reply[1] = 2;
            reply[24..32].copy_from_slice(&buf[40..48]);
            reply[32..40].copy_from_slice(&ts.to_be_bytes());
            reply[40..48].copy_from_slice(&ts.to_be_bytes());
            let _ = sock.send_to(&reply, peer);
        }
    });
    addr
}

#[test]
fn ntp_server_ten_minutes_ahead_fails_the_clock_check() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ip) = loopback_pair();
    let skewed = fake_sntp(ip, 600, 4);
    let fine = fake_sntp(ip, 2, 4);
    write_config(
        dir.path(),
        IpAddr::V4(server),
        None,
        &format!("[check]\ntime_servers = [\"{skewed}\", \"{fine}\"]\n"),
    );
    let (code, v, _) = check_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_check(
        &v,
        &format!("time.ntp.{skewed}"),
        "fail",
        &["10 min 0 s ahead of", "under 5 min"],
    );
    assert_check(&v, &format!("time.ntp.{fine}"), "pass", &["2.0 s ahead of"]);

    // A larger allowance makes the same skew acceptable.
    let skewed = fake_sntp(ip, 600, 4);
    write_config(
        dir.path(),
        IpAddr::V4(server),
        None,
        &format!("[check]\ntime_servers = [\"{skewed}\"]\nmax_clock_skew = \"15m\"\n"),
    );
    let (_, v, _) = check_json(dir.path(), &[]);
    assert_check(
        &v,
        &format!("time.ntp.{skewed}"),
        "pass",
        &["10 min 0 s ahead of"],
    );
}

#[test]
fn usage_and_config_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("amtd.toml"),
        "[check]\ndomian = \"amt.test\"\n",
    )
    .unwrap();
    let out = amtd(dir.path(), &["check", "--config", "amtd.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("domian"), "{}", text(&out));

    write_config(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST), None, "");
    for args in [
        &["--dns-server", "dns.example"][..],
        &["--domain", "not a domain"][..],
        &["--no-such-flag"][..],
    ] {
        let mut all = vec!["check", "--config", "amtd.toml"];
        all.extend_from_slice(args);
        let out = amtd(dir.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
    let out = amtd(dir.path(), &["check", "--config", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Real peers in network namespaces: Kea (+ D2), BIND 9, dnsmasq
// ---------------------------------------------------------------------------------------------

use support::netns::{
    cmd_in, dig, peers_available, Bind, BindOptions, Dnsmasq, DnsmasqOptions, Kea, KeaOptions,
    NetnsPair, PeerProcess,
};

/// The environment variable the TSIG secret is passed in.
const TSIG_ENV: &str = "AMTD_CHECK_TEST_TSIG";

/// A device-side setup: the namespaces, a directory with a trusted provisioning certificate
/// for amt.test, and a static address on the device end (outside the DHCP pools) so that the
/// check can ask DNS servers after the probe, as it would from an administrator's machine.
struct Site {
    net: NetnsPair,
    dir: tempfile::TempDir,
    cert: ProvCert,
}

impl Site {
    fn new() -> Site {
        let net = NetnsPair::new();
        net.add_device_addr(net.host(2));
        let dir = tempfile::tempdir().unwrap();
        let cert = prov_cert(dir.path(), "prov", "provisioning.amt.test", 3600, false);
        Site { net, dir, cert }
    }

    /// Writes amtd.toml: this server at the server namespace's address, the certificate, the
    /// expected domain amt.test, `check_extra` inside `[check]`, then `extra`.
    fn config(&self, check_extra: &str, extra: &str) {
        write_config(
            self.dir.path(),
            IpAddr::V4(self.net.server_ip()),
            None,
            &format!(
                "{}domain = \"amt.test\"\n{check_extra}\n{extra}",
                cert_config("prov", &self.cert, true)
            ),
        );
    }

    /// `amtd check --config amtd.toml --json <args…>` inside the device namespace, with `env`:
    /// (exit code, report). Killed after 120 s.
    fn check(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
        let mut cmd = cmd_in(self.net.device_ns(), env!("CARGO_BIN_EXE_amtd"));
        cmd.current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .args(["check", "--config", "amtd.toml", "--json"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "amtd check did not finish within 120 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = child.wait_with_output().unwrap();
        let code = status.code().unwrap_or(-1);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "amtd check --json printed no JSON ({e}):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        eprintln!("amtd check took {:?}: exit {code}", started.elapsed());
        (code, v)
    }

    /// The same run without `--json`: (exit code, the report for people).
    fn check_human(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let out = cmd_in(self.net.device_ns(), env!("CARGO_BIN_EXE_amtd"))
            .current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .args(["check", "--config", "amtd.toml"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    fn probe_args(&self) -> Vec<String> {
        vec!["--interface".into(), self.net.device_if().to_owned()]
    }
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn kea_without_option_15_is_named_with_the_domain_and_scope_to_add() {
    if !peers_available(
        "kea_without_option_15",
        &["named", "tsig-keygen", "dig", "kea-dhcp4"],
    ) {
        return;
    }
    let site = Site::new();
    let _bind = Bind::start(&site.net, &BindOptions::default());
    let _kea = Kea::start(
        &site.net,
        &KeaOptions {
            domain_name: None,
            routers: vec![site.net.server_ip()],
            ..KeaOptions::default()
        },
    );
    site.config("ddns_timeout = \"1s\"", "");
    let (code, v) = site.check(&args(&site.probe_args()), &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_check(
        &v,
        "dhcp.offer",
        "pass",
        &[&site.net.server_ip().to_string()],
    );
    assert_check(
        &v,
        "dhcp.option15",
        "fail",
        &[
            "option 15 is missing from the OFFER",
            &format!(
                "DHCP team: add option 15 (domain-name) = amt.test to the scope serving {}",
                site.net.cidr()
            ),
        ],
    );
    assert_check(&v, "dhcp.option6", "pass", &[]);
    assert_check(&v, "dhcp.option3", "pass", &[]);
    assert_check(&v, "dhcp.option1", "pass", &["255.255.255.0"]);
    assert_check(&v, "dhcp.ack", "pass", &[]);
    assert_check(&v, "dhcp.release", "pass", &[]);
    // The certificate is judged against the expected domain, and the report says so.
    assert_check(&v, "pki.suffix.prov", "pass", &["DHCP domain unknown"]);
}

#[test]
fn kea_with_a_wrong_domain_shows_dhcp_domain_suffix_and_certificate_side_by_side() {
    if !peers_available(
        "kea_with_a_wrong_domain",
        &["named", "tsig-keygen", "dig", "kea-dhcp4"],
    ) {
        return;
    }
    let site = Site::new();
    let _bind = Bind::start(&site.net, &BindOptions::default());
    let _kea = Kea::start(
        &site.net,
        &KeaOptions {
            domain_name: Some("corp.example".into()),
            routers: vec![site.net.server_ip()],
            ..KeaOptions::default()
        },
    );
    site.config("ddns_timeout = \"1s\"", "");
    let (code, v) = site.check(&args(&site.probe_args()), &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_check(
        &v,
        "dhcp.option15",
        "fail",
        &[
            "option 15 = corp.example, but devices must be in amt.test",
            "set option 15 (domain-name) to amt.test (not corp.example)",
        ],
    );
    assert_check(
        &v,
        "pki.suffix.prov",
        "fail",
        &[
            "DHCP domain corp.example | expected domain amt.test | certificate CN \
             provisioning.amt.test (suffix amt.test)",
            "DHCP team: set option 15 (domain-name) to amt.test",
        ],
    );
    // Devices in corp.example look for ProvisionServer.corp.example, which is not there.
    assert_check(
        &v,
        "dns.provision_server",
        "fail",
        &["ProvisionServer.corp.example → "],
    );

    // For people: the problem, then the fix line under it.
    let (code, report) = site.check_human(&args(&site.probe_args()), &[]);
    assert_eq!(code, 1, "{report}");
    let at = report.find("✗ dhcp.option15").expect(&report);
    let next = &report[at..].lines().nth(1).unwrap_or_default();
    assert!(
        next.trim_start()
            .starts_with("fix: DHCP team: set option 15 (domain-name) to amt.test"),
        "{report}"
    );
    // The summary counts what the JSON calls failures.
    let fails = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .count();
    assert!(
        report.contains(&format!("\n{fails} problems block provisioning")),
        "{report}"
    );
}

#[test]
fn kea_without_ddns_leaves_no_a_or_ptr_record_and_the_report_says_so() {
    if !peers_available(
        "kea_without_ddns",
        &["named", "tsig-keygen", "dig", "kea-dhcp4"],
    ) {
        return;
    }
    let site = Site::new();
    let _bind = Bind::start(&site.net, &BindOptions::default());
    let _kea = Kea::start(
        &site.net,
        &KeaOptions {
            routers: vec![site.net.server_ip()],
            ..KeaOptions::default()
        },
    );
    site.config("ddns_timeout = \"3s\"", "");
    let started = Instant::now();
    let (code, v) = site.check(&args(&site.probe_args()), &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_check(&v, "dhcp.option15", "pass", &["amt.test"]);
    let dns = format!("{}:53", site.net.server_ip());
    assert_check(
        &v,
        "dhcp.ddns_a",
        "fail",
        &[
            "no A record for amtcheck-",
            &format!(".amt.test appeared at {dns} within 3 s"),
            &format!(
                "DHCP team: turn on DDNS for the scope serving {}",
                site.net.cidr()
            ),
            "zone amt.test",
        ],
    );
    assert_check(
        &v,
        "dhcp.ddns_ptr",
        "fail",
        &[
            "no PTR record for",
            &format!("the reverse zone {}", site.net.reverse_zone()),
        ],
    );
    // The lease was given back even though DDNS failed.
    assert_check(&v, "dhcp.release", "pass", &["DHCPRELEASE sent"]);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn bind_without_a_provision_server_record_fails_the_dns_check() {
    if !peers_available(
        "bind_without_provision_server",
        &["named", "tsig-keygen", "dig", "kea-dhcp4"],
    ) {
        return;
    }
    let site = Site::new();
    let _bind = Bind::start(
        &site.net,
        &BindOptions {
            provision_server: false,
            ..BindOptions::default()
        },
    );
    let _kea = Kea::start(
        &site.net,
        &KeaOptions {
            routers: vec![site.net.server_ip()],
            ..KeaOptions::default()
        },
    );
    site.config("ddns_timeout = \"1s\"", "");
    let (code, v) = site.check(&args(&site.probe_args()), &[]);
    assert_eq!(code, 1, "{v:#}");
    let server = site.net.server_ip();
    // The DNS server asked is the one the lease names.
    assert_check(
        &v,
        "dns.server",
        "pass",
        &[
            &format!("{server}:53"),
            "named by the DHCP lease (option 6)",
        ],
    );
    assert_check(
        &v,
        "dns.provision_server",
        "fail",
        &[
            "devices cannot find this server",
            "ProvisionServer.amt.test → no record",
            &format!(
                "DNS team: add an A record ProvisionServer.amt.test → {server} in zone amt.test"
            ),
        ],
    );
}

#[test]
fn dnsmasq_without_option_15_is_named() {
    if !peers_available("dnsmasq_without_option_15", &["dnsmasq", "dig"]) {
        return;
    }
    let site = Site::new();
    let server = site.net.server_ip();
    let _dm = Dnsmasq::start(
        &site.net,
        &DnsmasqOptions {
            domain_name: None,
            host_records: vec![("ProvisionServer.amt.test".into(), server)],
            ..DnsmasqOptions::default()
        },
    );
    site.config("ddns_timeout = \"2s\"", "");
    let (code, v) = site.check(&args(&site.probe_args()), &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_check(&v, "dhcp.offer", "pass", &[&format!("offered by {server}")]);
    assert_check(
        &v,
        "dhcp.option15",
        "fail",
        &[
            "option 15 is missing",
            &format!(
                "add option 15 (domain-name) = amt.test to the scope serving {}",
                site.net.cidr()
            ),
        ],
    );
    // dnsmasq answers ProvisionServer itself: only the domain is missing.
    assert_check(&v, "dns.provision_server", "pass", &[&server.to_string()]);
}

#[test]
fn good_kea_d2_and_bind_setup_passes_everything_and_exits_0() {
    if !peers_available(
        "good_kea_d2_bind",
        &["named", "tsig-keygen", "dig", "kea-dhcp4", "kea-dhcp-ddns"],
    ) {
        return;
    }
    let site = Site::new();
    let server = site.net.server_ip();
    let rev = site.net.reverse_zone();
    let last = server.octets()[3];
    let bind = Bind::start(
        &site.net,
        &BindOptions {
            records: vec![format!("{last}.{rev}. PTR ns.amt.test.")],
            ..BindOptions::default()
        },
    );
    let _kea = Kea::start(
        &site.net,
        &KeaOptions {
            routers: vec![server],
            ddns: Some(bind.ddns_target()),
            ..KeaOptions::default()
        },
    );
    site.config(
        "ddns_timeout = \"15s\"",
        &format!(
            "[dns.tsig]\nkey_name = \"{}\"\nalgorithm = \"{}\"\nsecret_env = \"{TSIG_ENV}\"\n",
            bind.key_name(),
            bind.algorithm()
        ),
    );
    let (code, v) = site.check(&args(&site.probe_args()), &[(TSIG_ENV, bind.secret())]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["ok"], true);
    for c in v["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let want = if id == "ad.integration" {
            "skipped"
        } else {
            "pass"
        };
        assert_eq!(c["status"], want, "{c:#}");
    }
    assert_check(&v, "dhcp.option15", "pass", &["amt.test, as expected"]);
    assert_check(&v, "dhcp.ddns_a", "pass", &["amtcheck-", ".amt.test → "]);
    assert_check(&v, "dhcp.ddns_ptr", "pass", &[".amt.test after"]);
    assert_check(
        &v,
        "dns.server_reverse",
        "pass",
        &[&format!("{server} ⇄ ns.amt.test")],
    );
    assert_check(
        &v,
        "pki.suffix.prov",
        "pass",
        &["DHCP domain amt.test | expected domain amt.test"],
    );
    assert_check(
        &v,
        "time.dns_server",
        "pass",
        &[&format!("DNS server {server}:53")],
    );
    let (code, report) = site.check_human(&args(&site.probe_args()), &[(TSIG_ENV, bind.secret())]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("✓ dhcp.ddns_ptr"), "{report}");
    assert!(!report.contains("fix:"), "{report}");
    assert!(
        report.trim_end().ends_with("Nothing blocks provisioning."),
        "{report}"
    );
    // Released: Kea's D2 removes the probe's records again.
    let name = find(&v, "dhcp.ddns_a")["detail"]
        .as_str()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let gone = Instant::now();
    while !bind.dig(&name, "A").answers("A").is_empty() {
        assert!(
            gone.elapsed() < Duration::from_secs(15),
            "{name} still registered after the RELEASE"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// named with its clock `offset` ahead (libfaketime, as `faketime -f <offset>` sets it up) in
/// the server namespace, authoritative for amt.test with the TSIG key `check-key`; the
/// harness's [`Bind`] has no clock offset, so this starts its own.
///
/// Debian's named is linked with jemalloc, whose start-up reads the clock while libfaketime is
/// still initialising; libfaketime then gives up ("Unexpected recursive calls to
/// clock_gettime()") and named hangs. Preloading glibc's malloc (libc_malloc_debug) ahead of
/// libfaketime gives libfaketime's own allocations to glibc, and named starts.
struct SkewedBind {
    _proc: PeerProcess,
    _dir: tempfile::TempDir,
    secret: String,
}

/// The first existing `/usr/lib/<dir>/<rest>` (multiarch directories included).
fn usr_lib(rest: &str) -> Option<PathBuf> {
    let direct = PathBuf::from("/usr/lib").join(rest);
    if direct.is_file() {
        return Some(direct);
    }
    std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|e| e.path().join(rest))
        .find(|p| p.is_file())
}

impl SkewedBind {
    fn start(net: &NetnsPair, offset: &str) -> SkewedBind {
        let dir = tempfile::Builder::new()
            .prefix("amt-check-bind-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let secret = "c2tld2VkLWJpbmQtdHNpZy1zZWNyZXQtZm9yLXRlc3Q=".to_owned();
        let addr = net.server_ip();
        std::fs::write(
            d.join("fwd.zone"),
            format!(
                "$TTL 60\n@ IN SOA ns.amt.test. hostmaster.amt.test. 1 60 60 600 60\n\
                 @ IN NS ns.amt.test.\nns.amt.test. IN A {addr}\n\
                 ProvisionServer.amt.test. IN A {addr}\n"
            ),
        )
        .unwrap();
        let dd = d.display();
        std::fs::write(
            d.join("named.conf"),
            format!(
                "key \"check-key\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
                 controls {{ }};\n\
                 options {{ directory \"{dd}\"; pid-file \"{dd}/named.pid\"; \
                 session-keyfile \"{dd}/session.key\"; listen-on port 53 {{ {addr}; }}; \
                 listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; notify no; }};\n\
                 zone \"amt.test\" {{ type primary; file \"{dd}/fwd.zone\"; }};\n"
            ),
        )
        .unwrap();
        let faketime = usr_lib("faketime/libfaketime.so.1")
            .expect("libfaketime.so.1 (package libfaketime, installed with faketime)");
        let preload = match usr_lib("libc_malloc_debug.so.0") {
            Some(glibc_malloc) => format!("{} {}", glibc_malloc.display(), faketime.display()),
            None => faketime.display().to_string(),
        };
        let mut cmd = cmd_in(net.server_ns(), "named");
        cmd.env("LD_PRELOAD", preload)
            .env("FAKETIME", offset)
            .args(["-g", "-u", "root", "-c"])
            .arg(d.join("named.conf"));
        let mut proc = PeerProcess::spawn("named (faketime)", cmd, &d.join("named.log"));
        let started = Instant::now();
        loop {
            proc.assert_running();
            let a = dig(net.server_ns(), addr, 53, "amt.test", "SOA");
            if a.status == "NOERROR" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "named under faketime did not answer:\n{}",
                proc.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        SkewedBind {
            _proc: proc,
            _dir: dir,
            secret,
        }
    }
}

#[test]
fn dns_server_ten_minutes_ahead_fails_the_clock_check_over_tsig() {
    if !peers_available("dns_server_clock_skew", &["named", "dig", "faketime"]) {
        return;
    }
    let site = Site::new();
    let bind = SkewedBind::start(&site.net, "+10m");
    let server = site.net.server_ip();
    site.config(
        "",
        &format!(
            "[dns.tsig]\nkey_name = \"check-key\"\nalgorithm = \"hmac-sha256\"\n\
             secret_env = \"{TSIG_ENV}\"\n"
        ),
    );
    // No DHCP here: the DNS server is given on the command line.
    let (code, v) = site.check(
        &["--dns-server", &server.to_string()],
        &[(TSIG_ENV, &bind.secret)],
    );
    assert_eq!(code, 1, "{v:#}");
    assert_check(
        &v,
        "time.dns_server",
        "fail",
        &[
            &format!("the clock of DNS server {server}:53 is "),
            "ahead of this machine's",
            &format!("DNS team: synchronise DNS server {server}:53"),
            "under 5 min",
        ],
    );
    // TSIG's "time signed" has whole seconds.
    let detail = find(&v, "time.dns_server")["detail"].as_str().unwrap();
    assert!(
        ["is 9 min 59 s", "is 10 min 0 s", "is 10 min 1 s"]
            .iter()
            .any(|t| detail.contains(t)),
        "{detail}"
    );
    // Everything else about this DNS server is fine.
    assert_check(&v, "dns.provision_server", "pass", &[]);

    // A wrong secret is reported as such, not as a clock problem.
    let (_, v) = site.check(
        &["--dns-server", &server.to_string()],
        &[(TSIG_ENV, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==")],
    );
    assert_check(
        &v,
        "time.dns_server",
        "fail",
        &["could not read the clock", "TSIG key check-key"],
    );
}
