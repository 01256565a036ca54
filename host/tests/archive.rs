//! `echokit archive` end to end: the built binary on real files, as a user runs it.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use echo_core::record::{Event, Proto, Reason, Record, TotalFields};
use echo_core::time::Timestamp;

const BIN: &str = env!("CARGO_BIN_EXE_echokit");

/// Runs `echokit archive ARGS` in `dir` with `stdin` as input.
fn archive(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .arg("archive")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echokit");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // The archiver may stop reading early (an error); that is not a test failure.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait echokit");
    feeder.join().expect("feeder");
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stderr: {}",
        stderr(out)
    );
}

/// The names in `dir`, sorted (hidden temporary files included).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text.as_bytes()).unwrap()
}

/// One log line, as echo-core formats it (the server's own formatter).
fn line(r: &Record<'_>) -> Vec<u8> {
    let mut buf = vec![0; r.max_formatted_len()];
    let n = r.format(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn echo<'a>(at: &str, conn: u64, msg: &'a [u8]) -> Record<'a> {
    Record {
        conn: Some(conn),
        peer: Some("127.0.0.1:50512"),
        msg: Some(msg),
        ..Record::event(ts(at), Event::Echo)
    }
}

/// Messages that break naive CSV and JSON handling.
const AWKWARD: [&[u8]; 7] = [
    b"Hi There",
    b"a,b,c",
    b"say \"hi\"",
    b"two\nlines\r\nand a tab\t",
    b"\xff\xfe binary \x00\x01",
    b"\"level\":\"ERROR\"",
    b"",
];

/// A log of a session: listening, connected, an echo per awkward message, closed, shutdown.
fn session_log() -> Vec<u8> {
    let mut log = Vec::new();
    log.extend(line(&Record {
        addr: Some("127.0.0.1:7777"),
        proto: Some(Proto::Tcp),
        ..Record::event(ts("2026-11-23T10:15:02.123Z"), Event::Listening)
    }));
    for (i, m) in AWKWARD.iter().enumerate() {
        log.extend(line(&echo(&format!("2026-11-23T10:15:03.{i:03}Z"), 1, m)));
    }
    log.extend(line(&Record {
        conn: Some(1),
        peer: Some("127.0.0.1:50512"),
        reason: Some(Reason::Eof),
        bytes_in: Some(77),
        bytes_out: Some(77),
        ..Record::event(ts("2026-11-23T10:15:04.000Z"), Event::Closed)
    }));
    log.extend(line(&Record {
        bytes_in: Some(77),
        bytes_out: Some(77),
        totals: TotalFields {
            conns: Some(1),
            echoes: Some(7),
            ..TotalFields::NONE
        },
        ..Record::event(ts("2026-11-23T10:15:05.000Z"), Event::Shutdown)
    }));
    log
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r.records().map(Result::unwrap).collect();
    (header, rows)
}

