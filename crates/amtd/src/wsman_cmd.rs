//! `amtd wsman …`: build, decode, and (with the transport) send WS-Management messages.

use std::path::PathBuf;

use amt_wsman::envelope::{Enumerate, Operation};
use amt_wsman::secret::SecretString;
use amt_wsman::{Instance, Request, Response, SelectorSet, Value};
use amtd_infra::client::WsmanClient;
use amtd_infra::transport::{
    CertFingerprint, CertificateDer, DeviceEndpoint, ServerVerification, TlsOptions,
    TransportConfig, WsmanConnection,
};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

/// How to reach a device.
#[derive(Args, Debug)]
pub struct Target {
    /// Device host name or address.
    #[arg(long)]
    host: String,
    /// Port (default 16992, or 16993 with --tls).
    #[arg(long)]
    port: Option<u16>,
    /// Digest user.
    #[arg(long, default_value = "admin")]
    user: String,
    /// Environment variable holding the password (never pass passwords as arguments).
    #[arg(long, default_value = "AMT_PASSWORD")]
    password_env: String,
    /// Use TLS (16993).
    #[arg(long)]
    tls: bool,
    /// With --tls: SHA-256 fingerprint (hex) the device certificate must have.
    #[arg(long)]
    pin_sha256: Option<String>,
    /// With --tls: PEM file of CA certificates to verify the device against.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// With --tls: accept any device certificate (only for setup-mode devices with a
    /// self-signed certificate).
    #[arg(long)]
    insecure: bool,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// `amtd wsman` subcommands.
#[derive(Subcommand, Debug)]
pub enum WsmanCommand {
    /// Get one instance of a class from a device and print its properties.
    Get {
        #[command(flatten)]
        target: Target,
        /// Class name (AMT_GeneralSettings) or resource URI.
        class: String,
        /// Selectors as NAME=VALUE.
        #[arg(long = "selector")]
        selectors: Vec<String>,
    },
    /// Enumerate every instance of a class on a device and print them.
    Enumerate {
        #[command(flatten)]
        target: Target,
        /// Class name or resource URI.
        class: String,
    },
    /// Print the request XML for an operation on a class (get, enumerate, delete).
    Request {
        /// get | enumerate | delete
        op: String,
        /// Class name (AMT_GeneralSettings) or resource URI.
        class: String,
    },
    /// Decode a saved response and print it as typed values.
    Decode {
        /// File holding a WS-Management response envelope.
        file: PathBuf,
    },
}

/// Runs a `wsman` subcommand.
pub fn run(cmd: WsmanCommand) -> Result<()> {
    match cmd {
        WsmanCommand::Get {
            target,
            class,
            selectors,
        } => {
            let mut set = SelectorSet::new();
            for s in &selectors {
                let (k, v) = s
                    .split_once('=')
                    .with_context(|| format!("selector {s:?} is not NAME=VALUE"))?;
                set = set.with(k, v);
            }
            let rt = runtime()?;
            rt.block_on(async {
                let client = connect(&target)?;
                let inst = client.get_instance(&class, set).await?;
                print_instance(&inst);
                Ok(())
            })
        }
        WsmanCommand::Enumerate { target, class } => {
            let rt = runtime()?;
            rt.block_on(async {
                let client = connect(&target)?;
                let all = client.enumerate_instances(&class).await?;
                for (n, inst) in all.iter().enumerate() {
                    if n > 0 {
                        println!();
                    }
                    print_instance(inst);
                }
                eprintln!("{} instance(s)", all.len());
                Ok(())
            })
        }
        WsmanCommand::Request { op, class } => {
            let op = match op.as_str() {
                "get" => Operation::Get,
                "enumerate" => Operation::Enumerate(Enumerate::default()),
                "delete" => Operation::Delete,
                other => bail!("unknown operation {other:?} (get, enumerate, delete)"),
            };
            println!("{}", Request::new(&class, 0, op).to_xml());
            Ok(())
        }
        WsmanCommand::Decode { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let resp = Response::parse(&bytes)?;
            println!("{resp:#?}");
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn connect(t: &Target) -> Result<WsmanClient> {
    let password = std::env::var(&t.password_env).with_context(|| {
        format!(
            "set the device password in ${} (or name another variable with --password-env)",
            t.password_env
        )
    })?;
    let endpoint = if t.tls {
        let verification = match (&t.pin_sha256, &t.ca, t.insecure) {
            (Some(pin), None, false) => ServerVerification::PinnedSha256(
                CertFingerprint::from_hex(pin).context("--pin-sha256 must be 64 hex digits")?,
            ),
            (None, Some(ca), false) => ServerVerification::RootCerts(read_pem_certs(ca)?),
            (None, None, true) => ServerVerification::InsecureAcceptAny,
            _ => bail!("with --tls give exactly one of --pin-sha256, --ca or --insecure"),
        };
        DeviceEndpoint::https(&t.host, TlsOptions::new(verification))
    } else {
        DeviceEndpoint::http(&t.host)
    };
    let endpoint = match t.port {
        Some(p) => endpoint.with_port(p),
        None => endpoint,
    };
    let config = TransportConfig {
        request_timeout: std::time::Duration::from_secs(t.timeout),
        ..TransportConfig::default()
    };
    let conn = WsmanConnection::new(endpoint, &t.user, SecretString::new(password), config)?;
    Ok(WsmanClient::new(conn))
}

fn read_pem_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ders = amt_pki::pem::certificates(&text)
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if ders.is_empty() {
        bail!("no certificates in {}", path.display());
    }
    Ok(ders.into_iter().map(CertificateDer::from).collect())
}

fn print_instance(i: &Instance) {
    println!("{}", i.name);
    for p in &i.properties {
        match &p.value {
            Value::Text(t) => println!("  {}: {}", p.name, t),
            Value::Nil => println!("  {}: (nil)", p.name),
            Value::Epr(e) => {
                let sel: Vec<String> = e
                    .selectors
                    .0
                    .iter()
                    .map(|s| match &s.value {
                        amt_wsman::value::SelectorValue::Text(t) => format!("{}={}", s.name, t),
                        amt_wsman::value::SelectorValue::Epr(_) => format!("{}=<ref>", s.name),
                    })
                    .collect();
                println!(
                    "  {}: -> {} [{}]",
                    p.name,
                    e.resource_uri
                        .as_deref()
                        .map(amt_wsman::ns::class_of)
                        .unwrap_or("?"),
                    sel.join(", ")
                );
            }
            Value::Element(e) => println!("  {}: {}", p.name, e.text_trimmed()),
        }
    }
}
