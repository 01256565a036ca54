//! The echo server over the OS's sockets: `--workers` threads, each with its own mio
//! (epoll, kqueue, IOCP) event loop and its own [`Service`](crate::server::service::Service).
//!
//! - [`listen`]: binding (Linux: one `SO_REUSEPORT` listener per worker; elsewhere one
//!   listener, whose connections [`accept`] hands to the workers in turn);
//! - [`worker`]: one event loop; [`accept`], [`udp`] (on worker 0 only) and [`sweep`] (idle
//!   connections and `--flush-after`) are its parts;
//! - [`crew`]: stopping together and reopening the log on SIGHUP.
//!
//! Shared between workers, and only at accept and close: the connection numbers and the
//! `--max-conns` count ([`SharedAdmission`]). The log file and console are shared per batch
//! of records. Stopping: [`Stopper::stop`] or SIGINT/SIGTERM once
//! [`Server::stop_on_signals`] was called (which also makes SIGHUP reopen the log file);
//! every worker then closes its connections through its service (logging pending partial
//! lines), worker 0 adds up every worker's totals and writes `shutdown`, and the log is
//! flushed.

mod accept;
mod crew;
mod listen;
mod sweep;
mod udp;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;

use echo_core::record::Proto;
use mio::{Interest, Poll, Waker};
use slab::Slab;

use crate::net::stop::Signals;
pub use crate::net::stop::Stopper;
use crate::net::timer::Timer;
use crate::server::clock::Clock;
use crate::server::config::Config;
use crate::server::log;
use crate::server::service::{Connection, SharedAdmission, new_service};
use crew::Crew;
use listen::PER_WORKER_LISTENERS;
use worker::{Intake, LISTENER, SIGNALS, TIMER, UDP, WAKER, Worker};

/// Slots reserved up front so the connection table never copies itself while growing
/// (split over the workers).
const PRESIZE_LIMIT: usize = 65_536;

