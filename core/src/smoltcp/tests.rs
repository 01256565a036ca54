//! The runner over smoltcp's `Loopback` device with a mock clock: server pool and test
//! clients on one interface, the real [`Service`] and a recording log. Deterministic and
//! unprivileged; the TAP is exercised by the host's tests, the LAN9118 by the firmware's.

use std::string::String;
use std::string::ToString;
use std::vec::Vec;
use std::{format, vec};

use smoltcp::iface::{Config, SocketHandle};
use smoltcp::phy::{Loopback, Medium};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint};

use super::*;
use crate::echo;
use crate::record::{Level, Record};
use crate::service::Settings;
use crate::time::Timestamp;
use crate::udp::Policy;

const PORT: u16 = 7777;
/// Steps (1 ms of mock time each) any one exchange may take before the test fails.
const STEP_LIMIT: usize = 60_000;

/// A connection's buffers as a device holds them: fixed, inline.
type Buf = heapless::Vec<u8, 4096>;

/// Keeps every record as its JSON line; the wall clock counts from 1970 as a device's does.
struct Recorder(Vec<String>);

impl Log for Recorder {
    fn enabled(&self, level: Level) -> bool {
        level <= Level::Debug
    }

    fn write_always(&mut self, record: &Record<'_>) {
        let mut buf = vec![0; record.max_formatted_len()];
        let n = record.format(&mut buf).expect("fits");
        self.0
            .push(String::from_utf8(buf[..n].to_vec()).expect("utf-8"));
    }

    fn timestamp(&mut self, now: crate::time::Instant) -> Timestamp {
        Timestamp::from_unix_millis(now.millis())
    }
}

type Svc = Service<Recorder, Vec<u8>, Policy<16>>;

struct Net {
    stack: Stack<'static, Buf>,
    device: Loopback,
    service: Svc,
    now: Instant,
}

impl Net {
    fn new(max_conns: usize) -> Net {
        Net::with_idle(max_conns, None)
    }

    /// A server whose connections close after `idle` without traffic.
    fn with_idle(max_conns: usize, idle: Option<core::time::Duration>) -> Net {
        let settings = Settings {
            echo: echo::Config {
                idle_timeout: idle,
                ..echo::Config::default()
            },
            max_conns,
            udp_rate: 100,
        };
        let mut service = Service::new(
            settings,
            Recorder(Vec::new()),
            vec![0; 65_536],
            Policy::new(100),
        );
        let options = Options {
            cidr: IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8),
            gateway: None,
            port: PORT,
        };
        let mut device = Loopback::new(Medium::Ethernet);
        let mut config = Config::new(EthernetAddress([0x02, 0, 0, 0, 0, 1]).into());
        config.random_seed = 0x5eed;
        let now = Instant::from_millis(0);
        let size = max_conns + 1;
        let storage = Storage {
            sockets: ManagedSlice::Owned(Vec::new()),
            slots: ManagedSlice::Owned((0..size).map(|_| Slot::new()).collect()),
            tcp: (0..size).map(|_| {
                (
                    tcp::SocketBuffer::new(vec![0; 64 * 1024]),
                    tcp::SocketBuffer::new(vec![0; 64 * 1024]),
                )
            }),
            udp: Some((udp_buffer(), udp_buffer())),
        };
        let stack = Stack::new(&options, config, &mut device, now, storage).expect("stack");
        stack.announce(now, &mut service);
        Net {
            stack,
            device,
            service,
            now,
        }
    }

    fn step(&mut self) {
        self.now += Duration::from_millis(1);
        self.stack
            .poll(self.now, &mut self.device, &mut self.service);
    }

    #[track_caller]
    fn run_until(&mut self, what: &str, mut done: impl FnMut(&mut Net) -> bool) {
        for _ in 0..STEP_LIMIT {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("stuck waiting for {what}");
    }

    /// A TCP client connecting from `local_port` to the server.
    fn connect(&mut self, local_port: u16) -> SocketHandle {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        let (iface, sockets) = self.stack.parts();
        let remote = IpEndpoint::new(IpAddress::v4(127, 0, 0, 1), PORT);
        socket
            .connect(iface.context(), remote, local_port)
            .expect("connect");
        sockets.add(socket)
    }

    fn tcp(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.stack.parts().1.get_mut::<tcp::Socket>(handle)
    }

    /// Sends `data` on `handle` and collects the echo until it is as long.
    fn echo(&mut self, handle: SocketHandle, data: &[u8]) -> Vec<u8> {
        let (mut sent, mut got) = (0, Vec::new());
        self.run_until("the echo", |net| {
            let socket = net.tcp(handle);
            if sent < data.len() && socket.can_send() {
                sent += socket.send_slice(&data[sent..]).expect("send");
            }
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = socket.recv_slice(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            got.len() >= data.len()
        });
        got
    }

    /// A few more rounds, for the server to see what the clients saw.
    fn settle(&mut self) {
        for _ in 0..10 {
            self.step();
        }
    }

    fn records(&mut self) -> Vec<serde_json::Value> {
        let log = &self.service.log().0;
        log.iter()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON record"))
            .collect()
    }
}

/// Bytes no text codec would mistake for lines: a fixed xorshift stream.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn events(records: &[serde_json::Value], event: &str) -> Vec<serde_json::Value> {
    records
        .iter()
        .filter(|r| r["event"] == event)
        .cloned()
        .collect()
}

