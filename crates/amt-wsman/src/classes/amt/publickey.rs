//! The certificate store: `AMT_PublicKeyManagementService` (add roots, certificates, keys, CRLs,
//! generate key pairs and signed CSRs), `AMT_PublicKeyCertificate`, `AMT_PublicPrivateKeyPair`,
//! `AMT_CRL` (AMT-PROTOCOLS.md §2.5, §6).
//!
//! Sources: recorded fixtures `amt/publickey/**` and `amt/publicprivate/*`; Intel's generated
//! classes (intel/lms `CIM_Framework`: `AMT_PublicKeyManagementService.cpp`, `AMT_CRL.cpp`, …)
//! for argument order and types; go-wsman-messages `pkg/wsman/amt/publickey` for value maps.

use super::PtStatus;
use crate::classes::cim::{EnabledDefault, EnabledState, OperationalStatus, RequestedState};
use crate::value::{EndpointReference, SelectorSet};

wire_enum! {
    /// `GenerateKeyPair(KeyAlgorithm)`.
    pub enum KeyAlgorithm: u32 {
        /// 0: RSA.
        Rsa = 0,
    }
}

wire_enum! {
    /// `GeneratePKCS10RequestEx(SigningAlgorithm)`. RPS sends 1 (SHA-256).
    pub enum CsrSigningAlgorithm: u32 {
        /// 0: SHA1-RSA.
        Sha1Rsa = 0,
        /// 1: SHA256-RSA.
        Sha256Rsa = 1,
        /// 2: SHA384-RSA (AMT-PROTOCOLS.md §2.5, from the SDK header).
        Sha384Rsa = 2,
    }
}

/// Builds a base64 string from DER bytes (certificate blobs, key blobs, CSRs).
pub fn der_to_b64(der: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn b64_to_der(class: &str, property: &str, s: &str) -> Result<Vec<u8>, crate::Error> {
    use base64::Engine as _;
    // Firmware and consoles sometimes wrap long base64 text; whitespace is not significant.
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| crate::Error::InvalidValue {
            class: class.to_owned(),
            property: property.to_owned(),
            value: s.chars().take(40).collect(),
            expected: "base64",
        })
}

wsman_struct! {
    /// `AMT_PublicKeyManagementService`. Source: fixture `amt/publickey/management/get.xml`.
    class AmtPublicKeyManagementService = "AMT_PublicKeyManagementService" {
        /// `AMT_PublicKeyManagementService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Certificate Store Service`.
        "ElementName" => element_name: Option<String>,
        /// Enabled default.
        "EnabledDefault" => enabled_default: Option<EnabledDefault>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// `Intel(r) AMT Public Key Management Service`.
        "Name" => name: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `Intel(r) AMT`.
        "SystemName" => system_name: Option<String>,
    }
}

wsman_struct! {
    /// `AMT_PublicKeyCertificate`: one certificate in the store. Note AMT's spelling of
    /// `TrustedRootCertficate`. Source: fixture `amt/publickey/certificate/pull.xml`.
    class AmtPublicKeyCertificate = "AMT_PublicKeyCertificate" {
        /// `Intel(r) AMT Certificate`.
        "ElementName" => element_name: Option<String>,
        /// `Intel(r) AMT Certificate: Handle: N`.
        "InstanceID" => instance_id: Option<String>,
        /// Issuer DN (`C=…,O=…,CN=…`).
        "Issuer" => issuer: Option<String>,
        /// The certificate cannot be deleted (AMT 11+ built-in certificates).
        "ReadOnlyCertificate" => read_only_certificate: Option<bool>,
        /// Subject DN.
        "Subject" => subject: Option<String>,
        /// True for trust anchors added with `AddTrustedRootCertificate` (sic: `Certficate`).
        "TrustedRootCertficate" => trusted_root_certificate: Option<bool>,
        /// Base64 DER of the certificate.
        "X509Certificate" => x509_certificate: Option<String>,
    }
}

impl AmtPublicKeyCertificate {
    /// The DER bytes of `X509Certificate`.
    pub fn certificate_der(&self) -> Result<Option<Vec<u8>>, crate::Error> {
        self.x509_certificate
            .as_deref()
            .map(|s| b64_to_der("AMT_PublicKeyCertificate", "X509Certificate", s))
            .transpose()
    }
}

wsman_struct! {
    /// `AMT_PublicPrivateKeyPair`: a key in the store (public half only is readable).
    /// Source: fixture `amt/publicprivate/pull.xml`.
    class AmtPublicPrivateKeyPair = "AMT_PublicPrivateKeyPair" {
        /// Base64 DER of the PKCS#1 `RSAPublicKey`.
        "DERKey" => der_key: Option<String>,
        /// `Intel(r) AMT Key`.
        "ElementName" => element_name: Option<String>,
        /// `Intel(r) AMT Key: Handle: N`.
        "InstanceID" => instance_id: Option<String>,
    }
}

