//! The service against a scripted stream and a recording log: any chunking of reads, any
//! short or blocked sends, and the records each path writes.

use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::record::Level;
use crate::udp;

/// A scripted non-blocking stream: reads hand out `incoming` in the given chunk sizes,
/// then `WouldBlock` (or end of stream once `eof`); sends take at most `room` bytes.
#[derive(Default)]
struct Script {
    incoming: VecDeque<u8>,
    chunks: VecDeque<usize>,
    eof: bool,
    room: usize,
    sent: Vec<u8>,
    /// Fail every call with this, once set.
    fail: Option<StreamError>,
}

impl Stream for Script {
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        if let Some(e) = self.fail {
            return Err(e);
        }
        if self.incoming.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(StreamError::WouldBlock)
            };
        }
        let chunk = self.chunks.pop_front().unwrap_or(usize::MAX).max(1);
        let n = chunk.min(buf.len()).min(self.incoming.len());
        for (slot, byte) in buf.iter_mut().zip(self.incoming.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn send(&mut self, data: &[u8]) -> Result<usize, StreamError> {
        if let Some(e) = self.fail {
            return Err(e);
        }
        if self.room == 0 {
            return Err(StreamError::WouldBlock);
        }
        let n = data.len().min(self.room);
        self.room -= n;
        self.sent.extend_from_slice(&data[..n]);
        Ok(n)
    }
}

/// Keeps every record written, as its JSON line; the wall clock counts from 1970 as a
/// device's does.
struct Recorder {
    level: Level,
    lines: Vec<String>,
}

impl Log for Recorder {
    fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    fn write_always(&mut self, record: &Record<'_>) {
        let mut buf = std::vec![0; record.max_formatted_len()];
        let n = record.format(&mut buf).expect("fits");
        self.lines
            .push(String::from_utf8(buf[..n].to_vec()).expect("utf-8"));
    }

    fn timestamp(&mut self, now: Instant) -> Timestamp {
        Timestamp::from_unix_millis(now.millis())
    }
}

/// A [`Buffer`] that grows on the heap up to its capacity (as the host's does).
#[derive(Debug, Default)]
struct Fifo {
    cap: usize,
    contiguous: Vec<u8>,
}

impl Buffer for Fifo {
    fn as_slice(&self) -> &[u8] {
        &self.contiguous
    }
    fn capacity(&self) -> usize {
        self.cap
    }
    fn extend_up_to(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.cap - self.contiguous.len());
        self.contiguous.extend_from_slice(&bytes[..n]);
        n
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.contiguous.len());
        self.contiguous.drain(..n);
    }
}

impl NewBuffer for Fifo {
    fn with_capacity(cap: usize) -> Self {
        Fifo {
            cap,
            ..Fifo::default()
        }
    }
}

type Svc = Service<Recorder, Vec<u8>, udp::Policy<16>>;

fn service_at(level: Level, max_conns: usize) -> Svc {
    let settings = Settings {
        echo: echo::Config::default(),
        max_conns,
        udp_rate: 100,
    };
    let log = Recorder {
        level,
        lines: Vec::new(),
    };
    Service::new(
        settings,
        log,
        std::vec![0; PENDING_CAP.max(crate::udp::MAX_DATAGRAM + 1)],
        udp::Policy::new(100),
    )
}

fn service() -> Svc {
    service_at(Level::Info, 4)
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5555))
}

const T0: Instant = Instant::from_millis(1_000);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the read chunks and however little the stream takes per round, the echo is
    /// the input, in order, and the pending bytes never exceed the cap.
    #[test]
    fn echo_is_exact_under_any_chunking_and_backpressure(
        data in proptest::collection::vec(any::<u8>(), 0..150_000),
        chunks in proptest::collection::vec(1usize..70_000, 0..20),
        rooms in proptest::collection::vec(0usize..100_000, 1..20),
    ) {
        let mut svc = service();
        let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
        let mut s = Script {
            incoming: data.iter().copied().collect(),
            chunks: chunks.into_iter().collect(),
            eof: true,
            ..Script::default()
        };
        let mut closed = None;
        for round in 0..10_000usize {
            s.room = rooms[round % rooms.len()].max(usize::from(round >= rooms.len()));
            match svc.pump(T0, &mut conn, &mut s) {
                Progress::Open { wants_write, .. } => {
                    prop_assert_eq!(wants_write, conn.wants_write());
                    prop_assert!(conn.machine.poll_transmit().len() <= PENDING_CAP);
                }
                Progress::Closed(reason) => {
                    closed = Some(reason);
                    break;
                }
            }
        }
        prop_assert_eq!(closed, Some(Reason::Eof));
        prop_assert!(s.sent == data, "echo differs from input");
        prop_assert_eq!(svc.bytes(), (data.len() as u64, data.len() as u64));
    }
}

