//! Device clock re-sync (M11; Kerberos needs clocks within minutes): the device clock is read
//! with `GetLowAccuracyTimeSynch` (`Ta0`) and, when it is off by more than the policy allows,
//! set with `SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2)` (AMT-PROTOCOLS.md §2.6): `Tm1` is the
//! console's clock when `Ta0` arrived, `Tm2` its clock just before the call. The console's clock
//! is the real one, never a pass's evaluation time.

use std::time::Duration;

/// Seconds the device clock is ahead of the console's (negative: behind).
pub fn skew_secs(device_secs: u64, console_secs: u64) -> i64 {
    i64::try_from(device_secs)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(console_secs).unwrap_or(i64::MAX))
}

/// Whether a device clock off by `skew_secs` must be set again (`threshold` exceeded).
pub fn needs_sync(skew_secs: i64, threshold: Duration) -> bool {
    skew_secs.unsigned_abs() > threshold.as_secs()
}

/// `(Ta0, Tm1, Tm2)` for `SetHighAccuracyTimeSynch`: `Tm2` is never before `Tm1` (the device
/// refuses that).
pub fn set_arguments(ta0: u32, tm1_secs: u64, tm2_secs: u64) -> (u32, u32, u32) {
    let tm1 = u32::try_from(tm1_secs).unwrap_or(u32::MAX);
    let tm2 = u32::try_from(tm2_secs).unwrap_or(u32::MAX).max(tm1);
    (ta0, tm1, tm2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_is_set_only_beyond_the_threshold_either_way() {
        let t = Duration::from_secs(60);
        assert_eq!(skew_secs(1_000_100, 1_000_000), 100);
        assert_eq!(skew_secs(1_000_000, 1_000_100), -100);
        assert!(needs_sync(100, t) && needs_sync(-100, t));
        assert!(!needs_sync(60, t) && !needs_sync(-59, t));
    }

    #[test]
    fn tm2_never_precedes_tm1() {
        assert_eq!(set_arguments(5, 100, 99), (5, 100, 100));
        assert_eq!(set_arguments(5, 100, 101), (5, 100, 101));
    }
}
