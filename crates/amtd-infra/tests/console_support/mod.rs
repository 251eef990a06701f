//! Shared by the console tests and the fleet power benchmark: emulated fleets in this process
//! (plain provisioned devices, or provisioned devices serving a CA-issued certificate on 16993),
//! and a counting TCP proxy that sees every request a device gets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::faults::Fault;
use amt_emulator::net::store::StateStore;
use amt_emulator::net::{Fleet, NetOptions};
use amt_emulator::state::{DeviceState, Phase, StoredCert, StoredKey, TlsSetting};
use amt_pki::{CaSettings, Cert, EmbeddedCa, LeafRequest, RsaKey};
use amt_wsman::secret::SecretString;
use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PASSWORD: &str = "Console-Test-1!";

/// A first address `127.a.b.1` unlikely to meet other tests on loopback.
pub fn random_first_ip() -> Ipv4Addr {
    let n = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761);
    Ipv4Addr::new(127, 60 + (n % 60) as u8, 1 + ((n >> 8) % 250) as u8, 1)
}

/// Network options for provisioned test devices: no hellos, no background RSA key pool.
pub fn options(state_dir: Option<&Path>, admin_password: Option<&str>) -> NetOptions {
    let mut o = NetOptions {
        state_dir: state_dir.map(Path::to_path_buf),
        provisioned_admin_password: admin_password.map(|p| SecretString::new(p.to_owned())),
        ..NetOptions::default()
    };
    o.hello.enabled = false;
    o.key_pool.enabled = false;
    o
}

/// The fleet description: `count` devices from `first_ip` with `persona`.
pub fn spec(
    count: usize,
    first_ip: Ipv4Addr,
    persona: &str,
    faults: Vec<(Option<usize>, Fault)>,
) -> FleetSpec {
    FleetSpec::from_flags(&FleetFlags {
        count,
        first_ip,
        domain: "amt.test".into(),
        persona: persona.into(),
        provisioning_server: None,
        faults,
    })
    .unwrap()
}

