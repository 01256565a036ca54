//! Every byte the stack, the service and the log use: static arrays, lent once to [`run`]
//! (nothing is allocated). Their sizes are the RAM budget: 64 KiB with the stack (see the
//! board's `memory.x` and README "Footprint").
//!
//! [`run`]: crate::run

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use echo_core::smoltcp::Slot;
use echo_core::udp::Policy;
use smoltcp::iface::SocketStorage;
use smoltcp::socket::udp;

use crate::log::{LogRing, MAX_LINE};

/// TCP sockets: one per connection (4) and the spare that turns the extra one away.
pub const TCP_SOCKETS: usize = 5;
/// smoltcp's socket slots: the TCP ones, the UDP one and the DHCP one.
pub const SOCKETS: usize = TCP_SOCKETS + 2;
/// Receive and send buffer bytes per TCP socket: the window a peer may fill, and what an
/// echo may queue.
pub const TCP_RX: usize = 4096;
pub const TCP_TX: usize = 2048;
/// Longest UDP datagram echoed: the payload of one Ethernet frame (no IP fragments).
pub const MAX_DATAGRAM: usize = 1472;
/// UDP datagrams queued each way, and their bytes.
pub const UDP_PACKETS: usize = 2;
pub const UDP_BYTES: usize = 2 * MAX_DATAGRAM;
/// Source addresses the UDP rate limit tracks at once.
pub const UDP_SOURCES: usize = 8;
/// Bytes of log records waiting for the UART: about 30 `echo` records.
pub const LOG_RING: usize = 4096;

/// A connection's echo buffers (pending echo, and the line kept for the log).
pub type Buf = heapless::Vec<u8, { MAX_LINE + 2 }>;

/// The memory, lent for good.
pub struct Memory {
    pub sockets: &'static mut [SocketStorage<'static>; SOCKETS],
    pub slots: &'static mut [Slot<Buf>; TCP_SOCKETS],
    pub rx: &'static mut [[u8; TCP_RX]; TCP_SOCKETS],
    pub tx: &'static mut [[u8; TCP_TX]; TCP_SOCKETS],
    pub udp_meta_rx: &'static mut [udp::PacketMetadata; UDP_PACKETS],
    pub udp_meta_tx: &'static mut [udp::PacketMetadata; UDP_PACKETS],
    pub udp_rx: &'static mut [u8; UDP_BYTES],
    pub udp_tx: &'static mut [u8; UDP_BYTES],
    pub scratch: &'static mut [u8; MAX_DATAGRAM],
    pub policy: &'static mut Policy<UDP_SOURCES>,
    pub log: &'static mut LogRing<LOG_RING>,
}

/// A static that [`take`] fills and lends out. Uninitialised until then, so it lands in
/// .bss whatever its value (an initialised one with any non-zero byte, e.g. smoltcp's
/// empty socket slots, would take its size in flash for .data).
struct Static<T>(UnsafeCell<MaybeUninit<T>>);

// Safety: its contents are reached only through the one `&'static mut` that `take` hands
// out, once.
unsafe impl<T: Send> Sync for Static<T> {}

impl<T> Static<T> {
    const fn new() -> Self {
        Static(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// Safety: call at most once per static.
    #[allow(clippy::mut_from_ref)]
    unsafe fn lend(&'static self, value: T) -> &'static mut T {
        // Safety: the caller promises this is the only reference ever made.
        unsafe { (*self.0.get()).write(value) }
    }

    /// Lends the static filled with zero bytes, in place: a big array is never built on
    /// the stack first.
    ///
    /// Safety: call at most once per static, and only for a `T` for which all-zero bytes
    /// are a valid value (integers, arrays of them).
    #[allow(clippy::mut_from_ref)]
    unsafe fn lend_zeroed(&'static self) -> &'static mut T {
        // Safety: the caller promises this is the only reference ever made, and that zero
        // bytes are a `T`.
        unsafe {
            let cell = &mut *self.0.get();
            cell.as_mut_ptr().write_bytes(0, 1);
            cell.assume_init_mut()
        }
    }
}

static SOCKET_STORAGE: Static<[SocketStorage<'static>; SOCKETS]> = Static::new();
static SLOTS: Static<[Slot<Buf>; TCP_SOCKETS]> = Static::new();
static RX: Static<[[u8; TCP_RX]; TCP_SOCKETS]> = Static::new();
static TX: Static<[[u8; TCP_TX]; TCP_SOCKETS]> = Static::new();
static UDP_META: Static<[[udp::PacketMetadata; UDP_PACKETS]; 2]> = Static::new();
static UDP_DATA: Static<[[u8; UDP_BYTES]; 2]> = Static::new();
static SCRATCH: Static<[u8; MAX_DATAGRAM]> = Static::new();
static POLICY: Static<Policy<UDP_SOURCES>> = Static::new();
static LOG: Static<LogRing<LOG_RING>> = Static::new();

/// Whether the memory was lent. A load and a store, not a swap: Cortex-M0 has no
/// compare-and-swap, and only `run`, on the one thread a device has, ever calls `take`.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The memory the first time, `None` after.
pub fn take() -> Option<Memory> {
    if TAKEN.load(Ordering::Acquire) {
        return None;
    }
    TAKEN.store(true, Ordering::Release);
    // Safety: TAKEN was false, so nothing was lent yet, and it is true from now on: each
    // static is lent here once. Zero bytes are valid byte arrays and a valid empty
    // `LogRing` (integers and byte arrays only). (`run` is called once, from the board's entry point, never
    // from an interrupt, so no second call races this one.)
    unsafe {
        let [meta_rx, meta_tx] = UDP_META.lend([[udp::PacketMetadata::EMPTY; UDP_PACKETS]; 2]);
        let [udp_rx, udp_tx] = UDP_DATA.lend_zeroed();
        Some(Memory {
            sockets: SOCKET_STORAGE.lend([SocketStorage::EMPTY; SOCKETS]),
            slots: SLOTS.lend([const { Slot::new() }; TCP_SOCKETS]),
            rx: RX.lend_zeroed(),
            tx: TX.lend_zeroed(),
            udp_meta_rx: meta_rx,
            udp_meta_tx: meta_tx,
            udp_rx,
            udp_tx,
            scratch: SCRATCH.lend_zeroed(),
            policy: POLICY.lend(Policy::new(crate::UDP_RATE)),
            log: LOG.lend_zeroed(),
        })
    }
}
