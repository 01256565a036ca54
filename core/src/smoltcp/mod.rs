//! The smoltcp runner, once for every device: `echokit server --tap` on a PC and the
//! firmware on a microcontroller run this very code.
//!
//! [`Stack`] owns a smoltcp [`Interface`], its sockets (a pool of listening TCP sockets, see
//! `pool`, and one UDP socket) and feeds them to a [`Service`], one round at a time:
//!
//! ```text
//! let mut stack = Stack::new(options, config, &mut device, now, storage)?;
//! stack.announce(&mut service, now);                 // `listening` records
//! loop {
//!     let more = stack.poll(now, &mut device, &mut service);
//!     // runner: flush its device and log; sleep until a frame comes, at most
//!     // stack.delay(now, &service) (zero when `more`)
//! }
//! stack.shutdown(now, &mut service);                 // `closed` for each, `shutdown`
//! while !stack.closed() { stack.drain(now, &mut device); ... }   // let the FINs out
//! ```
//!
//! No allocation: the runner lends every byte ([`Storage`]): socket storage, a pool slot
//! and a pair of TCP buffers per socket, the UDP packet buffers. A PC lends `Vec`s (smoltcp's
//! `alloc` feature makes them [`ManagedSlice`]s), a device lends static arrays.
//! [`WindowEdge`] wraps a device with the receive-window workaround.

mod pool;
pub mod segment;
mod window_edge;

use core::fmt;
use core::net::SocketAddr;

pub use managed::ManagedSlice;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpCidr};

use crate::buffer::{Buffer, NewBuffer};
use crate::record::Proto;
use crate::service::{Log, Service, UdpPolicy};
use crate::time;

pub use pool::Slot;
pub use window_edge::{Edges, FlowSlot, RxToken, TxToken, WindowEdge};

/// Longest [`Stack::delay`] with nothing to do, so a shutdown request is seen promptly.
pub const MAX_WAIT: Duration = Duration::from_millis(50);

/// What the stack serves and where.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// smoltcp's own address and subnet.
    pub cidr: IpCidr,
    /// Default route.
    pub gateway: Option<IpAddress>,
    /// TCP (and UDP) port; not 0.
    pub port: u16,
}

/// The memory the runner lends the stack. One TCP socket is made per pool slot (give
/// `max_conns + 1`: the spare one accepts a client over the limit to log it `rejected`),
/// each with the next pair of buffers from `tcp` (receive, send); `sockets` needs room for
/// them and the UDP socket.
pub struct Storage<'a, B: Buffer, T> {
    /// smoltcp's socket storage ([`SocketStorage::EMPTY`] each).
    pub sockets: ManagedSlice<'a, SocketStorage<'a>>,
    /// One per TCP socket ([`Slot::new`] each).
    pub slots: ManagedSlice<'a, Slot<B>>,
    /// Receive and send buffer of each TCP socket, e.g. `tcp::SocketBuffer::new(&mut
    /// RX[i][..])`: at least one pair per slot.
    pub tcp: T,
    /// The UDP socket's receive and send packet buffers; `None`: no UDP echo.
    pub udp: Option<(udp::PacketBuffer<'a>, udp::PacketBuffer<'a>)>,
}

/// Why the stack could not be set up; each says what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupError {
    /// Port 0: smoltcp cannot pick a free port.
    PortZero,
    /// smoltcp's address table is full (see its `iface-max-addr-count-*` features).
    NoAddressRoom,
    /// The gateway is not of the address's IP version.
    GatewayVersion,
    /// smoltcp's route table is full.
    RouteTableFull,
    /// Fewer TCP buffer pairs than pool slots, or no slot at all.
    TooFewBuffers,
    /// The socket storage cannot hold every TCP socket and the UDP socket.
    TooFewSockets,
    /// The UDP socket could not bind the port.
    UdpBind,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetupError::PortZero => "smoltcp needs a fixed port: it cannot pick a free one",
            SetupError::NoAddressRoom => "smoltcp has no room for the address",
            SetupError::GatewayVersion => {
                "the gateway is not of the same IP version as the address"
            }
            SetupError::RouteTableFull => "smoltcp's route table is full",
            SetupError::TooFewBuffers => "fewer TCP buffers than sockets",
            SetupError::TooFewSockets => "the socket storage is too small for every socket",
            SetupError::UdpBind => "cannot bind the UDP port",
        })
    }
}

impl core::error::Error for SetupError {}

/// The interface, its sockets and the TCP pool.
pub struct Stack<'a, B: Buffer> {
    iface: Interface,
    sockets: SocketSet<'a>,
    pool: pool::Pool<'a, B>,
    udp: Option<SocketHandle>,
    addr: SocketAddr,
}

impl<'a, B: NewBuffer> Stack<'a, B> {
    /// An interface on `device` with `options`' address, route and sockets, in `storage`.
    pub fn new<T>(
        options: &Options,
        config: Config,
        device: &mut impl Device,
        now: Instant,
        storage: Storage<'a, B, T>,
    ) -> Result<Self, SetupError>
    where
        T: IntoIterator<Item = (tcp::SocketBuffer<'a>, tcp::SocketBuffer<'a>)>,
    {
        if options.port == 0 {
            return Err(SetupError::PortZero);
        }
        let slots = storage.slots.len();
        let needed = slots + usize::from(storage.udp.is_some());
        #[allow(unreachable_patterns)] // `Owned` exists only with smoltcp's `alloc`.
        let room = match &storage.sockets {
            ManagedSlice::Borrowed(s) => s.len(),
            _ => usize::MAX,
        };
        if room < needed {
            return Err(SetupError::TooFewSockets);
        }
        let mut iface = Interface::new(config, device, now);
        let cidr = options.cidr;
        let mut pushed = Ok(());
        iface.update_ip_addrs(|addrs| pushed = addrs.push(cidr));
        pushed.map_err(|_| SetupError::NoAddressRoom)?;
        if let Some(gateway) = options.gateway {
            add_route(&mut iface, gateway, cidr.address())?;
        }
        let mut sockets = SocketSet::new(storage.sockets);
        let (pool, made) = pool::Pool::new(&mut sockets, options.port, storage.slots, storage.tcp);
        if made < slots || slots == 0 {
            return Err(SetupError::TooFewBuffers);
        }
        let udp = match storage.udp {
            Some((rx, tx)) => {
                let mut socket = udp::Socket::new(rx, tx);
                socket.bind(options.port).map_err(|_| SetupError::UdpBind)?;
                Some(sockets.add(socket))
            }
            None => None,
        };
        Ok(Stack {
            iface,
            sockets,
            pool,
            udp,
            addr: SocketAddr::new(cidr.address().into(), options.port),
        })
    }

