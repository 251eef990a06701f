//! `amtd sim`: run a fleet of emulated AMT devices in this process.
//!
//! ```text
//! amtd sim --count 500 --first-ip 127.77.0.1 --domain amt.test --resolver 127.0.0.1:9953
//! amtd sim --count 20 --provisioned --admin-password 'P@ssw0rd!'
//! amtd sim --fleet fleet.toml --resolver 127.0.0.1:5300 --time-scale 3600
//! ip netns exec lab amtd sim --netns lab --first-ip 10.99.0.100 --count 50 --provisioning-server 10.99.0.1
//! ```
//!
//! Addresses must be in 127.0.0.0/8. To use other addresses, create a network namespace,
//! run amtd inside it (`ip netns exec NAME amtd sim --netns NAME …`); `--netns` checks that
//! the process really runs in that namespace before it lifts the loopback restriction.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::faults::Fault;
use amt_emulator::net::hello::HelloOptions;
use amt_emulator::net::{self, Fleet, NetOptions};
use amt_wsman::secret::SecretString;
use anyhow::{bail, Context, Result};
use clap::Args;

/// `amtd sim` options.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of devices (when the fleet file lists none).
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Address of the first device; device i listens on first-ip + i.
    #[arg(long, default_value = "127.77.0.1")]
    pub first_ip: Ipv4Addr,
    /// TOML fleet file with per-device host names, domains, UUIDs, personas, MACs,
    /// pre-configuration and faults.
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// Domain configured into every device (MEBx suffix). Default: amt.test, or with
    /// --dhcp-interface none (the domain comes from DHCP option 15).
    #[arg(long)]
    pub domain: Option<String>,
    /// Firmware persona (amt11, amt16).
    #[arg(long, default_value = "amt16")]
    pub persona: String,
    /// State directory (one JSON file per device; devices survive restarts).
    #[arg(long, default_value = "./amtd-sim-state")]
    pub state_dir: PathBuf,
    /// Start fresh devices provisioned (digest user admin, plain 16992 open).
    #[arg(long)]
    pub provisioned: bool,
    /// Admin password for --provisioned (AMT rules: 8-32 chars, upper, lower, digit, symbol).
    #[arg(long)]
    pub admin_password: Option<String>,
    /// Read the --provisioned admin password from this environment variable instead.
    #[arg(long)]
    pub admin_password_env: Option<String>,
    /// Provisioning server configured into every device (host[:port]); otherwise the
    /// devices look up ProvisionServer[.domain].
    #[arg(long)]
    pub provisioning_server: Option<String>,
    /// DNS server (IP:PORT) the devices ask for ProvisionServer (required when a device has no
    /// provisioning-server address: the system resolver is never used).
    #[arg(long)]
    pub resolver: Option<SocketAddr>,
    /// Port of the provisioning server's hello listener.
    #[arg(long, default_value_t = 9971)]
    pub hello_port: u16,
    /// Divide the hello back-off by this factor (3600: an hour becomes a second).
    #[arg(long, default_value_t = 1)]
    pub time_scale: u32,
    /// Do not send hellos.
    #[arg(long)]
    pub no_hello: bool,
    /// Fault to inject: SPEC for every device or INDEX=SPEC for one (drop-after-apply,
    /// slow:MS, connection-close, bad-xml, lost-hellos[:N], cert-swap). Repeatable.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// The network namespace this process runs in (allows addresses outside 127.0.0.0/8).
    #[arg(long)]
    pub netns: Option<String>,
    /// Run each device's DHCP client on this interface (D2): addresses, the domain (option 15)
    /// and the DNS server (option 6) come from the lease. Needs --netns.
    #[arg(long)]
    pub dhcp_interface: Option<String>,
    /// Seconds start-up waits for the DHCP leases.
    #[arg(long, default_value_t = 30)]
    pub dhcp_timeout: u64,
    /// The host OS is up at power-on: it runs DHCP for each ME/OS pair and the ME shares its
    /// lease (without it the ME holds the lease alone).
    #[arg(long)]
    pub host_os: bool,
    /// Lower bound (seconds) of DHCP renewal retransmissions (RFC 2131: 60).
    #[arg(long, default_value_t = 60)]
    pub dhcp_min_retransmit: u64,
    /// Seconds between summary tables (0: only at start and stop).
    #[arg(long, default_value_t = 10)]
    pub status_interval: u64,
}

