//! The smoltcp interface and its sockets, driven one round at a time: poll the interface,
//! then hand every socket's news to the driver's [`Service`]. Generic over the device, so
//! the TAP in production and smoltcp's `Loopback` in tests run the very same code.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::udp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpCidr};

use echo_core::record::Proto;

use super::TapOptions;
use super::pool::Pool;
use crate::driver::Service;

/// Most bytes of receive and of send buffer per TCP socket. Throughput through a TAP rises
/// with it (RECIPES.md: 64 KiB 290-470 MB/s, 256 KiB 490-540, 1 MiB 610-644 for one
/// client); 1 MiB is what reaches 500 MB/s each way. The memory is reserved per pool socket
/// but only touched as data flows, so an idle server stays small.
pub const TCP_BUFFER: usize = 1024 * 1024;
/// Least buffer per socket, however large `--max-conns` is.
const TCP_BUFFER_MIN: usize = 16 * 1024;
/// All TCP buffers together stay under this, so a large `--max-conns` shrinks each
/// socket's buffers instead of reserving gigabytes (the default 16 keeps the full 1 MiB).
const TCP_MEMORY: usize = 64 * 1024 * 1024;

/// UDP buffer bytes each way: room for several datagrams of the largest size a TAP frame
/// carries, and a few full-size ones once fragments are reassembled.
const UDP_BUFFER: usize = 256 * 1024;
/// Datagrams queued each way.
const UDP_PACKETS: usize = 64;

/// Longest the loop sleeps with nothing to do, so a shutdown request is seen promptly.
pub const MAX_WAIT: Duration = Duration::from_millis(50);

/// The interface, its sockets and the TCP pool.
pub struct Stack {
    iface: Interface,
    sockets: SocketSet<'static>,
    pool: Pool,
    udp: Option<SocketHandle>,
    /// A datagram copied out of smoltcp while the service decides on it.
    datagram: Vec<u8>,
    addr: SocketAddr,
    udp_enabled: bool,
}

impl Stack {
    /// An interface on `device` with `opts`' address, route and sockets.
    pub fn new(
        opts: &TapOptions,
        config: Config,
        device: &mut impl Device,
        now: Instant,
    ) -> anyhow::Result<Self> {
        if opts.port == 0 {
            bail!("--tap needs a fixed port: smoltcp cannot pick a free one (-p 0)");
        }
        let mut iface = Interface::new(config, device, now);
        let cidr = opts.cidr;
        let mut pushed = Ok(());
        iface.update_ip_addrs(|addrs| pushed = addrs.push(cidr));
        pushed.map_err(|_| anyhow::anyhow!("smoltcp has no room for address {cidr}"))?;
        if let Some(gateway) = opts.gateway {
            let added = match (gateway, cidr.address()) {
                (IpAddress::Ipv4(gw), IpAddress::Ipv4(_)) => {
                    iface.routes_mut().add_default_ipv4_route(gw)
                }
                (IpAddress::Ipv6(gw), IpAddress::Ipv6(_)) => {
                    iface.routes_mut().add_default_ipv6_route(gw)
                }
                _ => bail!("--gateway {gateway} is not of the same IP version as --ip {cidr}"),
            };
            added.map_err(|_| anyhow::anyhow!("smoltcp's route table is full"))?;
        }
        let mut sockets = SocketSet::new(Vec::new());
        let size = opts.max_conns.saturating_add(1);
        let pool = Pool::new(&mut sockets, opts.port, size, buffer_size(size));
        let udp = if opts.udp {
            let mut socket = udp::Socket::new(udp_buffer(), udp_buffer());
            socket
                .bind(opts.port)
                .with_context(|| format!("cannot bind UDP port {}", opts.port))?;
            Some(sockets.add(socket))
        } else {
            None
        };
        Ok(Stack {
            iface,
            sockets,
            pool,
            udp,
            datagram: Vec::new(),
            addr: SocketAddr::new(cidr.address().into(), opts.port),
            udp_enabled: opts.udp,
        })
    }

    /// Bytes all TCP peers together may send before smoltcp reads them.
    pub fn window_bytes(&self) -> usize {
        self.pool.window_bytes()
    }

    /// Logs `listening` for each protocol served.
    pub fn announce(&self, service: &mut Service) {
        service.listening(self.addr, Proto::Tcp);
        if self.udp_enabled {
            service.listening(self.addr, Proto::Udp);
        }
    }

    /// One round: frames in and out, then every socket serviced. Returns whether work is
    /// left that should not wait for the device (a connection over its read budget).
    pub fn poll(&mut self, now: Instant, device: &mut impl Device, service: &mut Service) -> bool {
        self.iface.poll(now, device, &mut self.sockets);
        let more = self.pool.service(now, &mut self.sockets, service);
        if let Some(handle) = self.udp {
            self.serve_udp(handle, service);
        }
        more
    }

