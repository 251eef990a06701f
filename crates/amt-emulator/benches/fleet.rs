//! Fleet benchmark: many idle emulated devices in one process.
//!
//! `cargo bench -p amt-emulator --bench fleet` (env `AMTD_BENCH_DEVICES`, default 10000;
//! `AMTD_BENCH_CLIENTS`, default 64; `AMTD_BENCH_SECS`, default 5).
//!
//! Reports (figures, never assertions):
//! - the time to bring the fleet up (state files written to a temporary state directory,
//!   two listeners per device bound on 127.210.0.0/16: 16992 and, since provisioned devices
//!   start with SOL enabled, redirection on 16994),
//! - resident memory per idle device (VmRSS from /proc/self/status before and after),
//! - WS-Man `Get AMT_GeneralSettings` requests per second across the fleet, from clients in
//!   the same process over loopback with keep-alive and Digest (one connection per client,
//!   clients spread over the fleet). Client and devices share the machine's cores.
//!
//! The emulator's RSA key pool (`crate::keypool`) is off in both phases: no device makes a
//! key here, and its background threads would otherwise spend the first seconds filling the
//! pool, skewing bring-up time and the RSS delta.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::client::WsmanSession;
use amt_emulator::net::{self, Fleet, NetOptions};
use amt_wsman::envelope::Operation;
use amt_wsman::Request;

const PASSWORD: &str = "P@ssw0rd-Bench1";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let devices = env_or("AMTD_BENCH_DEVICES", 10_000);
    let clients = env_or("AMTD_BENCH_CLIENTS", 64).clamp(1, devices);
    let secs = env_or("AMTD_BENCH_SECS", 5) as u64;
    match net::raise_fd_limit(3 * devices as u64 + clients as u64 * 2 + 1024) {
        Ok(n) => println!("open-file limit: {n}"),
        Err(e) => println!("cannot raise the open-file limit: {e}"),
    }
    // Each measurement runs in a fresh process, so memory freed by one fleet does not hide
    // the next fleet's growth.
    let phase = std::env::var("AMTD_BENCH_PHASE").unwrap_or_default();
    if phase.is_empty() {
        for phase in ["setup", "provisioned"] {
            let status = std::env::current_exe().and_then(|exe| {
                std::process::Command::new(exe)
                    .env("AMTD_BENCH_PHASE", phase)
                    .status()
            });
            if let Err(e) = status {
                eprintln!("phase {phase}: {e}");
            }
        }
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return;
        }
    };
    if phase == "setup" {
        rt.block_on(bench_setup(devices));
    } else {
        rt.block_on(bench(devices, clients, secs));
    }
}

/// Brings up `devices` devices; returns the fleet and the RSS growth per device (KiB).
async fn bring_up(
    devices: usize,
    first_ip: Ipv4Addr,
    options: NetOptions,
    label: &str,
) -> Option<Fleet> {
    let flags = FleetFlags {
        count: devices,
        first_ip,
        ..FleetFlags::default()
    };
    let spec = FleetSpec::from_flags(&flags)
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    let rss_before = vm_rss_kib();
    let t = Instant::now();
    let fleet = Fleet::start(spec, options, |_, _| {})
        .await
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    let up = t.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = vm_rss_kib();
    let running = fleet.devices().len();
    println!(
        "{label}: {running} devices up in {:.2} s ({} failed, {:.0} devices/s); VmRSS {rss_before} -> {rss_after} KiB = {:.1} KiB per idle device",
        up.as_secs_f64(),
        fleet.failures().len(),
        running as f64 / up.as_secs_f64(),
        rss_after.saturating_sub(rss_before) as f64 / running.max(1) as f64
    );
    if let Some((i, why)) = fleet.failures().first() {
        println!("  first failure: device {i}: {why}");
    }
    Some(fleet)
}

/// Setup mode: 16992 and 16993 listening on every device (TLS identities are made lazily,
/// so none exists yet), no hellos, no state directory. Two descriptors per device: the
/// count is capped by the open-file limit.
async fn bench_setup(devices: usize) {
    let fit = fit_two_listeners(devices, "setup mode");
    let mut setup = NetOptions::default();
    setup.hello.enabled = false;
    setup.key_pool.enabled = false;
    if let Some(fleet) = bring_up(
        fit,
        Ipv4Addr::new(127, 211, 0, 1),
        setup,
        "setup-mode fleet",
    )
    .await
    {
        fleet.shutdown();
    }
}

/// Two descriptors per provisioned device (16992 and SOL's 16994) plus headroom for the
/// clients: how many devices the open-file limit fits.
fn fit_two_listeners(devices: usize, what: &str) -> usize {
    let limit = rlimit::Resource::NOFILE
        .get()
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    let fit = (limit.saturating_sub(256) / 2) as usize;
    if fit < devices {
        println!(
            "{what}: the open-file limit ({limit}) fits {fit} devices with two listeners each"
        );
    }
    devices.min(fit)
}

async fn bench(devices: usize, clients: usize, secs: u64) {
    let devices = fit_two_listeners(devices, "provisioned");
    let state_dir = std::env::temp_dir().join(format!("amtd-fleet-bench-{}", std::process::id()));
    let mut options = NetOptions::default();
    options.hello.enabled = false;
    options.state_dir = Some(state_dir.clone());
    options.provisioned_admin_password = Some(PASSWORD.into());
    options.key_pool.enabled = false;
    let Some(fleet) = bring_up(
        devices,
        Ipv4Addr::new(127, 210, 0, 1),
        options,
        "provisioned fleet (16992 + 16994, state files written)",
    )
    .await
    else {
        return;
    };
    let running = fleet.devices().len();

    // Load: `clients` keep-alive digest sessions spread over the fleet.
    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(secs);
    let xml = Arc::new(
        Request::new("AMT_GeneralSettings", 1, Operation::Get)
            .to_xml()
            .into_bytes(),
    );
    let mut tasks = Vec::new();
    for c in 0..clients {
        let Some(dev) = fleet.devices().get(c * running / clients) else {
            continue;
        };
        let addr = dev.addr(16992);
        let (count, errors, xml) = (count.clone(), errors.clone(), xml.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let _ = stream.set_nodelay(true);
            let mut s = WsmanSession::new(stream, addr.to_string(), "admin", PASSWORD);
            while Instant::now() < stop {
                match s.post(&xml).await {
                    Ok(r) if r.status == 200 => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    let t = Instant::now();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = t.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    println!(
        "wsman: {n} Get AMT_GeneralSettings in {elapsed:.2} s over {clients} keep-alive digest sessions = {:.0} requests/s ({} errors)",
        n as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
    let t = Instant::now();
    fleet.shutdown();
    println!("shutdown (persist all): {:.2} s", t.elapsed().as_secs_f64());
    drop(fleet);
    let _ = std::fs::remove_dir_all(&state_dir);
}