/// `count` devices started provisioned (digest `admin`, plain 16992 open), state in memory.
pub async fn plain_fleet(
    count: usize,
    persona: &str,
    faults: Vec<(Option<usize>, Fault)>,
) -> Fleet {
    let fleet = Fleet::start(
        spec(count, random_first_ip(), persona, faults),
        options(None, Some(PASSWORD)),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(fleet.failures().is_empty(), "{:?}", fleet.failures());
    fleet
}

/// An embedded CA and one device key shared by every device (RSA generation is slow; one key
/// per device changes nothing the console sees but the certificate).
pub struct TestPki {
    pub ca: EmbeddedCa,
    pub device_key: RsaKey,
}

impl TestPki {
    pub fn new() -> Self {
        let mut rng = rand::rng();
        let key = RsaKey::generate(&mut rng, 2048).unwrap();
        let (ca, _) = EmbeddedCa::create_with_keys(
            CaSettings::default(),
            key.clone(),
            key.clone(),
            &mut rng,
            SystemTime::now(),
        )
        .unwrap();
        TestPki {
            ca,
            device_key: key,
        }
    }

    pub fn root_der(&self) -> Vec<u8> {
        self.ca.root().cert().der().to_vec()
    }

    /// A device TLS certificate for `fqdn` and `uuid`, on the shared key.
    pub fn device_cert(&self, fqdn: &str, uuid: &str) -> Cert {
        self.ca
            .issue(
                &LeafRequest::Device { fqdn, uuid },
                self.device_key.public_key_info().unwrap(),
                &mut rand::rng(),
                SystemTime::now(),
            )
            .unwrap()
            .cert
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Turns a fresh device state into a provisioned one that serves `leaf` (issued by `pki`) on
/// 16993 only (no plain 16992), with digest `admin` / `password`.
pub fn provision_tls(state: &mut DeviceState, pki: &TestPki, leaf: &Cert, password: &str) {
    state.phase = Phase::Provisioned;
    state.control_mode = 2;
    state.admin_ha1_hex = Some(amt_wsman::digest::ha1_hex(
        "admin",
        &state.digest_realm,
        password,
    ));
    state.mebx_password_set = true;
    let spki = pki.device_key.public_key_info().unwrap();
    state.keys = vec![StoredKey {
        handle: 0,
        pkcs8_b64: b64(&pki.device_key.to_pkcs8_der().unwrap()),
        public_der_b64: b64(spki.subject_public_key.raw_bytes()),
    }];
    state.certs = vec![
        StoredCert {
            handle: 1,
            der_b64: b64(leaf.der()),
            trusted_root: false,
        },
        StoredCert {
            handle: 2,
            der_b64: b64(pki.ca.issuing().cert().der()),
            trusted_root: false,
        },
    ];
    state.next_handle = 3;
    state.tls_cert_handle = Some(1);
    state.tls_remote = TlsSetting {
        enabled: true,
        mutual_authentication: false,
        accept_non_secure: false,
        trusted_cn: Vec::new(),
    };
    state.audit(
        amt_emulator::net::unix_now(),
        "Provisioned with a CA-issued TLS certificate (test fleet)",
    );
}

/// One device of a TLS fleet: its UUID, address and FQDN.
#[derive(Debug, Clone)]
pub struct TlsDevice {
    pub uuid: String,
    pub ip: Ipv4Addr,
    pub fqdn: String,
}

/// Writes provisioned TLS device states for `spec` into `state_dir` (skipping devices whose
/// file exists, so a benchmark can reuse them) and returns the devices.
pub fn write_tls_states(
    spec: &FleetSpec,
    state_dir: &Path,
    pki: &TestPki,
    password: &str,
) -> Vec<TlsDevice> {
    let store = StateStore::open(state_dir).unwrap();
    let mut out = Vec::with_capacity(spec.devices.len());
    for d in &spec.devices {
        let mut realm = [0u8; 16];
        amt_emulator::net::random_fill(&mut realm);
        let fqdn = format!("{}.{}", d.config.hostname, d.config.domain);
        if store.load(&d.config.uuid).unwrap().is_none() {
            let mut state = DeviceState::new(d.config.clone(), realm);
            let leaf = pki.device_cert(&fqdn, &d.config.uuid);
            provision_tls(&mut state, pki, &leaf, password);
            store.save(&state).unwrap();
        }
        out.push(TlsDevice {
            uuid: d.config.uuid.clone(),
            ip: d.ip,
            fqdn,
        });
    }
    out
}

/// What the proxy saw for one device.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Connections at the same time, now and at most.
    pub connections: usize,
    pub max_connections: usize,
    /// Requests sent but not yet answered, now and at most.
    pub in_flight: usize,
    pub max_in_flight: usize,
    /// Requests seen, and the text of every request body.
    pub requests: usize,
    pub bodies: String,
}

/// A TCP proxy in front of plain-HTTP devices: one listener per device on 127.0.0.1, forwarding
/// to the device's 16992, counting connections and requests in flight (a request is in flight
/// from its `POST ` until the device's `HTTP/1.1 ` answer begins).
#[derive(Clone, Default)]
pub struct CountingProxy {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

impl CountingProxy {
    /// Starts forwarding for device `uuid` at `target`; returns the port to use instead.
    pub async fn add(&self, uuid: &str, target: SocketAddr) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        self.seen
            .lock()
            .unwrap()
            .insert(uuid.to_owned(), Seen::default());
        let me = self.clone();
        let uuid = uuid.to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let me = me.clone();
                let uuid = uuid.clone();
                tokio::spawn(async move { me.relay(&uuid, client, target).await });
            }
        });
        port
    }

    pub fn seen(&self, uuid: &str) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .get(uuid)
            .cloned()
            .unwrap_or_default()
    }

    fn update(&self, uuid: &str, f: impl FnOnce(&mut Seen)) {
        if let Some(s) = self.seen.lock().unwrap().get_mut(uuid) {
            f(s);
        }
    }

    async fn relay(&self, uuid: &str, client: TcpStream, target: SocketAddr) {
        let Ok(server) = TcpStream::connect(target).await else {
            return;
        };
        self.update(uuid, |s| {
            s.connections += 1;
            s.max_connections = s.max_connections.max(s.connections);
        });
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let up = {
            let me = self.clone();
            let uuid = uuid.to_owned();
            async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut tail = Vec::new();
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut window = std::mem::take(&mut tail);
                    window.extend_from_slice(&buf[..n]);
                    let posts = count(&window, b"POST /wsman");
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    me.update(&uuid, |s| {
                        s.requests += posts;
                        s.in_flight += posts;
                        s.max_in_flight = s.max_in_flight.max(s.in_flight);
                        s.bodies.push_str(&text);
                    });
                    tail = window[window.len().saturating_sub(b"POST /wsman".len() - 1)..].to_vec();
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
            }
        };
        let down = {
            let me = self.clone();
            let uuid = uuid.to_owned();
            async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut tail = Vec::new();
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut window = std::mem::take(&mut tail);
                    window.extend_from_slice(&buf[..n]);
                    let answers = count(&window, b"HTTP/1.1 ");
                    me.update(&uuid, |s| s.in_flight = s.in_flight.saturating_sub(answers));
                    tail = window[window.len().saturating_sub(b"HTTP/1.1 ".len() - 1)..].to_vec();
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
            }
        };
        tokio::join!(up, down);
        self.update(uuid, |s| s.connections -= 1);
    }
}

/// Occurrences of `needle` in `hay` (the window starts with the previous chunk's last
/// `needle.len() - 1` bytes, so a marker split across reads is counted once, and never twice).
fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}
