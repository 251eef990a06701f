//! `amtd lab`: the provisioning server on embedded defaults with a fleet of emulated devices
//! going through the whole flow — hello, FQDN, certificate from the embedded CA, profile push,
//! CommitChanges, verification.
//!
//! Everything lives in one data directory: the embedded CA (keys sealed under `ca.kek`), the
//! SQLite store (devices, hellos, provisioning timelines, encrypted admin passwords) and the
//! emulated devices' state. Devices are configured with the server's hello address (as MEBx
//! would configure it) and trust the lab CA's root for provisioning. Only loopback is used.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::{Fleet, NetOptions};
use amt_pki::{
    CaSettings, CertHash, HashAlgorithm, ProvisioningCert, RevocationReason, Serial, SetupMarker,
    VerifiedCsr,
};
use amtd_core::provisioning::{random_bytes_needed, Outcome, Start, Transition};
use amtd_core::{DeviceId, DeviceRecord, Fqdn, Provisioning, ProvisioningProfile};
use amtd_infra::hello_listener::{HelloEvent, HelloListener, HelloListenerConfig, HelloOutcome};
use amtd_infra::pki_store::{Kek, PkiStore};
use amtd_infra::provision_runner::{run_provisioning, ProvisioningHooks, Target};
use amtd_infra::store::{DeviceUpsert, NewHello, NewTransition, RunId, SecretKind, Store};
use anyhow::{bail, Context, Result};
use clap::Args;

