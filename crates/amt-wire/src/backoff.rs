//! The device's hello retry schedule (SPEC D4), as a sans-IO state machine.
//!
//! A device in setup mode sends a hello; when it cannot reach the provisioning server it waits
//! and tries again, with the wait growing in three phases, then gives up:
//!
//! | attempt (retry count) | wait after a failed attempt |
//! |---|---|
//! | 0–4   | 1 minute |
//! | 5–9   | 10 minutes |
//! | 10–14 | 1 hour |
//!
//! That is 15 attempts (retry counts 0–14, the range Intel documents) at 0, 1, 2, 3, 4, 5, 15,
//! 25, 35, 45, 55, 115, 175, 235 and 295 minutes, and the device gives up one hour after the
//! last one failed: 5 × 1 min + 5 × 10 min + 5 × 1 h = 5 h 55 min after the first attempt
//! ("about six hours" in Intel's and Symantec's wording). Each wait is counted from the moment
//! the failure was reported, so a slow connection timeout shifts the rest of the schedule the
//! way it does on a device.
//!
//! [`HelloSchedule`] runs the table against caller-supplied time; a time scale divides every
//! wait so tests and labs can run the six hours in seconds (`3600`: an hour becomes a second).
//!
//! ```
//! use std::time::Duration;
//! use amt_wire::backoff::{HelloSchedule, Next};
//!
//! let mut schedule = HelloSchedule::new(3600);
//! let mut now = Duration::ZERO; // the caller's clock; here a virtual one
//! let mut sent = Vec::new();
//! loop {
//!     match schedule.next(now) {
//!         Next::SendNow { retry_count } => {
//!             sent.push(retry_count); // connect to 9971 and write the hello here
//!             schedule.on_result(false, now); // the server was unreachable
//!         }
//!         Next::WaitUntil(t) => now = t, // sleep until `t` here
//!         Next::GaveUp => break,
//!         Next::AwaitingResult { .. } | Next::Delivered { .. } => unreachable!(),
//!     }
//! }
//! assert_eq!(sent, (0..15).collect::<Vec<u32>>());
//! assert!(now < Duration::from_secs(6)); // 5 h 55 min at 3600×
//! ```

use std::time::Duration;

/// Number of hello attempts before the device gives up.
pub const ATTEMPTS: u32 = 15;

const MINUTE: Duration = Duration::from_secs(60);

/// Wait after each failed attempt, indexed by retry count.
const WAITS: [Duration; ATTEMPTS as usize] = [
    MINUTE,
    MINUTE,
    MINUTE,
    MINUTE,
    MINUTE,
    Duration::from_secs(10 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(3600),
    Duration::from_secs(3600),
    Duration::from_secs(3600),
    Duration::from_secs(3600),
];

/// The (unscaled) wait after attempt `retry_count` fails; `None` past the last attempt. After
/// the last attempt (14) this is the wait before giving up.
pub fn wait_after_attempt(retry_count: u32) -> Option<Duration> {
    WAITS.get(usize::try_from(retry_count).ok()?).copied()
}

/// The (unscaled) wait before attempt `retry_count`, counted from the failure of the previous
/// one: zero for attempt 0, then 1 min (attempts 1–5), 10 min (6–10), 1 h (11–14); `None`
/// for retry counts of 15 and above, which are never sent.
pub fn delay_before_attempt(retry_count: u32) -> Option<Duration> {
    match retry_count {
        0 => Some(Duration::ZERO),
        n if n < ATTEMPTS => wait_after_attempt(n - 1),
        _ => None,
    }
}

/// How long (unscaled) after the first attempt the device gives up when every attempt fails
/// at once: 5 h 55 min.
pub fn give_up_after() -> Duration {
    WAITS.iter().sum()
}

/// What the device should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Open the connection and send a hello carrying this retry count, then report the
    /// outcome with [`HelloSchedule::on_result`].
    SendNow {
        /// The retry count to put in the hello (0–14).
        retry_count: u32,
    },
    /// Nothing to do before this instant (same epoch as the `now` values passed in).
    WaitUntil(Duration),
    /// A hello is in flight and its outcome has not been reported yet.
    AwaitingResult {
        /// The retry count of the hello in flight.
        retry_count: u32,
    },
    /// A hello reached the server; the schedule is over.
    Delivered {
        /// The retry count of the hello that got through.
        retry_count: u32,
    },
    /// Every attempt failed and the final wait is over; the device stops sending hellos.
    GaveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Attempt `retry_count` is due at `at` (`None`: at once).
    Due {
        retry_count: u32,
        at: Option<Duration>,
    },
    InFlight {
        retry_count: u32,
    },
    /// The last attempt failed; give up at `at`.
    GivingUp {
        at: Duration,
    },
    Delivered {
        retry_count: u32,
    },
    GaveUp,
}

