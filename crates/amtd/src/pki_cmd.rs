//! `amtd ca …`: the embedded CA from the command line: create it, issue the AMT certificate
//! profiles, import provisioning certificates, revoke, publish CRLs, export trust files.
//!
//! Passwords for PKCS#12 files come from an environment variable, never from arguments.
//!
//! Commands that change the CA (`init`, `issue-*`, `import-provisioning`, `revoke`,
//! `crl --refresh`) are written to the server's audit chain with actor `cli:<unix user>`:
//! `started` before (the command refuses, changing nothing, when that cannot be written) and
//! the result after. The chain is the store named by `--config` (the server's amtd.toml), else
//! the database next to the CA store (`amtd.sqlite` of `amtd serve`, `amtd.db` of `amtd lab`,
//! in the directory holding `--store`). A CA with no server store yet (before the first
//! `amtd serve`) has no chain to write to: the command runs and says so on standard error.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use amtd_infra::pki_store::amt_pki::{
    self, CaRole, CaSettings, Cert, CertHash, CertState, ProvisioningCert, RevocationReason,
    RsaKey, Serial, SetupMarker, VerifiedCsr,
};
use amtd_infra::pki_store::{Kek, PkiStore};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

/// `amtd ca` arguments: where the store and its key-encryption key are, and what to do.
#[derive(Args, Debug)]
pub struct CaArgs {
    /// CA store directory.
    #[arg(long, default_value = "amtd-ca", global = true)]
    store: PathBuf,
    /// Key-encryption key file (32 bytes or 64 hex digits, mode 0600).
    #[arg(long, default_value = "amtd-ca.kek", global = true)]
    kek: PathBuf,
    /// The server's config file: its store's audit log records this command's changes
    /// (default: the database next to the CA store).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: CaCommand,
}

