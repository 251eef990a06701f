//! Security audit log records (`AMT_AuditLog.ReadRecords`, one base64 string per record).
//!
//! Layout (integers big-endian; Intel LMS `AuditLogRecordFromBinaryBase64Data`):
//!
//! | bytes | field |
//! |---|---|
//! | 2 | `AuditAppID` (16 Security Admin, 17 Remote Control, 18 Redirection Manager, …) |
//! | 2 | `EventID` within the application |
//! | 1 | `InitiatorType`: 0 HTTP digest user, 1 Kerberos SID, 2 local, 3 KVM default port |
//! | var | type 0: `u8` length + user name; type 1: `u32` user-in-domain + `u8` length + domain SID; other types: nothing |
//! | 4 | time stamp, seconds since the epoch (device clock) |
//! | 1 | `MCLocationType`: 0 IPv4, 1 IPv6, 2 none |
//! | 1 + n | network address of the initiator, as text |
//! | 1 + n | extended data (meaning per event) |
//!
//! Bytes after the extended data (Intel's decoder ignores them) are kept in
//! [`AuditRecord::trailing`], so decoding then encoding gives the input back.

use super::{hex_bytes, text_of};
use crate::Error;

/// Who caused an audited event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initiator {
    /// 0: an HTTP digest user (the name as the firmware stored it).
    HttpDigest {
        /// The user name bytes.
        user: Vec<u8>,
    },
    /// 1: a Kerberos (Active Directory) user.
    KerberosSid {
        /// The user's relative id in the domain.
        user_in_domain: u32,
        /// The domain SID bytes.
        domain: Vec<u8>,
    },
    /// 2: a local user (the host, MEBx, the firmware itself).
    Local,
    /// 3: a KVM session on the default port.
    KvmDefaultPort,
    /// Another type byte; carries no initiator data (as in Intel's decoder).
    Other(u8),
}

impl Initiator {
    fn type_byte(&self) -> u8 {
        match self {
            Initiator::HttpDigest { .. } => 0,
            Initiator::KerberosSid { .. } => 1,
            Initiator::Local => 2,
            Initiator::KvmDefaultPort => 3,
            Initiator::Other(t) => *t,
        }
    }

    /// In words: the digest user's name, `Kerberos SID …`, `local`, `KVM (default port)`.
    pub fn text(&self) -> String {
        match self {
            Initiator::HttpDigest { user } => text_of(user),
            Initiator::KerberosSid {
                user_in_domain,
                domain,
            } => format!(
                "Kerberos user {user_in_domain} in domain SID {}",
                hex_bytes(domain)
            ),
            Initiator::Local => "local".into(),
            Initiator::KvmDefaultPort => "KVM (default port)".into(),
            Initiator::Other(t) => format!("initiator type {t}"),
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// `AuditAppID`.
    pub app_id: u16,
    /// `EventID`.
    pub event_id: u16,
    /// Who did it.
    pub initiator: Initiator,
    /// When, seconds since the epoch (device clock).
    pub time: u32,
    /// `MCLocationType` (0 IPv4, 1 IPv6, 2 none).
    pub location: u8,
    /// The initiator's network address, as the firmware wrote it (text).
    pub net_address: Vec<u8>,
    /// Per-event data ([`AuditRecord::details`] reads it).
    pub extended_data: Vec<u8>,
    /// Bytes after the extended data.
    pub trailing: Vec<u8>,
}

/// A cursor over untrusted bytes: every read is checked.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        let end = self.at.saturating_add(n);
        let got = self.b.get(self.at..end).ok_or(Error::LogRecordTruncated {
            field,
            needed: end,
            got: self.b.len(),
        })?;
        self.at = end;
        Ok(got)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn prefixed(&mut self, field: &'static str) -> Result<Vec<u8>, Error> {
        let n = self.u8(field)?;
        Ok(self.take(usize::from(n), field)?.to_vec())
    }
}

fn push_prefixed(out: &mut Vec<u8>, field: &'static str, data: &[u8]) -> Result<(), Error> {
    let n = u8::try_from(data.len()).map_err(|_| Error::LogFieldTooLong {
        field,
        len: data.len(),
    })?;
    out.push(n);
    out.extend_from_slice(data);
    Ok(())
}

impl AuditRecord {
    /// Decodes one record's bytes.
    ///
    /// # Errors
    /// [`Error::LogRecordTruncated`] when the bytes end inside a field.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader { b: bytes, at: 0 };
        let app_id = r.u16("AuditAppID")?;
        let event_id = r.u16("EventID")?;
        let initiator = match r.u8("InitiatorType")? {
            0 => Initiator::HttpDigest {
                user: r.prefixed("digest user name")?,
            },
            1 => Initiator::KerberosSid {
                user_in_domain: r.u32("Kerberos user")?,
                domain: r.prefixed("Kerberos domain")?,
            },
            2 => Initiator::Local,
            3 => Initiator::KvmDefaultPort,
            t => Initiator::Other(t),
        };
        let time = r.u32("TimeStamp")?;
        let location = r.u8("MCLocationType")?;
        let net_address = r.prefixed("NetAddress")?;
        let extended_data = r.prefixed("ExtendedData")?;
        let trailing = bytes.get(r.at..).unwrap_or_default().to_vec();
        Ok(AuditRecord {
            app_id,
            event_id,
            initiator,
            time,
            location,
            net_address,
            extended_data,
            trailing,
        })
    }

