//! `echokit server` end to end: the built binary, real sockets on loopback, real log files.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, echo_exact, echokit, events, read_log};

const SHUTDOWN_LIMIT: Duration = Duration::from_secs(1);

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    s
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
    common::assert_clean_exit(code);
    let records = read_log(&log);
    assert_eq!(records[0]["event"], "listening");
    assert_eq!(records[0]["addr"], server.addr.to_string());
    let echo: Vec<_> = events(&records, "echo").collect();
    assert_eq!(echo.len(), 1);
    assert_eq!(echo[0]["msg"], "Hi There");
    assert_eq!(echo[0]["level"], "INFO");
    assert_eq!(echo[0]["peer"], c_peer_of(&records));
    if common::GRACEFUL_STOP {
        assert_eq!(records.last().unwrap()["event"], "shutdown");
    }
}

fn c_peer_of(records: &[serde_json::Value]) -> serde_json::Value {
    events(records, "connected")
        .next()
        .expect("connected record")["peer"]
        .clone()
}

#[test]
#[cfg(unix)]
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
    // The system's own words: EADDRINUSE on Unix, WSAEADDRINUSE (10048) on Windows.
    let in_use = if cfg!(windows) {
        "os error 10048"
    } else {
        "Address already in use"
    };
    assert!(err.contains(in_use), "{err}");
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
    common::assert_clean_exit(code);
    assert!(lines.iter().all(|l| !l.contains("echo:")), "{lines:?}");
    if common::GRACEFUL_STOP {
        assert!(lines.iter().any(|l| l.contains("shutdown")), "{lines:?}");
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), no `\r\n` pair in them: the log keeps
/// a line's content, not whether it ended in `\n` or `\r\n`.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect();
    for i in 1..out.len() {
        if out[i] == b'\n' && out[i - 1] == b'\r' {
            out[i - 1] = b'\t';
        }
    }
    out
}

/// Decodes lowercase hex from a `msg_hex` field.
fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit pair"))
        .collect()
}

/// A record's message bytes, from `msg` or `msg_hex`.
fn message(record: &serde_json::Value) -> Vec<u8> {
    match (record["msg"].as_str(), record["msg_hex"].as_str()) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(hex)) => unhex(hex),
        _ => panic!("echo record with neither or both of msg/msg_hex: {record}"),
    }
}

/// Sends `data` from a second thread while reading the echo here (no deadlock on big data).
fn echo_concurrently(stream: &TcpStream, data: &[u8]) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    let owned = data.to_vec();
    let sending = std::thread::spawn(move || writer.write_all(&owned));
    let mut back = vec![0; data.len()];
    (&*stream)
        .read_exact(&mut back)
        .expect("read the whole echo");
    sending.join().unwrap().expect("send everything");
    back
}

#[test]
fn one_mib_of_random_binary_is_echoed_exactly_and_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "file", "-f", log.to_str().unwrap()]);
    let data = random_bytes(1 << 20, 0x5eed);
    let c = connect(&server);
    assert!(echo_concurrently(&c, &data) == data, "echo is byte-exact");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        (&c).read(&mut [0; 1]).unwrap(),
        0,
        "server closes after EOF"
    );
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);

    let records = read_log(&log);
    let mut rebuilt = Vec::new();
    for r in events(&records, "echo") {
        rebuilt.extend_from_slice(&message(r));
        if r["partial"] != true {
            rebuilt.push(b'\n');
        }
    }
    assert!(
        rebuilt == data,
        "the log's messages rebuild the stream exactly"
    );
    let closed = events(&records, "closed").next().unwrap();
    assert_eq!(closed["bytes_in"], 1 << 20);
    assert_eq!(closed["bytes_out"], 1 << 20);
    assert_eq!(closed["reason"], "eof");
}

