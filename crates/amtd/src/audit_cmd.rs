//! `amtd audit verify` and `amtd audit list`: the hash-chained audit log, read straight from the
//! store (SQLite file or PostgreSQL, as the server's config says), so both work while the
//! server is down.
//!
//! ```text
//! amtd audit verify [--config amtd.toml | --data-dir DIR]
//! amtd audit list [--device UUID] [--since T] [--limit N] [--json] [--config … | --data-dir …]
//! ```
//!
//! The store is found from `--config` (its `[store]` and `[ca] kek_file`), or `--data-dir`
//! (`amtd.sqlite` as `amtd serve` names it, or `amtd.db` as `amtd lab` does, with `ca.kek`),
//! else `./amtd.toml` when present, else the first of `./amtd-lab` and `./amtd-data` that
//! holds a database. `verify` exits 0 when the chain is intact and 1 naming the first bad
//! record; `T` is seconds since the Unix epoch or `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! [`CliAudit`] is how offline commands that change state (`amtd ca revoke`, `issue-*`,
//! `import-provisioning`, `crl --refresh`) write to the same chain, with actor
//! `cli:<unix user>`.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use amtd_infra::store::{AuditEntry, AuditFilter, AuditRecord, AuditResult, Kek, Store};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::config::{CaConfig, Config};

/// `amtd audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Walk the chain: exit 0 when intact, 1 naming the first altered, missing or reordered
    /// record.
    Verify(StoreArgs),
    /// List records, oldest first.
    List(ListArgs),
}

/// Where the store is.
#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// The server's config file (its [store] and [ca] kek_file).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The data directory of `amtd lab` or of an `amtd serve` on the default SQLite store.
    #[arg(long, conflicts_with = "config")]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Only this device's records.
    #[arg(long)]
    device: Option<String>,
    /// Only records from this time on (Unix seconds or YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long)]
    since: Option<String>,
    /// At most this many records (the oldest matching ones).
    #[arg(long, default_value_t = 10_000)]
    limit: u32,
    /// Print JSON (an array of records) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `amtd audit` (a broken chain exits with status 1).
pub fn run(args: AuditArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let intact = rt.block_on(async {
        match args.command {
            AuditCommand::Verify(s) => verify(&s).await,
            AuditCommand::List(l) => list(l).await.map(|()| true),
        }
    })?;
    if !intact {
        std::process::exit(1);
    }
    Ok(())
}

async fn open(args: &StoreArgs) -> Result<Store> {
    let (url, kek) = locate(args)?;
    let kek = Kek::from_file(&kek)?;
    Store::open(&url, kek).await.context("opening the store")
}

fn locate(args: &StoreArgs) -> Result<(String, PathBuf)> {
    if let Some(dir) = &args.data_dir {
        return in_data_dir(dir)?
            .with_context(|| format!("no amtd.sqlite or amtd.db in {}", dir.display()));
    }
    let config = args
        .config
        .clone()
        .or_else(|| Some(PathBuf::from("amtd.toml")).filter(|p| p.exists()));
    if let Some(path) = config {
        let c = Config::load(&path)?;
        let url = crate::serve::store_url(&c.store)?;
        let CaConfig::Embedded { kek_file, .. } = &c.ca;
        return Ok((url, kek_file.clone()));
    }
    for dir in ["amtd-lab", crate::config::DEFAULT_DATA_DIR] {
        if let Some(found) = in_data_dir(Path::new(dir))? {
            return Ok(found);
        }
    }
    bail!(
        "no amtd store found: give --config (the server's amtd.toml) or --data-dir (the lab's \
         or server's data directory)"
    )
}

/// The actor of an offline command: `cli:` and the Unix user (`$USER`, else `uid<N>` of this
/// process).
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .ok()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty() && u.len() <= 64 && !u.chars().any(char::is_control));
    let user = user.unwrap_or_else(|| {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self")
            .map(|m| format!("uid{}", m.uid()))
            .unwrap_or_else(|_| "unknown".into())
    });
    format!("cli:{user}")
}

/// An offline command's front to the audit chain: `started` before the change (the command
/// refuses when that cannot be written), the result after.
pub(crate) struct CliAudit {
    rt: tokio::runtime::Runtime,
    store: Store,
    actor: String,
    action: &'static str,
    detail: serde_json::Value,
}

impl CliAudit {
    /// The store of the server a CA belongs to: from `config` (the server's amtd.toml) when
    /// given, else a database (`amtd.sqlite` or `amtd.db`) in the directory holding the CA
    /// store `ca_dir`, opened with the CA's key-encryption key. `Ok(None)` when there is none
    /// (a CA used without a server: nothing to audit into).
    pub(crate) fn locate(
        config: Option<&Path>,
        ca_dir: &Path,
        kek: &Path,
    ) -> Result<Option<(String, PathBuf)>> {
        if let Some(path) = config {
            return locate(&StoreArgs {
                config: Some(path.to_owned()),
                data_dir: None,
            })
            .map(Some);
        }
        let parent = std::path::absolute(ca_dir)?
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        Ok(in_data_dir(&parent)?.map(|(url, _)| (url, kek.to_owned())))
    }

