//! Fuzz target for the HTTP Digest decoders in `amt_wsman::digest`.
//!
//! Feeds arbitrary bytes (as lossy UTF-8) to the `WWW-Authenticate` and `Authorization`
//! parsers and to the device-side verifier. Checks that nothing panics and that whatever parses
//! survives a format/parse round trip unchanged.
#![no_main]

use amt_wsman::digest::{ha1, Authorization, Challenge, DigestVerifier, VerifierConfig};
use libfuzzer_sys::fuzz_target;

const REALM: &str = "Digest:F3EB554784E729164447A89F60B641C5";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(challenge) = Challenge::parse(&text) {
        let again = Challenge::parse(&challenge.to_header_value());
        assert_eq!(again.as_ref(), Ok(&challenge), "challenge round trip");
    }

    if let Ok(authorization) = Authorization::parse(&text) {
        let again = Authorization::parse(&authorization.to_header_value());
        assert_eq!(
            again.as_ref(),
            Ok(&authorization),
            "authorization round trip"
        );
    }

    let config = VerifierConfig {
        nonce_lifetime_secs: 60,
        max_outstanding_nonces: 4,
    };
    let mut verifier = DigestVerifier::new(REALM.to_owned(), config);
    // A nonce the input can name: 32 hex digits of 0x00, so "000…0" verifies against it.
    let _ = verifier.challenge(1_000, [0; 16], false);
    let stored = ha1("admin", REALM, "P@ssw0rd1");
    let lookup = |user: &str| (user == "admin").then_some(stored);
    let first = verifier.verify(&text, "POST", 1_001, lookup);
    // A second identical request must never succeed (nc replay).
    let second = verifier.verify(&text, "POST", 1_001, lookup);
    assert!(
        !(first.is_ok() && second.is_ok()),
        "the same Authorization header was accepted twice"
    );
});
