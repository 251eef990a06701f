//! `AMT_AuthorizationService`: the admin account, user ACL entries (Digest and Kerberos), realms
//! (AMT-PROTOCOLS.md §2.4, §2.6, §7).
//!
//! Sources: recorded fixtures `amt/authorization/*.xml`; Intel's generated class
//! `AMT_AuthorizationService.cpp` (intel/lms `CIM_Framework`) for argument order and types
//! (`DigestUsername, DigestPassword, KerberosUserSid, AccessPermission, Realms`, the same order
//! MeshCentral's `amt.js` sends); go-wsman-messages `pkg/wsman/amt/authorization/decoder.go` for
//! the realm and access-permission value maps. `Realms` is an array argument and is written as
//! repeated `<h:Realms>` elements, as Intel's SDK sample does (`AddProperty("Realms", …)`).
//! `KerberosUserSid` and `DigestPassword` are base64 (`Base64` in Intel's typed framework).

use super::PtStatus;
use crate::classes::cim::{EnabledState, RequestedState};

wire_enum! {
    /// An AMT realm: a group of operations an ACL entry may use (`Realms[]`).
    pub enum Realm: u32 {
        /// 0: Invalid.
        Invalid = 0,
        /// 1: Reserved.
        Reserved0 = 1,
        /// 2: Redirection (SOL, IDE-R, KVM).
        Redirection = 2,
        /// 3: PT Administration.
        PtAdministration = 3,
        /// 4: Hardware Asset.
        HardwareAsset = 4,
        /// 5: Remote Control (power, boot).
        RemoteControl = 5,
        /// 6: Storage.
        Storage = 6,
        /// 7: Event Manager.
        EventManager = 7,
        /// 8: Storage Admin.
        StorageAdmin = 8,
        /// 9: Agent Presence Local.
        AgentPresenceLocal = 9,
        /// 10: Agent Presence Remote.
        AgentPresenceRemote = 10,
        /// 11: Circuit Breaker (System Defense).
        CircuitBreaker = 11,
        /// 12: Network Time.
        NetworkTime = 12,
        /// 13: General Information.
        GeneralInfo = 13,
        /// 14: Firmware Update.
        FirmwareUpdate = 14,
        /// 15: EIT.
        Eit = 15,
        /// 16: LocalUN.
        LocalUn = 16,
        /// 17: Endpoint Access Control.
        EndpointAccessControl = 17,
        /// 18: Endpoint Access Control Admin.
        EndpointAccessControlAdmin = 18,
        /// 19: Event Log Reader.
        EventLogReader = 19,
        /// 20: Audit Log.
        AuditLog = 20,
        /// 21: ACL.
        Acl = 21,
        /// 22: Reserved.
        Reserved1 = 22,
        /// 23: Reserved.
        Reserved2 = 23,
        /// 24: Local System.
        LocalSystem = 24,
    }
}

wire_enum! {
    /// `AccessPermission` of an ACL entry.
    pub enum AccessPermission: u32 {
        /// 0: Local access only.
        LocalOnly = 0,
        /// 1: Network access only.
        NetworkOnly = 1,
        /// 2: Local and network access.
        LocalAndNetwork = 2,
    }
}

