//! # amt-dhcp — the ME's DHCPv4 client (SPEC D2), sans-IO
//!
//! * [`message`]: the DHCPv4 codec (RFC 2131/2132), long options (RFC 3396), option overload,
//!   and the client FQDN option (RFC 4702), with typed accessors for the options AMT uses.
//! * [`client`]: the Management Engine's DHCP client state machine (RFC 2131 §4.4): DISCOVER
//!   with the ME's parameter-request list, REQUEST with option 81, renewal at T1, rebinding at
//!   T2, expiry, NAK, release, and RFC 2131 §4.1 retransmission back-off.
//! * [`shared`]: one lease shared by the ME and the host OS on the same MAC (SPEC D2: with the
//!   OS running, the OS does DHCP and the ME uses its address; with no OS the ME holds it).
//!
//! Sans-IO: datagrams and time go in, datagrams, events and deadlines come out. This crate never
//! opens a socket, reads a clock or seeds randomness itself: callers pass the current time as a
//! [`std::time::Duration`] since an epoch of their choosing and a `u64` seed. It must never
//! depend on tokio, sqlx, axum or `amtd-*`, and nothing a peer sends may make it panic (fuzzed:
//! `fuzz/fuzz_targets/dhcp_message.rs`).
#![forbid(unsafe_code)]

pub mod client;
pub mod error;
pub mod message;
mod rng;
pub mod shared;

pub use error::DhcpError;
