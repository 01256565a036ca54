//! The adapters under smoltcp itself, against fakes: an embassy `Driver` that queues frames
//! in memory, a [`RawFrames`] NIC that fails on demand, and the software W5500 on SPI.

extern crate std;

use std::collections::VecDeque;
use std::vec;
use std::vec::Vec;

use core::task::Context;

use embassy_net_driver as emb;
use proptest::prelude::*;
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, RxToken as _, TxToken as _};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress,
    IpCidr, Ipv4Address,
};

use crate::{DriverDevice, FrameDevice, FrameStats, MAX_FRAME, RawFrames};

const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x64];
const IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const PEER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);

/// An ARP request from the peer for `IP`.
fn arp_request() -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(PEER_MAC),
        source_protocol_addr: PEER_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: IP,
    };
    let mut buf = vec![0; 14 + repr.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    frame.set_dst_addr(EthernetAddress::BROADCAST);
    frame.set_src_addr(EthernetAddress(PEER_MAC));
    frame.set_ethertype(EthernetProtocol::Arp);
    repr.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    buf
}

/// Whether `frame` is our ARP reply to the peer.
fn is_arp_reply(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if eth.ethertype() != EthernetProtocol::Arp || eth.dst_addr() != EthernetAddress(PEER_MAC) {
        return false;
    }
    let Ok(arp) = ArpPacket::new_checked(eth.payload()) else {
        return false;
    };
    matches!(
        ArpRepr::parse(&arp),
        Ok(ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) if source_hardware_addr == EthernetAddress(MAC)
            && source_protocol_addr == IP
            && target_protocol_addr == PEER_IP
    )
}

/// One smoltcp poll of an interface at `IP` over `device`.
fn poll_interface<D: Device>(device: &mut D) {
    let config = Config::new(EthernetAddress(MAC).into());
    let mut iface = Interface::new(config, device, Instant::ZERO);
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(IP), 24))
            .expect("room for one address");
    });
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut sockets = SocketSet::new(&mut storage[..]);
    iface.poll(Instant::ZERO, device, &mut sockets);
}

// --- DriverDevice over a fake embassy driver ---

/// Frames in memory; room for `tx_room` more sends; counts the wakers it was handed.
struct FakeDriver {
    inbox: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    tx_room: usize,
    polls: usize,
    caps: emb::Capabilities,
}

impl FakeDriver {
    fn new(tx_room: usize) -> Self {
        let mut caps = emb::Capabilities::default();
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(4);
        FakeDriver {
            inbox: VecDeque::new(),
            sent: Vec::new(),
            tx_room,
            polls: 0,
            caps,
        }
    }
}

/// The frame at the head of the queue, taken off only when consumed (as a DMA ring does).
struct FakeRx<'a>(&'a mut VecDeque<Vec<u8>>);

struct FakeTx<'a> {
    sent: &'a mut Vec<Vec<u8>>,
    room: &'a mut usize,
}

impl emb::RxToken for FakeRx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        let mut frame = self.0.pop_front().expect("a token only with a frame");
        f(&mut frame)
    }
}

impl emb::TxToken for FakeTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.sent.push(frame);
        *self.room -= 1;
        r
    }
}

impl emb::Driver for FakeDriver {
    type RxToken<'a> = FakeRx<'a>;
    type TxToken<'a> = FakeTx<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(FakeRx<'_>, FakeTx<'_>)> {
        // What an embassy driver does with the waker: keep it and wake it later.
        cx.waker().wake_by_ref();
        self.polls += 1;
        if self.tx_room == 0 || self.inbox.is_empty() {
            return None;
        }
        Some((
            FakeRx(&mut self.inbox),
            FakeTx {
                sent: &mut self.sent,
                room: &mut self.tx_room,
            },
        ))
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<FakeTx<'_>> {
        cx.waker().wake_by_ref();
        self.polls += 1;
        (self.tx_room > 0).then_some(FakeTx {
            sent: &mut self.sent,
            room: &mut self.tx_room,
        })
    }

    fn link_state(&mut self, cx: &mut Context) -> emb::LinkState {
        cx.waker().wake_by_ref();
        emb::LinkState::Up
    }

    fn capabilities(&self) -> emb::Capabilities {
        self.caps.clone()
    }

    fn hardware_address(&self) -> emb::HardwareAddress {
        emb::HardwareAddress::Ethernet(MAC)
    }
}

