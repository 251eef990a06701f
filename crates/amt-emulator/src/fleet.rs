//! Fleet descriptions: which devices the emulator runs (D1 pre-configuration).
//!
//! A fleet comes from flags (the common case: `--count 500 --first-ip 127.77.0.1 --domain
//! amt.test`) or from a TOML fleet file that overrides per device what the flags leave to
//! defaults:
//!
//! ```toml
//! [defaults]                       # optional; every key optional
//! domain = "amt.test"
//! persona = "amt16"
//! provisioning_server = "127.0.0.1:9971"
//! extra_root_hashes = ["<64 hex>"]
//! faults = ["slow:100"]
//!
//! [[device]]                       # one table per device, in index order
//! ip = "127.77.0.10"               # default: first_ip + index
//! hostname = "amtdev01"            # default: amtdev00001, amtdev00002, …
//! domain = "eng.amt.test"
//! uuid = "8086e000-0000-4000-8000-000000000001"   # default derived from the index
//! mac = "02:80:86:00:00:01"        # default derived from the index
//! persona = "amt11"
//! provisioning_server = "10.0.0.5"
//! extra_root_hashes = []
//! faults = ["cert-swap"]
//! ```
//!
//! Unknown keys are refused, and every problem is reported at once ([`FleetError`]). Devices
//! without an explicit UUID, MAC or host name get deterministic ones from their index, so a
//! restarted emulator finds the same devices (and their state files) again.

use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Deserialize;

use crate::net::faults::{Fault, FaultSet};
use crate::persona;
use crate::state::DeviceConfig;

/// One device to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Position in the fleet (0-based).
    pub index: usize,
    /// The address its listeners bind.
    pub ip: Ipv4Addr,
    /// Identity and pre-configuration.
    pub config: DeviceConfig,
    /// Injected faults.
    pub faults: FaultSet,
    /// DNS server this device asks (the one its DHCP lease names); `None`: the fleet's
    /// `--resolver`.
    pub resolver: Option<std::net::SocketAddr>,
}

/// A validated fleet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetSpec {
    /// The devices, in index order.
    pub devices: Vec<DeviceSpec>,
}

/// What the command-line flags say about the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetFlags {
    /// Number of devices when no fleet file lists them.
    pub count: usize,
    /// Address of device 0; device `i` gets `first_ip + i`.
    pub first_ip: Ipv4Addr,
    /// Domain of every device (unless the file says otherwise).
    pub domain: String,
    /// Persona of every device (unless the file says otherwise).
    pub persona: String,
    /// Provisioning server configured into every device (`host[:port]`), if any.
    pub provisioning_server: Option<String>,
    /// Faults: `(None, f)` for every device, `(Some(i), f)` for device `i` only.
    pub faults: Vec<(Option<usize>, Fault)>,
}

impl Default for FleetFlags {
    fn default() -> Self {
        FleetFlags {
            count: 1,
            first_ip: Ipv4Addr::new(127, 77, 0, 1),
            domain: "amt.test".into(),
            persona: "amt16".into(),
            provisioning_server: None,
            faults: Vec::new(),
        }
    }
}

/// Everything wrong with a fleet description (all problems at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// The fleet file is not valid TOML or has unknown keys.
    #[error("fleet file: {0}")]
    Syntax(String),
    /// The description parsed but some values are wrong.
    #[error("fleet description has {} problem(s):\n  {}", .0.len(), .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// Defaults section of a fleet file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDefaults {
    /// Domain name.
    pub domain: Option<String>,
    /// Persona name.
    pub persona: Option<String>,
    /// Provisioning server address (`host[:port]`).
    pub provisioning_server: Option<String>,
    /// Extra trusted root hashes (hex SHA-1/256/384).
    #[serde(default)]
    pub extra_root_hashes: Vec<String>,
    /// Fault specs.
    #[serde(default)]
    pub faults: Vec<String>,
}

/// One `[[device]]` table of a fleet file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDevice {
    /// Listen address.
    pub ip: Option<Ipv4Addr>,
    /// Host name.
    pub hostname: Option<String>,
    /// Domain name.
    pub domain: Option<String>,
    /// SMBIOS UUID.
    pub uuid: Option<String>,
    /// MAC address.
    pub mac: Option<String>,
    /// Persona name.
    pub persona: Option<String>,
    /// Provisioning server address.
    pub provisioning_server: Option<String>,
    /// Extra trusted root hashes (replace the defaults' list when given).
    pub extra_root_hashes: Option<Vec<String>>,
    /// Fault specs (added to the defaults' faults).
    #[serde(default)]
    pub faults: Vec<String>,
}

