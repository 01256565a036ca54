//! The echo machine against a trivial model, under an arbitrary sequence of received chunks,
//! send capacities, clock advances, timeout checks and a close: output equals input, the
//! memory bound holds, the idle and flush deadlines are right, and the log gets exactly the
//! lines sent (PRODUCT.md "Log records" framing; with `--flush-after`, an idle open line is
//! logged as it stands and no byte is lost or duplicated across records).
#![no_main]

use core::time::Duration;

use arbitrary::Arbitrary;
use echo_core::Buffer;
use echo_core::echo::{Config, Machine};
use echo_core::record::Reason;
use echo_core::time::Instant;
use libfuzzer_sys::fuzz_target;

/// A capped heap buffer, like the host's.
struct Capped {
    bytes: Vec<u8>,
    cap: usize,
}

impl Buffer for Capped {
    fn as_slice(&self) -> &[u8] {
        &self.bytes
    }
    fn capacity(&self) -> usize {
        self.cap
    }
    fn extend_up_to(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.cap - self.bytes.len());
        self.bytes.extend_from_slice(&bytes[..n]);
        n
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.bytes.len());
        self.bytes.drain(..n);
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Receive(Vec<u8>),
    Send(u16),
    Advance(u16),
    Timeout,
    Close,
}

#[derive(Arbitrary, Debug)]
struct Input {
    pending_cap: u8,
    line_cap: u8,
    max_line: u8,
    frame_lines: bool,
    idle_ms: Option<u16>,
    flush_ms: Option<u16>,
    ops: Vec<Op>,
}

#[path = "../../core/tests/common/reference.rs"]
mod reference;
use reference::{Logged, line_open, reference_lines_flushed};

fuzz_target!(|input: Input| {
    let cap = usize::from(input.pending_cap);
    let line_cap = usize::from(input.line_cap);
    let config = Config {
        max_line: usize::from(input.max_line),
        idle_timeout: input.idle_ms.map(|ms| Duration::from_millis(ms.into())),
        frame_lines: input.frame_lines,
        flush_after: input.flush_ms.map(|ms| Duration::from_millis(ms.into())),
    };
    let framing = input.frame_lines && line_cap >= 3;
    let pending = Capped {
        bytes: Vec::new(),
        cap,
    };
    let line = Capped {
        bytes: Vec::new(),
        cap: line_cap,
    };
    let mut m = Machine::new(Instant::ZERO, &config, pending, line);

    let mut taken_bytes = Vec::new();
    let mut echoed = Vec::new();
    let mut lines: Vec<Logged> = Vec::new();
    let (mut now, mut last_activity, mut last_input) = (0u64, 0u64, 0u64);
    let mut flushes: Vec<usize> = Vec::new();
    // The flush deadline the model expects: a line is open and flushing is on.
    let flush_due = |taken: &[u8], flushes: &[usize], last_input: u64| {
        let open = framing && line_open(taken, flushes.last().copied().unwrap_or(0));
        input
            .flush_ms
            .filter(|_| open)
            .map(|ms| last_input + u64::from(ms))
    };
    let mut closed = false;
    for op in &input.ops {
        match op {
            Op::Receive(chunk) => {
                let window = m.receive_window();
                assert_eq!(window, cap - m.poll_transmit().len());
                let taken = m.handle_input(Instant::from_millis(now), chunk, |l| {
                    lines.push((l.bytes.to_vec(), l.partial))
                });
                assert_eq!(taken, chunk.len().min(window));
                taken_bytes.extend_from_slice(&chunk[..taken]);
                if taken > 0 {
                    last_activity = now;
                    last_input = now;
                }
            }
            Op::Send(room) => {
                let out = m.poll_transmit();
                let n = usize::from(*room).min(out.len());
                echoed.extend_from_slice(&out[..n]);
                m.handle_sent(Instant::from_millis(now), usize::from(*room));
                if n > 0 {
                    last_activity = now;
                }
            }
            Op::Advance(ms) => now += u64::from(*ms),
            Op::Timeout => {
                let expired = input
                    .idle_ms
                    .is_some_and(|idle| now >= last_activity + u64::from(idle));
                let flush = flush_due(&taken_bytes, &flushes, last_input).is_some_and(|f| now >= f);
                if flush {
                    flushes.push(taken_bytes.len());
                }
                let before = lines.len();
                let verdict = m.handle_timeout(Instant::from_millis(now), |l| {
                    lines.push((l.bytes.to_vec(), l.partial))
                });
                assert_eq!(verdict, expired.then_some(Reason::Idle));
                assert_eq!(lines.len() > before, flush, "flushed exactly when due");
            }
            Op::Close => {
                closed = true;
                break;
            }
        }
        assert!(m.poll_transmit().len() <= cap, "memory bound");
        let idle = input.idle_ms.map(|idle| last_activity + u64::from(idle));
        let expected = match (idle, flush_due(&taken_bytes, &flushes, last_input)) {
            (Some(i), Some(f)) => Some(i.min(f)),
            (i, f) => i.or(f),
        };
        assert_eq!(m.poll_timeout(), expected.map(Instant::from_millis));
        // Echo so far: everything sent is the start of everything taken, and the rest waits.
        assert_eq!([&echoed[..], m.poll_transmit()].concat(), taken_bytes);
    }
    if !closed {
        // The peer reads everything before the close.
        let out = m.poll_transmit().to_vec();
        echoed.extend_from_slice(&out);
        m.handle_sent(Instant::from_millis(now), out.len());
        assert_eq!(echoed, taken_bytes, "echo is byte-exact");
    }
    let unsent = m.poll_transmit().len();
    let stats = m.handle_close(|l| lines.push((l.bytes.to_vec(), l.partial)));
    assert!(m.is_drained());
    assert_eq!(stats.bytes_in, taken_bytes.len() as u64);
    assert_eq!(stats.bytes_out, (taken_bytes.len() - unsent) as u64);
    assert_eq!(stats.lines, lines.len() as u64);

    if !input.frame_lines || line_cap < 3 {
        assert!(lines.is_empty());
    } else {
        let max_line = usize::from(input.max_line).min(line_cap - 2).max(1);
        assert_eq!(m.max_line(), max_line);
        assert_eq!(
            lines,
            reference_lines_flushed(&taken_bytes, max_line, &flushes)
        );
    }
});
