//! Logs: `AMT_AuditLog` (security audit records, `ReadRecords`), `AMT_MessageLog` (the platform
//! event log, `PositionToFirstRecord` + `GetRecords`) and `AMT_EventLogEntry`.
//!
//! Sources: recorded fixtures `amt/auditlog/*`, `amt/messagelog/*`, `amt/eventlogentry/*`;
//! Intel's generated classes (intel/lms `CIM_Framework`: `AMT_AuditLog.cpp`,
//! `AMT_MessageLog.cpp` and its bases `CIM_MessageLog`/`CIM_Log`, `AMT_EventLogEntry.cpp`) for
//! names, types and argument order; DMTF `CIM_Log` / `CIM_MessageLog` value maps (as written out
//! in go-wsman-messages `pkg/wsman/amt/{auditlog,messagelog}/decoder.go`); the 21-byte event
//! record layout as decoded by go-wsman-messages `messagelog/decoder.go` and MeshCentral
//! `amt.js` (`GetMessageLog`).

use super::PtStatus;
use crate::classes::cim::{
    EnabledDefault, EnabledState, HealthState, OperationalStatus, RequestedState, StateChangeReturn,
};
use crate::classes::CimDateTime;
use crate::value::EndpointReference;

wire_enum! {
    /// `CIM_Log.OverwritePolicy` (with AMT's audit-log extension 32768).
    pub enum OverwritePolicy: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: Wraps when full.
        WrapsWhenFull = 2,
        /// 3: Clear when full.
        ClearWhenFull = 3,
        /// 4: Overwrite outdated when needed.
        OverwriteOutdatedWhenNeeded = 4,
        /// 5: Remove outdated records.
        RemoveOutdatedRecords = 5,
        /// 6: Overwrite specific records.
        OverwriteSpecificRecords = 6,
        /// 7: Never overwrites.
        NeverOverwrites = 7,
        /// 32768: Partial restricted rollover (audit log).
        PartialRestrictedRollover = 32768,
    }
}

wire_enum! {
    /// `CIM_Log.LogState`.
    pub enum LogState: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 2: Normal.
        Normal = 2,
        /// 3: Erasing.
        Erasing = 3,
        /// 4: Not applicable (what AMT reports, fixture `amt/messagelog/get.xml`).
        NotApplicable = 4,
    }
}

wire_enum! {
    /// `AMT_AuditLog.StoragePolicy`.
    pub enum StoragePolicy: u8 {
        /// 0: No roll-over.
        NoRollOver = 0,
        /// 1: Roll-over.
        RollOver = 1,
        /// 2: Restricted roll-over.
        RestrictedRollOver = 2,
    }
}

wire_enum! {
    /// `CIM_MessageLog.Capabilities[]`.
    pub enum LogCapability: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: Write record supported.
        WriteRecord = 2,
        /// 3: Delete record supported.
        DeleteRecord = 3,
        /// 4: Can move backward in log.
        MoveBackward = 4,
        /// 5: Freeze log supported.
        FreezeLog = 5,
        /// 6: Clear log supported.
        ClearLog = 6,
        /// 7: Supports addressing by ordinal record number.
        OrdinalAddressing = 7,
        /// 8: Variable length records supported.
        VariableLengthRecords = 8,
        /// 9: Variable formats for records.
        VariableFormats = 9,
        /// 10: Can flag records for overwrite.
        FlagForOverwrite = 10,
    }
}

wire_enum! {
    /// `CIM_MessageLog.CharacterSet`.
    pub enum CharacterSet: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Other.
        Other = 1,
        /// 2: ASCII.
        Ascii = 2,
        /// 3: Unicode.
        Unicode = 3,
        /// 4: ISO2022.
        Iso2022 = 4,
        /// 5: ISO8859.
        Iso8859 = 5,
        /// 6: Extended UNIX Code.
        ExtendedUnixCode = 6,
        /// 7: UTF-8.
        Utf8 = 7,
        /// 8: UCS-2.
        Ucs2 = 8,
        /// 9: Bitmapped data.
        BitmappedData = 9,
        /// 10: Octet string (AMT's event records).
        OctetString = 10,
        /// 11: Defined by individual records.
        DefinedByRecords = 11,
    }
}

wire_enum! {
    /// `CIM_MessageLog.LastChange`.
    pub enum LastChange: u16 {
        /// 0: Unknown.
        Unknown = 0,
        /// 1: Add.
        Add = 1,
        /// 2: Delete.
        Delete = 2,
        /// 3: Modify.
        Modify = 3,
        /// 4: Log cleared.
        LogCleared = 4,
    }
}