#[test]
fn driver_device_answers_arp_through_smoltcp() {
    let mut driver = FakeDriver::new(8);
    driver.inbox.push_back(arp_request());
    let mut device = DriverDevice::new(driver);
    poll_interface(&mut device);
    assert_eq!(device.frames(), (1, 1));
    let driver = device.driver();
    assert_eq!(driver.sent.len(), 1);
    assert!(
        is_arp_reply(&driver.sent[0]),
        "not an ARP reply: {:?}",
        driver.sent[0]
    );
    assert!(driver.polls > 0);
    assert!(device.link_up());
}

#[test]
fn driver_device_takes_no_frame_without_room_to_answer() {
    let mut driver = FakeDriver::new(0);
    driver.inbox.push_back(arp_request());
    let mut device = DriverDevice::new(driver);
    assert!(!device.has_frame());
    assert!(device.receive(Instant::ZERO).is_none());
    assert!(device.transmit(Instant::ZERO).is_none());
    // The frame stays queued for when there is room.
    device.driver().tx_room = 1;
    assert!(device.has_frame());
    assert!(device.has_frame(), "looking does not take the frame");
    let (rx, _tx) = device.receive(Instant::ZERO).expect("a frame and room");
    assert_eq!(rx.consume(|f| f.to_vec()), arp_request());
    assert_eq!(device.frames(), (1, 0));
    assert!(!device.has_frame());
}

#[test]
fn driver_device_passes_capabilities_on() {
    let mut driver = FakeDriver::new(1);
    driver.caps.checksum.ipv4 = emb::Checksum::Tx;
    driver.caps.checksum.tcp = emb::Checksum::None;
    driver.caps.checksum.udp = emb::Checksum::Rx;
    let device = DriverDevice::new(driver);
    let caps = device.capabilities();
    assert_eq!(caps.medium, phy::Medium::Ethernet);
    assert_eq!(caps.max_transmission_unit, MAX_FRAME);
    assert_eq!(caps.max_burst_size, Some(4));
    assert!(matches!(caps.checksum.ipv4, phy::Checksum::Tx));
    assert!(matches!(caps.checksum.tcp, phy::Checksum::None));
    assert!(matches!(caps.checksum.udp, phy::Checksum::Rx));
    assert!(matches!(caps.checksum.icmpv4, phy::Checksum::Both));
}

// --- FrameDevice over a NIC that fails on demand ---

#[derive(Default)]
struct FakeFrames {
    inbox: VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    /// Fail the next reads and writes; take at most this many bytes of a write.
    fail_reads: usize,
    fail_writes: usize,
    room: Option<usize>,
}

impl RawFrames for FakeFrames {
    type Error = ();

    fn read_frame(&mut self, frame: &mut [u8]) -> Result<usize, ()> {
        if self.fail_reads > 0 {
            self.fail_reads -= 1;
            return Err(());
        }
        let Some(next) = self.inbox.pop_front() else {
            return Ok(0);
        };
        let n = next.len().min(frame.len());
        frame[..n].copy_from_slice(&next[..n]);
        Ok(n)
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<usize, ()> {
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            return Err(());
        }
        if self.room.is_some_and(|room| room < frame.len()) {
            return Ok(0);
        }
        self.sent.push(frame.to_vec());
        Ok(frame.len())
    }
}

#[test]
fn frame_device_answers_arp_through_smoltcp() {
    let mut nic = FakeFrames::default();
    nic.inbox.push_back(arp_request());
    let mut device = FrameDevice::new(nic);
    poll_interface(&mut device);
    assert_eq!(device.nic().sent.len(), 1);
    assert!(is_arp_reply(&device.nic().sent[0]));
    assert_eq!(
        device.stats(),
        FrameStats {
            rx_frames: 1,
            tx_frames: 1,
            ..FrameStats::default()
        }
    );
}

