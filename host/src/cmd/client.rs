//! `echokit client` (PRODUCT.md "client").

use std::process::ExitCode;

/// Arguments of `echokit client`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `echokit client`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("echokit client: not implemented yet");
    ExitCode::from(2)
}
