//! The TCP side: a pool of listening smoltcp sockets standing in for `accept`.
//!
//! smoltcp has no `accept`: a socket in `LISTEN` takes one connection and stops listening.
//! So the pool holds `max_conns + 1` sockets on the port and re-arms each one as its
//! connection ends. The one beyond `max_conns` is what lets an extra client be accepted,
//! logged as `rejected` and closed at once (as the std server does) instead of meeting no
//! listener at all; only a client arriving while that spare is itself busy gets a bare RST.

use managed::ManagedSlice;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, RecvError, State};
use smoltcp::time::{Duration, Instant};

use crate::buffer::{Buffer, NewBuffer};
use crate::record::Reason;
use crate::service::{Connection, Log, Progress, Service, Stream, StreamError, UdpPolicy};

use super::instant;

/// Longest a socket the server closed may wait for the peer's side of the close before it
/// is reset, so a peer that never answers cannot keep a listener from the pool.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// One socket of the pool and what it is doing. The runner lends one per TCP socket
/// ([`Slot::new`]); the connection's buffers live in it while it is served.
#[derive(Debug)]
pub struct Slot<B: Buffer> {
    handle: Option<SocketHandle>,
    phase: Phase<B>,
}

impl<B: Buffer> Slot<B> {
    /// A slot without a socket yet.
    pub const fn new() -> Self {
        Slot {
            handle: None,
            phase: Phase::Listening,
        }
    }
}

impl<B: Buffer> Default for Slot<B> {
    fn default() -> Self {
        Slot::new()
    }
}

#[derive(Debug)]
enum Phase<B: Buffer> {
    /// Listening, or in the handshake.
    Listening,
    /// Serving a connection.
    Serving(Connection<B>),
    /// Closed by the service; waiting for smoltcp to finish the close (FIN exchange or RST).
    Closing { since: Instant },
}

/// The listening sockets and the connections they carry.
#[derive(Debug)]
pub(super) struct Pool<'a, B: Buffer> {
    port: u16,
    slots: ManagedSlice<'a, Slot<B>>,
}

impl<'a, B: NewBuffer> Pool<'a, B> {
    /// Puts one listening socket on `port` in each slot, with the next pair of buffers.
    /// Returns how many slots got one (fewer buffer pairs than slots leave the rest out).
    pub fn new(
        sockets: &mut SocketSet<'a>,
        port: u16,
        mut slots: ManagedSlice<'a, Slot<B>>,
        buffers: impl IntoIterator<Item = (tcp::SocketBuffer<'a>, tcp::SocketBuffer<'a>)>,
    ) -> (Self, usize) {
        let mut used = 0;
        for (slot, (rx, tx)) in slots.iter_mut().zip(buffers) {
            let mut socket = tcp::Socket::new(rx, tx);
            tune(&mut socket);
            // Port 0 is refused by the caller; a fresh socket is CLOSED, so this works.
            let _ = socket.listen(port);
            *slot = Slot {
                handle: Some(sockets.add(socket)),
                phase: Phase::Listening,
            };
            used += 1;
        }
        (Pool { port, slots }, used)
    }

    /// Services every socket after `iface.poll`: accepts new connections, pumps bytes,
    /// closes idle ones, re-arms finished sockets. Returns whether a connection has input
    /// left over its read budget (poll again without sleeping).
    pub fn service<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'a>,
        service: &mut Service<L, S, P>,
    ) -> bool {
        let mut more = false;
        let port = self.port;
        let at = instant(now);
        for slot in self.slots.iter_mut() {
            let Some(handle) = slot.handle else { continue };
            let socket = sockets.get_mut::<tcp::Socket>(handle);
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
                match service.accept(at, peer.into()) {
                    Some(conn) => slot.phase = Phase::Serving(conn),
                    None => {
                        // Over max_conns: `rejected` is logged; close it now (FIN, as the
                        // std server's dropped socket does).
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
                        .then(|| service.pump(at, conn, &mut SmolStream(socket)));
                    let open = !matches!(progress, Some(Progress::Closed(_)));
                    if open && conn.deadline().is_some_and(|d| d <= at) {
                        progress = service.timeout(at, conn).or(progress);
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
}

impl<B: Buffer> Pool<'_, B> {
    /// The connections being served (for the earliest idle deadline).
    pub fn connections(&self) -> impl Iterator<Item = &Connection<B>> {
        self.slots.iter().filter_map(|slot| match &slot.phase {
            Phase::Serving(conn) => Some(conn),
            _ => None,
        })
    }

    /// Shutdown: the service logs each served connection `closed`, then `shutdown`; every
    /// socket is closed: FIN after what is queued for a served one, RST for one in its
    /// handshake.
    pub fn shutdown<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'_>,
        service: &mut Service<L, S, P>,
    ) {
        let served = self.slots.iter_mut().filter_map(|slot| {
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle?);
            match &mut slot.phase {
                Phase::Serving(conn) => {
                    socket.close();
                    Some(conn)
                }
                _ => {
                    socket.abort();
                    None
                }
            }
        });
        service.shutdown(instant(now), served);
        for slot in self.slots.iter_mut() {
            slot.phase = Phase::Closing { since: now };
        }
    }

    /// Whether every socket has finished closing (after [`Pool::shutdown`]).
    pub fn all_closed(&self, sockets: &mut SocketSet<'_>) -> bool {
        self.slots.iter().all(|slot| {
            slot.handle.is_none_or(|handle| {
                let socket = sockets.get_mut::<tcp::Socket>(handle);
                rearmable(socket) || socket.state() == State::Listen
            })
        })
    }
}

/// Low latency over throughput per packet: no Nagle (an echo must not wait for more bytes
/// to come), no delayed ACK (with both on, a 100 KB request/response had a p99 of 45 ms;
/// without, 0.4 ms).
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
fn wants_pump<B: Buffer>(socket: &tcp::Socket<'_>, conn: &Connection<B>) -> bool {
    socket.can_recv() || !socket.may_recv() || (conn.wants_write() && socket.can_send())
}

/// Closes the socket of a connection the service closed: a clean end sends FIN after the
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

/// A smoltcp TCP socket as the service's [`Stream`].
struct SmolStream<'s, 'a>(&'s mut tcp::Socket<'a>);

impl Stream for SmolStream<'_, '_> {
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        match self.0.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => Err(StreamError::WouldBlock),
            Ok(n) => Ok(n),
            // FIN received and everything before it read.
            Err(RecvError::Finished) => Ok(0),
            Err(RecvError::InvalidState) => Err(StreamError::Reset),
        }
    }

    fn send(&mut self, data: &[u8]) -> Result<usize, StreamError> {
        match self.0.send_slice(data) {
            Ok(0) if !data.is_empty() => Err(StreamError::WouldBlock),
            Ok(n) => Ok(n),
            Err(tcp::SendError::InvalidState) => Err(StreamError::Reset),
        }
    }
}
