//! Domain types: device identity, names, records and named provisioning profiles.

use std::fmt;
use std::str::FromStr;

use amt_wire::hello::Uuid16;
use amt_wsman::classes::amt::{AccessPermission, Realm};
use amt_wsman::classes::ips::OptInRequired;
use amt_wsman::secret::SecretString;

use crate::error::{clip, CoreError};

/// A device's identity: its SMBIOS UUID (never all zeros or all ones).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(Uuid16);

impl DeviceId {
    /// From the UUID a hello carried; bogus UUIDs are refused.
    pub fn new(uuid: Uuid16) -> Result<Self, CoreError> {
        if uuid.is_bogus() {
            return Err(CoreError::InvalidUuid {
                value: uuid.to_string(),
            });
        }
        Ok(DeviceId(uuid))
    }

    /// The UUID.
    pub fn uuid(&self) -> Uuid16 {
        self.0
    }
}

impl FromStr for DeviceId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let uuid = Uuid16::from_str(s).map_err(|_| CoreError::InvalidUuid { value: clip(s) })?;
        DeviceId::new(uuid)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0)
    }
}

/// A validated, lower-case fully qualified domain name with at least two labels
/// (`amtdev01.corp.example`), without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqdn(String);

impl Fqdn {
    /// Validates `s`: 1–253 characters, labels of 1–63 letters, digits and inner hyphens, at
    /// least two labels. Case is folded and one trailing dot is dropped.
    pub fn new(s: &str) -> Result<Self, CoreError> {
        let bad = |reason| CoreError::InvalidFqdn {
            value: clip(s),
            reason,
        };
        let t = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        if t.is_empty() || t.len() > 253 {
            return Err(bad("must be 1 to 253 characters"));
        }
        let labels: Vec<&str> = t.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("needs a host name and a domain"));
        }
        for l in &labels {
            if l.is_empty() || l.len() > 63 {
                return Err(bad("every label must be 1 to 63 characters"));
            }
            if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(bad("only letters, digits and hyphens are allowed"));
            }
            if l.starts_with('-') || l.ends_with('-') {
                return Err(bad("a label must not start or end with a hyphen"));
            }
        }
        Ok(Fqdn(t))
    }

    /// From a host name and a domain (`AMT_GeneralSettings` HostName + DomainName).
    pub fn from_parts(host: &str, domain: &str) -> Result<Self, CoreError> {
        Fqdn::new(&format!("{host}.{}", domain.trim_start_matches('.')))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first label.
    pub fn host(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    /// Everything after the first label: the device's DNS domain, which the provisioning
    /// certificate's suffix must fit (P3).
    pub fn domain(&self) -> &str {
        self.0.split_once('.').map(|(_, d)| d).unwrap_or_default()
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the server knows about a device when a provisioning run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Identity.
    pub id: DeviceId,
    /// The FQDN chosen by discovery (P2).
    pub fqdn: Fqdn,
    /// The address the hello came from (text form, for the connect-back).
    pub address: String,
    /// The trusted root hashes from the hello (P3).
    pub root_hashes: Vec<amt_pki::CertHash>,
    /// The hello's "admin credentials set" flag.
    pub admin_credentials_set: bool,
}

/// Which TLS mode the device ends in (AMT-PROTOCOLS §2.5, RPS's `tlsMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Server authentication only.
    ServerAuth,
    /// Mutual TLS: clients must present a certificate under a trusted root.
    Mutual,
}

/// A digest account to create on the device.
#[derive(Debug, Clone)]
pub struct DigestUserSpec {
    /// User name (7-bit ASCII, at most 16 characters).
    pub name: String,
    /// Its password.
    pub password: SecretString,
    /// Network, local or both.
    pub access: AccessPermission,
    /// Realms granted.
    pub realms: Vec<Realm>,
}

/// Redirection listener policy pushed after commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectionPolicy {
    /// Serial over LAN allowed.
    pub sol: bool,
    /// IDE redirection allowed.
    pub ider: bool,
}

/// How the MEBx password is chosen.
#[derive(Debug, Clone)]
pub enum MebxPasswordPolicy {
    /// Generate a random per-device password (stored, escrowed).
    RandomPerDevice,
    /// Use this fixed password (an organisation-wide MEBx password).
    Fixed(SecretString),
    /// Leave the MEBx password alone.
    Keep,
}

