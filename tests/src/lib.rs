//! Shared helpers for the end-to-end scenarios in `tests/tests/`.

use std::net::SocketAddr;
use std::path::Path;

use echo_core::echo;
use echo_core::record::Level;
use host::log::Mode;
use host::net::sockets::{Server, Stopper, Summary};
use host::server::config::{Config, LogConfig};
use host::server::service::{Settings, SharedAdmission};
use host::server::start::{Started, start};

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

/// A std server for `config` started as the binary starts it (bound, then its log and one
/// service per worker), stopped by the returned [`Stopper`] rather than by signals, running
/// on a thread: its address, its stopper and the thread.
pub fn run_server(
    config: &Config,
) -> (
    SocketAddr,
    Stopper,
    std::thread::JoinHandle<std::io::Result<Summary>>,
) {
    let server = Server::bind(config).expect("bind on port 0");
    let addr = server.local_addr();
    let Started { services, stop } = start(
        &config.log,
        &config.service,
        server.workers(),
        SharedAdmission::default(),
        false,
    )
    .expect("open the log");
    let stopper = stop.stopper();
    let running = std::thread::spawn(move || server.run(services, stop));
    (addr, stopper, running)
}
