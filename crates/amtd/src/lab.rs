//! `amtd lab`: the provisioning server on embedded defaults with a fleet of emulated devices
//! going through the whole flow — hello, FQDN, certificate from the embedded CA, profile push,
//! CommitChanges, verification.
//!
//! Everything lives in one data directory: the embedded CA (keys sealed under `ca.kek`), the
//! SQLite store (devices, hellos, provisioning timelines, encrypted admin passwords) and the
//! emulated devices' state. Only loopback is used.
//!
//! The lab runs its own DNS server (`--dns-bind`, amtd-infra's `dns` module), authoritative for
//! the lab domain and `127.in-addr.arpa`: `ProvisionServer.<domain>` (and bare
//! `ProvisionServer`) → the hello listener's address, and A + PTR for every emulated device.
//! The devices get no server address: like a device whose DHCP server handed out this DNS
//! server and the lab domain (option 15), each finds the server by looking up
//! `ProvisionServer` (SPEC D3) and sends its hello there (to the listener's port). They trust
//! the lab CA's root for provisioning.
//!
//! FQDN discovery (SPEC P2) is reverse DNS first — PTR of the hello's source, confirmed by the
//! forward lookup, both asked of the lab's DNS server — then the operator mapping (the fleet
//! itself, pinned to each device's address), so a disagreement between the two is recorded.
//!
//! The lab runs the same server core as `amtd serve` (`crate::server`) and serves the same
//! REST API (`--api-bind`), announced in `<data_dir>/server.json`, so `amtd devices` and
//! `amtd device` work against a running lab without flags.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::{Fleet, NetOptions};
use amt_pki::{CaSettings, CertHash, HashAlgorithm, ProvisioningCert, SetupMarker};
use amtd_core::fqdn::Strategy;
use amtd_infra::dns::{DnsServer, DnsServerHandle, Resolver, Zone};
use amtd_infra::hello_listener::{HelloEvent, HelloListener, HelloListenerConfig};
use amtd_infra::pki_store::{Kek, PkiStore};
use amtd_infra::store::Store;
use anyhow::{bail, Context, Result};
use clap::Args;

use crate::server::discovery::{self, AuditLog};
use crate::server::{api, profiles, tls, FqdnPolicy, MappedDevice, ServerCore, ServerParts};

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
    /// Generate the emulated devices' RSA keys (two per device) before the fleet starts, so
    /// that the provisioning figures measure the server rather than the emulated firmware's
    /// key generation. Start-up takes longer (≈ 0.13 s of CPU per key here).
    #[arg(long)]
    prefill_keys: bool,
    /// Do not use the emulator's background key pool (devices generate keys inline).
    #[arg(long)]
    no_key_pool: bool,
    /// Give up waiting after this many seconds (with --exit-when-done).
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Seconds to hold the hellos that arrive before provisioning starts, so a console (the web
    /// console's live table) can watch the fleet go from waiting to provisioned.
    #[arg(long, default_value_t = 0)]
    hold_hellos: u64,
    /// Hold the hellos until this file exists (for a demo or a test that watches the fleet from
    /// the start; with --hold-hellos, whichever comes first).
    #[arg(long)]
    hold_hellos_until: Option<PathBuf>,
    /// Where the REST API binds (loopback; a free port is used if this one is taken).
    #[arg(long, default_value = "127.0.0.1:9972")]
    api_bind: SocketAddr,
    /// Where the lab's DNS server binds, UDP and TCP (loopback; a free port is used if this
    /// one is taken).
    #[arg(long, default_value = "127.0.0.1:9953")]
    dns_bind: SocketAddr,
    /// Serve the API over TLS with a certificate from the lab CA (the CA file is written to
    /// `<data-dir>/api-ca.pem` and named in server.json); plain HTTP on the same port then
    /// serves only the CRLs.
    #[arg(long)]
    tls: bool,
    /// How long an API session (login) lasts, e.g. 8h, 30m, 90s.
    #[arg(long, default_value = "8h", value_parser = crate::config::parse_duration)]
    session_lifetime: Duration,
    /// Log lines on standard error: text or json (level: RUST_LOG, default warn, so the fleet
    /// summary on standard output stays readable).
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    log_format: crate::logging::LogFormat,
}

