//! The config file (SPEC O4): every example config in the repo loads and validates, unknown keys
//! are rejected with the key named, and invalid values are all reported together with their key
//! paths. The module is compiled in from the binary's source (the `amtd` crate has no library).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../src/config.rs"]
mod config;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amtd_infra::hello_listener::TrailingPolicy;
use config::{
    ApiTlsMode, CaConfig, CheckConfig, Config, ConfigError, DhcpConfig, FqdnStrategy,
    ProvisioningCertificateSource, StoreConfig, TlsMode, TsigAlgorithm, UserConsent,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("/etc/amtd"))
}

fn problems(text: &str) -> Vec<String> {
    match load(text) {
        Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        other => panic!("expected invalid values, got {other:?}"),
    }
}

#[test]
fn every_example_config_loads_and_validates() {
    let dir = repo().join("examples");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Config::load(&path) {
                panic!("{}: {e}", path.display());
            }
            loaded += 1;
        }
    }
    assert!(loaded >= 1, "no example configs in {}", dir.display());
}

#[test]
fn example_config_states_the_defaults_and_both_certificate_forms() {
    let path = repo().join("examples/amtd.toml");
    let c = Config::load(&path).unwrap();
    let base = path.parent().unwrap();
    let defaults = Config::defaults(base).unwrap();
    // The example spells out the defaults for [server] (but for TLS on the API), [store], [ca]
    // paths and [lab].
    let mut server = c.server.clone();
    assert_eq!(server.api_tls.mode, ApiTlsMode::EmbeddedCa);
    server.api_tls = defaults.server.api_tls.clone();
    assert_eq!(server, defaults.server);
    assert_eq!(c.store, defaults.store);
    assert_eq!(c.lab, defaults.lab);
    assert_eq!(c.maintenance, defaults.maintenance);
    assert_eq!(c.profiles[0], defaults.profiles[0]);
    assert_eq!(c.provisioning_certificates.len(), 2);
    assert!(matches!(
        &c.provisioning_certificates[0].source,
        ProvisioningCertificateSource::Pkcs12 { path, password_env }
            if path == &base.join("certs/provisioning.pfx")
                && password_env.as_str() == "AMTD_PFX_PASSWORD"
    ));
    assert!(matches!(
        &c.provisioning_certificates[1].source,
        ProvisioningCertificateSource::Pem { .. }
    ));
    let secure = c.profile("secure").unwrap();
    assert_eq!(secure.tls, TlsMode::Mutual);
    assert_eq!(secure.user_consent, UserConsent::All);
    assert_eq!(secure.digest_users[0].name, "support");
    assert_eq!(secure.digest_users[0].realms.len(), 4);
    assert_eq!(c.fqdn.mapping.len(), 1);
}

#[test]
fn empty_config_gives_the_embedded_defaults() {
    let c = load("").unwrap();
    assert_eq!(c.server.data_dir, Path::new("/etc/amtd/amtd-data"));
    assert_eq!(
        c.server.hello.bind,
        "127.0.0.1:9971".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.server.api_bind.ip().to_string(), "127.0.0.1");
    assert_eq!(c.server.hello.trailing, TrailingPolicy::Reject);
    assert_eq!(
        c.store,
        StoreConfig::Sqlite {
            path: "/etc/amtd/amtd-data/amtd.sqlite".into()
        }
    );
    assert_eq!(
        c.ca,
        CaConfig::Embedded {
            dir: "/etc/amtd/amtd-data/ca".into(),
            kek_file: "/etc/amtd/amtd-data/ca.kek".into(),
            crl_base_url: None,
        }
    );
    assert_eq!(c.profiles.len(), 1);
    assert_eq!(c.profiles[0].name, "default");
    assert_eq!(
        c.fqdn.strategies,
        [
            FqdnStrategy::ReverseDns,
            FqdnStrategy::DhcpLease,
            FqdnStrategy::DeviceSettings,
            FqdnStrategy::OperatorMapping
        ]
    );
    assert_eq!(c.dns.resolver, None);
    assert_eq!(c.dns.tsig, None);
    assert!(!c.dns.update.enabled);
    assert_eq!(c.dhcp, DhcpConfig::default());
    assert_eq!(c.check, CheckConfig::default());
    assert_eq!((c.lab.domain.as_str(), c.lab.devices), ("amt.test", 20));
    assert_eq!(c.lab.profile, "default");
}

