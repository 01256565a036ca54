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
    /// What the log's NIC drop report says after the oversized frame; empty where the
    /// frame never reaches the driver (then no report is written).
    nic_report: &'static [&'static str],
    /// Its station address, as a DHCP server's lease names it.
    mac: &'static str,
}

const MPS2_AN386: Board = Board {
    name: "mps2-an386",
    target: "thumbv7em-none-eabihf",
    qemu: "qemu-system-arm",
    variants: &[&[]],
    nic_report: &[
        "lan9118 dropped frames since boot",
        "1 oversized",
        "0 RX FIFO resyncs",
    ],
    mac: "02:00:00:ec:40:01",
};

/// QEMU's virtio-net drops a frame longer than the receive buffer (one 1514-byte frame)
/// itself, unseen by the driver. Legacy virtio-mmio is QEMU's default; the modern
/// transport is the second run.
const VIRT_RV32: Board = Board {
    name: "virt-rv32",
    target: "riscv32imac-unknown-none-elf",
    qemu: "qemu-system-riscv32",
    variants: &[&[], &["-global", "virtio-mmio.force-legacy=false"]],
    nic_report: &[],
    // The address QEMU gives the device (its default).
    mac: "52:54:00:12:34:56",
};

/// Every QEMU board; the tests below run each.
const BOARDS: &[&Board] = &[&MPS2_AN386, &VIRT_RV32];

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

/// Runs `check` once per QEMU board and per variant of its command line (e.g. virt-rv32
/// with legacy and with modern virtio-mmio).
fn on_every_board(check: fn(&Board, &[&str])) {
    for board in BOARDS {
        for extra in board.variants {
            check(board, extra);
        }
    }
}

#[test]
fn firmware_on_qemu_echoes_answers_ping_and_logs_the_servers_records() {
    on_every_board(echoes_answers_ping_and_logs);
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
    check_log(&records, &binary, bench, board);
}

/// Lines the client echoes while nobody reads the serial port (before the log ring, echo
/// stopped after about 290 of them, once QEMU's stdout pipe was full).
const UNREAD_LINES: usize = 3000;

