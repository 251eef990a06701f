//! Validation: raw structs to runtime types, collecting every problem with its key path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use amt_wire::hello::{Uuid16, HELLO_PORT};
use amt_wsman::classes::amt::Realm;
use amtd_infra::hello_listener::{HelloListenerConfig, RateLimit, TrailingPolicy};

use super::raw::{
    RawApiTls, RawCa, RawCheck, RawConfig, RawDhcp, RawDns, RawFqdn, RawLab, RawMaintenance,
    RawProfile, RawProvisioningCertificate, RawServer, RawStore,
};
use super::*;

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// `Some(value)` when `check` passes, else records the problem and gives `None`.
    fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(m) => {
                self.add(path, m);
                None
            }
        }
    }
}

pub(super) fn validate(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let server = validate_server(&raw.server, base, &mut p);
    let data_dir = server
        .as_ref()
        .map(|s| s.data_dir.clone())
        .unwrap_or_else(|| base.join(DEFAULT_DATA_DIR));
    let store = validate_store(&raw.store, base, &data_dir, &mut p);
    let ca = validate_ca(&raw.ca, base, &data_dir, &mut p);
    let provisioning_certificates = raw
        .provisioning_certificate
        .iter()
        .enumerate()
        .filter_map(|(i, c)| validate_prov_cert(c, i, base, &mut p))
        .collect::<Vec<_>>();
    let mut names = BTreeSet::new();
    for (i, c) in provisioning_certificates.iter().enumerate() {
        if !names.insert(c.name.clone()) {
            p.add(
                format!("provisioning_certificate[{i}].name"),
                format!(
                    "{:?} is used by an earlier provisioning certificate",
                    c.name
                ),
            );
        }
    }
    let mut profiles = Vec::new();
    let mut profile_names = BTreeSet::new();
    for (i, raw_profile) in raw.profile.iter().enumerate() {
        if let Some(name) = &raw_profile.name {
            if !profile_names.insert(name.clone()) {
                p.add(
                    format!("profile[{i}].name"),
                    format!("{name:?} is used by an earlier profile"),
                );
            }
        }
        if let Some(profile) = validate_profile(raw_profile, i, &mut p) {
            profiles.push(profile);
        }
    }
    if raw.profile.is_empty() {
        profiles.push(default_profile());
        profile_names.insert(DEFAULT_PROFILE.to_owned());
    }
    let fqdn = validate_fqdn(&raw.fqdn, &mut p);
    let dns = validate_dns(&raw.dns, &mut p);
    let lab = validate_lab(&raw.lab, &raw.profile, &profile_names, &mut p);
    let maintenance = validate_maintenance(&raw.maintenance, &mut p);
    let dhcp = validate_dhcp(&raw.dhcp, base, &mut p);
    let check = validate_check(&raw.check, &mut p);
    if let Some(f) = &fqdn {
        if f.strategies.contains(&FqdnStrategy::DhcpLease)
            && raw.fqdn.strategies.is_some()
            && dhcp
                .as_ref()
                .is_some_and(|d| d.kea_lease_file.is_none() && d.kea_control_socket.is_none())
        {
            p.add(
                "fqdn.strategies",
                "\"dhcp-lease\" is listed, but [dhcp] names no kea_lease_file or kea_control_socket",
            );
        }
    }

    match (server, store, ca, fqdn, dns, lab, maintenance, dhcp, check) {
        (
            Some(server),
            Some(store),
            Some(ca),
            Some(fqdn),
            Some(dns),
            Some(lab),
            Some(maintenance),
            Some(dhcp),
            Some(check),
        ) if p.0.is_empty() => Ok(Config {
            server,
            store,
            ca,
            provisioning_certificates,
            profiles,
            fqdn,
            dns,
            lab,
            maintenance,
            dhcp,
            check,
        }),
        _ => Err(ConfigError::Invalid(p.0)),
    }
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

fn nonempty_path(s: &str) -> Result<&str, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s)
    }
}

fn port(v: i64) -> Result<u16, String> {
    match u16::try_from(v) {
        Ok(0) | Err(_) => Err(format!("{v} is not a valid port (1-65535)")),
        Ok(p) => Ok(p),
    }
}

fn count(v: i64, min: i64, max: i64) -> Result<usize, String> {
    if (min..=max).contains(&v) {
        usize::try_from(v).map_err(|_| format!("{v} is out of range"))
    } else {
        Err(format!("{v} is out of range ({min}-{max})"))
    }
}

fn socket_addr(s: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    match (s.parse::<IpAddr>(), default_port) {
        (Ok(ip), Some(port)) => Ok(SocketAddr::new(ip, port)),
        _ => Err(format!(
            "{s:?} is not an IP address{} (host names are not accepted here)",
            if default_port.is_some() {
                " or IP:port"
            } else {
                ":port"
            }
        )),
    }
}

/// `"10s"`, `"500ms"`, `"2m"`, `"1h"`.
pub(super) fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (for example \"10s\", \"500ms\")"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (ms, s, m or h, for example \"10s\")"
            ))
        }
    };
    Ok(d)
}

