//! The server's configuration (SPEC O4): one TOML file, `amtd serve --config amtd.toml`.
//!
//! Two stages. **Parsing** (serde, `deny_unknown_fields` on every table) turns the text into
//! raw structs whose fields are plain strings and numbers; an unknown key or a value of the
//! wrong type stops it with the key path and the line
//! (``profile[0].tlss: unknown field `tlss`, expected one of … (line 3, column 1)``).
//! **Validation** then checks every value, resolves defaults and relative paths, and builds the
//! runtime types ([`Config`]); it does not stop at the first problem but reports all of them
//! at once, each with its key path (`profile[1].tls: unknown mode "mtls"`).
//!
//! An empty file is a valid configuration: every key has an embedded default (a data directory
//! `amtd-data` holding the SQLite database and the embedded CA, listeners on loopback). Relative
//! paths are relative to the directory of the configuration file. Secrets never appear in the
//! file: it names environment variables (`*_env` keys) and [`EnvVarName::read`] fetches them
//! when they are needed. `examples/amtd.toml` documents every key.
//!
//! This module must stay free of I/O other than reading the file itself (no files or
//! environment variables are checked at load time), so that configs can be validated anywhere.
//! Secrets read later ([`EnvVarName::read`]) come back as `SecretString` (redacted `Debug`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use amt_wire::hello::Uuid16;
use amt_wsman::classes::amt::Realm;
use amt_wsman::secret::SecretString;
use amtd_infra::hello_listener::HelloListenerConfig;

/// Default REST API address: loopback, next to the hello port.
pub const DEFAULT_API_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9972);

/// Default data directory (relative to the configuration file's directory).
pub const DEFAULT_DATA_DIR: &str = "amtd-data";

/// Default lab domain, the same as `amtd sim --domain`.
pub const DEFAULT_LAB_DOMAIN: &str = "amt.test";

/// Default number of emulated devices in `amtd lab`.
pub const DEFAULT_LAB_DEVICES: u32 = 20;

/// Most emulated devices a lab may ask for.
pub const MAX_LAB_DEVICES: u32 = 100_000;

/// Name of the profile that exists when the file defines none.
pub const DEFAULT_PROFILE: &str = "default";