#[test]
fn an_unread_serial_port_does_not_stall_echo_and_the_drops_are_counted() {
    on_every_board(unread_serial_port);
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
    // One notice per run of drops: the ring also overflows before the pipe fills where
    // echo outruns the log's share of each round (virt-rv32).
    assert!(!notices.is_empty(), "{notices:?}");
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
    assert!(notices.iter().all(|n| n["level"] == "ERROR"), "{notices:?}");
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

#[test]
fn with_echokit_ip_dhcp_the_device_takes_a_lease_and_logs_it() {
    on_every_board(dhcp_lease);
}

/// `dnsmasq` serving DHCP on tap0 inside a namespace (RECIPES "DHCP"); killed on drop.
struct Dnsmasq(Child);

impl Dnsmasq {
    fn start(ns: &Netns, dir: &Path, range: &str) -> Dnsmasq {
        let leases = dir.join("dnsmasq.leases");
        let pid = dir.join("dnsmasq.pid");
        let child = ns
            .exec(
                "dnsmasq",
                &[
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--user=root",
                    "--interface=tap0",
                    "--bind-interfaces",
                    "--port=0",
                    "--no-resolv",
                    &format!("--dhcp-range={range},255.255.255.0,2m"),
                    &format!("--dhcp-leasefile={}", leases.display()),
                    &format!("--pid-file={}", pid.display()),
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("dnsmasq.stderr")).expect("dnsmasq stderr"))
            .spawn()
            .expect("start dnsmasq");
        Dnsmasq(child)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dhcp_lease(board: &Board, extra: &[&str]) {
    let dnsmasq = works("dnsmasq", &["--version"]);
    if !can_run_on(board, &[("dnsmasq (dnsmasq-base)", dnsmasq)]) {
        return;
    }
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let elf = build(board, &[("ECHOKIT_IP", "dhcp")], dir.path());
    let ns = Netns::new("echokit-fw", None);
    let dhcp = Dnsmasq::start(&ns, dir.path(), "192.168.69.50,192.168.69.60");
    let mut qemu = Qemu::start(&ns, board, &elf, extra, dir.path());

    // The leased address, from `listening`.
    let addr = last_listening(&qemu.serial);
    let SocketAddr::V4(v4) = addr else {
        panic!("not IPv4: {addr}")
    };
    let ip = *v4.ip();
    assert!(
        (50..=60).contains(&ip.octets()[3]) && ip.octets()[..3] == [192, 168, 69],
        "{ip} is not from dnsmasq's range"
    );
    assert_eq!(addr.port(), PORT);
    let leases = std::fs::read_to_string(dir.path().join("dnsmasq.leases")).unwrap_or_default();
    assert!(
        leases.contains(&ip.to_string()) && leases.contains(board.mac),
        "dnsmasq's leases: {leases}"
    );

    // Served on the leased address: TCP through the client, ping, UDP.
    let ip_text = ip.to_string();
    let out = ns
        .exec(ECHOKIT, &["client", "-s", &ip_text, "-m", "over DHCP"])
        .output()
        .expect("run the client");
    assert!(out.status.success(), "client: {}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Echo: over DHCP\n");
    let ping = ns
        .exec("ping", &["-c", "1", "-W", "5", &ip_text])
        .output()
        .expect("run ping");
    assert!(ping.status.success(), "ping {ip}");
    let out = ns
        .exec(
            ECHOKIT,
            &["client", "-s", &ip_text, "--udp", "-m", "udp over DHCP"],
        )
        .output()
        .expect("run the UDP client");
    assert!(out.status.success(), "UDP client: {}", stderr_of(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Echo: udp over DHCP\n"
    );

    // Another DHCP server, authoritative for another range: at the renewal (half the
    // 2-minute lease, dnsmasq's shortest) it refuses the old address, the device asks
    // again and logs `listening` with the new one.
    drop(dhcp);
    let _dhcp = Dnsmasq::start(&ns, dir.path(), "192.168.69.70,192.168.69.80");
    let renewed = wait_for(&qemu.serial, Duration::from_secs(150), |text| {
        text.lines().filter(|l| l.contains("\"listening\"")).count() >= 4
    });
    assert!(renewed, "no new lease logged");
    let new_ip = last_listening(&qemu.serial).ip().to_string();
    let out = ns
        .exec(ECHOKIT, &["client", "-s", &new_ip, "-m", "after renewal"])
        .output()
        .expect("run the client");
    assert!(out.status.success(), "client: {}", stderr_of(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Echo: after renewal\n"
    );

    thread::sleep(Duration::from_millis(300));
    let records = qemu.stop_and_archive();
    let listening: Vec<_> = records
        .iter()
        .filter(|r| r["event"] == "listening")
        .collect();
    // Once per protocol for each lease, with its address.
    assert_eq!(listening.len(), 4, "{listening:?}");
    assert!(
        listening[..2].iter().all(|r| r["addr"] == addr.to_string()),
        "{listening:?}"
    );
    let new: SocketAddr = listening[2]["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the new addr");
    assert!(
        new.to_string().starts_with("192.168.69.7") || new.to_string().starts_with("192.168.69.80"),
        "{new} is not from the second range"
    );
    assert_eq!(listening[3]["addr"], new.to_string());
    assert_eq!(new.port(), PORT);
    assert_eq!(
        records[0]["event"], "listening",
        "nothing is logged before the lease"
    );
    // The refused renewal lost the first lease before the second was bound.
    let lost = records
        .iter()
        .position(|r| {
            r["event"] == "error"
                && r["msg"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("DHCP lease lost"))
        })
        .expect("the lost lease's error record");
    let second = records
        .iter()
        .position(|r| r["event"] == "listening" && r["addr"] == new.to_string())
        .expect("the second listening");
    assert!(lost < second, "the loss is logged before the new lease");
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "echo" && r["msg"] == "over DHCP")
    );
}

/// The address of the last `listening` record in the serial log at `path`.
fn last_listening(path: &Path) -> SocketAddr {
    let text = std::fs::read_to_string(path).expect("serial log");
    let record: serde_json::Value = text
        .lines()
        .rfind(|l| l.contains("\"listening\""))
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a listening record");
    record["addr"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("listening's addr")
}

/// Polls `path` (every 100 ms, up to `limit`) until its text satisfies `done`.
fn wait_for(path: &Path, limit: Duration, done: impl Fn(&str) -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_to_string(path).is_ok_and(|t| done(&t)) {
            return true;
        }
        thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn each_boot_seeds_the_stack_differently() {
    on_every_board(boots_differ);
}

/// Two boots of one image answer a SYN with different initial sequence numbers: the
/// stack's seed comes from the board's entropy, not from a constant or the boot time.
fn boots_differ(board: &Board, extra: &[&str]) {
    if !can_run_on(board, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let elf = build(board, &[], dir.path());
    let ns = Netns::new("echokit-fw", None);
    let mut isns = Vec::new();
    for _ in 0..2 {
        let _qemu = Qemu::start(&ns, board, &elf, extra, dir.path());
        isns.push(ns.enter(syn_ack_sequence_number));
    }
    assert_ne!(
        isns[0], isns[1],
        "the same initial sequence number on two boots"
    );
}

/// Connects to the device and returns the sequence number of its SYN-ACK, read from tap0
/// by a packet socket (call on a thread inside the namespace).
fn syn_ack_sequence_number() -> u32 {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let all = (libc::ETH_P_ALL as u16).to_be();
    // Safety: socket(2) with constant arguments; the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(all)) };
    assert!(
        raw >= 0,
        "packet socket: {}",
        std::io::Error::last_os_error()
    );
    // Safety: `raw` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Safety: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(c"tap0".as_ptr()) };
    assert!(ifindex > 0, "no tap0");
    // Safety: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = all;
    sll.sll_ifindex = ifindex as i32;
    let timeout = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    // Safety: the addresses and lengths are those of the locals above.
    let ok = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        ) == 0
            && libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as u32,
            ) == 0
    };
    assert!(ok, "packet socket: {}", std::io::Error::last_os_error());
    drop(connect());
    let mut frame = [0u8; 2048];
    loop {
        // Safety: recv(2) into the buffer, at most its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), frame.as_mut_ptr().cast(), frame.len(), 0) };
        assert!(
            n >= 0,
            "no SYN-ACK seen: {}",
            std::io::Error::last_os_error()
        );
        let frame = &frame[..n as usize];
        // Ethernet, IPv4, TCP from port 7777 with SYN and ACK.
        if frame.len() < 14 + 20 + 20 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
            continue;
        }
        let tcp = &frame[14 + usize::from(frame[14] & 0x0f) * 4..];
        if tcp.len() >= 20 && tcp[0..2] == PORT.to_be_bytes() && tcp[13] & 0x12 == 0x12 {
            return u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
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
fn check_log(records: &[serde_json::Value], binary: &[u8], bench: bool, board: &Board) {
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
    let reports = usize::from(!board.nic_report.is_empty());
    assert_eq!(errors.len(), reports, "{}: {errors:?}", board.name);
    for error in errors {
        let text = error["msg"].as_str().unwrap_or_default();
        for says in board.nic_report {
            assert!(text.contains(says), "{}: {text}", board.name);
        }
    }
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

/// The Cortex-M image's SysTick vector is the shared clock's handler (firmware/systick-clock,
/// a library), not cortex-m-rt's `DefaultHandler` it falls back to: a handler left out by
/// the linker would stop the clock without failing the build.
#[test]
fn the_cortex_m_image_links_the_systick_handler() {
    let board = &MPS2_AN386;
    if !can_run(
        "firmware",
        &[
            (board.target, target_installed(board.target)),
            ("readelf (binutils)", works("readelf", &["--version"])),
        ],
    ) {
        return;
    }
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let elf = build(board, &[], dir.path());
    let out = Command::new("readelf")
        .args(["-s", "-W"])
        .arg(&elf)
        .output()
        .expect("run readelf");
    assert!(out.status.success(), "readelf: {}", stderr_of(&out));
    let symbols = String::from_utf8_lossy(&out.stdout);
    let address = |name: &str| {
        symbols
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.len() == 8 && f[7] == name)
            .map(|f| f[1].to_owned())
            .unwrap_or_else(|| panic!("no symbol {name} in the image"))
    };
    assert_ne!(
        address("SysTick"),
        address("DefaultHandler"),
        "SysTick is cortex-m-rt's default handler: the clock's handler was not linked"
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
