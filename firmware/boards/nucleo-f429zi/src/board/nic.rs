//! The STM32F429's Ethernet MAC with the board's LAN8742A PHY (RMII, PHY address 0), as a
//! smoltcp device: embassy-stm32's driver under `nic_adapters::DriverDevice`.
//!
//! Two things the driver leaves to its user are done here:
//! - Its MAC runs at 100 Mbit/s full duplex whatever the PHY negotiated; [`follow_link`]
//!   reads the speed the LAN8742A settled on and sets the MAC to match (a 10 Mbit/s or
//!   half-duplex switch port would otherwise see no good frame).
//! - Frames the MAC dropped (no free receive descriptor, FIFO overflow) are counted by
//!   the DMA in a register that clears when read; [`Stats`] adds them up.

use core::time::Duration;

use cortex_m::singleton;
use echokit_app::Instant;
use embassy_stm32::Peri;
use embassy_stm32::eth::{
    Ethernet, GenericPhy, InterruptHandler, PacketQueue, Sma, StationManagement,
};
use embassy_stm32::interrupt::typelevel::{Binding, ETH as EthIrq};
use embassy_stm32::pac;
use embassy_stm32::peripherals::{ETH, ETH_SMA, PA1, PA2, PA7, PB13, PC1, PC4, PC5, PG11, PG13};
use nic_adapters::DriverDevice;
use nic_adapters::lan8742a::{self, Link};

/// Frames the DMA can hold each way, 1.5 KiB each: what the RAM budget leaves. One to send
/// (smoltcp builds one frame at a time; the MAC sends a full one in 120 us at 100 Mbit/s),
/// two received while the loop is busy (the MAC's own 2 KiB receive FIFO holds one more).
/// A frame that finds no free descriptor is dropped and counted ([`Stats`]).
const TX: usize = 1;
const RX: usize = 2;
/// The LAN8742A's address on the management bus (its PHYAD pins, strapped to 0).
const PHY_ADDRESS: u8 = 0;
/// How often the link is looked at.
const LINK_EVERY: Duration = Duration::from_secs(1);

type Phy = GenericPhy<Sma<'static, ETH_SMA>>;

/// The board's NIC.
pub struct Nic {
    device: DriverDevice<Ethernet<'static, ETH, Phy>>,
    stats: Stats,
    link: Option<Link>,
    link_at: Option<Instant>,
}

/// Frames dropped since boot (each wrapping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames the MAC received with no free descriptor to put them in (the loop was busy).
    pub rx_no_descriptor: u32,
    /// Frames lost to the MAC's receive FIFO overflowing.
    pub rx_overflow: u32,
}

/// The RMII and management pins on the Nucleo-144 (UM1974, "Ethernet"; the solder bridges
/// as shipped connect them to the LAN8742A).
pub struct Pins {
    pub ref_clk: Peri<'static, PA1>,
    pub mdio: Peri<'static, PA2>,
    pub crs_dv: Peri<'static, PA7>,
    pub mdc: Peri<'static, PC1>,
    pub rx_d0: Peri<'static, PC4>,
    pub rx_d1: Peri<'static, PC5>,
    pub tx_en: Peri<'static, PG11>,
    pub tx_d0: Peri<'static, PG13>,
    pub tx_d1: Peri<'static, PB13>,
}

/// Resets the PHY, starts its auto-negotiation and the MAC's DMA. Call once.
pub fn init(
    pins: Pins,
    eth: Peri<'static, ETH>,
    sma: Peri<'static, ETH_SMA>,
    irq: impl Binding<EthIrq, InterruptHandler> + 'static,
    mac: [u8; 6],
) -> Nic {
    let Some(queue) = singleton!(: PacketQueue<TX, RX> = PacketQueue::new()) else {
        panic!("nic::init called twice");
    };
    let phy = GenericPhy::new(Sma::new(sma, pins.mdio, pins.mdc), PHY_ADDRESS);
    let eth = Ethernet::new_with_phy(
        queue,
        eth,
        irq,
        pins.ref_clk,
        pins.crs_dv,
        pins.rx_d0,
        pins.rx_d1,
        pins.tx_d0,
        pins.tx_d1,
        pins.tx_en,
        mac,
        phy,
    );
    Nic {
        device: DriverDevice::new(eth),
        stats: Stats::default(),
        link: None,
        link_at: None,
    }
}

impl Nic {
    /// The counters so far (reading the DMA's drop counter clears it: it is added here).
    pub fn stats(&mut self) -> Stats {
        let missed = pac::ETH.ethernet_dma().dmamfbocr().read();
        // Each counter saturates at its width; its overflow bit says it did.
        self.stats.rx_no_descriptor = self
            .stats
            .rx_no_descriptor
            .wrapping_add(u32::from(missed.mfc()));
        self.stats.rx_overflow = self.stats.rx_overflow.wrapping_add(u32::from(missed.mfa()));
        self.stats
    }

    /// Whether a received frame waits (with room to answer it).
    pub fn has_frame(&mut self) -> bool {
        self.device.has_frame()
    }
}

impl smoltcp::phy::Device for Nic {
    type RxToken<'a>
        = <DriverDevice<Ethernet<'static, ETH, Phy>> as smoltcp::phy::Device>::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = <DriverDevice<Ethernet<'static, ETH, Phy>> as smoltcp::phy::Device>::TxToken<'a>
    where
        Self: 'a;

    fn receive(
        &mut self,
        timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.device.receive(timestamp)
    }

    fn transmit(&mut self, timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        self.device.transmit(timestamp)
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        self.device.capabilities()
    }
}

/// Once a second: reads the PHY's link and, when it came up or changed, sets the MAC's
/// speed and duplex to what the PHY negotiated.
pub fn follow_link(nic: &mut Nic, now: Instant) {
    if nic
        .link_at
        .is_some_and(|at| now.saturating_duration_since(at) < LINK_EVERY)
    {
        return;
    }
    nic.link_at = Some(now);
    let sm = nic.device.driver().phy_mut().station_management();
    let bsr = sm.smi_read(PHY_ADDRESS, lan8742a::BSR);
    let scsr = sm.smi_read(PHY_ADDRESS, lan8742a::SCSR);
    let link = lan8742a::link(bsr, scsr);
    if link == nic.link {
        return;
    }
    nic.link = link;
    if let Some(Link { fast, full_duplex }) = link {
        pac::ETH.ethernet_mac().maccr().modify(|w| {
            w.set_fes(if fast {
                pac::eth::vals::Fes::FES100
            } else {
                pac::eth::vals::Fes::FES10
            });
            w.set_dm(if full_duplex {
                pac::eth::vals::Dm::FULL_DUPLEX
            } else {
                pac::eth::vals::Dm::HALF_DUPLEX
            });
        });
    }
}
