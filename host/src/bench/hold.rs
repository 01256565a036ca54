//! Hold: open the connections (counting how many a second), keep them idle for the
//! duration, then check that each one still echoes a probe. A connection the server closes
//! while held, or that does not echo its probe within `--timeout`, is failed.

use std::io::{self, IoSlice, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Poll};

use super::connect;
use super::payload::{Message, Pattern};
use super::progress::Progress;
use super::stats::Stats;
use super::{Error, Outcome, Run, TICK};

/// Probes in flight at once: the server answers a bounded burst, and a probe's timeout
/// starts when it is sent, not while it waits behind a million others.
const PROBES_IN_FLIGHT: usize = 512;

/// A probe's state, per connection; kept small (a million of them).
#[derive(Clone, Copy)]
struct Probe {
    sent: u32,
    got: u32,
    /// When it was sent (`None`: not yet, or done).
    since: Option<Instant>,
}

/// Runs hold mode.
pub fn run(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    let (mut poll, mut progress, opened) = connect::open_tcp(run)?;
    let mut stats = run.stats();
    stats.first_problem = opened.first_error;
    let mut socks = opened.socks;
    let connect_per_s = opened.connected as f64 / opened.secs.max(f64::MIN_POSITIVE);
    let attempted = (opened.connected + opened.failed) as u64;

    // Hold: nothing should happen; anything that does (a close, stray bytes) fails it.
    let start = Instant::now();
    let end = start + config.duration;
    let mut events = Events::with_capacity(1024);
    let mut rbuf = vec![0u8; config.size.max(4096)];
    while !run.stop.is_set() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        super::poll(&mut poll, &mut events, (end - now).min(TICK))?;
        for event in events.iter() {
            let index = event.token().0;
            if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                continue;
            }
            if let Some(slot) = socks.get_mut(index) {
                check_idle(slot, index, &mut rbuf, &mut stats);
            }
        }
        progress.tick(Instant::now(), || {
            let alive = socks.iter().filter(|s| s.is_some()).count();
            format!("holding {alive} connections")
        });
    }
    let held_secs = start.elapsed().min(config.duration);

    // Probe every connection still open.
    let interrupted = run.stop.is_set();
    // Stopped early: the connections still open count as held, unprobed.
    let held = if interrupted {
        socks.iter().filter(|s| s.is_some()).count() as u64
    } else {
        probe_all(run, &mut poll, &mut socks, &mut stats, &mut progress)?
    };
    drop(socks);
    // Tried and not held (not opened, lost while held, or no right echo); connections a
    // Ctrl-C kept from being tried are neither held nor failed.
    let failed = attempted - held;
    stats.counts.errors = failed;
    stats.finish(Instant::now(), held_secs);
    Ok(Outcome {
        stats,
        measured: held_secs,
        interrupted,
        held: Some(held),
        failed: Some(failed),
        connect_per_s: Some(connect_per_s),
    })
}

