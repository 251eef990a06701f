//! Fleet power-state query over TLS (issue 6): the console's fleet executor asks every device
//! of an emulated fleet for its power state (`CIM_AssociatedPowerManagementService`), each over
//! its own TLS connection on 16993 with the certificate verified against the CA root and the
//! device's FQDN, Digest `admin`. Prints wall time, devices and HTTP requests per second, and
//! the querying process's peak RSS.
//!
//! ```text
//! cargo bench -p amtd-infra --bench fleet_power                        # 1,000 devices
//! AMTD_BENCH_DEVICES=10000 cargo bench -p amtd-infra --bench fleet_power
//! AMTD_BENCH_DEVICES=10000 AMTD_BENCH_CONCURRENCY=512 cargo bench -p amtd-infra --bench fleet_power
//! ```
//!
//! The fleet runs in a child process (this binary again, `AMTD_BENCH_ROLE=fleet`), so the RSS
//! figure is the console's alone; both share the machine's cores. The devices are provisioned
//! emulated devices: each serves its own certificate (issued by a CA made for the benchmark,
//! naming the device's FQDN; one RSA key shared by all devices, as generating 10,000 keys would
//! take the better part of an hour) on 16993 only, with a random digest realm. Their state files
//! are kept in `target/fleet-power-bench/<count>/` and reused by later runs.
//!
//! Every device costs one TCP connection, one TLS 1.3 handshake (RSA-2048 signature on the
//! device, chain verification on the console) and two HTTP exchanges (AMT answers the first
//! request of a connection with a 401 Digest challenge). The emulated devices build their TLS
//! configuration before the clock starts (real firmware has it ready at boot); two passes run,
//! the console starting from nothing each time (no TLS session resumption, new connections).
//! The CPU columns say how the machine's time was split between the console and the fleet.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/console_support/mod.rs"]
mod console_support;

use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amt_emulator::net::Fleet;
use amt_wsman::secret::SecretString;
use amtd_infra::console::{power_status, run_fleet, DeviceGate, DeviceSession, FleetOptions};
use amtd_infra::transport::{CertificateDer, TransportConfig};
use console_support::{options, spec, write_tls_states, TestPki, TlsDevice, PASSWORD};

const FIRST_IP: Ipv4Addr = Ipv4Addr::new(127, 80, 0, 1);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn state_dir(count: usize) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/fleet-power-bench")
        .join(count.to_string())
}

/// `VmHWM` (peak resident set) of a process, in MiB.
fn peak_rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // `f[0]` is field 3 (state): utime is field 14, stime field 15. Linux reports clock ticks
    // of 1/100 s (USER_HZ).
    (ticks(11) + ticks(12)) / 100.0
}

/// The child: runs the fleet until its stdin closes.
fn fleet_role(count: usize) {
    let wanted = count as u64 + 2048;
    let _ = amt_emulator::net::raise_fd_limit(wanted);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = state_dir(count);
        let spec = spec(count, FIRST_IP, "amt16", Vec::new());
        let mut o = options(Some(&dir), None);
        o.listen_backlog = 128;
        let fleet = Fleet::start(spec, o, |_, _| {}).await.unwrap();
        if !fleet.failures().is_empty() {
            eprintln!(
                "{} devices did not start, first: {:?}",
                fleet.failures().len(),
                fleet.failures().first()
            );
        }
        // Real firmware has its TLS stack ready when it boots; the emulator builds each device's
        // TLS configuration (key parsing and checks) on first contact. Do that now, so the
        // passes time the console and the devices' steady state.
        for d in fleet.devices() {
            let _ = d.tls_config().await;
        }
        println!("READY {}", fleet.devices().len());
        // Until the parent closes our stdin (or dies).
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .unwrap();
        drop(fleet);
    });
}

