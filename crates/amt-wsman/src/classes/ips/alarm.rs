//! `IPS_AlarmClockOccurrence`: one alarm of `AMT_AlarmClockService` (created with `AddAlarm`,
//! removed with Delete).
//!
//! Sources: Intel's generated class `IPS_AlarmClockOccurrence.cpp` (intel/lms
//! `CIM_Framework`: `StartTime` and `Interval` are datetimes); MeshCentral's `amt.js`, which
//! wraps them in `<Datetime>` / `<Interval>` of the CIM common namespace; recorded fixtures
//! `ips/alarmclock/*.xml`, which carry them as plain text (`testdatetime`, `0`), hence
//! [`AlarmTime`].

use crate::classes::{CimDateTime, FieldError, FieldType};
use crate::value::Value;

/// `StartTime` / `Interval` of an alarm: a CIM datetime wrapper as consoles write it, or plain
/// text as in the recorded fixture `ips/alarmclock/get.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmTime {
    /// `<Datetime>…</Datetime>` or `<Interval>…</Interval>`.
    Cim(CimDateTime),
    /// Plain text.
    Text(String),
}

impl AlarmTime {
    /// The value text, whichever form it came in.
    pub fn value(&self) -> &str {
        match self {
            AlarmTime::Cim(d) => &d.value,
            AlarmTime::Text(t) => t,
        }
    }
}

impl From<CimDateTime> for AlarmTime {
    fn from(d: CimDateTime) -> Self {
        AlarmTime::Cim(d)
    }
}

impl FieldType for AlarmTime {
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        match v {
            Value::Text(t) => Ok(AlarmTime::Text(t.clone())),
            other => CimDateTime::from_value(other).map(AlarmTime::Cim),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            AlarmTime::Cim(d) => d.to_value(),
            AlarmTime::Text(t) => Value::Text(t.clone()),
        }
    }
}

wsman_struct! {
    /// `IPS_AlarmClockOccurrence`.
    class IpsAlarmClockOccurrence = "IPS_AlarmClockOccurrence" {
        /// Delete the alarm once it fired.
        "DeleteOnCompletion" => delete_on_completion: Option<bool>,
        /// Alarm name.
        "ElementName" => element_name: Option<String>,
        /// Alarm key.
        "InstanceID" => instance_id: Option<String>,
        /// Repeat interval (a CIM interval), absent for a one-shot alarm.
        "Interval" => interval: Option<AlarmTime>,
        /// First time the alarm fires (UTC).
        "StartTime" => start_time: Option<AlarmTime>,
    }
}
