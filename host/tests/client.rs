//! `echokit client` end to end: the built binary against the real server (`echokit server`)
//! and against fake servers of the test's own that corrupt, truncate or stall the echo.
//!
//! Every wait is bounded and every child is killed by a guard, so a broken client or
//! server fails a test instead of hanging it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
#[cfg(unix)]
use std::os::fd::AsRawFd;
#[cfg(unix)]
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_echokit");

/// Longest any one client run may take before the test calls it hung.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Kills and reaps the child when dropped, also when the test panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    /// Waits for the child to exit, at most `limit`.
    fn wait_for(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "child still running after {limit:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The real server on a free port, with its console output drained so it never blocks.
struct Server {
    port: u16,
    _child: Guard,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(udp: bool) -> Server {
        Server::start_on("127.0.0.1", udp)
    }

    fn start_on(host: &str, udp: bool) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new(BIN);
        command.args(["server", "-s", host, "-p", "0", "-m", "console"]);
        if udp {
            command.arg("--udp");
        }
        let mut child = Guard(
            command
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn server"),
        );
        let stdout = child.0.stdout.take().expect("server stdout");
        let (first_line, line) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = first_line.send(first);
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let first = line
            .recv_timeout(Duration::from_secs(10))
            .expect("server printed no first line within 10 s");
        // `... listening on 127.0.0.1:PORT (tcp)`
        let port = first
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in the server's first line: {first:?}"));
        Server {
            port,
            _child: child,
            _dir: dir,
        }
    }
}

/// What a client run produced.
struct Run {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs the client with `args` and `stdin` as its standard input (a pipe).
fn client(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Guard(
        Command::new(BIN)
            .arg("client")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn client"),
    );
    let mut input = child.0.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    thread::spawn(move || {
        // The client may exit before reading everything (that is what some tests check).
        let _ = input.write_all(&stdin);
    });
    let stdout = drain(child.0.stdout.take().expect("stdout"));
    let stderr = drain(child.0.stderr.take().expect("stderr"));
    let status = child.wait_for(RUN_LIMIT);
    let stdout = stdout.recv_timeout(RUN_LIMIT).expect("stdout");
    let stderr = String::from_utf8_lossy(&stderr.recv_timeout(RUN_LIMIT).expect("stderr")).into();
    Run {
        status,
        stdout,
        stderr,
    }
}

fn drain(mut from: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        let _ = done.send(bytes);
    });
    result
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

#[track_caller]
fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.status.code(),
        Some(code),
        "stdout: {:?}\nstderr: {}",
        String::from_utf8_lossy(&run.stdout),
        run.stderr
    );
}

// ---- against the real server ----

#[test]
fn piped_lines_come_back_in_order() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let run = client(&["-p", &port], b"one\ntwo\n\nthree without newline");
    assert_exit(&run, 0);
    assert_eq!(
        text(&run.stdout),
        "Echo: one\nEcho: two\nEcho: \nEcho: three without newline\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn many_piped_lines_are_pipelined_and_stay_in_order() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let input: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let started = Instant::now();
    let run = client(&["-p", &port], input.as_bytes());
    assert_exit(&run, 0);
    let expected: String = (0..20_000).map(|i| format!("Echo: line {i}\n")).collect();
    assert!(
        text(&run.stdout) == expected,
        "echoes missing or out of order"
    );
    // One round trip per line would still pass on loopback; the bound only catches a
    // client that waits for a timeout somewhere.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn message_hi_there() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let run = client(&["-p", &port, "-m", "Hi There"], b"");
    assert_exit(&run, 0);
    assert_eq!(text(&run.stdout), "Echo: Hi There\n");
}

#[test]
fn messages_are_sent_in_order() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let run = client(&["-p", &port, "-m", "first", "--message", "second"], b"");
    assert_exit(&run, 0);
    assert_eq!(text(&run.stdout), "Echo: first\nEcho: second\n");
}

#[test]
fn one_mebibyte_line_comes_back_whole() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let line: Vec<u8> = (0..1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut input = line.clone();
    input.push(b'\n');
    let run = client(&["-p", &port], &input);
    assert_exit(&run, 0);
    let mut expected = b"Echo: ".to_vec();
    expected.extend_from_slice(&line);
    expected.push(b'\n');
    assert!(run.stdout == expected, "1 MiB echo differs");
}

