//! # amt-pki — certificates the way Intel AMT needs them
//!
//! Sans-IO: no sockets, no clock reads (callers pass `now`), no randomness sources (callers pass
//! an RNG or random bytes), no database. Must never depend on tokio, sqlx, axum or `amtd-*`.
#![forbid(unsafe_code)]