    /// Records `action` as `started` (actor [`cli_actor`]); `Err` means nothing was recorded
    /// and the command must not go on.
    pub(crate) fn begin(
        url: &str,
        kek: &Path,
        action: &'static str,
        detail: serde_json::Value,
    ) -> Result<CliAudit> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let actor = cli_actor();
        let store = rt.block_on(async {
            let store = Store::open(url, Kek::from_file(kek)?)
                .await
                .context("opening the server's store for the audit log")?;
            store
                .append_audit(&AuditEntry {
                    actor: actor.clone(),
                    action: action.to_owned(),
                    device: None,
                    result: AuditResult::Started,
                    detail: detail.clone(),
                    peer: None,
                })
                .await
                .context("writing the audit log")?;
            anyhow::Ok(store)
        });
        let store = store.context(
            "the audit log cannot be written, so nothing was done; try again when the store is \
             writable",
        )?;
        Ok(CliAudit {
            rt,
            store,
            actor,
            action,
            detail,
        })
    }

    /// Records the result (`ok` or `failed: <error>`); a failure to write is reported on
    /// standard error, since the change cannot be undone.
    pub(crate) fn end<T>(self, result: &Result<T>, extra: Option<serde_json::Value>) {
        let result = match result {
            Ok(_) => AuditResult::Ok,
            Err(e) => AuditResult::Failed(format!("{e:#}")),
        };
        let mut detail = self.detail;
        if let (Some(serde_json::Value::Object(more)), serde_json::Value::Object(d)) =
            (extra, &mut detail)
        {
            d.extend(more);
        }
        let entry = AuditEntry {
            actor: self.actor,
            action: self.action.to_owned(),
            device: None,
            result,
            detail,
            peer: None,
        };
        let store = self.store;
        self.rt.block_on(async {
            if let Err(e) = store.append_audit(&entry).await {
                eprintln!("amtd: the audit log could not record the result: {e}");
            }
            store.close().await;
        });
    }
}

fn in_data_dir(dir: &Path) -> Result<Option<(String, PathBuf)>> {
    for name in ["amtd.sqlite", "amtd.db"] {
        let db = dir.join(name);
        if db.exists() {
            return Ok(Some((
                format!("sqlite://{}", db.display()),
                dir.join("ca.kek"),
            )));
        }
    }
    Ok(None)
}

async fn verify(args: &StoreArgs) -> Result<bool> {
    let store = open(args).await?;
    let v = store.verify_audit().await?;
    store.close().await;
    match v.problem {
        None => {
            match &v.head {
                Some((seq, hash)) => println!(
                    "audit log intact: {} records, last seq {seq}, head hash {hash}",
                    v.records
                ),
                None => println!("audit log intact: no records yet"),
            }
            Ok(true)
        }
        Some(p) => {
            println!(
                "audit log BROKEN at seq {}: {p}{}",
                p.seq(),
                match &v.head {
                    Some((seq, _)) => format!(" (records up to seq {seq} are intact)"),
                    None => String::new(),
                }
            );
            Ok(false)
        }
    }
}

async fn list(args: ListArgs) -> Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|t| {
            let v = t
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::from(t));
            crate::server::api_maintenance::parse_as_of(&v)
                .map_err(|e| anyhow::anyhow!(e.replace("as_of", "--since")))
        })
        .transpose()?;
    let store = open(&args.store).await?;
    let records = store
        .audit_records(&AuditFilter {
            device: args.device.map(|d| d.to_ascii_lowercase()),
            since,
            after_seq: None,
            limit: args.limit,
        })
        .await?;
    store.close().await;
    if args.json {
        let out: Vec<serde_json::Value> = records.iter().map(record_json).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:>6}  {:<20}  {:<10}  {:<26}  {:<36}  RESULT",
        "SEQ", "TIME (UTC)", "ACTOR", "ACTION", "DEVICE"
    );
    for r in &records {
        println!(
            "{:>6}  {:<20}  {:<10}  {:<26}  {:<36}  {}",
            r.seq,
            utc(r.at_ms),
            r.actor,
            r.action,
            r.device.as_deref().unwrap_or("-"),
            r.result
        );
    }
    println!("\n{} records", records.len());
    Ok(())
}

pub(crate) fn record_json(r: &AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "seq": r.seq,
        "at_ms": r.at_ms,
        "at": utc(r.at_ms),
        "actor": r.actor,
        "action": r.action,
        "device": r.device,
        "result": r.result,
        "detail": serde_json::from_str::<serde_json::Value>(&r.detail)
            .unwrap_or_else(|_| serde_json::Value::String(r.detail.clone())),
        "peer": r.peer,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_prints_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_850_054_000), "2026-11-28T07:14:14Z");
    }
}
