//! Validated server settings, and the parsers that read flag values (seed spellings too).
//!
//! `cmd::server` turns the raw command line into a [`Config`]; the runners only ever see
//! values that are already checked.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use echo_core::record::Level;

use crate::driver::Settings;
use crate::server::log::Mode;

/// Everything `echokit server` needs to run over std sockets.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to try, in order; the first that binds is served.
    pub addrs: Vec<SocketAddr>,
    /// Where records go and from which level.
    pub log: LogConfig,
    /// Also serve UDP echo on the bound port.
    pub udp: bool,
    /// What the driver needs (echo settings, `--max-conns`, `--udp-rate`).
    pub service: Settings,
}

/// The log's outputs (`--log-mode`, `--log-file`, `--log-level`).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Console, file or both.
    pub mode: Mode,
    /// The JSON Lines file (appended).
    pub file: PathBuf,
    /// The threshold.
    pub level: Level,
}

/// Reads `--log-mode`: `console`, `file`, `both`, or the seed's `LOG_CONSOLE`, `LOG_FILE`,
/// `LOG_BOTH`, in any case.
pub fn parse_mode(text: &str) -> Result<Mode, String> {
    let lower = text.to_ascii_lowercase();
    match lower.strip_prefix("log_").unwrap_or(&lower) {
        "console" => Ok(Mode::Console),
        "file" => Ok(Mode::File),
        "both" => Ok(Mode::Both),
        _ => Err("expected console, file or both".into()),
    }
}

/// Reads `--log-level` in any case, with the seed's CRITICAL, FATAL, WARNING and NOTSET.
pub fn parse_level(text: &str) -> Result<Level, String> {
    Level::from_name_loose(text).ok_or_else(|| "expected error, warn, info, debug or trace".into())
}

/// Reads a number of seconds, decimals allowed (`--idle-timeout 0.5`); `0` stays zero.
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number of seconds".to_string())?;
    Duration::try_from_secs_f64(secs).map_err(|_| "expected a number of seconds >= 0".into())
}

/// Resolves `host` (an IP address, `[v6]`, or a name) with `port` into addresses to try.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if bare.is_empty() {
        return Err("bad address '': empty host".into());
    }
    match (bare, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(format!("bad address '{host}': the name has no address"))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(format!("bad address '{host}': {e}")),
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
