//! echokit on WIZnet's W5500-EVB-Pico: the echo service of `echokit server --tap` over the
//! W5500's MACRAW socket (smoltcp does TCP/IP), with no heap. Board specifics are in
//! `board`.
//!
//! (Stand-alone until the board-free app lands: this file lends echo-core's smoltcp
//! runner its memory, as firmware/src/main.rs does for mps2-an386.)
#![no_std]
#![no_main]

mod board;

use core::fmt::Write;
use core::time::Duration;

use cortex_m::singleton;
use cortex_m_rt::entry;
use echo_core::echo;
use echo_core::record::{Level, Record};
use echo_core::service::{Log, Service, Settings};
use echo_core::smoltcp::{ManagedSlice, Options, Slot, Stack, Storage};
use echo_core::time::Timestamp;
use echo_core::udp::Policy;
use smoltcp::iface::{Config, SocketStorage};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

const PORT: u16 = 7777;
const MAX_CONNS: usize = 4;
const TCP_SOCKETS: usize = MAX_CONNS + 1;
const TCP_RX: usize = 4096;
const TCP_TX: usize = 2048;
const MAX_DATAGRAM: usize = 1472;
const UDP_PACKETS: usize = 2;
const UDP_BYTES: usize = 2 * MAX_DATAGRAM;
const UDP_SOURCES: usize = 8;
const UDP_RATE: u32 = 100;
const IDLE: Duration = Duration::from_secs(300);
const FLUSH_AFTER: Duration = Duration::from_millis(500);
const MAX_LINE: usize = 254;
const LINE_BUF: usize = Record::max_len_for_msg(MAX_LINE);

type Buf = heapless::Vec<u8, { MAX_LINE + 2 }>;

/// Records on USART3, JSON Lines at INFO.
struct UartLog {
    uart: board::Uart,
    buf: [u8; LINE_BUF],
}

impl Log for UartLog {
    fn enabled(&self, level: Level) -> bool {
        level <= Level::Info
    }

    fn write_always(&mut self, record: &Record<'_>) {
        if let Ok(n) = record.format(&mut self.buf) {
            self.uart.write_all(&self.buf[..n]);
        }
    }

    fn timestamp(&mut self, now: echo_core::time::Instant) -> Timestamp {
        Timestamp::from_unix_millis(now.millis())
    }
}

#[entry]
fn main() -> ! {
    let board::Board {
        mut nic,
        mut uart,
        seed,
    } = match board::init() {
        Ok(board) => board,
        Err((mut uart, e)) => fail(&mut uart, &e),
    };
    let now = || Instant::from_millis(i64::try_from(board::now_ms()).unwrap_or(i64::MAX));

    let (Some(sockets), Some(slots), Some(rx), Some(tx), Some(udp_meta), Some(udp_bytes)) = (
        singleton!(: [SocketStorage<'static>; TCP_SOCKETS + 1] = [SocketStorage::EMPTY; TCP_SOCKETS + 1]),
        singleton!(: [Slot<Buf>; TCP_SOCKETS] = [const { Slot::new() }; TCP_SOCKETS]),
        singleton!(: [[u8; TCP_RX]; TCP_SOCKETS] = [[0; TCP_RX]; TCP_SOCKETS]),
        singleton!(: [[u8; TCP_TX]; TCP_SOCKETS] = [[0; TCP_TX]; TCP_SOCKETS]),
        singleton!(: [[udp::PacketMetadata; UDP_PACKETS]; 2] = [[udp::PacketMetadata::EMPTY; UDP_PACKETS]; 2]),
        singleton!(: [[u8; UDP_BYTES]; 2] = [[0; UDP_BYTES]; 2]),
    ) else {
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
    let options = Options {
        cidr: IpCidr::new(IpAddress::v4(192, 168, 69, 1), 24),
        gateway: Some(IpAddress::v4(192, 168, 69, 100)),
        port: PORT,
    };
    let mut config = Config::new(EthernetAddress(board::MAC).into());
    config.random_seed = seed;
    let mut stack: Stack<'static, Buf> =
        match Stack::new(&options, config, &mut nic.device, now(), storage) {
            Ok(stack) => stack,
            Err(e) => fail(&mut uart, &e),
        };

    let (Some(scratch), Some(policy)) = (
        singleton!(: [u8; MAX_DATAGRAM] = [0; MAX_DATAGRAM]),
        singleton!(: Policy<UDP_SOURCES> = Policy::new(UDP_RATE)),
    ) else {
        fail(&mut uart, &"memory taken twice");
    };
    let Some(log) = singleton!(: UartLog = UartLog { uart, buf: [0; LINE_BUF] }) else {
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

    loop {
        let at = now();
        let more = stack.poll(at, &mut nic.device, &mut service);
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
