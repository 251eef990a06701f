//! Event log and audit log readout (M6), decoded with `amt_wire::logs` into readable entries.
//!
//! - Event log (`AMT_MessageLog`): `PositionToFirstRecord` gives an iterator; `GetRecords(
//!   IterationIdentifier, MaxReadRecords)` pages through the 21-byte records until
//!   `NoMoreRecords`. AMT returns the newest record first.
//! - Audit log (`AMT_AuditLog`): `ReadRecords(StartIndex)` from 1, ten records per answer on
//!   AMT, oldest first, until `TotalRecordCount` records are read (Intel LMS `readLogsFromFW`).
//!
//! Both come back newest first. Reads are bounded (pages and records), so a device that never
//! ends its log cannot keep the console looping.

use std::time::Duration;

use amt_wire::logs::{describe_event, utc_text, AuditRecord, Initiator};
use amt_wsman::classes::amt::{
    GetRecordsInput, GetRecordsOutput, GetRecordsReturn, PositionToFirstRecordInput,
    PositionToFirstRecordOutput, PositionToFirstRecordReturn, PtStatus, ReadRecordsInput,
    ReadRecordsOutput,
};
use amt_wsman::SelectorSet;
use serde::{Deserialize, Serialize};

use super::ConsoleError;
use crate::client::{WsmanClient, WsmanError};

/// Most pages read from one log.
const MAX_PAGES: usize = 200;

/// Records asked for per `GetRecords` (AMT keeps at most 390).
const RECORDS_PER_PAGE: u32 = 390;

/// One event log record in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEntry {
    /// Seconds since the epoch (device clock).
    pub time: u32,
    /// The same, `YYYY-MM-DD HH:MM:SS` UTC.
    pub time_text: String,
    /// Severity (`Critical`, `Information`, …).
    pub severity: String,
    /// Sensor type name.
    pub sensor: String,
    /// Sensor type code.
    pub sensor_type: u8,
    /// Entity name.
    pub entity: String,
    /// Entity instance.
    pub entity_instance: u8,
    /// Event type code (0x6F sensor-specific).
    pub event_type: u8,
    /// Event offset.
    pub offset: u8,
    /// What happened.
    pub description: String,
    /// The eight event data bytes, hex.
    pub data: String,
}

/// One audit log record in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (1 = oldest).
    pub index: usize,
    /// `AuditAppID * 100 + EventID` (1700 "Performed Power Up").
    pub code: u32,
    /// Application name (or `application N`).
    pub application: String,
    /// Event name (or `event N`).
    pub event: String,
    /// Initiator kind: `digest`, `kerberos`, `local`, `kvm`, `other`.
    pub initiator_type: String,
    /// Who: the digest user, the Kerberos SID, `local`.
    pub initiator: String,
    /// Seconds since the epoch (device clock).
    pub time: u32,
    /// The same, `YYYY-MM-DD HH:MM:SS` UTC.
    pub time_text: String,
    /// The initiator's network address, when recorded.
    pub net_address: Option<String>,
    /// The extended data in words, when there is any.
    pub details: Option<String>,
}

/// Reads the event log, newest first, at most `max_records` records.
///
/// # Errors
/// Exchange failures, a refused method, an undecodable record, a log without end.
pub async fn read_event_log(
    client: &WsmanClient,
    max_records: usize,
    timeout: Duration,
) -> Result<Vec<EventEntry>, ConsoleError> {
    let first: PositionToFirstRecordOutput = client
        .invoke(
            &PositionToFirstRecordInput::default(),
            message_log_selectors(),
            timeout,
        )
        .await?;
    match first.return_value {
        Some(PositionToFirstRecordReturn::Completed) => {}
        Some(PositionToFirstRecordReturn::NoRecordExists) => return Ok(Vec::new()),
        Some(other) => {
            return Err(ConsoleError::DeviceReturned {
                method: "PositionToFirstRecord",
                code: other.value(),
                meaning: "not supported".into(),
            })
        }
        None => {
            return Err(ConsoleError::MissingField {
                what: "PositionToFirstRecord",
                field: "ReturnValue",
            })
        }
    }
    let mut iterator = first
        .iteration_identifier
        .ok_or(ConsoleError::MissingField {
            what: "PositionToFirstRecord",
            field: "IterationIdentifier",
        })?;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page: GetRecordsOutput = client
            .invoke(
                &GetRecordsInput {
                    iteration_identifier: Some(iterator.clone()),
                    max_read_records: Some(RECORDS_PER_PAGE),
                    extra: Vec::new(),
                },
                message_log_selectors(),
                timeout,
            )
            .await?;
        match page.return_value {
            Some(GetRecordsReturn::Completed) => {}
            Some(GetRecordsReturn::NoRecordExists) => return Ok(out),
            Some(other) => {
                return Err(ConsoleError::DeviceReturned {
                    method: "GetRecords",
                    code: other.value(),
                    meaning: match other {
                        GetRecordsReturn::NotSupported => "not supported",
                        GetRecordsReturn::InvalidRecordPointed => "invalid record pointed",
                        _ => "failed",
                    }
                    .into(),
                })
            }
            None => {
                return Err(ConsoleError::MissingField {
                    what: "GetRecords",
                    field: "ReturnValue",
                })
            }
        }
        let records = page.records().map_err(WsmanError::Decode)?;
        for r in &records {
            let d = describe_event(r);
            out.push(EventEntry {
                time: r.time_stamp,
                time_text: utc_text(u64::from(r.time_stamp)),
                severity: d.severity,
                sensor: d.sensor,
                sensor_type: r.event_sensor_type,
                entity: d.entity,
                entity_instance: r.entity_instance,
                event_type: r.event_type,
                offset: r.event_offset,
                description: d.description,
                data: hex::encode_upper(r.event_data),
            });
            if out.len() >= max_records {
                return Ok(out);
            }
        }
        let done = page.no_more_records.unwrap_or(true) || records.is_empty();
        match page.iteration_identifier {
            Some(next) if !done => iterator = next,
            _ => return Ok(out),
        }
    }
    Err(ConsoleError::EndlessLog {
        log: "event log",
        pages: MAX_PAGES,
    })
}

