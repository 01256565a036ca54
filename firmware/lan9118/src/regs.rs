//! The controller's register map: offsets, the access trait a board implements, and the
//! bits the driver uses.

/// The controller's registers, as offsets from its base address (32-bit access only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reg {
    /// RX data FIFO port (reads pop one word).
    RxData = 0x00,
    /// TX data FIFO port (writes push one word).
    TxData = 0x20,
    /// RX status FIFO port (reads pop one status word).
    RxStatus = 0x40,
    /// TX status FIFO port (reads pop one status word).
    TxStatus = 0x48,
    /// Chip ID and revision.
    IdRev = 0x50,
    /// Interrupt pin configuration.
    IrqCfg = 0x54,
    /// Interrupt status (write 1 to clear).
    IntSts = 0x58,
    /// Interrupt enables.
    IntEn = 0x5c,
    /// Reads 0x87654321 once the bus interface is up.
    ByteTest = 0x64,
    /// FIFO level interrupt thresholds.
    FifoInt = 0x68,
    /// Receive configuration (bit 15: RX_DUMP flushes both RX FIFOs).
    RxCfg = 0x6c,
    /// Transmit configuration.
    TxCfg = 0x70,
    /// Hardware configuration (bit 0: soft reset).
    HwCfg = 0x74,
    /// RX FIFO fill: status words used (23:16) and data bytes used (15:0).
    RxFifoInf = 0x7c,
    /// TX FIFO fill: status words used (23:16) and data bytes free (15:0).
    TxFifoInf = 0x80,
    /// Power management (bit 0: device ready).
    PmtCtrl = 0x84,
    /// MAC CSR command: busy (31), read (30), MAC register index (3:0).
    MacCsrCmd = 0xa4,
    /// MAC CSR data.
    MacCsrData = 0xa8,
}

/// 32-bit access to the controller's registers: what a board (or a test) provides.
pub trait Registers {
    /// Reads a register; reading a FIFO port pops from it.
    fn read(&mut self, reg: Reg) -> u32;
    /// Writes a register; writing a FIFO port pushes to it.
    fn write(&mut self, reg: Reg, value: u32);
}

/// Register bits the driver uses (names from the LAN9118 datasheet).
pub(crate) mod bits {
    pub const BYTE_TEST: u32 = 0x8765_4321;
    pub const HW_CFG_SRST: u32 = 1;
    pub const PMT_CTRL_READY: u32 = 1;
    pub const RX_CFG_RX_DUMP: u32 = 1 << 15;
    pub const TX_CFG_TX_ON: u32 = 1 << 1;
    /// Let the TX status FIFO overrun instead of stalling transmission when full.
    pub const TX_CFG_TXSAO: u32 = 1 << 2;
    pub const INT_RSFL: u32 = 1 << 3;
    pub const IRQ_CFG_EN: u32 = 1 << 8;
    /// Active-high, push-pull: the line is high while an enabled interrupt is pending.
    pub const IRQ_CFG_HIGH_PUSH_PULL: u32 = (1 << 4) | 1;
    pub const RX_STS_FILTER_FAIL: u32 = 1 << 30;
    pub const RX_STS_ERROR: u32 = 1 << 15;
    pub const TX_STS_ERROR: u32 = 1 << 15;
    pub const TX_CMD_A_FIRST: u32 = 1 << 13;
    pub const TX_CMD_A_LAST: u32 = 1 << 12;
    pub const MAC_CSR_BUSY: u32 = 1 << 31;
    pub const MAC_CSR_READ: u32 = 1 << 30;
    pub const MAC_CR: u32 = 1;
    pub const MAC_ADDRH: u32 = 2;
    pub const MAC_ADDRL: u32 = 3;
    pub const MAC_MII_ACC: u32 = 6;
    pub const MAC_MII_DATA: u32 = 7;
    pub const MAC_CR_FDPX: u32 = 1 << 20;
    pub const MAC_CR_TXEN: u32 = 1 << 3;
    pub const MAC_CR_RXEN: u32 = 1 << 2;
    pub const MII_BUSY: u32 = 1;
    pub const MII_WRITE: u32 = 1 << 1;
    /// The internal PHY's address on the MII bus.
    pub const PHY_ADDR: u32 = 1;
    pub const PHY_BCR: u32 = 0;
    pub const PHY_BSR: u32 = 1;
    pub const PHY_ANAR: u32 = 4;
    pub const PHY_BCR_RESET: u32 = 1 << 15;
    pub const PHY_BCR_AUTONEG: u32 = 1 << 12;
    pub const PHY_BCR_RESTART_AUTONEG: u32 = 1 << 9;
    /// Advertise 10/100, half and full duplex, IEEE 802.3.
    pub const PHY_ANAR_ALL: u32 = 0x01e1;
    pub const PHY_BSR_LINK: u32 = 1 << 2;
}
