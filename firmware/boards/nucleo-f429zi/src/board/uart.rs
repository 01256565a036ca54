//! USART3 (PD8 TX, PD9 RX): the ST-LINK/V2-1's virtual COM port, 115200 baud 8N1.
//!
//! A write never waits: it puts what fits into a ring that USART3's interrupt drains (the
//! USART has no FIFO, so a polled loop would send one byte per round), and says how much
//! it took. embassy's buffered UART has no non-blocking write of its own; its async write
//! is all or nothing for a slice that fits the ring, so it is polled once, with a no-op
//! waker, chunk by chunk.

use core::fmt;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use cortex_m::singleton;
use embassy_stm32::Peri;
use embassy_stm32::interrupt::typelevel::{Binding, USART3 as Usart3Irq};
use embassy_stm32::peripherals::{PD8, PD9, USART3};
use embassy_stm32::usart::{BufferedInterruptHandler, BufferedUart, BufferedUartTx, Config};

/// Baud rate of the virtual COM port.
pub const BAUD: u32 = 115_200;
/// Bytes waiting for the wire: about 22 ms at 115200 baud (the app's log ring holds more).
const RING: usize = 256;
/// Bytes offered at once: a smaller piece fits where a larger one did not.
const CHUNK: usize = 16;

/// The transmit side of USART3.
pub struct Uart {
    tx: BufferedUartTx<'static>,
}

/// Sets USART3 up with its ring (a static, taken once).
pub fn init(
    usart: Peri<'static, USART3>,
    rx: Peri<'static, PD9>,
    tx: Peri<'static, PD8>,
    irq: impl Binding<Usart3Irq, BufferedInterruptHandler<USART3>> + 'static,
) -> Uart {
    let (Some(tx_ring), Some(rx_ring)) = (
        singleton!(: [u8; RING] = [0; RING]),
        // RX is unused; the driver wants a buffer all the same.
        singleton!(: [u8; 8] = [0; 8]),
    ) else {
        panic!("uart::init called twice");
    };
    let mut config = Config::default();
    config.baudrate = BAUD;
    match BufferedUart::new(usart, rx, tx, tx_ring, rx_ring, irq, config) {
        Ok(uart) => {
            let (tx, rx) = uart.split();
            // Keeps the receiver set up (dropping it would not stop the transmitter, but
            // there is nothing to gain from the work).
            core::mem::forget(rx);
            Uart { tx }
        }
        // Only for a baud rate the clock cannot make; 115200 from 42 MHz is exact enough.
        Err(e) => panic!("USART3 set-up: {e:?}"),
    }
}

impl Uart {
    /// Puts as much of `bytes` as fits now into the ring; the count taken.
    pub fn write_some(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        for chunk in bytes.chunks(CHUNK) {
            if !self.offer(chunk) {
                // Try what fits of a smaller piece, byte by byte, once.
                for &b in chunk {
                    if !self.offer(&[b]) {
                        return taken;
                    }
                    taken += 1;
                }
                return taken;
            }
            taken += chunk.len();
        }
        taken
    }

    /// Writes all of `bytes`, waiting for room (setup errors, before the log's ring).
    pub fn write_all(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            rest = &rest[self.write_some(rest)..];
        }
    }

    /// Whether `chunk` (at most the ring's size) went into the ring, whole.
    fn offer(&mut self, chunk: &[u8]) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let write = pin!(embedded_io_async::Write::write(&mut self.tx, chunk));
        matches!(write.poll(&mut cx), Poll::Ready(Ok(n)) if n == chunk.len())
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_all(s.as_bytes());
        Ok(())
    }
}

/// Writes `bytes` straight to USART3's data register, waiting for each (the panic handler:
/// interrupts are off, the ring is not drained). USART3 is set up by `init` by then, or
/// the bytes go nowhere.
pub fn write_polled(bytes: &[u8]) {
    let usart = embassy_stm32::pac::USART3;
    for &b in bytes {
        // Bounded: at 115200 baud a byte takes 87 us; give up on a USART that never
        // empties (not set up) rather than hang before the panic loop.
        let mut spins = 0u32;
        while !usart.sr().read().txe() && spins < 1_000_000 {
            spins += 1;
        }
        usart.dr().write(|w| w.set_dr(u16::from(b)));
    }
}
