//! Helpers shared by the network-front tests (tests/net_*.rs): fleets on random loopback
//! addresses, WS-Man requests, peer discovery.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::client::WsmanSession;
use amt_emulator::net::{Fleet, NetOptions};
use amt_wsman::envelope::Operation;
use amt_wsman::Request;
use tokio::net::TcpStream;

/// The admin password `--provisioned` devices get in tests.
pub const PASSWORD: &str = "P@ssw0rd-Emu1";

/// A random /24 inside 127.0.0.0/8 (away from 127.0.0.x), so test binaries running at the same
/// time (and other developers' runs) do not collide on the real AMT ports.
pub fn random_base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    amt_emulator::net::random_fill(&mut b);
    Ipv4Addr::new(127, 100 + b[0] % 100, b[1].max(1), 1)
}

/// Options for a test fleet: no state directory, no hellos, a two-key pool.
pub fn options() -> NetOptions {
    let mut o = NetOptions::default();
    o.hello.enabled = false;
    // A small key pool: the pooled path is exercised without many idle keys per test.
    o.key_pool.capacity = 2;
    o.key_pool.threads = 1;
    o
}

/// Starts `count` devices (flags otherwise default) on a fresh random /24, retrying on other
/// addresses when a port is taken.
pub async fn start(count: usize, mut flags: FleetFlags, options: NetOptions) -> Fleet {
    flags.count = count;
    for _ in 0..8 {
        flags.first_ip = random_base();
        let spec = FleetSpec::from_flags(&flags).expect("fleet spec");
        let fleet = Fleet::start(spec, options.clone(), |_, _| {})
            .await
            .expect("fleet start");
        if fleet.failures().is_empty() {
            return fleet;
        }
        eprintln!("retrying on other addresses: {:?}", fleet.failures());
        fleet.shutdown();
    }
    panic!("could not bind a test fleet");
}

/// Options for a fleet of provisioned devices with [`PASSWORD`].
pub fn provisioned_options() -> NetOptions {
    let mut o = options();
    o.provisioned_admin_password = Some(PASSWORD.into());
    o
}

/// A Get request for `class`.
pub fn get_xml(class: &str) -> Vec<u8> {
    Request::new(class, 1, Operation::Get).to_xml().into_bytes()
}

/// A kept-alive digest session to a device's plain port.
pub async fn plain_session(fleet: &Fleet, index: usize, password: &str) -> WsmanSession<TcpStream> {
    let dev = fleet.device(index).expect("device");
    let addr = dev.addr(16992);
    let stream = TcpStream::connect(addr).await.expect("connect");
    WsmanSession::new(stream, addr.to_string(), "admin", password)
}

/// Whether a missing peer must fail the test: true under ./scripts/test, which exports
/// AMTD_NODE_DIR.
pub fn peers_required() -> bool {
    std::env::var_os("AMTD_NODE_DIR").is_some()
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Finds a peer program, or explains why the test is skipped (or fails under scripts/test).
pub fn peer(path: Option<PathBuf>, what: &str) -> Option<PathBuf> {
    match path {
        Some(p) if p.exists() => Some(p),
        _ => {
            assert!(
                !peers_required(),
                "{what} is missing; run ./scripts/install-peers"
            );
            eprintln!("SKIPPED: {what} is missing; run ./scripts/install-peers");
            None
        }
    }
}

/// `amtctrl` from AMTD_PY_VENV or tests/python/.venv.
pub fn amtctrl() -> Option<PathBuf> {
    let venv = std::env::var_os("AMTD_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tests/python/.venv"));
    peer(Some(venv.join("bin/amtctrl")), "amtctrl (PyPI `amt`)")
}

/// A program on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    peer(found, name)
}

/// Runs a command off the async executor, returning (status ok, stdout, stderr).
pub async fn run(mut cmd: std::process::Command) -> (bool, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("spawn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The device's Arc.
pub fn dev(fleet: &Fleet, index: usize) -> Arc<amt_emulator::net::device::Device> {
    Arc::clone(fleet.device(index).expect("device"))
}
