//! Hardware and firmware inventory (M2) "down the wire": `CIM_ComputerSystemPackage`,
//! `CIM_SoftwareIdentity`, `CIM_Chassis`, `CIM_Card` (baseboard), `CIM_BIOSElement`,
//! `CIM_Processor`, `CIM_PhysicalMemory`, `CIM_Chip` and `CIM_MediaAccessDevice`, built from the
//! persona and the device's identity.
//!
//! - `PlatformGUID` is the SMBIOS UUID in the byte order the firmware stores it (first three
//!   groups little-endian) as 32 upper-case hex digits: MeshCentral turns it back into the UUID
//!   with the same swap (`guidToStr`) it applies to the hello packet's UUID.
//! - `CIM_SoftwareIdentity` answers the eleven `InstanceID`s of the recorded
//!   `cim/software/identity/pull.xml`, in that order, with the persona's versions.
//! - The classes without a recorded answer use the properties of Intel's class reference, in
//!   AMT's alphabetical order; serial numbers are derived from the device UUID so that every
//!   device of a fleet differs. `CIM_Chip` holds the processor chips; disks report their model in
//!   `ElementName`.

use amt_wsman::classes::cim::{
    CimBiosElement, CimCard, CimChassis, CimChip, CimComputerSystemPackage, CimMediaAccessDevice,
    CimPhysicalMemory, CimProcessor, CimSoftwareIdentity, CpuStatus, EnabledDefault, EnabledState,
    HealthState, MediaCapability, MediaSecurity, OperationalStatus, PackageType, RequestedState,
    SoftwareElementState,
};
use amt_wsman::classes::{CimDateTime, Typed};
use amt_wsman::{EndpointReference, Instance, SelectorSet};

use crate::firmware::Firmware;

