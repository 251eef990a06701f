//! The provisioning "hello": the one message an AMT device sends to the provisioning server
//! (TCP 9971) while it waits in setup mode (SPEC D4, P1; AMT-PROTOCOLS.md §1.2).
//!
//! Both sides live here: the device (emulator) builds a [`Hello`] and calls [`Hello::encode`];
//! the server feeds whatever the socket delivers to a [`HelloAssembler`] and gets a [`Hello`],
//! a typed [`Error`], or the news that the peer is a web browser ([`Progress::HttpGet`]).
//!
//! ```
//! use amt_wire::hello::{Hello, HelloAssembler, Progress, RootHash, RootHashList, Uuid16};
//!
//! // Device side.
//! let uuid: Uuid16 = "939b524b-13d4-1d18-e487-1c697a6b7a2b".parse()?;
//! let roots = RootHashList::try_from(vec![RootHash::Sha256([0xAB; 32])])?;
//! let bytes = Hello::pki(false, 0, uuid, roots).encode();
//!
//! // Server side: segments arrive in any sizes; EOF ends the hello.
//! let mut assembler = HelloAssembler::new();
//! for segment in bytes.chunks(10) {
//!     if let Progress::HttpGet(_) = assembler.push(segment)? {
//!         // A browser: write `diagnostic_http_response(DIAGNOSTIC_PAGE_TEXT)` and close.
//!     }
//! }
//! let hello = assembler.finish()?;
//! assert_eq!(hello.uuid, uuid);
//! assert_eq!(hello.hashes().len(), 1);
//! # Ok::<(), amt_wire::Error>(())
//! ```
//!
//! # Layout (all integers little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | u16 | admin credentials set: 0 or 1 (anything else is rejected) |
//! | 2 | u16 | version: [`HelloVersion`] 2 = PSK, 3 = PKI (anything else is rejected) |
//! | 4 | u32 | retry count, 0–14 per Intel (see [`Hello::retry_count`]) |
//! | 8 | 16 | device UUID, GUID byte order ([`Uuid16`]) |
//! | 24 | 8 | PSK only: the PID. The PSK hello is exactly 32 bytes |
//! | 24 | u8 | PKI only: number of root hashes, then per hash: u8 type ([`HashAlgorithm`]), u8 size (must match the type), the hash |
//!
//! # Strictness (decisions, with the reason)
//!
//! * **Size bound.** No valid hello is longer than [`MAX_HELLO_LEN`] (255 SHA-384 entries);
//!   longer input is [`Error::TooLong`], and the assembler stops buffering there.
//! * **Trailing bytes** are rejected by [`Hello::decode`] ([`Error::TrailingBytes`]): the
//!   recorded hellos have none and no public source describes any. Because an HP guide hints
//!   that some firmware may append fields (AMT-PROTOCOLS.md §1.2), the assembler can be told to
//!   tolerate and count them instead ([`TrailingPolicy::Tolerate`], still within
//!   [`MAX_HELLO_LEN`]), and [`Hello::decode_prefix`] parses one hello off the front of a buffer.
//! * **Retry count above 14** is accepted and flagged ([`Hello::retry_count_is_documented`]):
//!   the count is informational, a firmware that counts further is still a device to provision,
//!   and the server logs the oddity rather than dropping the device.
//! * **Bogus UUIDs** (all zeros, all 0xFF) are rejected ([`Error::BogusUuid`]): nothing could
//!   tell two such devices apart.
//! * A PKI hello with zero hashes is well formed (nothing can be activated with it, which is the
//!   server's decision, not the codec's).

mod assembler;
mod codec;
mod uuid;

use std::fmt;
use std::ops::Deref;

pub use assembler::{
    diagnostic_http_response, HelloAssembler, HttpGet, Progress, TrailingPolicy,
    DIAGNOSTIC_PAGE_TEXT, MAX_HTTP_HEAD_LEN,
};
pub use uuid::Uuid16;

pub use crate::Error;

/// The error type of this module: the crate's one [`Error`] enum, under the name the hello API
/// uses.
pub type HelloError = Error;

/// TCP port the device sends its hello to.
pub const HELLO_PORT: u16 = 9971;

/// Length of the common header plus the PKI hash count: the shortest PKI hello.
pub const MIN_PKI_HELLO_LEN: usize = 25;

