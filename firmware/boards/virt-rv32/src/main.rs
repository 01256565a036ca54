//! echokit on QEMU virt (an RV32IMAC hart in M-mode, virtio-net over virtio-mmio, an
//! NS16550A UART): this crate is only the board, `echokit_app` is the rest.
#![no_std]
#![no_main]

use core::fmt::Write;

use echokit_virt_rv32::board::{self, VirtRv32};
use echokit_virt_rv32::nic::Buffers;

/// The NIC's frame buffers: the device reads and writes them, so they live for good.
static mut NIC_BUFFERS: Buffers = Buffers::new();

#[riscv_rt::entry]
fn main() -> ! {
    // Safety: main runs once, and only here is the static borrowed.
    let buffers = unsafe { &mut *core::ptr::addr_of_mut!(NIC_BUFFERS) };
    match VirtRv32::init(buffers) {
        Ok(board) => echokit_app::run(board),
        Err((mut uart, e)) => {
            let _ = writeln!(uart, "error: {e}");
            board::halt()
        }
    }
}