#[test]
fn two_hundred_concurrent_clients_get_their_own_data() {
    const CLIENTS: usize = 200;
    let server = Server::start(&["-m", "console", "-l", "warn"]);
    let addr = server.addr;
    let start = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).expect("connect");
                c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                start.wait(); // every client connected before any sends
                let data = random_bytes(64 * 1024, i as u64 + 1);
                for chunk in data.chunks(4096) {
                    assert_eq!(echo_exact(&mut c, chunk), chunk, "client {i}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
}

/// Waits (up to 30 s) until `stream` has bytes its peer has not taken: on loopback they
/// stay queued only when the receiver stopped reading and its window is full.
#[cfg(target_os = "linux")]
fn wait_for_backpressure(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut unsent: libc::c_int = 0;
        // Safety: TIOCOUTQ (SIOCOUTQ) writes one int for a socket we own.
        let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut unsent) };
        assert_eq!(rc, 0, "ioctl(TIOCOUTQ)");
        if unsent > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never stopped reading"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn slow_reader_keeps_server_memory_bounded_and_others_served() {
    const TOTAL: usize = 200 << 20;
    const LIMIT_KIB: u64 = 64 * 1024;
    let mut server = Server::start(&["-m", "console", "-l", "warn"]);
    let slow = connect(&server);
    let mut writer = slow.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let chunk = vec![0xa5u8; 1 << 20];
        for _ in 0..TOTAL >> 20 {
            writer.write_all(&chunk)?;
        }
        Ok::<_, std::io::Error>(())
    });
    // First it does not read at all: the server must stop reading it, not buffer. Wait for
    // that to happen (bytes stay unsent in the client's socket: the server's window closed),
    // not for a while.
    wait_for_backpressure(&slow);
    let mut peak = server.rss_kib();
    let mut other = connect(&server);
    let mut received = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut rounds = 0u32;
    while received < TOTAL {
        let n = match (&slow).read(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!(
                "slow reader read failed after {received} bytes: {e}; server exit status: {:?}",
                server.exited()
            ),
        };
        assert!(n > 0, "server closed the slow reader early");
        assert!(buf[..n].iter().all(|&b| b == 0xa5));
        received += n;
        rounds += 1;
        if rounds % 16 == 0 {
            // Slow: pause now and then; check memory and that another client is served.
            std::thread::sleep(Duration::from_millis(2));
            peak = peak.max(server.rss_kib());
            if rounds % 256 == 0 {
                assert_eq!(echo_exact(&mut other, b"still here\n"), b"still here\n");
            }
        }
    }
    sending.join().unwrap().expect("sent 200 MiB");
    assert_eq!(echo_exact(&mut other, b"still here\n"), b"still here\n");
    assert!(peak < LIMIT_KIB, "server RSS peaked at {peak} KiB");
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
}

#[test]
fn max_conns_rejects_the_extra_connection() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&[
        "-m",
        "file",
        "-f",
        log.to_str().unwrap(),
        "--max-conns",
        "2",
    ]);
    let mut a = connect(&server);
    let mut b = connect(&server);
    assert_eq!(echo_exact(&mut a, b"a\n"), b"a\n");
    assert_eq!(echo_exact(&mut b, b"b\n"), b"b\n");
    let mut extra = connect(&server);
    let _ = extra.write_all(b"over\n");
    let mut buf = [0u8; 8];
    // Closed at once: end of stream (or a reset, if our bytes arrived first).
    assert!(matches!(extra.read(&mut buf), Ok(0) | Err(_)));
    drop(a);
    // A slot is free again once the server saw the close.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut served = false;
    while !served && Instant::now() < deadline {
        let mut c = connect(&server);
        served = c.write_all(b"again\n").is_ok() && {
            let mut back = [0u8; 6];
            c.read_exact(&mut back).is_ok() && &back == b"again\n"
        };
    }
    assert!(served, "a freed slot serves a new client");
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
    let records = read_log(&log);
    let rejected: Vec<_> = events(&records, "rejected").collect();
    assert!(!rejected.is_empty());
    assert_eq!(rejected[0]["level"], "WARN");
    assert_eq!(rejected[0]["reason"], "max_conns");
    if common::GRACEFUL_STOP {
        assert!(records.last().unwrap()["rejected"].as_u64() >= Some(1));
    }
}

