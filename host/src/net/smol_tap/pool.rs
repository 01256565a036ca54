//! The TCP side: a pool of listening smoltcp sockets standing in for `accept`.
//!
//! smoltcp has no `accept`: a socket in `LISTEN` takes one connection and stops listening.
//! So the pool holds `--max-conns + 1` sockets on the port and re-arms each one as its
//! connection ends. The one beyond `--max-conns` is what lets an extra client be accepted,
//! logged as `rejected` and closed at once (as the std server does) instead of meeting no
//! listener at all; only a client arriving while that spare is itself busy gets a bare RST.

use std::io::{self, ErrorKind};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, RecvError, State};
use smoltcp::time::{Duration, Instant};

use echo_core::record::Reason;

use crate::driver::{Connection, Progress, Service, Stream};

/// Longest a socket the server closed may wait for the peer's side of the close before it
/// is reset, so a peer that never answers cannot keep a listener from the pool.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// One socket of the pool and what it is doing.
#[derive(Debug)]
struct Slot {
    handle: SocketHandle,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Listening, or in the handshake.
    Listening,
    /// Serving a connection.
    Serving(Connection),
    /// Closed by the driver; waiting for smoltcp to finish the close (FIN exchange or RST).
    Closing { since: Instant },
}

/// The listening sockets and the connections they carry.
#[derive(Debug)]
pub struct Pool {
    port: u16,
    /// Receive buffer bytes per socket.
    buffer: usize,
    slots: Vec<Slot>,
}

impl Pool {
    /// Adds `size` sockets listening on `port` to `sockets`, each with `buffer` bytes to
    /// receive and as many to send.
    pub fn new(sockets: &mut SocketSet<'_>, port: u16, size: usize, buffer: usize) -> Self {
        let slots = (0..size)
            .map(|_| {
                let mut socket = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; buffer]),
                    tcp::SocketBuffer::new(vec![0; buffer]),
                );
                tune(&mut socket);
                // Port 0 is refused by the caller; a fresh socket is CLOSED, so this works.
                let _ = socket.listen(port);
                Slot {
                    handle: sockets.add(socket),
                    phase: Phase::Listening,
                }
            })
            .collect();
        Pool {
            port,
            buffer,
            slots,
        }
    }

    /// Services every socket after `iface.poll`: accepts new connections, pumps bytes,
    /// closes idle ones, re-arms finished sockets. Returns whether a connection has input
    /// left over its read budget (poll again without sleeping).
    pub fn service(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'_>,
        service: &mut Service,
    ) -> bool {
        let mut more = false;
        let port = self.port;
        for slot in &mut self.slots {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            if let Phase::Listening = slot.phase {
                if !established(socket) {
                    if !socket.is_open() {
                        // Reset in the handshake, or otherwise fell out of LISTEN.
                        let _ = socket.listen(port);
                    }
                    continue;
                }
                let Some(peer) = socket.remote_endpoint() else {
                    continue;
                };
                match service.accept(peer.into()) {
                    Some(conn) => slot.phase = Phase::Serving(conn),
                    None => {
                        // Over --max-conns: `rejected` is logged; close it now (FIN, as
                        // the std server's dropped socket does).
                        socket.close();
                        slot.phase = Phase::Closing { since: now };
                        continue;
                    }
                }
            }
            match &mut slot.phase {
                Phase::Listening => {}
                Phase::Serving(conn) => {
                    // Bytes first: input that arrived is activity, not idleness.
                    let mut progress = wants_pump(socket, conn)
                        .then(|| service.pump(conn, &mut SmolStream(socket)));
                    let open = !matches!(progress, Some(Progress::Closed(_)));
                    if open && conn.deadline().is_some_and(|at| at <= service.now()) {
                        progress = service.timeout(conn).or(progress);
                    }
                    match progress {
                        Some(Progress::Closed(reason)) => {
                            end(socket, reason);
                            slot.phase = Phase::Closing { since: now };
                        }
                        Some(Progress::Open { more: true, .. }) => more = true,
                        _ => {}
                    }
                }
                Phase::Closing { since } => {
                    if rearmable(socket) {
                        let _ = socket.listen(port);
                        slot.phase = Phase::Listening;
                    } else if now - *since > CLOSE_LINGER {
                        socket.abort();
                    }
                }
            }
        }
        more
    }

    /// The receive windows of all sockets together: what the peers may have in flight.
    pub fn window_bytes(&self) -> usize {
        self.buffer.saturating_mul(self.slots.len())
    }

    /// The connections being served (for the earliest idle deadline).
    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.slots.iter().filter_map(|slot| match &slot.phase {
            Phase::Serving(conn) => Some(conn),
            _ => None,
        })
    }

    /// Shutdown: hands the served connections to `service` (which logs each `closed`,
    /// then `shutdown`) and closes every socket: FIN after what is queued for a served
    /// one, RST for one in its handshake. Returns what [`Service::shutdown`] returns.
    pub fn shutdown(&mut self, sockets: &mut SocketSet<'_>, service: &mut Service) -> u64 {
        let mut open = Vec::new();
        for slot in &mut self.slots {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            let phase = std::mem::replace(
                &mut slot.phase,
                Phase::Closing {
                    since: Instant::ZERO,
                },
            );
            match phase {
                Phase::Serving(conn) => {
                    socket.close();
                    open.push(conn);
                }
                _ => socket.abort(),
            }
        }
        service.shutdown(&mut open)
    }

    /// Whether every socket has finished closing (after [`Pool::shutdown`]).
    pub fn all_closed(&self, sockets: &mut SocketSet<'_>) -> bool {
        self.slots.iter().all(|slot| {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            rearmable(socket) || socket.state() == State::Listen
        })
    }
}

