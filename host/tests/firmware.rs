//! The firmware end to end, as a user runs it: the release image built for the Cortex-M4F,
//! booted by `firmware/qemu.sh` on QEMU's mps2-an386 with its LAN9118 on a TAP inside a
//! network namespace this test creates (and always deletes), driven by the built `echokit`
//! (client, archive) and the kernel's `ping` from inside that namespace.
//!
//! Needs root, `/dev/net/tun`, `ip`, `ping`, `qemu-system-arm` and the
//! `thumbv7em-none-eabihf` target. Without them the test skips with a loud message, except
//! when `CI=true`: there anything missing is a failure. Linux only (namespaces, TAP).

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
use std::thread;
use std::time::Duration;

const ECHOKIT: &str = env!("CARGO_BIN_EXE_echokit");
const DEVICE: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 1);
const PORT: u16 = 7777;
/// Bound on one exchange with the device (QEMU emulates the CPU: slower than a PC).
const WAIT: Duration = Duration::from_secs(20);
/// Bound on boot until `listening` (a cold QEMU start included).
const BOOT: Duration = Duration::from_secs(60);

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware")
}

/// Whether the Cortex-M4F target is installed (the firmware cannot build without it).
fn target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("thumbv7em-none-eabihf"))
}

/// A child `cargo` in firmware/ with the parent's build settings removed (they are for the
/// host: another target dir or rustflags would lose the linker script).
fn firmware_cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(firmware_dir()).args(args);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "ECHOKIT_IP",
        "ECHOKIT_GATEWAY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Builds the release image (as the README says) and returns its path.
fn build_firmware() -> PathBuf {
    let out = firmware_cargo(&["build", "--release", "--quiet"])
        .output()
        .expect("run cargo for the firmware");
    assert!(out.status.success(), "firmware build: {}", stderr_of(&out));
    let elf = firmware_dir().join("target/thumbv7em-none-eabihf/release/echokit-firmware");
    assert!(elf.is_file(), "no image at {}", elf.display());
    elf
}

/// QEMU running the firmware (`firmware/qemu.sh tap0`), its serial port in `serial`;
/// killed by its PID on drop (`ip netns exec` and the script exec it: one process).
struct Qemu {
    child: Child,
    serial: PathBuf,
}

impl Qemu {
    fn start(ns: &Netns, dir: &Path) -> Qemu {
        let serial = dir.join("serial.log");
        let script = firmware_dir().join("qemu.sh");
        let child = ns
            .exec(script.to_str().expect("utf-8 path"), &["tap0"])
            .stdin(Stdio::null())
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
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect() -> TcpStream {
    let addr = SocketAddr::from((DEVICE, PORT));
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to the firmware");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
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
    let mut needs = netns_needs().to_vec();
    needs.extend([
        ("`ping` (iputils-ping)", works("ping", &["-V"])),
        ("qemu-system-arm", works("qemu-system-arm", &["--version"])),
        ("the thumbv7em-none-eabihf target", target_installed()),
    ]);
    if !can_run("firmware", &needs) {
        return;
    }
    build_firmware();
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = Netns::new("echokit-fw", None);
    let mut qemu = Qemu::start(&ns, dir.path());

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
    let _ = qemu.child.kill();
    let _ = qemu.child.wait();
    let archive = Command::new(ECHOKIT)
        .args(["archive", "-i"])
        .arg(&qemu.serial)
        .args(["-o", "-", "-j", "-a", "false"])
        .output()
        .expect("run the archiver");
    assert!(archive.status.success(), "archive: {}", stderr_of(&archive));
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&archive.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    check_log(&records, &binary, bench);
}

/// The serial log, as `echokit archive -j` read it: the server's records, one `echo` per
/// line sent, time counted from boot.
fn check_log(records: &[serde_json::Value], binary: &[u8], bench: bool) {
    let first = records.first().expect("records");
    assert_eq!(first["event"], "listening", "{first}");
    assert_eq!(first["addr"], "192.168.69.1:7777");
    assert!(records.iter().all(|r| {
        r["ts"]
            .as_str()
            .is_some_and(|t| t.starts_with("1970-01-01T"))
    }));
    let events = |name: &'static str| records.iter().filter(move |r| r["event"] == name);
    let mut echoed: HashMap<String, usize> = HashMap::new();
    for r in events("echo") {
        if let Some(msg) = r["msg"].as_str() {
            *echoed.entry(msg.to_owned()).or_default() += 1;
        }
    }
    let mut expected = vec!["Hi There".to_owned()];
    expected.extend((0..4).flat_map(client_lines));
    for line in &expected {
        assert_eq!(echoed.get(line), Some(&1), "echo records of {line:?}");
    }
    assert_eq!(echoed.get("udp hello"), Some(&1));
    assert_eq!(
        echoed.get("fifth"),
        None,
        "the rejected client's line was echoed"
    );
    assert_eq!(events("rejected").count(), 1);
    let errors: Vec<_> = events("error").collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0]["msg"].as_str().unwrap_or_default();
    assert!(text.contains("1 oversized"), "{text}");
    assert!(text.contains("0 RX FIFO resyncs"), "{text}");
    assert_eq!(
        events("rejected").next().expect("rejected")["reason"],
        "max_conns"
    );
    // One closed record per served connection: the binary one moved every byte each way.
    let closed: Vec<_> = events("closed").collect();
    let len = binary.len() as u64;
    assert!(
        closed
            .iter()
            .any(|r| r["bytes_in"] == len && r["bytes_out"] == len),
        "{closed:?}"
    );
    // The ping mode: 40 probes of 64 bytes, one line each.
    let ping = closed
        .iter()
        .find(|r| r["bytes_in"] == 40 * 64)
        .expect("the ping mode's connection");
    let probes = events("echo").filter(|r| r["conn"] == ping["conn"]).count();
    assert_eq!(probes, 40);
    let served = 1 + 1 + 4 + 1;
    if !bench {
        assert_eq!(events("connected").count(), served);
        assert_eq!(closed.len(), served);
    }
}

#[test]
fn a_bad_address_fails_the_firmware_build_naming_the_variable() {
    if !can_run(
        "firmware",
        &[("the thumbv7em-none-eabihf target", target_installed())],
    ) {
        return;
    }
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
        let out = firmware_cargo(&["build", "--release"])
            .env(var, value)
            .output()
            .expect("run cargo for the firmware");
        let err = stderr_of(&out);
        assert!(!out.status.success(), "{var}={value} built");
        assert!(err.contains(says), "{var}={value}: {err}");
    }
}