    /// How long the loop may wait for the device before the next [`Stack::poll`]: the
    /// sooner of smoltcp's timers, an idle deadline, a due log flush and [`MAX_WAIT`].
    pub fn delay(&mut self, now: Instant, service: &Service) -> Duration {
        let mut delay = MAX_WAIT;
        if let Some(d) = self.iface.poll_delay(now, &self.sockets) {
            delay = delay.min(d);
        }
        if let Some(at) = service.poll_timeout(self.pool.connections()) {
            let ms = at.millis().saturating_sub(service.now().millis());
            delay = delay.min(Duration::from_millis(ms));
        }
        if let Some(d) = service.next_flush_in() {
            delay = delay.min(Duration::from(d));
        }
        delay
    }

    /// Stops serving: closes every connection (the service logs them and `shutdown`).
    /// Returns the records the log lost; keep polling until [`Stack::closed`] so the FINs go
    /// out.
    pub fn shutdown(&mut self, service: &mut Service) -> u64 {
        if let Some(handle) = self.udp {
            self.sockets.get_mut::<udp::Socket>(handle).close();
        }
        self.pool.shutdown(&mut self.sockets, service)
    }

    /// After [`Stack::shutdown`]: moves frames only (the closing sockets finish on their
    /// own; nothing is accepted). Returns how long to wait for the device.
    pub fn drain(&mut self, now: Instant, device: &mut impl Device) -> Duration {
        self.iface.poll(now, device, &mut self.sockets);
        self.iface
            .poll_delay(now, &self.sockets)
            .unwrap_or(MAX_WAIT)
    }

    /// Whether every TCP socket has finished closing (after [`Stack::shutdown`]).
    pub fn closed(&mut self) -> bool {
        self.pool.all_closed(&mut self.sockets)
    }

    /// The interface and sockets, to run test clients beside the server.
    #[cfg(test)]
    pub fn parts(&mut self) -> (&mut Interface, &mut SocketSet<'static>) {
        (&mut self.iface, &mut self.sockets)
    }

    /// Answers queued datagrams as the service decides.
    fn serve_udp(&mut self, handle: SocketHandle, service: &mut Service) {
        let socket = self.sockets.get_mut::<udp::Socket>(handle);
        while let Ok((data, meta)) = socket.recv() {
            self.datagram.clear();
            self.datagram.extend_from_slice(data);
            let source = SocketAddr::from(meta.endpoint);
            if service.datagram(source, &self.datagram) {
                // The reply leaves from the address the datagram came to. A full send
                // buffer drops it, as a congested network would.
                let _ = socket.send_slice(&self.datagram, meta);
            }
        }
    }
}

/// Receive (and send) buffer per socket for a pool of `sockets`.
fn buffer_size(sockets: usize) -> usize {
    (TCP_MEMORY / 2 / sockets.max(1)).clamp(TCP_BUFFER_MIN, TCP_BUFFER)
}

fn udp_buffer() -> udp::PacketBuffer<'static> {
    udp::PacketBuffer::new(
        vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
        vec![0; UDP_BUFFER],
    )
}

/// Parses `--ip` (`ADDRESS/PREFIX`, e.g. `192.168.69.1/24` or `fd00::1/64`).
pub fn parse_cidr(text: &str) -> anyhow::Result<IpCidr> {
    let hint = "expected ADDRESS/PREFIX, e.g. 192.168.69.1/24";
    let Some((addr, prefix)) = text.split_once('/') else {
        bail!("bad --ip {text:?}: no prefix length ({hint})");
    };
    let addr: std::net::IpAddr = addr.parse().map_err(|_| {
        anyhow::anyhow!("bad --ip {text:?}: {addr:?} is not an IP address ({hint})")
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=max).contains(p))
        .ok_or_else(|| {
            anyhow::anyhow!("bad --ip {text:?}: prefix length must be 1 to {max} ({hint})")
        })?;
    let unusable = addr.is_unspecified()
        || addr.is_multicast()
        || matches!(addr, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    if unusable {
        bail!("bad --ip {text:?}: {addr} cannot be an interface's own address");
    }
    Ok(IpCidr::new(addr.into(), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_shrink_only_for_large_pools() {
        assert_eq!(
            buffer_size(17),
            TCP_BUFFER,
            "the default pool gets full buffers"
        );
        assert_eq!(buffer_size(32), TCP_BUFFER);
        assert!(buffer_size(33) < TCP_BUFFER);
        assert_eq!(buffer_size(1001), TCP_MEMORY / 2 / 1001);
        assert_eq!(buffer_size(1_000_001), TCP_BUFFER_MIN);
    }

    #[test]
    fn cidr_parses_or_names_the_problem() {
        let ok = parse_cidr("192.168.69.1/24").expect("valid");
        assert_eq!(ok.to_string(), "192.168.69.1/24");
        assert_eq!(parse_cidr("fd00::1/64").expect("valid").prefix_len(), 64);
        for (bad, why) in [
            ("192.168.69.1", "no prefix length"),
            ("192.168.69/24", "is not an IP address"),
            ("192.168.69.1/33", "prefix length must be 1 to 32"),
            ("192.168.69.1/0", "prefix length must be 1 to 32"),
            ("192.168.69.1/x", "prefix length must be 1 to 32"),
            ("fd00::1/129", "prefix length must be 1 to 128"),
            ("0.0.0.0/24", "cannot be an interface's own address"),
            ("224.0.0.1/4", "cannot be an interface's own address"),
            ("", "no prefix length"),
        ] {
            let err = parse_cidr(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
