//! The client FQDN option (81, RFC 4702) and the domain-name checks shared with options 12/15.
//!
//! Names are held in DNS presentation form: labels separated by dots, and a **trailing dot marks
//! a fully qualified name** (`"amtdev01.amt.test."`). Without it the name is partial
//! (`"amtdev01"`): the client asks the server to complete it. In the canonical wire format
//! (flag E set, RFC 4702 §2.3.1) a fully qualified name ends with the zero-length root label and
//! a partial name omits it; in the deprecated ASCII format (E clear) the text goes as it is.
//!
//! Labels are 1–63 bytes of letters, digits, `-` and `_` (`_` because Windows host names carry
//! it in practice); the whole name is at most 255 bytes in wire format.

use crate::DhcpError;

/// Longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name in wire format, in bytes (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// The flags byte of option 81 (RFC 4702 §2.1). The four reserved bits (MBZ) are cleared when
/// sending and ignored on receipt, as the RFC asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FqdnFlags {
    /// S (0x01): the server should perform the A record update.
    pub s: bool,
    /// O (0x02): set by a server that overrode the client's S bit.
    pub o: bool,
    /// E (0x04): the name is in canonical wire format (else the deprecated ASCII form).
    pub e: bool,
    /// N (0x08): the server should perform no DNS update at all.
    pub n: bool,
}

impl FqdnFlags {
    /// Bit of the S flag.
    pub const S: u8 = 0x01;
    /// Bit of the O flag.
    pub const O: u8 = 0x02;
    /// Bit of the E flag.
    pub const E: u8 = 0x04;
    /// Bit of the N flag.
    pub const N: u8 = 0x08;

    /// The flags byte.
    pub fn to_byte(self) -> u8 {
        [
            (self.s, Self::S),
            (self.o, Self::O),
            (self.e, Self::E),
            (self.n, Self::N),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |byte, (_, bit)| byte | bit)
    }

    /// Flags from a received byte (reserved bits ignored).
    pub fn from_byte(byte: u8) -> Self {
        Self {
            s: byte & Self::S != 0,
            o: byte & Self::O != 0,
            e: byte & Self::E != 0,
            n: byte & Self::N != 0,
        }
    }
}

/// Option 81: the client's fully qualified (or partial) domain name and who updates DNS.
///
/// The name is held in DNS presentation form, and a **trailing dot marks a fully qualified
/// name** (`"amtdev01.amt.test."`); without it the name is partial (`"amtdev01"`) and the server
/// completes it. With flag E (canonical wire format, RFC 4702 §2.3.1) a fully qualified name
/// ends with the root label and a partial one omits it; without E the text goes as it is.
/// Labels are 1–63 bytes of letters, digits, `-` and `_`; at most 255 bytes in wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFqdn {
    /// The flags byte.
    pub flags: FqdnFlags,
    /// RCODE1 (deprecated, RFC 4702 §2.2: clients send 0, servers 255, receivers ignore it).
    pub rcode1: u8,
    /// RCODE2 (deprecated like RCODE1).
    pub rcode2: u8,
    /// The name in presentation form; a trailing dot marks a fully qualified name.
    pub name: String,
}

impl ClientFqdn {
    /// What a client that leaves DNS to the server sends: S=1 (the server updates the A record),
    /// E=1 (wire format), O=N=0, and RCODE1 = RCODE2 = 0 as RFC 4702 §2.2 asks of clients.
    pub fn server_updates(name: impl Into<String>) -> Self {
        Self {
            flags: FqdnFlags {
                s: true,
                o: false,
                e: true,
                n: false,
            },
            rcode1: 0,
            rcode2: 0,
            name: name.into(),
        }
    }

    /// Whether the name is fully qualified (ends with a dot).
    pub fn is_fully_qualified(&self) -> bool {
        self.name.ends_with('.')
    }

    /// The option data: flags, RCODE1, RCODE2, then the name in the format flag E selects.
    /// Fails when the name is not a valid host name (labels, length, characters).
    pub fn encode(&self) -> Result<Vec<u8>, DhcpError> {
        let name = parse_name(self.name.as_bytes())?;
        let mut out = vec![self.flags.to_byte(), self.rcode1, self.rcode2];
        if self.flags.e {
            for label in &name.labels {
                // parse_name bounds every label to 63 bytes.
                out.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(label);
            }
            if name.fully_qualified {
                out.push(0);
            }
        } else {
            out.extend_from_slice(self.name.as_bytes());
        }
        Ok(out)
    }

