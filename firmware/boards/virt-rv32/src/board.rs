//! QEMU virt's devices at their addresses, as an [`echokit_app::Board`] ([`VirtRv32`]):
//! what runs only on the target.
//!
//! - Ethernet: virtio-net in one of the eight virtio-mmio slots ([`Nic`]); its interrupt,
//!   through the PLIC, wakes the hart from `wfi`.
//! - Log: the NS16550A at 0x1000_0000 ([`Uart`]); its transmitter-empty interrupt wakes the
//!   hart when the log waits for it.
//! - Time: the CLINT's `mtime` at 10 MHz; its `mtimecmp` bounds a sleep.
//! - Entropy: a virtio-rng device if QEMU has one (`qemu.sh` adds it), mixed with `mtime`
//!   jitter either way.
//! - Stop: the SiFive test device, which ends QEMU with a failure status.
//!
//! No trap handler runs for interrupts: they are enabled in `mie` (so `wfi` returns when one
//! is pending) but not globally in `mstatus`, and `sleep` acknowledges them after waking.

use core::fmt::{self, Write};
use core::ptr::{self, NonNull};

use echokit_app::{Board, Drops, Instant, JitterMixer};
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};

use crate::clock;
use crate::dma::PoolHal;

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
/// The UART's PLIC source on QEMU virt.
const UART_IRQ: u32 = 10;
/// `mtime` samples folded into the seed.
const ENTROPY_SAMPLES: usize = 64;

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

/// The board's parts the app uses.
pub struct VirtRv32 {
    nic: Nic,
    uart: Uart,
    seed: u64,
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

impl VirtRv32 {
    /// Brings up the UART, the seed, the NIC (with `buffers`) and the wake-up sources.
    /// Call once. An error comes with the UART, to report it on. Not inlined: the set-up's
    /// temporaries (virtio negotiation, the entropy device) would otherwise stay in the
    /// entry point's stack frame, under the app's loop, for good.
    #[inline(never)]
    pub fn init(buffers: &'static mut Buffers) -> Result<VirtRv32, (Uart, InitError)> {
        let uart = Ns16550::new(UartMmio);
        // Before the NIC: a virtio-rng device borrows the DMA pool for a moment.
        let seed = seed();
        let Some(net) = slots::find(&Slots, slots::NET) else {
            let devices = slots::devices(&Slots);
            return Err((uart, InitError::NoNetDevice { devices }));
        };
        let nic = transport(net).and_then(|t| {
            VirtioNic::new(t, buffers).map_err(|error| InitError::Driver {
                slot: net.slot,
                error,
            })
        });
        match nic {
            Ok(nic) => {
                enable_wakeups(net.irq());
                Ok(VirtRv32 { nic, uart, seed })
            }
            Err(e) => Err((uart, e)),
        }
    }
}

impl Board for VirtRv32 {
    type Nic = Nic;
    const NIC_NAME: &'static str = "virtio-net";

    /// The address QEMU gave the device (`-device virtio-net-device,mac=...`; QEMU's
    /// default is 52:54:00:12:34:56).
    fn mac(&self) -> [u8; 6] {
        self.nic.mac()
    }

    fn nic(&mut self) -> &mut Nic {
        &mut self.nic
    }

    fn nic_drops(&mut self) -> Drops {
        let s = self.nic.stats();
        Drops {
            rx_errors: s.rx_errors,
            rx_runts: s.rx_runts,
            rx_oversized: s.rx_oversized,
            rx_resyncs: 0,
            // QEMU drops a frame it has no posted buffer for before the driver sees it.
            rx_no_room: 0,
            tx_errors: s.tx_errors,
            tx_oversized: s.tx_oversized,
        }
    }

    fn frame_waiting(&mut self) -> bool {
        self.nic.rx_pending()
    }

    fn now(&mut self) -> Instant {
        now()
    }

    fn entropy(&mut self) -> u64 {
        self.seed
    }

