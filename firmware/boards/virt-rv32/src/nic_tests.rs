//! The adapter against a software virtio-net device: it reads and writes the very rings
//! virtio-drivers lays out in memory, as QEMU does, in the legacy and the modern layout.

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::{self, NonNull};
use std::rc::Rc;

use smoltcp::phy::{Device, RxToken as _, TxToken as _};
use smoltcp::time::Instant;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::*;

/// DMA memory from the host's allocator (the static pool has its own tests).
struct StdHal;

// Safety: zeroed, page-aligned, exclusive allocations; identity "physical" addresses.
unsafe impl Hal for StdHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).expect("layout");
        // Safety: a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        (p as PhysAddr, NonNull::new(p).expect("memory"))
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).expect("layout");
        // Safety: allocated above with this layout.
        unsafe { std::alloc::dealloc(vaddr.as_ptr(), layout) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as usize as *mut u8).expect("address")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

const MAC_FEATURE: u64 = 1 << 5;
const STATUS_FEATURE: u64 = 1 << 16;
const VERSION_1: u64 = 1 << 32;
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;

#[derive(Default, Clone, Copy)]
struct Queue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    last_avail: u16,
}

/// What the device holds and has seen.
#[derive(Default)]
struct State {
    legacy: bool,
    status: u32,
    queues: [Option<Queue>; 2],
    /// Frames the driver sent, header included.
    sent: Vec<Vec<u8>>,
    /// Transmit chains not completed yet (while `hold_tx`).
    held: Vec<u16>,
    hold_tx: bool,
}

/// A virtio-net device in memory; clones share it (the driver owns one, the test another).
#[derive(Clone, Default)]
struct FakeNet(Rc<RefCell<State>>);

// Safety (all helpers): the addresses are the rings virtio-drivers allocated and gave the
// device in `queue_set`, alive while the driver is; the driver reads them only through
// volatile accesses and fences, as it would with a real device.
fn read<T: Copy>(addr: u64) -> T {
    unsafe { ptr::read_volatile(addr as usize as *const T) }
}
fn write<T: Copy>(addr: u64, value: T) {
    unsafe { ptr::write_volatile(addr as usize as *mut T, value) }
}

impl Queue {
    /// The next chain the driver made available, if any.
    fn pop(&mut self) -> Option<u16> {
        let avail_idx: u16 = read(self.avail + 2);
        if avail_idx == self.last_avail {
            return None;
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        let head = read(self.avail + 4 + 2 * u64::from(self.last_avail % self.size));
        self.last_avail = self.last_avail.wrapping_add(1);
        Some(head)
    }

    /// (address, length, flags, next) of descriptor `i`.
    fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
        let d = self.desc + 16 * u64::from(i);
        (read(d), read(d + 8), read(d + 12), read(d + 14))
    }

    fn push_used(&self, id: u16, len: u32) {
        let idx: u16 = read(self.used + 2);
        let entry = self.used + 4 + 8 * u64::from(idx % self.size);
        write(entry, u32::from(id));
        write(entry + 4, len);
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        write(self.used + 2, idx.wrapping_add(1));
    }
}

impl FakeNet {
    fn new(legacy: bool) -> Self {
        let fake = FakeNet::default();
        fake.0.borrow_mut().legacy = legacy;
        fake
    }

    fn header_len(&self) -> usize {
        if self.0.borrow().legacy { 10 } else { 12 }
    }

    /// Puts a frame in the next receive buffer, the used length as given (or honest):
    /// false when the driver posted none.
    fn deliver_len(&self, frame: &[u8], used_len: Option<u32>) -> bool {
        let hdr = self.header_len();
        let mut state = self.0.borrow_mut();
        let Some(q) = state.queues[0].as_mut() else {
            return false;
        };
        let Some(head) = q.pop() else {
            return false;
        };
        let (addr, len, flags, _) = q.desc(head);
        assert!(
            flags & DESC_WRITE != 0,
            "a receive buffer the device may write"
        );
        let mut bytes = vec![0u8; hdr];
        bytes.extend_from_slice(frame);
        assert!(
            bytes.len() <= len as usize,
            "the test's frame fits the buffer"
        );
        for (i, b) in bytes.iter().enumerate() {
            write(addr + i as u64, *b);
        }
        q.push_used(head, used_len.unwrap_or(bytes.len() as u32));
        true
    }

