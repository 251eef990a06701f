//! Fuzz target for the platform event log record decoder in `amt_wire::logs::event`.
//!
//! Feeds arbitrary bytes to `decode_event` (and every 21-byte window of them): nothing may
//! panic, a decoded record re-encodes to the same bytes, and describing it always yields words.
#![no_main]

use amt_wire::logs::event::decode_event;
use amt_wire::logs::describe_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = decode_event(data) {
        assert_eq!(r.encode().as_slice(), data, "decode/encode round trip");
    }
    for window in data.windows(21) {
        let r = decode_event(window).expect("21 bytes always decode");
        let d = describe_event(&r);
        assert!(!d.description.is_empty());
    }
});