    /// Logs `listening` for each protocol served.
    pub fn announce<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &self,
        now: Instant,
        service: &mut Service<L, S, P>,
    ) {
        service.listening(instant(now), self.addr, Proto::Tcp);
        if self.udp.is_some() {
            service.listening(instant(now), self.addr, Proto::Udp);
        }
    }

    /// One round: frames in and out, then every socket serviced. Returns whether work is
    /// left that should not wait for the device (a connection over its read budget).
    pub fn poll<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        device: &mut impl Device,
        service: &mut Service<L, S, P>,
    ) -> bool {
        self.iface.poll(now, device, &mut self.sockets);
        let more = self.pool.service(now, &mut self.sockets, service);
        if let Some(handle) = self.udp {
            serve_udp(&mut self.sockets, handle, now, service);
        }
        more
    }
}

impl<'a, B: Buffer> Stack<'a, B> {
    /// The address served (`listening`'s `addr`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How long the runner may wait for the device before the next [`Stack::poll`]: the
    /// sooner of smoltcp's timers, an idle deadline and [`MAX_WAIT`].
    pub fn delay<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        service: &Service<L, S, P>,
    ) -> Duration {
        let mut delay = MAX_WAIT;
        if let Some(d) = self.iface.poll_delay(now, &self.sockets) {
            delay = delay.min(d);
        }
        if let Some(at) = service.poll_timeout(self.pool.connections()) {
            delay = delay.min(at.saturating_duration_since(now.into()).into());
        }
        delay
    }

    /// Stops serving: closes every connection (the service logs them and `shutdown`).
    /// Keep calling [`Stack::drain`] until [`Stack::closed`] so the FINs go out.
    pub fn shutdown<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        service: &mut Service<L, S, P>,
    ) {
        if let Some(handle) = self.udp {
            self.sockets.get_mut::<udp::Socket>(handle).close();
        }
        self.pool.shutdown(now, &mut self.sockets, service);
    }

    /// After [`Stack::shutdown`]: moves frames only (the closing sockets finish on their
    /// own; nothing is accepted). Returns how long to wait for the device.
    pub fn drain(&mut self, now: Instant, device: &mut impl Device) -> Duration {
        self.iface.poll(now, device, &mut self.sockets);
        self.iface
            .poll_delay(now, &self.sockets)
            .unwrap_or(MAX_WAIT)
    }

    /// Whether every TCP socket has finished closing (after [`Stack::shutdown`]).
    pub fn closed(&mut self) -> bool {
        self.pool.all_closed(&mut self.sockets)
    }

    /// The interface and sockets, e.g. to run test clients beside the server.
    pub fn parts(&mut self) -> (&mut Interface, &mut SocketSet<'a>) {
        (&mut self.iface, &mut self.sockets)
    }
}

/// smoltcp's time as the service's (milliseconds, from the same origin): the conversion
/// `echo_core::time` defines both ways (`From`), as a function.
pub fn instant(now: Instant) -> time::Instant {
    now.into()
}

/// The default route through `gateway`, of the same IP version as `addr`.
fn add_route(iface: &mut Interface, gateway: IpAddress, addr: IpAddress) -> Result<(), SetupError> {
    let added = match (gateway, addr) {
        (IpAddress::Ipv4(gw), IpAddress::Ipv4(_)) => iface.routes_mut().add_default_ipv4_route(gw),
        #[cfg(feature = "ipv6")]
        (IpAddress::Ipv6(gw), IpAddress::Ipv6(_)) => iface.routes_mut().add_default_ipv6_route(gw),
        #[allow(unreachable_patterns)] // With IPv4 only, the arm above covers everything.
        _ => return Err(SetupError::GatewayVersion),
    };
    added.map(|_| ()).map_err(|_| SetupError::RouteTableFull)
}

/// Answers queued datagrams as the service decides. Each is received into the service's
/// scratch buffer (a datagram longer than it is dropped by smoltcp) and sent back from it.
fn serve_udp<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
    sockets: &mut SocketSet<'_>,
    handle: SocketHandle,
    now: Instant,
    service: &mut Service<L, S, P>,
) {
    let socket = sockets.get_mut::<udp::Socket>(handle);
    loop {
        let (len, meta) = match socket.recv_slice(service.datagram_buffer()) {
            Ok(got) => got,
            Err(udp::RecvError::Truncated) => continue,
            Err(udp::RecvError::Exhausted) => return,
        };
        let source = SocketAddr::from(meta.endpoint);
        if service.datagram_in_scratch(instant(now), source, len) {
            // The reply leaves from the address the datagram came to. A full send buffer
            // drops it, as a congested network would.
            let _ = socket.send_slice(&service.datagram_buffer()[..len], meta);
        }
    }
}

#[cfg(test)]
mod tests;
