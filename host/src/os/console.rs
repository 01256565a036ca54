//! Windows console control events (Ctrl-C, Ctrl-Break, the console window closed): what
//! Unix delivers as SIGINT, SIGTERM and SIGHUP.
//!
//! Windows runs a console control handler on a thread of its own, so unlike a signal
//! handler it may lock, allocate and do I/O. One closure per process handles every event
//! ([`on_event`]); each subcommand installs its own: the server wakes its event loop
//! ([`Signals`]), the client ends or stops pinging, the archiver deletes its temporary file.
//!
//! A closed console is different from Ctrl-C: Windows ends the process as soon as the
//! handler returns (and at the latest about 5 s after the event), so after running the
//! closure the handler waits, letting the main thread finish its shutdown and exit with its
//! own status.

use std::io;
use std::net::UdpSocket as StdUdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Duration;

use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
    GetStdHandle, STD_OUTPUT_HANDLE, SetConsoleCtrlHandler,
};
use windows_sys::core::BOOL;

/// A console control event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Ctrl-C.
    CtrlC,
    /// Ctrl-Break.
    CtrlBreak,
    /// The console window was closed, or the user logs off, or the system shuts down.
    Close,
}

impl Event {
    /// The Unix signal it stands for, for messages and `128 + n` exit statuses that read
    /// the same on every OS: Ctrl-C is SIGINT (2), Ctrl-Break the C runtime's SIGBREAK
    /// (21), a closed console SIGHUP (1, the terminal hung up).
    pub fn signal_number(self) -> i32 {
        match self {
            Event::CtrlC => 2,
            Event::CtrlBreak => 21,
            Event::Close => 1,
        }
    }
}

type Handler = Box<dyn Fn(Event) + Send + Sync>;

/// The closure [`routine`] runs; `None`: Windows' default (the process ends).
static HANDLER: Mutex<Option<Handler>> = Mutex::new(None);
static REGISTER: Once = Once::new();

/// How long a closed console's handler waits for the main thread to exit by itself
/// (Windows allows about 5 s).
const CLOSE_GRACE: Duration = Duration::from_millis(4500);

/// Makes every console control event call `handler` (replacing an earlier one) instead of
/// ending the process.
pub fn on_event(handler: impl Fn(Event) + Send + Sync + 'static) -> io::Result<()> {
    *HANDLER.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(handler));
    let mut result = Ok(());
    REGISTER.call_once(|| {
        // Safety: `routine` is a plain function that lives as long as the process.
        if unsafe { SetConsoleCtrlHandler(Some(routine), 1) } == 0 {
            result = Err(io::Error::last_os_error());
        }
    });
    result
}

/// Gives the events back to Windows' default handling.
pub fn clear() {
    *HANDLER.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Writes `bytes` to standard output without Rust's `Stdout` lock, which the main thread
/// may hold while it waits for input. Best effort.
pub fn write_stdout_raw(bytes: &[u8]) {
    use windows_sys::Win32::Storage::FileSystem::WriteFile;
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let mut written = 0u32;
    // Safety: GetStdHandle takes no pointers; WriteFile reads `len` bytes of `bytes` and
    // writes one u32; a null or invalid handle makes it fail, which is ignored.
    unsafe {
        let out = GetStdHandle(STD_OUTPUT_HANDLE);
        WriteFile(out, bytes.as_ptr(), len, &mut written, std::ptr::null_mut());
    }
}

unsafe extern "system" fn routine(kind: u32) -> BOOL {
    let event = match kind {
        CTRL_C_EVENT => Event::CtrlC,
        CTRL_BREAK_EVENT => Event::CtrlBreak,
        CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => Event::Close,
        _ => return 0,
    };
    {
        let handler = HANDLER.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(handler) = handler.as_ref() else {
            return 0; // Not handled: Windows ends the process.
        };
        handler(event);
    }
    if event == Event::Close {
        std::thread::sleep(CLOSE_GRACE);
    }
    1
}

/// The server's stop events as readiness, as the Unix `Signals` is: the console handler
/// sends a datagram over loopback to a socket the event loop watches (Windows has no
/// socket pair; a mio `Waker` is already taken by the loop's `Stopper`). The socket is
/// connected to the sender, so no other program can stop the server through it.
#[derive(Debug)]
pub(crate) struct Signals {
    read: mio::net::UdpSocket,
    /// An event arrived (every event routed here asks the server to stop).
    stop: Arc<AtomicBool>,
}

impl Signals {
    /// Routes Ctrl-C, Ctrl-Break and a closed console to [`Signals::source`].
    pub(crate) fn register() -> io::Result<Signals> {
        let loopback = std::net::Ipv4Addr::LOCALHOST;
        let read = StdUdpSocket::bind((loopback, 0))?;
        let write = StdUdpSocket::bind((loopback, 0))?;
        write.connect(read.local_addr()?)?;
        read.connect(write.local_addr()?)?;
        read.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        on_event(move |_| {
            flag.store(true, Ordering::Release);
            // A lost wake-up only matters if the loop sleeps forever; it gets another on
            // the next Ctrl-C.
            let _ = write.send(&[1]);
        })?;
        Ok(Signals {
            read: mio::net::UdpSocket::from_std(read),
            stop,
        })
    }

    /// The readable end to register with the poll.
    pub(crate) fn source(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.read
    }

    /// Reads the wake-up datagrams so the next event raises a new edge.
    pub(crate) fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.read.recv(&mut buf), Ok(n) if n > 0) {}
    }

    /// Every console event asks the server to stop (the only events routed here).
    pub(crate) fn stop_asked(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Windows has no SIGHUP: a log file is reopened only by restarting the server.
    pub(crate) fn take_hangup(&self) -> bool {
        false
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        clear();
    }
}
