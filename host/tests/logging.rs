//! A server that runs for months (PRODUCT.md "server"): a console nobody reads never stalls
//! echo and its drops are counted exactly; SIGHUP reopens the log file for `logrotate`;
//! `--flush-after` logs an unterminated line once it is idle. The built binary, real
//! sockets on loopback, real files.
//!
//! Unix only: every test stops the server gracefully (a signal) to read its `shutdown`
//! record, which a Windows test cannot do headless (see `common::Server::terminate`).
#![cfg(unix)]
#![cfg(target_os = "linux")] // signals and /proc; the rotation test is Unix by nature

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, echokit, events, read_log, signal};

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    s
}

fn echo_exact(stream: &mut TcpStream, data: &[u8]) {
    assert_eq!(common::echo_exact(stream, data), data);
}

/// Waits (up to 10 s) for the log file's `listening` record and returns its address.
fn listening_addr(log: &Path, child: &mut Child) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(log) {
            for line in text.lines() {
                let r: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                if r["event"] == "listening" && r["proto"] == "tcp" {
                    return r["addr"].as_str().unwrap().parse().unwrap();
                }
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        thread::sleep(Duration::from_millis(10));
    }
    panic!("no listening record in {}", log.display());
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Waits up to `limit` for the child to exit; its exit code.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Clients echoing lines `c{client} {n}` in a loop until `stop`; returns the lines sent.
fn echo_until(addr: SocketAddr, client: usize, stop: &AtomicBool) -> u64 {
    let mut s = connect(addr);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut batch = String::new();
        for k in 0..8 {
            batch.push_str(&format!("c{client} {}\n", n + k));
        }
        echo_exact(&mut s, batch.as_bytes());
        n += 8;
    }
    n
}

/// The two load tests take turns: each measures or times a server that the other's clients
/// would starve of CPU on a 2-core machine.
static LOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_console_nobody_reads_never_stalls_echo_and_drops_are_counted_exactly() {
    console_nobody_reads("1");
}

/// The same with three event loops sharing the console: drops counted by each loop add up.
#[test]
fn a_console_nobody_reads_with_workers_drops_are_counted_exactly() {
    console_nobody_reads("3");
}

fn console_nobody_reads(workers: &str) {
    let _turn = LOAD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut child = echokit()
        .args([
            "server",
            "-p",
            "0",
            "--workers",
            workers,
            "-m",
            "both",
            "-f",
        ])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped()) // never read until the end
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_addr(&log, &mut child);
    let lines_per_client = 4_000;
    let clients = 8;
    let run = |from: usize| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                thread::spawn(move || {
                    let mut s = connect(addr);
                    for n in (0..lines_per_client).step_by(10) {
                        let batch: String =
                            (n..n + 10).map(|k| format!("c{c} {from} {k}\n")).collect();
                        echo_exact(&mut s, batch.as_bytes());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("a client kept echoing");
        }
    };
    // Far more console lines than the pipe and the queue hold (about 90 bytes each).
    run(0);
    let rss_first = rss_kib(child.id());
    run(1);
    run(2);
    let rss_last = rss_kib(child.id());
    assert!(
        rss_last < rss_first + 8 * 1024,
        "server memory grew from {rss_first} KiB to {rss_last} KiB"
    );
    // Only now read the console (what was queued, the notice, the shutdown), and stop.
    // The reader starts first: the server waits at most 300 ms for a console at shutdown,
    // and a reader thread started after the signal can miss that on a loaded machine.
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    signal(child.id(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(2)), Some(0));
    let console = reader.join().unwrap();
    let records = read_log(&log);
    let shutdown = records.last().unwrap();
    assert_eq!(shutdown["event"], "shutdown");
    assert_eq!(
        events(&records, "echo").count(),
        3 * clients * lines_per_client
    );
    let dropped = shutdown["console_dropped"].as_u64().unwrap();
    assert!(
        dropped > 0,
        "nothing dropped: the test did not fill the pipe"
    );
    let notices = console
        .lines()
        .filter(|l| l.contains("console lines dropped (stdout was not being read)"))
        .count();
    assert!(
        notices >= 1,
        "no notice of {dropped} drops in {} console lines (last: {:?}); {} records",
        console.lines().count(),
        console.lines().last(),
        records.len()
    );
    let written = console.lines().count() - notices;
    // Every record of the file went to the console too, or was dropped and counted.
    assert_eq!(
        written as u64 + dropped,
        records.len() as u64,
        "console lines written + dropped = records"
    );
    assert!(console.lines().last().unwrap().contains("shutdown"));
}

