//! Firmware personas: what differs between AMT generations.
//!
//! A persona fixes the version strings a device reports (CIM_SoftwareIdentity), the ports it
//! opens, the TLS versions it speaks, its quirks, its factory trusted-root hashes and its
//! platform inventory. Values follow the recorded real-device responses
//! (../shared/fixtures/wsman-responses) and the DMTF/Intel class references.

/// The SHA-256 hashes of the root certificates AMT firmware trusts from the factory for
/// remote configuration (the "provisioning certificate hashes"). These are fingerprints of
/// public CA root certificates; the list and its order match the hello packets recorded from
/// real AMT devices (../shared/fixtures/hello; MeshCentral's published samples). The 23-hash
/// generation lacks `a267c480…`.
pub const FACTORY_ROOT_HASHES_SHA256: &[&str] = &[
    "c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4",
    "45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda",
    "d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4",
    "1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658",
    "2ce1cb0bf9d2f9e102993fbe215152c3b2dd0cabde1c68e5319b839154dbb7f5",
    "9acfab7e43c8d880d06b262a94deeee4b4659989c3d0caf19baf6405e41ab7df",
    "16af57a9f676b0ab126095aa5ebadef22ab31119d644ac95cd4b93dbf3f26aeb",
    "960adf0063e96356750c2965dd0a0867da0b9cbd6e77714aeafb2349ab393da3",
    "68ad50909b04363c605ef13581a939ff2c96372e3f12325b0a6861e1d59f6603",
    "6dc47172e01cbcb0bf62580d895fe2b8ac9ad4f873801e0c10b9c837d21eb177",
    "73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c",
    "43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339",
    "2399561127a57125de8cefea610ddf2fa078b5c8067f4e828290bfb860e84b3c",
    "70a73f7f376b60074248904534b11482d5bf0e698ecc498df52577ebf2e93b9a",
    "4348a0e9444c78cb265e058d5e8944b4d84f9662bd26db257f8934a443c70161",
    "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
    "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0",
    "552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988",
    "67540a47aa5b9f34570a99723cfefa96a96ee3f0d9b8bf4def9440b8065d665d",
    "a267c480b0b29056eb5e8aa7c93add804f5a7df516e969e77bcacafe8d456079",
    "7224395222cd588c4f2683716922addb41e39b581ac34fa87b39efa896fbb39e",
    "cbb522d7b7f127ad6a0113865bdf1cd4102e7d0759af635a7cf4720dc963c53b",
    "179fbc148a3dd00fd24ea13458cc43bfa7f59c8182d783a513f6ebec100c8924",
    "2cabeafe37d06ca22aba7391c0033d25982952c453647349763a3ab5ad6ccf69",
];

/// TLS protocol versions a persona speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 only (older firmware; TLS 1.0/1.1 are out of scope: rustls does not speak them).
    Tls12,
    /// TLS 1.2 and 1.3 (AMT 16 and later).
    Tls12And13,
}

/// Behaviour differences real firmware generations show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quirks {
    /// Answers `AdminSetup`/`CommitChanges` and then drops the TCP session (RPS treats AdminSetup
    /// as one-shot for this reason; AMT-PROTOCOLS.md §2.3).
    pub drop_after_admin_setup: bool,
    /// Rejects SHA-1 signed and < 2048-bit certificates (ME 15/16 on).
    pub rejects_sha1: bool,
    /// Serves KVM (16994/16995 KVMR sessions and IPS_KVMRedirectionSettingData).
    pub kvm: bool,
    /// Reports the double-buffer, grayscale, decimation and zlib properties of
    /// `IPS_KVMRedirectionSettingData` (newer firmware; recorded
    /// `ips/kvmredirection/settings/put.xml`).
    pub kvm_extended_settings: bool,
}

/// One processor of the platform inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    /// Manufacturer/model string.
    pub model: &'static str,
    /// Max clock (MHz).
    pub max_mhz: u32,
    /// Current clock (MHz).
    pub current_mhz: u32,
    /// Cores.
    pub cores: u16,
    /// SMBIOS processor family (`CIM_Processor.Family`; 198 Core i7).
    pub family: u16,
    /// SMBIOS processor upgrade (`UpgradeMethod`; 1 other (LGA socket), 6 none (soldered BGA)).
    pub upgrade_method: u16,
    /// Stepping.
    pub stepping: &'static str,
    /// External bus clock (MHz).
    pub bus_mhz: u32,
}

/// One memory module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimm {
    /// Slot label.
    pub bank: &'static str,
    /// Capacity in bytes.
    pub capacity: u64,
    /// Speed in MHz.
    pub speed_mhz: u32,
    /// Vendor.
    pub manufacturer: &'static str,
    /// Part number.
    pub part: &'static str,
    /// SMBIOS form factor (8 DIMM, 12 SODIMM).
    pub form_factor: u16,
    /// SMBIOS memory type (26 DDR4, 34 DDR5).
    pub memory_type: u16,
}

/// One disk or optical drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// Model string.
    pub model: &'static str,
    /// Capacity in kilobytes (`CIM_MediaAccessDevice.MaxMediaSize`).
    pub size_kb: u64,
}

/// Platform inventory a persona reports "down the wire".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// Chassis/board vendor.
    pub manufacturer: &'static str,
    /// Product/model.
    pub model: &'static str,
    /// Baseboard product.
    pub board: &'static str,
    /// BIOS vendor.
    pub bios_vendor: &'static str,
    /// BIOS version.
    pub bios_version: &'static str,
    /// BIOS release date (CIM datetime).
    pub bios_date: &'static str,
    /// Chassis package type (CIM_Chassis.ChassisPackageType; 3 = desktop, 10 = notebook).
    pub chassis_type: u16,
    /// Processors.
    pub cpus: &'static [Cpu],
    /// Memory modules.
    pub dimms: &'static [Dimm],
    /// Disks.
    pub disks: &'static [Disk],
    /// A wireless NIC the ME can use (second `AMT_EthernetPortSettings` instance).
    pub wifi: bool,
}