    /// Parses option 81 data, in either name format.
    pub fn decode(data: &[u8]) -> Result<Self, DhcpError> {
        let [flags, rcode1, rcode2, name @ ..] = data else {
            return Err(DhcpError::FqdnTooShort { len: data.len() });
        };
        let flags = FqdnFlags::from_byte(*flags);
        let name = if flags.e {
            decode_wire_name(name)?
        } else {
            // Some clients NUL-terminate the ASCII form.
            let end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            let name = name.get(..end).unwrap_or_default();
            parse_name(name)?;
            // parse_name accepted only ASCII bytes.
            String::from_utf8_lossy(name).into_owned()
        };
        Ok(Self {
            flags,
            rcode1: *rcode1,
            rcode2: *rcode2,
            name,
        })
    }
}

/// A name taken apart: its labels and whether it ended with a dot.
struct Name<'a> {
    labels: Vec<&'a [u8]>,
    fully_qualified: bool,
}

/// Parses a presentation-form name ("a.b.c" or "a.b.c."; "" and "." are valid too).
fn parse_name(name: &[u8]) -> Result<Name<'_>, DhcpError> {
    let (body, fully_qualified) = match name.strip_suffix(b".") {
        Some(body) => (body, true),
        None => (name, false),
    };
    let mut labels = Vec::new();
    let mut wire_len = usize::from(fully_qualified);
    if !body.is_empty() {
        let mut at = 0;
        for label in body.split(|&b| b == b'.') {
            if label.is_empty() {
                return Err(DhcpError::FqdnEmptyLabel { at });
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(DhcpError::FqdnLabelTooLong {
                    len: label.len(),
                    at,
                });
            }
            check_label_bytes(label, at)?;
            wire_len += 1 + label.len();
            labels.push(label);
            at += label.len() + 1;
        }
    }
    if wire_len > MAX_NAME_LEN {
        return Err(DhcpError::FqdnNameTooLong { len: wire_len });
    }
    Ok(Name {
        labels,
        fully_qualified,
    })
}

fn check_label_bytes(label: &[u8], at: usize) -> Result<(), DhcpError> {
    match label
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        Some(i) => Err(DhcpError::FqdnBadByte {
            byte: label.get(i).copied().unwrap_or_default(),
            at: at + i,
        }),
        None => Ok(()),
    }
}

/// Decodes a wire-format name: length-prefixed labels, optionally ended by the root label.
fn decode_wire_name(wire: &[u8]) -> Result<String, DhcpError> {
    if wire.len() > MAX_NAME_LEN {
        return Err(DhcpError::FqdnNameTooLong { len: wire.len() });
    }
    let mut name = String::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        let len = usize::from(len);
        if len == 0 {
            let extra = wire.len() - at - 1;
            if extra != 0 {
                return Err(DhcpError::FqdnTrailingData { extra });
            }
            if name.is_empty() {
                name.push('.');
            }
            return Ok(name);
        }
        if len > MAX_LABEL_LEN {
            return Err(DhcpError::FqdnLabelTooLong { len, at });
        }
        let Some(label) = wire.get(at + 1..at + 1 + len) else {
            return Err(DhcpError::FqdnLabelTooLong { len, at });
        };
        check_label_bytes(label, at + 1)?;
        // Only ASCII letters, digits, '-' and '_' get here.
        name.push_str(&String::from_utf8_lossy(label));
        name.push('.');
        at += 1 + len;
    }
    // No root label: a partial name.
    if name.ends_with('.') {
        name.pop();
    }
    Ok(name)
}

/// A text option (12 host name, 15 domain name) as a host/domain name: trailing NULs and dots
/// trimmed, every label valid; `None` when empty or invalid.
pub(crate) fn text_as_host_name(data: &[u8]) -> Option<String> {
    let end = data
        .iter()
        .rposition(|&b| b != 0 && b != b'.')
        .map_or(0, |i| i + 1);
    let name = data.get(..end)?;
    if name.is_empty() || parse_name(name).is_err() {
        return None;
    }
    Some(String::from_utf8_lossy(name).into_owned())
}