// Explicit paths, so that the same file also works when a test includes it with `#[path]`.
#[path = "config/raw.rs"]
mod raw;
#[path = "config/validate.rs"]
mod validate;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One invalid value: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, for example `profile[1].tls` or `fqdn.mapping."not-a-uuid"`.
    pub path: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not TOML, has an unknown key, or a value of the wrong type.
    #[error("{path}: {message}{}", location(*.line, *.column))]
    Syntax {
        /// Key path of the offending item (`.` for the top level).
        path: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// The parser's message (for unknown keys it names the key and the expected ones).
        message: String,
    },
    /// Values that are well-typed but wrong; every problem found is listed.
    #[error("{} invalid value(s) in the config:\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
    /// An environment variable named in the config is not set (or not UTF-8).
    #[error("environment variable {name} (named by the config) is not set or not UTF-8")]
    MissingEnv {
        /// The variable's name.
        name: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Runtime types
// ---------------------------------------------------------------------------------------------

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[server]`: directories and listeners.
    pub server: ServerConfig,
    /// `[store]`: the database.
    pub store: StoreConfig,
    /// `[ca]`: the certificate authority that issues device certificates.
    pub ca: CaConfig,
    /// `[[provisioning_certificate]]`: certificates presented to devices at connect-back.
    pub provisioning_certificates: Vec<ProvisioningCertificate>,
    /// `[[profile]]`: management profiles pushed at provisioning (at least one).
    pub profiles: Vec<Profile>,
    /// `[fqdn]`: how a device's FQDN is found.
    pub fqdn: FqdnConfig,
    /// `[dns]`: name resolution.
    pub dns: DnsConfig,
    /// `[lab]`: `amtd lab`'s emulated fleet.
    pub lab: LabConfig,
    /// `[maintenance]`: the scheduled maintenance job (CRL push, renewal, rotation, clocks).
    pub maintenance: MaintenanceConfig,
    /// `[dhcp]`: where the DHCP server's leases are read (FQDN strategy `dhcp-lease`).
    pub dhcp: DhcpConfig,
    /// `[check]`: what `amtd check` expects of the infrastructure (SPEC C1).
    pub check: CheckConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Directory for the database, the CA and runtime files.
    pub data_dir: PathBuf,
    /// Address of the REST API and web UI.
    pub api_bind: SocketAddr,
    /// The hello listener (address, port, timeouts, caps, rate limit).
    pub hello: HelloListenerConfig,
    /// `[server.api_tls]`: TLS on the API listener.
    pub api_tls: ApiTlsConfig,
    /// `[server.auth]`: API sessions.
    pub auth: ServerAuthConfig,
    /// A SOL session through the server (the web console's terminal, `amtd sol <uuid>`) with
    /// nothing typed and no output for this long is closed (`sol_idle_timeout`, default 30 min).
    pub sol_idle_timeout: std::time::Duration,
}

/// A duration as the config writes it (`"10s"`, `"500ms"`, `"2m"`, `"8h"`), for command-line
/// flags that take one; at least 1 s and at most 30 days.
#[allow(dead_code)] // used by `amtd lab`; tests/config_examples.rs includes this file alone
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = validate::duration(s)?;
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(30 * 86_400) {
        return Err(format!("{s:?} is out of range (1s-720h)"));
    }
    Ok(d)
}

/// `[server.auth]`: how long API sessions (`POST /api/v1/login`) last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerAuthConfig {
    /// From login to expiry (`session_lifetime`, default 8 h; 1 s to 30 days).
    pub session_lifetime: std::time::Duration,
    /// A session idle this long ends early (`idle_timeout`; off by default).
    pub idle_timeout: Option<std::time::Duration>,
}

impl Default for ServerAuthConfig {
    fn default() -> Self {
        ServerAuthConfig {
            session_lifetime: std::time::Duration::from_secs(8 * 3600),
            idle_timeout: None,
        }
    }
}

/// `[server.api_tls]`: TLS on the API listener. With TLS on, the listener still answers plain
/// HTTP on the same port, but only for the CRL distribution point (`/crl/…`, which devices
/// fetch over HTTP); everything else is redirected to https.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiTlsConfig {
    /// Where the listener's certificate comes from.
    pub mode: ApiTlsMode,
    /// Extra DNS names for the certificate the embedded CA issues (`localhost` and the bind
    /// address are always in it).
    pub names: Vec<String>,
    /// With mode `off`: allow plain HTTP on an address beyond loopback (`amtd serve` refuses
    /// otherwise).
    pub allow_plain_http: bool,
}

/// Where the API listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ApiTlsMode {
    /// Plain HTTP (the default; allowed beyond loopback only with `allow_plain_http`).
    #[default]
    Off,
    /// A certificate issued by the embedded CA, kept in the data directory and re-issued when
    /// less than 30 days are left or the names change.
    EmbeddedCa,
    /// A certificate chain and key from PEM files.
    Files {
        /// The certificate chain (leaf first).
        cert_file: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key_file: PathBuf,
        /// The CA certificate(s) that verify the chain, announced to the CLI in server.json.
        ca_file: Option<PathBuf>,
    },
}

/// `[store]`: where provisioning state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite file (the default: `<data_dir>/amtd.sqlite`).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database shared by several amtd instances.
    Postgres {
        /// `postgres://user@host:port/db` without a password.
        url: String,
        /// The variable holding the password, if the server needs one.
        password_env: Option<EnvVarName>,
    },
}

/// `[ca]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaConfig {
    /// The embedded CA (`amtd ca init` creates it).
    Embedded {
        /// The CA store directory.
        dir: PathBuf,
        /// The key-encryption key file that seals the CA keys.
        kek_file: PathBuf,
        /// Base URL the CRLs are published under (written into issued certificates).
        crl_base_url: Option<String>,
    },
}

/// A provisioning certificate: a chain whose leaf carries the AMT setup OID, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningCertificate {
    /// A name for logs and reports.
    pub name: String,
    /// Where the chain and key are.
    pub source: ProvisioningCertificateSource,
}

/// Where a provisioning certificate is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisioningCertificateSource {
    /// A PKCS#12 (PFX) file and the variable holding its password.
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// The variable holding its password.
        password_env: EnvVarName,
    },
    /// PEM files: the chain (leaf first) and the unencrypted private key.
    Pem {
        /// Leaf, intermediates and (optionally) the root, leaf first.
        chain: PathBuf,
        /// The leaf's private key.
        key: PathBuf,
    },
}