#[test]
fn frame_device_counts_failed_reads_and_writes() {
    let mut nic = FakeFrames {
        fail_reads: 1,
        fail_writes: 1,
        room: Some(100),
        ..FakeFrames::default()
    };
    nic.inbox.push_back(vec![1; 60]);
    let mut device = FrameDevice::new(nic);
    // A failed read: nothing for smoltcp, the frame still waits.
    assert!(device.receive(Instant::ZERO).is_none());
    let (rx, _) = device
        .receive(Instant::ZERO)
        .expect("the frame, read again");
    assert_eq!(rx.consume(|f| f.len()), 60);
    // A bus error, then a frame the NIC has no room for: neither is sent, both counted.
    for len in [60, 200] {
        let tx = device
            .transmit(Instant::ZERO)
            .expect("always room to build a frame");
        tx.consume(len, |buf| buf.fill(7));
    }
    let tx = device.transmit(Instant::ZERO).expect("room");
    tx.consume(64, |buf| buf.fill(9));
    assert_eq!(device.nic().sent, vec![vec![9; 64]]);
    assert_eq!(
        device.stats(),
        FrameStats {
            rx_frames: 1,
            tx_frames: 1,
            rx_errors: 1,
            tx_errors: 2,
        }
    );
}

#[test]
fn frame_device_caps_a_longer_frame_than_ethernet() {
    let mut device = FrameDevice::new(FakeFrames::default());
    let tx = device.transmit(Instant::ZERO).expect("room");
    let built = tx.consume(MAX_FRAME + 100, |buf| buf.len());
    assert_eq!(built, MAX_FRAME);
    assert_eq!(device.nic().sent[0].len(), MAX_FRAME);
}

// --- the W5500 bring-up and its frames, against the software chip ---

mod w5500 {
    use super::*;
    use crate::fake::{Fault, Shared, W5500};
    use crate::w5500::{InitError, init};

    #[test]
    fn init_opens_macraw_with_the_address() {
        let shared = Shared::new(W5500::default());
        let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
        shared.with(|c| {
            assert!(c.macraw_open());
            assert_eq!(c.mac(), MAC);
        });
        assert!(nic.receive(Instant::ZERO).is_none(), "nothing received yet");
    }

    #[test]
    fn init_refuses_a_chip_that_is_not_a_w5500() {
        let mut chip = W5500::default();
        chip.version = 0xff;
        let Err(e) = init(chip, MAC) else {
            panic!("a version of 0xff was taken for a W5500");
        };
        assert_eq!(e, InitError::NotAW5500 { version: 0xff });
        assert_eq!(
            std::format!("{e}"),
            "no W5500 on SPI: its version register reads 0xff, not 0x04"
        );
    }

    #[test]
    fn init_reports_a_failed_transfer() {
        let mut chip = W5500::default();
        chip.fail_next(1);
        assert_eq!(init(chip, MAC).err(), Some(InitError::Spi(Fault)));
    }

    #[test]
    fn a_link_that_never_sends_costs_errors_not_a_hang() {
        let shared = Shared::new(W5500::default());
        let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
        shared.with(|c| c.link_up = false);
        // 16 KiB of transmit buffer take 10 full frames; the 11th finds no room and is
        // refused at once, as is every one after it.
        for _ in 0..20 {
            let tx = nic.transmit(Instant::ZERO).expect("room to build a frame");
            tx.consume(MAX_FRAME, |buf| buf.fill(1));
        }
        assert_eq!(nic.stats().tx_frames, 10);
        assert_eq!(nic.stats().tx_errors, 10);
        shared.with(|c| assert!(c.sent.is_empty()));
    }

    #[test]
    fn an_impossible_length_header_drops_what_waits_and_is_counted() {
        let shared = Shared::new(W5500::default());
        let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
        // Shorter than a header and an Ethernet header; longer than any frame; 0; longer
        // than the 10 bytes received.
        for header in [
            [0x00, 0x05],
            [0xff, 0xff],
            [0x00, 0x00],
            [0x05, 0xef],
            [0x00, 0x40],
        ] {
            shared.with(|c| c.inject_raw(&[header[0], header[1], 1, 2, 3, 4, 5, 6, 7, 8]));
            assert!(nic.receive(Instant::ZERO).is_none(), "{header:?}");
            shared.with(|c| assert_eq!(c.rx_waiting(), 0, "{header:?}: dropped"));
        }
        // One byte alone cannot even hold a header.
        shared.with(|c| c.inject_raw(&[0x00]));
        assert!(nic.receive(Instant::ZERO).is_none());
        assert_eq!(nic.stats().rx_errors, 6);
        // The next good frame comes through.
        shared.with(|c| c.inject(&arp_request()));
        let (rx, _) = nic.receive(Instant::ZERO).expect("the good frame");
        assert_eq!(rx.consume(|f| f.to_vec()), arp_request());
    }

