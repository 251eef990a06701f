//! `IPS_HostBasedSetupService`: host-based CCM/ACM activation (AMT-PROTOCOLS.md §2.2–§2.3).
//!
//! Sources: recorded fixtures `ips/hostbasedsetup/*.xml`; Intel's generated class
//! `IPS_HostBasedSetupService.cpp` (intel/lms `CIM_Framework`) for argument order and types
//! (`Setup` also takes optional `McNonce`, `Certificate`, `SigningAlgorithm`,
//! `DigitalSignature`, as MeshCentral's `amt.js` sends them); go-wsman-messages
//! `pkg/wsman/ips/hostbasedsetup/decoder.go` for the return-value maps. Note that those maps
//! number `AuthFailed` 5 and `FlashWriteLimitExceeded` 6 for both `Setup` and `AdminSetup`
//! (`AdminSetup` skips 4, `MethodDisabled`), unlike the 4/5 numbering in AMT-PROTOCOLS.md §2.3.

wire_enum! {
    /// `CurrentControlMode` / `AllowedControlModes`.
    pub enum ControlMode: u8 {
        /// 0: not provisioned.
        NotProvisioned = 0,
        /// 1: Client Control Mode.
        Client = 1,
        /// 2: Admin Control Mode.
        Admin = 2,
    }
}

wire_enum! {
    /// `CertChainStatus`: progress of `AddNextCertInChain`.
    pub enum CertChainStatus: u8 {
        /// 0: No certificate added yet.
        NotStarted = 0,
        /// 1: Leaf (and maybe intermediates) added, root still missing.
        ChainInProgress = 1,
        /// 2: The chain is complete.
        ChainComplete = 2,
    }
}

wire_enum! {
    /// `NetAdminPassEncryptionType` (uint16 in the MOF; `u32` here for callers' convenience,
    /// the wire text is the same).
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
    /// `SigningAlgorithm` of Setup / AdminSetup / UpgradeClientToAdmin (uint16 in the MOF;
    /// `u32` here, the wire text is the same).
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
    /// `Setup` (and `UpgradeClientToAdmin`) return values.
    pub enum HostBasedSetupReturn: u32 {
        /// 0: success.
        Success = 0,
        /// 1: internal error.
        InternalError = 1,
        /// 2: invalid state.
        InvalidState = 2,
        /// 3: invalid parameter.
        InvalidParam = 3,
        /// 4: method disabled (Setup only).
        MethodDisabled = 4,
        /// 5: authentication failed.
        AuthFailed = 5,
        /// 6: flash write limit exceeded.
        FlashWriteLimitExceeded = 6,
    }
}

wire_enum! {
    /// `AdminSetup` return values (the `Setup` set without `MethodDisabled`).
    pub enum AdminSetupReturn: u32 {
        /// 0: success.
        Success = 0,
        /// 1: internal error.
        InternalError = 1,
        /// 2: invalid state.
        InvalidState = 2,
        /// 3: invalid parameter.
        InvalidParam = 3,
        /// 5: authentication failed (bad signature or certificate chain).
        AuthFailed = 5,
        /// 6: flash write limit exceeded.
        FlashWriteLimitExceeded = 6,
    }
}

wire_enum! {
    /// `AddNextCertInChain` return values.
    pub enum AddNextCertInChainReturn: u32 {
        /// 0: success.
        Success = 0,
        /// 1: invalid parameter.
        InvalidParam = 1,
        /// 2: internal error.
        InternalError = 2,
        /// 3: invalid state.
        InvalidState = 3,
        /// 4: certificate verification failed.
        CertVerifyFailed = 4,
        /// 5: certificate chain too long.
        CertChainLengthExceeded = 5,
    }
}

wsman_struct! {
    /// `IPS_HostBasedSetupService`. Source: fixture `ips/hostbasedsetup/get.xml`.
    class IpsHostBasedSetupService = "IPS_HostBasedSetupService" {
        /// Modes this device may be activated into.
        "AllowedControlModes" => allowed_control_modes: Vec<ControlMode>,
        /// Progress of the provisioning certificate chain.
        "CertChainStatus" => cert_chain_status: Option<CertChainStatus>,
        /// Base64 20-byte nonce for AdminSetup signatures.
        "ConfigurationNonce" => configuration_nonce: Option<String>,
        /// Class name.
        "CreationClassName" => creation_class_name: Option<String>,
        /// The current mode.
        "CurrentControlMode" => current_control_mode: Option<ControlMode>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<crate::classes::cim::EnabledState>,
        /// Name.
        "Name" => name: Option<String>,
        /// Requested state.
        "RequestedState" => requested_state: Option<crate::classes::cim::RequestedState>,
        /// System class name.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// System name.
        "SystemName" => system_name: Option<String>,
    }
}

impl IpsHostBasedSetupService {
    /// The 20 nonce bytes of `ConfigurationNonce`.
    pub fn configuration_nonce_bytes(&self) -> Result<Option<Vec<u8>>, crate::Error> {
        use base64::Engine as _;
        self.configuration_nonce
            .as_deref()
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|_| crate::Error::InvalidValue {
                        class: "IPS_HostBasedSetupService".into(),
                        property: "ConfigurationNonce".into(),
                        value: s.chars().take(40).collect(),
                        expected: "base64",
                    })
            })
            .transpose()
    }
}

