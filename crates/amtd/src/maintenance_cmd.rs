//! `amtd maintenance …`: the maintenance job of a running `amtd lab` or `amtd serve`, over the
//! REST API (see `server::api_maintenance`).
//!
//! - `amtd maintenance run [--task T]… [--device UUID]… [--as-of TIME]`: one pass now, with
//!   its report. `--as-of` evaluates the policies as of another time: `2027-01-31T00:00:00Z`,
//!   seconds since the epoch, or relative to now (`+31d`, `+12h`, `-1d`).
//! - `amtd maintenance list [--device UUID]`: recorded operations, newest first.
//! - `amtd maintenance device UUID`: a device's admin password versions and operations.
//! - `amtd maintenance revoke SERIAL [--reason R]`: revoke a certificate of the embedded CA
//!   through the running server (new CRLs are published and pushed to devices).
//! - `amtd maintenance console-certificate`: the server's mutual-TLS console certificate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{Api, ServerArgs};

/// `amtd maintenance`.
#[derive(Args, Debug)]
pub struct MaintenanceArgs {
    #[command(subcommand)]
    command: MaintenanceCommand,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand, Debug)]
enum MaintenanceCommand {
    /// Run one maintenance pass now and print its report.
    Run {
        /// Only these tasks: push-crl, renew-certificate, rotate-admin-password, sync-clock
        /// (repeatable; default: all).
        #[arg(long = "task")]
        tasks: Vec<String>,
        /// Only these devices (repeatable; default: every provisioned device).
        #[arg(long = "device")]
        devices: Vec<String>,
        /// Evaluate the policies as of this time: YYYY-MM-DDTHH:MM:SSZ, seconds since the
        /// epoch, or +N/-N with a unit d, h, m or s (relative to now).
        #[arg(long, allow_hyphen_values = true)]
        as_of: Option<String>,
    },
    /// List recorded maintenance operations, newest first.
    List {
        /// Only this device's.
        #[arg(long)]
        device: Option<String>,
        /// Only this task's.
        #[arg(long)]
        task: Option<String>,
    },
    /// Show a device's admin password versions (never the values) and operations.
    Device {
        /// The device's UUID.
        uuid: String,
    },
    /// Revoke a certificate of the embedded CA (the server publishes and pushes the CRLs).
    Revoke {
        /// The serial number (hex).
        serial: String,
        /// replaced-by-maintenance, reprovisioned, provisioning-failed, key-compromise,
        /// decommissioned or unspecified.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Show the server's mutual-TLS console certificate (issued now if there is none).
    ConsoleCertificate,
}

/// `--as-of`: absolute or relative to `now`, as the API takes it (seconds or the RFC 3339
/// form, passed through).
fn as_of(text: &str, now: SystemTime) -> Result<Value> {
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) {
        let split = rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len());
        let (n, unit) = rel.split_at(split);
        let n: u64 = n.parse().with_context(|| format!("--as-of {t:?}"))?;
        let secs = match unit {
            "d" => n * 86_400,
            "h" => n * 3600,
            "m" => n * 60,
            "s" | "" => n,
            _ => bail!("--as-of {t:?}: unit must be d, h, m or s"),
        };
        let d = Duration::from_secs(secs);
        let at = if t.starts_with('+') {
            now + d
        } else {
            now.checked_sub(d).context("--as-of is before 1970")?
        };
        return Ok(json!(at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()));
    }
    if let Ok(n) = t.parse::<u64>() {
        return Ok(json!(n));
    }
    Ok(json!(t))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs `amtd maintenance …`.