#[test]
fn values_reach_the_runtime_types() {
    let c = load(
        r#"
        [server]
        data_dir = "/var/lib/amtd"
        hello_bind = "0.0.0.0"
        hello_port = 19971
        hello_read_timeout = "750ms"
        hello_rate_per_second = 5
        hello_rate_burst = 7
        hello_rate_max_sources = 100
        hello_max_connections = 64
        hello_trailing_bytes = "tolerate"
        [store]
        url = "postgres://amtd@db.example:5432/amtd"
        password_env = "PGPASSWORD"
        [dns]
        resolver = "10.0.0.53"
        [fqdn]
        strategies = ["operator-mapping", "reverse-dns"]
        [fqdn.mapping]
        "939B524B-13D4-1D18-E487-1C697A6B7A2B" = "Host1.Corp.Example."
        "#,
    )
    .unwrap();
    let h = &c.server.hello;
    assert_eq!(h.bind, "0.0.0.0:19971".parse::<SocketAddr>().unwrap());
    assert_eq!(h.read_timeout, Duration::from_millis(750));
    assert_eq!((h.rate_limit.per_second, h.rate_limit.burst), (5.0, 7));
    assert_eq!((h.max_sources, h.max_connections), (100, 64));
    assert_eq!(h.trailing, TrailingPolicy::Tolerate);
    assert!(
        matches!(&c.store, StoreConfig::Postgres { password_env: Some(v), .. } if v.as_str() == "PGPASSWORD")
    );
    assert_eq!(c.dns.resolver, Some("10.0.0.53:53".parse().unwrap()));
    assert_eq!(c.fqdn.strategies[0], FqdnStrategy::OperatorMapping);
    assert_eq!(
        c.fqdn.mapping.values().next().map(String::as_str),
        Some("host1.corp.example")
    );
    // The CA defaults follow data_dir.
    assert!(
        matches!(&c.ca, CaConfig::Embedded { dir, .. } if dir == Path::new("/var/lib/amtd/ca"))
    );
}

#[test]
fn api_tls_section_reaches_the_runtime_types_and_is_checked() {
    let c = load("").unwrap();
    assert_eq!(c.server.api_tls.mode, ApiTlsMode::Off);
    assert!(!c.server.api_tls.allow_plain_http);
    let c =
        load("[server.api_tls]\nmode = \"embedded-ca\"\nnames = [\"amtd.example.com\"]\n").unwrap();
    assert_eq!(c.server.api_tls.mode, ApiTlsMode::EmbeddedCa);
    assert_eq!(c.server.api_tls.names, ["amtd.example.com"]);
    let c = load(
        "[server.api_tls]\nmode = \"files\"\ncert_file = \"tls/api.pem\"\n\
         key_file = \"/keys/api.key\"\n",
    )
    .unwrap();
    assert_eq!(
        c.server.api_tls.mode,
        ApiTlsMode::Files {
            cert_file: "/etc/amtd/tls/api.pem".into(),
            key_file: "/keys/api.key".into(),
            ca_file: None,
        }
    );
    let c =
        load("[server]\napi_bind = \"0.0.0.0:9972\"\n[server.api_tls]\nallow_plain_http = true\n")
            .unwrap();
    assert!(c.server.api_tls.allow_plain_http);

    let p = problems(
        "[server.api_tls]\nmode = \"files\"\nnames = [\"bad name\"]\nallow_plain_http = true\n",
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("server.api_tls.mode: ") && m.contains("cert_file and key_file")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|m| m.starts_with("server.api_tls.names[0]: ")),
        "{p:?}"
    );
    let p = problems("[server.api_tls]\nmode = \"on\"\ncert_file = \"a.pem\"\n");
    assert!(p.iter().any(|m| m.contains("unknown mode \"on\"")), "{p:?}");
    let p = problems(
        "[server.api_tls]\nmode = \"embedded-ca\"\ncert_file = \"a.pem\"\nallow_plain_http = true\n",
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("server.api_tls.cert_file: ") && m.contains("\"files\"")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("server.api_tls.allow_plain_http: ")),
        "{p:?}"
    );
}

