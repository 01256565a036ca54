//! `echokit client`: send lines or probes to an echo server and check every echoed byte.
//!
//! Modes (picked by [`Mode`]): [`interactive`] (a terminal, `Input: ` prompt), [`lines`]
//! (piped standard input, pipelined over TCP; and `-m TEXT`), [`ping`] (timed probes and
//! statistics). Each runs over a [`tcp::TcpLink`] or a [`udp::UdpLink`]; both answer
//! "did the exact bytes of this line come back?" through [`Link`].

pub mod interactive;
pub mod lines;
pub mod ping;
pub mod tcp;
pub mod udp;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to do, validated from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the server is.
    pub target: Target,
    /// TCP (a stream of lines) or UDP (one datagram per line).
    pub udp: bool,
    /// How long to wait for an echo before calling it lost.
    pub timeout: Duration,
    /// Which mode runs.
    pub mode: Mode,
}

/// The client's modes.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Prompt on a terminal, one line at a time.
    Interactive,
    /// Echo standard input line by line (pipelined over TCP).
    Piped,
    /// Send these messages (without their newline), print the echoes.
    Messages(Vec<Vec<u8>>),
    /// Timed probes with statistics.
    Ping(ping::Options),
}

/// Host and port as the user gave them; shown in every error so it names what failed.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address literal.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Target {
    /// Resolves the target; a name may give several addresses (tried in order).
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, Error> {
        let resolve_error = |source| Error::Resolve {
            target: self.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(resolve_error)?
            .collect();
        if addrs.is_empty() {
            return Err(resolve_error(io::Error::new(
                io::ErrorKind::NotFound,
                "no address found",
            )));
        }
        Ok(addrs)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the client stopped early; [`Error::exit_code`] maps each to the documented code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host name did not resolve.
    #[error("could not resolve {target}")]
    Resolve {
        target: Target,
        #[source]
        source: io::Error,
    },
    /// No address of the target accepted a connection (or, over UDP, a port was refused).
    #[error("could not connect to {target}")]
    Connect {
        target: Target,
        #[source]
        source: io::Error,
    },
    /// A line or probe cannot be sent as asked (e.g. too big for one UDP datagram).
    #[error("{0}")]
    Unsendable(String),
    /// An echo did not match what was sent.
    #[error("echo of {what} from {target}: {failure}")]
    Echo {
        what: String,
        target: Target,
        failure: Failure,
    },
    /// Standard input could not be read.
    #[error("reading standard input")]
    Input(#[source] io::Error),
    /// Standard output could not be written (a closed pipe is not reported as an error).
    #[error("writing standard output")]
    Output(#[source] io::Error),
    /// Some ping probes got no (right) echo; the summary already says how many.
    #[error("{lost} of {sent} probes lost")]
    Lost { lost: u64, sent: u64 },
}

impl Error {
    /// 1 when an echo was wrong, short or late; 2 when the request could not be carried out.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Echo { .. } | Error::Lost { .. } => crate::exit::FAILED,
            Error::Resolve { .. }
            | Error::Connect { .. }
            | Error::Unsendable(_)
            | Error::Input(_)
            | Error::Output(_) => crate::exit::USAGE,
        }
    }
}

/// How one awaited echo went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A byte differed; the whole echo's length was still consumed, so a stream stays aligned.
    #[error("byte {offset} of {len} differs (sent {sent:#04x}, got {got:#04x})")]
    Wrong {
        offset: usize,
        len: usize,
        sent: u8,
        got: u8,
    },
    /// The server closed the connection before the whole echo.
    #[error("connection closed after {got} of {len} bytes")]
    Closed { got: usize, len: usize },
    /// A datagram shorter than the one sent came back.
    #[error("cut short: got {got} of {len} bytes")]
    Short { got: usize, len: usize },
    /// A datagram longer than the one sent came back.
    #[error("too long: got {got} bytes, sent {len}")]
    Long { got: usize, len: usize },
    /// Nothing (more) arrived in time.
    #[error("timed out: got {got} of {len} bytes")]
    TimedOut { got: usize, len: usize },
    /// Ctrl-C arrived while waiting (ping mode only; the probe is not counted).
    #[error("interrupted")]
    Interrupted,
    /// Too big for one UDP datagram: never sent (a usage error, not a bad echo).
    #[error("{len} bytes do not fit in one UDP datagram (at most {max})", max = echo_core::udp::MAX_DATAGRAM)]
    TooBig { len: usize },
    /// The server's host or port refused (UDP: an ICMP port unreachable came back).
    #[error("connection refused")]
    Refused,
    /// The connection failed otherwise (reset, ...).
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Failure {
    /// The same failure, saying how far into an echo of `len` bytes it happened.
    fn at(self, got: usize, len: usize) -> Failure {
        match self {
            Failure::TimedOut { .. } => Failure::TimedOut { got, len },
            Failure::Closed { .. } => Failure::Closed { got, len },
            other => other,
        }
    }
}

/// How long to wait for an echo.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Until nothing new has arrived for this long (lines: a 1 GiB echo may take a while).
    Silence(Duration),
    /// Until this moment (ping: a probe's echo must be complete by then).
    Until(Instant),
}