#[test]
fn lines_that_are_not_utf8_come_back_byte_exact() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let run = client(&["-p", &port], b"\xff\xfe bytes \x80\r\n");
    assert_exit(&run, 0);
    assert_eq!(run.stdout, b"Echo: \xff\xfe bytes \x80\r\n");
}

#[test]
fn ping_prints_each_probe_and_a_summary_with_zero_loss() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let run = client(&["-p", &port, "-c", "3", "-i", "0.05"], b"");
    assert_exit(&run, 0);
    let out = text(&run.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    for (seq, line) in lines[..3].iter().enumerate() {
        let prefix = format!("64 bytes from 127.0.0.1:{port}: seq={} time=", seq + 1);
        let time = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(" ms"))
            .unwrap_or_else(|| panic!("probe line {line:?}"));
        assert_ms(time);
    }
    assert_eq!(
        lines[3],
        format!("--- 127.0.0.1:{port} echo statistics ---")
    );
    assert_eq!(lines[4], "3 probes sent, 3 received, 0% loss");
    let rtts = lines[5]
        .strip_prefix("rtt min/avg/max/p99 = ")
        .and_then(|rest| rest.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("rtt line {:?}", lines[5]));
    let rtts: Vec<&str> = rtts.split('/').collect();
    assert_eq!(rtts.len(), 4);
    rtts.iter().for_each(|t| assert_ms(t));
}

/// Milliseconds with exactly three decimals (microsecond resolution).
#[track_caller]
fn assert_ms(time: &str) {
    let (whole, micros) = time.split_once('.').expect("a decimal point");
    assert!(
        whole.parse::<u64>().is_ok() && micros.len() == 3,
        "time {time:?}"
    );
    assert!(micros.bytes().all(|b| b.is_ascii_digit()), "time {time:?}");
}

#[test]
fn ping_with_size_one_sends_bare_newlines() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let run = client(&["-p", &port, "-c", "2", "-i", "0", "--size", "1"], b"");
    assert_exit(&run, 0);
    assert!(text(&run.stdout).starts_with(&format!("1 bytes from 127.0.0.1:{port}: seq=1 ")));
}

#[test]
#[cfg(unix)]
fn ctrl_c_in_ping_mode_prints_the_summary() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let mut child = Guard(
        Command::new(BIN)
            .args(["client", "-p", &port, "-c", "1000", "-i", "0.05"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn client"),
    );
    // Ctrl-C once the first probe is answered: its handler is in place by then.
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("read the first probe line");
    assert!(first.contains(": seq=1 time="), "{first}");
    let stdout = drain(stdout);
    // Safety: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait_for(Duration::from_secs(10));
    let out = stdout.recv_timeout(RUN_LIMIT).expect("stdout");
    let out = text(&out);
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains(" echo statistics ---\n"), "{out}");
    assert!(out.contains(" received, 0% loss\n"), "{out}");
    assert!(!out.contains("1000 probes sent"), "{out}");
}

#[test]
fn udp_mode_messages_lines_and_ping() {
    let server = Server::start(true);
    let port = server.port.to_string();
    let run = client(&["-p", &port, "--udp", "-m", "Hi There"], b"");
    assert_exit(&run, 0);
    assert_eq!(text(&run.stdout), "Echo: Hi There\n");

    let run = client(&["-p", &port, "--udp"], b"a\nb\n\xff\n");
    assert_exit(&run, 0);
    assert_eq!(run.stdout, b"Echo: a\nEcho: b\nEcho: \xff\n");

    let run = client(&["-p", &port, "--udp", "-c", "3", "-i", "0.02"], b"");
    assert_exit(&run, 0);
    assert!(text(&run.stdout).contains("3 probes sent, 3 received, 0% loss\n"));
}

#[test]
fn ipv6_tcp_and_udp() {
    let server = Server::start_on("::1", true);
    let port = server.port.to_string();
    let run = client(&["-s", "::1", "-p", &port, "-m", "over IPv6"], b"");
    assert_exit(&run, 0);
    assert_eq!(text(&run.stdout), "Echo: over IPv6\n");
    let run = client(&["-s", "::1", "-p", &port, "--udp", "-c", "1"], b"");
    assert_exit(&run, 0);
    assert!(text(&run.stdout).starts_with(&format!("64 bytes from [::1]:{port}: seq=1 ")));
    // Brackets as in a URL (the server's `-s` takes them too).
    let run = client(&["-s", "[::1]", "-p", &port, "-m", "bracketed"], b"");
    assert_exit(&run, 0);
    assert_eq!(text(&run.stdout), "Echo: bracketed\n");
}

