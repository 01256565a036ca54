//! Finding a device among QEMU virt's eight virtio-mmio slots.
//!
//! QEMU fills the slots in an order of its own (the first `-device` on the command line
//! takes the highest slot), and empty slots answer with device id 0; so the board scans all
//! eight for the device it wants rather than assuming one. A slot is a device only with the
//! virtio magic value and a transport version virtio-drivers knows: 1 (legacy, QEMU's
//! default) or 2 (modern, `-global virtio-mmio.force-legacy=false`).

/// The first slot's registers on QEMU virt.
pub const BASE: usize = 0x1000_1000;
/// Bytes between two slots (and the size of each: header and config space).
pub const STRIDE: usize = 0x1000;
/// Slots on QEMU virt.
pub const SLOTS: usize = 8;
/// The PLIC interrupt of slot 0; slot `i` has `FIRST_IRQ + i`.
pub const FIRST_IRQ: u32 = 1;

/// virtio device ids (virtio 1.2, 5).
pub const NET: u32 = 1;
/// The entropy source.
pub const RNG: u32 = 4;

const MAGIC: u32 = 0x7472_6976; // "virt"
const REG_MAGIC: usize = 0x000;
const REG_VERSION: usize = 0x004;
const REG_DEVICE_ID: usize = 0x008;

/// Reads one 32-bit register of one slot: volatile MMIO on the board, memory in a test.
pub trait Probe {
    fn read(&self, slot: usize, offset: usize) -> u32;
}

/// A device found in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub slot: usize,
    /// 1: legacy, 2: modern.
    pub version: u32,
}

impl Found {
    /// Its registers' address on QEMU virt.
    pub fn address(&self) -> usize {
        BASE + self.slot * STRIDE
    }

    /// Its PLIC interrupt on QEMU virt.
    pub fn irq(&self) -> u32 {
        FIRST_IRQ + self.slot as u32
    }
}

/// The lowest slot holding a device with id `device_id`, if any.
pub fn find(probe: &impl Probe, device_id: u32) -> Option<Found> {
    (0..SLOTS).find_map(|slot| {
        let version = probe.read(slot, REG_VERSION);
        let usable = probe.read(slot, REG_MAGIC) == MAGIC
            && matches!(version, 1 | 2)
            && probe.read(slot, REG_DEVICE_ID) == device_id;
        usable.then_some(Found { slot, version })
    })
}

/// How many slots hold a device of any kind (for an error message when the one wanted is
/// missing).
pub fn devices(probe: &impl Probe) -> usize {
    (0..SLOTS)
        .filter(|&slot| {
            probe.read(slot, REG_MAGIC) == MAGIC && probe.read(slot, REG_DEVICE_ID) != 0
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight slots' first registers: magic, version, device id.
    struct Fake([[u32; 3]; SLOTS]);

    impl Fake {
        /// What QEMU virt shows with no `-device`: every slot a transport with no device.
        fn empty(version: u32) -> Self {
            Fake([[MAGIC, version, 0]; SLOTS])
        }

        fn with(mut self, slot: usize, device: u32) -> Self {
            self.0[slot][2] = device;
            self
        }
    }

    impl Probe for Fake {
        fn read(&self, slot: usize, offset: usize) -> u32 {
            self.0[slot][offset / 4]
        }
    }

    #[test]
    fn the_net_device_is_found_in_any_slot_legacy_or_modern() {
        for version in [1, 2] {
            for slot in 0..SLOTS {
                let fake = Fake::empty(version).with(slot, NET);
                let found = find(&fake, NET).expect("a net device");
                assert_eq!(found, Found { slot, version });
                assert_eq!(found.address(), 0x1000_1000 + slot * 0x1000);
                assert_eq!(found.irq(), 1 + slot as u32);
            }
        }
    }

    #[test]
    fn other_devices_are_passed_over() {
        // QEMU's order for `-device virtio-net-device -device virtio-rng-device`.
        let fake = Fake::empty(1).with(7, NET).with(6, RNG);
        assert_eq!(find(&fake, NET).map(|f| f.slot), Some(7));
        assert_eq!(find(&fake, RNG).map(|f| f.slot), Some(6));
        assert_eq!(devices(&fake), 2);
    }

    #[test]
    fn no_device_bad_magic_or_unknown_version_is_not_found() {
        assert_eq!(find(&Fake::empty(1), NET), None);
        assert_eq!(devices(&Fake::empty(1)), 0);
        let mut fake = Fake::empty(1).with(3, NET);
        fake.0[3][0] = 0xffff_ffff; // nothing answering at that address
        assert_eq!(find(&fake, NET), None);
        for version in [0, 3, u32::MAX] {
            assert_eq!(find(&Fake::empty(version).with(2, NET), NET), None);
        }
    }

    #[test]
    fn the_lowest_of_two_is_taken() {
        let fake = Fake::empty(2).with(5, NET).with(1, NET);
        assert_eq!(find(&fake, NET).map(|f| f.slot), Some(1));
    }
}
