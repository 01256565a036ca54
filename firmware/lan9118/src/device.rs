//! [`Lan9118`] as a `smoltcp::phy::Device`: one frame per token, copied through the
//! driver's buffers (the FIFOs are ports, not memory smoltcp could borrow).

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::{Lan9118, MAX_FRAME, Port, Registers};

/// A received frame, lent to smoltcp.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room in the TX FIFO for one frame.
pub struct TxToken<'a, R: Registers> {
    port: &'a mut Port<R>,
}

impl<R: Registers> Device for Lan9118<R> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, R>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // An answer (an ACK, an echo) may follow each frame: take one only with room for it.
        if !self.port.can_transmit() {
            return None;
        }
        let len = self.port.receive(&mut self.rx)?;
        Some((
            RxToken {
                frame: &self.rx[..len],
            },
            TxToken {
                port: &mut self.port,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.port.can_transmit().then_some(TxToken {
            port: &mut self.port,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // One frame at a time through the FIFO. No checksum offload: QEMU's model does not
        // implement the LAN9220's, so smoltcp computes and checks every checksum.
        caps.max_burst_size = Some(1);
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        f(self.frame)
    }
}

impl<R: Registers> phy::TxToken for TxToken<'_, R> {
    fn consume<T, F>(self, len: usize, f: F) -> T
    where
        F: FnOnce(&mut [u8]) -> T,
    {
        // smoltcp never asks for more than the MTU; a longer request is refused (counted)
        // by `transmit`, after `f` wrote what fits.
        let fits = len.min(MAX_FRAME);
        let result = f(&mut self.port.tx[..fits]);
        self.port.transmit(len);
        result
    }
}
