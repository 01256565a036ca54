//! TCP stream: each connection writes `--size`-byte chunks of its own byte stream as fast as
//! the server takes them while it reads the echo back and checks every byte.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::Events;
use mio::net::TcpStream;

use super::connect;
use super::payload;
use super::progress::load_line;
use super::stats::Stats;
use super::{Clock, Error, Outcome, Run, TICK};

/// Read buffer: 64 KiB (loopback's MTU, the size of the writes most streams use). Measured
/// against the kit's C epoll server (stream, 64 KiB writes, 2 s, alternating runs): 32 KiB
/// reads gave about 0.9x the MB/s of 64 KiB, 128 KiB 0.65x and 256 KiB 0.55-0.65x
/// (more system time per byte although fewer system calls), pinned to one CPU or not.
const READ_BUFFER: usize = 64 * 1024;

struct Flow {
    sock: Option<TcpStream>,
    seed: u64,
    /// Stream bytes written, and echoed back (and checked).
    sent: u64,
    got: u64,
    progress: Instant,
}

/// Runs stream mode.
pub fn run(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    let (mut poll, mut progress, opened) = connect::open_tcp(run)?;
    let mut stats = run.stats();
    stats.counts.errors += opened.failed as u64;
    stats.first_problem = opened.first_error;
    let now = Instant::now();
    let mut flows: Vec<Flow> = opened
        .socks
        .into_iter()
        .enumerate()
        .map(|(i, sock)| Flow {
            sock,
            seed: payload::seed(run.part.start + i),
            sent: 0,
            got: 0,
            progress: now,
        })
        .collect();
    let clock = Clock::starting_now(config);
    stats.window(clock.warm_end, config.duration);
    let mut rbuf = vec![0u8; READ_BUFFER];
    let mut events = Events::with_capacity(1024);
    let mut next_tick = clock.start + TICK;
    for (index, flow) in (run.part.start..).zip(flows.iter_mut()) {
        drive(run, &clock, &mut stats, flow, index, &mut rbuf);
    }
    let stopped = loop {
        let now = Instant::now();
        if run.stop.is_set() {
            break now;
        }
        let alive = flows.iter().filter(|f| f.sock.is_some());
        if now >= clock.end && alive.clone().all(|f| f.got == f.sent) || alive.count() == 0 {
            break now;
        }
        let mut wait = next_tick.saturating_duration_since(now);
        if now < clock.end {
            wait = wait.min(clock.end - now);
        }
        super::poll(&mut poll, &mut events, wait)?;
        for event in events.iter() {
            let token = event.token().0;
            if let Some(flow) = flows.get_mut(token) {
                let index = run.part.start + token;
                drive(run, &clock, &mut stats, flow, index, &mut rbuf);
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            stats.advance(now);
            if now >= clock.end {
                // Writing stopped: read what is still coming (an event may have come
                // before the end switched writing off).
                for (index, flow) in (run.part.start..).zip(flows.iter_mut()) {
                    drive(run, &clock, &mut stats, flow, index, &mut rbuf);
                }
            }
            for (index, flow) in (run.part.start..).zip(flows.iter_mut()) {
                if flow.sock.is_some()
                    && flow.got < flow.sent
                    && now - flow.progress >= config.timeout
                {
                    flow.sock = None;
                    let (got, sent) = (flow.got, flow.sent);
                    stats.error(|| {
                        format!(
                            "connection {index}: no echo for {:?} ({got} of {sent} bytes back)",
                            config.timeout
                        )
                    });
                }
            }
            let measured = clock.measured(now);
            progress.tick(now, || load_line(&stats, measured, true));
            if now >= clock.end + config.timeout {
                break now;
            }
        }
    };
    stats.finish(stopped, clock.measured(stopped));
    Ok(Outcome::new(run, stats, clock, stopped))
}

/// Writes until the socket is full (before the end), then reads and checks until nothing is
/// left; a failure closes the flow and counts an error.
fn drive(
    run: &Run,
    clock: &Clock,
    stats: &mut Stats,
    flow: &mut Flow,
    index: usize,
    rbuf: &mut [u8],
) {
    if let Err(e) = pump(run, clock, stats, flow, index, rbuf) {
        if flow.sock.take().is_some() {
            stats.error(|| format!("connection {index}: {e}"));
        }
    }
}

fn pump(
    run: &Run,
    clock: &Clock,
    stats: &mut Stats,
    flow: &mut Flow,
    index: usize,
    rbuf: &mut [u8],
) -> io::Result<()> {
    let size = run.config.size;
    let Some(sock) = flow.sock.as_mut() else {
        return Ok(());
    };
    loop {
        let mut moved = false;
        if Instant::now() < clock.end && !run.stop.is_set() {
            let chunk = run.pattern.stream(flow.seed, flow.sent, size);
            match sock.write(chunk) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    if flow.got == flow.sent {
                        // Bytes are outstanding from now on: the stall clock starts.
                        flow.progress = Instant::now();
                    }
                    flow.sent += n as u64;
                    let now = Instant::now();
                    if clock.measuring(now) {
                        stats.advance(now);
                        stats.counts.sent += n as u64;
                    }
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => moved = true,
                Err(e) => return Err(e),
            }
        }
        match sock.read(rbuf) {
            Ok(0) => return Err(connect::closed()),
            Ok(n) => {
                let wrong = run
                    .pattern
                    .stream_mismatches(flow.seed, flow.got, &rbuf[..n]);
                let at = flow.got;
                stats.mismatched(wrong, || {
                    format!(
                        "connection {index}: echo differs in {wrong} of stream bytes {at}..{}",
                        at + n as u64
                    )
                });
                if flow.got + n as u64 > flow.sent {
                    stats.mismatched(1, || {
                        format!("connection {index}: more bytes came back than were sent")
                    });
                }
                flow.got += n as u64;
                let now = Instant::now();
                flow.progress = now;
                if clock.measuring(now) {
                    stats.advance(now);
                    stats.counts.echoed += n as u64;
                }
                moved = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => moved = true,
            Err(e) => return Err(e),
        }
        if !moved {
            return Ok(());
        }
    }
}
