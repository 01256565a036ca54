//! Line modes: piped standard input (pipelined over TCP) and `-m TEXT`.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread;

use super::tcp::{Echoes, TcpLink};
use super::{Config, Error, Link, Wait, connect, echo_error};

/// Lines sent but not yet echoed, at most: bounds memory when the server is slower than
/// standard input, while still keeping the pipe full.
const IN_FLIGHT: usize = 4096;

/// I/O buffers for the pipelined mode (one syscall per buffer, not per line).
const IO_BUFFER: usize = 64 * 1024;

/// Sends each message, waits for its echo and prints it.
pub fn messages(config: &Config, messages: &[Vec<u8>]) -> Result<(), Error> {
    let (mut link, _) = connect(config)?;
    let mut out = io::stdout().lock();
    for (index, text) in messages.iter().enumerate() {
        let mut line = text.clone();
        line.push(b'\n');
        exchange(link.as_mut(), &line, config, || {
            format!("message {}", index + 1)
        })?;
        print_echo(&mut out, text)?;
    }
    out.flush().map_err(Error::Output)
}

/// Echoes standard input line by line: pipelined over TCP, one datagram at a time over UDP.
pub fn piped(config: &Config) -> Result<(), Error> {
    if config.udp {
        return sequential(config);
    }
    let (link, _) = TcpLink::connect(&config.target, config.timeout)?;
    let (echoes, writer) = link.split();
    let (lines, sent) = mpsc::sync_channel(IN_FLIGHT);
    // Not joined: it ends at end of input; on a failure we exit while it may be blocked.
    thread::spawn(move || send_input(writer, lines));
    check_echoes(config, echoes, sent)
}

/// What the sending thread reports, in order.
enum Sent {
    /// This line (with its `\n`) is being sent: its echo comes next.
    Line(Arc<Vec<u8>>),
    /// Standard input failed; nothing more comes.
    InputFailed(io::Error),
}

/// The sending thread: reads standard input, queues each line, then writes it.
///
/// A line is queued before it is written so the checker already waits for its echo
/// (with its timeout) if the server stops reading. A write error ends the thread: the
/// checker then sees the connection close or the echo time out.
fn send_input(stream: TcpStream, lines: SyncSender<Sent>) {
    let mut input = BufReader::with_capacity(IO_BUFFER, io::stdin().lock());
    let mut output = BufWriter::with_capacity(IO_BUFFER, stream);
    loop {
        // Before blocking on input, push out what is buffered so its echoes can come back.
        if input.buffer().is_empty() && output.flush().is_err() {
            return;
        }
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                let _ = lines.send(Sent::InputFailed(error));
                return;
            }
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        let line = Arc::new(line);
        let queued = match lines.try_send(Sent::Line(Arc::clone(&line))) {
            Ok(()) => Ok(()),
            // The checker waits for echoes still in our buffer: send them, then wait.
            Err(TrySendError::Full(sent)) => match output.flush() {
                Ok(()) => lines.send(sent).map_err(drop),
                Err(_) => return,
            },
            Err(TrySendError::Disconnected(_)) => return,
        };
        if queued.is_err() || output.write_all(&line).is_err() {
            return;
        }
    }
    let _ = output.flush();
}

/// The checking side of the pipelined mode: each queued line's echo, in order.
fn check_echoes(config: &Config, mut echoes: Echoes, sent: Receiver<Sent>) -> Result<(), Error> {
    let mut out = BufWriter::with_capacity(IO_BUFFER, io::stdout().lock());
    let mut number = 0;
    loop {
        let next = match sent.try_recv() {
            Ok(next) => next,
            Err(TryRecvError::Empty) => {
                // Caught up with the input: show what we have before waiting for more.
                out.flush().map_err(Error::Output)?;
                match sent.recv() {
                    Ok(next) => next,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        let line = match next {
            Sent::Line(line) => line,
            Sent::InputFailed(error) => return Err(Error::Input(error)),
        };
        number += 1;
        echoes
            .expect(&line, Wait::Silence(config.timeout))
            .map_err(|failure| echo_error(config, format!("line {number}"), failure))?;
        print_echo(&mut out, &line[..line.len() - 1])?;
    }
    out.flush().map_err(Error::Output)
}

/// One line at a time: send, wait for the echo, print it.
fn sequential(config: &Config) -> Result<(), Error> {
    let (mut link, _) = connect(config)?;
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let mut number = 0;
    loop {
        let mut line = Vec::new();
        if input.read_until(b'\n', &mut line).map_err(Error::Input)? == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        number += 1;
        exchange(link.as_mut(), &line, config, || format!("line {number}"))?;
        print_echo(&mut out, &line[..line.len() - 1])?;
        out.flush().map_err(Error::Output)?;
    }
    Ok(())
}

/// Sends `line` and waits for its whole echo; `what` names it in the error.
pub(crate) fn exchange(
    link: &mut dyn Link,
    line: &[u8],
    config: &Config,
    what: impl FnOnce() -> String,
) -> Result<(), Error> {
    link.send(line)
        .and_then(|()| link.expect(line, Wait::Silence(config.timeout)))
        .map_err(|failure| echo_error(config, what(), failure))
}

/// Prints `Echo: TEXT` (the bytes as they came, not necessarily UTF-8).
pub(crate) fn print_echo(out: &mut impl Write, text: &[u8]) -> Result<(), Error> {
    out.write_all(b"Echo: ")
        .and_then(|()| out.write_all(text))
        .and_then(|()| out.write_all(b"\n"))
        .map_err(Error::Output)
}
