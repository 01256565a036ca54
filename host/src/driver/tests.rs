//! The driver against a scripted stream: any chunking of reads, any short or blocked sends.

use std::collections::VecDeque;

use echo_core::record::Level;
use proptest::prelude::*;

use super::*;
use crate::server::log::Mode;

/// A scripted non-blocking stream: reads hand out `incoming` in the given chunk sizes,
/// then `WouldBlock` (or end of stream once `eof`); sends take at most `room` bytes.
#[derive(Default)]
struct Script {
    incoming: VecDeque<u8>,
    chunks: VecDeque<usize>,
    eof: bool,
    room: usize,
    sent: Vec<u8>,
}

impl Stream for Script {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.incoming.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(ErrorKind::WouldBlock.into())
            };
        }
        let chunk = self.chunks.pop_front().unwrap_or(usize::MAX).max(1);
        let n = chunk.min(buf.len()).min(self.incoming.len());
        for (slot, byte) in buf.iter_mut().zip(self.incoming.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(self.room);
        self.room -= n;
        self.sent.extend_from_slice(&data[..n]);
        Ok(n)
    }
}

fn service(dir: &tempfile::TempDir) -> Service {
    let log = LogSink::open(Mode::File, &dir.path().join("t.log"), Level::Info).unwrap();
    let settings = Settings {
        echo: echo::Config::default(),
        max_conns: 4,
        udp_rate: 100,
    };
    Service::new(settings, log, Clock::start())
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5555))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the read chunks and however little the socket takes per round, the echo is
    /// the input, in order, and the pending bytes never exceed the cap.
    #[test]
    fn echo_is_exact_under_any_chunking_and_backpressure(
        data in proptest::collection::vec(any::<u8>(), 0..150_000),
        chunks in proptest::collection::vec(1usize..70_000, 0..20),
        rooms in proptest::collection::vec(0usize..100_000, 1..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(&dir);
        let mut conn = svc.accept(peer()).unwrap();
        let mut s = Script {
            incoming: data.iter().copied().collect(),
            chunks: chunks.into_iter().collect(),
            eof: true,
            ..Script::default()
        };
        let mut closed = None;
        for round in 0..10_000usize {
            s.room = rooms[round % rooms.len()].max(usize::from(round >= rooms.len()));
            match svc.pump(&mut conn, &mut s) {
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
    }
}

/// End of stream is acted on only after every pending byte went out.
#[test]
fn eof_waits_for_the_pending_echo() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(&dir);
    let mut conn = svc.accept(peer()).unwrap();
    let mut s = Script {
        incoming: b"hello\n".iter().copied().collect(),
        eof: true,
        room: 2,
        ..Script::default()
    };
    let first = svc.pump(&mut conn, &mut s);
    assert_eq!(
        first,
        Progress::Open {
            wants_write: true,
            more: false
        }
    );
    assert_eq!(s.sent, b"he");
    s.room = 100;
    assert_eq!(svc.pump(&mut conn, &mut s), Progress::Closed(Reason::Eof));
    assert_eq!(s.sent, b"hello\n");
    assert_eq!(svc.totals().echoes, 1);
}

/// A client that always has more to send yields after the budget, asking to be pumped again.
#[test]
fn a_busy_client_yields_after_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(&dir);
    let mut conn = svc.accept(peer()).unwrap();
    let mut s = Script {
        incoming: std::iter::repeat_n(b'x', PUMP_BUDGET * 3).collect(),
        room: usize::MAX,
        ..Script::default()
    };
    let progress = svc.pump(&mut conn, &mut s);
    assert_eq!(
        progress,
        Progress::Open {
            wants_write: false,
            more: true
        }
    );
    assert_eq!(s.sent.len(), PUMP_BUDGET);
    // Everything the socket took came straight from the read buffer: nothing was queued.
    assert_eq!(conn.machine.buffers_mut().0.allocated(), 0);
}

/// Over `--max-conns`, a connection is refused (and counted); a close frees the slot.
#[test]
fn max_conns_is_enforced_and_freed_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(&dir);
    let mut open: Vec<Connection> = (0..4).map(|_| svc.accept(peer()).unwrap()).collect();
    assert!(svc.accept(peer()).is_none());
    assert_eq!(svc.totals().rejected, 1);
    svc.close(&mut open[0], Reason::Eof);
    assert!(svc.accept(peer()).is_some());
}

/// An idle connection must cost at most 512 bytes of server memory (measured: about 205 B of
/// RSS each at 10,000 connections). Its state is most of that: keep it from creeping up.
#[test]
fn idle_connection_state_stays_small() {
    use std::mem::size_of;
    assert!(
        size_of::<Connection>() <= 192,
        "Connection is {} bytes",
        size_of::<Connection>()
    );
}