/// A firmware generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persona {
    /// Short name used in fleet files (`amt11`, `amt16`).
    pub name: &'static str,
    /// AMT version (`CIM_SoftwareIdentity` `AMT`).
    pub amt_version: &'static str,
    /// Firmware build number.
    pub build_number: &'static str,
    /// SKU number.
    pub sku: &'static str,
    /// TLS versions spoken on 16993/16995.
    pub tls: TlsVersions,
    /// Whether plain 16992/16994 stay open after TLS is configured (older firmware allowed it
    /// by default, newer firmware only when the profile accepts non-secure connections).
    pub plain_open_by_default: bool,
    /// `AvailableRequestedPowerStates` as the firmware reports them while the host is on (the
    /// lists for an off or sleeping host are the same for every persona; see
    /// `firmware::manage::power`).
    pub power_states: &'static [u16],
    /// Quirks.
    pub quirks: Quirks,
    /// Platform inventory.
    pub platform: Platform,
}

const DESKTOP_CPUS: &[Cpu] = &[Cpu {
    model: "Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz",
    max_mhz: 4000,
    current_mhz: 3400,
    cores: 4,
    family: 198,
    upgrade_method: 1,
    stepping: "3",
    bus_mhz: 100,
}];

const DESKTOP_DIMMS: &[Dimm] = &[
    Dimm {
        bank: "BANK 0",
        capacity: 8 * 1024 * 1024 * 1024,
        speed_mhz: 2133,
        manufacturer: "Samsung",
        part: "M378A1K43BB1-CPB",
        form_factor: 8,
        memory_type: 26,
    },
    Dimm {
        bank: "BANK 2",
        capacity: 8 * 1024 * 1024 * 1024,
        speed_mhz: 2133,
        manufacturer: "Samsung",
        part: "M378A1K43BB1-CPB",
        form_factor: 8,
        memory_type: 26,
    },
];

const NOTEBOOK_CPUS: &[Cpu] = &[Cpu {
    model: "12th Gen Intel(R) Core(TM) i7-1265U",
    max_mhz: 4800,
    current_mhz: 1800,
    cores: 10,
    family: 198,
    upgrade_method: 6,
    stepping: "4",
    bus_mhz: 100,
}];

const NOTEBOOK_DIMMS: &[Dimm] = &[Dimm {
    bank: "Controller0-ChannelA-DIMM0",
    capacity: 16 * 1024 * 1024 * 1024,
    speed_mhz: 3200,
    manufacturer: "SK Hynix",
    part: "HMAA2GS6CJR8N-XN",
    form_factor: 12,
    memory_type: 26,
}];

/// AMT 11 on a 6th-generation desktop (Skylake, ME 11.8).
pub const AMT11: Persona = Persona {
    name: "amt11",
    amt_version: "11.8.50",
    build_number: "3399",
    sku: "16392",
    tls: TlsVersions::Tls12,
    plain_open_by_default: true,
    // Host on, no in-OS agent for the graceful states: the list a recorded AMT answer in public
    // console test data carries (10, 8, 5, 11).
    power_states: &[10, 8, 5, 11],
    quirks: Quirks {
        drop_after_admin_setup: false,
        rejects_sha1: false,
        kvm: true,
        kvm_extended_settings: false,
    },
    platform: Platform {
        manufacturer: "Emulated Systems Inc.",
        model: "vPro Desktop 6",
        board: "EMU-Q170",
        bios_vendor: "Emulated BIOS Co.",
        bios_version: "N01 Ver. 02.45",
        bios_date: "2020-09-01T00:00:00Z",
        chassis_type: 3,
        cpus: DESKTOP_CPUS,
        dimms: DESKTOP_DIMMS,
        disks: &[Disk {
            model: "SAMSUNG MZ7LN256HMJP-000",
            size_kb: 250_059_096,
        }],
        wifi: false,
    },
};

/// AMT 16 on a 12th-generation notebook (Alder Lake, CSME 16.1). Rejects SHA-1, speaks TLS 1.3,
/// drops the session after AdminSetup as RPS observes.
pub const AMT16: Persona = Persona {
    name: "amt16",
    amt_version: "16.1.27",
    build_number: "2176",
    sku: "16392",
    tls: TlsVersions::Tls12And13,
    plain_open_by_default: false,
    // The recorded AMT device's list (cim/associatedpower/managementservice/get.xml).
    power_states: &[10, 8, 5, 11, 4, 7, 14, 12],
    quirks: Quirks {
        drop_after_admin_setup: true,
        rejects_sha1: true,
        kvm: true,
        kvm_extended_settings: true,
    },
    platform: Platform {
        manufacturer: "Emulated Systems Inc.",
        model: "vPro Notebook 12",
        board: "EMU-ADL-P",
        bios_vendor: "Emulated BIOS Co.",
        bios_version: "R1ZET45W (1.45)",
        bios_date: "2024-03-12T00:00:00Z",
        chassis_type: 10,
        cpus: NOTEBOOK_CPUS,
        dimms: NOTEBOOK_DIMMS,
        disks: &[Disk {
            model: "SAMSUNG MZVL2512HCJQ-00BL7",
            size_kb: 500_107_608,
        }],
        wifi: true,
    },
};

/// Every persona.
pub const ALL: &[Persona] = &[AMT11, AMT16];

/// The persona with this name.
pub fn by_name(name: &str) -> Option<&'static Persona> {
    ALL.iter().find(|p| p.name == name)
}