#[test]
fn echoes_text_and_binary_and_logs_like_the_std_server() {
    let mut net = Net::new(4);
    let client = net.connect(50_000);
    assert_eq!(net.echo(client, b"Hi There\n"), b"Hi There\n");
    let bulk = noise(300 * 1024);
    assert!(net.echo(client, &bulk) == bulk, "bulk echo differs");
    net.tcp(client).close();
    net.run_until("the server's close", |net| {
        net.tcp(client).state() == tcp::State::TimeWait
            || net.tcp(client).state() == tcp::State::Closed
    });
    net.stack.shutdown(net.now, &mut net.service);
    let records = net.records();
    assert_eq!(records[0]["event"], "listening");
    assert_eq!(records[0]["addr"], "127.0.0.1:7777");
    assert_eq!(records[0]["proto"], "tcp");
    assert_eq!(records[1]["proto"], "udp");
    let connected = events(&records, "connected");
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0]["peer"], "127.0.0.1:50000");
    let echoes = events(&records, "echo");
    assert_eq!(echoes[0]["msg"], "Hi There");
    assert_eq!(echoes[0]["conn"], connected[0]["conn"]);
    let closed = events(&records, "closed");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["reason"], "eof");
    let total = (9 + bulk.len()) as u64;
    assert_eq!(closed[0]["bytes_in"], total);
    assert_eq!(closed[0]["bytes_out"], total);
}

#[test]
fn serves_many_clients_at_once_and_rejects_one_over_max_conns() {
    let mut net = Net::new(3);
    let clients: Vec<_> = (0..3).map(|i| net.connect(50_000 + i)).collect();
    net.run_until("three connections", |net| {
        clients
            .iter()
            .all(|&c| net.tcp(c).state() == tcp::State::Established)
    });
    net.settle();
    let extra = net.connect(50_100);
    net.run_until("the extra client's end of stream", |net| {
        net.tcp(extra).state() == tcp::State::CloseWait
    });
    assert!(!net.tcp(extra).can_recv(), "a rejected client gets no echo");
    net.tcp(extra).close();
    for (i, &c) in clients.iter().enumerate() {
        let line = format!("client {i}\n");
        assert_eq!(net.echo(c, line.as_bytes()), line.as_bytes());
    }
    // The spare listener is back: a client after one left is served again.
    net.tcp(clients[0]).close();
    net.run_until("a free place", |net| {
        matches!(
            net.tcp(clients[0]).state(),
            tcp::State::TimeWait | tcp::State::Closed
        )
    });
    net.settle();
    let again = net.connect(50_200);
    assert_eq!(net.echo(again, b"again\n"), b"again\n");
    net.stack.shutdown(net.now, &mut net.service);
    let records = net.records();
    let rejected = events(&records, "rejected");
    assert_eq!(rejected.len(), 1, "{records:?}");
    assert_eq!(rejected[0]["peer"], "127.0.0.1:50100");
    assert_eq!(rejected[0]["reason"], "max_conns");
    assert_eq!(rejected[0]["level"], "WARN");
    let shut = events(&records, "closed")
        .into_iter()
        .filter(|r| r["reason"] == "shutdown")
        .count();
    assert_eq!(shut, 3, "the three still open close with reason shutdown");
    assert_eq!(events(&records, "shutdown").len(), 1);
}

