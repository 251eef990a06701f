//! The console commands over the REST API of a running `amtd lab` or `amtd serve`:
//!
//! ```text
//! amtd power <status|on|off|cycle|reset|graceful-off|graceful-reset|…> [DEVICE…]
//!            [--tag T]… [--profile P] [--state S] [--all] [--concurrency N] [--json]
//! amtd boot <pxe|bios|ider-cd|ider-floppy> [DEVICE…] [same selection flags]
//! amtd inventory <UUID> [--refresh] [--json]
//! amtd events <UUID> [--limit N] [--json]
//! amtd audit-log <UUID> [--limit N] [--json]
//! amtd tag <UUID> [TAG…]            (no tags: show them; --clear: remove them)
//! amtd adopt <UUID> --address A [--fqdn F] [--plain | --pin SHA256] --admin-password-env VAR
//! ```
//!
//! DEVICE is a UUID or an FQDN. Fleet commands stream the server's per-device results (NDJSON)
//! and draw a progress bar on stderr when it is a terminal, then print one row per device, or
//! with `--json` the whole result as one JSON document. They exit with an error when a device
//! failed. The server is found as for `amtd devices` (see `client`).

use std::io::{BufRead, BufReader, IsTerminal as _, Read as _, Write as _};
use std::time::Duration;

use amt_wire::logs::utc_text;
use amtd_infra::console::inventory::Inventory;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::client::{Api, ServerArgs};

/// Most bytes of one streamed line.
const MAX_LINE: usize = 16 << 20;

/// Which devices a fleet command is for.
#[derive(Args, Debug, Clone, Default)]
pub struct Selection {
    /// Devices by UUID or FQDN.
    devices: Vec<String>,
    /// Devices carrying this tag (repeat: all of them).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Devices provisioned with this profile.
    #[arg(long)]
    profile: Option<String>,
    /// Devices in this state (e.g. provisioned).
    #[arg(long)]
    state: Option<String>,
    /// Every provisioned device.
    #[arg(long)]
    all: bool,
    /// Devices worked on at once (the server's default when unset).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Seconds each device may take (the server's default when unset).
    #[arg(long)]
    timeout: Option<u64>,
}

impl Selection {
    fn request(&self, extra: Value) -> Result<Value> {
        if self.devices.is_empty()
            && self.tags.is_empty()
            && self.profile.is_none()
            && self.state.is_none()
            && !self.all
        {
            bail!("say which devices: UUIDs or FQDNs, --tag, --profile, --state or --all");
        }
        let mut v = json!({
            "targets": {
                "devices": self.devices,
                "tags": self.tags,
                "profile": self.profile,
                "state": self.state,
                "all": self.all,
            }
        });
        if let Some(c) = self.concurrency {
            v["concurrency"] = c.into();
        }
        if let Some(t) = self.timeout {
            v["timeout_secs"] = t.into();
        }
        if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
            o.extend(e);
        }
        Ok(v)
    }
}

