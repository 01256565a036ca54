//! The device's address: fixed at build time (`ECHOKIT_IP=a.b.c.d/len`, `ECHOKIT_GATEWAY`),
//! or leased by DHCPv4 (`ECHOKIT_IP=dhcp`). Either way `listening` tells the address served:
//! a fixed one at start, a leased one once the lease is bound and again whenever it changes
//! (a lost lease is an `error` record; the next lease is announced, whatever its address).

use core::net::{Ipv4Addr, SocketAddr};

use echo_core::record::Proto;
use echo_core::service::{Log, Service, UdpPolicy};
use echo_core::smoltcp::Stack;
use echo_core::time::Instant;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::dhcpv4;
use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::memory::Buf;

/// How the device gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// This address and prefix length, and this default route.
    Static {
        ip: [u8; 4],
        prefix: u8,
        gateway: [u8; 4],
    },
    /// Address and default route from a DHCPv4 server.
    Dhcp,
}

/// The build's choice (`ECHOKIT_IP`, `ECHOKIT_GATEWAY`; build.rs checks them).
pub const ADDRESSING: Addressing = include!(concat!(env!("OUT_DIR"), "/addressing.rs"));

impl Addressing {
    /// The address the stack starts with (none yet with DHCP).
    pub fn initial_cidr(self) -> IpCidr {
        match self {
            Addressing::Static { ip, prefix, .. } => {
                IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::from(ip), prefix))
            }
            Addressing::Dhcp => IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 0)),
        }
    }

    /// The default route the stack starts with.
    pub fn initial_gateway(self) -> Option<IpAddress> {
        match self {
            Addressing::Static { gateway, .. } => Some(IpAddress::Ipv4(gateway.into())),
            Addressing::Dhcp => None,
        }
    }
}

/// The address set-up as it runs: nothing to do for a fixed address; the DHCP socket and
/// the address last announced for a lease.
pub struct Addresses {
    dhcp: Option<SocketHandle>,
    announced: Option<Ipv4Addr>,
}

impl Addresses {
    /// Adds the DHCP socket to the stack (and drops the placeholder address) when asked to.
    pub fn new(addressing: Addressing, stack: &mut Stack<'static, Buf>) -> Self {
        let dhcp = match addressing {
            Addressing::Static { .. } => None,
            Addressing::Dhcp => {
                let (iface, sockets) = stack.parts();
                iface.update_ip_addrs(|addrs| addrs.clear());
                Some(sockets.add(dhcpv4::Socket::new()))
            }
        };
        Addresses {
            dhcp,
            announced: None,
        }
    }

    /// Logs `listening` for a fixed address (a leased one is logged when bound).
    pub fn announce<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &self,
        now: Instant,
        stack: &Stack<'static, Buf>,
        service: &mut Service<L, S, P>,
    ) {
        if self.dhcp.is_none() {
            stack.announce(now.into(), service);
        }
    }

    /// After each round of the stack: applies what the DHCP client learnt, and logs
    /// `listening` when the leased address is new.
    pub fn poll<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        stack: &mut Stack<'static, Buf>,
        service: &mut Service<L, S, P>,
    ) {
        let Some(handle) = self.dhcp else {
            return;
        };
        let port = stack.addr().port();
        let (iface, sockets) = stack.parts();
        let leased = match sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(config)) => {
                let cidr = config.address;
                iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    // Cannot fail: the table was just emptied and holds at least one.
                    let _ = addrs.push(IpCidr::Ipv4(cidr));
                });
                let routes = iface.routes_mut();
                routes.remove_default_ipv4_route();
                if let Some(router) = config.router {
                    // Cannot fail: the only default route was just removed.
                    let _ = routes.add_default_ipv4_route(router);
                }
                cidr.address()
            }
            Some(dhcpv4::Event::Deconfigured) => {
                iface.update_ip_addrs(|addrs| addrs.clear());
                iface.routes_mut().remove_default_ipv4_route();
                // Whatever comes next is announced, even the same address again.
                if self.announced.take().is_some() {
                    service.error(now, "DHCP lease lost: no address until a server answers");
                }
                return;
            }
        };
        if self.announced != Some(leased) {
            self.announced = Some(leased);
            let addr = SocketAddr::new(leased.into(), port);
            service.listening(now, addr, Proto::Tcp);
            service.listening(now, addr, Proto::Udp);
        }
    }
}
