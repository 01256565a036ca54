//! `echokit server` (PRODUCT.md "server"): flags, validation, and the choice of runner.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use echo_core::echo;
use echo_core::record::Level;
use echo_core::service::defaults;

use crate::exit;
use crate::log::Mode;
use crate::net::sockets::Server;
use crate::net::stop::Stop;
use crate::os::limits;
use crate::server::Summary;
use crate::server::config::{
    Config, LogConfig, Workers, parse_level, parse_mode, parse_secs, parse_workers, resolve,
};
use crate::server::service::{HostService, Settings, SharedAdmission};
use crate::server::start::{self, StartError, Started};
#[cfg(target_os = "linux")]
use {
    crate::net::smol_tap::{self, TapOptions},
    echo_core::service::Counter,
};

/// Most `--max-conns` with `--tap`: each connection is a smoltcp socket with at least
/// 32 KiB of buffers reserved up front (4096 of them: 128 MiB).
const MAX_CONNS_TAP_LIMIT: usize = 4096;

/// Arguments of `echokit server`. The seed's spellings (`--log_mode`, `LOG_FILE`,
/// `WARNING`...) are accepted as aliases.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to bind: IPv4, IPv6 or a name (the first address that binds is used).
    #[arg(short = 's', long = "host", default_value = "127.0.0.1")]
    pub host: String,
    /// Port; 0 takes a free one (the `listening` record shows which).
    #[arg(short = 'p', long = "port", default_value_t = 7777)]
    pub port: u16,
    /// Where records go: console, file or both (also LOG_CONSOLE, LOG_FILE, LOG_BOTH).
    #[arg(short = 'm', long = "log-mode", alias = "log_mode", default_value = "both",
          value_parser = parse_mode)]
    pub log_mode: Mode,
    /// JSON Lines log file (appended, never truncated).
    #[arg(
        short = 'f',
        long = "log-file",
        alias = "log_file",
        default_value = "echo-server.log"
    )]
    pub log_file: PathBuf,
    /// error, warn, info, debug or trace (any case; also CRITICAL, FATAL, WARNING, NOTSET).
    #[arg(short = 'l', long = "log-level", alias = "log_level", default_value = "info",
          value_parser = parse_level)]
    pub log_level: Level,
    /// Also serve UDP echo on the same port (RFC 862).
    #[arg(long)]
    pub udp: bool,
    /// UDP datagrams answered per second for one source IP address (0: no limit).
    #[arg(long = "udp-rate", alias = "udp_rate", default_value_t = defaults::UDP_RATE)]
    pub udp_rate: u32,
    /// Concurrent TCP connections; more are accepted, logged as `rejected` and closed
    /// [default: 10000, 16 with --tap].
    #[arg(long = "max-conns", alias = "max_conns")]
    pub max_conns: Option<usize>,
    /// Close a connection idle this many seconds (0: never).
    #[arg(long = "idle-timeout", alias = "idle_timeout", default_value = "300",
          value_parser = parse_secs)]
    pub idle_timeout: Duration,
    /// Longest message kept in one log record; longer lines are logged in pieces.
    #[arg(long = "max-line", alias = "max_line", default_value_t = defaults::MAX_LINE)]
    pub max_line: usize,
    /// Milliseconds an unterminated line may wait before it is logged as it stands
    /// (partial); 0: only at newline, --max-line or close.
    #[arg(
        long = "flush-after",
        alias = "flush_after",
        default_value_t = defaults::FLUSH_AFTER.as_millis() as u64,
        value_name = "MS"
    )]
    pub flush_after: u64,
    /// Event-loop threads serving TCP (UDP is served by one of them); `auto`: one per
    /// available core. Not with --tap.
    #[arg(long, default_value = "1", value_name = "N|auto", value_parser = parse_workers)]
    pub workers: Workers,
    /// Serve over smoltcp on this TAP interface instead of the OS stack.
    #[arg(long, value_name = "IFACE")]
    pub tap: Option<String>,
    /// smoltcp's own address on the TAP [default: 192.168.69.1/24].
    #[arg(long, value_name = "CIDR", requires = "tap")]
    pub ip: Option<String>,
    /// Default route for smoltcp on the TAP.
    #[arg(long, value_name = "IP", requires = "tap")]
    pub gateway: Option<String>,
}

