//! The echo server over the OS's sockets: `--workers` threads, each with its own mio
//! (epoll, kqueue, IOCP) event loop serving the [`Service`] it is handed.
//!
//! - [`listen`]: binding (Linux: one `SO_REUSEPORT` listener per worker; elsewhere one
//!   listener, whose connections [`accept`] hands to the workers in turn);
//! - [`worker`]: one event loop; [`accept`], [`udp`] (on worker 0 only) and [`sweep`] (idle
//!   connections and `--flush-after`) are its parts;
//! - [`crew`]: stopping together and reopening the log on SIGHUP.
//!
//! Start-up and shutdown are [`crate::server::start`]'s, shared with the TAP runner: the
//! caller binds ([`Server::bind`]), builds the services and the [`Stop`], and
//! [`Server::run`] serves them. Shared between workers, and only at accept and close: the
//! connection numbers and the `--max-conns` count
//! ([`crate::server::service::SharedAdmission`]). The log file and
//! console are shared per batch of records. Once stopped ([`Stopper::stop`], or a signal
//! when the [`Stop`] has them) every worker closes its connections through its service
//! (logging pending partial lines), and worker 0's service writes `shutdown` with every
//! worker's totals.

mod accept;
mod crew;
mod listen;
mod sweep;
mod udp;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use echo_core::record::Proto;
use mio::{Interest, Poll, Waker};
use slab::Slab;

pub use crate::net::stop::{Stop, Stopper};
use crate::net::timer::Timer;
use crate::server::clock::Clock;
use crate::server::config::Config;
use crate::server::service::Service;
use crate::server::start::finish;
use crew::Crew;
use listen::PER_WORKER_LISTENERS;
use worker::{Intake, LISTENER, SIGNALS, TIMER, UDP, WAKER, Worker};

/// Slots reserved up front so the connection table never copies itself while growing
/// (split over the workers).
const PRESIZE_LIMIT: usize = 65_536;

/// Why the server could not bind: each is a user error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No candidate address could be bound.
    #[error("cannot listen on {addr} (tcp)")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The UDP socket could not take the same port.
    #[error("cannot listen on {addr} (udp)")]
    BindUdp { addr: SocketAddr, source: io::Error },
    /// No address to bind at all.
    #[error("no address to listen on")]
    NoAddress,
    /// The event loop could not be set up.
    #[error("cannot set up the event loop")]
    Setup(#[from] io::Error),
}

pub use crate::server::Summary;

/// One worker's event loop and sockets, waiting for its service.
#[derive(Debug)]
struct Loop {
    poll: Poll,
    waker: Arc<Waker>,
    intake: Intake,
    udp: Option<mio::net::UdpSocket>,
    timer: Timer,
}

/// A bound, not yet running, echo server.
#[derive(Debug)]
pub struct Server {
    /// Worker 0's (the lead: UDP, signals, the `listening` and `shutdown` records) first.
    loops: Vec<Loop>,
    local: SocketAddr,
    /// Connection slots to reserve per worker.
    presize: usize,
}

impl Server {
    /// Binds the first of `config.addrs` that works (TCP, and UDP on the same port with
    /// `--udp`) and sets up `config.workers` event loops.
    pub fn bind(config: &Config) -> Result<Server, StartError> {
        let n = config.workers.max(1);
        let listeners = if PER_WORKER_LISTENERS { n } else { 1 };
        let bound = listen::bind(&config.addrs, listeners, config.udp)?;
        let polls = (0..n)
            .map(|_| Poll::new())
            .collect::<io::Result<Vec<_>>>()?;
        let wakers = polls
            .iter()
            .map(|p| Ok(Arc::new(Waker::new(p.registry(), WAKER)?)))
            .collect::<io::Result<Vec<_>>>()?;
        let mut listeners = bound.listeners.into_iter();
        let mut udp = bound.udp;
        // Elsewhere than Linux, worker 0's listener hands connections to the others.
        let mut handoff = Vec::new();
        let mut queues = Vec::new();
        for waker in wakers.iter().skip(1) {
            let (tx, rx) = mpsc::channel();
            handoff.push((tx, Arc::clone(waker)));
            queues.push(rx);
        }
        let mut queues = queues.into_iter();
        let mut loops = Vec::with_capacity(n);
        for (i, (poll, waker)) in polls.into_iter().zip(wakers).enumerate() {
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
            loops.push(Loop {
                poll,
                waker,
                intake,
                udp,
                timer,
            });
        }
        Ok(Server {
            loops,
            local: bound.local,
            presize: (config.service.max_conns / n).min(PRESIZE_LIMIT / n),
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many services [`Server::run`] takes: one per event loop.
    pub fn workers(&self) -> usize {
        self.loops.len()
    }

    /// Writes the `listening` records, serves until `stop`, then shuts down (see the
    /// module docs). `services`: one per worker (see [`Server::workers`]), admitting
    /// through clones of one [`SharedAdmission`], as [`crate::server::start::start`] makes
    /// them. Announcing here, not in [`Server::bind`], means a script that signals the
    /// server as soon as it reads `listening` finds the signal handlers in place.
    pub fn run(self, services: Vec<Service>, stop: Stop) -> io::Result<Summary> {
        if services.len() != self.loops.len() {
            return Err(io::Error::other(format!(
                "{} services for {} workers",
                services.len(),
                self.loops.len()
            )));
        }
        let (stopper, signals) = stop.into_parts();
        let wakers = self.loops.iter().map(|l| Arc::clone(&l.waker)).collect();
        let crews = Crew::new(wakers, stopper.clone());
        let clock = Clock::start();
        let mut workers = Vec::with_capacity(services.len());
        let each = self.loops.into_iter().zip(services).zip(crews);
        for ((l, service), crew) in each {
            stopper.wake_on_stop(Arc::clone(&l.waker));
            workers.push(Worker {
                poll: l.poll,
                intake: l.intake,
                udp_buf: if l.udp.is_some() {
                    vec![0; 1 << 16]
                } else {
                    Vec::new()
                },
                udp: l.udp,
                udp_more: false,
                service,
                clock,
                conns: Slab::with_capacity(self.presize),
                again: Vec::new(),
                next_sweep: None,
                timer: l.timer,
                accept_paused_until: None,
                accept_failing: false,
                stop: stopper.clone(),
                signals: None,
                crew,
            });
        }
        let mut workers = workers.into_iter();
        let Some(mut lead) = workers.next() else {
            return Ok(Summary { lost_records: 0 });
        };
        if let Some(mut signals) = signals {
            lead.poll
                .registry()
                .register(signals.source(), SIGNALS, Interest::READABLE)?;
            lead.signals = Some(signals);
        }
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
        let mut counts = Vec::with_capacity(others.len());
        for handle in others {
            match handle.join() {
                Ok(Ok(c)) => counts.push(c),
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(_) => failed = failed.or(Some(io::Error::other("a worker thread panicked"))),
            }
        }
        let now = lead.clock.now();
        let summary = finish(lead.service, counts, now);
        match failed {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}
