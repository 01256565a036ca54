//! Closed-loop TCP pingpong over a single connection with blocking calls: a write and a
//! read that sleeps until the echo is in are the cheapest client there is (two system calls
//! a round trip; an event loop needs a third, the wait), so one connection is driven as
//! hard as a hand-written blocking client drives it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use super::connect;
use super::payload::{self, Outbox, Pattern};
use super::progress::{Progress, load_line};
use super::stats::Stats;
use super::{Clock, Error, Outcome, Run, TICK, limits};

/// Connects (blocking, within `--timeout`); reads and writes wake every [`TICK`] so that
/// Ctrl-C and `--timeout` are seen.
fn connect(run: &Run) -> io::Result<TcpStream> {
    let config = run.config;
    let socket = Socket::new(
        Domain::for_address(config.addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if let Some(ip) = config.source(run.part.start) {
        limits::port_at_connect(&socket);
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    socket.connect_timeout(&config.addr.into(), config.timeout)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_read_timeout(Some(TICK))?;
    socket.set_write_timeout(Some(TICK))?;
    Ok(socket.into())
}

/// Runs pingpong over one connection, closed loop.
pub fn run(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    let mut sock = connect(run).map_err(|e| Error::Connect {
        target: config.target.clone(),
        cause: limits::limit_reached(&e).unwrap_or_else(|| e.to_string()),
    })?;
    let mut progress = Progress::new(run);
    let mut stats = run.stats();
    let mut buffers = Buffers {
        send: Outbox::new(config.size),
        recv: vec![0; config.size],
    };
    let index = run.part.start;
    let clock = Clock::starting_now(config);
    stats.window(clock.warm_end, config.duration);
    let mut n = 0u64;
    // The next message is the last one counted up in place (no formatting per message).
    let mut message = Pattern::message(index, n, config.size);
    let stopped = loop {
        let start = Instant::now();
        if start >= clock.end || run.stop.is_set() {
            break start;
        }
        if message.number() != n {
            message.advance();
        }
        buffers.send.stamp(run.pattern, &message);
        match round_trip(run, &mut sock, &mut buffers, &mut stats, (index, n, start)) {
            Ok(true) => {}
            Ok(false) => break Instant::now(),
            Err(e) => {
                stats.error(|| format!("connection {index}: {e}"));
                break Instant::now();
            }
        }
        let now = Instant::now();
        if clock.measuring(now) {
            stats.round_trip(now, config.size, now - start, None);
        }
        n += 1;
        progress.tick(now, || load_line(&stats, clock.measured(now), false));
    };
    stats.finish(stopped, clock.measured(stopped));
    Ok(Outcome::new(run, stats, clock, stopped))
}

/// Whether a blocking call only timed out (the tick), so the loop looks at the flags.
fn ticked(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Sends the current message of `buffers.send` (started at `start`) and reads its echo, counting
/// wrong bytes; `Ok(false)`: stopped. The clock is read only when a blocking call times out
/// (every [`TICK`]), not for every byte moved.
fn round_trip(
    run: &Run,
    sock: &mut TcpStream,
    buffers: &mut Buffers,
    stats: &mut Stats,
    (index, n, start): (usize, u64, Instant),
) -> io::Result<bool> {
    let size = run.config.size;
    let timeout = run.config.timeout;
    // When progress was last seen, and whether any was made since.
    let mut seen = start;
    let mut moved = false;
    let mut tick = |moved: &mut bool, what: &dyn Fn() -> String| -> io::Result<bool> {
        if run.stop.is_set() {
            return Ok(false);
        }
        let now = Instant::now();
        if std::mem::take(moved) {
            seen = now;
        } else if now - seen >= timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no echo for {timeout:?} ({} of message {n})", what()),
            ));
        }
        Ok(true)
    };
    let mut sent = 0;
    while sent < size {
        match sock.write(&buffers.send.bytes()[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => {
                sent += k;
                moved = true;
            }
            Err(e) if ticked(&e) => {
                if !tick(&mut moved, &|| format!("{sent} of {size} bytes sent"))? {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    let mut got = 0;
    while got < size {
        match sock.read(&mut buffers.recv[..size - got]) {
            Ok(0) => return Err(connect::closed()),
            Ok(k) => {
                let sent = &buffers.send.bytes()[got..got + k];
                let wrong = payload::wrong_bytes(sent, &buffers.recv[..k]);
                stats.mismatched(wrong, || {
                    format!(
                        "connection {index}: echo of message {n} differs in {wrong} of bytes {got}..{}",
                        got + k
                    )
                });
                got += k;
                moved = true;
            }
            Err(e) if ticked(&e) => {
                if !tick(&mut moved, &|| format!("{got} of {size} bytes back"))? {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The message being sent (stamped once) and its echo.
struct Buffers {
    send: Outbox,
    recv: Vec<u8>,
}
