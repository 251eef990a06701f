//! The emulator's network front: many devices in one process, each on its own address.
//!
//! - [`runtime::Fleet`] starts a [`crate::fleet::FleetSpec`]: loads or creates each device's
//!   state ([`store`]), binds its listeners (16992 plain, 16993 TLS, and 16994/16995 for
//!   redirection while it is enabled), starts its hello sender ([`hello`]) and reports a
//!   [`runtime::Summary`].
//! - [`redirection`]: the redirection port — session start, authentication (plain and
//!   digest) and Serial-over-LAN to the host's [`crate::serial::SerialConsole`].
//! - [`session`] and [`http`]: HTTP/1.1 sessions with bounded parsing, keep-alive and
//!   timeouts; `POST /wsman` goes to [`device::Device::exchange`], which authenticates with
//!   HTTP Digest exactly as the firmware does and hands the request to the sans-IO
//!   [`crate::firmware::Firmware`].
//! - [`tls`] and [`admission`]: rustls (ring) with the setup-mode self-signed certificate and
//!   provisioning-certificate admission (D5), and the installed certificate with mutual TLS,
//!   CRL serials and `TrustedCN` after provisioning (D7).
//! - [`faults`]: per-device fault injection (D9).
//! - [`client`]: a minimal WS-Man-over-HTTP client with Digest, for tests and benchmarks.
//!
//! Addresses: only 127.0.0.0/8, unless the caller states that the process runs inside a
//! network namespace ([`NetOptions::allow_non_loopback`]). This module never depends on any
//! `amtd-*` crate.

pub mod admission;
pub mod client;
pub mod device;
pub mod dhcp;
pub mod dns;
pub mod faults;
pub mod hello;
pub mod http;
pub mod redirection;
pub mod runtime;
pub mod session;
pub mod store;
pub mod tls;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amt_wsman::digest::VerifierConfig;
use amt_wsman::secret::SecretString;

pub use runtime::{Fleet, StartError, Summary};

/// Network settings shared by every device of a fleet.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Plain WS-Man port (16992).
    pub plain_port: u16,
    /// TLS WS-Man port (16993).
    pub tls_port: u16,
    /// HTTP bounds and timeouts.
    pub http: http::HttpLimits,
    /// Digest nonce lifetime and table size.
    pub digest: VerifierConfig,
    /// Most simultaneous sessions per device (real firmware has a small fixed number).
    pub max_connections_per_device: u32,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
    /// Listen backlog per socket.
    pub listen_backlog: u32,
    /// State directory (`None`: state lives in memory only).
    pub state_dir: Option<PathBuf>,
    /// Hello sender settings.
    pub hello: hello::HelloOptions,
    /// Allow addresses outside 127.0.0.0/8 (only inside a network namespace).
    pub allow_non_loopback: bool,
    /// Start fresh devices provisioned, with digest user `admin` and this password.
    pub provisioned_admin_password: Option<SecretString>,
    /// Run the ME's DHCP client on an interface (D2) instead of using the specs' addresses.
    pub dhcp: Option<DhcpFleetOptions>,
    /// Pre-generated RSA-2048 keys for the setup-mode TLS identity and `GenerateKeyPair`
    /// ([`crate::keypool`]); on by default. `enabled: false` (for a CLI's `--no-key-pool`)
    /// makes every key inline, when it is needed. Changes timing only, never the protocol.
    pub key_pool: crate::keypool::PoolOptions,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            plain_port: 16992,
            tls_port: 16993,
            http: http::HttpLimits::default(),
            digest: VerifierConfig {
                nonce_lifetime_secs: 300,
                max_outstanding_nonces: 32,
            },
            max_connections_per_device: 16,
            handshake_timeout: Duration::from_secs(10),
            listen_backlog: 32,
            state_dir: None,
            hello: hello::HelloOptions::default(),
            allow_non_loopback: false,
            provisioned_admin_password: None,
            dhcp: None,
            key_pool: crate::keypool::PoolOptions::default(),
        }
    }
}

/// DHCP for a fleet (D2): every device leases its address on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpFleetOptions {
    /// The interface (inside the network namespace the fleet runs in).
    pub interface: String,
    /// How long start-up waits for the leases.
    pub lease_timeout: Duration,
    /// The host OS is running at power-up: it holds each lease and the ME shares it.
    pub host_os: bool,
    /// Lower bound of renewal retransmissions (RFC 2131: 60 s; lower for short test leases).
    pub min_retransmit: Duration,
}

/// Redirection (SOL; IDE-R later) over TCP ([`redirection`]).
pub const REDIRECTION_PORT: u16 = 16994;
/// Redirection over TLS ([`redirection`]).
pub const REDIRECTION_TLS_PORT: u16 = 16995;

/// What every device of a fleet shares.
#[derive(Debug)]
pub struct FleetContext {
    /// Settings.
    pub options: NetOptions,
    /// The state directory.
    pub store: Option<store::StateStore>,
    /// TLS client admission counters.
    pub admission: Arc<admission::AdmissionCounters>,
    /// Serialises inline RSA key generation (slow) across the fleet.
    pub keygen: tokio::sync::Mutex<()>,
    /// Ready-made RSA-2048 keys (`None`: pool disabled); each device's firmware and setup-mode
    /// TLS identity take theirs from it and generate inline when it is empty.
    pub key_pool: Option<Arc<crate::keypool::KeyPool>>,
    /// Bounds concurrent name resolutions by hello senders.
    pub resolver_slots: tokio::sync::Semaphore,
}

/// True for 127.0.0.0/8.
pub fn is_loopback(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 127
}

/// Fills `buf` from the OS random source (falling back to the thread RNG, itself seeded from
/// the OS, should the OS source fail).
pub fn random_fill(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        use rand::Rng as _;
        rand::rng().fill_bytes(buf);
    }
}

/// Seconds since the Unix epoch (the host clock the firmware's clock is offset from).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Raises the soft open-file limit to at least `wanted` (up to the hard limit) and returns
/// the new soft limit. A fleet needs two descriptors per device plus one per session.
///
/// # Errors
/// The OS error when the limit cannot be read or set.
pub fn raise_fd_limit(wanted: u64) -> std::io::Result<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft >= wanted {
        return Ok(soft);
    }
    // Root may raise the hard limit too; otherwise stay under it.
    if rlimit::Resource::NOFILE
        .set(wanted, hard.max(wanted))
        .is_ok()
    {
        return Ok(wanted);
    }
    let new = wanted.min(hard);
    rlimit::Resource::NOFILE.set(new, hard)?;
    Ok(new)
}
