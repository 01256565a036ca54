//! echokit on QEMU's mps2-an386 (Arm AN386: a Cortex-M4F with an SMSC LAN9118 Ethernet
//! controller and CMSDK UARTs): this crate is only the board, `echokit_app` is the rest.
#![no_std]
#![no_main]

mod board;
mod nic;
mod panic;
mod uart;

use core::fmt::Write;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    match board::Mps2::init() {
        Ok(board) => echokit_app::run(board),
        Err((mut uart, e)) => {
            let _ = writeln!(
                uart,
                "error: the Ethernet controller did not come up: {e:?}"
            );
            board::halt()
        }
    }
}
