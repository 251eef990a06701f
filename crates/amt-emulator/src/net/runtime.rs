//! A running fleet: start-up (state loaded or created, listeners bound, hello senders
//! started), the summary table, and a clean stop that persists every device.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use amt_wsman::digest::ha1_hex;

use super::device::{Device, HelloState};
use super::store::{StateStore, StoreError};
use super::{admission, is_loopback, random_fill, unix_now, FleetContext, NetOptions};
use crate::firmware::Firmware;
use crate::fleet::{DeviceSpec, FleetSpec};
use crate::persona;
use crate::state::{DeviceState, Phase};

/// Why a fleet (or one of its devices) could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An address outside 127.0.0.0/8 without a network namespace.
    #[error("device {index}: {ip} is outside 127.0.0.0/8; run inside a network namespace (--netns) to use other addresses")]
    NotLoopback {
        /// Device index.
        index: usize,
        /// The address.
        ip: std::net::Ipv4Addr,
    },
    /// The `--provisioned` admin password breaks AMT's rules.
    #[error("admin password: {0}")]
    Password(String),
    /// The state directory cannot be used.
    #[error("state directory: {0}")]
    Store(StoreError),
    /// DHCP could not run on the interface.
    #[error("DHCP: {0}")]
    Dhcp(String),
    /// The persona named in the spec does not exist.
    #[error("device {index}: unknown persona {name}")]
    Persona {
        /// Device index.
        index: usize,
        /// The name.
        name: String,
    },
}

/// How many devices are in which state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Devices running.
    pub running: usize,
    /// Devices that failed to start.
    pub failed: usize,
    /// Running devices in setup mode.
    pub setup: usize,
    /// Running devices provisioned.
    pub provisioned: usize,
    /// Devices whose hello sender is still trying.
    pub hello_sending: usize,
    /// Devices whose hello reached a provisioning server.
    pub hello_delivered: usize,
    /// Devices that gave up sending hellos.
    pub hello_gave_up: usize,
    /// Hellos written to a server, fleet-wide.
    pub hellos_sent: u64,
    /// Hello attempts, fleet-wide.
    pub hello_attempts: u64,
    /// Sessions open now.
    pub open_connections: u64,
    /// WS-Man requests answered.
    pub requests: u64,
    /// Digest authentication refusals.
    pub auth_failures: u64,
    /// TLS client certificates admitted.
    pub tls_admitted: u64,
    /// TLS client certificates refused.
    pub tls_refused: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  devices      running {:>7}   failed {:>7}",
            self.running, self.failed
        )?;
        writeln!(
            f,
            "  state        setup   {:>7}   provisioned {:>7}",
            self.setup, self.provisioned
        )?;
        writeln!(
            f,
            "  hellos       sending {:>7}   delivered {:>7}   gave up {:>7}   (sent {}, attempts {})",
            self.hello_sending, self.hello_delivered, self.hello_gave_up, self.hellos_sent, self.hello_attempts
        )?;
        writeln!(
            f,
            "  wsman        requests {:>7}  auth refused {:>7}  open sessions {:>5}",
            self.requests, self.auth_failures, self.open_connections
        )?;
        write!(
            f,
            "  tls clients  admitted {:>7}  refused {:>7}",
            self.tls_admitted, self.tls_refused
        )
    }
}

/// A running fleet of emulated devices.
#[derive(Debug)]
pub struct Fleet {
    devices: Vec<Arc<Device>>,
    failures: Vec<(usize, String)>,
    ctx: Arc<FleetContext>,
    /// The devices' DHCP clients (D2), by fleet index, when the fleet runs DHCP.
    dhcp: Vec<(usize, super::dhcp::DhcpDevice)>,
    /// Devices started after start-up, when their first lease arrived.
    late: Arc<std::sync::Mutex<Vec<Arc<Device>>>>,
    /// The tasks waiting for those leases.
    waiting: Vec<tokio::task::JoinHandle<()>>,
}

/// Runs DHCP for every device of `spec` on the interface (D2) and waits for the leases: a
/// leased device takes the leased address, the lease's domain (option 15) unless one is
/// pre-configured, and the lease's DNS server for its hello's lookups (D3). Devices without a
/// lease in time are removed from `spec` and returned as failures.
/// What DHCP start-up produced: clients of leased devices (their specs updated in place),
/// devices that cannot run DHCP, and devices still waiting for a lease (their clients keep
/// retrying; they start when a lease arrives).
struct Leasing {
    leased: Vec<(usize, super::dhcp::DhcpDevice)>,
    failures: Vec<(usize, String)>,
    pending: Vec<(DeviceSpec, super::dhcp::DhcpDevice)>,
}