impl AmtPublicPrivateKeyPair {
    /// The DER bytes of the public key.
    pub fn public_key_der(&self) -> Result<Option<Vec<u8>>, crate::Error> {
        self.der_key
            .as_deref()
            .map(|s| b64_to_der("AMT_PublicPrivateKeyPair", "DERKey", s))
            .transpose()
    }

    /// A reference to this key (for `GeneratePKCS10RequestEx`), when it has an `InstanceID`.
    pub fn reference(&self) -> Option<EndpointReference> {
        self.instance_id.as_deref().map(key_pair_reference)
    }
}

/// A reference to the `AMT_PublicPrivateKeyPair` with this `InstanceID`
/// (`Intel(r) AMT Key: Handle: N`), as `GeneratePKCS10RequestEx` takes it.
pub fn key_pair_reference(instance_id: &str) -> EndpointReference {
    EndpointReference::to_class(
        "AMT_PublicPrivateKeyPair",
        SelectorSet::one("InstanceID", instance_id),
    )
}

wsman_struct! {
    /// `AMT_CRL`: a pushed list of revoked serial numbers (not a DER CRL).
    /// Source: Intel `AMT_CRL.cpp`; AMT-PROTOCOLS.md §6.
    class AmtCrl = "AMT_CRL" {
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Instance key.
        "InstanceID" => instance_id: Option<String>,
        /// Revoked serial numbers, each base64.
        "SerialNumbers" => serial_numbers: Vec<String>,
        /// Where the CRL came from.
        "Url" => url: Option<String>,
    }
}

wsman_struct! {
    /// `AddTrustedRootCertificate_INPUT`.
    input AddTrustedRootCertificateInput = "AMT_PublicKeyManagementService" . "AddTrustedRootCertificate" {
        /// Base64 DER of the root certificate.
        "CertificateBlob" => certificate_blob: Option<String>,
    }
}

