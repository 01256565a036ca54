//! The `echokit` binary's library: subcommands and the runners that drive `echo-core`.
//!
//! - [`cmd`]: one module per subcommand (`server`, `client`, `archive`, `bench`), each
//!   owning its arguments.
//! - [`server`], [`net`]: the echo server: echo-core's service as the host runs it, its
//!   start-up and shutdown ([`server`]), over two transports ([`net`]: std sockets through
//!   mio, echo-core's smoltcp runner on a TAP).
//! - [`log`]: where the server's records go (file, console).
//! - [`client`]: the client's modes (interactive, piped, one-shot, ping; TCP and UDP).
//! - [`archive`]: log to CSV / JSON Lines.
//! - [`bench`]: the load generator that checks every echoed byte.

pub mod archive;
pub mod bench;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod exit;
pub mod log;
pub mod net;
pub mod os;
pub mod server;
