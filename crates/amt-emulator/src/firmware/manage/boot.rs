//! Boot options (M7): `AMT_BootSettingData` (Get/Put), `AMT_BootCapabilities`,
//! `CIM_BootService` (`SetBootConfigRole`, `RequestStateChange`), `CIM_BootConfigSetting`
//! (`ChangeBootOrder`) and the `CIM_BootSourceSetting` view.
//!
//! The console sequence (MeshCentral, Intel MPS/Console, amtctrl): Put `AMT_BootSettingData`,
//! `ChangeBootOrder(Source)` (or none), `SetBootConfigRole(BootConfigSetting, Role = 1)`, then a
//! power action. `SetBootConfigRole` with role 1 (IsNext) or 2 (IsNextSingleUse) arms the
//! configuration; the next power action that boots the host applies it **once** and clears it
//! (`OptionsCleared` reads `true` again, the forced source and the role are dropped). Without the
//! role armed the host boots its default (the hard drive). What the host booted goes to the event
//! log as the BIOS reports it (see `logs`). An IDE-R boot while IDE-R redirection is disabled
//! fails with a "no bootable media" boot error and falls back to the hard drive.
//!
//! Return values: a `BootConfigSetting` or `Source` reference to an instance that does not exist
//! is 4 (invalid reference), a missing argument, a role AMT does not take (0, IsDefault) or more
//! than one source is 5 (invalid parameter); AMT forces one boot source at a time.

use amt_wsman::classes::amt::{
    AmtBootCapabilities, AmtBootSettingData, FirmwareVerbosity, IderBootDevice,
};
use amt_wsman::classes::cim::{
    BootConfigRole, BootReturn, BootServiceEnabledState, BootServiceRequestStateChangeInput,
    BootServiceRequestStateChangeOutput, BootServiceRequestedState, ChangeBootOrderInput,
    ChangeBootOrderOutput, CimBootConfigSetting, CimBootService, CimBootSourceSetting,
    FailThroughSupported, OperationalStatus, RequestedState, SetBootConfigRoleInput,
    SetBootConfigRoleOutput, StateChangeReturn, BOOT_CONFIG_SETTING_ID, BOOT_SOURCE_CD_DVD,
    BOOT_SOURCE_HARD_DRIVE, BOOT_SOURCE_PXE,
};
use amt_wsman::classes::Typed;
use amt_wsman::{EndpointReference, Instance, ResponseBody};

use super::logs::{self, audit_events, bios_event};
use super::reply;
use super::store::{BootOptions, HostBoot};
use crate::firmware::{Caller, Env, Firmware};

/// Why the host is booting (the "System Boot / Restart Initiated" offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootCause {
    /// Power up (offset 0).
    PowerUp,
    /// Hard reset (offset 1).
    HardReset,
    /// Orderly restart (offset 7).
    Restart,
}

const SOURCES: [(&str, &str); 3] = [
    (BOOT_SOURCE_HARD_DRIVE, "CIM:Hard-Disk:1"),
    (BOOT_SOURCE_PXE, "CIM:Network:1"),
    (BOOT_SOURCE_CD_DVD, "CIM:CD/DVD:1"),
];

fn ocr_enabled(fw: &Firmware) -> bool {
    matches!(fw.state.manage.boot.service_state, 32769 | 32771)
}

