//! Parsing: raw, loosely typed structs. Numbers are `i64` and modes are strings, so that a
//! value out of range gets validation's message (with every other problem) instead of stopping
//! the parse.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) server: RawServer,
    pub(super) store: RawStore,
    pub(super) ca: RawCa,
    pub(super) provisioning_certificate: Vec<RawProvisioningCertificate>,
    pub(super) profile: Vec<RawProfile>,
    pub(super) fqdn: RawFqdn,
    pub(super) dns: RawDns,
    pub(super) lab: RawLab,
    pub(super) maintenance: RawMaintenance,
    pub(super) dhcp: RawDhcp,
    pub(super) check: RawCheck,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) data_dir: Option<String>,
    pub(super) api_bind: Option<String>,
    pub(super) hello_bind: Option<String>,
    pub(super) hello_port: Option<i64>,
    pub(super) hello_read_timeout: Option<String>,
    pub(super) hello_max_connections: Option<i64>,
    pub(super) hello_rate_per_second: Option<f64>,
    pub(super) hello_rate_burst: Option<i64>,
    pub(super) hello_rate_max_sources: Option<i64>,
    pub(super) hello_trailing_bytes: Option<String>,
    pub(super) sol_idle_timeout: Option<String>,
    pub(super) api_tls: RawApiTls,
    pub(super) auth: RawServerAuth,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServerAuth {
    pub(super) session_lifetime: Option<String>,
    pub(super) idle_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawApiTls {
    pub(super) mode: Option<String>,
    pub(super) cert_file: Option<String>,
    pub(super) key_file: Option<String>,
    pub(super) ca_file: Option<String>,
    pub(super) names: Option<Vec<String>>,
    pub(super) allow_plain_http: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    pub(super) url: Option<String>,
    pub(super) password_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCa {
    pub(super) kind: Option<String>,
    pub(super) dir: Option<String>,
    pub(super) kek_file: Option<String>,
    pub(super) crl_base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProvisioningCertificate {
    pub(super) name: Option<String>,
    pub(super) pkcs12: Option<String>,
    pub(super) pkcs12_password_env: Option<String>,
    pub(super) chain: Option<String>,
    pub(super) key: Option<String>,
    /// Present only to say why it is refused (secrets never go in the file).
    pub(super) password: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProfile {
    pub(super) name: Option<String>,
    pub(super) tls: Option<String>,
    pub(super) accept_non_secure: Option<bool>,
    pub(super) digest_user: Vec<RawDigestUser>,
    pub(super) user_consent: Option<String>,
    pub(super) redirection: RawRedirection,
    pub(super) clock_sync: Option<bool>,
    pub(super) trusted_cns: Option<Vec<String>>,
    pub(super) mebx_password: Option<String>,
    pub(super) mebx_password_env: Option<String>,
    pub(super) admin_password_length: Option<i64>,
    pub(super) deadline: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDigestUser {
    pub(super) name: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) realms: Vec<String>,
    pub(super) access: Option<String>,
    /// Present only to say why it is refused (secrets never go in the file).
    pub(super) password: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRedirection {
    pub(super) sol: Option<bool>,
    pub(super) ider: Option<bool>,
    pub(super) kvm: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFqdn {
    pub(super) strategies: Option<Vec<String>>,
    pub(super) mapping: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDns {
    pub(super) resolver: Option<String>,
    pub(super) tsig: Option<RawTsig>,
    pub(super) update: RawDnsUpdate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTsig {
    pub(super) key_name: Option<String>,
    pub(super) algorithm: Option<String>,
    pub(super) secret_env: Option<String>,
    /// Present only to say why it is refused (secrets never go in the file).
    pub(super) secret: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDnsUpdate {
    pub(super) enabled: Option<bool>,
    pub(super) server: Option<String>,
    pub(super) ttl: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDhcp {
    pub(super) kea_lease_file: Option<String>,
    pub(super) kea_control_socket: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCheck {
    pub(super) domain: Option<String>,
    pub(super) interface: Option<String>,
    pub(super) server_addresses: Vec<String>,
    pub(super) time_servers: Vec<String>,
    pub(super) max_clock_skew: Option<String>,
    pub(super) ddns_timeout: Option<String>,
    pub(super) device_root_hashes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLab {
    pub(super) domain: Option<String>,
    pub(super) devices: Option<i64>,
    pub(super) profile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMaintenance {
    pub(super) enabled: Option<bool>,
    pub(super) crl_interval: Option<String>,
    pub(super) interval: Option<String>,
    pub(super) renew_before_days: Option<i64>,
    pub(super) rotate_admin_password_days: Option<i64>,
    pub(super) clock_skew_secs: Option<i64>,
    pub(super) crl_urls: Option<Vec<String>>,
    pub(super) concurrency: Option<i64>,
}

pub(super) fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    parse_as(text)
}

/// A profile file (`amtd profile NAME set --file`): either one `[[profile]]` entry in the
/// config's shape, or the entry's keys at the top level (`tls = …`, `[redirection]`,
/// `[[digest_user]]`). With several `[[profile]]` entries, the one called `name` is taken.
pub(super) fn parse_profile(text: &str, name: &str) -> Result<RawProfile, ConfigError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapped {
        profile: Vec<RawProfile>,
    }
    let wrapped = text
        .parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("profile"));
    let mut raw = if wrapped {
        let all = parse_as::<Wrapped>(text)?.profile;
        let count = all.len();
        let mut matching: Vec<RawProfile> = all
            .into_iter()
            .filter(|p| count == 1 || p.name.as_deref() == Some(name))
            .collect();
        match matching.pop() {
            Some(p) if matching.is_empty() => p,
            _ => {
                return Err(ConfigError::Syntax {
                    path: "profile".into(),
                    line: None,
                    column: None,
                    message: format!(
                        "the file has {count} [[profile]] entries and not exactly one is named \
                         {name:?}"
                    ),
                })
            }
        }
    } else {
        parse_as::<RawProfile>(text)?
    };
    if raw.name.is_none() {
        raw.name = Some(name.to_owned());
    }
    Ok(raw)
}

fn parse_as<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let syntax = |path: String, e: toml::de::Error| {
        let (line, column) = match e.span() {
            Some(span) => {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError::Syntax {
            path,
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| syntax(".".into(), e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        syntax(path, e.into_inner())
    })
}