wsman_struct! {
    /// `AMT_AuthorizationService`. Source: fixture `amt/authorization/get.xml`.
    class AmtAuthorizationService = "AMT_AuthorizationService" {
        /// 1: only `qop="auth"` Digest is accepted.
        "AllowHttpQopAuthOnly" => allow_http_qop_auth_only: Option<u32>,
        /// `AMT_AuthorizationService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Authorization Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// `Intel(r) AMT Authorization Service`.
        "Name" => name: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `SetAdminAclEntryEx_INPUT`: change the admin user name and password.
    input SetAdminAclEntryExInput = "AMT_AuthorizationService" . "SetAdminAclEntryEx" {
        /// Admin user name (7-bit ASCII, at most 16 characters).
        "Username" => username: Option<String>,
        /// Base64 of the raw 16-byte MD5 of `user:realm:password` (AMT-PROTOCOLS.md §2.4).
        "DigestPassword" => digest_password: Option<String>,
    }
}

wsman_struct! {
    /// `SetAdminAclEntryEx_OUTPUT`.
    output SetAdminAclEntryExOutput = "AMT_AuthorizationService" . "SetAdminAclEntryEx" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `AddUserAclEntryEx_INPUT`. A Digest user needs `DigestUsername` + `DigestPassword`; a
    /// Kerberos user (or group) needs `KerberosUserSid`.
    input AddUserAclEntryExInput = "AMT_AuthorizationService" . "AddUserAclEntryEx" {
        /// Digest user name (7-bit ASCII, at most 16 characters).
        "DigestUsername" => digest_username: Option<String>,
        /// Base64 of the raw 16-byte MD5 of `user:realm:password`.
        "DigestPassword" => digest_password: Option<String>,
        /// Base64 of a binary Windows SID (1–28 bytes, a multiple of 4).
        "KerberosUserSid" => kerberos_user_sid: Option<String>,
        /// Local / network access.
        "AccessPermission" => access_permission: Option<AccessPermission>,
        /// Realms the entry may use.
        "Realms" => realms: Vec<Realm>,
    }
}

wsman_struct! {
    /// `AddUserAclEntryEx_OUTPUT`.
    output AddUserAclEntryExOutput = "AMT_AuthorizationService" . "AddUserAclEntryEx" {
        /// Handle of the new entry.
        "Handle" => handle: Option<u32>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `UpdateUserAclEntryEx_INPUT`.
    input UpdateUserAclEntryExInput = "AMT_AuthorizationService" . "UpdateUserAclEntryEx" {
        /// The entry to update.
        "Handle" => handle: Option<u32>,
        /// Digest user name.
        "DigestUsername" => digest_username: Option<String>,
        /// Base64 of the raw 16-byte MD5 of `user:realm:password`.
        "DigestPassword" => digest_password: Option<String>,
        /// Base64 of a binary SID.
        "KerberosUserSid" => kerberos_user_sid: Option<String>,
        /// Local / network access.
        "AccessPermission" => access_permission: Option<AccessPermission>,
        /// Realms the entry may use.
        "Realms" => realms: Vec<Realm>,
    }
}

wsman_struct! {
    /// `UpdateUserAclEntryEx_OUTPUT`.
    output UpdateUserAclEntryExOutput = "AMT_AuthorizationService" . "UpdateUserAclEntryEx" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GetAdminAclEntry_INPUT` (no arguments).
    input GetAdminAclEntryInput = "AMT_AuthorizationService" . "GetAdminAclEntry" {}
}

wsman_struct! {
    /// `GetAdminAclEntry_OUTPUT`.
    output GetAdminAclEntryOutput = "AMT_AuthorizationService" . "GetAdminAclEntry" {
        /// The admin user name.
        "Username" => username: Option<String>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GetAdminAclEntryStatus_INPUT` (no arguments).
    input GetAdminAclEntryStatusInput = "AMT_AuthorizationService" . "GetAdminAclEntryStatus" {}
}

wsman_struct! {
    /// `GetAdminAclEntryStatus_OUTPUT`.
    output GetAdminAclEntryStatusOutput = "AMT_AuthorizationService" . "GetAdminAclEntryStatus" {
        /// True while the admin password was never changed.
        "IsDefault" => is_default: Option<bool>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GetAdminNetAclEntryStatus_INPUT` (no arguments).
    input GetAdminNetAclEntryStatusInput = "AMT_AuthorizationService" . "GetAdminNetAclEntryStatus" {}
}

wsman_struct! {
    /// `GetAdminNetAclEntryStatus_OUTPUT`.
    output GetAdminNetAclEntryStatusOutput = "AMT_AuthorizationService" . "GetAdminNetAclEntryStatus" {
        /// True while the remote admin password was never changed.
        "IsDefault" => is_default: Option<bool>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `EnumerateUserAclEntries_INPUT`: at most 50 handles per call.
    input EnumerateUserAclEntriesInput = "AMT_AuthorizationService" . "EnumerateUserAclEntries" {
        /// First entry to return (1-based).
        "StartIndex" => start_index: Option<u32>,
    }
}

wsman_struct! {
    /// `EnumerateUserAclEntries_OUTPUT`.
    output EnumerateUserAclEntriesOutput = "AMT_AuthorizationService" . "EnumerateUserAclEntries" {
        /// Number of entries on the device.
        "TotalCount" => total_count: Option<u32>,
        /// Number of handles in this answer.
        "HandlesCount" => handles_count: Option<u32>,
        /// Entry handles.
        "Handles" => handles: Vec<u32>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GetUserAclEntryEx_INPUT`.
    input GetUserAclEntryExInput = "AMT_AuthorizationService" . "GetUserAclEntryEx" {
        /// The entry to read.
        "Handle" => handle: Option<u32>,
    }
}

wsman_struct! {
    /// `GetUserAclEntryEx_OUTPUT`: the password hash is omitted or zeroed by the firmware.
    output GetUserAclEntryExOutput = "AMT_AuthorizationService" . "GetUserAclEntryEx" {
        /// Digest user name.
        "DigestUsername" => digest_username: Option<String>,
        /// Omitted or zeroed.
        "DigestPassword" => digest_password: Option<String>,
        /// Base64 of the SID, for Kerberos entries.
        "KerberosUserSid" => kerberos_user_sid: Option<String>,
        /// Local / network access.
        "AccessPermission" => access_permission: Option<AccessPermission>,
        /// Realms of the entry.
        "Realms" => realms: Vec<Realm>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `RemoveUserAclEntry_INPUT`.
    input RemoveUserAclEntryInput = "AMT_AuthorizationService" . "RemoveUserAclEntry" {
        /// The entry to remove.
        "Handle" => handle: Option<u32>,
    }
}

wsman_struct! {
    /// `RemoveUserAclEntry_OUTPUT`.
    output RemoveUserAclEntryOutput = "AMT_AuthorizationService" . "RemoveUserAclEntry" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GetAclEnabledState_INPUT`.
    input GetAclEnabledStateInput = "AMT_AuthorizationService" . "GetAclEnabledState" {
        /// The entry.
        "Handle" => handle: Option<u32>,
    }
}

wsman_struct! {
    /// `GetAclEnabledState_OUTPUT`.
    output GetAclEnabledStateOutput = "AMT_AuthorizationService" . "GetAclEnabledState" {
        /// Whether the entry is enabled.
        "Enabled" => enabled: Option<bool>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `SetAclEnabledState_INPUT`: system accounts (`$$…`) can be disabled but not removed.
    input SetAclEnabledStateInput = "AMT_AuthorizationService" . "SetAclEnabledState" {
        /// The entry.
        "Handle" => handle: Option<u32>,
        /// The new state.
        "Enabled" => enabled: Option<bool>,
    }
}

wsman_struct! {
    /// `SetAclEnabledState_OUTPUT`.
    output SetAclEnabledStateOutput = "AMT_AuthorizationService" . "SetAclEnabledState" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

fn b64_decode(class: &str, property: &str, s: &str) -> Result<Vec<u8>, crate::Error> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| crate::Error::InvalidValue {
            class: class.to_owned(),
            property: property.to_owned(),
            value: s.chars().take(40).collect(),
            expected: "base64",
        })
}

fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl AddUserAclEntryExInput {
    /// An entry for a Kerberos (Active Directory) user or group, by binary SID.
    pub fn kerberos(
        sid: &[u8],
        access_permission: AccessPermission,
        realms: impl IntoIterator<Item = Realm>,
    ) -> Self {
        AddUserAclEntryExInput {
            kerberos_user_sid: Some(b64_encode(sid)),
            access_permission: Some(access_permission),
            realms: realms.into_iter().collect(),
            ..Default::default()
        }
    }

    /// An entry for a Digest user; `digest_hash` is the raw 16-byte MD5 of
    /// `user:realm:password` (see [`crate::password`]).
    pub fn digest(
        username: &str,
        digest_hash: &[u8; 16],
        access_permission: AccessPermission,
        realms: impl IntoIterator<Item = Realm>,
    ) -> Self {
        AddUserAclEntryExInput {
            digest_username: Some(username.to_owned()),
            digest_password: Some(b64_encode(digest_hash)),
            access_permission: Some(access_permission),
            realms: realms.into_iter().collect(),
            ..Default::default()
        }
    }

    /// The binary SID, when this is a Kerberos entry.
    pub fn kerberos_sid(&self) -> Result<Option<Vec<u8>>, crate::Error> {
        self.kerberos_user_sid
            .as_deref()
            .map(|s| b64_decode("AddUserAclEntryEx_INPUT", "KerberosUserSid", s))
            .transpose()
    }
}

impl GetUserAclEntryExOutput {
    /// The binary SID, when this is a Kerberos entry.
    pub fn kerberos_sid(&self) -> Result<Option<Vec<u8>>, crate::Error> {
        self.kerberos_user_sid
            .as_deref()
            .map(|s| b64_decode("GetUserAclEntryEx_OUTPUT", "KerberosUserSid", s))
            .transpose()
    }
}

impl SetAdminAclEntryExInput {
    /// The admin entry for `username` with the raw 16-byte MD5 of `user:realm:password`.
    pub fn new(username: &str, digest_hash: &[u8; 16]) -> Self {
        SetAdminAclEntryExInput {
            username: Some(username.to_owned()),
            digest_password: Some(b64_encode(digest_hash)),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::{FieldType, Typed};
    use crate::value::Value;

    #[test]
    fn realm_round_trips_through_its_wire_value() {
        for r in Realm::ALL {
            assert_eq!(Realm::try_from(r.value()).ok(), Some(*r));
            assert_eq!(Realm::from_value(&r.to_value()), Ok(*r));
        }
        assert_eq!(Realm::ALL.len(), 25);
        assert_eq!(Realm::LocalSystem.value(), 24);
        assert!(Realm::try_from(25).is_err());
    }

    #[test]
    fn add_user_acl_entry_with_kerberos_sid_keeps_schema_order() {
        // Example SID from Intel's "Add a Kerberos User" use case (AMT SDK documentation).
        let sid_b64 = "AQUAAAAAAAUVAAAAVcoTQfagZTk1F8IXVgQAAA==";
        let sid = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(sid_b64)
                .unwrap()
        };
        assert_eq!(sid.len(), 28);
        let input = AddUserAclEntryExInput::kerberos(
            &sid,
            AccessPermission::LocalAndNetwork,
            [Realm::Redirection, Realm::RemoteControl],
        );
        let i = input.to_instance();
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["KerberosUserSid", "AccessPermission", "Realms", "Realms"]
        );
        assert_eq!(i.get_text("KerberosUserSid"), Some(sid_b64));
        assert_eq!(i.get_text("AccessPermission"), Some("2"));
        let realms: Vec<&Value> = i.get_all("Realms").collect();
        assert_eq!(realms, [&Value::Text("2".into()), &Value::Text("5".into())]);
        let back = AddUserAclEntryExInput::from_instance(&i).unwrap();
        assert_eq!(back, input);
        assert_eq!(back.kerberos_sid().unwrap(), Some(sid));
    }

    #[test]
    fn digest_entry_puts_username_before_password() {
        let input = AddUserAclEntryExInput::digest(
            "operator",
            &[0xab; 16],
            AccessPermission::NetworkOnly,
            [Realm::HardwareAsset],
        );
        let i = input.to_instance();
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "DigestUsername",
                "DigestPassword",
                "AccessPermission",
                "Realms"
            ]
        );
    }

    #[test]
    fn unknown_realm_from_a_device_is_a_typed_error() {
        let i = crate::value::Instance {
            name: "GetUserAclEntryEx_OUTPUT".into(),
            namespace: crate::ns::resource_uri("AMT_AuthorizationService"),
            properties: vec![crate::value::Property::text("Realms", "99")],
        };
        let e = GetUserAclEntryExOutput::from_instance(&i).unwrap_err();
        assert!(matches!(
            e,
            crate::Error::UnknownEnumValue {
                type_name: "Realm",
                value: 99
            }
        ));
    }
}