pub fn run(args: MaintenanceArgs) -> Result<()> {
    // A pass renews certificates (the device makes an RSA key) and waits for devices.
    let api = Api::find(&args.server)?.with_read_timeout(Duration::from_secs(600));
    let json_out = args.server.json;
    let answer = match args.command {
        MaintenanceCommand::Run {
            tasks,
            devices,
            as_of: at,
        } => {
            let mut body = json!({});
            if !tasks.is_empty() {
                body["tasks"] = json!(tasks);
            }
            if !devices.is_empty() {
                body["devices"] = json!(devices);
            }
            if let Some(t) = at {
                body["as_of"] = as_of(&t, SystemTime::now())?;
            }
            let report = api.call_with("POST", "/api/v1/maintenance/run", Some(&body))?;
            if !json_out {
                println!("as of {} (seconds since the epoch)", text(&report["as_of"]));
                for (title, key) in [("settled", "settled"), ("tasks", "tasks")] {
                    let rows = report[key].as_array().cloned().unwrap_or_default();
                    if rows.is_empty() {
                        continue;
                    }
                    println!(
                        "\n{title}:\n{:<38} {:<22} {:<10} detail",
                        "device", "task", "outcome"
                    );
                    for r in rows {
                        println!(
                            "{:<38} {:<22} {:<10} {}",
                            text(&r["device"]),
                            text(&r["task"]),
                            text(&r["outcome"]),
                            text(&r["detail"])
                        );
                    }
                }
                return Ok(());
            }
            report
        }
        MaintenanceCommand::List { device, task } => {
            let mut q = Vec::new();
            if let Some(d) = device {
                q.push(format!("device={d}"));
            }
            if let Some(t) = task {
                q.push(format!("task={t}"));
            }
            let path = format!("/api/v1/maintenance?{}", q.join("&"));
            let ops = api.call_with("GET", &path, None)?;
            if !json_out {
                println!(
                    "{:<38} {:<22} {:<26} {:<10} reason",
                    "device", "task", "phase", "outcome"
                );
                for o in ops.as_array().cloned().unwrap_or_default() {
                    println!(
                        "{:<38} {:<22} {:<26} {:<10} {}",
                        text(&o["device"]),
                        text(&o["task"]),
                        text(&o["phase"]),
                        text(&o["outcome"]),
                        text(&o["reason"])
                    );
                }
                return Ok(());
            }
            ops
        }
        MaintenanceCommand::Device { uuid } => {
            let v = api.call_with("GET", &format!("/api/v1/maintenance/devices/{uuid}"), None)?;
            if !json_out {
                println!(
                    "admin password in force: version {} (fallback {})",
                    text(&v["admin_password_in_force"]),
                    text(&v["admin_password_fallback"])
                );
                for p in v["admin_password_versions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    println!(
                        "  version {:>3}  stored at {}",
                        text(&p["version"]),
                        text(&p["created_at"])
                    );
                }
                for o in v["operations"].as_array().cloned().unwrap_or_default() {
                    println!(
                        "  {:<22} {:<10} {}",
                        text(&o["task"]),
                        text(&o["outcome"]),
                        text(&o["reason"])
                    );
                }
                return Ok(());
            }
            v
        }
        MaintenanceCommand::Revoke { serial, reason } => api.call_with(
            "POST",
            &format!("/api/v1/certificates/{serial}/revoke"),
            Some(&json!({ "reason": reason })),
        )?,
        MaintenanceCommand::ConsoleCertificate => {
            let v = api.call_with("GET", "/api/v1/console-certificate", None)?;
            if !json_out {
                println!(
                    "serial {}\nsubject {}\nnot after {}\n{}",
                    text(&v["serial"]),
                    text(&v["subject"]),
                    text(&v["not_after"]),
                    text(&v["pem"])
                );
                return Ok(());
            }
            v
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_takes_relative_absolute_and_epoch_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(as_of("+1d", now).unwrap(), json!(1_086_400));
        assert_eq!(as_of("-2h", now).unwrap(), json!(992_800));
        assert_eq!(as_of("1700000000", now).unwrap(), json!(1_700_000_000));
        assert_eq!(
            as_of("2027-01-31T00:00:00Z", now).unwrap(),
            json!("2027-01-31T00:00:00Z")
        );
        assert!(as_of("+3w", now).is_err());
    }
}
