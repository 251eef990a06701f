//! `amtd sol <device>` and `amtd ider <device> --image FILE [--reboot]`: the redirection
//! console (M4, M5) over `amtd_infra::redirection`.
//!
//! `amtd sol <uuid>` goes through the server's SOL bridge (`GET /api/v1/devices/{uuid}/sol`, a
//! WebSocket, [`crate::server::api_sol`]) with the API token: the CLI uses only the API, the
//! device's password never leaves the server and the server audits the session. `--direct`
//! (implied by the direct-connection options `--plain`, `--ca`, `--pin-sha256`, `--fqdn`,
//! `--port`, `--allow-plain-auth`) connects to the device itself instead, as `amtd ider` does.
//!
//! Directly, the device is a UUID known to a running `amtd lab`/`amtd serve` (found like `amtd
//! devices` finds it): its address and FQDN come from the API, its admin password from the
//! audited `reveal-password` call, and TLS (16995, and 16993 for `--reboot`) is verified
//! against the server's trust chain (`/api/v1/trust/redirection.pem`) with the FQDN as the
//! name. Or `--host ADDR` with the password in an environment variable (`--password-env`,
//! default `AMT_PASSWORD`), TLS when `--ca` or `--pin-sha256` says how to verify the device.
//! `--plain` uses 16994/16992 (lab devices that accept non-TLS connections; digest still
//! protects the password).
//!
//! `amtd sol` is a terminal. On a TTY it switches the terminal to raw mode (keys go to the
//! host as typed, Ctrl-C included) and restores it on every way out (return, error, panic
//! unwinding, SIGTERM/SIGHUP). **Ctrl-] then q** quits; Ctrl-] Ctrl-] sends a literal Ctrl-];
//! Ctrl-] ? shows this help. When stdin is not a TTY (a pipe), bytes are sent as they come and,
//! once stdin ends, the session stays until the host has been quiet for `--linger-ms`.
//!
//! `amtd ider` serves the image as the device's IDE-R CD-ROM. With `--reboot` it arms the next
//! boot to IDE-R CD (`AMT_BootSettingData`, `SetBootConfigRole`) and power-cycles the host (or
//! powers it on). It prints what the device reads and stops once the device has read the boot
//! image the image's El Torito catalog names (or sector 0 of a plain image), unless
//! `--keep-serving`; Ctrl-C stops it at any time.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use amt_wire::redirection::IderStartMode;
use amt_wsman::classes::cim::PowerState;
use amt_wsman::secret::SecretString;
use amtd_infra::console::{
    change_power, power_status, set_next_boot, DeviceSession, NextBoot, PowerAction,
};
use amtd_infra::redirection::ider::{IderEvent, IderServer, ImageInfo};
use amtd_infra::redirection::sol::{SolEvent, SolSession};
use amtd_infra::redirection::RedirectionTarget;
use amtd_infra::transport::{CertFingerprint, CertificateDer, ServerVerification, TlsOptions};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use crate::client::{Api, ServerArgs};

