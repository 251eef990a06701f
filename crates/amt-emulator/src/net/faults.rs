//! Fault injection per device (D9): the ways real devices and networks misbehave, switched on
//! per device from the fleet file (`faults = ["slow:250", "connection-close"]`) or the
//! `--fault` flag, so consoles and the provisioning server can be tested against them.
//!
//! | spec | effect |
//! |---|---|
//! | `drop-after-apply` | `AdminSetup` and `CommitChanges` are applied, then the TCP session is closed without a response |
//! | `slow:MS` | every WS-Man response is delayed by `MS` milliseconds |
//! | `connection-close` | every response carries `Connection: close` and the session ends |
//! | `bad-xml` | WS-Man responses carry malformed XML (truncated envelope) |
//! | `lost-hellos[:N]` | the first `N` hellos (all when `N` is absent) are lost on the way: nothing reaches the server and the device backs off as if unreachable |
//! | `cert-swap` | TLS on 16993 serves a different certificate than the installed one |

use std::fmt;
use std::str::FromStr;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Apply `AdminSetup`/`CommitChanges`, then drop the session without answering.
    DropAfterApply,
    /// Delay every WS-Man response by this many milliseconds.
    SlowReplies {
        /// The delay.
        ms: u32,
    },
    /// `Connection: close` on every response.
    ConnectionClose,
    /// Malformed XML in every WS-Man response.
    MalformedXml,
    /// Lose the first `count` hellos (`None`: all of them).
    LostHellos {
        /// How many hellos are lost.
        count: Option<u32>,
    },
    /// Serve a different TLS certificate than the installed one.
    CertSwap,
}

/// Why a fault spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault `{spec}` (expected drop-after-apply, slow:MS, connection-close, bad-xml, lost-hellos[:N] or cert-swap)")]
pub struct FaultParseError {
    /// The refused spec.
    pub spec: String,
}

impl FromStr for Fault {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || FaultParseError { spec: s.to_owned() };
        let t = s.trim().to_ascii_lowercase();
        let (name, arg) = match t.split_once([':', '=']) {
            Some((n, a)) => (n, Some(a.trim_end_matches("ms"))),
            None => (t.as_str(), None),
        };
        Ok(match (name, arg) {
            ("drop-after-apply", None) => Fault::DropAfterApply,
            ("slow", Some(ms)) => Fault::SlowReplies {
                ms: ms.parse().map_err(|_| err())?,
            },
            ("connection-close", None) => Fault::ConnectionClose,
            ("bad-xml", None) => Fault::MalformedXml,
            ("lost-hellos", None) => Fault::LostHellos { count: None },
            ("lost-hellos", Some(n)) => Fault::LostHellos {
                count: Some(n.parse().map_err(|_| err())?),
            },
            ("cert-swap", None) => Fault::CertSwap,
            _ => return Err(err()),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::DropAfterApply => f.write_str("drop-after-apply"),
            Fault::SlowReplies { ms } => write!(f, "slow:{ms}"),
            Fault::ConnectionClose => f.write_str("connection-close"),
            Fault::MalformedXml => f.write_str("bad-xml"),
            Fault::LostHellos { count: None } => f.write_str("lost-hellos"),
            Fault::LostHellos { count: Some(n) } => write!(f, "lost-hellos:{n}"),
            Fault::CertSwap => f.write_str("cert-swap"),
        }
    }
}

/// The faults active on one device, in a compact form (a few bytes per device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultSet {
    /// `drop-after-apply`.
    pub drop_after_apply: bool,
    /// `slow:MS` (0: not slow).
    pub slow_ms: u32,
    /// `connection-close`.
    pub connection_close: bool,
    /// `bad-xml`.
    pub malformed_xml: bool,
    /// `lost-hellos[:N]`: `Some(u32::MAX)` loses them all.
    pub lost_hellos: Option<u32>,
    /// `cert-swap`.
    pub cert_swap: bool,
}

impl FaultSet {
    /// Switches `fault` on.
    pub fn add(&mut self, fault: Fault) {
        match fault {
            Fault::DropAfterApply => self.drop_after_apply = true,
            Fault::SlowReplies { ms } => self.slow_ms = ms,
            Fault::ConnectionClose => self.connection_close = true,
            Fault::MalformedXml => self.malformed_xml = true,
            Fault::LostHellos { count } => self.lost_hellos = Some(count.unwrap_or(u32::MAX)),
            Fault::CertSwap => self.cert_swap = true,
        }
    }

    /// True when no fault is active.
    pub fn is_empty(&self) -> bool {
        *self == FaultSet::default()
    }
}

/// Corrupts a response body the way `bad-xml` promises: the envelope is cut in the middle of
/// an element and a stray `<` is appended, so no XML parser accepts it.
pub fn corrupt_xml(xml: &[u8]) -> Vec<u8> {
    let cut = xml.len() / 2;
    let mut out = xml.get(..cut).unwrap_or_default().to_vec();
    out.extend_from_slice(b"<</a:Bo");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_round_trip() {
        for spec in [
            "drop-after-apply",
            "slow:250",
            "connection-close",
            "bad-xml",
            "lost-hellos",
            "lost-hellos:3",
            "cert-swap",
        ] {
            let f: Fault = spec.parse().unwrap();
            assert_eq!(f.to_string(), spec);
        }
        assert_eq!(
            "slow=40ms".parse::<Fault>().unwrap(),
            Fault::SlowReplies { ms: 40 }
        );
    }

    #[test]
    fn unknown_fault_specs_are_refused() {
        for spec in [
            "",
            "slow",
            "slow:x",
            "explode",
            "bad-xml:1",
            "lost-hellos:-1",
        ] {
            assert!(spec.parse::<Fault>().is_err(), "{spec}");
        }
    }

    #[test]
    fn corrupted_xml_does_not_parse() {
        let xml = br#"<a:Envelope xmlns:a="x"><a:Body>hello</a:Body></a:Envelope>"#;
        let bad = corrupt_xml(xml);
        assert!(amt_wsman::xml::parse(&bad, &Default::default()).is_err());
    }
}