/// `amtd ca` subcommands.
#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create the root and issuing CA (refuses if a store already exists).
    Init {
        /// O attribute of CA, console and provisioning certificates.
        #[arg(long, default_value = "amtd")]
        organization: String,
        /// Base URL the server publishes CRLs at (http://host:port/crl); written into issued
        /// certificates as the CRL distribution point.
        #[arg(long)]
        crl_url: Option<String>,
        /// RSA key size for the CA keys (2048 or more).
        #[arg(long, default_value_t = 2048)]
        key_bits: usize,
        /// Create the KEK file (mode 0600) if it does not exist.
        #[arg(long)]
        create_kek: bool,
    },
    /// Issue a device TLS server certificate (from the device's PKCS#10, or with a new key).
    IssueDevice {
        /// Device FQDN (as in DHCP option 81).
        #[arg(long)]
        fqdn: String,
        /// Device UUID.
        #[arg(long)]
        uuid: String,
        /// The device's PKCS#10 request (PEM or base64). Without it a key is made here.
        #[arg(long)]
        csr: Option<PathBuf>,
        /// Certificate output (PEM).
        #[arg(long)]
        out: PathBuf,
        /// Without --csr: where to write the new key (PKCS#8 PEM, mode 0600).
        #[arg(long)]
        key_out: Option<PathBuf>,
    },
    /// Issue a console mutual-TLS client certificate and write its bundle.
    IssueConsole {
        /// Common name of the console or operator.
        #[arg(long)]
        name: String,
        /// Output directory for the bundle (1-client.pfx, 2-issuing-ca.pem, 3-root-ca.pem).
        #[arg(long)]
        out: PathBuf,
        /// Environment variable holding the PKCS#12 password.
        #[arg(long, default_value = "AMTD_PFX_PASSWORD")]
        password_env: String,
    },
    /// Issue a lab provisioning certificate (PKCS#12 with its chain).
    IssueProvisioning {
        /// FQDN in the provisioning domain (`*.domain` allowed).
        #[arg(long)]
        fqdn: String,
        /// Mark it with OU=Intel(R) Client Setup Certificate instead of the setup OID.
        #[arg(long)]
        ou: bool,
        /// Mark it with both the OID and the OU.
        #[arg(long, conflicts_with = "ou")]
        both: bool,
        /// PKCS#12 output.
        #[arg(long)]
        out: PathBuf,
        /// Environment variable holding the PKCS#12 password.
        #[arg(long, default_value = "AMTD_PFX_PASSWORD")]
        password_env: String,
    },
    /// Validate a purchased provisioning certificate and keep it in the store.
    ImportProvisioning {
        /// PKCS#12 file (password from --password-env).
        #[arg(long, conflicts_with_all = ["chain", "key"])]
        pfx: Option<PathBuf>,
        /// PEM chain (leaf and CAs, any order).
        #[arg(long, requires = "key")]
        chain: Option<PathBuf>,
        /// PEM private key (unencrypted).
        #[arg(long, requires = "chain")]
        key: Option<PathBuf>,
        /// Environment variable holding the PKCS#12 password.
        #[arg(long, default_value = "AMTD_PFX_PASSWORD")]
        password_env: String,
        /// Check against a device's trusted root hash (hex; repeat). SHA-1/256/384 by length.
        #[arg(long = "trusted-hash")]
        trusted_hashes: Vec<String>,
        /// Check against a device's domain (DHCP option 15 or configured suffix).
        #[arg(long)]
        domain: Option<String>,
        /// Only validate and report; do not store.
        #[arg(long)]
        check_only: bool,
    },
    /// Revoke a certificate and publish new CRLs.
    Revoke {
        /// Serial number (hex).
        #[arg(long)]
        serial: String,
        /// replaced-by-maintenance, reprovisioned, provisioning-failed, key-compromise,
        /// decommissioned or unspecified.
        #[arg(long)]
        reason: String,
    },
    /// Write a CA's current CRL (with --refresh, sign and publish new ones first).
    Crl {
        /// root or issuing.
        #[arg(long, default_value = "issuing")]
        ca: String,
        /// Output file (DER, or PEM with --pem).
        #[arg(long)]
        out: PathBuf,
        /// PEM instead of DER.
        #[arg(long)]
        pem: bool,
        /// Publish new CRLs for both CAs first.
        #[arg(long)]
        refresh: bool,
    },
    /// Write the redirection trust PEM: issuing CA, then root.
    TrustPem {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a mutual-TLS bundle for an existing client certificate and key.
    MtlsBundle {
        /// Client certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Its key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Environment variable holding the PKCS#12 password.
        #[arg(long, default_value = "AMTD_PFX_PASSWORD")]
        password_env: String,
    },
    /// List the ledger of issued certificates.
    Ledger {
        /// Only this device's certificates.
        #[arg(long)]
        device: Option<String>,
    },
}

fn password(var: &str) -> Result<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => bail!("set the PKCS#12 password in the environment variable {var}"),
    }
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", path.display()))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn open(args: &CaArgs) -> Result<PkiStore> {
    Ok(PkiStore::open(&args.store, &args.kek)?)
}

fn report_provisioning(p: &ProvisioningCert) {
    println!("provisioning certificate: {}", p.leaf().subject());
    println!("  marker: {:?}", p.marker());
    println!("  domain suffix: {}", p.domain_suffix());
    println!(
        "  chain: {} certificates, root {}",
        p.chain().len(),
        p.root().subject()
    );
    let h = p.root_hashes();
    println!("  root SHA-256: {}", h.sha256.to_hex());
    println!("  root SHA-1:   {}", h.sha1.to_hex());
    println!("  root SHA-384: {}", h.sha384.to_hex());
    let days = p
        .leaf()
        .not_after()
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    println!("  expires in {days} days");
}

/// The audit action and detail of a command that changes the CA (`None`: it changes nothing).
fn audited(command: &CaCommand) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    Some(match command {
        CaCommand::Init { organization, .. } => {
            ("ca-init", json!({ "organization": organization }))
        }
        CaCommand::IssueDevice { fqdn, uuid, .. } => (
            "issue-device-certificate",
            json!({ "fqdn": fqdn, "uuid": uuid }),
        ),
        CaCommand::IssueConsole { name, .. } => {
            ("issue-console-certificate", json!({ "name": name }))
        }
        CaCommand::IssueProvisioning { fqdn, .. } => {
            ("issue-provisioning-certificate", json!({ "fqdn": fqdn }))
        }
        CaCommand::ImportProvisioning {
            check_only: false, ..
        } => ("import-provisioning-certificate", json!({})),
        CaCommand::Revoke { serial, reason } => (
            "revoke-certificate",
            json!({ "serial": serial.to_ascii_lowercase(), "reason": reason }),
        ),
        CaCommand::Crl { refresh: true, .. } => ("publish-crls", json!({})),
        _ => return None,
    })
}

