//! `echokit server --tap` end to end, as a user runs it: smoltcp on a real TAP inside a
//! network namespace this test creates (and always deletes), clients inside it too.
//!
//! Needs root and `/dev/net/tun`. Without them the TAP tests skip with a loud message,
//! except when `CI=true`: there a missing privilege is a failure. Linux only (`--tap` is).

#![cfg(target_os = "linux")]

mod common;

use common::netns::{Netns, can_run, netns_needs, noise, stderr_of, tcp_echo_on, wait_listening};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const ECHOKIT: &str = env!("CARGO_BIN_EXE_echokit");
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 1);
const PORT: u16 = 7777;
const WAIT: Duration = Duration::from_secs(10);

/// Whether the TAP tests can run here; `false` after a loud message when they cannot.
fn privileged() -> bool {
    can_run("TAP", &netns_needs())
}

/// A namespace with room in tap0's queue for every socket's receive window (the server
/// notes it when short).
fn netns() -> Netns {
    Netns::new("echokit-test", Some(20_000))
}

/// A server process, killed (by PID) on drop if still running.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(ns: &Netns, log: &Path, extra: &[&str]) -> Server {
        let log_arg = log.to_str().expect("utf-8 temp path");
        let mut args = vec![
            "server",
            "--tap",
            "tap0",
            "--ip",
            "192.168.69.1/24",
            "-p",
            "7777",
            "-m",
            "file",
            "-f",
            log_arg,
            "-l",
            "debug",
        ];
        args.extend_from_slice(extra);
        let child = ns
            .exec(ECHOKIT, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let mut server = Server {
            child,
            log: log.to_path_buf(),
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&mut self) {
        match wait_listening(&self.log, &mut self.child, WAIT, Duration::from_millis(20)) {
            Ok(()) => {}
            Err(Some(status)) => {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("the server exited ({status}) before listening: {err}");
            }
            Err(None) => panic!("the server did not log `listening` within {WAIT:?}"),
        }
    }

    /// SIGTERM, then the exit status and how long it took to exit.
    fn stop(&mut self) -> (std::process::ExitStatus, Duration) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        let start = Instant::now();
        // `ip netns exec` execs the server, so this PID is the server itself.
        // Safety: kill(2) on our own child's PID.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        while start.elapsed() < WAIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, start.elapsed());
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("the server did not exit within {WAIT:?} of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects, then echoes `data` through the connection (see [`tcp_echo_on`]).
fn tcp_echo(data: &[u8]) {
    let addr = SocketAddr::from((SERVER, PORT));
    let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to the TAP server");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    tcp_echo_on(&mut stream, data);
}

fn records(log: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(log).expect("log");
    let mut scratch = vec![0; text.len()];
    text.lines()
        .map(|line| {
            // The same parser the archiver uses: the records are the product's format.
            echo_core::record::Record::parse(line.as_bytes(), &mut scratch)
                .unwrap_or_else(|e| panic!("not a record ({e:?}): {line}"));
            serde_json::from_str(line).expect("JSON")
        })
        .collect()
}

fn events<'r>(records: &'r [serde_json::Value], event: &str) -> Vec<&'r serde_json::Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

#[test]
fn tap_server_echoes_tcp_and_udp_and_logs_like_the_std_server() {
    if !privileged() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let ns = netns();
    let mut server = Server::start(&ns, &log, &["--udp"]);

    // The README's command: the real client, inside the namespace.
    let out = ns
        .exec(ECHOKIT, &["client", "-s", "192.168.69.1", "-m", "Hi There"])
        .output()
        .expect("run the client");
    assert!(out.status.success(), "client: {}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Echo: Hi There\n");
    ns.enter(|| tcp_echo(&noise(256 * 1024, 1)));
    // Four clients at once, each with its own bytes.
    ns.enter(|| {
        thread::scope(|s| {
            for i in 0..4 {
                s.spawn(move || tcp_echo(&noise(64 * 1024, 100 + i)));
            }
        })
    });
    let (reply, refused) = ns.enter(|| {
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 40_000)).expect("bind");
        udp.set_read_timeout(Some(WAIT)).expect("timeout");
        udp.send_to(b"udp hello", (SERVER, PORT)).expect("send");
        let mut buf = [0; 100];
        let (n, from) = udp.recv_from(&mut buf).expect("the UDP echo");
        assert_eq!(from, SocketAddr::from((SERVER, PORT)));
        let reply = buf[..n].to_vec();
        // The largest datagram crosses the TAP in fragments and comes back whole.
        let big = noise(65_507, 7);
        udp.send_to(&big, (SERVER, PORT))
            .expect("send 65,507 bytes");
        let mut back = vec![0; 70_000];
        let (n, _) = udp.recv_from(&mut back).expect("the large UDP echo");
        assert!(
            back[..n] == big[..],
            "the 65,507-byte datagram came back different"
        );
        // A source port below 1024 gets no answer.
        let low = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 1000)).expect("bind port 1000");
        low.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        low.send_to(b"from a low port", (SERVER, PORT))
            .expect("send");
        let refused = low.recv_from(&mut buf).is_err();
        (reply, refused)
    });
    assert_eq!(reply, b"udp hello");
    assert!(refused, "a datagram from port 1000 must not be answered");

    let (status, took) = server.stop();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");

    let records = records(&log);
    let listening = events(&records, "listening");
    assert_eq!(listening.len(), 2, "{listening:?}");
    assert_eq!(listening[0]["addr"], "192.168.69.1:7777");
    assert_eq!(listening[0]["proto"], "tcp");
    assert_eq!(listening[1]["proto"], "udp");
    let connected = events(&records, "connected");
    assert_eq!(connected.len(), 6);
    assert!(connected.iter().all(|r| {
        r["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("192.168.69.100:"))
    }));
    let first = events(&records, "echo")[0];
    assert_eq!(first["msg"], "Hi There");
    assert_eq!(first["conn"], connected[0]["conn"]);
    let closed = events(&records, "closed");
    assert_eq!(closed.len(), 6);
    assert!(closed.iter().all(|r| r["reason"] == "eof"), "{closed:?}");
    let sizes: u64 = 9 + 256 * 1024 + 4 * 64 * 1024;
    let total_in: u64 = closed.iter().filter_map(|r| r["bytes_in"].as_u64()).sum();
    assert_eq!(total_in, sizes);
    let udp_echo: Vec<_> = events(&records, "echo")
        .into_iter()
        .filter(|r| r["proto"] == "udp")
        .collect();
    assert_eq!(udp_echo[0]["msg"], "udp hello");
    // Each datagram is one message: the large one is logged in --max-line pieces only.
    let big_pieces = udp_echo.len() - 1;
    assert_eq!(big_pieces, 65_507_usize.div_ceil(4096), "{udp_echo:?}");
    let refused = events(&records, "refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "port");
    let last = records.last().expect("records");
    assert_eq!(last["event"], "shutdown");
    assert_eq!(last["conns"], 6);
    assert_eq!(last["refused_port"], 1);
    assert_eq!(last["bytes_in"], sizes + 9 + 65_507);
}

#[test]
fn a_tap_already_held_and_no_permission_are_clear_errors() {
    if !privileged() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = netns();
    // A short TAP queue gets a note on stderr with the command that lengthens it.
    ns.ip(&["link", "set", "tap0", "txqueuelen", "1000"]);
    let mut first = Server::start(&ns, &dir.path().join("first.log"), &[]);
    let second = dir.path().join("second.log");
    let second = second.to_str().expect("utf-8");
    let out = ns
        .exec(
            ECHOKIT,
            &["server", "--tap", "tap0", "-m", "file", "-f", second],
        )
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("already held"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let (status, _) = first.stop();
    assert!(status.success());
    let mut note = String::new();
    if let Some(e) = first.child.stderr.as_mut() {
        e.read_to_string(&mut note).expect("stderr");
    }
    assert!(note.contains("queues 1000 frames"), "{note}");
    assert!(note.contains("ip link set tap0 txqueuelen"), "{note}");

    // An unprivileged user may not open /dev/net/tun (mode 0600 here). The binary is
    // copied where that user may run it (the build tree may be private to root).
    let public = tempfile::tempdir().expect("tempdir");
    let binary = public.path().join("echokit");
    std::fs::copy(ECHOKIT, &binary).expect("copy the binary");
    for path in [public.path(), binary.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // (Where /dev/net/tun is open to all, attaching the root-owned tap0 fails instead.)
    let out = ns
        .exec(
            "setpriv",
            &["--reuid=65534", "--regid=65534", "--clear-groups"],
        )
        .arg(&binary)
        .args(["server", "--tap", "tap0", "-m", "console"])
        .output()
        .expect("run setpriv");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no permission"), "{err}");
    assert!(err.contains("ip tuntap add"), "says how to fix it: {err}");
}

#[test]
fn a_bad_cidr_is_a_clear_error() {
    // Needs no privilege: --ip is checked before the TAP is opened.
    for (ip, why) in [
        ("192.168.69.1", "no prefix length"),
        ("192.168.69.1/40", "prefix length"),
        ("not-an-ip/24", "is not an IP address"),
    ] {
        let out = Command::new(ECHOKIT)
            .args(["server", "--tap", "tap0", "-m", "console", "--ip", ip])
            .output()
            .expect("run");
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{ip}: {err}");
        assert!(err.contains(why), "{ip}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn a_tap_deleted_under_the_server_stops_it_with_a_clear_error() {
    if !privileged() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let ns = netns();
    let mut server = Server::start(&ns, &log, &[]);
    ns.ip(&["link", "del", "tap0"]);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            start.elapsed() < WAIT,
            "the server kept running without its TAP"
        );
        thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    if let Some(e) = server.child.stderr.as_mut() {
        e.read_to_string(&mut err).expect("stderr");
    }
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("TAP tap0 failed while serving"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let records = records(&log);
    assert_eq!(records.last().expect("records")["event"], "shutdown");
}

/// SIGHUP reopens the log file here too (logrotate), and `--flush-after` reaches the TAP
/// server through the same machine: an unterminated message is logged once idle.
#[test]
fn tap_server_reopens_its_log_on_sighup_and_flushes_idle_lines() {
    if !privileged() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let ns = netns();
    let mut server = Server::start(&ns, &log, &["--flush-after", "50"]);
    ns.enter(|| tcp_echo(b"before\n"));
    let moved = dir.path().join("server.log.1");
    std::fs::rename(&log, &moved).expect("move the log away");
    let pid = libc::pid_t::try_from(server.child.id()).expect("pid");
    // Safety: kill(2) on our own child's PID.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let start = Instant::now();
    while !log.exists() {
        assert!(start.elapsed() < WAIT, "no new log file after SIGHUP");
        thread::sleep(Duration::from_millis(5));
    }
    ns.enter(|| {
        let addr = SocketAddr::from((SERVER, PORT));
        let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        for msg in [&b"Hi There"[..], b"Hello world!"] {
            s.write_all(msg).expect("send");
            let mut back = vec![0; msg.len()];
            s.read_exact(&mut back).expect("echo");
            thread::sleep(Duration::from_millis(200)); // longer than --flush-after
        }
    });
    let (status, _) = server.stop();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let old = records(&moved);
    let new = records(&log);
    let msgs = |r: &[serde_json::Value]| -> Vec<String> {
        events(r, "echo")
            .iter()
            .map(|e| e["msg"].as_str().expect("text").to_owned())
            .collect()
    };
    assert_eq!(msgs(&old), ["before"]);
    assert_eq!(msgs(&new), ["Hi There", "Hello world!"]);
    assert!(events(&new, "echo").iter().all(|e| e["partial"] == true));
    assert_eq!(events(&new, "shutdown").len(), 1);
}
