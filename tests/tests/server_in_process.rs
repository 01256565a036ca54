//! The std server driven in-process through host's library API, on 127.0.0.1 port 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use echo_core::echo;
use echo_core::record::{Event, Record};
use echokit_tests::run_server;
use host::server::config::Config;

fn config(log: &std::path::Path) -> Config {
    echokit_tests::server_config(log, false, echo::Config::default(), 8)
}

#[test]
fn echoes_and_logs_records_core_can_parse() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("echo.log");
    let (addr, stopper, running) = run_server(&config(&log));
    assert_ne!(addr.port(), 0);

    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"Hi There\n\xff\xfe binary\n").unwrap();
    let mut back = [0u8; 19];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"Hi There\n\xff\xfe binary\n");
    drop(c);

    stopper.stop();
    let summary = running.join().unwrap().expect("clean run");
    assert_eq!(summary.lost_records, 0);

    let text = std::fs::read(&log).unwrap();
    let mut scratch = vec![0; text.len()];
    let mut events = Vec::new();
    let mut messages = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let r = Record::parse(line, &mut scratch).expect("every line is a record");
        events.push(r.event);
        if r.event == Event::Echo {
            messages.push(r.msg.unwrap().to_vec());
        }
    }
    assert_eq!(events.first(), Some(&Event::Listening));
    assert_eq!(events.last(), Some(&Event::Shutdown));
    assert!(events.contains(&Event::Closed));
    assert_eq!(
        messages,
        [b"Hi There".to_vec(), b"\xff\xfe binary".to_vec()]
    );
}

/// Several workers in-process: the stopper of the server stops every worker, and the one
/// `shutdown` record counts the connections all of them served.
#[test]
fn a_stopper_stops_every_worker() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("echo.log");
    let config = Config {
        workers: 3,
        ..config(&log)
    };
    let (addr, stopper, running) = run_server(&config);
    let mut clients = Vec::new();
    for _ in 0..6 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"x\n").unwrap();
        let mut back = [0u8; 2];
        c.read_exact(&mut back).unwrap();
        clients.push(c);
    }
    let started = std::time::Instant::now();
    stopper.stop();
    running.join().unwrap().expect("clean run");
    assert!(started.elapsed() < Duration::from_secs(1));
    let text = std::fs::read(&log).unwrap();
    let mut scratch = vec![0; text.len()];
    let shutdowns: Vec<u64> = text
        .split_inclusive(|&b| b == b'\n')
        .filter_map(|line| {
            let r = Record::parse(line, &mut scratch).expect("every line is a record");
            (r.event == Event::Shutdown).then(|| r.totals.conns.unwrap_or(0))
        })
        .collect();
    assert_eq!(shutdowns, [6]);
}