#[test]
fn csv_keeps_awkward_messages_exact() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("echo-server.log"), session_log()).unwrap();
    let out = archive(dir.path(), &["-a", "false"], b"");
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("wrote 10 records to archive.csv"),
        "{}",
        stderr(&out)
    );
    let (header, rows) = read_csv(&dir.path().join("archive.csv"));
    assert_eq!(
        header[..6],
        ["ts", "level", "event", "peer", "msg", "msg_hex"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(&rows[0][col("event")], "listening");
    assert_eq!(&rows[0][col("addr")], "127.0.0.1:7777");
    assert_eq!(&rows[0][col("proto")], "tcp");
    for (row, m) in rows[1..8].iter().zip(AWKWARD) {
        assert_eq!(&row[col("ts")][..20], "2026-11-23T10:15:03.");
        assert_eq!(&row[col("level")], "INFO");
        assert_eq!(&row[col("event")], "echo");
        assert_eq!(&row[col("peer")], "127.0.0.1:50512");
        assert_eq!(&row[col("conn")], "1");
        match std::str::from_utf8(m) {
            Ok(text) => {
                assert_eq!(&row[col("msg")], text);
                assert_eq!(&row[col("msg_hex")], "");
            }
            Err(_) => {
                assert_eq!(&row[col("msg")], "");
                assert_eq!(&row[col("msg_hex")], hex(m));
            }
        }
    }
    assert_eq!(&rows[8][col("reason")], "eof");
    assert_eq!(&rows[8][col("bytes_in")], "77");
    assert_eq!(&rows[9][col("event")], "shutdown");
    assert_eq!(&rows[9][col("bytes_out")], "77");
    assert_eq!(&rows[9][col("conns")], "1");
    assert_eq!(&rows[9][col("echoes")], "7");
    // Totals the record does not hold stay empty; so does `extra`.
    assert_eq!(&rows[9][col("rejected")], "");
    assert_eq!(&rows[9][col("extra")], "");
    assert_eq!(names(dir.path()), ["archive.csv", "echo-server.log"]);
}

/// The CSV header: the five fixed columns, every other defined field, `extra` last.
#[test]
fn csv_has_a_column_for_every_defined_field_and_extra_last() {
    let dir = tempfile::tempdir().unwrap();
    let out = archive(dir.path(), &["-i", "-", "-o", "-", "-a", "false"], b"");
    assert_exit(&out, 0);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ts,level,event,peer,msg,msg_hex,conn,proto,addr,partial,reason,bytes_in,bytes_out,\
         conns,rejected,echoes,refused_port,refused_rate,refused_busy,console_dropped,extra\n"
    );
}

/// The issue's case: a `shutdown` holding only `conns`, and a field the format does not
/// define. Nothing is invented (no other total), nothing is dropped (`extra`), in JSON and
/// CSV alike; field order, spelling and unknown values survive JSON output as read.
#[test]
fn nothing_is_invented_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let log = concat!(
        r#"{"ts":"2026-11-23T10:15:05.000Z","level":"INFO","event":"shutdown","conns":3,"extra":1}"#,
        "\n",
        r#"{"event":"echo", "msg":"caf\u00e9","ts":"2026-11-23T10:15:05.001Z","site":{"rack":[1,2.5,null]},"level":"INFO","partial":false,"x":"a,\"b\""}"#,
        "\n",
    );
    let out = archive(dir.path(), &["-i", "-", "-o", "-", "-j"], log.as_bytes());
    assert_exit(&out, 0);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), log);

    let out = archive(dir.path(), &["-i", "-", "-o", "-"], log.as_bytes());
    assert_exit(&out, 0);
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("conns")], "3");
    for total in [
        "rejected",
        "echoes",
        "refused_port",
        "console_dropped",
        "bytes_in",
    ] {
        assert_eq!(&rows[0][col(total)], "", "{total} was never logged");
    }
    assert_eq!(&rows[0][col("extra")], r#"{"extra":1}"#);
    assert_eq!(&rows[1][col("msg")], "caf\u{e9}");
    assert_eq!(&rows[1][col("partial")], "false");
    assert_eq!(
        &rows[1][col("extra")],
        r#"{"site":{"rack":[1,2.5,null]},"x":"a,\"b\""}"#
    );
}

