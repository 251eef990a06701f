//! Fuzz target for the provisioning hello decoders in `amt_wire::hello`.
//!
//! Feeds arbitrary bytes to `Hello::decode`, `Hello::decode_prefix` and a `HelloAssembler`
//! (segment sizes taken from the input itself). Checks that nothing panics, that whatever
//! decodes re-encodes to the same bytes (strict decoding is canonical), and that the streaming
//! assembler and the one-shot decoder reach the same verdict.
#![no_main]

use amt_wire::hello::{Hello, HelloAssembler, Progress};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = Hello::decode(data);
    if let Ok(hello) = &decoded {
        assert_eq!(hello.encode(), data, "decode/encode round trip");
    }
    if let Ok((hello, len)) = Hello::decode_prefix(data) {
        assert_eq!(hello.encode(), &data[..len], "prefix round trip");
    }

    // Segment sizes 1..=64 cycling through the input's own bytes.
    let mut assembler = HelloAssembler::new();
    let mut rest = data;
    let mut sizes = data.iter().cycle();
    let mut reported = None;
    while !rest.is_empty() {
        let size = sizes.next().map_or(1, |&b| usize::from(b % 64) + 1).min(rest.len());
        let (segment, tail) = rest.split_at(size);
        rest = tail;
        match assembler.push(segment) {
            Ok(Progress::Complete(hello)) => {
                assert!(reported.is_none(), "hello reported twice");
                reported = Some(hello);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let finished = assembler.finish();
    if let (Some(r), Ok(f)) = (&reported, &finished) {
        assert_eq!(r, f, "finish disagrees with the reported hello");
    }
    if !data.starts_with(b"GET ") {
        assert_eq!(decoded.ok(), finished.ok(), "assembler and decoder disagree");
    }
});
