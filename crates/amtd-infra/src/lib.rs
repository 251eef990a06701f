//! # amtd-infra — adapters between amtd and the outside world
//!
//! Holds the I/O: today the async WS-Management transport that carries `amt-wsman` envelopes to
//! a device's 16992/16993 (see [`transport`]). Protocol logic never lives here; it lives in the
//! sans-IO `amt-*` crates. TLS uses rustls with the `ring` provider only (no aws-lc, no
//! OpenSSL), and nothing here logs a password or an `Authorization` header.
#![forbid(unsafe_code)]

pub mod transport;

pub use transport::TransportError;
pub mod client;
pub mod console;
pub mod defense;
pub mod device_tls;
pub mod dhcp_leases;
pub mod dns;
pub mod hello_listener;
pub mod pki_store;
pub mod provision_runner;
pub mod redirection;
pub mod store;
