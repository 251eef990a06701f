//! Fuzz target for the security audit log record decoder in `amt_wire::logs::audit`.
//!
//! Feeds arbitrary bytes to `AuditRecord::decode` (and to every suffix, as a device's record
//! array would be read): nothing may panic, whatever decodes re-encodes to the same bytes, and
//! reading the record in words (names, initiator, address, extended data) never panics.
#![no_main]

use amt_wire::logs::AuditRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for start in 0..data.len().min(32) {
        if let Ok(r) = AuditRecord::decode(&data[start..]) {
            assert_eq!(
                r.encode().expect("a decoded record re-encodes"),
                &data[start..],
                "decode/encode round trip"
            );
            let _ = (
                r.details(),
                r.app_name(),
                r.event_name(),
                r.initiator.text(),
                r.net_address_text(),
            );
        }
    }
});
