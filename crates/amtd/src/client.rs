//! `amtd devices`, `amtd device <uuid>`, `amtd profiles` and `amtd profile <name>`: the CLI
//! over the REST API of a running `amtd lab` or `amtd serve`.
//!
//! `amtd profile NAME set --file F` sends a profile: a TOML file in the shape of a config
//! `[[profile]]` entry (or its keys at the top level), checked with the config's own parser, or
//! a JSON document as the API takes it. The CLI reads the `*_env` variables the file names
//! (digest users' `password_env`, `mebx_password_env`) from its own environment and sends the
//! passwords, which the server seals; they are never printed or sent back.
//!
//! The server is found through `<data_dir>/server.json` (written by the server at start): the
//! data directory given with `--data-dir`, else the first of `./amtd-lab` (the lab's default),
//! the `data_dir` of `--config` (or of `./amtd.toml` when present) and `./amtd-data` (the
//! serve default) that has one. `--server URL` and `--token` override it. The client is a
//! small blocking HTTP/1.1 client, over TLS (rustls) for `https://` URLs: the server's
//! certificate is verified against the CA file named by `server.json` (`ca_file`) or given
//! with `--cacert`, never against the platform's roots; with neither, an https URL is refused.
//! Every CLI command that talks to the API connects through [`Api::connect`].

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::server::discovery;

/// Most bytes of an API answer the CLI reads.
const MAX_RESPONSE: u64 = 64 << 20;

/// How to reach the server (shared by `devices` and `device`).
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Data directory of the running server (holds server.json).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Config file of a running `amtd serve` (its data_dir holds server.json).
    #[arg(long)]
    config: Option<PathBuf>,
    /// API base URL (https://host:port or http://host:port), instead of server.json.
    #[arg(long)]
    server: Option<String>,
    /// PEM file of the CA certificate(s) that verify the API's TLS certificate, instead of the
    /// ca_file named by server.json.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// API bearer token, instead of the token file named by server.json.
    #[arg(long)]
    token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `amtd devices`.
#[derive(Args, Debug)]
pub struct DevicesArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// What to do with one device.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    /// Print the device's admin password (audited by the server).
    RevealPassword,
}

