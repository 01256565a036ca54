//! `echokit bench` as a user runs it: against the real server on loopback, and against fake
//! servers that corrupt, truncate, stall, reset, refuse, cross or replay echoes, or pause.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, echokit};
use serde_json::Value;

/// Runs `echokit bench ARGS` to its end.
fn bench(args: &[&str]) -> Output {
    bench_with(echokit(), args)
}

fn bench_with(mut cmd: Command, args: &[&str]) -> Output {
    cmd.arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run echokit bench")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `--json` summary, with the exit code checked.
fn json(output: &Output, code: i32) -> Value {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&output.stdout)))
}

const KEYS: [&str; 18] = [
    "mode",
    "proto",
    "conns",
    "secs",
    "size",
    "round_trips",
    "rt_per_s",
    "mb_per_s",
    "held",
    "failed",
    "connect_per_s",
    "latency_us",
    "latency_uncorrected_us",
    "connect_latency_us",
    "threads",
    "errors",
    "mismatches",
    "lost",
];

/// Every documented key is there, nothing else, and `nulls` are exactly the null ones.
fn assert_shape(summary: &Value, nulls: &[&str]) {
    let object = summary.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    for key in KEYS {
        assert_eq!(
            summary[key].is_null(),
            nulls.contains(&key),
            "{key} in {summary}"
        );
    }
    // Always the same in a closed loop; the open loop's is from sent, at most from due.
    let corrected = &summary["latency_us"];
    let uncorrected = &summary["latency_uncorrected_us"];
    assert_eq!(corrected.is_null(), uncorrected.is_null(), "{summary}");
    if !uncorrected.is_null() {
        assert!(
            uncorrected["max"].as_f64() <= corrected["max"].as_f64(),
            "{summary}"
        );
    }
    if let Some(latency) = summary["latency_us"].as_object() {
        for q in ["p50", "p90", "p99", "p999", "max"] {
            assert!(
                latency[q].as_f64().is_some_and(|v| v > 0.0),
                "{q} in {summary}"
            );
        }
        assert!(latency["p50"].as_f64() <= latency["p99"].as_f64());
        assert!(latency["p99"].as_f64() <= latency["max"].as_f64());
    }
}

fn server(extra: &[&str]) -> (Server, String) {
    let mut args = vec!["-m", "console", "-l", "warn"];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    let port = server.addr.port().to_string();
    (server, port)
}

const SHORT: [&str; 4] = ["-d", "0.3", "--warmup", "0"];

#[test]
fn pingpong_against_the_server_counts_round_trips_and_latency() {
    let (_server, port) = server(&[]);
    let mut args = vec!["-p", &port, "-c", "4", "--json"];
    args.extend(SHORT);
    let summary = json(&bench(&args), 0);
    assert_shape(
        &summary,
        &[
            "mb_per_s",
            "held",
            "failed",
            "connect_per_s",
            "connect_latency_us",
            "lost",
        ],
    );
    assert_eq!(summary["mode"], "pingpong");
    assert_eq!(summary["proto"], "tcp");
    assert_eq!(summary["conns"], 4);
    assert_eq!(summary["size"], 64);
    assert!(summary["round_trips"].as_u64().unwrap() > 100, "{summary}");
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["mismatches"], 0);
}

#[test]
fn pingpong_text_summary_and_large_messages() {
    let (_server, port) = server(&[]);
    let mut args = vec!["-p", &port, "-c", "2", "--size", "100000"];
    args.extend(SHORT);
    let output = bench(&args);
    let out = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{out}{}",
        text(&output.stderr)
    );
    assert!(
        out.starts_with("mode pingpong, tcp, 2 connections"),
        "{out}"
    );
    assert!(out.contains("round trips: "), "{out}");
    assert!(out.contains("latency us: p50 "), "{out}");
    assert!(out.contains("errors: 0, mismatches: 0"), "{out}");
}

/// 40 connections of 1 MiB messages would keep 80 MiB of messages stamped in place, over
/// the 64 MiB a thread keeps: each write then copies from the pattern and each echo is
/// checked piece by piece. Every byte is still checked.
#[test]
fn pingpong_beyond_the_in_place_budget_still_checks_every_echo() {
    let (_server, port) = server(&[]);
    let mut args = vec!["-p", &port, "-c", "40", "--size", "1048576", "--json"];
    args.extend(["-d", "1", "--warmup", "0"]);
    let summary = json(&bench(&args), 0);
    // Under Wine 80 MiB of round trips may not finish within the second (seen: none did);
    // the rate is checked on Unix only, as the other rate checks are.
    if cfg!(unix) {
        assert!(summary["round_trips"].as_u64().unwrap() >= 40, "{summary}");
    }
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["mismatches"], 0, "{summary}");
}

