//! The binary records of AMT's two logs, decoded into readable fields (M6). Both sides: the
//! console decodes what the device returns, and the encoders give tests (and an emulator) the
//! exact bytes.
//!
//! * [`event`]: the platform event log (`AMT_MessageLog.GetRecords`): 21-byte IPMI Platform
//!   Event Trap records — time stamp, sensor, entity, event type and offset, severity, event
//!   data — described in words (sensor and entity names, boot progress, boot errors, …).
//! * [`audit`]: the security audit log (`AMT_AuditLog.ReadRecords`): variable-length records —
//!   application and event id, initiator (digest user, Kerberos SID, local), time stamp,
//!   network address and per-event extended data.
//!
//! Both decoders take untrusted bytes: they never panic and never allocate more than the
//! input (every length is a one-byte prefix), and they are fuzzed
//! (`fuzz/fuzz_targets/event_record.rs`, `audit_record.rs`).
//!
//! # Sources
//!
//! * Event records: the layout of go-wsman-messages `pkg/wsman/amt/messagelog/decoder.go`
//!   (`parseEventLogResult`: time stamp little-endian, then one byte each) and MeshCentral
//!   `amt-0.2.0.js` (`GetMessageLog`); sensor types, sensor-specific offsets and entity ids from
//!   the IPMI v2.0 specification (rev. 1.1, tables 42-3 "Sensor Type Codes" and 43-13 "Entity ID
//!   Codes"); the AMT reading of sensor 0x06 (data bytes 2–3 count failed authentications) and
//!   the system firmware progress/error codes (data byte 2) from the same go-wsman-messages
//!   decoder. The recorded `amt/messagelog/getrecords.xml` decodes to "Out-of-band access
//!   password violation" and "PCI resource configuration".
//! * Audit records: Intel's LMS `WsmanClient/AuditLogWSManClient.cpp`
//!   (`AuditLogRecordFromBinaryBase64Data`: integers big-endian, initiator by type, then time
//!   stamp, `MCLocationType`, length-prefixed network address and extended data) and
//!   `AuditLogWSManClientConsts.h` (application and event names, initiator and address types,
//!   the extended-data layouts); the recorded `amt/auditlog/readrecords.xml` decodes to
//!   "Firmware Update Manager: Firmware Updated", old 12.0.40.1433, new 12.0.36.1428.

pub mod audit;
pub mod event;

pub use audit::{AuditRecord, Initiator};
pub use event::{describe_event, EventDescription};

/// `YYYY-MM-DD HH:MM:SS` (UTC) for seconds since the Unix epoch, as log time stamps are shown.
pub fn utc_text(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Year, month, day of a day number relative to 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Upper-case hex with a space between bytes (how consoles show raw record data).
pub(crate) fn hex_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{x:02X}"));
    }
    s
}

/// Bytes as text: UTF-8 up to the first NUL, invalid sequences replaced, control characters
/// dropped (device strings go to terminals).
pub(crate) fn text_of(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end])
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_formats_known_instants() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00");
        // The newest record of the recorded getrecords.xml.
        assert_eq!(utc_text(0x6598_c863), "2024-01-06 03:26:27");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_text(u64::from(u32::MAX)), "2106-02-07 06:28:15");
    }

    #[test]
    fn device_text_drops_control_characters() {
        assert_eq!(text_of(b"admin\x1b[2J\0junk"), "admin[2J");
        assert_eq!(hex_bytes(&[0, 0xab, 7]), "00 AB 07");
    }
}
