//! Properties of the echo machine: byte-exact echo under any receive chunking and any send
//! capacity, bounded memory, the idle and flush deadlines, and log framing equal to a plain
//! model of PRODUCT.md "Log records" (with `--flush-after`: no byte lost or duplicated
//! across records under any chunking and timing).

mod common;

use core::time::Duration;

use common::{BoxBuf, Logged, line_open, reference_lines, reference_lines_flushed};
use echo_core::Buffer;
use echo_core::echo::{Config, Machine};
use echo_core::time::Instant;
use proptest::prelude::*;

/// One run: the bytes a peer sends and how the network and the clock behave.
#[derive(Debug, Clone)]
struct Script {
    input: Vec<u8>,
    /// Bytes offered per read, cycled.
    chunks: Vec<usize>,
    /// Bytes the transport accepts per write, cycled (0 = would block).
    sends: Vec<usize>,
    /// Milliseconds the clock moves per round, cycled.
    advances: Vec<u64>,
    max_line: usize,
    frame_lines: bool,
    idle_ms: u64,
    /// `--flush-after` in milliseconds (`None`: off).
    flush_ms: Option<u64>,
    /// Close once this many bytes were taken (`None`: after everything was echoed).
    close_at: Option<usize>,
}

fn stream_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => b'a'..=b'd',
        2 => Just(b'\n'),
        2 => Just(b'\r'),
        1 => any::<u8>(),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    (
        prop::collection::vec(stream_byte(), 0..700),
        prop::collection::vec(0usize..80, 1..8),
        prop::collection::vec(0usize..80, 1..8),
        prop::collection::vec(prop_oneof![0u64..4, 0u64..400], 1..4),
        0usize..40,
        prop::bool::weighted(0.85),
        1u64..2000,
        prop::option::weighted(0.7, prop_oneof![0u64..4, 0u64..1000]),
        prop::option::weighted(0.2, 0usize..700),
    )
        .prop_map(
            |(
                input,
                chunks,
                sends,
                advances,
                max_line,
                frame_lines,
                idle_ms,
                flush_ms,
                close_at,
            )| Script {
                input,
                chunks,
                sends,
                advances,
                max_line,
                frame_lines,
                idle_ms,
                flush_ms,
                close_at,
            },
        )
}

/// What the peer saw and the log got.
struct Outcome {
    echoed: Vec<u8>,
    taken: usize,
    lines: Vec<Logged>,
    max_line: usize,
    /// Offsets of the taken bytes at which the open line was due to be flushed.
    flushes: Vec<usize>,
}

fn drive<B: Buffer>(pending: B, line: B, s: &Script) -> Outcome {
    let cap = pending.capacity();
    assert!(cap > 0, "the scripts need a pending buffer");
    let config = Config {
        max_line: s.max_line,
        idle_timeout: Some(Duration::from_millis(s.idle_ms)),
        frame_lines: s.frame_lines,
        flush_after: s.flush_ms.map(Duration::from_millis),
    };
    let framing = s.frame_lines && line.capacity() >= 3;
    let mut m = Machine::new(Instant::ZERO, &config, pending, line);
    let mut lines: Vec<Logged> = Vec::new();
    let mut echoed = Vec::new();
    let (mut now, mut last_activity, mut last_input, mut fed) = (0u64, 0u64, 0u64, 0usize);
    let mut flushes: Vec<usize> = Vec::new();
    let close_at = s.close_at.unwrap_or(usize::MAX);
    let mut round = 0usize;
    while fed < close_at.min(s.input.len()) || (s.close_at.is_none() && !m.is_drained_out()) {
        assert!(round < 100_000, "no progress");
        now += s.advances[round % s.advances.len()];
        let t = Instant::from_millis(now);

        let window = m.receive_window();
        assert_eq!(window, cap - m.poll_transmit().len());
        let mut want = s.chunks[round % s.chunks.len()];
        if round % s.chunks.len() == s.chunks.len() - 1 {
            want = want.max(1);
        }
        let want = want.min(s.input.len() - fed);
        let taken = m.handle_input(t, &s.input[fed..fed + want], |l| {
            lines.push((l.bytes.to_vec(), l.partial))
        });
        assert_eq!(taken, want.min(window), "takes exactly what fits");
        assert!(m.poll_transmit().len() <= cap, "memory bound");
        fed += taken;
        if taken > 0 {
            last_activity = now;
            last_input = now;
        }

        // Every few rounds the transport takes at least one byte, so the run ends.
        let mut room = s.sends[round % s.sends.len()];
        if round % s.sends.len() == s.sends.len() - 1 {
            room = room.max(1);
        }
        let out = m.poll_transmit();
        let n = room.min(out.len());
        echoed.extend_from_slice(&out[..n]);
        // Claiming more than was offered is clamped.
        let claim = if n == out.len() { room } else { n };
        m.handle_sent(t, claim);
        if n > 0 {
            last_activity = now;
        }

        let deadline = last_activity + s.idle_ms;
        let open = framing && line_open(&s.input[..fed], flushes.last().copied().unwrap_or(0));
        let flush = s.flush_ms.filter(|_| open).map(|ms| last_input + ms);
        let expected = flush.map_or(deadline, |f| f.min(deadline));
        assert_eq!(m.poll_timeout(), Some(Instant::from_millis(expected)));
        if flush.is_some_and(|f| now >= f) {
            flushes.push(fed);
        }
        let before = lines.len();
        let verdict = m.handle_timeout(t, |l| lines.push((l.bytes.to_vec(), l.partial)));
        assert_eq!(verdict.is_some(), now >= deadline);
        assert_eq!(
            lines.len() > before,
            flush.is_some_and(|f| now >= f),
            "flushed when due"
        );
        round += 1;
    }
    let max_line = m.max_line();
    let unsent = m.poll_transmit().len() as u64;
    let before = lines.len() as u64;
    let stats = m.handle_close(|l| lines.push((l.bytes.to_vec(), l.partial)));
    assert!(m.is_drained());
    assert_eq!(stats.bytes_in, fed as u64);
    assert_eq!(stats.bytes_out, fed as u64 - unsent);
    assert_eq!(stats.lines, lines.len() as u64);
    assert!(before <= stats.lines);
    Outcome {
        echoed,
        taken: fed,
        lines,
        max_line,
        flushes,
    }
}

