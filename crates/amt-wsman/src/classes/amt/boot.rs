//! Intel boot options: `AMT_BootSettingData` (what the next boot does: IDE-R, SOL, BIOS setup,
//! locks) and `AMT_BootCapabilities` (what the platform supports).
//!
//! Sources: recorded fixtures `amt/boot/{settingdata,capabilities}/*.xml`; Intel's generated
//! classes `AMT_BootSettingData.cpp` / `AMT_BootCapabilities.cpp` (intel/lms `CIM_Framework`)
//! for names and types; go-wsman-messages `pkg/wsman/amt/boot` for value maps.

wire_enum! {
    /// `FirmwareVerbosity` of the next boot.
    pub enum FirmwareVerbosity: u8 {
        /// 0: System default.
        SystemDefault = 0,
        /// 1: Quiet (minimal screen activity).
        Quiet = 1,
        /// 2: Verbose (all messages).
        Verbose = 2,
        /// 3: Screen blank.
        Blank = 3,
    }
}

wire_enum! {
    /// `IDERBootDevice`: the emulated drive to boot from.
    pub enum IderBootDevice: u8 {
        /// 0: Floppy.
        Floppy = 0,
        /// 1: CD.
        Cd = 1,
    }
}

wsman_struct! {
    /// `AMT_BootSettingData`: the one-shot boot options for the next boot (Put, then
    /// `CIM_BootService.SetBootConfigRole` and a power action).
    /// Source: fixture `amt/boot/settingdata/get.xml`; Intel `AMT_BootSettingData.cpp`.
    class AmtBootSettingData = "AMT_BootSettingData" {
        /// BIOS status of the last boot (two words).
        "BIOSLastStatus" => bios_last_status: Vec<u16>,
        /// Pause in BIOS.
        "BIOSPause" => bios_pause: Option<bool>,
        /// Enter BIOS setup.
        "BIOSSetup" => bios_setup: Option<bool>,
        /// Boot media index (0 = default).
        "BootMediaIndex" => boot_media_index: Option<u16>,
        /// Boot Guard status bits.
        "BootguardStatus" => bootguard_status: Option<u32>,
        /// Reset BIOS configuration data.
        "ConfigurationDataReset" => configuration_data_reset: Option<bool>,
        /// `Intel(r) AMT Boot Configuration Settings`.
        "ElementName" => element_name: Option<String>,
        /// Keep secure boot enforced on IDE-R/HTTPS boot.
        "EnforceSecureBoot" => enforce_secure_boot: Option<bool>,
        /// Firmware verbosity.
        "FirmwareVerbosity" => firmware_verbosity: Option<FirmwareVerbosity>,
        /// Send progress events.
        "ForcedProgressEvents" => forced_progress_events: Option<bool>,
        /// IDE-R device to boot.
        "IDERBootDevice" => ider_boot_device: Option<IderBootDevice>,
        /// `Intel(r) AMT:BootSettingData 0`.
        "InstanceID" => instance_id: Option<String>,
        /// Lock the keyboard.
        "LockKeyboard" => lock_keyboard: Option<bool>,
        /// Lock the power button.
        "LockPowerButton" => lock_power_button: Option<bool>,
        /// Lock the reset button.
        "LockResetButton" => lock_reset_button: Option<bool>,
        /// Lock the sleep button.
        "LockSleepButton" => lock_sleep_button: Option<bool>,
        /// Options were cleared after the last boot.
        "OptionsCleared" => options_cleared: Option<bool>,
        /// `Intel(r) AMT`.
        "OwningEntity" => owning_entity: Option<String>,
        /// Remote platform erase requested.
        "PlatformErase" => platform_erase: Option<bool>,
        /// Remote platform erase enabled.
        "RPEEnabled" => rpe_enabled: Option<bool>,
        /// Remote secure erase password.
        "RSEPassword" => rse_password: Option<String>,
        /// Reflash the BIOS.
        "ReflashBIOS" => reflash_bios: Option<bool>,
        /// AMT may control secure boot.
        "SecureBootControlEnabled" => secure_boot_control_enabled: Option<bool>,
        /// Secure erase the disk.
        "SecureErase" => secure_erase: Option<bool>,
        /// UEFI HTTPS boot enabled.
        "UEFIHTTPSBootEnabled" => uefi_https_boot_enabled: Option<bool>,
        /// UEFI local PBA boot enabled.
        "UEFILocalPBABootEnabled" => uefi_local_pba_boot_enabled: Option<bool>,
        /// Number of UEFI boot parameters.
        "UefiBootNumberOfParams" => uefi_boot_number_of_params: Option<u32>,
        /// UEFI boot parameters (base64 TLV array).
        "UefiBootParametersArray" => uefi_boot_parameters_array: Option<String>,
        /// Boot from IDE-R.
        "UseIDER" => use_ider: Option<bool>,
        /// Redirect the console to SOL.
        "UseSOL" => use_sol: Option<bool>,
        /// Boot into safe mode.
        "UseSafeMode" => use_safe_mode: Option<bool>,
        /// Bypass the BIOS user password.
        "UserPasswordBypass" => user_password_bypass: Option<bool>,
        /// Windows RE boot enabled.
        "WinREBootEnabled" => win_re_boot_enabled: Option<bool>,
    }
}