/// End of stream is acted on only after every pending byte went out.
#[test]
fn eof_waits_for_the_pending_echo() {
    let mut svc = service();
    let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
    let mut s = Script {
        incoming: b"hello\n".iter().copied().collect(),
        eof: true,
        room: 2,
        ..Script::default()
    };
    let first = svc.pump(T0, &mut conn, &mut s);
    assert_eq!(
        first,
        Progress::Open {
            wants_write: true,
            more: false
        }
    );
    assert_eq!(s.sent, b"he");
    s.room = 100;
    assert_eq!(
        svc.pump(T0, &mut conn, &mut s),
        Progress::Closed(Reason::Eof)
    );
    assert_eq!(s.sent, b"hello\n");
    assert_eq!(svc.totals().echoes, 1);
}

/// A client that always has more to send yields after the budget, asking to be pumped again.
#[test]
fn a_busy_client_yields_after_the_budget() {
    let mut svc = service();
    let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
    let mut s = Script {
        incoming: std::iter::repeat_n(b'x', PUMP_BUDGET * 3).collect(),
        room: usize::MAX,
        ..Script::default()
    };
    let progress = svc.pump(T0, &mut conn, &mut s);
    assert_eq!(
        progress,
        Progress::Open {
            wants_write: false,
            more: true
        }
    );
    assert_eq!(s.sent.len(), PUMP_BUDGET);
    // Everything the stream took came straight from the read buffer: nothing was queued.
    assert!(conn.machine_mut().buffers_mut().0.contiguous.is_empty());
}