trait DrainedOut {
    fn is_drained_out(&self) -> bool;
}

impl<B: Buffer> DrainedOut for Machine<B> {
    /// Every received byte was sent (the line buffer may still hold an open line).
    fn is_drained_out(&self) -> bool {
        self.poll_transmit().is_empty()
    }
}

fn check(o: &Outcome, s: &Script, line_cap: usize) {
    let input = &s.input[..o.taken];
    if s.close_at.is_none() {
        assert_eq!(o.taken, s.input.len());
        assert_eq!(o.echoed, s.input, "echo is byte-exact");
    } else {
        assert!(
            input.starts_with(&o.echoed),
            "echo is a prefix of the input"
        );
    }
    if !s.frame_lines || line_cap < 3 {
        // A line buffer under 3 bytes cannot frame (a piece needs `max_line + 2`).
        assert!(o.lines.is_empty());
        return;
    }
    let max_line = s.max_line.min(line_cap - 2).max(1);
    assert_eq!(o.max_line, max_line);
    assert_eq!(
        o.lines,
        reference_lines_flushed(input, max_line, &o.flushes)
    );
    if s.flush_ms.is_none() {
        assert!(o.flushes.is_empty());
        assert_eq!(o.lines, reference_lines(input, max_line));
    }
}

macro_rules! heapless_prop {
    ($name:ident, $n:literal) => {
        proptest! {
            #[test]
            fn $name(s in script()) {
                let o = drive(
                    heapless::Vec::<u8, $n>::new(),
                    heapless::Vec::<u8, $n>::new(),
                    &s,
                );
                check(&o, &s, $n);
            }
        }
    };
}

heapless_prop!(heapless_1_echo_and_framing, 1);
heapless_prop!(heapless_2_echo_and_framing, 2);
heapless_prop!(heapless_3_echo_and_framing, 3);
heapless_prop!(heapless_5_echo_and_framing, 5);
heapless_prop!(heapless_64_echo_and_framing, 64);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The same with heap buffers of random capacities (pending and line sized apart).
    #[test]
    fn heap_buffers_echo_and_framing(
        s in script(),
        pending_cap in 1usize..100,
        line_cap in 0usize..50,
    ) {
        let o = drive(BoxBuf::with_capacity(pending_cap), BoxBuf::with_capacity(line_cap), &s);
        check(&o, &s, line_cap);
    }
}

#[test]
fn reference_model_matches_the_product_examples() {
    let own = |v: &[(&str, bool)]| -> Vec<Logged> {
        v.iter().map(|(s, p)| (s.as_bytes().to_vec(), *p)).collect()
    };
    assert_eq!(
        reference_lines(b"Hi There\nsecond\r\n\nab\r", 4096),
        own(&[
            ("Hi There", false),
            ("second", false),
            ("", false),
            ("ab\r", true)
        ])
    );
    assert_eq!(
        reference_lines(b"abcdefgh\nabcdefghi", 4),
        own(&[
            ("abcd", true),
            ("efgh", false),
            ("abcd", true),
            ("efgh", true),
            ("i", true)
        ])
    );
}

#[test]
fn flushed_reference_splits_lines_at_the_flushes() {
    let own = |v: &[(&str, bool)]| -> Vec<Logged> {
        v.iter().map(|(s, p)| (s.as_bytes().to_vec(), *p)).collect()
    };
    assert_eq!(
        reference_lines_flushed(b"Hi ThereHello\nab", 4096, &[8]),
        own(&[("Hi There", true), ("Hello", false), ("ab", true)])
    );
}

#[test]
fn no_pending_capacity_means_no_window() {
    let mut m = Machine::new(
        Instant::ZERO,
        &Config::default(),
        BoxBuf::with_capacity(0),
        BoxBuf::with_capacity(10),
    );
    assert_eq!(m.receive_window(), 0);
    assert_eq!(m.handle_input(Instant::ZERO, b"abc\n", |_| panic!()), 0);
    assert_eq!(m.handle_close(|_| panic!()).bytes_in, 0);
}

/// Size of the per-connection state with 24-byte heap buffers (printed for the report).
#[test]
fn machine_size_with_24_byte_buffers() {
    assert_eq!(size_of::<BoxBuf>(), 24);
    let size = size_of::<Machine<BoxBuf>>();
    println!("size_of::<Machine<BoxBuf>>() = {size}");
    assert!(size <= 128, "{size}");
}
