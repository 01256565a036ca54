//! `echokit archive` (PRODUCT.md "archive"): flags in, [`crate::archive::run`] does the work.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::archive::{self, Format, Options};
use crate::exit;

/// Arguments of `echokit archive`.
///
/// The boolean flags take an optional value (`-j`, `-j true`, `-a False`) because the seed's
/// `LogArchive.py` took them that way; the underscore spellings are its long names.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server log to read (JSON Lines or legacy lines, gzip detected by content); `-` reads
    /// stdin. Repeatable: the files are read in the order given, as one log
    /// (`-i app.log.2.gz -i app.log.1 -i app.log`).
    #[arg(
        short = 'i',
        long = "input-file",
        alias = "input_file",
        value_name = "FILE",
        default_value = "echo-server.log"
    )]
    pub input_file: Vec<PathBuf>,

    /// Archive to write; `-` writes stdout.
    #[arg(
        short = 'o',
        long = "output-file",
        alias = "output_file",
        value_name = "FILE",
        default_value = "archive.csv"
    )]
    pub output_file: PathBuf,

    /// Insert the first record's timestamp before the output file's extension.
    #[arg(
        short = 'a',
        long = "add-timestamp",
        alias = "add_timestamp",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub add_timestamp: bool,

    /// Write JSON Lines (the log's own format) instead of CSV.
    #[arg(
        short = 'j',
        long = "json",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub json: bool,

    /// Print each echo record's message as JSON on stdout, one per line; write no file.
    #[arg(
        short = 'p',
        long = "print-messages-json",
        alias = "print_messages_json",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_bool
    )]
    pub print_messages_json: bool,

    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,

    /// Skip malformed lines (and count them on stderr) instead of failing.
    #[arg(long = "skip-invalid", alias = "skip_invalid")]
    pub skip_invalid: bool,
}

/// Reads a boolean as people and the seed spell it: true/false, 1/0, yes/no, any case.
fn parse_bool(text: &str) -> Result<bool, String> {
    let t = text.trim();
    let is = |s: &str| t.eq_ignore_ascii_case(s);
    if is("true") || is("1") || is("yes") || is("y") || is("on") {
        Ok(true)
    } else if is("false") || is("0") || is("no") || is("n") || is("off") {
        Ok(false)
    } else {
        Err(format!(
            "`{text}` is not a boolean (use true/false, 1/0, yes/no)"
        ))
    }
}

/// Runs `echokit archive`.
pub fn run(args: Args) -> ExitCode {
    let format = if args.print_messages_json {
        Format::Messages
    } else if args.json {
        Format::Json
    } else {
        Format::Csv
    };
    let options = Options {
        inputs: args.input_file,
        output: args.output_file,
        format,
        add_timestamp: args.add_timestamp,
        force: args.force,
        skip_invalid: args.skip_invalid,
    };
    match archive::run(&options) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => e.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_the_seed_spellings() {
        for t in ["true", "True", "TRUE", "1", "yes", "Yes"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["false", "False", "0", "no", "NO"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
        assert!(parse_bool("").is_err());
    }
}
