//! What one run does, checked and resolved from the command line (`cmd::bench::Args`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::client::Target;

use echo_core::udp::MAX_DATAGRAM;

use super::payload::MAX_SIZE;

/// What each connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Send a message, wait for its whole echo, repeat.
    Pingpong,
    /// Write continuously while reading the echo back.
    Stream,
    /// Open the connections, keep them idle, then check each one still echoes.
    Hold,
    /// Connection churn: connect, one message, check its echo, close, again.
    Connect,
}

impl Mode {
    /// The name used in the summary and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Stream => "stream",
            Mode::Hold => "hold",
            Mode::Connect => "connect",
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Host and port as given (named in errors).
    pub target: Target,
    /// The address connected to.
    pub addr: SocketAddr,
    pub udp: bool,
    pub mode: Mode,
    pub conns: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Pingpong and hold: message bytes; stream: bytes per write.
    pub size: usize,
    /// Open loop: messages a second in all; `None` = closed loop.
    pub rate: Option<f64>,
    /// Local addresses connections are made from, in turn (empty: the system's choice).
    pub sources: Vec<IpAddr>,
    pub timeout: Duration,
    pub json: bool,
    /// Print a progress line each second (stderr is a terminal).
    pub progress: bool,
    /// Load-generating threads (resolved: `auto` is the number of cores).
    pub threads: usize,
}

/// Flags as parsed, before the checks that need several of them at once.
#[derive(Debug, Clone)]
pub struct Flags {
    pub target: Target,
    pub udp: bool,
    pub mode: Mode,
    pub conns: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub size: Option<usize>,
    pub rate: f64,
    pub sources: Vec<IpAddr>,
    pub timeout: Duration,
    pub json: bool,
    pub progress: bool,
    pub threads: usize,
}

impl Config {
    /// Checks flags that depend on each other and resolves the host; the error is one line
    /// for exit status 2.
    pub fn new(flags: Flags) -> Result<Config, String> {
        if flags.udp && flags.mode != Mode::Pingpong {
            return Err(format!(
                "--udp works with --mode pingpong only, not {}",
                flags.mode.name()
            ));
        }
        if flags.rate > 0.0 && flags.mode != Mode::Pingpong {
            return Err("--rate works with --mode pingpong only".into());
        }
        let size = flags.size.unwrap_or(match flags.mode {
            Mode::Stream => 65_536,
            Mode::Pingpong | Mode::Hold | Mode::Connect => 64,
        });
        let max = if flags.udp { MAX_DATAGRAM } else { MAX_SIZE };
        if size == 0 || size > max {
            return Err(format!("--size must be 1 to {max} bytes, not {size}"));
        }
        let addr = pick_address(&flags.target, &flags.sources)?;
        Ok(Config {
            target: flags.target,
            addr,
            udp: flags.udp,
            mode: flags.mode,
            conns: flags.conns,
            duration: flags.duration,
            warmup: if flags.mode == Mode::Hold {
                Duration::ZERO
            } else {
                flags.warmup
            },
            size,
            rate: (flags.rate > 0.0).then_some(flags.rate),
            sources: flags.sources,
            timeout: flags.timeout,
            json: flags.json,
            progress: flags.progress,
            threads: flags.threads.max(1),
        })
    }

    /// The local address connection `index` is made from.
    pub fn source(&self, index: usize) -> Option<IpAddr> {
        (!self.sources.is_empty()).then(|| self.sources[index % self.sources.len()])
    }
}

/// The first address of the host in the family of the `--source` addresses (if any).
fn pick_address(target: &Target, sources: &[IpAddr]) -> Result<SocketAddr, String> {
    let addrs = target
        .resolve()
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
    if let Some(source) = sources.iter().find(|s| s.is_ipv4() != sources[0].is_ipv4()) {
        return Err(format!(
            "--source addresses mix IPv4 and IPv6 ({} and {source})",
            sources[0]
        ));
    }
    match sources.first() {
        None => Ok(addrs[0]),
        Some(source) => addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == source.is_ipv4())
            .ok_or_else(|| format!("{target} has no address in the family of --source {source}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(mode: Mode) -> Flags {
        Flags {
            target: Target {
                host: "127.0.0.1".into(),
                port: 7,
            },
            udp: false,
            mode,
            conns: 1,
            duration: Duration::from_secs(1),
            warmup: Duration::from_secs(1),
            size: None,
            rate: 0.0,
            sources: Vec::new(),
            timeout: Duration::from_secs(5),
            json: false,
            progress: false,
            threads: 1,
        }
    }

    #[test]
    fn sizes_default_per_mode() {
        assert_eq!(Config::new(flags(Mode::Pingpong)).map(|c| c.size), Ok(64));
        assert_eq!(Config::new(flags(Mode::Stream)).map(|c| c.size), Ok(65_536));
    }

    #[test]
    fn udp_only_pingpong_and_datagram_sized() {
        let mut f = flags(Mode::Stream);
        f.udp = true;
        assert!(Config::new(f).is_err());
        let mut f = flags(Mode::Pingpong);
        f.udp = true;
        f.size = Some(MAX_DATAGRAM + 1);
        assert!(Config::new(f).is_err());
    }

    #[test]
    fn sources_are_used_in_turn_and_pick_the_family() {
        let mut f = flags(Mode::Hold);
        f.sources = vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
        let config = Config::new(f).unwrap();
        assert_eq!(config.source(3), Some("127.0.0.3".parse().unwrap()));
        let mut f = flags(Mode::Pingpong);
        f.sources = vec!["::1".parse().unwrap()];
        assert!(Config::new(f).unwrap_err().contains("family"));
    }
}
