//! Shared helpers for the integration tests: locating and reading ../shared/fixtures/hello.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::PathBuf;

/// The recorded hello fixtures folder, or `None` (with a message on stderr) when it is absent.
pub fn fixtures_dir() -> Option<PathBuf> {
    let base = std::env::var_os("AMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    let dir = base.join("hello");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: fixtures folder {} is absent (CI always has ../shared/fixtures; set AMTD_FIXTURES to point elsewhere)",
            dir.display()
        );
        None
    }
}

/// The bytes of a one-line hex fixture, or `None` when the folder is absent.
pub fn fixture(name: &str) -> Option<Vec<u8>> {
    let dir = fixtures_dir()?;
    let text = std::fs::read_to_string(dir.join(name)).expect("read hello fixture");
    Some(hex::decode(text.trim()).expect("fixture is one line of hex"))
}

/// Both recorded PKI hellos with their expected hash counts.
pub fn recorded() -> Vec<(&'static str, Vec<u8>, usize)> {
    [("pki-v3-23-hashes.hex", 23), ("pki-v3-24-hashes.hex", 24)]
        .into_iter()
        .filter_map(|(name, n)| fixture(name).map(|b| (name, b, n)))
        .collect()
}
