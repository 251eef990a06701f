//! Property tests: encode→decode round trips (whole and split across segments), and the decoder
//! and assembler never panic and agree with each other on arbitrary and mutated input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_wire::hello::{
    HashAlgorithm, Hello, HelloAssembler, Progress, RootHash, RootHashList, Uuid16,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn root_hash() -> impl Strategy<Value = RootHash> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(RootHash::Sha1),
        any::<[u8; 32]>().prop_map(RootHash::Sha256),
        vec(any::<u8>(), 48).prop_map(|b| RootHash::new(HashAlgorithm::Sha384, &b).unwrap()),
    ]
}

fn uuid() -> impl Strategy<Value = Uuid16> {
    any::<[u8; 16]>()
        .prop_filter("bogus UUIDs are rejected by design", |b| {
            !Uuid16::from_wire_bytes(*b).is_bogus()
        })
        .prop_map(Uuid16::from_wire_bytes)
}

fn hello() -> impl Strategy<Value = Hello> {
    let hashes = prop_oneof![
        4 => vec(root_hash(), 0..30),
        1 => vec(root_hash(), 200..=255),
    ]
    .prop_map(|v| RootHashList::try_from(v).unwrap());
    prop_oneof![
        (any::<bool>(), any::<u32>(), uuid(), hashes)
            .prop_map(|(a, r, u, h)| Hello::pki(a, r, u, h)),
        (any::<bool>(), any::<u32>(), uuid(), any::<[u8; 8]>())
            .prop_map(|(a, r, u, p)| Hello::psk(a, r, u, p)),
    ]
}

/// Pushes `bytes` in pieces cut at `cuts` (sorted, clamped) and returns the final verdict.
fn assemble(bytes: &[u8], cuts: &[usize]) -> Result<Hello, amt_wire::Error> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut a = HelloAssembler::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([bytes.len()]) {
        if let Err(e) = a.push(&bytes[start..end]) {
            assert_eq!(a.push(b"x"), Err(e.clone()), "errors are sticky");
            return a.finish();
        }
        start = end;
    }
    a.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hello_round_trips(h in hello(), cuts in vec(any::<usize>(), 0..6)) {
        let bytes = h.encode();
        prop_assert_eq!(bytes.len(), h.encoded_len());
        prop_assert_eq!(Hello::decode(&bytes), Ok(h.clone()));
        prop_assert_eq!(Hello::decode_prefix(&bytes), Ok((h.clone(), bytes.len())));
        prop_assert_eq!(assemble(&bytes, &cuts), Ok(h.clone()));
        let text = h.uuid.to_string();
        prop_assert_eq!(text.parse::<Uuid16>(), Ok(h.uuid));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..2048),
        cuts in vec(any::<usize>(), 0..6),
    ) {
        let decoded = Hello::decode(&bytes);
        if let Ok(h) = &decoded {
            // Strict decoding is canonical: what decodes re-encodes to the same bytes.
            prop_assert_eq!(h.encode(), bytes.clone());
        }
        let assembled = assemble(&bytes, &cuts);
        if !bytes.starts_with(b"GET ") {
            prop_assert_eq!(decoded.ok(), assembled.ok());
        }
    }

    #[test]
    fn decoder_never_panics_on_mutated_hellos(
        h in hello(),
        edits in vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
        cuts in vec(any::<usize>(), 0..6),
    ) {
        let mut bytes = h.encode();
        for (at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(bytes.len() - cut % 3);
        let decoded = Hello::decode(&bytes);
        if let Ok(d) = &decoded {
            prop_assert_eq!(d.encode(), bytes.clone());
        }
        let assembled = assemble(&bytes, &cuts);
        prop_assert_eq!(decoded.ok(), assembled.ok());
    }

    #[test]
    fn http_detection_never_panics(tail in vec(any::<u8>(), 0..9000), cuts in vec(any::<usize>(), 0..6)) {
        let mut bytes = b"GET ".to_vec();
        bytes.extend_from_slice(&tail);
        let mut a = HelloAssembler::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut start = 0;
        let mut seen = 0;
        for end in cuts.into_iter().chain([bytes.len()]) {
            match a.push(&bytes[start..end]) {
                Ok(Progress::HttpGet(_)) => seen += 1,
                Ok(Progress::Complete(_)) => prop_assert!(false, "GET parsed as a hello"),
                Ok(_) | Err(_) => {}
            }
            start = end;
        }
        prop_assert!(seen <= 1);
        prop_assert!(a.finish().is_err());
    }
}