#[test]
fn udp_pingpong_counts_lost_not_errors() {
    let (_server, port) = server(&["--udp", "--udp-rate", "1000000"]);
    let mut args = vec!["-p", &port, "--udp", "-c", "3", "--json"];
    args.extend(SHORT);
    let summary = json(&bench(&args), 0);
    assert_shape(
        &summary,
        &[
            "mb_per_s",
            "held",
            "failed",
            "connect_per_s",
            "connect_latency_us",
        ],
    );
    assert_eq!(summary["proto"], "udp");
    assert!(summary["round_trips"].as_u64().unwrap() > 100, "{summary}");
    assert_eq!(summary["lost"], 0);
}

#[test]
fn udp_without_an_answer_is_lost_and_exit_0() {
    // A socket that takes datagrams and never answers: every one is lost, none an error.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let args = [
        "-p",
        &port,
        "--udp",
        "-c",
        "2",
        "-d",
        "0.2",
        "--warmup",
        "0",
        "--timeout",
        "0.1",
        "--json",
    ];
    let summary = json(&bench(&args), 0);
    assert!(summary["lost"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(summary["round_trips"], 0);
    assert_eq!(summary["errors"], 0);
    drop(silent);
}

#[test]
fn stream_reports_mb_per_s() {
    let (_server, port) = server(&[]);
    let mut args = vec!["-p", &port, "--mode", "stream", "-c", "2", "--json"];
    args.extend(SHORT);
    let summary = json(&bench(&args), 0);
    assert_shape(
        &summary,
        &[
            "round_trips",
            "rt_per_s",
            "held",
            "failed",
            "connect_per_s",
            "latency_us",
            "latency_uncorrected_us",
            "connect_latency_us",
            "lost",
        ],
    );
    assert_eq!(summary["size"], 65536);
    assert!(summary["mb_per_s"].as_f64().unwrap() > 1.0, "{summary}");
}

#[test]
fn hold_opens_keeps_and_probes_every_connection() {
    let (_server, port) = server(&[]);
    let args = [
        "-p", &port, "--mode", "hold", "-c", "200", "-d", "0.3", "--json",
    ];
    let summary = json(&bench(&args), 0);
    assert_shape(
        &summary,
        &[
            "round_trips",
            "rt_per_s",
            "mb_per_s",
            "connect_latency_us",
            "lost",
        ],
    );
    assert_eq!(summary["held"], 200);
    assert_eq!(summary["failed"], 0);
    assert!(summary["connect_per_s"].as_f64().unwrap() > 0.0);
    assert!(summary["secs"].as_f64().unwrap() >= 0.29, "{summary}");
}

#[test]
fn hold_counts_connections_the_server_rejects_as_failed() {
    let (_server, port) = server(&["--max-conns", "5"]);
    let args = [
        "-p", &port, "--mode", "hold", "-c", "8", "-d", "0.2", "--json",
    ];
    let summary = json(&bench(&args), 1);
    assert_eq!(summary["held"], 5, "{summary}");
    assert_eq!(summary["failed"], 3);
}

#[test]
// Not under Wine: its timers wake tens of milliseconds late (p90 58 ms seen in CI), so half
// a second cannot show the rate; the open loop's bookkeeping is the same on every OS.
#[cfg(unix)]
fn open_loop_keeps_the_rate() {
    let (_server, port) = server(&[]);
    let args = [
        "-p", &port, "-c", "4", "--rate", "2000", "-d", "0.5", "--warmup", "0.1", "--json",
    ];
    let summary = json(&bench(&args), 0);
    let rate = summary["rt_per_s"].as_f64().unwrap();
    assert!((1800.0..=2200.0).contains(&rate), "{summary}");
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--mode", "bogus"][..],
        &["-c", "0"],
        &["--size", "0"],
        &["--size", "2000000"],
        &["--udp", "--mode", "stream"],
        &["--udp", "--size", "70000"],
        &["--rate", "-1"],
        &["--rate", "inf"],
        &["--timeout", "0"],
        &["-d", "x"],
        &["--source", "not-an-address"],
        &["--mode", "hold", "--rate", "10"],
    ] {
        let output = bench(args);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("echokit bench: error: "), "{args:?}: {err}");
        assert!(output.stdout.is_empty());
    }
}

/// A port nobody listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

