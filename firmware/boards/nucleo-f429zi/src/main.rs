//! echokit on ST's Nucleo-F429ZI (an STM32F429ZI, Cortex-M4F, with its Ethernet MAC on a
//! LAN8742A PHY and USART3 on the ST-LINK's virtual COM port): this crate is only the
//! board, `echokit_app` is the rest.
#![no_std]
#![no_main]

mod board;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    echokit_app::run(board::Nucleo::init())
}
