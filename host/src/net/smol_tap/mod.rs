//! `echokit server --tap`: the server's TCP/IP stack is smoltcp on a Linux TAP interface,
//! run by echo-core's smoltcp runner ([`echo_core::smoltcp::Stack`]), the very one the
//! firmware runs, over the same [`Service`] as the std runner.
//!
//! What is the TAP's lives here: the device (with segmentation offload), the memory the
//! runner is lent (`stack`), and one thread's loop: poll the stack, flush the device and
//! the log, then wait for a frame at most until smoltcp's next timer, an idle deadline, a
//! log flush or [`echo_core::smoltcp::MAX_WAIT`].

mod device;
// Public for the `tap_offload` fuzz target (frames in, no panic, same segments out).
#[doc(hidden)]
pub mod offload;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod offload_check;
mod stack;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;

use echo_core::smoltcp::{Options, Stack, WindowEdge, instant};
use smoltcp::iface::Config;
use smoltcp::phy;
use smoltcp::time::Duration;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

pub use self::device::{OpenError, TapDevice};
pub use self::stack::{TCP_BUFFER, parse_cidr};
use crate::net::stop::Stop;
use crate::server::Summary;
use crate::server::clock::Clock;
use crate::server::service::TapService as Service;
use crate::server::start;

/// Longest shutdown waits for clients to acknowledge the server's FINs.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// The TAP failed while serving (e.g. it was deleted): the server stopped after logging
/// `shutdown`. Errors before serving (opening the TAP, the settings) are the user's to fix.
#[derive(Debug, thiserror::Error)]
#[error("TAP {iface} failed while serving (was it deleted?)")]
pub struct ServeError {
    iface: String,
    source: io::Error,
}

/// What `echokit server --tap` needs to know.
#[derive(Debug, Clone)]
pub struct TapOptions {
    /// The TAP interface (`--tap`).
    pub iface: String,
    /// smoltcp's own address and subnet (`--ip`, see [`parse_cidr`]).
    pub cidr: IpCidr,
    /// Default route (`--gateway`).
    pub gateway: Option<IpAddress>,
    /// TCP (and UDP) port; not 0.
    pub port: u16,
    /// Also serve UDP echo.
    pub udp: bool,
    /// Concurrent TCP connections served (`--max-conns`).
    pub max_conns: usize,
}

/// Serves `service` on the TAP until `stop`, then closes every connection, logs
/// `shutdown` and closes the log ([`crate::server::start`] made the service and the stop
/// signal, as for the std runner). Open errors ([`OpenError`]) name their cause.
pub fn run(opts: TapOptions, mut service: Service, stop: Stop) -> anyhow::Result<Summary> {
    // One loop: its sink reopens the file itself on SIGHUP, at the end of a batch.
    if let Some(signals) = stop.signals() {
        service.log_mut().reopen_when(signals.hangup_flag());
    }
    let tap = TapDevice::open(&opts.iface)?;
    let fd = tap.as_raw_fd();
    let mut device = WindowEdge::new(tap, stack::flows(opts.max_conns));
    // One clock for smoltcp and the service (its milliseconds, from the same origin).
    let clock = Clock::start();
    let now = || clock.smoltcp_now();
    let options = Options {
        cidr: opts.cidr,
        gateway: opts.gateway,
        port: opts.port,
    };
    let mut stack = Stack::new(
        &options,
        config(),
        &mut device,
        now(),
        stack::storage(&opts),
    )
    .map_err(|e| stack::setup_error(e, &opts))?;
    notes(&opts, device.get_ref(), stack::window_bytes(opts.max_conns));
    stack.announce(now(), &mut service);
    // Scripts wait for `listening`: write it now, not at the first periodic flush.
    service.log_mut().flush();
    let mut failure = None;
    while !stop.is_stopped() {
        let at = now();
        let more = stack.poll(at, &mut device, &mut service);
        device.get_mut().flush();
        service.log_mut().end_of_batch();
        if let Some(e) = device.get_mut().take_error() {
            service.error(instant(at), &format!("TAP {}: {e}", opts.iface));
            failure = Some(e);
            break;
        }
        let delay = if more {
            Duration::ZERO
        } else {
            let mut delay = stack.delay(at, &service);
            if let Some(d) = service.log().next_flush_in() {
                delay = delay.min(Duration::from(d));
            }
            delay
        };
        if let Err(e) = phy::wait(fd, Some(delay)) {
            // A signal interrupts the wait: the loop condition sees the request.
            if e.kind() != io::ErrorKind::Interrupted {
                failure = Some(e);
                break;
            }
        }
    }
    // core's stack closes its sockets and writes `shutdown` (as on the firmware).
    stack.shutdown(now(), &mut service);
    let summary = start::close(service);
    // Let the FINs out and the clients' ACKs in, briefly: shutdown stays prompt.
    let deadline = std::time::Instant::now() + CLOSE_WAIT;
    while failure.is_none() && !stack.closed() && std::time::Instant::now() < deadline {
        let delay = stack.drain(now(), &mut device);
        device.get_mut().flush();
        let _ = phy::wait(fd, Some(delay.min(Duration::from_millis(10))));
    }
    match failure {
        Some(source) => {
            summary.report();
            Err(ServeError {
                iface: opts.iface,
                source,
            }
            .into())
        }
        None => Ok(summary),
    }
}

/// Notes on stderr for a TAP that cannot serve well as it is, each with its fix.
///
/// The queue: when it is shorter than the frames the sockets' receive windows let the
/// kernel send at once, the kernel drops frames for smoltcp as soon as several bulk clients
/// run, and TCP recovers by retransmitting (measured: 16 streams with 1,000 frames, one
/// segment in six sent again; with 20,000 frames, none).
fn notes(opts: &TapOptions, device: &TapDevice, window: usize) {
    let iface = &opts.iface;
    if device.created() {
        crate::exit::stderr_line(&format!(
            "echokit server: note: TAP {iface} did not exist, so it was created for this run; \
             give it an address in {}'s subnet and bring it up (see README)",
            opts.cidr
        ));
        return;
    }
    if device.is_up() == Some(false) {
        crate::exit::stderr_line(&format!(
            "echokit server: note: TAP {iface} is down (ip link set {iface} up)"
        ));
    }
    let segment = device.ip_mtu().saturating_sub(40).max(1);
    let needed = window.div_ceil(segment);
    if let Some(len) = device.queue_len().filter(|&len| len < needed) {
        let advice = needed.div_ceil(1000) * 1000;
        crate::exit::stderr_line(&format!(
            "echokit server: note: TAP {iface} queues {len} frames, fewer than the {needed} the \
             receive windows allow; with several bulk clients expect retransmissions \
             (ip link set {iface} txqueuelen {advice})"
        ));
    }
}

/// smoltcp settings: a random locally administered MAC, and a random seed so initial
/// sequence numbers differ from run to run (smoltcp's default seed 0 repeats them).
fn config() -> Config {
    let mut random = [0u8; 14];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .is_err()
    {
        random = fallback_random();
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&random[..6]);
    // Unicast, locally administered.
    mac[0] = (mac[0] & 0xfe) | 0x02;
    let mut config = Config::new(EthernetAddress(mac).into());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&random[6..]);
    config.random_seed = u64::from_le_bytes(seed);
    config
}

/// Randomness without `/dev/urandom`: std's per-process hash keys and the time.
fn fallback_random() -> [u8; 14] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 14];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let bytes = h.finish().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}
