//! # amt-emulator — a fleet of faithful virtual vPro machines
//!
//! The device side of every AMT protocol amtd speaks, built on the same sans-IO crates as the
//! server (`amt-wsman`, `amt-wire`) so the two can never disagree about the wire format. Where
//! amtd and this emulator disagree, real firmware decides: behaviour follows the recorded
//! real-device responses and the facts in AMT-PROTOCOLS.md.
//!
//! - [`firmware`] is the device's state machine: sans-IO, fed decoded requests, the time and
//!   random bytes, answering responses. It owns the persisted [`state::DeviceState`].
//! - [`persona`] describes firmware generations (versions, ports, TLS, quirks, inventory).
//! - [`serial`] is the emulated host's serial console that SOL sessions attach to.
//! - [`ider`] is the emulated BIOS booting from the IDE-R CD-ROM (sans-IO).
//!
//! This crate must never depend on any `amtd-*` crate: the device must stay honest.
#![forbid(unsafe_code)]

pub mod firmware;
pub mod fleet;
pub mod ider;
pub mod keypool;
pub mod net;
pub mod persona;
pub mod serial;
pub mod state;
