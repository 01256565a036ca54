//! Shared helpers for the end-to-end scenarios in `tests/tests/`.

use std::net::SocketAddr;
use std::path::Path;

use echo_core::echo;
use echo_core::record::Level;
use host::server::config::{Config, LogConfig};
use host::server::log::Mode;
use host::server::service::Settings;

/// A std server on 127.0.0.1, port 0, logging every record at INFO to the file `log`.
pub fn server_config(log: &Path, udp: bool, echo: echo::Config, max_conns: usize) -> Config {
    Config {
        workers: 1,
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        log: LogConfig {
            mode: Mode::File,
            file: log.to_path_buf(),
            level: Level::Info,
        },
        udp,
        service: Settings {
            echo,
            max_conns,
            udp_rate: 100,
        },
    }
}