#[test]
fn idle_timeout_closes_quiet_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&[
        "-m",
        "file",
        "-f",
        log.to_str().unwrap(),
        "--idle-timeout",
        "1",
    ]);
    let mut quiet = connect(&server);
    let mut busy = connect(&server);
    assert_eq!(echo_exact(&mut quiet, b"hello\n"), b"hello\n");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1800) {
        assert_eq!(echo_exact(&mut busy, b"tick\n"), b"tick\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut buf = [0u8; 1];
    assert_eq!(quiet.read(&mut buf).unwrap(), 0, "the quiet one was closed");
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    assert_eq!(echo_exact(&mut busy, b"tick\n"), b"tick\n", "busy one open");
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
    let records = read_log(&log);
    let reasons: Vec<_> = events(&records, "closed")
        .map(|r| r["reason"].clone())
        .collect();
    if common::GRACEFUL_STOP {
        assert_eq!(reasons, ["idle", "shutdown"]);
    } else {
        // Killed after the log's flush wait, in which the busy one may go idle too.
        assert_eq!(reasons[0], "idle");
    }
}

#[test]
fn messages_cannot_forge_or_split_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "both", "-f", log.to_str().unwrap()]);
    let attacks: &[&[u8]] = &[
        b"\"}\n",
        b"x\",\"level\":\"ERROR\",\"event\":\"shutdown\",\"y\":\"",
        b"{\"ts\":\"2026-01-01T00:00:00.000Z\",\"level\":\"ERROR\",\"event\":\"error\"}",
        b"back\\slash \\\" and \\u0000",
        b"ctrl \x00\x01\x1b[31mred\x1b[0m \x7f bell\x07",
        b"bare\rcarriage return",
        b"2026-11-23T10:15:02.123Z INFO  127.0.0.1:1 #1 echo: fake console line",
        b"\xff\xfe\"not utf8\"",
        "unicode \u{2028} line separator \u{feff}".as_bytes(),
    ];
    let mut c = connect(&server);
    for attack in attacks {
        let mut line = attack.to_vec();
        line.push(b'\n');
        assert_eq!(echo_exact(&mut c, &line), line);
    }
    drop(c);
    let (code, console) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
    let echo_lines = console.iter().filter(|l| l.contains(" echo: ")).count();
    // One message per line; the first attack holds a newline of its own.
    let expected = attacks.len() + 1;
    assert_eq!(
        echo_lines, expected,
        "one console line per message: {console:#?}"
    );
    let records = read_log(&log);
    let messages: Vec<Vec<u8>> = events(&records, "echo").map(message).collect();
    let mut stream: Vec<u8> = Vec::new();
    for attack in attacks {
        stream.extend_from_slice(attack);
        stream.push(b'\n');
    }
    let mut sent: Vec<Vec<u8>> = stream.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    sent.pop(); // after the last newline
    assert_eq!(messages, sent);
    assert!(
        events(&records, "error").next().is_none(),
        "no forged error record"
    );
    assert_eq!(
        events(&records, "shutdown").count(),
        usize::from(common::GRACEFUL_STOP),
        "no forged shutdown record"
    );
}

/// Receives one datagram on `socket`, or `None` after `wait`.
fn recv_datagram(socket: &std::net::UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn udp_echo_follows_the_policy() {
    use std::net::UdpSocket;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&[
        "-m",
        "both",
        "-l",
        "debug",
        "-f",
        log.to_str().unwrap(),
        "--udp",
        "--udp-rate",
        "5",
    ]);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(server.addr).unwrap();
    // One datagram is one message, newlines and all.
    let datagram = b"multi\nline\n\"level\":\"ERROR\" datagram";
    client.send(datagram).unwrap();
    let back = recv_datagram(&client, Duration::from_secs(5)).expect("an echo");
    assert_eq!(back, datagram);
    // A burst over the rate: at most the burst (5, one used above) is answered at once.
    for i in 0..20u8 {
        client.send(&[i; 32]).unwrap();
    }
    let mut answered = 0;
    while let Some(d) = recv_datagram(&client, Duration::from_millis(300)) {
        assert_eq!(d.len(), 32);
        answered += 1;
    }
    assert!((1..=6).contains(&answered), "{answered} answered of 20");
    // From a well-known port: never answered. Binding one needs root.
    let privileged = match UdpSocket::bind("127.0.0.1:1007") {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            assert!(std::env::var("CI").is_err(), "CI runs as root");
            eprintln!("skipping the source-port check: binding port 1007 needs root");
            None
        }
        Err(e) => panic!("bind 127.0.0.1:1007: {e}"),
    };
    if let Some(p) = &privileged {
        p.send_to(b"loop?", server.addr).unwrap();
        assert_eq!(recv_datagram(p, Duration::from_millis(300)), None);
    }
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);

    let records = read_log(&log);
    assert!(
        events(&records, "listening").any(|r| r["proto"] == "udp"),
        "a listening record for udp"
    );
    let first_echo = events(&records, "echo").next().unwrap();
    assert_eq!(first_echo["proto"], "udp");
    assert_eq!(message(first_echo), datagram);
    let refused: Vec<_> = events(&records, "refused").collect();
    assert!(
        refused
            .iter()
            .all(|r| r["level"] == "DEBUG" && r["proto"] == "udp")
    );
    let rate = refused.iter().filter(|r| r["reason"] == "rate").count();
    assert_eq!(rate, 20 - answered);
    let shutdown = records.last().unwrap();
    if common::GRACEFUL_STOP {
        assert_eq!(shutdown["event"], "shutdown");
        assert_eq!(shutdown["refused_rate"], rate);
    }
    if privileged.is_some() {
        let port = refused.iter().filter(|r| r["reason"] == "port").count();
        assert_eq!(port, 1);
        if common::GRACEFUL_STOP {
            assert_eq!(shutdown["refused_port"], 1);
        }
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_failing_log_is_reported_once_and_echo_goes_on() {
    let mut server = Server::start(&["-m", "both", "-f", "/dev/full"]);
    let mut c = connect(&server);
    for n in 0..20 {
        let line = format!("line {n}\n");
        assert_eq!(echo_exact(&mut c, line.as_bytes()), line.as_bytes());
        std::thread::sleep(Duration::from_millis(60)); // spans more than one file flush
    }
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
    let err = server.stderr();
    let errors: Vec<_> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("/dev/full"), "{err}");
    assert!(errors[0].contains("No space left on device"), "{err}");
    assert!(err.contains("lost"), "{err}");
}

