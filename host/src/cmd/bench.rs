//! `echokit bench` (PRODUCT.md "bench"): flags in, summary out, exit status.

use std::io::{self, IsTerminal};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{positive_seconds, seconds, unbracketed};
use crate::bench::config::{Config, Flags, Mode};
use crate::bench::{self, Stop};
use crate::client::Target;
use crate::exit;

/// Arguments of `echokit bench`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every echoed byte is checked: a wrong byte is a mismatch; a refused, \
reset or stalled connection is an error.\n\
Exit status: 0 no error and no mismatch; 1 any error or mismatch; 2 bad arguments, or not \
one connection could be made."
)]
pub struct Args {
    /// Server host: IPv4 or IPv6 address, or a name.
    #[arg(short = 's', long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short, long, default_value_t = 7777)]
    port: u16,
    /// Datagrams instead of TCP (pingpong only); an echo missing after --timeout is lost.
    #[arg(long)]
    udp: bool,
    /// pingpong: message, then its whole echo; stream: write while reading the echo;
    /// hold: open, stay idle, then check each connection still echoes.
    #[arg(long, value_enum, default_value = "pingpong")]
    mode: Mode,
    /// Connections (with --udp: sockets).
    #[arg(short = 'c', long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    conns: u64,
    /// Seconds measured (hold: seconds held), after the warm-up; fractions allowed.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    duration: Duration,
    /// Seconds of warm-up before measuring (not counted); 0 allowed.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds)]
    warmup: Duration,
    /// pingpong and hold: message bytes, the last one a newline; stream: bytes per write
    /// [default: 64; stream: 65536].
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Open loop: N messages a second in all, spread over the connections, each one timed
    /// from when it was due; 0 = closed loop.
    #[arg(long, value_name = "N", default_value = "0", value_parser = rate)]
    rate: f64,
    /// Local address to connect from (repeatable, used in turn).
    #[arg(long = "source", value_name = "ADDR")]
    sources: Vec<IpAddr>,
    /// A connection with bytes outstanding and no progress this many seconds is an error.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = positive_seconds)]
    timeout: Duration,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `echokit bench`.
pub fn run(args: Args) -> ExitCode {
    let flags = Flags {
        target: Target {
            host: unbracketed(args.host),
            port: args.port,
        },
        udp: args.udp,
        mode: args.mode,
        // NOTE(unwrap_or): clap caps it at 10^8, which fits any usize we run on.
        conns: usize::try_from(args.conns).unwrap_or(usize::MAX),
        duration: args.duration,
        warmup: args.warmup,
        size: args.size,
        rate: args.rate,
        sources: args.sources,
        timeout: args.timeout,
        json: args.json,
        progress: io::stderr().is_terminal(),
    };
    let config = match Config::new(flags) {
        Ok(config) => config,
        Err(cause) => {
            exit::stderr_line(&format!("echokit bench: error: {}", exit::one_line(&cause)));
            return ExitCode::from(exit::USAGE);
        }
    };
    let stop = match Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => {
            return exit::report(
                "bench",
                &anyhow::Error::new(e).context("cannot handle Ctrl-C"),
                exit::USAGE,
            );
        }
    };
    let report = match bench::run(&config, &stop) {
        Ok(report) => report,
        Err(e @ bench::Error::Connect { .. }) => {
            return exit::report("bench", &anyhow::Error::new(e), exit::USAGE);
        }
        Err(e) => return exit::report("bench", &anyhow::Error::new(e), exit::FAILED),
    };
    if let Some(problem) = report.first_problem.as_deref().filter(|_| !report.ok()) {
        exit::stderr_line(&format!("echokit bench: {}", exit::one_line(problem)));
    }
    match report.print(config.json) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            return exit::report(
                "bench",
                &anyhow::Error::new(e).context("cannot write the summary"),
                exit::FAILED,
            );
        }
        _ => {}
    }
    ExitCode::from(if report.ok() { exit::OK } else { exit::FAILED })
}

/// Messages a second: 0 (closed loop) or a finite positive number.
fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1e9).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate (messages a second, 0 to 10^9)"
        )),
    }
}