/// Applies a lease to a device's spec (address, domain unless pre-configured, DNS server).
fn apply_lease(d: &mut DeviceSpec, l: &amt_dhcp::client::Lease) {
    d.ip = l.address;
    if d.config.domain.is_empty() {
        if let Some(domain) = &l.domain {
            d.config.domain = domain.clone();
        }
    }
    d.resolver = l
        .dns_servers
        .first()
        .map(|ip| std::net::SocketAddr::from((*ip, 53)));
}

async fn lease_all(
    spec: &mut FleetSpec,
    options: &super::DhcpFleetOptions,
) -> Result<Leasing, StartError> {
    use super::dhcp::{parse_mac, DhcpDevice, DhcpDeviceOptions, InterfaceSocket};
    let socket =
        InterfaceSocket::open(&options.interface).map_err(|e| StartError::Dhcp(e.to_string()))?;
    let mut clients = Vec::new();
    let mut failures = Vec::new();
    for d in &spec.devices {
        let Some(mac) = parse_mac(&d.config.mac) else {
            failures.push((
                d.index,
                format!("MAC {:?} is not usable for DHCP", d.config.mac),
            ));
            continue;
        };
        let host = (!d.config.hostname.is_empty()).then(|| d.config.hostname.clone());
        let mut config = amt_dhcp::client::ClientConfig::me(mac, host.clone(), None);
        config.min_retransmit = options.min_retransmit;
        let mut seed = [0u8; 8];
        random_fill(&mut seed);
        let started = DhcpDevice::start(
            &socket,
            config,
            DhcpDeviceOptions {
                configure_address: true,
                host_os: options.host_os.then(|| host.unwrap_or_default() + "-os"),
                seed: u64::from_le_bytes(seed),
            },
        );
        match started {
            Ok(c) => clients.push((d.index, c)),
            Err(e) => failures.push((d.index, e.to_string())),
        }
    }
    // Every client runs in its own task; waiting on them in turn against one deadline bounds
    // the whole start-up by the lease timeout.
    let deadline = tokio::time::Instant::now() + options.lease_timeout;
    let mut leases = Vec::with_capacity(clients.len());
    for (_, c) in &clients {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        leases.push(match c.lease() {
            Some(l) => Some(l),
            None => c.wait_bound(left).await,
        });
    }
    let mut leased = Vec::new();
    let mut pending = Vec::new();
    let mut keep = Vec::new();
    for ((index, client), lease) in clients.into_iter().zip(leases) {
        let Some(d) = spec.devices.iter_mut().find(|d| d.index == index) else {
            continue;
        };
        match lease {
            Some(l) => {
                apply_lease(d, &l);
                keep.push(index);
                leased.push((index, client));
            }
            None => {
                tracing::warn!(
                    device = index, interface = %options.interface, timeout = ?options.lease_timeout,
                    "no DHCP lease yet; the device keeps trying and starts when it gets one"
                );
                pending.push((d.clone(), client));
            }
        }
    }
    spec.devices.retain(|d| keep.contains(&d.index));
    Ok(Leasing {
        leased,
        failures,
        pending,
    })
}

/// A task that tells `client` when the host OS starts (host on) and stops (anything else).
fn follow_power(
    dev: &Arc<Device>,
    client: &super::dhcp::DhcpDevice,
) -> tokio::task::JoinHandle<()> {
    let mut power = dev.power.subscribe();
    let commands = client.commands();
    let os_name = dev.with_firmware(|fw| fw.state.config.hostname.clone()) + "-os";
    tokio::spawn(async move {
        let mut was_on = *power.borrow_and_update() == 2;
        while power.changed().await.is_ok() {
            let on = *power.borrow_and_update() == 2;
            if on != was_on {
                was_on = on;
                let c = if on {
                    super::dhcp::HostOs::Started(Some(os_name.clone()))
                } else {
                    super::dhcp::HostOs::Stopped
                };
                if commands.send(c).await.is_err() {
                    return;
                }
            }
        }
    })
}

/// Makes a fresh device state, provisioned when an admin password is given.
fn fresh_state(spec: &DeviceSpec, admin_password: Option<&str>) -> DeviceState {
    let mut realm = [0u8; 16];
    random_fill(&mut realm);
    let mut state = DeviceState::new(spec.config.clone(), realm);
    let mut nonce = [0u8; 20];
    random_fill(&mut nonce);
    state.configuration_nonce_b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(nonce)
    };
    if let Some(pw) = admin_password {
        state.phase = Phase::Provisioned;
        state.control_mode = 2;
        state.admin_ha1_hex = Some(ha1_hex("admin", &state.digest_realm, pw));
        state.mebx_password_set = true;
        // SOL and IDE-R on (AMT_RedirectionService 32771; the listener is enabled by
        // default), so any SOL or IDE-R console works out of the box.
        state.redirection_state = 32771;
        state.audit(unix_now(), "Provisioned by the emulator (--provisioned)");
    }
    state
}

