//! The persisted state of one emulated device: what real firmware keeps in flash.
//!
//! Serialised as JSON (one file per device in the emulator's state directory), so a restarted
//! emulator resumes every device where it was (D7). Secrets (digest HA1 values, private keys)
//! are kept as the firmware keeps them; `Debug` never prints them.

use serde::{Deserialize, Serialize};

/// Identity and pre-configuration of a device (D1): what MEBx, an OEM or an OS agent set
/// before provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// SMBIOS UUID, canonical text form (8-4-4-4-12, lower case).
    pub uuid: String,
    /// Host name configured into the ME (may be empty).
    #[serde(default)]
    pub hostname: String,
    /// Domain name configured into the ME (may be empty; DHCP option 15 fills it).
    #[serde(default)]
    pub domain: String,
    /// MAC address of the shared NIC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Persona (firmware generation) name.
    pub persona: String,
    /// Provisioning server address configured in MEBx (`host` or `host:port`), if any.
    #[serde(default)]
    pub provisioning_server: Option<String>,
    /// Extra trusted root hashes (hex SHA-256) added to the persona's factory list.
    #[serde(default)]
    pub extra_root_hashes: Vec<String>,
}

/// Where the device is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Pre-provisioning (setup mode): hello sender active, 16993 serves the self-signed
    /// certificate and admits only provisioning clients.
    Setup,
    /// Provisioned (post): admin/ACL users, installed TLS certificate.
    Provisioned,
}

/// A digest or Kerberos user in the ACL (AMT_AuthorizationService).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclUser {
    /// The handle AMT gives the entry.
    pub handle: u32,
    /// Digest user name (empty for Kerberos entries).
    pub name: String,
    /// Hex HA1 = MD5(user:realm:password), the only form AMT stores.
    pub ha1_hex: String,
    /// Kerberos SID (base64), for AD users.
    pub kerberos_sid: Option<String>,
    /// AccessPermission (0 local, 1 network, 2 both).
    pub access: u32,
    /// Realm numbers (AMT realm enum values).
    pub realms: Vec<u32>,
}

impl std::fmt::Debug for AclUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclUser")
            .field("handle", &self.handle)
            .field("name", &self.name)
            .field("ha1_hex", &"[REDACTED]")
            .field("kerberos_sid", &self.kerberos_sid)
            .field("access", &self.access)
            .field("realms", &self.realms)
            .finish()
    }
}

/// A certificate held by the firmware (AMT_PublicKeyCertificate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCert {
    /// Handle, used in `InstanceID` (`Intel(r) AMT Certificate: Handle: N`).
    pub handle: u32,
    /// DER, base64.
    pub der_b64: String,
    /// Added with AddTrustedRootCertificate.
    pub trusted_root: bool,
}

/// A key pair held by the firmware (AMT_PublicPrivateKeyPair).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// Handle, used in `InstanceID` (`Intel(r) AMT Key: Handle: N`).
    pub handle: u32,
    /// PKCS#8 DER of the private key, base64 (never leaves the device).
    pub pkcs8_b64: String,
    /// PKCS#1 DER of the public key, base64 (`DERKey`).
    pub public_der_b64: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("handle", &self.handle)
            .field("pkcs8_b64", &"[REDACTED]")
            .finish()
    }
}

/// One AMT_TLSSettingData instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TlsSetting {
    /// TLS on.
    pub enabled: bool,
    /// Client certificates required.
    pub mutual_authentication: bool,
    /// Plain 16992 still allowed.
    pub accept_non_secure: bool,
    /// Allowed client certificate CNs (empty: any).
    pub trusted_cn: Vec<String>,
}

/// A pushed CRL (AMT_CRL): serial numbers, not a DER CRL (AMT-PROTOCOLS.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlEntry {
    /// Distribution point URL.
    pub url: String,
    /// Revoked serial numbers, base64 as pushed.
    pub serials_b64: Vec<String>,
}

/// One audit or event log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Seconds since the Unix epoch (device clock).
    pub time: u64,
    /// What happened, in words.
    pub text: String,
    /// Encoded record as AMT returns it (base64), when one exists.
    #[serde(default)]
    pub record_b64: Option<String>,
}

