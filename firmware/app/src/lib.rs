//! echokit on a microcontroller, without the board: the echo service of `echokit server
//! --tap`, run by [`run`] over whatever the board gives it through [`Board`].
//!
//! The same code as on a PC does the work: echo-core's `Service` (numbering, limits, every
//! record, the UDP policy) fed by echo-core's smoltcp runner (`Stack`: the socket pool and
//! the loop). This crate lends them memory (static arrays, sized in `memory`), sets the
//! address up (fixed at build time, or DHCP: `net`), keeps the serial log in a ring the
//! UART drains as it can (`log`), reports the frames the NIC dropped (`nic_report`) and
//! sleeps between rounds. A board crate (`firmware/boards/NAME`) implements [`Board`] and
//! calls [`run`] from its entry point.
#![cfg_attr(not(test), no_std)]

mod entropy;
mod log;
mod memory;
mod net;
mod nic_report;

use core::fmt;
use core::time::Duration;

use echo_core::echo;
use echo_core::service::{Service, Settings, defaults};
use echo_core::smoltcp::{ManagedSlice, Options, Stack, Storage};
use smoltcp::iface::Config;
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::EthernetAddress;

/// The time a board's clock reads (milliseconds since boot): `Instant::from_ticks` turns a
/// timer's count into it.
pub use echo_core::time::Instant;

pub use crate::entropy::JitterMixer;
pub use crate::log::{LogRing, MAX_LINE};
pub use crate::net::Addressing;
pub use crate::nic_report::Drops;

/// What a board lends the app: its NIC, a serial port for the log, a clock, entropy and a
/// way to wait. Everything else (the stack, the service, the log, the addresses) is the
/// app's. None of these may block for long: the loop serves every connection.
pub trait Board {
    /// The Ethernet controller as smoltcp sees it.
    type Nic: Device;

    /// The NIC's name in the drop report (`"lan9118"`).
    const NIC_NAME: &'static str;

    /// The station (MAC) address: unicast, e.g. a locally administered one.
    fn mac(&self) -> [u8; 6];

    /// The NIC, for each round of the stack.
    fn nic(&mut self) -> &mut Self::Nic;

    /// Frames the NIC driver dropped since boot (bad, short, oversized, resyncs), for the
    /// log's drop report. A driver that counts nothing keeps the default.
    fn nic_drops(&mut self) -> Drops {
        Drops::default()
    }

    /// Whether a received frame waits in the NIC (a cheap check: one register read). The
    /// log stops draining for it, so echo goes first. The default, `false`, lets the log
    /// drain its whole share of an idle round.
    fn frame_waiting(&mut self) -> bool {
        false
    }

    /// The time since boot; never goes back.
    fn now(&mut self) -> Instant;

    /// 64 unpredictable bits for smoltcp's random seed (TCP initial sequence numbers,
    /// DHCP transaction ids): a hardware RNG where the chip has one. Called once, at start.
    fn entropy(&mut self) -> u64;

    /// Offers the serial port the start of `bytes`; returns how many it took, `0` when it
    /// has no room now. Never waits.
    fn uart_write(&mut self, bytes: &[u8]) -> usize;

    /// Waits until a frame may have arrived, the clock reaches `until`, or (when
    /// `uart_waiting`, the log has bytes the UART refused) the UART may take bytes again,
    /// whichever is first. Returning early is allowed (e.g. on a 1 ms tick).
    fn sleep(&mut self, until: Instant, uart_waiting: bool);

