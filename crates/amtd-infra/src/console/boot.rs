//! Boot options for the next boot (M7): PXE, BIOS setup, IDE-R CD or floppy.
//!
//! The sequence AMT consoles use (MeshCentral, Intel's toolkit; documented in amt-wsman's
//! `classes::cim::boot`): check `AMT_BootCapabilities`; Get `AMT_BootSettingData`, clear the
//! one-shot options and set the asked ones, Put it back whole (the recorded console request
//! `amt/boot/settingdata/put.xml` is the full instance, no selectors); `CIM_BootConfigSetting.
//! ChangeBootOrder` with the forced source (PXE) or none; `CIM_BootService.SetBootConfigRole(
//! BootConfigSetting, Role = 1 IsNext)`. The next power action that boots the host applies the
//! options once; AMT then clears them (`OptionsCleared` reads true again). What the host booted
//! shows in the event log.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use amt_wsman::classes::amt::{AmtBootCapabilities, AmtBootSettingData, IderBootDevice};
use amt_wsman::classes::cim::{
    boot_source_reference, BootReturn, ChangeBootOrderInput, ChangeBootOrderOutput,
    SetBootConfigRoleInput, SetBootConfigRoleOutput, BOOT_CONFIG_SETTING_ID, BOOT_SOURCE_PXE,
};
use amt_wsman::SelectorSet;
use serde::{Deserialize, Serialize};

use super::ConsoleError;
use crate::client::WsmanClient;

/// What the host boots next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextBoot {
    /// The network (PXE).
    Pxe,
    /// The BIOS setup screen.
    Bios,
    /// The CD image an IDE-R session serves.
    IderCd,
    /// The floppy image an IDE-R session serves.
    IderFloppy,
}

impl NextBoot {
    /// Every choice.
    pub const ALL: [NextBoot; 4] = [
        NextBoot::Pxe,
        NextBoot::Bios,
        NextBoot::IderCd,
        NextBoot::IderFloppy,
    ];

    /// The API/CLI name.
    pub fn name(self) -> &'static str {
        match self {
            NextBoot::Pxe => "pxe",
            NextBoot::Bios => "bios",
            NextBoot::IderCd => "ider-cd",
            NextBoot::IderFloppy => "ider-floppy",
        }
    }
}

impl fmt::Display for NextBoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NextBoot {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NextBoot::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown boot target {s:?} (one of {})",
                    NextBoot::ALL.map(NextBoot::name).join(", ")
                )
            })
    }
}

/// What [`set_next_boot`] armed: the choice, and the options as the device reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootArmed {
    /// What the host boots next.
    pub next_boot: NextBoot,
    /// The options read back.
    #[serde(flatten)]
    pub settings: BootSettings,
}

/// The one-shot boot options as the device reports them (`AMT_BootSettingData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSettings {
    /// `BIOSSetup`: enter the BIOS setup screen.
    pub bios_setup: bool,
    /// `UseIDER`: boot from the IDE-R device.
    pub use_ider: bool,
    /// `IDERBootDevice`: `cd` or `floppy`.
    pub ider_boot_device: &'static str,
    /// `UseSOL`: redirect the BIOS console to SOL.
    pub use_sol: bool,
    /// `OptionsCleared`: true when no options are pending (AMT sets it after the boot).
    pub options_cleared: bool,
}

impl BootSettings {
    fn of(d: &AmtBootSettingData) -> Self {
        BootSettings {
            bios_setup: d.bios_setup.unwrap_or(false),
            use_ider: d.use_ider.unwrap_or(false),
            ider_boot_device: match d.ider_boot_device {
                Some(IderBootDevice::Cd) => "cd",
                _ => "floppy",
            },
            use_sol: d.use_sol.unwrap_or(false),
            options_cleared: d.options_cleared.unwrap_or(true),
        }
    }
}

