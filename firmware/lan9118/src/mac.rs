//! Bring-up and management: the MAC's registers behind the indirect CSR port, the PHY's
//! behind the MAC's MII port, and polling of self-clearing bits with a bound.

use crate::regs::{Reg, Registers, bits};
use crate::{InitError, Port, SPINS};

impl<R: Registers> Port<R> {
    /// MAC address, PHY, and the MAC's receiver and transmitter.
    pub(crate) fn start(&mut self, mac: [u8; 6]) -> Result<(), InitError> {
        let [a, b, c, d, e, f] = mac.map(u32::from);
        self.mac_write(bits::MAC_ADDRH, e | f << 8)?;
        self.mac_write(bits::MAC_ADDRL, a | b << 8 | c << 16 | d << 24)?;
        self.phy_write(bits::PHY_BCR, bits::PHY_BCR_RESET)?;
        let mut spins = SPINS;
        while self.phy_read(bits::PHY_BCR)? & bits::PHY_BCR_RESET != 0 {
            spins = spins
                .checked_sub(1)
                .ok_or(InitError::Timeout("PHY reset"))?;
        }
        self.phy_write(bits::PHY_ANAR, bits::PHY_ANAR_ALL)?;
        self.phy_write(
            bits::PHY_BCR,
            bits::PHY_BCR_AUTONEG | bits::PHY_BCR_RESTART_AUTONEG,
        )?;
        self.regs.write(Reg::RxCfg, 0);
        self.regs
            .write(Reg::TxCfg, bits::TX_CFG_TX_ON | bits::TX_CFG_TXSAO);
        self.mac_write(
            bits::MAC_CR,
            bits::MAC_CR_FDPX | bits::MAC_CR_TXEN | bits::MAC_CR_RXEN,
        )
    }

    fn mac_wait(&mut self) -> Result<(), InitError> {
        spin(
            &mut self.regs,
            Reg::MacCsrCmd,
            bits::MAC_CSR_BUSY,
            0,
            "MAC CSR",
        )
    }

    fn mac_write(&mut self, index: u32, value: u32) -> Result<(), InitError> {
        self.mac_wait()?;
        self.regs.write(Reg::MacCsrData, value);
        self.regs.write(Reg::MacCsrCmd, bits::MAC_CSR_BUSY | index);
        self.mac_wait()
    }

    fn mac_read(&mut self, index: u32) -> Result<u32, InitError> {
        self.mac_wait()?;
        self.regs.write(
            Reg::MacCsrCmd,
            bits::MAC_CSR_BUSY | bits::MAC_CSR_READ | index,
        );
        self.mac_wait()?;
        Ok(self.regs.read(Reg::MacCsrData))
    }

    fn mii_wait(&mut self) -> Result<(), InitError> {
        for _ in 0..SPINS {
            if self.mac_read(bits::MAC_MII_ACC)? & bits::MII_BUSY == 0 {
                return Ok(());
            }
        }
        Err(InitError::Timeout("MII"))
    }

    fn phy_write(&mut self, reg: u32, value: u32) -> Result<(), InitError> {
        self.mii_wait()?;
        self.mac_write(bits::MAC_MII_DATA, value)?;
        let access = bits::PHY_ADDR << 11 | reg << 6 | bits::MII_WRITE | bits::MII_BUSY;
        self.mac_write(bits::MAC_MII_ACC, access)?;
        self.mii_wait()
    }

    pub(crate) fn phy_read(&mut self, reg: u32) -> Result<u32, InitError> {
        self.mii_wait()?;
        let access = bits::PHY_ADDR << 11 | reg << 6 | bits::MII_BUSY;
        self.mac_write(bits::MAC_MII_ACC, access)?;
        self.mii_wait()?;
        Ok(self.mac_read(bits::MAC_MII_DATA)? & 0xffff)
    }
}

/// Polls `reg` until `reg & mask == want`, at most [`SPINS`] times.
pub(crate) fn spin<R: Registers>(
    regs: &mut R,
    reg: Reg,
    mask: u32,
    want: u32,
    what: &'static str,
) -> Result<(), InitError> {
    for _ in 0..SPINS {
        if regs.read(reg) & mask == want {
            return Ok(());
        }
    }
    Err(InitError::Timeout(what))
}
