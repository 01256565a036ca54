//! Opening many TCP connections at once, non-blocking, a bounded number in flight (a burst
//! of SYNs beyond the server's listen backlog would only be dropped and retried a second
//! later), each from its `--source` address in turn.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::progress::Progress;
use super::{Error, Run, TICK, limits};

/// Connection attempts in flight at once.
const IN_FLIGHT: usize = 1024;

/// The outcome of opening: a socket per connection that connected (`None` for one that
/// did not), registered with the poll under its index as token.
pub struct Opened {
    pub socks: Vec<Option<TcpStream>>,
    pub connected: usize,
    pub failed: usize,
    /// The first failure, as a line (connection number and cause).
    pub first_error: Option<String>,
    /// Seconds from the first attempt to the last outcome.
    pub secs: f64,
    /// The loop was stopped (Ctrl-C) before every connection was tried.
    pub interrupted: bool,
}

/// A non-blocking connect to `addr` from `source`.
pub fn start(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    // Echoes of small messages are what is timed: no Nagle delay.
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        // The local port is then picked at connect, per destination: each source address
        // gives a whole port range per server address, not one shared by all binds.
        limits::port_at_connect(&socket);
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

fn in_progress(error: &io::Error) -> bool {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    error.kind() == io::ErrorKind::WouldBlock
}

/// After a writable (or error) event: `Ok(true)` connected, `Ok(false)` not yet.
pub fn finished(sock: &TcpStream) -> io::Result<bool> {
    if let Some(error) = sock.take_error()? {
        return Err(error);
    }
    match sock.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What every TCP mode starts with: a new poll and progress line, and the connections
/// opened into them; not one of them (and no Ctrl-C): [`Error::Connect`].
pub fn open_tcp<'a>(run: &Run<'a>) -> Result<(Poll, Progress<'a>, Opened), Error> {
    let mut poll = Poll::new()?;
    let mut progress = Progress::new(run);
    let opened = open_all(run, &mut poll, &mut progress)?;
    if opened.connected == 0 && !opened.interrupted {
        return Err(Error::Connect {
            target: run.config.target.clone(),
            cause: opened.first_error.unwrap_or_else(|| "no connection".into()),
        });
    }
    Ok((poll, progress, opened))
}

/// The error of a read that met the end of the stream before the whole echo.
pub fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection",
    )
}

/// Opens the connections of `run.part` and registers each with `poll` (its position in
/// the part is its token).
pub fn open_all(run: &Run, poll: &mut Poll, progress: &mut Progress) -> io::Result<Opened> {
    let config = run.config;
    let total = run.part.len();
    let first = run.part.start;
    let mut socks: Vec<Option<TcpStream>> = Vec::with_capacity(total);
    // When each attempt in flight started (by index; cleared once it has an outcome).
    let mut started: Vec<Option<Instant>> = Vec::new();
    let mut opened = Opened {
        socks: Vec::new(),
        connected: 0,
        failed: 0,
        first_error: None,
        secs: 0.0,
        interrupted: false,
    };
    let fail = |opened: &mut Opened, index: usize, cause: String| {
        opened.failed += 1;
        opened
            .first_error
            .get_or_insert_with(|| format!("connection {}: {cause}", first + index));
    };
    let begin = Instant::now();
    let mut events = Events::with_capacity(1024);
    let mut in_flight = 0usize;
    let mut limit: Option<String> = None;
    let mut next_sweep = begin + TICK;
    while opened.connected + opened.failed < total {
        if run.stop.is_set() {
            opened.interrupted = true;
            break;
        }
        while in_flight < IN_FLIGHT && socks.len() < total {
            let index = socks.len();
            if let Some(advice) = &limit {
                fail(&mut opened, index, advice.clone());
                socks.push(None);
                continue;
            }
            let attempt = start(config.addr, config.source(first + index)).and_then(|mut sock| {
                poll.registry()
                    .register(
                        &mut sock,
                        Token(index),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map(|()| sock)
            });
            match attempt {
                Ok(sock) => {
                    socks.push(Some(sock));
                    started.resize(index + 1, None);
                    started[index] = Some(Instant::now());
                    in_flight += 1;
                }
                Err(e) => {
                    let cause = match limits::limit_reached(&e) {
                        Some(advice) => {
                            limit = Some(advice.clone());
                            advice
                        }
                        None => e.to_string(),
                    };
                    fail(&mut opened, index, cause);
                    socks.push(None);
                }
            }
        }
        if in_flight == 0 {
            continue;
        }
        super::poll(poll, &mut events, TICK)?;
        for event in events.iter() {
            let index = event.token().0;
            let Some(Some(sock)) = socks.get(index) else {
                continue;
            };
            if started.get(index).copied().flatten().is_none() {
                continue;
            }
            match finished(sock) {
                Ok(false) => continue,
                Ok(true) => opened.connected += 1,
                Err(e) => {
                    let cause = limits::limit_reached(&e).unwrap_or_else(|| e.to_string());
                    fail(&mut opened, index, cause);
                    socks[index] = None;
                }
            }
            started[index] = None;
            in_flight -= 1;
        }
        let now = Instant::now();
        if now >= next_sweep {
            next_sweep = now + TICK;
            for (index, since) in started.iter_mut().enumerate() {
                if since.is_some_and(|t| now - t >= config.timeout) {
                    *since = None;
                    socks[index] = None;
                    in_flight -= 1;
                    fail(
                        &mut opened,
                        index,
                        format!("no answer within {:?}", config.timeout),
                    );
                }
            }
            progress.tick(now, || {
                format!(
                    "connecting: {} of {total} open, {} failed",
                    opened.connected, opened.failed
                )
            });
        }
    }
    opened.secs = begin.elapsed().as_secs_f64();
    opened.socks = socks;
    Ok(opened)
}
