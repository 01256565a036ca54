//! The firmware end to end, as a user runs it, for every QEMU board in [`BOARDS`]: the
//! release image built by `firmware/build.sh NAME`, booted by `firmware/qemu.sh --board
//! NAME` with its Ethernet on a TAP inside a network namespace this test creates (and
//! always deletes), driven by the built `echokit` (client, bench, archive) and the kernel's
//! `ping` from inside that namespace.
//!
//! Needs root, `/dev/net/tun`, `ip`, `ping`, the board's QEMU and its Rust target. Without
//! them the test skips with a loud message, except when `CI=true`: there anything missing
//! is a failure. Linux only (namespaces, TAP).

#![cfg(target_os = "linux")]

mod common;

use common::netns::{
    Netns, can_run, netns_needs, noise, stderr_of, tcp_echo_on, wait_listening, works,
};
use std::collections::HashMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

const ECHOKIT: &str = env!("CARGO_BIN_EXE_echokit");
const DEVICE: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 1);
const PORT: u16 = 7777;
/// Bound on one exchange with the device (QEMU emulates the CPU: slower than a PC).
const WAIT: Duration = Duration::from_secs(20);
/// Bound on boot until `listening` (a cold QEMU start included).
const BOOT: Duration = Duration::from_secs(60);

/// A board that runs under QEMU: what it needs, and the QEMU variants to test it on.
struct Board {
    /// `firmware/boards/NAME`.
    name: &'static str,
    /// Its Rust target (its rust-toolchain.toml names it).
    target: &'static str,
    /// The QEMU binary its `board.sh` runs.
    qemu: &'static str,
    /// Extra QEMU arguments, one run each (e.g. another virtio-mmio transport).
    variants: &'static [&'static [&'static str]],
}

const MPS2_AN386: Board = Board {
    name: "mps2-an386",
    target: "thumbv7em-none-eabihf",
    qemu: "qemu-system-arm",
    variants: &[&[]],
};

/// Every QEMU board; the tests below run each.
const BOARDS: &[&Board] = &[&MPS2_AN386];

#[test]
fn every_qemu_board_has_a_test_entry() {
    let dir = firmware_dir().join("boards");
    for entry in std::fs::read_dir(&dir).expect("firmware/boards") {
        let path = entry.expect("entry").path();
        let script = std::fs::read_to_string(path.join("board.sh")).unwrap_or_default();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if script.contains("qemu_command()") {
            assert!(
                BOARDS.iter().any(|b| b.name == name),
                "QEMU board {name} has no entry in BOARDS"
            );
        }
    }
}

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// Whether a Rust target is installed (the firmware cannot build without it; the
/// board's rust-toolchain.toml installs it where rustup may download).
fn target_installed(target: &str) -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(target))
}

