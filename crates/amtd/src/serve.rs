//! `amtd serve --config amtd.toml`: the provisioning server on a configuration file.
//!
//! It opens the store named by the config (SQLite path or PostgreSQL URL), the embedded CA
//! (which must exist: `amtd serve` never creates a CA silently, it refuses and names the
//! `amtd ca init` command to run — a CA is a long-lived trust anchor an operator should create
//! on purpose; only `amtd lab` creates its own), the provisioning certificates (from the config,
//! PKCS#12 or PEM, plus those imported into the CA store), starts the hello listener and the
//! REST API, and writes `<data_dir>/server.json` so the CLI finds it.
//!
//! The API speaks TLS when `[server.api_tls] mode` is `embedded-ca` (a certificate from the
//! embedded CA, see `server::tls`) or `files`; plain HTTP beyond loopback is refused unless
//! `allow_plain_http = true` says it is meant.
//!
//! FQDN discovery follows `[fqdn] strategies` (see `server::fqdn`): the operator mapping,
//! reverse DNS with forward confirmation asked of the `[dns] resolver` server (only when
//! `reverse-dns` is listed; never the system resolver), and the device's own settings, which
//! the provisioning machine compares with the chosen name at connect-back; conflicts are
//! recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use amt_pki::ProvisioningCert;
use amtd_core::fqdn::Strategy;
use amtd_infra::dns::Resolver;
use amtd_infra::hello_listener::{HelloEvent, HelloListener};
use amtd_infra::pki_store::{Kek, PkiStore};
use amtd_infra::store::Store;
use anyhow::{bail, Context, Result};
use clap::Args;

use crate::config::{
    ApiTlsMode, CaConfig, Config, FqdnStrategy, ProvisioningCertificateSource, StoreConfig,
};
use crate::server::discovery::{self, AuditLog};
use crate::server::{api, profiles, tls, FqdnPolicy, MappedDevice, ServerCore, ServerParts};

/// `amtd serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (TOML; see examples/amtd.toml).
    #[arg(long)]
    config: PathBuf,
    /// Devices provisioned at the same time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Log lines on standard error: text or json (level: RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    log_format: crate::logging::LogFormat,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    crate::logging::init("info", args.log_format);
    let config = Config::load(&args.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(config, args.concurrency))
}

