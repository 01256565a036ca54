//! A Linux TAP interface as a smoltcp [`Device`]: one frame per `read`/`write` on the
//! non-blocking `/dev/net/tun` descriptor, into buffers reused for every frame.
//!
//! smoltcp ships `phy::TunTapInterface`, but it allocates a buffer per frame and panics on
//! any I/O error but `EAGAIN`; this one keeps the first hard error for the loop to report
//! (e.g. the TAP was deleted under the server) and turns open errors into clear messages.

use std::ffi::c_char;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::offload::{Coalescer, VNET_HDR};

/// Where the TUN/TAP driver is opened.
const TUN_PATH: &str = "/dev/net/tun";
/// Ethernet header bytes smoltcp counts in the MTU (the kernel reports the IP MTU).
const ETHERNET_HEADER: usize = 14;
/// Largest frame the kernel may hand over with segmentation offload on.
const MAX_RX_FRAME: usize = VNET_HDR + ETHERNET_HEADER + 65_535;

/// Why a TAP could not be opened: each names the cause and what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The interface name does not fit the kernel's 15 bytes, or holds a NUL or `/`.
    #[error("bad TAP interface name {0:?}: 1-15 bytes, no '/', ':' or spaces")]
    BadName(String),
    /// `/dev/net/tun` is missing.
    #[error("{TUN_PATH} does not exist: load the tun module (modprobe tun)")]
    NoTunDevice,
    /// Not allowed to open `/dev/net/tun`.
    #[error(
        "no permission to open {TUN_PATH}: run as root, or have root create the TAP for you \
         (ip tuntap add name {iface} mode tap user $USER) and check the device's mode"
    )]
    TunPermission { iface: String },
    /// Not allowed to attach to (or create) the TAP.
    #[error(
        "no permission to attach TAP {iface}: it belongs to another user, or it does not exist \
         and creating one needs root (ip tuntap add name {iface} mode tap user $USER)"
    )]
    TapPermission { iface: String },
    /// Another process holds the TAP.
    #[error("TAP {iface} is already held by another process (only one may attach at a time)")]
    Busy { iface: String },
    /// The name belongs to an interface that is not a TAP (a TUN, or an ordinary NIC).
    #[error("interface {iface} exists but is not a TAP device")]
    NotTap { iface: String },
    /// Anything else, with the system's words.
    #[error("cannot open TAP {iface}: {source}")]
    Other { iface: String, source: io::Error },
}

/// An open TAP interface (Ethernet frames, no packet-info header).
#[derive(Debug)]
pub struct TapDevice {
    name: String,
    /// Whether opening created the interface (it then lives only as long as the server).
    created: bool,
    file: File,
    mtu: usize,
    /// Whether the kernel may send large frames with partial checksums.
    offload: bool,
    rx: Vec<u8>,
    /// Where smoltcp builds a frame to send.
    tx: Vec<u8>,
    /// Frames on their way out, glued into larger ones where possible.
    out: Coalescer,
    /// The first hard I/O error, kept until [`TapDevice::take_error`].
    error: Option<io::Error>,
}

impl TapDevice {
    /// Attaches to TAP `iface` (creating it, non-persistent, when it does not exist and
    /// the caller may).
    pub fn open(iface: &str) -> Result<Self, OpenError> {
        let name = ifname(iface)?;
        let existed = exists(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(TUN_PATH)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => OpenError::NoTunDevice,
                Some(libc::EACCES | libc::EPERM) => OpenError::TunPermission {
                    iface: iface.to_owned(),
                },
                _ => OpenError::Other {
                    iface: iface.to_owned(),
                    source: e,
                },
            })?;
        let mut req = ifreq(name);
        req.ifr_ifru.ifru_flags =
            (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
        // Safety: TUNSETIFF reads and writes one `ifreq`, which lives across the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            let iface = iface.to_owned();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => OpenError::TapPermission { iface },
                Some(libc::EBUSY) => OpenError::Busy { iface },
                Some(libc::EINVAL) => OpenError::NotTap { iface },
                _ => OpenError::Other { iface, source: e },
            });
        }
        // Large receive frames: TCP segmentation offload towards smoltcp, with checksums
        // left partial (smoltcp then does not verify TCP/UDP checksums on receive: the
        // frames come from the local kernel, not a wire). Without it, frames stay small.
        let offload = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        // Safety: TUNSETOFFLOAD takes the flags by value.
        let offload = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETOFFLOAD, offload) } == 0;
        let mtu = ip_mtu(name).map_err(|source| OpenError::Other {
            iface: iface.to_owned(),
            source,
        })? + ETHERNET_HEADER;
        Ok(TapDevice {
            name: iface.to_owned(),
            created: !existed,
            file,
            mtu,
            offload,
            rx: vec![0; MAX_RX_FRAME.max(VNET_HDR + mtu)],
            tx: vec![0; mtu],
            out: Coalescer::default(),
            error: None,
        })
    }

    /// Frames the kernel queues for this TAP before it drops them (`txqueuelen`), if known.
    pub fn queue_len(&self) -> Option<usize> {
        let len = ifreq_int(&self.name, libc::SIOCGIFTXQLEN).ok()?;
        usize::try_from(len).ok()
    }

    /// Whether opening created the interface (it had no address and was down).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether the interface is up (`None`: could not ask).
    pub fn is_up(&self) -> Option<bool> {
        let flags = ifreq_int(&self.name, libc::SIOCGIFFLAGS).ok()?;
        Some(flags & libc::IFF_UP != 0)
    }

    /// The IP MTU: the largest IP packet one frame carries.
    pub fn ip_mtu(&self) -> usize {
        self.mtu - ETHERNET_HEADER
    }

    /// Sends the frames smoltcp queued in the last poll (call after each poll).
    pub fn flush(&mut self) {
        let TapDevice {
            file, out, error, ..
        } = self;
        out.flush(&mut |bytes| write_frame(file, error, bytes));
    }

    /// The first hard I/O error since the last call (the device is unusable after one).
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl AsRawFd for TapDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for TapDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Device for TapDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let TapDevice {
            file,
            rx,
            tx,
            out,
            error,
            ..
        } = self;
        match file.read(rx) {
            // Every frame starts with the vnet header; nothing shorter is a frame.
            Ok(n) if n <= VNET_HDR => None,
            Ok(n) => Some((
                RxToken {
                    frame: &rx[VNET_HDR..n],
                },
                TxToken {
                    file,
                    buf: tx,
                    out,
                    error,
                },
            )),
            Err(e) if transient(&e) => None,
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            file: &mut self.file,
            buf: &mut self.tx,
            out: &mut self.out,
            error: &mut self.error,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        // TCP checksums are the kernel's (see `offload`); with receive offload on, TCP and
        // UDP checksums of received frames may be partial, so they are not checked: the
        // frames come from the local kernel, not from a wire.
        caps.checksum.tcp = Checksum::None;
        caps.checksum.udp = if self.offload {
            Checksum::Tx
        } else {
            Checksum::Both
        };
        caps
    }
}