impl Fleet {
    /// Starts every device of `spec`. Devices whose state file is corrupt or whose address
    /// cannot be bound do not start; they are listed in [`Fleet::failures`] and the rest run.
    /// `progress(started, total)` is called as devices come up.
    ///
    /// Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`StartError`] for problems that concern the whole fleet (addresses, password, state
    /// directory).
    pub async fn start(
        mut spec: FleetSpec,
        options: NetOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Fleet, StartError> {
        let mut dhcp = Vec::new();
        let mut failures = Vec::new();
        let mut pending = Vec::new();
        if let Some(d) = &options.dhcp {
            if !options.allow_non_loopback {
                return Err(StartError::Dhcp(
                    "DHCP puts devices on a real interface: run inside a network namespace (--netns)".into(),
                ));
            }
            let leasing = lease_all(&mut spec, d).await?;
            dhcp = leasing.leased;
            failures = leasing.failures;
            pending = leasing.pending;
        }
        for d in &spec.devices {
            if !options.allow_non_loopback && !is_loopback(d.ip) {
                return Err(StartError::NotLoopback {
                    index: d.index,
                    ip: d.ip,
                });
            }
        }
        if let Some(pw) = &options.provisioned_admin_password {
            amt_wsman::password::validate_admin_password(pw.expose())
                .map_err(|e| StartError::Password(e.to_string()))?;
        }
        let store = match &options.state_dir {
            Some(dir) => Some(StateStore::open(dir).map_err(StartError::Store)?),
            None => None,
        };
        let key_pool = crate::keypool::KeyPool::start(&options.key_pool);
        // Pre-fill (if asked): no device starts before its keys exist. Skipped when no refill
        // thread could be started, so start-up never waits forever.
        let prefill = options.key_pool.prefill;
        if let Some(pool) = key_pool.as_ref().filter(|p| prefill && p.threads() > 0) {
            let t = std::time::Instant::now();
            tracing::info!(
                keys = pool.capacity(),
                "filling the RSA key pool before the devices start"
            );
            while pool.stats().ready < pool.capacity() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            tracing::info!(
                keys = pool.capacity(),
                secs = t.elapsed().as_secs_f64(),
                "RSA key pool full"
            );
        }
        let ctx = Arc::new(FleetContext {
            key_pool,
            options,
            store,
            admission: Arc::new(admission::AdmissionCounters::default()),
            keygen: tokio::sync::Mutex::new(()),
            resolver_slots: tokio::sync::Semaphore::new(32),
        });
        let total = spec.devices.len();
        let mut devices = Vec::with_capacity(total);
        for (n, d) in spec.devices.into_iter().enumerate() {
            match Self::start_device(&ctx, &d) {
                Ok(dev) => devices.push(dev),
                Err(e) => {
                    tracing::error!(device = d.index, device.uuid = %d.config.uuid, error = %e, "device did not start");
                    failures.push((d.index, e));
                }
            }
            if n % 256 == 255 {
                progress(n + 1, total);
                // Let already started devices serve while the rest come up.
                tokio::task::yield_now().await;
            }
        }
        progress(total, total);
        // The host OS runs while the host is on: with a modelled OS, a power change hands the
        // shared lease between the OS and the ME (D2).
        let host_os = ctx.options.dhcp.as_ref().is_some_and(|d| d.host_os);
        let mut followers = Vec::new();
        if host_os {
            for dev in &devices {
                if let Some((_, client)) = dhcp.iter().find(|(i, _)| *i == dev.index) {
                    followers.push(follow_power(dev, client));
                }
            }
        }
        // Devices still without a lease: their DHCP clients keep retrying (RFC 2131 back-off);
        // each starts as soon as its lease arrives.
        let late = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (mut d, client) in pending {
            let index = d.index;
            let ctx = Arc::clone(&ctx);
            let late = Arc::clone(&late);
            let mut watch = client.watch();
            waiting.push(tokio::spawn(async move {
                let Ok(lease) = watch.wait_for(Option::is_some).await.map(|l| l.clone()) else {
                    return;
                };
                let Some(lease) = lease else { return };
                apply_lease(&mut d, &lease);
                if !ctx.options.allow_non_loopback && !is_loopback(d.ip) {
                    return;
                }
                match Self::start_device(&ctx, &d) {
                    Ok(dev) => {
                        tracing::info!(device = d.index, address = %d.ip, "device started after its DHCP lease");
                        late.lock().unwrap_or_else(|p| p.into_inner()).push(dev);
                    }
                    Err(e) => {
                        tracing::error!(device = d.index, error = %e, "device did not start after its lease");
                    }
                }
            }));
            dhcp.push((index, client));
        }
        Ok(Fleet {
            devices,
            failures,
            ctx,
            dhcp,
            late,
            waiting: waiting.into_iter().chain(followers).collect(),
        })
    }

    /// Devices that started after start-up returned, once their DHCP lease arrived.
    pub fn late_devices(&self) -> Vec<Arc<Device>> {
        self.late.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Devices still waiting for their first DHCP lease.
    pub fn waiting_for_lease(&self) -> usize {
        self.waiting.iter().filter(|t| !t.is_finished()).count()
    }

    /// The DHCP client of the device with fleet index `index` (fleets started with DHCP).
    pub fn dhcp(&self, index: usize) -> Option<&super::dhcp::DhcpDevice> {
        self.dhcp.iter().find(|(i, _)| *i == index).map(|(_, d)| d)
    }

    fn start_device(ctx: &Arc<FleetContext>, d: &DeviceSpec) -> Result<Arc<Device>, String> {
        let persona = persona::by_name(&d.config.persona)
            .ok_or_else(|| format!("unknown persona {}", d.config.persona))?;
        let loaded = match &ctx.store {
            Some(store) => store.load(&d.config.uuid).map_err(|e| e.to_string())?,
            None => None,
        };
        let fresh = loaded.is_none();
        let state = match loaded {
            Some(s) => {
                if s.config != d.config {
                    tracing::info!(device.uuid = %d.config.uuid, "state file keeps its own pre-configuration (differs from the fleet description)");
                }
                s
            }
            None => fresh_state(
                d,
                ctx.options
                    .provisioned_admin_password
                    .as_ref()
                    .map(|p| p.expose()),
            ),
        };
        let persona = persona::by_name(&state.config.persona).unwrap_or(persona);
        let mut fw = Firmware::new(state, persona);
        fw.set_key_source(
            ctx.key_pool
                .clone()
                .map(|p| p as Arc<dyn crate::firmware::certs::KeySource>),
        );
        let mut dev = Device::new(d.index, d.ip, fw, d.faults, Arc::clone(ctx));
        dev.resolver = d.resolver;
        let dev = Arc::new(dev);
        if fresh {
            // The realm is random: persist at once so it survives a restart.
            dev.persist();
        }
        dev.reconcile()
            .map_err(|e| format!("cannot listen on {}: {e}", d.ip))?;
        Ok(dev)
    }

    /// The running devices, in index order.
    pub fn devices(&self) -> &[Arc<Device>] {
        &self.devices
    }

    /// The running device with fleet index `index`.
    pub fn device(&self, index: usize) -> Option<&Arc<Device>> {
        self.devices.iter().find(|d| d.index == index)
    }

    /// Devices that did not start, with the reason.
    pub fn failures(&self) -> &[(usize, String)] {
        &self.failures
    }

    /// The shared settings and counters.
    pub fn context(&self) -> &Arc<FleetContext> {
        &self.ctx
    }

    /// Counts devices per state.
    pub fn summary(&self) -> Summary {
        let late = self.late_devices();
        let mut s = Summary {
            running: self.devices.len() + late.len(),
            failed: self.failures.len(),
            tls_admitted: self.ctx.admission.admitted.load(Ordering::Relaxed),
            tls_refused: self.ctx.admission.refused.load(Ordering::Relaxed),
            ..Summary::default()
        };
        for d in self.devices.iter().chain(late.iter()) {
            match d.phase() {
                Phase::Setup => s.setup += 1,
                Phase::Provisioned => s.provisioned += 1,
            }
            match d.hello_state() {
                HelloState::Sending => s.hello_sending += 1,
                HelloState::Delivered => s.hello_delivered += 1,
                HelloState::GaveUp => s.hello_gave_up += 1,
                HelloState::Idle => {}
            }
            let st = &d.stats;
            s.hellos_sent += u64::from(st.hellos_sent.load(Ordering::Relaxed));
            s.hello_attempts += u64::from(st.hello_attempts.load(Ordering::Relaxed));
            s.open_connections += u64::from(st.open_connections.load(Ordering::Relaxed));
            s.requests += st.requests.load(Ordering::Relaxed);
            s.auth_failures += st.auth_failures.load(Ordering::Relaxed);
        }
        s
    }

    /// Stops every listener and hello sender and persists every device.
    pub fn shutdown(&self) {
        for t in &self.waiting {
            t.abort();
        }
        for d in self.devices.iter().chain(self.late_devices().iter()) {
            d.stop();
            d.persist();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.waiting {
            t.abort();
        }
        for d in self.devices.iter().chain(self.late_devices().iter()) {
            d.stop();
        }
    }
}