    /// The record's bytes.
    ///
    /// # Errors
    /// [`Error::LogFieldTooLong`] when a length-prefixed field exceeds 255 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(16 + self.extended_data.len());
        out.extend_from_slice(&self.app_id.to_be_bytes());
        out.extend_from_slice(&self.event_id.to_be_bytes());
        out.push(self.initiator.type_byte());
        match &self.initiator {
            Initiator::HttpDigest { user } => push_prefixed(&mut out, "digest user name", user)?,
            Initiator::KerberosSid {
                user_in_domain,
                domain,
            } => {
                out.extend_from_slice(&user_in_domain.to_be_bytes());
                push_prefixed(&mut out, "Kerberos domain", domain)?;
            }
            Initiator::Local | Initiator::KvmDefaultPort | Initiator::Other(_) => {}
        }
        out.extend_from_slice(&self.time.to_be_bytes());
        out.push(self.location);
        push_prefixed(&mut out, "NetAddress", &self.net_address)?;
        push_prefixed(&mut out, "ExtendedData", &self.extended_data)?;
        out.extend_from_slice(&self.trailing);
        Ok(out)
    }

    /// The event number consoles show: `AuditAppID * 100 + EventID` (1700 "Performed Power Up").
    pub fn code(&self) -> u32 {
        u32::from(self.app_id) * 100 + u32::from(self.event_id)
    }

    /// The application's name, when known.
    pub fn app_name(&self) -> Option<&'static str> {
        app_name(self.app_id)
    }

    /// The event's name, when known.
    pub fn event_name(&self) -> Option<&'static str> {
        event_name(self.app_id, self.event_id)
    }

    /// The initiator's network address, when the record names one.
    pub fn net_address_text(&self) -> Option<String> {
        let t = text_of(&self.net_address);
        (self.location != 2 && !t.is_empty()).then_some(t)
    }

    /// The extended data in words, for the events whose layout is known (Intel LMS
    /// `DisplayExtendedData`), else as a length-prefixed text when it is one, else hex. `None`
    /// when there is no extended data.
    pub fn details(&self) -> Option<String> {
        let x = &self.extended_data;
        if x.is_empty() {
            return None;
        }
        known_details(self.app_id, self.event_id, x)
            .or_else(|| prefixed_text(x))
            .or_else(|| Some(hex_bytes(x)))
    }
}

/// Extended data that is a `u16` big-endian length and exactly that much printable text (how
/// text-only records are carried; MeshCentral shows them as a data string).
fn prefixed_text(x: &[u8]) -> Option<String> {
    let (len, rest) = x.split_first_chunk::<2>()?;
    let printable = rest.iter().all(|c| (0x20..0x7F).contains(c));
    (usize::from(u16::from_be_bytes(*len)) == rest.len() && !rest.is_empty() && printable)
        .then(|| text_of(rest))
}

fn be16(x: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*x.get(at)?, *x.get(at + 1)?]))
}

fn be32(x: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(x.get(at..at + 4)?.try_into().ok()?))
}

