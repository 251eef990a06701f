//! `amtd defense`: System Defense policies (M3) over the REST API of a running server.
//!
//! - `amtd defense policies`: the stored policies, their revision and where they are applied.
//! - `amtd defense get NAME`: one policy, as TOML `set --file` takes it.
//! - `amtd defense set NAME --file policy.toml [--if-revision N]`: store a policy. The file is
//!   TOML (or JSON with a `.json` name) in the shape of amtd-core's `DefensePolicy`; `name` may
//!   be left out. It is checked here first, so every problem is shown before anything is sent.
//! - `amtd defense delete NAME`.
//! - `amtd defense apply NAME [DEVICE…] [--tag T] [--profile P] [--all]` and
//!   `amtd defense remove NAME …`: run on the selected devices (UUIDs or FQDNs, plus every
//!   device with the tag or profile, or all provisioned ones). A progress bar on stderr moves as
//!   devices finish, then a per-device result table goes to stdout; the exit status is 1 when a
//!   device failed.
//! - `amtd defense show UUID`: the device's policies read back now, and for each policy applied
//!   to it whether it is in sync, the differences marked with `!`.
//!
//! `--json` prints the API's answers instead.

use std::io::{BufRead as _, BufReader, IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use amtd_core::defense::{Action, DefensePolicy, Filter, Match};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{Api, Conn, ServerArgs};

/// `amtd defense …`.
#[derive(Args, Debug)]
pub struct DefenseArgs {
    #[command(subcommand)]
    command: DefenseCommand,
}

#[derive(Subcommand, Debug)]
enum DefenseCommand {
    /// List the stored policies (table or --json).
    Policies {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print one policy as TOML (or --json).
    Get {
        /// The policy's name.
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Store a policy from a TOML (or .json) file; audited by the server.
    Set {
        /// The policy's name.
        name: String,
        /// The policy file.
        #[arg(long)]
        file: PathBuf,
        /// Store only if the server holds this revision (0: only if it does not exist yet).
        #[arg(long)]
        if_revision: Option<i64>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a stored policy (refused while it is applied to a device).
    Delete {
        /// The policy's name.
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Apply a policy to devices: created, updated or left alone, then read back and compared.
    Apply(RunArgs),
    /// Remove a policy from devices: disabled, deleted with its filters, checked gone.
    Remove(RunArgs),
    /// Show a device's System Defense state and how it compares with what was applied.
    Show {
        /// The device's UUID.
        uuid: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Which devices `apply` and `remove` run on.
#[derive(Args, Debug)]
struct RunArgs {
    /// The policy's name.
    name: String,
    /// Devices (UUIDs or FQDNs).
    devices: Vec<String>,
    /// Every device with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Every device provisioned with this profile.
    #[arg(long)]
    profile: Option<String>,
    /// Every provisioned device.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `amtd defense …`.
pub fn run(args: DefenseArgs) -> Result<()> {
    match args.command {
        DefenseCommand::Policies { server } => policies(&server),
        DefenseCommand::Get { name, server } => get(&name, &server),
        DefenseCommand::Set {
            name,
            file,
            if_revision,
            server,
        } => set(&name, &file, if_revision, &server),
        DefenseCommand::Delete { name, server } => {
            let name = check_name(&name)?;
            let v = Api::find(&server)?.call_with(
                "DELETE",
                &format!("/api/v1/defense-policies/{name}"),
                None,
            )?;
            if server.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("policy {name} deleted");
            }
            Ok(())
        }
        DefenseCommand::Apply(a) => fleet_run(a, "apply"),
        DefenseCommand::Remove(a) => fleet_run(a, "remove"),
        DefenseCommand::Show { uuid, server } => show(&uuid, &server),
    }
}

fn check_name(name: &str) -> Result<&str> {
    if amtd_core::defense::valid_name(name) {
        Ok(name)
    } else {
        bail!("{name:?} is not a policy name (1 to 16 letters, digits, '-', '_' or '.')")
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn policies(server: &ServerArgs) -> Result<()> {
    let list = Api::find(server)?.call_with("GET", "/api/v1/defense-policies", None)?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let rows = list.as_array().cloned().unwrap_or_default();
    println!(
        "{:<17} {:>8} {:>10} {:>7} {:<9} devices",
        "name", "revision", "precedence", "filters", "ports"
    );
    for r in &rows {
        if let Some(e) = r.get("error") {
            println!("{:<17} {}", text(&r["name"]), text(e));
            continue;
        }
        let p = &r["policy"];
        let ports: Vec<String> = p["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        println!(
            "{:<17} {:>8} {:>10} {:>7} {:<9} {}",
            text(&r["name"]),
            text(&r["revision"]),
            text(&p["precedence"]),
            p["filters"].as_array().map_or(0, Vec::len),
            ports.join(","),
            r["devices"].as_array().map_or(0, Vec::len)
        );
    }
    println!("{} policy(ies)", rows.len());
    Ok(())
}

fn get(name: &str, server: &ServerArgs) -> Result<()> {
    let name = check_name(name)?;
    let v =
        Api::find(server)?.call_with("GET", &format!("/api/v1/defense-policies/{name}"), None)?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let policy: DefensePolicy =
        serde_json::from_value(v["policy"].clone()).context("the server's policy document")?;
    println!("# revision {}", text(&v["revision"]));
    print!("{}", toml::to_string(&policy)?);
    Ok(())
}

/// Reads a policy file (TOML, or JSON for `*.json`), names it `name` when it has no name, and
/// checks it (every problem at once).
pub(crate) fn read_policy_file(file: &Path, name: &str) -> Result<DefensePolicy> {
    let contents = std::fs::read_to_string(file)
        .with_context(|| format!("reading the policy file {}", file.display()))?;
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let mut v: Value = if is_json {
        serde_json::from_str(&contents)
            .with_context(|| format!("parsing {} as JSON", file.display()))?
    } else {
        let t: toml::Table = toml::from_str(&contents)
            .with_context(|| format!("parsing {} as TOML", file.display()))?;
        serde_json::to_value(t)?
    };
    let Some(obj) = v.as_object_mut() else {
        bail!("{}: a policy is a table of keys", file.display());
    };
    match obj.get("name") {
        None => {
            obj.insert("name".into(), name.into());
        }
        Some(Value::String(n)) if n == name => {}
        Some(other) => bail!(
            "{} names policy {other}, the command line {name:?}",
            file.display()
        ),
    }
    let policy: DefensePolicy = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!(
            "{}{}: {}",
            file.display(),
            if path == "." {
                String::new()
            } else {
                format!(" at {path}")
            },
            e.into_inner()
        )
    })?;
    policy
        .validated()
        .with_context(|| format!("in {}", file.display()))
}

fn set(name: &str, file: &Path, if_revision: Option<i64>, server: &ServerArgs) -> Result<()> {
    let name = check_name(name)?;
    let policy = read_policy_file(file, name)?;
    let api = Api::find(server)?;
    let path = format!("/api/v1/defense-policies/{name}");
    let body = serde_json::to_value(&policy)?;
    let v = match if_revision {
        None => api.call_with("PUT", &path, Some(&body))?,
        Some(r) => request(&api, "PUT", &path, &body, &[("If-Match", &r.to_string())])?,
    };
    if server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "policy {name} stored (revision {}, {} filter(s))",
            text(&v["revision"]),
            policy.filters.len()
        );
    }
    Ok(())
}

/// One filter in a line: `receive drop ip tcp dst_ports 22`.
pub(crate) fn describe(f: &Filter) -> String {
    let mut out = vec![f.direction.to_string(), f.action.to_string()];
    if f.action == Action::RateLimit {
        out.push(format!("{}/s", f.rate.unwrap_or_default()));
    }
    match &f.matcher {
        Match::Ethernet(e) => {
            out.push("ethernet".into());
            if let Some(t) = e.ether_type {
                out.push(format!("ether_type {t:#06x}"));
            }
            for (k, v) in [("src_mac", e.src_mac), ("dst_mac", e.dst_mac)] {
                if let Some(m) = v {
                    out.push(format!("{k} {m}"));
                }
            }
            if let Some(v) = e.vlan {
                out.push(format!("vlan {v}"));
            }
            if let Some(p) = e.priority {
                out.push(format!("priority {p}"));
            }
        }
        Match::Ip(ip) => {
            out.push(ip.ip_version.map_or("ip".into(), |v| v.to_string()));
            if let Some(p) = ip.protocol {
                out.push(p.to_string());
            }
            for (k, v) in [("src", ip.src), ("dst", ip.dst)] {
                if let Some(a) = v {
                    out.push(format!("{k} {a}"));
                }
            }
            for (k, v) in [("src_ports", ip.src_ports), ("dst_ports", ip.dst_ports)] {
                if let Some(r) = v {
                    out.push(format!("{k} {r}"));
                }
            }
        }
    }
    if f.negate {
        out.push("(negated)".into());
    }
    if f.event_on_match {
        out.push("+event".into());
    }
    out.join(" ")
}

fn show(uuid: &str, server: &ServerArgs) -> Result<()> {
    let uuid = uuid.to_ascii_lowercase();
    let api = Api::find(server)?.with_read_timeout(Duration::from_secs(180));
    let v = api.call_with("GET", &format!("/api/v1/devices/{uuid}/defense"), None)?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("device {uuid}");
    let policies = v["device"].as_array().cloned().unwrap_or_default();
    if policies.is_empty() {
        println!("  no System Defense policy on the device");
    }
    for p in &policies {
        let ports = |k: &str| {
            let l: Vec<String> = p[k].as_array().into_iter().flatten().map(text).collect();
            if l.is_empty() {
                "-".to_owned()
            } else {
                l.join(",")
            }
        };
        println!(
            "  policy {} (precedence {}, enabled on {}, active on {}; unmatched rx {}, tx {})",
            text(&p["name"]),
            text(&p["precedence"]),
            ports("enabled_on"),
            ports("active_on"),
            text(&p["rx_default"]["action"]),
            text(&p["tx_default"]["action"]),
        );
        for f in p["filters"].as_array().into_iter().flatten() {
            match serde_json::from_value::<Filter>(f["filter"].clone()) {
                Ok(filter) => println!(
                    "    {:>4} {:<17} {}",
                    text(&f["handle"]),
                    filter.name,
                    describe(&filter)
                ),
                Err(_) => println!(
                    "    {:>4} {:<17} unreadable: {}",
                    text(&f["handle"]),
                    "?",
                    text(&f["error"])
                ),
            }
        }
    }
    for u in v["unreadable_policies"].as_array().into_iter().flatten() {
        println!("  ! unreadable {}", text(u));
    }
    let applied = v["applied"].as_array().cloned().unwrap_or_default();
    if applied.is_empty() {
        println!("no policy was applied to this device through amtd");
    }
    let mut out_of_sync = 0;
    for a in &applied {
        if a["in_sync"] == true {
            println!(
                "intent {} (revision {}): in sync",
                text(&a["name"]),
                text(&a["revision"])
            );
        } else {
            out_of_sync += 1;
            println!(
                "intent {} (revision {}): DIFFERS",
                text(&a["name"]),
                text(&a["revision"])
            );
            for d in a["differences"].as_array().into_iter().flatten() {
                println!("  ! {}", text(&d["text"]));
            }
        }
    }
    if out_of_sync > 0 {
        eprintln!(
            "{out_of_sync} applied policy(ies) differ on the device; `amtd defense apply` \
             repairs them"
        );
    }
    Ok(())
}

/// Progress on stderr: a bar on a terminal, a line per device otherwise.
struct Progress {
    tty: bool,
    drawn: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    fn update(&mut self, done: u64, total: u64, failed: u64, line: &Value) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            const WIDTH: u64 = 30;
            let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
            let bar: String = (0..WIDTH)
                .map(|i| if i < filled { '#' } else { '.' })
                .collect();
            let _ = write!(err, "\r[{bar}] {done}/{total} devices, {failed} failed   ");
            self.drawn = true;
        } else {
            let _ = writeln!(
                err,
                "[{done}/{total}] {} {}",
                text(&line["uuid"]),
                if line["ok"] == true { "ok" } else { "FAILED" }
            );
        }
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

fn fleet_run(a: RunArgs, op: &str) -> Result<()> {
    let name = check_name(&a.name)?;
    if a.devices.is_empty() && a.tag.is_none() && a.profile.is_none() && !a.all {
        bail!("say which devices: UUIDs or FQDNs, --tag T, --profile P or --all");
    }
    let api = Api::find(&a.server)?;
    let mut body = json!({ "devices": a.devices, "all": a.all });
    if let Some(t) = &a.tag {
        body["tag"] = t.clone().into();
    }
    if let Some(p) = &a.profile {
        body["profile"] = p.clone().into();
    }
    let path = format!("/api/v1/defense-policies/{name}/{op}");
    let mut progress = Progress::new();
    let mut results: Vec<Value> = Vec::new();
    let mut end = Value::Null;
    stream(&api, &path, &body, |line| match line["event"].as_str() {
        Some("start") => eprintln!(
            "{op} {name}: {} device(s)",
            line["total"].as_u64().unwrap_or_default()
        ),
        Some("device") => {
            progress.update(
                line["done"].as_u64().unwrap_or_default(),
                line["total"].as_u64().unwrap_or_default(),
                line["failed"].as_u64().unwrap_or_default(),
                &line,
            );
            results.push(line);
        }
        Some("end") => end = line,
        _ => {}
    })?;
    progress.finish();
    if end.is_null() {
        bail!(
            "the server ended the answer early ({} device result(s) received)",
            results.len()
        );
    }
    for r in &mut results {
        if let Some(o) = r.as_object_mut() {
            for k in ["event", "done", "total", "failed"] {
                o.remove(k);
            }
        }
    }
    let failed = end["failed"].as_u64().unwrap_or_default();
    if a.server.json {
        let mut v = end.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("event");
        }
        v["results"] = Value::Array(results);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{:<38} {:<7} details", "device", "result");
        for r in &results {
            let ok = r["ok"] == true;
            let detail = if ok {
                text(&r["result"])
            } else {
                text(&r["error"])
            };
            println!(
                "{:<38} {:<7} {detail}",
                text(&r["uuid"]),
                if ok { "ok" } else { "FAILED" }
            );
        }
        println!(
            "{} device(s): {} ok, {failed} failed",
            results.len(),
            end["succeeded"].as_u64().unwrap_or_default()
        );
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn connect(api: &Api, read_timeout: Duration) -> Result<Conn> {
    api.connect(read_timeout)
}

fn write_request(
    s: &mut Conn,
    api: &Api,
    method: &str,
    path: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Result<()> {
    let (host, token) = api.parts();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    Ok(())
}

/// Most bytes of an answer, and of one streamed line.
const MAX_ANSWER: usize = 64 << 20;

/// Reads the status line and headers: (status, chunked, content length).
fn read_head(r: &mut BufReader<Conn>) -> Result<(u16, bool, Option<usize>)> {
    let mut status_line = String::new();
    r.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the API's answer has no status line")?;
    let mut chunked = false;
    let mut length = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            bail!("the API's answer has no complete header");
        }
        let lower = h.trim_end().to_ascii_lowercase();
        if lower.is_empty() {
            return Ok((status, chunked, length));
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        }
    }
}

/// Reads the body, handing each piece to `on_data` as it arrives.
fn read_body(
    r: &mut BufReader<Conn>,
    chunked: bool,
    length: Option<usize>,
    mut on_data: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    if !chunked {
        let mut all = Vec::new();
        r.take(length.unwrap_or(MAX_ANSWER).min(MAX_ANSWER) as u64)
            .read_to_end(&mut all)?;
        return on_data(&all);
    }
    let mut total = 0usize;
    loop {
        let mut size_line = String::new();
        if r.read_line(&mut size_line)? == 0 {
            bail!("the server closed the connection in the middle of the answer");
        }
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        if size == 0 {
            return Ok(());
        }
        total += size;
        if total > MAX_ANSWER {
            bail!("the answer is larger than {MAX_ANSWER} bytes");
        }
        let mut chunk = vec![0u8; size + 2];
        r.read_exact(&mut chunk)?;
        chunk.truncate(size);
        on_data(&chunk)?;
    }
}

fn server_error(status: u16, body: &[u8]) -> anyhow::Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    anyhow::anyhow!(
        "the server answered {status}: {}",
        v["error"].as_str().unwrap_or("no details")
    )
}

/// One request with extra headers; the JSON answer, or the server's error message.
fn request(
    api: &Api,
    method: &str,
    path: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> Result<Value> {
    let mut s = connect(api, Duration::from_secs(30))?;
    write_request(&mut s, api, method, path, &serde_json::to_vec(body)?, extra)?;
    let mut r = BufReader::new(s);
    let (status, chunked, length) = read_head(&mut r)?;
    let mut raw = Vec::new();
    read_body(&mut r, chunked, length, |d| {
        raw.extend_from_slice(d);
        Ok(())
    })?;
    if !(200..300).contains(&status) {
        return Err(server_error(status, &raw));
    }
    Ok(serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

/// POSTs `body` asking for NDJSON and calls `on_line` with each line as it arrives.
fn stream(api: &Api, path: &str, body: &Value, mut on_line: impl FnMut(Value)) -> Result<()> {
    // A line comes when a device finishes; one device may take up to two minutes.
    let mut s = connect(api, Duration::from_secs(300))?;
    write_request(
        &mut s,
        api,
        "POST",
        path,
        &serde_json::to_vec(body)?,
        &[("Accept", "application/x-ndjson")],
    )?;
    let mut r = BufReader::new(s);
    let (status, chunked, length) = read_head(&mut r)?;
    let mut pending: Vec<u8> = Vec::new();
    if !(200..300).contains(&status) {
        read_body(&mut r, chunked, length, |d| {
            pending.extend_from_slice(d);
            Ok(())
        })?;
        return Err(server_error(status, &pending));
    }
    read_body(&mut r, chunked, length, |d| {
        pending.extend_from_slice(d);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            on_line(serde_json::from_slice(&line).context("a progress line is not JSON")?);
        }
        Ok(())
    })?;
    if !pending.iter().all(u8::is_ascii_whitespace) {
        on_line(serde_json::from_slice(&pending).context("a progress line is not JSON")?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_policy_file_is_valid_and_described_in_words() {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/defense/lockdown.toml");
        let p = read_policy_file(&file, "lockdown").unwrap();
        assert_eq!(p.name, "lockdown");
        let ssh = p.filter("no-ssh").unwrap();
        assert_eq!(
            describe(ssh),
            "receive drop IPv4 tcp src 192.168.0.0/16 dst_ports 22 +event"
        );
        assert!(p.filters.iter().any(|f| f.action == Action::RateLimit));
    }

    #[test]
    fn get_prints_toml_that_set_reads_back_unchanged() {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/defense/lockdown.toml");
        let p = read_policy_file(&file, "lockdown").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.toml");
        std::fs::write(&out, toml::to_string(&p).unwrap()).unwrap();
        assert_eq!(read_policy_file(&out, "lockdown").unwrap(), p);
    }

    #[test]
    fn a_policy_file_with_problems_lists_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.toml");
        std::fs::write(
            &f,
            r#"
[[filters]]
name = "a"
direction = "receive"
action = "rate-limit"
match.ip = { protocol = "icmp", dst_ports = "90-80" }
"#,
        )
        .unwrap();
        let e = format!("{:#}", read_policy_file(&f, "p").unwrap_err());
        assert!(e.contains("action rate-limit needs a rate"), "{e}");
        assert!(e.contains("dst_ports need protocol tcp or udp"), "{e}");
        assert!(e.contains("dst_ports 90-80 ends before it starts"), "{e}");

        std::fs::write(&f, "name = \"other\"\n").unwrap();
        let e = format!("{:#}", read_policy_file(&f, "p").unwrap_err());
        assert!(e.contains("names policy \"other\""), "{e}");

        std::fs::write(&f, "[[filters]]\nname = \"a\"\ndirection = \"sideways\"\n").unwrap();
        let e = format!("{:#}", read_policy_file(&f, "p").unwrap_err());
        assert!(e.contains("filters[0].direction"), "{e}");
    }
}
