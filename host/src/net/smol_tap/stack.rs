//! The memory `echokit server --tap` lends echo-core's smoltcp runner, and its `--ip` parser.
//!
//! The runner itself (the socket pool, the UDP socket, the loop that feeds them to the
//! service) is `echo_core::smoltcp`, shared with the firmware; a PC lends it `Vec`s.

use anyhow::bail;
use echo_core::smoltcp::{FlowSlot, ManagedSlice, SetupError, Slot, Storage};
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::IpCidr;

use super::TapOptions;
use crate::server::buffer::CappedVec;

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

/// Flows the window workaround tracks: a few per socket (a re-armed socket's old flow
/// lingers until replaced), within bounds.
const FLOWS_MIN: usize = 64;
const FLOWS_MAX: usize = 65_536;

/// The pool of `--max-conns + 1` sockets (the spare one accepts a client over the limit to
/// log it `rejected`), each with its buffers, and the UDP socket's with `--udp`.
pub fn storage(
    opts: &TapOptions,
) -> Storage<
    'static,
    CappedVec,
    impl Iterator<Item = (tcp::SocketBuffer<'static>, tcp::SocketBuffer<'static>)> + use<>,
> {
    let size = opts.max_conns.saturating_add(1);
    let buffer = buffer_size(size);
    Storage {
        sockets: ManagedSlice::Owned(Vec::with_capacity(size + 1)),
        slots: ManagedSlice::Owned((0..size).map(|_| Slot::new()).collect()),
        tcp: (0..size).map(move |_| {
            (
                tcp::SocketBuffer::new(vec![0; buffer]),
                tcp::SocketBuffer::new(vec![0; buffer]),
            )
        }),
        udp: opts.udp.then(|| (udp_buffer(), udp_buffer())),
    }
}

/// The window workaround's flow table for a pool serving `--max-conns`.
pub fn flows(max_conns: usize) -> Vec<FlowSlot> {
    let slots = max_conns
        .saturating_add(1)
        .saturating_mul(4)
        .clamp(FLOWS_MIN, FLOWS_MAX);
    vec![FlowSlot::EMPTY; slots]
}

/// Bytes all TCP peers together may send before smoltcp reads them.
pub fn window_bytes(max_conns: usize) -> usize {
    let size = max_conns.saturating_add(1);
    buffer_size(size).saturating_mul(size)
}

/// The runner's set-up error in the words of the flags that cause it.
pub fn setup_error(e: SetupError, opts: &TapOptions) -> anyhow::Error {
    let cidr = opts.cidr;
    match e {
        SetupError::PortZero => {
            anyhow::anyhow!("--tap needs a fixed port: smoltcp cannot pick a free one (-p 0)")
        }
        SetupError::NoAddressRoom => anyhow::anyhow!("smoltcp has no room for address {cidr}"),
        SetupError::GatewayVersion => match opts.gateway {
            Some(gateway) => {
                anyhow::anyhow!("--gateway {gateway} is not of the same IP version as --ip {cidr}")
            }
            None => anyhow::anyhow!("{e}"),
        },
        SetupError::UdpBind => anyhow::anyhow!("cannot bind UDP port {}", opts.port),
        other => anyhow::anyhow!("{other}"),
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

    fn options(cidr: &str, gateway: Option<&str>, port: u16) -> TapOptions {
        TapOptions {
            iface: "loopback".into(),
            cidr: parse_cidr(cidr).expect("cidr"),
            gateway: gateway.map(|g| g.parse::<std::net::IpAddr>().expect("ip").into()),
            port,
            udp: true,
            max_conns: 2,
        }
    }

    /// What the runner is lent sets up a stack (IPv4 and IPv6), and its set-up errors
    /// name the flags that cause them.
    #[test]
    fn the_lent_storage_sets_up_a_stack_and_errors_name_the_flags() {
        use echo_core::smoltcp::{Options, Stack};
        use smoltcp::iface::Config;
        use smoltcp::phy::{Loopback, Medium};
        use smoltcp::time::Instant;
        use smoltcp::wire::EthernetAddress;

        let setup = |opts: &TapOptions| {
            let mut device = Loopback::new(Medium::Ethernet);
            let config = Config::new(EthernetAddress([0x02, 0, 0, 0, 0, 1]).into());
            let options = Options {
                cidr: opts.cidr,
                gateway: opts.gateway,
                port: opts.port,
            };
            Stack::new(&options, config, &mut device, Instant::ZERO, storage(opts))
                .map(|stack| stack.addr())
                .map_err(|e| setup_error(e, opts).to_string())
        };
        let v4 = setup(&options("192.168.69.1/24", Some("192.168.69.100"), 7777));
        assert_eq!(v4.expect("v4").to_string(), "192.168.69.1:7777");
        let v6 = setup(&options("fd00::1/64", Some("fd00::100"), 7777));
        assert_eq!(v6.expect("v6").to_string(), "[fd00::1]:7777");
        for (opts, why) in [
            (
                options("192.168.69.1/24", None, 0),
                "--tap needs a fixed port",
            ),
            (
                options("fd00::1/64", Some("192.168.69.100"), 7777),
                "--gateway 192.168.69.100 is not of the same IP version as --ip fd00::1/64",
            ),
        ] {
            let err = setup(&opts).expect_err(why);
            assert!(err.contains(why), "{err}");
        }
        assert_eq!(flows(16).len(), 68);
        assert_eq!(flows(0).len(), 64);
        assert_eq!(flows(usize::MAX).len(), 65_536);
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
