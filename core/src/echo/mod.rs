//! The per-connection echo state machine.
//!
//! [`Machine`] is sans-IO: it is handed the bytes a runner received and hands back the bytes
//! to send, and it is told the time. It never blocks, reads a clock or allocates.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     let window = m.receive_window();          // 0: stop reading (TCP backpressure)
//!     read at most `window` bytes into `buf`     // runner's I/O
//!     m.handle_input(now, &buf[..n], |line| log(line));
//!     let out = m.poll_transmit();               // bytes to send, oldest first
//!     write `out`, then m.handle_sent(now, written);
//!     at m.poll_timeout(): m.handle_timeout(now, |line| log(line))
//!                                            // flushes an idle partial line; Some(Idle): close
//! }
//! m.handle_close(|line| log(line))               // the final partial line, and the stats
//! ```
//!
//! Echo is byte-exact for any chunking: output is input, in order. Memory is bounded by the
//! two [`Buffer`]s the runner lends: `pending` (received, not yet sent) and `line` (the
//! unterminated line kept for the log, at most `max_line + 2` bytes).

mod framing;

use core::time::Duration;

use crate::buffer::Buffer;
use crate::record::Reason;
use crate::time::Instant;

pub use framing::Line;

/// Settings shared by every connection of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Longest message in one log record; longer lines are logged in pieces (`--max-line`).
    pub max_line: usize,
    /// Close a connection when no byte moved for this long (`--idle-timeout`); `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Whether to frame lines for the log at all. Off when `echo` records are not written
    /// (log level below INFO), which saves scanning every byte.
    pub frame_lines: bool,
    /// Log an unterminated line as it stands (`partial`) once no byte has arrived on it
    /// for this long (`--flush-after`); `None`: only at newline, `max_line` or close. So a
    /// client that sends a message without a newline and waits for its echo gets one
    /// record per message.
    pub flush_after: Option<Duration>,
}

impl Default for Config {
    /// The documented defaults ([`crate::service::defaults`]).
    fn default() -> Self {
        use crate::service::defaults;
        Config {
            max_line: defaults::MAX_LINE,
            idle_timeout: Some(defaults::IDLE_TIMEOUT),
            frame_lines: true,
            flush_after: Some(defaults::FLUSH_AFTER),
        }
    }
}

/// `idle_timeout_ms` or `flush_after_ms` meaning "never".
const NEVER: u64 = u64::MAX;

/// A deadline setting in milliseconds, [`NEVER`] for `None` (8 bytes instead of 16 per
/// connection: a million idle connections each keep one machine).
fn millis_or_never(d: Option<Duration>) -> u64 {
    d.map_or(NEVER, |d| {
        u64::try_from(d.as_millis()).map_or(NEVER - 1, |ms| ms.min(NEVER - 1))
    })
}

/// What a connection moved, for its `closed` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Bytes received and accepted.
    pub bytes_in: u64,
    /// Bytes sent back.
    pub bytes_out: u64,
    /// Lines (and pieces) handed to the log callback.
    pub lines: u64,
}

/// One connection's echo state. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct Machine<B: Buffer> {
    pending: B,
    line: B,
    max_line: usize,
    frame_lines: bool,
    /// `config.idle_timeout` in milliseconds, [`NEVER`] for `None`.
    idle_timeout_ms: u64,
    /// `config.flush_after` in milliseconds, [`NEVER`] for `None`.
    flush_after_ms: u64,
    last_activity: Instant,
    /// When the last byte was received (the flush deadline counts from it).
    last_input: Instant,
    stats: Stats,
}

impl<B: Buffer> Machine<B> {
    /// A new connection at `now`. `pending` bounds the bytes held for sending (its capacity
    /// is the receive window). `line` holds an unterminated line for the log: if its
    /// capacity is below `config.max_line + 2`, the effective max line shrinks to fit; under
    /// 3 bytes it cannot hold a piece and its `\r`, so lines are not framed at all (rather
    /// than logged with bytes missing).
    pub fn new(now: Instant, config: &Config, pending: B, line: B) -> Self {
        let max_line = config
            .max_line
            .min(line.capacity().saturating_sub(2))
            .max(1);
        let frame_lines = config.frame_lines && line.capacity() >= max_line + 2;
        Machine {
            pending,
            line,
            max_line,
            frame_lines,
            idle_timeout_ms: millis_or_never(config.idle_timeout),
            flush_after_ms: millis_or_never(config.flush_after),
            last_activity: now,
            last_input: now,
            stats: Stats::default(),
        }
    }

    /// How many bytes the machine can take now. Zero means: stop reading until
    /// [`Machine::handle_sent`] makes room (this is what gives TCP backpressure).
    #[must_use]
    pub fn receive_window(&self) -> usize {
        self.pending.remaining()
    }

