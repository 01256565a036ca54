//! The echokit firmware's `virt-rv32` board: QEMU's `virt` machine with an RV32IMAC hart in
//! M-mode (`-bios none`, `riscv-rt`), virtio-net over virtio-mmio, an NS16550A UART.
//!
//! The pieces that hold logic are plain Rust over small traits, so their tests run on the
//! host (`cargo test --lib --target x86_64-unknown-linux-gnu`): the virtio-mmio slot scan,
//! the DMA page pool, the virtio-net adapter, the UART's non-blocking writes, the split
//! `mtime` read. [`board`] puts them at QEMU virt's addresses as an [`echokit_app::Board`];
//! it builds for the target only.
#![cfg_attr(not(test), no_std)]

pub mod clock;
pub mod dma;
pub mod nic;
pub mod slots;
pub mod uart;

#[cfg(target_arch = "riscv32")]
pub mod board;
