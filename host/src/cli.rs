//! Top-level command line: one subcommand per tool, each owning its arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;

/// Echo toolkit: a server, a client and a log archiver.
#[derive(Debug, Parser)]
#[command(name = "echokit", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the echo server (TCP, optionally UDP; std sockets or smoltcp on a TAP).
    Server(cmd::server::Args),
    /// Send lines or probes to an echo server and check the echoes.
    Client(cmd::client::Args),
    /// Turn a server log (JSON Lines or legacy) into CSV or JSON Lines.
    Archive(cmd::archive::Args),
}

/// Runs a parsed command line and turns its outcome into the exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Server(args) => cmd::server::run(args),
        Command::Client(args) => cmd::client::run(args),
        Command::Archive(args) => cmd::archive::run(args),
    }
}

/// Reports a command-line error as one line on stderr (no usage block) and returns exit 2.
pub fn usage_error(e: &clap::Error) -> ExitCode {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("bad arguments");
    let cause = first.strip_prefix("error: ").unwrap_or(first);
    let command = std::env::args()
        .nth(1)
        .filter(|a| ["server", "client", "archive"].contains(&a.as_str()));
    let who = command.map_or_else(|| "echokit".to_string(), |c| format!("echokit {c}"));
    eprintln!("{who}: error: {cause} (see --help)");
    ExitCode::from(crate::exit::USAGE)
}
