//! Hardware and firmware inventory (AMT-PROTOCOLS.md §5.2): `CIM_ComputerSystemPackage`
//! (platform GUID), `CIM_SoftwareIdentity` (firmware versions), `CIM_Chassis`, `CIM_Card`
//! (baseboard), `CIM_BIOSElement`, `CIM_Processor`, `CIM_PhysicalMemory`, `CIM_Chip`,
//! `CIM_MediaAccessDevice`.
//!
//! Sources: recorded fixtures `cim/computer/systempackage/*`, `cim/software/identity/*`; for the
//! classes without a fixture, the properties the Intel AMT SDK class reference lists as
//! "Supported Fields" (the same set go-wsman-messages `pkg/wsman/cim/{chassis,card,bios,
//! processor,physical,chip,mediaaccess}` decodes), typed after Intel's generated classes
//! (intel/lms `CIM_Framework`), value maps from the DMTF CIM schema.
//!
//! Properties copied from SMBIOS tables whose value lists keep growing (`ChassisPackageType`,
//! processor `Family` and `UpgradeMethod`, memory `MemoryType` and `FormFactor`,
//! `TargetOperatingSystem`) stay integers, so a new platform cannot make a whole inventory
//! instance unreadable.

use super::{EnabledDefault, EnabledState, HealthState, OperationalStatus, RequestedState};
use crate::classes::CimDateTime;
use crate::value::EndpointReference;

wire_enum! {
    /// `CIM_PhysicalPackage.PackageType`.
    pub enum PackageType: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: Rack.
        Rack = 2,
        /// 3: Chassis/Frame.
        ChassisFrame = 3,
        /// 4: Cross Connect/Backplane.
        CrossConnectBackplane = 4,
        /// 5: Container/Frame Slot.
        ContainerFrameSlot = 5,
        /// 6: Power Supply.
        PowerSupply = 6,
        /// 7: Fan.
        Fan = 7,
        /// 8: Sensor.
        Sensor = 8,
        /// 9: Module/Card.
        ModuleCard = 9,
        /// 10: Port/Connector.
        PortConnector = 10,
        /// 11: Battery.
        Battery = 11,
        /// 12: Processor.
        Processor = 12,
        /// 13: Memory.
        Memory = 13,
        /// 14: Power Source/Generator.
        PowerSourceGenerator = 14,
        /// 15: Storage Media Package (disk or tape drive).
        StorageMediaPackage = 15,
        /// 16: Blade.
        Blade = 16,
        /// 17: Blade Expansion.
        BladeExpansion = 17,
    }
}

wire_enum! {
    /// `CIM_Processor.CPUStatus`.
    pub enum CpuStatus: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: CPU enabled.
        Enabled = 1,
        /// 2: CPU disabled by user.
        DisabledByUser = 2,
        /// 3: CPU disabled by BIOS (POST error).
        DisabledByBios = 3,
        /// 4: CPU is idle.
        Idle = 4,
        /// 7: Other.
        Other = 7,
    }
}

wire_enum! {
    /// `CIM_SoftwareElement.SoftwareElementState`.
    pub enum SoftwareElementState: u16 {
        /// 0: Deployable.
        Deployable = 0,
        /// 1: Installable.
        Installable = 1,
        /// 2: Executable.
        Executable = 2,
        /// 3: Running.
        Running = 3,
    }
}

wire_enum! {
    /// `CIM_MediaAccessDevice.Capabilities[]`.
    pub enum MediaCapability: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: Sequential access.
        SequentialAccess = 2,
        /// 3: Random access.
        RandomAccess = 3,
        /// 4: Supports writing.
        SupportsWriting = 4,
        /// 5: Encryption.
        Encryption = 5,
        /// 6: Compression.
        Compression = 6,
        /// 7: Supports removable media.
        SupportsRemovableMedia = 7,
        /// 8: Manual cleaning.
        ManualCleaning = 8,
        /// 9: Automatic cleaning.
        AutomaticCleaning = 9,
        /// 10: SMART notification.
        SmartNotification = 10,
        /// 11: Supports dual-sided media.
        SupportsDualSidedMedia = 11,
        /// 12: Predismount eject not required.
        PredismountEjectNotRequired = 12,
    }
}