wire_enum! {
    /// `GetRecords` return values.
    pub enum GetRecordsReturn: u32 {
        /// 0: Completed with no error.
        Completed = 0,
        /// 1: Not supported.
        NotSupported = 1,
        /// 2: Invalid record pointed.
        InvalidRecordPointed = 2,
        /// 3: No record exists in log.
        NoRecordExists = 3,
    }
}

wire_enum! {
    /// `PositionToFirstRecord` return values.
    pub enum PositionToFirstRecordReturn: u32 {
        /// 0: Completed with no error.
        Completed = 0,
        /// 1: Not supported.
        NotSupported = 1,
        /// 2: No record exists.
        NoRecordExists = 2,
    }
}

wire_enum! {
    /// `EventSeverity` of a platform event record.
    pub enum EventSeverity: u8 {
        /// 0: Unspecified.
        Unspecified = 0,
        /// 1: Monitor.
        Monitor = 1,
        /// 2: Information.
        Information = 2,
        /// 4: OK.
        Ok = 4,
        /// 8: Non-critical condition.
        NonCritical = 8,
        /// 16: Critical condition.
        Critical = 16,
        /// 32: Non-recoverable condition.
        NonRecoverable = 32,
    }
}

wsman_struct! {
    /// `AMT_AuditLog`. Source: fixture `amt/auditlog/get.xml`; Intel `AMT_AuditLog.cpp`.
    class AmtAuditLog = "AMT_AuditLog" {
        /// Audit state bits.
        "AuditState" => audit_state: Option<u32>,
        /// Records in the log.
        "CurrentNumberOfRecords" => current_number_of_records: Option<u64>,
        /// `Intel(r) AMT Audit Log`.
        "ElementName" => element_name: Option<String>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// Auditors allowed.
        "MaxAllowedAuditors" => max_allowed_auditors: Option<u16>,
        /// Log capacity (0 = not fixed).
        "MaxNumberOfRecords" => max_number_of_records: Option<u64>,
        /// Days records are kept before roll-over.
        "MinDaysToKeep" => min_days_to_keep: Option<u8>,
        /// `Intel(r) AMT:Audit Log`.
        "Name" => name: Option<String>,
        /// Overwrite policy.
        "OverwritePolicy" => overwrite_policy: Option<OverwritePolicy>,
        /// Free space, percent.
        "PercentageFree" => percentage_free: Option<u32>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// Storage policy.
        "StoragePolicy" => storage_policy: Option<StoragePolicy>,
        /// Time of the newest record.
        "TimeOfLastRecord" => time_of_last_record: Option<CimDateTime>,
    }
}

wsman_struct! {
    /// `ReadRecords_INPUT` of `AMT_AuditLog`.
    input ReadRecordsInput = "AMT_AuditLog" . "ReadRecords" {
        /// First record (1-based).
        "StartIndex" => start_index: Option<u32>,
    }
}