/// `AMT_BootSettingData` (fixture `amt/boot/settingdata/get.xml`).
pub(super) fn setting_data_instances(fw: &Firmware) -> Vec<Instance> {
    let b = &fw.state.manage.boot;
    let o = &b.options;
    let d = AmtBootSettingData {
        bios_last_status: vec![2, 0],
        bios_pause: Some(o.bios_pause),
        bios_setup: Some(o.bios_setup),
        boot_media_index: Some(o.boot_media_index),
        bootguard_status: Some(127),
        configuration_data_reset: Some(o.configuration_data_reset),
        element_name: Some("Intel(r) AMT Boot Configuration Settings".into()),
        enforce_secure_boot: Some(o.enforce_secure_boot),
        firmware_verbosity: FirmwareVerbosity::try_from(o.firmware_verbosity).ok(),
        forced_progress_events: Some(o.forced_progress_events),
        ider_boot_device: IderBootDevice::try_from(o.ider_boot_device).ok(),
        instance_id: Some("Intel(r) AMT:BootSettingData 0".into()),
        lock_keyboard: Some(o.lock_keyboard),
        lock_power_button: Some(o.lock_power_button),
        lock_reset_button: Some(o.lock_reset_button),
        lock_sleep_button: Some(o.lock_sleep_button),
        options_cleared: Some(b.options_cleared),
        owning_entity: Some("Intel(r) AMT".into()),
        platform_erase: Some(false),
        rpe_enabled: Some(matches!(b.service_state, 32770 | 32771)),
        rse_password: Some(String::new()),
        reflash_bios: Some(o.reflash_bios),
        secure_boot_control_enabled: Some(false),
        secure_erase: Some(o.secure_erase),
        uefi_https_boot_enabled: Some(ocr_enabled(fw)),
        uefi_local_pba_boot_enabled: Some(ocr_enabled(fw)),
        uefi_boot_number_of_params: Some(0),
        use_ider: Some(o.use_ider),
        use_sol: Some(o.use_sol),
        use_safe_mode: Some(o.use_safe_mode),
        user_password_bypass: Some(o.user_password_bypass),
        win_re_boot_enabled: Some(ocr_enabled(fw)),
        ..Default::default()
    };
    vec![d.to_instance()]
}

/// Put `AMT_BootSettingData`: takes the writable options (absent ones read as off) and answers
/// with the instance as stored.
pub(super) fn put_setting_data(fw: &mut Firmware, d: &AmtBootSettingData) -> ResponseBody {
    let f = |v: Option<bool>| v.unwrap_or(false);
    fw.state.manage.boot.options = BootOptions {
        use_ider: f(d.use_ider),
        ider_boot_device: d.ider_boot_device.map_or(0, |x| x.value()),
        use_sol: f(d.use_sol),
        bios_setup: f(d.bios_setup),
        bios_pause: f(d.bios_pause),
        boot_media_index: d.boot_media_index.unwrap_or(0),
        configuration_data_reset: f(d.configuration_data_reset),
        enforce_secure_boot: f(d.enforce_secure_boot),
        firmware_verbosity: d.firmware_verbosity.map_or(0, |x| x.value()),
        forced_progress_events: f(d.forced_progress_events),
        lock_keyboard: f(d.lock_keyboard),
        lock_power_button: f(d.lock_power_button),
        lock_reset_button: f(d.lock_reset_button),
        lock_sleep_button: f(d.lock_sleep_button),
        reflash_bios: f(d.reflash_bios),
        secure_erase: f(d.secure_erase),
        use_safe_mode: f(d.use_safe_mode),
        user_password_bypass: f(d.user_password_bypass),
    };
    fw.state.manage.boot.options_cleared = false;
    fw.changed();
    ResponseBody::Put(setting_data_instances(fw).into_iter().next())
}

/// `AMT_BootCapabilities` (fixture `amt/boot/capabilities/get.xml`).
pub(super) fn capabilities_instances() -> Vec<Instance> {
    let c = AmtBootCapabilities {
        bios_pause: Some(false),
        bios_reflash: Some(true),
        bios_secure_boot: Some(true),
        bios_setup: Some(true),
        configuration_data_reset: Some(false),
        element_name: Some("Intel(r) AMT: Boot Capabilities".into()),
        force_cd_or_dvd_boot: Some(true),
        force_diagnostic_boot: Some(false),
        force_hard_drive_boot: Some(true),
        force_hard_drive_safe_mode_boot: Some(false),
        force_pxe_boot: Some(true),
        forced_progress_events: Some(true),
        ider: Some(true),
        instance_id: Some("Intel(r) AMT:BootCapabilities 0".into()),
        keyboard_lock: Some(true),
        power_button_lock: Some(false),
        reset_button_lock: Some(false),
        sol: Some(true),
        secure_erase: Some(false),
        sleep_button_lock: Some(false),
        user_password_bypass: Some(true),
        verbosity_quiet: Some(false),
        verbosity_screen_blank: Some(false),
        verbosity_verbose: Some(false),
        ..Default::default()
    };
    vec![c.to_instance()]
}

