//! DMA memory for virtio-drivers' queues, with no heap: a static pool of pages handed out by
//! a bump allocator.
//!
//! Under `-bios none` the hart runs in M-mode without translation, so a physical address is
//! the virtual one and any static memory is reachable by the device. virtio-drivers asks its
//! [`Hal`] for whole, zeroed, page-aligned pages, only when a queue is made: the net device's
//! two queues at boot (4 pages, legacy or modern layout alike), and before that, for a
//! moment, the entropy device's one. So the pool never needs to reuse a hole: once every
//! region is freed (the entropy device dropped) it starts again from the first page.
//!
//! Frame buffers are not allocated here: [`Hal::share`] passes the address of the
//! caller's own static buffers straight to the device.

use core::cell::{RefCell, UnsafeCell};
use core::ptr::NonNull;

use critical_section::Mutex;
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// Pages in the pool: the net device's receive and transmit queues, two pages each (the
/// descriptor table and available ring in one, the used ring in the other).
pub const PAGES: usize = 4;

/// Which pages are handed out: the next free page, and how many regions are still live.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Bump {
    next: usize,
    live: usize,
}

impl Bump {
    pub const fn new() -> Self {
        Bump { next: 0, live: 0 }
    }

    /// The first of `pages` contiguous pages out of `capacity`, or `None` when they do not
    /// fit (or `pages` is 0).
    pub fn alloc(&mut self, pages: usize, capacity: usize) -> Option<usize> {
        let end = self.next.checked_add(pages)?;
        if pages == 0 || end > capacity {
            return None;
        }
        let first = self.next;
        self.next = end;
        self.live += 1;
        Some(first)
    }

    /// Gives a region back; when none is live any more, the whole pool is free again.
    /// Returns false for a free without a live region (a caller's bug, not acted on).
    pub fn free(&mut self) -> bool {
        if self.live == 0 {
            return false;
        }
        self.live -= 1;
        if self.live == 0 {
            self.next = 0;
        }
        true
    }

    /// Pages handed out and not yet reclaimed.
    pub fn used(&self) -> usize {
        self.next
    }
}

#[repr(C, align(4096))]
struct Pages(UnsafeCell<[[u8; PAGE_SIZE]; PAGES]>);

// Safety: the pages are only reached through pointers handed out once each by `BUMP`
// (under a critical section); nothing else reads or writes them.
unsafe impl Sync for Pages {}

/// The pages, in their own linker section, `.dma`, which memory.x places at the start of RAM
/// (page-aligned without padding). Not zeroed at boot: each region is zeroed when handed
/// out.
#[cfg_attr(target_arch = "riscv32", unsafe(link_section = ".dma"))]
static POOL: Pages = Pages(UnsafeCell::new([[0; PAGE_SIZE]; PAGES]));

/// Which of them are handed out.
static BUMP: Mutex<RefCell<Bump>> = Mutex::new(RefCell::new(Bump::new()));

/// virtio-drivers' view of the machine: identity-mapped memory and the static pool.
pub struct PoolHal;

/// Pages of the pool in use now (for a test or a footprint note).
pub fn pages_used() -> usize {
    critical_section::with(|cs| BUMP.borrow_ref(cs).used())
}

// Safety: `dma_alloc` returns page-aligned, zeroed pages of a static that no other code
// touches, each page handed out once until freed; `share` returns the address the buffer
// already has, which the device reaches directly (no IOMMU, no translation in M-mode).
unsafe impl Hal for PoolHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(first) = critical_section::with(|cs| BUMP.borrow_ref_mut(cs).alloc(pages, PAGES))
        else {
            // virtio-drivers turns a zero address into `Error::DmaError`.
            return (0, NonNull::dangling());
        };
        let base = POOL.0.get().cast::<u8>();
        // Safety: `first + pages <= PAGES`, so the region lies inside the static, and `bump`
        // just handed it out: nothing else refers to it.
        let region = unsafe {
            let start = base.add(first * PAGE_SIZE);
            start.write_bytes(0, pages * PAGE_SIZE);
            start
        };
        // The static is not null.
        let vaddr = NonNull::new(region).unwrap_or(NonNull::dangling());
        (region as usize as PhysAddr, vaddr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        if critical_section::with(|cs| BUMP.borrow_ref_mut(cs).free()) {
            0
        } else {
            -1
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport calls this; addresses are identity-mapped anyway.
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Nothing was copied: the device wrote the buffer in place.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_contiguous_and_bounded() {
        let mut bump = Bump::new();
        assert_eq!(bump.alloc(2, 4), Some(0));
        assert_eq!(bump.alloc(1, 4), Some(2));
        assert_eq!(bump.alloc(2, 4), None, "only one page is left");
        assert_eq!(bump.alloc(0, 4), None);
        assert_eq!(bump.alloc(usize::MAX, 4), None);
        assert_eq!(bump.alloc(1, 4), Some(3));
        assert_eq!(bump.used(), 4);
    }

    #[test]
    fn the_pool_starts_again_once_every_region_is_freed() {
        let mut bump = Bump::new();
        bump.alloc(1, 4);
        bump.alloc(1, 4);
        assert!(bump.free());
        assert_eq!(bump.alloc(3, 4), None, "a region is still live");
        assert!(bump.free());
        assert_eq!(bump.alloc(4, 4), Some(0));
        assert!(bump.free());
        assert!(!bump.free(), "a free with nothing live is refused");
        assert_eq!(bump.used(), 0);
    }

    /// The real Hal on the host: page-aligned, zeroed, identity-mapped, exhausted cleanly,
    /// reused once freed. (One test touches the static pool, so they cannot interfere.)
    #[test]
    fn the_hal_hands_out_zeroed_aligned_pages_and_takes_them_back() {
        let (pa, va) = PoolHal::dma_alloc(2, BufferDirection::Both);
        assert_ne!(pa, 0);
        assert_eq!(pa as usize, va.as_ptr() as usize);
        assert_eq!(pa as usize % PAGE_SIZE, 0);
        // Safety: the two pages just allocated.
        let bytes = unsafe { core::slice::from_raw_parts_mut(va.as_ptr(), 2 * PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes.fill(0xa5);
        let (pb, _) = PoolHal::dma_alloc(2, BufferDirection::Both);
        assert_eq!(pb as usize, pa as usize + 2 * PAGE_SIZE);
        assert_eq!(
            PoolHal::dma_alloc(1, BufferDirection::Both).0,
            0,
            "pool full"
        );
        assert_eq!(pages_used(), PAGES);
        // Safety: the regions returned above, freed once each.
        unsafe {
            assert_eq!(PoolHal::dma_dealloc(pb, va, 2), 0);
            assert_eq!(PoolHal::dma_dealloc(pa, va, 2), 0);
        }
        let (pc, vc) = PoolHal::dma_alloc(1, BufferDirection::Both);
        assert_eq!(pc, pa, "the pool starts again");
        // Safety: the page just allocated.
        let again = unsafe { core::slice::from_raw_parts(vc.as_ptr(), PAGE_SIZE) };
        assert!(
            again.iter().all(|&b| b == 0),
            "reused pages are zeroed again"
        );
        // Safety: freed once.
        unsafe { PoolHal::dma_dealloc(pc, vc, 1) };
    }
}
