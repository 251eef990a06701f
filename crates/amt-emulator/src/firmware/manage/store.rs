//! What the management features keep in flash: boot options, System Defense policies and
//! filters, Kerberos settings, network settings, redirection and KVM settings, user-consent state,
//! alarms, the clock-sync handshake. One [`ManageState`] lives in
//! [`DeviceState::manage`](crate::state::DeviceState::manage); every field has a default, so state
//! files written before a field existed still load.

use serde::{Deserialize, Serialize};

/// A secret kept as the firmware keeps it (Kerberos master key, RFB password): serialised to the
/// state file, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// All persisted management state of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ManageState {
    /// Host power details beyond `DeviceState::power_state`.
    pub power: PowerStore,
    /// Boot options and what the host last booted.
    pub boot: BootStore,
    /// Clock synchronisation handshake.
    pub time: TimeStore,
    /// User consent (IPS_OptInService).
    pub opt_in: OptInStore,
    /// System Defense policies, filters and their port bindings.
    pub defense: DefenseStore,
    /// Kerberos (AMT_KerberosSettingData).
    pub kerberos: KerberosStore,
    /// Wired and wireless port settings (AMT_EthernetPortSettings).
    pub network: NetworkStore,
    /// Redirection listener and KVM.
    pub redirection: RedirectionStore,
    /// Alarm clock occurrences (IPS_AlarmClockOccurrence).
    pub alarms: Vec<Alarm>,
}

/// Host power details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PowerStore {
    /// `IPS_PowerManagementService.OSPowerSavingState` while the host is on (2 full power,
    /// 3 OS power saving).
    pub os_power_saving_state: u16,
}

impl Default for PowerStore {
    fn default() -> Self {
        PowerStore {
            os_power_saving_state: 2,
        }
    }
}

/// The writable one-shot options of `AMT_BootSettingData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BootOptions {
    /// Boot from the IDE-R device.
    pub use_ider: bool,
    /// 0 floppy image, 1 CD image.
    pub ider_boot_device: u8,
    /// Redirect the BIOS console to SOL.
    pub use_sol: bool,
    /// Enter BIOS setup.
    pub bios_setup: bool,
    /// Pause in the BIOS.
    pub bios_pause: bool,
    /// Boot media index.
    pub boot_media_index: u16,
    /// Reset BIOS configuration data.
    pub configuration_data_reset: bool,
    /// Keep secure boot enforced.
    pub enforce_secure_boot: bool,
    /// Firmware verbosity (0–3).
    pub firmware_verbosity: u8,
    /// Send BIOS progress events.
    pub forced_progress_events: bool,
    /// Lock the keyboard.
    pub lock_keyboard: bool,
    /// Lock the power button.
    pub lock_power_button: bool,
    /// Lock the reset button.
    pub lock_reset_button: bool,
    /// Lock the sleep button.
    pub lock_sleep_button: bool,
    /// Reflash the BIOS.
    pub reflash_bios: bool,
    /// Secure erase.
    pub secure_erase: bool,
    /// Safe mode.
    pub use_safe_mode: bool,
    /// Bypass the BIOS user password.
    pub user_password_bypass: bool,
}

/// What the host booted, as the emulated BIOS reports it in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostBoot {
    /// The local hard drive (default boot order).
    HardDrive,
    /// The network (PXE).
    Pxe,
    /// The local CD/DVD drive.
    CdDvd,
    /// The IDE-R CD image served by the console.
    IderCd,
    /// The IDE-R floppy image served by the console.
    IderFloppy,
    /// BIOS setup (the host stopped there).
    BiosSetup,
}

/// Boot configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootStore {
    /// Options set with Put `AMT_BootSettingData`.
    pub options: BootOptions,
    /// The options were consumed by a boot (`OptionsCleared`).
    pub options_cleared: bool,
    /// `InstanceID` of the `CIM_BootSourceSetting` set with `ChangeBootOrder`, if any.
    pub forced_source: Option<String>,
    /// `SetBootConfigRole(IsNext)` armed the configuration for the next boot.
    pub role_armed: bool,
    /// `CIM_BootService.EnabledState` (2, or 32768–32771 for OCR / RPE).
    pub service_state: u16,
    /// What the host booted last.
    pub last_boot: Option<HostBoot>,
}

impl Default for BootStore {
    fn default() -> Self {
        BootStore {
            options: BootOptions::default(),
            options_cleared: true,
            forced_source: None,
            role_armed: false,
            service_state: 2,
            last_boot: None,
        }
    }
}

