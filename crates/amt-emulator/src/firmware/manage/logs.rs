//! Logs: `AMT_AuditLog` (security audit records, `ReadRecords`), `AMT_MessageLog` (the platform
//! event log, `PositionToFirstRecord` + `GetRecords`) and the `AMT_EventLogEntry` view.
//!
//! **Audit record layout** (what `ReadRecords` returns, base64 per record). Integers are
//! big-endian; this is the layout MeshCentral's `amt-0.2.0.js` decoder reads, and the recorded
//! fixture `amt/auditlog/readrecords.xml` decodes with it (a "Firmware Updated" record whose
//! extended data is two four-part versions):
//!
//! | bytes | field |
//! |---|---|
//! | 2 | `AuditAppID` (16 Security Admin, 17 RCO, 18 Redirection Manager, 21 Network Time, 25 Circuit Breaker, 30 User Opt-In, …) |
//! | 2 | `EventID` (the event is named by `AuditAppID * 100 + EventID`, e.g. 1700 "Performed Power Up") |
//! | 1 | `InitiatorType`: 0 HTTP digest user, 1 Kerberos SID, 2 local, 3 KVM default port |
//! | var | initiator: type 0 `u8 len` + user name; type 1 `u32` + `u8 len` + SID; types 2, 3 nothing |
//! | 4 | time stamp, seconds (device clock) |
//! | 1 | `MCLocationType` (2 in the recorded local record) |
//! | 1 + n | network address, length-prefixed text (empty here: the firmware core does not see the peer address) |
//! | 1 + n | extended data, length-prefixed (per event; e.g. 2100 "ME Time Set" carries the new time as `u32`) |
//!
//! Records other modules added as text only are encoded as app 16 (Security Admin) event 99 with
//! the text as extended data in the `u16 length + text` form MeshCentral shows as a data string.
//!
//! **Event records** (`GetRecords`): the 21-byte PET layout of
//! [`amt_wsman::classes::amt::EventRecord`]. The emulated BIOS writes IPMI sensor-specific
//! records (event type 0x6F) when the host boots: "System Boot / Restart Initiated" (sensor
//! 0x1D; offset 0 power up, 1 hard reset, 3 user-requested PXE boot, 7 system restart), "System
//! Firmware Progress" (sensor 0x0F offset 2, progress code in the second data byte after 0x40, as
//! in the recorded `amt/messagelog/getrecords.xml`: 0x05 system setup, 0x07 PCI configuration,
//! 0x13 starting OS boot), "Boot Error" (sensor 0x1E offset 0, no bootable media) and "Base OS
//! Boot Status" (sensor 0x1F; offset 0 A: (floppy), 1 C: (hard drive), 2 PXE, 4 CD-ROM). Records
//! come back newest first: in the recorded `getrecords.xml` the first record is the newest.

use amt_wsman::classes::amt::{
    AmtAuditLog, AmtEventLogEntry, AmtMessageLog, CharacterSet, EventRecord, GetRecordsInput,
    GetRecordsOutput, GetRecordsReturn, LastChange, LogCapability, LogState, OverwritePolicy,
    PositionToFirstRecordOutput, PositionToFirstRecordReturn, PtStatus, ReadRecordsInput,
    ReadRecordsOutput, StoragePolicy,
};
use amt_wsman::classes::cim::{
    EnabledDefault, EnabledState, HealthState, OperationalStatus, RequestedState,
};
use amt_wsman::classes::{CimDateTime, Typed};
use amt_wsman::{Instance, ResponseBody};
use base64::Engine as _;

use super::reply;
use super::time::format_datetime;
use crate::firmware::{Caller, Env, Firmware};
use crate::state::{LogRecord, MAX_LOG_RECORDS};

/// Most records one `ReadRecords` answer carries (Intel's class reference: ten per call;
/// consoles page with `StartIndex`).
pub const AUDIT_RECORDS_PER_READ: usize = 10;

/// One audit event type: its application and event numbers and the name consoles show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEvent {
    /// `AuditAppID`.
    pub app: u16,
    /// `EventID`.
    pub id: u16,
    /// The name (`AuditAppID * 100 + EventID` in MeshCentral's string table).
    pub name: &'static str,
}

/// The audit events the emulator records (numbers and names as in MeshCentral's table of the
/// Intel AMT audit events).
pub mod audit_events {
    use super::AuditEvent;

