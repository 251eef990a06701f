//! # amt-wire — binary AMT protocols, both sides, no I/O
//!
//! * [`hello`]: the provisioning hello a device sends to TCP 9971 — typed [`hello::Hello`],
//!   strict encoder/decoder, and a streaming [`hello::HelloAssembler`] for the server.
//! * [`backoff`]: the device's hello retry schedule (SPEC D4) as a sans-IO state machine.
//! * [`redirection`]: the redirection protocol (16994/16995): session start, authentication
//!   (query, plain, digest) and Serial-over-LAN messages, with a streaming decoder.
//! * [`logs`]: the platform event log's 21-byte records and the security audit log's records,
//!   decoded into readable fields (and encoded, for tests and the emulator).
//!
//! Sans-IO: bytes and time go in, messages and timers come out. This crate never opens a
//! socket, reads a clock or draws random numbers; callers pass the current time as a
//! [`std::time::Duration`] since an epoch of their choosing. Both the server (amtd) and the
//! device emulator build on it, so they cannot disagree about the wire format.
//!
//! Must never depend on tokio, sqlx, axum or `amtd-*` (checked by `scripts/check-deps`), and
//! nothing a peer sends may make it panic (fuzzed: `fuzz/fuzz_targets/hello.rs`, `redirection.rs`).
#![forbid(unsafe_code)]

pub mod backoff;
pub mod error;
pub mod hello;
pub mod logs;
pub mod redirection;

pub use error::Error;
