//! The whole pipeline in one process: the std server (TCP and UDP) serves several clients,
//! stops, and host's archiver turns its log into CSV and JSON Lines. What comes out at the
//! end must be exactly what the clients sent, message by message.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use echo_core::echo;
use echo_core::record::Event;
use host::archive::{self, Format, Options};
use host::server::config::Config;

const MAX_LINE: usize = 16;

fn config(log: &Path) -> Config {
    echokit_tests::server_config(
        log,
        true,
        echo::Config {
            max_line: MAX_LINE,
            ..echo::Config::default()
        },
        16,
    )
}

/// What client `i` sends: text, binary, CRLF, a line over `MAX_LINE`, and an unterminated
/// tail that the server logs as partial when the client closes.
fn stream_of(i: u8) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(format!("client {i} says hi, \"quoted\", a,b\n").as_bytes());
    s.extend_from_slice(&[0xff, i, 0x00, b'\n']);
    s.extend_from_slice(format!("crlf {i}\r\n").as_bytes());
    s.extend_from_slice(format!("{:->40}\n", i).as_bytes());
    s.extend_from_slice(format!("tail {i}").as_bytes());
    s
}

/// The messages the log must hold for `stream`, as (bytes, partial), per the framing rules.
fn expected_messages(stream: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let tail = lines.pop().unwrap_or_default();
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let pieces: Vec<&[u8]> = line.chunks(MAX_LINE).collect();
        for (k, piece) in pieces.iter().enumerate() {
            out.push((piece.to_vec(), k + 1 < pieces.len()));
        }
    }
    for piece in tail.chunks(MAX_LINE) {
        out.push((piece.to_vec(), true));
    }
    out
}

fn archive_to(log: &Path, output: PathBuf, format: Format) -> PathBuf {
    let options = Options {
        inputs: vec![log.to_path_buf()],
        output: output.clone(),
        format,
        add_timestamp: false,
        force: false,
        skip_invalid: false,
    };
    archive::run(&options).expect("the server's own log archives cleanly");
    output
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("lowercase hex"))
        .collect()
}

#[test]
fn what_clients_send_is_what_the_archive_holds() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("echo-server.log");
    let (addr, stopper, running) = echokit_tests::run_server(&config(&log));

    // Six TCP clients at once, each checking its own echo byte for byte.
    let clients: Vec<_> = (1..=6u8)
        .map(|i| {
            thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let sent = stream_of(i);
                c.write_all(&sent).unwrap();
                let mut back = vec![0; sent.len()];
                c.read_exact(&mut back).unwrap();
                assert_eq!(back, sent, "client {i}'s echo");
                let local = c.local_addr().unwrap().to_string();
                (local, sent)
            })
        })
        .collect();
    let sent: BTreeMap<String, Vec<u8>> = clients.into_iter().map(|h| h.join().unwrap()).collect();

    // One UDP datagram holding newlines: one message, never split into lines.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    udp.send_to(b"udp\nin one", addr).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"udp\nin one");

    // A tail is logged as partial whether its close is seen as end of stream or at shutdown.
    stopper.stop();
    let summary = running.join().unwrap().expect("clean run");
    assert_eq!(summary.lost_records, 0);

    // CSV: group the echo rows by peer and compare with what each client sent.
    let csv_path = archive_to(&log, dir.path().join("archive.csv"), Format::Csv);
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        &header.iter().take(6).collect::<Vec<_>>(),
        &["ts", "level", "event", "peer", "msg", "msg_hex"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (event, peer, msg, msg_hex, partial, proto) = (
        col("event"),
        col("peer"),
        col("msg"),
        col("msg_hex"),
        col("partial"),
        col("proto"),
    );
    let mut logged: BTreeMap<String, Vec<(Vec<u8>, bool)>> = BTreeMap::new();
    let mut udp_messages = Vec::new();
    let mut events = Vec::new();
    for row in reader.records() {
        let row = row.unwrap();
        events.push(row[event].to_string());
        if &row[event] == Event::Connected.as_str() {
            assert_eq!(&row[proto], "tcp", "a connected record names its protocol");
        }
        if &row[event] != Event::Echo.as_str() {
            continue;
        }
        let bytes = if row[msg_hex].is_empty() {
            row[msg].as_bytes().to_vec()
        } else {
            hex(&row[msg_hex])
        };
        if &row[proto] == "udp" {
            udp_messages.push(bytes);
        } else {
            logged
                .entry(row[peer].to_string())
                .or_default()
                .push((bytes, &row[partial] == "true"));
        }
    }
    assert_eq!(events.first().map(String::as_str), Some("listening"));
    assert_eq!(events.last().map(String::as_str), Some("shutdown"));
    assert_eq!(events.iter().filter(|e| *e == "closed").count(), 6);
    assert_eq!(udp_messages, [b"udp\nin one".to_vec()]);
    assert_eq!(logged.len(), sent.len());
    for (peer, stream) in &sent {
        assert_eq!(
            logged.get(peer),
            Some(&expected_messages(stream)),
            "messages of {peer}"
        );
    }

    // JSON Lines: the log's own format, so archiving gives back the log byte for byte.
    let json_path = archive_to(&log, dir.path().join("archive.jsonl"), Format::Json);
    assert_eq!(
        std::fs::read(json_path).unwrap(),
        std::fs::read(&log).unwrap()
    );
}