/// A received frame, borrowed from the device's receive buffer.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send, handed to the coalescer on `consume`.
pub struct TxToken<'a> {
    file: &'a mut File,
    buf: &'a mut Vec<u8>,
    out: &'a mut Coalescer,
    error: &'a mut Option<io::Error>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let result = f(&mut self.buf[..len]);
        let (file, error) = (self.file, self.error);
        self.out.push(&self.buf[..len], &mut |bytes| {
            write_frame(file, error, bytes)
        });
        result
    }
}

/// Writes one `virtio_net_hdr` + frame; keeps the first hard error.
fn write_frame(file: &mut File, error: &mut Option<io::Error>, bytes: &[u8]) {
    match file.write(bytes) {
        Ok(_) => {}
        // A full queue or a link that is down drops the frame: TCP sends it again.
        Err(e) if transient(&e) || e.raw_os_error() == Some(libc::EIO) => {}
        Err(e) => {
            error.get_or_insert(e);
        }
    }
}

/// Errors after which the device still works.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Checks `iface` as a kernel interface name (it must fit `IFNAMSIZ` with its NUL).
fn ifname(iface: &str) -> Result<&str, OpenError> {
    let ok = !iface.is_empty()
        && iface.len() < libc::IFNAMSIZ
        && !iface
            .bytes()
            .any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(iface)
    } else {
        Err(OpenError::BadName(iface.to_owned()))
    }
}

/// Whether an interface named `iface` exists (in this network namespace).
fn exists(iface: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(iface) else {
        return false;
    };
    // Safety: `name` is a valid NUL-terminated string for the call's duration.
    unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
}

/// An `ifreq` naming `iface` (checked by [`ifname`] to fit with its NUL).
fn ifreq(iface: &str) -> libc::ifreq {
    // Safety: `ifreq` is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(iface.bytes()) {
        *dst = src as c_char;
    }
    req
}

/// The IP MTU of `iface`.
fn ip_mtu(iface: &str) -> io::Result<usize> {
    let mtu = ifreq_int(iface, libc::SIOCGIFMTU)?;
    usize::try_from(mtu).map_err(|_| io::Error::other("the interface reports a negative MTU"))
}

/// Asks an `int` about `iface` (`SIOCGIFMTU`, `SIOCGIFTXQLEN`, `SIOCGIFFLAGS`) through an ordinary
/// datagram socket.
fn ifreq_int(iface: &str, request: libc::c_ulong) -> io::Result<libc::c_int> {
    // Safety: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: `fd` is a fresh descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(iface);
    // Safety: these requests write one int into the `ifreq`, which lives across the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: after success the union's int member holds the answer.
    Ok(unsafe { req.ifr_ifru.ifru_metric })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_before_the_kernel_sees_them() {
        assert!(ifname("tap0").is_ok());
        assert!(ifname("abcdefghijklmno").is_ok());
        for bad in ["", "abcdefghijklmnop", "a/b", "a b", "tap\0", "a:1"] {
            let err = ifname(bad).expect_err(bad);
            assert!(err.to_string().contains("bad TAP interface name"), "{err}");
        }
    }
}