/// `amtd lab` options.
#[derive(Args, Debug)]
pub struct LabArgs {
    /// Number of emulated devices.
    #[arg(long, default_value_t = 20)]
    count: usize,
    /// Data directory (CA, database, device state). Created if missing.
    #[arg(long, default_value = "./amtd-lab")]
    data_dir: PathBuf,
    /// The lab's DNS domain (devices' domain, certificate names).
    #[arg(long, default_value = "amt.test")]
    domain: String,
    /// Address of the first emulated device (loopback).
    #[arg(long, default_value = "127.77.0.1")]
    first_ip: Ipv4Addr,
    /// Where the hello listener binds (loopback).
    #[arg(long, default_value = "127.0.0.1:9971")]
    hello_bind: SocketAddr,
    /// Devices provisioned at the same time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Exit once every device is provisioned (or failed), instead of serving on.
    #[arg(long)]
    exit_when_done: bool,
    /// Give up waiting after this many seconds (with --exit-when-done).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

/// Runs the lab.
pub fn run(args: LabArgs) -> Result<()> {
    if !args.first_ip.is_loopback() || !args.hello_bind.ip().is_loopback() {
        bail!("the lab only uses loopback addresses (127.0.0.0/8)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(lab(args))
}

struct Shared {
    store: Store,
    pki: Mutex<PkiStore>,
    prov: ProvisioningCert,
    status: Mutex<HashMap<String, DeviceStatus>>,
    /// Seconds each finished provisioning run took (hello accepted → verified).
    durations: Mutex<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DeviceStatus {
    Waiting,
    Provisioning,
    Provisioned,
    Failed(String),
}

async fn lab(args: LabArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (pki, prov) = open_or_init_ca(&args.data_dir, &args.domain)?;
    let root_hash = CertHash::of_der(HashAlgorithm::Sha256, pki.ca().root().cert().der());
    let kek = Kek::from_file(&args.data_dir.join("ca.kek"))?;
    let db = args.data_dir.join("amtd.db");
    let store = Store::open(&format!("sqlite://{}", db.display()), kek)
        .await
        .context("opening the lab database")?;

    // The hello listener.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<HelloEvent>(4096);
    let listener = HelloListener::bind(
        HelloListenerConfig {
            bind: args.hello_bind,
            ..HelloListenerConfig::default()
        },
        tx,
    )
    .await
    .with_context(|| format!("binding the hello listener on {}", args.hello_bind))?;
    let hello_addr = listener.local_addr()?;
    let hello_handle = listener.spawn()?;

    // The emulated fleet: pre-configured with the server's address and the lab root.
    let flags = FleetFlags {
        count: args.count,
        first_ip: args.first_ip,
        domain: args.domain.clone(),
        ..FleetFlags::default()
    };
    let toml = format!(
        "[defaults]\nprovisioning_server = \"{}\"\nextra_root_hashes = [\"{}\"]\n",
        hello_addr.ip(),
        root_hash.to_hex()
    );
    let spec = FleetSpec::from_toml(&toml, &flags)?;
    let expected: HashMap<String, (Ipv4Addr, String)> = spec
        .devices
        .iter()
        .map(|d| {
            (
                d.config.uuid.to_ascii_lowercase(),
                (d.ip, format!("{}.{}", d.config.hostname, d.config.domain)),
            )
        })
        .collect();
    let mut options = NetOptions {
        state_dir: Some(args.data_dir.join("devices")),
        ..NetOptions::default()
    };
    options.hello.port = hello_addr.port();
    let fleet = Fleet::start(spec, options, |_, _| {}).await?;
    if !fleet.failures().is_empty() {
        bail!(
            "some emulated devices did not start: {:?}",
            fleet.failures()
        );
    }
    println!(
        "amtd lab: {} emulated devices on {} …, hello listener on {}, data in {}",
        args.count,
        args.first_ip,
        hello_addr,
        args.data_dir.display()
    );

    let shared = Arc::new(Shared {
        store,
        pki: Mutex::new(pki),
        prov,
        status: Mutex::new(
            expected
                .keys()
                .map(|k| (k.clone(), DeviceStatus::Waiting))
                .collect(),
        ),
        durations: Mutex::new(Vec::new()),
    });
    // Devices a previous run of this lab already provisioned stay provisioned (their state
    // survives in the data directory) and send no more hellos.
    for uuid in expected.keys() {
        if let Ok(Some(d)) = shared.store.get_device(uuid).await {
            if d.state == "provisioned" {
                shared
                    .status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(uuid.clone(), DeviceStatus::Provisioned);
            }
        }
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout);
    let mut last_line = String::new();
    loop {
        let event = tokio::select! {
            e = rx.recv() => e,
            _ = tokio::time::sleep(Duration::from_millis(250)) => None,
            _ = tokio::signal::ctrl_c() => break,
        };
        if let Some(event) = event {
            handle_hello(&shared, &expected, &limit, event).await;
        }
        let (done, failed, total) = counts(&shared);
        let line = format!(
            "provisioned {done}/{total}, failed {failed}, {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if line.split(',').take(2).collect::<Vec<_>>()
            != last_line.split(',').take(2).collect::<Vec<_>>()
        {
            println!("{line}");
            last_line = line;
        }
        if args.exit_when_done && (done + failed == total || Instant::now() > deadline) {
            break;
        }
    }
    summary(&shared, started.elapsed());
    hello_handle.shutdown().await;
    fleet.shutdown();
    let (done, _, total) = counts(&shared);
    if args.exit_when_done && done != total {
        bail!("{} of {total} devices were not provisioned", total - done);
    }
    Ok(())
}

fn counts(shared: &Shared) -> (usize, usize, usize) {
    let status = shared.status.lock().unwrap_or_else(|p| p.into_inner());
    let done = status
        .values()
        .filter(|s| **s == DeviceStatus::Provisioned)
        .count();
    let failed = status
        .values()
        .filter(|s| matches!(s, DeviceStatus::Failed(_)))
        .count();
    (done, failed, status.len())
}

fn summary(shared: &Shared, elapsed: Duration) {
    let status = shared.status.lock().unwrap_or_else(|p| p.into_inner());
    let mut rows: Vec<_> = status.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    println!("\n{:<38} state", "device");
    for (uuid, s) in rows {
        let s = match s {
            DeviceStatus::Waiting => "waiting for hello".to_owned(),
            DeviceStatus::Provisioning => "provisioning".to_owned(),
            DeviceStatus::Provisioned => "provisioned".to_owned(),
            DeviceStatus::Failed(r) => format!("failed: {r}"),
        };
        println!("{uuid:<38} {s}");
    }
    let mut d = shared
        .durations
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    d.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        d.get(((d.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    let done = status
        .values()
        .filter(|s| **s == DeviceStatus::Provisioned)
        .count();
    println!(
        "\n{done} of {} devices provisioned in {:.2} s ({:.1} devices/s); per device p50 {:.2} s, p95 {:.2} s",
        status.len(),
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64().max(1e-9),
        pct(0.5).unwrap_or_default(),
        pct(0.95).unwrap_or_default(),
    );
}

fn open_or_init_ca(dir: &Path, domain: &str) -> Result<(PkiStore, ProvisioningCert)> {
    let ca_dir = dir.join("ca");
    let kek = dir.join("ca.kek");
    let mut pki = if ca_dir.exists() {
        PkiStore::open(&ca_dir, &kek).context("opening the lab CA")?
    } else {
        if !kek.exists() {
            Kek::generate_file(&kek)?;
        }
        PkiStore::init(&ca_dir, &kek, CaSettings::default()).context("creating the lab CA")?
    };
    // The lab's provisioning certificate, issued by the lab CA (kept in the CA store).
    let now = SystemTime::now();
    let mut certs = pki.provisioning_certs(now)?;
    let prov = match certs.pop() {
        Some((_, c)) => c,
        None => {
            let fqdn = format!("provisioning.{domain}");
            let (cert, key) = pki.issue_provisioning(&fqdn, SetupMarker::Oid)?;
            let chain = vec![
                cert,
                pki.ca().issuing().cert().clone(),
                pki.ca().root().cert().clone(),
            ];
            let prov = ProvisioningCert::from_parts(chain, key, now)?;
            pki.import_provisioning(&prov)?;
            prov
        }
    };
    Ok((pki, prov))
}

async fn handle_hello(
    shared: &Arc<Shared>,
    expected: &HashMap<String, (Ipv4Addr, String)>,
    limit: &Arc<tokio::sync::Semaphore>,
    event: HelloEvent,
) {
    let HelloOutcome::Accepted(hello) = &event.outcome else {
        return;
    };
    let uuid = hello.uuid.to_string().to_ascii_lowercase();
    let hashes: Vec<String> = hello.hashes().iter().map(|h| h.to_string()).collect();
    let _ = shared
        .store
        .record_hello(&NewHello {
            device_uuid: uuid.clone(),
            source: event.source.to_string(),
            received_at: event.time,
            retry_count: hello.retry_count,
            hashes: hashes.join(","),
            outcome: Some("accepted".into()),
        })
        .await;
    // FQDN discovery in the lab: the operator mapping is the fleet itself (the lab knows every
    // device it started); the source address must be the device's own.
    let Some((ip, fqdn)) = expected.get(&uuid).cloned() else {
        return;
    };
    if event.source.ip() != ip {
        return;
    }
    {
        let mut status = shared.status.lock().unwrap_or_else(|p| p.into_inner());
        match status.get(&uuid) {
            Some(DeviceStatus::Waiting) | Some(DeviceStatus::Failed(_)) => {
                status.insert(uuid.clone(), DeviceStatus::Provisioning);
            }
            _ => return,
        }
    }
    let root_hashes = hello
        .hashes()
        .iter()
        .filter_map(|h| CertHash::from_hex(&h.to_string()).ok())
        .collect();
    let shared = shared.clone();
    let limit = limit.clone();
    let admin_set = hello.admin_credentials_set;
    tokio::spawn(async move {
        let Ok(_permit) = limit.acquire().await else {
            return;
        };
        let begun = Instant::now();
        let result = provision(&shared, &uuid, ip, &fqdn, root_hashes, admin_set).await;
        shared
            .durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(begun.elapsed().as_secs_f64());
        let status = match result {
            Ok(Outcome::Provisioned(_)) => DeviceStatus::Provisioned,
            Ok(Outcome::Failed(f)) => DeviceStatus::Failed(f.reason),
            Err(e) => DeviceStatus::Failed(format!("{e:#}")),
        };
        let state = match &status {
            DeviceStatus::Provisioned => "provisioned",
            _ => "failed",
        };
        let mut up = DeviceUpsert::new(uuid.clone());
        up.state = Some(state.into());
        let _ = shared.store.upsert_device(&up).await;
        shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid, status);
    });
}

async fn provision(
    shared: &Arc<Shared>,
    uuid: &str,
    ip: Ipv4Addr,
    fqdn: &str,
    root_hashes: Vec<CertHash>,
    admin_credentials_set: bool,
) -> Result<Outcome> {
    let mut up = DeviceUpsert::new(uuid.to_owned());
    up.fqdn = Some(fqdn.to_owned());
    up.address = Some(ip.to_string());
    up.state = Some("provisioning".into());
    up.profile = Some("default".into());
    shared.store.upsert_device(&up).await?;
    let run_id = shared.store.start_run(uuid, SystemTime::now()).await?;
    let device = DeviceRecord {
        id: uuid.parse().context("device UUID")?,
        fqdn: Fqdn::new(fqdn).context("device FQDN")?,
        address: ip.to_string(),
        root_hashes,
        admin_credentials_set,
    };
    let mut random = vec![0u8; random_bytes_needed()];
    amt_emulator::net::random_fill(&mut random);
    let candidates = [shared.prov.clone()];
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (machine, actions) = Provisioning::begin(Start {
        device,
        profile: ProvisioningProfile::new("default"),
        candidates: &candidates,
        now,
        random: &random,
    });
    let mut hooks = LabHooks {
        shared: shared.clone(),
        uuid: uuid.to_owned(),
        run_id: run_id.clone(),
        handle: tokio::runtime::Handle::current(),
    };
    let target = Target::new(ip.to_string());
    let outcome = run_provisioning(machine, actions, &candidates, &target, &mut hooks).await;
    let (label, reason) = match &outcome {
        Outcome::Provisioned(done) => {
            if let Ok(mut pki) = shared.pki.lock() {
                let _ = pki.mark_installed(&done.cert_serial);
            }
            ("provisioned", None)
        }
        Outcome::Failed(f) => ("failed", Some(f.reason.clone())),
    };
    shared
        .store
        .finish_run(&run_id, label, reason.as_deref(), SystemTime::now())
        .await?;
    Ok(outcome)
}

struct LabHooks {
    shared: Arc<Shared>,
    uuid: String,
    run_id: RunId,
    handle: tokio::runtime::Handle,
}

impl LabHooks {
    /// Runs a store call from the runner's synchronous hooks (the runner runs on a
    /// multi-threaded runtime, so blocking this worker briefly is allowed).
    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        tokio::task::block_in_place(|| self.handle.block_on(f))
    }
}

impl ProvisioningHooks for LabHooks {
    fn persist(&mut self, t: &Transition) -> Result<(), String> {
        if let Some(secrets) = &t.secrets {
            self.block(self.shared.store.put_secret(
                &self.uuid,
                SecretKind::Admin,
                &secrets.admin_password,
            ))
            .map_err(|e| e.to_string())?;
            if let Some(mebx) = &secrets.mebx_password {
                self.block(
                    self.shared
                        .store
                        .put_secret(&self.uuid, SecretKind::Mebx, mebx),
                )
                .map_err(|e| e.to_string())?;
            }
        }
        let at = UNIX_EPOCH + Duration::from_secs(t.at);
        self.block(self.shared.store.append_transition(&NewTransition {
            run_id: self.run_id.clone(),
            phase: t.to.to_string(),
            reason: t.note.clone(),
            payload: serde_json::json!({ "seq": t.seq, "from": t.from.to_string() }),
            at,
        }))
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    fn sign(
        &mut self,
        csr_der: &[u8],
        fqdn: &Fqdn,
        uuid: &DeviceId,
    ) -> Result<(Vec<u8>, Serial), String> {
        let csr = VerifiedCsr::from_der(csr_der).map_err(|e| e.to_string())?;
        let mut pki = self
            .shared
            .pki
            .lock()
            .map_err(|_| "the CA store lock is poisoned".to_owned())?;
        let cert = pki
            .issue_device_from_csr(&csr, fqdn.as_str(), &uuid.to_string())
            .map_err(|e| e.to_string())?;
        Ok((cert.der().to_vec(), cert.serial()))
    }

    fn revoke(&mut self, serial: &Serial, reason: RevocationReason) {
        if let Ok(mut pki) = self.shared.pki.lock() {
            if let Err(e) = pki.revoke(serial, reason) {
                tracing::error!(error = %e, "could not revoke a certificate");
            }
        }
    }
}