    fn deliver(&self, frame: &[u8]) -> bool {
        self.deliver_len(frame, None)
    }

    /// Completes the transmissions held back.
    fn release_tx(&self) {
        let mut state = self.0.borrow_mut();
        state.hold_tx = false;
        let held = std::mem::take(&mut state.held);
        if let Some(q) = state.queues[1] {
            held.into_iter().for_each(|h| q.push_used(h, 0));
        }
    }

    fn sent(&self) -> Vec<Vec<u8>> {
        self.0.borrow().sent.clone()
    }
}

impl Transport for FakeNet {
    fn device_type(&self) -> DeviceType {
        DeviceType::Network
    }

    fn read_device_features(&mut self) -> u64 {
        let modern = if self.0.borrow().legacy { 0 } else { VERSION_1 };
        MAC_FEATURE | STATUS_FEATURE | modern
    }

    fn write_driver_features(&mut self, _driver_features: u64) {}

    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        256
    }

    fn notify(&mut self, queue: u16) {
        if queue != 1 {
            return;
        }
        let mut state = self.0.borrow_mut();
        let hold = state.hold_tx;
        let Some(mut q) = state.queues[1] else {
            return;
        };
        while let Some(head) = q.pop() {
            let mut frame = Vec::new();
            let mut i = head;
            loop {
                let (addr, len, flags, next) = q.desc(i);
                assert_eq!(flags & DESC_WRITE, 0, "a transmit buffer is read-only");
                frame.extend((0..u64::from(len)).map(|k| read::<u8>(addr + k)));
                if flags & DESC_NEXT == 0 {
                    break;
                }
                i = next;
            }
            state.sent.push(frame);
            if hold {
                state.held.push(head);
            } else {
                q.push_used(head, 0);
            }
        }
        state.queues[1] = Some(q);
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.0.borrow().status)
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.0.borrow_mut().status = status.bits();
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}

    fn requires_legacy_layout(&self) -> bool {
        self.0.borrow().legacy
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) {
        self.0.borrow_mut().queues[usize::from(queue)] = Some(Queue {
            size: size as u16,
            desc,
            avail,
            used,
            last_avail: 0,
        });
    }

    fn queue_unset(&mut self, queue: u16) {
        self.0.borrow_mut().queues[usize::from(queue)] = None;
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.0.borrow().queues[usize::from(queue)].is_some()
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }

    fn read_config_generation(&self) -> u32 {
        0
    }

    fn read_config_space<T: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<T> {
        // mac, then status (link up).
        let config = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 1, 0, 0, 0, 0, 0];
        let bytes = config
            .get(offset..)
            .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)?;
        T::read_from_prefix(bytes)
            .map(|(v, _)| v)
            .map_err(|_| virtio_drivers::Error::ConfigSpaceTooSmall)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> virtio_drivers::Result<()> {
        Ok(())
    }
}

fn nic(legacy: bool) -> (VirtioNic<StdHal, FakeNet>, FakeNet) {
    let fake = FakeNet::new(legacy);
    let buffers = Box::leak(Box::new(Buffers::new()));
    let nic = VirtioNic::new(fake.clone(), buffers).expect("the device comes up");
    (nic, fake)
}

fn frame(n: usize, tag: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7) ^ tag).collect()
}

/// The next frame smoltcp would get, if any.
fn receive(nic: &mut VirtioNic<StdHal, FakeNet>) -> Option<Vec<u8>> {
    let (rx, _tx) = nic.receive(Instant::ZERO)?;
    Some(rx.consume(|f| f.to_vec()))
}

fn send(nic: &mut VirtioNic<StdHal, FakeNet>, bytes: &[u8]) -> bool {
    let Some(tx) = nic.transmit(Instant::ZERO) else {
        return false;
    };
    tx.consume(bytes.len(), |buf| buf.copy_from_slice(bytes));
    true
}

