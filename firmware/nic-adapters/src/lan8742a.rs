//! What the Nucleo-F429ZI's PHY, a Microchip LAN8742A, negotiated: the MAC must be set to
//! the same speed and duplex (embassy-stm32's driver fixes it at 100 Mbit/s full duplex).

/// Basic Status Register (IEEE 802.3 clause 22, register 1).
pub const BSR: u8 = 1;
/// PHY Special Control/Status Register (LAN8742A datasheet 4.2.22, register 31).
pub const SCSR: u8 = 31;

const BSR_LINK_UP: u16 = 1 << 2;
const BSR_AN_DONE: u16 = 1 << 5;
const SCSR_AN_DONE: u16 = 1 << 12;
/// SCSR bits 4:2, the speed indication: 001 10BASE-T half, 101 10BASE-T full, 010
/// 100BASE-TX half, 110 100BASE-TX full.
const SCSR_100: u16 = 1 << 3;
const SCSR_FULL: u16 = 1 << 4;
const SCSR_SPEED: u16 = 0b111 << 2;

/// A link the MAC can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// 100 Mbit/s (else 10).
    pub fast: bool,
    pub full_duplex: bool,
}

/// The link from the two registers; `None` while it is down, auto-negotiation is not
/// done, or the speed indication is none of the four the datasheet lists.
pub fn link(bsr: u16, scsr: u16) -> Option<Link> {
    if bsr & BSR_LINK_UP == 0 || bsr & BSR_AN_DONE == 0 || scsr & SCSR_AN_DONE == 0 {
        return None;
    }
    match (scsr & SCSR_SPEED) >> 2 {
        0b001 | 0b101 | 0b010 | 0b110 => Some(Link {
            fast: scsr & SCSR_100 != 0,
            full_duplex: scsr & SCSR_FULL != 0,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: u16 = BSR_LINK_UP | BSR_AN_DONE;

    #[test]
    fn each_negotiated_mode_is_read() {
        let cases = [
            (0b001, false, false),
            (0b101, false, true),
            (0b010, true, false),
            (0b110, true, true),
        ];
        for (speed, fast, full_duplex) in cases {
            let scsr = SCSR_AN_DONE | (speed << 2) | 0x0040; // other bits set stay ignored
            assert_eq!(
                link(UP, scsr),
                Some(Link { fast, full_duplex }),
                "{speed:03b}"
            );
        }
    }

    #[test]
    fn no_link_until_it_is_up_and_negotiated() {
        let scsr = SCSR_AN_DONE | (0b110 << 2);
        assert_eq!(link(BSR_AN_DONE, scsr), None, "link down");
        assert_eq!(link(BSR_LINK_UP, scsr), None, "negotiation not done (BSR)");
        assert_eq!(link(UP, 0b110 << 2), None, "negotiation not done (SCSR)");
        assert_eq!(link(UP, SCSR_AN_DONE), None, "no speed indicated");
        assert_eq!(
            link(UP, SCSR_AN_DONE | (0b111 << 2)),
            None,
            "not a listed mode"
        );
    }
}