wire_enum! {
    /// `CIM_MediaAccessDevice.Security`.
    pub enum MediaSecurity: u16 {
        /// 1: Other.
        Other = 1,
        /// 2: Unknown.
        Unknown = 2,
        /// 3: None.
        None = 3,
        /// 4: Read only.
        ReadOnly = 4,
        /// 5: Locked out.
        LockedOut = 5,
        /// 6: Boot bypass.
        BootBypass = 6,
        /// 7: Boot bypass and read only.
        BootBypassAndReadOnly = 7,
    }
}

wsman_struct! {
    /// `CIM_ComputerSystemPackage`: links the host computer system to its chassis and carries
    /// the platform GUID. Source: fixture `cim/computer/systempackage/get.xml`.
    class CimComputerSystemPackage = "CIM_ComputerSystemPackage" {
        /// The `CIM_Chassis`.
        "Antecedent" => antecedent: Option<EndpointReference>,
        /// The `CIM_ComputerSystem`.
        "Dependent" => dependent: Option<EndpointReference>,
        /// SMBIOS UUID as 32 hex characters.
        "PlatformGUID" => platform_guid: Option<String>,
    }
}

impl CimComputerSystemPackage {
    /// The 16 bytes of `PlatformGUID`, in the order they are written.
    pub fn platform_guid_bytes(&self) -> Result<Option<[u8; 16]>, crate::Error> {
        self.platform_guid
            .as_deref()
            .map(|g| {
                let bad = || crate::Error::InvalidValue {
                    class: "CIM_ComputerSystemPackage".into(),
                    property: "PlatformGUID".into(),
                    value: g.chars().take(40).collect(),
                    expected: "32 hex characters",
                };
                let bytes = hex::decode(g.trim()).map_err(|_| bad())?;
                <[u8; 16]>::try_from(bytes).map_err(|_| bad())
            })
            .transpose()
    }
}

wsman_struct! {
    /// `CIM_SoftwareIdentity`: one firmware component version (`InstanceID` `AMT` holds the
    /// AMT version). Source: fixture `cim/software/identity/pull.xml`.
    class CimSoftwareIdentity = "CIM_SoftwareIdentity" {
        /// `Flash`, `Netstack`, `AMTApps`, `AMT`, `Sku`, `VendorID`, `Build Number`, …
        "InstanceID" => instance_id: Option<String>,
        /// Describes a real component.
        "IsEntity" => is_entity: Option<bool>,
        /// The version (`12.0.67`).
        "VersionString" => version_string: Option<String>,
    }
}

wsman_struct! {
    /// `CIM_Chassis`. Source: Intel AMT SDK class reference (supported fields).
    class CimChassis = "CIM_Chassis" {
        /// SMBIOS chassis type (3 Desktop, 9 Laptop, 10 Notebook, 35 Mini PC, …).
        "ChassisPackageType" => chassis_package_type: Option<u16>,
        /// `CIM_Chassis`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Manufacturer.
        "Manufacturer" => manufacturer: Option<String>,
        /// Model.
        "Model" => model: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Package type (chassis/frame).
        "PackageType" => package_type: Option<PackageType>,
        /// Serial number.
        "SerialNumber" => serial_number: Option<String>,
        /// Instance key.
        "Tag" => tag: Option<String>,
        /// Version.
        "Version" => version: Option<String>,
    }
}

wsman_struct! {
    /// `CIM_Card`: the baseboard. Source: Intel AMT SDK class reference (supported fields).
    class CimCard = "CIM_Card" {
        /// Field-replaceable.
        "CanBeFRUed" => can_be_frued: Option<bool>,
        /// `CIM_Card`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Manufacturer.
        "Manufacturer" => manufacturer: Option<String>,
        /// Model.
        "Model" => model: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Package type (module/card).
        "PackageType" => package_type: Option<PackageType>,
        /// Serial number.
        "SerialNumber" => serial_number: Option<String>,
        /// Instance key.
        "Tag" => tag: Option<String>,
        /// Version.
        "Version" => version: Option<String>,
    }
}

wsman_struct! {
    /// `CIM_BIOSElement`. Source: Intel AMT SDK class reference (supported fields).
    class CimBiosElement = "CIM_BIOSElement" {
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// BIOS vendor.
        "Manufacturer" => manufacturer: Option<String>,
        /// Name.
        "Name" => name: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// The primary BIOS of the system.
        "PrimaryBIOS" => primary_bios: Option<bool>,
        /// Release date.
        "ReleaseDate" => release_date: Option<CimDateTime>,
        /// Software element ID.
        "SoftwareElementID" => software_element_id: Option<String>,
        /// Software element state.
        "SoftwareElementState" => software_element_state: Option<SoftwareElementState>,
        /// Target OS (DMTF list).
        "TargetOperatingSystem" => target_operating_system: Option<u16>,
        /// BIOS version.
        "Version" => version: Option<String>,
    }
}

