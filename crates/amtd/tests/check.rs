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
