//! echokit on WIZnet's W5500-EVB-Pico (an RP2040, Cortex-M0+, with a W5500 on SPI in MACRAW
//! mode: smoltcp does TCP/IP, the W5500 only moves frames): this crate is only the board,
//! `echokit_app` is the rest.
#![no_std]
#![no_main]

mod board;

use core::fmt::Write;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    match board::Pico::init() {
        Ok(board) => echokit_app::run(board),
        Err((mut uart, e)) => {
            let _ = writeln!(uart, "error: the Ethernet controller did not come up: {e}");
            board::halt()
        }
    }
}
