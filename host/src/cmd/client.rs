//! `echokit client` (PRODUCT.md "client").

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use super::args::{positive_seconds, seconds, unbracketed};
use crate::client::{self, Config, Error, Mode, Target, ping};
use crate::exit;

/// Arguments of `echokit client`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Modes: interactive when standard input is a terminal, else each input \
line; -m sends only its messages; -c pings.\n\
Exit status: 0 every echo matched; 1 an echo was wrong, short or timed out (or a probe was \
lost); 2 bad arguments, or could not connect."
)]
pub struct Args {
    /// Server host: IPv4 or IPv6 address, or a name.
    #[arg(short = 's', long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short, long, default_value_t = 7777)]
    port: u16,
    /// Send TEXT as one line, print its echo, exit (repeatable; sent in order).
    #[arg(short, long = "message", value_name = "TEXT", value_parser = clap::value_parser!(OsString))]
    message: Vec<OsString>,
    /// Ping mode: send COUNT probes and print round-trip times and statistics.
    #[arg(short = 'c', long, value_name = "COUNT", conflicts_with = "message",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Ping mode: seconds from one probe to the next (fractions allowed, 0 = back to back)
    /// [default: 1].
    #[arg(short, long, value_name = "SECS", requires = "count", value_parser = seconds)]
    interval: Option<Duration>,
    /// Ping mode: bytes per probe, newline included [default: 64].
    #[arg(long, value_name = "BYTES", requires = "count",
          value_parser = clap::value_parser!(u64).range(1..=MAX_PROBE))]
    size: Option<u64>,
    /// Ping mode: print only the summary.
    #[arg(short, long, requires = "count")]
    quiet: bool,
    /// Use UDP: one datagram per line or probe.
    #[arg(long)]
    udp: bool,
    /// Seconds to wait for an echo (for a long line: for its next bytes) before failing.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = positive_seconds)]
    timeout: Duration,
}

/// Largest probe: big enough for bulk tests, small enough to allocate without a second
/// thought.
const MAX_PROBE: u64 = 64 * 1024 * 1024;

/// Runs `echokit client`.
pub fn run(args: Args) -> ExitCode {
    let config = config(args);
    match client::run(&config) {
        Ok(()) => ExitCode::from(exit::OK),
        // The reader of our output went away (`| head`): nothing left to tell anyone.
        Err(Error::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::from(exit::OK)
        }
        // The summary already said it; a second line on stderr would only repeat it.
        Err(error @ Error::Lost { .. }) => ExitCode::from(error.exit_code()),
        Err(error) => {
            let code = error.exit_code();
            exit::report("client", &anyhow::Error::new(error), code)
        }
    }
}

fn config(args: Args) -> Config {
    let mode = if let Some(count) = args.count {
        Mode::Ping(ping::Options {
            count,
            interval: args.interval.unwrap_or(Duration::from_secs(1)),
            // NOTE(unwrap_or): clap caps the size at MAX_PROBE, which fits any usize here.
            size: args
                .size
                .map_or(64, |size| usize::try_from(size).unwrap_or(usize::MAX)),
            quiet: args.quiet,
        })
    } else if !args.message.is_empty() {
        Mode::Messages(
            args.message
                .into_iter()
                .map(OsString::into_encoded_bytes)
                .collect(),
        )
    } else if io::stdin().is_terminal() {
        Mode::Interactive
    } else {
        Mode::Piped
    };
    Config {
        target: Target {
            host: unbracketed(args.host),
            port: args.port,
        },
        udp: args.udp,
        timeout: args.timeout,
        mode,
    }
}
