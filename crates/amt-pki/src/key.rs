//! RSA key pairs: generation from a caller's RNG, PKCS#8/PKCS#1 encodings, and the key's
//! public half as a `SubjectPublicKeyInfo`.

use std::fmt;

use der::{Decode, Encode};
use rand_core::CryptoRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

use crate::error::{PkiError, Result};

/// Smallest RSA modulus the firmware accepts (ME 15/16 and later reject smaller keys).
pub const MIN_RSA_BITS: usize = 2048;

/// An RSA private key. `Debug` shows only the size; encodings come back in zeroizing buffers.
#[derive(Clone)]
pub struct RsaKey {
    inner: PrivateKey,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey {{ bits: {}, .. }}", self.bits())
    }
}

impl RsaKey {
    /// Generate a new key of `bits` bits (at least [`MIN_RSA_BITS`]) from `rng`.
    ///
    /// This is slow in unoptimised builds (seconds); keep it out of loops.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, bits: usize) -> Result<Self> {
        if bits < MIN_RSA_BITS {
            return Err(PkiError::KeyTooSmall {
                bits,
                min: MIN_RSA_BITS,
            });
        }
        let inner = PrivateKey::new(rng, bits).map_err(|e| PkiError::Rsa(e.to_string()))?;
        Ok(RsaKey { inner })
    }

    /// Read a PKCS#8 `PrivateKeyInfo` (DER).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let inner = PrivateKey::from_pkcs8_der(der)
            .map_err(|e| PkiError::malformed("PKCS#8 RSA private key", e))?;
        Self::checked(inner)
    }

    /// Read a PKCS#1 `RSAPrivateKey` (DER).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let inner = PrivateKey::from_pkcs1_der(der)
            .map_err(|e| PkiError::malformed("PKCS#1 RSA private key", e))?;
        Self::checked(inner)
    }

    /// Read a PEM private key: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1).
    /// Encrypted PEM keys are refused (decrypt them first, or use PKCS#12).
    pub fn from_pem(pem: &str) -> Result<Self> {
        for block in crate::pem::blocks(pem)? {
            match block.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&block.der),
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(&block.der),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(PkiError::InvalidInput {
                        field: "private key",
                        value: "ENCRYPTED PRIVATE KEY".into(),
                        reason: "encrypted PEM keys are not supported; give a PKCS#12 file instead",
                    })
                }
                _ => {}
            }
        }
        Err(PkiError::MissingKey { what: "PEM input" })
    }

    fn checked(inner: PrivateKey) -> Result<Self> {
        let key = RsaKey { inner };
        if key.bits() < MIN_RSA_BITS {
            return Err(PkiError::KeyTooSmall {
                bits: key.bits(),
                min: MIN_RSA_BITS,
            });
        }
        Ok(key)
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.size() * 8
    }

    /// PKCS#8 `PrivateKeyInfo` DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = self
            .inner
            .to_pkcs8_der()
            .map_err(|e| PkiError::malformed("PKCS#8 RSA private key", e))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let der = self.to_pkcs8_der()?;
        Ok(Zeroizing::new(crate::pem::encode("PRIVATE KEY", &der)))
    }

    /// PKCS#1 `RSAPrivateKey` DER: the `KeyBlob` that `AMT_PublicKeyManagementService.AddKey`
    /// takes (base64-encoded on the wire).
    pub fn to_pkcs1_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = self
            .inner
            .to_pkcs1_der()
            .map_err(|e| PkiError::malformed("PKCS#1 RSA private key", e))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The public half as a `SubjectPublicKeyInfo`.
    pub fn public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned> {
        public_key_info(self.inner.as_public_key())
    }

    pub(crate) fn signer(&self) -> rsa::pkcs1v15::SigningKey<sha2::Sha256> {
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.inner.clone())
    }

    /// Whether this key is the private half of `spki`.
    pub fn matches(&self, spki: &SubjectPublicKeyInfoOwned) -> bool {
        match (self.public_key_info(), spki.to_der()) {
            (Ok(mine), Ok(theirs)) => mine.to_der().ok().as_deref() == Some(theirs.as_slice()),
            _ => false,
        }
    }
}

pub(crate) fn public_key_info(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned> {
    let der = key
        .to_public_key_der()
        .map_err(|e| PkiError::malformed("RSA public key", e))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
        .map_err(|e| PkiError::malformed("RSA public key", e))
}