/// The writable `AMT_GeneralSettings` values (Put) other than host and domain name, which live
/// in [`DeviceConfig`]. Defaults are the values of the recorded device (`amt/general/get.xml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneralSettingsState {
    /// `AMTNetworkEnabled` (0 disabled, 1 enabled).
    pub amt_network_enabled: u32,
    /// `DDNSUpdateEnabled`: the firmware updates DNS itself.
    pub ddns_update_enabled: bool,
    /// `DDNSUpdateByDHCPServerEnabled`: the DHCP server registers the name.
    pub ddns_update_by_dhcp_server_enabled: bool,
    /// `DDNSTTL`, seconds.
    pub ddns_ttl: u32,
    /// `DDNSPeriodicUpdateInterval`, minutes.
    pub ddns_periodic_update_interval: u32,
    /// `HostOSFQDN`.
    pub host_os_fqdn: String,
    /// `IdleWakeTimeout`, minutes.
    pub idle_wake_timeout: u32,
    /// `PingResponseEnabled`.
    pub ping_response_enabled: bool,
    /// `RmcpPingResponseEnabled`.
    pub rmcp_ping_response_enabled: bool,
    /// `SharedFQDN`: ME and host share one FQDN.
    pub shared_fqdn: bool,
    /// `WsmanOnlyMode`.
    pub wsman_only_mode: bool,
    /// `PreferredAddressFamily` (0 IPv4, 1 IPv6).
    pub preferred_address_family: u32,
    /// `PrivacyLevel`.
    pub privacy_level: u32,
}

impl Default for GeneralSettingsState {
    fn default() -> Self {
        GeneralSettingsState {
            amt_network_enabled: 1,
            ddns_update_enabled: false,
            ddns_update_by_dhcp_server_enabled: true,
            ddns_ttl: 900,
            ddns_periodic_update_interval: 1440,
            host_os_fqdn: String::new(),
            idle_wake_timeout: 1,
            ping_response_enabled: true,
            rmcp_ping_response_enabled: true,
            shared_fqdn: true,
            wsman_only_mode: false,
            preferred_address_family: 0,
            privacy_level: 0,
        }
    }
}

/// The full persisted state of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// Format version of this file.
    pub version: u32,
    /// Identity and pre-configuration.
    pub config: DeviceConfig,
    /// `Digest:` + 32 upper-case hex; fixed for the device's life.
    pub digest_realm: String,
    /// Life-cycle phase.
    pub phase: Phase,
    /// 0 not provisioned, 1 client control mode, 2 admin control mode.
    pub control_mode: u32,
    /// HA1 (hex) of the `admin` account; `None` before provisioning.
    pub admin_ha1_hex: Option<String>,
    /// Whether the MEBx password was set.
    pub mebx_password_set: bool,
    /// ACL users.
    pub users: Vec<AclUser>,
    /// Next ACL handle.
    pub next_user_handle: u32,
    /// Certificates.
    pub certs: Vec<StoredCert>,
    /// Key pairs.
    pub keys: Vec<StoredKey>,
    /// Next certificate/key handle.
    pub next_handle: u32,
    /// Handle of the certificate bound to TLS (AMT_TLSCredentialContext).
    pub tls_cert_handle: Option<u32>,
    /// Remote (802.3) TLS settings.
    pub tls_remote: TlsSetting,
    /// Local (LMS) TLS settings.
    pub tls_local: TlsSetting,
    /// Pushed CRL serial lists.
    pub crls: Vec<CrlEntry>,
    /// Device clock minus host clock, seconds (SetHighAccuracyTimeSynch moves it).
    pub clock_offset_secs: i64,
    /// CIM power state number (2 on, 8 off…).
    pub power_state: u16,
    /// Redirection service EnabledState (32768–32771).
    pub redirection_state: u32,
    /// User consent required (IPS_OptInService.OptInRequired).
    pub opt_in_required: u32,
    /// Audit log.
    pub audit_log: Vec<LogRecord>,
    /// Event log.
    pub event_log: Vec<LogRecord>,
    /// Provisioning certificate chain pushed with AddNextCertInChain (base64 DER, leaf first).
    #[serde(default)]
    pub hbs_chain: Vec<String>,
    /// Host-based setup configuration nonce (base64, 20 bytes).
    #[serde(default)]
    pub configuration_nonce_b64: String,
    /// Whether the root of `hbs_chain` was added (`CertChainStatus` 2, ChainComplete).
    #[serde(default)]
    pub hbs_chain_complete: bool,
    /// Writable `AMT_GeneralSettings` values.
    #[serde(default)]
    pub general: GeneralSettingsState,
    /// Handles of ACL entries disabled with `SetAclEnabledState` (entries are enabled when made).
    #[serde(default)]
    pub acl_disabled: Vec<u32>,
    /// Management state: boot options, System Defense, Kerberos, network, redirection, user
    /// consent, alarms, clock sync (`firmware::manage`).
    #[serde(default)]
    pub manage: crate::firmware::manage::ManageState,
}