/// The user an ACL event names: `u8` type, then a digest name or a Kerberos SID.
fn acl_user(x: &[u8]) -> Option<String> {
    match *x.first()? {
        0 => {
            let n = usize::from(*x.get(1)?);
            Some(format!("user {}", text_of(x.get(2..2 + n)?)))
        }
        1 => {
            let user = be32(x, 1)?;
            let n = usize::from(*x.get(5)?);
            Some(format!(
                "Kerberos user {user} in domain SID {}",
                hex_bytes(x.get(6..6 + n)?)
            ))
        }
        _ => None,
    }
}

fn tls_mode(v: u8) -> &'static str {
    match v {
        0 => "no authentication",
        1 => "server authentication",
        2 => "mutual authentication",
        _ => "unknown",
    }
}

fn fw_version(x: &[u8], at: usize) -> Option<String> {
    Some(format!(
        "{}.{}.{}.{}",
        be16(x, at)?,
        be16(x, at + 2)?,
        be16(x, at + 4)?,
        be16(x, at + 6)?
    ))
}

fn known_details(app: u16, event: u16, x: &[u8]) -> Option<String> {
    match (app, event) {
        (16, 1) => {
            let method = match x[0] {
                1 => "PSK",
                2 => "PKI (remote configuration)",
                3 => "manual",
                5 => "host-based ACM",
                6 => "DAL",
                _ => "unknown",
            };
            Some(format!("provisioning method: {method}"))
        }
        (16, 2) => acl_user(x).map(|u| format!("added {u}")),
        (16, 3) => acl_user(x.get(1..)?).map(|u| format!("modified {u}")),
        (16, 4) => acl_user(x).map(|u| format!("removed {u}")),
        (16, 5) => Some(
            match x[0] {
                0 => "invalid credentials for Intel(R) AMT",
                1 => "invalid credentials for Intel(R) MEBx",
                _ => "invalid credentials",
            }
            .to_owned(),
        ),
        (16, 6) => {
            let state = if x[0] != 0 { "enabled" } else { "disabled" };
            Some(match acl_user(x.get(1..)?) {
                Some(u) => format!("{u} {state}"),
                None => state.to_owned(),
            })
        }
        (16, 7) => Some(format!(
            "remote TLS: {}, local TLS: {}",
            tls_mode(x[0]),
            x.get(1).map_or("unchanged", |v| tls_mode(*v))
        )),
        (16, 8..=11) => Some(format!(
            "certificate serial number {}",
            hex_bytes(&x[..x.len().min(20)])
        )),
        (16, 13) => Some(format!("clock tolerance {} minute(s)", x[0])),
        (16, 19) if x.len() == 1 => {
            let from = match x[0] {
                1 => "BIOS",
                2 => "MEBx",
                3 => "local MEI",
                4 => "local WS-Management",
                5 => "remote WS-Management",
                _ => return None,
            };
            Some(format!("unprovisioned from {from}"))
        }
        (17, 0 | 2 | 3 | 4) => Some(format!("boot options {}", hex_bytes(&x[..x.len().min(7)]))),
        (19, 0) => Some(format!(
            "old firmware {}, new firmware {}",
            fw_version(x, 0)?,
            fw_version(x, 8)?
        )),
        (19, 1) => Some(format!("failure reason {}", be32(x, 0)?)),
        (21, 0) => Some(format!(
            "Intel(R) AMT time set to {} UTC",
            super::utc_text(u64::from(be32(x, 0)?))
        )),
        (22, 1) | (22, 2) => {
            let n = usize::from(x[0]);
            let what = if event == 1 {
                "host name"
            } else {
                "domain name"
            };
            Some(format!("{what} {}", text_of(x.get(1..1 + n)?)))
        }
        (30, 1) => Some(
            match x[0] {
                0 => "the remote operator entered the one-time consent code",
                1 => "the remote operator failed to enter the consent code three times",
                _ => return None,
            }
            .to_owned(),
        ),
        _ => None,
    }
}

/// Names of the audit applications (Intel LMS `appIdStrings`).
pub fn app_name(app: u16) -> Option<&'static str> {
    Some(match app {
        16 => "Security Admin",
        17 => "Remote Control",
        18 => "Redirection Manager",
        19 => "Firmware Update Manager",
        20 => "Security Audit Log",
        21 => "Network Time",
        22 => "Network Administration",
        23 => "Storage Administration",
        24 => "Event Manager",
        25 => "System Defense Manager",
        26 => "Agent Presence Manager",
        27 => "Wireless Configuration",
        28 => "Endpoint Access Control",
        29 => "KVM",
        30 => "User Opt-In",
        31 => "BIOS Management",
        32 => "Screen Blanking",
        33 => "Watchdog",
        _ => return None,
    })
}

