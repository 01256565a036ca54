//! UDP pingpong: the [`engine`](super::engine)'s transport over datagrams. A datagram with
//! no echo within `--timeout` is `lost` (UDP may drop it; not an error); an echo that
//! arrives after that is recognised as late and ignored; any other datagram that differs
//! from what was sent is mismatched bytes.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use echo_core::udp::MAX_DATAGRAM;
use mio::net::UdpSocket;
use mio::{Interest, Poll, Token};

use super::engine::{self, Slot, Stall, Step, Transport};
use super::payload::{Message, Pattern};
use super::progress::Progress;
use super::stats::Stats;
use super::{Error, Outcome, Run, limits};

/// How many earlier datagrams of a socket a late echo is looked for among.
const LATE_WINDOW: u64 = 8;

/// One socket's transport state.
pub struct Sock {
    sock: UdpSocket,
    /// The datagram is ready but the socket's buffer was full: send on the next event.
    unsent: bool,
    sent_at: Instant,
}

/// Pingpong over datagrams.
struct Udp<'a> {
    pattern: &'a Pattern,
    size: usize,
    /// Sockets that got at least one echo back (none: "could not connect").
    answered: usize,
    sbuf: Vec<u8>,
    rbuf: Vec<u8>,
}

/// Opens a socket from connection `index`'s source, connected to the server (so only its
/// datagrams are received, and a closed port reports "refused").
fn open(run: &Run, index: usize) -> io::Result<UdpSocket> {
    let addr = run.config.addr;
    let local = run.config.source(index).unwrap_or(match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let sock = StdUdpSocket::bind(SocketAddr::new(local, 0))?;
    sock.connect(addr)?;
    sock.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(sock))
}

/// Runs UDP pingpong.
pub fn run(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    let mut poll = Poll::new()?;
    let mut progress = Progress::new(run);
    let mut stats = run.stats();
    let now = Instant::now();
    let mut socks = Vec::with_capacity(run.part.len());
    let mut limit = None;
    for (token, index) in run.part.clone().enumerate() {
        let opened = match &limit {
            Some(advice) => Err(io::Error::other(String::clone(advice))),
            None => open(run, index).and_then(|mut s| {
                poll.registry()
                    .register(
                        &mut s,
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map(|()| s)
            }),
        };
        socks.push(match opened {
            Ok(sock) => Some(Sock {
                sock,
                unsent: false,
                sent_at: now,
            }),
            Err(e) => {
                if limit.is_none() {
                    limit = limits::limit_reached(&e);
                }
                let cause = limit.clone().unwrap_or_else(|| e.to_string());
                stats.error(|| format!("socket {index}: {cause}"));
                None
            }
        });
    }
    if socks.iter().all(Option::is_none) {
        return Err(Error::Connect {
            target: config.target.clone(),
            cause: stats.first_problem.unwrap_or_default(),
        });
    }
    let udp = Udp {
        pattern: run.pattern,
        size: config.size,
        answered: 0,
        sbuf: vec![0; config.size],
        rbuf: vec![0; MAX_DATAGRAM + 1],
    };
    let ended = engine::run(run, udp, socks, stats, &mut poll, &mut progress)?;
    if ended.transport.answered == 0 && ended.stats.counts.errors > 0 && !run.stop.is_set() {
        return Err(Error::Connect {
            target: config.target.clone(),
            cause: ended.stats.first_problem.unwrap_or_default(),
        });
    }
    Ok(Outcome::new(run, ended.stats, ended.clock, ended.stopped))
}

impl Udp<'_> {
    /// Sends the current datagram (again, if the buffer was full).
    fn send(&mut self, sock: &mut Sock, slot: &Slot) -> io::Result<()> {
        let datagram = self.pattern.fill(&slot.message, &mut self.sbuf);
        match sock.sock.send(datagram) {
            Ok(_) => {
                sock.unsent = false;
                sock.sent_at = Instant::now();
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(refused()),
            Err(e) => Err(e),
        }
    }

    /// How many bytes of the datagram in `rbuf[..len]` differ from `message`.
    fn wrong(&self, message: &Message, len: usize) -> u64 {
        let common = len.min(self.size);
        self.pattern.mismatches(message, 0, &self.rbuf[..common]) + len.abs_diff(self.size) as u64
    }
}

fn refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "refused (nothing listens on that UDP port)",
    )
}

impl Transport for Udp<'_> {
    type Conn = Sock;
    const AGAIN: bool = true;
    const NOUN: &'static str = "socket";

    fn start(&mut self, sock: &mut Sock, slot: &Slot, _now: Instant) -> io::Result<()> {
        sock.unsent = true;
        self.send(sock, slot)
    }

    /// Reads one datagram (or none): the echo, a late one, or a wrong one.
    fn step(&mut self, sock: &mut Sock, slot: &Slot, readable: bool, stats: &mut Stats) -> Step {
        if slot.busy && sock.unsent {
            if let Err(e) = self.send(sock, slot) {
                return Step::Failed(e);
            }
        }
        if !readable {
            return Step::Pending;
        }
        loop {
            let len = match sock.sock.recv(&mut self.rbuf) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Step::Failed(refused());
                }
                Err(e) => return Step::Failed(e),
            };
            let now = Instant::now();
            let waiting = slot.busy && !sock.unsent;
            if waiting && self.wrong(&slot.message, len) == 0 {
                self.answered += 1;
                return Step::Echoed(now);
            }
            // A late echo of a datagram already counted lost is no fault of this one.
            let late = (slot.n.saturating_sub(LATE_WINDOW)..slot.n)
                .any(|n| self.wrong(&Pattern::message(slot.index, n, self.size), len) == 0);
            if late {
                continue;
            }
            let mismatched = self.wrong(&slot.message, len);
            let (index, n, size) = (slot.index, slot.n, self.size);
            stats.mismatched(mismatched.max(1), || {
                format!("socket {index}: echo of datagram {n} differs in {mismatched} bytes ({len} bytes came, {size} were sent)")
            });
            if waiting {
                return Step::Dropped(now);
            }
        }
    }

    fn stalled(&self, sock: &Sock, _slot: &Slot, now: Instant, timeout: Duration) -> Option<Stall> {
        (!sock.unsent && now - sock.sent_at >= timeout).then_some(Stall::Lost)
    }
}
