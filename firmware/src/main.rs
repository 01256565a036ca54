//! Board bring-up check (temporary): smoltcp on the LAN9118, TCP and UDP echo on 7777.
#![no_std]
#![no_main]

mod board;

use core::fmt::Write;

use cortex_m_rt::entry;
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};

use board::Board;

mod net {
    include!(concat!(env!("OUT_DIR"), "/net_config.rs"));
}

const PORT: u16 = 7777;

#[entry]
fn main() -> ! {
    let mut board = match Board::init() {
        Ok(b) => b,
        Err((mut uart, e)) => {
            let _ = writeln!(uart, "error: Ethernet controller did not come up: {e:?}");
            loop {
                cortex_m::asm::wfi();
            }
        }
    };
    let now = || Instant::from_millis(board::now_ms() as i64);
    let mut config = Config::new(EthernetAddress(board::MAC).into());
    config.random_seed = 0x5eed;
    let mut iface = Interface::new(config, &mut board.nic, now());
    let [a, b, c, d] = net::IP;
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), net::PREFIX));
    });
    let [a, b, c, d] = net::GATEWAY;
    let _ = iface
        .routes_mut()
        .add_default_ipv4_route(Ipv4Address::new(a, b, c, d));

    static mut STORAGE: [SocketStorage<'static>; 6] = [SocketStorage::EMPTY; 6];
    static mut TCP_BUF: [[u8; 2048]; 8] = [[0; 2048]; 8];
    static mut UDP_META: [[udp::PacketMetadata; 4]; 2] = [[udp::PacketMetadata::EMPTY; 4]; 2];
    static mut UDP_BUF: [[u8; 2048]; 2] = [[0; 2048]; 2];
    // Safety: main runs once; these statics are taken here only.
    let (storage, tcp_buf, udp_meta, udp_buf) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(STORAGE),
            &mut *core::ptr::addr_of_mut!(TCP_BUF),
            &mut *core::ptr::addr_of_mut!(UDP_META),
            &mut *core::ptr::addr_of_mut!(UDP_BUF),
        )
    };
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut handles = heapless_handles();
    let mut bufs = tcp_buf.iter_mut();
    for h in handles.iter_mut() {
        let (Some(rx), Some(tx)) = (bufs.next(), bufs.next()) else {
            break;
        };
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        );
        s.set_nagle_enabled(false);
        s.set_ack_delay(None);
        let _ = s.listen(PORT);
        *h = Some(sockets.add(s));
    }
    let [m0, m1] = udp_meta;
    let [b0, b1] = udp_buf;
    let mut u = udp::Socket::new(
        udp::PacketBuffer::new(&mut m0[..], &mut b0[..]),
        udp::PacketBuffer::new(&mut m1[..], &mut b1[..]),
    );
    let _ = u.bind(PORT);
    let udp_h = sockets.add(u);
    let _ = writeln!(
        board.uart,
        "{{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"INFO\",\"event\":\"listening\",\"addr\":\"{}.{}.{}.{}:{PORT}\",\"proto\":\"tcp\"}}",
        net::IP[0],
        net::IP[1],
        net::IP[2],
        net::IP[3]
    );
    let mut buf = [0u8; 1024];
    loop {
        iface.poll(now(), &mut board.nic, &mut sockets);
        for h in handles.iter().flatten() {
            let s = sockets.get_mut::<tcp::Socket>(*h);
            if !s.is_open() {
                let _ = s.listen(PORT);
            }
            if s.can_recv() && s.can_send() {
                let room = s.send_capacity() - s.send_queue();
                let n = s.recv_slice(&mut buf[..room.min(1024)]).unwrap_or(0);
                let _ = s.send_slice(&buf[..n]);
            } else if !s.may_recv() && s.may_send() && s.send_queue() == 0 {
                s.close();
            }
        }
        let u = sockets.get_mut::<udp::Socket>(udp_h);
        while let Ok((n, meta)) = u.recv_slice(&mut buf) {
            let _ = u.send_slice(&buf[..n], meta.endpoint);
        }
        iface.poll(now(), &mut board.nic, &mut sockets);
        if iface
            .poll_delay(now(), &sockets)
            .is_none_or(|d| d.total_millis() > 0)
        {
            board.wait_for_work();
        }
    }
}

fn heapless_handles() -> [Option<smoltcp::iface::SocketHandle>; 4] {
    [None; 4]
}
