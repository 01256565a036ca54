//! The console output that never blocks the event loop (PRODUCT.md "server": logging
//! never stalls echo).
//!
//! A writer thread owns stdout; the loop hands it whole lines through a bounded queue and
//! never waits for it. When stdout is not being read (a full pipe, a terminal paused with
//! Ctrl-S) the queue fills, and the lines that do not fit are dropped and counted; the first
//! line queued after a drop is a notice saying how many were dropped. Portable (no
//! `O_NONBLOCK` on a stdout the parent shell may share), and the shutdown waits a bounded
//! time for the writer, so a stuck stdout cannot hold the exit.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes of lines queued for the writer; beyond this, lines are dropped.
pub const QUEUE_BYTES: usize = 256 * 1024;
/// Extra room only the records written at every level (`listening`, `shutdown`) and the drop
/// notices may use, so a full queue still takes the `shutdown` record.
const RESERVE_BYTES: usize = 16 * 1024;

/// What the loop and the writer thread share.
#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// The writer holds bytes it took and has not finished writing.
    writing: bool,
    /// No more lines will come: the writer ends once the queue is empty.
    closed: bool,
    /// Lines lost to stdout write errors (reported once on stderr by the writer).
    lost: u64,
    /// Lines dropped in all.
    dropped: u64,
    /// Lines dropped since the last notice was queued.
    unreported: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Lines were queued, or the console was closed.
    filled: Condvar,
    /// The writer finished a write.
    written: Condvar,
    /// `queue.bytes.len()`, readable without the lock.
    queued: AtomicUsize,
    /// Bytes the writer has written in all (it writes in [`WRITE_CHUNK`]s, so a console
    /// being read shows progress while a large batch goes out).
    progress: AtomicUsize,
}

