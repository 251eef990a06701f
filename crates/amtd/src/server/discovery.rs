//! Runtime files in the data directory: the API token (`api-token`, mode 0600, generated at
//! first start), the discovery file `server.json` (API address and token file, so the CLI finds
//! a running `amtd lab` or `amtd serve` without flags) and the audit log `audit.jsonl`
//! (append-only JSON lines: who revealed which device's password, and when).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use amt_wsman::secret::SecretString;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Name of the token file in the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// Name of the discovery file in the data directory.
pub const DISCOVERY_FILE: &str = "server.json";
/// Name of the audit log in the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// What `server.json` says about a running server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    /// Base URL of the REST API, e.g. `http://127.0.0.1:9972`.
    pub api: String,
    /// The file holding the bearer token.
    pub token_file: PathBuf,
    /// Process id of the server.
    pub pid: u32,
}

/// Reads the API token, generating it (32 random bytes, hex, mode 0600) if the file is missing.
pub fn load_or_create_token(data_dir: &Path) -> Result<SecretString> {
    let path = data_dir.join(TOKEN_FILE);
    if path.exists() {
        return read_token(&path);
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, token.as_bytes())?;
    Ok(SecretString::from(token))
}

/// Reads a token file (surrounding whitespace ignored).
pub fn read_token(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the API token {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the API token file {} is empty", path.display());
    }
    Ok(SecretString::from(token.to_owned()))
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// Writes `<data_dir>/server.json` for a server whose API listens on `api`.
pub fn write_discovery(data_dir: &Path, api: SocketAddr) -> Result<PathBuf> {
    let token_file = std::path::absolute(data_dir.join(TOKEN_FILE))?;
    let d = Discovery {
        api: format!("http://{api}"),
        token_file,
        pid: std::process::id(),
    };
    let path = data_dir.join(DISCOVERY_FILE);
    let tmp = data_dir.join(format!("{DISCOVERY_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&d)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Removes the discovery file if it is this process's.
pub fn remove_discovery(data_dir: &Path) {
    let path = data_dir.join(DISCOVERY_FILE);
    if let Ok(d) = read_discovery(data_dir) {
        if d.pid == std::process::id() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Reads `<data_dir>/server.json`.
pub fn read_discovery(data_dir: &Path) -> Result<Discovery> {
    let path = data_dir.join(DISCOVERY_FILE);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "no running server found: {} is missing (start `amtd lab` or `amtd serve`, or pass \
             --data-dir, or --server and --token)",
            path.display()
        )
    })?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Appends one record to the audit log (`audit.jsonl`).
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl AuditLog {
    /// The audit log in `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(AUDIT_FILE),
            lock: Default::default(),
        }
    }

    /// Appends `{"at": <unix seconds>, "action", "device", "peer"}` and syncs it to disk.
    pub fn record(&self, action: &str, device: &str, peer: &str) -> Result<()> {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut line = serde_json::to_vec(&serde_json::json!({
            "at": at, "action": action, "device": device, "peer": peer, "caller": "api-token",
        }))?;
        line.push(b'\n');
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&self.path)
            .with_context(|| format!("opening the audit log {}", self.path.display()))?;
        f.write_all(&line)?;
        f.sync_data()?;
        Ok(())
    }
}
