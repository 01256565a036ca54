//! `echokit bench` (PRODUCT.md "bench"): flags in, summary out, exit status.

use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{positive_seconds, seconds, unbracketed};
use crate::bench::config::{Config, Flags, Mode};
use crate::bench::gate::Condition;
use crate::bench::output::{Outputs, Paths};
use crate::bench::summary::Report;
use crate::bench::{self, Stop, hlog};
use crate::client::Target;
use crate::exit;

/// Arguments of `echokit bench`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every echoed byte is checked: a wrong byte is a mismatch; a refused, \
reset or stalled connection is an error.\n\
Exit status: 0 no error and no mismatch; 1 any error or mismatch; 2 bad arguments, or not \
one connection could be made.",
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
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
    /// hold: open, stay idle, then check each connection still echoes; connect: open,
    /// one message, check, close, again.
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
    /// Load-generating threads, the connections spread over them; auto = one per core.
    #[arg(long, value_name = "N|auto", default_value = "1", value_parser = threads)]
    threads: usize,
    /// Print the summary as one JSON object.
    #[arg(long, conflicts_with = "json_stream")]
    json: bool,
    /// Print one JSON object per second of the run as it goes, then the summary.
    #[arg(long)]
    json_stream: bool,
    /// Write the latencies of each second as an HdrHistogram interval log (microseconds).
    #[arg(long, value_name = "FILE")]
    hlog: Option<PathBuf>,
    /// Write the run's percentile distribution in HdrHistogram's .hgrm form (milliseconds).
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
    /// Write one self-contained HTML page with the summary and charts.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Exit 1 if the run crosses this threshold (repeatable): p99>2ms, errors>0,
    /// rt_per_s<50000, mb_per_s<100, connect_per_s<1000, max>50ms, lost>0, failed>0.
    #[arg(long = "fail-if", value_name = "COND", value_parser = Condition::parse)]
    fail_if: Vec<Condition>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Summarise --hlog files of runs that went on at the same time (e.g. one per
    /// machine against one server): counts and rates summed, percentiles of the merged
    /// histograms.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The --hlog files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `echokit bench`.
pub fn run(args: Args) -> ExitCode {
    if let Some(Sub::Merge(merge_args)) = args.command {
        return merge(&merge_args);
    }
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
        json: args.json || args.json_stream,
        progress: io::stderr().is_terminal(),
        threads: args.threads,
    };
    let config = match Config::new(flags) {
        Ok(config) => config,
        Err(cause) => {
            exit::stderr_line(&format!("echokit bench: error: {}", exit::one_line(&cause)));
            return ExitCode::from(exit::USAGE);
        }
    };
    let usage = |cause: &str| {
        exit::stderr_line(&format!("echokit bench: error: {}", exit::one_line(cause)));
        ExitCode::from(exit::USAGE)
    };
    if let Some(e) = args.fail_if.iter().find_map(|c| c.check(&config).err()) {
        return usage(&e);
    }
    let threads = bench::threads(&config);
    let paths = Paths {
        hlog: args.hlog,
        hgrm: args.hgrm,
        report: args.report,
    };
    let mut outputs = match Outputs::new(&config, threads, args.json_stream, &paths) {
        Ok(outputs) => outputs,
        Err(e) => return usage(&e),
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
    let outcome = match bench::run(&config, &stop, |second| outputs.second(second)) {
        Ok(outcome) => outcome,
        Err(e @ bench::Error::Connect { .. }) => {
            drop(outputs);
            return exit::report("bench", &anyhow::Error::new(e), exit::USAGE);
        }
        Err(e) => return exit::report("bench", &anyhow::Error::new(e), exit::FAILED),
    };
    let mut report = Report::of(&config, &outcome, threads);
    if let Some(problem) = report.first_problem.as_deref().filter(|_| !report.ok()) {
        exit::stderr_line(&format!("echokit bench: {}", exit::one_line(problem)));
    }
    if args.json_stream {
        report.interval = Some(None);
    }
    if let Err(e) = print(&report, config.json) {
        return e;
    }
    if let Err(e) = outputs.finish(&report, &outcome.stats.total, &command_line()) {
        exit::stderr_line(&format!("echokit bench: error: {}", exit::one_line(&e)));
        return ExitCode::from(exit::FAILED);
    }
    let crossed: Vec<String> = args
        .fail_if
        .iter()
        .filter_map(|c| c.crossed(&report))
        .collect();
    for line in &crossed {
        exit::stderr_line(&format!("echokit bench: {line}"));
    }
    ExitCode::from(if report.ok() && crossed.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// Prints the summary; a closed stdout is no error (`| head`), another failure is.
fn print(report: &Report, json: bool) -> Result<(), ExitCode> {
    match report.print(json) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(exit::report(
            "bench",
            &anyhow::Error::new(e).context("cannot write the summary"),
            exit::FAILED,
        )),
        _ => Ok(()),
    }
}

/// The command as typed, for the report (arguments with spaces or quotes quoted).
fn command_line() -> String {
    let words: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .map(|a| {
            if !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_alphanumeric() || "-_./:=,+@%<>".contains(c) && c != '<' && c != '>'
                })
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect();
    words.join(" ")
}

/// `echokit bench merge FILE... [--json]`.
fn merge(args: &MergeArgs) -> ExitCode {
    let mut logs = Vec::new();
    for path in &args.files {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| hlog::read(&bytes));
        match read {
            Ok(log) => logs.push(log),
            Err(e) => {
                exit::stderr_line(&format!(
                    "echokit bench: error: {}: {}",
                    exit::one_line(&path.display().to_string()),
                    exit::one_line(&e)
                ));
                return ExitCode::from(exit::USAGE);
            }
        }
    }
    let report = hlog::merge(&logs);
    if let Err(e) = print(&report, args.json) {
        return e;
    }
    let _ = io::stdout().flush();
    ExitCode::from(if report.ok() { exit::OK } else { exit::FAILED })
}

/// `--threads`: a number of threads (1 to 1024), or `auto`: one per core.
fn threads(text: &str) -> Result<usize, String> {
    if text == "auto" {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a number of threads (1 to 1024, or auto)"
        )),
    }
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