wsman_struct! {
    /// `ReadRecords_OUTPUT` of `AMT_AuditLog`.
    output ReadRecordsOutput = "AMT_AuditLog" . "ReadRecords" {
        /// Records in the log.
        "TotalRecordCount" => total_record_count: Option<u32>,
        /// Records in this answer.
        "RecordsReturned" => records_returned: Option<u32>,
        /// The records, each base64.
        "EventRecords" => event_records: Vec<String>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

impl ReadRecordsOutput {
    /// The raw bytes of every record.
    pub fn records(&self) -> Result<Vec<Vec<u8>>, crate::Error> {
        self.event_records
            .iter()
            .map(|r| b64("ReadRecords_OUTPUT", "EventRecords", r))
            .collect()
    }
}

wsman_struct! {
    /// `AMT_MessageLog`: the platform event log. Source: fixture `amt/messagelog/get.xml`.
    class AmtMessageLog = "AMT_MessageLog" {
        /// What the log supports.
        "Capabilities" => capabilities: Vec<LogCapability>,
        /// Record encoding.
        "CharacterSet" => character_set: Option<CharacterSet>,
        /// `AMT_MessageLog`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// Records in the log.
        "CurrentNumberOfRecords" => current_number_of_records: Option<u64>,
        /// `Intel(r) AMT:MessageLog 1`.
        "ElementName" => element_name: Option<String>,
        /// Enabled default.
        "EnabledDefault" => enabled_default: Option<EnabledDefault>,
        /// Enabled state.
        "EnabledState" => enabled_state: Option<EnabledState>,
        /// Health state.
        "HealthState" => health_state: Option<HealthState>,
        /// The log is frozen.
        "IsFrozen" => is_frozen: Option<bool>,
        /// Last change.
        "LastChange" => last_change: Option<LastChange>,
        /// Log state.
        "LogState" => log_state: Option<LogState>,
        /// Maximum size in bytes (0 = no limit).
        "MaxLogSize" => max_log_size: Option<u64>,
        /// Capacity in records.
        "MaxNumberOfRecords" => max_number_of_records: Option<u64>,
        /// Largest record in bytes (21).
        "MaxRecordSize" => max_record_size: Option<u64>,
        /// `Intel(r) AMT:MessageLog 1`.
        "Name" => name: Option<String>,
        /// Operational status.
        "OperationalStatus" => operational_status: Vec<OperationalStatus>,
        /// Overwrite policy.
        "OverwritePolicy" => overwrite_policy: Option<OverwritePolicy>,
        /// Percent full at which the log counts as nearly full.
        "PercentageNearFull" => percentage_near_full: Option<u8>,
        /// Requested state.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// Header size.
        "SizeOfHeader" => size_of_header: Option<u64>,
        /// Record header size.
        "SizeOfRecordHeader" => size_of_record_header: Option<u64>,
        /// Status text (`OK`).
        "Status" => status: Option<String>,
    }
}

wsman_struct! {
    /// `PositionToFirstRecord_INPUT` (no arguments).
    input PositionToFirstRecordInput = "AMT_MessageLog" . "PositionToFirstRecord" {}
}

wsman_struct! {
    /// `PositionToFirstRecord_OUTPUT`.
    output PositionToFirstRecordOutput = "AMT_MessageLog" . "PositionToFirstRecord" {
        /// Iterator to pass to `GetRecords`.
        "IterationIdentifier" => iteration_identifier: Option<String>,
        /// Return value.
        "ReturnValue" => return_value: Option<PositionToFirstRecordReturn>,
    }
}

wsman_struct! {
    /// `GetRecords_INPUT`: consoles ask for up to 390 records at a time.
    input GetRecordsInput = "AMT_MessageLog" . "GetRecords" {
        /// Iterator from `PositionToFirstRecord` or the previous `GetRecords`.
        "IterationIdentifier" => iteration_identifier: Option<String>,
        /// Records wanted.
        "MaxReadRecords" => max_read_records: Option<u32>,
    }
}

wsman_struct! {
    /// `GetRecords_OUTPUT`.
    output GetRecordsOutput = "AMT_MessageLog" . "GetRecords" {
        /// Iterator for the next call.
        "IterationIdentifier" => iteration_identifier: Option<String>,
        /// The end of the log was reached.
        "NoMoreRecords" => no_more_records: Option<bool>,
        /// The records, each base64 of 21 bytes (see [`EventRecord`]).
        "RecordArray" => record_array: Vec<String>,
        /// Return value.
        "ReturnValue" => return_value: Option<GetRecordsReturn>,
    }
}

impl GetRecordsOutput {
    /// Decodes every record.
    pub fn records(&self) -> Result<Vec<EventRecord>, crate::Error> {
        self.record_array
            .iter()
            .map(|r| EventRecord::decode_b64(r))
            .collect()
    }
}

wsman_struct! {
    /// `RequestStateChange_INPUT` of `AMT_MessageLog` (enable/disable logging).
    input MessageLogRequestStateChangeInput = "AMT_MessageLog" . "RequestStateChange" {
        /// State asked for.
        "RequestedState" => requested_state: Option<RequestedState>,
        /// Optional timeout.
        "TimeoutPeriod" => timeout_period: Option<CimDateTime>,
    }
}

wsman_struct! {
    /// `RequestStateChange_OUTPUT` of `AMT_MessageLog`.
    output MessageLogRequestStateChangeOutput = "AMT_MessageLog" . "RequestStateChange" {
        /// Job reference.
        "Job" => job: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<StateChangeReturn>,
    }
}

wsman_struct! {
    /// `AMT_EventLogEntry`: one platform event as an instance. Intel's class types `EventData`
    /// as `uint8[]` and has no `TimeStamp`; the recorded fixture `amt/eventlogentry/get.xml`
    /// carries a hex `EventData` text and a Unix `TimeStamp`, so both are kept as text.
    class AmtEventLogEntry = "AMT_EventLogEntry" {
        /// `AMT_EventLogEntry`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// SMBus address of the sender.
        "DeviceAddress" => device_address: Option<u8>,
        /// Element name.
        "ElementName" => element_name: Option<String>,
        /// Entity (IPMI entity ID).
        "Entity" => entity: Option<u8>,
        /// Entity instance.
        "EntityInstance" => entity_instance: Option<u8>,
        /// Event data.
        "EventData" => event_data: Vec<String>,
        /// Event offset.
        "EventOffset" => event_offset: Option<u8>,
        /// Sensor type.
        "EventSensorType" => event_sensor_type: Option<u8>,
        /// Severity.
        "EventSeverity" => event_severity: Option<EventSeverity>,
        /// Source type.
        "EventSourceType" => event_source_type: Option<u8>,
        /// Event type.
        "EventType" => event_type: Option<u8>,
        /// Record ID.
        "RecordID" => record_id: Option<String>,
        /// Sensor number.
        "SensorNumber" => sensor_number: Option<u8>,
        /// Time stamp as recorded (Unix seconds in the fixture).
        "TimeStamp" => time_stamp: Option<String>,
    }
}

fn b64(class: &str, property: &str, s: &str) -> Result<Vec<u8>, crate::Error> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| crate::Error::InvalidValue {
            class: class.to_owned(),
            property: property.to_owned(),
            value: s.chars().take(40).collect(),
            expected: "base64",
        })
}

