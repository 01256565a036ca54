//! Validated server settings, and the parsers that read flag values (seed spellings too).
//!
//! `cmd::server` turns the raw command line into a [`Config`]; the runners only ever see
//! values that are already checked.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use echo_core::record::Level;
use thiserror::Error;

pub use crate::log::LogConfig;
use crate::log::Mode;
use crate::server::service::Settings;

/// Everything `echokit server` needs to run over std sockets.
#[derive(Debug, Clone)]
pub struct Config {
    /// Event-loop threads (`--workers`), at least 1.
    pub workers: usize,
    /// Addresses to try, in order; the first that binds is served.
    pub addrs: Vec<SocketAddr>,
    /// Where records go and from which level.
    pub log: LogConfig,
    /// Also serve UDP echo on the bound port.
    pub udp: bool,
    /// What the service needs (echo settings, `--max-conns`, `--udp-rate`).
    pub service: Settings,
}

/// A flag value that does not parse (clap prints it after the flag's name).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlagError {
    /// `--log-mode`.
    #[error("expected console, file or both")]
    Mode,
    /// `--log-level`.
    #[error("expected error, warn, info, debug or trace")]
    Level,
    /// `--idle-timeout`: not a number.
    #[error("expected a number of seconds")]
    Secs,
    /// `--idle-timeout`: negative or too large.
    #[error("expected a number of seconds >= 0")]
    SecsRange,
    /// `--workers`.
    #[error("expected a number of threads from 1 to {MAX_WORKERS}, or auto")]
    Workers,
}

/// A host that does not resolve to an address to listen on.
#[derive(Debug, Error)]
pub enum AddressError {
    /// `-s ''`.
    #[error("bad address '': empty host")]
    Empty,
    /// A name with no address.
    #[error("bad address '{0}': the name has no address")]
    NoAddress(String),
    /// The resolver failed.
    #[error("bad address '{host}': {source}")]
    Resolve {
        /// As given.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
}

/// Reads `--log-mode`: `console`, `file`, `both`, or the seed's `LOG_CONSOLE`, `LOG_FILE`,
/// `LOG_BOTH`, in any case.
pub fn parse_mode(text: &str) -> Result<Mode, FlagError> {
    let lower = text.to_ascii_lowercase();
    match lower.strip_prefix("log_").unwrap_or(&lower) {
        "console" => Ok(Mode::Console),
        "file" => Ok(Mode::File),
        "both" => Ok(Mode::Both),
        _ => Err(FlagError::Mode),
    }
}

/// Reads `--log-level` in any case, with the seed's CRITICAL, FATAL, WARNING and NOTSET.
pub fn parse_level(text: &str) -> Result<Level, FlagError> {
    Level::from_name_loose(text).ok_or(FlagError::Level)
}

/// Reads a number of seconds, decimals allowed (`--idle-timeout 0.5`); `0` stays zero.
pub fn parse_secs(text: &str) -> Result<Duration, FlagError> {
    let secs: f64 = text.trim().parse().map_err(|_| FlagError::Secs)?;
    Duration::try_from_secs_f64(secs).map_err(|_| FlagError::SecsRange)
}

/// Most `--workers`: far beyond any core count, low enough that a typo cannot ask for a
/// million threads.
pub const MAX_WORKERS: usize = 1024;

/// `--workers`: a number, or one per available core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// This many event loops.
    Count(usize),
    /// One per core the process may run on.
    Auto,
}

impl Workers {
    /// How many event loops to run.
    pub fn count(self) -> usize {
        match self {
            Workers::Count(n) => n,
            Workers::Auto => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(MAX_WORKERS),
        }
    }
}

/// Reads `--workers`: 1 to [`MAX_WORKERS`], or `auto`.
pub fn parse_workers(text: &str) -> Result<Workers, FlagError> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(Workers::Auto);
    }
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_WORKERS).contains(&n) => Ok(Workers::Count(n)),
        _ => Err(FlagError::Workers),
    }
}

/// Resolves `host` (an IP address, `[v6]`, or a name) with `port` into addresses to try.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, AddressError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if bare.is_empty() {
        return Err(AddressError::Empty);
    }
    match (bare, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(AddressError::NoAddress(host.to_owned()))
            } else {
                Ok(addrs)
            }
        }
        Err(source) => Err(AddressError::Resolve {
            host: host.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_in_both_spellings() {
        assert_eq!(parse_mode("console"), Ok(Mode::Console));
        assert_eq!(parse_mode("LOG_FILE"), Ok(Mode::File));
        assert_eq!(parse_mode("log_Both"), Ok(Mode::Both));
        assert!(parse_mode("syslog").is_err());
        assert!(parse_mode("log_").is_err());
    }

    #[test]
    fn levels_in_seed_spellings() {
        assert_eq!(parse_level("WARNING"), Ok(Level::Warn));
        assert_eq!(parse_level("critical"), Ok(Level::Error));
        assert_eq!(parse_level("NotSet"), Ok(Level::Trace));
        assert!(parse_level("loud").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
        assert!(parse_secs("NaN").is_err());
    }

    #[test]
    fn workers() {
        assert_eq!(parse_workers("4"), Ok(Workers::Count(4)));
        assert_eq!(parse_workers("AUTO"), Ok(Workers::Auto));
        assert!(Workers::Auto.count() >= 1);
        assert_eq!(parse_workers("0"), Err(FlagError::Workers));
        assert_eq!(parse_workers("1025"), Err(FlagError::Workers));
        assert_eq!(parse_workers("-1"), Err(FlagError::Workers));
        assert_eq!(parse_workers("many"), Err(FlagError::Workers));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            resolve("::1", 7).unwrap(),
            vec!["[::1]:7".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve("[::1]", 7).unwrap(),
            vec!["[::1]:7".parse::<SocketAddr>().unwrap()]
        );
        assert!(
            resolve("localhost", 7)
                .unwrap()
                .iter()
                .all(|a| a.port() == 7)
        );
        assert!(resolve("", 7).is_err());
        assert!(resolve("no such host.invalid", 7).is_err());
    }
}
