//! `AMT_SetupAndConfigurationService`: provisioning state, commit, unprovision, MEBx password,
//! platform UUID (AMT-PROTOCOLS.md §2.2, §2.3, §2.6, §2.7).
//!
//! Sources: recorded fixtures `amt/setupandconfiguration/*.xml` (field names and values);
//! Intel's generated class `AMT_SetupAndConfigurationService.cpp` in intel/lms
//! `CIM_Framework` (property types, method argument order); go-wsman-messages
//! `pkg/wsman/amt/setupandconfiguration` (value maps).
//!
//! `SetProvisioningServerOTP` is not a WS-Management method: it is the PTHI (MEI) command
//! 0x0400002A. Over WS-Man the OTP is the `ProvisioningServerOTP` property, written with Put.

use super::PtStatus;
use crate::classes::cim::{EnabledState, RequestedState};

wire_enum! {
    /// `ProvisioningMode` property: the control mode the device was activated into
    /// (since AMT 7.0).
    pub enum ProvisioningMode: u8 {
        /// 1: Admin Control Mode (formerly "Enterprise").
        AdminControl = 1,
        /// 4: Client Control Mode.
        ClientControl = 4,
    }
}

wire_enum! {
    /// `ProvisioningState` property.
    pub enum ProvisioningState: u8 {
        /// 0: Pre-provisioning: setup has not started.
        Pre = 0,
        /// 1: In provisioning: setup is in progress.
        In = 1,
        /// 2: Post-provisioning: the device is configured.
        Post = 2,
    }
}

wire_enum! {
    /// `PasswordModel` property.
    pub enum PasswordModel: u8 {
        /// 0: Coupled (MEBx and network admin password are the same).
        Coupled = 0,
        /// 1: Separate.
        Separate = 1,
        /// 2: Separate, stored as a hash.
        SeparateHash = 2,
    }
}

wire_enum! {
    /// `Unprovision(ProvisioningMode)`: the mode the device enters after unprovisioning. Since
    /// AMT 6.0 only [`UnprovisionMode::Enterprise`] has an effect; consoles send 1.
    pub enum UnprovisionMode: u32 {
        /// 0: ProvisioningModeCurrent.
        Current = 0,
        /// 1: ProvisioningModeEnterprise.
        Enterprise = 1,
        /// 2: ProvisioningModeSmallBusiness.
        SmallBusiness = 2,
        /// 3: ProvisioningRemoteConnectivity.
        RemoteConnectivity = 3,
    }
}

wsman_struct! {
    /// `AMT_SetupAndConfigurationService`: the provisioning state machine of the firmware.
    /// Source: fixture `amt/setupandconfiguration/get.xml`; Intel `CIM_Framework`.
    class AmtSetupAndConfigurationService = "AMT_SetupAndConfigurationService" {
        /// FQDN of the configuration server.
        "ConfigurationServerFQDN" => configuration_server_fqdn: Option<String>,
        /// `AMT_SetupAndConfigurationService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Domain name received from DHCP (option 15).
        "DhcpDNSSuffix" => dhcp_dns_suffix: Option<String>,
        /// `Intel(r) AMT Setup and Configuration Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// `Intel(r) AMT Setup and Configuration Service`.
        "Name" => name: Option<String>,
        /// Password model.
        "PasswordModel" => password_model: Option<PasswordModel>,
        /// Control mode after activation.
        "ProvisioningMode" => provisioning_mode: Option<ProvisioningMode>,
        /// One-time password (base64, 8–32 bytes) the device presents to the configuration
        /// server; readable only while in provisioning, settable by Put.
        "ProvisioningServerOTP" => provisioning_server_otp: Option<String>,
        /// Pre / In / Post provisioning.
        "ProvisioningState" => provisioning_state: Option<ProvisioningState>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
        /// Trusted DNS suffix configured in MEBx.
        "TrustedDNSSuffix" => trusted_dns_suffix: Option<String>,
        /// Remote configuration (zero touch) enabled.
        "ZeroTouchConfigurationEnabled" => zero_touch_configuration_enabled: Option<bool>,
    }
}

wsman_struct! {
    /// `CommitChanges_INPUT` (no arguments).
    input CommitChangesInput = "AMT_SetupAndConfigurationService" . "CommitChanges" {}
}

wsman_struct! {
    /// `CommitChanges_OUTPUT`: 0, 1, 38 FlashWriteLimitExceeded, 2057 DataMissing.
    output CommitChangesOutput = "AMT_SetupAndConfigurationService" . "CommitChanges" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `Unprovision_INPUT`.
    input UnprovisionInput = "AMT_SetupAndConfigurationService" . "Unprovision" {
        /// Mode after unprovisioning (consoles send [`UnprovisionMode::Enterprise`]).
        "ProvisioningMode" => provisioning_mode: Option<UnprovisionMode>,
    }
}