/// Runs the lab.
pub fn run(args: LabArgs) -> Result<()> {
    crate::logging::init("warn", args.log_format);
    if !args.first_ip.is_loopback()
        || !args.hello_bind.ip().is_loopback()
        || !args.api_bind.ip().is_loopback()
        || !args.dns_bind.ip().is_loopback()
    {
        bail!("the lab only uses loopback addresses (127.0.0.0/8)");
    }
    if !args.dns_bind.is_ipv4() {
        // The emulated devices ask it from their own 127.x addresses.
        bail!("--dns-bind must be an IPv4 loopback address (127.0.0.0/8)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(lab(args))
}

async fn lab(args: LabArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let crl_base = format!("http://{}/crl", args.api_bind);
    let (mut pki, prov) = open_or_init_ca(&args.data_dir, &args.domain, &crl_base)?;
    pki.refresh_crls_if_due(SystemTime::now())
        .context("publishing the lab CA's CRLs")?;
    let root_hash = CertHash::of_der(HashAlgorithm::Sha256, pki.ca().root().cert().der());
    let kek = Kek::from_file(&args.data_dir.join("ca.kek"))?;
    let db = args.data_dir.join("amtd.db");
    let store = Store::open(&format!("sqlite://{}", db.display()), kek)
        .await
        .context("opening the lab database")?;
    let builtin = crate::config::Profile::builtin(crate::config::DEFAULT_PROFILE);
    profiles::install_from_config(&store, &pki, &[builtin], profiles::Source::Lab)
        .await
        .context("storing the lab profile")?;

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

    // The emulated fleet: no server address, the lab domain, and the lab root trusted.
    let flags = FleetFlags {
        count: args.count,
        first_ip: args.first_ip,
        domain: args.domain.clone(),
        ..FleetFlags::default()
    };
    let toml = format!(
        "[defaults]\nextra_root_hashes = [\"{}\"]\n",
        root_hash.to_hex()
    );
    let spec = FleetSpec::from_toml(&toml, &flags)?;

    // The lab DNS zone: the provisioning server and every device, forward and reverse.
    let dns = start_dns(args.dns_bind, &args.domain, hello_addr.ip()).await?;
    let dns_addr = dns.local_addr();
    dns.update(|zone| {
        spec.devices.iter().try_for_each(|d| {
            let fqdn = format!("{}.{}", d.config.hostname, d.config.domain);
            zone.add_host(&fqdn, IpAddr::V4(d.ip))
                .with_context(|| format!("publishing {fqdn} in the lab DNS zone"))
        })
    })?;
    // FQDN discovery in the lab: the operator mapping is the fleet itself (the lab knows every
    // device it started); the source address must be the device's own.
    let mapping: HashMap<String, MappedDevice> = spec
        .devices
        .iter()
        .map(|d| {
            (
                d.config.uuid.to_ascii_lowercase(),
                MappedDevice {
                    fqdn: format!("{}.{}", d.config.hostname, d.config.domain),
                    address: Some(IpAddr::V4(d.ip)),
                },
            )
        })
        .collect();
    let expected: Vec<String> = mapping.keys().cloned().collect();
    let mut options = NetOptions {
        state_dir: Some(args.data_dir.join("devices")),
        ..NetOptions::default()
    };
    // Devices ask the lab DNS server for `ProvisionServer` and send to the listener's port.
    options.hello.port = hello_addr.port();
    options.hello.resolver = Some(dns_addr);
    options.key_pool.enabled = !args.no_key_pool;
    if args.prefill_keys && !args.no_key_pool {
        options.key_pool.capacity = options.key_pool.capacity.max(2 * args.count);
        options.key_pool.prefill = true;
        println!(
            "generating {} device keys ahead (--prefill-keys)…",
            options.key_pool.capacity
        );
    }
    let fleet = Fleet::start(spec, options, |_, _| {}).await?;
    if !fleet.failures().is_empty() {
        bail!(
            "some emulated devices did not start: {:?}",
            fleet.failures()
        );
    }

    let api_tls = if args.tls {
        Some(tls::ApiTls::embedded(
            &mut pki,
            &args.data_dir,
            &[],
            args.api_bind.ip(),
        )?)
    } else {
        None
    };
    let core = ServerCore::new(ServerParts {
        store,
        pki,
        provisioning_certs: vec![prov],
        profile: "default".into(),
        fqdn: FqdnPolicy {
            order: vec![Strategy::ReverseDns, Strategy::OperatorMapping],
            mapping,
            resolver: Some(Resolver::new(dns_addr)),
            leases: None,
        },
        concurrency: args.concurrency,
        dns_update: None,
    });
    core.expect(&expected).await;
    // Runs a stopped lab left unfinished are taken up before any hello (P6).
    core.recover().await?;
    core.start_maintenance(crate::config::MaintenanceConfig::default())
        .await;
    // POST /api/v1/check asks the lab's own DNS server about the lab domain.
    core.set_lab_check_inputs(&args.domain, dns_addr, hello_addr.ip(), root_hash.clone());
    let api = api_listener(args.api_bind).await?;
    let api_addr = api.local_addr()?;
    let token = discovery::load_or_create_token(&args.data_dir)?;
    let auth_options = crate::server::auth::AuthOptions {
        session_ttl: args.session_lifetime,
        secure_cookie: api_tls.is_some(),
        ..Default::default()
    };
    let auth =
        crate::server::auth::start(core.store(), &args.data_dir, &token, auth_options).await?;
    let router = api::router(
        core.clone(),
        auth,
        AuditLog::new(core.store().clone()),
        crate::server::api_sol::SolLimits::default(),
    );
    let api_url = tls::api_url(api_addr, api_tls.is_some());
    let ca_file = api_tls.as_ref().and_then(|t| t.ca_file.clone());
    let api_task = match api_tls {
        Some(t) => tokio::spawn(tls::serve(api, router, t)),
        None => tokio::spawn(api::serve(api, router)),
    };
    discovery::write_discovery(&args.data_dir, &api_url, ca_file.as_deref())?;
    println!(
        "amtd lab: {} emulated devices on {} …, hello listener on {}, API on {}, DNS \
         (zone {}) on {}, data in {}",
        args.count,
        args.first_ip,
        hello_addr,
        api_url,
        args.domain,
        dns_addr,
        args.data_dir.display()
    );
    if let Some(f) = &ca_file {
        println!("amtd lab: API over TLS, CA file {}", f.display());
    }
    println!(
        "amtd lab: web console at {api_url}/ (user admin, password in {})",
        args.data_dir
            .join(crate::server::auth::INITIAL_PASSWORD_FILE)
            .display()
    );

    hold_hellos(args.hold_hellos, args.hold_hellos_until.as_deref()).await;
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
            core.handle_hello(event).await;
        }
        let (done, failed, total) = core.counts();
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
    core.print_summary(started.elapsed());
    let st = dns.stats();
    println!(
        "lab DNS: {} queries; ProvisionServer found {} times, {} PTR answers, {} NXDOMAIN, {} \
         refused",
        st.queries, st.provision_server, st.ptr, st.nxdomain, st.refused
    );
    discovery::remove_discovery(&args.data_dir);
    api_task.abort();
    hello_handle.shutdown().await;
    fleet.shutdown();
    dns.shutdown().await;
    let (done, _, total) = core.counts();
    if args.exit_when_done && done != total {
        bail!("{} of {total} devices were not provisioned", total - done);
    }
    Ok(())
}

/// Holds the hellos (the fleet waits) for `secs` seconds and/or until `until` exists.
async fn hold_hellos(secs: u64, until: Option<&Path>) {
    if secs == 0 && until.is_none() {
        return;
    }
    let deadline = (secs > 0).then(|| Instant::now() + Duration::from_secs(secs));
    match (secs, until) {
        (_, Some(f)) => println!(
            "holding hellos until {} exists{}: the fleet waits, then provisions",
            f.display(),
            if secs > 0 {
                format!(" (at most {secs} s)")
            } else {
                String::new()
            }
        ),
        (s, None) => {
            println!("holding hellos for {s} s (--hold-hellos): the fleet waits, then provisions")
        }
    }
    loop {
        if until.is_some_and(Path::exists) || deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tokio::signal::ctrl_c() => return,
        }
    }
}