#[test]
fn unknown_top_level_key_is_rejected_with_the_key_named() {
    let err = load("[servr]\nhello_port = 1\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("servr"), "{text}");
    assert!(text.contains("line 1"), "{text}");
}

#[test]
fn unknown_nested_key_is_rejected_with_its_path() {
    let err = load("[[profile]]\nname = \"a\"\n\n[[profile]]\nname = \"b\"\ntlss = \"mutual\"\n")
        .unwrap_err();
    match &err {
        ConfigError::Syntax {
            path,
            line,
            message,
            ..
        } => {
            assert!(path.starts_with("profile[1]"), "{err}");
            assert!(message.contains("tlss"), "{err}");
            assert_eq!(*line, Some(6), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn secrets_in_the_file_are_refused_with_the_way_to_do_it() {
    let p = problems(
        "[[profile]]\nname = \"p\"\n[[profile.digest_user]]\nname = \"ops\"\npassword = \"hunter2\"\nrealms = [\"redirection\"]\n",
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("profile[0].digest_user[0].password: secrets never go")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("profile[0].digest_user[0].password_env: is required")),
        "{p:?}"
    );
    let p = problems("[store]\nurl = \"postgres://amtd:s3cret@db/amtd\"\n");
    assert!(p[0].starts_with("store.url: contains a password"), "{p:?}");
    assert!(
        !p[0].contains("s3cret"),
        "the error must not echo the secret: {p:?}"
    );
}

#[test]
fn several_invalid_values_are_reported_together() {
    let p = problems(
        r#"
        [server]
        hello_port = 0
        api_bind = "localhost:80"
        hello_read_timeout = "10 parsecs"
        hello_rate_per_second = -1
        hello_trailing_bytes = "maybe"
        [store]
        url = "mysql://db/amtd"
        [ca]
        kind = "vault"
        crl_base_url = "ftp://ca.example/crl"
        [[provisioning_certificate]]
        pkcs12 = "a.pfx"
        chain = "a.pem"
        [[provisioning_certificate]]
        pkcs12 = "b.pfx"
        [[profile]]
        name = "a"
        [[profile]]
        name = "a"
        tls = "mtls"
        user_consent = "sometimes"
        [[profile.digest_user]]
        name = "admin"
        password_env = "1BAD"
        realms = ["redirection", "teleport"]
        [fqdn]
        strategies = ["reverse-dns", "reverse-dns", "crystal-ball"]
        [fqdn.mapping]
        "not-a-uuid" = "x.example"
        "00000000-0000-0000-0000-000000000000" = "y.example"
        "939b524b-13d4-1d18-e487-1c697a6b7a2b" = "bad_name!.example"
        [dns]
        resolver = "dns.example"
        [lab]
        domain = "-lab-.example"
        devices = 0
        profile = "missing"
        "#,
    );
    let expect = [
        "server.hello_port: 0 is not a valid port",
        "server.api_bind: ",
        "server.hello_read_timeout: ",
        "server.hello_rate_per_second: -1 is out of range",
        "server.hello_trailing_bytes: unknown policy \"maybe\"",
        "store.url: \"mysql://db/amtd\": unsupported database",
        "ca.kind: unknown CA kind \"vault\"",
        "ca.crl_base_url: ",
        "provisioning_certificate[0]: give either pkcs12 or chain + key, not both",
        "provisioning_certificate[1].pkcs12_password_env: is required",
        "profile[1].name: \"a\" is used by an earlier profile",
        "profile[1].tls: unknown mode \"mtls\"",
        "profile[1].user_consent: unknown policy \"sometimes\"",
        "profile[1].digest_user[0].name: \"admin\" is the device's admin account",
        "profile[1].digest_user[0].password_env: \"1BAD\" is not an environment variable name",
        "profile[1].digest_user[0].realms[1]: unknown realm \"teleport\"",
        "fqdn.strategies[1]: \"reverse-dns\" is listed twice",
        "fqdn.strategies[2]: unknown strategy \"crystal-ball\"",
        "fqdn.mapping.\"not-a-uuid\": the key is not a UUID",
        "fqdn.mapping.\"00000000-0000-0000-0000-000000000000\": an all-zero",
        "fqdn.mapping.\"939b524b-13d4-1d18-e487-1c697a6b7a2b\": \"bad_name!.example\" is not a valid DNS name",
        "fqdn.mapping: has entries, but \"operator-mapping\" is not among fqdn.strategies",
        "dns.resolver: \"dns.example\" is not an IP address",
        "lab.domain: \"-lab-.example\" is not a valid DNS name",
        "lab.devices: 0 is out of range",
        "lab.profile: no [[profile]] is named \"missing\"",
    ];
    for e in expect {
        assert!(
            p.iter().any(|m| m.starts_with(e)),
            "missing {e:?} in:\n{}",
            p.join("\n")
        );
    }
    assert_eq!(
        p.len(),
        expect.len(),
        "unexpected extra problems:\n{}",
        p.join("\n")
    );
    // The error's text lists them all, one per line.
    let err = load("[server]\nhello_port = 0\n[lab]\ndevices = 0\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("2 invalid value(s)"), "{text}");
    assert!(
        text.contains("\n  server.hello_port: 0 is not a valid port"),
        "{text}"
    );
    assert!(
        text.contains("\n  lab.devices: 0 is out of range"),
        "{text}"
    );
}

#[test]
fn out_of_range_numbers_get_a_range_message_not_a_type_error() {
    let p = problems("[server]\nhello_port = 70000\nhello_rate_burst = 0\n");
    assert_eq!(
        p,
        [
            "server.hello_port: 70000 is not a valid port (1-65535)",
            "server.hello_rate_burst: 0 is out of range (1-1000000)",
        ]
    );
}

#[test]
fn wrong_type_is_a_syntax_error_with_the_key_path() {
    let err = load("[server]\nhello_port = \"9971\"\n").unwrap_err();
    match &err {
        ConfigError::Syntax { path, line, .. } => {
            assert_eq!(path, "server.hello_port", "{err}");
            assert_eq!(*line, Some(2), "{err}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let dir = tempfile_dir();
    let path = dir.join("amtd.toml");
    std::fs::write(
        &path,
        "[server]\ndata_dir = \"state\"\n[[provisioning_certificate]]\nchain = \"c.pem\"\nkey = \"/abs/k.pem\"\n",
    )
    .unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.server.data_dir, dir.join("state"));
    assert_eq!(
        c.provisioning_certificates[0].source,
        ProvisioningCertificateSource::Pem {
            chain: dir.join("c.pem"),
            key: "/abs/k.pem".into()
        }
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_is_a_read_error_naming_the_file() {
    let err = Config::load(Path::new("/nonexistent/amtd.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/amtd.toml"), "{err}");
}

#[test]
fn env_var_names_are_read_only_when_asked() {
    let c = load(
        "[[profile]]\nname = \"p\"\n[[profile.digest_user]]\nname = \"ops\"\npassword_env = \"AMTD_TEST_UNSET_VARIABLE_9971\"\nrealms = [\"redirection\"]\n",
    )
    .unwrap();
    let user = &c.profiles[0].digest_users[0];
    let err = user.password_env.read().unwrap_err();
    assert!(err.to_string().contains("AMTD_TEST_UNSET_VARIABLE_9971"));
    // PATH is always set; the value comes back redacted in Debug.
    let path = config::EnvVarName::parse("PATH").unwrap().read().unwrap();
    assert!(!format!("{path:?}").contains("/usr"));
}

#[test]
fn maintenance_section_has_defaults_values_and_checked_ranges() {
    let d = load("").unwrap().maintenance;
    assert!(d.enabled);
    assert_eq!(
        (d.crl_interval, d.interval),
        (Duration::from_secs(3600), Duration::from_secs(3600))
    );
    assert_eq!(
        (
            d.renew_before_days,
            d.rotate_admin_password_days,
            d.clock_skew_secs
        ),
        (30, 90, 60)
    );
    assert!(d.crl_urls.is_empty());
    assert_eq!(d.concurrency, 16);

    let c = load(
        r#"
        [maintenance]
        enabled = false
        crl_interval = "5m"
        interval = "6h"
        renew_before_days = 45
        rotate_admin_password_days = 0
        clock_skew_secs = 300
        crl_urls = ["http://ca.example/crl/issuing.crl"]
        concurrency = 4
        "#,
    )
    .unwrap()
    .maintenance;
    assert!(!c.enabled);
    assert_eq!(c.crl_interval, Duration::from_secs(300));
    assert_eq!(c.interval, Duration::from_secs(6 * 3600));
    assert_eq!(
        (
            c.renew_before_days,
            c.rotate_admin_password_days,
            c.clock_skew_secs
        ),
        (45, 0, 300)
    );
    assert_eq!(c.crl_urls, ["http://ca.example/crl/issuing.crl"]);
    assert_eq!(c.concurrency, 4);

    let all = problems(
        r#"
        [maintenance]
        crl_interval = "0s"
        interval = "9000h"
        renew_before_days = 0
        rotate_admin_password_days = -1
        clock_skew_secs = 0
        crl_urls = ["https://ca.example/x.crl", "ldap://ca"]
        concurrency = 0
        "#,
    );
    for needle in [
        "maintenance.crl_interval: \"0s\" is outside",
        "maintenance.interval: \"9000h\" is outside",
        "maintenance.renew_before_days: 0 is out of range",
        "maintenance.rotate_admin_password_days: -1 is out of range",
        "maintenance.clock_skew_secs: 0 is out of range",
        "maintenance.crl_urls[0]",
        "maintenance.crl_urls[1]",
        "maintenance.concurrency: 0 is out of range",
    ] {
        assert!(
            all.iter().any(|p| p.contains(needle)),
            "{needle} missing from {all:#?}"
        );
    }
    let err = load("[maintenance]\ncrl_intervall = \"1h\"\n").unwrap_err();
    assert!(err.to_string().contains("crl_intervall"), "{err}");
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("amtd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn dns_update_dhcp_and_check_sections_are_validated() {
    let c = load(
        r#"
        [dns]
        resolver = "10.99.0.1"
        [dns.tsig]
        key_name = "ddns-key"
        secret_env = "AMTD_TSIG_SECRET"
        [dns.update]
        enabled = true
        [dhcp]
        kea_lease_file = "kea/leases4.csv"
        [check]
        domain = "AMT.test."
        interface = "veth-dev"
        server_addresses = ["10.99.0.1"]
        time_servers = ["10.99.0.1"]
        max_clock_skew = "2m"
        "#,
    )
    .expect("valid");
    assert_eq!(
        c.dns.tsig.as_ref().map(|t| t.name.as_str()),
        Some("ddns-key")
    );
    assert_eq!(
        c.dns.tsig.as_ref().map(|t| t.algorithm),
        Some(TsigAlgorithm::HmacSha256)
    );
    assert!(c.dns.update.enabled);
    assert_eq!(
        c.dhcp.kea_lease_file,
        Some("/etc/amtd/kea/leases4.csv".into())
    );
    assert_eq!(c.check.domain.as_deref(), Some("amt.test"));
    assert_eq!(
        c.check.time_servers,
        ["10.99.0.1:123"
            .parse::<std::net::SocketAddr>()
            .expect("addr")]
    );
    assert_eq!(c.check.max_clock_skew, std::time::Duration::from_secs(120));

    let problems = problems(
        r#"
        [fqdn]
        strategies = ["dhcp-lease"]
        [dns.tsig]
        key_name = "ddns-key"
        secret = "c2VjcmV0"
        algorithm = "hmac-md5"
        [dns.update]
        enabled = true
        [check]
        interface = "an interface name that is far too long"
        server_addresses = ["prov.amt.test"]
        device_root_hashes = ["abc"]
        ddns_timeout = "0s"
        "#,
    );
    for needle in [
        "fqdn.strategies",
        "dns.tsig.secret",
        "dns.tsig.secret_env",
        "dns.tsig.algorithm",
        "dns.update.server",
        "check.interface",
        "check.server_addresses[0]",
        "check.device_root_hashes[0]",
        "check.ddns_timeout",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle} not named in:\n{}",
            problems.join("\n")
        );
    }
}