#[test]
fn json_output_is_the_log_itself() {
    let dir = tempfile::tempdir().unwrap();
    let log = session_log();
    fs::write(dir.path().join("in.log"), &log).unwrap();
    let out = archive(
        dir.path(),
        &["-i", "in.log", "-o", "out.jsonl", "-j", "-a", "false"],
        b"",
    );
    assert_exit(&out, 0);
    let written = fs::read(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(written, log);
    // And the binary message's hex is the bytes, read back independently.
    let text = String::from_utf8(written).unwrap();
    let binary: serde_json::Value = serde_json::from_str(text.lines().nth(5).unwrap()).unwrap();
    assert_eq!(binary["msg_hex"], hex(AWKWARD[4]));
}

const LEGACY: &str = "\
2023-05-01T12:00:00.001::INFO::root::EchoServer Listening on localhost:5555
2023-05-01T12:00:01.002::INFO::root::Client[('127.0.0.1', 5555)] Echo: hello
2023-05-01T12:00:02.003::INFO::root::Client[('127.0.0.1', 5555)] Echo: a::b, \"c\"
2023-05-01T12:00:03.004::INFO::root::Client[('127.0.0.1', 5555)] Echo: first
second line

2023-05-01T12:00:04.005::WARNING::root::Client[('::1', 6000, 0, 0)] Echo: v6
2023-05-01T12:00:05.006::INFO::root::Client[('127.0.0.1', 5555)] Echo: 
2023-05-01T12:00:06.007::CRITICAL::root::something else
";

#[test]
fn legacy_lines_become_records() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("old.log"), LEGACY).unwrap();
    let out = archive(dir.path(), &["--input_file", "old.log", "-j", "True"], b"");
    assert_exit(&out, 0);
    // The legacy time has no zone and is kept as written, in the name too.
    let path = dir.path().join("archive.2023-05-01T12-00-00.001.csv");
    assert!(
        stderr(&out).contains("archive.2023-05-01T12-00-00.001.csv"),
        "{}",
        stderr(&out)
    );
    let text = fs::read_to_string(path).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 7);
    assert_eq!(recs[0]["event"], "listening");
    assert_eq!(recs[0]["addr"], "localhost:5555");
    assert_eq!(recs[0]["ts"], "2023-05-01T12:00:00.001");
    assert_eq!(recs[1]["event"], "echo");
    assert_eq!(recs[1]["peer"], "127.0.0.1:5555");
    assert_eq!(recs[1]["msg"], "hello");
    assert_eq!(recs[2]["msg"], "a::b, \"c\"");
    assert_eq!(recs[3]["msg"], "first\nsecond line\n");
    assert_eq!(recs[4]["peer"], "[::1]:6000");
    assert_eq!(recs[4]["level"], "WARN");
    assert_eq!(recs[5]["event"], "closed");
    assert_eq!(recs[5].get("msg"), None);
    assert_eq!(recs[6]["event"], "log");
    assert_eq!(recs[6]["level"], "ERROR");
    assert_eq!(recs[6]["msg"], "something else");
}

#[test]
fn legacy_and_json_lines_mix_in_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LEGACY.as_bytes().to_vec();
    log.extend(session_log());
    log.extend(b"2023-05-01T12:00:07.000::INFO::root::Client[('127.0.0.1', 1)] Echo: x\n");
    let out = archive(dir.path(), &["-i", "-", "-o", "-", "-a", "false"], &log);
    assert_exit(&out, 0);
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 7 + 10 + 1);
    assert_eq!(&rows[6][2], "log");
    assert_eq!(&rows[6][4], "something else");
    assert_eq!(&rows[7][2], "listening");
    assert_eq!(&rows[17][4], "x");
    assert!(stderr(&out).contains("wrote 18 records to stdout"));
    assert!(names(dir.path()).is_empty());
}

#[test]
fn timestamped_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("echo-server.log"), session_log()).unwrap();
    fs::create_dir(dir.path().join("out.d")).unwrap();
    let stamp = "2026-11-23T10-15-02.123Z";
    for (output, expect) in [
        (None, format!("archive.{stamp}.csv")),
        (Some("noext"), format!("noext.{stamp}")),
        (Some("a.b.c.csv"), format!("a.b.c.{stamp}.csv")),
        (Some("out.d/archive"), format!("out.d/archive.{stamp}")),
    ] {
        let mut args = vec![];
        if let Some(o) = output {
            args.extend(["-o", o]);
        }
        let out = archive(dir.path(), &args, b"");
        assert_exit(&out, 0);
        assert!(
            dir.path().join(&expect).is_file(),
            "{expect}: {:?}",
            names(dir.path())
        );
        assert!(stderr(&out).contains(&expect), "{}", stderr(&out));
    }
    // `--add_timestamp False` (and the other seed spellings) turn it off.
    let out = archive(
        dir.path(),
        &["--add_timestamp", "False", "-o", "plain.csv"],
        b"",
    );
    assert_exit(&out, 0);
    assert!(dir.path().join("plain.csv").is_file());
    let out = archive(dir.path(), &["-a", "0", "--output_file", "plain2"], b"");
    assert_exit(&out, 0);
    assert!(dir.path().join("plain2").is_file());
}

