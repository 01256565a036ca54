//! smoltcp 0.14 `phy::Device`s for the NIC drivers of the real boards, kept apart from the
//! boards so they are tested on a host against fakes:
//!
//! - [`DriverDevice`]: any `embassy_net_driver::Driver` (embassy-stm32's Ethernet MAC on the
//!   Nucleo-F429ZI) polled with a no-op waker. The firmware's loop polls; nothing awaits, so
//!   the waker the driver registers is never needed, and its tokens map one to one onto
//!   smoltcp's.
//! - [`FrameDevice`]: a NIC that reads and writes whole frames through blocking calls
//!   ([`RawFrames`]), copied through two frame buffers: the W5500's MACRAW socket on the
//!   W5500-EVB-Pico (feature `w5500`, module [`w5500`]), and the LAN9118's FIFOs on QEMU's
//!   mps2-an386 (feature `lan9118`, module `lan9118`).
//! - [`lan8742a`]: the speed and duplex the Nucleo's PHY negotiated, for its MAC to follow.
#![no_std]

mod driver;
#[cfg(feature = "fake")]
pub mod fake;
mod frames;
pub mod lan8742a;
#[cfg(feature = "lan9118")]
pub mod lan9118;
#[cfg(feature = "w5500")]
pub mod w5500;

pub use driver::DriverDevice;
pub use frames::{FrameDevice, FrameStats, RawFrames};

/// Longest Ethernet frame without its CRC (1500 bytes of payload and the 14-byte header):
/// what both NICs hand over and take.
pub const MAX_FRAME: usize = 1514;

#[cfg(test)]
mod tests;