/// Why the server could not start: each is a user error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No candidate address could be bound.
    #[error("cannot listen on {addr} (tcp)")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The UDP socket could not take the same port.
    #[error("cannot listen on {addr} (udp)")]
    BindUdp { addr: SocketAddr, source: io::Error },
    /// The log file could not be opened.
    #[error(transparent)]
    Log(#[from] log::OpenError),
    /// No address to bind at all.
    #[error("no address to listen on")]
    NoAddress,
    /// The event loop, a worker thread or signal set-up failed.
    #[error("cannot set up the event loop")]
    Setup(#[from] io::Error),
}

pub use crate::server::Summary;

/// A bound, not yet running, echo server.
#[derive(Debug)]
pub struct Server {
    /// Worker 0 (the lead: UDP, signals, the `listening` and `shutdown` records) first.
    workers: Vec<Worker>,
    local: SocketAddr,
}

impl Server {
    /// Binds the first of `config.addrs` that works (TCP, and UDP on the same port with
    /// `--udp`), opens the log and sets up `config.workers` event loops.
    pub fn bind(config: &Config) -> Result<Server, StartError> {
        let n = config.workers.max(1);
        let listeners = if PER_WORKER_LISTENERS { n } else { 1 };
        let bound = listen::bind(&config.addrs, listeners, config.udp)?;
        // Opened after binding, so a failed start leaves no new log file behind.
        let log = log::open(&config.log)?;
        let admission = SharedAdmission::default();
        let clock = Clock::start();
        let polls = (0..n)
            .map(|_| Poll::new())
            .collect::<io::Result<Vec<_>>>()?;
        let stoppers = polls
            .iter()
            .map(|p| Ok(Stopper::new(Waker::new(p.registry(), WAKER)?)))
            .collect::<io::Result<Vec<_>>>()?;
        let crews = Crew::new(stoppers.clone());
        let mut listeners = bound.listeners.into_iter();
        let mut udp = bound.udp;
        // Elsewhere than Linux, worker 0's listener hands connections to the others.
        let mut handoff = Vec::new();
        let mut queues = Vec::new();
        for stopper in stoppers.iter().skip(1) {
            let (tx, rx) = mpsc::channel();
            handoff.push((tx, stopper.clone()));
            queues.push(rx);
        }
        let mut queues = queues.into_iter();
        let presize = (config.service.max_conns / n).min(PRESIZE_LIMIT / n);
        let mut workers = Vec::with_capacity(n);
        let each = polls.into_iter().zip(stoppers).zip(crews);
        for (i, ((poll, stop), crew)) in each.enumerate() {
            let intake = match listeners.next() {
                Some(mut listener) => {
                    poll.registry()
                        .register(&mut listener, LISTENER, Interest::READABLE)?;
                    Intake::Listener {
                        listener,
                        handoff: if i == 0 && !PER_WORKER_LISTENERS {
                            std::mem::take(&mut handoff)
                        } else {
                            Vec::new()
                        },
                        next: 0,
                    }
                }
                // One queue per worker after the first: there whenever a listener is not.
                None => Intake::Handed(queues.next().ok_or(StartError::NoAddress)?),
            };
            let mut udp = if i == 0 { udp.take() } else { None };
            if let Some(u) = &mut udp {
                poll.registry().register(u, UDP, Interest::READABLE)?;
            }
            let timer = Timer::new(poll.registry(), TIMER)?;
            let service = new_service(config.service.clone(), log.another(), admission.clone());
            workers.push(Worker {
                poll,
                intake,
                udp_buf: if udp.is_some() {
                    vec![0; 1 << 16]
                } else {
                    Vec::new()
                },
                udp,
                udp_more: false,
                service,
                clock,
                conns: Slab::with_capacity(presize),
                again: Vec::new(),
                next_sweep: None,
                timer,
                accept_paused_until: None,
                accept_failing: false,
                stop,
                signals: None,
                crew,
            });
        }
        Ok(Server {
            workers,
            local: bound.local,
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle that stops the server from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.workers[0].stop.clone()
    }

    /// Makes SIGINT and SIGTERM (Windows: Ctrl-C, Ctrl-Break, a closed console) stop the
    /// server gracefully, and SIGHUP reopen the log file (for the binary; tests use
    /// [`Server::stopper`]).
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        let lead = &mut self.workers[0];
        let mut signals = Signals::register()?;
        lead.poll
            .registry()
            .register(signals.source(), SIGNALS, Interest::READABLE)?;
        lead.signals = Some(signals);
        Ok(())
    }

    /// Writes the `listening` records, serves until stopped, then shuts down (see the
    /// module docs). Announcing here, not in [`Server::bind`], means a script that signals
    /// the server as soon as it reads `listening` finds the signal handlers in place.
    pub fn run(self) -> io::Result<Summary> {
        let mut workers = self.workers.into_iter();
        let Some(mut lead) = workers.next() else {
            return Ok(Summary { lost_records: 0 });
        };
        let now = lead.clock.now();
        lead.service.listening(now, self.local, Proto::Tcp);
        if lead.udp.is_some() {
            lead.service.listening(now, self.local, Proto::Udp);
        }
        lead.service.log_mut().flush();
        let mut others = Vec::new();
        for (i, mut worker) in workers.enumerate() {
            let spawned = thread::Builder::new()
                .name(format!("echokit-worker-{}", i + 1))
                .spawn(move || {
                    let served = worker.serve();
                    if served.is_err() {
                        // Not serving part of the port: stop the whole server (exit 1).
                        worker.crew.stop_all();
                    }
                    worker.close_all();
                    worker.service.log_mut().flush();
                    served.map(|()| worker.service.counts())
                });
            match spawned {
                Ok(handle) => others.push(handle),
                Err(e) => {
                    lead.crew.stop_all();
                    return Err(e);
                }
            }
        }
        let served = lead.serve();
        lead.crew.stop_all();
        lead.close_all();
        let mut failed = served.err();
        for handle in others {
            match handle.join() {
                Ok(Ok(counts)) => lead.service.absorb(&counts),
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(_) => failed = failed.or(Some(io::Error::other("a worker thread panicked"))),
            }
        }
        let now = lead.clock.now();
        lead.service
            .shutdown(now, std::iter::empty::<&mut Connection>());
        let lost_records = lead.service.log_mut().close();
        match failed {
            Some(e) => Err(e),
            None => Ok(Summary { lost_records }),
        }
    }
}