    #[test]
    fn a_failed_transfer_while_receiving_leaves_the_frame_waiting() {
        let shared = Shared::new(W5500::default());
        let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
        shared.with(|c| {
            c.inject(&arp_request());
            c.fail_next(1);
        });
        assert!(nic.receive(Instant::ZERO).is_none());
        assert_eq!(nic.stats().rx_errors, 1);
        let (rx, _) = nic.receive(Instant::ZERO).expect("the frame, read again");
        assert_eq!(rx.consume(|f| f.to_vec()), arp_request());
    }

    #[test]
    fn answers_arp_through_the_chip() {
        let shared = Shared::new(W5500::default());
        let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
        shared.with(|c| c.inject(&arp_request()));
        poll_interface(&mut nic);
        shared.with(|c| {
            assert_eq!(c.sent.len(), 1);
            assert!(
                is_arp_reply(&c.sent[0]),
                "not an ARP reply: {:?}",
                c.sent[0]
            );
            assert_eq!(c.rx_waiting(), 0, "the frame was released to the chip");
        });
        assert_eq!(nic.stats().tx_frames, 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the receive buffer holds (a confused chip, a glitched SPI read),
        /// receiving never panics, hands smoltcp only frames of an Ethernet length, and
        /// empties the buffer in at most one call per byte.
        #[test]
        fn any_receive_buffer_is_read_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..4000),
            frames in proptest::collection::vec(14usize..=MAX_FRAME, 0..3),
        ) {
            let shared = Shared::new(W5500::default());
            let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
            shared.with(|c| {
                // Good frames first, sometimes: garbage after them must not cost them.
                for &len in &frames {
                    c.inject(&vec![0x5a; len]);
                }
                c.inject_raw(&bytes);
            });
            let mut good = 0;
            for _ in 0..=bytes.len() + frames.len() {
                if shared.with(|c| c.rx_waiting()) == 0 {
                    break;
                }
                if let Some((rx, _)) = nic.receive(Instant::ZERO) {
                    let len = rx.consume(|f| f.len());
                    prop_assert!((14..=MAX_FRAME).contains(&len), "{len}");
                    good += 1;
                }
            }
            prop_assert_eq!(shared.with(|c| c.rx_waiting()), 0);
            prop_assert!(good >= frames.len());
        }

        /// Frames of any Ethernet length, enough of them to wrap the 16 KiB buffers several
        /// times, come out of the chip as they went in, and go back out as written.
        #[test]
        fn frames_round_trip_through_the_buffers(
            lens in proptest::collection::vec(14usize..=MAX_FRAME, 1..40),
            seed in any::<u8>(),
        ) {
            let shared = Shared::new(W5500::default());
            let mut nic = init(shared.clone(), MAC).expect("a W5500 answers");
            for (i, &len) in lens.iter().enumerate() {
                let frame: Vec<u8> =
                    (0..len).map(|j| seed.wrapping_add((i * 7 + j) as u8)).collect();
                shared.with(|c| c.inject(&frame));
                let (rx, tx) = nic.receive(Instant::ZERO).expect("the injected frame");
                let got = rx.consume(|f| f.to_vec());
                prop_assert_eq!(&got, &frame);
                tx.consume(len, |buf| buf.copy_from_slice(&frame));
                prop_assert!(nic.receive(Instant::ZERO).is_none());
                let sent = shared.with(|c| c.sent.pop());
                prop_assert_eq!(sent, Some(frame));
            }
            prop_assert_eq!(
                nic.stats(),
                FrameStats {
                    rx_frames: lens.len() as u32,
                    tx_frames: lens.len() as u32,
                    ..FrameStats::default()
                }
            );
        }
    }
}
