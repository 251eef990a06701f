//! The `amtd` binary: command-line entry point and wiring. Only this crate knows every concrete
//! type; protocol logic lives in the sans-IO `amt-*` crates.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod pki_cmd;
mod sim_cmd;
mod wsman_cmd;

/// amtd: Intel AMT provisioning and management server, console and device emulator.
#[derive(Parser, Debug)]
#[command(name = "amtd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the lab on embedded defaults. Until the emulator and provisioning server exist this
    /// runs the WS-Management core over the recorded real-device responses and reports.
    Lab {
        /// Folder of recorded WS-Management responses.
        #[arg(long, default_value = "../shared/fixtures/wsman-responses")]
        fixtures: PathBuf,
    },
    /// Talk WS-Management to an AMT device, or build/decode messages offline.
    Wsman {
        #[command(subcommand)]
        command: wsman_cmd::WsmanCommand,
    },
    /// Run a fleet of emulated AMT devices, each on its own loopback address.
    Sim(sim_cmd::SimArgs),
    /// The embedded CA: init, issue, revoke, CRLs, trust files.
    Ca(pki_cmd::CaArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Lab { fixtures } => lab(&fixtures),
        Command::Wsman { command } => wsman_cmd::run(command),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Ca(args) => pki_cmd::run(args),
    }
}

fn lab(fixtures: &std::path::Path) -> Result<()> {
    use amt_wsman::classes::{MethodResult, TypedInstance};
    use amt_wsman::{Item, Response, ResponseBody};

    println!(
        "amtd lab: the emulated fleet and provisioning server are not built yet (issues 3-5)."
    );
    println!("Running the WS-Management core over recorded real-device responses instead.\n");
    if !fixtures.is_dir() {
        bail!(
            "fixtures folder {} not found (pass --fixtures DIR)",
            fixtures.display()
        );
    }
    let mut files = Vec::new();
    let mut stack = vec![fixtures.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "xml") {
                files.push(p);
            }
        }
    }
    files.sort();
    let (mut ok, mut typed, mut generic, mut errors) = (0, 0, 0, 0);
    for f in &files {
        let bytes = std::fs::read(f)?;
        match Response::parse(&bytes) {
            Ok(r) => {
                ok += 1;
                let class = r.header.resource_uri.clone().unwrap_or_default();
                let mut count = |i: &amt_wsman::Instance| match TypedInstance::from_instance(i) {
                    Ok(_) => typed += 1,
                    Err(_) => generic += 1,
                };
                match &r.body {
                    ResponseBody::Get(i) | ResponseBody::Put(Some(i)) => count(i),
                    ResponseBody::Pull { items, .. } => {
                        for it in items {
                            if let Item::Instance(i) | Item::Both(i, _) = it {
                                count(i)
                            }
                        }
                    }
                    ResponseBody::Invoke { method, output } => {
                        match MethodResult::decode(&class, method, output) {
                            Ok(_) => typed += 1,
                            Err(_) => generic += 1,
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => {
                errors += 1;
                println!("  {}: {e}", f.display());
            }
        }
    }
    println!(
        "{} responses: {ok} parsed, {errors} rejected; {typed} bodies decoded into typed classes, {generic} kept generic",
        files.len()
    );
    Ok(())
}