/// Low latency over throughput per packet: no Nagle (an echo must not wait for more bytes
/// to come), no delayed ACK (with both on, a 100 KB request/response had a p99 of 45 ms;
/// without, 0.4 ms: RECIPES.md).
fn tune(socket: &mut tcp::Socket<'_>) {
    socket.set_nagle_enabled(false);
    socket.set_ack_delay(None);
}

/// Whether a pooled socket has finished its handshake (it may already have data and FIN).
fn established(socket: &tcp::Socket<'_>) -> bool {
    !matches!(
        socket.state(),
        State::Listen | State::SynReceived | State::Closed | State::TimeWait
    )
}

/// Whether pumping can change anything: input or end of stream to read, or pending
/// output that now fits.
fn wants_pump(socket: &tcp::Socket<'_>, conn: &Connection) -> bool {
    socket.can_recv() || !socket.may_recv() || (conn.wants_write() && socket.can_send())
}

/// Closes the socket of a connection the driver closed: a clean end sends FIN after the
/// queued echo; a broken one is reset.
fn end(socket: &mut tcp::Socket<'_>, reason: Reason) {
    match reason {
        Reason::Eof | Reason::Idle | Reason::Shutdown => socket.close(),
        _ => socket.abort(),
    }
}

/// Whether a closing socket may listen again: fully closed with its RST sent, or in
/// TIME-WAIT (whose 10 s would otherwise keep a listener from the pool; a late FIN from
/// the peer then gets a RST, which is harmless).
fn rearmable(socket: &tcp::Socket<'_>) -> bool {
    match socket.state() {
        State::TimeWait => true,
        State::Closed => socket.remote_endpoint().is_none(),
        _ => false,
    }
}

/// A smoltcp TCP socket as the driver's [`Stream`].
struct SmolStream<'s, 'a>(&'s mut tcp::Socket<'a>);

impl Stream for SmolStream<'_, '_> {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => Err(ErrorKind::WouldBlock.into()),
            Ok(n) => Ok(n),
            // FIN received and everything before it read.
            Err(RecvError::Finished) => Ok(0),
            Err(RecvError::InvalidState) => Err(ErrorKind::ConnectionReset.into()),
        }
    }

    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.0.send_slice(data) {
            Ok(0) if !data.is_empty() => Err(ErrorKind::WouldBlock.into()),
            Ok(n) => Ok(n),
            Err(tcp::SendError::InvalidState) => Err(ErrorKind::ConnectionReset.into()),
        }
    }
}