    macro_rules! events {
        ($($(#[$m:meta])* $name:ident = ($app:expr, $id:expr, $text:expr);)*) => {
            $( $(#[$m])* pub const $name: AuditEvent = AuditEvent { app: $app, id: $id, name: $text }; )*
        };
    }

    events! {
        /// 1600.
        PROVISIONING_STARTED = (16, 0, "Provisioning Started");
        /// 1601.
        PROVISIONING_COMPLETED = (16, 1, "Provisioning Completed");
        /// 1602 (extended data: 0, user name length, user name).
        ACL_ENTRY_ADDED = (16, 2, "ACL Entry Added");
        /// 1603.
        ACL_ENTRY_MODIFIED = (16, 3, "ACL Entry Modified");
        /// 1604.
        ACL_ENTRY_REMOVED = (16, 4, "ACL Entry Removed");
        /// 1605 (extended data: 0 invalid ME access, 1 invalid MEBx access).
        ACL_ACCESS_WITH_INVALID_CREDENTIALS = (16, 5, "ACL Access with Invalid Credentials");
        /// 1607 (extended data: remote and local TLS mode, 0 none, 1 server auth, 2 mutual).
        TLS_STATE_CHANGED = (16, 7, "TLS State Changed");
        /// 1608.
        TLS_SERVER_CERTIFICATE_SET = (16, 8, "TLS Server Certificate Set");
        /// 1609.
        TLS_SERVER_CERTIFICATE_REMOVE = (16, 9, "TLS Server Certificate Remove");
        /// 1610.
        TLS_TRUSTED_ROOT_ADDED = (16, 10, "TLS Trusted Root Certificate Added");
        /// 1611.
        TLS_TRUSTED_ROOT_REMOVED = (16, 11, "TLS Trusted Root Certificate Removed");
        /// 1613.
        KERBEROS_SETTINGS_MODIFIED = (16, 13, "Kerberos Settings Modified");
        /// 1614.
        KERBEROS_MASTER_KEY_MODIFIED = (16, 14, "Kerberos Master Key Modified");
        /// 1700.
        POWER_UP = (17, 0, "Performed Power Up");
        /// 1701.
        POWER_DOWN = (17, 1, "Performed Power Down");
        /// 1702.
        POWER_CYCLE = (17, 2, "Performed Power Cycle");
        /// 1703.
        RESET = (17, 3, "Performed Reset");
        /// 1704.
        SET_BOOT_OPTIONS = (17, 4, "Set Boot Options");
        /// 1705.
        GRACEFUL_POWER_DOWN = (17, 5, "Remote graceful power down initiated");
        /// 1706.
        GRACEFUL_RESET = (17, 6, "Remote graceful reset initiated");
        /// 1707.
        STANDBY = (17, 7, "Remote Standby initiated");
        /// 1708.
        HIBERNATE = (17, 8, "Remote Hibernate initiated");
        /// 1709.
        NMI = (17, 9, "Remote NMI initiated");
        /// 1618.
        UPGRADE_CLIENT_TO_ADMIN = (16, 18, "Upgrade Client to Admin Control Mode");
        /// 1619 (extended data: 0 BIOS, 1 MEBx, 2 local MEI, 3 local WS-Man, 4 remote WS-Man).
        UNPROVISIONING_STARTED = (16, 19, "Unprovisioning Started");
        /// 1804.
        SOL_SESSION_OPENED = (18, 4, "SoL Session Opened");
        /// 1805.
        SOL_SESSION_CLOSED = (18, 5, "SoL Session Closed");
        /// 1800.
        IDER_SESSION_OPENED = (18, 0, "IDER Session Opened");
        /// 1801.
        IDER_SESSION_CLOSED = (18, 1, "IDER Session Closed");
        /// 1808.
        KVM_SESSION_STARTED = (18, 8, "KVM Session Started");
        /// 1809.
        KVM_SESSION_ENDED = (18, 9, "KVM Session Ended");
        /// 1802.
        IDER_ENABLED = (18, 2, "IDER Enabled");
        /// 1803.
        IDER_DISABLED = (18, 3, "IDER Disabled");
        /// 1806.
        SOL_ENABLED = (18, 6, "SoL Enabled");
        /// 1807.
        SOL_DISABLED = (18, 7, "SoL Disabled");
        /// 1810.
        KVM_ENABLED = (18, 10, "KVM Enabled");
        /// 1811.
        KVM_DISABLED = (18, 11, "KVM Disabled");
        /// 2100.
        ME_TIME_SET = (21, 0, "Intel(R) ME Time Set");
        /// 2200.
        TCPIP_PARAMETERS_SET = (22, 0, "TCPIP Parameters Set");
        /// 2201.
        HOST_NAME_SET = (22, 1, "Host Name Set");
        /// 2202.
        DOMAIN_NAME_SET = (22, 2, "Domain Name Set");
        /// 2500.
        CB_FILTER_ADDED = (25, 0, "CB Filter Added");
        /// 2501.
        CB_FILTER_REMOVED = (25, 1, "CB Filter Removed");
        /// 2502.
        CB_POLICY_ADDED = (25, 2, "CB Policy Added");
        /// 2503.
        CB_POLICY_REMOVED = (25, 3, "CB Policy Removed");
        /// 2504.
        CB_DEFAULT_POLICY_SET = (25, 4, "CB Default Policy Set");
        /// 3000.
        OPT_IN_POLICY_CHANGE = (30, 0, "Opt-In Policy Change");
        /// 3001 (extended data: 0 success, 1 failed three times).
        SEND_CONSENT_CODE = (30, 1, "Send Consent Code Event");
        /// 3002.
        START_OPT_IN_BLOCKED = (30, 2, "Start Opt-In Blocked Event");
    }
}

/// Appends an audit record for `event`, initiated by `caller` (`None`: the platform itself).
pub fn audit(
    fw: &mut Firmware,
    caller: Option<&Caller>,
    env: &Env<'_>,
    event: AuditEvent,
    extended: &[u8],
) {
    let time = fw.device_time(env);
    let mut r = Vec::with_capacity(16 + extended.len());
    r.extend_from_slice(&event.app.to_be_bytes());
    r.extend_from_slice(&event.id.to_be_bytes());
    match caller {
        Some(c) => {
            let user = &c.user.as_bytes()[..c.user.len().min(255)];
            r.push(0);
            r.push(user.len() as u8);
            r.extend_from_slice(user);
        }
        None => r.push(2),
    }
    r.extend_from_slice(&(time.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    r.push(2); // MCLocationType as in the recorded local record.
    r.push(0); // No network address.
    let ex = &extended[..extended.len().min(255)];
    r.push(ex.len() as u8);
    r.extend_from_slice(ex);
    fw.state.audit(time, event.name);
    if let Some(last) = fw.state.audit_log.last_mut() {
        last.record_b64 = Some(b64(&r));
    }
    fw.changed();
}

/// Appends a platform event record.
pub fn event(fw: &mut Firmware, env: &Env<'_>, mut record: EventRecord, text: &str) {
    let time = fw.device_time(env);
    record.time_stamp = time.min(u64::from(u32::MAX)) as u32;
    fw.state.event(time, text);
    if let Some(last) = fw.state.event_log.last_mut() {
        last.record_b64 = Some(b64(&record.encode()));
    }
    fw.changed();
}

/// A sensor-specific (event type 0x6F) record the BIOS (entity 0x22) sends.
pub fn bios_event(sensor_type: u8, offset: u8, severity: u8, data: [u8; 2]) -> EventRecord {
    let mut event_data = [0u8; 8];
    event_data[..2].copy_from_slice(&data);
    EventRecord {
        time_stamp: 0,
        device_address: 0xFF,
        event_sensor_type: sensor_type,
        event_type: 0x6F,
        event_offset: offset,
        event_source_type: 0x68,
        event_severity: severity,
        sensor_number: 0xFF,
        entity: 0x22,
        entity_instance: 0,
        event_data,
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// The wire bytes of an audit record (text-only records get the generic encoding).
fn audit_bytes(r: &LogRecord) -> Vec<u8> {
    if let Some(b) = r.record_b64.as_deref().and_then(decode_b64) {
        return b;
    }
    let text = &r.text.as_bytes()[..r.text.len().min(250)];
    let mut out = vec![0, 16, 0, 99, 2];
    out.extend_from_slice(&(r.time.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    out.extend_from_slice(&[2, 0, (text.len() + 2) as u8]);
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text);
    out
}

/// The 21 bytes of an event record (text-only records become an OEM "system event" record).
fn event_record(r: &LogRecord) -> EventRecord {
    if let Some(rec) = r
        .record_b64
        .as_deref()
        .and_then(|b| EventRecord::decode_b64(b).ok())
    {
        return rec;
    }
    let mut rec = bios_event(0x12, 0, 2, [0, 0]);
    rec.time_stamp = r.time.min(u64::from(u32::MAX)) as u32;
    rec
}

/// The one `AMT_AuditLog` instance.
pub(super) fn audit_log_instances(fw: &Firmware) -> Vec<Instance> {
    let n = fw.state.audit_log.len();
    let log = AmtAuditLog {
        audit_state: Some(16),
        current_number_of_records: Some(n as u64),
        element_name: Some("Intel(r) AMT Audit Log".into()),
        enabled_state: Some(EnabledState::Enabled),
        max_allowed_auditors: Some(1),
        max_number_of_records: Some(0),
        name: Some("Intel(r) AMT:Audit Log".into()),
        overwrite_policy: Some(OverwritePolicy::WrapsWhenFull),
        percentage_free: Some((100 - (n * 100 / MAX_LOG_RECORDS).min(100)) as u32),
        requested_state: Some(RequestedState::Enabled),
        storage_policy: Some(StoragePolicy::RollOver),
        time_of_last_record: fw
            .state
            .audit_log
            .last()
            .map(|r| CimDateTime::datetime(&format_datetime(r.time))),
        ..Default::default()
    };
    vec![log.to_instance()]
}

/// `AMT_AuditLog.ReadRecords(StartIndex)`: up to ten records from the 1-based index, oldest
/// first. An index past the end of a non-empty log is `PT_STATUS_INVALID_INDEX` (35).
pub(super) fn read_records(fw: &Firmware, input: &ReadRecordsInput) -> ResponseBody {
    let total = fw.state.audit_log.len();
    let start = input.start_index.unwrap_or(1).max(1) as usize;
    let (records, status) = if total == 0 || start <= total {
        let recs: Vec<String> = fw
            .state
            .audit_log
            .iter()
            .skip(start - 1)
            .take(AUDIT_RECORDS_PER_READ)
            .map(|r| b64(&audit_bytes(r)))
            .collect();
        (recs, PtStatus::Success)
    } else {
        (Vec::new(), PtStatus::InvalidIndex)
    };
    reply(ReadRecordsOutput {
        total_record_count: Some(total as u32),
        records_returned: Some(records.len() as u32),
        event_records: records,
        return_value: Some(status),
        extra: Vec::new(),
    })
}

/// The one `AMT_MessageLog` instance.
pub(super) fn message_log_instances(fw: &Firmware) -> Vec<Instance> {
    let log = AmtMessageLog {
        capabilities: vec![
            LogCapability::FreezeLog,
            LogCapability::ClearLog,
            LogCapability::VariableLengthRecords,
            LogCapability::OrdinalAddressing,
        ],
        character_set: Some(CharacterSet::OctetString),
        creation_class_name: Some("AMT_MessageLog".into()),
        current_number_of_records: Some(fw.state.event_log.len() as u64),
        element_name: Some("Intel(r) AMT:MessageLog 1".into()),
        enabled_default: Some(EnabledDefault::Enabled),
        enabled_state: Some(EnabledState::Enabled),
        health_state: Some(HealthState::Ok),
        is_frozen: Some(false),
        last_change: Some(if fw.state.event_log.is_empty() {
            LastChange::Unknown
        } else {
            LastChange::Add
        }),
        log_state: Some(LogState::NotApplicable),
        max_log_size: Some(0),
        max_number_of_records: Some(MAX_LOG_RECORDS as u64),
        max_record_size: Some(EventRecord::LEN as u64),
        name: Some("Intel(r) AMT:MessageLog 1".into()),
        operational_status: vec![OperationalStatus::Ok],
        overwrite_policy: Some(OverwritePolicy::WrapsWhenFull),
        percentage_near_full: Some(100),
        requested_state: Some(RequestedState::NotApplicable),
        size_of_header: Some(0),
        size_of_record_header: Some(0),
        status: Some("OK".into()),
        extra: Vec::new(),
    };
    vec![log.to_instance()]
}

/// `PositionToFirstRecord`: the iterator `1` (the newest record), or "no record".
pub(super) fn position_to_first(fw: &Firmware) -> ResponseBody {
    let empty = fw.state.event_log.is_empty();
    reply(PositionToFirstRecordOutput {
        iteration_identifier: Some("1".into()),
        return_value: Some(if empty {
            PositionToFirstRecordReturn::NoRecordExists
        } else {
            PositionToFirstRecordReturn::Completed
        }),
        extra: Vec::new(),
    })
}

/// `GetRecords(IterationIdentifier, MaxReadRecords)`: the iterator is the 1-based position
/// (newest first) of the next record; the answer carries the next iterator.
pub(super) fn get_records(fw: &Firmware, input: &GetRecordsInput) -> ResponseBody {
    let total = fw.state.event_log.len();
    let pos: Option<usize> = input
        .iteration_identifier
        .as_deref()
        .and_then(|s| s.trim().parse().ok())
        .filter(|p| *p >= 1);
    let out = match pos {
        _ if total == 0 => GetRecordsOutput {
            iteration_identifier: Some("1".into()),
            no_more_records: Some(true),
            return_value: Some(GetRecordsReturn::NoRecordExists),
            ..Default::default()
        },
        Some(p) if p <= total + 1 => {
            let max = input.max_read_records.unwrap_or(390).clamp(1, 390) as usize;
            let records: Vec<String> = fw
                .state
                .event_log
                .iter()
                .rev()
                .skip(p - 1)
                .take(max)
                .map(|r| b64(&event_record(r).encode()))
                .collect();
            let next = p + records.len();
            GetRecordsOutput {
                iteration_identifier: Some(next.to_string()),
                no_more_records: Some(next > total),
                record_array: records,
                return_value: Some(GetRecordsReturn::Completed),
                extra: Vec::new(),
            }
        }
        _ => GetRecordsOutput {
            return_value: Some(GetRecordsReturn::InvalidRecordPointed),
            ..Default::default()
        },
    };
    reply(out)
}

/// `AMT_EventLogEntry`: every event record as an instance, newest first, in the shape of the
/// recorded `amt/eventlogentry/get.xml` (hex `EventData`, Unix `TimeStamp`).
pub(super) fn event_log_entries(fw: &Firmware) -> Vec<Instance> {
    fw.state
        .event_log
        .iter()
        .rev()
        .enumerate()
        .map(|(i, r)| {
            let rec = event_record(r);
            AmtEventLogEntry {
                creation_class_name: Some("AMT_EventLogEntry".into()),
                device_address: Some(rec.device_address),
                element_name: Some("Event Log Entry".into()),
                event_data: vec![hex::encode_upper(rec.event_data)],
                event_sensor_type: Some(rec.event_sensor_type),
                event_type: Some(rec.event_type),
                record_id: Some((i + 1).to_string()),
                time_stamp: Some(rec.time_stamp.to_string()),
                ..Default::default()
            }
            .to_instance()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_audit_record_has_the_documented_layout() {
        // fixture amt/auditlog/readrecords.xml: Firmware Update Manager (19), event 0, local.
        let b = decode_b64("ABMAAAI/9M1uAgAQAAwAAAAoBZkADAAAACQFlA==").unwrap();
        assert_eq!(u16::from_be_bytes([b[0], b[1]]), 19);
        assert_eq!(u16::from_be_bytes([b[2], b[3]]), 0);
        assert_eq!(b[4], 2, "local initiator");
        assert_eq!(b[9], 2, "MCLocationType");
        assert_eq!(b[10], 0, "no network address");
        assert_eq!(
            b[11] as usize,
            b.len() - 12,
            "extended data runs to the end"
        );
    }

    #[test]
    fn text_only_records_encode_as_a_data_string() {
        let r = LogRecord {
            time: 7,
            text: "CommitChanges".into(),
            record_b64: None,
        };
        let b = audit_bytes(&r);
        assert_eq!(&b[..5], &[0, 16, 0, 99, 2]);
        assert_eq!(u32::from_be_bytes([b[5], b[6], b[7], b[8]]), 7);
        let ex = &b[12..];
        assert_eq!(ex.len(), b[11] as usize);
        assert_eq!(u16::from_be_bytes([ex[0], ex[1]]) as usize, ex.len() - 2);
        assert_eq!(&ex[2..], b"CommitChanges");
    }
}
