//! Hardware and firmware inventory read "down the wire", without the host OS (M2).
//!
//! One enumeration per class (AMT-PROTOCOLS.md §5.2): `CIM_ComputerSystemPackage` (platform
//! GUID), `CIM_Chassis`, `CIM_Card` (the baseboard), `CIM_BIOSElement`, `CIM_Processor` with
//! `CIM_Chip` (the processor's model string, matched by tag), `CIM_PhysicalMemory`,
//! `CIM_MediaAccessDevice` (disks), `AMT_EthernetPortSettings` (NICs) and
//! `CIM_SoftwareIdentity` (firmware versions: `AMT`, `Flash`, `Sku`, …). A class the device
//! refuses or answers unreadably is listed in [`Inventory::unreadable`] and the rest is kept;
//! only a failed connection fails the read.
//!
//! [`Inventory::items`] flattens an inventory into named items with text fields, and
//! [`InventoryDiff::between`] compares two of them deterministically (sorted by item, then
//! field), which is how a report marks what changed since the previous read.

use std::collections::{BTreeMap, BTreeSet};

use amt_wsman::classes::amt::{AmtEthernetPortSettings, PhysicalConnectionType};
use amt_wsman::classes::cim::{
    CimBiosElement, CimCard, CimChassis, CimChip, CimComputerSystemPackage, CimMediaAccessDevice,
    CimPhysicalMemory, CimProcessor, CimSoftwareIdentity,
};
use amt_wsman::classes::WsmanClass;
use serde::{Deserialize, Serialize};

use super::ConsoleError;
use crate::client::{WsmanClient, WsmanError};

/// The chassis (`CIM_Chassis`) or baseboard (`CIM_Card`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Package {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Model (product name).
    pub model: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// SMBIOS chassis type (chassis only).
    pub chassis_type: Option<u16>,
}

/// The BIOS (`CIM_BIOSElement`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bios {
    /// Vendor.
    pub vendor: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Release date (CIM datetime text).
    pub release_date: Option<String>,
}

/// One processor (`CIM_Processor` + `CIM_Chip`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Processor {
    /// `DeviceID` (`CPU 0`).
    pub id: String,
    /// The model string (`CIM_Chip.Version`).
    pub model: Option<String>,
    /// Manufacturer (`CIM_Chip.Manufacturer`).
    pub manufacturer: Option<String>,
    /// SMBIOS processor family.
    pub family: Option<u16>,
    /// Maximum clock, MHz.
    pub max_mhz: Option<u32>,
    /// Current clock, MHz.
    pub current_mhz: Option<u32>,
    /// External bus clock, MHz.
    pub bus_mhz: Option<u32>,
    /// Stepping.
    pub stepping: Option<String>,
}

/// One memory module (`CIM_PhysicalMemory`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryModule {
    /// The slot (`BankLabel`, else `Tag`).
    pub slot: String,
    /// Capacity in bytes.
    pub capacity_bytes: Option<u64>,
    /// Speed, MHz.
    pub speed_mhz: Option<u32>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Part number.
    pub part_number: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// SMBIOS memory type.
    pub memory_type: Option<u16>,
    /// SMBIOS form factor.
    pub form_factor: Option<u16>,
}

/// One disk (`CIM_MediaAccessDevice`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    /// `DeviceID`.
    pub id: String,
    /// The model (`ElementName`).
    pub model: Option<String>,
    /// Size in KiB (`MaxMediaSize`).
    pub size_kb: Option<u64>,
}

/// One network interface AMT shares (`AMT_EthernetPortSettings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nic {
    /// `InstanceID`.
    pub id: String,
    /// MAC address.
    pub mac: Option<String>,
    /// Wired or wireless.
    pub kind: Option<String>,
    /// Link up.
    pub link_up: Option<bool>,
    /// DHCP on.
    pub dhcp: Option<bool>,
    /// IPv4 address.
    pub ip_address: Option<String>,
}

/// A class that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The class.
    pub class: String,
    /// Why, in words.
    pub reason: String,
}