fn message_log_selectors() -> SelectorSet {
    SelectorSet::one("Name", "Intel(r) AMT:MessageLog 1")
}

/// Reads the audit log, newest first, at most `max_records` (the newest ones).
///
/// # Errors
/// Exchange failures, a refused method, an undecodable record, a log without end.
pub async fn read_audit_log(
    client: &WsmanClient,
    max_records: usize,
    timeout: Duration,
) -> Result<Vec<AuditEntry>, ConsoleError> {
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let mut pages = 0;
    loop {
        if pages >= MAX_PAGES {
            return Err(ConsoleError::EndlessLog {
                log: "audit log",
                pages,
            });
        }
        pages += 1;
        let start = u32::try_from(raw.len() + 1).unwrap_or(u32::MAX);
        let page: ReadRecordsOutput = client
            .invoke(
                &ReadRecordsInput {
                    start_index: Some(start),
                    extra: Vec::new(),
                },
                SelectorSet::one("Name", "Intel(r) AMT:Audit Log"),
                timeout,
            )
            .await?;
        match page.return_value {
            Some(PtStatus::Success) => {}
            // Past the end of a log that shrank (rolled over) while we read.
            Some(PtStatus::InvalidIndex) if !raw.is_empty() => break,
            Some(other) => {
                return Err(ConsoleError::DeviceReturned {
                    method: "ReadRecords",
                    code: other.value(),
                    meaning: format!("{other}"),
                })
            }
            None => {
                return Err(ConsoleError::MissingField {
                    what: "ReadRecords",
                    field: "ReturnValue",
                })
            }
        }
        let records = page.records().map_err(WsmanError::Decode)?;
        if records.is_empty() {
            break;
        }
        raw.extend(records);
        let total = page.total_record_count.map_or(usize::MAX, |t| t as usize);
        if raw.len() >= total {
            break;
        }
    }
    let skip = raw.len().saturating_sub(max_records);
    let mut out = Vec::with_capacity(raw.len() - skip);
    for (i, bytes) in raw.iter().enumerate().skip(skip) {
        let r = AuditRecord::decode(bytes).map_err(|source| ConsoleError::Record {
            log: "audit log",
            source,
        })?;
        out.push(audit_entry(i + 1, &r));
    }
    out.reverse();
    Ok(out)
}

fn audit_entry(index: usize, r: &AuditRecord) -> AuditEntry {
    AuditEntry {
        index,
        code: r.code(),
        application: r
            .app_name()
            .map_or_else(|| format!("application {}", r.app_id), str::to_owned),
        event: r
            .event_name()
            .map_or_else(|| format!("event {}", r.event_id), str::to_owned),
        initiator_type: match r.initiator {
            Initiator::HttpDigest { .. } => "digest",
            Initiator::KerberosSid { .. } => "kerberos",
            Initiator::Local => "local",
            Initiator::KvmDefaultPort => "kvm",
            Initiator::Other(_) => "other",
        }
        .to_owned(),
        initiator: r.initiator.text(),
        time: r.time,
        time_text: utc_text(u64::from(r.time)),
        net_address: r.net_address_text(),
        details: r.details(),
    }
}