/// Length of a PSK hello (header plus the 8-byte PID).
pub const PSK_HELLO_LEN: usize = 32;

/// Most root hashes a hello can carry (its count field is one byte).
pub const MAX_ROOT_HASHES: usize = 255;

/// Longest valid hello: a PKI hello with 255 SHA-384 entries, `25 + 255 * (2 + 48)` bytes.
pub const MAX_HELLO_LEN: usize = MIN_PKI_HELLO_LEN + MAX_ROOT_HASHES * (2 + 48);

/// Highest retry count Intel documents (15 attempts, counted 0–14).
pub const MAX_DOCUMENTED_RETRY_COUNT: u32 = 14;

/// Hello version (u16 at offset 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum HelloVersion {
    /// Pre-shared key ("one touch", PID/PPS), removed in AMT 11: the hello carries an 8-byte PID.
    Psk = 2,
    /// Public-key (certificate) based: the hello carries the trusted root hashes.
    Pki = 3,
}

impl TryFrom<u16> for HelloVersion {
    type Error = Error;

    fn try_from(value: u16) -> Result<Self, Error> {
        match value {
            2 => Ok(Self::Psk),
            3 => Ok(Self::Pki),
            other => Err(Error::UnknownVersion(other)),
        }
    }
}

impl From<HelloVersion> for u16 {
    fn from(v: HelloVersion) -> u16 {
        v as u16
    }
}

/// Hash type of a trusted root hash entry (u8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum HashAlgorithm {
    /// SHA-1, 20 bytes.
    Sha1 = 1,
    /// SHA-256, 32 bytes.
    Sha256 = 2,
    /// SHA-384, 48 bytes.
    Sha384 = 3,
}

impl HashAlgorithm {
    /// Digest length in bytes; a hello entry's size byte must equal it.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }
}

impl TryFrom<u8> for HashAlgorithm {
    type Error = Error;

    /// Unknown values give [`Error::UnknownHashAlgorithm`] with `index` 0; the decoder fills
    /// in the entry's real position.
    fn try_from(value: u8) -> Result<Self, Error> {
        match value {
            1 => Ok(Self::Sha1),
            2 => Ok(Self::Sha256),
            3 => Ok(Self::Sha384),
            value => Err(Error::UnknownHashAlgorithm { index: 0, value }),
        }
    }
}

impl From<HashAlgorithm> for u8 {
    fn from(a: HashAlgorithm) -> u8 {
        a as u8
    }
}

/// The hash of a trusted root certificate, as the device lists them. The length always fits
/// the algorithm (the type makes other lengths unrepresentable).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum RootHash {
    /// SHA-1 of the root certificate (DER).
    Sha1([u8; 20]),
    /// SHA-256 of the root certificate (DER).
    Sha256([u8; 32]),
    /// SHA-384 of the root certificate (DER).
    Sha384([u8; 48]),
}

impl RootHash {
    /// From a hash type and the digest bytes; [`Error::HashLengthMismatch`] (with `index` 0)
    /// when the length does not fit the type.
    pub fn new(algorithm: HashAlgorithm, bytes: &[u8]) -> Result<Self, Error> {
        let mismatch = || Error::HashLengthMismatch {
            index: 0,
            algorithm,
            expected: algorithm.digest_len(),
            got: bytes.len(),
        };
        Ok(match algorithm {
            HashAlgorithm::Sha1 => Self::Sha1(bytes.try_into().map_err(|_| mismatch())?),
            HashAlgorithm::Sha256 => Self::Sha256(bytes.try_into().map_err(|_| mismatch())?),
            HashAlgorithm::Sha384 => Self::Sha384(bytes.try_into().map_err(|_| mismatch())?),
        })
    }

    /// The hash type.
    pub fn algorithm(&self) -> HashAlgorithm {
        match self {
            Self::Sha1(_) => HashAlgorithm::Sha1,
            Self::Sha256(_) => HashAlgorithm::Sha256,
            Self::Sha384(_) => HashAlgorithm::Sha384,
        }
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Sha1(b) => b,
            Self::Sha256(b) => b,
            Self::Sha384(b) => b,
        }
    }
}

