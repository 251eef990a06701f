//! `AMT_KerberosSettingData`: the Active Directory realm, SPNs and master key the firmware uses
//! to accept `Authorization: Negotiate` (AMT-PROTOCOLS.md §7).
//!
//! Sources: recorded fixtures `amt/kerberos/*.xml`; Intel's generated class
//! `AMT_KerberosSettingData.cpp` (intel/lms `CIM_Framework`: `MasterKey` is `Base64`,
//! `SetCredentialCacheState` takes `Enable`, as MeshCentral's `amt.js` sends it);
//! go-wsman-messages `pkg/wsman/amt/kerberos` (value maps).

use super::PtStatus;

wire_enum! {
    /// `ServicePrincipalProtocol[]`, parallel to `ServicePrincipalName[]`.
    pub enum ServicePrincipalProtocol: u16 {
        /// 0: HTTP (16992).
        Http = 0,
        /// 1: HTTPS (16993).
        Https = 1,
        /// 2: SOL and IDE-R (16994).
        SolIder = 2,
        /// 3: SOL and IDE-R over TLS (16995).
        SolIderTls = 3,
    }
}

wire_enum! {
    /// Kerberos encryption types (`EncryptionAlgorithm`, `SupportedEncryptionAlgorithms[]`,
    /// `ConfiguredEncryptionAlgorithms[]`).
    pub enum KerberosEncryption: u16 {
        /// 0: RC4-HMAC.
        Rc4Hmac = 0,
        /// 1: AES128-CTS-HMAC-SHA1-96 (AMT 8.0+).
        Aes128CtsHmacSha196 = 1,
        /// 2: AES256-CTS-HMAC-SHA1-96 (AMT 8.0+).
        Aes256CtsHmacSha196 = 2,
    }
}

wsman_struct! {
    /// `AMT_KerberosSettingData`. Either `MasterKey`, or `Passphrase` + `Salt` +
    /// `IterationCount`, carries the key. Source: fixture `amt/kerberos/get.xml`.
    class AmtKerberosSettingData = "AMT_KerberosSettingData" {
        /// Encryption types in use.
        "ConfiguredEncryptionAlgorithms" => configured_encryption_algorithms: Vec<KerberosEncryption>,
        /// `Intel(r) AMT: Kerberos Settings`.
        "ElementName" => element_name: Option<String>,
        /// Encryption of `MasterKey` (RC4-HMAC).
        "EncryptionAlgorithm" => encryption_algorithm: Option<KerberosEncryption>,
        /// `Intel (r) AMT: Kerberos Settings` (sic, with a space).
        "InstanceID" => instance_id: Option<String>,
        /// PBKDF2 iterations for the passphrase form.
        "IterationCount" => iteration_count: Option<u32>,
        /// Key version number (kvno).
        "KeyVersion" => key_version: Option<u32>,
        /// Kerberos authentication enabled.
        "KrbEnabled" => krb_enabled: Option<bool>,
        /// The 128-bit key, base64 (write-only).
        "MasterKey" => master_key: Option<String>,
        /// Clock skew tolerated, minutes.
        "MaximumClockTolerance" => maximum_clock_tolerance: Option<u32>,
        /// Passphrase (write-only).
        "Passphrase" => passphrase: Option<String>,
        /// The AD realm.
        "RealmName" => realm_name: Option<String>,
        /// Salt for the passphrase form.
        "Salt" => salt: Option<String>,
        /// SPNs, one per service.
        "ServicePrincipalName" => service_principal_name: Vec<String>,
        /// The protocol of each SPN.
        "ServicePrincipalProtocol" => service_principal_protocol: Vec<ServicePrincipalProtocol>,
        /// Encryption types the firmware supports.
        "SupportedEncryptionAlgorithms" => supported_encryption_algorithms: Vec<KerberosEncryption>,
    }
}

wsman_struct! {
    /// `GetCredentialCacheState_INPUT` (no arguments).
    input GetCredentialCacheStateInput = "AMT_KerberosSettingData" . "GetCredentialCacheState" {}
}

wsman_struct! {
    /// `GetCredentialCacheState_OUTPUT`.
    output GetCredentialCacheStateOutput = "AMT_KerberosSettingData" . "GetCredentialCacheState" {
        /// Whether the ticket cache is enabled.
        "Enabled" => enabled: Option<bool>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `SetCredentialCacheState_INPUT`.
    input SetCredentialCacheStateInput = "AMT_KerberosSettingData" . "SetCredentialCacheState" {
        /// Enable the ticket cache.
        "Enable" => enable: Option<bool>,
    }
}

wsman_struct! {
    /// `SetCredentialCacheState_OUTPUT`.
    output SetCredentialCacheStateOutput = "AMT_KerberosSettingData" . "SetCredentialCacheState" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

impl AmtKerberosSettingData {
    /// The (SPN, protocol) pairs; `None` when the two arrays differ in length.
    pub fn service_principals(&self) -> Option<Vec<(&str, ServicePrincipalProtocol)>> {
        (self.service_principal_name.len() == self.service_principal_protocol.len()).then(|| {
            self.service_principal_name
                .iter()
                .map(String::as_str)
                .zip(self.service_principal_protocol.iter().copied())
                .collect()
        })
    }
}