/// `CIM_BootService` (fixture `cim/boot/service/get.xml`).
pub(super) fn service_instances(fw: &Firmware) -> Vec<Instance> {
    let s = CimBootService {
        creation_class_name: Some("CIM_BootService".into()),
        element_name: Some("Intel(r) AMT Boot Service".into()),
        enabled_state: BootServiceEnabledState::try_from(fw.state.manage.boot.service_state).ok(),
        name: Some("Intel(r) AMT Boot Service".into()),
        operational_status: vec![OperationalStatus::Unknown],
        requested_state: Some(RequestedState::NotApplicable),
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("Intel(r) AMT".into()),
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

/// `CIM_BootConfigSetting` (fixture `cim/boot/configsetting/get.xml`).
pub(super) fn config_setting_instances() -> Vec<Instance> {
    let c = CimBootConfigSetting {
        element_name: Some("Intel(r) AMT: Boot Configuration".into()),
        instance_id: Some(BOOT_CONFIG_SETTING_ID.into()),
        extra: Vec::new(),
    };
    vec![c.to_instance()]
}

/// `CIM_BootSourceSetting` (fixture `cim/boot/sourcesetting/pull.xml`).
pub(super) fn source_setting_instances() -> Vec<Instance> {
    SOURCES
        .iter()
        .map(|(id, s)| {
            CimBootSourceSetting {
                element_name: Some("Intel(r) AMT: Boot Source".into()),
                fail_through_supported: Some(FailThroughSupported::NotSupported),
                instance_id: Some((*id).into()),
                structured_boot_string: Some((*s).into()),
                ..Default::default()
            }
            .to_instance()
        })
        .collect()
}

fn refers_to(e: &EndpointReference, class: &str, id: &str) -> bool {
    let class_ok = e
        .resource_uri
        .as_deref()
        .is_none_or(|u| amt_wsman::ns::class_of(u) == class);
    class_ok && e.selectors.get("InstanceID") == Some(id)
}

/// `SetBootConfigRole`.
pub(super) fn set_boot_config_role(
    fw: &mut Firmware,
    input: &SetBootConfigRoleInput,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let rv = match (&input.boot_config_setting, input.role) {
        (Some(e), _) if !refers_to(e, "CIM_BootConfigSetting", BOOT_CONFIG_SETTING_ID) => {
            BootReturn::InvalidReference
        }
        (Some(_), Some(BootConfigRole::IsNext | BootConfigRole::IsNextSingleUse)) => {
            fw.state.manage.boot.role_armed = true;
            logs::audit(fw, Some(caller), env, audit_events::SET_BOOT_OPTIONS, &[]);
            BootReturn::Completed
        }
        _ => BootReturn::InvalidParameter,
    };
    fw.changed();
    reply(SetBootConfigRoleOutput {
        job: None,
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// `ChangeBootOrder`: no source clears the forced source; one known source forces it.
pub(super) fn change_boot_order(fw: &mut Firmware, input: &ChangeBootOrderInput) -> ResponseBody {
    let rv = match input.source.as_slice() {
        [] => {
            fw.state.manage.boot.forced_source = None;
            BootReturn::Completed
        }
        [one] => match SOURCES
            .iter()
            .find(|(id, _)| refers_to(one, "CIM_BootSourceSetting", id))
        {
            Some((id, _)) => {
                fw.state.manage.boot.forced_source = Some((*id).to_owned());
                BootReturn::Completed
            }
            None => BootReturn::InvalidReference,
        },
        _ => BootReturn::InvalidParameter,
    };
    fw.changed();
    reply(ChangeBootOrderOutput {
        job: None,
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// `CIM_BootService.RequestStateChange`: the One Click Recovery / remote platform erase states
/// 32768–32771; other states are not supported (1).
pub(super) fn service_request_state_change(
    fw: &mut Firmware,
    input: &BootServiceRequestStateChangeInput,
) -> ResponseBody {
    use BootServiceRequestedState as R;
    let rv = match input.requested_state {
        Some(
            s @ (R::OcrAndRpeDisabled
            | R::OcrEnabledRpeDisabled
            | R::RpeEnabledOcrDisabled
            | R::OcrAndRpeEnabled),
        ) => {
            fw.state.manage.boot.service_state = s.value();
            fw.changed();
            StateChangeReturn::Completed
        }
        Some(_) => StateChangeReturn::NotSupported,
        None => StateChangeReturn::InvalidParameter,
    };
    reply(BootServiceRequestStateChangeOutput {
        job: None,
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// What an armed configuration makes the host boot.
fn target(fw: &Firmware) -> HostBoot {
    let b = &fw.state.manage.boot;
    if !b.role_armed {
        return HostBoot::HardDrive;
    }
    let o = &b.options;
    if o.bios_setup {
        HostBoot::BiosSetup
    } else if o.use_ider {
        if o.ider_boot_device == 1 {
            HostBoot::IderCd
        } else {
            HostBoot::IderFloppy
        }
    } else {
        match b.forced_source.as_deref() {
            Some(BOOT_SOURCE_PXE) => HostBoot::Pxe,
            Some(BOOT_SOURCE_CD_DVD) => HostBoot::CdDvd,
            _ => HostBoot::HardDrive,
        }
    }
}

/// The host boots: applies an armed configuration once and logs what the BIOS did.
pub(super) fn host_boots(fw: &mut Firmware, env: &Env<'_>, cause: BootCause) {
    const INFO: u8 = 2;
    const MONITOR: u8 = 1;
    const NON_CRITICAL: u8 = 8;
    let mut boot = target(fw);
    let restart_offset = match (boot, cause) {
        (HostBoot::Pxe, _) => 3,
        (_, BootCause::PowerUp) => 0,
        (_, BootCause::HardReset) => 1,
        (_, BootCause::Restart) => 7,
    };
    logs::event(
        fw,
        env,
        bios_event(0x1D, restart_offset, INFO, [0, 0]),
        "System boot initiated",
    );
    logs::event(
        fw,
        env,
        bios_event(0x0F, 2, MONITOR, [0x40, 0x07]),
        "PCI resource configuration",
    );
    let ider_on = matches!(fw.state.redirection_state, 32769 | 32771);
    if matches!(boot, HostBoot::IderCd | HostBoot::IderFloppy) && !ider_on {
        logs::event(
            fw,
            env,
            bios_event(0x1E, 0, NON_CRITICAL, [0, 0]),
            "Boot error: no bootable media (IDE-R redirection disabled)",
        );
        boot = HostBoot::HardDrive;
    }
    if boot == HostBoot::BiosSetup {
        logs::event(
            fw,
            env,
            bios_event(0x0F, 2, MONITOR, [0x40, 0x05]),
            "User-initiated system setup",
        );
    } else {
        logs::event(
            fw,
            env,
            bios_event(0x0F, 2, MONITOR, [0x40, 0x13]),
            "Starting operating system boot process",
        );
        let (offset, text) = match boot {
            HostBoot::IderFloppy => (0, "Boot completed: A: (IDE-R floppy)"),
            HostBoot::Pxe => (2, "Boot completed: PXE"),
            HostBoot::CdDvd => (4, "Boot completed: CD-ROM"),
            HostBoot::IderCd => (4, "Boot completed: CD-ROM (IDE-R)"),
            HostBoot::HardDrive | HostBoot::BiosSetup => (1, "Boot completed: C: (hard drive)"),
        };
        logs::event(fw, env, bios_event(0x1F, offset, INFO, [0, 0]), text);
    }
    let b = &mut fw.state.manage.boot;
    if b.role_armed {
        b.options = BootOptions::default();
        b.forced_source = None;
        b.role_armed = false;
        b.options_cleared = true;
    }
    b.last_boot = Some(boot);
    fw.changed();
}