/// A DNS name: 1-253 characters, labels of 1-63 letters, digits and hyphens.
fn dns_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(name)
    } else {
        Err(format!("{s:?} is not a valid DNS name"))
    }
}

fn env_name(p: &mut Problems, path: &str, v: Option<&String>) -> Option<EnvVarName> {
    let v = v?;
    p.check(path, EnvVarName::parse(v))
}

fn validate_server(raw: &RawServer, base: &Path, p: &mut Problems) -> Option<ServerConfig> {
    let before = p.0.len();
    let data_dir = match &raw.data_dir {
        Some(d) => p
            .check("server.data_dir", nonempty_path(d))
            .map(|d| resolve(base, d)),
        None => Some(base.join(DEFAULT_DATA_DIR)),
    };
    let api_bind = match &raw.api_bind {
        Some(a) => p.check("server.api_bind", socket_addr(a, None)),
        None => Some(DEFAULT_API_BIND),
    };
    let defaults = HelloListenerConfig::default();
    let hello_ip = match &raw.hello_bind {
        Some(a) => p.check(
            "server.hello_bind",
            a.parse::<IpAddr>()
                .map_err(|_| format!("{a:?} is not an IP address")),
        ),
        None => Some(defaults.bind.ip()),
    };
    let hello_port = match raw.hello_port {
        Some(v) => p.check("server.hello_port", port(v)),
        None => Some(HELLO_PORT),
    };
    let read_timeout = match &raw.hello_read_timeout {
        Some(s) => p.check(
            "server.hello_read_timeout",
            duration(s).and_then(|d| {
                if d.is_zero() || d > Duration::from_secs(3600) {
                    Err(format!("{s:?} is out of range (1ms-1h)"))
                } else {
                    Ok(d)
                }
            }),
        ),
        None => Some(defaults.read_timeout),
    };
    let max_connections = match raw.hello_max_connections {
        Some(v) => p.check("server.hello_max_connections", count(v, 1, 1_000_000)),
        None => Some(defaults.max_connections),
    };
    let per_second = match raw.hello_rate_per_second {
        Some(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Some(v),
        Some(v) => {
            p.add(
                "server.hello_rate_per_second",
                format!("{v} is out of range (a positive number of connections per second, at most 1000000)"),
            );
            None
        }
        None => Some(defaults.rate_limit.per_second),
    };
    let burst = match raw.hello_rate_burst {
        Some(v) => p
            .check("server.hello_rate_burst", count(v, 1, 1_000_000))
            .and_then(|b| u32::try_from(b).ok()),
        None => Some(defaults.rate_limit.burst),
    };
    let max_sources = match raw.hello_rate_max_sources {
        Some(v) => p.check("server.hello_rate_max_sources", count(v, 1, 10_000_000)),
        None => Some(defaults.max_sources),
    };
    let trailing = match raw.hello_trailing_bytes.as_deref() {
        None | Some("reject") => Some(TrailingPolicy::Reject),
        Some("tolerate") => Some(TrailingPolicy::Tolerate),
        Some(other) => {
            p.add(
                "server.hello_trailing_bytes",
                format!("unknown policy {other:?} (reject or tolerate)"),
            );
            None
        }
    };
    let sol_idle_timeout = match &raw.sol_idle_timeout {
        Some(s) => p.check(
            "server.sol_idle_timeout",
            duration(s).and_then(|d| {
                if d < Duration::from_secs(1) || d > Duration::from_secs(86_400) {
                    Err(format!("{s:?} is out of range (1s-24h)"))
                } else {
                    Ok(d)
                }
            }),
        ),
        None => Some(Duration::from_secs(30 * 60)),
    };
    let api_tls = validate_api_tls(&raw.api_tls, base, p);
    let auth = validate_server_auth(&raw.auth, p);
    if p.0.len() > before {
        return None;
    }
    Some(ServerConfig {
        data_dir: data_dir?,
        api_bind: api_bind?,
        api_tls: api_tls?,
        auth: auth?,
        sol_idle_timeout: sol_idle_timeout?,
        hello: HelloListenerConfig {
            bind: SocketAddr::new(hello_ip?, hello_port?),
            read_timeout: read_timeout?,
            max_connections: max_connections?,
            rate_limit: RateLimit {
                per_second: per_second?,
                burst: burst?,
            },
            max_sources: max_sources?,
            trailing: trailing?,
            ..defaults
        },
    })
}

/// `[server.auth]`: durations from 1 s to 30 days.
fn validate_server_auth(
    raw: &super::raw::RawServerAuth,
    p: &mut Problems,
) -> Option<ServerAuthConfig> {
    let defaults = ServerAuthConfig::default();
    let in_range = |s: &str| {
        duration(s).and_then(|d| {
            if d < Duration::from_secs(1) || d > Duration::from_secs(30 * 86_400) {
                Err(format!("{s:?} is out of range (1s-720h)"))
            } else {
                Ok(d)
            }
        })
    };
    let lifetime = match &raw.session_lifetime {
        Some(s) => p.check("server.auth.session_lifetime", in_range(s)),
        None => Some(defaults.session_lifetime),
    };
    let idle = match &raw.idle_timeout {
        Some(s) => p.check("server.auth.idle_timeout", in_range(s)).map(Some),
        None => Some(None),
    };
    Some(ServerAuthConfig {
        session_lifetime: lifetime?,
        idle_timeout: idle?,
    })
}

fn validate_api_tls(raw: &RawApiTls, base: &Path, p: &mut Problems) -> Option<ApiTlsConfig> {
    let before = p.0.len();
    let file = |p: &mut Problems, key: &str, v: &Option<String>| -> Option<PathBuf> {
        let v = v.as_ref()?;
        p.check(&format!("server.api_tls.{key}"), nonempty_path(v))
            .map(|v| resolve(base, v))
    };
    let cert_file = file(p, "cert_file", &raw.cert_file);
    let key_file = file(p, "key_file", &raw.key_file);
    let ca_file = file(p, "ca_file", &raw.ca_file);
    let mode = match raw.mode.as_deref() {
        None | Some("off") => Some(ApiTlsMode::Off),
        Some("embedded-ca") => Some(ApiTlsMode::EmbeddedCa),
        Some("files") => match (&cert_file, &key_file) {
            (Some(c), Some(k)) => Some(ApiTlsMode::Files {
                cert_file: c.clone(),
                key_file: k.clone(),
                ca_file: ca_file.clone(),
            }),
            _ => {
                p.add(
                    "server.api_tls.mode",
                    "\"files\" needs cert_file and key_file (PEM)",
                );
                None
            }
        },
        Some(other) => {
            p.add(
                "server.api_tls.mode",
                format!("unknown mode {other:?} (off, embedded-ca or files)"),
            );
            None
        }
    };
    if !matches!(mode, Some(ApiTlsMode::Files { .. }) | None) {
        for (key, v) in [
            ("cert_file", &raw.cert_file),
            ("key_file", &raw.key_file),
            ("ca_file", &raw.ca_file),
        ] {
            if v.is_some() {
                p.add(
                    format!("server.api_tls.{key}"),
                    "is only used with mode = \"files\"",
                );
            }
        }
    }
    let names = raw.names.clone().unwrap_or_default();
    for (i, n) in names.iter().enumerate() {
        if let Err(e) = amt_pki::profile::validate_fqdn(n, false) {
            p.add(format!("server.api_tls.names[{i}]"), e.to_string());
        }
    }
    let allow_plain_http = raw.allow_plain_http.unwrap_or(false);
    if allow_plain_http && matches!(mode, Some(ref m) if *m != ApiTlsMode::Off) {
        p.add(
            "server.api_tls.allow_plain_http",
            "is only used with mode = \"off\"",
        );
    }
    if p.0.len() > before {
        return None;
    }
    Some(ApiTlsConfig {
        mode: mode?,
        names,
        allow_plain_http,
    })
}

fn validate_store(
    raw: &RawStore,
    base: &Path,
    data_dir: &Path,
    p: &mut Problems,
) -> Option<StoreConfig> {
    let password_env = env_name(p, "store.password_env", raw.password_env.as_ref());
    let Some(url) = &raw.url else {
        if raw.password_env.is_some() {
            p.add("store.password_env", "is only used with a postgres:// url");
        }
        return Some(StoreConfig::Sqlite {
            path: data_dir.join("amtd.sqlite"),
        });
    };
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    {
        if raw.password_env.is_some() {
            p.add("store.password_env", "is only used with a postgres:// url");
        }
        if rest.is_empty() || rest.contains('?') {
            p.add(
                "store.url",
                format!("{url:?}: expected sqlite://PATH (no query parameters)"),
            );
            return None;
        }
        return Some(StoreConfig::Sqlite {
            path: resolve(base, rest),
        });
    }
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or(url.strip_prefix("postgresql://"))
    else {
        p.add(
            "store.url",
            format!("{url:?}: unsupported database (sqlite://PATH or postgres://USER@HOST/DB)"),
        );
        return None;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut ok = true;
    if userinfo.is_some_and(|u| u.contains(':')) {
        p.add(
            "store.url",
            "contains a password; secrets never go in the config file: name an environment variable with store.password_env",
        );
        ok = false;
    }
    if host.is_empty() {
        p.add("store.url", format!("{url:?} has no host"));
        ok = false;
    }
    ok.then(|| StoreConfig::Postgres {
        url: url.clone(),
        password_env,
    })
}

fn validate_ca(raw: &RawCa, base: &Path, data_dir: &Path, p: &mut Problems) -> Option<CaConfig> {
    let before = p.0.len();
    match raw.kind.as_deref() {
        None | Some("embedded") => {}
        Some(other) => p.add(
            "ca.kind",
            format!("unknown CA kind {other:?} (only \"embedded\" is supported so far)"),
        ),
    }
    let dir = match &raw.dir {
        Some(d) => p
            .check("ca.dir", nonempty_path(d))
            .map(|d| resolve(base, d)),
        None => Some(data_dir.join("ca")),
    };
    let kek_file = match &raw.kek_file {
        Some(d) => p
            .check("ca.kek_file", nonempty_path(d))
            .map(|d| resolve(base, d)),
        None => Some(data_dir.join("ca.kek")),
    };
    let crl_base_url = match &raw.crl_base_url {
        Some(u) => p.check("ca.crl_base_url", http_url(u)).map(Some),
        None => Some(None),
    };
    if p.0.len() > before {
        return None;
    }
    Some(CaConfig::Embedded {
        dir: dir?,
        kek_file: kek_file?,
        crl_base_url: crl_base_url?,
    })
}

fn http_url(u: &str) -> Result<String, String> {
    let rest = u
        .strip_prefix("http://")
        .or(u.strip_prefix("https://"))
        .ok_or_else(|| format!("{u:?} is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("{u:?} has no valid host"));
    }
    Ok(u.trim_end_matches('/').to_owned())
}

fn validate_prov_cert(
    raw: &RawProvisioningCertificate,
    i: usize,
    base: &Path,
    p: &mut Problems,
) -> Option<ProvisioningCertificate> {
    let at = |key: &str| format!("provisioning_certificate[{i}].{key}");
    let before = p.0.len();
    if raw.password.is_some() {
        p.add(
            at("password"),
            "secrets never go in the config file: put the password in an environment variable and name it with pkcs12_password_env",
        );
    }
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("certificate-{i}"));
    if name.trim().is_empty() {
        p.add(at("name"), "must not be empty");
    }
    let source = match (&raw.pkcs12, &raw.chain, &raw.key) {
        (Some(pfx), None, None) => {
            let password_env = match &raw.pkcs12_password_env {
                Some(v) => env_name(p, &at("pkcs12_password_env"), Some(v)),
                None => {
                    p.add(
                        at("pkcs12_password_env"),
                        "is required with pkcs12: the name of the environment variable holding the PKCS#12 password",
                    );
                    None
                }
            };
            let path = p.check(&at("pkcs12"), nonempty_path(pfx));
            match (path, password_env) {
                (Some(path), Some(password_env)) => Some(ProvisioningCertificateSource::Pkcs12 {
                    path: resolve(base, path),
                    password_env,
                }),
                _ => None,
            }
        }
        (None, Some(chain), Some(key)) => {
            if raw.pkcs12_password_env.is_some() {
                p.add(
                    at("pkcs12_password_env"),
                    "is only used with pkcs12 (the PEM key must be unencrypted)",
                );
            }
            let chain = p.check(&at("chain"), nonempty_path(chain));
            let key = p.check(&at("key"), nonempty_path(key));
            match (chain, key) {
                (Some(chain), Some(key)) => Some(ProvisioningCertificateSource::Pem {
                    chain: resolve(base, chain),
                    key: resolve(base, key),
                }),
                _ => None,
            }
        }
        (None, Some(_), None) => {
            p.add(at("key"), "is required with chain");
            None
        }
        (None, None, Some(_)) => {
            p.add(at("chain"), "is required with key");
            None
        }
        (None, None, None) => {
            p.add(
                format!("provisioning_certificate[{i}]"),
                "needs either pkcs12 (+ pkcs12_password_env) or chain + key",
            );
            None
        }
        (Some(_), _, _) => {
            p.add(
                format!("provisioning_certificate[{i}]"),
                "give either pkcs12 or chain + key, not both",
            );
            None
        }
    };
    if p.0.len() > before {
        return None;
    }
    Some(ProvisioningCertificate {
        name,
        source: source?,
    })
}

pub(super) fn default_profile() -> Profile {
    Profile {
        name: DEFAULT_PROFILE.to_owned(),
        tls: TlsMode::ServerAuth,
        accept_non_secure: false,
        digest_users: Vec::new(),
        user_consent: UserConsent::Kvm,
        redirection: Redirection {
            sol: true,
            ider: true,
            kvm: true,
        },
        clock_sync: true,
        trusted_cns: Vec::new(),
        mebx_password: MebxPassword::Random,
        admin_password_length: DEFAULT_ADMIN_PASSWORD_LENGTH,
        deadline: DEFAULT_RUN_DEADLINE,
    }
}

/// Validates one profile read from a profile file (not a config): its problems, all at once.
pub(super) fn validate_one_profile(raw: &RawProfile) -> Result<Profile, ConfigError> {
    let mut p = Problems::default();
    match validate_profile(raw, 0, &mut p) {
        Some(profile) if p.0.is_empty() => Ok(profile),
        _ => Err(ConfigError::Invalid(p.0)),
    }
}

/// Realm names in the config file (kebab-case of the AMT realm).
pub(super) const REALMS: &[(&str, Realm)] = &[
    ("redirection", Realm::Redirection),
    ("pt-administration", Realm::PtAdministration),
    ("hardware-asset", Realm::HardwareAsset),
    ("remote-control", Realm::RemoteControl),
    ("storage", Realm::Storage),
    ("event-manager", Realm::EventManager),
    ("storage-admin", Realm::StorageAdmin),
    ("agent-presence-local", Realm::AgentPresenceLocal),
    ("agent-presence-remote", Realm::AgentPresenceRemote),
    ("circuit-breaker", Realm::CircuitBreaker),
    ("network-time", Realm::NetworkTime),
    ("general-info", Realm::GeneralInfo),
    ("firmware-update", Realm::FirmwareUpdate),
    ("eit", Realm::Eit),
    ("local-un", Realm::LocalUn),
    ("endpoint-access-control", Realm::EndpointAccessControl),
    (
        "endpoint-access-control-admin",
        Realm::EndpointAccessControlAdmin,
    ),
    ("event-log-reader", Realm::EventLogReader),
    ("audit-log", Realm::AuditLog),
    ("acl", Realm::Acl),
    ("local-system", Realm::LocalSystem),
];

/// AMT digest user names: 1-16 printable ASCII characters without `:,<>&"` or spaces.
fn digest_user_name(s: &str) -> Result<String, String> {
    let ok = (1..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b":,<>&\"".contains(&b));
    if !ok {
        return Err(format!(
            "{s:?} is not a valid AMT user name (1-16 printable characters, none of :,<>&\" or space)"
        ));
    }
    if s.eq_ignore_ascii_case("admin") {
        return Err("\"admin\" is the device's admin account, which amtd manages itself".into());
    }
    Ok(s.to_owned())
}

fn validate_profile(raw: &RawProfile, i: usize, p: &mut Problems) -> Option<Profile> {
    let at = |key: &str| format!("profile[{i}].{key}");
    let before = p.0.len();
    let name = match &raw.name {
        Some(n) => p.check(&at("name"), profile_name(n).map(str::to_owned)),
        None => {
            p.add(at("name"), "is required");
            None
        }
    };
    let tls = match raw.tls.as_deref() {
        None | Some("server-auth") => Some(TlsMode::ServerAuth),
        Some("mutual") => Some(TlsMode::Mutual),
        Some(other) => {
            p.add(
                at("tls"),
                format!("unknown mode {other:?} (server-auth or mutual)"),
            );
            None
        }
    };
    let user_consent = match raw.user_consent.as_deref() {
        Some("none") => Some(UserConsent::None),
        None | Some("kvm") => Some(UserConsent::Kvm),
        Some("all") => Some(UserConsent::All),
        Some(other) => {
            p.add(
                at("user_consent"),
                format!("unknown policy {other:?} (none, kvm or all)"),
            );
            None
        }
    };
    let mut users = Vec::new();
    let mut user_names = BTreeSet::new();
    for (j, u) in raw.digest_user.iter().enumerate() {
        let uat = |key: &str| format!("profile[{i}].digest_user[{j}].{key}");
        if u.password.is_some() {
            p.add(
                uat("password"),
                "secrets never go in the file: put the password in an environment variable and name it with password_env",
            );
        }
        let name = match &u.name {
            Some(n) => p.check(&uat("name"), digest_user_name(n)),
            None => {
                p.add(uat("name"), "is required");
                None
            }
        };
        if let Some(n) = &name {
            if !user_names.insert(n.to_ascii_lowercase()) {
                p.add(uat("name"), format!("{n:?} appears twice in this profile"));
            }
        }
        let password_env = match &u.password_env {
            Some(v) => env_name(p, &uat("password_env"), Some(v)),
            None => {
                p.add(
                    uat("password_env"),
                    "is required: the name of the environment variable holding the password",
                );
                None
            }
        };
        if u.realms.is_empty() {
            p.add(uat("realms"), "must list at least one realm");
        }
        let mut realms = Vec::new();
        for (k, r) in u.realms.iter().enumerate() {
            match REALMS.iter().find(|(n, _)| n == r) {
                Some((_, realm)) if !realms.contains(realm) => realms.push(*realm),
                Some(_) => p.add(
                    format!("{}[{k}]", uat("realms")),
                    format!("{r:?} is listed twice"),
                ),
                None => p.add(
                    format!("{}[{k}]", uat("realms")),
                    format!("unknown realm {r:?} (one of: {})", realm_names()),
                ),
            }
        }
        let access = match u.access.as_deref() {
            None => Some(DigestAccess::Network),
            Some(a) => p.check(
                &uat("access"),
                DigestAccess::from_name(a).ok_or_else(|| {
                    format!("unknown access {a:?} (network, local or local-and-network)")
                }),
            ),
        };
        if let (Some(name), Some(password_env), Some(access)) = (name, password_env, access) {
            users.push(DigestUser {
                name,
                password_env,
                realms,
                access,
            });
        }
    }
    if users.len() > MAX_DIGEST_USERS {
        p.add(
            at("digest_user"),
            format!("at most {MAX_DIGEST_USERS} digest users per profile"),
        );
    }
    let mut trusted_cns = Vec::new();
    for (k, cn) in raw.trusted_cns.iter().flatten().enumerate() {
        if cn.is_empty() || cn.len() > 64 || cn.chars().any(char::is_control) {
            p.add(
                format!("{}[{k}]", at("trusted_cns")),
                format!("{cn:?} is not a certificate CN (1-64 characters)"),
            );
        } else {
            trusted_cns.push(cn.clone());
        }
    }
    if trusted_cns.len() > MAX_TRUSTED_CNS {
        p.add(
            at("trusted_cns"),
            format!("at most {MAX_TRUSTED_CNS} names"),
        );
    }
    let mebx_env = env_name(p, &at("mebx_password_env"), raw.mebx_password_env.as_ref());
    let mebx_password = match (
        raw.mebx_password.as_deref(),
        raw.mebx_password_env.is_some(),
    ) {
        (None | Some("random"), false) => Some(MebxPassword::Random),
        (Some("keep"), false) => Some(MebxPassword::Keep),
        (Some("fixed"), true) => mebx_env.map(|password_env| MebxPassword::Fixed { password_env }),
        (Some("fixed"), false) => {
            p.add(
                at("mebx_password_env"),
                "is required with mebx_password = \"fixed\": the variable holding the password",
            );
            None
        }
        (None | Some("random" | "keep"), true) => {
            p.add(
                at("mebx_password_env"),
                "is only used with mebx_password = \"fixed\"",
            );
            None
        }
        (Some(other), _) => {
            p.add(
                at("mebx_password"),
                format!("unknown policy {other:?} (random, keep or fixed)"),
            );
            None
        }
    };
    let admin_password_length = match raw.admin_password_length {
        Some(n) => p.check(
            &at("admin_password_length"),
            count(n, 8, 32).map_err(|_| format!("{n} is outside 8..=32 (AMT's password rules)")),
        ),
        None => Some(DEFAULT_ADMIN_PASSWORD_LENGTH),
    };
    let deadline = match &raw.deadline {
        Some(d) => p.check(
            &at("deadline"),
            duration(d).and_then(|d| {
                if d.as_secs() == 0 || d > MAX_RUN_DEADLINE {
                    Err(format!("{d:?} is outside 1s..=24h"))
                } else {
                    Ok(d)
                }
            }),
        ),
        None => Some(DEFAULT_RUN_DEADLINE),
    };
    if p.0.len() > before {
        return None;
    }
    let d = default_profile();
    Some(Profile {
        name: name?,
        tls: tls?,
        accept_non_secure: raw.accept_non_secure.unwrap_or(d.accept_non_secure),
        digest_users: users,
        user_consent: user_consent?,
        redirection: Redirection {
            sol: raw.redirection.sol.unwrap_or(d.redirection.sol),
            ider: raw.redirection.ider.unwrap_or(d.redirection.ider),
            kvm: raw.redirection.kvm.unwrap_or(d.redirection.kvm),
        },
        clock_sync: raw.clock_sync.unwrap_or(d.clock_sync),
        trusted_cns,
        mebx_password: mebx_password?,
        admin_password_length: admin_password_length?,
        deadline: deadline?,
    })
}

/// Most digest users one profile may create (AMT keeps a small ACL table).
const MAX_DIGEST_USERS: usize = 32;

/// Most trusted CNs one profile may list.
const MAX_TRUSTED_CNS: usize = 16;

fn validate_fqdn(raw: &RawFqdn, p: &mut Problems) -> Option<FqdnConfig> {
    let before = p.0.len();
    let all = [
        FqdnStrategy::ReverseDns,
        FqdnStrategy::DhcpLease,
        FqdnStrategy::DeviceSettings,
        FqdnStrategy::OperatorMapping,
    ];
    let strategies = match &raw.strategies {
        None => all.to_vec(),
        Some(names) => {
            if names.is_empty() {
                p.add("fqdn.strategies", "must list at least one strategy");
            }
            let mut out = Vec::new();
            for (i, n) in names.iter().enumerate() {
                match all.iter().find(|s| s.name() == n) {
                    Some(s) if out.contains(s) => {
                        p.add(format!("fqdn.strategies[{i}]"), format!("{n:?} is listed twice"))
                    }
                    Some(s) => out.push(*s),
                    None => p.add(
                        format!("fqdn.strategies[{i}]"),
                        format!(
                            "unknown strategy {n:?} (reverse-dns, dhcp-lease, device-settings or operator-mapping)"
                        ),
                    ),
                }
            }
            out
        }
    };
    let mut mapping = BTreeMap::new();
    for (uuid, fqdn) in &raw.mapping {
        let at = format!("fqdn.mapping.{uuid:?}");
        let uuid = match uuid.parse::<Uuid16>() {
            Ok(u) if u.is_bogus() => {
                p.add(&at, "an all-zero or all-FF UUID identifies no device");
                continue;
            }
            Ok(u) => u,
            Err(_) => {
                p.add(&at, "the key is not a UUID (8-4-4-4-12 hexadecimal)");
                continue;
            }
        };
        if let Some(fqdn) = p.check(&at, dns_name(fqdn)) {
            if mapping.insert(uuid, fqdn).is_some() {
                p.add(
                    &at,
                    "the same UUID is mapped twice (keys differ only in case)",
                );
            }
        }
    }
    if !raw.mapping.is_empty() && !strategies.contains(&FqdnStrategy::OperatorMapping) {
        p.add(
            "fqdn.mapping",
            "has entries, but \"operator-mapping\" is not among fqdn.strategies",
        );
    }
    (p.0.len() == before).then_some(FqdnConfig {
        strategies,
        mapping,
    })
}

fn validate_dns(raw: &RawDns, p: &mut Problems) -> Option<DnsConfig> {
    let before = p.0.len();
    let resolver = raw
        .resolver
        .as_ref()
        .and_then(|r| p.check("dns.resolver", socket_addr(r, Some(53))));
    let tsig = raw.tsig.as_ref().and_then(|t| {
        if t.secret.is_some() {
            p.add(
                "dns.tsig.secret",
                "secrets never go in the file: put the base64 secret in an environment variable and name it in secret_env",
            );
        }
        let name = match &t.key_name {
            Some(n) => p.check("dns.tsig.key_name", dns_name(n)),
            None => {
                p.add("dns.tsig.key_name", "is required (the key's name on the DNS server)");
                None
            }
        };
        let algorithm = match t.algorithm.as_deref().unwrap_or("hmac-sha256") {
            "hmac-sha256" => Some(TsigAlgorithm::HmacSha256),
            "hmac-sha384" => Some(TsigAlgorithm::HmacSha384),
            "hmac-sha512" => Some(TsigAlgorithm::HmacSha512),
            other => {
                p.add(
                    "dns.tsig.algorithm",
                    format!("{other:?} is not supported (hmac-sha256, hmac-sha384 or hmac-sha512)"),
                );
                None
            }
        };
        let secret_env = match &t.secret_env {
            Some(v) => env_name(p, "dns.tsig.secret_env", Some(v)),
            None => {
                p.add("dns.tsig.secret_env", "is required (the variable holding the base64 secret)");
                None
            }
        };
        Some(TsigKeyConfig {
            name: name?,
            algorithm: algorithm?,
            secret_env: secret_env?,
        })
    });
    let defaults = DnsUpdateConfig::default();
    let update = DnsUpdateConfig {
        enabled: raw.update.enabled.unwrap_or(defaults.enabled),
        server: raw
            .update
            .server
            .as_ref()
            .and_then(|s| p.check("dns.update.server", socket_addr(s, Some(53)))),
        ttl: match raw.update.ttl {
            None => defaults.ttl,
            Some(v) => p
                .check("dns.update.ttl", count(v, 0, 604_800))
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(defaults.ttl),
        },
    };
    if update.enabled && raw.tsig.is_none() {
        p.add(
            "dns.update.enabled",
            "RFC 2136 updates are signed: configure the key in [dns.tsig]",
        );
    }
    if update.enabled && update.server.is_none() && resolver.is_none() {
        p.add(
            "dns.update.server",
            "is required when [dns] resolver is not set (where do updates go?)",
        );
    }
    (p.0.len() == before).then_some(DnsConfig {
        resolver,
        tsig,
        update,
    })
}

fn validate_dhcp(raw: &RawDhcp, base: &Path, p: &mut Problems) -> Option<DhcpConfig> {
    let before = p.0.len();
    let path = |p: &mut Problems, key: &str, v: &Option<String>| {
        v.as_ref()
            .and_then(|v| p.check(key, nonempty_path(v)).map(|v| resolve(base, v)))
    };
    let kea_lease_file = path(p, "dhcp.kea_lease_file", &raw.kea_lease_file);
    let kea_control_socket = path(p, "dhcp.kea_control_socket", &raw.kea_control_socket);
    (p.0.len() == before).then_some(DhcpConfig {
        kea_lease_file,
        kea_control_socket,
    })
}

/// Longest `[check]` wait or skew.
const MAX_CHECK_DURATION: Duration = Duration::from_secs(86_400);

fn validate_check(raw: &RawCheck, p: &mut Problems) -> Option<CheckConfig> {
    let before = p.0.len();
    let defaults = CheckConfig::default();
    let domain = raw
        .domain
        .as_ref()
        .and_then(|d| p.check("check.domain", dns_name(d)));
    let interface = raw.interface.as_ref().and_then(|i| {
        let ok = !i.is_empty()
            && i.len() <= 15
            && i.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        p.check(
            "check.interface",
            if ok {
                Ok(i.clone())
            } else {
                Err(format!(
                    "{i:?} is not a network interface name (1-15 characters)"
                ))
            },
        )
    });
    let mut server_addresses = Vec::new();
    for (i, a) in raw.server_addresses.iter().enumerate() {
        if let Some(ip) = p.check(
            &format!("check.server_addresses[{i}]"),
            a.parse::<IpAddr>()
                .map_err(|_| format!("{a:?} is not an IP address")),
        ) {
            server_addresses.push(ip);
        }
    }
    let mut time_servers = Vec::new();
    for (i, a) in raw.time_servers.iter().enumerate() {
        if let Some(sa) = p.check(
            &format!("check.time_servers[{i}]"),
            socket_addr(a, Some(123)),
        ) {
            time_servers.push(sa);
        }
    }
    let mut bounded = |key: &str, v: &Option<String>, default: Duration| match v {
        None => Some(default),
        Some(text) => p.check(
            &format!("check.{key}"),
            duration(text).and_then(|d| {
                if d.is_zero() || d > MAX_CHECK_DURATION {
                    Err(format!("{text:?} is outside 1ms..=24h"))
                } else {
                    Ok(d)
                }
            }),
        ),
    };
    let max_clock_skew = bounded(
        "max_clock_skew",
        &raw.max_clock_skew,
        defaults.max_clock_skew,
    );
    let ddns_timeout = bounded("ddns_timeout", &raw.ddns_timeout, defaults.ddns_timeout);
    let mut device_root_hashes = Vec::new();
    for (i, h) in raw.device_root_hashes.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let ok = h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(h) = p.check(
            &format!("check.device_root_hashes[{i}]"),
            if ok {
                Ok(h.clone())
            } else {
                Err(format!(
                    "{h:?} is not a SHA-256 hash (64 hexadecimal digits)"
                ))
            },
        ) {
            device_root_hashes.push(h);
        }
    }
    if p.0.len() > before {
        return None;
    }
    Some(CheckConfig {
        domain,
        interface,
        server_addresses,
        time_servers,
        max_clock_skew: max_clock_skew?,
        ddns_timeout: ddns_timeout?,
        device_root_hashes,
    })
}

fn validate_lab(
    raw: &RawLab,
    raw_profiles: &[RawProfile],
    profile_names: &BTreeSet<String>,
    p: &mut Problems,
) -> Option<LabConfig> {
    let before = p.0.len();
    let domain = match &raw.domain {
        Some(d) => p.check("lab.domain", dns_name(d)),
        None => Some(DEFAULT_LAB_DOMAIN.to_owned()),
    };
    let devices = match raw.devices {
        Some(v) => p
            .check("lab.devices", count(v, 1, i64::from(MAX_LAB_DEVICES)))
            .and_then(|n| u32::try_from(n).ok()),
        None => Some(DEFAULT_LAB_DEVICES),
    };
    let profile = match &raw.profile {
        Some(name) => {
            let defined = raw_profiles.iter().any(|r| r.name.as_ref() == Some(name))
                || (raw_profiles.is_empty() && name == DEFAULT_PROFILE);
            if !defined {
                p.add(
                    "lab.profile",
                    format!(
                        "no [[profile]] is named {name:?} (defined: {})",
                        profile_names
                            .iter()
                            .map(|n| format!("{n:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            Some(name.clone())
        }
        // The first profile in the file, or the built-in one.
        None => Some(
            raw_profiles
                .first()
                .and_then(|r| r.name.clone())
                .unwrap_or_else(|| DEFAULT_PROFILE.to_owned()),
        ),
    };
    if p.0.len() > before {
        return None;
    }
    Some(LabConfig {
        domain: domain?,
        devices: devices?,
        profile: profile?,
    })
}

/// Longest interval between maintenance passes.
const MAX_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(7 * 86_400);

fn validate_maintenance(raw: &RawMaintenance, p: &mut Problems) -> Option<MaintenanceConfig> {
    let before = p.0.len();
    let defaults = MaintenanceConfig::default();
    let mut interval = |key: &str, v: &Option<String>, default: Duration| match v {
        None => Some(default),
        Some(text) => p.check(
            &format!("maintenance.{key}"),
            duration(text).and_then(|d| {
                if d < Duration::from_secs(1) || d > MAX_MAINTENANCE_INTERVAL {
                    Err(format!("{text:?} is outside 1s..=168h"))
                } else {
                    Ok(d)
                }
            }),
        ),
    };
    let crl_interval = interval("crl_interval", &raw.crl_interval, defaults.crl_interval);
    let every = interval("interval", &raw.interval, defaults.interval);
    let days = |p: &mut Problems, key: &str, v: Option<i64>, default: u32, min: i64| match v {
        None => Some(default),
        Some(n) => p
            .check(&format!("maintenance.{key}"), count(n, min, 3650))
            .and_then(|n| u32::try_from(n).ok()),
    };
    let renew_before_days = days(
        p,
        "renew_before_days",
        raw.renew_before_days,
        defaults.renew_before_days,
        1,
    );
    let rotate_admin_password_days = days(
        p,
        "rotate_admin_password_days",
        raw.rotate_admin_password_days,
        defaults.rotate_admin_password_days,
        0,
    );
    let clock_skew_secs = match raw.clock_skew_secs {
        None => Some(defaults.clock_skew_secs),
        Some(n) => p
            .check("maintenance.clock_skew_secs", count(n, 1, 86_400))
            .map(|n| n as u64),
    };
    let concurrency = match raw.concurrency {
        None => Some(defaults.concurrency),
        Some(n) => p.check("maintenance.concurrency", count(n, 1, 1024)),
    };
    let mut crl_urls = Vec::new();
    for (i, u) in raw.crl_urls.iter().flatten().enumerate() {
        let plain_http = http_url(u).and_then(|u| {
            if u.starts_with("http://") {
                Ok(u)
            } else {
                Err(format!(
                    "{u:?}: CRLs are fetched over http:// (they are signed)"
                ))
            }
        });
        if let Some(u) = p.check(&format!("maintenance.crl_urls[{i}]"), plain_http) {
            crl_urls.push(u);
        }
    }
    if p.0.len() > before {
        return None;
    }
    Some(MaintenanceConfig {
        enabled: raw.enabled.unwrap_or(defaults.enabled),
        crl_interval: crl_interval?,
        interval: every?,
        renew_before_days: renew_before_days?,
        rotate_admin_password_days: rotate_admin_password_days?,
        clock_skew_secs: clock_skew_secs?,
        crl_urls,
        concurrency: concurrency?,
    })
}