/// The clock-sync handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TimeStore {
    /// The `Ta0` the last `GetLowAccuracyTimeSynch` returned.
    pub last_ta0: Option<u32>,
    /// A console set the clock (`TimeSource` 1).
    pub synchronised: bool,
}

/// User consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OptInStore {
    /// `OptInState` (0 not started, 2 displayed, 3 received, 4 in session).
    pub state: u8,
    /// The code on the host screen.
    pub code: Option<u32>,
    /// Device time the code was shown.
    pub code_shown_at: u64,
    /// Consecutive wrong codes for the current code.
    pub failures: u8,
    /// Device time until which `StartOptIn` is blocked after three wrong codes.
    pub blocked_until: u64,
    /// Device time consent was given.
    pub received_at: u64,
}

/// One System Defense policy (`AMT_SystemDefensePolicy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StoredPolicy {
    /// Handle (the `InstanceID`).
    pub handle: u32,
    /// `PolicyName`.
    pub name: String,
    /// `PolicyPrecedence`.
    pub precedence: u32,
    /// `AntiSpoofingSupport`.
    pub anti_spoofing: u32,
    /// `FilterCreationHandles`, in order.
    pub filters: Vec<u32>,
    /// Drop unmatched received packets.
    pub rx_default_drop: bool,
    /// Count unmatched received packets.
    pub rx_default_count: bool,
    /// Event on unmatched received packets.
    pub rx_default_match_event: bool,
    /// Drop unmatched transmitted packets.
    pub tx_default_drop: bool,
    /// Count unmatched transmitted packets.
    pub tx_default_count: bool,
    /// Event on unmatched transmitted packets.
    pub tx_default_match_event: bool,
}

/// Which header level a stored filter matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterMatch {
    /// `AMT_Hdr8021Filter`.
    Ethernet {
        /// EtherType.
        protocol: Option<u16>,
        /// Source MAC.
        src_mac: Option<[u8; 6]>,
        /// Destination MAC.
        dst_mac: Option<[u8; 6]>,
        /// VLAN ID.
        vlan: Option<u32>,
        /// 802.1p priority.
        priority: Option<u32>,
    },
    /// `AMT_IPHeadersFilter`.
    Ip {
        /// 4 or 6.
        version: Option<u8>,
        /// Source address (hex as stored).
        src: Option<String>,
        /// Source mask (hex).
        src_mask: Option<String>,
        /// End of the source range (hex).
        src_end: Option<String>,
        /// Destination address (hex).
        dst: Option<String>,
        /// Destination mask (hex).
        dst_mask: Option<String>,
        /// End of the destination range (hex).
        dst_end: Option<String>,
        /// IP protocol.
        protocol: Option<u8>,
        /// Source ports (first, last).
        src_ports: Option<(u16, u16)>,
        /// Destination ports (first, last).
        dst_ports: Option<(u16, u16)>,
    },
}

/// One System Defense filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFilter {
    /// Handle (the `InstanceID`).
    pub handle: u32,
    /// `Name`.
    pub name: String,
    /// `ElementName`.
    pub element_name: String,
    /// `FilterDirection` (0 transmit, 1 receive, 2 as recorded: both).
    pub direction: u16,
    /// `FilterProfile` (0 count+pass, 1 count+drop, 2 rate limit, 3 pass, 4 drop).
    pub profile: u16,
    /// `FilterProfileData`.
    pub profile_data: Option<u32>,
    /// `ActionEventOnMatch`.
    pub event_on_match: bool,
    /// `IsNegated`.
    pub negated: bool,
    /// `FilterEnabled` as the recorded firmware reports it.
    pub enabled: Option<bool>,
    /// Created with the recorded firmware's `VLANID` / `VLANPriority` names rather than
    /// Intel's `HdrVLANID8021` / `HdrPriorityValue8021`: answered the same way.
    #[serde(default)]
    pub recorded_names: bool,
    /// What it matches.
    pub matcher: FilterMatch,
}

/// A policy applied to a port (`AMT_NetworkPortSystemDefensePolicy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// Port `DeviceID` (`Intel(r) AMT Ethernet Port 0` wired, `… 1` wireless).
    pub port: String,
    /// Policy handle.
    pub policy: u32,
    /// `Enabled`.
    pub enabled: bool,
}