/// A management profile pushed to devices at provisioning (SPEC P5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Unique name.
    pub name: String,
    /// TLS mode of the device's 16993 after provisioning.
    pub tls: TlsMode,
    /// Keep plain HTTP 16992 open as well.
    pub accept_non_secure: bool,
    /// Digest accounts created on the device (besides the admin account amtd manages).
    pub digest_users: Vec<DigestUser>,
    /// When the device asks the local user for consent.
    pub user_consent: UserConsent,
    /// Which redirection features are enabled.
    pub redirection: Redirection,
    /// Set the device clock at provisioning (and keep it in sync).
    pub clock_sync: bool,
    /// Client certificate CNs accepted with mutual TLS (empty: any under the trusted root).
    pub trusted_cns: Vec<String>,
    /// How the MEBx password is chosen.
    pub mebx_password: MebxPassword,
    /// Length of the generated per-device admin password (8..=32).
    pub admin_password_length: usize,
    /// Deadline of a whole provisioning run.
    pub deadline: std::time::Duration,
}

/// Default length of the generated admin password.
pub const DEFAULT_ADMIN_PASSWORD_LENGTH: usize = 16;

/// Default deadline of a provisioning run.
pub const DEFAULT_RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Longest deadline a profile may set.
pub const MAX_RUN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(86_400);

/// How the MEBx password is chosen (`mebx_password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MebxPassword {
    /// A random password per device, escrowed like the admin password (`random`).
    Random,
    /// Leave the MEBx password alone (`keep`).
    Keep,
    /// One organisation-wide password from an environment variable (`fixed`).
    Fixed {
        /// The variable holding it (`mebx_password_env`).
        password_env: EnvVarName,
    },
}

/// Where a digest account may log in from (`access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAccess {
    /// Over the network only (`network`, the default).
    Network,
    /// From the host only (`local`).
    Local,
    /// Both (`local-and-network`).
    LocalAndNetwork,
}

impl DigestAccess {
    /// Every access mode with its name in the file.
    pub const ALL: [(&'static str, DigestAccess); 3] = [
        ("network", DigestAccess::Network),
        ("local", DigestAccess::Local),
        ("local-and-network", DigestAccess::LocalAndNetwork),
    ];

    /// The name used in files and the API.
    // Used by the binary's profile documents; not by tests/config_examples.rs.
    #[allow(dead_code)]
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("network", |(n, _)| n)
    }

    /// The access mode called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }
}

/// The name of a realm in files and the API (`remote-control`).
// Used by the binary's profile documents; not by tests/config_examples.rs.
#[allow(dead_code)]
pub fn realm_name(realm: Realm) -> Option<&'static str> {
    validate::REALMS
        .iter()
        .find(|(_, r)| *r == realm)
        .map(|(n, _)| *n)
}

/// The realm called `name` in files and the API.
// Used by the binary's profile documents; not by tests/config_examples.rs.
#[allow(dead_code)]
pub fn realm_by_name(name: &str) -> Option<Realm> {
    validate::REALMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
}

/// Every realm name, comma-separated (for messages).
pub fn realm_names() -> String {
    validate::REALMS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a profile name: 1-64 letters, digits, `.`, `_` or `-` (names appear in API paths).
pub fn profile_name(name: &str) -> Result<&str, String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "{name:?} is not a profile name (1-64 letters, digits, '.', '_' or '-')"
        ))
    }
}

impl Profile {
    /// The built-in profile (what a file without `[[profile]]` gets), called `name`.
    // Used by `amtd lab`; not by tests/config_examples.rs.
    #[allow(dead_code)]
    pub fn builtin(name: &str) -> Profile {
        Profile {
            name: name.to_owned(),
            ..validate::default_profile()
        }
    }

    /// Parses and validates a profile file (`amtd profile NAME set --file`): one `[[profile]]`
    /// entry in the config's shape, or its keys at the top level. `name` is used when the file
    /// names none (and picks the entry when it has several). Problems are reported as in the
    /// config, all at once.
    // Used by the CLI; not by tests/config_examples.rs.
    #[allow(dead_code)]
    pub fn from_toml_str(text: &str, name: &str) -> Result<Profile, ConfigError> {
        let raw = raw::parse_profile(text, name)?;
        validate::validate_one_profile(&raw)
    }
}

