//! One module per subcommand; each owns its `Args` and its `run`.

pub mod archive;
mod args;
pub mod bench;
pub mod client;
pub mod server;
