//! `echokit server --workers N` end to end, with the real binary: what users see does not
//! change with the number of event loops (PRODUCT.md "server", the `--workers` bullet).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

use common::{GRACEFUL_STOP, Server, assert_clean_exit, echo_exact, echokit, events, read_log};

const SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    s
}

fn start(log: &Path, args: &[&str]) -> Server {
    let mut all = vec!["-m", "file", "-f", log.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    Server::start(&all)
}

/// The `conn` of the `connected` record whose peer has this local port.
fn conn_of(log: &[serde_json::Value], port: u16) -> u64 {
    let suffix = format!(":{port}");
    events(log, "connected")
        .find(|r| r["peer"].as_str().is_some_and(|p| p.ends_with(&suffix)))
        .and_then(|r| r["conn"].as_u64())
        .unwrap_or_else(|| panic!("no connected record for port {port}"))
}

#[test]
fn connection_numbers_are_unique_and_increase_across_workers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "4"]);
    // One at a time, each served before the next connects, all kept open so they stay
    // spread over the workers.
    let mut clients = Vec::new();
    for i in 0..24 {
        let mut c = connect(server.addr);
        let msg = format!("n{i}\n");
        assert_eq!(echo_exact(&mut c, msg.as_bytes()), msg.as_bytes());
        clients.push(c);
    }
    let ports: Vec<u16> = clients
        .iter()
        .map(|c| c.local_addr().unwrap().port())
        .collect();
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_clean_exit(code);
    let records = read_log(&log);
    let numbers: Vec<u64> = ports.iter().map(|&p| conn_of(&records, p)).collect();
    assert_eq!(numbers, (1..=24).collect::<Vec<u64>>(), "in connect order");
}

#[test]
fn max_conns_holds_for_the_whole_server() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "4", "--max-conns", "3"]);
    let mut served = 0;
    let mut clients = Vec::new();
    for _ in 0..12 {
        let mut c = connect(server.addr);
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        // A rejected connection is closed at once: the write or the read fails or ends.
        let _ = c.write_all(b"x\n");
        let mut back = [0u8; 2];
        if c.read_exact(&mut back).is_ok() {
            served += 1;
        }
        clients.push(c);
    }
    assert_eq!(served, 3, "3 served over 4 workers");
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_clean_exit(code);
    let records = read_log(&log);
    assert_eq!(events(&records, "connected").count(), 3);
    assert_eq!(events(&records, "rejected").count(), 9);
}

#[cfg(unix)]
#[test]
fn shutdown_carries_the_sum_of_every_workers_totals() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "3", "--udp"]);
    let mut clients = Vec::new();
    for i in 0..15 {
        let mut c = connect(server.addr);
        for j in 0..4 {
            let msg = format!("c{i}-{j}\n");
            assert_eq!(echo_exact(&mut c, msg.as_bytes()), msg.as_bytes());
        }
        clients.push(c);
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    udp.send_to(b"dgram", server.addr).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(udp.recv_from(&mut buf).unwrap().0, 5);
    let bytes_in: usize = (0..15)
        .flat_map(|i| (0..4).map(move |j| format!("c{i}-{j}\n").len()))
        .sum::<usize>()
        + 5;
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0));
    let records = read_log(&log);
    let shutdown = events(&records, "shutdown")
        .next()
        .expect("shutdown record");
    assert_eq!(
        events(&records, "shutdown").count(),
        1,
        "one shutdown record"
    );
    assert_eq!(shutdown["conns"], 15);
    assert_eq!(shutdown["echoes"], 15 * 4 + 1);
    assert_eq!(shutdown["bytes_in"], bytes_in as u64);
    assert_eq!(shutdown["bytes_out"], bytes_in as u64);
    assert_eq!(
        events(&records, "closed")
            .filter(|r| r["reason"] == "shutdown")
            .count(),
        15
    );
    assert_eq!(
        records.last().map(|r| r["event"].clone()),
        Some("shutdown".into()),
        "shutdown is the last record"
    );
}

/// Many connections over several workers, each sending many lines at once: every file line
/// is one whole JSON record, every console line one whole message, each connection's
/// records in order.
#[test]
fn records_from_many_workers_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "both", "-f", log.to_str().unwrap(), "--workers", "4"]);
    const CONNS: usize = 32;
    const LINES: usize = 200;
    let pad = "x".repeat(90);
    let addr = server.addr;
    let handles: Vec<_> = (0..CONNS)
        .map(|c| {
            let pad = pad.clone();
            thread::spawn(move || {
                let mut s = connect(addr);
                let all: String = (0..LINES)
                    .map(|i| format!("m-{c:03}-{i:04}-{pad}\n"))
                    .collect();
                assert_eq!(echo_exact(&mut s, all.as_bytes()), all.as_bytes());
                s.local_addr().unwrap().port()
            })
        })
        .collect();
    let ports: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (code, console) = server.terminate(Duration::from_secs(5));
    assert_clean_exit(code);
    let records = read_log(&log); // asserts every line is one JSON object
    let echoes: Vec<&serde_json::Value> = events(&records, "echo").collect();
    assert_eq!(echoes.len(), CONNS * LINES);
    for port in ports {
        let conn = conn_of(&records, port);
        let msgs: Vec<&str> = echoes
            .iter()
            .filter(|r| r["conn"] == conn)
            .filter_map(|r| r["msg"].as_str())
            .collect();
        assert_eq!(msgs.len(), LINES, "conn {conn}");
        let c: usize = msgs[0][2..5].parse().unwrap();
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(*m, format!("m-{c:03}-{i:04}-{pad}"), "conn {conn} in order");
        }
    }
    for line in console.iter().filter(|l| l.contains("m-")) {
        assert_eq!(line.matches("m-").count(), 1, "torn console line {line:?}");
        assert!(line.ends_with(&pad), "torn console line {line:?}");
    }
}

