//! Log record decoders: property tests (encode→decode round trips, arbitrary bytes never panic
//! and decode canonically) and the records of the recorded device responses
//! (`../shared/fixtures/wsman-responses/amt/{messagelog/getrecords,auditlog/readrecords}.xml`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use amt_wire::logs::event::decode_event;
use amt_wire::logs::{describe_event, AuditRecord, Initiator};
use amt_wsman::classes::amt::{EventRecord, GetRecordsOutput, ReadRecordsOutput};
use amt_wsman::classes::MethodOutput;
use amt_wsman::{Response, ResponseBody};
use proptest::collection::vec;
use proptest::prelude::*;

fn initiator() -> impl Strategy<Value = Initiator> {
    prop_oneof![
        vec(any::<u8>(), 0..=255).prop_map(|user| Initiator::HttpDigest { user }),
        (any::<u32>(), vec(any::<u8>(), 0..=255)).prop_map(|(user_in_domain, domain)| {
            Initiator::KerberosSid {
                user_in_domain,
                domain,
            }
        }),
        Just(Initiator::Local),
        Just(Initiator::KvmDefaultPort),
        (4u8..=255).prop_map(Initiator::Other),
    ]
}

fn audit_record() -> impl Strategy<Value = AuditRecord> {
    (
        any::<u16>(),
        any::<u16>(),
        initiator(),
        any::<u32>(),
        any::<u8>(),
        vec(any::<u8>(), 0..=255),
        vec(any::<u8>(), 0..=255),
        vec(any::<u8>(), 0..8),
    )
        .prop_map(
            |(
                app_id,
                event_id,
                initiator,
                time,
                location,
                net_address,
                extended_data,
                trailing,
            )| {
                AuditRecord {
                    app_id,
                    event_id,
                    initiator,
                    time,
                    location,
                    net_address,
                    extended_data,
                    trailing,
                }
            },
        )
}

proptest! {
    #[test]
    fn audit_records_round_trip(r in audit_record()) {
        let bytes = r.encode().unwrap();
        let back = AuditRecord::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &r);
        // Reading it never panics, whatever the extended data.
        let _ = (back.details(), back.initiator.text(), back.net_address_text());
    }

    #[test]
    fn arbitrary_audit_bytes_decode_canonically_or_fail(b in vec(any::<u8>(), 0..300)) {
        if let Ok(r) = AuditRecord::decode(&b) {
            prop_assert_eq!(r.encode().unwrap(), b);
            let _ = (r.details(), r.app_name(), r.event_name(), r.initiator.text());
        }
    }

    #[test]
    fn event_records_round_trip_and_always_describe(b in any::<[u8; 21]>()) {
        let r = decode_event(&b).unwrap();
        prop_assert_eq!(r.encode(), b);
        let d = describe_event(&r);
        prop_assert!(!d.description.is_empty());
    }

    #[test]
    fn event_records_of_other_lengths_are_refused(b in vec(any::<u8>(), 0..64)) {
        prop_assume!(b.len() != EventRecord::LEN);
        prop_assert!(decode_event(&b).is_err());
    }
}

fn fixture(rel: &str) -> Option<Vec<u8>> {
    let base = std::env::var_os("AMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let path = base.join("wsman-responses").join(rel);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "SKIPPED: fixture {} is absent (CI always has ../shared/fixtures; set AMTD_FIXTURES to point elsewhere)",
                path.display()
            );
            None
        }
    }
}

fn output<O: MethodOutput>(xml: &[u8]) -> O {
    match Response::parse(xml).unwrap().body {
        ResponseBody::Invoke { output, .. } => O::from_instance(&output).unwrap(),
        other => panic!("not a method response: {other:?}"),
    }
}

#[test]
fn recorded_event_records_decode() {
    let Some(xml) = fixture("amt/messagelog/getrecords.xml") else {
        return;
    };
    let out: GetRecordsOutput = output(&xml);
    let records = out.records().unwrap();
    assert_eq!(records.len(), 3);
    let words: Vec<String> = records
        .iter()
        .map(|r| describe_event(r).description)
        .collect();
    assert!(
        words[0].starts_with("Out-of-band access password violation"),
        "{words:?}"
    );
    assert_eq!(words[1], "PCI resource configuration");
    assert_eq!(describe_event(&records[1]).entity, "System firmware (BIOS)");
}

#[test]
fn recorded_audit_records_decode() {
    let Some(xml) = fixture("amt/auditlog/readrecords.xml") else {
        return;
    };
    let out: ReadRecordsOutput = output(&xml);
    let records: Vec<AuditRecord> = out
        .records()
        .unwrap()
        .iter()
        .map(|b| AuditRecord::decode(b).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for (r, raw) in records.iter().zip(out.records().unwrap()) {
        assert_eq!(r.app_name(), Some("Firmware Update Manager"));
        assert_eq!(r.event_name(), Some("Firmware Updated"));
        assert_eq!(r.initiator, Initiator::Local);
        assert_eq!(r.encode().unwrap(), raw);
    }
    assert_eq!(records[1].time, records[0].time + 1);
}