/// A held connection became readable: the server closed it or sent bytes nobody asked for.
fn check_idle(slot: &mut Option<TcpStream>, index: usize, rbuf: &mut [u8], stats: &mut Stats) {
    let Some(sock) = slot.as_mut() else { return };
    let cause = match sock.read(rbuf) {
        Ok(0) => "the server closed it while it was held".to_string(),
        Ok(n) => format!("{n} bytes came while it was idle"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
        Err(e) => e.to_string(),
    };
    *slot = None;
    stats.problem(|| format!("connection {index}: {cause}"));
}

/// Sends each open connection a probe and checks its echo; returns how many echoed it
/// whole and right. Failures close their connection.
fn probe_all(
    run: &Run,
    poll: &mut Poll,
    socks: &mut [Option<TcpStream>],
    stats: &mut Stats,
    progress: &mut Progress,
) -> io::Result<u64> {
    let config = run.config;
    let size = config.size;
    let mut probes = vec![
        Probe {
            sent: 0,
            got: 0,
            since: None
        };
        socks.len()
    ];
    let mut rbuf = vec![0u8; size];
    let mut events = Events::with_capacity(1024);
    let mut next = 0usize;
    let mut in_flight = 0usize;
    let mut ok = 0u64;
    let mut next_tick = Instant::now() + TICK;
    let message = |index: usize| Pattern::message(index, 0, size);
    loop {
        while in_flight < PROBES_IN_FLIGHT && next < socks.len() {
            let index = next;
            next += 1;
            if socks[index].is_none() {
                continue;
            }
            probes[index].since = Some(Instant::now());
            in_flight += 1;
            if let Err(e) = step(
                run,
                &mut socks[index],
                &mut probes[index],
                message(index),
                &mut rbuf,
                stats,
            ) {
                fail(
                    &mut socks[index],
                    &mut probes[index],
                    &mut in_flight,
                    index,
                    &e,
                    stats,
                );
            } else if probes[index].since.is_none() {
                in_flight -= 1;
                ok += 1;
            }
        }
        if in_flight == 0 && next >= socks.len() {
            return Ok(ok);
        }
        if run.stop.is_set() {
            return Ok(ok);
        }
        super::poll(poll, &mut events, TICK)?;
        for event in events.iter() {
            let index = event.token().0;
            let (Some(slot), Some(probe)) = (socks.get_mut(index), probes.get_mut(index)) else {
                continue;
            };
            if probe.since.is_none() {
                if slot.is_some()
                    && probe.got == 0
                    && (event.is_readable() || event.is_read_closed())
                {
                    check_idle(slot, index, &mut rbuf, stats);
                }
                continue;
            }
            if let Err(e) = step(run, slot, probe, message(index), &mut rbuf, stats) {
                fail(slot, probe, &mut in_flight, index, &e, stats);
            } else if probe.since.is_none() {
                in_flight -= 1;
                ok += 1;
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            for (index, (slot, probe)) in socks
                .iter_mut()
                .zip(probes.iter_mut())
                .enumerate()
                .take(next)
            {
                if probe.since.is_some_and(|t| now - t >= config.timeout) {
                    let e = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no echo of the probe within {:?}", config.timeout),
                    );
                    fail(slot, probe, &mut in_flight, index, &e, stats);
                }
            }
            progress.tick(now, || format!("probing: {ok} of {} echoed", socks.len()));
        }
    }
}

/// Writes what is left of the probe and reads what has come of its echo; clears `since`
/// when the echo is complete and right.
fn step(
    run: &Run,
    slot: &mut Option<TcpStream>,
    probe: &mut Probe,
    message: Message,
    rbuf: &mut [u8],
    stats: &mut Stats,
) -> io::Result<()> {
    let size = run.config.size;
    let Some(sock) = slot.as_mut() else {
        return Ok(());
    };
    while (probe.sent as usize) < size {
        let [head, body, newline] = run.pattern.tail(&message, probe.sent as usize);
        match sock.write_vectored(&[
            IoSlice::new(head),
            IoSlice::new(body),
            IoSlice::new(newline),
        ]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            // NOTE(as): at most --size, which is at most 1 MiB.
            Ok(n) => probe.sent += n as u32,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    while (probe.got as usize) < size {
        let from = probe.got as usize;
        match sock.read(&mut rbuf[..size - from]) {
            Ok(0) => return Err(connect::closed()),
            Ok(n) => {
                let wrong = run.pattern.mismatches(&message, from, &rbuf[..n]);
                if wrong > 0 {
                    stats.mismatched(wrong, || "the echo of a probe differs".into());
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "its probe's echo differs",
                    ));
                }
                probe.got += n as u32;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(since) = probe.since.take() {
        stats.record(since.elapsed());
    }
    Ok(())
}

fn fail(
    slot: &mut Option<TcpStream>,
    probe: &mut Probe,
    in_flight: &mut usize,
    index: usize,
    error: &io::Error,
    stats: &mut Stats,
) {
    if probe.since.take().is_some() {
        *in_flight -= 1;
    }
    if slot.take().is_some() {
        stats.problem(|| format!("connection {index}: {error}"));
    }
}
