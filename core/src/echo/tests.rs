use std::vec::Vec;

use super::*;

type Buf = heapless::Vec<u8, 64>;

fn machine(max_line: usize) -> Machine<Buf> {
    let config = Config {
        max_line,
        idle_timeout: Some(Duration::from_secs(10)),
        frame_lines: true,
        flush_after: None,
    };
    Machine::new(Instant::ZERO, &config, Buf::new(), Buf::new())
}

/// Feeds chunks, draining after each; returns (echoed, logged lines).
#[track_caller]
fn run(m: &mut Machine<Buf>, chunks: &[&[u8]]) -> (Vec<u8>, Vec<(Vec<u8>, bool)>) {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        while !rest.is_empty() {
            let n = m.handle_input(Instant::ZERO, rest, |l| {
                lines.push((l.bytes.to_vec(), l.partial))
            });
            rest = &rest[n..];
            let t = m.poll_transmit().to_vec();
            out.extend_from_slice(&t);
            m.handle_sent(Instant::ZERO, t.len());
        }
    }
    m.handle_close(|l| lines.push((l.bytes.to_vec(), l.partial)));
    (out, lines)
}

fn owned(v: &[(&str, bool)]) -> Vec<(Vec<u8>, bool)> {
    v.iter().map(|(s, p)| (s.as_bytes().to_vec(), *p)).collect()
}

#[test]
fn echoes_and_frames_lines() {
    let mut m = machine(4096);
    let (out, lines) = run(&mut m, &[b"Hi There\nsecond\r\nthi", b"rd\n\nlast"]);
    assert_eq!(out, b"Hi There\nsecond\r\nthird\n\nlast");
    assert_eq!(
        lines,
        owned(&[
            ("Hi There", false),
            ("second", false),
            ("third", false),
            ("", false),
            ("last", true)
        ])
    );
}

#[test]
fn long_lines_are_cut_in_pieces() {
    let mut m = machine(4);
    let (_, lines) = run(&mut m, &[b"abcdefghij\nabcd\nabcd\r\nab", b"cde\r", b"\n"]);
    assert_eq!(
        lines,
        owned(&[
            ("abcd", true),
            ("efgh", true),
            ("ij", false),
            ("abcd", false),
            ("abcd", false),
            ("abcd", true),
            ("e", false)
        ])
    );
}

#[test]
fn crlf_split_across_chunks() {
    let mut m = machine(4);
    let (_, lines) = run(&mut m, &[b"abcd\r", b"\nxy\r"]);
    assert_eq!(lines, owned(&[("abcd", false), ("xy\r", true)]));
}

#[test]
fn window_gives_backpressure() {
    let mut m = machine(8);
    let big = [b'x'; 100];
    assert_eq!(m.receive_window(), 64);
    assert_eq!(m.handle_input(Instant::ZERO, &big, |_| {}), 64);
    assert_eq!(m.receive_window(), 0);
    assert_eq!(m.handle_input(Instant::ZERO, &big, |_| {}), 0);
    m.handle_sent(Instant::ZERO, 10);
    assert_eq!(m.receive_window(), 10);
    assert_eq!(
        m.stats(),
        Stats {
            bytes_in: 64,
            bytes_out: 10,
            lines: 7
        }
    );
}

#[test]
fn idle_deadline_moves_with_activity() {
    let mut m = machine(8);
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(10_000)));
    assert_eq!(m.handle_timeout(Instant::from_millis(9_999), |_| {}), None);
    m.handle_input(Instant::from_millis(5_000), b"x", |_| {});
    assert_eq!(m.handle_timeout(Instant::from_millis(10_000), |_| {}), None);
    assert_eq!(
        m.handle_timeout(Instant::from_millis(15_000), |_| {}),
        Some(Reason::Idle)
    );
}

#[test]
fn no_framing_when_lines_are_not_logged() {
    let config = Config {
        frame_lines: false,
        ..Config::default()
    };
    let mut m: Machine<Buf> = Machine::new(Instant::ZERO, &config, Buf::new(), Buf::new());
    let (out, lines) = run(&mut m, &[b"a\nb"]);
    assert_eq!(out, b"a\nb");
    assert!(lines.is_empty());
}

