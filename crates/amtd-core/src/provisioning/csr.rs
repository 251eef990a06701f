//! The null-signed PKCS#10 request handed to `GeneratePKCS10RequestEx`: the device's public
//! key (its `DERKey`, PKCS#1) with subject `CN=<fqdn>` and a dummy signature; the firmware
//! signs it with the private key it keeps (AMT-PROTOCOLS §2.5).

use std::str::FromStr;

use der::asn1::{Any, BitString};
use der::Encode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

/// Builds the request; the error is a reason in words.
pub(crate) fn null_signed_csr(device_pkcs1: &[u8], cn: &str) -> Result<Vec<u8>, String> {
    let public_key = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        subject_public_key: BitString::from_bytes(device_pkcs1)
            .map_err(|e| format!("device public key: {e}"))?,
    };
    let subject = Name::from_str(&format!("CN={cn}")).map_err(|e| format!("subject: {e}"))?;
    CertReq {
        info: CertReqInfo {
            version: Version::V1,
            subject,
            public_key,
            attributes: Default::default(),
        },
        algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: BitString::from_bytes(&[0u8; 256]).map_err(|e| format!("signature: {e}"))?,
    }
    .to_der()
    .map_err(|e| format!("PKCS#10 encoding: {e}"))
}