#[test]
fn boolean_flags_take_the_seed_spellings() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("echo-server.log"), session_log()).unwrap();
    // Bare `-j` and `-j True` both mean JSON.
    for (args, file) in [
        (vec!["-j", "-a", "False", "-o", "a.jsonl"], "a.jsonl"),
        (
            vec!["-j", "True", "-a", "false", "-o", "b.jsonl"],
            "b.jsonl",
        ),
        (
            vec!["--json", "yes", "--add-timestamp", "no", "-o", "c"],
            "c",
        ),
        (vec!["-j", "false", "-a", "False", "-o", "d.csv"], "d.csv"),
    ] {
        let out = archive(dir.path(), &args, b"");
        assert_exit(&out, 0);
        let text = fs::read_to_string(dir.path().join(file)).unwrap();
        let is_json = text.starts_with('{');
        assert_eq!(is_json, file != "d.csv", "{args:?}");
    }
    let out = archive(dir.path(), &["-j", "maybe"], b"");
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("maybe"), "{}", stderr(&out));
}

#[test]
fn print_messages_json_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("echo-server.log"), session_log()).unwrap();
    for flags in [&["-p"][..], &["--print_messages_json", "True"][..]] {
        let out = archive(dir.path(), flags, b"");
        assert_exit(&out, 0);
        let text = String::from_utf8(out.stdout).unwrap();
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(values.len(), AWKWARD.len(), "one per echo record");
        for (v, m) in values.iter().zip(AWKWARD) {
            match std::str::from_utf8(m) {
                Ok(t) => assert_eq!(v, &serde_json::Value::from(t)),
                Err(_) => assert_eq!(v["msg_hex"], hex(m)),
            }
        }
        assert_eq!(names(dir.path()), ["echo-server.log"]);
    }
}

#[test]
fn an_existing_archive_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("echo-server.log"), session_log()).unwrap();
    let stamped = "archive.2026-11-23T10-15-02.123Z.csv";
    fs::write(dir.path().join(stamped), "precious").unwrap();
    fs::write(dir.path().join("plain.csv"), "precious").unwrap();
    for args in [&[][..], &["-a", "false", "-o", "plain.csv"][..]] {
        let out = archive(dir.path(), args, b"");
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
        assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    }
    assert_eq!(
        fs::read_to_string(dir.path().join(stamped)).unwrap(),
        "precious"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("plain.csv")).unwrap(),
        "precious"
    );
    assert_eq!(
        names(dir.path()),
        [stamped, "echo-server.log", "plain.csv"],
        "no temporary file left"
    );
    let out = archive(dir.path(), &["--force"], b"");
    assert_exit(&out, 0);
    let text = fs::read_to_string(dir.path().join(stamped)).unwrap();
    assert!(text.starts_with("ts,level,event,peer,msg,msg_hex"));
}

/// A log of `n` echo records (more than one 512 KiB chunk when `n` is large).
fn many(n: usize) -> Vec<u8> {
    let mut log = Vec::new();
    for i in 0..n {
        let msg = format!("message {i}, \"quoted\"");
        log.extend(line(&echo(
            "2026-11-23T10:15:02.123Z",
            i as u64,
            msg.as_bytes(),
        )));
    }
    log
}

#[test]
fn a_malformed_line_fails_naming_file_and_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The bad line sits far into the log, after several chunks.
    let mut log = many(20_000);
    log.extend(b"{\"ts\":\"2026-11-23T10:15:02.123Z\",\"level\":\"LOUD\",\"event\":\"echo\"}\n");
    log.extend(many(10));
    fs::write(dir.path().join("echo-server.log"), &log).unwrap();
    fs::write(dir.path().join("keep.csv"), "precious").unwrap();
    let out = archive(dir.path(), &["-o", "keep.csv", "--force", "-a", "0"], b"");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("echo-server.log:20001: unknown `level`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        fs::read_to_string(dir.path().join("keep.csv")).unwrap(),
        "precious"
    );
    let out = archive(dir.path(), &[], b"");
    assert_exit(&out, 1);
    assert_eq!(names(dir.path()), ["echo-server.log", "keep.csv"]);

    // A line that is neither JSON nor legacy, in stdin.
    let out = archive(dir.path(), &["-i", "-", "-o", "x.csv"], b"hello\n");
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("<stdin>:1: not a log record"),
        "{}",
        stderr(&out)
    );
    assert_eq!(names(dir.path()), ["echo-server.log", "keep.csv"]);
}