/// Most records kept per log (older ones roll off, as on real firmware).
pub const MAX_LOG_RECORDS: usize = 390;

impl DeviceState {
    /// The current file format version.
    pub const VERSION: u32 = 1;

    /// A factory-fresh device in setup mode. `realm_random` gives the 16 bytes of the realm.
    pub fn new(config: DeviceConfig, realm_random: [u8; 16]) -> Self {
        DeviceState {
            version: Self::VERSION,
            config,
            digest_realm: format!("Digest:{}", hex::encode_upper(realm_random)),
            phase: Phase::Setup,
            control_mode: 0,
            admin_ha1_hex: None,
            mebx_password_set: false,
            users: Vec::new(),
            next_user_handle: 1,
            certs: Vec::new(),
            keys: Vec::new(),
            next_handle: 0,
            tls_cert_handle: None,
            tls_remote: TlsSetting::default(),
            tls_local: TlsSetting::default(),
            crls: Vec::new(),
            clock_offset_secs: 0,
            power_state: 2,
            redirection_state: 32768,
            opt_in_required: 0,
            audit_log: Vec::new(),
            event_log: Vec::new(),
            hbs_chain: Vec::new(),
            configuration_nonce_b64: String::new(),
            hbs_chain_complete: false,
            general: GeneralSettingsState::default(),
            acl_disabled: Vec::new(),
            manage: Default::default(),
        }
    }

    /// Reads a state file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, StateError> {
        let s: DeviceState = serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
            reason: e.to_string(),
        })?;
        if s.version != Self::VERSION {
            return Err(StateError::UnsupportedVersion(s.version));
        }
        Ok(s)
    }

    /// The state file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The device's FQDN as configured (`host.domain`), when both parts are known.
    pub fn fqdn(&self) -> Option<String> {
        match (self.config.hostname.as_str(), self.config.domain.as_str()) {
            ("", _) | (_, "") => None,
            (h, d) => Some(format!("{h}.{d}")),
        }
    }

    /// Appends an audit record, rolling off the oldest.
    pub fn audit(&mut self, time: u64, text: impl Into<String>) {
        push_log(&mut self.audit_log, time, text.into());
    }

    /// Appends an event record, rolling off the oldest.
    pub fn event(&mut self, time: u64, text: impl Into<String>) {
        push_log(&mut self.event_log, time, text.into());
    }

    /// Allocates a certificate/key handle.
    pub fn alloc_handle(&mut self) -> u32 {
        let h = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1);
        h
    }
}

fn push_log(log: &mut Vec<LogRecord>, time: u64, text: String) {
    if log.len() >= MAX_LOG_RECORDS {
        log.remove(0);
    }
    log.push(LogRecord {
        time,
        text,
        record_b64: None,
    });
}

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file is not a valid state document.
    #[error("device state file is corrupt: {reason}")]
    Corrupt {
        /// Parser message.
        reason: String,
    },
    /// The file was written by an incompatible version.
    #[error("device state file has unsupported version {0}")]
    UnsupportedVersion(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DeviceConfig {
        DeviceConfig {
            uuid: "4c4c4544-0033-3110-8052-b3c04f4b4d32".into(),
            hostname: "amtdev01".into(),
            domain: "amt.test".into(),
            mac: "00:16:3e:00:00:01".into(),
            persona: "amt16".into(),
            provisioning_server: None,
            extra_root_hashes: vec![],
        }
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut s = DeviceState::new(config(), [0xAB; 16]);
        s.users.push(AclUser {
            handle: 1,
            name: "support".into(),
            ha1_hex: "00".repeat(16),
            kerberos_sid: None,
            access: 2,
            realms: vec![3, 5],
        });
        s.audit(1000, "provisioned");
        let back = DeviceState::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.digest_realm, format!("Digest:{}", "AB".repeat(16)));
    }

    #[test]
    fn corrupt_state_is_an_error() {
        assert!(matches!(
            DeviceState::from_json(b"{not json"),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let u = AclUser {
            handle: 1,
            name: "x".into(),
            ha1_hex: "deadbeefdeadbeefdeadbeefdeadbeef".into(),
            kerberos_sid: None,
            access: 0,
            realms: vec![],
        };
        assert!(!format!("{u:?}").contains("deadbeef"));
    }

    #[test]
    fn logs_roll_off_oldest() {
        let mut s = DeviceState::new(config(), [0; 16]);
        for i in 0..(MAX_LOG_RECORDS as u64 + 5) {
            s.event(i, format!("e{i}"));
        }
        assert_eq!(s.event_log.len(), MAX_LOG_RECORDS);
        assert_eq!(s.event_log[0].text, "e5");
    }
}
