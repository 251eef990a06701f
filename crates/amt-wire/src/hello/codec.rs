//! Encoding, and the resumable parser shared by [`Hello::decode`] and the assembler.

use super::{
    HashAlgorithm, Hello, HelloBody, HelloVersion, RootHash, RootHashList, Uuid16, MAX_HELLO_LEN,
    MIN_PKI_HELLO_LEN, PSK_HELLO_LEN,
};
use crate::Error;

/// Offset of the UUID in the common header.
const UUID_AT: usize = 8;
/// Offset of the PSK PID / the PKI hash count.
const BODY_AT: usize = 24;

impl Hello {
    /// Number of bytes [`Hello::encode`] produces.
    pub fn encoded_len(&self) -> usize {
        match &self.body {
            HelloBody::Psk { .. } => PSK_HELLO_LEN,
            HelloBody::Pki { hashes } => {
                MIN_PKI_HELLO_LEN + hashes.iter().map(|h| 2 + h.as_bytes().len()).sum::<usize>()
            }
        }
    }

    /// The wire form. Every `Hello` value encodes (the types bound the hash list and fix each
    /// hash's length); a bogus UUID or a retry count above 14 is written as given, so the
    /// emulator can also send what a server must reject or flag.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&u16::from(self.admin_credentials_set).to_le_bytes());
        out.extend_from_slice(&u16::from(self.version()).to_le_bytes());
        out.extend_from_slice(&self.retry_count.to_le_bytes());
        out.extend_from_slice(self.uuid.as_wire_bytes());
        match &self.body {
            HelloBody::Psk { pid } => out.extend_from_slice(pid),
            HelloBody::Pki { hashes } => {
                // RootHashList holds at most 255 entries.
                out.push(u8::try_from(hashes.len()).unwrap_or(u8::MAX));
                for h in hashes.iter() {
                    let bytes = h.as_bytes();
                    out.push(h.algorithm().into());
                    out.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
                    out.extend_from_slice(bytes);
                }
            }
        }
    }

    /// Parses exactly one hello, strictly: see the [module documentation](super) for what is
    /// rejected. `bytes` must hold the whole hello and nothing else ([`Error::TrailingBytes`]
    /// otherwise; use [`Hello::decode_prefix`] to allow more).
    pub fn decode(bytes: &[u8]) -> Result<Hello, Error> {
        if bytes.is_empty() {
            return Err(Error::Empty);
        }
        if bytes.len() > MAX_HELLO_LEN {
            return Err(Error::TooLong {
                len: bytes.len(),
                max: MAX_HELLO_LEN,
            });
        }
        let (hello, len) = Hello::decode_prefix(bytes)?;
        if len != bytes.len() {
            return Err(Error::TrailingBytes {
                hello_len: len,
                extra: bytes.len() - len,
            });
        }
        Ok(hello)
    }

    /// Parses one hello from the front of `bytes` and returns it with the number of bytes it
    /// occupies; whatever follows is left to the caller. Every check of [`Hello::decode`]
    /// except the trailing-bytes check applies.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Hello, usize), Error> {
        match Parser::default().advance(bytes)? {
            Step::NeedMore { at_least } => Err(Error::Truncated {
                needed: at_least,
                got: bytes.len(),
            }),
            Step::Complete { hello, len } => Ok((hello, len)),
        }
    }
}

/// What the bytes seen so far amount to.
#[derive(Debug)]
pub(crate) enum Step {
    /// Well formed so far; the hello is at least `at_least` bytes long.
    NeedMore {
        /// Lower bound on the hello's total length.
        at_least: usize,
    },
    /// A whole hello occupies the first `len` bytes.
    Complete {
        /// The hello.
        hello: Hello,
        /// Its length on the wire.
        len: usize,
    },
}

/// The common header fields, once validated.
#[derive(Debug, Clone, Copy)]
struct Header {
    admin_credentials_set: bool,
    retry_count: u32,
    uuid: Uuid16,
}

#[derive(Debug, Default)]
enum Stage {
    /// Nothing validated yet beyond what is re-checked on every call (constant work).
    #[default]
    Header,
    /// Header done; the first `hashes.len()` entries are parsed and the next starts at `next`.
    Hashes {
        header: Header,
        count: usize,
        next: usize,
        hashes: Vec<RootHash>,
    },
    /// A hello of `len` bytes was returned.
    Finished { len: usize },
}