#[test]
fn refused_exits_2_naming_host_and_port() {
    for mode in ["pingpong", "stream", "hold"] {
        let port = closed_port();
        let output = bench(&["-p", &port, "--mode", mode, "-c", "2", "-d", "0.2"]);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{mode}: {err}");
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(err.contains("could not connect"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // UDP learns of a closed port from an ICMP error, which Wine drops.
    if cfg!(unix) {
        let port = closed_port();
        let output = bench(&["-p", &port, "--udp", "-d", "0.3", "--warmup", "0"]);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}

/// A fake server: each accepted connection is handed to `serve` on its own thread.
fn fake(serve: fn(TcpStream, usize)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            thread::spawn(move || serve(stream, n));
        }
    });
    port
}

/// Echoes everything, passing each chunk through `change` first (with the count of bytes
/// echoed before it).
fn echo_changed(mut stream: TcpStream, change: impl Fn(&mut [u8], u64)) {
    let mut buf = [0u8; 65536];
    let mut done = 0u64;
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        change(&mut buf[..n], done);
        done += n as u64;
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn assert_failed(output: &Output, what: &str) -> Value {
    let summary = json(output, 1);
    let err = text(&output.stderr);
    assert!(err.contains(what), "expected {what:?} in stderr: {err}");
    summary
}

#[test]
fn a_corrupted_byte_is_a_mismatch() {
    let port = fake(|stream, _| {
        echo_changed(stream, |chunk, done| {
            if done <= 100 && done + chunk.len() as u64 > 100 {
                chunk[(100 - done) as usize] ^= 0x01;
            }
        });
    });
    // One connection (blocking calls) and three (the event loop): one wrong byte each.
    for conns in [1, 3] {
        let conns_arg = conns.to_string();
        let mut args = vec!["-p", &port, "-c", &conns_arg, "--json"];
        args.extend(SHORT);
        let summary = assert_failed(&bench(&args), "differs");
        assert_eq!(summary["mismatches"], conns, "{summary}");
        assert_eq!(summary["errors"], 0);
    }
}

#[test]
fn stale_echoes_are_mismatches() {
    // Echoes the first message again and again, whatever was sent after it.
    let port = fake(|mut stream, _| {
        let mut first = [0u8; 64];
        if stream.read_exact(&mut first).is_err() {
            return;
        }
        let _ = stream.write_all(&first);
        let mut buf = [0u8; 64];
        while stream.read_exact(&mut buf).is_ok() {
            if stream.write_all(&first).is_err() {
                return;
            }
        }
    });
    let mut args = vec!["-p", &port, "-c", "1", "--json"];
    args.extend(SHORT);
    let summary = assert_failed(&bench(&args), "message 1 differs");
    assert!(summary["mismatches"].as_u64().unwrap() > 10, "{summary}");
}

#[test]
fn open_loop_charges_the_messages_still_due_at_the_end() {
    // 20 ms an echo: two connections get through about 100 of the 1,000 messages due in the
    // second; the rest wait behind them and never go out.
    let port =
        fake(|stream, _| echo_changed(stream, |_, _| thread::sleep(Duration::from_millis(20))));
    let dir = out_dir();
    let hlog = dir.path().join("run.hlog");
    let hlog = hlog.to_str().unwrap();
    let args = [
        "-p", &port, "-c", "2", "--rate", "1000", "-d", "1", "--warmup", "0", "--json", "--hlog",
        hlog,
    ];
    let summary = json(&bench(&args), 0);
    let round_trips = summary["round_trips"].as_u64().unwrap();
    assert!((20..=300).contains(&round_trips), "{summary}");
    // Every message due in the window has a latency: the echoed ones theirs, the others
    // what they waited (not sent after the end, not counted as round trips).
    let log = host::bench::hlog::read(&std::fs::read(hlog).unwrap()).unwrap();
    assert!(log.latency.len() >= 900, "{} latencies", log.latency.len());
    assert!(log.uncorrected.len() == round_trips, "{summary}");
    // Half of them waited half a second or more.
    assert!(
        summary["latency_us"]["p50"].as_f64().unwrap() > 300_000.0,
        "{summary}"
    );
}

#[test]
fn another_connections_bytes_are_mismatches() {
    // Two connections whose echoes are swapped: each gets the other's bytes back.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    thread::spawn(move || {
        let (Ok((a, _)), Ok((b, _))) = (listener.accept(), listener.accept()) else {
            return;
        };
        let cross = |mut from: TcpStream, mut to: TcpStream| {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = from.read(&mut buf) {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            })
        };
        cross(a.try_clone().unwrap(), b.try_clone().unwrap());
        cross(b, a);
        thread::sleep(Duration::from_secs(20));
    });
    let mut args = vec!["-p", &port, "-c", "2", "--json"];
    args.extend(SHORT);
    let summary = assert_failed(&bench(&args), "differs");
    assert!(summary["mismatches"].as_u64().unwrap() > 10, "{summary}");
}

