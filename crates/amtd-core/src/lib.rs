//! # amtd-core — the domain model and workflows
//!
//! Provisioning and maintenance are typed state machines: each phase consumes `self` and an
//! input (a WS-Man response, a timeout, a lookup result) and returns the next phase plus the
//! actions to perform (send this request, look up this name, store this transition). No I/O,
//! no clock, no tokio: the same machine runs in an in-memory simulation against the emulator's
//! firmware and for real over the network. Must never depend on tokio, sqlx or axum.
//!
//! - [`defense`]: System Defense policies (M3): model, validation, AMT mapping, comparison with
//!   a device's state and the apply/remove plans.
//! - [`domain`]: device identity, validated FQDNs, device records, named profiles.
//! - [`fqdn`]: FQDN discovery from ordered strategies, with conflicts recorded (P2).
//! - [`provisioning`]: the provisioning workflow (P3–P7) and the re-hello decision.
//! - [`maintenance`]: maintenance policies (M10, M11) as decisions: the CRL serials a device
//!   should hold, certificate renewal, admin password rotation, clock re-sync, and how an
//!   interrupted operation is settled; the [`maintenance::Clock`] a pass runs on.
#![forbid(unsafe_code)]

pub mod defense;
pub mod domain;
pub mod error;
pub mod fqdn;
pub mod maintenance;
pub mod provisioning;

pub use domain::{
    DeviceId, DeviceRecord, DigestUserSpec, Fqdn, MebxPasswordPolicy, ProvisioningProfile,
    RedirectionPolicy, TlsMode,
};
pub use error::CoreError;
pub use provisioning::{Action, Channel, Input, Outcome, Phase, Provisioning};