#[test]
fn skip_invalid_goes_on_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = many(3);
    log.extend(b"garbage\n{\"ts\":1}\n");
    log.extend(many(2));
    let out = archive(
        dir.path(),
        &["-i", "-", "-o", "-", "--skip-invalid", "-j"],
        &log,
    );
    assert_exit(&out, 0);
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 5);
    let err = stderr(&out);
    assert!(err.contains("skipped 2 invalid lines"), "{err}");
    assert!(err.contains("<stdin>:4:"), "{err}");
}

#[test]
fn a_torn_last_line_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = many(3);
    log.extend(b"{\"ts\":\"2026-11-23T10:15:02.123Z\",\"level\":\"IN");
    fs::write(dir.path().join("echo-server.log"), &log).unwrap();
    let out = archive(dir.path(), &["-a", "false"], b"");
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("warning: echo-server.log:4:"), "{err}");
    assert!(err.contains("torn"), "{err}");
    assert!(err.contains("wrote 3 records"), "{err}");
    // The same bytes followed by a newline are a malformed line, not a torn one.
    log.push(b'\n');
    fs::write(dir.path().join("echo-server.log"), &log).unwrap();
    let out = archive(dir.path(), &["-a", "false", "-o", "b.csv"], b"");
    assert_exit(&out, 1);
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = archive(dir.path(), &[], b"");
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("echo-server.log"), "{}", stderr(&out));
    fs::write(dir.path().join("echo-server.log"), session_log()).unwrap();
    let out = archive(dir.path(), &["-o", "no/such/dir/a.csv"], b"");
    assert_exit(&out, 2);
    let out = archive(dir.path(), &["-i", "."], b"");
    assert_exit(&out, 2);
    let out = archive(dir.path(), &["--no-such-flag"], b"");
    assert_exit(&out, 2);
    assert_eq!(names(dir.path()), ["echo-server.log"]);
}

#[test]
fn empty_input_writes_a_header_only_archive_without_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let out = archive(dir.path(), &["-i", "-"], b"");
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("no records"), "{}", stderr(&out));
    let text = fs::read_to_string(dir.path().join("archive.csv")).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("ts,level,event,peer,msg,msg_hex,"));
}

#[test]
fn long_legacy_records_and_many_chunks_keep_order_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    let mut expect = Vec::new();
    for i in 0..30_000 {
        let continued = if i % 7_000 == 0 {
            // Continuation lines enough to cross a chunk boundary.
            "\ncontinued".repeat(60_000)
        } else {
            String::new()
        };
        let msg = format!("m{i}{continued}");
        log.extend(
            format!(
                "2023-05-01T12:00:00.000::INFO::root::Client[('10.0.0.1', {})] Echo: {msg}\n",
                i % 60_000
            )
            .as_bytes(),
        );
        expect.push(msg);
    }
    let path = dir.path().join("big.log");
    fs::write(&path, &log).unwrap();
    let out = archive(dir.path(), &["-i", "big.log", "-p"], b"");
    assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<String>(l).unwrap())
        .collect();
    assert_eq!(got.len(), expect.len());
    assert!(got == expect, "messages differ");
}

