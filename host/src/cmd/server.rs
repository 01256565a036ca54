//! `echokit server` (PRODUCT.md "server").

use std::process::ExitCode;

/// Arguments of `echokit server`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `echokit server`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("echokit server: not implemented yet");
    ExitCode::from(2)
}