/// A device's inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    /// The platform GUID (`CIM_ComputerSystemPackage.PlatformGUID`).
    pub platform_guid: Option<String>,
    /// The chassis.
    pub chassis: Option<Package>,
    /// The baseboard.
    pub baseboard: Option<Package>,
    /// The BIOS.
    pub bios: Option<Bios>,
    /// Processors.
    pub processors: Vec<Processor>,
    /// Memory modules.
    pub memory: Vec<MemoryModule>,
    /// Disks.
    pub disks: Vec<Disk>,
    /// Network interfaces.
    pub nics: Vec<Nic>,
    /// Firmware versions by `CIM_SoftwareIdentity.InstanceID` (`AMT` is the AMT version).
    pub firmware: BTreeMap<String, String>,
    /// Classes the device did not answer readably.
    pub unreadable: Vec<Unreadable>,
}

/// Reads the whole inventory (one enumeration per class, one request at a time).
///
/// # Errors
/// Only transport failures; refused or unreadable classes end up in
/// [`Inventory::unreadable`].
pub async fn read_inventory(client: &WsmanClient) -> Result<Inventory, ConsoleError> {
    let mut inv = Inventory::default();
    if let Some(p) = class::<CimComputerSystemPackage>(client, &mut inv).await? {
        inv.platform_guid = p.into_iter().find_map(|p| p.platform_guid);
    }
    if let Some(c) = class::<CimChassis>(client, &mut inv).await? {
        inv.chassis = c.into_iter().next().map(|c| Package {
            manufacturer: c.manufacturer,
            model: c.model,
            serial_number: c.serial_number,
            version: c.version,
            chassis_type: c.chassis_package_type,
        });
    }
    if let Some(c) = class::<CimCard>(client, &mut inv).await? {
        inv.baseboard = c.into_iter().next().map(|c| Package {
            manufacturer: c.manufacturer,
            model: c.model,
            serial_number: c.serial_number,
            version: c.version,
            chassis_type: None,
        });
    }
    if let Some(b) = class::<CimBiosElement>(client, &mut inv).await? {
        let primary = b
            .iter()
            .position(|b| b.primary_bios == Some(true))
            .unwrap_or(0);
        inv.bios = b.into_iter().nth(primary).map(|b| Bios {
            vendor: b.manufacturer,
            version: b.version,
            release_date: b.release_date.map(|d| d.value),
        });
    }
    let chips = class::<CimChip>(client, &mut inv)
        .await?
        .unwrap_or_default();
    if let Some(cpus) = class::<CimProcessor>(client, &mut inv).await? {
        inv.processors = cpus
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let id = p.device_id.unwrap_or_else(|| format!("CPU {i}"));
                let chip = chips.iter().find(|c| c.tag.as_deref() == Some(id.as_str()));
                Processor {
                    model: chip.and_then(|c| c.version.clone()),
                    manufacturer: chip.and_then(|c| c.manufacturer.clone()),
                    id,
                    family: p.family,
                    max_mhz: p.max_clock_speed,
                    current_mhz: p.current_clock_speed,
                    bus_mhz: p.external_bus_clock_speed,
                    stepping: p.stepping,
                }
            })
            .collect();
    }
    if let Some(mem) = class::<CimPhysicalMemory>(client, &mut inv).await? {
        inv.memory = mem
            .into_iter()
            .enumerate()
            .map(|(i, m)| MemoryModule {
                slot: m
                    .bank_label
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .or(m.tag.clone())
                    .unwrap_or_else(|| format!("module {i}")),
                capacity_bytes: m.capacity,
                speed_mhz: m.speed.or(m.configured_memory_clock_speed),
                manufacturer: m.manufacturer,
                part_number: m.part_number,
                serial_number: m.serial_number,
                memory_type: m.memory_type,
                form_factor: m.form_factor,
            })
            .collect();
    }
    if let Some(disks) = class::<CimMediaAccessDevice>(client, &mut inv).await? {
        inv.disks = disks
            .into_iter()
            .enumerate()
            .map(|(i, d)| Disk {
                id: d.device_id.unwrap_or_else(|| format!("disk {i}")),
                model: d.element_name,
                size_kb: d.max_media_size,
            })
            .collect();
    }
    if let Some(nics) = class::<AmtEthernetPortSettings>(client, &mut inv).await? {
        inv.nics = nics
            .into_iter()
            .enumerate()
            .map(|(i, n)| Nic {
                id: n.instance_id.unwrap_or_else(|| format!("port {i}")),
                mac: n.mac_address,
                kind: n.physical_connection_type.map(|t| {
                    match t {
                        PhysicalConnectionType::WirelessLan => "wireless",
                        _ => "wired",
                    }
                    .to_owned()
                }),
                link_up: n.link_is_up,
                dhcp: n.dhcp_enabled,
                ip_address: n.ip_address.filter(|a| !a.is_empty()),
            })
            .collect();
    }
    if let Some(sw) = class::<CimSoftwareIdentity>(client, &mut inv).await? {
        inv.firmware = sw
            .into_iter()
            .filter_map(|s| Some((s.instance_id?, s.version_string?)))
            .collect();
    }
    Ok(inv)
}