/// Bytes the writer hands stdout in one call.
const WRITE_CHUNK: usize = 16 * 1024;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The writer thread does no work under the lock that could panic.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The console output: queue lines with [`Console::push`], drain with [`Console::close`].
/// Every method takes `&self`, so the log sinks of several worker threads share one
/// console (behind an `Arc`); each push is whole lines under one lock, so lines from
/// different workers never interleave.
#[derive(Debug)]
pub struct Console {
    shared: Arc<Shared>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Console {
    /// A console writing to stdout from its own thread.
    pub fn stdout() -> io::Result<Console> {
        Console::new(io::stdout())
    }

    /// A console writing to `out` from its own thread.
    pub fn new<W: Write + Send + 'static>(out: W) -> io::Result<Console> {
        let shared = Arc::new(Shared::default());
        let for_writer = Arc::clone(&shared);
        let writer = thread::Builder::new()
            .name("echokit-console".into())
            .spawn(move || write_loop(&for_writer, out))?;
        Ok(Console {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queues the whole lines of `lines` (each ending in `\n`) that fit, drops and counts
    /// the rest. `always`: may use the reserve (records written at every level). Never
    /// waits for the writer.
    pub fn push(&self, lines: &[u8], always: bool) {
        if lines.is_empty() {
            return;
        }
        let limit = QUEUE_BYTES + if always { RESERVE_BYTES } else { 0 };
        let mut q = self.shared.lock();
        let room = limit.saturating_sub(q.bytes.len());
        let first = memchr::memchr(b'\n', lines).map_or(lines.len(), |nl| nl + 1);
        if q.unreported > 0 && first <= room {
            // The console takes lines again: the notice goes first, beyond the limit (it is
            // short, and queued only when the queue had room for a line).
            let notice = format!(
                "echokit server: {} console lines dropped (stdout was not being read)\n",
                q.unreported
            );
            q.bytes.extend_from_slice(notice.as_bytes());
            q.unreported = 0;
        }
        let fits = if lines.len() <= room {
            lines.len()
        } else {
            // Up to the last line end within the room.
            memchr::memrchr(b'\n', &lines[..room]).map_or(0, |nl| nl + 1)
        };
        q.bytes.extend_from_slice(&lines[..fits]);
        self.shared.queued.store(q.bytes.len(), Ordering::Relaxed);
        let dropped = memchr::memchr_iter(b'\n', &lines[fits..]).count() as u64;
        q.dropped += dropped;
        q.unreported += dropped;
        drop(q);
        if fits > 0 {
            self.shared.filled.notify_one();
        }
    }

    /// Whether the queue is full even without `pending` more bytes: lines are being
    /// dropped, so the caller may count a line as dropped ([`Console::drop_line`]) without
    /// formatting it. Cheap (no lock).
    pub fn is_full(&self, pending: usize) -> bool {
        self.shared.queued.load(Ordering::Relaxed) + pending >= QUEUE_BYTES
    }

    /// Counts `n` lines dropped without being queued (see [`Console::is_full`]): a sink
    /// counts its own and adds them once per batch, not once per line.
    pub fn add_dropped(&self, n: u64) {
        if n > 0 {
            let mut q = self.shared.lock();
            q.dropped += n;
            q.unreported += n;
        }
    }

    /// Lines dropped so far because the console was not taking them.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Stops taking lines and waits for the writer to write what is queued: as long as it
    /// keeps making progress (a console being read, however slowly it is scheduled), up to
    /// `cap` in all, but at most `stall` without progress (a console nobody reads).
    /// Returns the lines lost to stdout write errors.
    pub fn close(&self, stall: Duration, cap: Duration) -> u64 {
        let start = Instant::now();
        let mut seen = self.shared.progress.load(Ordering::Relaxed);
        let mut stall_until = start + stall;
        let mut q = self.shared.lock();
        q.closed = true;
        self.shared.filled.notify_one();
        while !q.bytes.is_empty() || q.writing {
            let now = Instant::now();
            let progress = self.shared.progress.load(Ordering::Relaxed);
            if progress != seen {
                seen = progress;
                stall_until = now + stall;
            }
            let until = stall_until.min(start + cap);
            let left = until.saturating_duration_since(now);
            if left.is_zero() {
                // Stdout is stuck: leave the writer blocked; the process exits anyway.
                return q.lost;
            }
            q = self
                .shared
                .written
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let lost = q.lost;
        drop(q);
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            // The queue is empty and closed: the writer is ending.
            let _ = writer.join();
        }
        lost
    }
}

/// The writer thread: takes everything queued, writes it, repeats until closed and empty.
fn write_loop<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    let mut failing = false;
    loop {
        {
            let mut q = shared.lock();
            q.writing = false;
            shared.written.notify_all();
            while q.bytes.is_empty() && !q.closed {
                q = shared
                    .filled
                    .wait(q)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if q.bytes.is_empty() {
                return;
            }
            std::mem::swap(&mut q.bytes, &mut batch);
            shared.queued.store(0, Ordering::Relaxed);
            q.writing = true;
        }
        let result = batch
            .chunks(WRITE_CHUNK)
            .try_for_each(|chunk| {
                out.write_all(chunk)?;
                shared.progress.fetch_add(chunk.len(), Ordering::Relaxed);
                shared.written.notify_all();
                Ok(())
            })
            .and_then(|()| out.flush());
        match result {
            Ok(()) => failing = false,
            Err(e) => {
                let lines = memchr::memchr_iter(b'\n', &batch).count() as u64;
                shared.lock().lost += lines;
                if !failing {
                    crate::exit::stderr_line(&format!(
                        "echokit server: error: writing the console: {e}; echo goes on, records are being lost"
                    ));
                    failing = true;
                }
            }
        }
        batch.clear();
        if batch.capacity() > 2 * QUEUE_BYTES {
            batch.shrink_to(QUEUE_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A writer that blocks until the test lets it go, like a pipe nobody reads.
    struct Gate {
        open: mpsc::Receiver<()>,
        entered: mpsc::Sender<()>,
        out: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(());
            // Blocks until opened (a closed channel means open for good).
            let _ = self.open.recv();
            self.out.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(i: usize) -> Vec<u8> {
        format!("{i:0>99}\n").into_bytes()
    }

    #[test]
    fn a_stuck_writer_never_blocks_and_drops_are_counted_exactly() {
        let (open, gate) = mpsc::channel();
        let (entered, writing) = mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let console = Console::new(Gate {
            open: gate,
            entered,
            out: Arc::clone(&out),
        })
        .unwrap();
        // The writer takes the first line and blocks on it, like a full pipe.
        console.push(&line(0), false);
        writing.recv().unwrap();
        let started = Instant::now();
        let sent = 20_000;
        for i in 1..sent {
            console.push(&line(i), false);
        }
        assert!(started.elapsed() < Duration::from_secs(5), "push waited");
        let dropped = console.dropped();
        assert!(dropped > 0, "a stuck console must drop");
        // Let the writer go, then one more line: the notice comes first.
        drop(open);
        console.push(b"last\n", true);
        assert_eq!(
            console.close(Duration::from_secs(10), Duration::from_secs(10)),
            0
        );
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let notices: Vec<&str> = text.lines().filter(|l| l.contains("dropped")).collect();
        let written = text.lines().count() - notices.len();
        assert_eq!(written as u64 + dropped, sent as u64 + 1);
        assert_eq!(
            notices,
            [format!(
                "echokit server: {dropped} console lines dropped (stdout was not being read)"
            )]
        );
        assert!(text.ends_with("dropped (stdout was not being read)\nlast\n"));
    }

    #[test]
    fn close_gives_up_on_a_stuck_writer_within_the_wait() {
        let (_open, gate) = mpsc::channel::<()>();
        let console = Console::new(Gate {
            open: gate,
            entered: mpsc::channel().0,
            out: Arc::default(),
        })
        .unwrap();
        console.push(b"one\n", false);
        let started = Instant::now();
        console.close(Duration::from_millis(200), Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// A console that is read, slowly: each write takes 40 ms, the whole queue far longer
    /// than the stall limit. Close waits while it progresses and loses nothing.
    #[test]
    fn close_waits_for_a_slow_console_that_progresses() {
        struct Slow(Arc<Mutex<Vec<u8>>>);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_millis(40));
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let console = Console::new(Slow(Arc::clone(&out))).unwrap();
        let lines: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("{:07}\n", i % 1_000_000).into_bytes())
            .take(8 * WRITE_CHUNK)
            .collect();
        console.push(&lines, false);
        console.close(Duration::from_millis(100), Duration::from_secs(10));
        assert_eq!(out.lock().unwrap().len(), lines.len());
    }

    #[test]
    fn lines_are_never_torn() {
        let (open, gate) = mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let console = Console::new(Gate {
            open: gate,
            entered: mpsc::channel().0,
            out: Arc::clone(&out),
        })
        .unwrap();
        let batch: Vec<u8> = (0..5_000).flat_map(line).collect();
        console.push(&batch, false);
        console.push(&batch, false);
        drop(open);
        console.close(Duration::from_secs(10), Duration::from_secs(10));
        let text = out.lock().unwrap().clone();
        let text = String::from_utf8(text).unwrap();
        for l in text.lines().filter(|l| !l.contains("dropped")) {
            assert_eq!(l.len(), 99, "{l:?}");
        }
    }
}