/// The hello retry schedule of one device (one setup-mode episode). See the
/// [module documentation](self) for the table.
///
/// Drive it with [`HelloSchedule::next`] whenever the device wakes up, and
/// [`HelloSchedule::on_result`] after each send. Time is a [`Duration`] since any epoch the
/// caller likes (a monotonic clock's start, a virtual clock's zero), and must not go backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloSchedule {
    time_scale: u32,
    state: State,
}

impl HelloSchedule {
    /// A schedule whose first attempt is due at once. Every wait is divided by `time_scale`
    /// (`1`: real time; `3600`: an hour becomes a second); `0` is treated as `1`.
    pub fn new(time_scale: u32) -> Self {
        Self {
            time_scale: time_scale.max(1),
            state: State::Due {
                retry_count: 0,
                at: None,
            },
        }
    }

    /// The divisor applied to every wait (at least 1).
    pub fn time_scale(&self) -> u32 {
        self.time_scale
    }

    /// `delay` divided by the time scale.
    pub fn scaled(&self, delay: Duration) -> Duration {
        delay / self.time_scale
    }

    /// What to do at `now`. Returns [`Next::SendNow`] once per attempt, when it is due (or
    /// overdue); calling again before [`HelloSchedule::on_result`] gives
    /// [`Next::AwaitingResult`].
    pub fn next(&mut self, now: Duration) -> Next {
        match self.state {
            State::Due { retry_count, at } => match at {
                Some(at) if now < at => Next::WaitUntil(at),
                _ => {
                    self.state = State::InFlight { retry_count };
                    Next::SendNow { retry_count }
                }
            },
            State::InFlight { retry_count } => Next::AwaitingResult { retry_count },
            State::GivingUp { at } if now < at => Next::WaitUntil(at),
            State::GivingUp { .. } => {
                self.state = State::GaveUp;
                Next::GaveUp
            }
            State::Delivered { retry_count } => Next::Delivered { retry_count },
            State::GaveUp => Next::GaveUp,
        }
    }

    /// Reports the outcome of the hello in flight: `sent_ok` when the connection opened and
    /// the hello was written (the server never replies), false when the server could not be
    /// reached. Success ends the schedule; failure schedules the next attempt (or the give-up)
    /// one scaled wait after `now`. Ignored when no hello is in flight.
    pub fn on_result(&mut self, sent_ok: bool, now: Duration) {
        let State::InFlight { retry_count } = self.state else {
            return;
        };
        self.state = if sent_ok {
            State::Delivered { retry_count }
        } else {
            let wait = self.scaled(wait_after_attempt(retry_count).unwrap_or(Duration::ZERO));
            let at = now.saturating_add(wait);
            if retry_count + 1 < ATTEMPTS {
                State::Due {
                    retry_count: retry_count + 1,
                    at: Some(at),
                }
            } else {
                State::GivingUp { at }
            }
        };
    }

    /// How many hellos have been handed out with [`Next::SendNow`].
    pub fn attempts_made(&self) -> u32 {
        match self.state {
            State::Due { retry_count, .. } => retry_count,
            State::InFlight { retry_count } | State::Delivered { retry_count } => retry_count + 1,
            State::GivingUp { .. } | State::GaveUp => ATTEMPTS,
        }
    }

    /// True once a hello was delivered or the device gave up.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Delivered { .. } | State::GaveUp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;