/// Checks that `name` (presentation form) is a valid host name this crate can encode.
pub fn validate_name(name: &str) -> Result<(), DhcpError> {
    parse_name(name.as_bytes()).map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fully_qualified_wire_name_has_exact_bytes() {
        let fqdn = ClientFqdn::server_updates("amtdev01.amt.test.");
        let bytes = fqdn.encode().unwrap();
        let mut expected = vec![0x05, 0x00, 0x00, 0x08];
        expected.extend_from_slice(b"amtdev01");
        expected.push(3);
        expected.extend_from_slice(b"amt");
        expected.push(4);
        expected.extend_from_slice(b"test");
        expected.push(0);
        assert_eq!(bytes, expected);
        assert_eq!(ClientFqdn::decode(&bytes).unwrap(), fqdn);
    }

    #[test]
    fn partial_wire_name_omits_root_label() {
        let fqdn = ClientFqdn::server_updates("amtdev01");
        let bytes = fqdn.encode().unwrap();
        assert_eq!(bytes, b"\x05\x00\x00\x08amtdev01");
        let back = ClientFqdn::decode(&bytes).unwrap();
        assert!(!back.is_fully_qualified());
        assert_eq!(back, fqdn);
    }

    #[test]
    fn ascii_form_round_trips_and_tolerates_trailing_nul() {
        let fqdn = ClientFqdn {
            flags: FqdnFlags {
                s: true,
                ..FqdnFlags::default()
            },
            rcode1: 255,
            rcode2: 255,
            name: "host.example.com".into(),
        };
        let bytes = fqdn.encode().unwrap();
        assert_eq!(bytes, b"\x01\xff\xffhost.example.com");
        assert_eq!(ClientFqdn::decode(&bytes).unwrap(), fqdn);
        assert_eq!(
            ClientFqdn::decode(b"\x01\x00\x00host.example.com\0")
                .unwrap()
                .name,
            "host.example.com"
        );
    }

    #[test]
    fn reserved_flag_bits_are_ignored() {
        let f = ClientFqdn::decode(b"\xf5\x00\x00").unwrap();
        assert_eq!(
            f.flags,
            FqdnFlags {
                s: true,
                o: false,
                e: true,
                n: false
            }
        );
        assert_eq!(f.flags.to_byte(), 0x05);
        assert_eq!(f.name, "");
        assert_eq!(FqdnFlags::from_byte(0x0f).to_byte(), 0x0f);
    }

    #[test]
    fn root_only_name_is_a_single_zero() {
        let f = ClientFqdn::server_updates(".");
        assert_eq!(f.encode().unwrap(), [5, 0, 0, 0]);
        assert_eq!(ClientFqdn::decode(&[5, 0, 0, 0]).unwrap().name, ".");
    }

    #[test]
    fn bad_names_are_typed_errors() {
        assert_eq!(
            ClientFqdn::decode(b"\x05\x00"),
            Err(DhcpError::FqdnTooShort { len: 2 })
        );
        // Compression pointer.
        assert_eq!(
            ClientFqdn::decode(b"\x05\x00\x00\xc0\x0c"),
            Err(DhcpError::FqdnLabelTooLong { len: 0xc0, at: 0 })
        );
        // Label runs past the end.
        assert_eq!(
            ClientFqdn::decode(b"\x05\x00\x00\x05abc"),
            Err(DhcpError::FqdnLabelTooLong { len: 5, at: 0 })
        );
        assert_eq!(
            ClientFqdn::decode(b"\x05\x00\x00\x02a b\x00"),
            Err(DhcpError::FqdnBadByte { byte: b' ', at: 2 })
        );
        assert_eq!(
            ClientFqdn::decode(b"\x05\x00\x00\x01a\x00\x01b"),
            Err(DhcpError::FqdnTrailingData { extra: 2 })
        );
        assert_eq!(
            ClientFqdn::decode(b"\x01\x00\x00a..b"),
            Err(DhcpError::FqdnEmptyLabel { at: 2 })
        );
        assert_eq!(
            ClientFqdn::server_updates("a".repeat(64)).encode(),
            Err(DhcpError::FqdnLabelTooLong { len: 64, at: 0 })
        );
        let long = vec!["abcdefghi"; 26].join(".") + ".";
        assert_eq!(
            ClientFqdn::server_updates(long).encode(),
            Err(DhcpError::FqdnNameTooLong { len: 261 })
        );
        assert_eq!(
            ClientFqdn::server_updates("h\u{e9}te.example").encode(),
            Err(DhcpError::FqdnBadByte { byte: 0xc3, at: 1 })
        );
    }

    #[test]
    fn text_options_are_trimmed_and_checked() {
        assert_eq!(
            text_as_host_name(b"amt.test.\0\0").as_deref(),
            Some("amt.test")
        );
        assert_eq!(text_as_host_name(b"amt test"), None);
        assert_eq!(text_as_host_name(b"\0."), None);
        assert_eq!(text_as_host_name(b"\xff"), None);
    }
}
