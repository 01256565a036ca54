//! Transports: each moves bytes between sockets and [`crate::driver::Service`].

pub mod smol_tap;
pub mod std_tcp;