/// TLS mode pushed to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Server authentication only (`server-auth`).
    ServerAuth,
    /// Mutual TLS: consoles present client certificates (`mutual`).
    Mutual,
}

/// User-consent policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserConsent {
    /// Never ask (`none`).
    None,
    /// Ask before KVM sessions (`kvm`, AMT's default).
    Kvm,
    /// Ask before every redirection and power operation (`all`).
    All,
}

/// Redirection features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirection {
    /// Serial over LAN.
    pub sol: bool,
    /// IDE/storage redirection.
    pub ider: bool,
    /// Remote desktop (KVM).
    pub kvm: bool,
}

/// A digest account on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestUser {
    /// User name.
    pub name: String,
    /// The variable holding its password.
    pub password_env: EnvVarName,
    /// The AMT realms it may use.
    pub realms: Vec<Realm>,
    /// Where it may log in from.
    pub access: DigestAccess,
}

/// `[fqdn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FqdnConfig {
    /// Strategies, tried in this order.
    pub strategies: Vec<FqdnStrategy>,
    /// Operator mapping, UUID → FQDN.
    pub mapping: BTreeMap<Uuid16, String>,
}

/// A way to learn a device's FQDN (SPEC P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FqdnStrategy {
    /// PTR of the hello's source address, confirmed by the forward lookup (`reverse-dns`).
    ReverseDns,
    /// The device's own host and domain (`AMT_GeneralSettings`, `device-settings`).
    DeviceSettings,
    /// `[fqdn.mapping]` (`operator-mapping`).
    OperatorMapping,
    /// The DHCP server's lease for the hello's source address: its client FQDN (option 81) or
    /// host name (`dhcp-lease`; Kea's lease file or control socket, `[dhcp]`).
    DhcpLease,
}

impl FqdnStrategy {
    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReverseDns => "reverse-dns",
            Self::DeviceSettings => "device-settings",
            Self::OperatorMapping => "operator-mapping",
            Self::DhcpLease => "dhcp-lease",
        }
    }
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsConfig {
    /// DNS server that reverse DNS (FQDN discovery) asks; `None`: reverse DNS finds nothing
    /// (amtd never asks the system resolver).
    pub resolver: Option<SocketAddr>,
    /// `[dns.tsig]`: the TSIG key shared with the DNS server (RFC 8945). Signs RFC 2136
    /// updates and lets `amtd check` read the DNS server's clock.
    pub tsig: Option<TsigKeyConfig>,
    /// `[dns.update]`: amtd registers device A/PTR records itself (RFC 2136), for networks
    /// whose DHCP server does not (SPEC N1).
    pub update: DnsUpdateConfig,
}

/// `[dns.tsig]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKeyConfig {
    /// Key name, as the DNS server knows it (`ddns-key`).
    pub name: String,
    /// MAC algorithm.
    pub algorithm: TsigAlgorithm,
    /// Environment variable holding the base64 secret (as `tsig-keygen` prints it).
    pub secret_env: EnvVarName,
}

/// TSIG MAC algorithms amtd signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithm {
    /// `hmac-sha256` (the default of `tsig-keygen`).
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl TsigAlgorithm {
    /// The name used in the config file and by BIND.
    // Used by the binary; tests/config_examples.rs compiles this file without it.
    #[allow(dead_code)]
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }
}

/// `[dns.update]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsUpdateConfig {
    /// Register A and PTR records for provisioned devices (needs `[dns.tsig]`).
    pub enabled: bool,
    /// The primary server to send updates to (default: `[dns] resolver`).
    pub server: Option<SocketAddr>,
    /// TTL of the records.
    pub ttl: u32,
}

impl Default for DnsUpdateConfig {
    fn default() -> Self {
        DnsUpdateConfig {
            enabled: false,
            server: None,
            ttl: 300,
        }
    }
}

/// `[dhcp]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DhcpConfig {
    /// Kea's memfile lease file (CSV, `lease-database.name`).
    pub kea_lease_file: Option<PathBuf>,
    /// Kea's unix control socket (`control-socket.socket-name`; command `lease4-get`).
    pub kea_control_socket: Option<PathBuf>,
}