/// Zero-copy input: what the runner sent from the input is not queued, the rest is, in order.
#[test]
fn input_sent_straight_queues_only_the_rest() {
    let mut m = machine(4096);
    let mut lines = Vec::new();
    let taken = m.handle_input_sent(Instant::ZERO, b"abc\ndef", 5, |l| {
        lines.push((l.bytes.to_vec(), l.partial))
    });
    assert_eq!(taken, 7);
    assert_eq!(m.poll_transmit(), b"ef");
    assert_eq!(m.stats().bytes_in, 7);
    assert_eq!(m.stats().bytes_out, 5);
    assert_eq!(lines, owned(&[("abc", false)]));
    m.handle_sent(Instant::ZERO, 2);
    assert!(m.poll_transmit().is_empty());
    assert_eq!(m.stats().bytes_out, 7);
    let taken = m.handle_input_sent(Instant::ZERO, b"g\n", 2, |l| {
        lines.push((l.bytes.to_vec(), l.partial))
    });
    assert_eq!(taken, 2);
    assert!(m.is_drained());
    assert_eq!(lines, owned(&[("abc", false), ("defg", false)]));
}

/// Everything sent at once: nothing is buffered, and the window bounds only the unsent rest.
#[test]
fn input_sent_straight_respects_the_window_for_the_rest() {
    let mut m = machine(4096);
    let big = [b'x'; 100];
    assert_eq!(m.handle_input_sent(Instant::ZERO, &big, 100, |_| {}), 100);
    assert!(m.poll_transmit().is_empty());
    // 30 sent, 64 of the remaining 70 fit in the 64-byte pending buffer.
    assert_eq!(m.handle_input_sent(Instant::ZERO, &big, 30, |_| {}), 94);
    assert_eq!(m.poll_transmit().len(), 64);
    assert_eq!(m.receive_window(), 0);
}

/// Claiming bytes were sent while older ones wait is refused in release builds.
#[test]
#[cfg(not(debug_assertions))]
fn input_sent_while_pending_is_queued_instead() {
    let mut m = machine(4096);
    m.handle_input(Instant::ZERO, b"old", |_| {});
    assert_eq!(m.handle_input_sent(Instant::ZERO, b"new", 3, |_| {}), 3);
    assert_eq!(m.poll_transmit(), b"oldnew");
}