wsman_struct! {
    /// `AddTrustedRootCertificate_OUTPUT`.
    output AddTrustedRootCertificateOutput = "AMT_PublicKeyManagementService" . "AddTrustedRootCertificate" {
        /// Reference to the new `AMT_PublicKeyCertificate`.
        "CreatedCertificate" => created_certificate: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `AddCertificate_INPUT`: the firmware links the certificate to its private key.
    input AddCertificateInput = "AMT_PublicKeyManagementService" . "AddCertificate" {
        /// Base64 DER of the certificate.
        "CertificateBlob" => certificate_blob: Option<String>,
    }
}

wsman_struct! {
    /// `AddCertificate_OUTPUT`.
    output AddCertificateOutput = "AMT_PublicKeyManagementService" . "AddCertificate" {
        /// Reference to the new `AMT_PublicKeyCertificate`.
        "CreatedCertificate" => created_certificate: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

impl AddTrustedRootCertificateInput {
    /// The input for a DER certificate.
    pub fn from_der(der: &[u8]) -> Self {
        AddTrustedRootCertificateInput {
            certificate_blob: Some(der_to_b64(der)),
            ..Default::default()
        }
    }
}

impl AddCertificateInput {
    /// The input for a DER certificate.
    pub fn from_der(der: &[u8]) -> Self {
        AddCertificateInput {
            certificate_blob: Some(der_to_b64(der)),
            ..Default::default()
        }
    }
}

wsman_struct! {
    /// `AddKey_INPUT`.
    input AddKeyInput = "AMT_PublicKeyManagementService" . "AddKey" {
        /// Base64 DER of a PKCS#1 `RSAPrivateKey`.
        "KeyBlob" => key_blob: Option<String>,
    }
}

wsman_struct! {
    /// `AddKey_OUTPUT`: 0, 1, 23 MaxLimitReached, 38, 2058 Duplicate, 2062 InvalidKey.
    output AddKeyOutput = "AMT_PublicKeyManagementService" . "AddKey" {
        /// Reference to the new `AMT_PublicPrivateKeyPair`.
        "CreatedKey" => created_key: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GenerateKeyPair_INPUT`: RSA 2048 is the only valid combination.
    input GenerateKeyPairInput = "AMT_PublicKeyManagementService" . "GenerateKeyPair" {
        /// Algorithm.
        "KeyAlgorithm" => key_algorithm: Option<KeyAlgorithm>,
        /// Key length in bits (2048).
        "KeyLength" => key_length: Option<u32>,
    }
}

impl GenerateKeyPairInput {
    /// RSA 2048, what every console asks for.
    pub fn rsa_2048() -> Self {
        GenerateKeyPairInput {
            key_algorithm: Some(KeyAlgorithm::Rsa),
            key_length: Some(2048),
            ..Default::default()
        }
    }
}

wsman_struct! {
    /// `GenerateKeyPair_OUTPUT`.
    output GenerateKeyPairOutput = "AMT_PublicKeyManagementService" . "GenerateKeyPair" {
        /// Reference to the new `AMT_PublicPrivateKeyPair` (selector `InstanceID`).
        "KeyPair" => key_pair: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `GeneratePKCS10RequestEx_INPUT`: the firmware signs a null-signed CSR with a stored key.
    input GeneratePkcs10RequestExInput = "AMT_PublicKeyManagementService" . "GeneratePKCS10RequestEx" {
        /// The key (see [`key_pair_reference`]).
        "KeyPair" => key_pair: Option<EndpointReference>,
        /// Signature algorithm.
        "SigningAlgorithm" => signing_algorithm: Option<CsrSigningAlgorithm>,
        /// Base64 DER of a PKCS#10 request with a dummy signature.
        "NullSignedCertificateRequest" => null_signed_certificate_request: Option<String>,
    }
}

wsman_struct! {
    /// `GeneratePKCS10RequestEx_OUTPUT`.
    output GeneratePkcs10RequestExOutput = "AMT_PublicKeyManagementService" . "GeneratePKCS10RequestEx" {
        /// Base64 DER of the signed PKCS#10 request.
        "SignedCertificateRequest" => signed_certificate_request: Option<String>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

impl GeneratePkcs10RequestExOutput {
    /// The DER bytes of the signed request.
    pub fn request_der(&self) -> Result<Option<Vec<u8>>, crate::Error> {
        self.signed_certificate_request
            .as_deref()
            .map(|s| {
                b64_to_der(
                    "GeneratePKCS10RequestEx_OUTPUT",
                    "SignedCertificateRequest",
                    s,
                )
            })
            .transpose()
    }
}

wsman_struct! {
    /// `AddCRL_INPUT`.
    input AddCrlInput = "AMT_PublicKeyManagementService" . "AddCRL" {
        /// Where the list came from (informational).
        "Url" => url: Option<String>,
        /// Revoked serial numbers, each base64.
        "SerialNumbers" => serial_numbers: Vec<String>,
    }
}

wsman_struct! {
    /// `AddCRL_OUTPUT`.
    output AddCrlOutput = "AMT_PublicKeyManagementService" . "AddCRL" {
        /// Reference to the new `AMT_CRL`.
        "CRL" => crl: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

wsman_struct! {
    /// `ResetCRLList_INPUT` (no arguments): stop using CRLs.
    input ResetCrlListInput = "AMT_PublicKeyManagementService" . "ResetCRLList" {}
}

wsman_struct! {
    /// `ResetCRLList_OUTPUT`.
    output ResetCrlListOutput = "AMT_PublicKeyManagementService" . "ResetCRLList" {
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classes::Typed;
    use crate::value::Value;

    #[test]
    fn pkcs10_input_carries_the_key_pair_reference_first() {
        let input = GeneratePkcs10RequestExInput {
            key_pair: Some(key_pair_reference("Intel(r) AMT Key: Handle: 0")),
            signing_algorithm: Some(CsrSigningAlgorithm::Sha256Rsa),
            null_signed_certificate_request: Some("MIIB".into()),
            ..Default::default()
        };
        let i = input.to_instance();
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "KeyPair",
                "SigningAlgorithm",
                "NullSignedCertificateRequest"
            ]
        );
        let Some(Value::Epr(epr)) = i.get("KeyPair") else {
            panic!("KeyPair is not an EPR");
        };
        assert_eq!(
            epr.resource_uri.as_deref(),
            Some("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicPrivateKeyPair")
        );
        assert_eq!(
            epr.selectors.get("InstanceID"),
            Some("Intel(r) AMT Key: Handle: 0")
        );
        assert_eq!(
            GeneratePkcs10RequestExInput::from_instance(&i).unwrap(),
            input
        );
    }

    #[test]
    fn misspelled_trusted_root_property_is_read() {
        let i = crate::value::Instance::of_class("AMT_PublicKeyCertificate")
            .with_text("TrustedRootCertficate", "true")
            .with_text("X509Certificate", "AQID");
        let c = AmtPublicKeyCertificate::from_instance(&i).unwrap();
        assert_eq!(c.trusted_root_certificate, Some(true));
        assert_eq!(c.certificate_der().unwrap(), Some(vec![1, 2, 3]));
        assert!(c.extra.is_empty());
    }
}