/// Which device, and how to reach it.
#[derive(Args, Debug)]
pub struct Target {
    /// The device's UUID (address, FQDN and password from the running server). Omit with
    /// --host.
    #[arg(required_unless_present = "host")]
    device: Option<String>,
    /// Talk to this address directly (password from --password-env).
    #[arg(long, conflicts_with = "device")]
    host: Option<String>,
    /// Digest user with --host.
    #[arg(long, default_value = "admin")]
    user: String,
    /// Environment variable holding the password with --host (never pass passwords as
    /// arguments).
    #[arg(long, default_value = "AMT_PASSWORD")]
    password_env: String,
    /// Plain TCP (16994, and 16992 for --reboot) instead of TLS.
    #[arg(long)]
    plain: bool,
    /// TLS: PEM file of CA certificates to verify the device against (default with a UUID:
    /// the server's trust chain).
    #[arg(long, conflicts_with = "plain")]
    ca: Option<PathBuf>,
    /// TLS: the SHA-256 fingerprint (hex) the device certificate must have.
    #[arg(long, conflicts_with_all = ["plain", "ca"])]
    pin_sha256: Option<String>,
    /// TLS with a CA: the name the device certificate must carry (default: the device's FQDN,
    /// or --host).
    #[arg(long)]
    fqdn: Option<String>,
    /// Redirection port (default 16994, or 16995 with TLS).
    #[arg(long)]
    port: Option<u16>,
    /// WS-Man port for --reboot (default 16992, or 16993 with TLS).
    #[arg(long)]
    wsman_port: Option<u16>,
    /// Allow the password in clear (auth type 1) over plain TCP if the device offers nothing
    /// else.
    #[arg(long)]
    allow_plain_auth: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd sol`.
#[derive(Args, Debug)]
pub struct SolArgs {
    #[command(flatten)]
    target: Target,
    /// Pipe mode: once stdin ends, how long the host must be quiet before the session ends.
    #[arg(long, default_value_t = 1000)]
    linger_ms: u64,
    /// With a UUID: connect to the device directly (its password from the audited
    /// reveal-password call) instead of through the server's SOL bridge.
    #[arg(long, conflicts_with = "host")]
    direct: bool,
}

/// When the device's drives appear.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// At the host's next reboot.
    OnReboot,
    /// When the host's drive is idle.
    Graceful,
    /// At once.
    Now,
}

/// `amtd ider`.
#[derive(Args, Debug)]
pub struct IderArgs {
    #[command(flatten)]
    target: Target,
    /// The disk image to serve as the IDE-R CD-ROM (ISO 9660 with El Torito, or a raw image).
    #[arg(long)]
    image: PathBuf,
    /// Arm the next boot to IDE-R CD and power-cycle the host (or power it on).
    #[arg(long)]
    reboot: bool,
    /// When the drives appear to the host.
    #[arg(long, value_enum, default_value_t = StartMode::OnReboot)]
    start: StartMode,
    /// Keep serving after the device read the boot image (until Ctrl-C or the device ends).
    #[arg(long)]
    keep_serving: bool,
    /// Give up when the device has not read the boot image after this many seconds.
    #[arg(long)]
    timeout: Option<u64>,
}

/// A device resolved to a redirection target and a WS-Man session.
struct Resolved {
    name: String,
    target: RedirectionTarget,
    wsman: DeviceSession,
}

fn read_pem_certs(text: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let ders = amt_pki::pem::certificates(text)
        .with_context(|| format!("reading certificates from {what}"))?;
    if ders.is_empty() {
        bail!("no certificates in {what}");
    }
    Ok(ders.into_iter().map(CertificateDer::from).collect())
}

fn resolve(t: &Target) -> Result<Resolved> {
    let (name, address, fqdn, password, roots) = match (&t.device, &t.host) {
        (Some(uuid), _) => {
            let uuid = uuid.to_ascii_lowercase();
            let api = Api::find(&t.server)?;
            let d = api.call_with("GET", &format!("/api/v1/devices/{uuid}"), None)?;
            let Some(address) = d["address"].as_str().map(str::to_owned) else {
                bail!("the server knows no address for device {uuid}");
            };
            if d["state"].as_str() != Some("provisioned") {
                bail!(
                    "device {uuid} is not provisioned (state {})",
                    d["state"].as_str().unwrap_or("unknown")
                );
            }
            let fqdn = d["fqdn"].as_str().map(str::to_owned);
            let v = api.call_with(
                "POST",
                &format!("/api/v1/devices/{uuid}/reveal-password"),
                None,
            )?;
            let Some(pw) = v["admin_password"].as_str() else {
                bail!("the server holds no admin password for device {uuid}");
            };
            let roots = if t.plain || t.ca.is_some() || t.pin_sha256.is_some() {
                None
            } else {
                let pem = get_text(&api, "/api/v1/trust/redirection.pem")?;
                Some(read_pem_certs(&pem, "the server's trust chain")?)
            };
            (uuid, address, fqdn, SecretString::new(pw.to_owned()), roots)
        }
        (None, Some(host)) => {
            let pw = std::env::var(&t.password_env).with_context(|| {
                format!(
                    "set the device password in ${} (or name another variable with \
                     --password-env)",
                    t.password_env
                )
            })?;
            (
                host.clone(),
                host.clone(),
                None,
                SecretString::new(pw),
                None,
            )
        }
        (None, None) => bail!("name a device UUID or --host"),
    };
    let roots = match &t.ca {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(read_pem_certs(&text, &path.display().to_string())?)
        }
        None => roots,
    };
    let fqdn = t.fqdn.clone().or(fqdn);
    let user = if t.device.is_some() {
        "admin".to_owned()
    } else {
        t.user.clone()
    };
    let (mut target, mut wsman) = match (&t.pin_sha256, roots) {
        _ if t.plain => (
            RedirectionTarget::plain(&address, &user, password.clone()),
            DeviceSession::plain(&name, &address, password),
        ),
        (Some(pin), _) => {
            let pin =
                CertFingerprint::from_hex(pin).context("--pin-sha256 must be 64 hex digits")?;
            let tls = TlsOptions::new(ServerVerification::PinnedSha256(pin));
            (
                RedirectionTarget::tls(&address, tls, &user, password.clone()),
                DeviceSession::tls_pinned(&name, &address, pin, password),
            )
        }
        (None, Some(roots)) => {
            let server_name = fqdn.clone().unwrap_or_else(|| address.clone());
            let mut tls = TlsOptions::new(ServerVerification::RootCerts(roots.clone()))
                .with_server_name(&server_name);
            let mut session =
                DeviceSession::tls_verified(&name, &address, &server_name, roots, password.clone());
            // A device in mutual TLS wants the console certificate (M8): on the server's own
            // machine the CLI reads it from the data directory (sealed under the KEK, so only
            // who may read the KEK can use it); offered only when the device asks.
            if t.device.is_some() {
                if let Some(id) = local_console_identity(&t.server) {
                    tls = tls.with_client_identity(id.clone());
                    session = session.with_client_identity(id);
                }
            }
            (
                RedirectionTarget::tls(&address, tls, &user, password),
                session,
            )
        }
        // --host without a way to verify TLS: plain.
        (None, None) => (
            RedirectionTarget::plain(&address, &user, password.clone()),
            DeviceSession::plain(&name, &address, password),
        ),
    };
    wsman.username = user;
    target.allow_plain_auth = t.allow_plain_auth;
    if let Some(p) = t.port {
        target = target.with_port(p);
    }
    if let Some(p) = t.wsman_port {
        wsman = wsman.with_port(p);
    }
    Ok(Resolved {
        name,
        target,
        wsman,
    })
}

/// The server's console certificate (mutual TLS), when this process can read the server's
/// data directory and its KEK; `None` otherwise (devices in server-auth TLS do not need it).
fn local_console_identity(
    args: &crate::client::ServerArgs,
) -> Option<amtd_infra::transport::ClientIdentity> {
    let dir = crate::client::data_dir(args).ok()?;
    let pki = amtd_infra::pki_store::PkiStore::open(&dir.join("ca"), &dir.join("ca.kek")).ok()?;
    let id = pki.load_console_identity().ok()??;
    amtd_infra::device_tls::client_identity(&id).ok()
}

/// A text answer of the API (the PEM trust chain).
fn get_text(api: &Api, path: &str) -> Result<String> {
    let (host, token) = api.parts();
    let mut s = api.connect(Duration::from_secs(30))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(1 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("the API's answer to {path} has no complete header");
    };
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        bail!("the server answered {status} to {path}");
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // The PEM is small; join the chunks.
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).context("bad chunk size")?;
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_owned())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The terminal in raw mode until dropped.
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Raw mode on stdin when it is a terminal; `None` otherwise.
    fn enable() -> Result<Option<RawMode>> {
        use rustix::termios::{isatty, tcgetattr, tcsetattr, OptionalActions};
        let stdin = std::io::stdin();
        if !isatty(&stdin) {
            return Ok(None);
        }
        let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw).context("switching to raw mode")?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use rustix::termios::{tcsetattr, OptionalActions};
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The escape key.
const ESCAPE: u8 = 0x1D;

/// What typed bytes mean.
#[derive(Debug, Default)]
struct Escape {
    pending: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Typed {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Send these, then quit.
    Quit(Vec<u8>),
    /// Send these and show the help.
    Help(Vec<u8>),
}

impl Escape {
    fn feed(&mut self, bytes: &[u8]) -> Typed {
        let mut out = Vec::with_capacity(bytes.len());
        let mut help = false;
        for &b in bytes {
            if std::mem::take(&mut self.pending) {
                match b {
                    b'q' | b'Q' | b'.' => return Typed::Quit(out),
                    ESCAPE => out.push(ESCAPE),
                    b'?' => help = true,
                    other => out.extend_from_slice(&[ESCAPE, other]),
                }
            } else if b == ESCAPE {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        if help {
            Typed::Help(out)
        } else {
            Typed::Send(out)
        }
    }
}

const HELP: &str =
    "\r\n[amtd sol] Ctrl-] q: quit   Ctrl-] Ctrl-]: send Ctrl-]   Ctrl-] ?: this help\r\n";

/// Runs `amtd sol`.
pub fn sol(args: SolArgs) -> Result<()> {
    let t = &args.target;
    let direct = args.direct
        || t.plain
        || t.ca.is_some()
        || t.pin_sha256.is_some()
        || t.fqdn.is_some()
        || t.port.is_some()
        || t.allow_plain_auth;
    if let (Some(uuid), false) = (&t.device, direct) {
        return sol_bridge::run(uuid, &t.server, args.linger_ms);
    }
    let r = resolve(&args.target)?;
    let rt = runtime()?;
    let result = rt.block_on(sol_session(&r, args.linger_ms));
    // The stdin reader thread may be blocked in read(2): do not wait for it.
    rt.shutdown_background();
    result
}

async fn sol_session(r: &Resolved, linger_ms: u64) -> Result<()> {
    let mut session = SolSession::start(&r.target)
        .await
        .with_context(|| format!("starting SOL on {}", r.name))?;
    let raw = RawMode::enable()?;
    let interactive = raw.is_some();
    eprint!(
        "Connected to {} ({}, SOL).{}\r\n",
        r.name,
        session.peer(),
        if interactive {
            " Ctrl-] q quits, Ctrl-] ? help."
        } else {
            ""
        }
    );
    let mut stdin_rx = stdin_chunks();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let linger = Duration::from_millis(linger_ms);
    let mut escape = Escape::default();
    let mut stdin_open = true;
    let mut last_output = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stdout = std::io::stdout();
    let why: Result<&str> = loop {
        tokio::select! {
            ev = session.recv() => match ev {
                Some(SolEvent::Data(d)) => {
                    stdout.write_all(&d)?;
                    stdout.flush()?;
                    last_output = Instant::now();
                }
                Some(SolEvent::Controls { .. }) => {}
                None => break Ok("the session ended"),
            },
            chunk = stdin_rx.recv(), if stdin_open => match chunk {
                Some(bytes) => {
                    let (send, quit) = match escape.feed(&bytes) {
                        Typed::Send(b) => (b, false),
                        Typed::Quit(b) => (b, true),
                        Typed::Help(b) => {
                            eprint!("{HELP}");
                            (b, false)
                        }
                    };
                    if !send.is_empty() {
                        if let Err(e) = session.send(&send).await {
                            break Err(e.into());
                        }
                    }
                    if quit {
                        break Ok("quit");
                    }
                }
                None => {
                    stdin_open = false;
                    last_output = last_output.max(Instant::now());
                }
            },
            _ = tick.tick(), if !stdin_open => {
                if last_output.elapsed() >= linger {
                    break Ok("input ended");
                }
            }
            _ = term.recv() => break Ok("terminated"),
            _ = hup.recv() => break Ok("hung up"),
        }
    };
    drop(raw);
    let closed = session.close().await;
    match why {
        Ok(reason) => {
            eprintln!("\r\n[amtd sol] {reason}; disconnected from {}", r.name);
            match (reason, closed) {
                ("the session ended", Err(e)) => Err(e).context("the SOL session ended"),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}

#[path = "redir_bridge.rs"]
mod sol_bridge;

/// Runs `amtd ider`.
pub fn ider(args: IderArgs) -> Result<()> {
    let r = resolve(&args.target)?;
    let rt = runtime()?;
    let result = rt.block_on(ider_session(&r, &args));
    rt.shutdown_background();
    result
}

async fn ider_session(r: &Resolved, args: &IderArgs) -> Result<()> {
    let info = ImageInfo::inspect(&args.image).await?;
    println!(
        "image {}: {} bytes, {} blocks of 2048, label {}",
        args.image.display(),
        info.size,
        info.blocks,
        info.label.as_deref().unwrap_or("(none)")
    );
    match (&info.boot_lba, &info.not_bootable) {
        (Some(lba), _) => println!("boot image at LBA {lba}"),
        (None, Some(why)) => eprintln!("warning: the image is not bootable: {why}"),
        (None, None) => {}
    }
    let mode = match args.start {
        StartMode::OnReboot => IderStartMode::OnReboot,
        StartMode::Graceful => IderStartMode::Graceful,
        StartMode::Now => IderStartMode::Now,
    };
    let mut server = IderServer::start(&r.target, &args.image, mode)
        .await
        .with_context(|| format!("starting IDE-R on {}", r.name))?;
    println!("IDE-R session open on {} ({})", r.name, server.peer());
    if args.reboot {
        let client = r.wsman.connect()?;
        let timeout = Duration::from_secs(60);
        set_next_boot(&client, NextBoot::IderCd, timeout)
            .await
            .context("arming the next boot to IDE-R CD")?;
        let status = power_status(&client).await?;
        let action = match status.state {
            Some(PowerState::On) if status.available.contains(&PowerAction::Cycle.state()) => {
                PowerAction::Cycle
            }
            Some(PowerState::On) => PowerAction::Reset,
            _ => PowerAction::On,
        };
        change_power(&client, action, timeout)
            .await
            .with_context(|| format!("power {action}"))?;
        println!("next boot: IDE-R CD; power {action} sent");
    } else {
        println!(
            "waiting for the host to boot from IDE-R CD (arm it with --reboot, or reboot it \
             to IDE-R yourself); Ctrl-C stops"
        );
    }
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let started = Instant::now();
    let mut summary = tokio::time::interval(Duration::from_secs(5));
    summary.tick().await;
    let mut boot_read = false;
    let outcome: Result<()> = loop {
        tokio::select! {
            ev = server.next_event() => match ev {
                Ok(IderEvent::Reset) => println!("host reset"),
                Ok(IderEvent::Served { lba, blocks }) => {
                    println!(
                        "served LBA {lba}+{blocks} ({} blocks in total)",
                        server.stats.blocks_served
                    );
                    let covers = info.boot_lba.is_some_and(|b| lba <= b && b < lba + blocks);
                    if covers && !boot_read {
                        boot_read = true;
                        println!(
                            "the device read the boot image (LBA {}): {} blocks in {} commands, {:.1} s",
                            info.boot_lba.unwrap_or_default(),
                            server.stats.blocks_served,
                            server.stats.commands,
                            started.elapsed().as_secs_f64()
                        );
                        if !args.keep_serving {
                            break Ok(());
                        }
                    }
                }
                Ok(IderEvent::Refused { cdb, sense }) => match cdb {
                    Some(c) => println!("answered {c:?} with {sense}"),
                    None => println!("refused a non-ATAPI command: {sense}"),
                },
                Ok(IderEvent::Answered { .. }) => {}
                Ok(IderEvent::DeviceError(code)) => eprintln!("the device reported IDE-R error {code}"),
                Ok(IderEvent::Ended) => {
                    break if boot_read { Ok(()) } else { Err(anyhow::anyhow!("the device ended the IDE-R session")) };
                }
                Err(e) => break Err(e.into()),
            },
            _ = summary.tick(), if args.keep_serving => {
                println!("serving: {} blocks in {} commands", server.stats.blocks_served, server.stats.commands);
            }
            _ = tokio::signal::ctrl_c() => {
                println!("interrupted");
                break Ok(());
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                break Err(anyhow::anyhow!(
                    "the device did not read the boot image within {} s",
                    args.timeout.unwrap_or_default()
                ));
            }
        }
    };
    let stats = server.stats;
    server.stop().await;
    println!(
        "IDE-R session closed: {} blocks ({} bytes) served in {} commands",
        stats.blocks_served, stats.bytes_served, stats.commands
    );
    outcome
}

/// Standard input as chunks, read on a thread of its own (a blocking read cannot be cancelled);
/// the channel closes when standard input ends.
pub(crate) fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_then_q_quits_and_double_escape_sends_one() {
        let mut e = Escape::default();
        assert_eq!(e.feed(b"ls\r"), Typed::Send(b"ls\r".to_vec()));
        assert_eq!(e.feed(&[b'a', ESCAPE]), Typed::Send(b"a".to_vec()));
        assert_eq!(e.feed(b"q"), Typed::Quit(Vec::new()));
        let mut e = Escape::default();
        assert_eq!(
            e.feed(&[ESCAPE, ESCAPE, b'x']),
            Typed::Send(vec![ESCAPE, b'x'])
        );
        assert_eq!(e.feed(&[ESCAPE, b'z']), Typed::Send(vec![ESCAPE, b'z']));
        assert_eq!(e.feed(&[b'1', ESCAPE, b'?']), Typed::Help(b"1".to_vec()));
        assert_eq!(
            e.feed(&[0x03]),
            Typed::Send(vec![0x03]),
            "Ctrl-C goes to the host"
        );
    }
}
