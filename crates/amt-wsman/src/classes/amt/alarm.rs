//! `AMT_AlarmClockService`: wake the host at a set time. Alarms are `IPS_AlarmClockOccurrence`
//! instances created with `AddAlarm`, whose argument is an embedded occurrence.
//!
//! Sources: recorded fixtures `amt/alarmclock/*.xml`; Intel's generated class
//! `AMT_AlarmClockService.cpp` (intel/lms `CIM_Framework`: `AddAlarm(AlarmTemplate)` →
//! `AlarmClock` reference); the `AlarmTemplate` element shape MeshCentral's `amt.js` builds
//! (`<AlarmTemplate>` in the service namespace holding occurrence properties in the
//! `IPS_AlarmClockOccurrence` namespace).

use super::PtStatus;
use crate::classes::ips::IpsAlarmClockOccurrence;
use crate::classes::{CimDateTime, FieldError, FieldType, Typed};
use crate::value::{EndpointReference, Instance, Value};
use crate::xml::{Attribute, Element};

wsman_struct! {
    /// `AMT_AlarmClockService`. Source: fixture `amt/alarmclock/get.xml`.
    class AmtAlarmClockService = "AMT_AlarmClockService" {
        /// Interval of the recurring AMT alarm.
        "AMTAlarmClockInterval" => amt_alarm_clock_interval: Option<CimDateTime>,
        /// `AMT_AlarmClockService`.
        "CreationClassName" => creation_class_name: Option<String>,
        /// `Intel(r) AMT Alarm Clock Service`.
        "ElementName" => element_name: Option<String>,
        /// `Intel(r) AMT Alarm Clock Service`.
        "Name" => name: Option<String>,
        /// Next alarm.
        "NextAMTAlarmTime" => next_amt_alarm_time: Option<CimDateTime>,
        /// `CIM_ComputerSystem`.
        "SystemCreationClassName" => system_creation_class_name: Option<String>,
        /// `ManagedSystem`.
        "SystemName" => system_name: Option<String>,
    }
}

/// The `AlarmTemplate` argument of `AddAlarm`: an embedded `IPS_AlarmClockOccurrence`, kept as
/// the XML element it is on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmTemplate(pub Element);

impl AlarmTemplate {
    /// Embeds an occurrence, properties in the order MeshCentral's `amt.js` writes them
    /// (`InstanceID, ElementName, StartTime, Interval, DeleteOnCompletion`, then any others).
    /// Fails only when a property is a reference, which `IPS_AlarmClockOccurrence` does not
    /// have.
    pub fn from_occurrence(o: &IpsAlarmClockOccurrence) -> Result<Self, crate::Error> {
        const ORDER: [&str; 5] = [
            "InstanceID",
            "ElementName",
            "StartTime",
            "Interval",
            "DeleteOnCompletion",
        ];
        let mut inst = o.to_instance();
        inst.properties.sort_by_key(|p| {
            ORDER
                .iter()
                .position(|n| *n == p.name)
                .unwrap_or(ORDER.len())
        });
        let mut outer = Element::new(
            Some(&crate::ns::resource_uri("AMT_AlarmClockService")),
            "AlarmTemplate",
        );
        for p in &inst.properties {
            let child = match &p.value {
                Value::Text(t) => {
                    let mut c = Element::new(Some(&inst.namespace), &p.name);
                    c.push_text(t.clone());
                    c
                }
                Value::Nil => {
                    let mut c = Element::new(Some(&inst.namespace), &p.name);
                    c.attrs.push(Attribute {
                        ns: Some(crate::ns::XSI.into()),
                        name: "nil".into(),
                        value: "true".into(),
                    });
                    c
                }
                Value::Element(e) => e.clone(),
                Value::Epr(_) => {
                    return Err(crate::Error::Unexpected {
                        context: "AlarmTemplate",
                        found: format!("reference property {}", p.name),
                    })
                }
            };
            outer.push(child);
        }
        Ok(AlarmTemplate(outer))
    }

    /// The embedded occurrence.
    pub fn occurrence(&self) -> Result<IpsAlarmClockOccurrence, crate::Error> {
        let mut e = self.0.clone();
        e.name = IpsAlarmClockOccurrence::CLASS.into();
        e.ns = Some(IpsAlarmClockOccurrence::resource_uri());
        IpsAlarmClockOccurrence::from_instance(&Instance::from_element(&e)?)
    }
}

impl FieldType for AlarmTemplate {
    fn from_value(v: &Value) -> Result<Self, FieldError> {
        match v {
            Value::Element(e) => Ok(AlarmTemplate(e.clone())),
            _ => Err(FieldError::Invalid {
                expected: "embedded IPS_AlarmClockOccurrence",
                found: "a plain value".into(),
            }),
        }
    }
    fn to_value(&self) -> Value {
        Value::Element(self.0.clone())
    }
}

wsman_struct! {
    /// `AddAlarm_INPUT`.
    input AddAlarmInput = "AMT_AlarmClockService" . "AddAlarm" {
        /// The alarm to create.
        "AlarmTemplate" => alarm_template: Option<AlarmTemplate>,
    }
}

wsman_struct! {
    /// `AddAlarm_OUTPUT`.
    output AddAlarmOutput = "AMT_AlarmClockService" . "AddAlarm" {
        /// Reference to the new `IPS_AlarmClockOccurrence`.
        "AlarmClock" => alarm_clock: Option<EndpointReference>,
        /// Return value.
        "ReturnValue" => return_value: Option<PtStatus>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_template_embeds_an_occurrence_and_back() {
        let o = IpsAlarmClockOccurrence {
            element_name: Some("wake".into()),
            instance_id: Some("wake".into()),
            start_time: Some(CimDateTime::datetime("2024-01-03T00:45:41Z").into()),
            delete_on_completion: Some(true),
            ..Default::default()
        };
        let t = AlarmTemplate::from_occurrence(&o).unwrap();
        assert_eq!(t.0.elements().count(), 4);
        assert_eq!(t.occurrence().unwrap(), o);
        let input = AddAlarmInput {
            alarm_template: Some(t),
            ..Default::default()
        };
        let back = AddAlarmInput::from_instance(&input.to_instance()).unwrap();
        assert_eq!(back.alarm_template.unwrap().occurrence().unwrap(), o);
    }
}
