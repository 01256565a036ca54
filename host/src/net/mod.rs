//! Transports: each moves bytes between sockets and [`crate::server::service::Service`].

#[cfg(target_os = "linux")]
pub mod smol_tap;
pub mod sockets;
pub mod stop;
// The idle-sweep timer: a timerfd on Linux (a sleeping epoll_wait then arms no kernel
// timer), the poll's timeout elsewhere.
#[cfg_attr(not(target_os = "linux"), path = "timer_portable.rs")]
mod timer;
