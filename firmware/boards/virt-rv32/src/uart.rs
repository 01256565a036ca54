//! The NS16550A UART (QEMU virt's serial port at 0x1000_0000): the log's byte sink.
//!
//! [`Ns16550::try_write`] never waits: it writes only while the transmitter says it can take
//! bytes, so the log can drain from the idle loop and a serial line that nobody reads (QEMU's
//! stdout in a full pipe, where QEMU keeps the holding register busy) never stalls echo.

/// Register offsets (byte-wide registers, one byte apart on QEMU virt).
pub mod reg {
    /// Transmit holding register (write); with DLAB, divisor latch low.
    pub const THR: usize = 0;
    /// Interrupt enable; with DLAB, divisor latch high.
    pub const IER: usize = 1;
    /// FIFO control (write).
    pub const FCR: usize = 2;
    /// Line control.
    pub const LCR: usize = 3;
    /// Line status.
    pub const LSR: usize = 5;
}

/// LSR: the transmit FIFO (or holding register) is empty.
pub const LSR_THRE: u8 = 1 << 5;
/// IER: interrupt when the transmit holding register empties.
pub const IER_THRE: u8 = 1 << 1;
/// Bytes the transmit FIFO takes once empty.
pub const FIFO: usize = 16;

/// Byte access to the UART's registers: volatile MMIO on the board, a fake in a test.
pub trait Regs {
    fn read(&mut self, reg: usize) -> u8;
    fn write(&mut self, reg: usize, value: u8);
}

/// The transmit side of an NS16550A.
pub struct Ns16550<R> {
    regs: R,
}

impl<R: Regs> Ns16550<R> {
    /// 8N1 at 115200 baud from a 3.6864 MHz clock (QEMU virt's; QEMU ignores the rate),
    /// FIFOs on, interrupts off.
    pub fn new(mut regs: R) -> Self {
        regs.write(reg::IER, 0);
        regs.write(reg::LCR, 0x80); // DLAB: the divisor latch
        regs.write(reg::THR, 2); // 3_686_400 / (16 * 115_200)
        regs.write(reg::IER, 0);
        regs.write(reg::LCR, 0x03); // 8 data bits, no parity, 1 stop bit
        regs.write(reg::FCR, 0x07); // FIFOs on and cleared
        Ns16550 { regs }
    }

    /// Wraps registers already set up (a panic handler's second handle).
    pub const fn from_regs(regs: R) -> Self {
        Ns16550 { regs }
    }

    /// Whether the transmitter takes at least one byte now.
    pub fn can_write(&mut self) -> bool {
        self.regs.read(reg::LSR) & LSR_THRE != 0
    }

    /// Writes as many leading bytes of `bytes` as the transmitter takes now (up to its FIFO
    /// once it is empty, none while it is busy) and returns how many.
    pub fn try_write(&mut self, bytes: &[u8]) -> usize {
        if bytes.is_empty() || !self.can_write() {
            return 0;
        }
        let n = bytes.len().min(FIFO);
        for &b in &bytes[..n] {
            self.regs.write(reg::THR, b);
        }
        n
    }

    /// Writes all of `bytes`, waiting for the transmitter (setup errors and panics only).
    pub fn write_blocking(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let n = self.try_write(bytes);
            bytes = &bytes[n..];
        }
    }

    /// Interrupt (wake) when the transmitter empties, or not.
    pub fn set_tx_interrupt(&mut self, on: bool) {
        self.regs.write(reg::IER, if on { IER_THRE } else { 0 });
    }
}

impl<R: Regs> core::fmt::Write for Ns16550<R> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_blocking(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UART whose transmitter is free or busy as the test says; it records what it took.
    #[derive(Default)]
    struct Fake {
        busy: bool,
        sent: Vec<u8>,
        writes: Vec<(usize, u8)>,
        lcr: u8,
    }

    impl Regs for &mut Fake {
        fn read(&mut self, reg: usize) -> u8 {
            match reg {
                reg::LSR if self.busy => 0,
                reg::LSR => LSR_THRE,
                _ => 0,
            }
        }

        fn write(&mut self, reg: usize, value: u8) {
            if reg == reg::LCR {
                self.lcr = value;
            }
            if reg == reg::THR && self.lcr & 0x80 == 0 {
                self.sent.push(value);
            }
            self.writes.push((reg, value));
        }
    }

    #[test]
    fn set_up_is_8n1_with_fifos_and_sends_nothing() {
        let mut fake = Fake::default();
        Ns16550::new(&mut fake);
        assert!(fake.sent.is_empty(), "the divisor is not data");
        assert_eq!(fake.lcr, 0x03);
        assert!(fake.writes.contains(&(reg::FCR, 0x07)));
    }

    #[test]
    fn a_busy_transmitter_takes_nothing_and_does_not_block() {
        let mut fake = Fake {
            busy: true,
            ..Fake::default()
        };
        let mut uart = Ns16550::from_regs(&mut fake);
        assert!(!uart.can_write());
        assert_eq!(uart.try_write(b"hello"), 0);
        assert!(fake.sent.is_empty());
    }

    #[test]
    fn a_free_transmitter_takes_up_to_its_fifo() {
        let mut fake = Fake::default();
        let mut uart = Ns16550::from_regs(&mut fake);
        let line = [b'x'; 40];
        assert_eq!(uart.try_write(&line), FIFO);
        assert_eq!(uart.try_write(b"ab"), 2);
        assert_eq!(uart.try_write(b""), 0);
        uart.write_blocking(b"0123456789012345678901234567890123456789");
        assert_eq!(fake.sent.len(), FIFO + 2 + 40);
        assert_eq!(&fake.sent[FIFO..FIFO + 2], b"ab");
    }
}
