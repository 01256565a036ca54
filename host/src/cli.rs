//! Top-level command line: one subcommand per tool, each owning its arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;

/// Echo toolkit: a server, a client, a log archiver and a load generator.
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
    /// Load an echo server (round trips/s, MB/s, connections held, latency), checking every byte.
    Bench(cmd::bench::Args),
}

/// Runs a parsed command line and turns its outcome into the exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Server(args) => cmd::server::run(args),
        Command::Client(args) => cmd::client::run(args),
        Command::Archive(args) => cmd::archive::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    }
}

/// Reports a command-line error as one line on stderr (no usage block) and returns exit 2.
pub fn usage_error(e: &clap::Error) -> ExitCode {
    // `args_os`: an argument that is not UTF-8 is one of the errors reported here.
    let command = std::env::args_os()
        .nth(1)
        .and_then(|a| a.into_string().ok())
        .filter(|a| ["server", "client", "archive", "bench"].contains(&a.as_str()));
    let who = command.map_or_else(|| "echokit".to_string(), |c| format!("echokit {c}"));
    let cause = crate::exit::one_line(&cause(&e.to_string()));
    crate::exit::stderr_line(&format!("{who}: error: {cause} (see --help)"));
    ExitCode::from(crate::exit::USAGE)
}

/// The first paragraph of clap's message on one line: some messages name what they are
/// about on the lines below the first (`required arguments were not provided:\n  --count`).
fn cause(text: &str) -> String {
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = paragraph.join(" ");
    match joined.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None if joined.is_empty() => "bad arguments".to_string(),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_keeps_what_the_first_line_refers_to() {
        let text = "error: the following required arguments were not provided:\n  \
                    --count <COUNT>\n\nUsage: echokit client --count <COUNT>\n";
        assert_eq!(
            cause(text),
            "the following required arguments were not provided: --count <COUNT>"
        );
    }

    #[test]
    fn cause_drops_tips_and_usage() {
        let text = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' \
                    as a value, use '-- --bogus'\n\nUsage: echokit client\n";
        assert_eq!(cause(text), "unexpected argument '--bogus' found");
        assert_eq!(cause(""), "bad arguments");
    }
}
