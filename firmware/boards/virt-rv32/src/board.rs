//! QEMU virt's devices at their addresses: what runs only on the target.
//!
//! - Log: the NS16550A at 0x1000_0000 ([`Uart`]).
//! - Ethernet: virtio-net in one of the eight virtio-mmio slots ([`Nic`]); its interrupt,
//!   through the PLIC, wakes the hart from `wfi`.
//! - Time: the CLINT's `mtime` at 10 MHz; its `mtimecmp` bounds a sleep.
//! - Entropy: a virtio-rng device if QEMU has one, else `mtime` jitter ([`crate::entropy`]).
//! - Stop: the SiFive test device, which ends QEMU with a status.
//!
//! No trap handler runs for interrupts: they are enabled in `mie` (so `wfi` returns when one
//! is pending) but not globally in `mstatus`, and the loop acknowledges them after waking.

use core::fmt::{self, Write};
use core::ptr::{self, NonNull};

use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};

use crate::clock;
use crate::dma::PoolHal;
use crate::entropy::{self, Mixer};
use crate::nic::{Buffers, VirtioNic};
use crate::slots::{self, Found, Probe};
use crate::uart::{self, Ns16550, Regs};

const UART_BASE: usize = 0x1000_0000;
const CLINT_MTIME: usize = 0x0200_bff8;
const CLINT_MTIMECMP: usize = 0x0200_4000; // hart 0
const PLIC_BASE: usize = 0x0c00_0000;
const PLIC_ENABLE: usize = PLIC_BASE + 0x2000; // context 0: hart 0, M-mode
const PLIC_THRESHOLD: usize = PLIC_BASE + 0x20_0000;
const PLIC_CLAIM: usize = PLIC_BASE + 0x20_0004;
const TEST_DEVICE: usize = 0x10_0000;
const TEST_FAIL: u32 = 0x3333;

/// The UART's registers by volatile byte access.
pub struct UartMmio;

impl Regs for UartMmio {
    fn read(&mut self, reg: usize) -> u8 {
        // Safety: one of the NS16550A's byte registers on QEMU virt.
        unsafe { ptr::read_volatile((UART_BASE + reg) as *const u8) }
    }

    fn write(&mut self, reg: usize, value: u8) {
        // Safety: as for `read`.
        unsafe { ptr::write_volatile((UART_BASE + reg) as *mut u8, value) }
    }
}

/// The log's serial port.
pub type Uart = Ns16550<UartMmio>;

/// The Ethernet device.
pub type Nic = VirtioNic<PoolHal, MmioTransport<'static>>;

/// The virtio-mmio slots, read by volatile access.
struct Slots;

impl Probe for Slots {
    fn read(&self, slot: usize, offset: usize) -> u32 {
        // Safety: the first registers of a virtio-mmio slot on QEMU virt (an empty slot
        // reads as a device with id 0).
        unsafe { ptr::read_volatile((slots::BASE + slot * slots::STRIDE + offset) as *const u32) }
    }
}

/// Why the board could not come up; each names what to check.
#[derive(Debug)]
pub enum InitError {
    /// No slot holds a virtio-net device (this many hold another kind).
    NoNetDevice { devices: usize },
    /// The slot's transport refused (bad magic, version, device id).
    Transport { slot: usize, error: MmioError },
    /// The net driver refused the device (features, queue sizes, DMA memory).
    Driver {
        slot: usize,
        error: virtio_drivers::Error,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::NoNetDevice { devices } => write!(
                f,
                "no virtio-net device in the {} virtio-mmio slots ({devices} other devices); \
                 QEMU needs -device virtio-net-device,netdev=...",
                slots::SLOTS
            ),
            InitError::Transport { slot, error } => {
                write!(f, "virtio-mmio slot {slot}: {error}")
            }
            InitError::Driver { slot, error } => {
                write!(f, "virtio-net in virtio-mmio slot {slot}: {error}")
            }
        }
    }
}

/// What [`init`] brings up.
pub struct Parts {
    pub nic: Nic,
    pub uart: Uart,
    /// Seed for smoltcp.
    pub seed: u64,
    /// Where the net device was found (for a log line).
    pub net: Found,
    /// Whether the seed came from a virtio-rng device (else from timer jitter).
    pub rng: bool,
}

/// The transport of a slot found by the scan.
fn transport(found: Found) -> Result<MmioTransport<'static>, InitError> {
    let header = NonNull::new(found.address() as *mut VirtIOHeader)
        .ok_or(InitError::NoNetDevice { devices: 0 })?;
    // Safety: a virtio-mmio slot of QEMU virt: a header and config space of STRIDE bytes,
    // there for good; only this transport uses it (each slot is opened once).
    unsafe { MmioTransport::new(header, slots::STRIDE) }.map_err(|error| InitError::Transport {
        slot: found.slot,
        error,
    })
}

/// Brings up the UART, the entropy, the NIC (with `buffers`) and the wake-up sources. Call
/// once. An error comes with the UART, to report it on.
pub fn init(buffers: &'static mut Buffers) -> Result<Parts, (Uart, InitError)> {
    let uart = Ns16550::new(UartMmio);
    let (seed, rng) = seed();
    let Some(net) = slots::find(&Slots, slots::NET) else {
        let devices = slots::devices(&Slots);
        return Err((uart, InitError::NoNetDevice { devices }));
    };
    let nic = match transport(net).and_then(|t| {
        VirtioNic::new(t, buffers).map_err(|error| InitError::Driver {
            slot: net.slot,
            error,
        })
    }) {
        Ok(nic) => nic,
        Err(e) => return Err((uart, e)),
    };
    enable_wakeups(net.irq());
    Ok(Parts {
        nic,
        uart,
        seed,
        net,
        rng,
    })
}

