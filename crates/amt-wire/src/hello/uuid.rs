//! The device UUID as the hello carries it.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A device UUID, held as the 16 bytes the hello carries (offset 8..24).
///
/// The bytes are in SMBIOS/GUID order: the first three groups (4, 2 and 2 bytes) are
/// little-endian, the last two (2 and 6 bytes) are in the order they are written. The text form
/// ([`fmt::Display`], [`FromStr`]) is the canonical 8-4-4-4-12 string with those groups
/// byte-swapped, as Intel tools, MeshCentral and WS-Management (`AMT_GeneralSettings`) show it:
/// wire bytes `4b529b93 d413 181d e487 1c697a6b7a2b` read as
/// `939b524b-13d4-1d18-e487-1c697a6b7a2b`.
///
/// Any 16 bytes can be held; [`Uuid16::is_bogus`] tells the all-zero and all-0xFF values apart,
/// which [`crate::hello::Hello::decode`] rejects.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid16([u8; 16]);

/// Swaps between wire (GUID) order and RFC 4122 (big-endian) order; its own inverse.
fn swap_groups(b: [u8; 16]) -> [u8; 16] {
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ]
}

impl Uuid16 {
    /// From the 16 bytes exactly as they appear in the hello (GUID order).
    pub const fn from_wire_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes exactly as they appear in the hello (GUID order).
    pub const fn as_wire_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// From the 16 bytes in RFC 4122 order (the order of the canonical text form).
    pub fn from_rfc_bytes(bytes: [u8; 16]) -> Self {
        Self(swap_groups(bytes))
    }

    /// The 16 bytes in RFC 4122 order (the order of the canonical text form).
    pub fn to_rfc_bytes(&self) -> [u8; 16] {
        swap_groups(self.0)
    }

    /// True for the all-zero and the all-0xFF UUID: unprogrammed SMBIOS values that identify
    /// no device.
    pub fn is_bogus(&self) -> bool {
        self.0 == [0; 16] || self.0 == [0xFF; 16]
    }
}

impl fmt::Display for Uuid16 {
    /// Canonical lowercase 8-4-4-4-12 form (RFC 4122 byte order).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_rfc_bytes();
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid16({self})")
    }
}

impl FromStr for Uuid16 {
    type Err = Error;

    /// Parses the canonical 8-4-4-4-12 form (hex digits in either case, no braces, no `urn:`
    /// prefix) and applies the group byte swap, so that `s.parse::<Uuid16>()?.to_string()` is
    /// `s` in lowercase. The all-zero and all-0xFF values parse (see [`Uuid16::is_bogus`]).
    fn from_str(s: &str) -> Result<Self, Error> {
        let text = s.as_bytes();
        let mut rfc = [0u8; 16];
        let mut pos = 0usize;
        for (start, len) in [(0usize, 4usize), (4, 2), (6, 2), (8, 2), (10, 6)] {
            if start > 0 {
                if text.get(pos) != Some(&b'-') {
                    return Err(Error::InvalidUuidText { at: pos });
                }
                pos += 1;
            }
            for byte in &mut rfc[start..start + len] {
                *byte = (hex_digit(text, pos)? << 4) | hex_digit(text, pos + 1)?;
                pos += 2;
            }
        }
        if text.len() != pos {
            return Err(Error::InvalidUuidText { at: pos });
        }
        Ok(Self::from_rfc_bytes(rfc))
    }
}

fn hex_digit(text: &[u8], at: usize) -> Result<u8, Error> {
    let c = text.get(at).copied().ok_or(Error::InvalidUuidText { at })?;
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(Error::InvalidUuidText { at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE: [u8; 16] = [
        0x4b, 0x52, 0x9b, 0x93, 0xd4, 0x13, 0x18, 0x1d, 0xe4, 0x87, 0x1c, 0x69, 0x7a, 0x6b, 0x7a,
        0x2b,
    ];

    #[test]
    fn uuid_text_swaps_first_three_groups() {
        let u = Uuid16::from_wire_bytes(WIRE);
        assert_eq!(u.to_string(), "939b524b-13d4-1d18-e487-1c697a6b7a2b");
        assert_eq!(
            format!("{u:?}"),
            "Uuid16(939b524b-13d4-1d18-e487-1c697a6b7a2b)"
        );
    }

    #[test]
    fn uuid_parses_either_case_and_round_trips() {
        let u: Uuid16 = "939B524B-13d4-1D18-E487-1C697A6B7A2B".parse().unwrap();
        assert_eq!(u.as_wire_bytes(), &WIRE);
        assert_eq!(Uuid16::from_rfc_bytes(u.to_rfc_bytes()), u);
    }

    #[test]
    fn uuid_rejects_malformed_text_with_position() {
        let bad = [
            ("", 0),
            ("939b524b13d4-1d18-e487-1c697a6b7a2b", 8),
            ("939b524b-13d4-1d18-e487-1c697a6b7a2", 35),
            ("939b524b-13d4-1d18-e487-1c697a6b7a2bb", 36),
            ("939b524g-13d4-1d18-e487-1c697a6b7a2b", 7),
            ("{939b524b-13d4-1d18-e487-1c697a6b7a2b}", 0),
            ("939b524b-13d4-1d18-e487-1c697a6b7a\u{e9}", 34),
        ];
        for (text, at) in bad {
            assert_eq!(
                text.parse::<Uuid16>(),
                Err(Error::InvalidUuidText { at }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn uuid_bogus_values_are_flagged() {
        assert!(Uuid16::from_wire_bytes([0; 16]).is_bogus());
        assert!(Uuid16::from_wire_bytes([0xFF; 16]).is_bogus());
        assert!(!Uuid16::from_wire_bytes(WIRE).is_bogus());
    }
}