#[test]
fn frames_come_up_in_order_without_the_header_legacy_and_modern() {
    for legacy in [true, false] {
        let (mut nic, fake) = nic(legacy);
        assert_eq!(nic.mac(), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(receive(&mut nic), None);
        // More frames than buffers, in turns: each buffer goes back to the device.
        for round in 0..10u8 {
            let (a, b) = (frame(60, round), frame(MAX_FRAME, round ^ 0xff));
            assert!(fake.deliver(&a) && fake.deliver(&b), "both buffers posted");
            assert!(!fake.deliver(&a), "only {RX_BUFS} buffers");
            assert_eq!(receive(&mut nic), Some(a));
            assert_eq!(receive(&mut nic), Some(b));
            assert_eq!(receive(&mut nic), None);
        }
        assert_eq!(nic.stats().rx_frames, 20);
    }
}

#[test]
fn a_waiting_frame_shows_until_it_is_taken() {
    let (mut nic, fake) = nic(false);
    assert!(!nic.rx_pending());
    assert!(fake.deliver(&frame(60, 3)));
    assert!(nic.rx_pending());
    assert_eq!(receive(&mut nic), Some(frame(60, 3)));
    assert!(!nic.rx_pending());
}

#[test]
fn frames_go_out_behind_a_zeroed_header_of_the_transports_size() {
    for legacy in [true, false] {
        let (mut nic, fake) = nic(legacy);
        let hdr = fake.header_len();
        for i in 0..5u8 {
            assert!(send(&mut nic, &frame(100 + usize::from(i), i)));
        }
        let sent = fake.sent();
        assert_eq!(sent.len(), 5);
        for (i, s) in sent.iter().enumerate() {
            assert!(s[..hdr].iter().all(|&b| b == 0), "legacy {legacy}");
            assert_eq!(s[hdr..], frame(100 + i, i as u8)[..]);
        }
        assert_eq!(nic.stats().tx_frames, 5);
    }
}

#[test]
fn a_frame_waits_while_no_transmit_buffer_is_free_for_its_answer() {
    let (mut nic, fake) = nic(false);
    fake.0.borrow_mut().hold_tx = true;
    for i in 0..TX_BUFS {
        assert!(send(&mut nic, &frame(64, i as u8)));
    }
    assert!(
        !send(&mut nic, &frame(64, 9)),
        "both buffers are with the device"
    );
    assert!(fake.deliver(&frame(64, 1)));
    assert_eq!(receive(&mut nic), None, "no room for an answer yet");
    fake.release_tx();
    assert_eq!(receive(&mut nic), Some(frame(64, 1)));
    assert!(send(&mut nic, &frame(64, 2)));
    assert_eq!(nic.stats().tx_errors, 0);
}

#[test]
fn runts_overlong_and_headerless_completions_are_dropped_and_counted() {
    let (mut nic, fake) = nic(false);
    assert!(fake.deliver(&frame(10, 0)));
    assert_eq!(receive(&mut nic), None);
    // A device claiming more than the buffer holds.
    assert!(fake.deliver_len(&frame(64, 0), Some(3000)));
    assert_eq!(receive(&mut nic), None);
    // A used length shorter than the virtio-net header.
    assert!(fake.deliver_len(&frame(64, 0), Some(4)));
    assert_eq!(receive(&mut nic), None);
    let stats = nic.stats();
    assert_eq!(
        (
            stats.rx_runts,
            stats.rx_oversized,
            stats.rx_errors,
            stats.rx_frames
        ),
        (1, 1, 1, 0)
    );
    // Every buffer went back: good frames still come up.
    for i in 0..4 {
        assert!(fake.deliver(&frame(200, i)));
        assert_eq!(receive(&mut nic), Some(frame(200, i)));
    }
}

#[test]
fn an_overlong_send_is_cut_to_one_frame_and_counted() {
    let (mut nic, fake) = nic(false);
    let tx = nic.transmit(Instant::ZERO).expect("a free buffer");
    tx.consume(MAX_FRAME + 100, |buf| {
        assert_eq!(buf.len(), MAX_FRAME);
        buf.fill(0xee);
    });
    assert_eq!(fake.sent()[0].len(), 12 + MAX_FRAME);
    assert_eq!(nic.stats().tx_oversized, 1);
}

/// What a test run does to the adapter and its device.
#[derive(Debug, Clone)]
enum Op {
    /// The device fills the next buffer with a frame of this length, reporting the used
    /// length honestly or, with `Some`, a bad one.
    Deliver(usize, Option<Lie>),
    /// smoltcp asks for a frame.
    Receive,
    /// smoltcp sends a frame of this length.
    Send(usize),
    /// The device stops or resumes completing transmissions.
    HoldTx(bool),
}

/// A used length the device should not report.
#[derive(Debug, Clone, Copy)]
enum Lie {
    /// Shorter than the virtio-net header (by this much and more).
    Headerless(u32),
    /// The header and fewer bytes than an Ethernet header.
    Runt(u32),
    /// More than the buffer holds.
    Overlong(u32),
}

impl Lie {
    fn used_len(self, hdr: u32) -> u32 {
        match self {
            Lie::Headerless(n) => hdr.saturating_sub(1 + n),
            Lie::Runt(n) => hdr + n,
            Lie::Overlong(n) => n,
        }
    }
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let bad_len = prop_oneof![
        (0u32..10).prop_map(Lie::Headerless),
        (0u32..MIN_FRAME as u32).prop_map(Lie::Runt),
        (BUF as u32 + 1..4000).prop_map(Lie::Overlong),
    ];
    prop_oneof![
        3 => (0usize..=MAX_FRAME, proptest::option::weighted(0.2, bad_len))
            .prop_map(|(n, lie)| Op::Deliver(n, lie)),
        3 => Just(Op::Receive),
        2 => (MIN_FRAME..=MAX_FRAME).prop_map(Op::Send),
        1 => any::<bool>().prop_map(Op::HoldTx),
    ]
}

proptest::proptest! {
    /// Whatever the device reports, in any order with sends and stalls: no panic, every
    /// good frame comes up once, intact and in order, every bad one is counted, and every
    /// buffer keeps going back to the device.
    #[test]
    fn any_mix_of_frames_lies_and_stalls_keeps_order_and_counts(
        legacy in proptest::bool::ANY,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let (mut nic, fake) = nic(legacy);
        let hdr = fake.header_len() as u32;
        let mut expected = std::collections::VecDeque::new();
        let (mut delivered, mut bad, mut sent) = (0u32, 0u32, 0u32);
        let mut tag = 0u8;
        for op in ops {
            match op {
                Op::Deliver(n, lie) => {
                    tag = tag.wrapping_add(1);
                    let f = frame(n, tag);
                    let lie = lie.map(|l| l.used_len(hdr));
                    if fake.deliver_len(&f, lie) {
                        delivered += 1;
                        let used = lie.unwrap_or(hdr + n as u32);
                        if used >= hdr + MIN_FRAME as u32 && used <= hdr + MAX_FRAME as u32 {
                            expected.push_back(f);
                        } else {
                            bad += 1;
                        }
                    }
                }
                Op::Receive => {
                    if let Some(got) = receive(&mut nic) {
                        proptest::prop_assert_eq!(Some(got), expected.pop_front());
                    }
                }
                Op::Send(n) => {
                    if send(&mut nic, &frame(n, 0x5a)) {
                        sent += 1;
                    }
                }
                Op::HoldTx(true) => fake.0.borrow_mut().hold_tx = true,
                Op::HoldTx(false) => fake.release_tx(),
            }
        }
        fake.release_tx();
        while let Some(got) = receive(&mut nic) {
            proptest::prop_assert_eq!(Some(got), expected.pop_front());
        }
        proptest::prop_assert!(expected.is_empty(), "{} frames never came up", expected.len());
        let s = nic.stats();
        proptest::prop_assert_eq!(s.rx_frames + s.rx_runts + s.rx_oversized + s.rx_errors, delivered);
        proptest::prop_assert_eq!(s.rx_runts + s.rx_oversized + s.rx_errors, bad);
        proptest::prop_assert_eq!((s.tx_frames, s.tx_errors), (sent, 0));
        proptest::prop_assert_eq!(fake.sent().len() as u32, sent);
        // The buffers are all with the device again.
        for i in 0..RX_BUFS as u8 {
            proptest::prop_assert!(fake.deliver(&frame(60, i)));
        }
    }
}