/// `amtd device <uuid> [reveal-password]`.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    /// The device's UUID.
    uuid: String,
    /// Action; without one, the device and its provisioning timeline are shown.
    #[arg(value_enum)]
    action: Option<DeviceAction>,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd profiles`.
#[derive(Args, Debug)]
pub struct ProfilesArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// What to do with one profile.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileAction {
    /// Create or replace it from --file (audited by the server).
    Set,
    /// Delete it (audited; the server's active profile cannot be deleted).
    Delete,
}

/// `amtd profile <name> [set --file F | delete]`.
#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// The profile's name.
    name: String,
    /// Action; without one, the profile is shown.
    #[arg(value_enum)]
    action: Option<ProfileAction>,
    /// With `set`: the profile file, TOML (a config `[[profile]]` entry) or JSON (*.json, the
    /// API's document).
    #[arg(long)]
    file: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `amtd profiles`.
pub fn profiles(args: ProfilesArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let list = api.call("GET", "/api/v1/profiles")?;
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let rows = list.as_array().cloned().unwrap_or_default();
    println!(
        "{:<20} {:<6} {:<7} {:<11} {:<7} {:<14} digest users",
        "name", "active", "source", "tls", "consent", "redirection"
    );
    for r in &rows {
        let p = &r["profile"];
        if p.is_null() {
            println!("{:<20} {}", text(&r["name"]), text(&r["error"]));
            continue;
        }
        let redirection: Vec<&str> = ["sol", "ider", "kvm"]
            .into_iter()
            .filter(|k| p["redirection"][k] == true)
            .collect();
        let users: Vec<String> = p["digest_users"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| text(&u["name"]))
            .collect();
        println!(
            "{:<20} {:<6} {:<7} {:<11} {:<7} {:<14} {}",
            text(&r["name"]),
            if r["active"] == true { "yes" } else { "" },
            text(&p["source"]),
            text(&p["tls"]),
            text(&p["user_consent"]),
            if redirection.is_empty() {
                "-".to_owned()
            } else {
                redirection.join(",")
            },
            if users.is_empty() {
                "-".to_owned()
            } else {
                users.join(",")
            }
        );
    }
    println!("{} profile(s)", rows.len());
    Ok(())
}

/// Runs `amtd profile <name> [action]`.
pub fn profile(args: ProfileArgs) -> Result<()> {
    let name = crate::config::profile_name(&args.name).map_err(anyhow::Error::msg)?;
    let path = format!("/api/v1/profiles/{name}");
    if args.file.is_some() && args.action != Some(ProfileAction::Set) {
        bail!("--file goes with `amtd profile {name} set`");
    }
    match args.action {
        Some(ProfileAction::Set) => {
            let Some(file) = &args.file else {
                bail!("`amtd profile {name} set` needs --file (TOML or JSON)");
            };
            let body = profile_request(file, name)?;
            let api = Api::find(&args.server)?;
            let v = api.call_with("PUT", &path, Some(&body))?;
            if args.server.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("profile {name} stored");
            }
        }
        Some(ProfileAction::Delete) => {
            let api = Api::find(&args.server)?;
            let v = api.call("DELETE", &path)?;
            if args.server.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("profile {name} deleted");
            }
        }
        None => {
            let api = Api::find(&args.server)?;
            let v = api.call("GET", &path)?;
            if args.server.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            for k in [
                "name",
                "source",
                "tls",
                "accept_non_secure",
                "trusted_cns",
                "user_consent",
                "redirection",
                "clock_sync",
                "mebx_password",
                "admin_password_length",
                "deadline_secs",
            ] {
                println!("{k:<22} {}", text(&v[k]));
            }
            println!("digest users:");
            for u in v["digest_users"].as_array().into_iter().flatten() {
                println!(
                    "  {:<16} {:<18} {}",
                    text(&u["name"]),
                    text(&u["access"]),
                    text(&u["realms"])
                );
            }
        }
    }
    Ok(())
}

/// The PUT body for a profile file: TOML through the config's parser, or JSON as is; the
/// `*_env` passwords it names are read here and sent.
fn profile_request(file: &std::path::Path, name: &str) -> Result<Value> {
    use crate::server::profiles::{ProfileDoc, Source};
    let contents = std::fs::read_to_string(file)
        .with_context(|| format!("reading the profile file {}", file.display()))?;
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if !is_json {
        let profile = crate::config::Profile::from_toml_str(&contents, name)
            .with_context(|| format!("in {}", file.display()))?;
        let doc = ProfileDoc::from_config(&profile, Source::Api).map_err(anyhow::Error::msg)?;
        return Ok(doc.request_body());
    }
    let mut v: Value = serde_json::from_str(&contents)
        .with_context(|| format!("parsing {} as JSON", file.display()))?;
    let from_env = |o: &mut Value, what: &str| -> Result<()> {
        let Some(env) = o
            .get("password_env")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Ok(());
        };
        let var = crate::config::EnvVarName::parse(&env).map_err(anyhow::Error::msg)?;
        let pw = var.read().with_context(|| what.to_owned())?;
        if let Some(map) = o.as_object_mut() {
            map.remove("password_env");
            map.insert("password".into(), pw.expose().into());
        }
        Ok(())
    };
    if let Some(users) = v.get_mut("digest_users").and_then(Value::as_array_mut) {
        for u in users {
            let who = format!("digest user {}", text(&u["name"]));
            from_env(u, &who)?;
        }
    }
    if let Some(m) = v.get_mut("mebx_password") {
        from_env(m, "the MEBx password")?;
    }
    Ok(v)
}

/// Runs `amtd devices`.
pub fn devices(args: DevicesArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let list = api.call("GET", "/api/v1/devices")?;
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let rows = list.as_array().cloned().unwrap_or_default();
    println!("{:<38} {:<13} {:<32} address", "uuid", "state", "fqdn");
    for d in &rows {
        println!(
            "{:<38} {:<13} {:<32} {}",
            text(&d["uuid"]),
            text(&d["state"]),
            text(&d["fqdn"]),
            text(&d["address"])
        );
    }
    println!("{} device(s)", rows.len());
    Ok(())
}

/// Runs `amtd device <uuid> [action]`.
pub fn device(args: DeviceArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let uuid = args.uuid.to_ascii_lowercase();
    if uuid.len() != 36 || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        bail!("not a device UUID: {:?}", args.uuid);
    }
    match args.action {
        Some(DeviceAction::RevealPassword) => {
            let v = api.call("POST", &format!("/api/v1/devices/{uuid}/reveal-password"))?;
            if args.server.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{}", text(&v["admin_password"]));
            }
        }
        None => {
            let v = api.call("GET", &format!("/api/v1/devices/{uuid}"))?;
            if args.server.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            for k in ["uuid", "state", "fqdn", "address", "profile"] {
                println!("{k:<9} {}", text(&v[k]));
            }
            println!("\nruns:");
            for r in v["runs"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {}  {}",
                    text(&r["run_id"]),
                    text(&r["outcome"]),
                    text(&r["reason"])
                );
            }
            println!("\ntimeline:");
            for t in v["timeline"].as_array().into_iter().flatten() {
                println!(
                    "  {:>12}  {:<28} {}",
                    text(&t["at"]),
                    text(&t["phase"]),
                    text(&t["reason"])
                );
            }
        }
    }
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A located API: base address, token and, over https, how its certificate is verified.
pub(crate) struct Api {
    host: String,
    token: String,
    read_timeout: Duration,
    tls: Option<TlsTarget>,
}

/// How the API's certificate is checked: the CA file's certificates as the only roots, and the
/// URL's host as the name the certificate must carry.
struct TlsTarget {
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    ca_file: PathBuf,
}

/// A connection to the API: plain TCP or TLS over it.
pub(crate) enum Conn {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`, handshake done.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// The client TLS configuration trusting only the certificates in `ca_file`.
fn tls_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("reading the CA file {}", ca_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the CA file {}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .with_context(|| format!("a certificate in {} is not usable", ca_file.display()))?;
    }
    if roots.is_empty() {
        bail!("the CA file {} holds no PEM certificate", ca_file.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The host part of `host:port` (`[v6]:port` unbracketed).
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

impl Api {
    /// The API of the server `args` name (see the module doc).
    pub(crate) fn find(args: &ServerArgs) -> Result<Self> {
        let (url, token, announced_ca) = match (&args.server, &args.token) {
            (Some(url), Some(token)) => (url.clone(), token.clone(), None),
            _ => {
                let dir = data_dir(args)?;
                let d = discovery::read_discovery(&dir)?;
                let token = match &args.token {
                    Some(t) => t.clone(),
                    None => discovery::read_token(&d.token_file)?.expose().to_owned(),
                };
                (args.server.clone().unwrap_or(d.api), token, d.ca_file)
            }
        };
        let (rest, https) = if let Some(rest) = url.strip_prefix("https://") {
            (rest, true)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (rest, false)
        } else {
            bail!("the API URL must be https://host:port or http://host:port, not {url:?}");
        };
        let host = rest.trim_end_matches('/').to_owned();
        let tls = if https {
            let Some(ca_file) = args.cacert.clone().or(announced_ca) else {
                bail!(
                    "the API at {url} speaks TLS, but no CA certificate is known to verify it: \
                     server.json names no ca_file. Pass --cacert FILE (the PEM of the CA that \
                     issued the server's certificate)"
                );
            };
            let name = rustls::pki_types::ServerName::try_from(host_name(&host).to_owned())
                .with_context(|| format!("{url:?} has no usable host name"))?;
            Some(TlsTarget {
                config: tls_config(&ca_file)?,
                name,
                ca_file,
            })
        } else {
            None
        };
        Ok(Self {
            host,
            token,
            read_timeout: Duration::from_secs(30),
            tls,
        })
    }

    /// Opens a connection to the API (TLS handshake done for https), with `read_timeout` on
    /// reads. Errors say what failed: the address, the connection, or the certificate check.
    pub(crate) fn connect(&self, read_timeout: Duration) -> Result<Conn> {
        let addrs: Vec<_> = self
            .host
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", self.host))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, Duration::from_secs(5)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some((*addr, e)),
            }
        }
        let mut s = match (stream, last) {
            (Some(s), _) => s,
            (None, Some((addr, e))) => {
                return Err(e).with_context(|| {
                    format!(
                        "connecting to the API at {addr} (is the server still running? a server \
                         that was killed leaves a stale server.json)"
                    )
                })
            }
            (None, None) => bail!("no address for {}", self.host),
        };
        s.set_read_timeout(Some(read_timeout))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))?;
        let Some(t) = &self.tls else {
            return Ok(Conn::Plain(s));
        };
        let mut conn = rustls::ClientConnection::new(t.config.clone(), t.name.clone())
            .context("starting TLS")?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut s) {
                let why = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| e.to_string());
                bail!(
                    "TLS handshake with the API at {} failed: {why}. The server's certificate is \
                     checked against {} (server.json's ca_file, or --cacert)",
                    self.host,
                    t.ca_file.display()
                );
            }
        }
        Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, s))))
    }

    /// The same API, waiting up to `timeout` for an answer (long-running requests).
    pub(crate) fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The API's `host:port` and bearer token, for requests made elsewhere (streamed answers;
    /// open the connection with [`Api::connect`]).
    pub(crate) fn parts(&self) -> (&str, &str) {
        (&self.host, &self.token)
    }

    /// Over https: the TLS client configuration and the name the server's certificate must
    /// carry, for connections made elsewhere (the SOL WebSocket); `None` over http.
    pub(crate) fn tls_client(
        &self,
    ) -> Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )> {
        self.tls
            .as_ref()
            .map(|t| (t.config.clone(), t.name.clone()))
    }

    /// One request without a body; the JSON answer, or the server's error message.
    fn call(&self, method: &str, path: &str) -> Result<Value> {
        self.call_with(method, path, None)
    }

    /// One request, with a JSON body if given.
    pub(crate) fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let body = match body {
            Some(b) => serde_json::to_vec(b)?,
            None => Vec::new(),
        };
        let mut s = self.connect(self.read_timeout)?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Accept: application/json\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            self.token,
            body.len()
        )?;
        s.write_all(&body)?;
        let mut raw = Vec::new();
        s.take(MAX_RESPONSE).read_to_end(&mut raw)?;
        let (status, body) = parse_response(&raw)?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let msg = value["error"].as_str().unwrap_or("no details");
            bail!("the server answered {status}: {msg}");
        }
        Ok(value)
    }
}

pub(crate) fn data_dir(args: &ServerArgs) -> Result<PathBuf> {
    if let Some(d) = &args.data_dir {
        return Ok(d.clone());
    }
    let mut candidates = vec![PathBuf::from("./amtd-lab")];
    let config = args
        .config
        .clone()
        .or_else(|| Some(PathBuf::from("amtd.toml")).filter(|p| p.exists()));
    if let Some(path) = config {
        let c = crate::config::Config::load(&path)?;
        candidates.push(c.server.data_dir);
    }
    candidates.push(PathBuf::from(crate::config::DEFAULT_DATA_DIR));
    Ok(candidates
        .iter()
        .find(|d| d.join(discovery::DISCOVERY_FILE).exists())
        .cloned()
        .unwrap_or_else(|| candidates[0].clone()))
}

/// Splits an HTTP/1.1 response into status and (de-chunked) body.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("the API's answer has no complete header");
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .context("the API's answer has no status line")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    Ok((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_vec()
        },
    ))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            bail!("truncated chunked body");
        };
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("truncated chunked body");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}