/// The 16 bytes of a canonical UUID text in SMBIOS order (first three groups byte-swapped);
/// `None` when the text is not a UUID.
pub fn smbios_uuid_bytes(uuid: &str) -> Option<[u8; 16]> {
    let hex_digits: String = uuid.chars().filter(|c| *c != '-').collect();
    let b: [u8; 16] = hex::decode(hex_digits).ok()?.try_into().ok()?;
    let mut o = b;
    o[..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    o[4..6].copy_from_slice(&[b[5], b[4]]);
    o[6..8].copy_from_slice(&[b[7], b[6]]);
    Some(o)
}

/// A per-device serial number: `prefix` and eight hex digits of the UUID.
fn serial(fw: &Firmware, prefix: &str, n: usize) -> String {
    let u: String = fw
        .state
        .config
        .uuid
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_uppercase();
    let start = (n * 4) % u.len().max(1);
    let tail: String = u.chars().cycle().skip(start).take(8).collect();
    format!("{prefix}{tail}")
}

/// `CIM_ComputerSystemPackage` (fixture `cim/computer/systempackage/get.xml`).
pub(super) fn system_package(fw: &Firmware) -> Vec<Instance> {
    let p = CimComputerSystemPackage {
        antecedent: Some(EndpointReference::to_class(
            "CIM_Chassis",
            SelectorSet::new()
                .with("CreationClassName", "CIM_Chassis")
                .with("Tag", "CIM_Chassis"),
        )),
        dependent: Some(amt_wsman::classes::cim::managed_system()),
        platform_guid: Some(
            smbios_uuid_bytes(&fw.state.config.uuid)
                .map(hex::encode_upper)
                .unwrap_or_else(|| "0".repeat(32)),
        ),
        extra: Vec::new(),
    };
    vec![p.to_instance()]
}

/// `CIM_SoftwareIdentity` (fixture `cim/software/identity/pull.xml`).
pub(super) fn software_identity(fw: &Firmware) -> Vec<Instance> {
    let p = fw.persona;
    let v = p.amt_version;
    [
        ("Flash", v),
        ("Netstack", v),
        ("AMTApps", v),
        ("AMT", v),
        ("Sku", p.sku),
        ("VendorID", "8086"),
        ("Build Number", p.build_number),
        ("Recovery Version", v),
        ("Recovery Build Num", p.build_number),
        ("Legacy Mode", "False"),
        ("AMT FW Core Version", v),
    ]
    .iter()
    .map(|(id, version)| {
        CimSoftwareIdentity {
            instance_id: Some((*id).into()),
            is_entity: Some(true),
            version_string: Some((*version).into()),
            extra: Vec::new(),
        }
        .to_instance()
    })
    .collect()
}

/// `CIM_Chassis`.
pub(super) fn chassis(fw: &Firmware) -> Vec<Instance> {
    let pl = &fw.persona.platform;
    let c = CimChassis {
        chassis_package_type: Some(pl.chassis_type),
        creation_class_name: Some("CIM_Chassis".into()),
        element_name: Some("Managed System Chassis".into()),
        manufacturer: Some(pl.manufacturer.into()),
        model: Some(pl.model.into()),
        operational_status: vec![OperationalStatus::Unknown],
        package_type: Some(PackageType::ChassisFrame),
        serial_number: Some(serial(fw, "EMU", 0)),
        tag: Some("CIM_Chassis".into()),
        version: Some("1.0".into()),
        extra: Vec::new(),
    };
    vec![c.to_instance()]
}

/// `CIM_Card`: the baseboard.
pub(super) fn card(fw: &Firmware) -> Vec<Instance> {
    let pl = &fw.persona.platform;
    let c = CimCard {
        can_be_frued: Some(true),
        creation_class_name: Some("CIM_Card".into()),
        element_name: Some("Managed System Base Board".into()),
        manufacturer: Some(pl.manufacturer.into()),
        model: Some(pl.board.into()),
        operational_status: vec![OperationalStatus::Unknown],
        package_type: Some(PackageType::ModuleCard),
        serial_number: Some(serial(fw, "MB", 1)),
        tag: Some("CIM_Card".into()),
        version: Some("1.0".into()),
        extra: Vec::new(),
    };
    vec![c.to_instance()]
}

/// `CIM_BIOSElement`.
pub(super) fn bios(fw: &Firmware) -> Vec<Instance> {
    let pl = &fw.persona.platform;
    let b = CimBiosElement {
        element_name: Some("Primary BIOS".into()),
        manufacturer: Some(pl.bios_vendor.into()),
        name: Some("Primary BIOS".into()),
        operational_status: vec![OperationalStatus::Unknown],
        primary_bios: Some(true),
        release_date: Some(CimDateTime::datetime(pl.bios_date)),
        software_element_id: Some(pl.bios_version.into()),
        software_element_state: Some(SoftwareElementState::Executable),
        target_operating_system: Some(0),
        version: Some(pl.bios_version.into()),
        extra: Vec::new(),
    };
    vec![b.to_instance()]
}

/// `CIM_Processor`, one per CPU.
pub(super) fn processors(fw: &Firmware) -> Vec<Instance> {
    fw.persona
        .platform
        .cpus
        .iter()
        .enumerate()
        .map(|(i, c)| {
            CimProcessor {
                cpu_status: Some(CpuStatus::Enabled),
                creation_class_name: Some("CIM_Processor".into()),
                current_clock_speed: Some(c.current_mhz),
                device_id: Some(format!("CPU {i}")),
                element_name: Some("Managed System CPU".into()),
                enabled_state: Some(EnabledState::Enabled),
                external_bus_clock_speed: Some(c.bus_mhz),
                family: Some(c.family),
                health_state: Some(HealthState::Ok),
                max_clock_speed: Some(c.max_mhz),
                operational_status: vec![OperationalStatus::Ok],
                other_family_description: None,
                requested_state: Some(RequestedState::NotApplicable),
                role: Some("Central Processor".into()),
                stepping: Some(c.stepping.into()),
                system_creation_class_name: Some("CIM_ComputerSystem".into()),
                system_name: Some("ManagedSystem".into()),
                upgrade_method: Some(c.upgrade_method),
                extra: Vec::new(),
            }
            .to_instance()
        })
        .collect()
}

/// `CIM_PhysicalMemory`, one per module.
pub(super) fn memory(fw: &Firmware) -> Vec<Instance> {
    fw.persona
        .platform
        .dimms
        .iter()
        .enumerate()
        .map(|(i, d)| {
            CimPhysicalMemory {
                bank_label: Some(d.bank.into()),
                capacity: Some(d.capacity),
                configured_memory_clock_speed: Some(d.speed_mhz),
                creation_class_name: Some("CIM_PhysicalMemory".into()),
                element_name: Some("Managed System Memory Chip".into()),
                form_factor: Some(d.form_factor),
                is_speed_in_mhz: Some(true),
                manufacturer: Some(d.manufacturer.into()),
                max_memory_speed: Some(d.speed_mhz),
                memory_type: Some(d.memory_type),
                operational_status: vec![OperationalStatus::Unknown],
                part_number: Some(d.part.into()),
                serial_number: Some(serial(fw, "", 2 + i)),
                speed: Some(d.speed_mhz),
                tag: Some(format!("Memory {i}")),
                extra: Vec::new(),
            }
            .to_instance()
        })
        .collect()
}

/// `CIM_Chip`: the processor chips.
pub(super) fn chips(fw: &Firmware) -> Vec<Instance> {
    fw.persona
        .platform
        .cpus
        .iter()
        .enumerate()
        .map(|(i, c)| {
            CimChip {
                can_be_frued: Some(c.upgrade_method != 6),
                creation_class_name: Some("CIM_Chip".into()),
                element_name: Some("Managed System Processor Chip".into()),
                manufacturer: Some("Intel(R) Corporation".into()),
                operational_status: vec![OperationalStatus::Unknown],
                tag: Some(format!("CPU {i}")),
                version: Some(c.model.into()),
                extra: Vec::new(),
            }
            .to_instance()
        })
        .collect()
}

/// `CIM_MediaAccessDevice`, one per disk.
pub(super) fn media(fw: &Firmware) -> Vec<Instance> {
    fw.persona
        .platform
        .disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            CimMediaAccessDevice {
                capabilities: vec![
                    MediaCapability::RandomAccess,
                    MediaCapability::SupportsWriting,
                    MediaCapability::SmartNotification,
                ],
                creation_class_name: Some("CIM_MediaAccessDevice".into()),
                device_id: Some(format!("MEDIA DEV {i}")),
                element_name: Some(d.model.into()),
                enabled_default: Some(EnabledDefault::Enabled),
                enabled_state: Some(EnabledState::Enabled),
                max_media_size: Some(d.size_kb),
                operational_status: vec![OperationalStatus::Ok],
                requested_state: Some(RequestedState::NotApplicable),
                security: Some(MediaSecurity::None),
                system_creation_class_name: Some("CIM_ComputerSystem".into()),
                system_name: Some("ManagedSystem".into()),
                extra: Vec::new(),
            }
            .to_instance()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_guid_swaps_the_first_three_groups() {
        let b = smbios_uuid_bytes("4c4c4544-0033-3110-8052-b3c04f4b4d32").unwrap();
        assert_eq!(hex::encode_upper(b), "44454C4C330010318052B3C04F4B4D32");
        assert!(smbios_uuid_bytes("not-a-uuid").is_none());
    }
}