/// One platform event record of `AMT_MessageLog.GetRecords` (21 bytes, little-endian
/// time stamp first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    /// Seconds since the Unix epoch (the ME's local clock).
    pub time_stamp: u32,
    /// SMBus address of the sender.
    pub device_address: u8,
    /// Sensor type (e.g. 15 = system firmware progress).
    pub event_sensor_type: u8,
    /// Event/reading type.
    pub event_type: u8,
    /// Event offset.
    pub event_offset: u8,
    /// Source type.
    pub event_source_type: u8,
    /// Severity, raw (see [`EventRecord::severity`]).
    pub event_severity: u8,
    /// Sensor number.
    pub sensor_number: u8,
    /// Entity (IPMI entity ID).
    pub entity: u8,
    /// Entity instance.
    pub entity_instance: u8,
    /// Event data bytes.
    pub event_data: [u8; 8],
}

impl EventRecord {
    /// Size of one record.
    pub const LEN: usize = 21;

    /// Decodes the raw 21 bytes.
    pub fn decode(b: &[u8]) -> Result<Self, crate::Error> {
        let b: &[u8; Self::LEN] = b.try_into().map_err(|_| crate::Error::InvalidValue {
            class: "GetRecords_OUTPUT".into(),
            property: "RecordArray".into(),
            value: format!("{} bytes", b.len()),
            expected: "a 21-byte event record",
        })?;
        let mut event_data = [0u8; 8];
        event_data.copy_from_slice(&b[13..21]);
        Ok(EventRecord {
            time_stamp: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            device_address: b[4],
            event_sensor_type: b[5],
            event_type: b[6],
            event_offset: b[7],
            event_source_type: b[8],
            event_severity: b[9],
            sensor_number: b[10],
            entity: b[11],
            entity_instance: b[12],
            event_data,
        })
    }

    /// Decodes one base64 entry of `RecordArray`.
    pub fn decode_b64(s: &str) -> Result<Self, crate::Error> {
        Self::decode(&b64("GetRecords_OUTPUT", "RecordArray", s)?)
    }

    /// The raw 21 bytes.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..4].copy_from_slice(&self.time_stamp.to_le_bytes());
        b[4] = self.device_address;
        b[5] = self.event_sensor_type;
        b[6] = self.event_type;
        b[7] = self.event_offset;
        b[8] = self.event_source_type;
        b[9] = self.event_severity;
        b[10] = self.sensor_number;
        b[11] = self.entity;
        b[12] = self.entity_instance;
        b[13..].copy_from_slice(&self.event_data);
        b
    }

    /// The severity as a wire enum.
    pub fn severity(&self) -> Result<EventSeverity, crate::Error> {
        EventSeverity::try_from(self.event_severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_event_record_decodes_and_re_encodes() {
        // From fixture amt/messagelog/getrecords.xml.
        let r = EventRecord::decode_b64("Y8iYZf8GbwVoEP8mYaoKAAAAAAAA").unwrap();
        assert_eq!(r.time_stamp, 0x6598c863);
        assert_eq!(r.device_address, 0xff);
        assert_eq!(r.event_sensor_type, 6);
        assert_eq!(r.severity().unwrap(), EventSeverity::Critical);
        use base64::Engine as _;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(r.encode()),
            "Y8iYZf8GbwVoEP8mYaoKAAAAAAAA"
        );
        assert!(EventRecord::decode(&[0u8; 20]).is_err());
    }
}