/// Found by the property tests: a 2-byte line buffer lost bytes of the log (a `\r` did not
/// fit), and logged `x\r\r\n` as `x`. Too small to frame, it now frames nothing.
#[test]
fn tiny_line_buffer_frames_nothing_rather_than_lose_bytes() {
    let config = Config {
        max_line: 1,
        ..Config::default()
    };
    let mut m: Machine<heapless::Vec<u8, 2>> = Machine::new(
        Instant::ZERO,
        &config,
        heapless::Vec::new(),
        heapless::Vec::new(),
    );
    let mut lines = Vec::new();
    for chunk in [&b"x\r"[..], b"\r", b"\n"] {
        assert_eq!(
            m.handle_input(Instant::ZERO, chunk, |l| lines.push(l.bytes.to_vec())),
            chunk.len()
        );
        m.handle_sent(Instant::ZERO, 2);
    }
    m.handle_close(|l| lines.push(l.bytes.to_vec()));
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn line_buffer_of_three_frames_one_byte_pieces() {
    let config = Config {
        max_line: 100,
        ..Config::default()
    };
    let mut m: Machine<heapless::Vec<u8, 3>> = Machine::new(
        Instant::ZERO,
        &config,
        heapless::Vec::new(),
        heapless::Vec::new(),
    );
    assert_eq!(m.max_line(), 1);
    let (out, lines) = {
        let mut out = Vec::new();
        let mut lines = Vec::new();
        for chunk in [&b"x\r"[..], b"\r", b"\n"] {
            m.handle_input(Instant::ZERO, chunk, |l| {
                lines.push((l.bytes.to_vec(), l.partial))
            });
            out.extend_from_slice(m.poll_transmit());
            m.handle_sent(Instant::ZERO, 3);
        }
        (out, lines)
    };
    assert_eq!(out, b"x\r\r\n");
    assert_eq!(lines, owned(&[("x", true), ("\r", false)]));
}

fn flushing(max_line: usize, flush_ms: u64) -> Machine<Buf> {
    let config = Config {
        max_line,
        idle_timeout: Some(Duration::from_secs(10)),
        frame_lines: true,
        flush_after: Some(Duration::from_millis(flush_ms)),
    };
    Machine::new(Instant::ZERO, &config, Buf::new(), Buf::new())
}

/// EchoClient.py's habit: messages without newline, each waiting for its echo, are logged
/// one record each once the line has been idle `flush_after`.
#[test]
fn idle_unterminated_line_is_logged_as_it_stands() {
    let mut m = flushing(4096, 500);
    let mut lines = Vec::new();
    let mut log = |l: Line<'_>| lines.push((l.bytes.to_vec(), l.partial));
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(10_000)));
    m.handle_input(Instant::from_millis(100), b"Hi ", &mut log);
    m.handle_input(Instant::from_millis(300), b"There", &mut log);
    // The flush deadline counts from the last byte, and comes before the idle one.
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(800)));
    assert_eq!(m.handle_timeout(Instant::from_millis(799), &mut log), None);
    assert_eq!(m.handle_timeout(Instant::from_millis(800), &mut log), None);
    // Flushed once; nothing waits, so only the idle deadline is left.
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(10_300)));
    assert_eq!(m.handle_timeout(Instant::from_millis(900), &mut log), None);
    m.handle_input(Instant::from_millis(1_000), b"Hello world!", &mut log);
    m.handle_timeout(Instant::from_millis(1_500), &mut log);
    m.handle_input(
        Instant::from_millis(2_000),
        b"tail
",
        &mut log,
    );
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(12_000)));
    assert_eq!(m.handle_close(&mut log).lines, 3);
    assert_eq!(
        lines,
        owned(&[("Hi There", true), ("Hello world!", true), ("tail", false)])
    );
}

/// A flush never closes the connection, and both deadlines expiring at once flush first.
#[test]
fn flush_and_idle_together_log_the_line_then_close() {
    let mut m = flushing(4096, 20_000);
    let mut lines = Vec::new();
    m.handle_input(Instant::ZERO, b"abc", |_| {});
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(10_000)));
    let verdict = m.handle_timeout(Instant::from_millis(30_000), |l| {
        lines.push((l.bytes.to_vec(), l.partial))
    });
    assert_eq!(verdict, Some(Reason::Idle));
    assert_eq!(lines, owned(&[("abc", true)]));
    assert_eq!(m.handle_close(|_| panic!("flushed already")).lines, 1);
}

/// A held `\r` is flushed with its line; a `\n` after the flush then ends an empty line.
#[test]
fn flushed_carriage_return_stays_in_its_record() {
    let mut m = flushing(4, 10);
    let mut lines = Vec::new();
    let mut log = |l: Line<'_>| lines.push((l.bytes.to_vec(), l.partial));
    m.handle_input(Instant::ZERO, b"abcde\r", &mut log);
    m.handle_timeout(Instant::from_millis(10), &mut log);
    m.handle_input(Instant::from_millis(20), b"\n", &mut log);
    assert_eq!(lines, owned(&[("abcd", true), ("e\r", true), ("", false)]));
}

/// Off (`0` on the command line) or when lines are not framed: no flush deadline at all.
#[test]
fn no_flush_deadline_when_off_or_not_framing() {
    let mut m = machine(4096);
    m.handle_input(Instant::ZERO, b"abc", |_| {});
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(10_000)));
    let config = Config {
        frame_lines: false,
        ..Config::default()
    };
    let mut m: Machine<Buf> = Machine::new(Instant::ZERO, &config, Buf::new(), Buf::new());
    m.handle_input(Instant::ZERO, b"abc", |_| {});
    assert_eq!(m.poll_timeout(), Some(Instant::from_millis(300_000)));
}
