//! Fuzz target for the redirection codec in `amt_wire::redirection`.
//!
//! Feeds arbitrary bytes to `Message::decode_prefix` and to a `RedirectionDecoder` (segment
//! sizes taken from the input itself). Checks that nothing panics, that whatever decodes
//! re-encodes to a message decoding to the same value, and that the streaming decoder yields
//! the same messages as repeated one-shot decoding.
#![no_main]

use amt_wire::redirection::{Message, RedirectionDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut oneshot = Vec::new();
    let mut rest = data;
    while let Ok(Some((m, len))) = Message::decode_prefix(rest) {
        assert!(len > 0 && len <= rest.len());
        let again = m.encode().expect("a decoded message re-encodes");
        assert_eq!(
            Message::decode(&again).expect("re-decodes"),
            m,
            "round trip"
        );
        oneshot.push(m);
        rest = &rest[len..];
    }

    let mut decoder = RedirectionDecoder::new();
    let mut streamed = Vec::new();
    let mut rest = data;
    let mut sizes = data.iter().cycle();
    'outer: while !rest.is_empty() {
        let size = sizes
            .next()
            .map_or(1, |&b| usize::from(b % 64) + 1)
            .min(rest.len());
        let (segment, tail) = rest.split_at(size);
        rest = tail;
        if decoder.push(segment).is_err() {
            break;
        }
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => streamed.push(m),
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
    }
    assert_eq!(
        oneshot, streamed,
        "streaming and one-shot decoding disagree"
    );
});
