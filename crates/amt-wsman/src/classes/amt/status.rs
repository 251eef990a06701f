//! `PT_STATUS_*`: the return values of Intel's `AMT_*` methods.
//!
//! Every `AMT_*` method (`CommitChanges`, `AddUserAclEntryEx`, `AddCertificate`, …) answers with
//! one of Intel's platform status codes in `ReturnValue`. Each method's MOF lists the subset it
//! can return (e.g. `Unprovision`: 0, 1, 16, 36, 2076); one shared enum keeps them comparable.
//!
//! Sources: the status-code tables of Intel's RPS (`PTStatus`) and of MeshCentral's `amt.js`
//! (`AmtStatusCodes`), and the per-method value maps quoted in go-wsman-messages
//! `pkg/wsman/amt/*/decoder.go` (AMT-PROTOCOLS.md §2.6).

wire_enum! {
    /// An Intel AMT `PT_STATUS_*` code.
    pub enum PtStatus: u32 {
        /// 0: PT_STATUS_SUCCESS.
        Success = 0,
        /// 1: PT_STATUS_INTERNAL_ERROR.
        InternalError = 1,
        /// 2: PT_STATUS_NOT_READY.
        NotReady = 2,
        /// 3: PT_STATUS_INVALID_PT_MODE.
        InvalidPtMode = 3,
        /// 4: PT_STATUS_INVALID_MESSAGE_LENGTH.
        InvalidMessageLength = 4,
        /// 5: PT_STATUS_TABLE_FINGERPRINT_NOT_AVAILABLE.
        TableFingerprintNotAvailable = 5,
        /// 6: PT_STATUS_INTEGRITY_CHECK_FAILED.
        IntegrityCheckFailed = 6,
        /// 7: PT_STATUS_UNSUPPORTED_ISVS_VERSION.
        UnsupportedIsvsVersion = 7,
        /// 8: PT_STATUS_APPLICATION_NOT_REGISTERED.
        ApplicationNotRegistered = 8,
        /// 9: PT_STATUS_INVALID_REGISTRATION_DATA.
        InvalidRegistrationData = 9,
        /// 10: PT_STATUS_APPLICATION_DOES_NOT_EXIST.
        ApplicationDoesNotExist = 10,
        /// 11: PT_STATUS_NOT_ENOUGH_STORAGE.
        NotEnoughStorage = 11,
        /// 12: PT_STATUS_INVALID_NAME.
        InvalidName = 12,
        /// 13: PT_STATUS_BLOCK_DOES_NOT_EXIST.
        BlockDoesNotExist = 13,
        /// 14: PT_STATUS_INVALID_BYTE_OFFSET.
        InvalidByteOffset = 14,
        /// 15: PT_STATUS_INVALID_BYTE_COUNT.
        InvalidByteCount = 15,
        /// 16: PT_STATUS_NOT_PERMITTED.
        NotPermitted = 16,
        /// 17: PT_STATUS_NOT_OWNER.
        NotOwner = 17,
        /// 18: PT_STATUS_BLOCK_LOCKED_BY_OTHER.
        BlockLockedByOther = 18,
        /// 19: PT_STATUS_BLOCK_NOT_LOCKED.
        BlockNotLocked = 19,
        /// 20: PT_STATUS_INVALID_GROUP_PERMISSIONS.
        InvalidGroupPermissions = 20,
        /// 21: PT_STATUS_GROUP_DOES_NOT_EXIST.
        GroupDoesNotExist = 21,
        /// 22: PT_STATUS_INVALID_MEMBER_COUNT.
        InvalidMemberCount = 22,
        /// 23: PT_STATUS_MAX_LIMIT_REACHED.
        MaxLimitReached = 23,
        /// 24: PT_STATUS_INVALID_AUTH_TYPE.
        InvalidAuthType = 24,
        /// 25: PT_STATUS_AUTHENTICATION_FAILED.
        AuthenticationFailed = 25,
        /// 26: PT_STATUS_INVALID_DHCP_MODE.
        InvalidDhcpMode = 26,
        /// 27: PT_STATUS_INVALID_IP_ADDRESS.
        InvalidIpAddress = 27,
        /// 28: PT_STATUS_INVALID_DOMAIN_NAME.
        InvalidDomainName = 28,
        /// 29: PT_STATUS_UNSUPPORTED_VERSION.
        UnsupportedVersion = 29,
        /// 30: PT_STATUS_REQUEST_UNEXPECTED.
        RequestUnexpected = 30,
        /// 31: PT_STATUS_INVALID_TABLE_TYPE.
        InvalidTableType = 31,
        /// 32: PT_STATUS_INVALID_PROVISIONING_STATE.
        InvalidProvisioningState = 32,
        /// 33: PT_STATUS_UNSUPPORTED_OBJECT.
        UnsupportedObject = 33,
        /// 34: PT_STATUS_INVALID_TIME.
        InvalidTime = 34,
        /// 35: PT_STATUS_INVALID_INDEX.
        InvalidIndex = 35,
        /// 36: PT_STATUS_INVALID_PARAMETER.
        InvalidParameter = 36,
        /// 37: PT_STATUS_INVALID_NETMASK.
        InvalidNetmask = 37,
        /// 38: PT_STATUS_FLASH_WRITE_LIMIT_EXCEEDED.
        FlashWriteLimitExceeded = 38,
        /// 39: PT_STATUS_INVALID_IMAGE_LENGTH.
        InvalidImageLength = 39,
        /// 40: PT_STATUS_INVALID_IMAGE_SIGNATURE.
        InvalidImageSignature = 40,
        /// 41: PT_STATUS_PROPOSE_ANOTHER_VERSION.
        ProposeAnotherVersion = 41,
        /// 42: PT_STATUS_INVALID_PID_FORMAT.
        InvalidPidFormat = 42,
        /// 43: PT_STATUS_INVALID_PPS_FORMAT.
        InvalidPpsFormat = 43,
        /// 44: PT_STATUS_BIST_COMMAND_BLOCKED.
        BistCommandBlocked = 44,
        /// 45: PT_STATUS_CONNECTION_FAILED.
        ConnectionFailed = 45,
        /// 46: PT_STATUS_CONNECTION_TOO_MANY.
        ConnectionTooMany = 46,
        /// 47: PT_STATUS_RNG_GENERATION_IN_PROGRESS.
        RngGenerationInProgress = 47,
        /// 48: PT_STATUS_RNG_NOT_READY.
        RngNotReady = 48,
        /// 49: PT_STATUS_CERTIFICATE_NOT_READY.
        CertificateNotReady = 49,
        /// 1024 (0x400): PT_STATUS_DISABLED_BY_POLICY.
        DisabledByPolicy = 1024,
        /// 2048 (0x800): PT_STATUS_NETWORK_IF_ERROR_BASE.
        NetworkIfErrorBase = 2048,
        /// 2049: PT_STATUS_UNSUPPORTED_OEM_NUMBER.
        UnsupportedOemNumber = 2049,
        /// 2050: PT_STATUS_UNSUPPORTED_BOOT_OPTION.
        UnsupportedBootOption = 2050,
        /// 2051: PT_STATUS_INVALID_COMMAND.
        InvalidCommand = 2051,
        /// 2052: PT_STATUS_INVALID_SPECIAL_COMMAND.
        InvalidSpecialCommand = 2052,
        /// 2053: PT_STATUS_INVALID_HANDLE.
        InvalidHandle = 2053,
        /// 2054: PT_STATUS_INVALID_PASSWORD.
        InvalidPassword = 2054,
        /// 2055: PT_STATUS_INVALID_REALM.
        InvalidRealm = 2055,
        /// 2056: PT_STATUS_STORAGE_ACL_ENTRY_IN_USE.
        StorageAclEntryInUse = 2056,
        /// 2057: PT_STATUS_DATA_MISSING.
        DataMissing = 2057,
        /// 2058: PT_STATUS_DUPLICATE.
        Duplicate = 2058,
        /// 2059: PT_STATUS_EVENTLOG_FROZEN.
        EventLogFrozen = 2059,
        /// 2060: PT_STATUS_PKI_MISSING_KEYS.
        PkiMissingKeys = 2060,
        /// 2061: PT_STATUS_PKI_GENERATING_KEYS.
        PkiGeneratingKeys = 2061,
        /// 2062: PT_STATUS_INVALID_KEY.
        InvalidKey = 2062,
        /// 2063: PT_STATUS_INVALID_CERT.
        InvalidCert = 2063,
        /// 2064: PT_STATUS_CERT_KEY_NOT_MATCH.
        CertKeyNotMatch = 2064,
        /// 2065: PT_STATUS_MAX_KERB_DOMAIN_REACHED.
        MaxKerbDomainReached = 2065,
        /// 2066: PT_STATUS_UNSUPPORTED.
        Unsupported = 2066,
        /// 2067: PT_STATUS_INVALID_PRIORITY.
        InvalidPriority = 2067,
        /// 2068: PT_STATUS_NOT_FOUND.
        NotFound = 2068,
        /// 2069: PT_STATUS_INVALID_CREDENTIALS.
        InvalidCredentials = 2069,
        /// 2070: PT_STATUS_INVALID_PASSPHRASE.
        InvalidPassphrase = 2070,
        /// 2072: PT_STATUS_NO_ASSOCIATION.
        NoAssociation = 2072,
        /// 2075: PT_STATUS_AUDIT_FAIL.
        AuditFail = 2075,
        /// 2076: PT_STATUS_BLOCKING_COMPONENT.
        BlockingComponent = 2076,
        /// 2081: PT_STATUS_USER_CONSENT_REQUIRED.
        UserConsentRequired = 2081,
        /// 2082: PT_STATUS_OPERATION_IN_PROGRESS.
        OperationInProgress = 2082,
    }
}

impl PtStatus {
    /// True for `PT_STATUS_SUCCESS`.
    pub const fn is_success(self) -> bool {
        matches!(self, PtStatus::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::FieldType;
    use crate::value::Value;

    #[test]
    fn pt_status_codes_the_setup_service_returns_are_defined() {
        // AMT_SetupAndConfigurationService return values (AMT-PROTOCOLS.md §2.6).
        for v in [0u32, 1, 16, 36, 38, 2054, 2057, 2076] {
            let s = PtStatus::try_from(v).unwrap();
            assert_eq!(s.value(), v);
        }
        assert!(PtStatus::Success.is_success());
        assert!(!PtStatus::BlockingComponent.is_success());
    }

    #[test]
    fn unknown_pt_status_is_a_typed_error() {
        let e = PtStatus::try_from(2071).unwrap_err();
        assert!(matches!(
            e,
            crate::Error::UnknownEnumValue {
                type_name: "PtStatus",
                value: 2071
            }
        ));
        assert!(PtStatus::from_value(&Value::Text("9999".into())).is_err());
    }
}