/// System Defense.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DefenseStore {
    /// Policies.
    pub policies: Vec<StoredPolicy>,
    /// Filters.
    pub filters: Vec<StoredFilter>,
    /// Policy-to-port bindings.
    pub bindings: Vec<PortBinding>,
    /// Next handle.
    pub next_handle: u32,
}

/// Kerberos settings pushed by the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct KerberosStore {
    /// `KrbEnabled`.
    pub enabled: bool,
    /// `RealmName` (empty until configured).
    pub realm: String,
    /// `(ServicePrincipalName, ServicePrincipalProtocol)` pairs.
    pub spns: Vec<(String, u16)>,
    /// `KeyVersion`.
    pub key_version: u32,
    /// `EncryptionAlgorithm`.
    pub encryption_algorithm: u16,
    /// `MasterKey` (base64, write-only on the wire).
    pub master_key: Secret,
    /// `Passphrase` (write-only), for the string-to-key form.
    pub passphrase: Secret,
    /// `Salt`.
    pub salt: String,
    /// `IterationCount`.
    pub iteration_count: Option<u32>,
    /// `MaximumClockTolerance` in minutes.
    pub max_clock_tolerance: u32,
    /// `ConfiguredEncryptionAlgorithms`.
    pub configured_algorithms: Vec<u16>,
    /// Credential (ticket) cache state.
    pub credential_cache: bool,
}

/// Addresses a DHCP lease (or the static configuration) gives the shared NIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct IpConfig {
    /// IPv4 address.
    pub address: String,
    /// Subnet mask.
    pub subnet_mask: String,
    /// Default gateway.
    pub gateway: String,
    /// Primary DNS server.
    pub primary_dns: String,
    /// Secondary DNS server.
    pub secondary_dns: String,
}

/// Wired port settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStore {
    /// `DHCPEnabled`.
    pub dhcp_enabled: bool,
    /// The static configuration (when DHCP is off).
    pub static_ip: IpConfig,
    /// The DHCP lease the network front reported, if any.
    pub lease: Option<IpConfig>,
    /// `SharedStaticIp`.
    pub shared_static_ip: bool,
    /// `IpSyncEnabled`.
    pub ip_sync_enabled: bool,
    /// `VLANTag` (0 none).
    pub vlan_tag: u16,
    /// Wireless `LinkPreference` (1 ME, 2 host).
    pub wireless_link_preference: u32,
}

impl Default for NetworkStore {
    fn default() -> Self {
        NetworkStore {
            dhcp_enabled: true,
            static_ip: IpConfig::default(),
            lease: None,
            shared_static_ip: false,
            ip_sync_enabled: true,
            vlan_tag: 0,
            wireless_link_preference: 2,
        }
    }
}

/// Redirection and KVM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedirectionStore {
    /// `AMT_RedirectionService.ListenerEnabled`.
    pub listener_enabled: bool,
    /// KVM enabled (`CIM_KVMRedirectionSAP.RequestStateChange`).
    pub kvm_enabled: bool,
    /// A KVM session is open (EnabledState 2 rather than 6).
    pub kvm_session_active: bool,
    /// `Is5900PortEnabled`.
    pub port_5900_enabled: bool,
    /// `OptInPolicy` (KVM needs user consent).
    pub kvm_opt_in_policy: bool,
    /// `OptInPolicyTimeout`, seconds.
    pub kvm_opt_in_timeout: u16,
    /// `SessionTimeout`, minutes.
    pub kvm_session_timeout: u16,
    /// `DefaultScreen`.
    pub kvm_default_screen: u8,
    /// `RFBPassword` (write-only).
    pub rfb_password: Secret,
}

impl Default for RedirectionStore {
    fn default() -> Self {
        RedirectionStore {
            listener_enabled: true,
            kvm_enabled: false,
            kvm_session_active: false,
            port_5900_enabled: false,
            kvm_opt_in_policy: true,
            kvm_opt_in_timeout: 300,
            kvm_session_timeout: 3,
            kvm_default_screen: 0,
            rfb_password: Secret::default(),
        }
    }
}

/// One alarm (`IPS_AlarmClockOccurrence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// `InstanceID`.
    pub instance_id: String,
    /// `ElementName`.
    pub element_name: String,
    /// Next time it fires, seconds since the Unix epoch (device clock).
    pub start: u64,
    /// Repeat interval in seconds (`None`: one-shot).
    pub interval_secs: Option<u64>,
    /// Delete the alarm once it fired.
    pub delete_on_completion: bool,
    /// A one-shot alarm that fired and was kept.
    #[serde(default)]
    pub fired: bool,
}