/// Runs `echokit server`: exit 0 after a clean shutdown, 2 for a user error.
pub fn run(args: Args) -> ExitCode {
    if let Some(iface) = &args.tap {
        if let Err(e) = check_tap_flags(&args) {
            return exit::report("server", &e, exit::USAGE);
        }
        return run_tap(&args, iface);
    }
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return exit::report("server", &e, exit::USAGE),
    };
    if let Some(note) = limits::raise_nofile(config.service.max_conns) {
        exit::stderr_line(&format!("echokit server: {note}"));
    }
    // Bound before the log is opened, so a failed start leaves no new log file behind.
    let server = match Server::bind(&config) {
        Ok(s) => s,
        Err(e) => return exit::report("server", &e.into(), exit::USAGE),
    };
    let workers = server.workers();
    let admission = SharedAdmission::default();
    serve(&config, workers, admission, |services, stop| {
        server.run(services, stop).map_err(|e| {
            (
                anyhow::Error::from(e).context("event loop failed"),
                exit::FAILED,
            )
        })
    })
}

/// Start-up and the end, the same for both runners: opens the log, installs the signal
/// handlers, builds `workers` services and hands them to `runner` with the stop signal;
/// then the summary on stderr and the exit status (a runner's error comes with its own).
fn serve<A: echo_core::service::Admission + Clone>(
    config: &Config,
    workers: usize,
    admission: A,
    runner: impl FnOnce(Vec<HostService<A>>, Stop) -> Result<Summary, (anyhow::Error, u8)>,
) -> ExitCode {
    let Started { services, stop } =
        match start::start(&config.log, &config.service, workers, admission, true) {
            Ok(s) => s,
            Err(e @ StartError::Log(_)) => return exit::report("server", &e.into(), exit::USAGE),
            Err(e) => return exit::report("server", &e.into(), exit::FAILED),
        };
    match runner(services, stop) {
        Ok(summary) => {
            summary.report();
            ExitCode::from(exit::OK)
        }
        Err((e, code)) => exit::report("server", &e, code),
    }
}

/// Checks the flags and builds the std runner's settings.
pub fn config(args: &Args) -> anyhow::Result<Config> {
    if args.max_line == 0 {
        return Err(anyhow!("--max-line must be at least 1"));
    }
    let addrs = resolve(&args.host, args.port)?;
    let max_conns = args.max_conns.unwrap_or(defaults::MAX_CONNS);
    Ok(Config {
        workers: args.workers.count(),
        addrs,
        log: LogConfig {
            mode: args.log_mode,
            file: args.log_file.clone(),
            level: args.log_level,
        },
        udp: args.udp,
        service: Settings {
            echo: echo::Config {
                max_line: args.max_line,
                idle_timeout: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout),
                frame_lines: true,
                flush_after: (args.flush_after > 0)
                    .then(|| Duration::from_millis(args.flush_after)),
            },
            max_conns,
            udp_rate: args.udp_rate,
        },
    })
}

/// `--ip` default with `--tap`.
#[cfg(target_os = "linux")]
const TAP_CIDR: &str = "192.168.69.1/24";

/// What `--tap` cannot be combined with, checked before anything is opened: the TAP
/// runner is one loop, and reserves its sockets' buffers up front.
fn check_tap_flags(args: &Args) -> anyhow::Result<()> {
    if args.workers != Workers::Count(1) {
        return Err(anyhow!(
            "--workers is for the OS's sockets: the --tap runner is one event loop"
        ));
    }
    if args.max_conns.is_some_and(|n| n > MAX_CONNS_TAP_LIMIT) {
        return Err(anyhow!(
            "--max-conns with --tap is at most {MAX_CONNS_TAP_LIMIT} (each connection is a smoltcp socket with its buffers reserved up front)"
        ));
    }
    Ok(())
}