#[test]
fn udp_echo_follows_the_policy() {
    let mut net = Net::new(2);
    let udp_socket = |port: u16| {
        let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]);
        let mut socket = udp::Socket::new(buffer(), buffer());
        socket.bind(port).expect("bind");
        socket
    };
    let (_, sockets) = net.stack.parts();
    let ok = sockets.add(udp_socket(40_000));
    let low = sockets.add(udp_socket(53));
    let server = IpEndpoint::new(IpAddress::v4(127, 0, 0, 1), PORT);
    for handle in [ok, low] {
        let socket = net.stack.parts().1.get_mut::<udp::Socket>(handle);
        socket
            .send_slice(b"ping\nwith a newline", server)
            .expect("send");
    }
    let mut reply = Vec::new();
    net.run_until("the UDP echo", |net| {
        let socket = net.stack.parts().1.get_mut::<udp::Socket>(ok);
        if let Ok((data, _)) = socket.recv() {
            reply = data.to_vec();
        }
        !reply.is_empty()
    });
    assert_eq!(reply, b"ping\nwith a newline");
    for _ in 0..100 {
        net.step();
    }
    let low_socket = net.stack.parts().1.get_mut::<udp::Socket>(low);
    assert!(
        low_socket.recv().is_err(),
        "source port 53 must get no answer"
    );
    net.stack.shutdown(net.now, &mut net.service);
    let records = net.records();
    let echo = events(&records, "echo");
    assert_eq!(
        echo.len(),
        1,
        "one datagram, one message, never split into lines"
    );
    assert_eq!(echo[0]["msg"], "ping\nwith a newline");
    assert_eq!(echo[0]["proto"], "udp");
    assert_eq!(echo[0]["peer"], "127.0.0.1:40000");
    let refused = events(&records, "refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "port");
    let shutdown = &events(&records, "shutdown")[0];
    assert!(
        shutdown.to_string().contains("\"refused_port\":1"),
        "{shutdown}"
    );
}

#[test]
fn shutdown_closes_connections_and_clients_see_the_end() {
    let mut net = Net::new(2);
    let client = net.connect(50_000);
    // A partial line (no newline) is logged as partial at the close.
    assert_eq!(net.echo(client, b"no newline"), b"no newline");
    net.stack.shutdown(net.now, &mut net.service);
    for _ in 0..STEP_LIMIT {
        if net.stack.closed() {
            break;
        }
        net.now += Duration::from_millis(1);
        net.stack.drain(net.now, &mut net.device);
        if !net.tcp(client).may_recv() {
            net.tcp(client).close();
        }
    }
    assert!(net.stack.closed(), "every server socket finished closing");
    assert!(
        !net.tcp(client).may_recv(),
        "the client saw the server's FIN"
    );
    let records = net.records();
    let echo = events(&records, "echo");
    assert_eq!(echo[0]["msg"], "no newline");
    assert_eq!(echo[0]["partial"], true);
    assert_eq!(events(&records, "closed")[0]["reason"], "shutdown");
    let last = records.last().expect("records");
    assert_eq!(last["event"], "shutdown");
}

#[test]
fn an_idle_connection_is_closed_and_its_place_reused() {
    let mut net = Net::with_idle(1, Some(core::time::Duration::from_millis(100)));
    let client = net.connect(50_000);
    assert_eq!(net.echo(client, b"hello\n"), b"hello\n");
    let start = net.now;
    net.run_until("the idle close", |net| !net.tcp(client).may_recv());
    assert!(net.now - start >= Duration::from_millis(100));
    net.tcp(client).close();
    net.settle();
    // The socket went back to the pool: with --max-conns 1 a new client is served.
    let next = net.connect(50_001);
    assert_eq!(net.echo(next, b"next\n"), b"next\n");
    net.stack.shutdown(net.now, &mut net.service);
    let records = net.records();
    let closed = events(&records, "closed");
    assert_eq!(closed[0]["reason"], "idle");
    assert_eq!(closed[1]["reason"], "shutdown");
    assert!(events(&records, "rejected").is_empty());
}