/// Run one `amtd ca` command (audited when it changes the CA; see the module docs).
pub fn run(args: CaArgs) -> Result<()> {
    let Some((action, detail)) = audited(&args.command) else {
        return run_command(&args);
    };
    match crate::audit_cmd::CliAudit::locate(args.config.as_deref(), &args.store, &args.kek)? {
        Some((url, kek)) => {
            let audit = crate::audit_cmd::CliAudit::begin(&url, &kek, action, detail)?;
            let result = run_command(&args);
            audit.end(&result, None);
            result
        }
        None => {
            eprintln!(
                "amtd ca: no server store next to {} (give --config for the server's): this                  change is not recorded in an audit log",
                args.store.display()
            );
            run_command(&args)
        }
    }
}

fn run_command(args: &CaArgs) -> Result<()> {
    match &args.command {
        CaCommand::Init {
            organization,
            crl_url,
            key_bits,
            create_kek,
        } => {
            if *create_kek && !args.kek.exists() {
                Kek::generate_file(&args.kek)?;
                println!(
                    "created key-encryption key {} (mode 0600): back it up",
                    args.kek.display()
                );
            }
            let settings = CaSettings {
                organization: organization.clone(),
                key_bits: *key_bits,
                crl_base_url: crl_url.clone(),
                ..CaSettings::default()
            };
            let store = PkiStore::init(&args.store, &args.kek, settings)?;
            println!("created CA in {}", args.store.display());
            for role in [CaRole::Root, CaRole::Issuing] {
                let c = store.ca().authority(role).cert();
                println!("  {role}: {} serial {}", c.subject(), c.serial());
            }
        }
        CaCommand::IssueDevice {
            fqdn,
            uuid,
            csr,
            out,
            key_out,
        } => {
            let mut store = open(args)?;
            let cert = match csr {
                Some(path) => {
                    let csr = VerifiedCsr::from_pem_or_base64(&read_text(path)?)?;
                    store.issue_device_from_csr(&csr, fqdn, uuid)?
                }
                None => {
                    let Some(key_out) = key_out else {
                        bail!("without --csr a key is made here: give --key-out FILE for it");
                    };
                    let (cert, key) =
                        store.issue_with_new_key(&amt_pki::LeafRequest::Device { fqdn, uuid })?;
                    write_file(key_out, key.to_pkcs8_pem()?.as_bytes(), 0o600)?;
                    cert
                }
            };
            write_file(out, cert.to_pem().as_bytes(), 0o644)?;
            println!("issued {} serial {}", cert.subject(), cert.serial());
        }
        CaCommand::IssueConsole {
            name,
            out,
            password_env,
        } => {
            let pw = password(password_env)?;
            let mut store = open(args)?;
            let (cert, key) = store.issue_console(name)?;
            write_bundle(&store, &cert, &key, out, &pw)?;
            println!("issued {} serial {}", cert.subject(), cert.serial());
        }
        CaCommand::IssueProvisioning {
            fqdn,
            ou,
            both,
            out,
            password_env,
        } => {
            let pw = password(password_env)?;
            let marker = match (ou, both) {
                (_, true) => SetupMarker::Both,
                (true, _) => SetupMarker::Ou,
                _ => SetupMarker::Oid,
            };
            let mut store = open(args)?;
            let (cert, key) = store.issue_provisioning(fqdn, marker)?;
            let pfx = store.pfx_with_chain(&cert, &key, fqdn, &pw)?;
            write_file(out, &pfx, 0o600)?;
            let root = store.ca().root().cert().hashes();
            println!("issued {} serial {}", cert.subject(), cert.serial());
            println!(
                "  root SHA-256 (add to the device's trusted hashes): {}",
                root.sha256.to_hex()
            );
        }
        CaCommand::ImportProvisioning {
            pfx,
            chain,
            key,
            password_env,
            trusted_hashes,
            domain,
            check_only,
        } => {
            let now = SystemTime::now();
            let cert = match (pfx, chain, key) {
                (Some(p), _, _) => {
                    let data =
                        std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                    ProvisioningCert::from_pfx(&data, &password(password_env)?, now)?
                }
                (None, Some(c), Some(k)) => {
                    ProvisioningCert::from_pem(&read_text(c)?, &read_text(k)?, now)?
                }
                _ => bail!("give --pfx FILE, or --chain FILE and --key FILE"),
            };
            report_provisioning(&cert);
            if !trusted_hashes.is_empty() {
                let hashes = trusted_hashes
                    .iter()
                    .map(|h| CertHash::from_hex(h))
                    .collect::<Result<Vec<_>, _>>()?;
                match cert.fits_hashes(&hashes) {
                    Ok(()) => println!("  root hash: trusted by the device"),
                    Err(e) => println!("  root hash: DOES NOT FIT: {e}"),
                }
            }
            if let Some(d) = domain {
                match cert.fits_domain(d) {
                    Ok(()) => println!("  domain {d}: fits"),
                    Err(e) => println!("  domain: DOES NOT FIT: {e}"),
                }
            }
            if !check_only {
                let store = open(args)?;
                let id = store.import_provisioning(&cert)?;
                println!("stored as {id}");
            }
        }
        CaCommand::Revoke { serial, reason } => {
            let serial = Serial::from_hex(serial)?;
            let reason: RevocationReason = reason.parse()?;
            let mut store = open(args)?;
            store.revoke(&serial, reason)?;
            println!("revoked {serial} ({reason}); CRLs published");
        }
        CaCommand::Crl {
            ca,
            out,
            pem,
            refresh,
        } => {
            let role: CaRole = ca.parse()?;
            let mut store = open(args)?;
            if *refresh {
                store.publish_crls()?;
            }
            let crl = store.crl(role)?;
            if *pem {
                write_file(out, crl.to_pem().as_bytes(), 0o644)?;
            } else {
                write_file(out, crl.der(), 0o644)?;
            }
            println!(
                "{role} CRL number {} with {} entries written to {}",
                crl.number().unwrap_or(0),
                crl.entries().len(),
                out.display()
            );
        }
        CaCommand::TrustPem { out } => {
            let store = open(args)?;
            write_file(out, store.trust_pem()?.as_bytes(), 0o644)?;
            println!("wrote issuing CA then root to {}", out.display());
        }
        CaCommand::MtlsBundle {
            cert,
            key,
            out,
            password_env,
        } => {
            let pw = password(password_env)?;
            let store = open(args)?;
            let cert = Cert::from_pem(&read_text(cert)?)?;
            let key = RsaKey::from_pem(&read_text(key)?)?;
            write_bundle(&store, &cert, &key, out, &pw)?;
        }
        CaCommand::Ledger { device } => {
            let store = open(args)?;
            for e in &store.ledger().entries {
                if let Some(d) = device {
                    if !e
                        .device
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(d))
                    {
                        continue;
                    }
                }
                let state = match &e.state {
                    CertState::Revoked { reason, .. } => format!("revoked ({reason})"),
                    CertState::Superseded { by, .. } => format!("superseded by {by}"),
                    s => s.name().to_string(),
                };
                println!(
                    "{}  {:<14} {:<28} {}  [{}]",
                    e.serial,
                    e.purpose.to_string(),
                    state,
                    e.subject,
                    e.device.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

fn write_bundle(store: &PkiStore, cert: &Cert, key: &RsaKey, out: &Path, pw: &str) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bundle = store.mtls_bundle(cert, key, pw)?;
    for (name, data) in bundle.files() {
        let mode = if name.ends_with(".pfx") { 0o600 } else { 0o644 };
        write_file(&out.join(&name), &data, mode)?;
        println!("  {}", out.join(&name).display());
    }
    Ok(())
}
