//! The `echokit` binary's library: subcommands and the runners that drive `echo-core`.
//!
//! - [`cmd`]: one module per subcommand (`server`, `client`, `archive`, `bench`), each
//!   owning its arguments.
//! - [`server`], [`net`], [`driver`]: the echo server: echo-core's service (through the
//!   std adapter [`driver`]) over two transports (std sockets through mio, echo-core's
//!   smoltcp runner on a TAP).
//! - [`client`]: the client's modes (interactive, piped, one-shot, ping; TCP and UDP).
//! - [`archive`]: log to CSV / JSON Lines.
//! - [`bench`]: the load generator that checks every echoed byte.

pub mod archive;
pub mod bench;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod exit;
pub mod net;
pub mod os;
pub mod server;