/// Every instance of `T`; `None` (noted in `unreadable`) when the device refuses the class or
/// answers unreadably; an error only when the connection fails.
async fn class<T: WsmanClass>(
    client: &WsmanClient,
    inv: &mut Inventory,
) -> Result<Option<Vec<T>>, ConsoleError> {
    match client.enumerate::<T>().await {
        Ok(v) => Ok(Some(v)),
        Err(WsmanError::Transport(t)) => Err(t.into()),
        Err(e) => {
            inv.unreadable.push(Unreadable {
                class: T::CLASS.to_owned(),
                reason: e.to_string(),
            });
            Ok(None)
        }
    }
}

/// The fields of one item, by name.
pub type Fields = BTreeMap<String, String>;

fn put<V: ToString>(f: &mut Fields, name: &str, v: &Option<V>) {
    if let Some(v) = v {
        f.insert(name.to_owned(), v.to_string());
    }
}

impl Inventory {
    /// The inventory as named items (`chassis`, `cpu CPU 0`, `memory DIMM 0`, `nic …`,
    /// `firmware`, …) with their fields as text, in a stable order.
    pub fn items(&self) -> BTreeMap<String, Fields> {
        let mut out = BTreeMap::new();
        if let Some(g) = &self.platform_guid {
            out.insert(
                "platform".to_owned(),
                Fields::from([("guid".to_owned(), g.clone())]),
            );
        }
        for (key, p) in [("chassis", &self.chassis), ("baseboard", &self.baseboard)] {
            if let Some(p) = p {
                let mut f = Fields::new();
                put(&mut f, "manufacturer", &p.manufacturer);
                put(&mut f, "model", &p.model);
                put(&mut f, "serial number", &p.serial_number);
                put(&mut f, "version", &p.version);
                put(&mut f, "chassis type", &p.chassis_type);
                out.insert(key.to_owned(), f);
            }
        }
        if let Some(b) = &self.bios {
            let mut f = Fields::new();
            put(&mut f, "vendor", &b.vendor);
            put(&mut f, "version", &b.version);
            put(&mut f, "release date", &b.release_date);
            out.insert("bios".to_owned(), f);
        }
        for p in &self.processors {
            let mut f = Fields::new();
            put(&mut f, "model", &p.model);
            put(&mut f, "manufacturer", &p.manufacturer);
            put(&mut f, "family", &p.family);
            put(&mut f, "max MHz", &p.max_mhz);
            put(&mut f, "current MHz", &p.current_mhz);
            put(&mut f, "bus MHz", &p.bus_mhz);
            put(&mut f, "stepping", &p.stepping);
            out.insert(format!("cpu {}", p.id), f);
        }
        for m in &self.memory {
            let mut f = Fields::new();
            put(&mut f, "capacity", &m.capacity_bytes.map(human_bytes));
            put(&mut f, "speed MHz", &m.speed_mhz);
            put(&mut f, "manufacturer", &m.manufacturer);
            put(&mut f, "part number", &m.part_number);
            put(&mut f, "serial number", &m.serial_number);
            put(&mut f, "type", &m.memory_type);
            put(&mut f, "form factor", &m.form_factor);
            out.insert(format!("memory {}", m.slot), f);
        }
        for d in &self.disks {
            let mut f = Fields::new();
            put(&mut f, "model", &d.model);
            put(
                &mut f,
                "size",
                &d.size_kb.map(|k| human_bytes(k.saturating_mul(1024))),
            );
            out.insert(format!("disk {}", d.id), f);
        }
        for n in &self.nics {
            let mut f = Fields::new();
            put(&mut f, "MAC", &n.mac);
            put(&mut f, "kind", &n.kind);
            put(&mut f, "link up", &n.link_up);
            put(&mut f, "DHCP", &n.dhcp);
            put(&mut f, "IPv4", &n.ip_address);
            out.insert(format!("nic {}", n.id), f);
        }
        if !self.firmware.is_empty() {
            out.insert("firmware".to_owned(), self.firmware.clone());
        }
        out
    }

