//! Shared helpers for tests that run the built `echokit` binary.
//!
//! [`Server::start`] spawns `echokit server -p 0 ...`, learns the port from the console's
//! `listening on ADDR (tcp)` line and kills the child on drop, even when a test fails.
//!
//! The OS seams of the tests: Unix stops a server gracefully with SIGTERM. On Windows a
//! test cannot send a console control event to a child without a console (CI runs under
//! Wine, headless), so there [`Server::terminate`] kills the server once its log is flushed,
//! and what only a graceful stop produces (exit 0, `closed` with reason `shutdown`, the
//! `shutdown` record) is checked where [`GRACEFUL_STOP`] holds. Pseudo-terminals, signals,
//! open-file limits and `/proc` are Unix (or Linux) only, and so are the tests using them.

#![allow(dead_code)] // Each test binary uses a different subset.

#[cfg(target_os = "linux")]
pub mod netns;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Whether [`Server::terminate`] stops the server gracefully (SIGTERM) or kills it.
pub const GRACEFUL_STOP: bool = cfg!(unix);

/// Longest the server's log file may hold records back (its periodic flush is 1 s).
#[cfg(not(unix))]
const LOG_FLUSH_WAIT: Duration = Duration::from_millis(1500);

/// Asserts the exit code of a [`Server::terminate`]: 0 after a graceful stop; where the
/// server was killed ([`GRACEFUL_STOP`] false; `terminate` checked it was still running),
/// only that it ended.
#[track_caller]
pub fn assert_clean_exit(code: Option<i32>) {
    if GRACEFUL_STOP {
        assert_eq!(code, Some(0), "exit 0 after a graceful stop");
    } else {
        assert!(code.is_some(), "the server ended");
    }
}

/// The binary under test.
pub fn echokit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_echokit"))
}

/// A running `echokit server`, killed on drop.
pub struct Server {
    child: Child,
    /// The TCP address from the `listening` line.
    pub addr: SocketAddr,
    /// Console lines after `listening`, as they arrive.
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `echokit server -p 0` with `args` appended (give `-m console` or a log file
    /// in a tempdir: never the default file in the repo).
    pub fn start(args: &[&str]) -> Server {
        Server::start_in(None, args)
    }

    /// Like [`Server::start`], with the working directory `dir`.
    pub fn start_in(dir: Option<&Path>, args: &[&str]) -> Server {
        Server::start_with(echokit(), dir, args)
    }

    /// Like [`Server::start`], with open-file limits `soft` and `hard` set before the
    /// server starts.
    #[cfg(unix)]
    pub fn start_with_nofile(soft: u64, hard: u64, args: &[&str]) -> Server {
        use std::os::unix::process::CommandExt;
        let mut cmd = echokit();
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // Safety: setrlimit is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Server::start_with(cmd, None, args)
    }

    fn start_with(mut cmd: Command, dir: Option<&Path>, args: &[&str]) -> Server {
        cmd.args(["server", "-p", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("spawn echokit server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || forward_lines(stdout, tx));
        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().expect("placeholder address"),
            lines,
        };
        let log_file = args
            .iter()
            .position(|a| *a == "-f" || *a == "--log-file")
            .and_then(|i| args.get(i + 1))
            .map(|f| dir.map_or_else(|| Path::new(f).to_path_buf(), |d| d.join(f)));
        server.addr = server
            .find_listening(log_file.as_deref())
            .expect("server announced its address");
        server
    }

    /// The TCP address from the console's `listening on ADDR (tcp)` line or, with the
    /// console off, from the log file's `listening` record.
    fn find_listening(&mut self, log_file: Option<&Path>) -> Option<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            while let Ok(line) = self.lines.try_recv() {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    if rest.ends_with("(tcp)") {
                        return rest.split(' ').next()?.parse().ok();
                    }
                }
            }
            // Only a regular file: /dev/full, say, reads as endless zeros.
            let file = log_file.filter(|f| f.metadata().is_ok_and(|m| m.is_file()));
            if let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) {
                for line in text.lines() {
                    let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    if r["event"] == "listening" && r["proto"] == "tcp" {
                        return r["addr"].as_str()?.parse().ok();
                    }
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits (up to 10 s) for a console line matching `pred` and returns it.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// CPU time (user + system) the server used so far, from /proc.
    #[cfg(target_os = "linux")]
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc stat");
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = &stat[stat.rfind(')').expect("stat has a ')'") + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // Safety: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// The exit status if the server has exited (for failure messages).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (Windows: waits for the log flush, then kills; see the module docs) and
    /// waits (up to `limit`) for the exit; returns the exit code and the console lines
    /// printed since the last read.
    pub fn terminate(&mut self, limit: Duration) -> (Option<i32>, Vec<String>) {
        #[cfg(unix)]
        signal(self.child.id(), libc::SIGTERM);
        #[cfg(not(unix))]
        {
            thread::sleep(LOG_FLUSH_WAIT);
            let early = self.child.try_wait().expect("try_wait");
            assert!(
                early.is_none(),
                "the server ended before it was stopped: {early:?}"
            );
            let _ = self.child.kill();
        }
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if start.elapsed() > limit {
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let code = status.and_then(|s| s.code());
        let mut rest = Vec::new();
        if status.is_some() {
            // The pipe is closed: read to its end (the reader thread may lag behind).
            while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                rest.push(line);
            }
        } else {
            rest.extend(self.lines.try_iter());
        }
        (code, rest)
    }

    /// The server's stderr so far (after it exited).
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }

    /// Resident memory of the server process, in KiB (Linux /proc).
    #[cfg(target_os = "linux")]
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(stdout: ChildStdout, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// Writes `data`, then reads exactly as many bytes back.
pub fn echo_exact(stream: &mut std::net::TcpStream, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    stream.write_all(data).expect("send");
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back).expect("read the echo");
    back
}

/// Sends `sig` to `pid` (a child this test started).
#[cfg(unix)]
pub fn signal(pid: u32, sig: i32) {
    let pid = i32::try_from(pid).expect("pid fits in pid_t");
    // Safety: kill(2) with a pid we spawned; no memory is shared.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

/// Raises this process's open-file soft limit to at least `want` (as far as the hard limit
/// allows) and returns the new soft limit.
#[cfg(unix)]
pub fn raise_own_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// Reads a JSON Lines log file into values, asserting each line is one JSON object.
pub fn read_log(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("read log file");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

/// The records of one event.
pub fn events<'a>(
    log: &'a [serde_json::Value],
    event: &'a str,
) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
    log.iter().filter(move |r| r["event"] == event)
}

/// A new pseudo-terminal: (master, slave). Tests give the slave to a child as its terminal
/// and read what it shows from the master.
#[cfg(unix)]
pub fn openpty() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // Safety: openpty writes two new descriptors into the locals; null name, termios and
    // winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // Safety: both descriptors were just opened by openpty and are owned by nobody else.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    }
}