/// Reads the pending one-shot boot options.
///
/// # Errors
/// Exchange failures.
pub async fn boot_settings(client: &WsmanClient) -> Result<BootSettings, ConsoleError> {
    let d: AmtBootSettingData = client.get(SelectorSet::new()).await?;
    Ok(BootSettings::of(&d))
}

/// Arms the next boot; returns the choice with the options as the device reports them
/// afterwards.
///
/// # Errors
/// [`ConsoleError::BootUnsupported`] (nothing changed) when the platform lacks the capability;
/// [`ConsoleError::DeviceReturned`] when a step is refused; exchange failures.
pub async fn set_next_boot(
    client: &WsmanClient,
    next: NextBoot,
    timeout: Duration,
) -> Result<BootArmed, ConsoleError> {
    let caps: AmtBootCapabilities = client.get(SelectorSet::new()).await?;
    let (capable, what, capability) = match next {
        NextBoot::Pxe => (caps.force_pxe_boot, "boot from the network", "ForcePXEBoot"),
        NextBoot::Bios => (caps.bios_setup, "enter BIOS setup", "BIOSSetup"),
        NextBoot::IderCd | NextBoot::IderFloppy => (caps.ider, "boot from IDE-R", "IDER"),
    };
    if capable == Some(false) {
        return Err(ConsoleError::BootUnsupported { what, capability });
    }

    let mut d: AmtBootSettingData = client.get(SelectorSet::new()).await?;
    // One-shot options: only what was asked for this boot.
    d.bios_setup = Some(next == NextBoot::Bios);
    d.bios_pause = Some(false);
    d.use_ider = Some(matches!(next, NextBoot::IderCd | NextBoot::IderFloppy));
    d.ider_boot_device = Some(if next == NextBoot::IderCd {
        IderBootDevice::Cd
    } else {
        IderBootDevice::Floppy
    });
    d.use_safe_mode = Some(false);
    d.reflash_bios = Some(false);
    d.secure_erase = Some(false);
    d.configuration_data_reset = Some(false);
    d.boot_media_index = Some(0);
    client.put(&d, SelectorSet::new(), timeout).await?;

    let order = ChangeBootOrderInput {
        source: match next {
            NextBoot::Pxe => vec![boot_source_reference(BOOT_SOURCE_PXE)],
            _ => Vec::new(),
        },
        extra: Vec::new(),
    };
    let out: ChangeBootOrderOutput = client
        .invoke(
            &order,
            SelectorSet::one("InstanceID", BOOT_CONFIG_SETTING_ID),
            timeout,
        )
        .await?;
    check("ChangeBootOrder", out.return_value)?;

    let out: SetBootConfigRoleOutput = client
        .invoke(
            &SetBootConfigRoleInput::next_boot(),
            SelectorSet::one("Name", "Intel(r) AMT Boot Service"),
            timeout,
        )
        .await?;
    check("SetBootConfigRole", out.return_value)?;

    Ok(BootArmed {
        next_boot: next,
        settings: boot_settings(client).await?,
    })
}

fn check(method: &'static str, rv: Option<BootReturn>) -> Result<(), ConsoleError> {
    match rv {
        Some(BootReturn::Completed) => Ok(()),
        Some(other) => Err(ConsoleError::DeviceReturned {
            method,
            code: other.value(),
            meaning: match other {
                BootReturn::Completed => "completed",
                BootReturn::NotSupported => "not supported",
                BootReturn::UnknownError => "unknown error",
                BootReturn::Busy => "busy",
                BootReturn::InvalidReference => "invalid reference",
                BootReturn::InvalidParameter => "invalid parameter",
                BootReturn::AccessDenied => "access denied",
                BootReturn::JobStarted => "job started",
            }
            .to_owned(),
        }),
        None => Err(ConsoleError::MissingField {
            what: method,
            field: "ReturnValue",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_targets_parse_by_name() {
        for b in NextBoot::ALL {
            assert_eq!(b.name().parse::<NextBoot>(), Ok(b));
        }
        assert!("usb".parse::<NextBoot>().is_err());
    }
}
