//! `IPS_HostBasedSetupService`: host-based CCM/ACM activation (AMT-PROTOCOLS.md §2.2–§2.3).

wire_enum! {
    /// `CurrentControlMode` / `AllowedControlModes`.
    pub enum ControlMode: u32 {
        /// 0: not provisioned.
        NotProvisioned = 0,
        /// 1: Client Control Mode.
        Client = 1,
        /// 2: Admin Control Mode.
        Admin = 2,
    }
}

wire_enum! {
    /// `NetAdminPassEncryptionType`.
    pub enum AdminPassEncryptionType: u32 {
        /// 0: none.
        None = 0,
        /// 1: other.
        Other = 1,
        /// 2: HTTP_DIGEST_MD5_A1 (hex MD5 of `admin:realm:password`).
        HttpDigestMd5A1 = 2,
    }
}

wire_enum! {
    /// `SigningAlgorithm` of AdminSetup / UpgradeClientToAdmin.
    pub enum SigningAlgorithm: u32 {
        /// 0: none.
        None = 0,
        /// 1: other.
        Other = 1,
        /// 2: RSA with SHA-256.
        RsaSha256 = 2,
    }
}

wire_enum! {
    /// `AdminSetup` / `Setup` return values.
    pub enum HostBasedSetupReturn: u32 {
        /// 0: success.
        Success = 0,
        /// 1: internal error.
        InternalError = 1,
        /// 2: invalid state.
        InvalidState = 2,
        /// 3: invalid parameter.
        InvalidParam = 3,
        /// 4: method disabled (Setup) .
        MethodDisabled = 4,
        /// 5: authentication failed.
        AuthFailed = 5,
        /// 6: flash write limit exceeded.
        FlashWriteLimitExceeded = 6,
    }
}

wsman_struct! {
    /// `IPS_HostBasedSetupService`.
    class IpsHostBasedSetupService = "IPS_HostBasedSetupService" {
        /// Modes this device may be activated into.
        "AllowedControlModes" => allowed_control_modes: Vec<ControlMode>,
        /// 0 not started, 1 chain in progress, 2 chain complete.
        "CertChainStatus" => cert_chain_status: Option<u32>,
        /// Base64 20-byte nonce for AdminSetup signatures.
        "ConfigurationNonce" => configuration_nonce: Option<String>,
        /// Class name.
        "CreationClassName" => creation_class_name: Option<String>,
        /// The current mode.
        "CurrentControlMode" => current_control_mode: Option<ControlMode>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<u16>,
        /// Name.
        "Name" => name: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<u16>,
        /// System class name.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// System name.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `Setup_INPUT` (CCM activation).
    input SetupInput = "IPS_HostBasedSetupService" . "Setup" {
        /// Always [`AdminPassEncryptionType::HttpDigestMd5A1`].
        "NetAdminPassEncryptionType" => net_admin_pass_encryption_type: Option<AdminPassEncryptionType>,
        /// 32 lower-case hex chars.
        "NetworkAdminPassword" => network_admin_password: Option<String>,
    }
}

wsman_struct! {
    /// `Setup_OUTPUT`.
    output SetupOutput = "IPS_HostBasedSetupService" . "Setup" {
        /// Return value.
        "ReturnValue" => return_value: Option<u32>,
    }
}

wsman_struct! {
    /// `AdminSetup_INPUT` (ACM activation). Element order fixed by the schema.
    input AdminSetupInput = "IPS_HostBasedSetupService" . "AdminSetup" {
        /// Always [`AdminPassEncryptionType::HttpDigestMd5A1`].
        "NetAdminPassEncryptionType" => net_admin_pass_encryption_type: Option<AdminPassEncryptionType>,
        /// 32 lower-case hex chars.
        "NetworkAdminPassword" => network_admin_password: Option<String>,
        /// Console nonce (base64, 20 bytes).
        "McNonce" => mc_nonce: Option<String>,
        /// Signature algorithm.
        "SigningAlgorithm" => signing_algorithm: Option<SigningAlgorithm>,
        /// RSA signature over ConfigurationNonce || McNonce (base64).
        "DigitalSignature" => digital_signature: Option<String>,
    }
}

wsman_struct! {
    /// `AdminSetup_OUTPUT`.
    output AdminSetupOutput = "IPS_HostBasedSetupService" . "AdminSetup" {
        /// Return value.
        "ReturnValue" => return_value: Option<u32>,
    }
}