/// A fleet file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// `[defaults]`.
    #[serde(default)]
    pub defaults: FileDefaults,
    /// `[[device]]` tables.
    #[serde(default, rename = "device")]
    pub devices: Vec<FileDevice>,
}

/// The deterministic UUID of device `index`.
pub fn default_uuid(index: usize) -> String {
    format!("8086e000-0000-4000-8000-{:012x}", index as u64 + 1)
}

/// The deterministic (locally administered) MAC of device `index`.
pub fn default_mac(index: usize) -> String {
    let n = index as u64 + 1;
    format!(
        "02:80:86:{:02x}:{:02x}:{:02x}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// The deterministic host name of device `index`.
pub fn default_hostname(index: usize) -> String {
    format!("amtdev{:05}", index + 1)
}

impl FleetSpec {
    /// A fleet of `flags.count` devices described by flags alone.
    ///
    /// # Errors
    /// [`FleetError::Invalid`] listing every problem.
    pub fn from_flags(flags: &FleetFlags) -> Result<Self, FleetError> {
        let file = FleetFile {
            defaults: FileDefaults::default(),
            devices: vec![FileDevice::default(); flags.count],
        };
        Self::build(&file, flags)
    }

    /// A fleet from a fleet file's text; flags give what the file leaves out. When the file
    /// lists no devices, `flags.count` devices with the file's defaults are run.
    ///
    /// # Errors
    /// [`FleetError::Syntax`] for bad TOML or unknown keys, [`FleetError::Invalid`] otherwise.
    pub fn from_toml(text: &str, flags: &FleetFlags) -> Result<Self, FleetError> {
        let mut file: FleetFile =
            toml::from_str(text).map_err(|e| FleetError::Syntax(e.to_string()))?;
        if file.devices.is_empty() {
            file.devices = vec![FileDevice::default(); flags.count];
        }
        Self::build(&file, flags)
    }

    fn build(file: &FleetFile, flags: &FleetFlags) -> Result<Self, FleetError> {
        let mut problems = Vec::new();
        let mut devices = Vec::with_capacity(file.devices.len());
        let d = &file.defaults;
        let mut common_faults = FaultSet::default();
        for spec in &d.faults {
            match spec.parse::<Fault>() {
                Ok(f) => common_faults.add(f),
                Err(e) => problems.push(format!("defaults: {e}")),
            }
        }
        for (i, f) in &flags.faults {
            if let Some(i) = i {
                if *i >= file.devices.len() {
                    problems.push(format!(
                        "--fault for device {i}, but the fleet has {} devices",
                        file.devices.len()
                    ));
                }
            } else {
                common_faults.add(*f);
            }
        }
        let mut seen_ips = std::collections::HashSet::new();
        let mut seen_uuids = std::collections::HashSet::new();
        for (index, dev) in file.devices.iter().enumerate() {
            let at = |what: &str| format!("device {index}: {what}");
            let ip = match dev.ip {
                Some(ip) => Some(ip),
                None => u32::from(flags.first_ip)
                    .checked_add(index as u32)
                    .filter(|_| index <= u32::MAX as usize)
                    .map(Ipv4Addr::from),
            };
            let Some(ip) = ip else {
                problems.push(at("address past 255.255.255.255"));
                continue;
            };
            if !seen_ips.insert(ip) {
                problems.push(at(&format!("address {ip} is used twice")));
            }
            let uuid = dev
                .uuid
                .clone()
                .unwrap_or_else(|| default_uuid(index))
                .to_ascii_lowercase();
            match amt_wire::hello::Uuid16::from_str(&uuid) {
                Ok(u) if u.is_bogus() => problems.push(at("UUID is all zeros or all ones")),
                Ok(_) => {}
                Err(_) => problems.push(at(&format!("UUID `{uuid}` is not 8-4-4-4-12 hex"))),
            }
            if !seen_uuids.insert(uuid.clone()) {
                problems.push(at(&format!("UUID {uuid} is used twice")));
            }
            let mac = dev
                .mac
                .clone()
                .unwrap_or_else(|| default_mac(index))
                .to_ascii_lowercase();
            if !valid_mac(&mac) {
                problems.push(at(&format!("MAC `{mac}` is not aa:bb:cc:dd:ee:ff")));
            }
            let persona = dev
                .persona
                .clone()
                .or_else(|| d.persona.clone())
                .unwrap_or_else(|| flags.persona.clone());
            if persona::by_name(&persona).is_none() {
                let known: Vec<_> = persona::ALL.iter().map(|p| p.name).collect();
                problems.push(at(&format!(
                    "unknown persona `{persona}` (known: {})",
                    known.join(", ")
                )));
            }
            let hostname = dev
                .hostname
                .clone()
                .unwrap_or_else(|| default_hostname(index));
            if !valid_dns_name(&hostname) || hostname.contains('.') {
                problems.push(at(&format!("host name `{hostname}` is not a DNS label")));
            }
            let domain = dev
                .domain
                .clone()
                .or_else(|| d.domain.clone())
                .unwrap_or_else(|| flags.domain.clone());
            if !domain.is_empty() && !valid_dns_name(&domain) {
                problems.push(at(&format!("domain `{domain}` is not a DNS name")));
            }
            let provisioning_server = dev
                .provisioning_server
                .clone()
                .or_else(|| d.provisioning_server.clone())
                .or_else(|| flags.provisioning_server.clone());
            if let Some(s) = &provisioning_server {
                if crate::net::hello::parse_server_address(s).is_none() {
                    problems.push(at(&format!("provisioning server `{s}` is not host[:port]")));
                }
            }
            let extra_root_hashes = dev
                .extra_root_hashes
                .clone()
                .unwrap_or_else(|| d.extra_root_hashes.clone());
            for h in &extra_root_hashes {
                if amt_pki::CertHash::from_hex(h).is_err() {
                    problems.push(at(&format!(
                        "root hash `{h}` is not 40, 64 or 96 hex digits"
                    )));
                }
            }
            let mut faults = common_faults;
            for spec in &dev.faults {
                match spec.parse::<Fault>() {
                    Ok(f) => faults.add(f),
                    Err(e) => problems.push(at(&e.to_string())),
                }
            }
            for (i, f) in &flags.faults {
                if *i == Some(index) {
                    faults.add(*f);
                }
            }
            devices.push(DeviceSpec {
                index,
                ip,
                config: DeviceConfig {
                    uuid,
                    hostname,
                    domain,
                    mac,
                    persona,
                    provisioning_server,
                    extra_root_hashes: extra_root_hashes
                        .iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect(),
                },
                faults,
                resolver: None,
            });
        }
        if problems.is_empty() {
            Ok(FleetSpec { devices })
        } else {
            Err(FleetError::Invalid(problems))
        }
    }
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<_> = mac.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_give_deterministic_devices() {
        let flags = FleetFlags {
            count: 3,
            ..FleetFlags::default()
        };
        let a = FleetSpec::from_flags(&flags).unwrap();
        let b = FleetSpec::from_flags(&flags).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.devices.len(), 3);
        assert_eq!(a.devices[2].ip, Ipv4Addr::new(127, 77, 0, 3));
        assert_eq!(
            a.devices[0].config.uuid,
            "8086e000-0000-4000-8000-000000000001"
        );
        assert_eq!(a.devices[0].config.mac, "02:80:86:00:00:01");
        assert_eq!(a.devices[1].config.hostname, "amtdev00002");
        assert_eq!(a.devices[1].config.domain, "amt.test");
    }

    #[test]
    fn fleet_file_overrides_flags_per_device() {
        let text = r#"
            [defaults]
            persona = "amt11"
            faults = ["slow:5"]
            [[device]]
            hostname = "alpha"
            domain = "eng.amt.test"
            faults = ["cert-swap"]
            [[device]]
            ip = "127.77.9.9"
            uuid = "4C4C4544-0033-3110-8052-B3C04F4B4D32"
            persona = "amt16"
        "#;
        let f = FleetSpec::from_toml(text, &FleetFlags::default()).unwrap();
        assert_eq!(f.devices.len(), 2);
        assert_eq!(f.devices[0].config.hostname, "alpha");
        assert_eq!(f.devices[0].config.persona, "amt11");
        assert!(f.devices[0].faults.cert_swap);
        assert_eq!(f.devices[0].faults.slow_ms, 5);
        assert_eq!(f.devices[1].ip, Ipv4Addr::new(127, 77, 9, 9));
        assert_eq!(
            f.devices[1].config.uuid,
            "4c4c4544-0033-3110-8052-b3c04f4b4d32"
        );
        assert_eq!(f.devices[1].config.persona, "amt16");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = FleetSpec::from_toml("[[device]]\ncolour = \"red\"\n", &FleetFlags::default())
            .unwrap_err();
        assert!(matches!(err, FleetError::Syntax(_)), "{err}");
    }

    #[test]
    fn every_problem_is_listed() {
        let text = r#"
            [[device]]
            uuid = "nope"
            mac = "zz"
            persona = "amt99"
            extra_root_hashes = ["abc"]
            faults = ["explode"]
        "#;
        let FleetError::Invalid(problems) =
            FleetSpec::from_toml(text, &FleetFlags::default()).unwrap_err()
        else {
            panic!("expected Invalid");
        };
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }
}
