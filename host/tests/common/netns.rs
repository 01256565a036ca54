//! Shared by the tests that run on a real TAP (`tap.rs`, `firmware.rs`): a network namespace
//! with `tap0` that is always deleted, the skip-or-fail check for what those tests need, and
//! the byte-for-byte TCP echo check they both make.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Whether `program args` runs and succeeds.
pub fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What every namespace test needs: root, `/dev/net/tun` and iproute2's `ip`.
pub fn netns_needs() -> [(&'static str, bool); 3] {
    [
        // Safety: geteuid has no preconditions.
        ("root", unsafe { libc::geteuid() } == 0),
        ("/dev/net/tun", Path::new("/dev/net/tun").exists()),
        ("iproute2 `ip`", works("ip", &["-V"])),
    ]
}

/// `false` after a loud message when something a `kind` test needs is missing; a failure
/// instead when `CI=true`.
pub fn can_run(kind: &str, needs: &[(&str, bool)]) -> bool {
    let missing: Vec<&str> = needs
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = missing.join(", ");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the {kind} test must run in CI, but it lacks: {why}"
    );
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPING a {kind} test: it needs {why} !!!\n"
    );
    false
}

/// A network namespace with `tap0` (kernel side 192.168.69.100/24, up); deleted on drop,
/// which deletes the TAP too.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace named `PREFIX-PID-N`; `txqueuelen` sets tap0's queue length.
    pub fn new(prefix: &str, txqueuelen: Option<u32>) -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["tuntap", "add", "name", "tap0", "mode", "tap"]);
        ns.ip(&["addr", "add", "192.168.69.100/24", "dev", "tap0"]);
        if let Some(len) = txqueuelen {
            ns.ip(&["link", "set", "tap0", "txqueuelen", &len.to_string()]);
        }
        ns.ip(&["link", "set", "tap0", "up"]);
        ns
    }

    /// `ip ARGS` on this namespace, asserting success.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// `program args` inside the namespace.
    pub fn exec(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]).args(args);
        cmd
    }

    /// Runs `f` on a thread that joined the namespace, so the sockets it makes live there.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        thread::scope(|s| {
            s.spawn(|| {
                let ns = File::open(&path).expect("open the namespace");
                // Safety: setns on a namespace fd moves only this thread into it.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("client thread")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[track_caller]
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        stderr_of(&out)
    );
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls (every `poll`, up to `limit`) until `log` holds a `"listening"` record. `Err` with
/// the exit status if `child` exited first, `Err(None)` when time ran out.
pub fn wait_listening(
    log: &Path,
    child: &mut Child,
    limit: Duration,
    poll: Duration,
) -> Result<(), Option<ExitStatus>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_to_string(log).is_ok_and(|t| t.contains("\"listening\"")) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Some(status));
        }
        thread::sleep(poll);
    }
    Err(None)
}

/// Deterministic pseudo-random bytes (xorshift from `x`).
pub fn noise(len: usize, mut x: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Sends `data` (from another thread, so a large echo cannot deadlock), reads the echo
/// back and checks it byte for byte.
pub fn tcp_echo_on(stream: &mut TcpStream, data: &[u8]) {
    let mut writer = stream.try_clone().expect("clone");
    thread::scope(|s| {
        s.spawn(|| writer.write_all(data).expect("send"));
        let mut got = vec![0; data.len()];
        stream.read_exact(&mut got).expect("the whole echo");
        assert!(got == data, "echo differs from what was sent");
    });
}
