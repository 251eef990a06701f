//! `amtd wsman …`: build, decode, and (with the transport) send WS-Management messages.

use std::path::PathBuf;

use amt_wsman::envelope::{Enumerate, Operation};
use amt_wsman::{Request, Response};
use anyhow::{bail, Context, Result};
use clap::Subcommand;

/// `amtd wsman` subcommands.
#[derive(Subcommand, Debug)]
pub enum WsmanCommand {
    /// Print the request XML for an operation on a class (get, enumerate, delete).
    Request {
        /// get | enumerate | delete
        op: String,
        /// Class name (AMT_GeneralSettings) or resource URI.
        class: String,
    },
    /// Decode a saved response and print it as typed values.
    Decode {
        /// File holding a WS-Management response envelope.
        file: PathBuf,
    },
}

/// Runs a `wsman` subcommand.
pub fn run(cmd: WsmanCommand) -> Result<()> {
    match cmd {
        WsmanCommand::Request { op, class } => {
            let op = match op.as_str() {
                "get" => Operation::Get,
                "enumerate" => Operation::Enumerate(Enumerate::default()),
                "delete" => Operation::Delete,
                other => bail!("unknown operation {other:?} (get, enumerate, delete)"),
            };
            println!("{}", Request::new(&class, 0, op).to_xml());
            Ok(())
        }
        WsmanCommand::Decode { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let resp = Response::parse(&bytes)?;
            println!("{resp:#?}");
            Ok(())
        }
    }
}