wsman_struct! {
    /// `CIM_Processor`. Source: Intel AMT SDK class reference (supported fields).
    class CimProcessor = "CIM_Processor" {
        /// CPU status.
        "CPUStatus" => cpu_status: Option<CpuStatus>,
        /// `CIM_Processor`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Current speed, MHz.
        "CurrentClockSpeed" => current_clock_speed: Option<u32>,
        /// Device key.
        "DeviceID" => device_id: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// Front-side bus speed, MHz.
        "ExternalBusClockSpeed" => external_bus_clock_speed: Option<u32>,
        /// Processor family (SMBIOS list).
        "Family" => family: Option<u16>,
        /// Health state.
        "HealthState" => health_state: Option<HealthState>,
        /// Maximum speed, MHz.
        "MaxClockSpeed" => max_clock_speed: Option<u32>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Family description when `Family` is 1 (Other).
        "OtherFamilyDescription" => other_family_description: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// Role (`Central Processor`).
        "Role" => role: Option<String>,
        /// Stepping.
        "Stepping" => stepping: Option<String>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `ManagedSystem`.
        "SystemName" => system_name: Option<String>,
        /// Socket type (SMBIOS list).
        "UpgradeMethod" => upgrade_method: Option<u16>,
    }
}

wsman_struct! {
    /// `CIM_PhysicalMemory`: one memory module. Source: Intel AMT SDK class reference.
    class CimPhysicalMemory = "CIM_PhysicalMemory" {
        /// Bank label.
        "BankLabel" => bank_label: Option<String>,
        /// Capacity in bytes.
        "Capacity" => capacity: Option<u64>,
        /// Configured speed.
        "ConfiguredMemoryClockSpeed" => configured_memory_clock_speed: Option<u32>,
        /// `CIM_PhysicalMemory`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Form factor (SMBIOS list; 8 DIMM, 12 SODIMM).
        "FormFactor" => form_factor: Option<u16>,
        /// `Speed` is in MHz rather than ns.
        "IsSpeedInMhz" => is_speed_in_mhz: Option<bool>,
        /// Manufacturer.
        "Manufacturer" => manufacturer: Option<String>,
        /// Maximum speed.
        "MaxMemorySpeed" => max_memory_speed: Option<u32>,
        /// Memory type (SMBIOS list; 26 DDR4, 34 DDR5).
        "MemoryType" => memory_type: Option<u16>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Part number.
        "PartNumber" => part_number: Option<String>,
        /// Serial number.
        "SerialNumber" => serial_number: Option<String>,
        /// Speed.
        "Speed" => speed: Option<u32>,
        /// Instance key.
        "Tag" => tag: Option<String>,
    }
}

wsman_struct! {
    /// `CIM_Chip`. Source: Intel AMT SDK class reference (supported fields).
    class CimChip = "CIM_Chip" {
        /// Field-replaceable.
        "CanBeFRUed" => can_be_frued: Option<bool>,
        /// `CIM_Chip`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Manufacturer.
        "Manufacturer" => manufacturer: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Instance key.
        "Tag" => tag: Option<String>,
        /// Version.
        "Version" => version: Option<String>,
    }
}

wsman_struct! {
    /// `CIM_MediaAccessDevice`: a disk or optical drive. Source: Intel AMT SDK class reference.
    class CimMediaAccessDevice = "CIM_MediaAccessDevice" {
        /// Capabilities.
        "Capabilities" => capabilities: Vec<MediaCapability>,
        /// `CIM_MediaAccessDevice`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Device key.
        "DeviceID" => device_id: Option<String>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Enabled default.
        "EnabledDefault" => enabled_default: Option<EnabledDefault>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// Size of the largest medium, kilobytes.
        "MaxMediaSize" => max_media_size: Option<u64>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// Security state.
        "Security" => security: Option<MediaSecurity>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `ManagedSystem`.
        "SystemName" => system_name: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_guid_decodes_from_hex() {
        let p = CimComputerSystemPackage {
            platform_guid: Some("13AEE355D2BFBB6117A088AEDD7037EA".into()),
            ..Default::default()
        };
        let b = p.platform_guid_bytes().unwrap().unwrap();
        assert_eq!(b[0], 0x13);
        assert_eq!(b[15], 0xea);
    }
}
