//! `echokit archive` (PRODUCT.md "archive").

use std::process::ExitCode;

/// Arguments of `echokit archive`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `echokit archive`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("echokit archive: not implemented yet");
    ExitCode::from(2)
}