    /// Stops for good, after a fatal error has been written.
    fn halt(&mut self) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

/// TCP and UDP port served.
const PORT: u16 = 7777;
/// Connections served at once; one more is accepted, logged `rejected` and closed.
const MAX_CONNS: usize = memory::TCP_SOCKETS - 1;
/// Datagrams a second answered per source address (the server's `--udp-rate` default).
const UDP_RATE: u32 = defaults::UDP_RATE;
/// Idle timeout (the server's `--idle-timeout` default).
const IDLE: Duration = defaults::IDLE_TIMEOUT;
/// An unterminated line idle this long is logged as it stands (the server's
/// `--flush-after` default): clients that wait for an echo without sending a newline.
const FLUSH_AFTER: Duration = defaults::FLUSH_AFTER;
/// Log bytes offered to the UART at a time: between two offers the loop checks for a
/// frame (`Board::frame_waiting`), so a frame that arrives waits for at most this many UART
/// writes. While the stack has work one offer is made per round (a trickle, so the log still
/// moves under load); while it has none, offers continue up to `DRAIN_IDLE` bytes.
const DRAIN_CHUNK: usize = 16;
const DRAIN_IDLE: usize = 1024;

/// Runs the echo service on `board` for ever. Call once, from the board's entry point.
pub fn run<B: Board>(mut board: B) -> ! {
    let Some(mem) = memory::take() else {
        fatal(&mut board, &"echokit_app::run called twice");
    };
    let storage = Storage {
        sockets: ManagedSlice::Borrowed(&mut mem.sockets[..]),
        slots: ManagedSlice::Borrowed(&mut mem.slots[..]),
        tcp: mem.rx.iter_mut().zip(mem.tx.iter_mut()).map(|(r, t)| {
            (
                tcp::SocketBuffer::new(&mut r[..]),
                tcp::SocketBuffer::new(&mut t[..]),
            )
        }),
        udp: Some((
            udp::PacketBuffer::new(&mut mem.udp_meta_rx[..], &mut mem.udp_rx[..]),
            udp::PacketBuffer::new(&mut mem.udp_meta_tx[..], &mut mem.udp_tx[..]),
        )),
    };
    let addressing = net::ADDRESSING;
    let options = Options {
        cidr: addressing.initial_cidr(),
        gateway: addressing.initial_gateway(),
        port: PORT,
    };
    let mut config = Config::new(EthernetAddress(board.mac()).into());
    config.random_seed = board.entropy();
    let start = board.now();
    let mut stack: Stack<'static, memory::Buf> =
        match Stack::new(&options, config, board.nic(), start.into(), storage) {
            Ok(stack) => stack,
            Err(e) => fatal(&mut board, &e),
        };
    let mut addresses = net::Addresses::new(addressing, &mut stack);

    let settings = Settings {
        echo: echo::Config {
            max_line: MAX_LINE,
            idle_timeout: Some(IDLE),
            flush_after: Some(FLUSH_AFTER),
            frame_lines: true,
        },
        max_conns: MAX_CONNS,
        udp_rate: UDP_RATE,
    };
    let mut service = Service::new(
        settings,
        &mut *mem.log,
        &mut mem.scratch[..],
        &mut *mem.policy,
    );
    addresses.announce(start, &stack, &mut service);
    let mut report = nic_report::NicReport::new(B::NIC_NAME);

    loop {
        let now = board.now();
        // The stack's clock: the same origin, in smoltcp's type.
        let at = now.into();
        let more = stack.poll(at, board.nic(), &mut service);
        addresses.poll(now, &mut stack, &mut service);
        report.poll(now, board.nic_drops(), &mut service);
        let delay = stack.delay(at, &service);
        let idle = !more && delay > smoltcp::time::Duration::ZERO;
        let drained = drain_log(&mut board, service.log_mut(), now, idle);
        if idle && !drained.more {
            let until = board.now().saturating_add(delay.into());
            board.sleep(until, drained.refused);
        }
    }
}

/// Offers the log's bytes to the UART: one chunk, or while `idle` chunks until the log is
/// empty, the UART refuses, a frame waits or `DRAIN_IDLE` bytes went.
fn drain_log<B: Board>(
    board: &mut B,
    log: &mut LogRing<{ memory::LOG_RING }>,
    now: Instant,
    idle: bool,
) -> log::Drained {
    let mut sent = 0;
    loop {
        let drained = log.drain(now, DRAIN_CHUNK, |bytes| board.uart_write(bytes));
        sent += DRAIN_CHUNK;
        if !idle || !drained.more || sent >= DRAIN_IDLE || board.frame_waiting() {
            return drained;
        }
    }
}

/// Writes a fatal setup error on the UART (waiting for it: nothing else runs) and stops.
fn fatal<B: Board>(board: &mut B, what: &dyn fmt::Display) -> ! {
    let mut out = UartText(board);
    let _ = fmt::write(&mut out, format_args!("error: {what}\n"));
    out.0.halt()
}

/// Text written straight to the board's UART, waiting while it is full.
struct UartText<'a, B>(&'a mut B);

impl<B: Board> fmt::Write for UartText<'_, B> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            let n = self.0.uart_write(rest);
            rest = rest.get(n..).unwrap_or_default();
        }
        Ok(())
    }
}