fn main() {
    let count = env_usize("AMTD_BENCH_DEVICES", 1000);
    if std::env::var("AMTD_BENCH_ROLE").as_deref() == Ok("fleet") {
        fleet_role(count);
        return;
    }
    let concurrency = env_usize("AMTD_BENCH_CONCURRENCY", 256);
    let dir = state_dir(count);
    std::fs::create_dir_all(&dir).unwrap();

    // The CA and the device states (kept for later runs).
    let started = Instant::now();
    let root_file = dir.join("root.der");
    let (root, devices) = match std::fs::read(&root_file) {
        Ok(root) if dir.join("devices.json").exists() => {
            let list: Vec<(String, Ipv4Addr, String)> =
                serde_json::from_slice(&std::fs::read(dir.join("devices.json")).unwrap()).unwrap();
            let devices = list
                .into_iter()
                .map(|(uuid, ip, fqdn)| TlsDevice { uuid, ip, fqdn })
                .collect::<Vec<_>>();
            (root, devices)
        }
        _ => {
            eprintln!(
                "writing {count} provisioned device states to {} …",
                dir.display()
            );
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let pki = TestPki::new();
            let spec = spec(count, FIRST_IP, "amt16", Vec::new());
            let devices = write_tls_states(&spec, &dir, &pki, PASSWORD);
            let list: Vec<(&str, Ipv4Addr, &str)> = devices
                .iter()
                .map(|d| (d.uuid.as_str(), d.ip, d.fqdn.as_str()))
                .collect();
            std::fs::write(dir.join("devices.json"), serde_json::to_vec(&list).unwrap()).unwrap();
            std::fs::write(&root_file, pki.root_der()).unwrap();
            (pki.root_der(), devices)
        }
    };
    eprintln!(
        "{} device states ready in {:.1} s",
        devices.len(),
        started.elapsed().as_secs_f64()
    );

    // The fleet, in a child process.
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("AMTD_BENCH_ROLE", "fleet")
        .env("AMTD_BENCH_DEVICES", count.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let child_pid = child.id().to_string();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let running: usize = ready
        .strip_prefix("READY ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("fleet said {ready:?}"));
    eprintln!(
        "{running} emulated devices listening in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let password = SecretString::new(PASSWORD.into());
    let transport = TransportConfig {
        connect_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(30),
        ..TransportConfig::default()
    };
    let gate = DeviceGate::new();
    println!(
        "\nFleet power-state query over TLS: {count} devices, concurrency {concurrency} \
         ({} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<6} {:>8} {:>7} {:>7} {:>10} {:>11} {:>13} {:>12} {:>13}",
        "pass",
        "wall s",
        "ok",
        "failed",
        "devices/s",
        "HTTP req/s",
        "console RSS",
        "console CPU",
        "emulator CPU"
    );
    for pass in ["1", "2"] {
        let sessions: Vec<(String, Result<DeviceSession, String>)> = devices
            .iter()
            .map(|d| {
                let s = DeviceSession::tls_verified(
                    &d.uuid,
                    d.ip.to_string(),
                    &d.fqdn,
                    vec![CertificateDer::from(root.clone())],
                    password.clone(),
                )
                .with_transport(transport);
                (d.uuid.clone(), Ok(s))
            })
            .collect();
        let (cpu0, emu0) = (cpu_secs("self"), cpu_secs(&child_pid));
        let t = Instant::now();
        let out = runtime.block_on(run_fleet(
            sessions,
            FleetOptions {
                concurrency,
                device_timeout: Duration::from_secs(60),
            },
            &gate,
            |s| async move { s.run(async |c| power_status(c).await).await },
            |_| {},
        ));
        let wall = t.elapsed().as_secs_f64();
        let ok = out.iter().filter(|o| o.result.is_ok()).count();
        let failed = out.len() - ok;
        if let Some(e) = out.iter().find_map(|o| o.result.as_ref().err()) {
            eprintln!("first failure: {e}");
        }
        println!(
            "{pass:<6} {wall:>8.2} {ok:>7} {failed:>7} {:>10.0} {:>11.0} {:>9.1} MiB {:>10.1} s {:>11.1} s",
            ok as f64 / wall,
            2.0 * ok as f64 / wall,
            peak_rss_mib("self"),
            cpu_secs("self") - cpu0,
            cpu_secs(&child_pid) - emu0,
        );
    }
    println!(
        "emulated fleet process peak RSS: {:.1} MiB",
        peak_rss_mib(&child_pid)
    );
    drop(child.stdin.take());
    let _ = child.wait();
}