/// What the QEMU tests of `board` need, checked; `false` (after a loud message) to skip.
fn can_run_on(board: &Board, more: &[(&'static str, bool)]) -> bool {
    let mut needs = netns_needs().to_vec();
    let qemu_ok = works(board.qemu, &["--version"]);
    needs.extend([
        ("`ping` (iputils-ping)", works("ping", &["-V"])),
        (board.qemu, qemu_ok),
        (board.target, target_installed(board.target)),
    ]);
    needs.extend_from_slice(more);
    can_run("firmware", &needs)
}

/// One QEMU test at a time: each keeps an emulated CPU busy, and the builds share
/// firmware/target.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static QEMU: Mutex<()> = Mutex::new(());
    QEMU.lock().unwrap_or_else(|e| e.into_inner())
}

/// `firmware/build.sh NAME` with `env` set (and the caller's ECHOKIT_* unset).
fn build_command(board: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(firmware_dir().join("build.sh"));
    cmd.arg(board)
        .env_remove("ECHOKIT_IP")
        .env_remove("ECHOKIT_GATEWAY")
        .envs(env.iter().copied());
    cmd
}

/// Builds the release image as the README says, copies it into `dir` (a later build with
/// other settings replaces the original) and returns the copy.
fn build(board: &Board, env: &[(&str, &str)], dir: &Path) -> PathBuf {
    let out = build_command(board.name, env)
        .output()
        .expect("run firmware/build.sh");
    assert!(out.status.success(), "firmware build: {}", stderr_of(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let elf = PathBuf::from(stdout.lines().last().unwrap_or_default());
    assert!(
        elf.is_file(),
        "build.sh's last line is not the image: {stdout}"
    );
    let copy = dir.join(format!("{}.elf", board.name));
    std::fs::copy(&elf, &copy).expect("copy the image");
    copy
}

/// QEMU running the firmware (`firmware/qemu.sh --board NAME --elf ELF tap0 -- ARGS`);
/// killed by its PID on drop (`ip netns exec` and the script exec it: one process).
struct Qemu {
    child: Child,
    serial: PathBuf,
}

impl Qemu {
    /// Boots with the serial log in `dir/serial.log` and waits for `listening`.
    fn start(ns: &Netns, board: &Board, elf: &Path, extra: &[&str], dir: &Path) -> Qemu {
        let serial = dir.join("serial.log");
        let child = qemu_command(ns, board, elf, extra)
            .stdout(File::create(&serial).expect("serial log"))
            .stderr(File::create(dir.join("qemu.stderr")).expect("qemu stderr"))
            .spawn()
            .expect("start qemu.sh");
        let mut qemu = Qemu { child, serial };
        qemu.wait_listening(dir);
        qemu
    }

    fn wait_listening(&mut self, dir: &Path) {
        let poll = Duration::from_millis(50);
        match wait_listening(&self.serial, &mut self.child, BOOT, poll) {
            Ok(()) => {}
            Err(Some(status)) => {
                let err = std::fs::read_to_string(dir.join("qemu.stderr")).unwrap_or_default();
                panic!("QEMU exited ({status}) before the firmware listened: {err}");
            }
            Err(None) => {
                let serial = std::fs::read_to_string(&self.serial).unwrap_or_default();
                panic!("the firmware did not log `listening` within {BOOT:?}; serial: {serial}");
            }
        }
    }

    /// Stops QEMU and returns its serial log as `echokit archive -j` reads it.
    fn stop_and_archive(&mut self) -> Vec<serde_json::Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        archive(&self.serial)
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `firmware/qemu.sh` for `board` on tap0 inside `ns`, stdin closed.
fn qemu_command(ns: &Netns, board: &Board, elf: &Path, extra: &[&str]) -> Command {
    let script = firmware_dir().join("qemu.sh");
    let mut args = vec![
        "--board",
        board.name,
        "--elf",
        elf.to_str().expect("utf-8 path"),
        "tap0",
        "--",
    ];
    args.extend_from_slice(extra);
    let mut cmd = ns.exec(script.to_str().expect("utf-8 path"), &args);
    cmd.stdin(Stdio::null());
    cmd
}

/// A serial log read back by `echokit archive -j`: one JSON value per record.
fn archive(serial: &Path) -> Vec<serde_json::Value> {
    let archive = Command::new(ECHOKIT)
        .args(["archive", "-i"])
        .arg(serial)
        .args(["-o", "-", "-j", "-a", "false"])
        .output()
        .expect("run the archiver");
    assert!(archive.status.success(), "archive: {}", stderr_of(&archive));
    String::from_utf8_lossy(&archive.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn connect_to(ip: Ipv4Addr) -> TcpStream {
    let addr = SocketAddr::from((ip, PORT));
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to the firmware");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
}

fn connect() -> TcpStream {
    connect_to(DEVICE)
}

/// The lines client `i` of the concurrent ones sends: its own text on every line.
fn client_lines(i: usize) -> Vec<String> {
    (0..25)
        .map(|j| {
            format!(
                "client {i} line {j} {:x}",
                noise(1, (i * 100 + j) as u64 + 1)[0]
            )
        })
        .collect()
}

#[test]
fn firmware_on_qemu_echoes_answers_ping_and_logs_the_servers_records() {
    for board in BOARDS {
        for extra in board.variants {
            echoes_answers_ping_and_logs(board, extra);
        }
    }
}

fn echoes_answers_ping_and_logs(board: &Board, extra: &[&str]) {
    if !can_run_on(board, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let elf = build(board, &[], dir.path());
    let ns = Netns::new("echokit-fw", None);
    let mut qemu = Qemu::start(&ns, board, &elf, extra, dir.path());

    // ARP and ICMP echo, answered by smoltcp on the device.
    let ping = ns
        .exec("ping", &["-c", "3", "-i", "0.2", "-W", "5", "192.168.69.1"])
        .output()
        .expect("run ping");
    assert!(
        ping.status.success(),
        "ping: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // An oversized frame (1842 bytes, which the kernel sends once the TAP's MTU allows it;
    // QEMU's model passes up to 2047) is dropped and counted by the driver, and reported in
    // the log; what follows is still received.
    ns.ip(&["link", "set", "tap0", "mtu", "2000"]);
    let big = ns
        .exec(
            "ping",
            &["-c", "1", "-s", "1800", "-W", "2", "192.168.69.1"],
        )
        .output()
        .expect("run ping");
    assert!(!big.status.success(), "an oversized frame was answered");
    ns.ip(&["link", "set", "tap0", "mtu", "1500"]);
    let ping = ns
        .exec("ping", &["-c", "1", "-W", "5", "192.168.69.1"])
        .output()
        .expect("run ping");
    assert!(ping.status.success(), "ping after an oversized frame");

    // The README's command.
    let out = ns
        .exec(ECHOKIT, &["client", "-s", "192.168.69.1", "-m", "Hi There"])
        .output()
        .expect("run the client");
    assert!(out.status.success(), "client: {}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Echo: Hi There\n");

    // 64 KiB of random bytes, through 4 KiB windows.
    let binary = noise(64 * 1024, 1);
    ns.enter(|| tcp_echo_on(&mut connect(), &binary));

    // Four clients at once, each with its own lines; a fifth meanwhile is turned away.
    let fifth = ns.enter(|| {
        let mut streams: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
        thread::scope(|s| {
            for (i, stream) in streams.iter_mut().enumerate() {
                s.spawn(move || {
                    for line in client_lines(i) {
                        tcp_echo_on(stream, format!("{line}\n").as_bytes());
                    }
                });
            }
        });
        // All four are still connected.
        let fifth = Command::new(ECHOKIT)
            .args([
                "client",
                "-s",
                "192.168.69.1",
                "-m",
                "fifth",
                "--timeout",
                "10",
            ])
            .output()
            .expect("run the fifth client");
        drop(streams);
        fifth
    });
    assert_eq!(
        fifth.status.code(),
        Some(1),
        "fifth client: {}",
        stderr_of(&fifth)
    );

    // UDP echo, and silence towards a privileged source port.
    let (reply, big_ok, low_answered) = ns.enter(|| {
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 40_000)).expect("bind");
        udp.set_read_timeout(Some(WAIT)).expect("timeout");
        udp.send_to(b"udp hello", (DEVICE, PORT)).expect("send");
        let mut buf = [0; 2048];
        let (n, from) = udp.recv_from(&mut buf).expect("the UDP echo");
        assert_eq!(from, SocketAddr::from((DEVICE, PORT)));
        let reply = buf[..n].to_vec();
        let big = noise(1472, 9);
        udp.send_to(&big, (DEVICE, PORT)).expect("send 1472 bytes");
        let (n, _) = udp.recv_from(&mut buf).expect("the 1472-byte echo");
        let big_ok = buf[..n] == big[..];
        let low = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 1000)).expect("bind port 1000");
        low.set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        low.send_to(b"from a low port", (DEVICE, PORT))
            .expect("send");
        (reply, big_ok, low.recv_from(&mut buf).is_ok())
    });
    assert_eq!(reply, b"udp hello");
    assert!(big_ok, "the 1472-byte datagram came back different");
    assert!(
        !low_answered,
        "a datagram from port 1000 must not be answered"
    );

    // The client's ping mode for a few seconds: every probe echoed.
    let out = ns
        .exec(
            ECHOKIT,
            &["client", "-s", "192.168.69.1", "-c", "40", "-i", "0.05"],
        )
        .output()
        .expect("run the ping mode");
    assert!(
        out.status.success(),
        "ping mode: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );

    // The load generator, where this build has it.
    let bench = works(ECHOKIT, &["bench", "--help"]);
    if bench {
        let out = ns
            .exec(
                ECHOKIT,
                &[
                    "bench",
                    "-s",
                    "192.168.69.1",
                    "-c",
                    "4",
                    "-d",
                    "2",
                    "--size",
                    "64",
                ],
            )
            .output()
            .expect("run bench");
        assert!(
            out.status.success(),
            "bench: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr_of(&out)
        );
    }

    // Let the last closes be logged, then stop the device and read its log back.
    thread::sleep(Duration::from_millis(500));
    let records = qemu.stop_and_archive();
    check_log(&records, &binary, bench);
}

/// Lines the client echoes while nobody reads the serial port (before the log ring, echo
/// stopped after about 290 of them, once QEMU's stdout pipe was full).
const UNREAD_LINES: usize = 3000;

#[test]
fn an_unread_serial_port_does_not_stall_echo_and_the_drops_are_counted() {
    for board in BOARDS {
        for extra in board.variants {
            unread_serial_port(board, extra);
        }
    }
}

fn unread_serial_port(board: &Board, extra: &[&str]) {
    if !can_run_on(board, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let elf = build(board, &[], dir.path());
    let ns = Netns::new("echokit-fw", None);
    // QEMU's stdout is a pipe this test does not read until the echo is done.
    let mut child = qemu_command(&ns, board, &elf, extra)
        .stdout(Stdio::piped())
        .stderr(File::create(dir.path().join("qemu.stderr")).expect("qemu stderr"))
        .spawn()
        .expect("start qemu.sh");
    let mut pipe = child.stdout.take().expect("piped stdout");
    let qemu = Qemu {
        child,
        serial: dir.path().join("serial.log"),
    };
    ns.enter(|| {
        let mut stream = connect_when_up();
        for i in 0..UNREAD_LINES {
            let line = format!("unread serial port, line {i}\n");
            tcp_echo_on(&mut stream, line.as_bytes());
        }
    });
    // The connection is closed (its `closed` record queued or dropped); now read the log.
    thread::sleep(Duration::from_millis(500));
    let reader = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut pipe, &mut text);
        text
    });
    // Long enough for the device to write what its ring holds and the drop notice.
    thread::sleep(Duration::from_secs(3));
    let mut qemu = qemu;
    let _ = qemu.child.kill();
    let _ = qemu.child.wait();
    let text = reader.join().expect("reader");
    std::fs::write(&qemu.serial, &text).expect("write serial log");
    let records = archive(&qemu.serial);
    let (dropped, notices) = log_drops(&records);
    assert!(dropped > 0, "nothing was dropped: the pipe never filled?");
    assert_eq!(notices.len(), 1, "{notices:?}");
    // Every record the service wrote is in the log or counted by the notice: `listening`
    // twice (TCP, UDP), `connected`, one `echo` per line, `closed`.
    let kept = records.len() - notices.len();
    assert_eq!(
        kept as u64 + dropped,
        2 + 1 + UNREAD_LINES as u64 + 1,
        "{kept} records kept, {dropped} dropped"
    );
    // Kept `echo` records are whole and in order.
    let echoed: Vec<usize> = records
        .iter()
        .filter(|r| r["event"] == "echo")
        .map(|r| {
            let msg = r["msg"].as_str().expect("msg");
            let n = msg
                .strip_prefix("unread serial port, line ")
                .expect("a sent line");
            n.parse().expect("a line number")
        })
        .collect();
    assert!(echoed.windows(2).all(|w| w[0] < w[1]), "out of order");
    // The notice is an `error` record naming the count, after the records kept before it.
    assert_eq!(notices[0]["level"], "ERROR");
}

/// Connects to the device once it is up (its log cannot tell: nobody reads it).
fn connect_when_up() -> TcpStream {
    let addr = SocketAddr::from((DEVICE, PORT));
    let start = std::time::Instant::now();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => {
                stream.set_read_timeout(Some(WAIT)).expect("timeout");
                return stream;
            }
            Err(e) if start.elapsed() > BOOT => panic!("the device did not come up: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Records the device's serial log says it dropped: the sum of its drop notices' counts
/// (`serial log: N records dropped: ...`), and those notices.
fn log_drops(records: &[serde_json::Value]) -> (u64, Vec<&serde_json::Value>) {
    let notices: Vec<_> = records
        .iter()
        .filter(|r| {
            r["event"] == "error"
                && r["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("serial log: "))
        })
        .collect();
    let count = notices
        .iter()
        .map(|r| {
            let msg = r["msg"].as_str().unwrap_or_default();
            let number = msg.split(' ').nth(2).unwrap_or_default();
            assert!(
                msg.ends_with("records dropped: the serial port did not keep up"),
                "{msg}"
            );
            number
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("no count in {msg:?}"))
        })
        .sum();
    (count, notices)
}

/// The serial log, as `echokit archive -j` read it: the server's records, one `echo` per
/// line sent, time counted from boot. The log never stalls echo, so where the emulated CPU
/// could not both echo and write every record (the 64 KiB binary echo is logged as
/// `msg_hex`, about 130 KiB of log) records are dropped whole and counted: a record
/// expected here may be missing only if the drop notices count at least as many.
fn check_log(records: &[serde_json::Value], binary: &[u8], bench: bool) {
    let first = records.first().expect("records");
    assert_eq!(first["event"], "listening", "{first}");
    assert_eq!(first["addr"], "192.168.69.1:7777");
    assert!(records.iter().all(|r| {
        r["ts"]
            .as_str()
            .is_some_and(|t| t.starts_with("1970-01-01T"))
    }));
    let (dropped, notices) = log_drops(records);
    assert!(bench || notices.is_empty() || dropped > 0, "{notices:?}");
    let mut missing = 0;
    let mut expect_once = |what: &str, n: usize| {
        assert!(n <= 1, "{what}: {n} records");
        missing += 1 - n as u64;
    };
    let events = |name: &'static str| records.iter().filter(move |r| r["event"] == name);
    let mut echoed: HashMap<String, usize> = HashMap::new();
    for r in events("echo") {
        if let Some(msg) = r["msg"].as_str() {
            *echoed.entry(msg.to_owned()).or_default() += 1;
        }
    }
    let mut expected = vec!["Hi There".to_owned(), "udp hello".to_owned()];
    expected.extend((0..4).flat_map(client_lines));
    for line in &expected {
        expect_once(line, echoed.get(line).copied().unwrap_or(0));
    }
    assert_eq!(
        echoed.get("fifth"),
        None,
        "the rejected client's line was echoed"
    );
    let rejected: Vec<_> = events("rejected").collect();
    expect_once("rejected", rejected.len());
    assert!(
        rejected.iter().all(|r| r["reason"] == "max_conns"),
        "{rejected:?}"
    );
    // The NIC's drop report (written before any load): the oversized frame.
    let errors: Vec<_> = events("error").filter(|r| !notices.contains(r)).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0]["msg"].as_str().unwrap_or_default();
    assert!(text.contains("lan9118 dropped frames since boot"), "{text}");
    assert!(text.contains("1 oversized"), "{text}");
    assert!(text.contains("0 RX FIFO resyncs"), "{text}");
    // One closed record per served connection: the binary one moved every byte each way.
    let closed: Vec<_> = events("closed").collect();
    let len = binary.len() as u64;
    expect_once(
        "closed after the binary echo",
        closed
            .iter()
            .filter(|r| r["bytes_in"] == len && r["bytes_out"] == len)
            .count(),
    );
    // The ping mode (after the binary echo's log has drained): 40 probes of 64 bytes, one
    // line each.
    let ping = closed
        .iter()
        .find(|r| r["bytes_in"] == 40 * 64)
        .expect("the ping mode's connection");
    let probes = events("echo").filter(|r| r["conn"] == ping["conn"]).count();
    assert_eq!(probes, 40);
    let served = 1 + 1 + 4 + 1;
    if !bench {
        missing += (served - events("connected").count()) as u64;
        missing += (served - closed.len()) as u64;
    }
    assert!(
        missing <= dropped,
        "{missing} expected records are missing, the drop notices count {dropped}"
    );
}

#[test]
fn a_bad_address_fails_the_firmware_build_naming_the_variable() {
    let board = &MPS2_AN386;
    if !can_run(
        "firmware",
        &[(board.target, target_installed(board.target))],
    ) {
        return;
    }
    let _one = one_at_a_time();
    for (var, value, says) in [
        (
            "ECHOKIT_IP",
            "192.168.69.1",
            "ECHOKIT_IP=\"192.168.69.1\" has no /prefix length",
        ),
        ("ECHOKIT_IP", "192.168.69.300/24", "is not an IPv4 address"),
        (
            "ECHOKIT_GATEWAY",
            "10.0.0.1",
            "not another address in ECHOKIT_IP's subnet",
        ),
    ] {
        let out = build_command(board.name, &[(var, value)])
            .output()
            .expect("run firmware/build.sh");
        let err = stderr_of(&out);
        assert!(!out.status.success(), "{var}={value} built");
        assert!(err.contains(says), "{var}={value}: {err}");
    }
    let out = build_command(
        board.name,
        &[("ECHOKIT_IP", "dhcp"), ("ECHOKIT_GATEWAY", "10.0.0.1")],
    )
    .output()
    .expect("run firmware/build.sh");
    assert!(!out.status.success(), "dhcp with a gateway built");
    assert!(
        stderr_of(&out).contains("the DHCP server gives the gateway"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn build_sh_names_the_boards_when_given_an_unknown_one() {
    let out = build_command("no-such-board", &[])
        .output()
        .expect("run firmware/build.sh");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("no board named 'no-such-board'") && err.contains("mps2-an386"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
