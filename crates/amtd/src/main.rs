//! The `amtd` binary: command-line entry point and wiring. Only this crate knows every concrete
//! type; protocol logic lives in the sans-IO `amt-*` crates.

use anyhow::Result;
use clap::{Parser, Subcommand};

mod audit_cmd;
mod check;
mod check_cmd;
mod client;
mod config;
mod console_cmd;
mod defense_cmd;
mod lab;
mod logging;
mod maintenance_cmd;
mod pki_cmd;
mod redir_cmd;
mod serve;
mod server;
mod sim_cmd;
mod user_cmd;
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
    /// Run the lab on embedded defaults: provisioning server, embedded CA, SQLite and a fleet of
    /// emulated devices going through the whole flow.
    Lab(lab::LabArgs),
    /// Run the provisioning server on a configuration file (hello listener, REST API).
    Serve(serve::ServeArgs),
    /// List the devices of a running `amtd lab` or `amtd serve` (table or --json).
    Devices(client::DevicesArgs),
    /// Show one device with its provisioning timeline, or reveal its admin password.
    Device(client::DeviceArgs),
    /// List the management profiles of a running server (table or --json).
    Profiles(client::ProfilesArgs),
    /// Show a management profile, set it from a file (`set --file`), or delete it.
    Profile(client::ProfileArgs),
    /// System Defense policies: store them, apply them to devices and remove them again,
    /// compare a device with what it was given.
    Defense(defense_cmd::DefenseArgs),
    /// Talk WS-Management to an AMT device, or build/decode messages offline.
    Wsman {
        #[command(subcommand)]
        command: wsman_cmd::WsmanCommand,
    },
    /// Run a fleet of emulated AMT devices, each on its own loopback address.
    Sim(sim_cmd::SimArgs),
    /// The embedded CA: init, issue, revoke, CRLs, trust files.
    Ca(pki_cmd::CaArgs),
    /// Power state or change of devices (one, a list, or --tag/--profile/--state/--all).
    Power(console_cmd::PowerArgs),
    /// The next boot of devices: pxe, bios, ider-cd or ider-floppy.
    Boot(console_cmd::BootArgs),
    /// A device's hardware inventory, changes since the previous read marked (--refresh reads).
    Inventory(console_cmd::InventoryArgs),
    /// A device's event log, decoded, newest first.
    Events(console_cmd::LogArgs),
    /// A device's security audit log, decoded, newest first.
    AuditLog(console_cmd::LogArgs),
    /// Show or set a device's tags (fleet commands select by tag).
    Tag(console_cmd::TagArgs),
    /// Take over a device that is already provisioned (address, access, admin password).
    Adopt(console_cmd::AdoptArgs),
    /// Serial-over-LAN terminal to a device (raw mode; Ctrl-] then q quits).
    Sol(redir_cmd::SolArgs),
    /// Serve a disk image as a device's IDE-R CD-ROM (--reboot boots the host from it).
    Ider(redir_cmd::IderArgs),
    /// Maintenance of a running server: run a pass (CRL push, renewal, password rotation,
    /// clocks), list operations, revoke a certificate, show the console certificate.
    Maintenance(maintenance_cmd::MaintenanceArgs),
    /// The API's local users of a running server: list, add, passwd, role, disable,
    /// enable, delete.
    User(user_cmd::UserArgs),
    /// API tokens of a running server: create (shown once), list, revoke.
    Token(user_cmd::TokenArgs),
    /// Readiness report: plays a device against DHCP, DNS, PKI and clocks and says, per team,
    /// what must change (exit 0: nothing blocks provisioning; 1: something does; 2: usage).
    Check(check_cmd::CheckArgs),
    /// The server's hash-chained audit log, read from its store (works with the server down):
    /// `verify` (exit 1 naming the first broken record) and `list`.
    Audit(audit_cmd::AuditArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Lab(args) => lab::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Devices(args) => client::devices(args),
        Command::Device(args) => client::device(args),
        Command::Profiles(args) => client::profiles(args),
        Command::Profile(args) => client::profile(args),
        Command::Defense(args) => defense_cmd::run(args),
        Command::Wsman { command } => wsman_cmd::run(command),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Ca(args) => pki_cmd::run(args),
        Command::Power(args) => console_cmd::power(args),
        Command::Boot(args) => console_cmd::boot(args),
        Command::Inventory(args) => console_cmd::inventory(args),
        Command::Events(args) => console_cmd::events(args),
        Command::AuditLog(args) => console_cmd::audit_log(args),
        Command::Tag(args) => console_cmd::tag(args),
        Command::Adopt(args) => console_cmd::adopt(args),
        Command::Sol(args) => redir_cmd::sol(args),
        Command::Ider(args) => redir_cmd::ider(args),
        Command::Maintenance(args) => maintenance_cmd::run(args),
        Command::User(args) => user_cmd::user(args),
        Command::Token(args) => user_cmd::token(args),
        Command::Check(args) => check_cmd::run(args),
        Command::Audit(args) => audit_cmd::run(args),
    }
}