    /// Runs the schedule with every attempt failing at once; returns the send times with their
    /// retry counts, and the give-up time.
    fn run_all_failing(scale: u32) -> (Vec<(Duration, u32)>, Duration) {
        let mut s = HelloSchedule::new(scale);
        let mut now = Duration::ZERO;
        let mut sends = Vec::new();
        for _ in 0..100 {
            match s.next(now) {
                Next::SendNow { retry_count } => {
                    sends.push((now, retry_count));
                    assert_eq!(s.next(now), Next::AwaitingResult { retry_count });
                    s.on_result(false, now);
                }
                Next::WaitUntil(t) => {
                    assert!(t > now, "waits must move forward");
                    now = t;
                }
                Next::GaveUp => return (sends, now),
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("schedule did not end");
    }

    #[test]
    fn delay_table_matches_spec_d4() {
        let expected_min = [0u64, 1, 1, 1, 1, 1, 10, 10, 10, 10, 10, 60, 60, 60, 60];
        for (n, m) in expected_min.iter().enumerate() {
            let n = u32::try_from(n).unwrap();
            assert_eq!(
                delay_before_attempt(n),
                Some(Duration::from_secs(m * MIN)),
                "attempt {n}"
            );
        }
        assert_eq!(delay_before_attempt(15), None);
        assert_eq!(delay_before_attempt(u32::MAX), None);
        assert_eq!(wait_after_attempt(14), Some(Duration::from_secs(60 * MIN)));
        assert_eq!(wait_after_attempt(15), None);
        assert_eq!(
            give_up_after(),
            Duration::from_secs(5 * MIN + 50 * MIN + 5 * 60 * MIN)
        );
    }

    #[test]
    fn fifteen_attempts_with_retry_counts_in_order_then_give_up() {
        let (sends, gave_up_at) = run_all_failing(1);
        let minutes: Vec<u64> = sends.iter().map(|(t, _)| t.as_secs() / MIN).collect();
        assert_eq!(
            minutes,
            [0, 1, 2, 3, 4, 5, 15, 25, 35, 45, 55, 115, 175, 235, 295]
        );
        assert!(sends
            .iter()
            .all(|(t, _)| t.subsec_nanos() == 0 && t.as_secs() % MIN == 0));
        let counts: Vec<u32> = sends.iter().map(|&(_, n)| n).collect();
        assert_eq!(counts, (0..15).collect::<Vec<_>>());
        assert_eq!(gave_up_at, give_up_after());
        assert_eq!(gave_up_at, Duration::from_secs((5 * 60 + 55) * MIN));
    }

    #[test]
    fn time_scale_divides_every_wait() {
        let (real, real_end) = run_all_failing(1);
        for scale in [2u32, 60, 3600, 1_000_000] {
            let (fast, fast_end) = run_all_failing(scale);
            assert_eq!(fast.len(), real.len());
            for (f, r) in fast.iter().zip(&real) {
                assert_eq!(f.1, r.1);
                // Each wait is divided (truncating to whole nanoseconds), then summed.
                let diff = f.0.abs_diff(r.0 / scale);
                assert!(
                    diff < Duration::from_nanos(16),
                    "scale {scale}: {f:?} vs {r:?}"
                );
            }
            assert!(fast_end.abs_diff(real_end / scale) < Duration::from_nanos(16));
        }
        // 3600: an hour becomes a second, the whole schedule 5 min 55 s / 60 ≈ 5.9 s.
        let (_, end) = run_all_failing(3600);
        assert_eq!(end, Duration::from_nanos(5_916_666_660));
    }

    #[test]
    fn zero_time_scale_is_real_time() {
        assert_eq!(HelloSchedule::new(0).time_scale(), 1);
        assert_eq!(run_all_failing(0), run_all_failing(1));
    }

    #[test]
    fn success_stops_the_schedule() {
        let mut s = HelloSchedule::new(1);
        let mut now = Duration::ZERO;
        assert_eq!(s.next(now), Next::SendNow { retry_count: 0 });
        s.on_result(false, now);
        assert_eq!(s.next(now), Next::WaitUntil(Duration::from_secs(MIN)));
        now = Duration::from_secs(MIN);
        assert_eq!(s.next(now), Next::SendNow { retry_count: 1 });
        s.on_result(true, now);
        assert!(s.is_finished());
        assert_eq!(s.attempts_made(), 2);
        for later in [now, now * 1000] {
            assert_eq!(s.next(later), Next::Delivered { retry_count: 1 });
        }
        // A stray report changes nothing.
        s.on_result(false, now);
        assert_eq!(s.next(now), Next::Delivered { retry_count: 1 });
    }

    #[test]
    fn waking_early_waits_and_waking_late_sends_once() {
        let mut s = HelloSchedule::new(1);
        assert_eq!(s.next(Duration::ZERO), Next::SendNow { retry_count: 0 });
        s.on_result(false, Duration::ZERO);
        let due = Duration::from_secs(MIN);
        assert_eq!(s.next(due / 2), Next::WaitUntil(due));
        // Overslept by a day: one hello, not a burst of catch-up hellos.
        let late = Duration::from_secs(86_400);
        assert_eq!(s.next(late), Next::SendNow { retry_count: 1 });
        assert_eq!(s.next(late), Next::AwaitingResult { retry_count: 1 });
        s.on_result(false, late);
        assert_eq!(s.next(late), Next::WaitUntil(late + due));
    }

    #[test]
    fn waits_count_from_the_reported_failure() {
        let mut s = HelloSchedule::new(1);
        assert_eq!(s.next(Duration::ZERO), Next::SendNow { retry_count: 0 });
        // The connection attempt took 20 s to time out.
        let failed_at = Duration::from_secs(20);
        s.on_result(false, failed_at);
        assert_eq!(
            s.next(failed_at),
            Next::WaitUntil(failed_at + Duration::from_secs(MIN))
        );
    }

    #[test]
    fn result_without_a_hello_in_flight_is_ignored() {
        let mut s = HelloSchedule::new(1);
        s.on_result(true, Duration::ZERO);
        assert_eq!(s.attempts_made(), 0);
        assert_eq!(s.next(Duration::ZERO), Next::SendNow { retry_count: 0 });
    }

    #[test]
    fn gave_up_is_final() {
        let mut s = HelloSchedule::new(3600);
        let mut now = Duration::ZERO;
        loop {
            match s.next(now) {
                Next::SendNow { .. } => s.on_result(false, now),
                Next::WaitUntil(t) => now = t,
                Next::GaveUp => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(s.is_finished());
        assert_eq!(s.attempts_made(), ATTEMPTS);
        assert_eq!(s.next(now * 2), Next::GaveUp);
        s.on_result(true, now);
        assert_eq!(s.next(now * 2), Next::GaveUp);
    }
}