#[test]
fn a_truncated_echo_is_an_error_after_the_timeout() {
    // Echoes all but the last byte of what it reads, then stays silent.
    let port = fake(|mut stream, _| {
        let mut buf = [0u8; 64];
        if let Ok(n @ 1..) = stream.read(&mut buf) {
            let _ = stream.write_all(&buf[..n - 1]);
        }
        let _ = stream.read_to_end(&mut Vec::new());
    });
    for conns in [1u64, 2] {
        let start = Instant::now();
        let conns_arg = conns.to_string();
        let args = [
            "-p",
            &port,
            "-c",
            &conns_arg,
            "-d",
            "0.2",
            "--warmup",
            "0",
            "--timeout",
            "0.3",
            "--json",
        ];
        let summary = assert_failed(&bench(&args), "no echo for");
        assert_eq!(summary["errors"], conns, "{summary}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn a_stalled_stream_is_an_error_after_the_timeout() {
    // Reads and never echoes.
    let port = fake(|mut stream, _| {
        let _ = std::io::copy(&mut stream, &mut std::io::sink());
    });
    let args = [
        "-p",
        &port,
        "--mode",
        "stream",
        "-c",
        "1",
        "-d",
        "0.2",
        "--warmup",
        "0",
        "--timeout",
        "0.3",
        "--json",
    ];
    let summary = assert_failed(&bench(&args), "no echo for");
    assert_eq!(summary["errors"], 1, "{summary}");
}

#[test]
fn a_reset_is_an_error() {
    // Echoes a few messages, then resets the connection (linger 0).
    let port = fake(|stream, _| {
        let socket = socket2::SockRef::from(&stream);
        let _ = socket.set_linger(Some(Duration::ZERO));
        let mut stream = stream;
        let mut buf = [0u8; 64];
        for _ in 0..10 {
            if stream.read_exact(&mut buf).is_err() || stream.write_all(&buf).is_err() {
                return;
            }
        }
        let _ = stream.read(&mut buf);
        drop(stream);
    });
    for conns in [1u64, 2] {
        let conns_arg = conns.to_string();
        let mut args = vec!["-p", &port, "-c", &conns_arg, "--json"];
        args.extend(SHORT);
        let summary = json(&bench(&args), 1);
        assert_eq!(summary["errors"], conns, "{summary}");
        assert!(summary["round_trips"].as_u64().unwrap() >= 5, "{summary}");
    }
}

#[test]
fn a_server_that_closes_is_an_error() {
    let port = fake(|stream, _| stream.shutdown(Shutdown::Both).unwrap_or(()));
    let mut args = vec!["-p", &port, "-c", "2", "--json"];
    args.extend(SHORT);
    let summary = assert_failed(&bench(&args), "closed");
    assert_eq!(summary["errors"], 2, "{summary}");
}

#[test]
fn a_pause_shows_in_p99_and_max_in_the_open_loop() {
    // Echoes at once, except for one pause of 100 ms after 100 ms.
    let port = fake(|stream, _| {
        let start = Instant::now();
        let paused = std::cell::Cell::new(false);
        echo_changed(stream, |_, _| {
            if !paused.get() && start.elapsed() > Duration::from_millis(100) {
                paused.set(true);
                thread::sleep(Duration::from_millis(100));
            }
        });
    });
    let args = [
        "-p", &port, "-c", "1", "--rate", "1000", "-d", "0.5", "--warmup", "0", "--json",
    ];
    let summary = json(&bench(&args), 0);
    let latency = &summary["latency_us"];
    // About 100 of the 500 messages were due during the pause: each is charged for the
    // part of it it waited through, so p99 is close to the whole pause.
    assert!(latency["max"].as_f64().unwrap() >= 95_000.0, "{summary}");
    assert!(latency["p99"].as_f64().unwrap() >= 80_000.0, "{summary}");
    // The catch-up rate only where timers are prompt: under Wine they wake tens of ms late
    // (CI saw 888/s); the pause in p99 and max above shows there too.
    if cfg!(unix) {
        let rate = summary["rt_per_s"].as_f64().unwrap();
        assert!(
            rate >= 900.0,
            "the loop caught up after the pause: {summary}"
        );
    }
}

#[test]
#[cfg(unix)] // rlimit: nothing to test under Wine
fn too_many_connections_for_the_open_file_limit_say_which_limit() {
    use std::os::unix::process::CommandExt;
    let (_server, port) = server(&[]);
    let mut cmd = echokit();
    let limit = libc::rlimit {
        rlim_cur: 40,
        rlim_max: 40,
    };
    // Safety: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let args = [
        "-p", &port, "--mode", "hold", "-c", "100", "-d", "0.1", "--json",
    ];
    let output = bench_with(cmd, &args);
    let summary = assert_failed(&output, "open-file limit (ulimit -n");
    assert!(summary["held"].as_u64().unwrap() > 10, "{summary}");
    assert!(summary["failed"].as_u64().unwrap() >= 60, "{summary}");
}

#[test]
#[cfg(unix)] // signals: nothing to test under Wine
fn ctrl_c_stops_early_and_prints_the_summary() {
    let (_server, port) = server(&[]);
    // One connection runs blocking calls, more run the event loop: both see Ctrl-C.
    for conns in ["1", "2"] {
        let child = echokit()
            .args([
                "bench", "-p", &port, "-c", conns, "-d", "30", "--warmup", "0", "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        thread::sleep(Duration::from_millis(500));
        // Safety: kill has no memory preconditions; the pid is our own child's.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let start = Instant::now();
        let output = child.wait_with_output().expect("wait");
        assert!(start.elapsed() < Duration::from_secs(2));
        let summary = json(&output, 0);
        let secs = summary["secs"].as_f64().unwrap();
        assert!(secs > 0.2 && secs < 5.0, "{summary}");
        assert!(summary["round_trips"].as_u64().unwrap() > 0);
    }
}

#[test]
#[cfg(unix)] // signals: nothing to test under Wine
fn ctrl_c_while_holding_reports_the_connections_held() {
    let (_server, port) = server(&[]);
    let child = echokit()
        .args([
            "bench", "-p", &port, "--mode", "hold", "-c", "50", "-d", "30", "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    thread::sleep(Duration::from_millis(700));
    // Safety: kill has no memory preconditions; the pid is our own child's.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let output = child.wait_with_output().expect("wait");
    let summary = json(&output, 0);
    assert_eq!(summary["held"], 50, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
}

#[test]
#[cfg(unix)] // pty: nothing to test under Wine
fn a_terminal_gets_a_progress_line_each_second() {
    use std::os::unix::process::CommandExt;
    let (_server, port) = server(&[]);
    let (master, slave) = common::openpty();
    let mut cmd = echokit();
    cmd.args([
        "bench", "-p", &port, "-c", "2", "-d", "2.3", "--warmup", "0",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(slave.try_clone().expect("dup"));
    // Safety: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn");
    // The command and this test must not keep the terminal open, or it never ends.
    drop(cmd);
    drop(slave);
    let mut master = std::fs::File::from(master);
    let reader = thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Ends with EIO once the bench has exited and closed the terminal.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
    let terminal = reader.join().expect("reader");
    let lines: Vec<&str> = terminal
        .lines()
        .filter(|l| l.starts_with("bench: "))
        .collect();
    assert_eq!(lines.len(), 2, "{terminal:?}");
    assert!(lines[0].contains("round trips/s  p99 "), "{terminal:?}");
    assert!(lines[0].contains("errors 0"), "{terminal:?}");
    // The summary goes to stdout, not to the terminal's stderr.
    assert!(text(&output.stdout).contains("round trips: "));
    assert!(!terminal.contains("round trips: "));
}

#[test]
fn source_addresses_are_used_in_turn() {
    let mut server = Server::start(&["-m", "console"]);
    let port = server.addr.port().to_string();
    let mut args = vec![
        "-p",
        &port,
        "-c",
        "4",
        "--source",
        "127.0.0.2",
        "--source",
        "127.0.0.3",
        "--json",
    ];
    args.extend(SHORT);
    let summary = json(&bench(&args), 0);
    assert!(summary["round_trips"].as_u64().unwrap() > 0, "{summary}");
    // The server saw connections from both addresses.
    for source in ["127.0.0.2:", "127.0.0.3:"] {
        assert!(
            server.wait_line(|l| l.contains(source)).is_some(),
            "no connection from {source}"
        );
    }
    let output = bench(&["-p", &port, "--source", "::1", "-d", "0.1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("family"),
        "{}",
        text(&output.stderr)
    );
}

/// A fresh directory for output files.
fn out_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn json_stream_prints_each_second_then_the_summary() {
    let (_server, port) = server(&[]);
    let output = bench(&[
        "-p",
        &port,
        "-c",
        "2",
        "-d",
        "2.5",
        "--warmup",
        "0",
        "--json-stream",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let lines: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intervals: Vec<Value> = lines.iter().map(|l| l["interval"].clone()).collect();
    assert_eq!(
        intervals,
        [
            serde_json::json!([0.0, 1.0]),
            serde_json::json!([1.0, 2.0]),
            serde_json::json!([2.0, 2.5]),
            Value::Null
        ]
    );
    let summary = &lines[3];
    let mut summary_keys = summary.clone();
    summary_keys.as_object_mut().unwrap().remove("interval");
    assert_shape(
        &summary_keys,
        &[
            "mb_per_s",
            "held",
            "failed",
            "connect_per_s",
            "connect_latency_us",
            "lost",
        ],
    );
    // The seconds add up to the run.
    let sum: u64 = lines[..3]
        .iter()
        .map(|l| l["round_trips"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, summary["round_trips"].as_u64().unwrap());
    assert!(sum > 100, "{summary}");
    assert_eq!(lines[2]["secs"], 0.5);
}

/// Reads an interval log back with the hdrhistogram crate: (untagged histograms added up,
/// how many intervals, the header lines).
fn read_hlog(path: &std::path::Path) -> (hdrhistogram::Histogram<u64>, usize, Vec<String>) {
    use base64::Engine as _;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let bytes = std::fs::read(path).unwrap();
    let mut total = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(i) = entry.unwrap() {
            if i.tag().is_some() {
                continue;
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(i.encoded_histogram())
                .unwrap();
            let h: hdrhistogram::Histogram<u64> = Deserializer::new()
                .deserialize(&mut raw.as_slice())
                .unwrap();
            total.add(&h).unwrap();
            intervals += 1;
        }
    }
    let header = text(&bytes).lines().take(5).map(str::to_string).collect();
    (total, intervals, header)
}

#[test]
fn hlog_and_hgrm_read_back_and_agree_with_the_summary() {
    let (_server, port) = server(&[]);
    let dir = out_dir();
    let hlog = dir.path().join("run.hlog");
    let hgrm = dir.path().join("run.hgrm");
    let output = bench(&[
        "-p",
        &port,
        "-c",
        "3",
        "-d",
        "2",
        "--warmup",
        "0",
        "--json",
        "--hlog",
        hlog.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
    ]);
    let summary = json(&output, 0);
    let (total, intervals, header) = read_hlog(&hlog);
    assert_eq!(intervals, 2);
    assert!(
        header.contains(&"#[Histogram log format version 1.3]".to_string()),
        "{header:?}"
    );
    assert!(
        header.iter().any(|l| l.starts_with("#[StartTime: ")),
        "{header:?}"
    );
    assert_eq!(total.len(), summary["round_trips"].as_u64().unwrap());
    // Microseconds in the file; the summary's max to the microsecond (3 digits).
    let max = summary["latency_us"]["max"].as_f64().unwrap();
    assert!(
        (total.max() as f64 - max).abs() <= max * 0.002 + 1.0,
        "{} vs {max}",
        total.max()
    );
    let hgrm = std::fs::read_to_string(&hgrm).unwrap();
    let rows: Vec<Vec<f64>> = hgrm
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    let last = rows.last().unwrap();
    assert_eq!((last[1], last[2]), (1.0, total.len() as f64));
    assert!(
        (last[0] - max / 1000.0).abs() < 0.01 + max / 1000.0 * 0.002,
        "{last:?}"
    );
    assert!(hgrm.contains(&format!("Total count    = {:>12}]", total.len())));
}

#[test]
fn merge_sums_runs_that_went_on_at_the_same_time() {
    let (_server, port) = server(&[]);
    let dir = out_dir();
    let paths: Vec<String> = (0..2)
        .map(|i| {
            dir.path()
                .join(format!("m{i}.hlog"))
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let runs: Vec<_> = paths
        .iter()
        .map(|p| {
            let mut cmd = echokit();
            cmd.args([
                "bench", "-p", &port, "-c", "2", "-d", "1", "--warmup", "0", "--json", "--hlog", p,
            ])
            .stdout(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let summaries: Vec<Value> = runs
        .into_iter()
        .map(|r| serde_json::from_slice(&r.wait_with_output().unwrap().stdout).unwrap())
        .collect();
    let output = bench(&["merge", &paths[0], &paths[1], "--json"]);
    let merged = json(&output, 0);
    let sum = |key: &str| {
        summaries
            .iter()
            .map(|s| s[key].as_f64().unwrap())
            .sum::<f64>()
    };
    assert_eq!(merged["round_trips"].as_f64().unwrap(), sum("round_trips"));
    assert!(
        (merged["rt_per_s"].as_f64().unwrap() - sum("rt_per_s")).abs() < sum("rt_per_s") * 0.01
    );
    assert_eq!(merged["conns"], 4);
    assert_eq!(merged["mode"], "pingpong");
    assert_eq!(merged["errors"], 0);
    let max = summaries
        .iter()
        .map(|s| s["latency_us"]["max"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!((merged["latency_us"]["max"].as_f64().unwrap() - max).abs() <= max * 0.002 + 1.0);
    // A file that is not a log, or a damaged one: exit 2, one line naming it, nothing on
    // stdout.
    let log = std::fs::read_to_string(&paths[0]).unwrap();
    let interval = log.lines().find(|l| l.contains(",HIST")).unwrap();
    let comma = interval.rfind(',').unwrap();
    let bad = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let bads = [
        bad("bad.hlog", "hello\n"),
        bad("empty.hlog", ""),
        // Cut inside the histogram's base64, and the histogram's deflate stream cut short.
        bad("cut.hlog", &log[..log.find(interval).unwrap() + comma + 12]),
        bad("short.hlog", &format!("{}\n", &interval[..comma + 33])),
        bad("base64.hlog", &format!("{}!!!!\n", &interval[..comma + 1])),
        bad("cookie.hlog", &format!("{}AAAA\n", &interval[..comma + 1])),
    ];
    let dir_arg = dir.path().to_str().unwrap().to_string();
    let mut cases: Vec<Vec<&str>> = bads.iter().map(|p| vec!["merge", p.as_str()]).collect();
    cases.extend([
        vec!["merge", "/nonexistent.hlog"],
        vec!["merge", dir_arg.as_str()],
        vec!["merge"],
    ]);
    for args in cases {
        let output = bench(&args);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn fail_if_gates_after_the_summary_and_bad_conditions_exit_2_before_any_load() {
    let (_server, port) = server(&[]);
    let mut args = vec![
        "-p",
        &port,
        "-c",
        "2",
        "--json",
        "--fail-if",
        "p50>0us",
        "--fail-if",
        "errors>0",
    ];
    args.extend(SHORT);
    let output = bench(&args);
    let summary = json(&output, 1);
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let p50 = summary["latency_us"]["p50"].as_f64().unwrap();
    let shown: f64 = err
        .trim()
        .strip_prefix("echokit bench: p50 ")
        .and_then(|rest| rest.strip_suffix(" us > 0 us"))
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!((shown - p50).abs() <= 0.05, "{err} vs {p50}");
    let mut args = vec![
        "-p",
        &port,
        "-c",
        "2",
        "--json",
        "--fail-if",
        "p99>1s",
        "--fail-if",
        "rt_per_s<1",
    ];
    args.extend(SHORT);
    json(&bench(&args), 0);
    // A listener that counts connections: none may come for a bad condition.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let quiet = listener.local_addr().unwrap().port().to_string();
    for cond in [
        &["--fail-if", "p99>2"][..],
        &["--fail-if", "speed>1"],
        &["--fail-if", "p99"],
        &["--mode", "stream", "--fail-if", "p99>1ms"],
        &["--fail-if", "mb_per_s<1"],
        &["--fail-if", "lost>0"],
        &["--threads", "0"],
        &["--threads", "many"],
        &["--json", "--json-stream"],
        &["--hlog", "/nonexistent-dir/x.hlog"],
    ] {
        let mut args = vec!["-p", &quiet];
        args.extend_from_slice(cond);
        let output = bench(&args);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{cond:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{cond:?}: {err}");
        assert!(err.starts_with("echokit bench: error: "), "{cond:?}: {err}");
    }
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "a connection came");
}

#[test]
fn threads_share_the_connections_and_merge_the_histograms() {
    let (_server, port) = server(&[]);
    for (mode, threads) in [
        ("pingpong", "2"),
        ("pingpong", "auto"),
        ("stream", "2"),
        ("connect", "2"),
    ] {
        let mut args = vec![
            "-p",
            &port,
            "--mode",
            mode,
            "-c",
            "4",
            "--threads",
            threads,
            "--json",
        ];
        args.extend(SHORT);
        let summary = json(&bench(&args), 0);
        let expected = if threads == "auto" {
            thread::available_parallelism().unwrap().get().min(4) as u64
        } else {
            2
        };
        assert_eq!(summary["threads"], expected, "{summary}");
        assert_eq!(summary["conns"], 4);
        if mode == "stream" {
            assert!(summary["mb_per_s"].as_f64().unwrap() > 1.0, "{summary}");
        } else {
            assert!(summary["round_trips"].as_u64().unwrap() > 10, "{summary}");
        }
    }
    // The open loop's rate is shared out: still the rate asked for.
    let args = [
        "-p",
        &port,
        "-c",
        "4",
        "--threads",
        "2",
        "--rate",
        "2000",
        "-d",
        "0.5",
        "--warmup",
        "0.1",
        "--json",
    ];
    let summary = json(&bench(&args), 0);
    assert_eq!(summary["threads"], 2, "{summary}");
    // The rate only where timers are prompt: under Wine they wake tens of ms late (CI saw
    // 1,014/s of 2,000 with two threads).
    if cfg!(unix) {
        let rate = summary["rt_per_s"].as_f64().unwrap();
        assert!((1800.0..=2200.0).contains(&rate), "{summary}");
    }
}

#[test]
fn connect_mode_counts_connections_a_second() {
    let (_server, port) = server(&[]);
    let mut args = vec![
        "-p",
        &port,
        "--mode",
        "connect",
        "-c",
        "3",
        "--json",
        "--fail-if",
        "connect_per_s<1",
    ];
    args.extend(SHORT);
    let summary = json(&bench(&args), 0);
    assert_shape(&summary, &["mb_per_s", "held", "failed", "lost"]);
    assert!(
        summary["connect_per_s"].as_f64().unwrap() > 10.0,
        "{summary}"
    );
    assert_eq!(summary["connect_per_s"], summary["rt_per_s"]);
    assert!(summary["connect_latency_us"]["p50"].as_f64().unwrap() > 0.0);
    // A server that echoes the wrong bytes is caught in this mode too.
    let port = fake(|stream, _| echo_changed(stream, |buf, _| buf[0] ^= 1));
    let mut args = vec!["-p", &port, "--mode", "connect", "-c", "1", "--json"];
    args.extend(SHORT);
    let summary = assert_failed(&bench(&args), "differs");
    assert!(summary["mismatches"].as_u64().unwrap() > 0);
    let port = closed_port();
    let output = bench(&["-p", &port, "--mode", "connect", "-d", "0.2"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

/// Every message the fake server below received, as lines.
static SEEN: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

#[test]
fn no_two_messages_of_a_run_are_equal() {
    let port = fake(|mut stream, _| {
        let mut buf = [0u8; 64];
        while stream.read_exact(&mut buf).is_ok() {
            SEEN.lock().unwrap().push(buf.to_vec());
            if stream.write_all(&buf).is_err() {
                return;
            }
        }
    });
    let mut args = vec!["-p", &port, "-c", "4", "--size", "64", "--json"];
    args.extend(SHORT);
    let summary = json(&bench(&args), 0);
    assert!(summary["round_trips"].as_u64().unwrap() > 100);
    let seen = SEEN.lock().unwrap();
    let distinct: std::collections::HashSet<&Vec<u8>> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len());
    assert!(seen.iter().all(|m| m.last() == Some(&b'\n')));
}

/// Chromium, if this machine has it (CI installs it; Windows runs do not look for it).
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        cfg!(unix)
            && Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_report_is_one_offline_page_a_real_browser_renders() {
    let (_server, port) = server(&[]);
    let dir = out_dir();
    let page = dir.path().join("report.html");
    let mut args = vec![
        "-p",
        &port,
        "-c",
        "2",
        "-d",
        "2",
        "--warmup",
        "0",
        "--report",
        page.to_str().unwrap(),
    ];
    args.push("--json");
    json(&bench(&args), 0);
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing is fetched from anywhere: no script, no link, no external source.
    for needle in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(needle), "{needle} in the report");
    }
    assert_eq!(html.matches("<svg").count(), 3);
    if !cfg!(unix) {
        return;
    }
    let browser = chromium().expect("chromium (Debian's package) for the report test");
    let profile = dir.path().join("profile");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ];
    let url = format!("file://{}", page.display());
    let dom = Command::new(browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = text(&dom.stdout);
    for needle in [
        "Latency over time",
        "Throughput over time",
        "Latency by percentile",
        "polyline",
        "id=\"summary\"",
        "bench -p",
    ] {
        assert!(
            dom.contains(needle),
            "{needle} not in the rendered page: {dom}"
        );
    }
    let shot = dir.path().join("report.png");
    let status = Command::new(browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=900,1500", &url])
        .output()
        .unwrap();
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        text(&status.stderr)
    );
}

#[test]
fn a_run_that_fails_leaves_no_output_file() {
    let dir = out_dir();
    let files: Vec<String> = ["a.hlog", "a.hgrm", "a.html"]
        .iter()
        .map(|f| dir.path().join(f).to_str().unwrap().to_string())
        .collect();
    let port = closed_port();
    let output = bench(&[
        "-p", &port, "-d", "0.2", "--hlog", &files[0], "--hgrm", &files[1], "--report", &files[2],
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_hold_run_logs_its_probes_as_one_interval() {
    let (_server, port) = server(&[]);
    let dir = out_dir();
    let hlog = dir.path().join("hold.hlog");
    let hlog = hlog.to_str().unwrap();
    let args = [
        "-p", &port, "--mode", "hold", "-c", "5", "-d", "0.3", "--hlog", hlog, "--json",
    ];
    json(&bench(&args), 0);
    let merged = json(&bench(&["merge", hlog, "--json"]), 0);
    assert_eq!(
        (merged["held"].as_u64(), merged["failed"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(merged["mode"], "hold");
    assert!(
        merged["latency_us"]["max"].as_f64().unwrap() > 0.0,
        "{merged}"
    );
}
