//! `echokit archive` over rotated logs (PRODUCT.md "archive"): several `-i` inputs read in
//! order as one log, gzip-compressed ones detected by content, errors naming the input.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;

const BIN: &str = env!("CARGO_BIN_EXE_echokit");

fn archive(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("archive")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run echokit archive")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `n` echo records from `first` on, one second apart in the minutes of `minute`.
fn log(minute: u32, first: usize, n: usize) -> Vec<u8> {
    (first..first + n)
        .map(|i| {
            format!(
                "{{\"ts\":\"2026-11-23T10:{minute:02}:{:02}.000Z\",\"level\":\"INFO\",\"event\":\"echo\",\"conn\":1,\"peer\":\"127.0.0.1:5\",\"msg\":\"message {i}\"}}\n",
                i % 60
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn rotated_logs_plain_and_gzip_are_read_in_order_as_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (log(1, 0, 30_000), log(2, 30_000, 5), log(3, 30_005, 7));
    // logrotate's names: the oldest compressed, the previous one not yet (delaycompress).
    fs::write(dir.path().join("app.log.2.gz"), gzip(&a)).unwrap();
    fs::write(dir.path().join("app.log.1"), &b).unwrap();
    fs::write(dir.path().join("app.log"), &c).unwrap();
    let args = ["-i", "app.log.2.gz", "-i", "app.log.1", "-i", "app.log"];
    let out = archive(dir.path(), &[&args[..], &["-j", "-o", "-"]].concat());
    assert_exit(&out, 0);
    assert_eq!(
        out.stdout,
        [a, b, c].concat(),
        "JSON output is the logs, in order"
    );
    assert!(stderr(&out).contains("30012 records"), "{}", stderr(&out));
    // CSV to a file named after the first record of the first input.
    let out = archive(dir.path(), &[&args[..], &["-o", "all.csv"]].concat());
    assert_exit(&out, 0);
    let csv = fs::read_to_string(dir.path().join("all.2026-11-23T10-01-00.000Z.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 30_012);
    assert!(csv.lines().last().unwrap().contains("message 30011"));
}

#[test]
fn a_gzip_name_holding_plain_text_and_a_plain_name_holding_gzip_both_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("plain.gz"), log(1, 0, 3)).unwrap();
    fs::write(dir.path().join("packed.log"), gzip(&log(2, 3, 3))).unwrap();
    let out = archive(
        dir.path(),
        &["-i", "plain.gz", "-i", "packed.log", "-j", "-o", "-"],
    );
    assert_exit(&out, 0);
    assert_eq!(out.stdout, [log(1, 0, 3), log(2, 3, 3)].concat());
}

#[test]
fn a_malformed_line_names_its_input_and_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.log.2.gz"), gzip(&log(1, 0, 100))).unwrap();
    let mut bad = log(2, 100, 16);
    bad.extend(b"not a record\n");
    bad.extend(log(2, 116, 3));
    fs::write(dir.path().join("app.log.1"), gzip(&bad)).unwrap();
    fs::write(dir.path().join("app.log"), log(3, 200, 3)).unwrap();
    let out = archive(
        dir.path(),
        &[
            "-i",
            "app.log.2.gz",
            "-i",
            "app.log.1",
            "-i",
            "app.log",
            "-o",
            "x.csv",
        ],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("app.log.1:17: not a log record"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(names(dir.path()), ["app.log", "app.log.1", "app.log.2.gz"]);
}

#[test]
fn a_torn_last_line_of_any_input_is_a_warning_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut torn = log(1, 0, 4);
    torn.extend(b"{\"ts\":\"2026-11-23T10:15:02.123Z\",\"lev");
    fs::write(dir.path().join("old.log"), &torn).unwrap();
    fs::write(dir.path().join("new.log"), log(2, 4, 2)).unwrap();
    let out = archive(
        dir.path(),
        &["-i", "old.log", "-i", "new.log", "-j", "-o", "-"],
    );
    assert_exit(&out, 0);
    assert_eq!(out.stdout, [log(1, 0, 4), log(2, 4, 2)].concat());
    let err = stderr(&out);
    assert!(err.contains("warning: old.log:5:"), "{err}");
    assert!(err.contains("torn"), "{err}");
}

#[test]
fn truncated_gzip_is_a_clear_error_and_no_archive_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let packed = gzip(&log(1, 0, 50_000));
    fs::write(
        dir.path().join("app.log.1.gz"),
        &packed[..packed.len() * 2 / 3],
    )
    .unwrap();
    fs::write(dir.path().join("app.log"), log(2, 0, 3)).unwrap();
    let out = archive(
        dir.path(),
        &["-i", "app.log.1.gz", "-i", "app.log", "-o", "out.csv"],
    );
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("app.log.1.gz"), "{err}");
    assert!(err.contains("gzip data is truncated"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(names(dir.path()), ["app.log", "app.log.1.gz"]);
}

#[test]
fn a_missing_input_fails_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.log"), log(1, 0, 3)).unwrap();
    let out = archive(
        dir.path(),
        &["-i", "app.log", "-i", "app.log.9", "-j", "-o", "-"],
    );
    assert_exit(&out, 2);
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("cannot read app.log.9"), "{err}");
}