    /// Takes received bytes: queues them for echo and frames lines for the log, calling
    /// `on_line` for each complete line (and each `max_line` piece of a longer one).
    ///
    /// Returns how many bytes were taken: at most [`Machine::receive_window`]; the rest must
    /// be offered again later (a runner that reads at most the window never has any).
    pub fn handle_input(
        &mut self,
        now: Instant,
        data: &[u8],
        on_line: impl FnMut(Line<'_>),
    ) -> usize {
        self.handle_input_sent(now, data, 0, on_line)
    }

    /// Takes received bytes of which the runner already sent the first `sent` straight from
    /// `data` (zero-copy echo: no copy into `pending` for what the socket took at once).
    /// Only the unsent rest is queued, up to the receive window; lines are framed over
    /// everything taken. Returns how many bytes were taken (at least `sent`).
    ///
    /// Call it only while [`Machine::poll_transmit`] is empty: sending from the input while
    /// older bytes wait would reorder the echo. Called otherwise, `sent` is treated as 0
    /// (a bug in the runner, kept from corrupting the stream any further).
    pub fn handle_input_sent(
        &mut self,
        now: Instant,
        data: &[u8],
        sent: usize,
        mut on_line: impl FnMut(Line<'_>),
    ) -> usize {
        let sent = if self.pending.is_empty() {
            sent.min(data.len())
        } else {
            debug_assert!(sent == 0, "sent from the input while bytes were pending");
            0
        };
        let taken = sent + self.pending.extend_up_to(&data[sent..]);
        if taken > 0 {
            self.last_activity = now;
            self.last_input = now;
            self.stats.bytes_in += taken as u64;
            self.stats.bytes_out += sent as u64;
            if self.frame_lines {
                let lines = &mut self.stats.lines;
                framing::push(&mut self.line, self.max_line, &data[..taken], &mut |l| {
                    *lines += 1;
                    on_line(l);
                });
            }
        }
        taken
    }

    /// The bytes waiting to be echoed, oldest first (empty when all are sent).
    #[must_use]
    pub fn poll_transmit(&self) -> &[u8] {
        self.pending.as_slice()
    }

    /// Records that the first `n` bytes of [`Machine::poll_transmit`] were sent.
    pub fn handle_sent(&mut self, now: Instant, n: usize) {
        let n = n.min(self.pending.len());
        if n > 0 {
            self.pending.consume(n);
            self.stats.bytes_out += n as u64;
            self.last_activity = now;
        }
    }

    /// When [`Machine::handle_timeout`] should next be called, if ever: the earlier of the
    /// idle deadline and, while an unterminated line waits, its flush deadline.
    ///
    /// Calling it late delays the idle close or the flush; calling it early is a harmless
    /// no-op.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.idle_deadline();
        match self.flush_deadline() {
            Some(flush) => Some(idle.map_or(flush, |idle| idle.min(flush))),
            None => idle,
        }
    }

    fn idle_deadline(&self) -> Option<Instant> {
        (self.idle_timeout_ms != NEVER).then(|| {
            Instant::from_millis(
                self.last_activity
                    .millis()
                    .saturating_add(self.idle_timeout_ms),
            )
        })
    }

    /// When the unterminated line is due to be logged as it stands (`None`: no line waits,
    /// or flushing is off).
    fn flush_deadline(&self) -> Option<Instant> {
        if !self.frame_lines || self.line.is_empty() || self.flush_after_ms == NEVER {
            return None;
        }
        Some(Instant::from_millis(
            self.last_input.millis().saturating_add(self.flush_after_ms),
        ))
    }

    /// Checks the deadlines. A line idle past `flush_after` is handed to `on_line` as it
    /// stands (partial pieces); the next bytes start a new line. Returns
    /// `Some(Reason::Idle)` when the connection should close. Spurious calls are safe.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        mut on_line: impl FnMut(Line<'_>),
    ) -> Option<Reason> {
        if self.flush_deadline().is_some_and(|at| now >= at) {
            let lines = &mut self.stats.lines;
            framing::finish(&mut self.line, self.max_line, &mut |l| {
                *lines += 1;
                on_line(l);
            });
        }
        match self.idle_deadline() {
            Some(deadline) if now >= deadline => Some(Reason::Idle),
            _ => None,
        }
    }

    /// Ends the connection: logs a pending unterminated line (as partial pieces), drops any
    /// unsent bytes, and returns what the connection moved. The machine is then empty.
    pub fn handle_close(&mut self, mut on_line: impl FnMut(Line<'_>)) -> Stats {
        if self.frame_lines {
            let lines = &mut self.stats.lines;
            framing::finish(&mut self.line, self.max_line, &mut |l| {
                *lines += 1;
                on_line(l);
            });
        }
        self.line.clear();
        self.pending.clear();
        self.stats
    }

    /// What the connection has moved so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether nothing is buffered: no unsent bytes and no unterminated line. A runner may
    /// then give the buffers' memory back ([`Machine::buffers_mut`]).
    pub fn is_drained(&self) -> bool {
        self.pending.is_empty() && self.line.is_empty()
    }

    /// The buffers, for a runner that recycles their memory when [`Machine::is_drained`].
    /// Bytes must not be added or removed through them.
    pub fn buffers_mut(&mut self) -> (&mut B, &mut B) {
        (&mut self.pending, &mut self.line)
    }

    /// The effective longest message of one log record.
    pub fn max_line(&self) -> usize {
        self.max_line
    }
}

#[cfg(test)]
mod tests;