wsman_struct! {
    /// `Setup_INPUT` (CCM activation; the signature arguments are optional).
    input SetupInput = "IPS_HostBasedSetupService" . "Setup" {
        /// Always [`AdminPassEncryptionType::HttpDigestMd5A1`].
        "NetAdminPassEncryptionType" => net_admin_pass_encryption_type: Option<AdminPassEncryptionType>,
        /// 32 lower-case hex chars.
        "NetworkAdminPassword" => network_admin_password: Option<String>,
        /// Optional console nonce (base64).
        "McNonce" => mc_nonce: Option<String>,
        /// Optional signing certificate (base64 DER).
        "Certificate" => certificate: Option<String>,
        /// Optional signature algorithm.
        "SigningAlgorithm" => signing_algorithm: Option<SigningAlgorithm>,
        /// Optional signature (base64).
        "DigitalSignature" => digital_signature: Option<String>,
    }
}

wsman_struct! {
    /// `Setup_OUTPUT`.
    output SetupOutput = "IPS_HostBasedSetupService" . "Setup" {
        /// Return value.
        "ReturnValue" => return_value: Option<HostBasedSetupReturn>,
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
        "ReturnValue" => return_value: Option<AdminSetupReturn>,
    }
}

wsman_struct! {
    /// `AddNextCertInChain_INPUT`: the provisioning chain, leaf first, root last.
    input AddNextCertInChainInput = "IPS_HostBasedSetupService" . "AddNextCertInChain" {
        /// Base64 DER of the certificate.
        "NextCertificate" => next_certificate: Option<String>,
        /// True for the first (leaf) certificate.
        "IsLeafCertificate" => is_leaf_certificate: Option<bool>,
        /// True for the last (root) certificate.
        "IsRootCertificate" => is_root_certificate: Option<bool>,
    }
}

impl AddNextCertInChainInput {
    /// The input for one DER certificate of the chain.
    pub fn new(der: &[u8], is_leaf: bool, is_root: bool) -> Self {
        use base64::Engine as _;
        AddNextCertInChainInput {
            next_certificate: Some(base64::engine::general_purpose::STANDARD.encode(der)),
            is_leaf_certificate: Some(is_leaf),
            is_root_certificate: Some(is_root),
            extra: Vec::new(),
        }
    }
}

wsman_struct! {
    /// `AddNextCertInChain_OUTPUT`.
    output AddNextCertInChainOutput = "IPS_HostBasedSetupService" . "AddNextCertInChain" {
        /// Return value.
        "ReturnValue" => return_value: Option<AddNextCertInChainReturn>,
    }
}

wsman_struct! {
    /// `UpgradeClientToAdmin_INPUT` (CCM → ACM).
    input UpgradeClientToAdminInput = "IPS_HostBasedSetupService" . "UpgradeClientToAdmin" {
        /// Console nonce (base64, 20 bytes).
        "McNonce" => mc_nonce: Option<String>,
        /// Signature algorithm.
        "SigningAlgorithm" => signing_algorithm: Option<SigningAlgorithm>,
        /// RSA signature over ConfigurationNonce || McNonce (base64).
        "DigitalSignature" => digital_signature: Option<String>,
    }
}

wsman_struct! {
    /// `UpgradeClientToAdmin_OUTPUT`.
    output UpgradeClientToAdminOutput = "IPS_HostBasedSetupService" . "UpgradeClientToAdmin" {
        /// Return value.
        "ReturnValue" => return_value: Option<HostBasedSetupReturn>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::Typed;

    #[test]
    fn admin_setup_arguments_are_in_schema_order() {
        let input = AdminSetupInput {
            net_admin_pass_encryption_type: Some(AdminPassEncryptionType::HttpDigestMd5A1),
            network_admin_password: Some("0123456789abcdef0123456789abcdef".into()),
            mc_nonce: Some("ZxxE0cFy590zDBIR39q6QU6iuII=".into()),
            signing_algorithm: Some(SigningAlgorithm::RsaSha256),
            digital_signature: Some("c2ln".into()),
            ..Default::default()
        };
        let i = input.to_instance();
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "NetAdminPassEncryptionType",
                "NetworkAdminPassword",
                "McNonce",
                "SigningAlgorithm",
                "DigitalSignature"
            ]
        );
    }

    #[test]
    fn admin_setup_has_no_method_disabled_code() {
        assert!(AdminSetupReturn::try_from(4).is_err());
        assert_eq!(
            HostBasedSetupReturn::try_from(4).unwrap(),
            HostBasedSetupReturn::MethodDisabled
        );
        assert_eq!(AdminSetupReturn::AuthFailed.value(), 5);
        assert_eq!(AdminSetupReturn::FlashWriteLimitExceeded.value(), 6);
    }

    #[test]
    fn add_next_cert_flags_leaf_and_root() {
        let i = AddNextCertInChainInput::new(&[1, 2, 3], true, false).to_instance();
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["NextCertificate", "IsLeafCertificate", "IsRootCertificate"]
        );
        assert_eq!(i.get_text("NextCertificate"), Some("AQID"));
        assert_eq!(i.get_text("IsLeafCertificate"), Some("true"));
    }
}
