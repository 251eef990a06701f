//! PKCS#10 certificate requests, as a device makes them with
//! `AMT_PublicKeyManagementService.GeneratePKCS10RequestEx`: parsed, signature-checked, and
//! reduced to the public key the CA certifies.

use der::Decode;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::PublicKey;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::CertReq;

use crate::cert::{display_name, first_element, verify_signature};
use crate::error::{PkiError, Result};
use crate::key::MIN_RSA_BITS;

/// A PKCS#10 request whose self-signature verified and whose RSA key is large enough.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    subject: String,
    public_key: SubjectPublicKeyInfoOwned,
    key_bits: usize,
}

impl VerifiedCsr {
    /// Parse a DER request and verify its signature with the key it carries.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        const WHAT: &str = "PKCS#10 request";
        let req = CertReq::from_der(der).map_err(|e| PkiError::malformed(WHAT, e))?;
        let signed = first_element(der, WHAT)?;
        verify_signature(
            WHAT,
            signed,
            &req.algorithm,
            &req.signature,
            &req.info.public_key,
        )?;
        let spki_der =
            der::Encode::to_der(&req.info.public_key).map_err(|e| PkiError::malformed(WHAT, e))?;
        let rsa = PublicKey::from_public_key_der(&spki_der).map_err(|_| {
            PkiError::UnsupportedAlgorithm {
                what: WHAT,
                oid: req.info.public_key.algorithm.oid.to_string(),
            }
        })?;
        let key_bits = rsa.size() * 8;
        if key_bits < MIN_RSA_BITS {
            return Err(PkiError::KeyTooSmall {
                bits: key_bits,
                min: MIN_RSA_BITS,
            });
        }
        Ok(VerifiedCsr {
            subject: display_name(&req.info.subject),
            public_key: req.info.public_key,
            key_bits,
        })
    }

    /// Parse a PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`) or bare base64 request,
    /// as `GeneratePKCS10RequestEx` returns it, and verify it.
    pub fn from_pem_or_base64(text: &str) -> Result<Self> {
        let blocks = crate::pem::blocks(text)?;
        if let Some(b) = blocks
            .into_iter()
            .find(|b| b.label.ends_with("CERTIFICATE REQUEST"))
        {
            return Self::from_der(&b.der);
        }
        use base64::Engine;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| PkiError::malformed("PKCS#10 request", e))?;
        Self::from_der(&der)
    }

    /// The subject the requester asked for (informational: the CA imposes its own profile).
    pub fn requested_subject(&self) -> &str {
        &self.subject
    }

    /// The public key to certify.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.public_key
    }

    /// RSA modulus size in bits.
    pub fn key_bits(&self) -> usize {
        self.key_bits
    }
}