fn parse_fault(s: &str) -> Result<(Option<usize>, Fault)> {
    let (index, spec) = match s.split_once('=') {
        Some((i, spec)) if i.chars().all(|c| c.is_ascii_digit()) && !i.is_empty() => {
            (Some(i.parse::<usize>()?), spec)
        }
        _ => (None, s),
    };
    Ok((index, spec.parse::<Fault>()?))
}

/// Checks that this process runs in the named network namespace (`/run/netns/NAME`).
fn check_netns(name: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net").context("reading /proc/self/ns/net")?;
    let named = std::fs::metadata(format!("/run/netns/{name}")).with_context(|| {
        format!("network namespace {name} does not exist (ip netns add {name})")
    })?;
    if ours.ino() != named.ino() || ours.dev() != named.dev() {
        bail!("this process is not inside network namespace {name}; run it as `ip netns exec {name} amtd sim --netns {name} …`");
    }
    Ok(())
}

/// Builds the fleet and network settings from the options.
///
/// # Errors
/// Every problem with the options or the fleet file.
pub fn plan(args: &SimArgs) -> Result<(FleetSpec, NetOptions)> {
    let faults = args
        .faults
        .iter()
        .map(|f| parse_fault(f).with_context(|| format!("--fault {f}")))
        .collect::<Result<Vec<_>>>()?;
    let flags = FleetFlags {
        count: args.count,
        first_ip: args.first_ip,
        domain: match (&args.domain, &args.dhcp_interface) {
            (Some(d), _) => d.clone(),
            (None, Some(_)) => String::new(),
            (None, None) => "amt.test".into(),
        },
        persona: args.persona.clone(),
        provisioning_server: args.provisioning_server.clone(),
        faults,
    };
    let spec = match &args.fleet {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading fleet file {}", path.display()))?;
            FleetSpec::from_toml(&text, &flags)
                .with_context(|| format!("fleet file {}", path.display()))?
        }
        None => FleetSpec::from_flags(&flags)?,
    };
    if let Some(ns) = &args.netns {
        check_netns(ns)?;
    }
    // A device without a configured server looks up ProvisionServer; with no --resolver that
    // would go to the system resolver, which may be anywhere. Ask for one explicitly.
    if args.dhcp_interface.is_some() && args.netns.is_none() {
        bail!("--dhcp-interface puts devices on a real interface: run inside a network namespace and give --netns NAME");
    }
    if !args.no_hello
        && !args.provisioned
        && args.resolver.is_none()
        && args.dhcp_interface.is_none()
    {
        let needs_dns = spec.devices.iter().find(|d| {
            d.config
                .provisioning_server
                .as_deref()
                .and_then(amt_emulator::net::hello::parse_server_address)
                .is_none_or(|(host, _)| host.parse::<std::net::IpAddr>().is_err())
        });
        if let Some(d) = needs_dns {
            bail!(
                "device {} has no provisioning-server address, so it looks the server up in DNS: \
                 give --resolver IP:PORT (the DNS server its DHCP lease would name) or \
                 --provisioning-server ADDRESS",
                d.config.uuid
            );
        }
    }
    let password = match (&args.admin_password, &args.admin_password_env) {
        (Some(p), None) => Some(p.clone()),
        (None, Some(var)) => {
            Some(std::env::var(var).with_context(|| format!("${var} is not set"))?)
        }
        (None, None) => None,
        (Some(_), Some(_)) => bail!("give --admin-password or --admin-password-env, not both"),
    };
    let provisioned_admin_password = match (args.provisioned, password) {
        (true, Some(p)) => {
            amt_wsman::password::validate_admin_password(&p)
                .map_err(|e| anyhow::anyhow!("--admin-password: {e}"))?;
            Some(SecretString::new(p))
        }
        (true, None) => bail!("--provisioned needs --admin-password (or --admin-password-env)"),
        (false, Some(_)) => bail!("--admin-password only makes sense with --provisioned"),
        (false, None) => None,
    };
    let options = NetOptions {
        state_dir: Some(args.state_dir.clone()),
        hello: HelloOptions {
            enabled: !args.no_hello,
            port: args.hello_port,
            resolver: args.resolver,
            time_scale: args.time_scale.max(1),
            ..HelloOptions::default()
        },
        allow_non_loopback: args.netns.is_some(),
        provisioned_admin_password,
        dhcp: args.dhcp_interface.as_ref().map(|i| net::DhcpFleetOptions {
            interface: i.clone(),
            lease_timeout: Duration::from_secs(args.dhcp_timeout.max(1)),
            host_os: args.host_os,
            min_retransmit: Duration::from_secs(args.dhcp_min_retransmit.max(1)),
        }),
        ..NetOptions::default()
    };
    Ok((spec, options))
}

