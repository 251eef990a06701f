//! Certificate serial numbers.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand_core::CryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{PkiError, Result};

/// A certificate serial number: the big-endian magnitude, without sign padding or leading zeros.
/// Prints as upper-case hex (like `openssl x509 -serial`); serialises as that hex string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// From big-endian bytes; leading zero bytes are dropped.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let v = bytes[start..].to_vec();
        Serial(if v.is_empty() { vec![0] } else { v })
    }

    /// From hex (upper or lower case; colons allowed).
    pub fn from_hex(s: &str) -> Result<Self> {
        let clean: String = s.chars().filter(|c| *c != ':').collect();
        let clean = if clean.len() % 2 == 1 {
            format!("0{clean}")
        } else {
            clean
        };
        let bytes = hex::decode(&clean).map_err(|_| PkiError::InvalidInput {
            field: "serial number",
            value: s.to_string(),
            reason: "not hexadecimal",
        })?;
        if bytes.is_empty() || bytes.len() > 20 {
            return Err(PkiError::InvalidInput {
                field: "serial number",
                value: s.to_string(),
                reason: "must be 1 to 20 bytes",
            });
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random serial: 16 bytes from `rng`, positive, never starting with a zero byte.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b[0] = (b[0] & 0x7f) | 0x01;
        Serial(b.to_vec())
    }

    /// The magnitude bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }

    /// Base64 of the magnitude bytes: the form `AMT_PublicKeyManagementService.AddCRL` takes in
    /// `SerialNumbers[]`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    pub(crate) fn to_x509(&self) -> Result<x509_cert::serial_number::SerialNumber> {
        x509_cert::serial_number::SerialNumber::new(&self.0)
            .map_err(|e| PkiError::malformed("serial number", e))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Serial::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