#[test]
#[cfg(unix)]
fn sigterm_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("archive.csv"), "precious").unwrap();
    let mut child = ChildGuard(
        Command::new(BIN)
            .args(["archive", "-i", "-", "-a", "false", "--force"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(&many(100)).unwrap();
    // Wait for the temporary file, so the archiver is mid-way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while names(dir.path()).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no temporary file");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = libc::pid_t::try_from(child.0.id()).unwrap();
    // Safety: a plain kill(2) of our own child, which has not been reaped yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    drop(stdin);
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{err}");
    assert_eq!(names(dir.path()), ["archive.csv"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("archive.csv")).unwrap(),
        "precious"
    );
}

#[test]
fn a_real_server_log_archives_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        common::Server::start_in(Some(dir.path()), &["-m", "file", "-f", "server.log"]);
    let sent: [&[u8]; 5] = [
        b"Hi There",
        b"a,b,\"c\"",
        b"\xff\xfebinary\x00",
        b"{\"level\":\"ERROR\"}",
        b"last, no newline",
    ];
    let mut c = std::net::TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    for (i, m) in sent.iter().enumerate() {
        let mut data = m.to_vec();
        if i + 1 < sent.len() {
            data.push(b'\n');
        }
        c.write_all(&data).unwrap();
        let mut back = vec![0; data.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, data);
    }
    drop(c);
    let (code, _) = server.terminate(std::time::Duration::from_secs(2));
    common::assert_clean_exit(code);

    let out = archive(
        dir.path(),
        &["-i", "server.log", "-o", "a.csv", "-a", "false"],
        b"",
    );
    assert_exit(&out, 0);
    let (header, rows) = read_csv(&dir.path().join("a.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("event")], "listening");
    assert_eq!(&rows[0][col("addr")], server.addr.to_string());
    if common::GRACEFUL_STOP {
        assert_eq!(&rows.last().unwrap()[col("event")], "shutdown");
    }
    let echoes: Vec<&csv::StringRecord> =
        rows.iter().filter(|r| &r[col("event")] == "echo").collect();
    assert_eq!(echoes.len(), sent.len());
    for (row, m) in echoes.iter().zip(sent) {
        match std::str::from_utf8(m) {
            Ok(text) => assert_eq!(&row[col("msg")], text),
            Err(_) => assert_eq!(&row[col("msg_hex")], hex(m)),
        }
    }
    assert_eq!(&echoes[4][col("partial")], "true");
    if common::GRACEFUL_STOP {
        let shutdown = rows.last().unwrap();
        assert_eq!(&shutdown[col("conns")], "1");
        assert_eq!(&shutdown[col("echoes")], "5");
        assert_eq!(&shutdown[col("rejected")], "0");
    }

    // JSON Lines out is the log itself, line for line.
    let out = archive(
        dir.path(),
        &["-i", "server.log", "-o", "a.jsonl", "-a", "false", "-j"],
        b"",
    );
    assert_exit(&out, 0);
    assert_eq!(
        fs::read(dir.path().join("a.jsonl")).unwrap(),
        fs::read(dir.path().join("server.log")).unwrap()
    );
}

#[test]
#[cfg(unix)]
fn a_progress_bar_shows_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let (master, slave) = common::openpty();
    let mut child = ChildGuard(
        Command::new(BIN)
            .args(["archive", "-i", "-", "-o", "out.csv", "-a", "false"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap(),
    );
    // Everything the terminal shows, read as it comes (the pty buffer is small).
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        // Reading ends with EIO once the child has exited.
        let _ = std::fs::File::from(master).read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    // A slow producer: the run takes about two seconds.
    let mut stdin = child.0.stdin.take().unwrap();
    let part = many(2_000);
    for _ in 0..10 {
        stdin.write_all(&part).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(stdin);
    let status = child.0.wait().unwrap();
    drop(child);
    let shown = reader.join().unwrap();
    assert!(status.success(), "{shown}");
    assert!(shown.contains("iB/s"), "no progress bar: {shown:?}");
    assert!(
        shown.contains("wrote 20000 records to out.csv"),
        "{shown:?}"
    );
    // Not a terminal: no bar, only the result line.
    let out = archive(dir.path(), &["-i", "-", "-o", "-"], &part);
    assert_exit(&out, 0);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("echo-server.log"), many(50_000)).unwrap();
    let mut child = ChildGuard(
        Command::new(BIN)
            .args(["archive", "-o", "-"])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Like `| head -1`: read the header, then close the pipe.
    let mut first = [0u8; 3];
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b"ts,");
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "");
}

/// Kills and reaps a child process if a test fails before it exits.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Both are no-ops once the child has been waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