/// Binds the lab's API; when the address is taken, falls back to a free port on the same IP
/// (the discovery file tells the CLI where it is).
async fn api_listener(bind: SocketAddr) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => Ok(l),
        Err(e) if bind.port() != 0 => {
            eprintln!("amtd lab: API address {bind} unavailable ({e}); using a free port");
            let any = SocketAddr::new(bind.ip(), 0);
            tokio::net::TcpListener::bind(any)
                .await
                .with_context(|| format!("binding the API on {any}"))
        }
        Err(e) => Err(e).with_context(|| format!("binding the API on {bind}")),
    }
}

/// Starts the lab's DNS server for `domain` and `127.in-addr.arpa`, with `ProvisionServer`
/// pointing at `server`; when `bind` is taken, on a free port of the same IP (the devices are
/// told where it is).
async fn start_dns(bind: SocketAddr, domain: &str, server: IpAddr) -> Result<DnsServerHandle> {
    let mut zone = Zone::new(domain).context("the lab domain")?;
    zone.add_reverse_zone("127.in-addr.arpa")?;
    zone.add_address(&zone.provision_server_name(), server)?;
    let dns = match DnsServer::start(bind, zone.clone()).await {
        Ok(d) => d,
        Err(e) if bind.port() != 0 => {
            eprintln!("amtd lab: DNS address {bind} unavailable ({e}); using a free port");
            let any = SocketAddr::new(bind.ip(), 0);
            DnsServer::start(any, zone)
                .await
                .with_context(|| format!("binding the lab DNS server on {any}"))?
        }
        Err(e) => return Err(e).with_context(|| format!("binding the lab DNS server on {bind}")),
    };
    let ns = dns.local_addr().ip();
    dns.update(|z| z.set_name_server_address(ns))?;
    Ok(dns)
}

/// Opens the lab CA, or creates it with `crl_base` (the lab API's `/crl`) as the CRL
/// distribution point written into issued certificates.
fn open_or_init_ca(
    dir: &Path,
    domain: &str,
    crl_base: &str,
) -> Result<(PkiStore, ProvisioningCert)> {
    let ca_dir = dir.join("ca");
    let kek = dir.join("ca.kek");
    let mut pki = if ca_dir.exists() {
        PkiStore::open(&ca_dir, &kek).context("opening the lab CA")?
    } else {
        if !kek.exists() {
            Kek::generate_file(&kek)?;
        }
        let settings = CaSettings {
            crl_base_url: Some(crl_base.to_owned()),
            ..CaSettings::default()
        };
        PkiStore::init(&ca_dir, &kek, settings).context("creating the lab CA")?
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