#[test]
fn sigterm_with_a_stuck_console_still_exits_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut child = echokit()
        .args(["server", "-p", "0", "-m", "both", "-f"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped()) // never read at all
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&log, &mut child);
    let mut s = connect(addr);
    let batch = "a console line nobody will read\n".repeat(100);
    for _ in 0..100 {
        echo_exact(&mut s, batch.as_bytes());
    }
    let start = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let code = wait_exit(&mut child, Duration::from_secs(3));
    let took = start.elapsed();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    let records = read_log(&log);
    let shutdown = records.last().unwrap();
    assert_eq!(shutdown["event"], "shutdown");
    assert_eq!(shutdown["echoes"], 10_000);
    assert!(shutdown["console_dropped"].as_u64().unwrap() > 0);
}

/// Renames the log away and sends SIGHUP `times` times while clients echo; returns the
/// files in order, oldest first.
fn rotate(pid: u32, log: &Path, times: usize, pause: Duration) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 1..=times {
        thread::sleep(pause);
        let moved = log.with_extension(format!("log.{i}"));
        std::fs::rename(log, &moved).unwrap();
        signal(pid, libc::SIGHUP);
        // The server creates the file again at its path.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.exists() {
            assert!(Instant::now() < deadline, "no new log file after SIGHUP");
            thread::sleep(Duration::from_millis(1));
        }
        files.push(moved);
    }
    files.push(log.to_path_buf());
    files
}

/// Rotation under load (issue 13's goal uses 50 clients and 20 rotations; `ROTATE_CLIENTS`
/// and `ROTATE_TIMES` set them).
#[test]
fn sighup_rotation_under_load_loses_no_record_and_tears_none() {
    rotation_under_load("1");
}

/// The same with three event loops: each writes its records to the old file before the
/// reopen, so every file continues each client's lines where the previous one ended.
#[test]
fn sighup_rotation_under_load_with_workers_loses_no_record_and_tears_none() {
    rotation_under_load("3");
}

fn rotation_under_load(workers: &str) {
    let _turn = LOAD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (clients, times) = (env("ROTATE_CLIENTS", 10), env("ROTATE_TIMES", 5));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let log_arg = log.to_str().unwrap();
    let mut server = Server::start(&["-m", "file", "-f", log_arg, "--workers", workers]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || echo_until(addr, c, &stop))
        })
        .collect();
    let files = rotate(server.pid(), &log, times, Duration::from_millis(100));
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let sent: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (code, _) = server.terminate(Duration::from_secs(2));
    assert_eq!(code, Some(0));
    assert!(server.stderr().is_empty());
    // Per client, the numbers seen so far: each file continues where the previous ended.
    let mut next = vec![0u64; clients];
    let mut shutdowns = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.ends_with('\n') || text.is_empty(),
            "torn last line in {}",
            file.display()
        );
        for line in text.lines() {
            let r: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: torn or bad line {line:?}: {e}", file.display()));
            shutdowns += usize::from(r["event"] == "shutdown");
            if r["event"] != "echo" {
                continue;
            }
            let msg = r["msg"].as_str().unwrap();
            let (c, n) = msg[1..].split_once(' ').unwrap();
            let (c, n): (usize, u64) = (c.parse().unwrap(), n.parse().unwrap());
            assert_eq!(
                n,
                next[c],
                "client {c}: record {n} out of order in {}",
                file.display()
            );
            next[c] += 1;
        }
    }
    assert_eq!(
        next, sent,
        "records across the files = lines sent, per client"
    );
    assert_eq!(shutdowns, 1);
    println!(
        "{} lines from {clients} clients, {times} rotations: every one logged once, in order",
        sent.iter().sum::<u64>()
    );
}

