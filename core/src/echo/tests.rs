use std::vec::Vec;

use super::*;

type Buf = heapless::Vec<u8, 64>;

fn machine(max_line: usize) -> Machine<Buf> {
    let config = Config {
        max_line,
        idle_timeout: Some(Duration::from_secs(10)),
        frame_lines: true,
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
    assert_eq!(m.handle_timeout(Instant::from_millis(9_999)), None);
    m.handle_input(Instant::from_millis(5_000), b"x", |_| {});
    assert_eq!(m.handle_timeout(Instant::from_millis(10_000)), None);
    assert_eq!(
        m.handle_timeout(Instant::from_millis(15_000)),
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