wsman_struct! {
    /// `AMT_BootCapabilities`: which boot options this platform supports.
    /// Source: fixture `amt/boot/capabilities/get.xml`; Intel `AMT_BootCapabilities.cpp`.
    class AmtBootCapabilities = "AMT_BootCapabilities" {
        /// AMT can control secure boot.
        "AMTSecureBootControl" => amt_secure_boot_control: Option<bool>,
        /// BIOS pause supported.
        "BIOSPause" => bios_pause: Option<bool>,
        /// BIOS reflash supported.
        "BIOSReflash" => bios_reflash: Option<bool>,
        /// BIOS secure boot supported.
        "BIOSSecureBoot" => bios_secure_boot: Option<bool>,
        /// Boot to BIOS setup supported.
        "BIOSSetup" => bios_setup: Option<bool>,
        /// Configuration data reset supported.
        "ConfigurationDataReset" => configuration_data_reset: Option<bool>,
        /// `Intel(r) AMT: Boot Capabilities`.
        "ElementName" => element_name: Option<String>,
        /// Force CD/DVD boot supported.
        "ForceCDorDVDBoot" => force_cd_or_dvd_boot: Option<bool>,
        /// Force diagnostic boot supported.
        "ForceDiagnosticBoot" => force_diagnostic_boot: Option<bool>,
        /// Force hard-drive boot supported.
        "ForceHardDriveBoot" => force_hard_drive_boot: Option<bool>,
        /// Force hard-drive safe-mode boot supported.
        "ForceHardDriveSafeModeBoot" => force_hard_drive_safe_mode_boot: Option<bool>,
        /// Force PXE boot supported.
        "ForcePXEBoot" => force_pxe_boot: Option<bool>,
        /// Force UEFI HTTPS boot supported.
        "ForceUEFIHTTPSBoot" => force_uefi_https_boot: Option<bool>,
        /// Force UEFI local PBA boot supported.
        "ForceUEFIPBABoot" => force_uefi_pba_boot: Option<bool>,
        /// Force Windows RE boot supported.
        "ForceWinREBoot" => force_win_re_boot: Option<bool>,
        /// Forced progress events supported.
        "ForcedProgressEvents" => forced_progress_events: Option<bool>,
        /// IDE-R supported.
        "IDER" => ider: Option<bool>,
        /// `Intel(r) AMT:BootCapabilities 0`.
        "InstanceID" => instance_id: Option<String>,
        /// Keyboard lock supported.
        "KeyboardLock" => keyboard_lock: Option<bool>,
        /// Remote platform erase capabilities (bit mask of devices).
        "PlatformErase" => platform_erase: Option<u32>,
        /// Power button lock supported.
        "PowerButtonLock" => power_button_lock: Option<bool>,
        /// Reset button lock supported.
        "ResetButtonLock" => reset_button_lock: Option<bool>,
        /// SOL supported.
        "SOL" => sol: Option<bool>,
        /// Secure erase supported.
        "SecureErase" => secure_erase: Option<bool>,
        /// Sleep button lock supported.
        "SleepButtonLock" => sleep_button_lock: Option<bool>,
        /// UEFI Wi-Fi profile sharing supported.
        "UEFIWiFiCoExistenceAndProfileShare" => uefi_wifi_coexistence_and_profile_share: Option<bool>,
        /// User password bypass supported.
        "UserPasswordBypass" => user_password_bypass: Option<bool>,
        /// Quiet verbosity supported.
        "VerbosityQuiet" => verbosity_quiet: Option<bool>,
        /// Blank-screen verbosity supported.
        "VerbosityScreenBlank" => verbosity_screen_blank: Option<bool>,
        /// Verbose verbosity supported.
        "VerbosityVerbose" => verbosity_verbose: Option<bool>,
    }
}