#[cfg(unix)]
#[test]
fn sigterm_stops_every_worker_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "4", "--flush-after", "0"]);
    let mut clients = Vec::new();
    for i in 0..20 {
        let mut c = connect(server.addr);
        let msg = format!("whole {i}\n");
        assert_eq!(echo_exact(&mut c, msg.as_bytes()), msg.as_bytes());
        // A partial line each: logged at the close.
        assert_eq!(echo_exact(&mut c, b"part"), b"part");
        clients.push(c);
    }
    let started = Instant::now();
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0), "exit 0 within {SHUTDOWN_LIMIT:?}");
    assert!(started.elapsed() <= SHUTDOWN_LIMIT);
    let records = read_log(&log);
    let partial = events(&records, "echo")
        .filter(|r| r["partial"] == true && r["msg"] == "part")
        .count();
    assert_eq!(partial, 20, "every worker logged its pending partial lines");
    let shutdown = events(&records, "shutdown").next().expect("shutdown");
    assert_eq!(shutdown["conns"], 20);
}

/// SIGHUP with several workers: every record before it in the old file, every record
/// after it in the new one, none lost.
#[cfg(unix)]
#[test]
fn sighup_reopens_the_log_for_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let old = dir.path().join("server.log.1");
    let mut server = start(&log, &["--workers", "3"]);
    let mut clients: Vec<TcpStream> = (0..9).map(|_| connect(server.addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = format!("before {i}\n");
        assert_eq!(echo_exact(c, msg.as_bytes()), msg.as_bytes());
    }
    std::fs::rename(&log, &old).unwrap();
    common::signal(server.pid(), libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log.exists() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(log.exists(), "the file was reopened at its path");
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = format!("after {i}\n");
        assert_eq!(echo_exact(c, msg.as_bytes()), msg.as_bytes());
    }
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0));
    let before = read_log(&old);
    let after = read_log(&log);
    let msgs = |records: &[serde_json::Value], word: &str| {
        events(records, "echo")
            .filter(|r| r["msg"].as_str().is_some_and(|m| m.starts_with(word)))
            .count()
    };
    assert_eq!(msgs(&before, "before"), 9);
    assert_eq!(msgs(&before, "after"), 0);
    assert_eq!(msgs(&after, "after"), 9);
    assert_eq!(msgs(&after, "before"), 0);
}

#[test]
fn workers_with_tap_is_a_usage_error() {
    let out = echokit()
        .args([
            "server",
            "--tap",
            "echotap0",
            "--workers",
            "2",
            "-m",
            "console",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--workers"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn tap_max_conns_is_bounded() {
    let out = echokit()
        .args([
            "server",
            "--tap",
            "echotap0",
            "--max-conns",
            "100000000",
            "-m",
            "console",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--max-conns with --tap is at most 4096"),
        "{err}"
    );
}

#[test]
fn bad_worker_counts_are_usage_errors() {
    for bad in ["0", "many", "100000"] {
        let out = echokit()
            .args(["server", "--workers", bad, "-m", "console"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--workers {bad}");
    }
}

#[test]
fn one_listening_record_whatever_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "auto"]);
    let mut c = connect(server.addr);
    assert_eq!(echo_exact(&mut c, b"hi\n"), b"hi\n");
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_clean_exit(code);
    let records = read_log(&log);
    assert_eq!(events(&records, "listening").count(), 1);
    if GRACEFUL_STOP {
        assert_eq!(events(&records, "shutdown").count(), 1);
    }
}

/// `SO_REUSEPORT` must not let a second server join the first one's port.
#[test]
fn a_port_in_use_is_still_an_error_with_workers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let first = start(&log, &["--workers", "2"]);
    let port = first.addr.port().to_string();
    let out = echokit()
        .args(["server", "-p", &port, "--workers", "2", "-m", "console"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
}

/// `--flush-after` with several loops: each loop's idle sweep logs its own connections'
/// unterminated lines, and the next bytes start a new record.
#[test]
fn flush_after_works_on_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "3", "--flush-after", "50"]);
    let mut clients: Vec<TcpStream> = (0..6).map(|_| connect(server.addr)).collect();
    for c in &mut clients {
        assert_eq!(echo_exact(c, b"abc"), b"abc");
    }
    thread::sleep(Duration::from_millis(400));
    for c in &mut clients {
        assert_eq!(echo_exact(c, b"def\n"), b"def\n");
    }
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_clean_exit(code);
    let records = read_log(&log);
    let msgs = |text: &str, partial: bool| {
        events(&records, "echo")
            .filter(|r| r["msg"] == text && (r["partial"] == true) == partial)
            .count()
    };
    assert_eq!(msgs("abc", true), 6, "logged as it stood after 50 ms");
    assert_eq!(msgs("def", false), 6, "the next bytes started a new record");
}

/// UDP is served by one loop, so the per-source rate holds for the whole server.
#[test]
fn the_udp_rate_holds_for_the_whole_server() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = start(&log, &["--workers", "3", "--udp", "--udp-rate", "5"]);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for _ in 0..30 {
        udp.send_to(b"r", server.addr).unwrap();
    }
    let mut answered = 0;
    let mut buf = [0u8; 8];
    while udp.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    // A burst of 5, and at most a few more refilled while the 30 went out.
    assert!((5..=8).contains(&answered), "{answered} answered");
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_clean_exit(code);
    if GRACEFUL_STOP {
        let records = read_log(&log);
        let shutdown = events(&records, "shutdown").next().expect("shutdown");
        assert_eq!(shutdown["refused_rate"], 30 - answered);
    }
}
