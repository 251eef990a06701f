//! Runtime files in the data directory: the API token (`api-token`, mode 0600, generated at
//! first start), the discovery file `server.json` (API URL, token file and, over TLS, the CA
//! file that verifies the listener, so the CLI finds a running `amtd lab` or `amtd serve`
//! without flags), and [`AuditLog`], the server's front
//! to the hash-chained audit log in the store (amtd-infra `store::audit`).
//!
//! The audit log used to be `audit.jsonl` in the data directory; it is no longer written: the
//! chain in the store is the one record (shared by every instance on one PostgreSQL database,
//! verifiable with `amtd audit verify`), and an unchained per-instance copy next to it would be
//! a second, weaker truth.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use amt_wsman::secret::SecretString;
use amtd_infra::store::{AuditEntry, AuditRecord, AuditResult, Store, StoreError};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Name of the token file in the data directory.
pub const TOKEN_FILE: &str = "api-token";
/// Name of the discovery file in the data directory.
pub const DISCOVERY_FILE: &str = "server.json";

/// What `server.json` says about a running server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    /// Base URL of the REST API, e.g. `http://127.0.0.1:9972` or `https://127.0.0.1:9972`.
    pub api: String,
    /// The file holding the bearer token.
    pub token_file: PathBuf,
    /// With an https URL: the PEM file of the CA certificate(s) that verify the listener's
    /// certificate (absolute path), when the server knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
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

/// Writes `<data_dir>/server.json` for a server whose API is at the URL `api`
/// ([`super::tls::api_url`]), with the CA file that verifies its certificate (made absolute).
pub fn write_discovery(data_dir: &Path, api: &str, ca_file: Option<&Path>) -> Result<PathBuf> {
    let token_file = std::path::absolute(data_dir.join(TOKEN_FILE))?;
    let d = Discovery {
        api: api.to_owned(),
        token_file,
        ca_file: ca_file.map(std::path::absolute).transpose()?,
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

/// The actor of the server's own work (provisioning outcomes).
pub const SERVER_ACTOR: &str = "amtd";

/// The audit log could not be written: the action it was to record must not be done.
#[derive(Debug, thiserror::Error)]
#[error("the audit log cannot be written, so nothing was done ({0}); try again when the store is writable")]
pub struct AuditUnavailable(#[source] pub StoreError);

/// The server's front to the hash-chained audit log in the store. Every privileged action is
/// recorded as `started` before it is attempted ([`AuditLog::record`]; when that fails the
/// action is refused) and with its result afterwards ([`AuditLog::outcome`]: `ok` or
/// `failed: reason`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    /// The audit log in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Appends one record; `Err` means nothing was recorded and the action must not be done.
    /// `device` is a device UUID (or `None`), `detail` names what else the action concerns
    /// (never secrets), `peer` the API client.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        device: Option<&str>,
        result: AuditResult,
        detail: serde_json::Value,
        peer: Option<SocketAddr>,
    ) -> std::result::Result<AuditRecord, AuditUnavailable> {
        let entry = AuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            device: device.map(str::to_owned),
            result,
            detail,
            peer: peer.map(|p| p.to_string()),
        };
        match self.store.append_audit(&entry).await {
            Ok(r) => Ok(r),
            Err(e) => {
                tracing::error!(error = %e, action, device, "the audit log cannot be written");
                Err(AuditUnavailable(e))
            }
        }
    }

    /// Records the result of an action already done (or attempted): a failure to write is
    /// logged, since the action cannot be undone.
    pub async fn outcome(
        &self,
        actor: &str,
        action: &str,
        device: Option<&str>,
        result: AuditResult,
        detail: serde_json::Value,
        peer: Option<SocketAddr>,
    ) {
        let _ = self
            .record(actor, action, device, result, detail, peer)
            .await;
    }
}