/// `amtd power`.
#[derive(Args, Debug)]
pub struct PowerArgs {
    /// status, on, off, cycle, reset, graceful-off, graceful-reset, sleep, hibernate or nmi.
    action: String,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd boot`.
#[derive(Args, Debug)]
pub struct BootArgs {
    /// What the devices boot next: pxe, bios, ider-cd or ider-floppy.
    next_boot: String,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd inventory`.
#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// The device's UUID.
    uuid: String,
    /// Read the inventory from the device now (and store it) before showing it.
    #[arg(long)]
    refresh: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd events` and `amtd audit-log`.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// The device's UUID.
    uuid: String,
    /// Most records shown (newest first).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// The device's UUID.
    uuid: String,
    /// The device's tags (they replace the current ones); none: show them.
    tags: Vec<String>,
    /// Remove every tag.
    #[arg(long, conflicts_with = "tags")]
    clear: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `amtd adopt`.
#[derive(Args, Debug)]
pub struct AdoptArgs {
    /// The device's UUID.
    uuid: String,
    /// Where the device listens (IP address or name).
    #[arg(long)]
    address: String,
    /// Its FQDN (required for CA-verified TLS: the name its certificate carries).
    #[arg(long)]
    fqdn: Option<String>,
    /// Reach it over plain HTTP on 16992 (lab devices started with `amtd sim --provisioned`).
    #[arg(long, conflicts_with = "pin")]
    plain: bool,
    /// Reach it over TLS accepting exactly the certificate with this SHA-256 (hex).
    #[arg(long)]
    pin: Option<String>,
    /// A port other than AMT's.
    #[arg(long)]
    port: Option<u16>,
    /// Environment variable holding the device's admin password.
    #[arg(long)]
    admin_password_env: String,
    /// Profile name to record for it.
    #[arg(long)]
    profile: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `amtd power`.
pub fn power(args: PowerArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let req = args.select.request(json!({ "action": args.action }))?;
    fleet(&api, "/api/v1/power", &req, args.server.json, power_text)
}

/// Runs `amtd boot`.
pub fn boot(args: BootArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let req = args
        .select
        .request(json!({ "next_boot": args.next_boot }))?;
    fleet(&api, "/api/v1/boot", &req, args.server.json, |r| {
        let pending = if r["options_cleared"] == false {
            "armed for the next boot"
        } else {
            "not pending (the device cleared the options)"
        };
        format!("{}: {pending}", r["next_boot"].as_str().unwrap_or("?"))
    })
}

fn power_text(r: &Value) -> String {
    let state = r["power_state"].as_str().unwrap_or("unknown");
    if let Some(action) = r["action"].as_str() {
        if r["sent"] == false {
            return format!("already {state}");
        }
        let before = r["before"].as_str().unwrap_or("unknown");
        return format!("{action}: {before} -> {state}");
    }
    let offers: Vec<&str> = r["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!("{state} (offers: {})", offers.join(", "))
}

/// Runs a fleet request: progress on stderr, then the table (or JSON); an error when a device
/// failed.
fn fleet(
    api: &Api,
    path: &str,
    req: &Value,
    as_json: bool,
    text: impl Fn(&Value) -> String,
) -> Result<()> {
    let mut bar = Progress::new();
    let mut results = Vec::new();
    let mut summary = Value::Null;
    stream_lines(api, "POST", path, req, |line| {
        match line["event"].as_str() {
            Some("start") => bar.start(line["total"].as_u64().unwrap_or(0)),
            Some("device") => {
                bar.update(
                    line["done"].as_u64().unwrap_or(0),
                    line["total"].as_u64().unwrap_or(0),
                    line["failed"].as_u64().unwrap_or(0),
                );
                let mut row = line.clone();
                if let Value::Object(o) = &mut row {
                    for k in ["event", "done", "total", "failed"] {
                        o.remove(k);
                    }
                }
                results.push(row);
            }
            Some("end") => summary = line,
            _ => {}
        }
        Ok(())
    })?;
    bar.finish();
    results.sort_by(|a, b| a["uuid"].as_str().cmp(&b["uuid"].as_str()));
    let failed = summary["failed"].as_u64().unwrap_or(0);
    let total = summary["total"].as_u64().unwrap_or(results.len() as u64);
    if as_json {
        let mut out = summary.clone();
        if let Value::Object(o) = &mut out {
            o.remove("event");
        }
        out["results"] = Value::Array(results);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{:<36}  {:<28}  result", "device", "fqdn");
        for r in &results {
            let fqdn = r["fqdn"].as_str().unwrap_or("-");
            let result = if r["ok"] == true {
                text(&r["result"])
            } else {
                format!(
                    "FAILED: {}",
                    r["error"].as_str().unwrap_or("no reason given")
                )
            };
            println!(
                "{:<36}  {:<28}  {result}",
                r["uuid"].as_str().unwrap_or("?"),
                fqdn
            );
        }
        println!(
            "\n{}: {} of {total} devices succeeded in {:.2} s",
            summary["operation"].as_str().unwrap_or("done"),
            total - failed,
            summary["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
        );
    }
    if failed > 0 {
        bail!("{failed} of {total} devices failed");
    }
    Ok(())
}

/// A one-line progress bar on stderr (only when stderr is a terminal).
struct Progress {
    on: bool,
    drawn: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    fn start(&mut self, total: u64) {
        self.update(0, total, 0);
    }

    fn update(&mut self, done: u64, total: u64, failed: u64) {
        if !self.on {
            return;
        }
        const WIDTH: u64 = 30;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH) as usize;
        let bar = format!(
            "{}{}",
            "#".repeat(filled),
            ".".repeat(WIDTH as usize - filled.min(WIDTH as usize))
        );
        eprint!("\r[{bar}] {done}/{total} devices, {failed} failed ");
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

/// Sends a request asking for NDJSON and calls `on_line` for each JSON line as it arrives
/// (chunked or not). A non-2xx answer is an error with the server's message.
fn stream_lines(
    api: &Api,
    method: &str,
    path: &str,
    body: &Value,
    mut on_line: impl FnMut(Value) -> Result<()>,
) -> Result<()> {
    let (host, token) = api.parts();
    let body = serde_json::to_vec(body)?;
    // Lines come as devices finish; a device may take minutes.
    let mut s = api.connect(Duration::from_secs(3600))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Accept: application/x-ndjson\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(&body)?;
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the API's answer has no status line")?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            bail!("the API's answer ends inside its header");
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        }
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut feed = |data: &[u8], on_line: &mut dyn FnMut(Value) -> Result<()>| -> Result<()> {
        pending.extend_from_slice(data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            if !text.trim().is_empty() {
                on_line(serde_json::from_str(text.trim()).context("a streamed line is not JSON")?)?;
            }
        }
        if pending.len() > MAX_LINE {
            bail!("a streamed line is longer than {MAX_LINE} bytes");
        }
        Ok(())
    };
    let mut whole = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size)? == 0 {
                bail!("the API's answer ended before its last chunk");
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .context("bad chunk size")?;
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n];
            r.read_exact(&mut chunk)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            if (200..300).contains(&status) {
                feed(&chunk, &mut on_line)?;
            } else {
                whole.extend_from_slice(&chunk);
            }
        }
    } else {
        let limit = length.map_or(MAX_LINE as u64, |l| l as u64);
        r.take(limit).read_to_end(&mut whole)?;
        if (200..300).contains(&status) {
            feed(&whole, &mut on_line)?;
            feed(b"\n", &mut on_line)?;
        }
    }
    if !(200..300).contains(&status) {
        let v: Value = serde_json::from_slice(&whole).unwrap_or(Value::Null);
        bail!(
            "the server answered {status}: {}",
            v["error"].as_str().unwrap_or("no details")
        );
    }
    Ok(())
}

/// Runs `amtd inventory`.
pub fn inventory(args: InventoryArgs) -> Result<()> {
    let api = Api::find(&args.server)?.with_read_timeout(Duration::from_secs(300));
    let uuid = args.uuid.to_ascii_lowercase();
    if args.refresh {
        let r = api.call_with(
            "POST",
            "/api/v1/inventory/refresh",
            Some(&json!({ "targets": { "devices": [uuid] } })),
        )?;
        let one = &r["results"][0];
        if one["ok"] != true {
            bail!(
                "could not read the inventory of {uuid}: {}",
                one["error"].as_str().unwrap_or("no reason given")
            );
        }
    }
    let v = api.call_with("GET", &format!("/api/v1/devices/{uuid}/inventory"), None)?;
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let inv: Inventory = serde_json::from_value(v["inventory"].clone())
        .context("the server's inventory document")?;
    print!("{}", inventory_report(&uuid, &v, &inv));
    Ok(())
}

/// The readable report: every item with its fields; items added since the previous read marked
/// `+`, changed fields `*` (with the value before), removed items listed with `-`.
fn inventory_report(uuid: &str, v: &Value, inv: &Inventory) -> String {
    use std::fmt::Write as _;
    let when = |k: &str| v[k].as_u64().map(|t| format!("{} UTC", utc_text(t)));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Inventory of {uuid}, read {}",
        when("read_at").unwrap_or_else(|| "at an unknown time".into())
    );
    let diff = &v["diff"];
    match when("previous_read_at") {
        Some(p) if diff.is_object() => {
            let n = diff["added"].as_array().map_or(0, Vec::len)
                + diff["removed"].as_array().map_or(0, Vec::len)
                + diff["changed"].as_array().map_or(0, Vec::len);
            if n == 0 {
                let _ = writeln!(out, "No changes since the previous read ({p}).");
            } else {
                let _ = writeln!(
                    out,
                    "Changes since the previous read ({p}) are marked: + added, * changed, - removed."
                );
            }
        }
        _ => {
            let _ = writeln!(out, "First read: nothing to compare with.");
        }
    }
    let added: Vec<&str> = diff["added"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["item"].as_str()).collect())
        .unwrap_or_default();
    let changed: Vec<(&str, &str, Option<&str>)> = diff["changed"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["item"].as_str().unwrap_or(""),
                        c["field"].as_str().unwrap_or(""),
                        c["old"].as_str(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for (item, fields) in inv.items() {
        let item_changed = changed.iter().any(|c| c.0 == item);
        let mark = if added.contains(&item.as_str()) {
            "+"
        } else if item_changed {
            "*"
        } else {
            " "
        };
        let _ = writeln!(out, "\n{mark} {item}");
        for name in fields.keys() {
            let value = &fields[name];
            match changed.iter().find(|c| c.0 == item && c.1 == name) {
                Some((_, _, old)) => {
                    let _ = writeln!(
                        out,
                        "    * {name:<18} {value}   (was: {})",
                        old.unwrap_or("not reported")
                    );
                }
                None => {
                    let _ = writeln!(out, "      {name:<18} {value}");
                }
            }
        }
        for (_, name, old) in changed
            .iter()
            .filter(|c| c.0 == item && !fields.contains_key(c.1))
        {
            let _ = writeln!(
                out,
                "    * {name:<18} no longer reported   (was: {})",
                old.unwrap_or("-")
            );
        }
    }
    if let Some(removed) = diff["removed"].as_array() {
        for r in removed {
            let _ = writeln!(
                out,
                "\n- {}   (no longer reported)",
                r["item"].as_str().unwrap_or("?")
            );
            if let Some(fields) = r["fields"].as_object() {
                for (k, v) in fields {
                    let _ = writeln!(out, "      {k:<18} {}", v.as_str().unwrap_or(""));
                }
            }
        }
    }
    for u in &inv.unreadable {
        let _ = writeln!(out, "\n! {} could not be read: {}", u.class, u.reason);
    }
    out
}

/// Runs `amtd events`.
pub fn events(args: LogArgs) -> Result<()> {
    let api = Api::find(&args.server)?.with_read_timeout(Duration::from_secs(300));
    let uuid = args.uuid.to_ascii_lowercase();
    let v = api.call_with(
        "GET",
        &format!("/api/v1/devices/{uuid}/events?limit={}", args.limit),
        None,
    )?;
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let entries = v["entries"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<20}  {:<15}  {:<28}  event",
        "time (UTC)", "severity", "entity"
    );
    for e in &entries {
        println!(
            "{:<20}  {:<15}  {:<28}  {}",
            e["time_text"].as_str().unwrap_or("?"),
            e["severity"].as_str().unwrap_or("?"),
            e["entity"].as_str().unwrap_or("?"),
            e["description"].as_str().unwrap_or("?"),
        );
    }
    println!("\n{} event records, newest first", entries.len());
    Ok(())
}

/// Runs `amtd audit-log`.
pub fn audit_log(args: LogArgs) -> Result<()> {
    let api = Api::find(&args.server)?.with_read_timeout(Duration::from_secs(300));
    let uuid = args.uuid.to_ascii_lowercase();
    let v = api.call_with(
        "GET",
        &format!("/api/v1/devices/{uuid}/audit-log?limit={}", args.limit),
        None,
    )?;
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let entries = v["entries"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<20}  {:<6}  {:<40}  {:<16}  details",
        "time (UTC)", "code", "event", "by"
    );
    for e in &entries {
        let by = match e["net_address"].as_str() {
            Some(a) => format!("{} ({a})", e["initiator"].as_str().unwrap_or("?")),
            None => e["initiator"].as_str().unwrap_or("?").to_owned(),
        };
        println!(
            "{:<20}  {:<6}  {:<40}  {:<16}  {}",
            e["time_text"].as_str().unwrap_or("?"),
            e["code"].as_u64().unwrap_or(0),
            format!(
                "{}: {}",
                e["application"].as_str().unwrap_or("?"),
                e["event"].as_str().unwrap_or("?")
            ),
            by,
            e["details"].as_str().unwrap_or(""),
        );
    }
    println!("\n{} audit records, newest first", entries.len());
    Ok(())
}

/// Runs `amtd tag`.
pub fn tag(args: TagArgs) -> Result<()> {
    let api = Api::find(&args.server)?;
    let uuid = args.uuid.to_ascii_lowercase();
    let path = format!("/api/v1/devices/{uuid}/tags");
    let v = if args.tags.is_empty() && !args.clear {
        api.call_with("GET", &path, None)?
    } else {
        api.call_with("PUT", &path, Some(&json!({ "tags": args.tags })))?
    };
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let tags: Vec<&str> = v["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if tags.is_empty() {
            println!("{uuid}: no tags");
        } else {
            println!("{uuid}: {}", tags.join(", "));
        }
    }
    Ok(())
}

/// Runs `amtd adopt`.
pub fn adopt(args: AdoptArgs) -> Result<()> {
    let api = Api::find(&args.server)?.with_read_timeout(Duration::from_secs(120));
    let password = std::env::var(&args.admin_password_env)
        .with_context(|| format!("${} is not set", args.admin_password_env))?;
    let scheme = if args.plain {
        "plain"
    } else if args.pin.is_some() {
        "tls-pinned"
    } else {
        "tls"
    };
    let uuid = args.uuid.to_ascii_lowercase();
    let v = api.call_with(
        "POST",
        &format!("/api/v1/devices/{uuid}/adopt"),
        Some(&json!({
            "address": args.address,
            "fqdn": args.fqdn,
            "scheme": scheme,
            "port": args.port,
            "pin_sha256": args.pin,
            "admin_password": password,
            "profile": args.profile,
        })),
    )?;
    if args.server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{uuid} adopted ({scheme}); power {}",
            v["power"]["power_state"].as_str().unwrap_or("unknown")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use amtd_infra::console::inventory::{Bios, InventoryDiff, MemoryModule};

    #[test]
    fn the_report_marks_what_changed() {
        let old = Inventory {
            bios: Some(Bios {
                vendor: Some("Emulated".into()),
                version: Some("1.0".into()),
                release_date: None,
            }),
            memory: vec![MemoryModule {
                slot: "DIMM 1".into(),
                capacity_bytes: Some(8 << 30),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut new = old.clone();
        new.bios.as_mut().unwrap().version = Some("2.0".into());
        new.memory.clear();
        new.memory.push(MemoryModule {
            slot: "DIMM 2".into(),
            capacity_bytes: Some(16 << 30),
            ..Default::default()
        });
        let v = json!({
            "read_at": 1_700_000_000u64,
            "previous_read_at": 1_600_000_000u64,
            "diff": InventoryDiff::between(&old, &new),
        });
        let r = inventory_report("u", &v, &new);
        assert!(r.contains("* bios"), "{r}");
        assert!(r.contains("* version            2.0   (was: 1.0)"), "{r}");
        assert!(r.contains("+ memory DIMM 2"), "{r}");
        assert!(r.contains("- memory DIMM 1   (no longer reported)"), "{r}");
        assert!(r.contains("      vendor             Emulated"), "{r}");
    }

    #[test]
    fn a_selection_is_required() {
        assert!(Selection::default().request(json!({})).is_err());
        let s = Selection {
            tags: vec!["lab".into()],
            ..Default::default()
        };
        let v = s.request(json!({ "action": "off" })).unwrap();
        assert_eq!(v["targets"]["tags"][0], "lab");
        assert_eq!(v["action"], "off");
    }
}