#[test]
fn udp_ping_with_probes_too_small_for_their_number_counts_every_echo() {
    // With 2 bytes, probes 1 and 10 are both `1\n`: probe 10's echo is not a late reply.
    let server = Server::start(true);
    let port = server.port.to_string();
    let run = client(
        &[
            "-p", &port, "--udp", "-c", "12", "-i", "0", "--size", "2", "-q",
        ],
        b"",
    );
    assert_exit(&run, 0);
    assert!(
        text(&run.stdout).contains("12 probes sent, 12 received, 0% loss\n"),
        "{}",
        text(&run.stdout)
    );
}

#[test]
fn udp_line_too_big_for_a_datagram_exits_2_before_sending() {
    let server = Server::start(true);
    let port = server.port.to_string();
    let big = "x".repeat(70_000);
    // Windows caps a whole command line at 32,767 characters: too short for this `-m`.
    if cfg!(unix) {
        let run = client(&["-p", &port, "--udp", "-m", "small", "-m", &big], b"");
        assert_exit(&run, 2);
        assert_eq!(text(&run.stdout), "Echo: small\n");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("message 2: 70001 bytes do not fit in one UDP datagram"),
            "{}",
            run.stderr
        );
    }
    let run = client(&["-p", &port, "--udp"], format!("{big}\n").as_bytes());
    assert_exit(&run, 2);
    assert!(run.stderr.contains("line 1: 70001 bytes"), "{}", run.stderr);
}

// ---- failures: exit 2 ----

/// A port nothing listens on (bound, then closed again).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn connection_refused_exits_2_naming_host_and_port() {
    let port = closed_port().to_string();
    let run = client(&["-p", &port, "-m", "hello"], b"");
    assert_exit(&run, 2);
    assert_eq!(run.stdout, b"");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_host_name_with_control_characters_is_reported_on_one_clean_line() {
    let run = client(&["-s", "bad\rhost\n\u{1b}[2J", "-m", "x"], b"");
    assert_exit(&run, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{:?}", run.stderr);
    assert!(!run.stderr.contains(['\r', '\u{1b}']), "{:?}", run.stderr);
    assert!(run.stderr.contains("bad\\rhost"), "{:?}", run.stderr);
}

#[test]
fn ipv6_host_is_named_in_brackets() {
    let port = closed_port().to_string();
    let run = client(&["-s", "::1", "-p", &port, "-m", "hello"], b"");
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains(&format!("[::1]:{port}")),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["-c", "0"][..],
        &["-c", "1", "--size", "0"],
        &["-i", "1"],
        &["--timeout", "0"],
        &["--timeout", "soon"],
        &["-c", "2", "-i", "-1"],
        &["-p", "70000"],
        &["-c", "1", "-m", "x"],
        // Deadlines past the end of the clock used to panic.
        &["--timeout", "1e19", "-m", "x"],
        &["-c", "2", "-i", "1e19"],
    ] {
        let run = client(args, b"");
        assert_exit(&run, 2);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("(see --help)"), "{}", run.stderr);
    }
    // The missing argument is named, not left on clap's second line.
    let run = client(&["-i", "1"], b"");
    assert!(run.stderr.contains("--count"), "{}", run.stderr);
    // Too big for one datagram: refused before anything is sent.
    let run = client(&["--udp", "-p", "9", "-c", "1", "--size", "70000"], b"");
    assert_exit(&run, 2);
    assert!(run.stderr.contains("datagram"), "{}", run.stderr);
}