impl fmt::Display for RootHash {
    /// Lowercase hex of the digest (the form certificate fingerprints are compared in).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_bytes()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for RootHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({self})", self.algorithm())
    }
}

/// The trusted root hashes of a PKI hello: at most [`MAX_ROOT_HASHES`], so that every value of
/// this type can be encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RootHashList(Vec<RootHash>);

impl RootHashList {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a hash; [`Error::TooManyHashes`] when the list is already full.
    pub fn push(&mut self, hash: RootHash) -> Result<(), Error> {
        if self.0.len() >= MAX_ROOT_HASHES {
            return Err(Error::TooManyHashes {
                count: self.0.len() + 1,
            });
        }
        self.0.push(hash);
        Ok(())
    }

    /// The hashes, in wire order.
    pub fn as_slice(&self) -> &[RootHash] {
        &self.0
    }

    /// The hashes, in wire order.
    pub fn into_vec(self) -> Vec<RootHash> {
        self.0
    }
}

impl TryFrom<Vec<RootHash>> for RootHashList {
    type Error = Error;

    fn try_from(hashes: Vec<RootHash>) -> Result<Self, Error> {
        if hashes.len() > MAX_ROOT_HASHES {
            return Err(Error::TooManyHashes {
                count: hashes.len(),
            });
        }
        Ok(Self(hashes))
    }
}

impl Deref for RootHashList {
    type Target = [RootHash];

    fn deref(&self) -> &[RootHash] {
        &self.0
    }
}

/// The version-specific part of a hello.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HelloBody {
    /// Version 2: the device's provisioning ID, which names the pre-shared secret (PPS) the
    /// server must use. The PID is an identifier, not a secret.
    Psk {
        /// The 8-byte PID.
        pid: [u8; 8],
    },
    /// Version 3: the hashes of the root certificates the device trusts for provisioning.
    Pki {
        /// The trusted root hashes, in wire order.
        hashes: RootHashList,
    },
}

/// A provisioning hello. See the [module documentation](self) for the layout and what is
/// rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hello {
    /// Whether the device's admin credentials are already set (u16 0/1 on the wire).
    pub admin_credentials_set: bool,
    /// Which attempt this is: 0 for the first hello, up to 14 in Intel's schedule
    /// ([`crate::backoff`]). Larger values are carried, not rejected; see
    /// [`Hello::retry_count_is_documented`].
    pub retry_count: u32,
    /// The device UUID.
    pub uuid: Uuid16,
    /// PSK PID or PKI root hashes; determines [`Hello::version`].
    pub body: HelloBody,
}

impl Hello {
    /// A PKI (version 3) hello.
    pub fn pki(
        admin_credentials_set: bool,
        retry_count: u32,
        uuid: Uuid16,
        hashes: RootHashList,
    ) -> Self {
        Self {
            admin_credentials_set,
            retry_count,
            uuid,
            body: HelloBody::Pki { hashes },
        }
    }

    /// A PSK (version 2) hello.
    pub fn psk(admin_credentials_set: bool, retry_count: u32, uuid: Uuid16, pid: [u8; 8]) -> Self {
        Self {
            admin_credentials_set,
            retry_count,
            uuid,
            body: HelloBody::Psk { pid },
        }
    }

    /// The wire version, which follows from the body.
    pub fn version(&self) -> HelloVersion {
        match self.body {
            HelloBody::Psk { .. } => HelloVersion::Psk,
            HelloBody::Pki { .. } => HelloVersion::Pki,
        }
    }

    /// The trusted root hashes (empty for a PSK hello).
    pub fn hashes(&self) -> &[RootHash] {
        match &self.body {
            HelloBody::Pki { hashes } => hashes,
            HelloBody::Psk { .. } => &[],
        }
    }

    /// The PID of a PSK hello.
    pub fn pid(&self) -> Option<&[u8; 8]> {
        match &self.body {
            HelloBody::Psk { pid } => Some(pid),
            HelloBody::Pki { .. } => None,
        }
    }

    /// False when the retry count exceeds the 0–14 Intel documents. Such hellos decode (the
    /// count is informational); servers should log the oddity.
    pub fn retry_count_is_documented(&self) -> bool {
        self.retry_count <= MAX_DOCUMENTED_RETRY_COUNT
    }
}