wsman_struct! {
    /// `Unprovision_OUTPUT`: 0, 1, 16 NotPermitted, 36 InvalidParameter, 2076 BlockingComponent.
    output UnprovisionOutput = "AMT_SetupAndConfigurationService" . "Unprovision" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `PartialUnprovision_INPUT` (no arguments).
    input PartialUnprovisionInput = "AMT_SetupAndConfigurationService" . "PartialUnprovision" {}
}

wsman_struct! {
    /// `PartialUnprovision_OUTPUT`: 0, 1, 16 NotPermitted, 2076 BlockingComponent.
    output PartialUnprovisionOutput = "AMT_SetupAndConfigurationService" . "PartialUnprovision" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `SetMEBxPassword_INPUT` (ACM only). The password is sent in clear (8–32 characters,
    /// strong-password rules).
    input SetMebxPasswordInput = "AMT_SetupAndConfigurationService" . "SetMEBxPassword" {
        /// The new MEBx password.
        "Password" => password: Option<String>,
    }
}

wsman_struct! {
    /// `SetMEBxPassword_OUTPUT`: 0, 1, 16 NotPermitted, 2054 InvalidPassword.
    output SetMebxPasswordOutput = "AMT_SetupAndConfigurationService" . "SetMEBxPassword" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GetUuid_INPUT` (no arguments).
    input GetUuidInput = "AMT_SetupAndConfigurationService" . "GetUuid" {}
}

wsman_struct! {
    /// `GetUuid_OUTPUT`: the SMBIOS type 1 UUID, base64 of 16 bytes.
    output GetUuidOutput = "AMT_SetupAndConfigurationService" . "GetUuid" {
        /// Base64 of the 16 UUID bytes.
        "UUID" => uuid: Option<String>,
        /// Return value (not sent by every firmware).
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

impl GetUuidOutput {
    /// The 16 UUID bytes. Also looks at a `UUID` element in another namespace (kept in
    /// `extra`), as in the recorded fixture `amt/setupandconfiguration/getuuid.xml`.
    pub fn uuid_bytes(&self) -> Result<[u8; 16], crate::Error> {
        let text = match &self.uuid {
            Some(u) => u.clone(),
            None => self
                .extra
                .iter()
                .find(|p| p.name == "UUID")
                .and_then(|p| match &p.value {
                    crate::value::Value::Text(t) => Some(t.clone()),
                    crate::value::Value::Element(e) if !e.has_element_children() => Some(e.text()),
                    _ => None,
                })
                .ok_or(crate::Error::BadProperty {
                    class: "GetUuid_OUTPUT".into(),
                    property: "UUID".into(),
                    problem: "missing",
                })?,
        };
        decode_uuid_b64(&text)
    }
}

/// Decodes the base64 `UUID` of `AMT_SetupAndConfigurationService.GetUuid` into its 16 bytes.
pub fn decode_uuid_b64(s: &str) -> Result<[u8; 16], crate::Error> {
    use base64::Engine as _;
    let bad = || crate::Error::InvalidValue {
        class: "GetUuid_OUTPUT".into(),
        property: "UUID".into(),
        value: s.chars().take(40).collect(),
        expected: "base64 of 16 bytes",
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::{MethodInput, Typed};
    use crate::value::{Instance, SelectorSet};

    #[test]
    fn unprovision_input_carries_mode_one() {
        let input = UnprovisionInput {
            provisioning_mode: Some(UnprovisionMode::Enterprise),
            ..Default::default()
        };
        let i = input.to_instance();
        assert_eq!(i.name, "Unprovision_INPUT");
        assert_eq!(i.get_text("ProvisioningMode"), Some("1"));
        let req = input.request(1, SelectorSet::new());
        assert_eq!(req.header.resource_uri, UnprovisionInput::resource_uri());
    }

    #[test]
    fn setup_service_rejects_unknown_provisioning_state() {
        let i = Instance::of_class("AMT_SetupAndConfigurationService")
            .with_text("ProvisioningState", "7");
        let e = AmtSetupAndConfigurationService::from_instance(&i).unwrap_err();
        assert!(matches!(
            e,
            crate::Error::UnknownEnumValue {
                type_name: "ProvisioningState",
                value: 7
            }
        ));
    }

    #[test]
    fn uuid_is_read_from_a_foreign_namespace_element_too() {
        let out = GetUuidOutput {
            uuid: Some("E67jVdK/u2EXoIiu3XA36g==".into()),
            ..Default::default()
        };
        assert_eq!(out.uuid_bytes().unwrap()[0], 0x13);
        assert!(decode_uuid_b64("baduuid").is_err());
    }
}