    /// The AMT firmware version (`CIM_SoftwareIdentity` `AMT`).
    pub fn amt_version(&self) -> Option<&str> {
        self.firmware.get("AMT").map(String::as_str)
    }
}

/// `16 GiB`, `476.9 GiB`, `512 MiB`: the largest binary unit the size reaches, whole when the
/// size is a whole number of it.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, size) in UNITS {
        if b >= size {
            return if b.is_multiple_of(size) {
                format!("{} {name}", b / size)
            } else {
                format!("{:.1} {name}", b as f64 / size as f64)
            };
        }
    }
    format!("{b} B")
}

/// One field that differs between two reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The item (`bios`, `memory DIMM 0`).
    pub item: String,
    /// The field (`version`).
    pub field: String,
    /// The earlier value (none: the field appeared).
    pub old: Option<String>,
    /// The later value (none: the field disappeared).
    pub new: Option<String>,
}

/// An item present in only one of two reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemChange {
    /// The item.
    pub item: String,
    /// Its fields.
    pub fields: Fields,
}

/// What changed between two inventory reads, sorted by item then field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDiff {
    /// Items only the later read has.
    pub added: Vec<ItemChange>,
    /// Items only the earlier read has.
    pub removed: Vec<ItemChange>,
    /// Fields that differ in items both reads have.
    pub changed: Vec<FieldChange>,
}

impl InventoryDiff {
    /// Compares an earlier read with a later one.
    pub fn between(old: &Inventory, new: &Inventory) -> Self {
        let (a, b) = (old.items(), new.items());
        let mut diff = InventoryDiff::default();
        for (item, fields) in &b {
            match a.get(item) {
                None => diff.added.push(ItemChange {
                    item: item.clone(),
                    fields: fields.clone(),
                }),
                Some(before) => {
                    let names: BTreeSet<&String> = before.keys().chain(fields.keys()).collect();
                    for name in names {
                        let (o, n) = (before.get(name), fields.get(name));
                        if o != n {
                            diff.changed.push(FieldChange {
                                item: item.clone(),
                                field: name.clone(),
                                old: o.cloned(),
                                new: n.cloned(),
                            });
                        }
                    }
                }
            }
        }
        for (item, fields) in &a {
            if !b.contains_key(item) {
                diff.removed.push(ItemChange {
                    item: item.clone(),
                    fields: fields.clone(),
                });
            }
        }
        diff
    }