/// Names of the audit events (Intel LMS `eventIdStrings`, by application).
pub fn event_name(app: u16, event: u16) -> Option<&'static str> {
    let table: &[&str] = match app {
        16 => &[
            "Provisioning Started",
            "Provisioning Completed",
            "ACL Entry Added",
            "ACL Entry Modified",
            "ACL Entry Removed",
            "ACL Access with Invalid Credentials",
            "ACL Entry Enabled",
            "TLS State Changed",
            "TLS Server Certificate Set",
            "TLS Server Certificate Removed",
            "TLS Trusted Root Certificate Added",
            "TLS Trusted Root Certificate Removed",
            "TLS Pre-shared Key Set",
            "Kerberos Settings Modified",
            "Kerberos Master Key or Passphrase Modified",
            "Flash Wear-Out Counters Reset",
            "Power Package Modified",
            "Realm Authentication Mode Set",
            "Upgraded from Client to Admin Control Mode",
            "Unprovisioning Started",
        ],
        17 => &[
            "Performed Power Up",
            "Performed Power Down",
            "Performed Power Cycle",
            "Performed Reset",
            "Set Boot Options",
            "Performed Graceful Power Down",
            "Performed Graceful Reset",
            "Performed Standby",
            "Performed Hibernate",
            "Performed NMI",
        ],
        18 => &[
            "IDE-R Session Opened",
            "IDE-R Session Closed",
            "IDE-R Enabled",
            "IDE-R Disabled",
            "SoL Session Opened",
            "SoL Session Closed",
            "SoL Enabled",
            "SoL Disabled",
            "KVM Session Started",
            "KVM Session Ended",
            "KVM Enabled",
            "KVM Disabled",
            "VNC Password Failed 3 Times",
        ],
        19 => &["Firmware Updated", "Firmware Update Failed"],
        20 => &[
            "Security Audit Log Cleared",
            "Security Audit Policy Modified",
            "Security Audit Log Disabled",
            "Security Audit Log Enabled",
            "Security Audit Log Exported",
            "Security Audit Log Recovered",
        ],
        21 => &["Intel(R) ME Time Set"],
        22 => &[
            "TCP/IP Parameters Set",
            "Host Name Set",
            "Domain Name Set",
            "VLAN Parameters Set",
            "Link Policy Set",
            "IPv6 Parameters Set",
        ],
        23 => &[
            "Global Storage Attributes Set",
            "Storage EACL Modified",
            "Storage FPACL Modified",
            "Storage Write Operation",
        ],
        24 => &[
            "Alert Subscribed",
            "Alert Unsubscribed",
            "Event Log Cleared",
            "Event Log Frozen",
        ],
        25 => &[
            "System Defense Filter Added",
            "System Defense Filter Removed",
            "System Defense Policy Added",
            "System Defense Policy Removed",
            "System Defense Default Policy Set",
            "System Defense Heuristics Option Set",
            "System Defense Heuristics State Cleared",
        ],
        26 => &[
            "Agent Watchdog Added",
            "Agent Watchdog Removed",
            "Agent Watchdog Action Set",
        ],
        27 => &[
            "Wireless Profile Added",
            "Wireless Profile Removed",
            "Wireless Profile Updated",
            "Wireless Local Profile Sync Changed",
            "Wireless Link Preference Changed",
            "Wireless Profile Sharing with UEFI Changed",
        ],
        28 => &[
            "EAC Posture Signer Set",
            "EAC Enabled",
            "EAC Disabled",
            "EAC Posture State Updated",
            "EAC Options Set",
        ],
        29 => &[
            "KVM Opt-in Enabled",
            "KVM Opt-in Disabled",
            "KVM Password Changed",
            "KVM Consent Succeeded",
            "KVM Consent Failed",
        ],
        30 => &[
            "Opt-In Policy Changed",
            "Consent Code Sent",
            "Start Opt-In Request Blocked",
        ],
        32 => &["Screen Blanking Started", "Screen Blanking Ended"],
        33 => &[
            "",
            "Watchdog Reset Triggering Options Changed",
            "Watchdog Action Pairing Changed",
        ],
        _ => return None,
    };
    table
        .get(usize::from(event))
        .copied()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first record of the recorded `amt/auditlog/readrecords.xml`
    /// (`ABMAAAI/9M1uAgAQAAwAAAAoBZkADAAAACQFlA==`).
    const RECORDED: &str = "00130000023ff4cd6e020010000c000000280599000c000000240594";

    #[test]
    fn recorded_record_decodes() {
        let bytes = hex::decode(RECORDED).unwrap();
        let r = AuditRecord::decode(&bytes).unwrap();
        assert_eq!(r.app_name(), Some("Firmware Update Manager"));
        assert_eq!(r.event_name(), Some("Firmware Updated"));
        assert_eq!(r.code(), 1900);
        assert_eq!(r.initiator, Initiator::Local);
        assert_eq!(r.time, 0x3ff4_cd6e);
        assert_eq!(r.location, 2);
        assert_eq!(r.net_address_text(), None);
        assert_eq!(
            r.details().as_deref(),
            Some("old firmware 12.0.40.1433, new firmware 12.0.36.1428")
        );
        assert_eq!(r.encode().unwrap(), bytes);
    }

    #[test]
    fn digest_initiator_and_address_decode() {
        let r = AuditRecord {
            app_id: 17,
            event_id: 1,
            initiator: Initiator::HttpDigest {
                user: b"admin".to_vec(),
            },
            time: 1_700_000_000,
            location: 0,
            net_address: b"192.0.2.7".to_vec(),
            extended_data: Vec::new(),
            trailing: Vec::new(),
        };
        let bytes = r.encode().unwrap();
        assert_eq!(&bytes[..6], &[0, 17, 0, 1, 0, 5]);
        let back = AuditRecord::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.initiator.text(), "admin");
        assert_eq!(back.event_name(), Some("Performed Power Down"));
        assert_eq!(back.net_address_text().as_deref(), Some("192.0.2.7"));
        assert_eq!(back.details(), None);
    }

    #[test]
    fn truncated_records_say_where() {
        let bytes = hex::decode(RECORDED).unwrap();
        for cut in 0..bytes.len() {
            let e = AuditRecord::decode(&bytes[..cut]).unwrap_err();
            assert!(matches!(e, Error::LogRecordTruncated { .. }), "{cut}: {e}");
        }
        assert_eq!(
            AuditRecord::decode(&[0, 16]).unwrap_err(),
            Error::LogRecordTruncated {
                field: "EventID",
                needed: 4,
                got: 2
            }
        );
    }

    #[test]
    fn text_extended_data_and_acl_users_read_as_words() {
        let mut ext = vec![0, 13];
        ext.extend_from_slice(b"CommitChanges");
        let r = AuditRecord {
            app_id: 16,
            event_id: 99,
            initiator: Initiator::Local,
            time: 0,
            location: 2,
            net_address: Vec::new(),
            extended_data: ext,
            trailing: Vec::new(),
        };
        assert_eq!(r.event_name(), None);
        assert_eq!(r.details().as_deref(), Some("CommitChanges"));
        let acl = AuditRecord {
            event_id: 2,
            extended_data: vec![0, 7, b's', b'u', b'p', b'p', b'o', b'r', b't'],
            ..r.clone()
        };
        assert_eq!(acl.details().as_deref(), Some("added user support"));
        let tls = AuditRecord {
            event_id: 7,
            extended_data: vec![2, 1],
            ..r
        };
        assert_eq!(
            tls.details().as_deref(),
            Some("remote TLS: mutual authentication, local TLS: server authentication")
        );
    }

    #[test]
    fn oversized_fields_cannot_be_encoded() {
        let r = AuditRecord {
            app_id: 16,
            event_id: 0,
            initiator: Initiator::Local,
            time: 0,
            location: 2,
            net_address: vec![b'x'; 256],
            extended_data: Vec::new(),
            trailing: Vec::new(),
        };
        assert_eq!(
            r.encode(),
            Err(Error::LogFieldTooLong {
                field: "NetAddress",
                len: 256
            })
        );
    }
}
