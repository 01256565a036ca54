//! The `echokit` binary's library: subcommands and the runners that drive `echo-core`.

pub mod cli;
pub mod cmd;
