//! `echo_core::io::serve` over an in-memory `embedded_io` transport that reads in arbitrary
//! chunks and accepts short writes, as a UART or a blocking socket would.

mod common;

use common::{BoxBuf, Logged, reference_lines};
use echo_core::echo::{Config, Machine};
use echo_core::io::{ServeError, serve};
use echo_core::time::Instant;
use embedded_io::{ErrorKind, ErrorType, Read, Write};
use proptest::prelude::*;

/// A peer that sends `input` in chunks of the given sizes and takes writes of at most the
/// given sizes (cycled); it fails a read or takes nothing when told to.
struct Peer {
    input: Vec<u8>,
    read_at: usize,
    reads: Vec<usize>,
    writes: Vec<usize>,
    nr: usize,
    nw: usize,
    output: Vec<u8>,
    flushes: usize,
    fail_read_after: Option<usize>,
    zero_writes: bool,
}

impl Peer {
    fn new(input: Vec<u8>, reads: Vec<usize>, writes: Vec<usize>) -> Self {
        Peer {
            input,
            read_at: 0,
            reads,
            writes,
            nr: 0,
            nw: 0,
            output: Vec::new(),
            flushes: 0,
            fail_read_after: None,
            zero_writes: false,
        }
    }
}

impl ErrorType for Peer {
    type Error = ErrorKind;
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        assert!(!buf.is_empty(), "serve never asks for zero bytes");
        if self.fail_read_after.is_some_and(|n| self.read_at >= n) {
            return Err(ErrorKind::ConnectionReset);
        }
        let want = self.reads[self.nr % self.reads.len()].max(1);
        self.nr += 1;
        let n = want.min(buf.len()).min(self.input.len() - self.read_at);
        buf[..n].copy_from_slice(&self.input[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if self.zero_writes {
            return Ok(0);
        }
        let room = self.writes[self.nw % self.writes.len()].max(1);
        self.nw += 1;
        let n = room.min(buf.len());
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        self.flushes += 1;
        Ok(())
    }
}

fn machine(pending: usize, max_line: usize) -> Machine<BoxBuf> {
    let config = Config {
        max_line,
        ..Config::default()
    };
    Machine::new(
        Instant::ZERO,
        &config,
        BoxBuf::with_capacity(pending),
        BoxBuf::with_capacity(max_line + 2),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Everything read is written back, in order, and logged as the framing rules say.
    #[test]
    fn serve_echoes_everything_and_logs_lines(
        input in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..3000),
        reads in prop::collection::vec(1usize..700, 1..6),
        writes in prop::collection::vec(1usize..700, 1..6),
        pending in 1usize..1500,
        max_line in 1usize..100,
    ) {
        let mut peer = Peer::new(input.clone(), reads, writes);
        let mut m = machine(pending, max_line);
        let mut lines: Vec<Logged> = Vec::new();
        let mut clock = 0;
        let stats = serve(
            &mut peer,
            &mut m,
            || { clock += 1; Instant::from_millis(clock) },
            |l| lines.push((l.bytes.to_vec(), l.partial)),
        );
        let stats = stats.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&peer.output, &input);
        prop_assert_eq!(stats.bytes_in, input.len() as u64);
        prop_assert_eq!(stats.bytes_out, input.len() as u64);
        prop_assert_eq!(stats.lines, lines.len() as u64);
        prop_assert_eq!(lines, reference_lines(&input, max_line));
        prop_assert!(m.is_drained());
    }
}

#[test]
fn transport_errors_are_returned_after_echoing_what_came_before() {
    let mut peer = Peer::new(b"one\ntwo\nthree".to_vec(), vec![4], vec![3]);
    peer.fail_read_after = Some(8);
    let mut m = machine(64, 100);
    let mut lines = Vec::new();
    let r = serve(
        &mut peer,
        &mut m,
        || Instant::ZERO,
        |l| lines.push(l.bytes.to_vec()),
    );
    assert_eq!(r, Err(ServeError::Transport(ErrorKind::ConnectionReset)));
    assert_eq!(peer.output, b"one\ntwo\n");
    assert_eq!(lines, [b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn a_transport_that_takes_nothing_is_an_error_not_a_hang() {
    let mut peer = Peer::new(b"hello\n".to_vec(), vec![10], vec![10]);
    peer.zero_writes = true;
    let mut m = machine(64, 100);
    let r = serve(&mut peer, &mut m, || Instant::ZERO, |_| {});
    assert_eq!(r, Err(ServeError::WriteZero));
    assert_eq!(
        ServeError::<ErrorKind>::WriteZero.to_string(),
        "transport wrote zero bytes"
    );
}

#[test]
fn no_buffer_is_an_error_not_a_hang() {
    let mut peer = Peer::new(b"hello\n".to_vec(), vec![10], vec![10]);
    let mut m = machine(0, 100);
    let r = serve(&mut peer, &mut m, || Instant::ZERO, |_| {});
    assert_eq!(r, Err(ServeError::NoBuffer));
    assert_eq!(peer.read_at, 0);
}

#[test]
fn final_partial_line_is_logged_at_end_of_stream() {
    let mut peer = Peer::new(b"a\r\nno newline".to_vec(), vec![1], vec![1]);
    let mut m = machine(2, 100);
    let mut lines: Vec<Logged> = Vec::new();
    let stats = serve(
        &mut peer,
        &mut m,
        || Instant::ZERO,
        |l| lines.push((l.bytes.to_vec(), l.partial)),
    )
    .unwrap();
    assert_eq!(peer.output, b"a\r\nno newline");
    assert_eq!(
        lines,
        [(b"a".to_vec(), false), (b"no newline".to_vec(), true)]
    );
    assert_eq!(stats.lines, 2);
    assert!(peer.flushes > 0);
}
