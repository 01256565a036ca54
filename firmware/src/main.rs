//! echokit on a microcontroller: the echo service of `echokit server --tap` on QEMU's
//! mps2-an386 (Cortex-M4F, LAN9118 Ethernet), with no heap.
//!
//! The same code as on a PC does the work: echo-core's `Service` (numbering, limits, every
//! record, the UDP policy) fed by echo-core's smoltcp runner (`Stack`: the socket pool and
//! the loop). This file only lends them memory (static arrays, sized below), gives the log a
//! UART and the loop a clock, and sleeps between rounds. What is specific to the board is in
//! `board`.
#![no_std]
#![no_main]

mod board;
mod log;
mod nic_report;

use core::fmt::Write;
use core::time::Duration;

use cortex_m::singleton;
use cortex_m_rt::entry;
use echo_core::echo;
use echo_core::service::{Service, Settings, defaults};
use echo_core::smoltcp::{ManagedSlice, Options, Slot, Stack, Storage};
use echo_core::udp::Policy;
use smoltcp::iface::{Config, SocketStorage};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

use crate::log::{MAX_LINE, UartLog};
use crate::nic_report::NicReport;

/// The address, from `ECHOKIT_IP` and `ECHOKIT_GATEWAY` at build time (build.rs).
mod net {
    include!(concat!(env!("OUT_DIR"), "/net_config.rs"));
}

/// TCP and UDP port served.
const PORT: u16 = 7777;
/// Connections served at once; one more is accepted, logged `rejected` and closed.
const MAX_CONNS: usize = 4;
/// TCP sockets: one per connection and the spare that turns the extra one away.
const TCP_SOCKETS: usize = MAX_CONNS + 1;
/// Receive and send buffer bytes per TCP socket: the window a peer may fill, and what an
/// echo may queue. The RAM budget (board/memory.x) decides them; see README "Footprint".
const TCP_RX: usize = 4096;
const TCP_TX: usize = 2048;
/// Longest UDP datagram echoed: the payload of one Ethernet frame (no IP fragments).
const MAX_DATAGRAM: usize = 1472;
/// UDP datagrams queued each way, and their bytes.
const UDP_PACKETS: usize = 2;
const UDP_BYTES: usize = 2 * MAX_DATAGRAM;
/// Source addresses the UDP rate limit tracks at once.
const UDP_SOURCES: usize = 8;
/// Datagrams a second answered per source address (the server's `--udp-rate` default).
const UDP_RATE: u32 = defaults::UDP_RATE;
/// Idle timeout (the server's `--idle-timeout` default).
const IDLE: Duration = defaults::IDLE_TIMEOUT;
/// An unterminated line idle this long is logged as it stands (the server's
/// `--flush-after` default): clients that wait for an echo without sending a newline.
const FLUSH_AFTER: Duration = defaults::FLUSH_AFTER;

/// A connection's echo buffers (pending echo, and the line kept for the log).
type Buf = heapless::Vec<u8, { MAX_LINE + 2 }>;

#[entry]
fn main() -> ! {
    let (mut nic, mut uart) = match board::init() {
        Ok(parts) => parts,
        Err((mut uart, e)) => {
            let _ = writeln!(
                uart,
                "error: the Ethernet controller did not come up: {e:?}"
            );
            board::halt();
        }
    };
    let now = || Instant::from_millis(i64::try_from(board::now_ms()).unwrap_or(i64::MAX));

    // Every byte the stack and the service use, lent from statics (none is allocated).
    let (Some(sockets), Some(slots), Some(rx), Some(tx), Some(udp_meta), Some(udp_bytes)) = (
        singleton!(: [SocketStorage<'static>; TCP_SOCKETS + 1] = [SocketStorage::EMPTY; TCP_SOCKETS + 1]),
        singleton!(: [Slot<Buf>; TCP_SOCKETS] = [const { Slot::new() }; TCP_SOCKETS]),
        singleton!(: [[u8; TCP_RX]; TCP_SOCKETS] = [[0; TCP_RX]; TCP_SOCKETS]),
        singleton!(: [[u8; TCP_TX]; TCP_SOCKETS] = [[0; TCP_TX]; TCP_SOCKETS]),
        singleton!(: [[udp::PacketMetadata; UDP_PACKETS]; 2] = [[udp::PacketMetadata::EMPTY; UDP_PACKETS]; 2]),
        singleton!(: [[u8; UDP_BYTES]; 2] = [[0; UDP_BYTES]; 2]),
    ) else {
        // Each singleton is taken once, here; main does not run twice.
        fail(&mut uart, &"memory taken twice");
    };
    let [meta_rx, meta_tx] = udp_meta;
    let [bytes_rx, bytes_tx] = udp_bytes;
    let storage = Storage {
        sockets: ManagedSlice::Borrowed(&mut sockets[..]),
        slots: ManagedSlice::Borrowed(&mut slots[..]),
        tcp: rx.iter_mut().zip(tx.iter_mut()).map(|(r, t)| {
            (
                tcp::SocketBuffer::new(&mut r[..]),
                tcp::SocketBuffer::new(&mut t[..]),
            )
        }),
        udp: Some((
            udp::PacketBuffer::new(&mut meta_rx[..], &mut bytes_rx[..]),
            udp::PacketBuffer::new(&mut meta_tx[..], &mut bytes_tx[..]),
        )),
    };
    let [a, b, c, d] = net::IP;
    let [ga, gb, gc, gd] = net::GATEWAY;
    let options = Options {
        cidr: IpCidr::new(IpAddress::v4(a, b, c, d), net::PREFIX),
        gateway: Some(IpAddress::v4(ga, gb, gc, gd)),
        port: PORT,
    };
    let mut config = Config::new(EthernetAddress(board::MAC).into());
    // No entropy source on this board: the boot time in clock ticks varies a little.
    config.random_seed = 0x6563_686f_6b69_7400 ^ board::now_ms();
    let mut stack: Stack<'static, Buf> =
        match Stack::new(&options, config, &mut nic, now(), storage) {
            Ok(stack) => stack,
            Err(e) => fail(&mut uart, &e),
        };

    let (Some(scratch), Some(policy)) = (
        singleton!(: [u8; MAX_DATAGRAM] = [0; MAX_DATAGRAM]),
        singleton!(: Policy<UDP_SOURCES> = Policy::new(UDP_RATE)),
    ) else {
        fail(&mut uart, &"memory taken twice");
    };
    let Some(log) = singleton!(: UartLog = UartLog::new(uart)) else {
        board::halt();
    };
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
    let mut service = Service::new(settings, log, &mut scratch[..], policy);
    stack.announce(now(), &mut service);
    let mut report = NicReport::new();

    loop {
        let at = now();
        let more = stack.poll(at, &mut nic, &mut service);
        report.poll(echo_core::smoltcp::instant(at), nic.stats(), &mut service);
        if !more && stack.delay(at, &service) > smoltcp::time::Duration::ZERO {
            board::sleep(&mut nic);
        }
    }
}

/// Writes a fatal setup error on the UART and stops.
fn fail(uart: &mut board::Uart, what: &dyn core::fmt::Display) -> ! {
    let _ = writeln!(uart, "error: {what}");
    board::halt()
}