/// Over `--max-conns`, a connection is refused (and counted); a close frees the slot.
#[test]
fn max_conns_is_enforced_and_freed_on_close() {
    let mut svc = service();
    let mut open: Vec<Connection<Fifo>> = (0..4).map(|_| svc.accept(T0, peer()).unwrap()).collect();
    assert!(svc.accept::<Fifo>(T0, peer()).is_none());
    assert_eq!(svc.totals().rejected, 1);
    assert_eq!(svc.open_connections(), 4);
    svc.close(T0, open.remove(0), Reason::Eof);
    let next: Connection<Fifo> = svc.accept(T0, peer()).expect("a slot is free");
    // Numbers go on counting: the rejected one had number 5.
    assert_eq!(next.id(), 6);
    let log = &svc.log().lines;
    assert!(log[4].contains(r#""event":"rejected","conn":5,"peer":"127.0.0.1:5555","proto":"tcp","reason":"max_conns""#), "{}", log[4]);
}

/// The records of one connection's life, byte for byte, stamped from the runner's clock.
#[test]
fn a_connection_logs_connected_echo_partial_and_closed() {
    let mut svc = service();
    svc.listening(
        Instant::ZERO,
        SocketAddr::from(([192, 168, 69, 1], 7777)),
        Proto::Tcp,
    );
    let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
    let mut s = Script {
        incoming: b"Hi There\ntail".iter().copied().collect(),
        eof: true,
        room: usize::MAX,
        ..Script::default()
    };
    assert_eq!(
        svc.pump(Instant::from_millis(1_500), &mut conn, &mut s),
        Progress::Closed(Reason::Eof)
    );
    svc.shutdown::<Fifo>(Instant::from_millis(2_000), []);
    let lines = &svc.log().lines;
    let expected = [
        r#"{"ts":"1970-01-01T00:00:00.000Z","level":"INFO","event":"listening","proto":"tcp","addr":"192.168.69.1:7777"}"#,
        r#"{"ts":"1970-01-01T00:00:01.000Z","level":"INFO","event":"connected","conn":1,"peer":"127.0.0.1:5555","proto":"tcp"}"#,
        r#"{"ts":"1970-01-01T00:00:01.500Z","level":"INFO","event":"echo","conn":1,"peer":"127.0.0.1:5555","msg":"Hi There"}"#,
        r#"{"ts":"1970-01-01T00:00:01.500Z","level":"INFO","event":"echo","conn":1,"peer":"127.0.0.1:5555","msg":"tail","partial":true}"#,
        r#"{"ts":"1970-01-01T00:00:01.500Z","level":"INFO","event":"closed","conn":1,"peer":"127.0.0.1:5555","reason":"eof","bytes_in":13,"bytes_out":13}"#,
    ];
    for (got, want) in lines.iter().zip(expected) {
        assert_eq!(got.trim_end(), want);
    }
    assert!(lines[5].contains(r#""event":"shutdown""#), "{}", lines[5]);
    assert!(
        lines[5].contains(r#""bytes_in":13,"bytes_out":13"#),
        "{}",
        lines[5]
    );
}

/// Stream errors close the connection with the reason a user reads: reset or error.
#[test]
fn stream_errors_close_with_their_reason() {
    for (error, reason) in [
        (StreamError::Reset, Reason::Reset),
        (StreamError::Other, Reason::Error),
    ] {
        let mut svc = service();
        let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
        let mut s = Script {
            fail: Some(error),
            ..Script::default()
        };
        assert_eq!(svc.pump(T0, &mut conn, &mut s), Progress::Closed(reason));
        assert_eq!(svc.open_connections(), 0);
    }
}

/// The idle deadline comes from the machine: nothing before it, `closed idle` at it.
#[test]
fn idle_connections_close_at_their_deadline() {
    let mut svc = service();
    let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
    let deadline = conn.deadline().expect("default idle timeout");
    assert_eq!(svc.poll_timeout([&conn]), Some(deadline));
    assert_eq!(
        svc.timeout(Instant::from_millis(deadline.millis() - 1), &mut conn),
        None
    );
    assert_eq!(
        svc.timeout(deadline, &mut conn),
        Some(Progress::Closed(Reason::Idle))
    );
    assert!(svc.log().lines[1].contains(r#""reason":"idle""#));
}

/// Below INFO nothing is framed or formatted; connections and bytes are still counted, and
/// `echoes` (echo records written) is 0 for TCP and UDP alike.
#[test]
fn at_warn_only_rejections_are_written() {
    let mut svc = service_at(Level::Warn, 1);
    let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
    assert!(svc.accept::<Fifo>(T0, peer()).is_none());
    let mut s = Script {
        incoming: b"a\nb\n".iter().copied().collect(),
        eof: true,
        room: usize::MAX,
        ..Script::default()
    };
    svc.pump(T0, &mut conn, &mut s);
    assert!(svc.datagram(T0, SocketAddr::from(([10, 0, 0, 1], 4000)), b"x"));
    let lines = &svc.log().lines;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("rejected"));
    assert_eq!(svc.totals().conns, 1);
    assert_eq!(svc.totals().echoes, 0, "no echo record was written");
    assert_eq!(svc.bytes(), (5, 5), "4 TCP bytes and 1 UDP byte in, echoed");
}

/// Datagrams: answered ones are logged in `max_line` pieces; refused ones are counted by
/// reason and logged at DEBUG.
#[test]
fn datagrams_are_answered_or_refused_by_the_policy() {
    let mut svc = service_at(Level::Debug, 4);
    let client = SocketAddr::from(([10, 0, 0, 1], 4000));
    assert!(svc.datagram(T0, client, b"ping"));
    assert!(!svc.datagram(T0, SocketAddr::from(([10, 0, 0, 1], 53)), b"dns"));
    svc.datagram_buffer()[..3].copy_from_slice(b"abc");
    assert!(svc.datagram_in_scratch(T0, client, 3));
    assert!(!svc.datagram_in_scratch(T0, SocketAddr::from(([10, 0, 0, 2], 7)), 3));
    let t = svc.totals();
    assert_eq!((t.echoes, t.refused_port), (2, 2));
    let lines = &svc.log().lines;
    assert!(
        lines[0].contains(r#""event":"echo","peer":"10.0.0.1:4000","proto":"udp","msg":"ping""#),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(r#""level":"DEBUG","event":"refused","peer":"10.0.0.1:53","proto":"udp","reason":"port""#), "{}", lines[1]);
    assert!(lines[2].contains(r#""msg":"abc""#), "{}", lines[2]);
}

/// An empty scratch buffer cannot read anything: the connection closes instead of spinning.
#[test]
fn an_empty_scratch_buffer_closes_instead_of_spinning() {
    let settings = Settings {
        echo: echo::Config::default(),
        max_conns: 1,
        udp_rate: 0,
    };
    let log = Recorder {
        level: Level::Info,
        lines: Vec::new(),
    };
    let mut svc = Service::new(settings, log, [0u8; 0], udp::Policy::<1>::new(0));
    let mut conn: Connection<heapless::Vec<u8, 64>> = svc.accept(T0, peer()).unwrap();
    let mut s = Script {
        incoming: b"x".iter().copied().collect(),
        room: 10,
        ..Script::default()
    };
    assert_eq!(
        svc.pump(T0, &mut conn, &mut s),
        Progress::Closed(Reason::Error)
    );
}

/// A device's fixed buffers: the longest line shrinks to what the line buffer holds.
#[test]
fn fixed_buffers_serve_with_lines_cut_to_fit() {
    let mut svc = service();
    let mut conn: Connection<heapless::Vec<u8, 8>> = svc.accept(T0, peer()).unwrap();
    let data = b"0123456789\n";
    let mut s = Script {
        incoming: data.iter().copied().collect(),
        eof: true,
        room: 3,
        ..Script::default()
    };
    for _ in 0..100 {
        s.room = 3;
        if let Progress::Closed(r) = svc.pump(T0, &mut conn, &mut s) {
            assert_eq!(r, Reason::Eof);
            break;
        }
    }
    assert_eq!(s.sent, data);
    let echoes: Vec<&String> = svc
        .log()
        .lines
        .iter()
        .filter(|l| l.contains("\"echo\""))
        .collect();
    assert!(
        echoes[0].contains(r#""msg":"012345","partial":true"#),
        "{echoes:?}"
    );
}

/// `Settings::udp_rate` is the rate in force, whatever the lent policy was built with.
#[test]
fn the_settings_udp_rate_is_the_policy_rate() {
    let settings = Settings {
        udp_rate: 1,
        ..Settings::default()
    };
    let log = Recorder {
        level: Level::Info,
        lines: Vec::new(),
    };
    let scratch = std::vec![0; 64];
    let mut svc = Service::new(settings, log, scratch, udp::Policy::<4>::new(0));
    let client = SocketAddr::from(([10, 0, 0, 1], 4000));
    assert!(svc.datagram(T0, client, b"a"));
    assert!(
        !svc.datagram(T0, client, b"b"),
        "rate 1: the second is refused"
    );
    assert_eq!(svc.totals().refused_rate, 1);
}

/// A connection the service closed (here: end of stream in a pump) is never closed or
/// counted again: a second close writes nothing and frees no second slot.
#[test]
fn a_closed_connection_is_not_closed_twice() {
    let mut svc = service_at(Level::Info, 1);
    let mut conn: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
    let mut eof = Script {
        eof: true,
        ..Script::default()
    };
    assert_eq!(
        svc.pump(T0, &mut conn, &mut eof),
        Progress::Closed(Reason::Eof)
    );
    assert!(conn.is_closed());
    let lines = svc.log().lines.len();
    assert_eq!(svc.open_connections(), 0);
    svc.close(T0, conn, Reason::Error);
    assert_eq!(svc.log().lines.len(), lines, "no second closed record");
    assert_eq!(svc.open_connections(), 0);
    // The one slot is free exactly once.
    let _a: Connection<Fifo> = svc.accept(T0, peer()).expect("slot free");
    assert!(svc.accept::<Fifo>(T0, peer()).is_none());
}

/// A worker's counts added into another's give the sums in `shutdown`.
#[test]
fn absorbed_counts_are_summed_in_shutdown() {
    let mut a = service();
    let mut b = service();
    for svc in [&mut a, &mut b] {
        let c: Connection<Fifo> = svc.accept(T0, peer()).unwrap();
        svc.close(T0, c, Reason::Eof);
        assert!(svc.datagram(T0, SocketAddr::from(([10, 0, 0, 1], 4000)), b"xy"));
    }
    a.absorb(&b.counts());
    a.shutdown::<Fifo>(T0, []);
    let last = a.log().lines.last().unwrap();
    assert!(last.contains(r#""conns":2"#), "{last}");
    assert!(last.contains(r#""bytes_in":4"#), "{last}");
}