/// 64 bits from a virtio-rng device if there is one (its queue's DMA pages are given back
/// before the NIC takes the pool), mixed with `mtime` jitter either way.
fn seed() -> (u64, bool) {
    let mut mix = Mixer::new();
    mix.add(entropy::jitter_seed(64, now_ticks, || {
        let _ = UartMmio.read(uart::reg::LSR);
    }));
    let mut bytes = [0u8; 16];
    let got = slots::find(&Slots, slots::RNG)
        .and_then(|found| transport(found).ok())
        .and_then(|t| VirtIORng::<PoolHal, _>::new(t).ok())
        .and_then(|mut rng| rng.request_entropy(&mut bytes).ok())
        .unwrap_or(0);
    mix.add_bytes(&bytes[..got.min(bytes.len())]);
    (mix.seed(), got >= 8)
}

/// `mtime`: ticks at 10 MHz since QEMU started.
pub fn now_ticks() -> u64 {
    // Safety: the CLINT's mtime, two 32-bit halves, read-only here.
    clock::read_split(
        || unsafe { ptr::read_volatile((CLINT_MTIME + 4) as *const u32) },
        || unsafe { ptr::read_volatile(CLINT_MTIME as *const u32) },
    )
}

/// Milliseconds since QEMU started.
pub fn now_ms() -> u64 {
    clock::ticks_to_ms(now_ticks())
}

fn set_mtimecmp(ticks: u64) {
    // Safety: hart 0's mtimecmp; the high half is set to the maximum first so that no
    // intermediate value lies in the past.
    unsafe {
        ptr::write_volatile((CLINT_MTIMECMP + 4) as *mut u32, u32::MAX);
        ptr::write_volatile(CLINT_MTIMECMP as *mut u32, ticks as u32);
        ptr::write_volatile((CLINT_MTIMECMP + 4) as *mut u32, (ticks >> 32) as u32);
    }
}

/// PLIC: the NIC's source at priority 1, enabled for hart 0 in M-mode, threshold 0; `mie`:
/// external and timer interrupts (global `mstatus.MIE` stays off: no trap, only wake-ups).
fn enable_wakeups(irq: u32) {
    set_mtimecmp(u64::MAX);
    let word = PLIC_ENABLE + (irq as usize / 32) * 4;
    // Safety: PLIC registers of QEMU virt for a source below 96 and context 0; `mie` bits
    // only matter to `wfi` while `mstatus.MIE` is clear.
    unsafe {
        ptr::write_volatile((PLIC_BASE + 4 * irq as usize) as *mut u32, 1);
        let enabled = ptr::read_volatile(word as *const u32);
        ptr::write_volatile(word as *mut u32, enabled | 1 << (irq % 32));
        ptr::write_volatile(PLIC_THRESHOLD as *mut u32, 0);
        riscv::register::mie::set_mext();
        riscv::register::mie::set_mtimer();
    }
}

/// Sleeps until the NIC interrupts (a frame came or went) or `max_ms` pass, whichever is
/// first; returns at once if the NIC interrupted since the last call. Then acknowledges the
/// NIC before the caller polls it.
pub fn sleep(nic: &mut Nic, max_ms: u64) {
    set_mtimecmp(now_ticks().saturating_add(clock::ms_to_ticks(max_ms)));
    riscv::asm::wfi();
    nic.ack_interrupt();
    // Safety: the PLIC's claim/complete register for context 0.
    unsafe {
        let id = ptr::read_volatile(PLIC_CLAIM as *const u32);
        if id != 0 {
            ptr::write_volatile(PLIC_CLAIM as *mut u32, id);
        }
    }
}

/// Stops for good after a fatal error has been written: QEMU exits with status 1 (through
/// the SiFive test device); on a machine without one, the hart waits forever.
pub fn halt() -> ! {
    // Safety: the test device's register; a write ends QEMU.
    unsafe { ptr::write_volatile(TEST_DEVICE as *mut u32, TEST_FAIL | (1 << 16)) };
    loop {
        riscv::asm::wfi();
    }
}

/// Writes one line, newlines inside turned into spaces (for panics and traps).
fn one_line(args: fmt::Arguments<'_>) {
    struct NoNewlines(Uart);
    impl Write for NoNewlines {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for b in s.bytes() {
                self.0
                    .write_blocking(&[if b == b'\n' || b == b'\r' { b' ' } else { b }]);
            }
            Ok(())
        }
    }
    let mut out = NoNewlines(Ns16550::from_regs(UartMmio));
    let _ = out.write_fmt(args);
    out.0.write_blocking(b"\n");
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    one_line(format_args!("panic: {info}"));
    halt()
}

/// A CPU exception (bad access, illegal instruction): one line naming it, then stop.
#[unsafe(export_name = "ExceptionHandler")]
fn exception(frame: &riscv_rt::TrapFrame) -> ! {
    let cause = riscv::register::mcause::read().bits();
    let pc = riscv::register::mepc::read();
    let tval = riscv::register::mtval::read();
    one_line(format_args!(
        "panic: CPU exception {cause} at pc {pc:#010x} (mtval {tval:#010x}, ra {:#010x})",
        frame.ra
    ));
    halt()
}