    fn uart_write(&mut self, bytes: &[u8]) -> usize {
        self.uart.try_write(bytes)
    }

    /// `wfi` until the NIC interrupts (a frame came or went), `mtime` reaches `until`,
    /// or (when the log waits) the UART's transmitter empties; at once if one of them
    /// already happened since the last call. Then acknowledges them before the loop polls.
    fn sleep(&mut self, until: Instant, uart_waiting: bool) {
        set_mtimecmp(until.ticks::<{ clock::HZ }>());
        self.uart.set_tx_interrupt(uart_waiting);
        riscv::asm::wfi();
        self.uart.set_tx_interrupt(false);
        self.nic.ack_interrupt();
        // Safety: the PLIC's claim/complete register for context 0; at most the two
        // sources enabled can be pending.
        unsafe {
            for _ in 0..2 {
                let id = ptr::read_volatile(PLIC_CLAIM as *const u32);
                if id == 0 {
                    break;
                }
                ptr::write_volatile(PLIC_CLAIM as *mut u32, id);
            }
        }
    }

    fn halt(&mut self) -> ! {
        halt()
    }
}

/// 64 bits for smoltcp's seed. The low bits of `mtime` (which follows the host's clock)
/// read around UART register reads (each one exits to QEMU's device model, in host time)
/// vary from boot to boot; a virtio-rng device, when QEMU has one, adds 16 bytes from the
/// host's random source. Its queue's DMA pages go back to the pool when it is dropped,
/// before the NIC takes them.
fn seed() -> u64 {
    let mut mix = JitterMixer::new();
    for _ in 0..ENTROPY_SAMPLES {
        let _ = UartMmio.read(uart::reg::LSR);
        mix.push(now_ticks() as u32);
    }
    let mut bytes = [0u8; 16];
    let got = slots::find(&Slots, slots::RNG)
        .and_then(|found| transport(found).ok())
        .and_then(|t| VirtIORng::<PoolHal, _>::new(t).ok())
        .and_then(|mut rng| rng.request_entropy(&mut bytes).ok())
        .unwrap_or(0);
    for chunk in bytes[..got.min(bytes.len())].chunks(8) {
        let mut word = [0; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        mix.push_u64(u64::from_le_bytes(word));
    }
    mix.finish()
}

/// `mtime`: ticks at 10 MHz since QEMU started.
pub fn now_ticks() -> u64 {
    // Safety: the CLINT's mtime, two 32-bit halves, read-only here.
    clock::read_split(
        || unsafe { ptr::read_volatile((CLINT_MTIME + 4) as *const u32) },
        || unsafe { ptr::read_volatile(CLINT_MTIME as *const u32) },
    )
}

/// The time since QEMU started.
pub fn now() -> Instant {
    Instant::from_ticks::<{ clock::HZ }>(now_ticks())
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

/// PLIC: the NIC's and the UART's sources at priority 1, enabled for hart 0 in M-mode,
/// threshold 0; `mie`: external and timer interrupts (global `mstatus.MIE` stays off: no
/// trap, only wake-ups).
fn enable_wakeups(nic_irq: u32) {
    set_mtimecmp(u64::MAX);
    // Safety: PLIC registers of QEMU virt for sources below 32 and context 0; `mie` bits
    // only matter to `wfi` while `mstatus.MIE` is clear.
    unsafe {
        for irq in [nic_irq, UART_IRQ] {
            ptr::write_volatile((PLIC_BASE + 4 * irq as usize) as *mut u32, 1);
            let enabled = ptr::read_volatile(PLIC_ENABLE as *const u32);
            ptr::write_volatile(PLIC_ENABLE as *mut u32, enabled | 1 << irq);
        }
        ptr::write_volatile(PLIC_THRESHOLD as *mut u32, 0);
        riscv::register::mie::set_mext();
        riscv::register::mie::set_mtimer();
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