/// `echokit server --tap` elsewhere: TAP interfaces (and this runner) are Linux-only.
#[cfg(not(target_os = "linux"))]
fn run_tap(_args: &Args, iface: &str) -> ExitCode {
    let e = anyhow!(
        "--tap {iface} needs Linux (TAP interfaces); without --tap the server runs over this system's sockets"
    );
    exit::report("server", &e, exit::USAGE)
}

/// `echokit server --tap`: the same service over smoltcp on a TAP interface.
#[cfg(target_os = "linux")]
fn run_tap(args: &Args, iface: &str) -> ExitCode {
    let (opts, config) = match tap_config(args, iface) {
        Ok(c) => c,
        Err(e) => return exit::report("server", &e, exit::USAGE),
    };
    serve(&config, 1, Counter::default(), |services, stop| {
        let Some(service) = services.into_iter().next() else {
            return Err((anyhow!("no service for the TAP runner"), exit::FAILED));
        };
        smol_tap::run(opts, service, stop).map_err(|e| {
            // The TAP broke while serving; anything before that is the user's to fix.
            let code = if e.is::<smol_tap::ServeError>() {
                exit::FAILED
            } else {
                exit::USAGE
            };
            (e, code)
        })
    })
}

/// Checks the flags for `--tap` (`--ip`, `--gateway` and the shared ones).
#[cfg(target_os = "linux")]
fn tap_config(args: &Args, iface: &str) -> anyhow::Result<(TapOptions, Config)> {
    let cidr = smol_tap::parse_cidr(args.ip.as_deref().unwrap_or(TAP_CIDR))?;
    let gateway = match &args.gateway {
        Some(text) => Some(
            text.parse::<std::net::IpAddr>()
                .map_err(|_| anyhow!("bad --gateway {text:?}: not an IP address"))?
                .into(),
        ),
        None => None,
    };
    let mut config = config(&Args {
        host: "127.0.0.1".into(),
        ..args.clone()
    })?;
    let max_conns = args.max_conns.unwrap_or(defaults::MAX_CONNS_TAP);
    config.service.max_conns = max_conns;
    let opts = TapOptions {
        iface: iface.to_owned(),
        cidr,
        gateway,
        port: args.port,
        udp: args.udp,
        max_conns,
    };
    Ok((opts, config))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(flags: &[&str]) -> Args {
        Cli::parse_from(std::iter::once("server").chain(flags.iter().copied())).args
    }

    /// The flags' defaults are core's (`echo_core::service::defaults`), the firmware's too.
    #[test]
    fn defaults_are_cores() {
        let config = config(&args(&[])).unwrap();
        let core = Settings::default();
        let (ours, theirs) = (&config.service.echo, &core.echo);
        assert_eq!(ours.max_line, theirs.max_line);
        assert_eq!(ours.idle_timeout, theirs.idle_timeout);
        assert_eq!(ours.flush_after, theirs.flush_after);
        assert_eq!(config.service.max_conns, core.max_conns);
        assert_eq!(config.service.udp_rate, core.udp_rate);
        assert_eq!(config.workers, 1);
    }

    #[test]
    fn tap_flags_are_bounded() {
        assert!(check_tap_flags(&args(&["--tap", "t0"])).is_ok());
        assert!(check_tap_flags(&args(&["--tap", "t0", "--max-conns", "4096"])).is_ok());
        assert!(check_tap_flags(&args(&["--tap", "t0", "--max-conns", "4097"])).is_err());
        assert!(check_tap_flags(&args(&["--tap", "t0", "--workers", "2"])).is_err());
        assert!(check_tap_flags(&args(&["--tap", "t0", "--workers", "auto"])).is_err());
    }
}