#[test]
fn ipv6_and_names_are_served() {
    for host in ["::1", "localhost"] {
        let mut server = Server::start(&["-m", "console", "-s", host]);
        if host == "::1" {
            assert!(server.addr.is_ipv6(), "{}", server.addr);
        }
        let mut c = connect(&server);
        assert_eq!(echo_exact(&mut c, b"Hi There\n"), b"Hi There\n");
        let (code, _) = server.terminate(SHUTDOWN_LIMIT);
        common::assert_clean_exit(code);
    }
}

#[test]
#[cfg(unix)]
fn sigint_also_shuts_down_and_the_file_is_flushed_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "file", "-f", log.to_str().unwrap()]);
    let mut c = connect(&server);
    assert_eq!(echo_exact(&mut c, b"flushed\n"), b"flushed\n");
    // Records reach the file within about a second, without a shutdown.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !events(&read_log(&log), "echo").any(|r| r["msg"] == "flushed") {
        assert!(
            Instant::now() < deadline,
            "echo record not in the file after 3 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    common::signal(server.pid(), libc::SIGINT);
    let start = Instant::now();
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
    assert!(start.elapsed() < SHUTDOWN_LIMIT);
    assert_eq!(read_log(&log).last().unwrap()["event"], "shutdown");
}

#[test]
#[cfg(target_os = "linux")]
fn an_open_file_limit_it_cannot_raise_is_noted_and_accepting_recovers() {
    // 64 descriptors and a --max-conns no system allows: the server says so, then runs out
    // of descriptors while accepting; it must pause (not spin), and recover once some close.
    let mut server =
        Server::start_with_nofile(64, 64, &["-m", "console", "--max-conns", "5000000"]);
    let mut clients: Vec<TcpStream> = (0..80).map(|_| connect(&server)).collect();
    let line = server.wait_line(|l| l.contains("accept failed"));
    assert!(line.is_some(), "an error record for the failed accept");
    assert!(line.unwrap().contains("Too many open files"));
    let served = clients
        .iter_mut()
        .take(40)
        .all(|c| echo_exact(c, b"x\n") == b"x\n");
    assert!(served, "accepted clients are served");
    let cpu = server.cpu_time();
    std::thread::sleep(Duration::from_secs(1));
    let spent = server.cpu_time() - cpu;
    assert!(
        spent < Duration::from_millis(300),
        "busy-looping: {spent:?} CPU in 1 s"
    );
    // Free descriptors: the clients still queued in the kernel get served.
    clients.drain(..40);
    for c in &mut clients {
        assert_eq!(echo_exact(c, b"late\n"), b"late\n");
    }
    let (code, console) = server.terminate(SHUTDOWN_LIMIT);
    assert_eq!(code, Some(0));
    let repeats = console
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert_eq!(repeats, 0, "the accept error is logged once per streak");
    let err = server.stderr();
    assert!(err.contains("note: the open-file limit is 64"), "{err}");
    assert!(err.contains("--max-conns 5000000"), "{err}");
}

