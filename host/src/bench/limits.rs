//! System limits a large `-c` runs into, and the one line that says which to raise. The
//! only OS-specific code of the bench lives here.

use std::io;

#[cfg(unix)]
use crate::os::limits::open_files;

/// For an error that means a system limit was reached (so opening more connections is
/// pointless), what to raise; `None` for any other error.
pub fn limit_reached(error: &io::Error) -> Option<String> {
    #[cfg(unix)]
    {
        let code = error.raw_os_error()?;
        let advice = match code {
            libc::EMFILE => format!(
                "too many open files: raise the open-file limit (ulimit -n, now {}; the hard limit caps it, and fs.nr_open caps that)",
                open_files().unwrap_or(0)
            ),
            libc::ENFILE => "the system's file table is full: raise fs.file-max".into(),
            libc::EADDRNOTAVAIL => {
                "out of local ports: widen net.ipv4.ip_local_port_range or add --source addresses"
                    .into()
            }
            libc::ENOBUFS | libc::ENOMEM => {
                "the kernel is out of socket memory: raise net.ipv4.tcp_mem (or free memory)".into()
            }
            _ => return None,
        };
        Some(advice)
    }
    #[cfg(not(unix))]
    {
        // WSAEMFILE, WSAENOBUFS, WSAEADDRNOTAVAIL
        match error.raw_os_error()? {
            10024 => Some("too many open sockets".into()),
            10055 => Some("out of socket buffer space (or local ports): use fewer connections or add --source addresses".into()),
            10049 => Some("out of local ports: add --source addresses".into()),
            _ => None,
        }
    }
}

/// Linux: lets the kernel pick the local port of a socket bound to a `--source` address at
/// connect time (`IP_BIND_ADDRESS_NO_PORT`), so ports are shared across server addresses
/// instead of each bind taking one for good. Elsewhere (and if it fails) binding works as
/// usual.
pub fn port_at_connect(socket: &socket2::Socket) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // Safety: a valid descriptor, and a pointer to a c_int with its size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}