/// `[check]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    /// The domain devices must get from DHCP (option 15); default: none (only shown).
    pub domain: Option<String>,
    /// Interface the DHCP probe runs on (`--interface` overrides).
    pub interface: Option<String>,
    /// This server's addresses, which `ProvisionServer` must resolve to (default: the hello
    /// listener's address when it is not a wildcard).
    pub server_addresses: Vec<std::net::IpAddr>,
    /// NTP servers (SNTP) the clock is compared with.
    pub time_servers: Vec<SocketAddr>,
    /// Largest clock skew that does not block (Kerberos allows 5 minutes).
    pub max_clock_skew: std::time::Duration,
    /// How long DDNS may take to register the probe's name.
    pub ddns_timeout: std::time::Duration,
    /// Root hashes (hex SHA-256) the devices trust besides the factory defaults.
    pub device_root_hashes: Vec<String>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            domain: None,
            interface: None,
            server_addresses: Vec::new(),
            time_servers: Vec::new(),
            max_clock_skew: std::time::Duration::from_secs(300),
            ddns_timeout: std::time::Duration::from_secs(10),
            device_root_hashes: Vec::new(),
        }
    }
}

/// `[lab]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// The lab's DNS domain (devices' DHCP option 15).
    pub domain: String,
    /// How many emulated devices.
    pub devices: u32,
    /// The profile the lab's devices are provisioned with.
    pub profile: String,
}

/// `[maintenance]`: the scheduled maintenance job (SPEC M10, M11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// Run the job (a pass can still be asked for through the API when off).
    pub enabled: bool,
    /// How often the CRL push runs (it also runs right after a revocation).
    pub crl_interval: std::time::Duration,
    /// How often renewal, password rotation and clock checks run.
    pub interval: std::time::Duration,
    /// Renew device (and console) certificates once they expire within this many days.
    pub renew_before_days: u32,
    /// Rotate a device's admin password once it is this many days old; 0: never.
    pub rotate_admin_password_days: u32,
    /// Set a device clock again when it is off by more than this many seconds.
    pub clock_skew_secs: u64,
    /// CRLs fetched at every CRL pass besides the embedded CA's own (http:// URLs of other CAs
    /// devices may trust); a CRL counts for a device only when it verifies against a CA the
    /// device trusts.
    pub crl_urls: Vec<String>,
    /// Devices maintained at the same time (each device's calls are sequential).
    pub concurrency: usize,
}

/// Default `[maintenance] renew_before_days` (SPEC M11: at least 30 days before expiry).
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;

/// Default `[maintenance] rotate_admin_password_days`.
pub const DEFAULT_ROTATE_ADMIN_PASSWORD_DAYS: u32 = 90;

/// Default `[maintenance] clock_skew_secs`.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 60;

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            enabled: true,
            crl_interval: std::time::Duration::from_secs(3600),
            interval: std::time::Duration::from_secs(3600),
            renew_before_days: DEFAULT_RENEW_BEFORE_DAYS,
            rotate_admin_password_days: DEFAULT_ROTATE_ADMIN_PASSWORD_DAYS,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            crl_urls: Vec::new(),
            concurrency: 16,
        }
    }
}

/// The name of an environment variable that holds a secret (`[A-Za-z_][A-Za-z0-9_]*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvVarName(String);

impl EnvVarName {
    /// Checks the syntax.
    pub fn parse(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "{name:?} is not an environment variable name (letters, digits, _; not starting with a digit)"
            ))
        }
    }

    /// The name.
    // Used by tests/config_examples.rs (which compiles this file); not by the binary yet.
    #[allow(dead_code)]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the secret from the environment.
    pub fn read(&self) -> Result<SecretString, ConfigError> {
        std::env::var(&self.0)
            .map(SecretString::from)
            .map_err(|_| ConfigError::MissingEnv {
                name: self.0.clone(),
            })
    }
}

impl fmt::Display for EnvVarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Reads and validates `path`; relative paths inside are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self::from_toml_str(&text, base)
    }

    /// The embedded defaults (what an empty file gives), relative to `base`.
    // Used by tests/config_examples.rs (which compiles this file); not by the binary yet.
    #[allow(dead_code)]
    pub fn defaults(base: &Path) -> Result<Self, ConfigError> {
        Self::from_toml_str("", base)
    }

    /// Parses and validates TOML text; relative paths are resolved against `base`.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw = raw::parse(text)?;
        validate::validate(raw, base)
    }

    /// The profile called `name`.
    // Used by tests/config_examples.rs (which compiles this file); not by the binary yet.
    #[allow(dead_code)]
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}