async fn serve(config: Config, concurrency: usize) -> Result<()> {
    check_plain_http(&config)?;
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;

    let CaConfig::Embedded {
        dir: ca_dir,
        kek_file,
        ..
    } = &config.ca;
    if !ca_dir.exists() {
        bail!(
            "no CA store at {dir}: amtd serve does not create a CA by itself. Create it once \
             with\n  amtd ca init --store {dir} --kek {kek} --create-kek --crl-url \
             http://<this server>:<api port>/crl\n(or point [ca] dir/kek_file at an existing one)",
            dir = ca_dir.display(),
            kek = kek_file.display()
        );
    }
    let mut pki = PkiStore::open(ca_dir, kek_file)
        .with_context(|| format!("opening the CA store {}", ca_dir.display()))?;
    pki.refresh_crls_if_due(SystemTime::now())
        .context("publishing the CRLs")?;
    let kek = Kek::from_file(kek_file)?;
    let store = Store::open(&store_url(&config.store)?, kek)
        .await
        .context("opening the store")?;

    let api_tls = match &config.server.api_tls.mode {
        ApiTlsMode::Off => None,
        ApiTlsMode::EmbeddedCa => Some(tls::ApiTls::embedded(
            &mut pki,
            &data_dir,
            &config.server.api_tls.names,
            config.server.api_bind.ip(),
        )?),
        ApiTlsMode::Files {
            cert_file,
            key_file,
            ca_file,
        } => Some(tls::ApiTls::from_files(
            cert_file,
            key_file,
            ca_file.as_deref(),
        )?),
    };
    let certs = provisioning_certs(&config, &pki)?;
    if certs.is_empty() {
        eprintln!(
            "amtd serve: no provisioning certificate configured or imported; devices will be \
             refused until one is added ([[provisioning_certificate]] or `amtd ca \
             import-provisioning`)"
        );
    }
    profiles::install_from_config(&store, &pki, &config.profiles, profiles::Source::Config)
        .await
        .context("storing the profiles")?;
    let profile = config
        .profiles
        .first()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| crate::config::DEFAULT_PROFILE.to_owned());

    let fqdn = fqdn_policy(&config);
    let core = ServerCore::new(ServerParts {
        store,
        pki,
        provisioning_certs: certs,
        profile,
        fqdn,
        concurrency,
        dns_update: dns_updater(&config)?,
    });
    // Runs a stopped server left unfinished are taken up before any hello (P6).
    core.recover().await?;
    // Maintenance operations a stopped server left are settled, then the job is scheduled.
    core.start_maintenance(config.maintenance.clone()).await;
    // POST /api/v1/check runs with the configuration's [check] settings.
    core.set_check_inputs(crate::check_cmd::server_inputs(&config));

    let (tx, mut rx) = tokio::sync::mpsc::channel::<HelloEvent>(4096);
    let hello_bind = config.server.hello.bind;
    let listener = HelloListener::bind(config.server.hello.clone(), tx)
        .await
        .with_context(|| format!("binding the hello listener on {hello_bind}"))?;
    let hello_addr = listener.local_addr()?;
    let hello_handle = listener.spawn()?;

    let api_bind = config.server.api_bind;
    if !api_bind.ip().is_loopback() && api_tls.is_none() {
        eprintln!(
            "amtd serve: the API on {api_bind} is plain HTTP beyond loopback \
             ([server.api_tls] allow_plain_http = true)"
        );
    }
    let api_listener = tokio::net::TcpListener::bind(api_bind)
        .await
        .with_context(|| format!("binding the API on {api_bind}"))?;
    let api_addr = api_listener.local_addr()?;
    let token = discovery::load_or_create_token(&data_dir)?;
    let auth_options = crate::server::auth::AuthOptions {
        session_ttl: config.server.auth.session_lifetime,
        idle_timeout: config.server.auth.idle_timeout,
        secure_cookie: api_tls.is_some(),
    };
    let auth = crate::server::auth::start(core.store(), &data_dir, &token, auth_options).await?;
    let sol = crate::server::api_sol::SolLimits {
        idle_timeout: config.server.sol_idle_timeout,
        ..Default::default()
    };
    let router = api::router(core.clone(), auth, AuditLog::new(core.store().clone()), sol);
    let api_url = tls::api_url(api_addr, api_tls.is_some());
    let ca_file = api_tls.as_ref().and_then(|t| t.ca_file.clone());
    let api_task = match api_tls {
        Some(t) => {
            println!("amtd serve: API certificate for {}", t.names.join(", "));
            tokio::spawn(tls::serve(api_listener, router, t))
        }
        None => tokio::spawn(api::serve(api_listener, router)),
    };
    discovery::write_discovery(&data_dir, &api_url, ca_file.as_deref())?;
    println!(
        "amtd serve: hello listener on {hello_addr}, API on {api_url}{}, data in {}",
        ca_file
            .as_ref()
            .map(|f| format!(" (CA file {})", f.display()))
            .unwrap_or_default(),
        data_dir.display()
    );
    println!("amtd serve: web console at {api_url}/");

    let mut crl_timer = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            e = rx.recv() => match e {
                Some(event) => core.handle_hello(event).await,
                None => break,
            },
            _ = crl_timer.tick() => core.refresh_crls(),
            _ = shutdown_signal() => break,
        }
    }
    discovery::remove_discovery(&data_dir);
    api_task.abort();
    hello_handle.shutdown().await;
    core.store().close().await;
    Ok(())
}