#[test]
fn a_failed_reopen_is_one_line_and_logging_goes_on_to_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "file", "-f", log.to_str().unwrap()]);
    let mut c = connect(server.addr);
    echo_exact(&mut c, b"before\n");
    let moved = dir.path().join("server.log.1");
    std::fs::rename(&log, &moved).unwrap();
    // A directory where the file should be: the reopen fails (even as root).
    std::fs::create_dir(&log).unwrap();
    signal(server.pid(), libc::SIGHUP);
    signal(server.pid(), libc::SIGHUP);
    echo_exact(&mut c, b"after\n");
    let (code, _) = server.terminate(Duration::from_secs(2));
    assert_eq!(code, Some(0));
    let stderr = server.stderr();
    let complaints: Vec<&str> = stderr.lines().collect();
    assert!(!complaints.is_empty());
    assert!(
        complaints
            .iter()
            .all(|l| l.contains("cannot reopen log file")),
        "{stderr}"
    );
    let records = read_log(&moved);
    let msgs: Vec<_> = events(&records, "echo").map(|r| r["msg"].clone()).collect();
    assert_eq!(msgs, ["before", "after"]);
    assert_eq!(records.last().unwrap()["event"], "shutdown");
}

/// logrotate's SIGHUP with a SIGTERM right behind it: the reopen is not skipped, so the
/// `shutdown` record lands in the new file, and nothing after the rename in the old one.
#[test]
fn a_sighup_just_before_sigterm_still_reopens_the_log() {
    for workers in ["1", "3"] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut server = Server::start(&[
            "-m",
            "file",
            "-f",
            log.to_str().unwrap(),
            "--workers",
            workers,
        ]);
        let moved = dir.path().join("server.log.1");
        std::fs::rename(&log, &moved).unwrap();
        signal(server.pid(), libc::SIGHUP);
        let (code, _) = server.terminate(Duration::from_secs(2));
        assert_eq!(code, Some(0));
        let records = read_log(&log);
        assert_eq!(
            records.len(),
            1,
            "--workers {workers}: only shutdown after the reopen"
        );
        assert_eq!(records[0]["event"], "shutdown");
        assert_eq!(read_log(&moved)[0]["event"], "listening");
    }
}

/// EchoClient.py: each message without a newline, waiting for its echo. With
/// `--flush-after`, one record per message once the line is idle.
#[test]
fn flush_after_logs_each_unterminated_message_once_idle() {
    let mut server = Server::start(&["-m", "console", "--flush-after", "50"]);
    let mut c = connect(server.addr);
    for msg in ["Hi There", "Hello world!", "ünïcödé"] {
        echo_exact(&mut c, msg.as_bytes());
        let line = server
            .wait_line(|l| l.contains(" echo: "))
            .expect("the idle line is logged");
        assert!(line.ends_with(&format!("echo: {msg} (partial)")), "{line}");
    }
    drop(c);
    server.wait_line(|l| l.contains("closed")).expect("closed");
    let (code, rest) = server.terminate(Duration::from_secs(2));
    assert_eq!(code, Some(0));
    assert!(rest.iter().all(|l| !l.contains(" echo: ")), "{rest:?}");
}

#[test]
fn flush_after_in_the_file_marks_records_partial_and_zero_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, expect) in [
        ("30", vec![("ab", true), ("cd", true)]),
        ("0", vec![("abcd", true)]),
    ] {
        let log = dir.path().join(format!("flush{flag}.log"));
        let mut server = Server::start(&[
            "-m",
            "both",
            "-f",
            log.to_str().unwrap(),
            "--flush-after",
            flag,
        ]);
        let mut c = connect(server.addr);
        echo_exact(&mut c, b"ab");
        if flag != "0" {
            server
                .wait_line(|l| l.contains("echo: ab"))
                .expect("flushed");
        } else {
            thread::sleep(Duration::from_millis(100));
        }
        echo_exact(&mut c, b"cd");
        let (code, _) = server.terminate(Duration::from_secs(2));
        assert_eq!(code, Some(0));
        let records = read_log(&log);
        let got: Vec<(String, bool)> = events(&records, "echo")
            .map(|r| (r["msg"].as_str().unwrap().to_owned(), r["partial"] == true))
            .collect();
        let expect: Vec<(String, bool)> = expect.iter().map(|(m, p)| (m.to_string(), *p)).collect();
        assert_eq!(got, expect, "--flush-after {flag}");
    }
}
