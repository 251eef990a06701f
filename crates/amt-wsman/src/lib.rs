//! # amt-wsman — WS-Management as Intel AMT speaks it, for both sides of the wire
//!
//! This crate is **sans-IO**: bytes and values go in, bytes and values come out. It never opens a
//! socket, reads the clock, spawns a task or touches a database; callers pass in the current time
//! and random bytes where a protocol needs them. The console (amtd) and the device emulator
//! both build on it, so the two can never disagree about the wire format.
//!
//! It must never depend on tokio, sqlx, axum, or any `amtd-*` crate (checked in CI by
//! `scripts/check-deps`).
#![forbid(unsafe_code)]

pub mod classes;
pub mod digest;
pub mod envelope;
pub mod error;
pub mod fault;
pub mod ns;
pub mod password;
pub mod secret;
pub mod value;
pub mod xml;

pub use envelope::{Item, Operation, Request, Response, ResponseBody};
pub use error::Error;
pub use fault::Fault;
pub use value::{EndpointReference, Instance, Property, SelectorSet, Value};