impl Wait {
    /// How long the next blocking read may take; `None` once the wait is over.
    fn limit(self) -> Option<Duration> {
        match self {
            Wait::Silence(limit) => Some(limit),
            Wait::Until(deadline) => {
                Some(deadline.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero())
            }
        }
    }
}

/// One connection to the server, as the line modes use it.
pub trait Link {
    /// Sends `line` (which ends in `\n`) as one line or datagram.
    fn send(&mut self, line: &[u8]) -> Result<(), Failure>;
    /// Waits for the echo of `line`, byte for byte.
    fn expect(&mut self, line: &[u8], wait: Wait) -> Result<(), Failure>;
    /// Whether the server has already closed the connection (checked without waiting).
    fn is_closed(&mut self) -> bool {
        false
    }
}

/// Connects to the target as configured and runs the mode.
pub fn run(config: &Config) -> Result<(), Error> {
    match &config.mode {
        Mode::Ping(options) => ping::run(config, options),
        Mode::Interactive => interactive::run(config),
        Mode::Piped => lines::piped(config),
        Mode::Messages(messages) => lines::messages(config, messages),
    }
}

/// Opens the configured kind of link; the address it reached is returned for display.
pub(crate) fn connect(config: &Config) -> Result<(Box<dyn Link + Send>, SocketAddr), Error> {
    if config.udp {
        let (link, addr) = udp::UdpLink::connect(&config.target)?;
        Ok((Box::new(link), addr))
    } else {
        let (link, addr) = tcp::TcpLink::connect(&config.target, config.timeout)?;
        Ok((Box::new(link), addr))
    }
}

/// The error for `what` (e.g. `line 3`) failing: a refused UDP port means there is no server
/// (exit 2, like a refused TCP connection), a datagram too big cannot be sent (exit 2); all
/// else is a bad echo (exit 1).
pub(crate) fn echo_error(config: &Config, what: String, failure: Failure) -> Error {
    match failure {
        Failure::Refused => Error::Connect {
            target: config.target.clone(),
            source: io::ErrorKind::ConnectionRefused.into(),
        },
        Failure::TooBig { .. } => Error::Unsendable(format!("{what}: {failure}")),
        failure => Error::Echo {
            what,
            target: config.target.clone(),
            failure,
        },
    }
}

/// Set by Ctrl-C in ping mode (see [`stop_on_ctrl_c`]).
static STOP: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C set a flag instead of killing the process: socket waits then fail with
/// [`Failure::Interrupted`] so ping can still print its summary.
#[cfg(unix)]
pub(crate) fn stop_on_ctrl_c() -> io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGINT, &STOP).map(drop)
}

/// Windows: Ctrl-C, Ctrl-Break and a closed console set the flag.
#[cfg(windows)]
pub(crate) fn stop_on_ctrl_c() -> io::Result<()> {
    crate::os::console::on_event(|_| STOP.store(true, Ordering::SeqCst))
}

/// Whether Ctrl-C was pressed since [`stop_on_ctrl_c`].
pub(crate) fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Turns a socket read error into the failure it means while waiting for `got` of `len`.
pub(crate) fn read_failure(error: io::Error, got: usize, len: usize) -> Failure {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::TimedOut { got, len },
        io::ErrorKind::ConnectionRefused => Failure::Refused,
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
            Failure::Closed { got, len }
        }
        _ => Failure::Io(error),
    }
}

/// Compares `got` against `sent[from..]`; the offset of the first difference, if any.
pub(crate) fn first_difference(sent: &[u8], from: usize, got: &[u8]) -> Option<usize> {
    sent.get(from..)?
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .map(|i| from + i)
}
