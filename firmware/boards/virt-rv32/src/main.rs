//! echokit on QEMU virt (RV32IMAC): the echo service of `echokit server --tap`, with no heap.
//! (Standalone until the board-free app lands: the loop below is mps2-an386's.)
#![no_std]
#![no_main]

use core::fmt::Write;
use core::time::Duration;

use echo_core::echo;
use echo_core::record::{Level, Record};
use echo_core::service::{Log, Service, Settings};
use echo_core::smoltcp::{ManagedSlice, Options, Slot, Stack, Storage};
use echo_core::time::Timestamp;
use echo_core::udp::Policy;
use echokit_virt_rv32::board::{self, Uart};
use echokit_virt_rv32::nic::Buffers;
use smoltcp::iface::{Config, SocketStorage};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

const PORT: u16 = 7777;
const MAX_CONNS: usize = 4;
const TCP_SOCKETS: usize = MAX_CONNS + 1;
const TCP_RX: usize = 2048;
const TCP_TX: usize = 1024;
const MAX_DATAGRAM: usize = 1472;
const UDP_PACKETS: usize = 2;
const UDP_BYTES: usize = 2 * MAX_DATAGRAM;
const UDP_SOURCES: usize = 8;
const UDP_RATE: u32 = 100;
const IDLE: Duration = Duration::from_secs(300);
const FLUSH_AFTER: Duration = Duration::from_millis(500);
const MAX_LINE: usize = 254;
const LINE_BUF: usize = Record::max_len_for_msg(MAX_LINE);
/// The station address: fixed, locally administered, unicast.
const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x52, 0x01];

type Buf = heapless::Vec<u8, { MAX_LINE + 2 }>;

struct UartLog {
    uart: Uart,
    buf: [u8; LINE_BUF],
}

impl Log for UartLog {
    fn enabled(&self, level: Level) -> bool {
        level <= Level::Info
    }

    fn write_always(&mut self, record: &Record<'_>) {
        if let Ok(n) = record.format(&mut self.buf) {
            self.uart.write_blocking(&self.buf[..n]);
        }
    }

    fn timestamp(&mut self, now: echo_core::time::Instant) -> Timestamp {
        Timestamp::from_unix_millis(now.millis())
    }
}

static mut NIC_BUFS: Buffers = Buffers::new();
static mut SOCKETS: [SocketStorage<'static>; TCP_SOCKETS + 1] =
    [SocketStorage::EMPTY; TCP_SOCKETS + 1];
static mut SLOTS: [Slot<Buf>; TCP_SOCKETS] = [const { Slot::new() }; TCP_SOCKETS];
static mut RX: [[u8; TCP_RX]; TCP_SOCKETS] = [[0; TCP_RX]; TCP_SOCKETS];
static mut TX: [[u8; TCP_TX]; TCP_SOCKETS] = [[0; TCP_TX]; TCP_SOCKETS];
static mut UDP_META: [[udp::PacketMetadata; UDP_PACKETS]; 2] =
    [[udp::PacketMetadata::EMPTY; UDP_PACKETS]; 2];
static mut UDP_DATA: [[u8; UDP_BYTES]; 2] = [[0; UDP_BYTES]; 2];
static mut SCRATCH: [u8; MAX_DATAGRAM] = [0; MAX_DATAGRAM];
static mut POLICY: Policy<UDP_SOURCES> = Policy::new(UDP_RATE);
static mut LOG: UartLog = UartLog {
    uart: Uart::from_regs(board::UartMmio),
    buf: [0; LINE_BUF],
};

#[riscv_rt::entry]
fn main() -> ! {
    // Safety: main runs once; each static is borrowed here only.
    let (nic_bufs, sockets, slots, rx, tx, udp_meta, udp_data, scratch, policy, log) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(NIC_BUFS),
            &mut *core::ptr::addr_of_mut!(SOCKETS),
            &mut *core::ptr::addr_of_mut!(SLOTS),
            &mut *core::ptr::addr_of_mut!(RX),
            &mut *core::ptr::addr_of_mut!(TX),
            &mut *core::ptr::addr_of_mut!(UDP_META),
            &mut *core::ptr::addr_of_mut!(UDP_DATA),
            &mut *core::ptr::addr_of_mut!(SCRATCH),
            &mut *core::ptr::addr_of_mut!(POLICY),
            &mut *core::ptr::addr_of_mut!(LOG),
        )
    };
    let board::Parts {
        mut nic,
        mut uart,
        seed,
        ..
    } = match board::init(nic_bufs) {
        Ok(parts) => parts,
        Err((mut uart, e)) => {
            let _ = writeln!(uart, "error: {e}");
            board::halt();
        }
    };
    let now = || Instant::from_millis(i64::try_from(board::now_ms()).unwrap_or(i64::MAX));
    let [meta_rx, meta_tx] = udp_meta;
    let [bytes_rx, bytes_tx] = udp_data;
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
    let mut config = Config::new(EthernetAddress(MAC).into());
    config.random_seed = seed;
    let mut stack: Stack<'static, Buf> =
        match Stack::new(&options, config, &mut nic, now(), storage) {
            Ok(stack) => stack,
            Err(e) => {
                let _ = writeln!(uart, "error: {e}");
                board::halt();
            }
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
        let more = stack.poll(at, &mut nic, &mut service);
        let delay = stack.delay(at, &service);
        if !more && delay > smoltcp::time::Duration::ZERO {
            board::sleep(&mut nic, delay.total_millis().min(50));
        }
    }
}
