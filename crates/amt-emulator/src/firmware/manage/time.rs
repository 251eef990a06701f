//! `AMT_TimeSynchronizationService` and the CIM date/time forms the other classes use.
//!
//! Clock sync (AMT-PROTOCOLS.md §2.6): the console reads `Ta0` (the device clock) with
//! `GetLowAccuracyTimeSynch`, notes its own clock `Tm1` when the answer arrives and `Tm2` just
//! before calling `SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)`. The device takes its own clock `Ta1`
//! on receipt; the round trip seen by the device is `Ta1 - Ta0`, of which `Tm2 - Tm1` was spent
//! in the console, so the one-way delay is `((Ta1 - Ta0) - (Tm2 - Tm1)) / 2` and the device sets
//! its clock to `Tm2 + delay`. `Ta0` must be the value the device handed out last (one use);
//! anything else, or `Tm2 < Tm1`, is `PT_STATUS_INVALID_PARAMETER` (36), the only error besides
//! internal ones the method's value map lists (go-wsman-messages
//! `amt/timesynchronization`; Intel's class reference names `Ta0` "the value returned by
//! GetLowAccuracyTimeSynch").

use amt_wsman::classes::amt::{
    AmtTimeSynchronizationService, GetLowAccuracyTimeSynchOutput, LocalTimeSyncEnabled, PtStatus,
    SetHighAccuracyTimeSynchInput, SetHighAccuracyTimeSynchOutput, TimeSource,
};
use amt_wsman::classes::cim::{EnabledState, RequestedState};
use amt_wsman::classes::Typed;
use amt_wsman::{Instance, ResponseBody};

use super::logs::{self, audit_events};
use super::reply;
use crate::firmware::{Caller, Env, Firmware};

/// The one `AMT_TimeSynchronizationService` instance.
pub(super) fn instances(fw: &Firmware) -> Vec<Instance> {
    let s = AmtTimeSynchronizationService {
        creation_class_name: Some("AMT_TimeSynchronizationService".into()),
        element_name: Some("Intel(r) AMT Time Synchronization Service".into()),
        enabled_state: Some(EnabledState::NotApplicable),
        local_time_sync_enabled: Some(LocalTimeSyncEnabled::DefaultTrue),
        name: Some("Intel(r) AMT Time Synchronization Service".into()),
        requested_state: Some(RequestedState::NotApplicable),
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("Intel(r) AMT".into()),
        time_source: Some(if fw.state.manage.time.synchronised {
            TimeSource::Configured
        } else {
            TimeSource::BiosRtc
        }),
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

/// `GetLowAccuracyTimeSynch`: the device clock as `Ta0`.
pub(super) fn get_low_accuracy(fw: &mut Firmware, env: &Env<'_>) -> ResponseBody {
    let ta0 = u32::try_from(fw.device_time(env)).unwrap_or(u32::MAX);
    fw.state.manage.time.last_ta0 = Some(ta0);
    fw.changed();
    reply(GetLowAccuracyTimeSynchOutput {
        ta0: Some(ta0),
        return_value: Some(PtStatus::Success),
        extra: Vec::new(),
    })
}

/// `SetHighAccuracyTimeSynch`: sets the device clock (see the module docs for the maths).
pub(super) fn set_high_accuracy(
    fw: &mut Firmware,
    input: &SetHighAccuracyTimeSynchInput,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let status = match (input.ta0, input.tm1, input.tm2) {
        (Some(ta0), Some(tm1), Some(tm2))
            if fw.state.manage.time.last_ta0 == Some(ta0) && tm2 >= tm1 =>
        {
            let ta1 = fw.device_time(env) as i64;
            let round_trip = ta1 - i64::from(ta0);
            let held = i64::from(tm2) - i64::from(tm1);
            let delay = ((round_trip - held) / 2).max(0);
            let new_time = i64::from(tm2) + delay;
            fw.state.clock_offset_secs = new_time - env.now as i64;
            fw.state.manage.time.last_ta0 = None;
            fw.state.manage.time.synchronised = true;
            let set = u32::try_from(new_time.max(0)).unwrap_or(u32::MAX);
            logs::audit(
                fw,
                Some(caller),
                env,
                audit_events::ME_TIME_SET,
                &set.to_be_bytes(),
            );
            PtStatus::Success
        }
        _ => PtStatus::InvalidParameter,
    };
    fw.changed();
    reply(SetHighAccuracyTimeSynchOutput {
        return_value: Some(status),
        extra: Vec::new(),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub fn format_datetime(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Reads `YYYY-MM-DDTHH:MM:SS` with an optional fraction and `Z` or `±HH:MM` offset.
pub fn parse_datetime(s: &str) -> Option<u64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let oh: i64 = o.get(1..3)?.parse().ok()?;
            let om: i64 = o.get(4..6)?.parse().ok()?;
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let t = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    u64::try_from(t).ok()
}

/// Reads an xs:duration / CIM interval such as `P1DT2H30M` or `PT3600S` into seconds (years and
/// months are not accepted: their length depends on the date).
pub fn parse_interval(s: &str) -> Option<u64> {
    let rest = s.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total: u64 = 0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                let (_, mult) = units.iter().find(|(u, _)| *u == c)?;
                let n: u64 = num.parse().ok()?;
                total = total.checked_add(n.checked_mul(*mult)?)?;
                num.clear();
                any = true;
            }
        }
        num.is_empty().then_some(())
    };
    take(date, &[('D', 86_400)])?;
    if let Some(t) = time {
        take(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    any.then_some(total)
}

/// Seconds as an xs:duration (`P1DT2H3M4S`).
pub fn format_interval(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    format!("P{d}DT{h}H{m}M{s}S")
}

// Proleptic Gregorian calendar conversions (days relative to 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_round_trips_through_text() {
        // The fixture amt/auditlog/get.xml's TimeOfLastRecord.
        let t = parse_datetime("2024-01-03T00:44:35Z");
        assert_eq!(t, Some(1_704_242_675));
        assert_eq!(format_datetime(1_704_242_675), "2024-01-03T00:44:35Z");
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_datetime("2024-02-29T12:00:00.5+01:00"),
            Some(1_709_204_400)
        );
        assert_eq!(parse_datetime("testdatetime"), None);
        assert_eq!(parse_datetime("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn intervals_parse_days_hours_minutes_seconds() {
        assert_eq!(parse_interval("P1DT2H30M"), Some(86_400 + 9_000));
        assert_eq!(parse_interval("PT3600S"), Some(3600));
        assert_eq!(parse_interval("P0D"), Some(0));
        assert_eq!(parse_interval("P1Y"), None);
        assert_eq!(parse_interval("0"), None);
        assert_eq!(parse_interval(&format_interval(93_784)), Some(93_784));
    }
}