/// Resumable hello parser. Each call gets the whole data received so far (a growing buffer)
/// and picks up where the previous call stopped, so feeding a hello one byte at a time costs
/// time linear in its length. Every field is validated as soon as its bytes are present.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    stage: Stage,
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl Parser {
    /// Validates `buf` (all the data so far, from its first byte) as far as it goes.
    pub(crate) fn advance(&mut self, buf: &[u8]) -> Result<Step, Error> {
        loop {
            match &mut self.stage {
                Stage::Header => {
                    let Some((header, version)) = parse_header(buf)? else {
                        return Ok(Step::NeedMore {
                            at_least: min_len(buf),
                        });
                    };
                    match version {
                        HelloVersion::Psk => {
                            let Some(pid) = buf
                                .get(BODY_AT..PSK_HELLO_LEN)
                                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                            else {
                                return Ok(Step::NeedMore {
                                    at_least: PSK_HELLO_LEN,
                                });
                            };
                            self.stage = Stage::Finished { len: PSK_HELLO_LEN };
                            return Ok(Step::Complete {
                                hello: header.into_hello(HelloBody::Psk { pid }),
                                len: PSK_HELLO_LEN,
                            });
                        }
                        HelloVersion::Pki => {
                            let Some(&count) = buf.get(BODY_AT) else {
                                return Ok(Step::NeedMore {
                                    at_least: MIN_PKI_HELLO_LEN,
                                });
                            };
                            let count = usize::from(count);
                            self.stage = Stage::Hashes {
                                header,
                                count,
                                next: MIN_PKI_HELLO_LEN,
                                hashes: Vec::with_capacity(count),
                            };
                        }
                    }
                }
                Stage::Hashes {
                    header,
                    count,
                    next,
                    hashes,
                } => {
                    let index = hashes.len();
                    if index == *count {
                        let len = *next;
                        let hashes = RootHashList::try_from(std::mem::take(hashes))?;
                        let hello = header.into_hello(HelloBody::Pki { hashes });
                        self.stage = Stage::Finished { len };
                        return Ok(Step::Complete { hello, len });
                    }
                    let Some(&kind) = buf.get(*next) else {
                        return Ok(Step::NeedMore {
                            at_least: *next + 2,
                        });
                    };
                    let algorithm = HashAlgorithm::try_from(kind)
                        .map_err(|_| Error::UnknownHashAlgorithm { index, value: kind })?;
                    let Some(&size) = buf.get(*next + 1) else {
                        return Ok(Step::NeedMore {
                            at_least: *next + 2,
                        });
                    };
                    let size = usize::from(size);
                    if size != algorithm.digest_len() {
                        return Err(Error::HashLengthMismatch {
                            index,
                            algorithm,
                            expected: algorithm.digest_len(),
                            got: size,
                        });
                    }
                    let end = *next + 2 + size;
                    let Some(digest) = buf.get(*next + 2..end) else {
                        return Ok(Step::NeedMore { at_least: end });
                    };
                    let hash = RootHash::new(algorithm, digest).map_err(|_| {
                        Error::HashLengthMismatch {
                            index,
                            algorithm,
                            expected: algorithm.digest_len(),
                            got: digest.len(),
                        }
                    })?;
                    hashes.push(hash);
                    *next = end;
                }
                Stage::Finished { len } => {
                    // Only reached if a caller keeps feeding a finished parser.
                    return Err(Error::TrailingBytes {
                        hello_len: *len,
                        extra: buf.len().saturating_sub(*len),
                    });
                }
            }
        }
    }
}

impl Header {
    fn into_hello(self, body: HelloBody) -> Hello {
        Hello {
            admin_credentials_set: self.admin_credentials_set,
            retry_count: self.retry_count,
            uuid: self.uuid,
            body,
        }
    }
}

/// The shortest hello the first bytes allow: 32 once the version says PSK, else 25.
fn min_len(buf: &[u8]) -> usize {
    match u16_at(buf, 2).map(HelloVersion::try_from) {
        Some(Ok(HelloVersion::Psk)) => PSK_HELLO_LEN,
        _ => MIN_PKI_HELLO_LEN,
    }
}

/// Checks whatever header fields are present; `Some` once all 24 header bytes are.
fn parse_header(buf: &[u8]) -> Result<Option<(Header, HelloVersion)>, Error> {
    let admin = match u16_at(buf, 0) {
        None => return Ok(None),
        Some(0) => false,
        Some(1) => true,
        Some(other) => return Err(Error::InvalidAdminFlag(other)),
    };
    let Some(version) = u16_at(buf, 2) else {
        return Ok(None);
    };
    let version = HelloVersion::try_from(version)?;
    let (Some(retry_count), Some(uuid)) = (
        u32_at(buf, 4),
        buf.get(UUID_AT..BODY_AT)
            .and_then(|b| <[u8; 16]>::try_from(b).ok()),
    ) else {
        return Ok(None);
    };
    let uuid = Uuid16::from_wire_bytes(uuid);
    if uuid.is_bogus() {
        return Err(Error::BogusUuid(uuid));
    }
    Ok(Some((
        Header {
            admin_credentials_set: admin,
            retry_count,
            uuid,
        },
        version,
    )))
}