/// Plain HTTP beyond loopback is refused unless the config says it is wanted: the API carries
/// passwords, tokens and session cookies.
fn check_plain_http(config: &Config) -> Result<()> {
    let t = &config.server.api_tls;
    let bind = config.server.api_bind;
    if t.mode != ApiTlsMode::Off || bind.ip().is_loopback() || t.allow_plain_http {
        return Ok(());
    }
    bail!(
        "refusing to serve the API in plain HTTP on {bind}, beyond loopback: passwords, tokens \
         and session cookies would cross the network in the clear. Turn TLS on with\n  \
         [server.api_tls]\n  mode = \"embedded-ca\"   # or \"files\" with cert_file and key_file\n\
         or bind the API to loopback (api_bind = \"127.0.0.1:9972\") behind a TLS proxy, or, if \
         the network is trusted, set\n  [server.api_tls]\n  allow_plain_http = true"
    )
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The store URL, with the PostgreSQL password (from its environment variable) filled in.
pub(crate) fn store_url(config: &StoreConfig) -> Result<String> {
    match config {
        StoreConfig::Sqlite { path } => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            Ok(format!("sqlite://{}", path.display()))
        }
        StoreConfig::Postgres { url, password_env } => {
            let Some(env) = password_env else {
                return Ok(url.clone());
            };
            let password = env.read()?;
            let Some((scheme, rest)) = url.split_once("://") else {
                bail!("[store] url {url:?} has no scheme");
            };
            let Some((user, host)) = rest.split_once('@') else {
                bail!("[store] url needs a user (postgres://USER@HOST/DB) to use password_env");
            };
            Ok(format!(
                "{scheme}://{user}:{}@{host}",
                percent_encode(password.expose())
            ))
        }
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Provisioning certificates from the config (passwords from their environment variables),
/// then those imported into the CA store.
fn provisioning_certs(config: &Config, pki: &PkiStore) -> Result<Vec<ProvisioningCert>> {
    let now = SystemTime::now();
    let mut out = Vec::new();
    for c in &config.provisioning_certificates {
        let cert = match &c.source {
            ProvisioningCertificateSource::Pkcs12 { path, password_env } => {
                let data = std::fs::read(path)
                    .with_context(|| format!("reading provisioning certificate {}", c.name))?;
                let password = password_env.read()?;
                ProvisioningCert::from_pfx(&data, password.expose(), now)
            }
            ProvisioningCertificateSource::Pem { chain, key } => {
                let chain = std::fs::read_to_string(chain)
                    .with_context(|| format!("reading provisioning certificate {}", c.name))?;
                let key = std::fs::read_to_string(key)
                    .with_context(|| format!("reading the key of {}", c.name))?;
                ProvisioningCert::from_pem(&chain, &key, now)
            }
        }
        .with_context(|| format!("loading provisioning certificate {}", c.name))?;
        out.push(cert);
    }
    out.extend(
        pki.provisioning_certs(now)
            .context("reading the CA store's provisioning certificates")?
            .into_iter()
            .map(|(_, c)| c),
    );
    Ok(out)
}

/// The TSIG key of `[dns.tsig]`, its secret read from the environment.
pub fn tsig_key(config: &Config) -> Result<Option<amtd_infra::dns::TsigKey>> {
    let Some(t) = &config.dns.tsig else {
        return Ok(None);
    };
    let secret = t.secret_env.read()?;
    let key = amtd_infra::dns::TsigKey::new(&t.name, t.algorithm.name(), secret.expose())
        .with_context(|| format!("[dns.tsig] key {} (secret from {})", t.name, t.secret_env))?;
    Ok(Some(key))
}

/// `[dns.update]`: the RFC 2136 updater, when enabled.
fn dns_updater(config: &Config) -> Result<Option<amtd_infra::dns::Updater>> {
    let u = &config.dns.update;
    if !u.enabled {
        return Ok(None);
    }
    let Some(key) = tsig_key(config)? else {
        anyhow::bail!("[dns.update] is enabled but [dns.tsig] is not configured");
    };
    let Some(server) = u.server.or(config.dns.resolver) else {
        anyhow::bail!("[dns.update] needs a server (or [dns] resolver)");
    };
    Ok(Some(amtd_infra::dns::Updater::new(server, key, u.ttl)))
}

fn fqdn_policy(config: &Config) -> FqdnPolicy {
    let mut mapping = HashMap::new();
    let mut order = Vec::new();
    for s in &config.fqdn.strategies {
        match s {
            FqdnStrategy::OperatorMapping => {
                order.push(Strategy::OperatorMapping);
                for (uuid, fqdn) in &config.fqdn.mapping {
                    mapping.insert(
                        uuid.to_string().to_ascii_lowercase(),
                        MappedDevice {
                            fqdn: fqdn.clone(),
                            address: None,
                        },
                    );
                }
            }
            FqdnStrategy::ReverseDns => {
                order.push(Strategy::ReverseDns);
                if config.dns.resolver.is_none() {
                    eprintln!(
                        "amtd serve: [fqdn] strategies lists reverse-dns but [dns] resolver is not \
                         set; reverse DNS will find nothing (amtd never asks the system resolver)"
                    );
                }
            }
            FqdnStrategy::DeviceSettings => order.push(Strategy::DeviceSettings),
            FqdnStrategy::DhcpLease => order.push(Strategy::DhcpLease),
        }
    }
    FqdnPolicy {
        order,
        mapping,
        resolver: config.dns.resolver.map(Resolver::new),
        leases: (config.dhcp.kea_lease_file.is_some() || config.dhcp.kea_control_socket.is_some())
            .then(|| amtd_infra::dhcp_leases::KeaLeases {
                lease_file: config.dhcp.kea_lease_file.clone(),
                control_socket: config.dhcp.kea_control_socket.clone(),
            }),
    }
}
