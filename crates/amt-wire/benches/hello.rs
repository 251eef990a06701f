//! Hello codec throughput (a bench binary, no criterion): `cargo bench -p amt-wire --bench hello`.
//!
//! Prints time per operation for one-shot decoding, encoding, and the streaming assembler fed
//! whole, in 1460-byte segments (one Ethernet MSS) and one byte at a time — the last one shows
//! the resumable parser keeps byte-by-byte delivery linear. Numbers only; nothing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use amt_wire::hello::{Hello, HelloAssembler, RootHash, RootHashList, Uuid16, MAX_ROOT_HASHES};

fn time(name: &str, bytes: usize, mut op: impl FnMut()) {
    // Warm up, then run for about half a second.
    for _ in 0..100 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..100 {
            op();
        }
        n += 100;
    }
    let per = start.elapsed() / u32::try_from(n).unwrap_or(u32::MAX);
    let mbps = bytes as f64 / per.as_secs_f64() / 1e6;
    println!("{name:<44} {per:>10.2?}/op {mbps:>8.1} MB/s");
}

fn assemble(bytes: &[u8], segment: usize) -> Hello {
    let mut a = HelloAssembler::new();
    for s in bytes.chunks(segment) {
        a.push(s).unwrap();
    }
    a.finish().unwrap()
}

fn main() {
    let uuid: Uuid16 = "939b524b-13d4-1d18-e487-1c697a6b7a2b".parse().unwrap();
    let typical: Vec<RootHash> = (0..24u8).map(|i| RootHash::Sha256([i; 32])).collect();
    let largest: Vec<RootHash> = (0..MAX_ROOT_HASHES)
        .map(|i| RootHash::Sha384([i as u8; 48]))
        .collect();
    for (label, hashes) in [("24 x SHA-256", typical), ("255 x SHA-384 (max)", largest)] {
        let hello = Hello::pki(true, 0, uuid, RootHashList::try_from(hashes).unwrap());
        let bytes = hello.encode();
        let len = bytes.len();
        println!("{label}: {len} bytes");
        time("  Hello::encode", len, || {
            black_box(black_box(&hello).encode());
        });
        time("  Hello::decode", len, || {
            black_box(Hello::decode(black_box(&bytes)).unwrap());
        });
        time("  HelloAssembler, one segment", len, || {
            black_box(assemble(black_box(&bytes), usize::MAX));
        });
        time("  HelloAssembler, 1460-byte segments", len, || {
            black_box(assemble(black_box(&bytes), 1460));
        });
        time("  HelloAssembler, 1-byte segments", len, || {
            black_box(assemble(black_box(&bytes), 1));
        });
    }
}