    /// True when the reads are the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// How many items were added, removed or changed.
    pub fn items_touched(&self) -> usize {
        let changed: BTreeSet<&str> = self.changed.iter().map(|c| c.item.as_str()).collect();
        self.added.len() + self.removed.len() + changed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Inventory {
        Inventory {
            platform_guid: Some("44454C4C330010318052B3C04F4B4D32".into()),
            chassis: Some(Package {
                manufacturer: Some("Emulated Systems Inc.".into()),
                model: Some("vPro Desktop 6".into()),
                serial_number: Some("EMU12345678".into()),
                version: Some("1.0".into()),
                chassis_type: Some(3),
            }),
            bios: Some(Bios {
                vendor: Some("Emulated BIOS".into()),
                version: Some("1.45".into()),
                release_date: None,
            }),
            memory: vec![
                MemoryModule {
                    slot: "DIMM 0".into(),
                    capacity_bytes: Some(8 << 30),
                    ..Default::default()
                },
                MemoryModule {
                    slot: "DIMM 1".into(),
                    capacity_bytes: Some(8 << 30),
                    ..Default::default()
                },
            ],
            firmware: BTreeMap::from([("AMT".into(), "16.1.27".into())]),
            ..Default::default()
        }
    }

    #[test]
    fn identical_reads_have_no_diff() {
        assert!(InventoryDiff::between(&sample(), &sample()).is_empty());
    }

    #[test]
    fn diff_lists_added_removed_and_changed_in_order() {
        let old = sample();
        let mut new = sample();
        new.memory.remove(1);
        new.memory[0].capacity_bytes = Some(16 << 30);
        new.disks.push(Disk {
            id: "MEDIA DEV 0".into(),
            model: Some("SSD".into()),
            size_kb: Some(250_059_096),
        });
        new.bios.as_mut().unwrap().version = Some("1.46".into());
        new.firmware.insert("AMT".into(), "16.1.30".into());
        let d = InventoryDiff::between(&old, &new);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].item, "disk MEDIA DEV 0");
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.removed[0].item, "memory DIMM 1");
        assert_eq!(d.removed[0].fields["capacity"], "8 GiB");
        let changed: Vec<(&str, &str, Option<&str>, Option<&str>)> = d
            .changed
            .iter()
            .map(|c| {
                (
                    c.item.as_str(),
                    c.field.as_str(),
                    c.old.as_deref(),
                    c.new.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            changed,
            [
                ("bios", "version", Some("1.45"), Some("1.46")),
                ("firmware", "AMT", Some("16.1.27"), Some("16.1.30")),
                ("memory DIMM 0", "capacity", Some("8 GiB"), Some("16 GiB")),
            ]
        );
        assert_eq!(d.items_touched(), 5);
        // Deterministic: the same inputs give the same diff, and the reverse swaps roles.
        assert_eq!(d, InventoryDiff::between(&old, &new));
        let back = InventoryDiff::between(&new, &old);
        assert_eq!(back.added[0].item, "memory DIMM 1");
        assert_eq!(back.removed[0].item, "disk MEDIA DEV 0");
    }

    #[test]
    fn fields_that_appear_or_vanish_are_changes() {
        let old = sample();
        let mut new = sample();
        new.bios.as_mut().unwrap().release_date = Some("2024-01-01T00:00:00Z".into());
        new.chassis.as_mut().unwrap().serial_number = None;
        let d = InventoryDiff::between(&old, &new);
        assert_eq!(d.changed.len(), 2);
        assert_eq!(d.changed[0].old, None);
        assert_eq!(d.changed[1].item, "chassis");
        assert_eq!(d.changed[1].new, None);
    }

    #[test]
    fn stored_documents_read_back() {
        let inv = sample();
        let json = serde_json::to_value(&inv).unwrap();
        let back: Inventory = serde_json::from_value(json).unwrap();
        assert_eq!(back, inv);
        // Older documents without newer fields still read.
        let old: Inventory = serde_json::from_str(r#"{"bios":{"version":"1"}}"#).unwrap();
        assert_eq!(old.bios.unwrap().version.as_deref(), Some("1"));
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(8 << 30), "8 GiB");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(500_107_608 * 1024), "476.9 GiB");
    }
}
