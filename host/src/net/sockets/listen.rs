//! Binding: the listeners (one per worker with `SO_REUSEPORT` on Linux, one otherwise),
//! the UDP socket, and which accept errors leave a listener fine.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;

use mio::net::{TcpListener, UdpSocket};

use super::StartError;

/// Listen backlog asked of the kernel (it caps this at `net.core.somaxconn`).
const BACKLOG: i32 = 65_535;

/// Whether each worker gets its own listener on the shared port (the kernel spreads
/// connections over them). Elsewhere one listener's connections are handed to the loops.
pub(super) const PER_WORKER_LISTENERS: bool = cfg!(target_os = "linux");

/// The sockets a server serves: the TCP listeners (one, or one per worker), and UDP.
#[derive(Debug)]
pub(super) struct Bound {
    pub listeners: Vec<TcpListener>,
    pub udp: Option<UdpSocket>,
    pub local: SocketAddr,
}

/// Binds the first of `addrs` that works: `listeners` TCP listeners on it (more than one
/// only with [`PER_WORKER_LISTENERS`]), and UDP on the same port when `udp`.
pub(super) fn bind(addrs: &[SocketAddr], listeners: usize, udp: bool) -> Result<Bound, StartError> {
    let shared = listeners > 1;
    let mut last = None;
    let mut first = None;
    for &addr in addrs {
        match listen(addr, shared, true) {
            Ok(l) => {
                first = Some(l);
                break;
            }
            Err(source) => last = Some(StartError::Bind { addr, source }),
        }
    }
    let Some(first) = first else {
        return Err(last.unwrap_or(StartError::NoAddress));
    };
    let local = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..listeners {
        // The same port (the real one when asked for port 0).
        let l = listen(local, true, false).map_err(|source| StartError::Bind {
            addr: local,
            source,
        })?;
        all.push(l);
    }
    let udp = match udp {
        true => Some(
            UdpSocket::bind(local).map_err(|source| StartError::BindUdp {
                addr: local,
                source,
            })?,
        ),
        false => None,
    };
    Ok(Bound {
        listeners: all,
        udp,
        local,
    })
}

/// A non-blocking listener with SO_REUSEADDR (Unix) and a large backlog; `shared`: with
/// SO_REUSEPORT, for several listeners on one port (Linux); `first`: the first of them.
fn listen(addr: SocketAddr, shared: bool, first: bool) -> io::Result<TcpListener> {
    if shared && first && addr.port() != 0 {
        // SO_REUSEPORT would also let this server join another process's group on the
        // port: first make sure nobody listens there (a plain bind fails if so).
        drop(new_socket(addr, false)?);
    }
    let socket = new_socket(addr, shared)?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// A bound, non-blocking TCP socket, not yet listening.
fn new_socket(addr: SocketAddr, shared: bool) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Unix: rebind at once over connections in TIME_WAIT. Windows does that by default, and
    // there SO_REUSEADDR would let a second server take the same port.
    if cfg!(unix) {
        socket.set_reuse_address(true)?;
    }
    #[cfg(target_os = "linux")]
    if shared {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = shared;
    if addr.is_ipv6() {
        // `::` serves IPv4 too where the system allows; a failure here is harmless.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Accept errors about one connection that leave the listener fine.
pub(super) fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Interrupted | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) || is_eproto(e)
}

/// EPROTO: a protocol error on a connection still in the accept queue (Unix only).
#[cfg(unix)]
fn is_eproto(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EPROTO)
}

#[cfg(not(unix))]
fn is_eproto(_: &io::Error) -> bool {
    false
}