#[test]
fn a_command_line_that_is_not_utf8_exits_2_without_a_panic() {
    use std::ffi::{OsStr, OsString};
    // Not text: a byte that is not UTF-8 (Unix), a lone UTF-16 surrogate (Windows).
    #[cfg(unix)]
    let bad = <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff").to_owned();
    #[cfg(windows)]
    let bad = <OsString as std::os::windows::ffi::OsStringExt>::from_wide(&[0xd800]);
    let bad: OsString = bad;
    for args in [
        &[bad.as_os_str()][..],
        &[OsStr::new("client"), OsStr::new("-s"), bad.as_os_str()],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run echokit");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

// ---- failures: exit 1, against fake servers ----

/// What the fake TCP server does with the first line it reads.
#[derive(Clone, Copy)]
enum Fault {
    /// Echo it with one byte changed.
    Corrupt,
    /// Echo half of it, then close.
    Truncate,
    /// Echo half of it, then keep the connection open and say nothing more.
    Stall,
}

/// A TCP server of the test's own on a free port: `serve` runs on its listener in a thread.
/// Returns the port.
fn own_server(serve: impl FnOnce(TcpListener) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || serve(listener));
    port
}

/// The next connection, its reads bounded so a stuck client cannot hang the thread.
fn accept(listener: &TcpListener) -> Option<TcpStream> {
    let (stream, _) = listener.accept().ok()?;
    let _ = stream.set_read_timeout(Some(RUN_LIMIT));
    Some(stream)
}

/// A TCP server on a free port that misbehaves once; returns its port.
fn fake_server(fault: Fault) -> u16 {
    own_server(move |listener| {
        let Some(stream) = accept(&listener) else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = Vec::new();
        let _ = reader.read_until(b'\n', &mut line);
        let mut writer = stream;
        match fault {
            Fault::Corrupt => {
                line[0] ^= 0x20;
                let _ = writer.write_all(&line);
            }
            Fault::Truncate => {
                let _ = writer.write_all(&line[..line.len() / 2]);
            }
            Fault::Stall => {
                let _ = writer.write_all(&line[..line.len() / 2]);
                // Hold the connection until the client gives up and closes it.
                let _ = reader.read_to_end(&mut Vec::new());
            }
        }
    })
}

#[test]
fn corrupted_echo_exits_1() {
    let port = fake_server(Fault::Corrupt).to_string();
    let run = client(&["-p", &port, "-m", "hello"], b"");
    assert_exit(&run, 1);
    assert_eq!(run.stdout, b"", "a wrong echo is not printed as an echo");
    assert!(run.stderr.contains("differs"), "{}", run.stderr);
}

#[test]
fn truncated_echo_exits_1() {
    let port = fake_server(Fault::Truncate).to_string();
    let run = client(&["-p", &port], b"hello world\n");
    assert_exit(&run, 1);
    assert!(
        run.stderr.contains("connection closed after 6 of 12 bytes"),
        "{}",
        run.stderr
    );
}

#[test]
fn stalled_echo_times_out_with_exit_1() {
    let port = fake_server(Fault::Stall).to_string();
    let started = Instant::now();
    let run = client(&["-p", &port, "--timeout", "0.5", "-m", "hello world"], b"");
    assert_exit(&run, 1);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn ping_counts_a_wrong_echo_as_lost() {
    let port = fake_server(Fault::Corrupt).to_string();
    let run = client(&["-p", &port, "-c", "1"], b"");
    assert_exit(&run, 1);
    let out = text(&run.stdout);
    assert!(out.contains("wrong echo from 127.0.0.1:"), "{out}");
    assert!(
        out.contains("1 probes sent, 0 received, 100% loss\n"),
        "{out}"
    );
}

#[test]
fn udp_without_reply_times_out_with_exit_1() {
    // Bound but never answering: datagrams vanish, as on a lossy path.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let run = client(&["-p", &port, "--udp", "--timeout", "0.3", "-m", "x"], b"");
    assert_exit(&run, 1);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);

    let run = client(
        &[
            "-p",
            &port,
            "--udp",
            "--timeout",
            "0.2",
            "-c",
            "2",
            "-i",
            "0",
        ],
        b"",
    );
    assert_exit(&run, 1);
    assert!(text(&run.stdout).contains("2 probes sent, 0 received, 100% loss\n"));
}

// ---- interactive, through a pseudo-terminal ----

/// The client on a new pseudo-terminal (its controlling terminal, so ^C is a signal).
#[cfg(unix)]
struct Terminal {
    master: std::fs::File,
    child: Guard,
    seen: Vec<u8>,
}

#[cfg(unix)]
impl Terminal {
    fn start(args: &[&str]) -> Terminal {
        let (master, slave) = common::openpty();
        let mut command = Command::new(BIN);
        command
            .arg("client")
            .args(args)
            .stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave.try_clone().expect("dup"));
        // Safety: setsid and ioctl are async-signal-safe; fd 0 is the slave by now.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = Guard(command.spawn().expect("spawn client on a pty"));
        drop(slave);
        Terminal {
            master: master.into(),
            child,
            seen: Vec::new(),
        }
    }

    /// Reads the terminal until `what` has appeared after `from`; returns where it ends.
    #[track_caller]
    fn expect(&mut self, from: usize, what: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = find(&self.seen[from..], what.as_bytes()) {
                return from + at + what.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what:?} on the terminal; it shows {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            let mut poll = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Safety: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, left.as_millis().min(100) as i32) };
            if ready > 0 {
                let mut buf = [0; 4096];
                match self.master.read(&mut buf) {
                    Ok(n) if n > 0 => self.seen.extend_from_slice(&buf[..n]),
                    // EIO once the client has exited and closed the terminal.
                    _ => thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("write to the terminal");
    }
}

#[cfg(unix)]
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
#[cfg(unix)]
fn interactive_prompts_echoes_and_ctrl_d_exits_0() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let mut term = Terminal::start(&["-p", &port]);
    let at = term.expect(0, "Input: ");
    term.type_keys(b"hello there\n");
    let at = term.expect(at, "Echo: hello there\r\n");
    let at = term.expect(at, "Input: ");
    term.type_keys(b"second\n");
    let at = term.expect(at, "Echo: second\r\n");
    term.expect(at, "Input: ");
    term.type_keys(&[0x04]); // Ctrl-D
    let status = term.child.wait_for(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
#[cfg(unix)]
fn interactive_ctrl_c_exits_0() {
    let server = Server::start(false);
    let port = server.port.to_string();
    let mut term = Terminal::start(&["-p", &port]);
    let at = term.expect(0, "Input: ");
    term.type_keys(b"one\n");
    term.expect(at, "Echo: one\r\n");
    term.type_keys(&[0x03]); // Ctrl-C
    let status = term.child.wait_for(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[test]
#[cfg(unix)]
fn interactive_reconnects_after_the_server_closed_an_idle_connection() {
    // The first connection is closed at once (as the server does after --idle-timeout);
    // the second one echoes.
    let (closed, first_closed) = mpsc::channel();
    let port = own_server(move |listener| {
        drop(accept(&listener));
        let _ = closed.send(());
        let Some(stream) = accept(&listener) else {
            return;
        };
        let mut writer = stream.try_clone().expect("clone");
        let _ = std::io::copy(&mut { stream }, &mut writer);
    })
    .to_string();
    let mut term = Terminal::start(&["-p", &port]);
    let at = term.expect(0, "Input: ");
    // On loopback the FIN is queued for the client by the time `drop` returns.
    first_closed
        .recv_timeout(RUN_LIMIT)
        .expect("the fake server closed the first connection");
    term.type_keys(b"still there?\n");
    let at = term.expect(at, "reconnecting");
    term.expect(at, "Echo: still there?\r\n");
    term.type_keys(&[0x04]);
    assert_eq!(term.child.wait_for(Duration::from_secs(10)).code(), Some(0));
}

#[test]
// Windows reports the ICMP "port unreachable" as WSAECONNRESET on the next receive; Wine 8,
// which CI runs the Windows build on, drops it, so the client can only time out there.
#[cfg(unix)]
fn udp_to_a_closed_port_exits_2_naming_host_and_port() {
    let port = {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.local_addr().expect("addr").port().to_string()
    };
    let run = client(&["-p", &port, "--udp", "-m", "hello"], b"");
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("refused"), "{}", run.stderr);

    // Ping too: no server is a connection error, not a run of lost probes.
    let run = client(&["-p", &port, "--udp", "-c", "3", "-i", "0"], b"");
    assert_exit(&run, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
}

#[test]
fn tcp_ping_counts_a_late_echo_as_lost_and_stays_aligned() {
    // The first echo comes 1.1 s late: probe 1 (0.5 s timeout) and probe 2 (sent at 0.5 s,
    // still waiting behind probe 1's echo) time out; 3 and 4 must skip both late echoes.
    let port = own_server(|listener| {
        let Some(stream) = accept(&listener) else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        let mut first = Vec::new();
        let _ = reader.read_until(b'\n', &mut first);
        thread::sleep(Duration::from_millis(1100));
        let _ = writer.write_all(&first);
        let _ = std::io::copy(&mut reader, &mut writer);
    })
    .to_string();
    let run = client(
        &["-p", &port, "-c", "4", "-i", "0", "--timeout", "0.5"],
        b"",
    );
    assert_exit(&run, 1);
    let out = text(&run.stdout);
    assert!(
        out.contains(": seq=1: timed out: got 0 of 64 bytes"),
        "{out}"
    );
    assert!(
        out.contains(": seq=2: timed out: got 0 of 64 bytes"),
        "{out}"
    );
    assert!(out.contains(": seq=3 time="), "{out}");
    assert!(out.contains(": seq=4 time="), "{out}");
    assert!(
        out.contains("4 probes sent, 2 received, 50% loss\n"),
        "{out}"
    );
}