fn udp_buffer() -> udp::PacketBuffer<'static> {
    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16 * 1024])
}

/// A device's way: every byte lent from arrays, nothing allocated by the stack; a socket
/// storage too small is an error, not a panic.
#[test]
fn serves_from_borrowed_arrays_as_a_firmware_does() {
    let options = Options {
        cidr: IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8),
        gateway: None,
        port: PORT,
    };
    let mut device = Loopback::new(Medium::Ethernet);
    let config = || Config::new(EthernetAddress([0x02, 0, 0, 0, 0, 1]).into());
    let now = Instant::from_millis(0);
    let mut rx = [0u8; 3 * 2048];
    let mut tx = [0u8; 3 * 2048];
    let (mut udp_meta_rx, mut udp_meta_tx) = (
        [udp::PacketMetadata::EMPTY; 4],
        [udp::PacketMetadata::EMPTY; 4],
    );
    let (mut udp_rx, mut udp_tx) = ([0u8; 2048], [0u8; 2048]);
    let mut small = [SocketStorage::EMPTY; 3];
    let mut slots: [Slot<heapless::Vec<u8, 256>>; 3] = [Slot::new(), Slot::new(), Slot::new()];
    let storage = Storage {
        sockets: ManagedSlice::Borrowed(&mut small[..]),
        slots: ManagedSlice::Borrowed(&mut slots[..]),
        tcp: core::iter::empty(),
        udp: Some((
            udp::PacketBuffer::new(&mut udp_meta_rx[..], &mut udp_rx[..]),
            udp::PacketBuffer::new(&mut udp_meta_tx[..], &mut udp_tx[..]),
        )),
    };
    let err = Stack::new(&options, config(), &mut device, now, storage).err();
    assert_eq!(err, Some(SetupError::TooFewSockets));

    // Room for the server's 3 TCP sockets and 1 client.
    let mut sockets = [SocketStorage::EMPTY; 4];
    let storage = Storage {
        sockets: ManagedSlice::Borrowed(&mut sockets[..]),
        slots: ManagedSlice::Borrowed(&mut slots[..]),
        tcp: rx
            .chunks_mut(2048)
            .zip(tx.chunks_mut(2048))
            .map(|(r, t)| (tcp::SocketBuffer::new(r), tcp::SocketBuffer::new(t))),
        udp: None,
    };
    let mut stack = Stack::new(&options, config(), &mut device, now, storage).expect("stack");
    let settings = Settings {
        echo: echo::Config::default(),
        max_conns: 2,
        udp_rate: 100,
    };
    let mut scratch = [0u8; 1500];
    let mut policy = Policy::<4>::new(100);
    let mut service = Service::new(
        settings,
        Recorder(Vec::new()),
        &mut scratch[..],
        &mut policy,
    );
    stack.announce(now, &mut service);
    let mut client = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 8192]),
        tcp::SocketBuffer::new(vec![0; 8192]),
    );
    let (iface, set) = stack.parts();
    let remote = IpEndpoint::new(IpAddress::v4(127, 0, 0, 1), PORT);
    client
        .connect(iface.context(), remote, 50_000)
        .expect("connect");
    let client = set.add(client);
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut t = now;
    for _ in 0..STEP_LIMIT {
        t += Duration::from_millis(1);
        stack.poll(t, &mut device, &mut service);
        let socket = stack.parts().1.get_mut::<tcp::Socket>(client);
        if sent < data.len() && socket.can_send() {
            sent += socket.send_slice(&data[sent..]).expect("send");
        }
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = socket.recv_slice(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() >= data.len() {
            break;
        }
    }
    assert!(
        got == data,
        "echo differs ({} of {} bytes)",
        got.len(),
        data.len()
    );
    stack.shutdown(t, &mut service);
    let log = &service.log().0;
    assert!(
        log[0].contains(r#""event":"listening","proto":"tcp","addr":"127.0.0.1:7777""#),
        "{}",
        log[0]
    );
    assert!(log[1].contains(r#""event":"connected""#), "{}", log[1]);
    assert!(
        log.last()
            .expect("records")
            .contains(r#""event":"shutdown""#)
    );
}
