//! `echokit server` end to end: the built binary, real sockets on loopback, real log files.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, echokit, events, read_log};

const SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    s
}

/// Writes `data`, then reads exactly as many bytes back.
fn echo_exact(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).expect("send");
    let mut back = vec![0; data.len()];
    stream.read_exact(&mut back).expect("read the echo");
    back
}

#[test]
fn hi_there_is_echoed_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "both", "-f", log.to_str().unwrap()]);
    let mut c = connect(&server);
    assert_eq!(echo_exact(&mut c, b"Hi There\n"), b"Hi There\n");
    let line = server.wait_line(|l| l.contains("echo: Hi There"));
    assert!(line.is_some(), "console shows the echo record");
    drop(c);
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0));
    let records = read_log(&log);
    assert_eq!(records[0]["event"], "listening");
    assert_eq!(records[0]["addr"], server.addr.to_string());
    let echo: Vec<_> = events(&records, "echo").collect();
    assert_eq!(echo.len(), 1);
    assert_eq!(echo[0]["msg"], "Hi There");
    assert_eq!(echo[0]["level"], "INFO");
    assert_eq!(echo[0]["peer"], c_peer_of(&records));
    assert_eq!(records.last().unwrap()["event"], "shutdown");
}

fn c_peer_of(records: &[serde_json::Value]) -> serde_json::Value {
    events(records, "connected")
        .next()
        .expect("connected record")["peer"]
        .clone()
}

#[test]
fn sigterm_logs_every_line_and_the_pending_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "file", "-f", log.to_str().unwrap()]);
    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    let mut sent = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        for n in 0..50 {
            let line = format!("client {i} line {n}\n");
            assert_eq!(echo_exact(c, line.as_bytes()), line.as_bytes());
            sent += 1;
        }
    }
    // An unterminated line, still open when the server stops.
    assert_eq!(echo_exact(&mut clients[0], b"no newline"), b"no newline");
    let start = Instant::now();
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0), "exit 0 within a second of SIGTERM");
    assert!(start.elapsed() < SHUTDOWN_LIMIT);
    let records = read_log(&log);
    let echoes: Vec<_> = events(&records, "echo").collect();
    assert_eq!(echoes.len(), sent + 1);
    let last = echoes.last().unwrap();
    assert_eq!(last["msg"], "no newline");
    assert_eq!(last["partial"], true);
    let closed: Vec<_> = events(&records, "closed").collect();
    assert_eq!(closed.len(), 3);
    assert!(closed.iter().all(|r| r["reason"] == "shutdown"));
    let shutdown = records.last().unwrap();
    assert_eq!(shutdown["event"], "shutdown");
    assert_eq!(shutdown["conns"], 3);
    assert_eq!(shutdown["echoes"], sent + 1);
}

#[test]
fn port_in_use_is_one_line_and_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = echokit()
        .args(["server", "-m", "console", "-p", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(err.contains(&port), "{err}");
}

#[test]
fn user_errors_are_one_line_and_exit_2() {
    let cases: &[&[&str]] = &[
        &["--bogus"],
        &["-p", "99999"],
        &["-l", "LOUD"],
        &["-m", "syslog"],
        &["-s", "999.1.1.1"],
        &["-s", "no-such-host.invalid"],
        &["--max-line", "0"],
        &["--idle-timeout", "-3"],
        &["-m", "file", "-f", "/nonexistent-dir/x.log"],
    ];
    for args in cases {
        let out = echokit()
            .arg("server")
            .args(*args)
            .args(["-p", "0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("echokit server: error: "),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn seed_spellings_work() {
    let mut server = Server::start(&["--log_mode", "LOG_CONSOLE", "--log_level", "WARNING"]);
    let mut c = connect(&server);
    assert_eq!(echo_exact(&mut c, b"quiet\n"), b"quiet\n");
    c.shutdown(Shutdown::Write).unwrap();
    let (code, lines) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0));
    assert!(lines.iter().all(|l| !l.contains("echo:")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("shutdown")), "{lines:?}");
}
