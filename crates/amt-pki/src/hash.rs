//! Root-certificate hashes, as AMT firmware lists them in a PKI hello and in
//! `AMT_ProvisioningCertificateHash`.

use std::fmt;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};

use crate::error::{PkiError, Result};

/// A hash algorithm used for trusted-root hashes. The discriminant is the hello's type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum HashAlgorithm {
    /// SHA-1 (20 bytes), hello type 1.
    Sha1 = 1,
    /// SHA-256 (32 bytes), hello type 2.
    Sha256 = 2,
    /// SHA-384 (48 bytes), hello type 3.
    Sha384 = 3,
}

impl HashAlgorithm {
    /// Digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
        }
    }

    /// The algorithm whose digest has this many hex digits (how RPS tells them apart).
    pub fn from_hex_len(hex_len: usize) -> Option<Self> {
        match hex_len {
            40 => Some(HashAlgorithm::Sha1),
            64 => Some(HashAlgorithm::Sha256),
            96 => Some(HashAlgorithm::Sha384),
            _ => None,
        }
    }

    /// Hash `data` with this algorithm.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        }
    }
}

impl TryFrom<u8> for HashAlgorithm {
    type Error = u8;
    fn try_from(v: u8) -> std::result::Result<Self, u8> {
        match v {
            1 => Ok(HashAlgorithm::Sha1),
            2 => Ok(HashAlgorithm::Sha256),
            3 => Ok(HashAlgorithm::Sha384),
            other => Err(other),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha384 => "SHA-384",
        })
    }
}

/// One certificate hash with its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertHash {
    algorithm: HashAlgorithm,
    bytes: Vec<u8>,
}

impl CertHash {
    /// A hash given as bytes; the length must fit the algorithm.
    pub fn new(algorithm: HashAlgorithm, bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() != algorithm.digest_len() {
            return Err(PkiError::BadHashLength {
                algorithm,
                expected: algorithm.digest_len(),
                got: bytes.len(),
            });
        }
        Ok(CertHash { algorithm, bytes })
    }

    /// A hash given as hex; the algorithm is taken from the length (40/64/96 digits), as RPS
    /// does. Colons and spaces are ignored.
    pub fn from_hex(s: &str) -> Result<Self> {
        let clean: String = s
            .chars()
            .filter(|c| !matches!(c, ':' | ' '))
            .collect::<String>();
        let invalid = |reason| PkiError::InvalidInput {
            field: "certificate hash",
            value: s.to_string(),
            reason,
        };
        let algorithm = HashAlgorithm::from_hex_len(clean.len())
            .ok_or_else(|| invalid("must be 40, 64 or 96 hex digits"))?;
        let bytes = hex::decode(&clean).map_err(|_| invalid("not hexadecimal"))?;
        CertHash::new(algorithm, bytes)
    }

    /// Hash a DER certificate with `algorithm`.
    pub fn of_der(algorithm: HashAlgorithm, der: &[u8]) -> Self {
        CertHash {
            algorithm,
            bytes: algorithm.digest(der),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The digest bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }
}

impl fmt::Display for CertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm, self.to_hex())
    }
}

/// The SHA-1, SHA-256 and SHA-384 hashes of one (root) certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootHashes {
    /// SHA-1 of the DER certificate.
    pub sha1: CertHash,
    /// SHA-256 of the DER certificate.
    pub sha256: CertHash,
    /// SHA-384 of the DER certificate.
    pub sha384: CertHash,
}

impl RootHashes {
    /// Compute all three hashes of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        RootHashes {
            sha1: CertHash::of_der(HashAlgorithm::Sha1, der),
            sha256: CertHash::of_der(HashAlgorithm::Sha256, der),
            sha384: CertHash::of_der(HashAlgorithm::Sha384, der),
        }
    }

    /// The hash for one algorithm.
    pub fn get(&self, algorithm: HashAlgorithm) -> &CertHash {
        match algorithm {
            HashAlgorithm::Sha1 => &self.sha1,
            HashAlgorithm::Sha256 => &self.sha256,
            HashAlgorithm::Sha384 => &self.sha384,
        }
    }

    /// The first of `trusted` that is one of these hashes, if any.
    pub fn find_in<'a>(&self, trusted: &'a [CertHash]) -> Option<&'a CertHash> {
        trusted.iter().find(|t| self.get(t.algorithm()) == *t)
    }
}
