//! The `lan9118` crate's driver as a [`FrameDevice`]: frames are copied between its FIFOs
//! and the device's two buffers, and a frame is taken, or a transmit token given, only
//! while the TX FIFO has room for the largest frame.

use core::convert::Infallible;

use lan9118::{Lan9118, Registers};

use crate::frames::{FrameDevice, RawFrames};

/// The NIC of a LAN9118 behind registers `R`.
pub type Nic<R> = FrameDevice<Lan9118<R>>;

impl<R: Registers> RawFrames for Lan9118<R> {
    type Error = Infallible;

    fn read_frame(&mut self, frame: &mut [u8]) -> Result<usize, Infallible> {
        Ok(self.receive(frame).unwrap_or(0))
    }

    /// An oversized frame is refused (counted by the driver): no bytes taken.
    fn write_frame(&mut self, frame: &[u8]) -> Result<usize, Infallible> {
        let sent = self.stats().tx_frames;
        self.transmit(frame);
        Ok(if self.stats().tx_frames == sent {
            0
        } else {
            frame.len()
        })
    }

    fn can_transmit(&mut self) -> bool {
        Lan9118::can_transmit(self)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use lan9118::fake::{Chip, TX_KEPT};
    use smoltcp::phy::{Device, RxToken as _, TxToken as _};
    use smoltcp::time::Instant;

    use super::*;
    use crate::MAX_FRAME;

    const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x01];

    fn nic() -> Nic<Chip> {
        FrameDevice::new(Lan9118::new(Chip::new(), MAC).expect("the fake comes up"))
    }

    fn frame(len: usize, seed: u8) -> Vec<u8> {
        let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_add(seed)).collect();
        f[..6].copy_from_slice(&MAC);
        f
    }

    #[test]
    fn smoltcp_tokens_carry_the_frame_and_send_the_answer() {
        let mut nic = nic();
        let f = frame(80, 11);
        assert!(nic.nic().registers().push_frame(&f));
        let (rx, tx) = nic.receive(Instant::ZERO).expect("a frame");
        assert_eq!(rx.consume(|bytes| bytes.to_vec()), f);
        tx.consume(42, |buf| buf.fill(0x5a));
        let sent = nic.nic().registers().sent[TX_KEPT - 1].expect("answer sent");
        assert_eq!(&sent.bytes[..sent.len], &[0x5a; 42][..]);
        assert!(nic.receive(Instant::ZERO).is_none());
        assert_eq!(nic.capabilities().max_transmission_unit, MAX_FRAME);
        assert_eq!(lan9118::MAX_FRAME, MAX_FRAME);
        let s = nic.stats();
        assert_eq!((s.rx_frames, s.tx_frames, s.tx_errors), (1, 1, 0));
    }

    /// A NIC with no room to send: no frame is taken (its answer would have nowhere to
    /// go) and no transmit token is given; both come back with room.
    #[test]
    fn no_room_to_send_holds_frames_back() {
        struct Full(bool);
        impl RawFrames for Full {
            type Error = Infallible;
            fn read_frame(&mut self, frame: &mut [u8]) -> Result<usize, Infallible> {
                Ok(frame.len().min(60))
            }
            fn write_frame(&mut self, frame: &[u8]) -> Result<usize, Infallible> {
                Ok(frame.len())
            }
            fn can_transmit(&mut self) -> bool {
                !self.0
            }
        }
        let mut nic = FrameDevice::new(Full(true));
        assert!(nic.receive(Instant::ZERO).is_none());
        assert!(nic.transmit(Instant::ZERO).is_none());
        assert_eq!(nic.stats().rx_frames, 0);
        nic.nic().0 = false;
        assert!(nic.receive(Instant::ZERO).is_some());
        assert!(nic.transmit(Instant::ZERO).is_some());
    }
}