#[test]
fn max_line_cuts_long_lines_into_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = Server::start(&["-m", "file", "-f", log.to_str().unwrap(), "--max-line", "4"]);
    let mut c = connect(&server);
    let sent = b"abcdefghij\r\nabcd\nxyz";
    assert_eq!(
        echo_exact(&mut c, sent),
        sent,
        "echo is whole whatever --max-line"
    );
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
    let pieces: Vec<(String, bool)> = events(&read_log(&log), "echo")
        .map(|r| (r["msg"].as_str().unwrap().to_owned(), r["partial"] == true))
        .collect();
    let expected = [
        ("abcd", true),
        ("efgh", true),
        ("ij", false),
        ("abcd", false),
        ("xyz", true),
    ]
    .map(|(m, p)| (m.to_owned(), p));
    assert_eq!(pieces, expected);
}

#[test]
#[cfg(unix)]
fn raises_its_own_open_file_limit_to_serve_more_clients() {
    const CLIENTS: usize = 1000;
    if common::raise_own_nofile(CLIENTS as u64 + 100) < CLIENTS as u64 + 100 {
        eprintln!("skipping: this test process cannot open {CLIENTS} sockets");
        return;
    }
    // A soft limit of 256, as many systems default to 1024: the server must raise it.
    let mut server = Server::start_with_nofile(256, 8192, &["-m", "console", "-l", "warn"]);
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(&server)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let line = format!("client {i}\n");
        assert_eq!(
            echo_exact(c, line.as_bytes()),
            line.as_bytes(),
            "client {i}"
        );
    }
    let (code, _) = server.terminate(SHUTDOWN_LIMIT);
    common::assert_clean_exit(code);
}

#[test]
#[cfg(unix)]
fn sigterm_right_after_listening_is_a_clean_shutdown() {
    for _ in 0..5 {
        let mut server = Server::start(&["-m", "console"]);
        let (code, lines) = server.terminate(SHUTDOWN_LIMIT);
        assert_eq!(code, Some(0), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("shutdown")), "{lines:?}");
    }
}

#[test]
fn data_followed_at_once_by_fin_is_echoed_then_closed() {
    let server = Server::start(&["-m", "console", "-l", "warn"]);
    for round in 0..50 {
        let mut c = connect(&server);
        let data = format!("round {round}: no newline, then FIN");
        c.write_all(data.as_bytes()).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        // Ends only when the server closes: it must notice the FIN queued behind the data.
        c.read_to_end(&mut back).expect("echo, then end of stream");
        assert_eq!(back, data.as_bytes());
    }
}

#[test]
fn backpressure_then_fin_still_echoes_everything_and_closes() {
    const TOTAL: usize = 8 << 20;
    let server = Server::start(&["-m", "console", "-l", "warn"]);
    let c = connect(&server);
    let mut writer = c.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let data = random_bytes(TOTAL, 7);
        writer.write_all(&data)?;
        writer.shutdown(Shutdown::Write)?;
        Ok::<_, std::io::Error>(data)
    });
    // Not reading yet: the server fills its buffers and stops reading us.
    std::thread::sleep(Duration::from_millis(300));
    let mut back = Vec::with_capacity(TOTAL);
    (&c).read_to_end(&mut back)
        .expect("echo, then end of stream");
    let data = sending.join().unwrap().expect("sent everything");
    assert!(back == data, "echo of {} bytes differs", back.len());
}

#[test]
fn a_vanished_terminal_neither_stops_echo_nor_panics() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = echokit()
        .args(["server", "-p", "0", "-m", "console"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr = first
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // The terminal goes away: both of the server's output pipes lose their reader.
    drop(out);
    drop(child.stderr.take());
    let mut child = Kill(child);
    for n in 0..3 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let line = format!("still echoing {n}\n");
        assert_eq!(echo_exact(&mut c, line.as_bytes()), line.as_bytes());
    }
    if !common::GRACEFUL_STOP {
        // No graceful stop to test here: a panic would have ended the server.
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the server is still running"
        );
        return;
    }
    #[cfg(unix)]
    common::signal(child.0.id(), libc::SIGTERM);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < SHUTDOWN_LIMIT, "no exit within a second");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0), "clean exit, no panic");
}

#[test]
#[cfg(not(target_os = "linux"))]
fn tap_elsewhere_than_linux_is_one_line_and_exit_2() {
    let out = echokit()
        .args(["server", "-m", "console", "-p", "0", "--tap", "tap0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("--tap tap0 needs Linux"), "{err}");
}