/// Runs `amtd sim` until Ctrl-C.
///
/// # Errors
/// Bad options, an unusable state directory, or a runtime failure.
pub fn run(args: SimArgs) -> Result<()> {
    let (spec, options) = plan(&args)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    // 16992, 16993 and (provisioned, SOL on) 16994 per device.
    let wanted = 3 * spec.devices.len() as u64 + 1024;
    match net::raise_fd_limit(wanted) {
        Ok(n) if n < wanted => eprintln!(
            "warning: open-file limit is {n}, {wanted} wanted; some devices may not start"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(spec, options, args.status_interval))
}

async fn serve(spec: FleetSpec, options: NetOptions, status_interval: u64) -> Result<()> {
    let total = spec.devices.len();
    let started = std::time::Instant::now();
    let fleet = Fleet::start(spec, options, |n, t| {
        eprint!("\rstarting devices: {n}/{t}");
    })
    .await?;
    eprintln!(
        "\nstarted {} of {total} devices in {:.2} s",
        fleet.devices().len(),
        started.elapsed().as_secs_f64()
    );
    for (i, why) in fleet.failures() {
        eprintln!("  device {i} did not start: {why}");
    }
    let waiting = fleet.waiting_for_lease();
    if waiting > 0 {
        eprintln!(
            "{waiting} device(s) have no DHCP lease yet; their clients keep trying and each \
             starts when its lease arrives"
        );
    }
    if fleet.devices().is_empty() && waiting == 0 {
        bail!("no device started");
    }
    if let (Some(first), Some(last)) = (fleet.devices().first(), fleet.devices().last()) {
        eprintln!(
            "devices listen on {} … {} (ports 16992 plain, 16993 TLS); Ctrl-C stops",
            first.ip, last.ip
        );
    }
    println!("{}", fleet.summary());
    let mut tick = tokio::time::interval(Duration::from_secs(status_interval.max(1)));
    tick.tick().await;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r.context("waiting for Ctrl-C")?;
                break;
            }
            _ = term.recv() => break,
            _ = tick.tick(), if status_interval > 0 => {
                println!("{}", fleet.summary());
            }
        }
    }
    eprintln!("stopping: persisting device state");
    fleet.shutdown();
    println!("{}", fleet.summary());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn args(extra: &[&str]) -> SimArgs {
        let mut v = vec!["amtd"];
        v.extend_from_slice(extra);
        Cli::parse_from(v).sim
    }

    #[test]
    fn flags_make_a_fleet() {
        let (spec, opts) = plan(&args(&[
            "--count",
            "3",
            "--no-hello",
            "--fault",
            "1=slow:5",
        ]))
        .unwrap();
        assert_eq!(spec.devices.len(), 3);
        assert_eq!(spec.devices[1].faults.slow_ms, 5);
        assert_eq!(spec.devices[0].faults.slow_ms, 0);
        assert!(!opts.hello.enabled);
        assert!(!opts.allow_non_loopback);
    }

    #[test]
    fn provisioned_needs_a_valid_password() {
        assert!(plan(&args(&["--provisioned"])).is_err());
        assert!(plan(&args(&["--provisioned", "--admin-password", "short"])).is_err());
        let (_, opts) = plan(&args(&["--provisioned", "--admin-password", "P@ssw0rd!"])).unwrap();
        assert!(opts.provisioned_admin_password.is_some());
    }

    #[test]
    fn devices_that_look_the_server_up_need_an_explicit_resolver() {
        let e = plan(&args(&["--count", "2"])).unwrap_err().to_string();
        assert!(e.contains("--resolver"), "{e}");
        let e = plan(&args(&["--provisioning-server", "prov.amt.test"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--resolver"), "{e}");
        assert!(plan(&args(&["--provisioning-server", "127.0.0.1:9971"])).is_ok());
        assert!(plan(&args(&["--resolver", "127.0.0.1:5300"])).is_ok());
    }

    #[test]
    fn netns_must_be_real() {
        assert!(plan(&args(&["--netns", "no-such-namespace-here"])).is_err());
    }
}
