//! Records the connections to the hello port that produced no hello (SPEC P1: "records every
//! hello with its source and time"): malformed bytes, bogus UUIDs, HTTP probes, timeouts,
//! rate-limited and overloaded connections, each with its reason in words.
//!
//! Bounded by construction: the listener folds repeated rejections of one kind from one source
//! into one summary event per interval ([`HelloEvent::count`]), so a flood becomes a couple of
//! rows per source, kind and second, each with the number of connections it stands for.
//! Accepted hellos are recorded by the server core with what it did with them.

use amt_wire::hello::HelloError;
use amtd_infra::hello_listener::{HelloEvent, HelloOutcome, RejectReason};
use amtd_infra::store::{RejectedHello, Store};

/// Stores one rejection (or summary of several) from the listener. Accepted hellos are not
/// this function's business and are ignored. Store failures are logged, never fatal: the
/// hello loop must go on.
pub(super) async fn record_rejected(store: &Store, event: &HelloEvent) {
    let Some(row) = row(event) else {
        return;
    };
    if let Err(e) = store.record_rejected_hello(&row).await {
        tracing::error!(error = %e, peer = %event.source, "could not record a rejected hello");
    }
}

/// The row for a rejection event (`None` for an accepted hello).
fn row(event: &HelloEvent) -> Option<RejectedHello> {
    let (uuid, what) = match &event.outcome {
        HelloOutcome::Accepted(_) => return None,
        HelloOutcome::RateLimited => (
            None,
            "rate-limited: the source is over its hello budget; closed unread".to_owned(),
        ),
        HelloOutcome::Rejected(reason) => {
            let uuid = match reason {
                RejectReason::Malformed(HelloError::BogusUuid(u)) => {
                    Some(u.to_string().to_ascii_lowercase())
                }
                _ => None,
            };
            (uuid, format!("rejected ({}): {reason}", reason.kind()))
        }
    };
    let outcome = if event.count > 1 {
        format!(
            "{what} ({} connections from this source, the first at received_at)",
            event.count
        )
    } else {
        what
    };
    Some(RejectedHello {
        device_uuid: uuid,
        source: event.source.to_string(),
        received_at: event.time,
        outcome,
        count: event.count.max(1),
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use amt_wire::hello::Uuid16;

    use super::*;

    fn event(outcome: HelloOutcome, count: u32) -> HelloEvent {
        HelloEvent {
            source: "127.0.0.9:4000".parse().unwrap_or_else(|_| unreachable!()),
            time: SystemTime::UNIX_EPOCH,
            outcome,
            count,
        }
    }

    #[test]
    fn bogus_uuid_is_recorded_with_the_uuid_and_the_reason() {
        let zero = Uuid16::from_wire_bytes([0; 16]);
        let r = row(&event(
            HelloOutcome::Rejected(RejectReason::Malformed(HelloError::BogusUuid(zero))),
            1,
        ));
        let Some(r) = r else { panic!("no row") };
        assert_eq!(
            r.device_uuid.as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        assert!(
            r.outcome.starts_with("rejected (bogus_uuid): "),
            "{}",
            r.outcome
        );
        assert!(r.outcome.contains("bogus device UUID"), "{}", r.outcome);
        assert_eq!((r.count, r.source.as_str()), (1, "127.0.0.9:4000"));
    }

    #[test]
    fn summary_says_how_many_connections_it_stands_for() {
        let Some(r) = row(&event(HelloOutcome::RateLimited, 5000)) else {
            panic!("no row")
        };
        assert_eq!(r.count, 5000);
        assert!(r.device_uuid.is_none());
        assert!(r.outcome.starts_with("rate-limited"), "{}", r.outcome);
        assert!(r.outcome.contains("5000 connections"), "{}", r.outcome);
    }

    #[test]
    fn accepted_hellos_are_left_to_the_core() {
        let hello = amt_wire::hello::Hello::psk(false, 0, Uuid16::from_wire_bytes([7; 16]), [0; 8]);
        assert!(row(&event(HelloOutcome::Accepted(hello), 1)).is_none());
    }
}
