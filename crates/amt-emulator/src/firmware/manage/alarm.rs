//! Alarm clock: `AMT_AlarmClockService` (`AddAlarm`) and its `IPS_AlarmClockOccurrence`
//! instances (Get, Enumerate, Delete). [`Firmware::fire_due_alarms`] wakes the host when an
//! alarm is due (the caller drives it with the device clock, as everything else here).
//!
//! `AddAlarm` answers `PT_STATUS_DUPLICATE` (2058) for an `InstanceID` already in use,
//! `PT_STATUS_MAX_LIMIT_REACHED` (23) past [`MAX_ALARMS`], and `PT_STATUS_INVALID_PARAMETER`
//! (36) for a missing name or a start time that is not a date/time; those are the codes of the
//! method's value map. An `Interval` of zero (or none) makes a one-shot alarm.

use amt_wsman::classes::amt::{AddAlarmInput, AddAlarmOutput, AmtAlarmClockService, PtStatus};
use amt_wsman::classes::ips::{AlarmTime, IpsAlarmClockOccurrence};
use amt_wsman::classes::{CimDateTime, Typed};
use amt_wsman::{EndpointReference, Fault, Instance, ResponseBody, SelectorSet};

use super::boot::{self, BootCause};
use super::logs::{self, audit_events};
use super::reply;
use super::store::Alarm;
use super::time::{format_datetime, format_interval, parse_datetime, parse_interval};
use crate::firmware::{Env, Firmware, FirmwareEvent};

/// Most alarms a device keeps.
pub const MAX_ALARMS: usize = 5;

/// The `AMT_AlarmClockService` instance (fixture `amt/alarmclock/get.xml`).
pub(super) fn service_instances(fw: &Firmware) -> Vec<Instance> {
    let next = fw
        .state
        .manage
        .alarms
        .iter()
        .filter(|a| !a.fired)
        .map(|a| a.start)
        .min();
    let s = AmtAlarmClockService {
        amt_alarm_clock_interval: None,
        creation_class_name: Some("AMT_AlarmClockService".into()),
        element_name: Some("Intel(r) AMT Alarm Clock Service".into()),
        name: Some("Intel(r) AMT Alarm Clock Service".into()),
        next_amt_alarm_time: next.map(|t| CimDateTime::datetime(&format_datetime(t))),
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("ManagedSystem".into()),
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

/// `IPS_AlarmClockOccurrence` instances.
pub(super) fn occurrence_instances(fw: &Firmware) -> Vec<Instance> {
    fw.state
        .manage
        .alarms
        .iter()
        .map(|a| {
            IpsAlarmClockOccurrence {
                delete_on_completion: Some(a.delete_on_completion),
                element_name: Some(a.element_name.clone()),
                instance_id: Some(a.instance_id.clone()),
                interval: a.interval_secs.map(|s| {
                    AlarmTime::Cim(CimDateTime {
                        kind: "Interval".into(),
                        ns: Some(amt_wsman::ns::CIM_COMMON.into()),
                        value: format_interval(s),
                    })
                }),
                start_time: Some(AlarmTime::Cim(CimDateTime::datetime(&format_datetime(
                    a.start,
                )))),
                extra: Vec::new(),
            }
            .to_instance()
        })
        .collect()
}

fn add(fw: &mut Firmware, input: &AddAlarmInput) -> Result<String, PtStatus> {
    let o = input
        .alarm_template
        .as_ref()
        .and_then(|t| t.occurrence().ok())
        .ok_or(PtStatus::InvalidParameter)?;
    let id = o
        .instance_id
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or(PtStatus::InvalidParameter)?;
    let start = o
        .start_time
        .as_ref()
        .and_then(|t| parse_datetime(t.value()))
        .ok_or(PtStatus::InvalidParameter)?;
    let interval = match o.interval.as_ref().map(AlarmTime::value) {
        None | Some("0") => None,
        Some(v) => Some(parse_interval(v).ok_or(PtStatus::InvalidParameter)?),
    }
    .filter(|s| *s > 0);
    let alarms = &mut fw.state.manage.alarms;
    if alarms.iter().any(|a| a.instance_id == id) {
        return Err(PtStatus::Duplicate);
    }
    if alarms.len() >= MAX_ALARMS {
        return Err(PtStatus::MaxLimitReached);
    }
    alarms.push(Alarm {
        instance_id: id.clone(),
        element_name: o.element_name.clone().unwrap_or_else(|| id.clone()),
        start,
        interval_secs: interval,
        delete_on_completion: o.delete_on_completion.unwrap_or(false),
        fired: false,
    });
    fw.changed();
    Ok(id)
}

/// `AddAlarm`.
pub(super) fn add_alarm(fw: &mut Firmware, input: &AddAlarmInput) -> ResponseBody {
    let out = match add(fw, input) {
        Ok(id) => AddAlarmOutput {
            alarm_clock: Some(EndpointReference::to_class(
                "IPS_AlarmClockOccurrence",
                SelectorSet::one("InstanceID", &id),
            )),
            return_value: Some(PtStatus::Success),
            extra: Vec::new(),
        },
        Err(status) => AddAlarmOutput {
            alarm_clock: None,
            return_value: Some(status),
            extra: Vec::new(),
        },
    };
    reply(out)
}

/// Delete an `IPS_AlarmClockOccurrence`.
pub(super) fn delete(fw: &mut Firmware, selectors: &SelectorSet) -> ResponseBody {
    let Some(id) = selectors.get("InstanceID") else {
        return ResponseBody::Fault(Fault::invalid_selectors());
    };
    let before = fw.state.manage.alarms.len();
    fw.state.manage.alarms.retain(|a| a.instance_id != id);
    if fw.state.manage.alarms.len() == before {
        return ResponseBody::Fault(Fault::invalid_selectors());
    }
    fw.changed();
    ResponseBody::Delete(None)
}

impl Firmware {
    /// Fires every alarm whose time has come on the device clock: an off, sleeping or
    /// hibernating host powers up (audited as a power-up by the platform, with
    /// [`FirmwareEvent::PowerChanged`]). Repeating alarms move to their next time, one-shot
    /// alarms are deleted or kept as fired. Returns how many alarms fired.
    pub fn fire_due_alarms(&mut self, env: &Env<'_>) -> usize {
        let now = self.device_time(env);
        let mut fired = 0;
        let mut i = 0;
        while i < self.state.manage.alarms.len() {
            let a = &mut self.state.manage.alarms[i];
            if a.fired || a.start > now {
                i += 1;
                continue;
            }
            fired += 1;
            let keep = match a.interval_secs {
                Some(iv) => {
                    let periods = (now - a.start) / iv + 1;
                    a.start = a.start.saturating_add(periods.saturating_mul(iv));
                    true
                }
                None if a.delete_on_completion => false,
                None => {
                    a.fired = true;
                    true
                }
            };
            if keep {
                i += 1;
            } else {
                self.state.manage.alarms.remove(i);
            }
        }
        if fired > 0 {
            if self.state.power_state != 2 {
                logs::audit(self, None, env, audit_events::POWER_UP, &[]);
                self.state.power_state = 2;
                self.state.manage.power.os_power_saving_state = 2;
                boot::host_boots(self, env, BootCause::PowerUp);
                self.emit(FirmwareEvent::PowerChanged(2));
            }
            self.changed();
        }
        fired
    }
}