/// A named, stored provisioning profile (P5).
#[derive(Debug, Clone)]
pub struct ProvisioningProfile {
    /// The profile's name.
    pub name: String,
    /// TLS mode.
    pub tls_mode: TlsMode,
    /// Plain 16992 still accepted after provisioning.
    pub accept_non_secure: bool,
    /// Allowed client certificate CNs with mutual TLS (empty: any under a trusted root).
    pub trusted_cns: Vec<String>,
    /// Root certificates (DER) to push with AddTrustedRootCertificate.
    pub trusted_roots: Vec<Vec<u8>>,
    /// Intermediate CA certificates (DER) of the device certificate's chain, added with
    /// AddCertificate so the device presents a full chain.
    pub intermediates: Vec<Vec<u8>>,
    /// Digest users to create.
    pub digest_users: Vec<DigestUserSpec>,
    /// Revoked serial numbers to push (AddCRL), big-endian bytes.
    pub crl_serials: Vec<Vec<u8>>,
    /// CRL distribution point URL given with AddCRL.
    pub crl_url: Option<String>,
    /// Redirection listener policy (None: leave as is).
    pub redirection: Option<RedirectionPolicy>,
    /// User consent policy (None: leave as is).
    pub user_consent: Option<OptInRequired>,
    /// Synchronise the device clock.
    pub clock_sync: bool,
    /// MEBx password policy.
    pub mebx_password: MebxPasswordPolicy,
    /// Length of the generated admin password (8..=32).
    pub admin_password_len: usize,
    /// Whole-run deadline in seconds.
    pub deadline_secs: u64,
}

impl ProvisioningProfile {
    /// A profile with the defaults: server-auth TLS, no plain port, clock sync, random MEBx
    /// password, 16-character admin password, 10-minute deadline.
    pub fn new(name: &str) -> Self {
        ProvisioningProfile {
            name: name.to_owned(),
            tls_mode: TlsMode::ServerAuth,
            accept_non_secure: false,
            trusted_cns: Vec::new(),
            trusted_roots: Vec::new(),
            intermediates: Vec::new(),
            digest_users: Vec::new(),
            crl_serials: Vec::new(),
            crl_url: None,
            redirection: None,
            user_consent: None,
            clock_sync: true,
            mebx_password: MebxPasswordPolicy::RandomPerDevice,
            admin_password_len: amt_wsman::password::DEFAULT_GENERATED_PASSWORD_LEN,
            deadline_secs: 600,
        }
    }

    /// Checks what can be checked before a run: password length, user names, a root to
    /// trust client certificates under when mutual TLS is asked for. Lists every problem.
    pub fn validate(&self) -> Result<(), CoreError> {
        let mut problems = Vec::new();
        if !(8..=32).contains(&self.admin_password_len) {
            problems.push(format!(
                "admin password length {} is outside 8..=32",
                self.admin_password_len
            ));
        }
        for u in &self.digest_users {
            if let Err(e) = amt_wsman::password::validate_digest_username(&u.name) {
                problems.push(format!("digest user {:?}: {e}", clip(&u.name)));
            }
            if u.name == amt_wsman::password::ADMIN_USERNAME {
                problems.push("digest user \"admin\" is reserved".into());
            }
        }
        if self.tls_mode == TlsMode::Mutual && self.trusted_roots.is_empty() {
            problems.push("mutual TLS needs at least one trusted root".into());
        }
        if let MebxPasswordPolicy::Fixed(p) = &self.mebx_password {
            if let Err(e) = amt_wsman::password::validate_admin_password(p.expose()) {
                problems.push(format!("MEBx password: {e}"));
            }
        }
        if self.deadline_secs == 0 {
            problems.push("deadline must be positive".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CoreError::InvalidProfile {
                profile: self.name.clone(),
                problem: problems.join("; "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_is_folded_and_split() {
        let f = Fqdn::new("AmtDev01.Corp.Example.").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.as_str(), "amtdev01.corp.example");
        assert_eq!((f.host(), f.domain()), ("amtdev01", "corp.example"));
    }

    #[test]
    fn fqdn_rejects_bad_names() {
        for bad in [
            "",
            "host",
            "a..b",
            "-a.b",
            "a_b.c",
            &"x".repeat(64),
            "a.b c",
        ] {
            assert!(Fqdn::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bogus_uuid_is_not_a_device_id() {
        assert!("00000000-0000-0000-0000-000000000000"
            .parse::<DeviceId>()
            .is_err());
        assert!("4c4c4544-0033-3110-8052-b3c04f4b4d32"
            .parse::<DeviceId>()
            .is_ok());
    }

    #[test]
    fn profile_validation_lists_every_problem() {
        let mut p = ProvisioningProfile::new("lab");
        p.admin_password_len = 4;
        p.tls_mode = TlsMode::Mutual;
        let Err(CoreError::InvalidProfile { problem, .. }) = p.validate() else {
            panic!("invalid profile accepted")
        };
        assert!(problem.contains("outside 8..=32") && problem.contains("mutual TLS"));
    }
}
